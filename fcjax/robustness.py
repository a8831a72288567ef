"""Robustness of a user's own classifier, measured as Gao et al. measure it: a sandwich on the minimal l2
perturbation, the optimal classifier's radius on the same data, their ratio, and the compression ratio.

Gao et al. (arXiv 2406.16200) compare a network's robustness at a data point with that of the optimal
(minimum-distance) classifier, ½·min_{j of another class}‖x − x_j‖, and explain the gap by the compression ratio:
the mean |cos θ_γ| between ∇g and the straight path from x to its nearest other-class point (Section 5, the
path-integral formula; g = f_y − f_y' the logit difference). This module puts the pieces together:

* ``upper``: the smallest verified adversarial perturbation found by :func:`fcjax.attacks.min_norm`;
* ``lower``: a certified radius from :func:`fcjax.certify.certified_radius` when the network's affine-ReLU
  layers are given (``0`` otherwise: no certificate), so ``lower <= true minimum <= upper`` on every sample;
* ``optimal``: (d_other − d_same)/2, with d_other (d_same) the distance to the nearest reference point of another
  (the same) class: the minimum-distance classifier's exact radius at a reference point (d_same = 0) and a lower
  bound on it elsewhere (triangle inequality);
* ``compression``: mean |cos θ_γ| along the segment to the nearest other-class reference point.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._types import Array, Float, Int
from ._validate import check_array, check_int, check_key, check_labels
from .attacks import min_norm
from .certify import METHODS, _check_layers, _check_x, certified_radius
from .fmn import best_min_norm
from .frameworks import as_static
from .gradients import check_inputs
from .path_integral import path_integral

LogitsFn = Callable[[Any, Array], Array]


class Robustness(NamedTuple):
    """Per-sample robustness measures of a classifier at ``n`` inputs (all arrays have leading axis ``n``).

    Attributes:
      predicted: the network's label at ``x``.
      lower: certified lower bound on the minimal l2 perturbation that changes the label (0 where misclassified
        or where no certificate was requested).
      upper: the l2 norm of the smallest verified adversarial perturbation found (``inf`` where none was found).
      delta: ``(n, d)`` that perturbation (0 where none was found).
      optimal: the minimum-distance classifier's radius ``(d_other - d_same) / 2`` (exact at reference points).
      nearest: index into the reference set of the nearest point of another class.
      compression: mean |cos θ| between ∇(f_y − f_y') and the segment from ``x`` to that point.
      lower_ratio: ``lower / optimal``.
      upper_ratio: ``upper / optimal``.
    """

    predicted: Int[Array, " n"]
    lower: Float[Array, " n"]
    upper: Float[Array, " n"]
    delta: Float[Array, "n d"]
    optimal: Float[Array, " n"]
    nearest: Int[Array, " n"]
    compression: Float[Array, " n"]
    lower_ratio: Float[Array, " n"]
    upper_ratio: Float[Array, " n"]


def nearest_other_class(x: Float[Array, "n d"], y: Int[Array, " n"], ref_x: Float[Array, "m d"],
                        ref_y: Int[Array, " m"]) -> tuple[Int[Array, " n"], Float[Array, " n"], Float[Array, " n"]]:
    """For each row of ``x``: the index of the nearest reference point of another class, and the distances to the
    nearest reference point of another class and of the same class (``inf`` if the class has none).

    Candidates come from the Gram matrix (one GEMM); the two reported distances are recomputed from differences,
    so a reference point's distance to itself is exactly 0.
    """
    check_array(x, "x", ndim=2)
    check_labels(y, "y", x.shape[:1])
    check_array(ref_x, "ref_x", ndim=2)
    check_labels(ref_y, "ref_y", ref_x.shape[:1])
    if ref_x.shape[1] != x.shape[1]:
        raise ValueError(f"ref_x must have {x.shape[1]} columns (one point per row, like x), got {ref_x.shape}")
    if not isinstance(y, jax.core.Tracer) and not isinstance(ref_y, jax.core.Tracer):
        lonely = ~np.any(np.asarray(y)[:, None] != np.asarray(ref_y)[None, :], axis=1)
        if lonely.any():  # argmin over no candidate would name reference point 0 with a finite, wrong distance
            raise ValueError(f"ref_y has no point of a class other than y[{int(np.argmax(lonely))}] = "
                             f"{int(np.asarray(y)[np.argmax(lonely)])}")
    sq = jnp.sum(x * x, 1)[:, None] + jnp.sum(ref_x * ref_x, 1)[None, :] - 2 * x @ ref_x.T
    same = y[:, None] == ref_y[None, :]
    other_idx = jnp.argmin(jnp.where(same, jnp.inf, sq), axis=1)
    same_idx = jnp.argmin(jnp.where(same, sq, jnp.inf), axis=1)
    d_other = jnp.linalg.norm(x - ref_x[other_idx], axis=1)
    d_same = jnp.where(jnp.any(same, axis=1), jnp.linalg.norm(x - ref_x[same_idx], axis=1), jnp.inf)
    return other_idx, d_other, d_same


def _compression(logits_fn: LogitsFn, params: Any, x: Float[Array, " d"], a: Int[Array, ""], b: Int[Array, ""],
                 target: Float[Array, " d"], nodes: int) -> Float[Array, ""]:
    def g(z):
        f = logits_fn(params, z[None])[0]
        return f[a] - f[b]

    return path_integral(g, x, target, nodes).mean_abs_cos


def _check_reference(x: Array, y: Array, reference: Any, classes: int) -> tuple[Array, Array]:
    """``reference`` (default ``(x, y)``), checked: ``(m, d)`` inputs of ``x``'s width and ``(m,)`` labels."""
    ref_x, ref_y = (x, y) if reference is None else reference
    check_array(ref_x, "reference[0]", ndim=2)
    check_labels(ref_y, "reference[1]", (ref_x.shape[0],), classes=classes)
    if ref_x.shape[1] != x.shape[1]:
        raise ValueError(f"reference must be (m, {x.shape[1]}) inputs and (m,) labels, got {ref_x.shape} and "
                         f"{ref_y.shape}")
    return ref_x, ref_y


def _path_compressions(logits_fn, params, x, y, targets, target_y, nodes):
    return jax.vmap(lambda xi, yi, yo, t: _compression(logits_fn, params, xi, yi, yo, t, nodes))(
        x, y, target_y, targets)


def path_compression(logits_fn: LogitsFn, params: Any, x: Float[Array, "n d"], y: Int[Array, " n"], *,
                     reference: tuple[Float[Array, "m d"], Int[Array, " m"]] | None = None, nodes: int = 64
                     ) -> Float[Array, " n"]:
    """The compression ratio at each input alone (what :func:`robustness` reports as ``compression``, without the
    attack or the certificate): mean ``|cos θ|`` between ``∇(f_y − f_y')`` and the straight path from ``x_i`` to the
    nearest reference point of another class ``y'`` (Gao et al.'s path-integral formula; ``nodes`` Gauss-Legendre
    nodes, :func:`fcjax.path_integral`). ``reference`` defaults to ``(x, y)``."""
    check_array(x, "x", ndim=2)
    x, y = check_inputs(as_static(logits_fn), params, x, y)
    classes = jax.eval_shape(as_static(logits_fn), params, x[:1]).shape[1]
    ref_x, ref_y = _check_reference(x, y, reference, classes)
    check_int(nodes, "nodes", minimum=1)
    idx = nearest_other_class(x, y, ref_x, ref_y)[0]
    return _path_compressions(as_static(logits_fn), params, jnp.asarray(x), jnp.asarray(y), ref_x[idx], ref_y[idx],
                              nodes)


@partial(jax.jit, static_argnames=("logits_fn", "method", "nodes", "certify_batch", "attack_options",
                                   "certify_options"))
def _measure(logits_fn, params, layers, x, y, ref_x, ref_y, method, nodes, certify_batch, attack_options,
             certify_options=(), attack_key=None):
    if attack_key is None:
        attack = min_norm(logits_fn, params, x, y, **dict(attack_options))
    else:
        attack = best_min_norm(logits_fn, params, x, y, key=attack_key, **dict(attack_options))
    predicted = jnp.argmax(logits_fn(params, x), axis=-1)
    if layers is None:
        lower = jnp.zeros(x.shape[0], x.dtype)
    else:
        lower = certified_radius(layers, x, y, method=method, upper=attack.norm, batch_size=certify_batch,
                                 **dict(certify_options))
    idx, d_other, d_same = nearest_other_class(x, y, ref_x, ref_y)
    optimal = jnp.maximum(d_other - jnp.where(jnp.isinf(d_same), 0.0, d_same), 0.0) / 2
    comp = _path_compressions(logits_fn, params, x, y, ref_x[idx], ref_y[idx], nodes)
    return Robustness(predicted, lower, attack.norm, attack.delta, optimal, idx, comp, lower / optimal,
                      attack.norm / optimal)


def robustness(logits_fn: LogitsFn, params: Any, x: Float[Array, "n d"], y: Int[Array, " n"], *,
               reference: tuple[Float[Array, "m d"], Int[Array, " m"]] | None = None,
               layers: Sequence[tuple[Array, Array]] | None = None, certify: str = "crown", nodes: int = 64,
               certify_batch: int | None = None, certify_options: dict[str, int] | None = None,
               attack_key: Any = None, **attack_options: Any) -> Robustness:
    """Sandwich bounds on the minimal l2 perturbation of a classifier, beside the optimal classifier's radius.

    Args:
      logits_fn: ``logits_fn(params, x)`` maps ``(n, d)`` inputs to ``(n, k)`` logits with no interaction
        between samples (e.g. ``model.apply`` of a Flax module; a CNN must take flat inputs, like
        :class:`fcjax.CNN`).
      params: the network's parameters.
      x: ``(n, d)`` inputs.
      y: ``(n,)`` integer labels (the class each perturbation must move away from).
      reference: ``(ref_x, ref_y)``, the data the optimal minimum-distance classifier uses (usually the
        training set); defaults to ``(x, y)``.
      layers: the network as affine-ReLU layers ``[(W, b), ...]`` (``fcjax.certify.mlp_layers`` /
        ``cnn_layers``) to certify a lower bound; ``None``: no certificate (``lower = 0``).
      certify: one of ``fcjax.certify.METHODS`` (``"crown"``, ``"alpha-crown"``, ``"bab"``, ``"ibp"``,
        ``"lipschitz"``).
      nodes: Gauss-Legendre nodes for the compression ratio along the path.
      certify_batch: samples certified at once (``fcjax.certify.certified_radius``'s ``batch_size``; bounds
        CROWN's memory on wide layers, see ``fcjax.certify.crown_sample_bytes``); ``None``: all.
      certify_options: more keyword arguments of ``certified_radius``: ``steps``, ``alpha_steps``, ``branches``.
      attack_key: ``None``: the upper bound is :func:`fcjax.attacks.min_norm`'s (deterministic); a PRNG key: it is
        :func:`fcjax.fmn.best_min_norm`'s (restarts, FMN and class-targeted starts; within 1 % of the exact
        minimum on every sample measured at d = 16, about 5-13x min_norm's time).
      **attack_options: passed to the attack.

    Returns:
      :class:`Robustness`, per sample.

    Example:
      >>> import jax, jax.numpy as jnp, fcjax
      >>> x = fcjax.gaussian_points(jax.random.key(0), 8)  # 8 points in R^8, one per class
      >>> y = jnp.arange(8)
      >>> model = fcjax.relu_mlp(depth=1, width=32, classes=8)
      >>> net = fcjax.train(jax.random.key(1), model, x, y, fcjax.TrainConfig(steps=300, learning_rate=1e-2))
      >>> r = fcjax.robustness(model.apply, net.params, x, y, layers=fcjax.mlp_layers(net.params))
      >>> bool(jnp.all(r.lower <= r.upper))
      True
    """
    check_array(x, "x", ndim=2)
    x, y = check_inputs(as_static(logits_fn), params, x, y)  # logits' shape; labels in [0, k) when concrete
    classes = jax.eval_shape(as_static(logits_fn), params, x[:1]).shape[1]
    ref_x, ref_y = _check_reference(x, y, reference, classes)
    if certify not in METHODS:
        raise ValueError(f"certify must be one of {METHODS}, got {certify!r}")
    check_int(nodes, "nodes", minimum=1)
    if certify_batch is not None:
        check_int(certify_batch, "certify_batch", minimum=1)
    options = _check_certify_options(certify_options)
    if layers is not None:
        layers = _check_layers(layers)  # the certificate's network: finite, chained, x's width, the classes
        _check_x(x, layers)
        if layers[-1][0].shape[0] != classes:
            raise ValueError(f"layers must end in {classes} outputs (logits_fn's classes), got "
                             f"{layers[-1][0].shape[0]}")
    if attack_key is not None:
        attack_key = check_key(attack_key)
    logits_fn = as_static(logits_fn)  # equal functions share one compiled program
    return _measure(logits_fn, params, layers, jnp.asarray(x), jnp.asarray(y), jnp.asarray(ref_x),
                    jnp.asarray(ref_y), certify, nodes, certify_batch, tuple(sorted(attack_options.items())),
                    options, attack_key)


def _check_certify_options(options: Any) -> tuple[tuple[str, int], ...]:
    """``certify_options`` as sorted static items, checked on the host as ``certified_radius`` checks them."""
    if options is None:
        return ()
    if not isinstance(options, dict):
        raise TypeError(f"certify_options must be a dict or None, got {type(options).__name__}")
    minimum = {"steps": 1, "alpha_steps": 1, "branches": 0}
    unknown = sorted(set(options) - set(minimum))
    if unknown:
        raise ValueError(f"certify_options: unknown keys {unknown}; allowed: {sorted(minimum)}")
    return tuple(sorted((k, check_int(v, f"certify_options[{k!r}]", minimum=minimum[k])) for k, v in options.items()))
