"""Open question 3, depth × width × activation: does the √d gap of trained networks (robustness / optimal radius
falls like d^(−1/2)) hold whatever the depth, the width and the activation?

Every cell trains MLPs to interpolate d Gaussian points in R^d (one per class), as ``gao2024.sqrt_d_gap_relu``
does, and brackets each network's robustness at its training points: an attack above (``min_norm``, a verified
flip), a certificate below: CROWN for ReLU, the global Lipschitz bound for tanh and GELU (no linear relaxation of
those here), and the exact distance for linear networks (their layers collapse to one affine map). Each cell is
decided from the slopes the bracket allows (:func:`proofs_check.gao2024._gap.gap_fits`), Bonferroni over the cells.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from fcjax._validate import check_int
from fcjax.ensembles import gaussian_points
from fcjax.models import MLP
from fcjax.train import TrainConfig

from .._robust import measure_nets, per_net_ratio, sandwich_check, with_segment_fallback
from ..api import ALPHA, Check, Outcome, Run, SweepConfig, all_of, register
from ..gao2024._gap import gap_fits
from ._paper import PAPER


def _gelu(z: jax.Array) -> jax.Array:
    return jax.nn.gelu(z, approximate=False)  # the exact GELU: its Lipschitz constant is the certificate's


def _linear(z: jax.Array) -> jax.Array:
    return z


# name -> (the model's activation, its name in fcjax.certify.LIPSCHITZ_ACTIVATIONS). Module-level functions, so a
# model built twice is the same static argument to the jitted training (no recompilation).
ACTIVATIONS = {"relu": (nn.relu, "relu"), "tanh": (jnp.tanh, "tanh"), "gelu": (_gelu, "gelu"),
               "linear": (_linear, "identity")}
CERTIFICATE = {"relu": "CROWN", "tanh": "global Lipschitz", "gelu": "global Lipschitz",
               "linear": "exact (one affine map)"}


@dataclasses.dataclass(frozen=True)
class ArchitecturesConfig(SweepConfig):
    """The grid ``depths × widths × activations`` (width: hidden units per layer as a multiple of d), or the listed
    ``cells`` ``(depth, width, activation)`` where given (e.g. a cross through one centre cell)."""

    depths: tuple[int, ...] = (1, 2, 4, 8)
    widths: tuple[int, ...] = (1, 4, 16)
    activations: tuple[str, ...] = ("relu", "tanh", "gelu", "linear")
    cells: tuple[tuple[int, int, str], ...] = ()
    points: int = 8
    steps: int = 2000
    learning_rate: float = 1e-2
    batch: int = 4
    # CROWN's cost grows like depth² · width³ per sample and bisection step (10 s per sample at depth 8, width 512 on
    # 2 CPU cores, measured); above this product a ReLU cell is certified by the global Lipschitz bound instead
    crown_max_cost: float = 2.5e9
    min_d: int = dataclasses.field(default=4, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("points", "steps", "batch"):
            check_int(getattr(self, name), name, minimum=1)
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        for name in ("depths", "widths"):
            if not getattr(self, name):
                raise ValueError(f"{name} must list at least one value")
            for v in getattr(self, name):
                check_int(v, name, minimum=1)
        for cell in self.grid():
            if len(cell) != 3:
                raise ValueError(f"cells entries are (depth, width, activation), got {cell!r}")
            check_int(cell[0], "cells depth", minimum=1)
            check_int(cell[1], "cells width", minimum=1)
            if cell[2] not in ACTIVATIONS:
                raise ValueError(f"activation {cell[2]!r} is not one of {sorted(ACTIVATIONS)}")
        if len(set(self.grid())) != len(self.grid()):
            raise ValueError("cells must not repeat a cell")

    def grid(self) -> tuple[tuple[int, int, str], ...]:
        return tuple(self.cells) or tuple(itertools.product(self.depths, self.widths, self.activations))


def _crown_fits(cfg: ArchitecturesConfig, d: int, depth: int, width: int) -> bool:
    return depth**2 * float(width * d) ** 3 <= cfg.crown_max_cost


def _cell(cfg: ArchitecturesConfig, key, d: int, depth: int, width: int, activation: str) -> dict[str, np.ndarray]:
    fn, cert = ACTIVATIONS[activation]
    if cert == "relu" and not _crown_fits(cfg, d, depth, width):
        cert = "relu-lipschitz"
    model = MLP(hidden=(width * d,) * depth, classes=d, activation=fn)
    tc = TrainConfig(steps=cfg.steps, learning_rate=cfg.learning_rate, check_every=50, stop_at_accuracy=1.0)
    return measure_nets(model, lambda kk: (gaussian_points(kk, d, dtype=cfg.jdtype), jnp.arange(d)),
                        jnp.arange(min(cfg.points, d)), key, cfg.trials, tc, dtype=cfg.jdtype,
                        certify="lipschitz" if cert == "relu-lipschitz" else "crown", batch=cfg.batch,
                        activation="relu" if cert == "relu-lipschitz" else cert)


def _mean(a: np.ndarray) -> float | None:
    return float(np.mean(a)) if a.size else None


def _heatmap(cells, results, ds) -> dict:
    """The summary figure: the attack's slope per cell (rows: depth and width, columns: activation), each cell
    annotated with its CI half-width and outcome."""
    rows = list(dict.fromkeys((dp, w) for dp, w, _ in cells))
    cols = list(dict.fromkeys(a for _, _, a in cells))
    values = [[None] * len(cols) for _ in rows]
    notes = [[""] * len(cols) for _ in rows]
    for (dp, w, a), (fit, check) in zip(cells, results, strict=True):
        i, j = rows.index((dp, w)), cols.index(a)
        if fit is not None:
            up = fit.upper
            values[i][j] = up.slope
            notes[i][j] = f"{up.slope:.2f}±{(up.high - up.low) / 2:.2f}\n{check.outcome.upper()}"
        else:
            notes[i][j] = check.outcome.upper()
    return {"title": f"Attack's slope of robustness / optimal radius, d = {ds[0]}…{ds[-1]} (−0.5: the √d gap)",
            "xlabel": "activation", "ylabel": "depth, width",
            "heatmap": {"rows": [f"depth {dp}, {w}d" for dp, w in rows], "cols": cols, "values": values,
                        "notes": notes, "center": -0.5}}


@register(
    "gao2024_open.architectures", paper=PAPER,
    statement="the √d gap of MLPs trained to interpolate d Gaussian points in R^d (robustness / optimal radius "
              "falls at least like d^(−1/2)) holds at every depth (1, 2, 4, 8 hidden layers), width (d, 4d, 16d) "
              "and activation (ReLU, tanh, GELU, linear)",
    source="open question on depth, width and activation [B]; networks and bounds ours [D]",
    # full: d = 8, 16, 32 (a factor 4 in d; at d = 64 the 16d-wide cells take minutes per network on 2 CPU cores)
    config=ArchitecturesConfig(ds=(8, 16, 32), trials=4, points=4),
    # quick: three cells, one per kind of lower bound (CROWN, Lipschitz, exact), d = 8 and 32
    quick={"ds": (8, 32), "trials": 3, "points": 4, "steps": 1500,
           "cells": ((1, 4, "relu"), (2, 4, "tanh"), (1, 4, "linear"))},
    work=lambda c: c.trials * len(c.ds) * len(c.grid()),
)
def architectures(cfg: ArchitecturesConfig, key, ctx: Run) -> Outcome:
    ds, cells = list(cfg.ds), cfg.grid()
    level = 1 - ALPHA / len(cells)
    results, table, lows, ups, oks, fallbacks = [], [], [], [], [], 0
    for i, (depth, width, act) in enumerate(cells):
        name = f"depth {depth}, width {width}d, {act}"
        data = {}
        for d in ds:
            kd = jax.random.fold_in(jax.random.fold_in(key, i), d)
            data[d] = ctx.cell(f"{name} d={d}", lambda k=kd, d=d, c=(depth, width, act): _cell(cfg, k, d, *c),
                               key=kd, work=cfg.trials)
        fallback = 0
        for d in ds:  # an attack miss at a training point of a net that fits: the nearest other-class point bounds it
            data[d], m = with_segment_fallback(data[d])
            fallback += m
        fallbacks += fallback
        valid = {d: data[d]["accuracy"] == 1.0 for d in ds}
        lower = [per_net_ratio(data[d]["lower"], data[d]["optimal"], data[d]["correct"])[valid[d]] for d in ds]
        upper = [per_net_ratio(data[d]["upper"], data[d]["optimal"], data[d]["correct"])[valid[d]] for d in ds]
        sound = all(np.all(lo <= up * (1 + 1e-9)) for lo, up in zip(lower, upper, strict=True))
        if sound:
            fit, (check,) = gap_fits(ds, lower, upper, jax.random.fold_in(key, 10**6 + i), level, name)
        else:  # no slope from a bracket that contradicts itself; the sandwich check below says where
            fit, check = None, Check(f"{name}: robustness / optimal radius falls at least like d^(-1/2)", False,
                                     "a certified lower bound lies above a verified attack: the bracket is unsound",
                                     outcome="fail")
        results.append((fit, check))
        for d, lo, up in zip(ds, lower, upper, strict=True):
            out = data[d]
            lows.append(out["lower"].ravel())
            ups.append(out["upper"].ravel())
            oks.append(out["correct"].ravel())
            ok = out["correct"].astype(bool) & np.isfinite(out["upper"])
            table.append({
                "depth": depth, "width": f"{width}d", "activation": act, "d": d,
                "valid_nets": f"{int(valid[d].sum())}/{cfg.trials}", "mean_steps": float(np.mean(out["steps_run"])),
                "segment_fallbacks": fallback,
                "certificate": (CERTIFICATE[act] if act != "relu" or _crown_fits(cfg, d, depth, width)
                                else "global Lipschitz (CROWN too costly)"),
                "lower": _mean(lo), "upper": _mean(up),
                "sandwich": float(np.median(out["upper"][ok] / out["lower"][ok])) if ok.any() else None,
                "attack_slope": fit.upper.slope if fit else None,
                "bracket_slopes": f"[{fit.smin:.3f}, {fit.smax:.3f}]" if fit else None,
                "outcome": check.outcome})
    sw_ok, sw_detail = sandwich_check(np.concatenate(lows), np.concatenate(ups), np.concatenate(oks))
    checks = [Check("sandwich: certified lower <= attack upper on every sample", sw_ok, sw_detail),
              all_of("the gap in every cell (slope <= -1/2 within 0.05)", [c for _, c in results])]
    fits = [(f, cell) for (f, _), cell in zip(results, cells, strict=True) if f is not None]
    worst = max(fits, key=lambda fc: fc[0].smax, default=(None, None))[0]
    by = {o: [f"{dp}×{w}d {a}" for (dp, w, a), (_, c) in zip(cells, results, strict=True) if c.outcome == o]
          for o in ("pass", "fail", "undecided")}
    return Outcome(
        statistic=worst.smax if worst else math.nan,
        statistic_name="largest slope the bounds allow over the cells", expected="<= -0.5",
        ci_low=worst.low if worst else math.nan, ci_high=worst.high if worst else math.nan, level=level,
        n_trials=cfg.trials * len(ds) * len(cells), checks=checks, table=table,
        series=_heatmap(cells, results, ds),
        caveats=[f"Attack misses replaced by the distance to the nearest other-class training point (a verified but "
                 f"loose upper bound; 'segment_fallbacks' per cell): {fallbacks}.",
                 f"Cells that confirm d^(-1/2): {', '.join(by['pass']) or 'none'}; refute it: "
                 f"{', '.join(by['fail']) or 'none'}; cannot decide: {', '.join(by['undecided']) or 'none'}.",
                 "Lower bounds: " + "; ".join(f"{a}: {CERTIFICATE[a]}" for a in dict.fromkeys(c[2] for c in cells))
                 + f"; ReLU cells where depth² · width³ > {cfg.crown_max_cost:g} (CROWN's cost) by the global "
                 "Lipschitz bound ('certificate' column). The global Lipschitz bound (product of spectral norms) is "
                 "loose on deep or wide nets, so those cells and the tanh and GELU cells can rarely PASS or FAIL: "
                 "their attack slope (figure, 'attack_slope') says how fragile the networks are at least, "
                 "not how robust at most.",
                 "Networks that do not reach 100 % training accuracy are excluded (counted in 'valid_nets'); Adam "
                 f"lr {cfg.learning_rate}, at most {cfg.steps} steps, Flax's default (LeCun) initialisation for "
                 "every activation: our choices, the paper states none [N]."],
    )
