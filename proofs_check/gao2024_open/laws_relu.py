"""Open question 1 for trained ReLU networks: does the √d gap of MLPs trained to interpolate d points in R^d (one per
class, as ``gao2024.sqrt_d_gap_relu``) survive the non-Gaussian laws of ``gao2024_open.non_gaussian_gap``?

Each network is bracketed at its training points, CROWN below and the attack above, and each law is decided from the
slopes the bracket allows (:func:`proofs_check.gao2024._gap.gap_fits`), Bonferroni over the laws. All laws' networks
at one d are trained and measured in one program (per-network data sets): one compilation per d, not per law and d.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from fcjax._validate import check_int
from fcjax.data_laws import points_from_law
from fcjax.ensembles import trial_keys
from fcjax.models import relu_mlp
from fcjax.train import TrainConfig

from .._robust import measure_nets, per_net_ratio, sandwich_check, with_segment_fallback
from ..api import ALPHA, Check, Outcome, Run, all_of, register
from ..gao2024._gap import gap_fits, gap_series
from ._paper import PAPER
from .laws import LawsConfig, _split


@dataclasses.dataclass(frozen=True)
class LawsReluConfig(LawsConfig):
    """``trials`` one-hidden-layer ReLU MLPs (``width`` × d units) per law and d, measured at ``points`` of their d
    training points."""

    width: int = 4
    points: int = 4
    steps: int = 1500
    learning_rate: float = 1e-2
    batch: int = 4
    min_d: int = dataclasses.field(default=4, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("width", "points", "steps", "batch"):
            check_int(getattr(self, name), name, minimum=1)
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")


def _points(cfg: LawsReluConfig, keys: jax.Array, d: int) -> jax.Array:
    """``(laws, trials, d, d)``: each law's ``trials`` training sets at dimension ``d``."""
    def law_sets(spec, k):
        name, param = _split(spec)
        return jax.vmap(lambda kk: points_from_law(kk, d, name, param=param, dtype=cfg.jdtype))(k)

    return jnp.stack([law_sets(spec, k) for spec, k in zip(cfg.laws, keys, strict=True)])


def _cell(cfg: LawsReluConfig, key: jax.Array, d: int) -> dict[str, np.ndarray]:
    """Every law's networks at dimension ``d``, trained and measured in one program: arrays with leading axes
    ``(laws · trials, points)``, laws in ``cfg.laws`` order."""
    n_laws = len(cfg.laws)
    keys = jnp.stack([trial_keys(jax.random.fold_in(key, i), cfg.trials) for i in range(n_laws)])
    x = jax.jit(lambda k: _points(cfg, k, d))(keys).reshape(n_laws * cfg.trials, d, d)
    nets = n_laws * cfg.trials
    y = jnp.broadcast_to(jnp.arange(d), (nets, d))
    idx = jnp.broadcast_to(jnp.arange(min(cfg.points, d)), (nets, min(cfg.points, d)))
    tc = TrainConfig(steps=cfg.steps, learning_rate=cfg.learning_rate, check_every=50, stop_at_accuracy=1.0)
    return measure_nets(relu_mlp(1, cfg.width * d, d), (x, y), idx, jax.random.fold_in(key, 10**6), nets, tc,
                        dtype=cfg.jdtype, batch=cfg.batch)


@register(
    "gao2024_open.non_gaussian_relu", paper=PAPER,
    statement="the √d gap of ReLU MLPs trained to interpolate d points in R^d (one per class) survives non-Gaussian "
              "data: for each law (Gaussian, Student-t ν = 1.5 and 3, Rademacher, uniform, a 4-mode mixture, rank 4 "
              "plus noise) robustness over the optimal radius falls at least like d^(−1/2)",
    source="open question on non-Gaussian data [B]; networks as gao2024.sqrt_d_gap_relu, bounds ours [D]",
    # full: d = 8…64 (a factor 8), 8 networks per law and d
    config=LawsReluConfig(ds=(8, 16, 32, 64), trials=8),
    quick={"ds": (8, 32), "trials": 3},
    work=lambda c: c.trials * len(c.ds) * len(c.laws),
)
def non_gaussian_relu(cfg: LawsReluConfig, key, ctx: Run) -> Outcome:
    ds, laws, t = list(cfg.ds), list(cfg.laws), cfg.trials
    level = 1 - ALPHA / len(laws)
    keys = {d: jax.random.fold_in(key, d) for d in ds}
    data = {d: ctx.cell(f"all laws d={d}", lambda k=keys[d], d=d: _cell(cfg, k, d), key=keys[d], work=t * len(laws))
            for d in ds}
    fallbacks = {}
    for d in ds:  # an attack miss at a training point of a net that fits: the nearest other-class point bounds it
        data[d], fallbacks[d] = with_segment_fallback(data[d])
    checks_per_law, table, panels, found = [], [], [], {}
    for i, spec in enumerate(laws):
        rows = slice(i * t, (i + 1) * t)
        out = {d: {k: v[rows] for k, v in data[d].items()} for d in ds}
        valid = {d: out[d]["accuracy"] == 1.0 for d in ds}
        lower = [per_net_ratio(out[d]["lower"], out[d]["optimal"], out[d]["correct"])[valid[d]] for d in ds]
        upper = [per_net_ratio(out[d]["upper"], out[d]["optimal"], out[d]["correct"])[valid[d]] for d in ds]
        if all(np.all(lo <= up * (1 + 1e-9)) for lo, up in zip(lower, upper, strict=True)):
            fit, (check,) = gap_fits(ds, lower, upper, jax.random.fold_in(key, 10**7 + i), level, spec)
        else:
            fit, check = None, Check(f"{spec}: robustness / optimal radius falls at least like d^(-1/2)", False,
                                     "a certified lower bound lies above a verified attack", outcome="fail")
        found[spec] = fit
        checks_per_law.append(check)
        if fit is not None:
            panels.append(gap_series(f"{spec}: {check.outcome.upper()}", "d", ds, lower, upper, fit))
        for d, lo, up in zip(ds, lower, upper, strict=True):
            table.append({"law": spec, "d": d, "valid_nets": f"{int(valid[d].sum())}/{t}",
                          "mean_steps": float(np.mean(out[d]["steps_run"])),
                          "median_optimal_radius": float(np.median(out[d]["optimal"])),
                          "lower": float(np.mean(lo)) if lo.size else None,
                          "upper": float(np.mean(up)) if up.size else None,
                          "bracket_slopes": f"[{fit.smin:.3f}, {fit.smax:.3f}]" if fit else None,
                          "attack_slope": fit.upper.slope if fit else None, "outcome": check.outcome})
    cat = {k: np.concatenate([data[d][k].ravel() for d in ds]) for k in ("lower", "upper", "correct")}
    sw_ok, sw_detail = sandwich_check(cat["lower"], cat["upper"], cat["correct"])
    checks = [Check("sandwich: CROWN lower <= attack upper on every sample", sw_ok, sw_detail),
              all_of("the gap at every law (slope <= -1/2 within 0.05)", checks_per_law)]
    fits = [f for f in found.values() if f is not None]
    worst = max(fits, key=lambda f: f.smax, default=None)
    by = {o: [s for s, c in zip(laws, checks_per_law, strict=True) if c.outcome == o]
          for o in ("pass", "fail", "undecided")}
    nan = float("nan")
    return Outcome(
        statistic=worst.smax if worst else nan, statistic_name="largest slope the bounds allow over the laws",
        expected="<= -0.5", ci_low=worst.low if worst else nan, ci_high=worst.high if worst else nan, level=level,
        n_trials=t * len(ds) * len(laws), checks=checks, table=table, series={"panels": panels} if panels else {},
        caveats=[f"Laws that confirm d^(-1/2): {', '.join(by['pass']) or 'none'}; refute it: "
                 f"{', '.join(by['fail']) or 'none'}; cannot decide: {', '.join(by['undecided']) or 'none'}.",
                 f"Attack misses replaced by the distance to the nearest other-class training point (a verified "
                 f"but loose upper bound): {sum(fallbacks.values())}.",
                 "Networks that do not reach 100 % training accuracy are excluded ('valid_nets'); one hidden layer "
                 f"of {cfg.width}d ReLU units, Adam lr {cfg.learning_rate}, at most {cfg.steps} steps."],
    )
