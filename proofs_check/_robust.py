"""Train many networks on one data set and measure each one's robustness sandwich (shared by the nonlinear claims).

One jitted program per (model, data shape): ``lax.map`` over network seeds (``batch`` at a time under ``vmap``),
each network trained by :func:`fcjax.train` and measured by :func:`fcjax.robustness.robustness` at the chosen
evaluation points, with the training set as the optimal classifier's reference set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from fcjax.certify import certified_radius, cnn_layers, crown_sample_bytes, lipschitz_radius, mlp_layers
from fcjax.ensembles import trial_keys
from fcjax.models import CNN
from fcjax.parallel import map_batches
from fcjax.robustness import robustness
from fcjax.train import TrainConfig, train

# A fixed budget, not the machine's free memory: blocks of another size could round differently (vmapped matmuls of
# another batch width), and stored results must not depend on the machine they were resumed on.
CERTIFY_MB = 1024


def layers_of(model: nn.Module) -> Callable[[Any, Any], list]:
    """The affine-ReLU layers of one of fcjax's ReLU models, for the certificates."""
    if isinstance(model, CNN):
        return lambda params, dtype: cnn_layers(model, params, dtype)
    return mlp_layers


def measure_nets(model: nn.Module, data: tuple[jax.Array, jax.Array] | Callable[[jax.Array], tuple],
                 eval_idx: jax.Array, key: jax.Array, nets: int, train_config: TrainConfig, *,
                 dtype: Any = jnp.float64, certify: str = "crown", nodes: int = 32, batch: int = 4,
                 attack: dict[str, Any] | None = None, certify_mb: int | None = CERTIFY_MB,
                 baseline: str | None = None, keep_layers: bool = False, best_attack: bool = False,
                 activation: str = "relu") -> dict[str, np.ndarray]:
    """Train ``nets`` networks and measure each at its training points ``x[eval_idx]``.

    ``data`` is a fixed training set ``(x, y)``, a function of a key returning one (a fresh draw per network), or
    one training set per network, ``(x, y)`` of shapes ``(nets, n, d)`` and ``(nets, n)`` with ``eval_idx`` of shape
    ``(nets, m)``: then every network is an independent replicate of the whole experiment (data, points, network).
    Returns NumPy arrays with leading axes ``(nets, m)`` (``m``: evaluation points per network): ``lower``, ``upper``,
    ``optimal``, ``compression``, ``correct`` (the network's label at the point is ``y``), ``x_norm`` (the point's
    ‖x‖_2), and per network
    ``accuracy`` and ``steps_run`` of shape ``(nets,)``. ``certify_mb`` bounds the certificate's working set
    (``batch`` networks at a time, each certifying as many points at once as fit); ``None``: all points at once.
    ``baseline``: a second certificate method measured on the same networks in the same program (``lower_<method>``,
    e.g. CROWN next to BaB, so a table can say what the tighter method gained). ``keep_layers``: also return the
    networks' layers (``W0, b0, W1, ...`` with a leading ``nets`` axis) and the evaluation points ``x_eval``,
    ``y_eval``, for host-side exact solving (:func:`exact_cells`). ``best_attack``: the upper bound from
    :func:`fcjax.fmn.best_min_norm` (keyed per network) instead of the deterministic ``min_norm``.
    ``activation``: the model's activation, as :func:`fcjax.lipschitz_radius` names it. Only ``"relu"`` gets
    ``certify``; ``"tanh"``/``"gelu"`` are certified by the global Lipschitz bound, and ``"identity"`` (a linear
    network) exactly: its layers collapse to one affine map, where the Lipschitz radius is the exact distance.
    """
    if activation != "relu" and (baseline is not None or keep_layers):
        raise ValueError(f"baseline and keep_layers need activation='relu', got {activation!r}")
    to_layers = layers_of(model)
    attack_items = tuple(sorted((attack or {}).items()))

    per_network = not callable(data) and jnp.ndim(data[0]) == 3
    if jnp.ndim(eval_idx) != (2 if per_network else 1):
        raise ValueError(f"eval_idx must be {'(nets, m) for per-network' if per_network else '(m,) for shared'} "
                         f"data, got shape {jnp.shape(eval_idx)}")
    if per_network and not (data[0].shape[0] == data[1].shape[0] == eval_idx.shape[0] == nets):
        raise ValueError(f"per-network data and eval_idx must have {nets} rows, got {data[0].shape}, "
                         f"{data[1].shape} and {eval_idx.shape}")

    def one(k, x, y, idx):
        kd, kt = jax.random.split(k)
        ka = jax.random.fold_in(k, 2)  # the attack's own key, leaving the data and training draws as they were
        if callable(data):
            x, y = data(kd)
        res = train(kt, model, x.astype(jnp.float32), y, train_config)
        params = jax.tree.map(lambda a: a.astype(dtype), res.params)  # Flax keeps float32; measure in ``dtype``
        xe, ye = x[idx].astype(dtype), y[idx]
        layers = to_layers(res.params, dtype)
        if activation != "relu":
            r = robustness(model.apply, params, xe, ye, reference=(x.astype(dtype), y), nodes=nodes,
                           attack_key=ka if best_attack else None, **dict(attack_items))
            lin = activation == "identity"
            lower = lipschitz_radius(collapse_affine(layers) if lin else layers, xe, ye, activation=activation)
            return {"lower": lower, "upper": r.upper, "optimal": r.optimal,
                    "compression": r.compression, "correct": r.predicted == ye, "accuracy": res.accuracy,
                    "steps_run": res.steps_run, "x_norm": jnp.linalg.norm(xe, axis=-1)}
        per_sample = batch * crown_sample_bytes(layers, jnp.dtype(dtype).itemsize, method=certify)
        block = None if certify_mb is None else max(1, certify_mb * 2**20 // per_sample)
        r = robustness(model.apply, params, xe, ye, reference=(x.astype(dtype), y), layers=layers,
                       certify=certify, nodes=nodes, certify_batch=block, attack_key=ka if best_attack else None,
                       **dict(attack_items))
        out = {"lower": r.lower, "upper": r.upper, "optimal": r.optimal, "compression": r.compression,
               "correct": r.predicted == ye, "accuracy": res.accuracy, "steps_run": res.steps_run,
               "x_norm": jnp.linalg.norm(xe, axis=-1)}
        if baseline is not None:
            out[f"lower_{baseline}"] = certified_radius(layers, xe, ye, method=baseline, upper=r.upper,
                                                        batch_size=block)
        if keep_layers:
            out.update({f"{n}{i}": a for i, layer in enumerate(layers) for n, a in zip("Wb", layer, strict=True)})
            out.update(x_eval=xe, y_eval=ye)
        return out

    keys = trial_keys(key, nets)
    if per_network:
        args, mapped = (keys, *data, eval_idx), lambda a: one(*a)
    else:
        shared = (None, None) if callable(data) else data
        args, mapped = keys, lambda k: one(k, *shared, eval_idx)
    out = jax.jit(lambda a: map_batches(mapped, a, batch))(args)
    return {k: np.asarray(v) for k, v in out.items()}


def collapse_affine(layers: list) -> list:
    """``[(W_1, b_1), ..., (W_L, b_L)]`` with nothing between the layers, as the one affine map ``[(W, b)]``."""
    w, b = layers[0]
    for wl, bl in layers[1:]:
        w, b = wl @ w, wl @ b + bl
    return [(w, b)]


def sandwich_check(lower: np.ndarray, upper: np.ndarray, correct: np.ndarray) -> tuple[bool, str]:
    """Every correctly classified sample has a verified adversarial (finite upper) above its certified lower."""
    c = correct.astype(bool)
    found = np.isfinite(upper) & c
    # The bisection certifies radii strictly inside the ball the attack escaped; float slack of 1e-9 relative.
    order = np.all(lower[found] <= upper[found] * (1 + 1e-9))
    ok = bool(order and found.sum() == c.sum())
    tight = float(np.median(upper[found] / np.maximum(lower[found], 1e-300))) if found.any() else float("nan")
    return ok, (f"{int(found.sum())}/{int(c.sum())} correctly classified samples have a verified adversarial; "
                f"certified lower <= attack upper on all of them: {bool(order)}; median upper/lower {tight:.3g}")


def with_segment_fallback(out: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
    """``out`` (from :func:`measure_nets`, evaluated at training points with the training set as reference) with
    every missing attack radius (``inf`` at a correctly classified point) of a network that fits its whole training
    set replaced by the distance to the nearest training point of another class, ``2 × optimal`` there (one training
    point per class, as in the claims that use this: no same-class neighbour): that point is
    classified as its own class, so it is a verified adversarial and its distance a valid (loose) upper bound.
    Returns the new dict and how many radii were replaced (to be reported). Networks that do not fit keep ``inf``."""
    fits = (out["accuracy"] == 1.0)[:, None]
    miss = fits & out["correct"].astype(bool) & ~np.isfinite(out["upper"])
    return {**out, "upper": np.where(miss, 2.0 * out["optimal"], out["upper"])}, int(miss.sum())


def per_net_ratio(values: np.ndarray, optimal: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Each network's mean over its correctly classified points of ``values / optimal``: one sample per network."""
    c = correct.astype(bool)
    # Misclassified points carry no radius (inf or nan): divide only where counted, so no warning for skipped cells.
    ratio = np.divide(values, optimal, out=np.zeros(np.broadcast_shapes(values.shape, optimal.shape)), where=c)
    return ratio.sum(axis=1) / np.maximum(c.sum(axis=1), 1)


def stored_layers(out: dict[str, np.ndarray], net: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Network ``net``'s ``[(W, b), ...]`` from :func:`measure_nets` output with ``keep_layers=True``."""
    n = 0
    layers = []
    while f"W{n}" in out:
        layers.append((out[f"W{n}"][net], out[f"b{n}"][net]))
        n += 1
    return layers


def exact_cells(out: dict[str, np.ndarray], *, time_limit: float, tol: float) -> dict[str, np.ndarray]:
    """Exact minimal l2 perturbations (:func:`fcjax.exact.exact_radius`, host side) at every correctly classified
    evaluation point of every network, bracketed by the measured certificate and attack.

    Returns ``exact_lower``, ``exact_upper`` (``nets x m``; the sound interval the solver proved, never looser
    than the inputs' bracket), ``exact_closed`` (the interval closed to ``tol``) and ``exact_seconds``.
    """
    from fcjax.exact import exact_radius

    nets, m = out["lower"].shape
    lo, up = np.array(out["lower"], dtype=np.float64), np.array(out["upper"], dtype=np.float64)
    closed = np.zeros((nets, m), bool)
    seconds = np.zeros((nets, m))
    for net in range(nets):
        ok = np.asarray(out["correct"][net], bool) & np.isfinite(up[net])
        if not ok.any():
            continue
        res = exact_radius(stored_layers(out, net), out["x_eval"][net][ok], out["y_eval"][net][ok],
                           upper=up[net][ok], lower=lo[net][ok], tol=tol, time_limit=time_limit)
        lo[net, ok] = np.maximum(lo[net, ok], np.asarray(res.lower))
        up[net, ok] = np.minimum(up[net, ok], np.asarray(res.upper))
        closed[net, ok] = np.asarray(res.exact)
        seconds[net, ok] = np.asarray(res.seconds)
    return {"exact_lower": lo, "exact_upper": up, "exact_closed": closed, "exact_seconds": seconds}
