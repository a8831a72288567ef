"""Claims of Jiang, Zhou, Huang, "Relationship between manifold smoothness and adversarial vulnerability in deep
learning with local errors" (Chin. Phys. B 30, 048702, 2021; arXiv 2007.02047).

The paper is an empirical study: networks trained with local errors, the power-law exponent α of their hidden
representations' PC spectra, and accuracy under Gaussian-noise and FGSM attacks. Only its abstract and introduction
could be read (``../shared/papers/paper_jiang2021.md``): data set, architecture, training, fit range, σ and ε grids
are all unknown, so every one of them here is our choice [D], stated in the config and in the caveats, and every check
is a sign, rank or shape test, never a number of the paper.

The four network claims share one family of networks: ``trials`` seeds per hidden width, each trained once with
local errors and evaluated at several checkpoints of its training (``checkpoints``), every hidden layer with its own
fixed random readout as the classifier; one (network, checkpoint, layer) is one point (α, accuracy). Points of one
network are dependent, networks are independent: intervals are delete-one-network jackknifes
(:func:`fcjax.stats.jackknife_ci`). The family is computed once per process and configuration and shared by the four
claims (``fcjax reproduce`` runs them in one process).
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats as st

from fcjax._validate import check_float, check_int
from fcjax.data import load_dataset
from fcjax.local_errors import (
    LayerClassifier,
    LocalErrorConfig,
    layer_logits,
    representations,
    train_local,
    train_local_snapshots,
)
from fcjax.manifolds import difference_quotients, embed, fourier_modes, random_phases
from fcjax.robust_accuracy import fgsm_accuracy, noise_accuracy
from fcjax.spectra import covariance_spectrum, exponential_fit, participation_ratio, power_law_fit
from fcjax.stats import binned_means, jackknife_ci

from .api import (
    ALPHA,
    FAIL,
    PASS,
    UNDECIDED,
    Check,
    ClaimConfig,
    Outcome,
    Run,
    interval_check,
    line,
    mean_ci,
    order_check,
    register,
)

PAPER = "Jiang, Zhou, Huang 2021 (Chin. Phys. B 30, 048702; arXiv 2007.02047)"
SETUP = "setup reconstructed [D]: the paper's data, architecture, training, fit range and attack grids are unknown"


def _floats(values: Any, name: str, *, positive: bool = False) -> tuple[float, ...]:
    if not isinstance(values, tuple) or not values:
        raise ValueError(f"{name} must be a non-empty tuple of numbers, got {values!r}")
    out = tuple(check_float(v, f"{name}[{i}]", low=0.0, open_low=positive) for i, v in enumerate(values))
    if list(out) != sorted(set(out)):
        raise ValueError(f"{name} must increase strictly, got {values!r}")
    return out


# ------------------------------------------------------------------------------------------- fractal_threshold
@dataclasses.dataclass(frozen=True)
class FractalConfig(ClaimConfig):
    """Random Fourier codes of the torus (:mod:`fcjax.manifolds`) with ``α = factor·(1 + 2/d)``.

    ``n_modes[i]`` frequencies for ``dims[i]``; step lengths ``δ`` geometric from ``cutoff/|k_N|`` (well above the
    shortest wavelength, where the truncated series is smooth) to ``delta_max`` (below the longest); ``n_points``
    base points per code; α̂ fitted over ranks ``2..n_points//8`` of the sampled code's covariance spectrum.
    """

    dims: tuple[int, ...] = (1, 2, 3)
    n_modes: tuple[int, ...] = (1 << 16, 1 << 16, 1 << 17)
    factors: tuple[float, ...] = (0.7, 0.85, 1.3, 1.6)
    n_points: int = 256
    n_deltas: int = 6
    cutoff: float = 8.0
    delta_max: float = 0.6

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.dims, tuple) or not self.dims:
            raise ValueError(f"dims must be a non-empty tuple of manifold dimensions, got {self.dims!r}")
        for i, d in enumerate(self.dims):
            check_int(d, f"dims[{i}]", minimum=1)
        if not isinstance(self.n_modes, tuple) or len(self.n_modes) != len(self.dims):
            raise ValueError(f"n_modes must give one mode count per entry of dims {self.dims}, got {self.n_modes!r}")
        for i, n in enumerate(self.n_modes):
            check_int(n, f"n_modes[{i}]", minimum=64)
        factors = _floats(self.factors, "factors", positive=True)
        if 1.0 in factors:
            raise ValueError("factors must not contain 1 (the threshold itself: the quotient diverges only "
                             "logarithmically there, so no power law is predicted)")
        check_int(self.n_points, "n_points", minimum=16)
        check_int(self.n_deltas, "n_deltas", minimum=3)
        check_float(self.cutoff, "cutoff", low=0.0, open_low=True)
        check_float(self.delta_max, "delta_max", low=0.0, high=math.pi, open_low=True)

    def deltas(self, d: int, n_modes: int) -> np.ndarray:
        kmax = float(np.linalg.norm(fourier_modes(d, n_modes)[-1]))
        low = self.cutoff / kmax
        if low >= self.delta_max / 2:
            raise ValueError(f"n_modes={n_modes} is too few for d={d}: δ would start at {low:.3g}, not far enough "
                             f"below delta_max={self.delta_max} (raise n_modes or lower cutoff)")
        return np.geomspace(low, self.delta_max, self.n_deltas)


def _fractal_trial(key, alpha, *, d, n_modes, deltas, n_points, n_fit, dtype):
    kp, kq, ks = jax.random.split(key, 3)
    modes = fourier_modes(d, n_modes)
    phases = random_phases(kp, n_modes, dtype)
    q = difference_quotients(kq, modes, phases, alpha, jnp.asarray(deltas, dtype), n_points)
    s = jax.random.uniform(ks, (n_points, d), dtype, maxval=2 * jnp.pi)
    fit = power_law_fit(covariance_spectrum(embed(s, modes, phases, alpha)), 2, n_fit)
    return {"q": q, "alpha_hat": fit.alpha, "r2": fit.r2}


@register(
    "jiang2021.fractal_threshold", paper=PAPER,
    statement="a code of a d-dimensional manifold whose PC variances decay as n^(−α) is smooth only if α > 1 + 2/d: "
              "below, ‖Φ(s+δ) − Φ(s)‖/δ diverges as δ → 0 (fractal), above it stays bounded",
    source="introduction, citing Stringer et al. 2019: 'when the exponent is smaller than 1 + 2/d ... the neural "
           "coding manifold must be fractal' [P]; the rate δ^(d(α−1)−2) of the squared quotient is our derivation "
           "[D]",
    config=FractalConfig(trials=16),
    quick={"dims": (1, 2), "n_modes": (4096, 16384), "n_points": 128, "trials": 8},
    work=lambda c: c.trials * len(c.dims) * len(c.factors),
)
def fractal_threshold(cfg: FractalConfig, key, ctx: Run) -> Outcome:
    n_checks = 2 * len(cfg.dims) * len(cfg.factors)
    level = 1 - ALPHA / n_checks
    checks, table, lines = [], [], []
    n_fit = cfg.n_points // 8
    for i, (d, n_modes) in enumerate(zip(cfg.dims, cfg.n_modes, strict=True)):
        deltas = cfg.deltas(d, n_modes)
        fn = partial(_fractal_trial, d=d, n_modes=n_modes, deltas=tuple(deltas), n_points=cfg.n_points, n_fit=n_fit,
                     dtype=cfg.jdtype)
        threshold = 1 + 2 / d
        for j, factor in enumerate(cfg.factors):
            alpha = factor * threshold
            out = ctx.map_trials(fn, jax.random.fold_in(jax.random.fold_in(key, i), j), cfg.trials,
                                 cell=f"d={d} alpha={alpha:.4g}", chunk_size=cfg.chunk(8 * cfg.n_points * n_modes * 4),
                                 shared=(jnp.asarray(alpha, cfg.jdtype),))
            rough = alpha < threshold
            predicted = d * (alpha - 1) - 2 if rough else 0.0
            kind = "fractal: ‖ΔΦ‖²/δ² diverges like δ^" + f"({predicted:.2f})" if rough else "smooth: ‖ΔΦ‖²/δ² bounded"
            est, chk = order_check(f"d={d}, α={alpha:.2f} {'<' if rough else '>'} 1+2/d={threshold:.2f}: {kind}",
                                   deltas, out["q"], predicted, level)
            checks.append(chk)
            a_hat = mean_ci(out["alpha_hat"], level)
            side = {"at_most": threshold} if rough else {"at_least": threshold}  # a side: threshold, no margin
            checks.append(interval_check(f"d={d}, α={alpha:.2f}: the fitted exponent falls on the same side of 1+2/d",
                                         a_hat.value, a_hat.low, a_hat.high, **side, why=f"α̂ on ranks 2..{n_fit}",
                                         level=level))
            table.append({"d": d, "alpha": alpha, "threshold": threshold, "regime": "fractal" if rough else "smooth",
                          "predicted_slope": predicted, "slope": est.value, "slope_low": est.low,
                          "slope_high": est.high, "alpha_hat": a_hat.value, "alpha_hat_low": a_hat.low,
                          "alpha_hat_high": a_hat.high, "fit_r2": float(np.mean(out["r2"])), "n_modes": n_modes,
                          "delta_min": float(deltas[0]), "delta_max": float(deltas[-1])})
            lines.append(line(f"d={d}, α={alpha:.2f} ({'fractal' if rough else 'smooth'})", deltas,
                              np.mean(out["q"], axis=0)))
    slopes = [r["slope"] - r["predicted_slope"] for r in table]
    return Outcome(
        statistic=float(np.max(np.abs(slopes))),
        statistic_name="largest |measured − predicted| slope of log(‖ΔΦ‖²/δ²) on log δ",
        expected="slope d(α−1)−2 < 0 below 1+2/d (fractal), 0 above (smooth)",
        ci_low=float(min(r["slope_low"] - r["predicted_slope"] for r in table)),
        ci_high=float(max(r["slope_high"] - r["predicted_slope"] for r in table)), level=level,
        n_trials=cfg.trials * len(table), checks=checks, table=table,
        series={"title": "squared difference quotient of random power-law codes", "xlabel": "δ",
                "ylabel": "mean ‖Φ(s+δv) − Φ(s)‖² / δ²", "loglog": True, "lines": lines},
        caveats=["Cited background (Stringer et al. 2019), not a result of this paper: a smoke test of the α "
                 "machinery and of the threshold logic.",
                 "The codes are truncated Fourier series (smooth below δ ≈ 1/|k_N|), so δ stays above cutoff/|k_N|; "
                 "the order check allows the change of slope between the small-δ and the large-δ halves as its "
                 "truncation error. α = 1+2/d itself (a logarithmic divergence) is not tested.",
                 "The fitted α̂ uses n_points samples of the code, so its finite-sample bias is part of the check."],
    )


# ------------------------------------------------------------------------------------------ the network family
@dataclasses.dataclass(frozen=True)
class FamilyConfig(ClaimConfig):
    """The family of local-error networks shared by the four network claims (our choices [D]).

    ``trials`` networks (seeds) per hidden width, ``layers`` hidden layers of that width, trained ``steps`` Adam steps
    with local errors and evaluated after each of ``checkpoints`` steps on ``n_test`` test inputs. α is fitted over
    ranks ``n_min..n_max`` of each layer's test-set covariance spectrum; noise of std ``sigmas`` (``noise_draws``
    draws per input) and FGSM of size ``epsilons`` attack each layer's own classifier, clipped to the data's box.
    """

    dataset: str = "mnist"
    n_train: int | None = None
    n_test: int | None = 2000
    widths: tuple[int, ...] = (256, 1024)
    layers: int = 3
    activation: str = "relu"
    steps: int = 3000
    checkpoints: tuple[int, ...] = (30, 100, 300, 1000, 3000)
    learning_rate: float = 1e-3
    batch_size: int = 64
    readout_gain: float = 1.0
    n_min: int = 2
    n_max: int = 50
    sigmas: tuple[float, ...] = (0.25, 0.5, 1.0)
    epsilons: tuple[float, ...] = (0.025, 0.05, 0.1, 0.2)
    noise_draws: int = 4
    compare_backprop: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.compare_backprop, bool):
            raise TypeError(f"compare_backprop must be a bool, got {self.compare_backprop!r}")
        if self.dataset not in ("digits", "mnist", "mnist1d"):
            raise ValueError(f"dataset must be 'digits', 'mnist' or 'mnist1d', got {self.dataset!r}")
        if self.trials < 3:
            raise ValueError(f"trials must be >= 3 networks per width (the jackknife needs them), got {self.trials}")
        for name in ("n_train", "n_test"):
            if getattr(self, name) is not None:
                check_int(getattr(self, name), name, minimum=10)
        if not isinstance(self.widths, tuple) or not self.widths:
            raise ValueError(f"widths must be a non-empty tuple of ints, got {self.widths!r}")
        for i, w in enumerate(self.widths):
            check_int(w, f"widths[{i}]", minimum=self.n_max)
        check_int(self.layers, "layers", minimum=1)
        check_int(self.steps, "steps", minimum=1)
        if not isinstance(self.checkpoints, tuple) or not self.checkpoints:
            raise ValueError(f"checkpoints must be a non-empty tuple of step counts, got {self.checkpoints!r}")
        if list(self.checkpoints) != sorted(set(self.checkpoints)) or self.checkpoints[-1] > self.steps \
                or self.checkpoints[0] < 1:
            raise ValueError(f"checkpoints must increase strictly within [1, steps={self.steps}], got "
                             f"{self.checkpoints!r}")
        check_int(self.n_min, "n_min", minimum=1)
        check_int(self.n_max, "n_max", minimum=self.n_min + 2)
        _floats(self.sigmas, "sigmas", positive=True)
        _floats(self.epsilons, "epsilons", positive=True)
        check_int(self.noise_draws, "noise_draws", minimum=1)
        self.net(self.widths[0])  # validates activation, learning_rate, batch_size, readout_gain

    def net(self, width: int, mode: str = "local") -> LocalErrorConfig:
        return LocalErrorConfig(widths=(width,) * self.layers, classes=10, activation=self.activation,
                                steps=self.steps, learning_rate=self.learning_rate, batch_size=self.batch_size,
                                mode=mode, readout_gain=self.readout_gain)


FAMILY = FamilyConfig(trials=12, dtype="float32")
FAMILY_QUICK = {"dataset": "digits", "n_test": None, "widths": (256,), "steps": 1000,
                "checkpoints": (30, 100, 300, 1000), "trials": 10, "n_max": 40}


def _family_work(cfg: FamilyConfig) -> int:
    return cfg.trials * len(cfg.widths)


def _family_claim(claim_id: str, *, statement: str, source: str):
    """Register a claim on the shared network family (one config, so one family per reproduction)."""
    return register(claim_id, paper=PAPER, statement=statement, source=source, config=FAMILY, quick=FAMILY_QUICK,
                    work=_family_work)


def _evaluate(params, readouts, x, y, key, *, net, n_min, n_max, sigmas, epsilons, draws, clip):
    # All layers have one width: one batched eigvalsh for all of them. Independent batched LAPACK calls in one
    # program can deadlock jaxlib 0.10.2's CPU thread pool (fcjax.trials notes it; seen here with one per layer).
    spectra = jax.vmap(covariance_spectrum)(jnp.stack(representations(params, x, net)))
    out = []
    for layer, eig in enumerate(spectra):
        clf = LayerClassifier(net, layer)
        acc = jnp.mean((jnp.argmax(clf((params, readouts), x), axis=-1) == y).astype(x.dtype))
        fit = power_law_fit(eig, n_min, n_max)
        out.append({"alpha": fit.alpha, "r2": fit.r2,
                    "r2_exp": exponential_fit(eig, n_min, n_max).r2, "pr": participation_ratio(eig), "acc": acc,
                    "noise": noise_accuracy(clf, (params, readouts), x, y, sigmas, jax.random.fold_in(key, layer),
                                            draws=draws, clip=clip),
                    "fgsm": fgsm_accuracy(clf, (params, readouts), x, y, epsilons, clip=clip), "eigs": eig})
    return jax.tree.map(lambda *a: jnp.stack(a), *out)


def _network_trial(key, x_tr, y_tr, x_te, y_te, *, net, checkpoints, **kwargs):
    k_train, k_noise = jax.random.split(key)
    snaps, readouts = train_local_snapshots(k_train, x_tr, y_tr, net, checkpoints)
    # One evaluation per checkpoint, in sequence (lax.map): the attacks' working set stays that of one network.
    return jax.lax.map(lambda p: _evaluate(p, readouts, x_te, y_te, k_noise, net=net, **kwargs), snaps)


def _data(cfg: FamilyConfig):
    data = load_dataset(cfg.dataset, n_train=cfg.n_train, n_test=cfg.n_test, seed=0)
    dtype = cfg.jdtype
    x_tr, x_te = jnp.asarray(data.x_train, dtype), jnp.asarray(data.x_test, dtype)
    # Image sets are attacked inside their pixel box; MNIST-1D signals have no box.
    clip = None if cfg.dataset == "mnist1d" else (float(min(x_tr.min(), x_te.min())), float(max(x_tr.max(),
                                                                                            x_te.max())))
    return x_tr, jnp.asarray(data.y_train), x_te, jnp.asarray(data.y_test), clip


FAMILY_SCOPE = "jiang2021.family"  # where the shared family's chunks are stored
_FAMILY_CACHE: dict[tuple, dict[int, dict[str, np.ndarray]]] = {}


def _family(cfg: FamilyConfig, key, ctx: Run) -> dict[int, dict[str, np.ndarray]]:
    """Per width, arrays with axes (network, checkpoint, layer, ...). Memoised on (config, key), and stored under
    one scope for all four claims: those of one reproduction share it, and a pure function of its arguments needs
    no recomputation."""
    # Not the memory budget: the runner sets it per claim from free memory, and it changes no number.
    token = (dataclasses.replace(cfg, max_memory_mb=None), tuple(np.asarray(jax.random.key_data(key)).ravel().tolist()))
    if token in _FAMILY_CACHE:
        ctx(_family_work(cfg))
        return _FAMILY_CACHE[token]
    x_tr, y_tr, x_te, y_te, clip = _data(cfg)
    if x_te.shape[0] <= cfg.n_max:
        raise ValueError(f"n_max={cfg.n_max} must be below the number of test inputs {x_te.shape[0]} (the rank of "
                         "their covariance)")
    out = {}
    for i, width in enumerate(cfg.widths):
        fn = partial(_network_trial, net=cfg.net(width), checkpoints=cfg.checkpoints, n_min=cfg.n_min,
                     n_max=cfg.n_max, sigmas=cfg.sigmas, epsilons=cfg.epsilons, draws=cfg.noise_draws, clip=clip)
        per_net = 4 * (len(cfg.checkpoints) + 4) * cfg.layers * width * (width + x_te.shape[1]) \
            + 4 * cfg.noise_draws * x_te.size * len(cfg.sigmas)
        out[width] = ctx.map_trials(fn, jax.random.fold_in(key, i), cfg.trials, cell=f"width={width}",
                                    chunk_size=cfg.chunk(per_net), shared=(x_tr, y_tr, x_te, y_te),
                                    scope=FAMILY_SCOPE)
    _FAMILY_CACHE.clear()  # keep one family: a sweep of many configurations must not grow memory
    _FAMILY_CACHE[token] = out
    return out


def _groups(fam: dict[int, dict[str, np.ndarray]], *fields: tuple[str, int | None]) -> list[tuple[np.ndarray, ...]]:
    """One group per network: the flattened (checkpoint, layer) points of each field (``(name, grid index)``)."""
    groups = []
    for data in fam.values():
        for n in range(data["alpha"].shape[0]):
            groups.append(tuple((data[f][n] if j is None else data[f][n][..., j]).ravel() for f, j in fields))
    return groups


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(st.spearmanr(a, b).statistic) if np.ptp(b) > 0 else 0.0


def _interval(e) -> str:
    return f"{e.value:+.3f} [{e.low:+.3f}, {e.high:+.3f}]"


def _finite(fam: dict[int, dict[str, np.ndarray]]) -> Check:
    bad = sum(int(np.sum(~np.isfinite(d["alpha"]))) for d in fam.values())
    return Check("every fitted α is finite (no zero eigenvalue in the fit range)", bad == 0,
                 f"{bad} non-finite α" if bad else "all finite")


def _layer_lines(fam, cfg: FamilyConfig, field: str, j: int | None) -> list[dict[str, Any]]:
    lines = []
    for width, data in fam.items():
        for layer in range(cfg.layers):
            y = data[field][:, :, layer] if j is None else data[field][:, :, layer, j]
            lines.append(line(f"N={width}, layer {layer + 1}", data["alpha"][:, :, layer].ravel(), y.ravel()))
    return lines


def _family_caveats(cfg: FamilyConfig) -> list[str]:
    return [SETUP + f": {cfg.dataset}, {cfg.layers} hidden {cfg.activation} layers of width(s) {cfg.widths}, "
            f"fixed Gaussian readouts (gain {cfg.readout_gain}), all layers trained at once with Adam "
            f"(lr {cfg.learning_rate}, batch {cfg.batch_size}), snapshots after {cfg.checkpoints} steps.",
            f"α: least squares of log λ_n on log n over ranks {cfg.n_min}..{cfg.n_max} of the test-set covariance "
            "(not the third-party code's MLE, which estimates another exponent).",
            "Each layer is classified by its own fixed readout; the attacks differentiate through that readout "
            "(which classifier the paper attacks is unknown).",
            "Intervals: delete-one-network jackknife with Student-t quantiles (points of one network are dependent); "
            "Bonferroni over the grid of the claim."]


# ---------------------------------------------------------------------------------------- power_law_spectra
def _backprop_trial(key, x_tr, y_tr, x_te, y_te, *, net, n_min, n_max):
    res = train_local(jax.random.split(key)[0], x_tr, y_tr, net)  # the local family's training key
    spectra = jax.vmap(covariance_spectrum)(jnp.stack(representations(res.params, x_te, net)))
    fit = power_law_fit(spectra, n_min, n_max)
    logits = layer_logits(res.params, res.readouts, x_te, net)[0]
    return {"alpha": fit.alpha, "r2": fit.r2, "acc": jnp.mean((jnp.argmax(logits, -1) == y_te).astype(x_te.dtype))}


def _backprop_rows(cfg: FamilyConfig, key, ctx: Run) -> list[dict[str, Any]]:
    """The same architecture trained end to end (trained readout, back-propagation), same seeds: α per layer."""
    x_tr, y_tr, x_te, y_te, _ = _data(cfg)
    rows = []
    for i, width in enumerate(cfg.widths):
        fn = partial(_backprop_trial, net=cfg.net(width, "backprop"), n_min=cfg.n_min, n_max=cfg.n_max)
        out = ctx.map_trials(fn, jax.random.fold_in(key, i), cfg.trials, cell=f"backprop width={width}",
                             chunk_size=cfg.trials, shared=(x_tr, y_tr, x_te, y_te), tally=False)
        for layer in range(cfg.layers):
            rows.append({"width": width, "training": "backprop", "layer": layer + 1, "step": cfg.steps,
                         "alpha": float(np.mean(out["alpha"][:, layer])),
                         "alpha_sd": float(np.std(out["alpha"][:, layer], ddof=1)),
                         "r2": float(np.mean(out["r2"][:, layer])), "test_accuracy": float(np.mean(out["acc"]))})
    return rows


def _tail_fit(eigs: np.ndarray, cfg: FamilyConfig) -> tuple[float, float, str]:
    """Mean α and R² over the ranks past the class structure (k + 2 = 12 up to half the spectrum's rank), for the
    table: the spectra have a step after the first k − 1 = 9 components (the class means' span)."""
    rank = int(np.sum(np.all(eigs > eigs[:, :1] * 1e-9, axis=0)))
    lo, hi = 12, max(13, rank // 2)
    if hi > rank:
        return float("nan"), float("nan"), "-"
    fit = power_law_fit(np.asarray(eigs, np.float64), lo, hi)
    return float(np.mean(fit.alpha)), float(np.mean(fit.r2)), f"{lo}..{hi}"


@_family_claim(
    "jiang2021.power_law_spectra",
    statement="the PC spectrum of each hidden layer of a network trained with local errors decays as a power law "
              "λ_n ∝ n^(−α); the exponent α of every layer is reported with the fit's quality",
    source="abstract: 'a high generalization accuracy requires a relatively fast power-law decay of the "
           "eigen-spectrum of hidden representations' [P]; the power law vs exponential comparison is ours [D]",
)
def power_law_spectra(cfg: FamilyConfig, key, ctx: Run) -> Outcome:
    fam = _family(cfg, key, ctx)
    level = 1 - ALPHA / (len(cfg.widths) * cfg.layers)
    checks, table, panels, alphas = [_finite(fam)], [], [], []
    ranks = np.arange(cfg.n_min, cfg.n_max + 1)
    for width, data in fam.items():
        lines, fits = [], []
        for layer in range(cfg.layers):
            last = (slice(None), -1, layer)
            gain = mean_ci(data["r2"][last] - data["r2_exp"][last], level)
            alpha = mean_ci(data["alpha"][last], level)
            alphas.append(alpha)
            checks.append(interval_check(
                f"N={width}, layer {layer + 1}: the power law fits the spectrum better than an exponential",
                gain.value, gain.low, gain.high, at_least=0.0, what="networks", level=level,
                why=f"R²(power) − R²(exp), a sign claim; R²(power) {np.mean(data['r2'][last]):.3f}, α = "
                    f"{alpha.value:.3f} [{alpha.low:.3f}, {alpha.high:.3f}]"))
            for c, step in enumerate(cfg.checkpoints):
                cell = data["alpha"][:, c, layer]
                tail = _tail_fit(data["eigs"][:, c, layer], cfg)
                table.append({"width": width, "training": "local", "layer": layer + 1, "step": step,
                              "alpha": float(np.mean(cell)),
                              "alpha_sd": float(np.std(cell, ddof=1)), "r2": float(np.mean(data["r2"][:, c, layer])),
                              "r2_exp": float(np.mean(data["r2_exp"][:, c, layer])),
                              "alpha_tail": tail[0], "r2_tail": tail[1], "tail_ranks": tail[2],
                              "participation_ratio": float(np.mean(data["pr"][:, c, layer])),
                              "test_accuracy": float(np.mean(data["acc"][:, c, layer]))})
            spectrum = np.exp(np.mean(np.log(np.maximum(data["eigs"][last], 1e-30)), axis=0))  # geometric mean
            n = np.arange(1, spectrum.size + 1)
            keep = spectrum > spectrum[0] * 1e-7
            lines.append(line(f"layer {layer + 1}", n[keep], spectrum[keep]))
            c0 = np.mean(np.log(spectrum[ranks - 1]) + alpha.value * np.log(ranks))
            fits.append(line(f"layer {layer + 1}: α = {alpha.value:.2f}", ranks, np.exp(c0) * ranks**-alpha.value))
        panels.append({"title": f"N={width}: PC spectra after {cfg.checkpoints[-1]} steps (geometric mean over "
                                f"{cfg.trials} networks)", "xlabel": "rank n", "ylabel": "λ_n", "loglog": True,
                       "lines": lines, "fits": fits})
    return Outcome(
        statistic=float(np.mean([a.value for a in alphas])),
        statistic_name=f"mean α over layers (final checkpoint, ranks {cfg.n_min}..{cfg.n_max})",
        expected="a power law (α not given in what we could read of the paper)",
        ci_low=min(a.low for a in alphas), ci_high=max(a.high for a in alphas), level=level,
        n_trials=cfg.trials * len(cfg.widths), checks=checks,
        table=table + (_backprop_rows(cfg, key, ctx) if cfg.compare_backprop else []), series={"panels": panels},
        caveats=[*_family_caveats(cfg),
                 "The spectra are not one clean power law: they step down after the first k − 1 = 9 components (the "
                 "span of the class means) and bend down near the rank of the sample. The table gives α and R² past "
                 "the step too (alpha_tail over tail_ranks); the check compares the power law with an exponential "
                 "over the claim's own fit range, it does not certify a single exponent.",
                 "Rows with training = backprop: the same architecture and seeds trained end to end (a trained "
                 "readout on the last layer; test accuracy is that readout's), for comparison; not tested."],
    )


# ---------------------------------------------------------------------------------------- accuracy_vs_alpha
@_family_claim(
    "jiang2021.accuracy_vs_alpha",
    statement="across networks, training times and layers, higher test accuracy goes with a faster power-law decay "
              "(larger α): a positive rank correlation",
    source="abstract: 'a high generalization accuracy requires a relatively fast power-law decay of the "
           "eigen-spectrum of hidden representations' [P]",
)
def accuracy_vs_alpha(cfg: FamilyConfig, key, ctx: Run) -> Outcome:
    fam = _family(cfg, key, ctx)
    level = 1 - ALPHA
    (rho,) = jackknife_ci(_spearman, _groups(fam, ("alpha", None), ("acc", None)), level)
    checks = [_finite(fam), interval_check("Spearman ρ(α, test accuracy) > 0", rho.value, rho.low, rho.high,
                                           at_least=0.0, what="networks", level=level,
                                           why=f"a sign claim; jackknife over {rho.n} networks")]
    # The shape of the clean relation, for reading the attack claims (not tested here).
    (shape,) = _shape_tests({w: {"alpha": d["alpha"], "clean": d["acc"][..., None]} for w, d in fam.items()},
                            "clean", (0.0,), level, "attack")
    table = [{"width": "all", "scope": "all points: middle third of α minus lower / upper third",
              "spearman": rho.value, "mid_minus_low": shape["mid_low"].value,
              "mid_minus_high": shape["mid_high"].value, "interior_extremum": shape["interior_extremum"],
              "points": int(sum(d["alpha"].size for d in fam.values()))}]
    for width, data in fam.items():
        for layer in range(cfg.layers):
            a, acc = data["alpha"][:, :, layer], data["acc"][:, :, layer]
            table.append({"width": width, "scope": f"layer {layer + 1}, across checkpoints",
                          "spearman": _spearman(a.ravel(), acc.ravel()), "points": a.size})
        for c, step in enumerate(cfg.checkpoints):
            a, acc = data["alpha"][:, c, :], data["acc"][:, c, :]
            table.append({"width": width, "scope": f"step {step}, across layers",
                          "spearman": _spearman(a.ravel(), acc.ravel()), "points": a.size})
    return Outcome(
        statistic=rho.value, statistic_name="Spearman ρ(α, test accuracy)",
        expected="> 0", ci_low=rho.low, ci_high=rho.high, level=level, n_trials=rho.n, checks=checks, table=table,
        series={"title": "test accuracy of each layer's classifier against its α", "xlabel": "α",
                "ylabel": "test accuracy", "scatter": True, "lines": _layer_lines(fam, cfg, "acc", None)},
        caveats=[*_family_caveats(cfg), "Within-layer and within-checkpoint correlations are in the table (not "
                                        "tested): training time and depth move α and accuracy together."],
    )


# ------------------------------------------------------------------------------- noise and FGSM monotonicity
def _shape_tests(fam, field: str, grid: tuple[float, ...], level: float, symbol: str):
    """Per strength: Spearman ρ(α, accuracy), and the middle third of α against the lower and the upper third."""
    out = []
    for j, value in enumerate(grid):
        groups = _groups(fam, ("alpha", None), (field, j))

        def stat(a, y):
            low, mid, high = binned_means(a, y, 3)
            return [_spearman(a, y), mid - low, mid - high]

        rho, above_low, above_high = jackknife_ci(stat, groups, level)
        sig = [e.low > 0 or e.high < 0 for e in (above_low, above_high)]
        interior = all(sig) and above_low.value * above_high.value > 0
        # monotonic, confirmed: ρ significant and the middle third significantly between the outer two
        between = all(sig) and above_low.value * above_high.value < 0 and (above_low.value > 0) == (rho.value > 0)
        detail = (f"{symbol}={value:g}: ρ = {_interval(rho)}; middle third of α minus lower third "
                  f"{_interval(above_low)}, minus upper third {_interval(above_high)} ({level:.4%} jackknife, "
                  f"{rho.n} networks)")
        out.append({"value": value, "rho": rho, "mid_low": above_low, "mid_high": above_high,
                    "interior_extremum": bool(interior), "detail": detail,
                    "monotonic": (PASS if (rho.low > 0 or rho.high < 0) and between
                                  else FAIL if interior else UNDECIDED)})
    return out


def _shape_outcome(cfg, fam, tests, field, symbol, name, title, passed_checks, statistic, statistic_name, expected,
                   level):
    """``statistic`` is an :class:`~fcjax.stats.Estimate` (value and the interval reported with it)."""
    table = [{symbol: t["value"], "spearman": t["rho"].value, "spearman_low": t["rho"].low,
              "spearman_high": t["rho"].high, "mid_minus_low": t["mid_low"].value,
              "mid_minus_high": t["mid_high"].value, "interior_extremum": t["interior_extremum"],
              "mean_accuracy": float(np.mean([d[field][..., j] for d in fam.values()]))}
             for j, t in enumerate(tests)]
    lines = []
    for j, t in enumerate(tests):
        a = np.concatenate([d["alpha"].ravel() for d in fam.values()])
        y = np.concatenate([d[field][..., j].ravel() for d in fam.values()])
        lines.append(line(f"{symbol}={t['value']:g}", a, y))
    return Outcome(
        statistic=statistic.value, statistic_name=statistic_name,
        expected=expected, ci_low=statistic.low, ci_high=statistic.high, level=level, n_trials=tests[0]["rho"].n,
        checks=passed_checks, table=table,
        series={"title": title, "xlabel": "α", "ylabel": f"accuracy under {name}", "scatter": True, "lines": lines},
        caveats=[*_family_caveats(cfg),
                 "Monotonic: ρ(α, accuracy) significantly nonzero and no interior extremum. Interior extremum: the "
                 "mean accuracy of the middle third of the α values is significantly above (or below) both the "
                 "lower and the upper third (a parabola or broken-line fit would call a concave monotonic trend "
                 "non-monotonic; thirds cannot). Thirds are recomputed in every jackknife replicate."],
    )


@_family_claim(
    "jiang2021.noise_monotonic",
    statement="under independent Gaussian noise x + σξ the accuracy is a monotonic function of α, at every σ",
    source="abstract: 'Under Gaussian attacks, the relationship between generalization accuracy and power-law "
           "exponent is monotonic' [P]; σ grid ours [D]",
)
def noise_monotonic(cfg: FamilyConfig, key, ctx: Run) -> Outcome:
    fam = _family(cfg, key, ctx)
    level = 1 - ALPHA / len(cfg.sigmas)
    tests = _shape_tests(fam, "noise", cfg.sigmas, level, "σ")
    weakest = min(tests, key=lambda t: abs(t["rho"].value))
    checks = [_finite(fam)] + [Check(f"σ={t['value']:g}: accuracy monotonic in α", t["monotonic"] == PASS,
                                     t["detail"], outcome=t["monotonic"],
                                     resolution="" if t["monotonic"] != UNDECIDED else
                                     "more networks (ρ or the thirds' order not significant)")
                               for t in tests]
    return _shape_outcome(cfg, fam, tests, "noise", "σ", "Gaussian noise", "accuracy under Gaussian noise against α",
                          checks, weakest["rho"], f"Spearman ρ(α, accuracy) at the σ where it is weakest "
                          f"(σ={weakest['value']:g})", "ρ ≠ 0 at every σ, no interior extremum", level)


@_family_claim(
    "jiang2021.fgsm_nonmonotonic",
    statement="under FGSM x + ε·sign(∂ₓL) the accuracy is not a monotonic function of α: an interior extremum at "
              "some ε",
    source="abstract: '... while a non-monotonic behavior is observed for FGSM attacks' [P]; ε grid ours [D]",
)
def fgsm_nonmonotonic(cfg: FamilyConfig, key, ctx: Run) -> Outcome:
    fam = _family(cfg, key, ctx)
    level = 1 - ALPHA / len(cfg.epsilons)
    tests = _shape_tests(fam, "fgsm", cfg.epsilons, level, "ε")
    found = [t for t in tests if t["interior_extremum"]]
    # exists an ε with a significant interior extremum (PASS); refuted only if every ε is confirmed monotonic
    outcome = PASS if found else FAIL if all(t["monotonic"] == PASS for t in tests) else UNDECIDED
    checks = [_finite(fam), Check("an interior extremum of accuracy(α) at some ε", bool(found),
                                  "; ".join(t["detail"] for t in tests), outcome=outcome,
                                  resolution="" if outcome != UNDECIDED else
                                  "more networks (no ε shows a significant order of the thirds either way)")]
    best = max(tests, key=lambda t: min(abs(t["mid_low"].value), abs(t["mid_high"].value)))
    return _shape_outcome(cfg, fam, tests, "fgsm", "ε", "FGSM", "accuracy under FGSM against α", checks,
                          min(best["mid_low"], best["mid_high"], key=lambda e: abs(e.value)),
                          f"middle third of α minus the nearer outer third, at ε={best['value']:g}",
                          "the middle third of α above (or below) both outer thirds at some ε", level)
