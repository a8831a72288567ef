"""Claims of Simon-Gabriel, Ollivier, Bottou, Schölkopf, Lopez-Paz, "First-Order Adversarial Vulnerability of Neural
Networks and Input Dimension" (ICML 2019, arXiv 1802.01421).

Statements are keyed to our notes ``shared/papers/paper_simongabriel2019.md`` (S1..S6; tags: [P] paper abstract,
[CODE] the authors' public code, [D] derived by us). We could not read the paper's body or figures, so no number of
theirs is a threshold: the claims test the first-order identities (exact asymptotics in ε or λ) and the scaling
laws (exponents ½ and 0). Networks follow the authors' protocol: He initialisation, ReLU, 3x3 convolutions,
cross-entropy; inputs are Gaussian or scikit-learn digits upsampled by pixel replication (their "bCIFAR" design).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats as st

from fcjax._validate import check_float, check_int
from fcjax.data import load_dataset
from fcjax.gradients import (
    adversarial_augmentation,
    calibrated_eps,
    damage,
    dual_direction,
    dual_exponent,
    gradient_penalty,
    input_gradients,
    lp_norm,
    protocol_pgd,
)
from fcjax.gradients import first_order_damage as linear_damage
from fcjax.models import ARCHITECTURES, he_init, protocol_net
from fcjax.train import TrainConfig, train

from ._common import trial_slopes
from .api import (
    ALPHA,
    Outcome,
    Run,
    SweepConfig,
    fit_line,
    interval_check,
    line,
    loglog_slope,
    order_check,
    register,
    slope_check,
)

PAPER = "Simon-Gabriel et al. 2019 (ICML, arXiv 1802.01421)"
LEVEL = 1 - ALPHA
INPUTS = ("gaussian", "digits", "mnist", "cifar10")
# Native (side, channels) of the real inputs: a sweep's d upsamples them by whole pixels, d = c·(side·m)². MNIST and
# CIFAR-10 come through tensorflow-datasets once prepared (fcjax.data says how); digits ship with scikit-learn.
NATIVE = {"digits": (8, 1), "mnist": (28, 1), "cifar10": (32, 3)}
CLASSES = 10


def image_shape(kind: str, d: int) -> tuple[int, int, int]:
    """The ``(side, side, channels)`` images of input ``kind`` at dimension ``d``; ``ValueError`` if ``d`` is not a
    whole-pixel upsampling of the native images (Gaussian inputs: ``d = s²`` or ``3·s²``)."""
    if kind == "gaussian":
        for c in (1, 3):
            side = math.isqrt(d // c)
            if side * side * c == d:
                return side, side, c
        raise ValueError(f"d must be s² or 3·s² for Gaussian image inputs, got {d}")
    s0, c = NATIVE[kind]
    side = math.isqrt(d // c)
    if side * side * c != d or side % s0:
        raise ValueError(f"d must be {'' if c == 1 else f'{c}·'}({s0}m)² for {kind} inputs (images upsample by whole "
                         f"pixels), got {d}")
    return side, side, c


# ------------------------------------------------------------------------------------------------ shared pieces
@dataclasses.dataclass(frozen=True)
class NetSweepConfig(SweepConfig):
    """A sweep of He-initialised networks of the protocol over d (whole-pixel upsamplings, :func:`image_shape`) and
    input kinds."""

    archs: tuple[str, ...] = ARCHITECTURES
    # Offline by default; "mnist" / "cifar10" (with d grids of their own, e.g. 3·(32m)²) once prepared.
    inputs: tuple[str, ...] = ("gaussian", "digits")
    batch: int = 8
    channels: int = 16
    layers: int = 4
    width: int = 256
    dilate: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, values, allowed in (("archs", self.archs, ARCHITECTURES), ("inputs", self.inputs, INPUTS)):
            if not values or any(v not in allowed for v in values) or len(set(values)) != len(values):
                raise ValueError(f"{name} must be distinct values from {allowed}, got {values!r}")
        for kind in self.inputs:
            for d in self.ds:
                image_shape(kind, d)
        for name in ("batch", "channels", "width"):
            check_int(getattr(self, name), name, minimum=1)
        check_int(self.layers, "layers", minimum=2)

    def net(self, arch: str, d: int, kind: str) -> Any:
        base = NATIVE.get(kind, (8, 1))[0] if self.dilate else None
        return protocol_net(arch, image_shape(kind, d), CLASSES, channels=self.channels, layers=self.layers,
                            base_side=base, width=self.width)

    def bytes_per_trial(self, d: int) -> int:
        # Activations of every layer, forward and backward, for the batch, plus a few extra passes' slack.
        return 8 * self.batch * d * (self.channels + 1) * (self.layers + 1) * 4 + 8 * self.width * (d + 64) * 4


def _split(kind: str, n_train: int | None = None, n_eval: int | None = None):
    """Native-size ``((x_train, y_train), (x_test, y_test))`` of a real input, standardised by the training split's
    global mean and std (so ||x||²/d is the same at every upsampling). Raises ``DataUnavailableError`` for MNIST or
    CIFAR-10 when they are not prepared."""
    n_test = None if n_eval is None else min(n_eval, {"digits": 360}.get(kind, 10000))
    data = load_dataset(kind, n_train=n_train, n_test=n_test)
    mu, sd = data.x_train.mean(), data.x_train.std()
    return (((data.x_train - mu) / sd).astype(np.float32), data.y_train), (((data.x_test - mu) / sd).astype(
        np.float32), data.y_test)


def _pool(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The images trials draw from: every digit (1797), or the test split of MNIST / CIFAR-10; a dummy for Gaussian."""
    if kind == "gaussian":
        return np.zeros((1, 1), np.float32), np.zeros((1,), np.int32)
    (x_tr, y_tr), (x_te, y_te) = _split(kind)
    return (np.concatenate([x_tr, x_te]), np.concatenate([y_tr, y_te])) if kind == "digits" else (x_te, y_te)


def _upsample(x: jax.Array, d: int, kind: str) -> jax.Array:
    """``(n, c·s0²)`` native images -> ``(n, d)`` by pixel replication (nearest neighbour, the protocol's
    ``Resize``), flattened row-major from ``(side, side, c)``."""
    s0, c = NATIVE[kind]
    f = image_shape(kind, d)[0] // s0
    img = x.reshape(x.shape[0], s0, s0, c)
    return jnp.repeat(jnp.repeat(img, f, axis=1), f, axis=2).reshape(x.shape[0], d)


def _inputs(key, pool_x, pool_y, *, d: int, kind: str, batch: int, dtype):
    """A batch of Gaussian inputs with random labels, or of upsampled real images with their labels."""
    kx, ky = jax.random.split(key)
    if kind == "gaussian":
        return jax.random.normal(kx, (batch, d), dtype), jax.random.randint(ky, (batch,), 0, CLASSES)
    idx = jax.random.randint(kx, (batch,), 0, pool_x.shape[0])
    return _upsample(pool_x[idx], d, kind).astype(dtype), pool_y[idx]


def _init_net(key, net, x, dtype):
    return he_init(net, key, x[:1], dtype)


def _cell_key(key, *ids: int):
    for i in ids:
        key = jax.random.fold_in(key, i)
    return key


def _net_sweep(cfg: NetSweepConfig, key, ctx: Run, trial, archs=None, inputs=None, **kwargs
               ) -> dict[tuple[str, str, int], dict[str, np.ndarray]]:
    """``{(arch, input, d): per-trial outputs}`` of ``trial(key, pool_x, pool_y, net=, d=, kind=, ...)``.

    Cell keys fold in the positions of arch and input in the global lists and d, so dropping a cell from the
    config leaves the others' numbers unchanged.
    """
    out = {}
    # Only what shapes the network and the batch: claims that differ elsewhere still share programs.
    net_cfg = NetSweepConfig(ds=(64,), batch=cfg.batch, channels=cfg.channels, layers=cfg.layers, width=cfg.width,
                             dilate=cfg.dilate, dtype=cfg.dtype, trials=1)
    for arch in archs or cfg.archs:
        for kind in inputs or cfg.inputs:
            pool = _pool(kind)
            for d in cfg.ds:
                fn = _trial_fn(trial, net_cfg, arch, d, kind, tuple(sorted(kwargs.items())))
                out[arch, kind, d] = ctx.map_trials(
                    fn, _cell_key(key, ARCHITECTURES.index(arch), INPUTS.index(kind), d), cfg.trials,
                    cell=f"{arch} {kind} d={d}", chunk_size=cfg.chunk(cfg.bytes_per_trial(d)), shared=pool)
    return out


def _upper(ds: tuple[int, ...]) -> tuple[int, ...]:
    """The upper half of the grid (at least two points): the scaling laws are limits d -> inf, and finite-d terms
    (O(1/d) for i.i.d.-like gradient coordinates) bend the small-d end, so checks fit exponents there."""
    return ds[min(len(ds) // 2, len(ds) - 2):]


@functools.lru_cache(maxsize=256)
def _trial_fn(trial, cfg: NetSweepConfig, arch: str, d: int, kind: str, kwargs: tuple):
    # The same function object for the same network and settings, so claims that measure the same cells (e.g.
    # grad_norm_init and avgpool_vs_strided) reuse one compiled program through map_trials' cache.
    return partial(trial, net=cfg.net(arch, d, kind), d=d, kind=kind, batch=cfg.batch, dtype=cfg.jdtype, **dict(kwargs))


def _cells(cfg: NetSweepConfig, archs=None, inputs=None) -> int:
    return len(archs or cfg.archs) * len(inputs or cfg.inputs)


def _order_outcome(cfg, data, checks, table, lines, level, *, slope_key, grid, ref, statistic_name, expected,
                   series, caveats) -> Outcome:
    """The verdict of an order-of-convergence claim: mean per-network slope, a slope-1 reference line."""
    return Outcome(
        statistic=float(np.mean([r[slope_key] for r in table])),
        statistic_name=statistic_name, expected=expected, ci_low=float("nan"), ci_high=float("nan"), level=level,
        n_trials=cfg.trials * len(data), checks=checks, table=table,
        series={**series, "loglog": True, "lines": lines, "refs": [line("slope 1", grid, grid / grid[0] * ref)]},
        caveats=caveats)


# ------------------------------------------------------------------------------------------ first_order_damage
@dataclasses.dataclass(frozen=True)
class DamageConfig(NetSweepConfig):
    eps: tuple[float, ...] = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3)
    pgd_steps: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.eps) < 4 or any(not 0 < e < 1 for e in self.eps) or list(self.eps) != sorted(set(self.eps)):
            raise ValueError(f"eps must be at least 4 increasing values in (0, 1), got {self.eps!r}")
        check_int(self.pgd_steps, "pgd_steps", minimum=1)


def _damage_trial(key, pool_x, pool_y, *, net, d, kind, batch, dtype, eps, pgd_steps):
    kp, kd = jax.random.split(key)
    x, y = _inputs(kd, pool_x, pool_y, d=d, kind=kind, batch=batch, dtype=dtype)
    params = _init_net(kp, net, x, dtype)
    g = input_gradients(net.apply, params, x, y)
    first = jnp.sum(lp_norm(g, 1))
    direction = dual_direction(g, math.inf)

    def at(e):
        fgsm = jnp.sum(damage(net.apply, params, x, y, e * direction))
        pgd = jnp.sum(damage(net.apply, params, x, y, protocol_pgd(net.apply, params, x, y, e, pgd_steps)))
        return fgsm / (e * first), pgd / (e * first)

    fgsm, pgd = jax.lax.map(at, jnp.asarray(eps, dtype))
    return {"fgsm": fgsm, "pgd": pgd}


@register(
    "simon_gabriel2019.first_order_damage", paper=PAPER,
    statement="the l_inf damage max_{||δ||_inf<=ε} L(x+δ) − L(x) equals ε·||∂_x L||_1 + O(ε²): the ratio of the "
              "damage FGSM and PGD achieve to ε||∂_x L||_1 tends to 1 and its gap shrinks like ε",
    source="abstract: vulnerability increases with the input gradients [P]; first-order expansion, notes S1 [D]; "
           "PGD-l_inf protocol (10 steps of ε/7.5 from 0) [CODE]",
    config=DamageConfig(ds=(64, 1024), trials=64, dtype="float64"),
    quick={"ds": (64, 256), "trials": 24, "archs": ("mlp", "strided"), "inputs": ("digits",)},
    work=lambda c: c.trials * len(c.ds) * _cells(c),
)
def first_order_damage(cfg: DamageConfig, key, ctx: Run) -> Outcome:
    data = _net_sweep(cfg, key, ctx, _damage_trial, eps=cfg.eps, pgd_steps=cfg.pgd_steps)
    eps = np.asarray(cfg.eps)
    level = 1 - ALPHA / (2 * len(data))
    checks, table, lines = [], [], []
    for (arch, kind, d), out in data.items():
        row = {"arch": arch, "input": kind, "d": d}
        for attack in ("fgsm", "pgd"):
            gap = np.abs(out[attack] - 1)
            est, check = order_check(f"{arch}/{kind}/d={d}: {attack.upper()} gap |ratio − 1| is O(ε)", eps, gap, 1.0,
                                     level)
            checks.append(check)
            row[f"{attack}_ratio_at_eps_min"] = float(np.mean(out[attack][:, 0]))
            row[f"{attack}_ratio_at_eps_max"] = float(np.mean(out[attack][:, -1]))
            row[f"{attack}_gap_slope"] = est.value
            lines.append(line(f"{attack.upper()} {arch}/{kind} d={d} (slope {est.value:.2f})", eps,
                              np.exp(np.mean(np.log(np.maximum(gap, 1e-300)), axis=0))))
        table.append(row)
    ref = float(np.exp(np.mean(np.log(np.maximum(np.abs(data[next(iter(data))]["fgsm"][:, 0] - 1), 1e-300)))))
    return _order_outcome(
        cfg, data, checks, table, lines, level, slope_key="fgsm_gap_slope", grid=eps, ref=ref,
        statistic_name="mean log-log slope of the FGSM gap in ε", expected="1 (ratio → 1 linearly in ε)",
        series={"title": "Damage / first-order prediction: |ratio − 1| against ε", "xlabel": "ε",
                "ylabel": "|damage / (ε‖∂ₓL‖₁) − 1| (geometric mean)"},
        caveats=["He-initialised networks (the theorem's setting); ReLU kinks crossed inside the ε-ball add terms of "
                 "the same order, so the slope is an average over samples, not a per-sample Taylor remainder.",
                 "Ratios are per network: the sum of the batch's damages over ε times the sum of their l1 gradient "
                 "norms."],
    )


# ------------------------------------------------------------------------------------------------ grad_norm_init
def _norm_trial(key, pool_x, pool_y, *, net, d, kind, batch, dtype):
    kp, kd = jax.random.split(key)
    x, y = _inputs(kd, pool_x, pool_y, d=d, kind=kind, batch=batch, dtype=dtype)
    g = input_gradients(net.apply, _init_net(kp, net, x, dtype), x, y)
    return {"l1": jnp.mean(lp_norm(g, 1)), "l2": jnp.mean(lp_norm(g, 2))}


def _norm_fits(cfg, data, key, level, archs, inputs, ds):
    fits = {}
    for i, arch in enumerate(archs):
        for j, kind in enumerate(inputs):
            for k, norm in enumerate(("l1", "l2")):
                fits[arch, kind, norm] = loglog_slope(ds, [data[arch, kind, d][norm] for d in ds],
                                                      _cell_key(key, 10**6, i, j, k), level=level)
    return fits


def _norm_panels(cfg, data, fits, archs, inputs, title):
    panels = []
    for norm, expo in (("l1", 0.5), ("l2", 0.0)):
        lines, fit_lines = [], []
        for arch in archs:
            for kind in inputs:
                means = [float(np.mean(data[arch, kind, d][norm])) for d in cfg.ds]
                lines.append(line(f"{arch}/{kind}", cfg.ds, means))
                fit_lines.append(fit_line(f"{arch}/{kind}", fits[arch, kind, norm]))
        panels.append({"title": f"{title}: E‖∂ₓL‖_{norm[1]} (predicted slope {expo:g})", "xlabel": "d",
                       "ylabel": f"mean ‖∂ₓL‖_{norm[1]}", "loglog": True, "lines": lines, "fits": fit_lines})
    return panels


@register(
    "simon_gabriel2019.grad_norm_init", paper=PAPER,
    statement="at He initialisation E||∂_x L||_1 grows like √d and E||∂_x L||_2 does not depend on d, for the MLP, "
              "the strided CNN, the average-pooling CNN and a residual net",
    source="abstract: 'at initialization, the l1-norm of these gradients grows as the square root of the input "
           "dimension' [P]; l2 = O(1) and the exponents derived in notes S4 [D]; He init [CODE]",
    config=NetSweepConfig(ds=(64, 256, 1024, 4096, 16384), trials=128, dtype="float32"),
    quick={"ds": (64, 256, 1024), "trials": 32, "channels": 8},
    work=lambda c: c.trials * len(c.ds) * _cells(c),
)
def grad_norm_init(cfg: NetSweepConfig, key, ctx: Run) -> Outcome:
    data = _net_sweep(cfg, key, ctx, _norm_trial)
    m = 2 * _cells(cfg)
    level = 1 - ALPHA / m
    upper = _upper(cfg.ds)
    fits = _norm_fits(cfg, data, key, level, cfg.archs, cfg.inputs, cfg.ds)
    tail = _norm_fits(cfg, data, jax.random.fold_in(key, 1), level, cfg.archs, cfg.inputs, upper)
    checks, table = [], []
    for arch in cfg.archs:
        for kind in cfg.inputs:
            f1, f2 = tail[arch, kind, "l1"], tail[arch, kind, "l2"]
            span = f"d={upper[0]}..{upper[-1]}"
            checks += [slope_check(f"{arch}/{kind}: l1 norm grows like √d ({span})", f1, equals=0.5,
                                   why="a tenth of the √d effect"),
                       slope_check(f"{arch}/{kind}: l2 norm does not depend on d ({span})", f2, equals=0.0,
                                   why="d-free: a tenth of the effect ½")]
            for d in cfg.ds:
                l1, l2 = data[arch, kind, d]["l1"], data[arch, kind, d]["l2"]
                table.append({"arch": arch, "input": kind, "d": d, "mean_l1": float(np.mean(l1)),
                              "l1_over_sqrt_d": float(np.mean(l1)) / math.sqrt(d), "mean_l2": float(np.mean(l2)),
                              "l1_over_sqrt_d_l2": float(np.mean(l1 / (math.sqrt(d) * l2))),
                              "l1_slope_all_d": fits[arch, kind, "l1"].slope,
                              "l2_slope_all_d": fits[arch, kind, "l2"].slope})
    f1 = [tail[a, k, "l1"] for a in cfg.archs for k in cfg.inputs]
    return Outcome(
        statistic=float(np.mean([f.slope for f in f1])),
        statistic_name=f"mean l1 slope over architectures and inputs (d={upper[0]}..{upper[-1]})",
        expected="0.5 (l1), 0 (l2)",
        ci_low=min(f.low for f in f1), ci_high=max(f.high for f in f1), level=level,
        n_trials=cfg.trials * len(data), checks=checks, table=table,
        series={"panels": _norm_panels(cfg, data, fits, cfg.archs, cfg.inputs, "At initialisation")},
        caveats=["No batch norm (the authors' nets have it): per-sample gradients must not mix samples.",
                 f"Conv nets: {cfg.layers} blocks of 3x3 convs with {cfg.channels} maps, subsampling by 2 after the "
                 "first, a linear readout of the last plane; dilation 1 unless dilate=True. With the protocol's "
                 "dilation (side/8) a stride-2 convolution reads only even pixels, and the input gradient is 0 on "
                 "3/4 of them (we saw its l1 norm stop growing): a property of that combination, not of the theorem.",
                 "For i.i.d. Gaussian gradient coordinates ‖g‖₁/(√d‖g‖₂) → √(2/π) ≈ 0.798 [D] (table).",
                 "Checks fit the upper half of the d grid (the laws are limits); the table and plot give the slopes "
                 "over the whole grid too."],
    )


# ------------------------------------------------------------------------------------------------ lp_calibration
@dataclasses.dataclass(frozen=True)
class CalibrationConfig(NetSweepConfig):
    ps: tuple[float, ...] = (math.inf, 4.0, 2.0, 4 / 3)
    eps_inf: float = 1e-4

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.ps or self.ps[0] != math.inf or any(not 1 < p < math.inf for p in self.ps[1:]):
            raise ValueError(f"ps must start with inf, then values in (1, inf), got {self.ps!r}")
        check_float(self.eps_inf, "eps_inf", low=0.0, open_low=True)


def _calibration_trial(key, pool_x, pool_y, *, net, d, kind, batch, dtype, ps, eps_inf):
    kp, kd = jax.random.split(key)
    x, y = _inputs(kd, pool_x, pool_y, d=d, kind=kind, batch=batch, dtype=dtype)
    params = _init_net(kp, net, x, dtype)
    g = input_gradients(net.apply, params, x, y)
    first, real = [], []
    for p in (*ps, 1.0):
        e = calibrated_eps(eps_inf, d, p)
        first.append(jnp.sum(linear_damage(g, e, p)))
        real.append(jnp.sum(damage(net.apply, params, x, y, e * dual_direction(g, p))))
    return {"first": jnp.stack(first), "real": jnp.stack(real)}


def _lq_reference(p: float) -> float:
    """(E|Z|^q)^(1/q) / E|Z| for Z ~ N(0, 1): the d-free ratio if gradient coordinates were i.i.d. Gaussian [D]."""
    q = dual_exponent(p)
    moment = 2 ** (q / 2) * math.gamma((q + 1) / 2) / math.sqrt(math.pi)
    return moment ** (1 / q) / math.sqrt(2 / math.pi)


@register(
    "simon_gabriel2019.lp_calibration", paper=PAPER,
    statement="with ε_p = ε_inf·d^(1/p), the first-order damage ε_p||∂_x L||_q is the same function of d for every "
              "p: its ratio to the l_inf damage does not depend on d",
    source="threshold calibration d^(1/p) in the authors' penalties and attacks [CODE]; notes S3 [D]",
    config=CalibrationConfig(ds=(64, 256, 1024, 4096, 16384), trials=128, dtype="float64"),
    quick={"ds": (64, 256, 1024), "trials": 32, "archs": ("mlp", "avgpool"), "inputs": ("gaussian",),
           "channels": 8},
    work=lambda c: c.trials * len(c.ds) * _cells(c),
)
def lp_calibration(cfg: CalibrationConfig, key, ctx: Run) -> Outcome:
    data = _net_sweep(cfg, key, ctx, _calibration_trial, ps=cfg.ps, eps_inf=cfg.eps_inf)
    ps, upper = cfg.ps[1:], _upper(cfg.ds)
    m = len(ps) * _cells(cfg)
    level = 1 - ALPHA / m
    checks, table, lines, fits, tails = [], [], [], [], []
    for i, arch in enumerate(cfg.archs):
        for j, kind in enumerate(cfg.inputs):
            for k, p in enumerate(ps, start=1):
                ratio = {d: data[arch, kind, d]["first"][:, k] / data[arch, kind, d]["first"][:, 0] for d in cfg.ds}
                ratios = [ratio[d] for d in cfg.ds]
                fit = loglog_slope(cfg.ds, ratios, _cell_key(key, 10**6, i, j, k), level=level)
                tail = loglog_slope(upper, [ratio[d] for d in upper], _cell_key(key, 10**7, i, j, k), level=level)
                checks.append(slope_check(f"{arch}/{kind}: l_{p:.3g} damage / l_inf damage is d-free "
                                          f"(d={upper[0]}..{upper[-1]}; all d: {fit.slope:.3f})", tail,
                                          equals=0.0, why="d-free: a tenth of the effect ½"))
                lines.append(line(f"p={p:.3g} {arch}/{kind}", cfg.ds, [float(np.mean(r)) for r in ratios]))
                fits.append(fit)
                tails.append(tail)
            for d in cfg.ds:
                first, real = data[arch, kind, d]["first"], data[arch, kind, d]["real"]
                row = {"arch": arch, "input": kind, "d": d}
                for k, p in enumerate((*cfg.ps, 1.0)):
                    row[f"p={p:.3g}"] = {"ratio_to_inf": float(np.mean(first[:, k] / first[:, 0])),
                                         "real/first": float(np.mean(real[:, k] / first[:, k]))}
                table.append(row)
    refs = [line(f"i.i.d. Gaussian reference p={p:.3g} [D]", cfg.ds, [_lq_reference(p)] * len(cfg.ds)) for p in ps]
    return Outcome(
        statistic=float(np.max([abs(f.slope) for f in tails])),
        statistic_name=f"largest |slope| of a damage ratio in d (d={upper[0]}..{upper[-1]})", expected="0 for every p",
        ci_low=min(f.low for f in tails), ci_high=max(f.high for f in tails), level=level,
        n_trials=cfg.trials * len(data), checks=checks, table=table,
        series={"title": "l_p damage / l_inf damage at ε_p = ε_inf·d^(1/p)", "xlabel": "d",
                "ylabel": "damage ratio", "loglog": True, "lines": lines, "fits": [fit_line("fit", f) for f in fits],
                "refs": refs},
        caveats=["p = 1 (q = inf) is reported (table, p=1) but not tested: max_i |g_i| carries a √(2 ln d) factor for "
                 "spread-out gradients, so its ratio grows slowly [D].",
                 f"'real/first' is the damage of the one-step dual-direction attack at ε_inf = {cfg.eps_inf:g} over "
                 "its first-order prediction (→ 1 at first order).",
                 "Checks fit the upper half of the d grid (the law is a limit); the plotted fits use the whole grid."],
    )


# ------------------------------------------------------------------------------------ penalty_equals_adv_training
@dataclasses.dataclass(frozen=True)
class PenaltyConfig(NetSweepConfig):
    lams: tuple[float, ...] = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3)
    qs: tuple[float, ...] = (1.0, 2.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.lams) < 4 or any(not 0 < v < 1 for v in self.lams) or list(self.lams) != sorted(set(self.lams)):
            raise ValueError(f"lams must be at least 4 increasing values in (0, 1), got {self.lams!r}")
        if not self.qs or any(not 1 <= q < math.inf for q in self.qs):
            raise ValueError(f"qs must be values in [1, inf), got {self.qs!r}")


def _flat(tree) -> jax.Array:
    return jnp.concatenate([a.ravel() for a in jax.tree.leaves(tree)])


def _penalty_trial(key, pool_x, pool_y, *, net, d, kind, batch, dtype, lams, qs):
    kp, kd = jax.random.split(key)
    x, y = _inputs(kd, pool_x, pool_y, d=d, kind=kind, batch=batch, dtype=dtype)
    params = _init_net(kp, net, x, dtype)
    value, grad = [], []
    for q in qs:
        def both(lam, q=q):
            pen = jax.value_and_grad(lambda p: gradient_penalty(net.apply, p, x, y, lam, q))(params)
            adv = jax.value_and_grad(lambda p: adversarial_augmentation(net.apply, p, x, y, lam, q))(params)
            gp, ga = _flat(pen[1]), _flat(adv[1])
            return jnp.abs(adv[0] - pen[0]) / pen[0], jnp.linalg.norm(ga - gp) / jnp.linalg.norm(gp)

        v, g = jax.lax.map(both, jnp.asarray(lams, dtype))
        value.append(v)
        grad.append(g)
    return {"value": jnp.stack(value), "grad": jnp.stack(grad)}


@register(
    "simon_gabriel2019.penalty_equals_adv_training", paper=PAPER,
    statement="training on single-step adversarial examples of size λ·d^(1/p) and the gradient penalty "
              "λ·d^(1−1/q)·||∂_x L||_q agree at first order: objectives and parameter gradients differ by O(λ²), "
              "relative difference O(λ)",
    source="early abstract: double back-propagation 'is equivalent at first order to training with adversarial "
           "noise' [P]; gPenalty / advAugment with the same scale [CODE]; notes S2 [D]",
    config=PenaltyConfig(ds=(64, 1024), trials=64, dtype="float64"),
    quick={"ds": (64, 256), "trials": 16, "archs": ("mlp", "strided"), "inputs": ("digits",), "channels": 8},
    work=lambda c: c.trials * len(c.ds) * _cells(c),
)
def penalty_equals_adv_training(cfg: PenaltyConfig, key, ctx: Run) -> Outcome:
    data = _net_sweep(cfg, key, ctx, _penalty_trial, lams=cfg.lams, qs=cfg.qs)
    lams = np.asarray(cfg.lams)
    level = 1 - ALPHA / (len(cfg.qs) * len(data))
    checks, table, lines = [], [], []
    for (arch, kind, d), out in data.items():
        for i, q in enumerate(cfg.qs):
            rel = out["value"][:, i]
            est, check = order_check(f"{arch}/{kind}/d={d}/q={q:g}: relative objective difference is O(λ)", lams,
                                     rel, 1.0, level)
            checks.append(check)
            grad = out["grad"][:, i]
            table.append({"arch": arch, "input": kind, "d": d, "q": q, "value_slope": est.value,
                          "value_rel_diff_at_lam_min": float(np.mean(rel[:, 0])),
                          "value_rel_diff_at_lam_max": float(np.mean(rel[:, -1])),
                          "param_grad_slope": float(np.mean(trial_slopes(lams, grad))),
                          "param_grad_rel_diff_at_lam_min": float(np.mean(grad[:, 0])),
                          "param_grad_rel_diff_at_lam_max": float(np.mean(grad[:, -1]))})
            lines.append(line(f"objective {arch}/{kind} d={d} q={q:g} ({est.value:.2f})", lams,
                              np.exp(np.mean(np.log(rel), axis=0))))
            lines.append(line(f"parameter gradient {arch}/{kind} d={d} q={q:g}", lams,
                              np.exp(np.mean(np.log(grad), axis=0))))
    ref = float(np.exp(np.mean(np.log(data[next(iter(data))]["value"][:, 0, 0]))))
    return _order_outcome(
        cfg, data, checks, table, lines, level, slope_key="value_slope", grid=lams, ref=ref,
        statistic_name="mean log-log slope of the relative objective difference in λ", expected="1",
        series={"title": "Adversarial augmentation vs gradient penalty", "xlabel": "λ",
                "ylabel": "relative difference (geometric mean)"},
        caveats=["The adversarial example is held fixed when differentiating (it is data), as in the authors' code.",
                 "Networks at He initialisation; the identity is local, so it holds at any parameters.",
                 "Parameter gradients are compared too (table, plot) but not tested: on a batch of a ReLU net the "
                 "adversarial loss's parameter gradient jumps by O(1) whenever the perturbation switches a unit "
                 "(probability O(λ) per unit), which the double-back-propagation gradient never sees; their "
                 "relative difference is ≈ λ while no unit switches and grows faster than λ after (slopes > 1)."],
    )


# ------------------------------------------------------------------------------------------------- after_training
@dataclasses.dataclass(frozen=True)
class TrainedConfig(NetSweepConfig):
    """Networks trained on upsampled real images with the gradient penalty at several λ (``trials``: nets per
    cell)."""

    inputs: tuple[str, ...] = ("digits",)
    lams: tuple[float, ...] = (0.0, 1.0, 10.0)
    penalty: str = "grad"
    q: float = 1.0
    n_train: int = 500
    n_eval: int = 256
    steps: int = 300
    batch_size: int = 64
    learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        if "gaussian" in self.inputs:
            raise ValueError(f"inputs must be real data sets to train on (digits, mnist, cifar10), got {self.inputs!r}")
        if len(self.lams) < 2 or self.lams[0] != 0 or list(self.lams) != sorted(set(self.lams)):
            raise ValueError(f"lams must start at 0 and increase, got {self.lams!r}")
        TrainConfig(steps=self.steps, learning_rate=self.learning_rate, batch_size=self.batch_size,
                    penalty=self.penalty, penalty_lambda=self.lams[-1], penalty_q=self.q)
        for name in ("n_train", "n_eval"):
            check_int(getattr(self, name), name, minimum=2)
        if self.trials < 3:
            raise ValueError(f"trials (networks per cell) must be >= 3 for a slope interval, got {self.trials}")

    def bytes_per_trial(self, d: int) -> int:
        return 16 * (self.n_train + self.n_eval) * d * (self.channels + 1) * (self.layers + 1) * 4


def _trained_trial(key, x_tr, y_tr, x_ev, y_ev, *, net, d, kind, train_cfg, dtype):
    xt, xe = _upsample(x_tr, d, kind).astype(dtype), _upsample(x_ev, d, kind).astype(dtype)
    res = train(key, net, xt, y_tr, train_cfg, init=he_init)
    g = input_gradients(net.apply, res.params, xe, y_ev)
    acc = jnp.mean(jnp.argmax(net.apply(res.params, xe), axis=1) == y_ev)
    return {"l1": jnp.mean(lp_norm(g, 1)), "l2": jnp.mean(lp_norm(g, 2)), "accuracy": acc}


def _trained_sweep(cfg: TrainedConfig, key, ctx: Run, arch: str, kind: str) -> dict[tuple[float, int], dict]:
    (x_tr, y_tr), (x_ev, y_ev) = _split(kind, cfg.n_train, cfg.n_eval)
    out = {}
    for i, lam in enumerate(cfg.lams):
        tc = TrainConfig(steps=cfg.steps, learning_rate=cfg.learning_rate, batch_size=cfg.batch_size,
                         penalty=cfg.penalty if lam > 0 else None, penalty_lambda=lam, penalty_q=cfg.q)
        for d in cfg.ds:
            fn = partial(_trained_trial, net=cfg.net(arch, d, kind), d=d, kind=kind, train_cfg=tc, dtype=cfg.jdtype)
            out[lam, d] = ctx.map_trials(fn, _cell_key(key, ARCHITECTURES.index(arch), INPUTS.index(kind), i, d),
                                         cfg.trials, cell=f"{arch} {kind} lambda={lam} d={d}",
                                         chunk_size=cfg.chunk(cfg.bytes_per_trial(d)), shared=(x_tr, y_tr, x_ev, y_ev))
    return out


def _diff_ci(a, b, level: float) -> tuple[float, float]:
    """Confidence limits of ``a.slope − b.slope`` for two independent bootstrap fits (normal intervals)."""
    z = st.norm.ppf(0.5 + a.level / 2)
    se = math.hypot((a.high - a.low) / (2 * z), (b.high - b.low) / (2 * z))
    half = st.norm.ppf(0.5 + level / 2) * se
    return (a.slope - b.slope) - half, (a.slope - b.slope) + half


@register(
    "simon_gabriel2019.after_training", paper=PAPER,
    statement="after ordinary training the l1 input-gradient norm still grows with d (slope near ½); with a growing "
              "gradient penalty λ the slope decreases",
    source="abstract: 'this dimension dependence persists after either usual or robust training, but gets "
           "attenuated with higher regularization' [P]; gradient penalty gPenalty [CODE]; notes S5",
    config=TrainedConfig(ds=(64, 256, 1024, 4096), trials=8, archs=("mlp", "strided"), inputs=("digits",),
                         lams=(0.0, 0.3, 1.0, 3.0, 10.0), steps=1000, n_train=1437, channels=16),
    quick={"ds": (64, 256, 1024), "trials": 5, "archs": ("mlp",), "width": 64, "steps": 150,
           "lams": (0.0, 1.0, 10.0)},
    work=lambda c: c.trials * len(c.ds) * len(c.lams) * _cells(c),
)
def after_training(cfg: TrainedConfig, key, ctx: Run) -> Outcome:
    level = 1 - ALPHA / (_cells(cfg) * len(cfg.lams))
    checks, table, lines, fit_lines, first = [], [], [], [], None
    for a, arch in enumerate(cfg.archs):
        for kind in cfg.inputs:
            cell = f"{arch}/{kind}"
            data = _trained_sweep(cfg, key, ctx, arch, kind)
            fits = {lam: loglog_slope(cfg.ds, [data[lam, d]["l1"] for d in cfg.ds],
                                      _cell_key(key, 10**6, a, INPUTS.index(kind), i), level=level)
                    for i, lam in enumerate(cfg.lams)}
            f0 = fits[0.0]
            first = first or (cell, f0)
            # sign claims (the paper gives no effect sizes here): threshold 0
            checks.append(slope_check(f"{cell}: λ=0, the l1 norm still grows with d", f0, at_least=0.0, margin=0.0,
                                      why="at init: 0.5", what="networks"))
            for lam_lo, lam_hi in itertools.pairwise(cfg.lams):
                low, high = _diff_ci(fits[lam_lo], fits[lam_hi], level)
                drop = fits[lam_lo].slope - fits[lam_hi].slope
                checks.append(interval_check(f"{cell}: slope at λ={lam_hi:g} below slope at λ={lam_lo:g}", drop, low,
                                             high, at_least=0.0, what="networks", level=level,
                                             why=f"drop {fits[lam_lo].slope:.3f} -> {fits[lam_hi].slope:.3f}"))
            for lam in cfg.lams:
                lines.append(line(f"{cell} λ={lam:g}", cfg.ds, [float(np.mean(data[lam, d]["l1"])) for d in cfg.ds]))
                fit_lines.append(fit_line(f"{cell} λ={lam:g}", fits[lam]))
                table += [{"arch": arch, "input": kind, "lambda": lam, "d": d,
                           "mean_l1": float(np.mean(data[lam, d]["l1"])), "mean_l2": float(np.mean(data[lam, d]["l2"])),
                           "test_accuracy": float(np.mean(data[lam, d]["accuracy"])), "l1_slope": fits[lam].slope}
                          for d in cfg.ds]
    cell, f0 = first
    return Outcome(
        statistic=f0.slope, statistic_name=f"l1 slope after training (λ=0, "
        f"{cell})", expected="> 0 (near 0.5), decreasing in λ", ci_low=f0.low, ci_high=f0.high, level=level,
        n_trials=cfg.trials * len(cfg.ds) * len(cfg.lams) * _cells(cfg), checks=checks, table=table,
        series={"title": "Trained on upsampled images: l1 gradient norm on test images", "xlabel": "d",
                "ylabel": "mean ‖∂ₓL‖₁", "loglog": True, "lines": lines, "fits": fit_lines},
        caveats=["λ spans no penalty to a penalty that costs accuracy (table: test_accuracy per d); a drop of "
                 "accuracy at small d only means the penalty binds harder where the data have no directions to "
                 "spare, which raises the slope.",
                 f"Penalty '{cfg.penalty}' with q={cfg.q:g}; λ values, steps ({cfg.steps}), Adam lr "
                 f"{cfg.learning_rate:g} and {cfg.n_train} training digits are our choices (the paper's sweep values "
                 "are not in the authors' repository).",
                 "Slope intervals bootstrap over networks (trials) per λ; the drop between consecutive λ is tested "
                 "with the two intervals' standard errors combined."],
    )


# --------------------------------------------------------------------------------------------- avgpool_vs_strided
@register(
    "simon_gabriel2019.avgpool_vs_strided", paper=PAPER,
    statement="replacing strided convolutions by average pooling decreases the input-gradient norms (and so the "
              "first-order vulnerability) at the same d",
    source="early abstract (deepai copy): 'replacing strided by average-pooling layers decreases adversarial "
           "vulnerability' [P]; notes S6 (heuristic [D])",
    config=NetSweepConfig(ds=(64, 256, 1024, 4096), trials=128, archs=("strided", "avgpool"), dtype="float32"),
    quick={"ds": (64, 256, 1024), "trials": 32, "channels": 8},
    work=lambda c: c.trials * len(c.ds) * _cells(c, ("strided", "avgpool")),
)
def avgpool_vs_strided(cfg: NetSweepConfig, key, ctx: Run) -> Outcome:
    archs = ("strided", "avgpool")
    data = _net_sweep(cfg, key, ctx, _norm_trial, archs=archs)
    m = len(cfg.inputs) * len(cfg.ds)
    level = 1 - ALPHA / m
    z = st.norm.ppf(level)
    checks, table, ratios = [], [], []
    for kind in cfg.inputs:
        for d in cfg.ds:
            a, s = data["avgpool", kind, d]["l1"], data["strided", kind, d]["l1"]
            r = float(np.mean(a) / np.mean(s))
            # Delta method for a ratio of independent means (log scale).
            se = math.sqrt(sum(np.var(v, ddof=1) / (v.size * np.mean(v) ** 2) for v in (a, s)))
            low, high = r * math.exp(-z * se), r * math.exp(z * se)
            ratios.append((r, high))
            checks.append(interval_check(f"{kind}/d={d}: E‖∂ₓL‖₁ avgpool < strided", r, low, high, at_most=1.0,
                                         why="ratio of means, one-sided limits (delta method)", level=level))
            table.append({"input": kind, "d": d, "strided_l1": float(np.mean(s)), "avgpool_l1": float(np.mean(a)),
                          "ratio": r, "upper": high,
                          "l2_ratio": float(np.mean(data["avgpool", kind, d]["l2"]) /
                                            np.mean(data["strided", kind, d]["l2"]))})
    worst = max(ratios, key=lambda t: t[0])
    lines = [line(f"{arch}/{kind}", cfg.ds, [float(np.mean(data[arch, kind, d]["l1"])) for d in cfg.ds])
             for arch in archs for kind in cfg.inputs]
    return Outcome(
        statistic=worst[0], statistic_name="largest avgpool/strided l1 ratio",
        expected="< 1", ci_low=0.0, ci_high=worst[1], level=level, n_trials=cfg.trials * len(data), checks=checks,
        table=table,
        series={"title": "l1 input-gradient norm at initialisation", "xlabel": "d", "ylabel": "mean ‖∂ₓL‖₁",
                "loglog": True, "lines": lines},
        caveats=["At He initialisation, same depth, width and readout; the early abstract's statement may concern "
                 "trained networks, which this claim does not test.",
                 "The statement is absent from the ICML abstract: the published paper may have dropped it."],
    )
