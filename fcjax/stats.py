"""Statistics for verdicts: confidence intervals, exact binomial bounds, KS tests, log-log slopes, ``Verdict``.

These run on the host over per-trial results (small arrays); resampling is keyed like every other draw.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
import scipy.stats as st

from ._validate import check_float, check_int, check_key


class Estimate(NamedTuple):
    """A point estimate with a two-sided confidence interval at ``level``."""

    value: float
    low: float
    high: float
    n: int
    level: float


def _level(level: float) -> float:
    return check_float(level, "level", low=0.0, high=1.0, open_low=True, open_high=True)


def _samples(x: Any, name: str = "x", minimum: int = 2) -> np.ndarray:
    """Real numbers (floats, integers or booleans, any shape: flattened) as float64; complex, strings and objects
    are refused, not cast."""
    raw = np.asarray(x)
    if raw.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {raw.dtype}")
    a = raw.astype(np.float64).ravel()
    if a.size < minimum:
        raise ValueError(f"{name} needs at least {minimum} values, got {a.size}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains non-finite values")
    return a


def mean_ci(x: Any, level: float = 0.95) -> Estimate:
    """Sample mean with a Student-t interval (valid for large ``n`` by the CLT)."""
    a, level = _samples(x), _level(level)
    half = st.t.ppf(0.5 + level / 2, a.size - 1) * a.std(ddof=1) / math.sqrt(a.size)
    return Estimate(float(a.mean()), float(a.mean() - half), float(a.mean() + half), a.size, level)


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval for a binomial probability after ``k`` successes in ``n`` trials."""
    n = check_int(n, "n", minimum=1)
    k = check_int(k, "k", minimum=0)
    if k > n:
        raise ValueError(f"k must be <= n, got k={k}, n={n}")
    alpha = 1.0 - _level(level)
    low = 0.0 if k == 0 else float(st.beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(st.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return low, high


class TestResult(NamedTuple):
    """A test statistic and its p-value."""

    statistic: float
    pvalue: float


def ks_test(x: Any, cdf: Callable[[np.ndarray], np.ndarray] | str | Any, *args: Any) -> TestResult:
    """One-sample Kolmogorov-Smirnov test of ``x`` against a law: a CDF callable, a scipy distribution name (with
    its shape ``args``) or a frozen scipy distribution."""
    if hasattr(cdf, "cdf"):
        cdf = cdf.cdf
    r = st.kstest(_samples(x), cdf, args=args)
    return TestResult(float(r.statistic), float(r.pvalue))


def ks_2samp(x: Any, y: Any) -> TestResult:
    """Two-sample Kolmogorov-Smirnov test (for laws known only through an independent sample)."""
    r = st.ks_2samp(_samples(x), _samples(y, "y"))
    return TestResult(float(r.statistic), float(r.pvalue))


def spearman(x: Any, y: Any) -> TestResult:
    """Spearman rank correlation and its two-sided p-value (independence test)."""
    a, b = _samples(x), _samples(y, "y")
    if a.size != b.size:
        raise ValueError(f"x and y must have one length, got {a.size} and {b.size}")
    r = st.spearmanr(a, b)
    return TestResult(float(r.statistic), float(r.pvalue))


def _bonett_wright(r: float, n: int, k: int, level: float) -> Estimate:
    """A rank correlation's Fisher-z interval, standard error ``sqrt((1 + r²/2) / (n - 3 - k))`` with ``k``
    controls (Bonett & Wright 2000); ``r`` is clipped off ±1 so the interval stays finite."""
    r = float(np.clip(r, -0.999999, 0.999999))
    half = st.norm.ppf(0.5 + level / 2) * math.sqrt((1 + r * r / 2) / (n - 3 - k))
    z = math.atanh(r)
    return Estimate(r, math.tanh(z - half), math.tanh(z + half), n, level)


def spearman_ci(x: Any, y: Any, level: float = 0.95) -> Estimate:
    """Spearman rank correlation with a Fisher-z interval using the Bonett-Wright (2000) standard error
    ``sqrt((1 + r²/2) / (n - 3))``."""
    a, b, level = _samples(x, minimum=4), _samples(y, "y", minimum=4), _level(level)
    if a.size != b.size:
        raise ValueError(f"x and y must have one length, got {a.size} and {b.size}")
    return _bonett_wright(float(st.spearmanr(a, b).statistic), a.size, 0, level)


def partial_spearman_ci(x: Any, y: Any, controls: Any, level: float = 0.95) -> Estimate:
    """Partial Spearman correlation of ``x`` and ``y`` given ``controls``, with a Fisher-z interval.

    The Pearson correlation of the residuals of ``rank(x)`` and ``rank(y)`` after least squares on a constant and
    the ranks of each control (ties share their mean rank). The interval uses the Bonett-Wright (2000) standard
    error with ``k`` controls, ``sqrt((1 + r²/2) / (n - 3 - k))``: a partial correlation given ``k`` variables has
    the sampling law of a plain one from ``n - k`` samples (Fisher 1924). ``controls``: shape ``(n,)`` or
    ``(n, k)``; ``k = 0`` (shape ``(n, 0)``) is :func:`spearman_ci`. Needs ``n >= k + 4``.
    """
    a, b, level = _samples(x), _samples(y, "y"), _level(level)
    if a.size != b.size:
        raise ValueError(f"x and y must have one length, got {a.size} and {b.size}")
    raw = np.asarray(controls)
    if raw.ndim == 1:
        raw = raw[:, None]
    if raw.ndim != 2 or raw.shape[0] != a.size:
        raise ValueError(f"controls must have shape ({a.size},) or ({a.size}, k), got {np.shape(controls)}")
    z = _samples(raw, "controls", minimum=0).reshape(raw.shape)
    k = z.shape[1]
    if a.size < k + 4:
        raise ValueError(f"x and y need at least k + 4 = {k + 4} values with {k} controls, got {a.size}")
    design = np.column_stack([np.ones(a.size)] + [st.rankdata(c) for c in z.T])

    def residual(v: np.ndarray) -> np.ndarray:
        r = st.rankdata(v)
        return r - design @ np.linalg.lstsq(design, r, rcond=None)[0]

    ra, rb = residual(a), residual(b)
    scale = math.sqrt(float(ra @ ra) * float(rb @ rb))
    if scale <= 1e-9 * a.size ** 3:  # ranks are O(n): a residual this small is rounding, not variation
        raise ValueError("rank(x) or rank(y) is an affine function of the controls' ranks: no partial correlation")
    return _bonett_wright(float(ra @ rb / scale), a.size, k, level)


def pearson_ci(x: Any, y: Any, level: float = 0.95) -> Estimate:
    """Pearson correlation with a Fisher-z interval."""
    a, b, level = _samples(x, minimum=4), _samples(y, "y", minimum=4), _level(level)
    if a.size != b.size:
        raise ValueError(f"x and y must have one length, got {a.size} and {b.size}")
    r = float(np.clip(np.corrcoef(a, b)[0, 1], -0.999999, 0.999999))
    half = st.norm.ppf(0.5 + level / 2) / math.sqrt(a.size - 3)
    z = math.atanh(r)
    return Estimate(r, math.tanh(z - half), math.tanh(z + half), a.size, level)


def jackknife_ci(stat: Callable[..., Any], groups: Sequence[Any], level: float = 0.95) -> list[Estimate]:
    """Delete-one-group jackknife intervals for statistics of clustered data (Efron & Tibshirani 1993, ch. 11).

    ``groups[g]`` is a tuple of arrays holding the rows of independent group ``g`` (e.g. all the layers and
    checkpoints of one network); ``stat(*arrays)`` maps the rows of any set of groups, concatenated, to a 1-d array of
    statistics. Each statistic gets ``θ̂ ± t_{G−1}·se``, ``se² = (G−1)/G Σ_g (θ̂_(g) − θ̄)²``: rows inside a group
    may be dependent, groups must be independent.

    Args:
      stat: statistic(s) of the pooled rows.
      groups: ``G >= 3`` tuples of arrays with a leading row axis.
      level: two-sided confidence level.

    Returns:
      One :class:`Estimate` per statistic (``n`` = the number of groups).
    """
    level = _level(level)
    if not callable(stat):
        raise TypeError(f"stat must be callable, got {type(stat).__name__}")
    groups = [tuple(np.asarray(a) for a in g) for g in groups]
    if len(groups) < 3:
        raise ValueError(f"groups needs at least 3 independent groups, got {len(groups)}")
    if len({len(g) for g in groups}) != 1:
        raise ValueError(f"groups must all hold the same number of arrays, got {sorted({len(g) for g in groups})}")
    for n, g in enumerate(groups):
        for a in g:
            if a.dtype.kind not in "biuf":
                raise TypeError(f"groups[{n}] must hold arrays of real numbers, got dtype {a.dtype}")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"groups[{n}] contains non-finite values (NaN or inf)")

    def pooled(idx: Sequence[int]) -> np.ndarray:
        cols = zip(*(groups[i] for i in idx), strict=True)
        return np.atleast_1d(np.asarray(stat(*(np.concatenate(c) for c in cols)), dtype=np.float64))

    g = len(groups)
    full = pooled(range(g))
    loo = np.stack([pooled([j for j in range(g) if j != i]) for i in range(g)])
    se = np.sqrt((g - 1) / g * np.sum((loo - loo.mean(axis=0)) ** 2, axis=0))
    half = st.t.ppf(0.5 + level / 2, g - 1) * se
    return [Estimate(float(v), float(v - h), float(v + h), g, level) for v, h in zip(full, half, strict=True)]


def binned_means(x: Any, y: Any, bins: int = 3) -> np.ndarray:
    """Means of ``y`` over the ``bins`` quantile bins of ``x`` (equal counts, lowest ``x`` first).

    With three bins, a middle bin above (or below) both outer ones is an interior extremum of ``y(x)`` whatever the
    curvature of a monotonic trend (a parabola or broken-line fit would call a concave monotonic curve
    non-monotonic). Meant for :func:`jackknife_ci`, which recomputes the bins in every replicate.
    """
    a, b = _samples(x), _samples(y, "y")
    bins = check_int(bins, "bins", minimum=2)
    if a.size != b.size:
        raise ValueError(f"x and y must have one length, got {a.size} and {b.size}")
    if a.size < bins:
        raise ValueError(f"x needs at least bins={bins} values, got {a.size}")
    order = np.argsort(a, kind="stable")
    return np.array([b[part].mean() for part in np.array_split(order, bins)])


class SlopeFit(NamedTuple):
    """Least-squares slope of ``log y`` on ``log x`` with a Student-t interval from its bootstrap standard error.

    ``centers`` holds the statistic at each ``x`` (what was fitted); ``intercept`` is on the log scale.
    """

    slope: float
    low: float
    high: float
    intercept: float
    x: tuple[float, ...]
    centers: tuple[float, ...]
    level: float


def _ols_slopes(logx: np.ndarray, logy: np.ndarray) -> np.ndarray:
    xc = logx - logx.mean()
    return ((logy - logy.mean(axis=-1, keepdims=True)) @ xc) / (xc @ xc)


def _ols_weights(logx: np.ndarray) -> np.ndarray:
    """The OLS slope is ``Σ w_i log y_i`` with ``w_i = (log x_i − mean) / Sxx``."""
    xc = logx - logx.mean()
    return xc / (xc @ xc)


def _welch_half(weights: np.ndarray, log_boot: np.ndarray, sizes: Sequence[int], level: float) -> float:
    """Half-width of a ``level`` interval for ``Σ w_i log c_i`` from bootstrap replicates ``log_boot``
    ``(n_boot, points)`` of independent per-point statistics ``c_i`` over ``sizes[i]`` trials.

    The bootstrap variance of each point is the plug-in one, low by ``(n − 1)/n``: it is scaled back. The quantile is
    Student-t with the Welch–Satterthwaite degrees of freedom ``(Σ v_i)² / Σ v_i² / (n_i − 1)``, ``v_i = w_i² var_i``
    (Satterthwaite 1946, "An approximate distribution of estimates of variance components"); ``w``: the
    combination's weights (:func:`_ols_weights` for a slope).
    """
    n = np.asarray(sizes, dtype=np.float64)
    v = weights**2 * np.var(log_boot, axis=0, ddof=1) * n / (n - 1)
    total = float(v.sum())
    if total <= 0:
        return 0.0
    df = total**2 / float(np.sum(v**2 / (n - 1)))
    return float(st.t.ppf(0.5 + level / 2, df)) * math.sqrt(total)


def loglog_slope(x: Sequence[float], samples: Sequence[Any], key: jax.Array, *, stat: str = "mean",
                 level: float = 0.95, n_boot: int = 2000) -> SlopeFit:
    """Fit ``log stat(samples_i) = a + slope * log x_i`` and bootstrap the slope over trials.

    The standard error comes from resampling the trials at each ``x`` independently (the sweep's only randomness),
    so it measures Monte-Carlo error; it does not absorb curvature (finite-``d`` corrections), which the caller
    should report. The interval is ``slope ± t_{(1+level)/2, ν} SE`` (:func:`_welch_half`): percentile intervals
    would need far more than ``2 / (1 - level)`` replicates at the Bonferroni levels the claims use, while 2000
    replicates pin the SE to ~2 %. With few trials per point a normal quantile on the bootstrap SE undercovers badly
    (3 trials at two points: 10 % misses at a nominal 1 %), hence the Student-t quantile.

    Args:
      x: the grid (e.g. dimensions ``d``), at least two distinct positive values.
      samples: per-grid-point arrays of positive per-trial values.
      key: PRNG key for the resampling.
      stat: ``"mean"``, ``"median"`` or ``"geomean"`` (the mean of ``log``).
      level: interval level.
      n_boot: bootstrap replicates.
    """
    check_key(key)
    level = _level(level)
    n_boot = check_int(n_boot, "n_boot", minimum=100)
    xs = np.asarray(x, dtype=np.float64)
    if xs.ndim != 1 or xs.size < 2 or len(set(xs.tolist())) < 2 or np.any(xs <= 0):
        raise ValueError(f"x must hold at least two distinct positive values, got {x!r}")
    if len(samples) != xs.size:
        raise ValueError(f"samples must have one array per x value ({xs.size}), got {len(samples)}")
    reducers = {"mean": np.mean, "median": np.median, "geomean": lambda a, axis=None: np.exp(np.mean(np.log(a), axis))}
    if stat not in reducers:
        raise ValueError(f"stat must be one of {sorted(reducers)}, got {stat!r}")
    reduce = reducers[stat]
    arrays = [_samples(s, f"samples[{i}]", minimum=2) for i, s in enumerate(samples)]
    for i, a in enumerate(arrays):
        if np.any(a <= 0):
            raise ValueError(f"samples[{i}] must be positive for a log-log fit")
    logx = np.log(xs)
    centers = np.array([reduce(a) for a in arrays])
    slope = float(_ols_slopes(logx, np.log(centers)[None, :])[0])
    keys = jax.random.split(key, len(arrays))
    boot = np.empty((n_boot, len(arrays)))
    for i, (a, k) in enumerate(zip(arrays, keys, strict=True)):
        idx = np.asarray(jax.random.randint(k, (n_boot, a.size), 0, a.size))
        boot[:, i] = reduce(a[idx], axis=1)
    half = _welch_half(_ols_weights(logx), np.log(boot), [a.size for a in arrays], level)
    low, high = slope - half, slope + half
    intercept = float(np.log(centers).mean() - slope * logx.mean())
    return SlopeFit(slope, float(low), float(high), intercept, tuple(xs.tolist()), tuple(centers.tolist()), level)


class CdfExponent(NamedTuple):
    """The power ``β`` of a CDF near 0, ``F(t) ∝ t^β`` on ``[0, threshold]`` (:func:`cdf_exponent`), with its
    interval; ``below``: the samples under the threshold that the fit used."""

    exponent: float
    low: float
    high: float
    threshold: float
    q: float
    below: int
    level: float


def cdf_exponent(samples: Any, *, q: float = 0.2, level: float = 0.95) -> CdfExponent:
    """The exponent ``β`` of ``F(t) ∝ t^β`` below the sample's ``q``-quantile ``u``: the tail estimator of Hill
    (1975, "A simple general approach to inference about the tail of a distribution"), at the lower end.

    With ``k = ⌊q n⌋``, ``u`` the ``(k+1)``-th smallest sample and ``t_1..t_k`` the ``k`` below it: under the power
    law they are i.i.d. with ``F(t)/F(u) = (t/u)^β``, so ``log(u/t_i) ~ Exp(β)`` and ``β S ~ Gamma(k, 1)`` for
    ``S = Σ log(u/t_i)``. Estimate ``(k − 1)/S`` (unbiased) and the exact interval
    ``[G⁻¹((1−level)/2), G⁻¹((1+level)/2)]/S`` (``G`` the ``Gamma(k, 1)`` CDF). ``β = 1`` is a CDF linear near 0
    (a density positive and finite at 0; De Palma et al. 2021); a density vanishing (diverging) at 0 gives
    ``β > 1`` (``< 1``). Curvature of ``F`` below ``u`` is not absorbed: for ``|Z|``, ``|Z|/χ₄`` and ``|t₃|`` the
    estimate is 0.99 at ``q = 0.2`` (``2·10⁶`` samples; 0.98 at ``q = 0.3``), so keep ``q`` small.

    Args:
      samples: nonnegative values (e.g. distances), at least ``20 / q`` of them, no atom at 0.
      q: the fraction of the sample used, in ``(0, 1)``.
      level: the interval's level.
    """
    q = check_float(q, "q", low=0.0, high=1.0, open_low=True, open_high=True)
    level = _level(level)
    a = np.sort(_samples(samples, "samples", minimum=math.ceil(20 / q)))
    if a[0] < 0:
        raise ValueError("samples must be >= 0 (a CDF near 0 of a nonnegative quantity)")
    k = int(q * a.size)
    u, t = a[k], a[:k]
    if t[0] <= 0:
        raise ValueError("samples must not hold zeros below the q-quantile (an atom at 0 has no exponent)")
    total = float(np.sum(np.log(u / t)))
    if total <= 0:
        raise ValueError("samples below the q-quantile are all equal to it: no exponent to fit")
    lo_g, hi_g = st.gamma.ppf([(1 - level) / 2, (1 + level) / 2], k)
    return CdfExponent((k - 1) / total, float(lo_g) / total, float(hi_g) / total, float(u), q, k, level)


class SandwichSlope(NamedTuple):
    """Bounds on the log-log slope of a quantity known only between a lower and an upper bound at each ``x``.

    ``smin``/``smax``: the smallest and largest OLS slope any values between the bounds' statistics can have;
    ``low``/``high``: the lower confidence limit of ``smin`` and the upper one of ``smax`` (so ``[low, high]``
    covers the true slope at ``level``); ``lower``/``upper``: the ordinary fits of each bound, for reporting.
    """

    smin: float
    smax: float
    low: float
    high: float
    lower: SlopeFit
    upper: SlopeFit
    level: float


def _sandwich_extremes(w: np.ndarray, log_lo: np.ndarray, log_up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The log values (``(..., points)``) that make the OLS slope ``Σ w_i log y_i`` (:func:`_ols_weights`) smallest
    and largest: the lower bound where ``w_i > 0`` and the upper where ``w_i < 0`` for the smallest, the other way
    round for the largest."""
    pos = w > 0
    return np.where(pos, log_lo, log_up), np.where(pos, log_up, log_lo)


def sandwich_slope(x: Sequence[float], lower: Sequence[Any], upper: Sequence[Any], key: jax.Array, *,
                   level: float = 0.95, n_boot: int = 2000) -> SandwichSlope:
    """The range of log-log slopes of a mean known only through per-trial bounds ``lower <= value <= upper``.

    At each ``x_i`` the mean of the true values lies between the means of the bounds, so the OLS slope of the log
    means lies in ``[smin, smax]`` (:func:`_sandwich_extremes`); where the bounds coincide (exact values) both
    equal the ordinary fit. The confidence limits come from a paired bootstrap over trials (a trial's lower and
    upper bound are resampled together), Student-t intervals as in :func:`loglog_slope`, one-sided at each end.

    Args:
      x: the grid, at least two distinct positive values.
      lower, upper: per-grid-point arrays of positive per-trial bounds, paired (same length at each ``x``).
      key: PRNG key for the resampling.
      level: the interval's level.
      n_boot: bootstrap replicates.
    """
    check_key(key)
    level = _level(level)
    n_boot = check_int(n_boot, "n_boot", minimum=100)
    if len(lower) != len(upper):
        raise ValueError(f"lower and upper must have one array per x value, got {len(lower)} and {len(upper)}")
    k_lo, k_up, k_boot = jax.random.split(key, 3)
    fit_lo = loglog_slope(x, lower, k_lo, level=level, n_boot=n_boot)
    fit_up = loglog_slope(x, upper, k_up, level=level, n_boot=n_boot)
    lo = [_samples(a, f"lower[{i}]") for i, a in enumerate(lower)]
    up = [_samples(a, f"upper[{i}]") for i, a in enumerate(upper)]
    for i, (a, b) in enumerate(zip(lo, up, strict=True)):
        if a.size != b.size:
            raise ValueError(f"lower[{i}] and upper[{i}] must be paired (one length), got {a.size} and {b.size}")
        if np.any(a > b * (1 + 1e-9)):
            raise ValueError(f"lower[{i}] must be <= upper[{i}] on every trial")
    logx = np.log(np.asarray(x, dtype=np.float64))
    w = _ols_weights(logx)
    log_min, log_max = _sandwich_extremes(w, np.log([a.mean() for a in lo]), np.log([b.mean() for b in up]))
    smin, smax = log_min @ w, log_max @ w
    boot_lo, boot_up = np.empty((n_boot, len(lo))), np.empty((n_boot, len(lo)))
    for i, (a, b, k) in enumerate(zip(lo, up, jax.random.split(k_boot, len(lo)), strict=True)):
        idx = np.asarray(jax.random.randint(k, (n_boot, a.size), 0, a.size))
        boot_lo[:, i], boot_up[:, i] = a[idx].mean(axis=1), b[idx].mean(axis=1)
    sizes = [a.size for a in lo]
    boot_min, boot_max = _sandwich_extremes(w, np.log(boot_lo), np.log(boot_up))
    low = float(smin) - _welch_half(w, boot_min, sizes, level)
    high = float(smax) + _welch_half(w, boot_max, sizes, level)
    return SandwichSlope(float(smin), float(smax), low, high, fit_lo, fit_up, level)


PASS, FAIL, UNDECIDED = "pass", "fail", "undecided"
OUTCOMES = (PASS, FAIL, UNDECIDED)


def _settle_outcome(obj: Any) -> None:
    """Shared by :class:`Check` and :class:`Verdict`: an empty ``outcome`` comes from the two-valued ``passed``;
    afterwards ``passed`` always follows the outcome."""
    if not obj.outcome:
        obj.outcome = PASS if obj.passed else FAIL
    if obj.outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, got {obj.outcome!r}")
    obj.passed = obj.outcome == PASS


@dataclasses.dataclass
class Check:
    """One named condition inside a verdict, with the numbers that decided it.

    ``outcome`` is ``"pass"``, ``"fail"`` or ``"undecided"`` (see :mod:`fcjax.decide`); a check built from
    ``passed`` alone is deterministic (an identity, a bound on every trial) and two-valued. ``passed`` is always
    ``outcome == "pass"``; ``resolution`` says what would decide an undecided check.
    """

    name: str
    passed: bool
    detail: str
    outcome: str = ""
    resolution: str = ""

    def __post_init__(self) -> None:
        _settle_outcome(self)


def _unjson(v: Any) -> Any:
    """Undo :func:`_jsonable`'s spelling of non-finite floats inside tables and series."""
    if isinstance(v, dict):
        return {k: _unjson(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_unjson(x) for x in v]
    return float(v) if v in ("nan", "inf", "-inf") else v


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else str(f)
    if isinstance(v, jax.Array):
        return _jsonable(np.asarray(v))
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return _jsonable(dataclasses.asdict(v))
    return v


Real = float | np.floating  # NumPy scalars are accepted and written out as plain floats


@dataclasses.dataclass
class Verdict:
    """The outcome of one claim: its statistic, interval, prediction, outcome and full provenance.

    ``outcome`` is ``"pass"``, ``"fail"`` or ``"undecided"`` (FAIL if any check fails, else UNDECIDED if any is
    undecided); ``passed`` (kept for compatibility) is ``outcome == "pass"``, and ``resolution`` collects what
    would decide the undecided checks. ``table`` holds the per-grid-point measurements, ``checks`` the conditions
    that decided it, ``series`` the data of its figure (optional) and ``caveats`` what a reader must know.
    """

    claim: str
    paper: str
    statement: str
    source: str
    passed: bool | np.bool_
    statistic: Real
    expected: str
    ci_low: Real
    ci_high: Real
    level: Real
    n_trials: int | np.integer
    params: dict[str, Any]
    seed: int | np.integer
    seconds: Real = 0.0
    device: str = ""
    dtype: str = ""
    jax_version: str = dataclasses.field(default_factory=lambda: jax.__version__)
    statistic_name: str = ""
    checks: list[Check] = dataclasses.field(default_factory=list)
    table: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    series: dict[str, Any] = dataclasses.field(default_factory=dict)
    caveats: list[str] = dataclasses.field(default_factory=list)
    outcome: str = ""
    resolution: str = ""
    stored: bool = False  # read back from a store (proofs_check.store), not computed by this run

    def __post_init__(self) -> None:
        _settle_outcome(self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (non-finite floats become strings)."""
        return _jsonable(dataclasses.asdict(self))

    def to_json(self) -> str:
        """One line of JSON with a stable key order."""
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        """Rebuild a verdict written by :meth:`to_dict`."""
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in fields}
        kwargs["checks"] = [Check(**c) for c in data.get("checks", [])]
        for name in ("statistic", "ci_low", "ci_high", "level", "seconds"):
            if isinstance(kwargs.get(name), str):  # to_dict writes non-finite floats as "nan", "inf", "-inf"
                kwargs[name] = float(kwargs[name])
        for name in ("table", "series"):
            if name in kwargs:
                kwargs[name] = _unjson(kwargs[name])
        return cls(**kwargs)
