"""Assertions for users' pytest / hypothesis suites, on the statistics of fcjax's verdicts (:mod:`fcjax.decide`).

Each assertion decides a statement about the law behind the samples within a margin declared by the caller:

- confirmed (PASS): returns the :class:`fcjax.stats.Check`;
- refuted (FAIL): raises :class:`Refuted`. **False-failure rate:** a true statement is refuted with probability at
  most ``alpha`` (default 1e-3; the interval's level is ``1 - alpha``; for several assertions in one test, give each
  ``alpha / number``, or use :func:`proofs_check.api.bonferroni`);
- undecided: raises :class:`Undecided` (the interval straddles the margin: too few samples to confirm it); the
  message says what would decide it, e.g. "about 4x the trials". Not refuting with no power is not a pass, so this
  also fails the test, with the different error. A true statement with enough samples (the message says how many)
  passes with probability near 1.

All take NumPy or JAX arrays of per-trial values and are host-side (not jittable); inputs are validated first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from ._validate import check_float
from .decide import FAIL, PASS, interval_check, ks_check, rate_check
from .stats import Check, loglog_slope, mean_ci

__all__ = ["Refuted", "Undecided", "assert_law", "assert_mean", "assert_rate", "assert_slope"]


class Refuted(AssertionError):
    """The samples refute the statement beyond its margin (probability <= alpha if it is true)."""


class Undecided(AssertionError):
    """The samples neither confirm nor refute the statement within its margin; the message says what would."""


def _settle(check: Check) -> Check:
    if check.outcome == PASS:
        return check
    if check.outcome == FAIL:
        raise Refuted(f"{check.name}: refuted: {check.detail}")
    raise Undecided(f"{check.name}: undecided: {check.detail}; to decide: {check.resolution}")


def _alpha(alpha: Any) -> float:
    return check_float(alpha, "alpha", low=0.0, high=1.0, open_low=True, open_high=True)


def _values(samples: Any, name: str = "samples", minimum: int = 2) -> np.ndarray:
    a = np.asarray(samples, dtype=np.float64)
    if a.ndim != 1 or a.size < minimum:
        raise ValueError(f"{name} must be a 1-D array of at least {minimum} per-trial values, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains non-finite values")
    return a


def assert_mean(samples: Any, value: float, margin: float, *, alpha: float = 1e-3, name: str = "mean") -> Check:
    """The law's mean equals ``value`` within ``margin`` (t interval at level ``1 - alpha``)."""
    a, alpha = _values(samples), _alpha(alpha)
    est = mean_ci(a, 1 - alpha)
    return _settle(interval_check(name, est.value, est.low, est.high, equals=check_float(value, "value"),
                                  margin=check_float(margin, "margin", low=0.0), level=1 - alpha))


def assert_slope(xs: Sequence[float], samples: Sequence[Any], expected: float, margin: float = 0.05, *,
                 key: jax.Array, alpha: float = 1e-3, stat: str = "mean", name: str = "log-log slope") -> Check:
    """``stat(samples_i) ∝ xs_i ** expected`` within ``margin`` on the slope (bootstrap over trials,
    :func:`fcjax.stats.loglog_slope`): e.g. ``expected=0.5`` for a √d law, ``0`` for a d-free one."""
    if len(xs) != len(samples) or len(xs) < 2:
        raise ValueError(f"xs and samples must have the same length >= 2, got {len(xs)} and {len(samples)}")
    vals = [_values(s, f"samples[{i}]") for i, s in enumerate(samples)]
    alpha = _alpha(alpha)
    fit = loglog_slope(xs, vals, key, stat=stat, level=1 - alpha)
    return _settle(interval_check(name, fit.slope, fit.low, fit.high, equals=check_float(expected, "expected"),
                                  margin=check_float(margin, "margin", low=0.0), level=1 - alpha))


def assert_law(samples: Any, cdf: Callable[[np.ndarray], np.ndarray] | Any, margin: float = 0.03, *,
               alpha: float = 1e-3, name: str = "law") -> Check:
    """The samples' law is within Kolmogorov distance ``margin`` of ``cdf`` (a function or a frozen
    ``scipy.stats`` law), decided with the DKW band at level ``1 - alpha``."""
    a, alpha = _values(samples), _alpha(alpha)
    if not (callable(cdf) or hasattr(cdf, "cdf")):
        raise TypeError(f"cdf must be a function or a scipy.stats law, got {type(cdf).__name__}")
    return _settle(ks_check(name, a, cdf, margin=check_float(margin, "margin", low=0.0), alpha=alpha))


def assert_rate(events: int, trials: int, at_most: float, *, alpha: float = 1e-3, name: str = "rate") -> Check:
    """The event probability is at most ``at_most``, from ``events`` in ``trials`` (Clopper-Pearson)."""
    if isinstance(events, bool) or isinstance(trials, bool) or not (isinstance(events, int | np.integer)
                                                                   and isinstance(trials, int | np.integer)):
        raise TypeError(f"events and trials must be ints, got {events!r} and {trials!r}")
    if not 0 <= events <= trials or trials < 1:
        raise ValueError(f"need 0 <= events <= trials and trials >= 1, got {events} and {trials}")
    bound = check_float(at_most, "at_most", low=0.0, high=1.0)
    return _settle(rate_check(name, int(events), int(trials), at_most=bound, level=1 - _alpha(alpha)))
