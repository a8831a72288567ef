"""Claims on Gaussian points and the paper's linear constructions: distances, the optimal radius, the QR
laws, Theorem 1's one-hot network and its O(1) perturbation, the two-probe identity, the compression-ratio law,
the sqrt(d) gap of the interpolating network and the product model (Theorem 3, Lemma 7).
"""


from __future__ import annotations

import dataclasses
import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats as st

from fcjax import trials
from fcjax.compression import two_probe_bound
from fcjax.ensembles import gaussian_points, trial_keys
from fcjax.geometry import chernoff_union_bound
from fcjax.linear import pairwise_distance
from fcjax.models import LinearNet, linear_net_affine
from fcjax.stats import ks_2samp, ks_test, spearman_ci
from fcjax.train import TrainConfig, train

from ..api import (
    ALPHA,
    LAW_MARGIN,
    Check,
    Outcome,
    Run,
    SweepConfig,
    all_of,
    clopper_pearson,
    cp_upper_at_zero,
    fit_line,
    interval_check,
    ks2_check,
    ks_check,
    line,
    loglog_slope,
    mean_band,
    mean_ci,
    rate_check,
    register,
    rising,
    slope_check,
    sweep,
)
from ._paper import PAPER, _eps


# --------------------------------------------------------------------------------------------- min_distance
@dataclasses.dataclass(frozen=True)
class MinDistanceConfig(SweepConfig):
    eps: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.eps or any(not 0 < e < 1 for e in self.eps):
            raise ValueError(f"eps must be values in (0, 1), got {self.eps!r}")


@register(
    "gao2024.min_distance", paper=PAPER,
    statement="min_{i≠j}‖x_i − x_j‖/√(2d) of d Gaussian points in R^d rises toward 1, and "
              "P(min < (1−ε)√(2d)) stays under the union–Chernoff bound d(d−1)/2·exp(−(d/2)(t−1−ln t)), t=(1−ε)²",
    source="v1 Lemma 2 (Chernoff bound) [P][B]; bound derived in our notes [D]",
    # float32 suffices: Gram rounding is ~d·eps·‖x‖² ≈ 1e-4·d relative to distances² of 2d, far below the CIs.
    config=MinDistanceConfig(ds=(16, 64, 256, 1024, 2048), trials=1000, dtype="float32"),
    quick={"ds": (16, 64, 256), "trials": 200},
)
def min_distance(cfg: MinDistanceConfig, key, ctx: Run) -> Outcome:
    data = sweep(cfg, key, ctx, trials.min_distance_trial, lambda d: 6 * d * d * 4)
    ds, rho = list(data), [data[d]["rho"].astype(np.float64) for d in data]
    m = (len(ds) - 1) + len(ds) + len(ds) * len(cfg.eps)
    level = 1 - ALPHA / m
    means, lows, highs = mean_band(ds, rho, level)
    rises = rising("mean ratio rises with d", ds, rho, ALPHA / m)
    below = [interval_check(f"d={d}", mu, lo, hi, at_most=1.0, level=level)
             for d, mu, lo, hi in zip(ds, means, lows, highs, strict=True)]
    table, cells, unpowered = [], [], []
    for d, r, mu, lo, hi in zip(ds, rho, means, lows, highs, strict=True):
        row = {"d": d, "mean_rho": mu, "ci_low": lo, "ci_high": hi, "min_rho": float(r.min()), "n": r.size}
        for e in cfg.eps:
            k = int(np.sum(r < 1 - e))
            cp_lo, cp_hi = clopper_pearson(k, r.size, level)
            bound = chernoff_union_bound(d, e)
            row[f"eps={e}"] = {"rate": k / r.size, "cp_low": cp_lo, "cp_high": cp_hi, "bound": bound}
            # A bound below the smallest CP upper limit r.size trials can give is undecidable at this size: known
            # before the data, so such cells are listed, not counted (they could only refute).
            if bound < cp_upper_at_zero(r.size, level):
                unpowered.append(f"d={d}, eps={e}")
                if cp_lo > bound:
                    cells.append(rate_check(f"d={d}, eps={e}", k, r.size, at_most=bound, level=level))
            else:
                cells.append(rate_check(f"d={d}, eps={e}", k, r.size, at_most=bound, level=level))
        table.append(row)
    rate = all_of("failure rate never exceeds the union-Chernoff bound", cells)
    rate.detail += (f" ({len(unpowered)} cells whose bound is below what {rho[0].size} trials can confirm are left "
                    f"out unless they refute it: {', '.join(unpowered)})" if unpowered else "")
    checks = [rises, all_of("mean ratio stays below 1", below), rate]
    sqrt2d = [math.sqrt(2 * d) for d in ds]
    return Outcome(
        statistic=means[-1], statistic_name=f"mean ratio at d={ds[-1]}",
        expected="rises toward 1; failure rate <= union-Chernoff bound", ci_low=lows[-1], ci_high=highs[-1],
        level=level, n_trials=cfg.trials * len(ds), checks=checks, table=table,
        series={"title": "Minimum pairwise distance of d Gaussian points", "xlabel": "d",
                "ylabel": "min distance", "loglog": True,
                "lines": [line("mean min distance", ds, np.multiply(means, sqrt2d), np.multiply(lows, sqrt2d),
                               np.multiply(highs, sqrt2d))],
                "refs": [line("√(2d)", ds, sqrt2d)]},
        caveats=["The union-Chernoff bound is trivial (>= 1) for small d and eps; those cells cannot refute it.",
                 "Convergence to 1 is slow (finite-d minimum over d(d-1)/2 pairs)."],
    )


# ----------------------------------------------------------------------------------------- optimal_robustness
@register(
    "gao2024.optimal_robustness", paper=PAPER,
    statement="the optimal (minimum-distance) classifier's exact radius ½·min_{j≠i}‖x_i − x_j‖ grows like √d",
    source="optimal robustness >= ½ min distance ≈ √(d/2) [R][D]",
    config=SweepConfig(ds=(16, 64, 256, 1024, 2048), trials=500, dtype="float32"),
    quick={"ds": (16, 64, 256), "trials": 200},
)
def optimal_robustness(cfg: SweepConfig, key, ctx: Run) -> Outcome:
    data = sweep(cfg, key, ctx, trials.optimal_radius_trial, lambda d: 6 * d * d * 4)
    ds = list(data)
    radius = [data[d]["mean_radius"].astype(np.float64) for d in ds]
    norm = [r / math.sqrt(d / 2) for d, r in zip(ds, radius, strict=True)]
    m = (len(ds) - 1) + len(ds) + 1
    level = 1 - ALPHA / m
    fit = loglog_slope(ds, radius, jax.random.fold_in(key, 10**6), level=level)
    means, lows, highs = mean_band(ds, norm, level)
    checks = [
        rising("radius/√(d/2) rises with d (finite-d minimum converging)", ds, norm, ALPHA / m),
        all_of("radius/√(d/2) stays below 1", [interval_check(f"d={d}", mu, lo, hi, at_most=1.0, level=level)
                                              for d, mu, lo, hi in zip(ds, means, lows, highs, strict=True)]),
        slope_check("radius grows at least like √d", fit, at_least=0.5),
    ]
    r_means = [float(np.mean(r)) for r in radius]
    return Outcome(
        statistic=fit.slope, statistic_name="log-log slope of mean radius",
        expected="0.5 (approached from above at finite d)", ci_low=fit.low, ci_high=fit.high, level=level,
        n_trials=cfg.trials * len(ds), checks=checks,
        table=[{"d": d, "mean_radius": r, "radius_over_sqrt_d_half": mu, "ci_low": lo, "ci_high": hi}
               for d, r, mu, lo, hi in zip(ds, r_means, means, lows, highs, strict=True)],
        series={"title": "Optimal classifier's radius", "xlabel": "d", "ylabel": "mean radius", "loglog": True,
                "lines": [line("mean radius", ds, r_means)], "fits": [fit_line("fit", fit)],
                "refs": [line("√(d/2)", ds, [math.sqrt(d / 2) for d in ds])]},
        caveats=["The radius/√(d/2) ratio converges to 1 only slowly, so the fitted slope sits a little above 1/2."],
    )


# ------------------------------------------------------------------------------------------------------ qr_law
@register(
    "gao2024.qr_law", paper=PAPER,
    statement="for Gaussian X = QR (positive diagonal): R_dd ~ χ₁, R_{d−1,d−1} ~ χ₂, R_{d−1,d} ~ N(0,1), independent",
    source="Theorem 1's proof (Bartlett decomposition) [N][D]",
    config=SweepConfig(ds=(16, 64, 256, 1024), trials=20000),
    # quick: 16000 trials put the KS distances' DKW half-width at ~0.023 and E R² within the 0.1 margin
    quick={"ds": (8, 32, 64), "trials": 16000},
)
def qr_law(cfg: SweepConfig, key, ctx: Run) -> Outcome:
    data = sweep(cfg, key, ctx, trials.qr_trial, lambda d: 4 * d * d * 8)
    ds = list(data)
    m = 8 * len(ds) + 2
    level = 1 - ALPHA / m
    laws = {"r_dd": st.chi(1), "r_pp": st.chi(2), "r_pd": st.norm()}
    table, cells = [], []
    for d in ds:
        row = {"d": d}
        for name, law in laws.items():
            res = ks_test(data[d][name], law)
            row[f"ks_{name}"] = {"D": res.statistic, "p": res.pvalue}
            cells.append(ks_check(f"d={d} {name} ~ {law.dist.name}{law.args}", data[d][name], law,
                                  margin=LAW_MARGIN, alpha=ALPHA / m))
        # R_{d-1,d} is symmetric, so dependence through its size shows only in |R_{d-1,d}|: test both.
        cols = {**data[d], "|r_pd|": np.abs(data[d]["r_pd"])}
        for a, b in (("r_dd", "r_pp"), ("r_dd", "r_pd"), ("r_pp", "r_pd"), ("r_dd", "|r_pd|"), ("r_pp", "|r_pd|")):
            rho = spearman_ci(cols[a], cols[b], level)
            row[f"spearman_{a}_{b}"] = {"rho": rho.value, "low": rho.low, "high": rho.high}
            # independence within |ρ_s| <= 0.05: a tenth of a strong dependence (ρ_s = 0.5)
            cells.append(interval_check(f"d={d} {a} indep. {b}", rho.value, rho.low, rho.high, equals=0.0,
                                        margin=0.05, why="Spearman ρ; a tenth of ρ = 0.5", level=level))
        row["E_r_dd2"], row["E_r_pp2"] = float(np.mean(data[d]["r_dd"] ** 2)), float(np.mean(data[d]["r_pp"] ** 2))
        table.append(row)
    top = data[ds[-1]]
    e_dd, e_pp = mean_ci(top["r_dd"] ** 2, level), mean_ci(top["r_pp"] ** 2, level)
    # second moments: χ_k has E R² = k, so the rival law with one more degree of freedom is 1 away; margin a tenth
    checks = [
        all_of("KS distance to the Bartlett law and dependence within margins at every d", cells),
        interval_check("E R_dd² = 1", e_dd.value, e_dd.low, e_dd.high, equals=1.0, margin=0.1,
                       why="χ₂'s E R² is 1 more", level=level),
        interval_check("E R_{d-1,d-1}² = 2", e_pp.value, e_pp.low, e_pp.high, equals=2.0, margin=0.1,
                       why="χ₃'s E R² is 1 more", level=level),
    ]
    return Outcome(
        statistic=e_dd.value, statistic_name=f"E R_dd² at d={ds[-1]}",
        expected="1 (χ₁ law)", ci_low=e_dd.low, ci_high=e_dd.high, level=level, n_trials=cfg.trials * len(ds),
        checks=checks, table=table,
    )


# --------------------------------------------------------------------------------------- onehot_linear_fooled
@dataclasses.dataclass(frozen=True)
class OneHotConfig(SweepConfig):
    check_all_points: bool = True


@register(
    "gao2024.onehot_linear_fooled", paper=PAPER,
    statement="the interpolating linear network f = R⁻¹Q₂ᵀx is one-hot on the training points, and e = Q₂b with "
              "‖e‖ <= |R_{d−1,d−1}| + |R_{d−1,d}| + |R_dd| = O(1) makes f_{d−1} > f_d at x_d, so ‖e‖ over the "
              "optimal radius falls like d^(−1/2)",
    source="v2 Theorem 1 [R][N]; explicit construction [D]",
    config=OneHotConfig(ds=(16, 64, 256, 1024, 2048), trials=1000),
    quick={"ds": (16, 64, 256), "trials": 1000},  # the d-free slope's CI must fit in ±0.05
)
def onehot_linear_fooled(cfg: OneHotConfig, key, ctx: Run) -> Outcome:
    data = sweep(cfg, key, ctx, trials.theorem1_trial, lambda d: 6 * d * d * 8,
                 check_all_points=cfg.check_all_points)
    ds = list(data)
    level = 1 - ALPHA / 2
    tol_onehot = math.sqrt(_eps(cfg.jdtype))  # a residual above sqrt(eps) means the solve lost half its digits
    n_tot = cfg.trials * len(ds)
    cat = {k: np.concatenate([data[d][k] for d in ds]) for k in data[ds[0]]}
    bound_tol = 64 * _eps(cfg.jdtype)
    fit_e = loglog_slope(ds, [data[d]["norm_e"] for d in ds], jax.random.fold_in(key, 10**6), level=level)
    fit_r = loglog_slope(ds, [data[d]["ratio"] for d in ds], jax.random.fold_in(key, 10**6 + 1), level=level,
                         stat="geomean")
    checks = [
        Check("f is one-hot on the training points", bool(cat["onehot_argmax_ok"].all())
              and float(cat["onehot_error"].max()) <= tol_onehot,
              f"max |f(x_j) - e_j| = {cat['onehot_error'].max():.2e} <= sqrt(eps) = {tol_onehot:.1e}; argmax "
              f"correct in {int(cat['onehot_argmax_ok'].sum())}/{n_tot} trials"
              + ("" if cfg.check_all_points else " (checked at x_{d-1}, x_d only)")),
        Check("e makes f_{d-1} > f_d in every trial", bool((cat["pair_margin"] > 0).all()),
              f"{int((cat['pair_margin'] > 0).sum())}/{n_tot}; f_(d-1) - f_d after e: min "
              f"{cat['pair_margin'].min():.6f}, max {cat['pair_margin'].max():.6f} (construction gives 1)"),
        Check("the argmax leaves class d in every trial (follows from the pair flip)", bool(cat["moved_off_d"].all()),
              f"{int(cat['moved_off_d'].sum())}/{n_tot}"),
        Check("‖e‖ <= bound in every trial (triangle inequality: an implementation sanity check)",
              bool((cat["norm_e"] <= cat["bound"] * (1 + bound_tol)).all()),
              f"max ‖e‖/bound = {np.max(cat['norm_e'] / cat['bound']):.4f}"),
        slope_check("mean ‖e‖ does not grow with d", fit_e, equals=0.0,
                    why="d-free: a tenth of the effect ½"),
        slope_check("‖e‖/optimal radius falls at least like d^(-1/2)", fit_r, at_most=-0.5),
    ]
    table = [{"d": d, "mean_norm_e": float(np.mean(data[d]["norm_e"])), "mean_bound": float(np.mean(data[d]["bound"])),
              "geomean_ratio": float(np.exp(np.mean(np.log(data[d]["ratio"])))),
              "frac_argmax_is_d_minus_1": float(np.mean(data[d]["argmax_is_d_minus_1"])),
              "max_onehot_error": float(np.max(data[d]["onehot_error"]))} for d in ds]
    return Outcome(
        statistic=fit_e.slope, statistic_name="log-log slope of mean ‖e‖",
        expected="0 (flat); ratio slope <= -0.5", ci_low=fit_e.low, ci_high=fit_e.high, level=level,
        n_trials=n_tot, checks=checks, table=table,
        series={"title": "Theorem 1: fooling perturbation vs optimal radius", "xlabel": "d", "ylabel": "length",
                "loglog": True,
                "lines": [line("mean ‖e‖", ds, [r["mean_norm_e"] for r in table]),
                          line("mean bound", ds, [r["mean_bound"] for r in table]),
                          line("mean optimal radius", ds, [float(np.mean(data[d]["radius"])) for d in ds])],
                "fits": [fit_line("‖e‖", fit_e)]},
        caveats=["Classes other than d-1 are not controlled by e: the new argmax is d-1 only in a fraction of trials "
                 "(column frac_argmax_is_d_minus_1); the checks test the pairwise flip and that the label leaves d."],
    )


# ----------------------------------------------------------------------------------------- two_probe_identity
@dataclasses.dataclass(frozen=True)
class TwoProbeConfig(SweepConfig):
    nets: int = 8
    net_d: int = 16
    net_steps: int = 300


def _two_probe_on_nets(cfg: TwoProbeConfig, key) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(error, tolerance scale, slack) of the two-probe formula on trained Flax linear nets at every point."""
    d = cfg.net_d
    model = LinearNet(hidden=4 * d, classes=d)

    def one(k):
        kx, kt = jax.random.split(k)
        x = gaussian_points(kx, d, dtype=cfg.jdtype)
        res = train(kt, model, x, jnp.arange(d), TrainConfig(steps=cfg.net_steps, learning_rate=1e-2))
        # Flax keeps float32 parameters; the identity is checked on those probes in the claim's dtype.
        w, b = linear_net_affine(res.params, cfg.jdtype)

        def at(i):
            f = w @ x[i] + b
            j = jnp.argmax(jnp.where(jnp.arange(d) == i, -jnp.inf, f))
            tp = two_probe_bound(w[i], w[j], x[i])
            exact = pairwise_distance(w, b, x[i], i, j)
            scale = (jnp.linalg.norm(w[i]) + jnp.linalg.norm(w[j])) * jnp.linalg.norm(x[i]) / jnp.linalg.norm(
                w[i] - w[j])
            return jnp.abs(tp.bound - exact), scale, tp.upper - tp.bound

        return jax.vmap(at)(jnp.arange(d))

    err, scale, slack = jax.jit(jax.vmap(one))(trial_keys(key, cfg.nets))
    return np.asarray(err).ravel(), np.asarray(scale).ravel(), np.asarray(slack).ravel()


@register(
    "gao2024.two_probe_identity", paper=PAPER,
    statement="the two-probe bound (r11·a1 − (r12·a1 + r22·a2))/√((r12 − r11)² + r22²) equals the exact distance to "
              "the pairwise decision hyperplane and is <= √(a1² + a2²); crossing it flips the decision",
    source="v2 Theorem 4 (probing vectors) [N][B]; identity derived [D]",
    config=TwoProbeConfig(ds=(4, 64, 1024), trials=5000, nets=32),
    quick={"ds": (4, 64, 512), "trials": 1000, "nets": 8},
    work=lambda c: c.trials * len(c.ds),
)
def two_probe_identity(cfg: TwoProbeConfig, key, ctx: Run) -> Outcome:
    data = sweep(cfg, key, ctx, trials.two_probe_trial, lambda d: 16 * d * 8)
    ds = list(data)
    eps = _eps(cfg.jdtype)
    # Three length-d dot products and norms, each with relative error <= gamma_d ~ d·eps (Higham), on magnitudes
    # bounded by ‖p_i‖+‖p_j‖ times ‖x‖ over ‖p_i − p_j‖: the formula's error is below 8(d+2)·eps·scale.
    worst, table = 0.0, []
    for d in ds:
        r = data[d]["error"] / (8 * (d + 2) * eps * data[d]["scale"])
        worst = max(worst, float(r.max()) if np.all(np.isfinite(r)) else float("inf"))  # NaN must fail
        table.append({"d": d, "max_error": float(data[d]["error"].max()), "max_error_over_tol": float(r.max()),
                      "min_slack": float(data[d]["slack"].min()), "flipped": int(data[d]["flipped"].sum()),
                      "n": int(data[d]["error"].size)})
    kn = jax.random.fold_in(key, 10**6)
    n_err, n_scale, n_slack = ctx.cell("trained nets", lambda: _two_probe_on_nets(cfg, kn), key=kn)
    net_tol = 8 * (cfg.net_d + 2) * eps * n_scale
    net_worst = float(np.max(n_err / net_tol)) if np.all(np.isfinite(n_err)) else float("inf")
    slack_ok = all(bool(np.all(data[d]["slack"] >= -8 * (d + 2) * eps * data[d]["scale"])) for d in ds)
    slack_ok = slack_ok and bool(np.all(n_slack >= -net_tol))
    checks = [
        Check("identity with the exact hyperplane distance (random probes)", worst <= 1,
              f"max error / (8(d+2)·eps·scale) = {worst:.3g}"),
        Check("identity on trained Flax linear nets", net_worst <= 1,
              f"{cfg.nets} nets x {cfg.net_d} points: max error / tolerance = {net_worst:.3g}"),
        Check("bound <= sqrt(a1² + a2²) (Cauchy-Schwarz: an implementation sanity check)", slack_ok,
              f"min slack {min(r['min_slack'] for r in table):.3g} (random), {n_slack.min():.3g} (nets); "
              "tolerance 8(d+2)·eps·scale"),
        Check("crossing the bound flips f_i - f_j", all(r["flipped"] == r["n"] for r in table),
              ", ".join(f"d={r['d']}: {r['flipped']}/{r['n']}" for r in table)),
    ]
    return Outcome(
        statistic=max(worst, net_worst),
        statistic_name="max error / floating-point tolerance", expected="<= 1", ci_low=float("nan"),
        ci_high=float("nan"), level=1.0, n_trials=cfg.trials * len(ds) + cfg.nets * cfg.net_d, checks=checks,
        table=table,
    )


# ---------------------------------------------------------------------------------------- compression_ratio_law
@register(
    "gao2024.compression_ratio_law", paper=PAPER,
    statement="the compression ratio φ = R_dd/‖x_d‖ of a Gaussian matrix has φ² ~ Beta(½, (d−1)/2), so E φ² = 1/d",
    source="v2 Theorem 5's compression ratio [N]; law derived [D]",
    config=SweepConfig(ds=(4, 12, 64, 256, 1024), trials=20000),
    quick={"ds": (4, 12, 64), "trials": 20000},  # DKW half-width ~0.015 within the law margin 0.03
)
def compression_ratio_law(cfg: SweepConfig, key, ctx: Run) -> Outcome:
    data = sweep(cfg, key, ctx, trials.qr_trial, lambda d: 4 * d * d * 8)
    ds = list(data)
    m = 2 * len(ds)
    level = 1 - ALPHA / m
    table, cells = [], []
    for d in ds:
        phi2 = data[d]["phi"] ** 2
        ks = ks_test(phi2, "beta", 0.5, (d - 1) / 2)
        est = mean_ci(phi2 * d, level)
        e_phi = math.exp(math.lgamma(d / 2) - math.lgamma((d + 1) / 2)) / math.sqrt(math.pi)
        table.append({"d": d, "ks_D": ks.statistic, "ks_p": ks.pvalue, "d_E_phi2": est.value, "ci_low": est.low,
                      "ci_high": est.high, "E_phi": float(np.mean(data[d]["phi"])), "E_phi_formula": e_phi})
        cells.append(ks_check(f"d={d}: φ² ~ Beta(1/2, (d-1)/2)", phi2, st.beta(0.5, (d - 1) / 2), margin=LAW_MARGIN,
                              alpha=ALPHA / m))
        # d·E φ² = 1; the rival Beta(1, (d-1)/2) gives about 2, so a tenth of that effect is the margin
        cells.append(interval_check(f"d={d}: d·E φ² = 1", est.value, est.low, est.high, equals=1.0, margin=0.1,
                                    why="Beta(1, ·) would give ~2", level=level))
    top = table[-1]
    checks = [all_of("φ² ~ Beta(1/2, (d-1)/2) and d·E φ² = 1 at every d", cells)]
    means = [r["d_E_phi2"] / r["d"] for r in table]
    return Outcome(
        statistic=top["d_E_phi2"], statistic_name=f"d·E φ² at d={ds[-1]}", expected="1",
        ci_low=top["ci_low"], ci_high=top["ci_high"], level=level, n_trials=cfg.trials * len(ds), checks=checks,
        table=table,
        series={"title": "Compression ratio φ = R_dd/‖x_d‖", "xlabel": "d", "ylabel": "E φ²", "loglog": True,
                "lines": [line("E φ² (measured)", ds, means, [r["ci_low"] / r["d"] for r in table],
                               [r["ci_high"] / r["d"] for r in table])],
                "refs": [line("1/d", ds, [1 / d for d in ds])]},
    )




# ---------------------------------------------------------------------------------------------------- sqrt_d_gap
@register(
    "gao2024.sqrt_d_gap", paper=PAPER,
    statement="the exact minimal perturbation of the interpolating network at x_d, divided by the optimal radius, "
              "falls at least as fast as d^(−1/2) (the theorem's bound); reported for the theorem's pair and all "
              "classes",
    source="abstract: robustness can be only 1/√d of the optimal [P]; Theorem 1 [N]",
    config=SweepConfig(ds=(16, 32, 64, 128, 256, 512, 1024, 2048), trials=200),
    quick={"ds": (16, 32, 64, 128, 256), "trials": 300},
)
def sqrt_d_gap(cfg: SweepConfig, key, ctx: Run) -> Outcome:
    data = sweep(cfg, key, ctx, trials.exact_gap_trial, lambda d: 6 * d * d * 8)
    ds = list(data)
    level = 1 - ALPHA / 3
    fits = {name: loglog_slope(ds, [data[d][name] for d in ds], jax.random.fold_in(key, 10**6 + n), level=level,
                               stat="geomean")
            for n, name in enumerate(("exact", "pair", "theorem"))}
    checks = [
        slope_check("exact minimum (all classes) falls at least like d^(-1/2)", fits["exact"], at_most=-0.5),
        slope_check("exact distance to the theorem's (d-1, d) boundary falls at least like d^(-1/2)", fits["pair"],
                    at_most=-0.5),
        slope_check("Theorem 1's ‖e‖ over the radius falls at least like d^(-1/2)", fits["theorem"], at_most=-0.5),
    ]
    table = [{"d": d, **{f"median_{k}": float(np.median(data[d][k])) for k in ("exact", "pair", "theorem")}}
             for d in ds]
    return Outcome(
        statistic=fits["exact"].slope,
        statistic_name="log-log slope of exact robustness / optimal radius", expected="<= -0.5",
        ci_low=fits["exact"].low, ci_high=fits["exact"].high, level=level, n_trials=cfg.trials * len(ds),
        checks=checks, table=table,
        series={"title": "√d gap of the interpolating network", "xlabel": "d", "ylabel": "robustness / optimal radius",
                "loglog": True,
                "lines": [line(f"{k} (geometric mean)", ds, fits[k].centers) for k in fits],
                "fits": [fit_line(k, f) for k, f in fits.items()],
                "refs": [line("d^(-1/2)", ds, [fits["theorem"].centers[0] * math.sqrt(ds[0] / d) for d in ds])]},
        caveats=["The theorem gives an upper bound on the ratio, so the check fails only if the ratio falls "
                 "significantly slower than d^(-1/2).",
                 "The exact minimum over all classes falls faster than the theorem's pair."],
    )




# --------------------------------------------------------------------------------------------------- product_qr
@dataclasses.dataclass(frozen=True)
class ProductQRConfig(SweepConfig):
    ts: tuple[int, ...] = (1, 2, 3, 4)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.ts or any(not isinstance(t, int) or t < 1 for t in self.ts):
            raise ValueError(f"ts must be positive integers, got {self.ts!r}")


E_LOG_CHI1 = -(np.euler_gamma + math.log(2)) / 2  # E log|N(0,1)|
# The law has no closed-form CDF, so it is sampled: 10^6 draws put the reference's DKW half-width at 0.002, a
# negligible part of the two-sample interval (the per-trial prod_chi1 draws would double it).
REFERENCE_DRAWS = 10**6


def _log_prod_chi1(key: jax.Array, t: int, n: int) -> np.ndarray:
    """``n`` draws of ``sum_{i<t} log|N_i(0,1)|``."""
    return np.asarray(jnp.sum(jnp.log(jnp.abs(jax.random.normal(key, (n, t), jnp.float64))), axis=1))


@register(
    "gao2024.product_qr", paper=PAPER,
    statement="for P = G_t⋯G_1 with i.i.d. Gaussian d×d factors, R(P)_dd is distributed as a product of t "
              "independent χ₁ variables",
    source="v2 Lemma 7 (QR of products of Gaussian matrices) [N]; this form is DERIVED by us [D], unverified",
    config=ProductQRConfig(ds=(16, 64, 256), trials=20000),
    quick={"ds": (16, 32), "ts": (1, 2, 3), "trials": 24000},  # DKW half-width ~0.017 within the law margin
    work=lambda c: c.trials * len(c.ds) * len(c.ts),
)
def product_qr(cfg: ProductQRConfig, key, ctx: Run) -> Outcome:
    m = 2 * len(cfg.ds) * len(cfg.ts)
    level = 1 - ALPHA / m
    table, cells, top = [], [], None
    for t in cfg.ts:
        data = sweep(cfg, jax.random.fold_in(key, 1000 + t), ctx, partial(trials.product_qr_trial, t=t),
                     lambda d, t=t: 3 * t * d * d * 8, cell=f"t={t} ")
        for d, r in data.items():
            ks = ks_2samp(np.log(r["r_dd"]), np.log(r["prod_chi1"]))
            est = mean_ci(np.log(r["r_dd"]), level)
            table.append({"d": d, "t": t, "ks_D": ks.statistic, "ks_p": ks.pvalue, "E_log_r_dd": est.value,
                          "ci_low": est.low, "ci_high": est.high, "E_log_predicted": t * E_LOG_CHI1,
                          "E_r_dd2": float(np.mean(r["r_dd"] ** 2))})
            cells.append(ks2_check(f"d={d}, t={t}: log R(P)_dd ~ sum of t log χ₁", np.log(r["r_dd"]),
                                   _log_prod_chi1(jax.random.fold_in(key, 2000 + t), t, REFERENCE_DRAWS),
                                   margin=LAW_MARGIN, alpha=ALPHA / m))
            # one χ₁ factor more or less moves E log R by |E log χ₁| = 0.635: the margin is a tenth of that
            cells.append(interval_check(f"d={d}, t={t}: E log R(P)_dd = t·E log χ₁", est.value, est.low, est.high,
                                        equals=t * E_LOG_CHI1, margin=0.1 * abs(E_LOG_CHI1),
                                        why="a tenth of one χ₁ factor", level=level))
            top = table[-1]
    checks = [all_of("log R(P)_dd ~ sum of t log χ₁ (two-sample KS) with E log R(P)_dd = t·E log χ₁", cells)]
    return Outcome(
        statistic=top["E_log_r_dd"] / top["t"],
        statistic_name=f"E log R(P)_dd / t at d={top['d']}, t={top['t']}",
        expected=f"E log χ₁ = {E_LOG_CHI1:.4f}", ci_low=top["ci_low"] / top["t"], ci_high=top["ci_high"] / top["t"],
        level=level, n_trials=cfg.trials * len(cfg.ds) * len(cfg.ts), checks=checks, table=table,
        caveats=["The law is our derivation of what Lemma 7 likely states (rotation invariance + Bartlett); the "
                 "paper's exact statement was not available."],
    )


# ===================================================================== nonlinear networks (ReLU MLPs and CNNs)
