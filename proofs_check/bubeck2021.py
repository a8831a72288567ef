"""Bubeck, Cherapanamjeri, Gidel & Tachet des Combes, "A single gradient step finds adversarial examples on random
two-layers neural networks" (NeurIPS 2021, arXiv 2104.03863).

``f(x) = k^(-1/2) Σ_l a_l ψ(w_l·x)``, ``w_l ~ N(0, I_d/d)``, ``a_l ~ Unif{±1}``, ``x`` on the ``√d``-sphere. Statement
and derivation: ``shared/papers/field_theorems.md`` 1.2 ([P] model and result; the limiting law is [D], derived by the
CLT in ``k``; the [C] numbers there are not used as thresholds). Each trial draws a fresh network and input from its
own key (:func:`fcjax.random_nets.one_step_trial`), so trials are i.i.d. over keys.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np
import scipy.stats as st

from fcjax import random_nets
from fcjax._validate import check_int
from fcjax.decide import dkw_halfwidth

from .api import (
    ALPHA,
    LAW_MARGIN,
    Outcome,
    Run,
    SweepConfig,
    clopper_pearson,
    fit_line,
    ks_check,
    line,
    loglog_slope,
    mean_band,
    register,
    rising,
    slope_check,
    sweep,
)

PAPER = "Bubeck et al. 2021 (arXiv 2104.03863)"
LEVEL = 1 - ALPHA


@dataclasses.dataclass(frozen=True)
class TwoLayerConfig(SweepConfig):
    """Random two-layer networks of width ``k = k_factor·d`` at each d, for the activations ``activations``."""

    k_factor: int = 4
    activations: tuple[str, ...] = ("relu", "tanh")
    overshoot: float = 0.02

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self.k_factor, "k_factor", minimum=1)
        check_two_layer_settings(self.activations, self.overshoot)


def check_two_layer_settings(activations: tuple[str, ...], overshoot: float) -> None:
    """The settings every random two-layer claim shares (here and in :mod:`proofs_check.montanari2023`)."""
    if not activations:
        raise ValueError("activations must name at least one activation")
    for name in activations:
        random_nets.activation(name)  # ValueError naming the known ones
    if not 0 < overshoot < 1:
        raise ValueError(f"overshoot must be in (0, 1), got {overshoot!r}")


def _trial(key, d: int, dtype, k_factor: int, names: tuple[str, ...], overshoot: float) -> dict:
    return random_nets.one_step_trial(key, d, k_factor * d, names, overshoot, dtype=dtype)


def _data(cfg: TwoLayerConfig, key, ctx: Run) -> dict[int, dict[str, np.ndarray]]:
    # the (k, d) weights dominate a trial's memory; x4 for the gradient's and the second evaluation's temporaries
    return sweep(cfg, key, ctx, _trial, lambda d: 4 * cfg.k_factor * d * d * 8, k_factor=cfg.k_factor,
                 names=cfg.activations, overshoot=cfg.overshoot)


# ------------------------------------------------------------------------------------------- flip_distance_law
@register(
    "bubeck2021.flip_distance_law", paper=PAPER,
    statement="for random two-layer nets f(x) = k^(−1/2) Σ a_l ψ(w_l·x) at ‖x‖ = √d, the linearised flip distance "
              "|f|/‖∇f‖ tends (large d and k) to the law of √(Eψ(g)²/Eψ'(g)²)·|Z|, Z ~ N(0, 1): exactly |Z| for "
              "ReLU",
    source="Section 1 (model, one-step result) [P]; limiting law by the CLT in k and concentration in d [D]",
    config=TwoLayerConfig(ds=(64, 256, 512), trials=20000),
    # quick: 20000 trials put each KS distance's DKW half-width at ~0.016, within the law margin 0.03
    quick={"ds": (32, 128), "trials": 20000},
)
def flip_distance_law(cfg: TwoLayerConfig, key, ctx: Run) -> Outcome:
    data = _data(cfg, key, ctx)
    ds, names = list(data), cfg.activations
    m = len(ds) * len(names)
    alpha = ALPHA / m
    table, decisive = [], []
    for d in ds:
        row = {"d": d, "k": cfg.k_factor * d}
        for name in names:
            c = random_nets.activation_ratio(name)
            scaled = data[d][f"r_{name}"] / c
            law = st.halfnorm()
            # A limit law: only the largest (d, k) decides; the smaller ones show the approach. LAW_MARGIN is a
            # tenth of the distance from a rival law (|Z| vs 0.92|Z|, ReLU's vs tanh's scale, is ~0.04 apart).
            check = ks_check(f"d={d}, k={cfg.k_factor * d}: |f|/‖∇f‖ ~ {c:.4f}·|Z| ({name})", scaled, law,
                             margin=LAW_MARGIN, alpha=alpha)
            row[f"ks_{name}"] = float(st.kstest(scaled, law.cdf).statistic)
            row[f"mean_{name}"] = float(np.mean(data[d][f"r_{name}"]))
            row[f"predicted_mean_{name}"] = c * math.sqrt(2 / math.pi)
            if d == ds[-1]:
                decisive.append(check)
        table.append(row)
    first = names[0]
    top, eps = table[-1][f"ks_{first}"], dkw_halfwidth(cfg.trials, alpha)
    means, lows, highs = mean_band(ds, [data[d][f"r_{first}"] for d in ds], LEVEL)
    return Outcome(
        statistic=top, statistic_name=f"KS distance to the limit law ({first}, d={ds[-1]})",
        expected=f"<= {LAW_MARGIN} (the limit law)", ci_low=max(0.0, top - eps), ci_high=top + eps, level=1 - alpha,
        n_trials=cfg.trials * len(ds), checks=decisive, table=table,
        series={"title": "Linearised flip distance of random two-layer nets", "xlabel": "d",
                "ylabel": f"mean |f|/‖∇f‖ ({first})", "loglog": False,
                "lines": [line(f"mean ({first})", ds, means, lows, highs)],
                "refs": [line("limit √(2/π)·c", ds, [random_nets.activation_ratio(first) * math.sqrt(2 / math.pi)]
                              * len(ds))]},
        caveats=["A limit law (large d and k): the verdict is the largest grid point's; the table shows the "
                 "approach at smaller d. The law's constant is derived here, not quoted from the paper."],
    )


# ------------------------------------------------------------------------------------------------ one_step_flip
@register(
    "bubeck2021.one_step_flip", paper=PAPER,
    statement="a single gradient step x − (1 + η)·f·∇f/‖∇f‖² (overshoot η = 0.02) flips the sign of a random "
              "two-layer net with a probability that rises toward 1 with d, and its length over ‖x‖ = √d falls "
              "like d^(−1/2)",
    source="Theorem 1 (smooth ψ) and the ReLU result, Section 1 [P]; the d^(−1/2) length from the d-free flip "
           "distance [D]",
    config=TwoLayerConfig(ds=(64, 128, 256, 512, 1024), trials=8000),
    # quick: d from 32 (a d^(-1/2) law is asymptotic: at d = 16 tanh's distance is still a few % off its limit);
    # 4000 trials make each rise's and the slope's interval narrow enough to decide
    quick={"ds": (32, 64, 128, 256), "trials": 4000},
)
def one_step_flip(cfg: TwoLayerConfig, key, ctx: Run) -> Outcome:
    data = _data(cfg, key, ctx)
    ds, names = list(data), cfg.activations
    m = len(names) * len(ds)  # per activation: len(ds) - 1 rises and one slope (Bonferroni)
    level = 1 - ALPHA / m
    checks, table, lines, fits = [], [], [], []
    for name in names:
        flips = [data[d][f"flipped_{name}"].astype(np.float64) for d in ds]
        # "rises toward 1": a sign claim (the theorem gives no rate), so each consecutive rise must be significant
        checks.append(rising(f"flip rate rises with d ({name})", ds, flips, ALPHA / m))
        rel = [(1 + cfg.overshoot) * data[d][f"r_{name}"] / math.sqrt(d) for d in ds]
        fit = loglog_slope(ds, rel, jax.random.fold_in(key, 10**6 + names.index(name)), level=level)
        checks.append(slope_check(f"step length / ‖x‖ falls like d^(−1/2) ({name})", fit, equals=-0.5))
        fits.append(fit_line(f"step / ‖x‖ ({name})", fit))
        means, _, _ = mean_band(ds, rel, level)
        lines.append(line(f"mean step / ‖x‖ ({name})", ds, means))
        for d, f in zip(ds, flips, strict=True):
            k = int(f.sum())
            lo, hi = clopper_pearson(k, f.size, level)
            table.append({"activation": name, "d": d, "k": cfg.k_factor * d, "flip_rate": k / f.size,
                          "ci_low": lo, "ci_high": hi, "mean_step_over_norm": float(np.mean(rel[ds.index(d)]))})
    top = [r for r in table if r["activation"] == names[0]][-1]
    return Outcome(
        statistic=top["flip_rate"], statistic_name=f"flip rate at d={ds[-1]} ({names[0]})",
        expected="-> 1 as d grows", ci_low=top["ci_low"], ci_high=top["ci_high"], level=level,
        n_trials=cfg.trials * len(ds), checks=checks, table=table,
        series={"title": "One gradient step on random two-layer nets", "xlabel": "d", "ylabel": "step / ‖x‖",
                "loglog": True, "lines": lines, "fits": fits},
        caveats=[f"Overshoot η = {cfg.overshoot}: a step of (1 + η) times the linearised distance; the flip needs the "
                 "curvature along the step to stay below η|f|, which the theorem makes likely only as d grows."],
    )
