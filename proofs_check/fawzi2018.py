"""Fawzi, Fawzi & Fawzi, "Adversarial vulnerability for any classifier" (NeurIPS 2018, arXiv 1802.08686).

Data ``x = g(z)``, ``z ~ N(0, I_d)``. For any two-class classifier whose first class has measure ``p``, the distance
``r(x)`` to the other class has ``P(r <= η) >= B_p(η) = Φ(η/L + Φ⁻¹(p)) + Φ(η/L - Φ⁻¹(p)) - 1`` whatever ``d``
(:func:`fcjax.isoperimetry.gaussian_isoperimetric_bound`; Gaussian isoperimetry, the sharp form of the paper's
bound, [D]). Here ``g`` is the identity (``L = 1``), so in-distribution and unconstrained robustness coincide.
Notes: ``shared/papers/field_theorems.md`` 1.7 (the paper's ``p``-free closed form [R] is reported, never tested:
for unbalanced classes it exceeds what half-spaces attain, see :func:`fcjax.isoperimetry.fawzi_closed_form`).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats as st

from fcjax import isoperimetry
from fcjax._validate import check_dim, check_int
from fcjax.attacks import min_norm
from fcjax.certify import certified_radius, mlp_layers
from fcjax.decide import dkw_halfwidth
from fcjax.models import relu_mlp
from fcjax.train import TrainConfig, train

from .api import (
    ALPHA,
    LAW_MARGIN,
    ClaimConfig,
    Outcome,
    Run,
    all_of,
    clopper_pearson,
    interval_check,
    ks_check,
    line,
    register,
)

PAPER = "Fawzi et al. 2018 (arXiv 1802.08686)"
ETA = np.linspace(0.0, 3.0, 61)  # the plotted η grid


def _bound(p: float):
    def b(eta):
        return isoperimetry.gaussian_isoperimetric_bound(eta, p)

    return b


def _ecdf(samples: np.ndarray) -> list[float]:
    s = np.sort(samples)
    return list(np.searchsorted(s, ETA, side="right") / s.size)


@dataclasses.dataclass(frozen=True)
class GaussianConfig(ClaimConfig):
    """``trials`` latent points ``z ~ N(0, I_d)`` per dimension in ``ds``."""

    ds: tuple[int, ...] = (2, 64, 1024)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.ds:
            raise ValueError("ds must name at least one dimension")
        for d in self.ds:
            check_dim(d, "ds")


# (kind, offset, radius): half-space {w·z <= c}, c = offset; ball {‖z - m‖ <= ρ}, m = offset·w, ρ = radius·√d.
# Balanced and unbalanced classes of both kinds (the off-centre ball's p runs from 0.17 at d = 2 to ~0.45).
CASES = (("half-space", 0.0, 0.0), ("half-space", 1.0, 0.0), ("ball", 0.0, 1.0), ("ball", 2.0, 1.0))


def _case_distances(key, d: int, n: int, kind: str, offset: float, radius: float, dtype) -> tuple[np.ndarray, float]:
    kz, kw = jax.random.split(key)
    z = jax.random.normal(kz, (n, d), dtype)
    w = jax.random.normal(kw, (d,), dtype)
    w = w / jnp.linalg.norm(w)
    if kind == "half-space":
        return np.abs(np.asarray(z @ w) - offset), float(st.norm.cdf(offset))
    rho = radius * math.sqrt(d)
    r = np.asarray(jnp.linalg.norm(z - offset * w[None, :], axis=1))
    p = float(st.ncx2.cdf(rho**2, d, offset**2) if offset else st.chi2.cdf(rho**2, d))
    return np.abs(r - rho), p


def _case_name(kind: str, offset: float, radius: float) -> str:
    if kind == "half-space":
        return f"half-space w·z <= {offset:g}"
    return f"ball ‖z - {offset:g}w‖ <= {radius:g}√d"


@register(
    "fawzi2018.exact_cases", paper=PAPER,
    statement="for z ~ N(0, I_d) and any two-class classifier with class measure p, P(r(z) <= η) >= Φ(η + Φ⁻¹(p)) "
              "+ Φ(η − Φ⁻¹(p)) − 1 at every η, whatever d; half-spaces attain it (their distance law is the bound) "
              "and balls, whose distances are exact, lie above it",
    source="Theorem on in-distribution robustness, two-class form [R]; sharp form by Gaussian isoperimetry (Borell; "
           "Sudakov & Tsirelson) [D]",
    config=GaussianConfig(trials=50000),
    # quick: 20000 points put the DKW half-width at 0.016-0.017 after Bonferroni, within the law margin 0.03
    quick={"ds": (2, 64, 512), "trials": 20000},
    work=lambda c: c.trials * len(c.ds) * len(CASES),
)
def exact_cases(cfg: GaussianConfig, key, ctx: Run) -> Outcome:
    m = len(cfg.ds) * len(CASES)
    alpha = ALPHA / m
    eps = dkw_halfwidth(cfg.trials, alpha)
    equal, above, table, lines, refs = [], [], [], [], []
    for i, d in enumerate(cfg.ds):
        for j, (kind, offset, radius) in enumerate(CASES):
            name = _case_name(kind, offset, radius)

            def compute(i=i, j=j, d=d, kind=kind, offset=offset, radius=radius):
                r, p = _case_distances(jax.random.fold_in(key, i * 100 + j), d, cfg.trials, kind, offset, radius,
                                       cfg.jdtype)
                return {"r": r, "p": np.asarray(p)}

            out = ctx.cell(f"d={d},{name}", compute, key=jax.random.fold_in(key, i * 100 + j), work=cfg.trials)
            r, p = out["r"], float(out["p"])
            bound = _bound(p)
            short = isoperimetry.cdf_shortfall(bound, r)
            ks = float(st.kstest(r, bound).statistic)
            if kind == "half-space":
                # the extremal case: the law of r is the bound itself (margin: the laws' LAW_MARGIN)
                equal.append(ks_check(f"d={d}, {name}: P(r <= η) = B_p(η)", r, bound, margin=LAW_MARGIN,
                                      alpha=alpha))
            else:
                above.append(interval_check(f"d={d}, {name}: sup_η (B_p - F)^+ <= 0", short, max(0.0, short - eps),
                                            short + eps, at_most=0.0, margin=LAW_MARGIN, level=1 - alpha,
                                            why=f"one-sided DKW half-width {eps:.3g}; law margin"))
            table.append({"d": d, "case": name, "p": p, "ks_to_bound": ks, "shortfall": short,
                          "median_r": float(np.median(r)),
                          "closed_form_shortfall": isoperimetry.cdf_shortfall(isoperimetry.fawzi_closed_form, r)})
            if d == cfg.ds[-1]:
                lines.append(line(f"{name} (d={d})", ETA, _ecdf(r)))
                refs.append(line(f"B_p, p={p:.3f}", ETA, bound(ETA)))
    checks = [all_of("half-spaces attain the bound at every d (KS distance <= 0.03)", equal),
              all_of("balls lie above the bound at every d (shortfall <= 0.03)", above)]
    worst = max(table, key=lambda r: r["shortfall"])
    return Outcome(
        statistic=worst["shortfall"], statistic_name="the largest shortfall of P(r <= η) below B_p",
        expected="<= 0 (the bound holds)", ci_low=max(0.0, worst["shortfall"] - eps),
        ci_high=worst["shortfall"] + eps, level=1 - alpha, n_trials=cfg.trials * m, checks=checks, table=table,
        series={"title": "Distance to the other class: empirical CDFs and the isoperimetric bound", "xlabel": "η",
                "ylabel": "P(r <= η)", "loglog": False, "lines": lines, "refs": refs},
        caveats=["The paper's closed form 1 − √(π/2)·e^(−η²/2) ([R]) is reported per case (closed_form_shortfall), "
                 "not tested: it is a p = ½ form, and unbalanced half-spaces fall below it (finding)."],
    )


@dataclasses.dataclass(frozen=True)
class TrainedConfig(GaussianConfig):
    """``trials`` ReLU MLPs (``depth`` x ``width``) per dimension, trained on ``train_points`` teacher-labelled
    latent points for ``steps`` Adam steps; ``points`` fresh points each, labelled by the network."""

    ds: tuple[int, ...] = (8, 32, 128)
    depth: int = 2
    width: int = 64
    train_points: int = 2000
    steps: int = 500
    points: int = 8000

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("depth", "width", "train_points", "steps", "points"):
            check_int(getattr(self, name), name, minimum=1)


def _teacher(z: jax.Array) -> jax.Array:
    # a curved rule in three latent coordinates: no half-space fits it, so the nets' boundaries are curved
    return (z[:, 0] * z[:, 1] + 0.5 * jnp.sin(2 * z[:, 2]) > 0).astype(jnp.int32)


def _trained(cfg: TrainedConfig, key, d: int) -> dict[str, np.ndarray]:
    kx, kt, ke = jax.random.split(key, 3)
    model = relu_mlp(cfg.depth, cfg.width, 2)
    x = jax.random.normal(kx, (cfg.train_points, max(d, 3)), cfg.jdtype)[:, :d]
    params = train(kt, model, x, _teacher(jnp.pad(x, ((0, 0), (0, max(0, 3 - d))))),
                   TrainConfig(steps=cfg.steps, learning_rate=3e-3)).params
    z = jax.random.normal(ke, (cfg.points, d), cfg.jdtype)
    y = jnp.argmax(model.apply(params, z), axis=1)
    att = min_norm(model.apply, params, z, y)
    upper = jnp.where(att.success, att.norm, jnp.inf)
    lower = certified_radius(mlp_layers(params, cfg.jdtype), z, y, method="crown", upper=upper)
    return {"lower": np.asarray(lower), "upper": np.asarray(upper), "class0": np.asarray(jnp.sum(y == 0))}


@register(
    "fawzi2018.trained_nets", paper=PAPER,
    statement="trained ReLU networks on Gaussian latent data obey the isoperimetric bound: the law of the distance "
              "to their decision boundary lies above B_p at every η, and its median does not grow with d",
    source="Theorem on in-distribution robustness [R]; sharp form [D]; the distance bracketed by CROWN (below) and "
           "fcjax's min-norm attack (above)",
    config=TrainedConfig(trials=3),
    # quick: 8000 points per net keep the one-sided DKW half-width (6 Bonferroni cells, two samples each) at 0.026,
    # inside the law margin 0.03
    quick={"ds": (8, 32), "trials": 2, "steps": 300},
    work=lambda c: c.trials * len(c.ds),
)
def trained_nets(cfg: TrainedConfig, key, ctx: Run) -> Outcome:
    cells = len(cfg.ds) * cfg.trials
    alpha = ALPHA / (3 * cells)  # per net: the DKW band of each bound's sample and p's Clopper-Pearson interval
    eps = dkw_halfwidth(cfg.points, alpha)
    checks, table, lines, refs = [], [], [], []
    for i, d in enumerate(cfg.ds):
        for net in range(cfg.trials):
            k = jax.random.fold_in(key, i * 1000 + net)
            out = ctx.cell(f"d={d},net={net}", lambda k=k, d=d: _trained(cfg, k, d), key=k, work=1)
            lower, upper, k0 = out["lower"], out["upper"], int(out["class0"])
            p = k0 / cfg.points
            p_lo, p_hi = clopper_pearson(k0, cfg.points, 1 - alpha)
            # B_p grows as p nears ½: the largest bound the data allow is at the CI's end nearest ½, the smallest
            # at its far end (or p = 0, 1: no bound)
            p_big = 0.5 if p_lo <= 0.5 <= p_hi else min((p_lo, p_hi), key=lambda q: abs(q - 0.5))
            p_small = max((p_lo, p_hi), key=lambda q: abs(q - 0.5))
            # the true distance lies in [lower, upper], so its CDF lies between theirs: the shortfall of the upper
            # sample (below the largest bound) bounds the true one above, the lower sample's below
            hi = isoperimetry.cdf_shortfall(_bound(p_big), upper) + eps
            lo = max(0.0, isoperimetry.cdf_shortfall(_bound(p_small), lower) - eps)
            value = isoperimetry.cdf_shortfall(_bound(p), upper)
            checks.append(interval_check(f"d={d}, net {net}: sup_η (B_p - F)^+ <= 0", value, lo, max(lo, hi),
                                         at_most=0.0, margin=LAW_MARGIN, level=1 - 3 * alpha, what="points",
                                         why=f"CROWN and attack CDFs bracket the true one; DKW {eps:.3g}"))
            finite = upper[np.isfinite(upper)]
            table.append({"d": d, "net": net, "p": p, "shortfall_upper": value,
                          "shortfall_lower": isoperimetry.cdf_shortfall(_bound(p), lower),
                          "median_lower": float(np.median(lower)), "median_upper": float(np.median(upper)),
                          "half_space_median": float(st.norm.ppf(0.75)),
                          "attack_found": f"{finite.size}/{upper.size}",
                          "median_upper_over_norm": float(np.median(upper) / math.sqrt(d))})
            if net == 0:
                lines.append(line(f"attack distance, d={d}", ETA, _ecdf(upper)))
        refs.append(line("B_½ (half-spaces)", ETA, _bound(0.5)(ETA))) if i == 0 else None
    check = all_of(f"the bound holds for every network (shortfall <= {LAW_MARGIN})", checks)
    worst = max(table, key=lambda r: r["shortfall_upper"])
    return Outcome(
        statistic=worst["shortfall_upper"], statistic_name="the largest shortfall below B_p (attack distances)",
        expected="<= 0 (the bound holds)", ci_low=0.0, ci_high=worst["shortfall_upper"] + eps, level=1 - 3 * alpha,
        n_trials=cells * cfg.points, checks=[check], table=table,
        series={"title": "Trained ReLU nets on Gaussian data: distance CDFs vs the isoperimetric bound",
                "xlabel": "η", "ylabel": "P(r <= η)", "loglog": False, "lines": lines, "refs": refs},
        caveats=["The median distance column shows whether robustness is d-free (it is reported, not tested); "
                 "‖z‖ ≈ √d, so a d-free distance is a relative robustness falling like d^(−1/2).",
                 "Half-spaces are the most robust classifiers (median |Z| = 0.674); the nets' distances are "
                 "far smaller, so the bound holds with room, and an attack's slack cannot hide a violation."],
    )
