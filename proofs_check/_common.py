"""Helpers shared by the claims: keyed sweeps over d, Bonferroni-corrected tests, figure series."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import jax
import numpy as np
import scipy.stats as st

from fcjax.stats import Check, SlopeFit, mean_ci

from .context import Run
from .registry import SweepConfig


def sweep(cfg: SweepConfig, key: jax.Array, ctx: Run, fn: Callable[..., dict],
          bytes_per_trial: Callable[[int], int], ds: Sequence[int] | None = None, cell: str = "", **kwargs: Any
          ) -> dict[int, dict[str, np.ndarray]]:
    """``{d: stats}`` with ``cfg.trials`` trials of ``fn(key, d=d, dtype=..., **kwargs)`` at each d (resumable
    cells named ``f"{cell}d={d}"``).

    Each d draws from ``fold_in(key, d)``, so adding a dimension to the grid leaves the others unchanged.
    """
    out = {}
    for d in cfg.ds if ds is None else ds:
        trial = partial(fn, d=d, dtype=cfg.jdtype, **kwargs)
        out[d] = ctx.map_trials(trial, jax.random.fold_in(key, d), cfg.trials, cell=f"{cell}d={d}",
                                chunk_size=cfg.chunk(bytes_per_trial(d)))
    return out


def rising(ds: Sequence[int], samples: Sequence[np.ndarray], alpha: float) -> tuple[bool, list[str]]:
    """One-sided Welch tests that the mean rises between consecutive grid points, each at level ``alpha``."""
    z = st.norm.ppf(1 - alpha)
    ok, notes = True, []
    for (d0, a), (d1, b) in zip(zip(ds, samples, strict=True), list(zip(ds, samples, strict=True))[1:],
                                strict=False):
        diff = float(np.mean(b) - np.mean(a))
        se = math.sqrt(np.var(a, ddof=1) / a.size + np.var(b, ddof=1) / b.size)
        low = diff - z * se
        ok &= low > 0
        notes.append(f"d {d0}->{d1}: +{diff:.4f} (lower bound {low:.4f})")
    return bool(ok), notes


def slope_check(name: str, fit: SlopeFit, *, contains: float | None = None, not_above: float | None = None,
                not_below: float | None = None) -> Check:
    """A check on a fitted log-log slope's interval; each condition fails only when the data refute it.

    ``contains``: the interval contains the value. ``not_above``: the slope is not significantly above the value
    (lower limit <= value). ``not_below``: not significantly below it (upper limit >= value).
    """
    conds = []
    if contains is not None:
        conds.append((fit.low <= contains <= fit.high, f"contains {contains:g}"))
    if not_above is not None:
        conds.append((fit.low <= not_above, f"lower limit <= {not_above:g} (not significantly above it)"))
    if not_below is not None:
        conds.append((fit.high >= not_below, f"upper limit >= {not_below:g} (not significantly below it)"))
    passed = all(c for c, _ in conds)
    detail = (f"slope {fit.slope:.3f}, {fit.level:.2%} CI [{fit.low:.3f}, {fit.high:.3f}]; required: "
              + " and ".join(t for _, t in conds))
    return Check(name, passed, detail)


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


def order_check(name: str, eps: np.ndarray, values: np.ndarray, order: float, level: float):
    """Like a convergence-order test: |mean slope − order| within its CI half-width plus the truncation error, the
    latter estimated by the change of slope between the small-ε and the large-ε halves of the grid."""
    half = len(eps) // 2
    est = mean_ci(trial_slopes(eps, values), level)
    lo = float(np.mean(trial_slopes(eps[: half + 1], values[:, : half + 1])))
    hi = float(np.mean(trial_slopes(eps[half:], values[:, half:])))
    trunc, width = abs(lo - hi), (est.high - est.low) / 2
    ok = abs(est.value - order) <= width + trunc
    return est, Check(name, bool(ok), f"mean slope {est.value:.4f} ± {width:.4f} (CI) ± {trunc:.4f} (truncation: "
                                      f"halves {lo:.4f} / {hi:.4f}); predicted {order}")
