"""Open question 4, compression versus the other explanations of fragility: across networks trained plainly, with a
gradient-norm penalty (double back-propagation, Simon-Gabriel et al. 2019) and with PGD-l2 adversarial training
(Madry et al. 2018), on Gaussian points with and without a planted non-robust feature (Ilyas et al. 2019), which of
three network-level quantities predicts robustness best?

* **compression**: the mean ``|cos θ|`` between ``∇(f_y − f_y')`` and the path to the nearest other-class point
  (Gao et al.; :func:`fcjax.path_compression`), measured at *other* training points than robustness: for an affine
  margin with equal margins at both ends, robustness / optimal radius *is* ``|cos θ|`` at the same point, so measured
  there the two would be one quantity twice (that version is in the table as a sensitivity analysis);
* **first-order linearity gap**: ``|Σ damage / Σ ε‖∂ₓL‖₂ − 1|`` of a PGD-l2 attack of radius ``ε = 0.1 ×`` the optimal
  radius (Simon-Gabriel et al.'s first-order damage ratio, :func:`fcjax.gradients.first_order_damage`);
* **non-robust-feature reliance**: the mean ``|cos|`` between ``∇ₓ(f_y − f_y')`` and the planted direction ``u``
  (``u`` is a random direction of no special role on unplanted data: there it measures a chance alignment).

Robustness is the attack's radius (an upper bound on the minimal l2 perturbation) over the optimal classifier's
radius, with CROWN's certified lower bound beside it (the sandwich). Partial rank correlations across networks
(:func:`fcjax.partial_spearman_ci`) say what each predictor adds given the other two; a bootstrap over networks
decides whether compression predicts best.

Planted data: ``n`` Gaussian points in R^d with balanced random labels, whose coordinate along a random unit ``u``
is replaced by ``±s`` (the label's sign) plus ``N(0, σ²)``: a feature that separates the classes perfectly with an
l2 margin ``s`` far below the optimal radius (half the distance to the nearest other-class point: about 3 at
``d = 32``, ``n = 64``). Unplanted data keep the Gaussian coordinate.
"""

from __future__ import annotations

import dataclasses
import math
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.stats as st

from fcjax import path_compression, robustness
from fcjax._validate import check_float, check_int
from fcjax.attacks import _margin
from fcjax.certify import mlp_layers
from fcjax.ensembles import trial_keys
from fcjax.gradients import damage as loss_damage
from fcjax.gradients import first_order_damage, gradient_penalty, input_gradients, pgd_augmentation, pgd_perturbation
from fcjax.models import relu_mlp
from fcjax.parallel import map_batches
from fcjax.stats import partial_spearman_ci
from fcjax.train import minibatch_step

from .._robust import per_net_ratio, sandwich_check
from ..api import ALPHA, Check, Outcome, Run, SweepConfig, interval_check, line, register
from ._paper import PAPER

PREDICTORS = ("compression", "linearity_gap", "reliance")
MEASURES = (*PREDICTORS, "margin_gap", "compression_same")  # the predictors and the sensitivity analysis' two
LABELS = {"compression": "compression ratio", "linearity_gap": "first-order linearity gap",
          "reliance": "non-robust-feature reliance"}
MIN_POINTS = 3  # a network counts with at least this many correctly classified evaluation points
# ... and only if it fits its training set: the paper's setting is interpolation, and a network that collapsed to a
# constant (a dead ReLU layer: training accuracy 1/2) has no adversarial to find (the attack rightly reports none)
MIN_FIT = 0.95
GAP_FRACTION = 0.1  # the linearity gap's radius, as a fraction of each point's optimal radius
DAMAGE_STEPS = 10


@dataclasses.dataclass(frozen=True)
class ExplanationsConfig(SweepConfig):
    """``trials`` networks per (data, regime) group at dimension ``d`` (``ds``: one value), each on its own
    ``n_train`` points; robustness is measured at the first ``points`` of them and compression at the next ``points``.

    ``regimes`` are ``(name, λ_grad, ε_pgd)``: the gradient-norm penalty's ``λ`` (``fcjax.gradients.gradient_penalty``,
    ``q = 2``) and the PGD-l2 training radius (``ε``; 0: no adversarial training). ``plant`` is the planted feature's
    margin ``s`` and ``plant_noise`` its noise ``σ``."""

    regimes: tuple[tuple[str, float, float], ...] = (("standard", 0.0, 0.0), ("grad-penalty", 0.1, 0.0),
                                                      ("grad-penalty-strong", 0.5, 0.0), ("pgd-l2", 0.0, 0.25),
                                                      ("pgd-l2-strong", 0.0, 1.0))
    planted: tuple[bool, ...] = (False, True)
    plant: float = 0.5
    plant_noise: float = 0.05
    n_train: int = 64
    points: int = 16
    depth: int = 2
    width: int = 64
    steps: int = 500
    learning_rate: float = 1e-2
    pgd_steps: int = 3
    batch: int = 4
    bootstrap: int = 2000

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("n_train", "points", "depth", "width", "steps", "pgd_steps", "batch"):
            check_int(getattr(self, name), name, minimum=1)
        check_int(self.bootstrap, "bootstrap", minimum=100)
        check_float(self.plant, "plant", low=0.0, open_low=True)
        check_float(self.plant_noise, "plant_noise", low=0.0)
        check_float(self.learning_rate, "learning_rate", low=0.0, open_low=True)
        if len(self.ds) != 1:
            raise ValueError(f"d must be one dimension for this claim (a comparison across networks), got {self.ds}")
        if 2 * self.points > self.n_train:
            raise ValueError(f"points must be <= n_train / 2 ({self.n_train // 2}: robustness and compression at "
                             f"disjoint points), got {self.points}")
        if (not self.regimes or any(not isinstance(r, tuple) or len(r) != 3 for r in self.regimes)
                or len({r[0] for r in self.regimes}) != len(self.regimes)):
            raise ValueError(f"regimes must be distinct (name, lambda_grad, eps_pgd) triples, got {self.regimes!r}")
        for name, lam, eps in self.regimes:
            check_float(lam, f"regime {name!r} lambda_grad", low=0.0)
            check_float(eps, f"regime {name!r} eps_pgd", low=0.0)
        if not self.planted or len(set(self.planted)) != len(self.planted):
            raise ValueError(f"planted must list False and/or True once each, got {self.planted!r}")
        if self.groups() * self.trials < len(PREDICTORS) + 3:
            raise ValueError(f"needs at least {len(PREDICTORS) + 3} networks in all for partial correlations with "
                             f"{len(PREDICTORS) - 1} controls, got {self.groups() * self.trials}")

    def groups(self) -> int:
        return len(self.regimes) * len(self.planted)


def planted_data(key: jax.Array, n: int, d: int, planted: jax.Array, plant: float, noise: float, dtype
                 ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(x, y, u)``: ``(n, d)`` Gaussian points, balanced random labels, and a random unit ``u``; where ``planted``
    (a traced 0/1), the coordinate of each point along ``u`` is ``±plant + N(0, noise²)`` (sign: the label)."""
    kx, ky, ku, kn = jax.random.split(key, 4)
    x = jax.random.normal(kx, (n, d), dtype)
    y = jax.random.permutation(ky, jnp.arange(n) % 2)
    u = jax.random.normal(ku, (d,), dtype)
    u = u / jnp.linalg.norm(u)
    along = x @ u
    new = (2 * y - 1).astype(dtype) * plant + noise * jax.random.normal(kn, (n,), dtype)
    return x + jnp.outer(planted * (new - along), u), y, u


def _margins(apply, params, x, y):
    """``f_y − max_{j≠y} f_j`` at each point (two classes: ``f_y − f_{1−y}``)."""
    return -_margin(apply(params, x), y)


def _margin_gradients(apply, params, x, y):
    """``∇ₓ(f_y − f_{1−y})`` at each point (samples do not interact, so the gradient of the sum)."""
    return jax.grad(lambda z: jnp.sum(_margins(apply, params, z, y)))(x)


def _network(cfg: ExplanationsConfig, model, k, planted, lam_grad, eps_pgd):
    """Train one network (its own data); measure robustness, the linearity gap and the reliance at its first
    ``points`` training points and the compression ratio at the next ``points`` (and, for the sensitivity
    analysis, at the first ones too)."""
    d, dtype = cfg.ds[0], cfg.jdtype
    kd, ki, kb = jax.random.split(k, 3)
    x, y, u = planted_data(kd, cfg.n_train, d, planted, cfg.plant, cfg.plant_noise, jnp.float32)
    apply = model.apply
    lam_pgd = eps_pgd / math.sqrt(d)  # pgd_augmentation's radius is λ·d^(1/2) for q = 2

    def loss_fn(p, xb, yb):
        ce = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(apply(p, xb), yb))
        return (ce + gradient_penalty(apply, p, xb, yb, lam_grad, 2.0)
                + pgd_augmentation(apply, p, xb, yb, lam_pgd, 2.0, cfg.pgd_steps))

    opt = optax.adam(cfg.learning_rate)
    params = model.init(ki, x[:1])
    step = minibatch_step(loss_fn, opt, x, y, None)
    (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), jax.random.split(kb, cfg.steps))
    accuracy = jnp.mean(jnp.argmax(apply(params, x), -1) == y)
    params = jax.tree.map(lambda a: a.astype(dtype), params)
    x, u = x.astype(dtype), u.astype(dtype)
    xe, ye = x[: cfg.points], y[: cfg.points]
    r = robustness(apply, params, xe, ye, reference=(x, y), layers=mlp_layers(params, dtype), certify="crown",
                   nodes=32)
    eps = GAP_FRACTION * r.optimal
    delta = pgd_perturbation(apply, params, xe, ye, eps, 2.0, DAMAGE_STEPS)
    g = input_gradients(apply, params, xe, ye)
    mg = _margin_gradients(apply, params, xe, ye)
    mg_norm = jnp.linalg.norm(mg, axis=-1)
    cos_u = jnp.abs(mg @ u) / jnp.maximum(mg_norm, jnp.finfo(dtype).tiny)
    xc, yc = x[cfg.points: 2 * cfg.points], y[cfg.points: 2 * cfg.points]
    return {"lower": r.lower, "upper": r.upper, "optimal": r.optimal, "compression_same": r.compression,
            "compression": path_compression(apply, params, xc, yc, reference=(x, y), nodes=32),
            "correct_held_out": jnp.argmax(apply(params, xc), -1) == yc,
            "correct": r.predicted == ye, "damage": loss_damage(apply, params, xe, ye, delta),
            "first_order": first_order_damage(g, eps, 2.0), "reliance": cos_u, "accuracy": accuracy,
            # the same attack's effect on the margin, against its first-order size: linearity of the network itself,
            # without the cross-entropy's curvature (a sensitivity analysis, not one of the three predictors)
            "margin_drop": _margins(apply, params, xe, ye) - _margins(apply, params, xe + delta, ye),
            "margin_first_order": eps * mg_norm}


def _group(cfg: ExplanationsConfig, key, planted: bool, lam_grad: float, eps_pgd: float) -> dict[str, np.ndarray]:
    """``trials`` networks of one (data, regime) group, trained and measured in one program: arrays ``(nets, m)``
    and ``accuracy`` ``(nets,)``."""
    model = relu_mlp(cfg.depth, cfg.width, 2)
    hyper = jnp.asarray([float(planted), lam_grad, eps_pgd], jnp.float32)
    out = _measure_group(cfg, model, trial_keys(key, cfg.trials), hyper)
    return {k: np.asarray(v) for k, v in out.items()}


def _measure_group_impl(cfg, model, keys, hyper):
    return map_batches(lambda k: _network(cfg, model, k, hyper[0], hyper[1], hyper[2]), keys, cfg.batch)


# One program for every group (the regime's numbers are traced arguments): compiled once per configuration.
_measure_group = jax.jit(_measure_group_impl, static_argnums=(0, 1))


def network_measures(out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per network: ``robustness`` (mean attack radius / optimal radius over its correctly classified evaluation
    points), ``certified`` (CROWN's, the same way), the three predictors (compression over the correctly classified
    held-out points), the sensitivity analysis' ``margin_gap`` and ``compression_same``, ``fits`` (training accuracy
    ``>= MIN_FIT``) and ``valid`` (it fits, with at least ``MIN_POINTS`` correct points of each kind and finite
    measures). NaN where a network is not valid."""
    c, h = out["correct"].astype(bool), out["correct_held_out"].astype(bool)
    fits = out["accuracy"] >= MIN_FIT
    valid = fits & (c.sum(axis=1) >= MIN_POINTS) & (h.sum(axis=1) >= MIN_POINTS)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(c, out["damage"], 0.0).sum(1) / np.where(c, out["first_order"], 0.0).sum(1)
        m_ratio = np.where(c, out["margin_drop"], 0.0).sum(1) / np.where(c, out["margin_first_order"], 0.0).sum(1)
        res = {"robustness": per_net_ratio(out["upper"], out["optimal"], c),
               "certified": per_net_ratio(out["lower"], out["optimal"], c),
               "compression": np.where(h, out["compression"], 0.0).sum(1) / np.maximum(h.sum(1), 1),
               "compression_same": np.where(c, out["compression_same"], 0.0).sum(1) / np.maximum(c.sum(1), 1),
               "linearity_gap": np.abs(ratio - 1.0), "margin_gap": np.abs(m_ratio - 1.0),
               "reliance": np.where(c, out["reliance"], 0.0).sum(1) / np.maximum(c.sum(1), 1)}
    ok = valid & np.all([np.isfinite(v) for v in res.values()], axis=0)
    return {**{k: np.where(ok, v, np.nan) for k, v in res.items()}, "valid": ok, "fits": fits}


def partials(table: dict[str, np.ndarray], level: float, controls: np.ndarray | None = None
             ) -> dict[str, tuple[float, float, float]]:
    """``{predictor: (ρ, low, high)}``: robustness's partial rank correlation with each predictor given the other
    two (and the columns of ``controls``, shape ``(networks, c)``, if given), across networks."""
    out = {}
    for name in PREDICTORS:
        others = [table[o] for o in PREDICTORS if o != name] + ([] if controls is None else list(controls.T))
        est = partial_spearman_ci(table[name], table["robustness"], np.column_stack(others), level)
        out[name] = (est.value, est.low, est.high)
    return out


def _best_margin(table: dict[str, np.ndarray], level: float, key: jax.Array, resamples: int
                 ) -> tuple[float, float, float, int]:
    """``|ρ_compression| − max(|ρ_gap|, |ρ_reliance|)`` of the partial correlations, with a normal interval from its
    bootstrap standard error over networks (paired resampling of whole networks, indices drawn from ``key``), and the
    number of resamples left out (degenerate columns: no partial correlation). Normal, not percentile: at the
    Bonferroni level (1 − 2.5·10⁻⁴) percentiles of a few thousand resamples are their extremes, not the level's."""
    cols = {k: table[k] for k in ("robustness", *PREDICTORS)}

    def stat(t):
        try:
            p = {k: abs(v[0]) for k, v in partials(t, level).items()}
        except ValueError:
            return np.nan
        return p["compression"] - max(p["linearity_gap"], p["reliance"])

    n = len(cols["robustness"])
    idx = np.asarray(jax.random.randint(key, (resamples, n), 0, n))
    boot = np.array([stat({k: v[i] for k, v in cols.items()}) for i in idx])
    ok = boot[np.isfinite(boot)]
    est = float(stat(cols))
    if ok.size < 0.95 * resamples:  # too many degenerate resamples: no interval to trust
        return est, float("nan"), float("nan"), resamples - ok.size
    half = float(st.norm.ppf(0.5 + level / 2) * ok.std(ddof=1))
    return est, est - half, est + half, resamples - ok.size


def _sensitivity_rows(table: dict[str, np.ndarray], group: np.ndarray, level: float) -> list[dict]:
    """Reported, not decided: the partials (1) with the margin's linearity gap instead of the loss's (the
    cross-entropy's exponential tail makes the damage ratio grow with the margin itself), (2) with compression at
    the robustness points themselves, (3) within groups (indicators of the data set and regime as controls)."""
    dummies = (group[:, None] == np.unique(group)[None, 1:]).astype(float)
    variants = {"margin-based gap": ({**table, "linearity_gap": table["margin_gap"]}, None),
                "compression at the robustness points": ({**table, "compression": table["compression_same"]}, None),
                "within groups": (table, dummies)}
    rows = []
    for what, (t, controls) in variants.items():
        try:
            got = partials(t, level, controls)
        except ValueError:  # degenerate (e.g. one network per group): nothing to report
            continue
        rows += [{"data": "all", "regime": f"sensitivity, {what}: {LABELS[name]}", "valid_networks": len(group),
                  "partial_spearman": r, "ci_low": lo, "ci_high": hi} for name, (r, lo, hi) in got.items()]
    return rows


@register(
    "gao2024_open.explanations", paper=PAPER,
    statement="open question (Gao et al.): across networks trained plainly, with a gradient-norm penalty and with "
              "PGD-l2 adversarial training, on data with and without a planted non-robust feature, the compression "
              "ratio (at held-out training points) predicts robustness beyond the first-order linearity gap and the "
              "reliance on non-robust features (positive partial rank correlation given both), and predicts it "
              "best of the three",
    source="open questions of the primary paper: compression versus gradient linearity (Simon-Gabriel et al. 2019) "
           "and non-robust features (Ilyas et al. 2019) [P]; protocol ours [D]",
    config=ExplanationsConfig(ds=(32,), trials=16),
    quick={"trials": 4, "steps": 300},
    work=lambda c: c.trials * c.groups(),
)
def explanations(cfg: ExplanationsConfig, key, ctx: Run) -> Outcome:
    level = 1 - ALPHA / (len(PREDICTORS) + 1)  # three partial correlations and the "best" comparison
    groups = [(p, name, lam, eps) for p in cfg.planted for name, lam, eps in cfg.regimes]
    measured, rows, raw = [], [], []
    for planted, name, lam, eps in groups:
        # keyed by the group's identity, not its position: dropping a regime leaves the others' networks as they were
        kg = jax.random.fold_in(jax.random.fold_in(key, int(planted)), zlib.crc32(name.encode()) & 0x7FFFFFFF)
        label = f"{'planted' if planted else 'gaussian'} / {name}"
        out = ctx.cell(label, lambda k=kg, p=planted, a=lam, e=eps: _group(cfg, k, p, a, e), key=kg,
                       work=cfg.trials)
        raw.append(out)
        m = network_measures(out)
        measured.append((label, m))
        v = m["valid"]
        rows.append({"data": "planted" if planted else "gaussian", "regime": name, "lambda_grad": lam,
                     "eps_pgd": eps, "networks": cfg.trials, "fit": int(m["fits"].sum()),
                     "valid_networks": int(v.sum()),
                     "train_accuracy": float(np.mean(out["accuracy"])),
                     **{f"mean_{k}": float(np.nanmean(m[k])) if v.any() else float("nan")
                        for k in ("robustness", "certified", *MEASURES)}})
    fits = [m["fits"] for _, m in measured]
    sw_ok, sw_detail = sandwich_check(*(np.concatenate([o[k][f].ravel() for o, f in zip(raw, fits, strict=True)])
                                        for k in ("lower", "upper", "correct")))
    unfit = sum(int((~f).sum()) for f in fits)
    invalid = sum(int((f & ~m["valid"]).sum()) for f, (_, m) in zip(fits, measured, strict=True))
    checks = [Check("sandwich: CROWN lower <= attack upper on every correctly classified point of the networks "
                    "that fit", sw_ok, sw_detail + f"; {unfit} networks left out for training accuracy < {MIN_FIT}, "
                    f"{invalid} more with < {MIN_POINTS} correct points or a non-finite measure")]
    pooled = {k: np.concatenate([m[k] for _, m in measured]) for k in ("robustness", "certified", *MEASURES)}
    group = np.concatenate([np.full(len(m["valid"]), i) for i, (_, m) in enumerate(measured)])
    keep = np.isfinite(pooled["robustness"])
    table_in = {k: v[keep] for k, v in pooled.items()}
    n = int(keep.sum())
    why = "a sign claim (the paper gives no effect size); Spearman partial correlation across networks, Fisher z"
    try:
        part = partials(table_in, level)
    except ValueError as err:
        part = None
        checks.append(Check("compression predicts robustness given the other two", False,
                            f"{n} valid networks: {err}", outcome="undecided", resolution="more networks"))
    if part is not None:
        r, lo, hi = part["compression"]
        checks.append(interval_check("compression predicts robustness given the linearity gap and the reliance",
                                     r, lo, hi, at_least=0.0, why=why, what="networks", level=level))
        best = _best_margin(table_in, level, jax.random.fold_in(key, 10**6), cfg.bootstrap)
        checks.append(interval_check("compression predicts best: |ρ_compression| − max(|ρ_gap|, |ρ_reliance|)",
                                     *best[:3], at_least=0.0, why=f"a ranking, no effect size; bootstrap standard "
                                     f"error over networks, {cfg.bootstrap} resamples ({best[3]} degenerate ones "
                                     "left out)", what="networks", level=level))
        for name in PREDICTORS:
            marginal = st.spearmanr(table_in[name], table_in["robustness"]).statistic
            rows.append({"data": "all", "regime": f"partial: {LABELS[name]}", "valid_networks": n,
                         "partial_spearman": part[name][0], "ci_low": part[name][1], "ci_high": part[name][2],
                         "marginal_spearman": float(marginal)})
        rows += _sensitivity_rows(table_in, group[keep], level)
    ranked = sorted(part, key=lambda k: -abs(part[k][0])) if part else []
    scatter = [{"title": f"Robustness against {LABELS[p]}", "xlabel": LABELS[p],
                "ylabel": "attack radius / optimal radius", "scatter": True, "xlog": p == "linearity_gap",
                "lines": [line(lab, m[p][m["valid"]], m["robustness"][m["valid"]]) for lab, m in measured
                          if m["valid"].any()]} for p in PREDICTORS]
    bars = ({"title": "Partial rank correlation with robustness (given the other two)", "xlabel": "predictor",
             "ylabel": "Spearman partial (CI)",
             "lines": [line(LABELS[p], [j], [part[p][0]], [part[p][1]], [part[p][2]])
                       for j, p in enumerate(PREDICTORS)],
             "refs": [line("0", [-0.5, len(PREDICTORS) - 0.5], [0.0, 0.0])]} if part else None)
    r, lo, hi = part["compression"] if part else (float("nan"),) * 3
    return Outcome(
        statistic=r, statistic_name="partial Spearman correlation of robustness with compression (given the other two)",
        expected="> 0, and the largest of the three in size", ci_low=lo, ci_high=hi, level=level, n_trials=n,
        checks=checks, table=rows,
        series={"panels": ([bars] if bars else []) + scatter},
        caveats=[f"Predictors ranked by |partial ρ|: {', '.join(f'{LABELS[k]} {part[k][0]:+.2f}' for k in ranked)}."
                 if ranked else "No partial correlations: too few valid networks.",
                 "Compression is measured at other training points than robustness (for an affine margin with equal "
                 "margins at both ends robustness / optimal radius is |cos θ| at the same point); both are network "
                 "properties built on the same gradients, so 'predicts' is an association across networks, not a "
                 "mechanism. A partial correlation near 0 with a wide interval is no evidence of no effect.",
                 "The networks come from 10 designed groups (data x regime): the table's 'within groups' rows "
                 "control for them.",
                 f"A network counts if it fits its data (>= {MIN_FIT}) with >= {MIN_POINTS} correctly classified "
                 "points of each kind; robustness is the attack's radius (an upper bound on the minimum), CROWN's "
                 "lower bound is in the table ('certified').",
                 f"The linearity gap uses a {DAMAGE_STEPS}-step PGD-l2 attack of radius {GAP_FRACTION} x each point's "
                 "optimal radius: a network whose own robustness is below that radius is measured past its boundary.",
                 "Training: full-batch Adam on the clean loss plus λ√d·mean‖∂ₓL‖₂/2 (Simon-Gabriel et al.'s gPenalty) "
                 "and the PGD term (L(x + δ) − L(x))/2 (fcjax.gradients), so PGD training is half clean, half "
                 "adversarial (from δ = 0, no random start)."],
    )
