"""Open question 2, compression from initialisation through training: does the compression ratio exist before
training, when does it appear, and does it predict robustness at every checkpoint? Each network is trained once
(:func:`fcjax.train_checkpoints`, vmapped over networks) and measured at every checkpoint: the compression ratio and
the sandwich (CROWN lower, attack upper) at its evaluation points, over the optimal radius.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from fcjax import robustness, train_checkpoints
from fcjax.checkpoints import check_steps
from fcjax.data import DataUnavailableError, load_dataset
from fcjax.ensembles import trial_keys
from fcjax.models import relu_mlp
from fcjax.parallel import map_batches
from fcjax.stats import mean_ci
from fcjax.train import TrainConfig

from .._robust import layers_of, sandwich_check
from ..api import ALPHA, Check, Outcome, Run, SweepConfig, interval_check, line, register
from ..gao2024.real_data import DATA_IDS, _replicate_spearman, _seed
from ._paper import PAPER

DATA = ("gaussian", "digits", "mnist1d")
GAUSSIAN_CLASSES = 2  # random labels: a random-label interpolation task
_IDS = {**DATA_IDS, "gaussian": 7}  # stable per-data-set key streams


@dataclasses.dataclass(frozen=True)
class TrainingConfig(SweepConfig):
    """``trials`` networks per data set, each with its own training set of ``n_train`` points at dimension ``d``
    (Gaussian: ``d = ds[0]``, two random classes; digits: ``image_d``; MNIST-1D: ``ds[0]``), measured at
    ``points`` of its training points at every step in ``checkpoints``."""

    datasets: tuple[str, ...] = DATA
    checkpoints: tuple[int, ...] = (0, 10, 30, 100, 300, 1000, 3000)
    image_d: int = 64
    n_train: int = 200
    points: int = 32
    depth: int = 2
    width: int = 128
    learning_rate: float = 1e-3
    batch: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.datasets or set(self.datasets) - set(DATA):
            raise ValueError(f"datasets must be among {DATA}, got {self.datasets!r}")
        if len(self.checkpoints) < 2:
            raise ValueError(f"checkpoints must be at least 2 increasing step counts >= 0, got {self.checkpoints!r}")
        check_steps(self.checkpoints, self.checkpoints[-1], "checkpoints")
        if self.points > self.n_train:
            raise ValueError(f"points must be <= n_train ({self.n_train}), got {self.points}")


def _training_sets(cfg: TrainingConfig, key, name: str):
    """``(x, y)``: one training set per network, ``(trials, n_train, d)`` and ``(trials, n_train)``."""
    if name == "gaussian":
        kx, ky = jax.random.split(jax.random.fold_in(key, 3))
        x = jax.random.normal(kx, (cfg.trials, cfg.n_train, cfg.ds[0]), cfg.jdtype)
        return x, jax.random.randint(ky, (cfg.trials, cfg.n_train), 0, GAUSSIAN_CLASSES)
    d = cfg.image_d if name == "digits" else cfg.ds[0]
    sets = [load_dataset(name, d, n_train=cfg.n_train, n_test=1, seed=_seed(jax.random.fold_in(key, 3 + i)))
            for i in range(cfg.trials)]
    return jnp.stack([jnp.asarray(s.x_train) for s in sets]), jnp.stack([jnp.asarray(s.y_train) for s in sets])


def _cell(cfg: TrainingConfig, key, name: str) -> dict[str, np.ndarray] | None:
    """Per network and checkpoint: ``lower, upper, optimal, compression, correct`` of shape ``(nets, c, points)``
    and ``accuracy`` ``(nets, c)``."""
    try:
        x, y = _training_sets(cfg, key, name)
    except DataUnavailableError:
        return None
    model = relu_mlp(cfg.depth, cfg.width, GAUSSIAN_CLASSES if name == "gaussian" else 10)
    to_layers, dtype = layers_of(model), cfg.jdtype
    tc = TrainConfig(steps=cfg.checkpoints[-1], learning_rate=cfg.learning_rate)
    idx = jax.vmap(lambda k: jax.random.choice(k, cfg.n_train, (cfg.points,), replace=False))(
        jax.random.split(jax.random.fold_in(key, 1), cfg.trials))

    def one(args):
        k, xs, ys, ix = args
        ck = train_checkpoints(k, model, xs.astype(jnp.float32), ys, tc, cfg.checkpoints)
        xe, ye, ref = xs[ix].astype(dtype), ys[ix], (xs.astype(dtype), ys)

        def at(params):
            r = robustness(model.apply, jax.tree.map(lambda a: a.astype(dtype), params), xe, ye, reference=ref,
                           layers=to_layers(params, dtype), certify="crown", nodes=32)
            return {"lower": r.lower, "upper": r.upper, "optimal": r.optimal, "compression": r.compression,
                    "correct": r.predicted == ye}

        return {**jax.lax.map(at, ck.params), "accuracy": ck.accuracy}

    out = jax.jit(lambda a: map_batches(one, a, cfg.batch))((trial_keys(jax.random.fold_in(key, 2), cfg.trials),
                                                              x, y, idx))
    return {k: np.asarray(v) for k, v in out.items()}


def _per_net_mean(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Each network's mean over its valid points (NaN where it has none)."""
    with np.errstate(invalid="ignore"):
        return np.where(ok.sum(-1) > 0, np.nansum(np.where(ok, values, 0.0), -1) / ok.sum(-1), np.nan)


def _net_ci(per_net: np.ndarray, level: float) -> tuple[float, float, float]:
    v = per_net[np.isfinite(per_net)]
    if len(v) < 2:
        return float("nan"), float("nan"), float("nan")
    est = mean_ci(v, level)
    return est.value, est.low, est.high


@register(
    "gao2024_open.training_dynamics", paper=PAPER,
    statement="open question (Gao et al.): from initialisation to convergence, the compression ratio (mean |cos θ| "
              "on the path to the nearest other-class point) predicts robustness (attack radius over the optimal "
              "radius) at every checkpoint: a positive rank correlation across points, per checkpoint",
    source="open questions of the primary paper: compression through training [P]; protocol ours [D]",
    config=TrainingConfig(ds=(40,), trials=16),
    # Sized for power as gao2024.compression_predicts_robustness (Fisher z sd about 0.14 over networks at 64 points on
    # MNIST-1D): 8 networks at 32 points give a t half-width near 0.3 per checkpoint, enough where the trained
    # networks' correlation (mean z about 0.38 there) holds, and honest UNDECIDED where it is weaker. Quick (56 s on 2
    # cores, MNIST-1D alone 45 s: compilation dominates) stops at step 300, where the networks fit their 200 points.
    quick={"ds": (40,), "trials": 8, "datasets": ("digits", "mnist1d"), "checkpoints": (0, 30, 300)},
    work=lambda c: c.trials * len(c.datasets),
)
def training_dynamics(cfg: TrainingConfig, key, ctx: Run) -> Outcome:
    steps = cfg.checkpoints
    cells = [(name, s) for name in cfg.datasets for s in steps]
    level = 1 - ALPHA / len(cells)  # one correlation test per data set and checkpoint
    checks, table, skipped = [], [], []
    comp_lines, ratio_lines, rho_lines = [], [], []
    x_axis = np.log10(1.0 + np.asarray(steps, float))
    for name in cfg.datasets:
        kc = jax.random.fold_in(key, _IDS[name])
        out = ctx.cell(f"{name} training", lambda k=kc, n=name: _cell(cfg, k, n), key=kc, work=cfg.trials)
        if out is None:
            skipped.append(name)
            continue
        sw_ok, sw_detail = sandwich_check(out["lower"].ravel(), out["upper"].ravel(), out["correct"].ravel())
        checks.append(Check(f"{name}: sandwich lower <= upper at every checkpoint", sw_ok, sw_detail))
        series = {"comp": [], "ratio": [], "rho": []}
        for c, s in enumerate(steps):
            ok = out["correct"][:, c].astype(bool) & np.isfinite(out["upper"][:, c])
            meas = out["upper"][:, c] / out["optimal"][:, c]
            pred = out["compression"][:, c]
            comp = _net_ci(_per_net_mean(pred, ok), level)
            ratio = _net_ci(_per_net_mean(meas, ok), level)
            res = _replicate_spearman(pred, meas, ok, level)
            label = f"{name} step {s}"
            if res is None:
                checks.append(Check(f"{label}: compression predicts robustness", False,
                                    f"fewer than 2 networks with 5 correctly classified points "
                                    f"(training accuracy {np.mean(out['accuracy'][:, c]):.2f})",
                                    outcome="undecided", resolution="more evaluation points or networks"))
                r = lo = hi = float("nan")
            else:
                r, lo, hi, _ = res
                checks.append(interval_check(f"{label}: positive rank correlation between compression and "
                                             "robustness", r, lo, hi, at_least=0.0,
                                             why="a sign claim (the paper gives no effect size): Spearman, tanh of "
                                                 "the mean Fisher z over networks", what="networks", level=level))
            table.append({"data": name, "step": s, "train_accuracy": float(np.mean(out["accuracy"][:, c])),
                          "valid_points": int(ok.sum()), "mean_compression": comp[0], "compression_low": comp[1],
                          "compression_high": comp[2], "mean_upper_over_optimal": ratio[0],
                          "ratio_low": ratio[1], "ratio_high": ratio[2], "spearman": r, "ci_low": lo, "ci_high": hi,
                          "mean_lower_over_optimal": float(np.mean((out["lower"][:, c] / out["optimal"][:, c])[ok]))
                          if ok.any() else float("nan")})
            for k, v in (("comp", comp), ("ratio", ratio), ("rho", (r, lo, hi))):
                series[k].append(v)
        for k, sink in (("comp", comp_lines), ("ratio", ratio_lines), ("rho", rho_lines)):
            arr = np.asarray(series[k], float)
            keep = np.isfinite(arr).all(axis=1)
            if keep.any():
                sink.append(line(name, x_axis[keep], arr[keep, 0], arr[keep, 1], arr[keep, 2]))
    rhos = [t for t in table if np.isfinite(t["spearman"])]
    worst = min(rhos, key=lambda t: t["ci_low"]) if rhos else None
    xlabel = "log10(1 + training step)"
    return Outcome(
        statistic=worst["spearman"] if worst else float("nan"),
        statistic_name="Spearman correlation (tanh of mean Fisher z) at the checkpoint with the lowest CI bound",
        expected="> 0 at every checkpoint", ci_low=worst["ci_low"] if worst else float("nan"),
        ci_high=worst["ci_high"] if worst else float("nan"), level=level,
        n_trials=cfg.trials * len(cfg.datasets), checks=checks, table=table,
        series={"panels": [
            {"title": "Compression ratio through training", "xlabel": xlabel, "ylabel": "mean |cos θ| (valid points)",
             "lines": comp_lines},
            {"title": "Robustness through training", "xlabel": xlabel, "ylabel": "attack radius / optimal radius",
             "lines": ratio_lines},
            {"title": "Does compression predict robustness?", "xlabel": xlabel, "ylabel": "Spearman (CI)",
             "lines": rho_lines, "refs": [line("0", [x_axis[0], x_axis[-1]], [0.0, 0.0])]},
        ]} if comp_lines else {},
        caveats=([f"{', '.join(skipped)} not prepared on this machine: skipped (see `fcjax.data`)."] if skipped
                 else [])
        + ["Only points the network classifies correctly at a checkpoint count there (at initialisation about "
           "1/classes of them); 'valid_points' in the table says how many.",
           "Robustness is the attack's radius (an upper bound on the minimum); the CROWN lower bound is in the "
           "table. Full-batch Adam, no early stop: a checkpoint is a fixed step.",
           "Gaussian data: two random classes (a random-label interpolation task), d = ds[0]."],
    )
