"""Helpers shared by the claims: keyed sweeps over d, Bonferroni-corrected tests, figure series."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import jax
import numpy as np
import scipy.stats as st

from fcjax.decide import PASS, combine, interval_check, resolution_text
from fcjax.stats import Check, SandwichSlope, SlopeFit, mean_ci

from .context import Run
from .registry import SweepConfig


def sweep(cfg: SweepConfig, key: jax.Array, ctx: Run, fn: Callable[..., dict],
          bytes_per_trial: Callable[[int], int] | None = None, ds: Sequence[int] | None = None, cell: str = "",
          **kwargs: Any) -> dict[int, dict[str, np.ndarray]]:
    """``{d: stats}`` with ``cfg.trials`` trials of ``fn(key, d=d, dtype=..., **kwargs)`` at each d (resumable
    cells named ``f"{cell}d={d}"``); ``fn`` returns a dict of scalars (or arrays), ``stats[name]`` stacks them over
    trials, shape ``(trials, ...)``.

    Each d draws from ``fold_in(key, d)``, so adding a dimension to the grid leaves the others unchanged.
    ``bytes_per_trial(d)`` sizes the vmapped chunks under the memory budget (default: a d x d float64 matrix).
    """
    if not callable(fn):
        raise TypeError(f"fn must be a trial function fn(key, d, dtype, ...), got {type(fn).__name__}")
    size = bytes_per_trial or (lambda d: 8 * d * d)
    out = {}
    for d in cfg.ds if ds is None else ds:
        trial = partial(fn, d=d, dtype=cfg.jdtype, **kwargs)
        out[d] = ctx.map_trials(trial, jax.random.fold_in(key, d), cfg.trials, cell=f"{cell}d={d}",
                                chunk_size=cfg.chunk(size(d)))
    return out


# Margins, declared before any data (see fcjax.decide): 10 % of the effect each check distinguishes.
# A slope claim's effect is the paper's exponent ½ (d-free vs √d), so slopes get 0.05; a convergence order's effect
# is one order (O(ε²) vs O(ε)), so orders get 0.1.
SLOPE_MARGIN = 0.05
ORDER_MARGIN = 0.1


def rising(name: str, ds: Sequence[int], samples: Sequence[np.ndarray], alpha: float) -> Check:
    """"The mean rises with d": one-sided Welch intervals of each consecutive difference at level ``1 - alpha``.

    A sign claim (the papers give no effect size for the rise), so the threshold is 0: PASS when every difference
    is significantly positive, FAIL when one is significantly negative, UNDECIDED otherwise."""
    z = st.norm.ppf(1 - alpha)
    outs, notes, res = [], [], []
    pairs = list(zip(ds, samples, strict=True))
    for (d0, a), (d1, b) in itertools.pairwise(pairs):
        diff = float(np.mean(b) - np.mean(a))
        se = math.sqrt(np.var(a, ddof=1) / a.size + np.var(b, ddof=1) / b.size)
        c = interval_check(f"d {d0}->{d1}", diff, diff - z * se, diff + z * se, at_least=0.0)
        outs.append(c.outcome)
        notes.append(f"d {d0}->{d1}: {diff:+.4f} [{diff - z * se:.4f}, {diff + z * se:.4f}] {c.outcome}")
        if c.resolution:
            res.append(f"d {d0}->{d1} {c.resolution}")
    outcome = combine(outs)
    return Check(name, outcome == PASS, "; ".join(notes), outcome=outcome, resolution="; ".join(res))


def slope_check(name: str, fit: SlopeFit, *, equals: float | None = None, at_most: float | None = None,
                at_least: float | None = None, margin: float = SLOPE_MARGIN, why: str = "",
                what: str = "trials") -> Check:
    """A three-valued check on a fitted log-log slope's interval (:func:`fcjax.decide.interval_check`); the margin
    defaults to :data:`SLOPE_MARGIN`."""
    return interval_check(name, fit.slope, fit.low, fit.high, equals=equals, at_most=at_most, at_least=at_least,
                          margin=margin, why=why or "slope", what=what, level=fit.level)


def line(label: str, x: Sequence[float], y: Sequence[float], low: Sequence[float] | None = None,
         high: Sequence[float] | None = None) -> dict[str, Any]:
    """One plotted series (with optional interval band)."""
    out = {"label": label, "x": list(map(float, x)), "y": list(map(float, y))}
    if low is not None and high is not None:
        out["low"], out["high"] = list(map(float, low)), list(map(float, high))
    return out


def fit_line(label: str, fit: SlopeFit) -> dict[str, Any]:
    """The fitted power law as a plotted series labelled with its slope and CI."""
    xs = np.asarray(fit.x)
    return line(f"{label}: slope {fit.slope:.3f} [{fit.low:.3f}, {fit.high:.3f}]", xs,
                np.exp(fit.intercept) * xs**fit.slope)


def mean_band(ds: Sequence[int], samples: Sequence[np.ndarray], level: float) -> tuple[list, list, list]:
    """Means and their CI limits at each grid point."""
    ests = [mean_ci(s, level) for s in samples]
    return [e.value for e in ests], [e.low for e in ests], [e.high for e in ests]


def trial_slopes(eps: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Least-squares slope of log(value) on log(ε) for each trial (row): the ε grid is shared within a trial, so
    slopes are paired there and only the trials vary."""
    lx = np.log(eps) - np.log(eps).mean()
    ly = np.log(values)
    return (ly - ly.mean(axis=1, keepdims=True)) @ lx / (lx @ lx)


def order_check(name: str, eps: np.ndarray, values: np.ndarray, order: float, level: float,
                margin: float = ORDER_MARGIN, what: str = "trials"):
    """A convergence-order test: the interval is the mean slope's CI widened by the truncation error (the change
    of slope between the small-ε and the large-ε halves of the grid), decided as ``slope = order`` within
    ``margin`` (:data:`ORDER_MARGIN`: a tenth of the one order that separates O(ε²) from O(ε))."""
    half = len(eps) // 2
    est = mean_ci(trial_slopes(eps, values), level)
    lo = float(np.mean(trial_slopes(eps[: half + 1], values[:, : half + 1])))
    hi = float(np.mean(trial_slopes(eps[half:], values[:, half:])))
    trunc, width = abs(lo - hi), (est.high - est.low) / 2
    check = interval_check(name, est.value, est.low - trunc, est.high + trunc, equals=order, margin=margin,
                           why=f"CI ± {width:.4f}, truncation ± {trunc:.4f} (halves {lo:.4f} / {hi:.4f})",
                           what=what, level=level)
    if check.outcome == "undecided" and trunc >= width:
        # more trials shrink only the CI; the truncation estimate shrinks with the ε grid
        check.resolution = (f"the truncation estimate ±{trunc:.3g} dominates the CI ±{width:.3g}: a grid of smaller ε "
                            f"(truncation + CI + |slope - {order:g}| must fit in ±{margin:g})")
    return est, check


# Laws: a tenth of the Kolmogorov distance between the law and its rival with one more degree of freedom (χ₁ vs χ₂:
# 0.30; Beta(½, ·) vs Beta(1, ·): 0.27-0.30), so a law within 0.03 of the prediction is the predicted one.
LAW_MARGIN = 0.03


def all_of(name: str, checks: Sequence[Check], empty: str = "no cell could decide it") -> Check:
    """One check that holds the outcome of several (FAIL if any fails, else UNDECIDED if any is undecided); the
    detail lists the cells that did not pass (or, if all passed, how many did)."""
    if not checks:
        return Check(name, False, empty, outcome="undecided", resolution=empty)
    outcome = combine(c.outcome for c in checks)
    bad = [c for c in checks if c.outcome != PASS]
    detail = ("; ".join(f"{c.name}: {c.outcome.upper()} {c.detail}" for c in bad) if bad
              else f"all {len(checks)} pass; e.g. {checks[-1].name}: {checks[-1].detail}")
    res = "; ".join(f"{c.name}: {c.resolution}" for c in bad if c.resolution)
    return Check(name, outcome == PASS, detail, outcome=outcome, resolution=res)


def cp_upper_at_zero(n: int, level: float) -> float:
    """The smallest Clopper-Pearson upper limit ``n`` trials can give (no event): a rate bound below it cannot be
    confirmed at this ``n`` whatever the data, which is known before the data are drawn."""
    return float(1 - ((1 - level) / 2) ** (1 / n))


def sandwich_slope_check(name: str, fit: SandwichSlope, *, at_most: float, margin: float = SLOPE_MARGIN,
                         what: str = "networks") -> Check:
    """Decide "the true ratio's slope is <= ``at_most``" from per-trial lower and upper bounds on the ratio.

    ``fit`` (:func:`fcjax.stats.sandwich_slope`) bounds every slope the true values can have, ``[smin, smax]``,
    with confidence limits ``[low, high]``: PASS if ``high <= at_most + margin`` (even the most robust values the
    bounds allow fall fast enough), FAIL if ``low > at_most + margin`` (even the least robust fall too slowly),
    otherwise UNDECIDED: the sandwich straddles the prediction, and the resolution says which side must tighten.
    Exact values (lower = upper) make it the ordinary slope check."""
    t = at_most + margin
    f = lambda s: f"{s.slope:.3f} [{s.low:.3f}, {s.high:.3f}]"
    detail = (f"true slope within [{fit.smin:.3f}, {fit.smax:.3f}], {fit.level:.4g} CI [{fit.low:.3f}, "
              f"{fit.high:.3f}] (lower bound's own slope {f(fit.lower)}, upper bound's {f(fit.upper)}); statement "
              f"<= {at_most:g} with margin {margin:g}")
    if fit.high <= t:
        return Check(name, True, f"{detail}: confirmed", outcome=PASS)
    if fit.low > t:
        return Check(name, False, f"{detail}: refuted", outcome="fail")
    need = []
    if fit.smax > t:
        need.append(f"tighter bounds (exact values or a smaller sandwich): the bounds allow slopes up to "
                    f"{fit.smax:.3f} > {t:g}")
    else:
        need.append(resolution_text(fit.smax, fit.smin, fit.high, [t], what))
    return Check(name, False, f"{detail}: the sandwich straddles {t:g}", outcome="undecided",
                 resolution="; ".join(need))
