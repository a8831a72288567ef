"""The public claim API: everything a claim needs, for fcjax's own papers and for a theorem of one's own.

A claim is a function ``run(cfg, key, ctx) -> Outcome`` registered with :func:`register` under ``"paper.name"``:
``cfg`` is its config (a frozen dataclass deriving from :class:`ClaimConfig` or :class:`SweepConfig`, with the
quick form's changes given to ``register``), ``key`` the root PRNG key of the run's seed, ``ctx`` a :class:`Run`
(progress, and trial maps that resume from ``--out DIR``'s store). :func:`sweep` runs a keyed trial function over
the grid ``cfg.ds`` (vmapped, chunked, resumable); the checks turn estimates into the three-valued outcome
(:data:`PASS`, :data:`FAIL`, :data:`UNDECIDED`, see :mod:`fcjax.decide`), each at the Bonferroni level
:func:`bonferroni` gives for the claim's number of tests, so a true claim fails with probability at most
:data:`ALPHA` under a fresh seed.

Run one with ``fcjax check --plugin my_claims.py paper.name --quick`` (or ``fcjax reproduce --plugin my_claims.py
paper``), or ship it in a package with an entry point in the ``fcjax.claims`` group::

    [project.entry-points."fcjax.claims"]
    my_paper = "my_package.claims"

Stored results are reused only while fcjax, proofs_check and the claim's own module are unchanged. The README's
"Check your own theorem" section is a complete example.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, NotRequired, TypedDict

from fcjax.decide import FAIL, PASS, UNDECIDED, combine, interval_check, ks2_check, ks_check, rate_check
from fcjax.stats import Check, SandwichSlope, SlopeFit, Verdict, clopper_pearson, loglog_slope, mean_ci, sandwich_slope

from ._common import (
    LAW_MARGIN,
    ORDER_MARGIN,
    SLOPE_MARGIN,
    all_of,
    cp_upper_at_zero,
    fit_line,
    line,
    mean_band,
    order_check,
    rising,
    sandwich_slope_check,
    slope_check,
    sweep,
)
from .context import Run
from .registry import ALPHA, ClaimConfig, Outcome, SweepConfig, all_claims, get_claim, load_plugin, register
from .runner import run_claim


class Line(TypedDict):
    """One plotted series (:func:`line` builds it): points ``(x, y)``, an optional band ``[low, high]``."""

    label: str
    x: list[float]
    y: list[float]
    low: NotRequired[list[float]]
    high: NotRequired[list[float]]


class Series(TypedDict):
    """A claim's figure (``Outcome.series``): measured ``lines`` and reference ``refs`` (dashed) on one axes, a
    ``heatmap`` (``rows``, ``cols``, row-major ``values`` with ``None`` for blank, ``notes`` per cell, the colour
    scale's ``center``), or ``panels`` (a list of such dicts) side by side. ``loglog``: both axes logarithmic;
    ``xlog``: only x; ``scatter``: points, not lines."""

    title: str
    xlabel: str
    ylabel: str
    loglog: NotRequired[bool]
    xlog: NotRequired[bool]
    scatter: NotRequired[bool]
    lines: NotRequired[list[Line]]
    refs: NotRequired[list[Line]]
    heatmap: NotRequired[dict[str, Any]]
    panels: NotRequired[list[dict[str, Any]]]


class Bonferroni(NamedTuple):
    """Per-test error rate and interval level when a claim makes ``tests`` tests at family-wise rate ``ALPHA``."""

    tests: int
    alpha: float
    level: float


def bonferroni(tests: int, alpha: float = ALPHA) -> Bonferroni:
    """``alpha / tests`` per test, and the matching two-sided interval level ``1 - alpha / tests``."""
    if isinstance(tests, bool) or not isinstance(tests, int) or tests < 1:
        raise ValueError(f"tests must be a positive int (the number of tests the claim makes), got {tests!r}")
    if not (isinstance(alpha, float) and 0 < alpha < 1) or math.isnan(alpha):
        raise ValueError(f"alpha must be a float in (0, 1), got {alpha!r}")
    return Bonferroni(tests, alpha / tests, 1 - alpha / tests)


__all__ = [
    "ALPHA",
    "FAIL",
    "LAW_MARGIN",
    "ORDER_MARGIN",
    "PASS",
    "SLOPE_MARGIN",
    "UNDECIDED",
    "Bonferroni",
    "Check",
    "ClaimConfig",
    "Line",
    "Outcome",
    "Run",
    "SandwichSlope",
    "Series",
    "SlopeFit",
    "SweepConfig",
    "Verdict",
    "all_claims",
    "all_of",
    "bonferroni",
    "clopper_pearson",
    "combine",
    "cp_upper_at_zero",
    "fit_line",
    "get_claim",
    "interval_check",
    "ks2_check",
    "ks_check",
    "line",
    "load_plugin",
    "loglog_slope",
    "mean_band",
    "mean_ci",
    "order_check",
    "rate_check",
    "register",
    "rising",
    "run_claim",
    "sandwich_slope",
    "sandwich_slope_check",
    "slope_check",
    "sweep",
]
