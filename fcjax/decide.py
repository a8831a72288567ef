"""Three-valued decisions: every statistical check says ``pass``, ``fail`` or ``undecided``, and how to decide.

A claim states that a quantity ``θ`` (a slope, a mean, a rate, the distance between two laws) equals a value, or is
at most or at least one. Each check declares, *before the data are seen*, a **margin** ``m`` taken from the effect
in question (e.g. ``|slope| <= 0.05`` for "d-free" where the effect that matters is a slope of ½) and then compares
a confidence interval ``[low, high]`` for ``θ`` with the margin's thresholds:

* ``at_most=t``: PASS if ``high <= t + m``; FAIL if ``low > t + m``; else UNDECIDED (the interval straddles).
* ``at_least=t``: PASS if ``low >= t - m``; FAIL if ``high < t - m``; else UNDECIDED.
* ``equals=t``: PASS if ``[low, high]`` lies inside ``[t - m, t + m]`` (an equivalence test, as in TOST);
  FAIL if it lies entirely outside (above ``t + m`` or below ``t - m``); else UNDECIDED.

So "not refuted" is never a PASS: an interval too wide to lie inside the margin is UNDECIDED, with a
``resolution`` that says what would decide it ("needs CI half-width <= 0.05: about 4x the trials", from the
``1/sqrt(n)`` scaling of the half-width). Laws are decided the same way through a confidence interval for the
Kolmogorov distance (Dvoretzky-Kiefer-Wolfowitz-Massart: ``sup|F_n - F| <= sqrt(ln(2/α) / 2n)`` with probability
``>= 1 - α``), and rates through Clopper-Pearson. Deterministic checks (identities to floating-point error, a bound
on every trial) stay two-valued: :class:`Check` built with ``passed`` alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import scipy.stats as st

from ._validate import check_float
from .stats import FAIL, OUTCOMES, PASS, UNDECIDED, Check, clopper_pearson

__all__ = ["FAIL", "OUTCOMES", "PASS", "UNDECIDED", "combine", "interval_check", "ks2_check", "ks_check",
           "needed_factor", "rate_check", "resolution_text"]


def combine(outcomes: Iterable[str]) -> str:
    """A claim's outcome from its checks': FAIL if any fails, else UNDECIDED if any is undecided, else PASS."""
    outs = list(outcomes)
    for o in outs:
        if o not in OUTCOMES:
            raise ValueError(f"outcomes must be one of {OUTCOMES}, got {o!r}")
    if FAIL in outs:
        return FAIL
    return UNDECIDED if UNDECIDED in outs else PASS


def needed_factor(value: float, low: float, high: float, thresholds: Iterable[float]) -> float:
    """How many times the trials would decide an interval, by the ``1/sqrt(n)`` law of its half-width: the
    half-width must shrink below the distance from the point estimate to the nearest straddled threshold.

    ``inf`` when the estimate sits on a threshold (no number of trials decides it unless the effect moves)."""
    inside = [t for t in thresholds if low <= t <= high]
    if not inside:
        return 1.0
    # the half-width on the threshold's side (intervals clipped at a bound, e.g. a distance at 0, are asymmetric)
    factors = []
    for t in inside:
        half, gap = (high - value, t - value) if t >= value else (value - low, value - t)
        ratio = math.inf if gap <= 0 else half / gap
        factors.append(math.inf if ratio > 1e150 else ratio * ratio)  # a gap of ~0: no finite factor decides it
    return min(factors)


def resolution_text(value: float, low: float, high: float, thresholds: Iterable[float], what: str = "trials"
                    ) -> str:
    """The sentence an UNDECIDED check carries: the half-width that would decide it and the work that needs."""
    thresholds = [t for t in thresholds if low <= t <= high]
    if not thresholds:
        return ""
    t = min(thresholds, key=lambda t: needed_factor(value, low, high, [t]))
    factor = needed_factor(value, low, high, [t])
    if not math.isfinite(factor):
        return f"the estimate sits on the threshold {t:g}: more {what} decide it only if the effect moves"
    gap, half = abs(t - value), (high - value if t >= value else value - low)
    times = math.ceil(factor * 10) / 10
    return f"needs CI half-width <= {gap:.3g} (now {half:.3g}): about {times:g}x the {what}"


def _decide(low: float, high: float, equals: float | None, at_most: float | None, at_least: float | None,
            margin: float) -> tuple[str, list[float], str]:
    given = [v is not None for v in (equals, at_most, at_least)]
    if sum(given) != 1:
        raise ValueError("give exactly one of equals=, at_most=, at_least=")
    if equals is not None:
        lo_t, hi_t = equals - margin, equals + margin
        if lo_t <= low and high <= hi_t:
            return PASS, [lo_t, hi_t], f"inside [{lo_t:.4g}, {hi_t:.4g}]"
        if high < lo_t or low > hi_t:
            return FAIL, [lo_t, hi_t], f"outside [{lo_t:.4g}, {hi_t:.4g}]"
        return UNDECIDED, [lo_t, hi_t], f"straddles [{lo_t:.4g}, {hi_t:.4g}]"
    if at_most is not None:
        t = at_most + margin
        out = PASS if high <= t else FAIL if low > t else UNDECIDED
        return out, [t], f"{'<=' if out == PASS else '>' if out == FAIL else 'straddles'} {t:.4g}"
    t = at_least - margin
    out = PASS if low >= t else FAIL if high < t else UNDECIDED
    return out, [t], f"{'>=' if out == PASS else '<' if out == FAIL else 'straddles'} {t:.4g}"


def interval_check(name: str, value: float, low: float, high: float, *, equals: float | None = None,
                   at_most: float | None = None, at_least: float | None = None, margin: float = 0.0,
                   why: str = "", what: str = "trials", level: float | None = None) -> Check:
    """Decide ``θ = t`` / ``θ <= t`` / ``θ >= t`` within ``margin`` from a confidence interval ``[low, high]``.

    Args:
      name: the check's name (shown in reports).
      value, low, high: the estimate of ``θ`` and its confidence interval.
      equals, at_most, at_least: exactly one: the statement's value ``t``.
      margin: ``m >= 0``, declared before the data from the effect in question (see the module docstring).
      why: the reason for the margin, written into the detail.
      what: what to multiply to decide an UNDECIDED check (``"trials"``, ``"networks"``).
      level: the interval's level, for the detail.

    Returns:
      A :class:`Check` with ``outcome`` and, if UNDECIDED, a ``resolution``.
    """
    margin = check_float(margin, "margin", low=0.0)
    vals = [float(v) for v in (value, low, high)]
    if any(math.isnan(v) for v in vals):
        return Check(name, False, f"estimate or interval is NaN ({vals}): nothing measured", outcome=UNDECIDED,
                     resolution="a valid estimate (enough valid trials at every grid point)")
    value, low, high = vals
    if low > high:
        raise ValueError(f"low must be <= high, got [{low}, {high}]")
    outcome, thresholds, rel = _decide(low, high, equals, at_most, at_least, margin)
    lvl = "" if level is None else f"{level:.4g} "
    stmt = (f"= {equals:g}" if equals is not None else f"<= {at_most:g}" if at_most is not None
            else f">= {at_least:g}")
    detail = (f"{value:.4g}, {lvl}CI [{low:.4g}, {high:.4g}] {rel}; statement {stmt} with margin {margin:g}"
              + (f" ({why})" if why else ""))
    res = resolution_text(value, low, high, thresholds, what) if outcome == UNDECIDED else ""
    return Check(name, outcome == PASS, detail, outcome=outcome, resolution=res)


def dkw_halfwidth(n: int, alpha: float) -> float:
    """Massart's (1990) two-sided DKW constant: ``P(sup|F_n - F| > ε) <= 2 exp(-2 n ε²)``, solved for ``ε``."""
    return math.sqrt(math.log(2 / alpha) / (2 * n))


def ks_check(name: str, x: Any, cdf: Callable[[np.ndarray], np.ndarray] | Any, *, margin: float, alpha: float,
             why: str = "") -> Check:
    """Decide "``x`` follows the law ``cdf``" as ``KS distance(law of x, cdf) <= margin``.

    The interval is ``[max(0, D - ε), D + ε]`` with ``D`` the sample's KS statistic and ``ε`` the DKW half-width at
    level ``1 - alpha`` (the true distance differs from ``D`` by at most ``sup|F_n - F|``). PASS: ``D + ε <= margin``;
    FAIL: ``D - ε > margin``.
    """
    a = np.asarray(x, dtype=np.float64).ravel()
    f = cdf.cdf if hasattr(cdf, "cdf") else cdf
    res = st.kstest(a, f)
    eps = dkw_halfwidth(a.size, alpha)
    d = float(res.statistic)
    return interval_check(name, d, max(0.0, d - eps), d + eps, at_most=0.0, margin=margin,
                          why=why or f"KS distance; DKW half-width {eps:.3g} at n={a.size}", level=1 - alpha)


def ks2_check(name: str, x: Any, y: Any, *, margin: float, alpha: float, why: str = "") -> Check:
    """Two-sample version of :func:`ks_check`: the half-width is the sum of both samples' DKW half-widths, each
    at level ``1 - alpha/2``."""
    a, b = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    d = float(st.ks_2samp(a, b).statistic)
    eps = dkw_halfwidth(a.size, alpha / 2) + dkw_halfwidth(b.size, alpha / 2)
    return interval_check(name, d, max(0.0, d - eps), d + eps, at_most=0.0, margin=margin,
                          why=why or f"two-sample KS distance; DKW half-width {eps:.3g} at n={a.size}, {b.size}",
                          level=1 - alpha)


def rate_check(name: str, k: int, n: int, *, at_most: float, level: float, why: str = "") -> Check:
    """Decide "the probability is at most ``at_most``" from ``k`` events in ``n`` trials (Clopper-Pearson)."""
    low, high = clopper_pearson(int(k), int(n), level)
    return interval_check(name, k / n, low, high, at_most=at_most, why=why or f"{k}/{n} events, Clopper-Pearson",
                          level=level)
