"""Montanari & Wu, "Adversarial examples in random neural networks with general activations" (Probability and
Mathematical Physics 2023, arXiv 2203.17209).

The same random two-layer networks as Bubeck et al. (:mod:`proofs_check.bubeck2021`), but with **no restriction on
the width** and general locally Lipschitz activations. Statements: ``shared/papers/field_theorems.md`` 1.4 ([P]
abstract; the network class and the step's scale are [R], so the exact form of the step ``s(x)`` is not assumed:
the flip rate of our 1.02× linearised step is reported, not tested). Each trial draws a fresh network and input.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np

from fcjax import random_nets
from fcjax._validate import check_int

from .api import (
    ALPHA,
    Outcome,
    Run,
    SweepConfig,
    all_of,
    fit_line,
    line,
    loglog_slope,
    mean_band,
    register,
    slope_check,
    sweep,
)
from .bubeck2021 import check_two_layer_settings

PAPER = "Montanari & Wu 2023 (arXiv 2203.17209)"


@dataclasses.dataclass(frozen=True)
class WidthConfig(SweepConfig):
    """Random two-layer nets of each fixed width in ``ks`` (from ``k ≪ d`` to ``k ≫ d``) over the d grid, every
    activation in ``activations`` on the same draws."""

    ks: tuple[int, ...] = (4, 16, 64, 256, 1024, 4096)
    activations: tuple[str, ...] = ("relu", "tanh", "gelu", "sin", "square")
    overshoot: float = 0.02

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.ks:
            raise ValueError("ks must name at least one width")
        for k in self.ks:
            check_int(k, "ks", minimum=1)
        check_two_layer_settings(self.activations, self.overshoot)


def _trial(key, d: int, dtype, k: int, names: tuple[str, ...], overshoot: float) -> dict:
    return random_nets.one_step_trial(key, d, k, names, overshoot, dtype=dtype)


@register(
    "montanari2023.any_width", paper=PAPER,
    statement="for random two-layer nets of any width k (k ≪ d to k ≫ d) and general locally Lipschitz activations "
              "(ReLU, tanh, GELU, sin, x²), the linearised flip distance |f|/‖∇f‖ stays O(1) at ‖x‖ = √d: its mean "
              "does not grow or shrink with d at any fixed k (the one-step flip rate is reported)",
    source="abstract ('no restriction on width', 'general locally Lipschitz activations', the gradient-direction "
           "step) [P]; the d-free distance as the testable form of O(1) [D]",
    config=WidthConfig(ds=(64, 128, 256, 512), ks=(4, 16, 64, 256, 1024, 4096), trials=4000),
    # quick: the two ends, k ≪ d and k ≫ d; 4000 nets per cell put each slope's CI near ±0.03 (at 2000 nets and
    # three widths, 15 cells under Bonferroni, every cell straddled the margin ±0.05)
    quick={"ds": (32, 64, 128, 256), "ks": (4, 1024), "trials": 4000},
    work=lambda c: c.trials * sum(k * d for k in c.ks for d in c.ds),  # the (k, d) weights dominate a trial
)
def any_width(cfg: WidthConfig, key, ctx: Run) -> Outcome:
    names, ds = cfg.activations, list(cfg.ds)
    data = {k: sweep(cfg, jax.random.fold_in(key, 10**7 + k), ctx, _trial, lambda d, k=k: 4 * k * d * 8,
                     cell=f"k={k},", k=k, names=names, overshoot=cfg.overshoot)
            for k in cfg.ks}
    m = len(cfg.ks) * len(names)
    level = 1 - ALPHA / m
    cells, table, lines, fits, all_fits = [], [], [], [], []
    for i, k in enumerate(cfg.ks):
        for j, name in enumerate(names):
            # draws where every ReLU unit is off at x (f = 0, ∇f = 0: no gradient step exists) are left out and
            # counted; at k = 4 that is 1/16 of the ReLU draws
            samples = [data[k][d][f"r_{name}"][np.isfinite(data[k][d][f"r_{name}"])] for d in ds]
            fit = loglog_slope(ds, samples, jax.random.fold_in(key, 10**6 + 100 * i + j), level=level)
            cells.append(slope_check(f"k={k}, {name}: mean |f|/‖∇f‖ is d-free", fit, equals=0.0))
            all_fits.append(fit)
            means, _, _ = mean_band(ds, samples, level)
            if name == names[0]:
                lines.append(line(f"k={k} ({name})", ds, means))
                fits.append(fit_line(f"k={k} ({name})", fit))
            for d, s, mu in zip(ds, samples, means, strict=True):
                flips = data[k][d][f"flipped_{name}"]
                table.append({"k": k, "activation": name, "d": d, "mean_r": mu, "valid": f"{s.size}/{cfg.trials}",
                              "flip_rate": float(np.mean(flips)), "slope": fit.slope})
    check = all_of("mean |f|/‖∇f‖ is d-free at every width and activation", cells)
    top = max(all_fits, key=lambda f: abs(f.slope))
    return Outcome(
        statistic=top.slope, statistic_name="the slope of mean |f|/‖∇f‖ in d farthest from 0",
        expected="0 (d-free)", ci_low=top.low, ci_high=top.high, level=level,
        n_trials=cfg.trials * len(ds) * len(cfg.ks), checks=[check], table=table,
        series={"title": "Linearised flip distance at every width", "xlabel": "d",
                "ylabel": f"mean |f|/‖∇f‖ ({names[0]})", "loglog": True, "lines": lines, "fits": fits,
                "refs": [line("√(2/π)", ds, [math.sqrt(2 / math.pi)] * len(ds))]},
        caveats=["The theorem's step s(x) and constants were not read ([R]); the table's flip rate is that of our "
                 f"(1 + {cfg.overshoot})× linearised step, a study, not a test."],
    )
