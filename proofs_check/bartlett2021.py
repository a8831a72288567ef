"""Bartlett, Bubeck & Cherapanamjeri, "Adversarial examples in multi-layer random ReLU networks" (NeurIPS 2021,
arXiv 2106.12611).

Deep ReLU networks with Gaussian weights, constant depth: locally almost linear, so one step of length
``|f|/‖∇f‖`` along ``−f∇f`` flips the sign. Without biases the network is positively homogeneous, so Euler's
identity ``f(x) = ⟨∇f(x), x⟩`` holds and that length is ``‖x‖·|cos θ|`` (θ: angle of ``∇f(x)`` and ``x``), Gao et
al.'s compression factor. Statements: ``shared/papers/field_theorems.md`` 1.3 ([P] abstract; the identity and the
link to Gao are [D]; the theorem's constants are [R] and not used). Each trial draws a fresh network
(:mod:`fcjax.random_nets`).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np
import scipy.stats as st

from fcjax import random_nets
from fcjax._validate import check_int
from fcjax.stats import Check

from .api import (
    ALPHA,
    Outcome,
    Run,
    SweepConfig,
    fit_line,
    interval_check,
    line,
    loglog_slope,
    mean_band,
    register,
    slope_check,
    sweep,
)

PAPER = "Bartlett et al. 2021 (arXiv 2106.12611)"
LEVEL = 1 - ALPHA


@dataclasses.dataclass(frozen=True)
class DeepConfig(SweepConfig):
    """Bias-free ReLU nets ``d → (width_factor·d) × depth → 1`` (``depth`` hidden ReLU layers) for each depth in
    ``depths``."""

    depths: tuple[int, ...] = (2, 3)
    width_factor: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.depths:
            raise ValueError("depths must name at least one depth")
        for depth in self.depths:
            check_int(depth, "depths", minimum=1)
        check_int(self.width_factor, "width_factor", minimum=1)


def _euler(key, d: int, dtype, depth: int, factor: int) -> dict:
    return random_nets.euler_trial(key, d, (factor * d,) * depth, dtype=dtype)


def _sweeps(cfg: DeepConfig, key, ctx: Run) -> dict[int, dict[int, dict[str, np.ndarray]]]:
    return {depth: sweep(cfg, jax.random.fold_in(key, 10**7 + depth), ctx, _euler,
                         lambda d, depth=depth: 8 * (depth + 1) * cfg.width_factor * d * d * 4, cell=f"depth={depth},",
                         depth=depth, factor=cfg.width_factor)
            for depth in cfg.depths}


# ---------------------------------------------------------------------------------------------- euler_identity
@register(
    "bartlett2021.euler_identity", paper=PAPER,
    statement="a bias-free ReLU network is positively homogeneous: f(x) = ⟨∇f(x), x⟩ exactly, so the one-step flip "
              "distance |f|/‖∇f‖ equals ‖x‖·|cos θ| (θ the angle between ∇f(x) and x: Gao et al.'s compression factor)",
    source="Euler's theorem on homogeneous functions; its link to the one-step attack (Section 1) and to Gao [D]",
    config=DeepConfig(ds=(16, 64, 256, 1024), depths=(2, 3, 5), trials=500),
    quick={"ds": (16, 64, 256), "depths": (2, 3), "trials": 200},
)
def euler_identity(cfg: DeepConfig, key, ctx: Run) -> Outcome:
    data = _sweeps(cfg, key, ctx)
    u = float(np.finfo(cfg.dtype).eps) / 2
    checks, table, worst = [], [], 0.0
    for depth, by_d in data.items():
        for d, o in by_d.items():
            # rounding of a chain of products: |fl(f) − f| <= γ_N·(|W_L|⋯|W_1||x|), N the sum of the fan-ins, for f
            # and for ⟨∇f, x⟩ alike (Higham 2002, §3.5): their difference is within 2γ_N of that scale
            n_sum = d + depth * cfg.width_factor * d
            gamma = n_sum * u / (1 - n_sum * u)
            rel = np.abs(o["f"] - o["g_dot_x"]) / (2 * gamma * o["scale"])
            worst = max(worst, float(rel.max()))
            table.append({"depth": depth, "d": d, "max_residual_over_bound": float(rel.max()),
                          "max_abs_residual": float(np.abs(o["f"] - o["g_dot_x"]).max()),
                          "median_abs_f": float(np.median(np.abs(o["f"])))})
            checks.append(Check(f"depth {depth}, d={d}: |f − ⟨∇f, x⟩| <= 2γ_N·|W|⋯|x| in every trial",
                                bool(rel.max() <= 1), f"max residual / bound {rel.max():.3g} over {rel.size} nets"))
    return Outcome(
        statistic=worst, statistic_name="largest |f − ⟨∇f, x⟩| over its rounding bound", expected="<= 1",
        ci_low=worst, ci_high=worst, level=1.0, n_trials=cfg.trials * len(cfg.ds) * len(cfg.depths), checks=checks,
        table=table)


# -------------------------------------------------------------------------------------------- cos_theta_d_free
@register(
    "bartlett2021.cos_theta_d_free", paper=PAPER,
    statement="at fixed depth, random bias-free ReLU nets are locally like random linear functions: √d·|cos θ| = "
              "|f|/‖∇f‖ at ‖x‖ = √d has a d-free law, so the one-step flip distance over ‖x‖ falls like d^(−1/2)",
    source="abstract and Section 1 (local linearity, constant depth) [P]; √d|cos θ| as the statistic [D]",
    config=DeepConfig(ds=(64, 128, 256, 512, 1024), depths=(2, 3, 5), trials=8000),
    # quick: 4000 nets per cell put each slope's CI at about ±0.03, inside the d-free margin ±0.05
    quick={"ds": (32, 64, 128, 256), "depths": (2,), "trials": 4000},
)
def cos_theta_d_free(cfg: DeepConfig, key, ctx: Run) -> Outcome:
    data = _sweeps(cfg, key, ctx)
    ds = list(cfg.ds)
    level = 1 - ALPHA / len(cfg.depths)
    checks, table, lines, fits, by_depth = [], [], [], [], {}
    for depth, by_d in data.items():
        samples = [by_d[d]["sqrt_d_cos"][np.isfinite(by_d[d]["sqrt_d_cos"])] for d in ds]
        fit = by_depth[depth] = loglog_slope(ds, samples, jax.random.fold_in(key, 10**6 + depth), level=level)
        checks.append(slope_check(f"depth {depth}: mean √d·|cos θ| is d-free", fit, equals=0.0))
        means, lows, highs = mean_band(ds, samples, level)
        lines.append(line(f"depth {depth}", ds, means, lows, highs))
        fits.append(fit_line(f"depth {depth}", fit))
        for d, s, m in zip(ds, samples, means, strict=True):
            table.append({"depth": depth, "d": d, "mean_sqrt_d_cos": m, "median": float(np.median(s)),
                          "valid": f"{s.size}/{cfg.trials}"})
    fit0 = by_depth[cfg.depths[0]]  # the headline is the first depth's checked fit, not a second bootstrap
    return Outcome(
        statistic=fit0.slope, statistic_name=f"slope of mean √d·|cos θ| in d (depth {cfg.depths[0]})",
        expected="0 (d-free)", ci_low=fit0.low, ci_high=fit0.high, level=level,
        n_trials=cfg.trials * len(ds) * len(cfg.depths), checks=checks, table=table,
        series={"title": "√d·|cos θ| of random bias-free ReLU nets", "xlabel": "d", "ylabel": "mean √d·|cos θ|",
                "loglog": True, "lines": lines, "fits": fits,
                "refs": [line("√(2/π) (a uniformly random direction)", ds, [math.sqrt(2 / math.pi)] * len(ds))]},
        caveats=[f"The width is {cfg.width_factor}·d at every layer; the theorem allows any widths polynomial in "
                 "each other."],
    )


# ----------------------------------------------------------------------------------------------- depth_caveat
@dataclasses.dataclass(frozen=True)
class DepthConfig(SweepConfig):
    """Networks of width ``width`` and each depth in ``depths`` at input dimension ``ds`` (one value), each on
    ``inputs`` points of the sphere."""

    depths: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    width: int = 16
    inputs: int = 32

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.ds) != 1:
            raise ValueError(f"d must be one dimension for this claim, got {self.ds!r}")
        if len(self.depths) < 2:
            raise ValueError(f"depths must name at least two depths, got {self.depths!r}")
        for depth in self.depths:
            check_int(depth, "depths", minimum=1)
        check_int(self.width, "width", minimum=1)
        check_int(self.inputs, "inputs", minimum=2)


def _depth(key, d: int, dtype, depth: int, width: int, inputs: int) -> dict:
    return random_nets.depth_trial(key, d, (width,) * depth, inputs, dtype=dtype)


@register(
    "bartlett2021.depth_caveat", paper=PAPER,
    statement="some depth constraint is necessary: deep narrow random ReLU nets compute nearly constant functions, "
              "so the spread of f over inputs (std/rms) is smaller at the largest depth than at depth 1 (the one-step "
              "flip rate against depth is reported)",
    source="abstract ('suitably deep networks … compute a function that is close to constant') [P]; the statistic "
           "is ours",
    config=DepthConfig(ds=(64,), depths=(1, 2, 4, 8, 16, 32, 64), width=16, trials=1000),
    quick={"depths": (1, 4, 16, 32), "trials": 300},
)
def depth_caveat(cfg: DepthConfig, key, ctx: Run) -> Outcome:
    d = cfg.ds[0]
    def size(d_: int, depth: int) -> int:  # the inputs' activations and gradients dominate a trial's memory
        return 8 * cfg.inputs * (d_ + 4 * depth * cfg.width) * 4

    out = {depth: sweep(cfg, jax.random.fold_in(key, depth), ctx, _depth, lambda d_, depth=depth: size(d_, depth),
                        cell=f"depth={depth},", depth=depth, width=cfg.width, inputs=cfg.inputs)[d]
           for depth in cfg.depths}
    depths = list(cfg.depths)
    shallow, deep = out[depths[0]]["spread"], out[depths[-1]]["spread"]
    diff = float(np.mean(shallow) - np.mean(deep))
    se = math.sqrt(np.var(shallow, ddof=1) / shallow.size + np.var(deep, ddof=1) / deep.size)
    z = st.norm.ppf(1 - ALPHA)
    # a sign claim (the paper gives no rate): threshold 0, one-sided Welch interval
    check = interval_check(f"spread of f over inputs: depth {depths[0]} minus depth {depths[-1]} > 0", diff,
                           diff - z * se, diff + z * se, at_least=0.0, why="sign claim; one-sided Welch",
                           what="networks", level=1 - ALPHA)
    table = [{"depth": L, "width": cfg.width, "d": d, "mean_spread": float(np.mean(out[L]["spread"])),
              "constant_nets": float(np.mean(out[L]["spread"] < 1e-3)),
              "mean_flip_rate": float(np.mean(out[L]["flip_rate"]))} for L in depths]
    return Outcome(
        statistic=diff, statistic_name=f"mean spread at depth {depths[0]} minus depth {depths[-1]}",
        expected="> 0", ci_low=diff - z * se, ci_high=diff + z * se, level=1 - ALPHA,
        n_trials=cfg.trials * len(depths), checks=[check], table=table,
        series={"title": f"Deep narrow random ReLU nets (width {cfg.width}, d = {d})", "xlabel": "depth",
                "ylabel": "mean over nets", "loglog": False,
                "lines": [line("spread of f over inputs (std/rms)", depths, [r["mean_spread"] for r in table]),
                          line("one-step flip rate", depths, [r["mean_flip_rate"] for r in table])]},
        caveats=["A qualitative statement: the verdict is the sign of the change in spread between the shallowest "
                 "and the deepest nets; the flip rate is reported, not tested."],
    )
