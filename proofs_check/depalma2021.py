"""De Palma, Kiani & Lloyd, "Adversarial robustness guarantees for random deep neural networks" (ICML 2021,
arXiv 2004.05923).

Random deep ReLU networks with weights *and biases*: the ℓ_p distance of an input to the decision boundary scales as
``‖x‖_p/√n`` (``n`` the input dimension, here ``d``) for any ``p >= 1``. Statements: ``shared/papers/field_theorems.md``
1.5 ([P] abstract; the v1 abstract's "at least √n" for ℓ1 makes it a guarantee, a lower bound). Measured here: the
first-order (dual-norm) distance ``|f|/‖∇f‖_q`` over ``‖x‖_p`` for ``p`` = 1, 2, ∞ on Gaussian inputs, and the
CDF of ``√d·dist/‖x‖`` near 0 (linear: a positive density at 0); then (``boundary_bracket``) the true ℓ2 distance
between a certified lower bound (CROWN) and a verified attack, for MLPs, CNNs with pooling and residual nets.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import numpy as np

from fcjax import boundary_distance, random_nets
from fcjax._validate import check_int
from fcjax.boundary_distance import ARCHS
from fcjax.certify import METHODS
from fcjax.stats import cdf_exponent

from ._robust import per_net_ratio, sandwich_check
from .api import (
    ALPHA,
    FAIL,
    PASS,
    SLOPE_MARGIN,
    UNDECIDED,
    Check,
    Outcome,
    Run,
    SandwichSlope,
    SweepConfig,
    fit_line,
    interval_check,
    line,
    loglog_slope,
    mean_band,
    register,
    sandwich_slope,
    slope_check,
    sweep,
)
from .gao2024.real_data import DATA_IDS, RealDataConfig, _cells, _real_cell

PAPER = "De Palma et al. 2021 (arXiv 2004.05923)"
NORMS = ("l1", "l2", "linf")
CDF_Q = 0.2  # the fraction of nets nearest the boundary that the CDF's exponent uses


@dataclasses.dataclass(frozen=True)
class BiasedConfig(SweepConfig):
    """Random ReLU MLPs ``d → (width_factor·d) × depth → 1`` with ``N(0, bias_std²)`` biases."""

    depth: int = 2
    width_factor: int = 1
    bias_std: float = 0.1
    cdf_d: int = 64
    cdf_trials: int = 40000

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self.cdf_d, "cdf_d", minimum=2)
        check_int(self.cdf_trials, "cdf_trials", minimum=100)
        for name in ("depth", "width_factor"):
            check_int(getattr(self, name), name, minimum=1)
        if not self.bias_std >= 0:
            raise ValueError(f"bias_std must be >= 0, got {self.bias_std!r}")


def _trial(key, d: int, dtype, depth: int, factor: int, bias_std: float) -> dict:
    return random_nets.lp_distance_trial(key, d, (factor * d,) * depth, bias_std, dtype=dtype)


@register(
    "depalma2021.lp_distance_scaling", paper=PAPER,
    statement="for random deep ReLU nets with weights and biases, the ℓ_p distance of an input to the decision "
              "boundary over ‖x‖_p scales as d^(−1/2) for every p: slope −½ for p = 2, at least that fast for "
              "p = 1 and ∞ (first-order, dual-norm distance |f|/‖∇f‖_q); the CDF of √d·dist/‖x‖_2 is linear "
              "near 0",
    source="abstract (ICML 2021; v1: 'at least √n' for ℓ1) [P]; the first-order distance and the log factors of "
           "‖x‖_1, ‖x‖_∞ for Gaussian x [D]",
    config=BiasedConfig(ds=(64, 128, 256, 512, 1024, 2048), trials=4000),
    # quick: 3000 nets per d put the ℓ2 slope's CI near ±0.033, inside the margin ±0.05 (2000 left it at ±0.040)
    quick={"ds": (32, 64, 128, 256), "trials": 3000},
    work=lambda c: c.trials * len(c.ds) + c.cdf_trials,
)
def lp_distance_scaling(cfg: BiasedConfig, key, ctx: Run) -> Outcome:
    data = sweep(cfg, key, ctx, _trial, lambda d: 8 * (cfg.depth + 1) * cfg.width_factor * d * d * 4,
                 depth=cfg.depth, factor=cfg.width_factor, bias_std=cfg.bias_std)
    ds = list(data)
    # one CDF test besides the three slopes; 40000 nets at one d put the exponent's interval near ±0.04 [D]
    cdf = sweep(dataclasses.replace(cfg, trials=cfg.cdf_trials), jax.random.fold_in(key, 7), ctx, _trial,
                lambda d: 8 * (cfg.depth + 1) * cfg.width_factor * d * d * 4, ds=(cfg.cdf_d,), cell="cdf ",
                depth=cfg.depth, factor=cfg.width_factor, bias_std=cfg.bias_std)[cfg.cdf_d]["rel_l2"]
    level = 1 - ALPHA / (len(NORMS) + 1)
    checks, table, lines, fits, found = [], [], [], [], {}
    for i, norm in enumerate(NORMS):
        samples = [data[d][f"rel_{norm}"][np.isfinite(data[d][f"rel_{norm}"])] for d in ds]
        fit = loglog_slope(ds, samples, jax.random.fold_in(key, 10**6 + i), level=level)
        found[norm] = fit
        if norm == "l2":
            checks.append(slope_check("ℓ2 distance / ‖x‖_2 falls like d^(−1/2)", fit, equals=-0.5))
        else:
            # the guarantee's form: at least as fast; Gaussian x adds √log d factors to ‖x‖_1 and ‖x‖_∞ [D]
            checks.append(slope_check(f"ℓ{norm[1:].replace('inf', '∞')} distance / ‖x‖ falls at least like "
                                      "d^(−1/2)", fit, at_most=-0.5))
        means, lows, highs = mean_band(ds, samples, level)
        lines.append(line(f"{norm}", ds, means, lows, highs))
        fits.append(fit_line(norm, fit))
        for d, s, m in zip(ds, samples, means, strict=True):
            table.append({"norm": norm, "d": d, "mean_rel_distance": m, "sqrt_d_times_mean": m * math.sqrt(d),
                          "valid": f"{s.size}/{cfg.trials}"})
    cdf = cdf[np.isfinite(cdf)]
    beta = cdf_exponent(cdf, q=CDF_Q, level=level)
    # β = 1 (a positive density at 0) against β = 2 (a density vanishing at 0) or ½: margin a tenth of that effect;
    # the estimator's curvature bias at q = 0.2 is about −0.01 on smooth laws (fcjax.stats.cdf_exponent) [D]
    checks.append(interval_check(f"CDF of √d·ℓ2 distance/‖x‖_2 is linear near 0 (d={cfg.cdf_d})", beta.exponent,
                                 beta.low, beta.high, equals=1.0, margin=0.1, level=level,
                                 why=f"exponent β of F(t) ∝ t^β below the {CDF_Q:g}-quantile, {beta.below} nets"))
    fit2 = found["l2"]
    return Outcome(
        statistic=fit2.slope, statistic_name="slope of mean ℓ2 distance / ‖x‖_2 in d", expected="−0.5",
        ci_low=fit2.low, ci_high=fit2.high, level=level, n_trials=cfg.trials * len(ds), checks=checks, table=table,
        series={"title": "Random biased ReLU nets: ℓp distance to the boundary", "xlabel": "d",
                "ylabel": "mean distance / ‖x‖_p", "loglog": True, "lines": lines, "fits": fits},
        caveats=["First-order distances |f|/‖∇f‖_q: exact for an affine f, an estimate of the true distance here; "
                 "the true distances, bracketed by attacks and certificates, are in depalma2021.boundary_bracket "
                 "(ℓ2) and depalma2021.lp_bracket (ℓ1, ℓ∞).",
                 f"Slopes: ℓ1 {found['l1'].slope:.3f}, ℓ2 {fit2.slope:.3f}, ℓ∞ {found['linf'].slope:.3f}; for "
                 "Gaussian x, ‖x‖_∞ ~ √(2 log d) and ‖∇f‖_∞ ~ √(2 log d)·‖∇f‖_2/√d add log factors to ℓ1 and ℓ∞.",
                 f"CDF near 0: {cfg.cdf_trials} fresh nets at d = {cfg.cdf_d}; exponent {beta.exponent:.3f} "
                 f"[{beta.low:.3f}, {beta.high:.3f}] below √d·dist/‖x‖ = {math.sqrt(cfg.cdf_d) * beta.threshold:.3f}"
                 " (first-order distances; the bracketed distances are in depalma2021.boundary_bracket)."],
    )


# ------------------------------------------------------------------------------------------- boundary_bracket
def _order_checks(arch: str, fit: SandwichSlope, exponent: float = -0.5, margin: float = SLOPE_MARGIN,
                  kinds: tuple[str, ...] = ("O", "Ω"), norm: str = "2") -> list[Check]:
    """"distance/‖x‖ = O(d^exponent)" and "= Ω(d^exponent)" on the grid, each decided by the bound that can.

    The true mean lies between the bounds' means at every d. If the upper bound's mean falls like ``d^s`` with
    ``s <= exponent + margin`` (its CI's top), the truth is ``O(d^(exponent + margin))``: the O-statement holds;
    if even the lower bound's falls slower (its CI's bottom above ``exponent + margin``), the truth cannot be
    ``O(d^(exponent + margin))``: refuted. The Ω-statement mirrors it with the lower bound (PASS) and the upper
    (FAIL). A loose bound can leave either UNDECIDED, never decide it wrongly."""
    lo, up = fit.lower, fit.upper
    f = lambda s: f"{s.slope:.3f} [{s.low:.3f}, {s.high:.3f}]"
    detail = f"lower bound's slope {f(lo)}, upper bound's {f(up)} ({lo.level:.4g} CIs)"
    checks = []
    for kind, t in (("O", exponent + margin), ("Ω", exponent - margin)):
        if kind not in kinds:
            continue
        name = f"{arch}: distance / ‖x‖_{norm} = {kind}(d^({exponent:g}))"
        if kind == "O":
            confirmed, refuted, loose = up.high <= t, lo.low > t, "attack (upper bound)"
        else:
            confirmed, refuted, loose = lo.low >= t, up.high < t, "certificate (lower bound)"
        stmt = f"{detail}; statement slope {'<=' if kind == 'O' else '>='} {t:g} (margin {margin:g})"
        if confirmed:
            checks.append(Check(name, True, f"{stmt}: confirmed", outcome=PASS))
        elif refuted:
            checks.append(Check(name, False, f"{stmt}: refuted", outcome=FAIL))
        else:
            checks.append(Check(name, False, f"{stmt}: undecided", outcome=UNDECIDED,
                                resolution=f"a tighter {loose} or more nets (its slope CI must clear {t:g})"))
    return checks


@dataclasses.dataclass(frozen=True)
class BracketConfig(BiasedConfig):
    """Random biased ReLU nets of several architectures (:func:`fcjax.boundary_distance.random_net`), one input each;
    the distance to the boundary bracketed by ``certify`` below and ``min_norm`` above."""

    archs: tuple[str, ...] = ARCHS
    certify: str = "crown"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.archs or any(a not in ARCHS for a in self.archs) or len(set(self.archs)) != len(self.archs):
            raise ValueError(f"archs must be distinct names from {ARCHS}, got {self.archs!r}")
        if self.certify not in METHODS:
            raise ValueError(f"certify must be one of {METHODS}, got {self.certify!r}")


def _bracket_trial(key, d: int, dtype, arch: str, depth: int, factor: int, bias_std: float, method: str,
                   norm: str = "l2") -> dict:
    return boundary_distance.bracket_trial(key, d, arch, factor, depth, bias_std, method, norm=norm, dtype=dtype)


def _bracket_bytes(cfg: BracketConfig, arch: str) -> Callable[[int], int]:
    """About a trial's working set: CROWN's coefficient matrices over the widest layer (convolutions are dense)."""
    widths = {"mlp": cfg.width_factor, "cnn": 4 * cfg.width_factor, "resnet": 2 * cfg.width_factor}
    return lambda d: 8 * 8 * (cfg.depth + 1) * (widths[arch] * d) ** 2


@dataclasses.dataclass(frozen=True)
class _Cells:
    """One architecture's bracket over the grid: per d, the valid nets' bounds over ‖x‖_p, and the slopes' fit."""

    ds: list[int]
    lower: list[np.ndarray]
    upper: list[np.ndarray]
    fit: SandwichSlope
    linearised: list[np.ndarray] | None = None  # the first-order |f|/‖∇f‖_q, where measured


def _bracket_cells(cfg: BracketConfig, key, slope_key, ctx: Run, arch: str, level: float, norm: str = "l2"
                   ) -> _Cells:
    """Sweep ``arch``'s bracket (``norm``) with ``key`` and fit both bounds' slopes at ``level`` (bootstrap:
    ``slope_key``)."""
    cell = f"{arch} " if norm == "l2" else f"{arch} {norm} "
    data = sweep(cfg, key, ctx, _bracket_trial, _bracket_bytes(cfg, arch), cell=cell, arch=arch, depth=cfg.depth,
                 factor=cfg.width_factor, bias_std=cfg.bias_std, method=cfg.certify, norm=norm)
    ds = list(data)
    # a net with no boundary within the attack's reach (found false), or a vacuous certificate, has no ratio
    ok = {d: np.asarray(data[d]["found"], bool) & (data[d]["rel_lower"] > 0) for d in ds}
    pick = lambda name: [data[d][name][ok[d]] for d in ds]
    lower, upper = pick("rel_lower"), pick("rel_upper")
    fit = sandwich_slope(ds, lower, upper, slope_key, level=level)
    return _Cells(ds, lower, upper, fit, pick("rel_linearised"))


def _bracket_rows(cfg: BracketConfig, arch: str, cells: _Cells, norm: str = "l2") -> list[dict]:
    rows = []
    for d, lo, up, lin in zip(cells.ds, cells.lower, cells.upper, cells.linearised, strict=True):
        rows.append({"arch": arch, **({} if norm == "l2" else {"norm": norm}), "d": d,
                     "valid": f"{lo.size}/{cfg.trials}", "mean_lower": float(np.mean(lo)),
                     "mean_upper": float(np.mean(up)), "mean_linearised": float(np.mean(lin)),
                     "sqrt_d_times_upper": float(math.sqrt(d) * np.mean(up)),
                     "median_upper_over_lower": float(np.median(up / lo)),
                     "linearised_inside_bracket": float(np.mean((lin >= lo) & (lin <= up * (1 + 1e-9)))),
                     "cdf_exponent_upper": cdf_exponent(up, q=CDF_Q).exponent if up.size >= 20 / CDF_Q else None})
    return rows


def _bracket_panel(title: str, ylabel: str, cells: _Cells) -> dict:
    ds, upper = cells.ds, cells.upper
    return {"title": title, "xlabel": "d", "ylabel": ylabel, "loglog": True,
            "lines": [line(name, ds, [float(np.mean(s)) for s in series])
                      for name, series in (("certified lower", cells.lower), ("attack upper", upper))],
            "fits": [fit_line("lower", cells.fit.lower), fit_line("upper", cells.fit.upper)],
            "refs": [line("d^(-1/2)", ds, [float(np.mean(upper[0])) * math.sqrt(ds[0] / d) for d in ds])]}


def _sandwich(cells: list[_Cells]) -> Check:
    lo = np.concatenate([a for c in cells for a in c.lower])
    up = np.concatenate([a for c in cells for a in c.upper])
    ok, detail = sandwich_check(lo, up, np.ones(lo.size, bool))
    return Check("sandwich: certified lower <= attack upper on every net", ok, detail)


@register(
    "depalma2021.boundary_bracket", paper=PAPER,
    statement="for random deep ReLU nets with biases (fully connected, convolutional with pooling, residual), the "
              "true ℓ2 distance of an input to the decision boundary, bracketed between a certified lower bound "
              "and a verified attack, over ‖x‖_2 scales as d^(−1/2): it is O(d^(−1/2)) (shown by the attack) and "
              "Ω(d^(−1/2)) (shown by the certificate)",
    source="abstract (ICML 2021): 'any combination of convolutional or fully connected layers with skipped "
           "connections and pooling' (v1) [P]; the bracket (CROWN, attack) and the architectures' sizes ours [D]",
    config=BracketConfig(ds=(16, 32, 64, 128, 256), trials=1000),
    # quick: two dimensions (the slope's precision depends on the log-range, 16..64, not on the points between);
    # 400 nets per cell: each bound's slope CI is about ±0.2 at the claim's level, so the quick form shows the
    # bracket and its controls but decides little (UNDECIDED); the full form's grid 16..256 is what decides
    quick={"ds": (16, 64), "trials": 400},
    work=lambda c: c.trials * len(c.ds) * len(c.archs),
)
def boundary_bracket(cfg: BracketConfig, key, ctx: Run) -> Outcome:
    tests = 2 * len(cfg.archs)
    level = 1 - ALPHA / tests
    checks, table, panels, done = [], [], [], []
    for i, arch in enumerate(cfg.archs):
        cells = _bracket_cells(cfg, jax.random.fold_in(key, i), jax.random.fold_in(key, 10**6 + i), ctx, arch, level)
        done.append(cells)
        checks += _order_checks(arch, cells.fit)
        table += _bracket_rows(cfg, arch, cells)
        panels.append(_bracket_panel(arch, "distance / ‖x‖_2", cells))
    checks.insert(0, _sandwich(done))
    top = done[0].fit
    return Outcome(
        statistic=top.smax, statistic_name=f"largest slope of distance / ‖x‖_2 the bounds allow ({cfg.archs[0]})",
        expected="−0.5", ci_low=top.low, ci_high=top.high, level=level,
        n_trials=cfg.trials * len(cfg.ds) * len(cfg.archs), checks=checks, table=table,
        series={"title": "Random biased nets: the ℓ2 distance to the boundary, bracketed", "panels": panels},
        caveats=[f"Lower: {cfg.certify} certified radius of the two-class net (f, −f); upper: fcjax.min_norm's "
                 "verified flip. The attack settles O(d^(−1/2)), the certificate Ω(d^(−1/2)); CROWN loosens with d "
                 "(median upper/lower in the table), so Ω is the harder half. The slope range the bounds allow for "
                 "the true mean is in the statistic and its CI.",
                 "Nets where the attack found no flip (no boundary within its reach) are excluded, counted in "
                 "`valid`; they are the most robust ones, so excluding them can only make the fall look faster "
                 "at small d, where they occur.",
                 f"MLP: depth {cfg.depth}, width {cfg.width_factor}·d; CNN: {cfg.depth} blocks of conv(3, "
                 f"{4 * cfg.width_factor} channels) + ReLU + average pooling; ResNet: width {cfg.width_factor}·d, "
                 f"{cfg.depth} residual blocks. Biases N(0, {cfg.bias_std:g}²). Our choices [D]."],
    )


# ----------------------------------------------------------------------------------------------------------------- lp
@dataclasses.dataclass(frozen=True)
class LpBracketConfig(BracketConfig):
    """:class:`BracketConfig` for the ℓ_p brackets: ``norms`` among ``"l1"``, ``"linf"``."""

    norms: tuple[str, ...] = ("l1", "linf")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.norms or any(n not in ("l1", "linf") for n in self.norms) or len(set(self.norms)) != len(
                self.norms):
            raise ValueError(f"norms must be distinct names from ('l1', 'linf'), got {self.norms!r}")
        if self.certify not in ("crown", "ibp", "lipschitz"):
            raise ValueError(f"certify must be 'crown', 'ibp' or 'lipschitz' for ℓ1 / ℓ∞ balls, got {self.certify!r}")


def _affine_control(cfg: LpBracketConfig, key, norm: str) -> Check:
    """On affine scalar nets ``f = w·x + b`` the bracket must close: CROWN's ℓ_p radius, the attack's verified flip
    and ``|f|/‖w‖_q`` are one number (Hölder is tight), up to the bisection's ``2^-20`` and rounding."""
    worst = 0.0
    for d in cfg.ds:
        kw, kb, kx = jax.random.split(jax.random.fold_in(key, d), 3)
        layers = [(jax.random.normal(kw, (1, d), cfg.jdtype), 0.1 * jax.random.normal(kb, (1,), cfg.jdtype))]
        br = boundary_distance.boundary_bracket(layers, jax.random.normal(kx, (64, d), cfg.jdtype), method=cfg.certify,
                                                norm=norm)
        lo, up, lin = (np.asarray(a, np.float64) for a in (br.lower, br.upper, br.linearised))
        worst = max(worst, float(np.max(np.abs(lo / up - 1))), float(np.max(np.abs(lin / up - 1))))
    # bisection: 2^-20 ≈ 1e-6 of the bracket; float32 rounding of the ray's bisection a few 1e-7 [D]
    tol = 1e-5 if cfg.dtype == "float32" else 2e-6
    return Check(f"control ({norm}): affine nets close the bracket", worst <= tol,
                 f"largest |lower/upper − 1|, |linearised/upper − 1| over 64 inputs per d: {worst:.2e} "
                 f"(tolerance {tol:g}: the bisection's resolution)")


@register(
    "depalma2021.lp_bracket", paper=PAPER,
    statement="for random deep ReLU nets with biases, the true ℓ1 and ℓ∞ distances of an input to the decision "
              "boundary over ‖x‖_p fall at least like d^(−1/2) (shown by a verified ℓ_p attack); the certified "
              "(CROWN, ℓ_p ball) lower bound's slope is reported",
    source="abstract (ICML 2021): 'for any p ≥ 1' [P]; Gaussian inputs add √log d factors to ‖x‖_∞ and ‖∇f‖_∞ "
           "(field_theorems.md 1.5 caveat [D]), so only the 'at least as fast' half is tested",
    config=LpBracketConfig(ds=(16, 32, 64, 128, 256), trials=1000),
    # quick: MLPs only, two dimensions, 400 nets: the attack's slope CI is about ±0.2 and the first-order slope is
    # near −0.64 (lp_distance_scaling), so the O-check can decide; the full form adds the CNN and the ResNet
    quick={"ds": (16, 64), "trials": 400, "archs": ("mlp",)},
    work=lambda c: c.trials * len(c.ds) * len(c.archs) * len(c.norms),
)
def lp_bracket(cfg: LpBracketConfig, key, ctx: Run) -> Outcome:
    tests = len(cfg.archs) * len(cfg.norms)
    level = 1 - ALPHA / tests
    checks, table, panels, done, slopes = [], [], [], [], []
    for j, norm in enumerate(cfg.norms):
        checks.append(_affine_control(cfg, jax.random.fold_in(key, 50 + j), norm))
        label = {"l1": "1", "linf": "∞"}[norm]
        for i, arch in enumerate(cfg.archs):
            cells = _bracket_cells(cfg, jax.random.fold_in(key, 100 * (j + 1) + i),
                                   jax.random.fold_in(key, 10**6 + 100 * (j + 1) + i), ctx, arch, level, norm)
            done.append(cells)
            checks += _order_checks(arch, cells.fit, kinds=("O",), norm=label)
            table += _bracket_rows(cfg, arch, cells, norm)
            panels.append(_bracket_panel(f"{arch}, ℓ{label}", f"distance / ‖x‖_{label}", cells))
            lo, up = cells.fit.lower, cells.fit.upper
            slopes.append(f"{arch} ℓ{label}: lower {lo.slope:.3f} [{lo.low:.3f}, {lo.high:.3f}], upper "
                          f"{up.slope:.3f} [{up.low:.3f}, {up.high:.3f}]")
    checks.insert(0, _sandwich(done))
    top = done[0].fit
    return Outcome(
        statistic=top.upper.slope, statistic_name=f"slope of the attack's ℓ{cfg.norms[0][1:]} distance / ‖x‖ "
                                                  f"({cfg.archs[0]})",
        expected="≤ −0.5", ci_low=top.upper.low, ci_high=top.upper.high, level=level,
        n_trials=cfg.trials * len(cfg.ds) * len(cfg.archs) * len(cfg.norms), checks=checks, table=table,
        series={"title": "Random biased nets: ℓ1 and ℓ∞ distances to the boundary, bracketed", "panels": panels},
        caveats=[f"Lower: {cfg.certify} certified radius of the ℓ_p ball (dual norm at the input: "
                 "fcjax.certified_radius(norm=...)); upper: the shorter verified flip of DeepFool-ℓ_p "
                 "(fcjax.boundary_distance.lp_flip) and fcjax.min_norm's ℓ2 flip measured in ℓ_p.",
                 "The Ω half is not tested: the '‖x‖_p/√n' form hides √log d factors of Gaussian inputs in ℓ1 and "
                 "ℓ∞ (the first-order slopes are near −0.64 at these d), which a slope margin of 0.05 cannot "
                 "separate from a change of exponent. Slopes (CIs at the claim's level): " + "; ".join(slopes) + ".",
                 "Nets where the attack found no flip, or the certificate is 0, are excluded and counted in `valid`.",
                 f"Architectures and biases as in depalma2021.boundary_bracket (depth {cfg.depth}, width "
                 f"{cfg.width_factor}·d, biases N(0, {cfg.bias_std:g}²)) [D]."],
    )


# ------------------------------------------------------------------------------------------------- trained nets
@register(
    "depalma2021.trained_nets", paper=PAPER,
    statement="conjecture (v1): on trained ReLU networks too, the ℓ2 distance of an input to the decision boundary "
              "over ‖x‖_2 scales as d^(−1/2): trained MLPs on digits resized to d pixels and on MNIST-1D signals "
              "of length d, the distance bracketed between CROWN and a verified attack at training points",
    source="v1 abstract: the guarantee conjectured to extend to trained nets [P]; data, sizes and the resizing "
           "sweep ours (as gao2024.real_data_gap) [D]",
    config=RealDataConfig(ds=(20, 40, 80, 160, 320), image_ds=(16, 64, 256, 576), trials=8,
                          datasets=("digits", "mnist1d"), models=("mlp",)),
    # quick: the end points of real_data_gap's quick grid, the same training; 8 replicates per d give the per-net
    # means' slope a CI near ±0.1 over a 4-16× range of d, enough to tell −½ from the ~0 of a d-free ratio
    quick={"ds": (20, 80), "image_ds": (16, 256), "trials": 8, "n_train": 200, "points": 8, "steps": 1500,
           "width": 128, "batch": 4},
    work=lambda c: c.trials * sum(len(_cells(c, n)) for n in c.datasets),
)
def trained_nets(cfg: RealDataConfig, key, ctx: Run) -> Outcome:
    level = 1 - ALPHA / (2 * len(cfg.datasets))
    checks, table, panels, skipped, done, fits = [], [], [], [], [], []
    for name in cfg.datasets:
        grid = list(cfg.ds if name == "mnist1d" else cfg.image_ds)
        cell_key = jax.random.fold_in(key, 100 * DATA_IDS[name])
        outs = {}
        for d in grid:
            kc = jax.random.fold_in(cell_key, d)
            outs[d] = ctx.cell(f"{name} mlp d={d}", lambda k=kc, n=name, d=d: _real_cell(cfg, k, n, d, "mlp"),
                               key=kc, work=cfg.trials)
        if any(o is None for o in outs.values()):
            skipped.append(name)
            continue
        # one sample per network (an independent replicate: its own data, points, initialisation): the mean over
        # its correctly classified points of distance / ‖x‖_2; only networks that fit their training set
        valid = {d: outs[d]["accuracy"] == 1.0 for d in grid}
        lower = [per_net_ratio(outs[d]["lower"], outs[d]["x_norm"], outs[d]["correct"])[valid[d]] for d in grid]
        upper = [per_net_ratio(outs[d]["upper"], outs[d]["x_norm"], outs[d]["correct"])[valid[d]] for d in grid]
        ok = [(lo > 0) & np.isfinite(up) for lo, up in zip(lower, upper, strict=True)]
        lower = [lo[k] for lo, k in zip(lower, ok, strict=True)]
        upper = [up[k] for up, k in zip(upper, ok, strict=True)]
        fit = sandwich_slope(grid, lower, upper, jax.random.fold_in(key, 10**6 + DATA_IDS[name]), level=level)
        cells = _Cells(grid, lower, upper, fit)
        done.append(cells)
        fits.append((name, fit))
        checks += _order_checks(f"{name} (trained MLP)", fit)
        for d, lo, up in zip(grid, lower, upper, strict=True):
            table.append({"dataset": name, "d": d, "valid_nets": f"{lo.size}/{cfg.trials}",
                          "mean_lower": float(np.mean(lo)) if lo.size else None,
                          "mean_upper": float(np.mean(up)) if up.size else None,
                          "sqrt_d_times_upper": float(math.sqrt(d) * np.mean(up)) if up.size else None,
                          "median_upper_over_lower": float(np.median(up / lo)) if lo.size else None,
                          "mean_accuracy": float(np.mean(outs[d]["accuracy"]))})
        panels.append(_bracket_panel(f"{name}, trained MLP", "distance / ‖x‖_2", cells))
    if not done:
        return Outcome(statistic=float("nan"), statistic_name="slope of distance / ‖x‖_2", expected="−0.5",
                       ci_low=float("nan"), ci_high=float("nan"), level=level, n_trials=0,
                       checks=[Check("data available", False, f"no data set could be loaded: {skipped}",
                                     outcome=UNDECIDED, resolution="digits (scikit-learn) or mnist1d installed")])
    checks.insert(0, _sandwich(done))
    name, top = fits[0]
    return Outcome(
        statistic=top.smax, statistic_name=f"largest slope of distance / ‖x‖_2 the bounds allow ({name})",
        expected="−0.5", ci_low=top.low, ci_high=top.high, level=level,
        n_trials=cfg.trials * sum(len(c.ds) for c in done), checks=checks, table=table,
        series={"title": "Trained MLPs: the ℓ2 distance to the boundary over ‖x‖_2, bracketed", "panels": panels},
        caveats=[f"Lower: {cfg.certify} certified radius; upper: fcjax.min_norm's verified flip, at {cfg.points} "
                 f"training points per network; MLPs depth {cfg.depth}, width {cfg.width}, {cfg.steps} Adam steps "
                 f"on {cfg.n_train} examples (as gao2024.real_data_gap). Networks that do not fit their training "
                 "set are excluded and counted in `valid_nets`.",
                 "Resizing digits adds pixels, not information: ‖x‖_2 grows like √d and so may the distance. A "
                 "d-free ratio here refutes the conjecture for this way of growing d, not for data whose intrinsic "
                 "dimension grows (MNIST-1D lengths are closer to that).",
                 *([f"Skipped (data unavailable): {', '.join(skipped)}."] if skipped else [])],
    )
