"""Exact minimal perturbations of affine multi-class maps and of multi-layer linear networks.

For ``f(x) = W x + b`` with ``k`` classes, the set where the label differs from ``i`` is the union over
``j != i`` of the half-spaces ``{f_j >= f_i}``, so the smallest l2 perturbation that changes the label is
``min_{j != i} (f_i(x) - f_j(x)) / ||w_i - w_j||`` (exact; Gao et al., Theorem 4's two-probe geometry).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._types import Array, Float, Int
from ._validate import check_array


class MinPerturbation(NamedTuple):
    """The exact minimal l2 perturbation of an affine classifier at one input.

    ``distance`` is its length, ``target`` the class whose boundary is nearest, ``delta`` the perturbation that
    lands exactly on that boundary (scale it by ``1 + tiny`` to cross), ``label`` the class at ``x``.
    """

    distance: Float[Array, ""]
    target: Int[Array, ""]
    delta: Float[Array, " d"]
    label: Int[Array, ""]


def pairwise_distance(w: Float[Array, "k d"], b: Float[Array, " k"], x: Float[Array, " d"], i: int, j: int
                      ) -> Float[Array, ""]:
    """Signed distance from ``x`` to the boundary ``f_i = f_j``: ``(f_i(x) - f_j(x)) / ||w_i - w_j||``.

    ``i`` and ``j`` index classes (rows of ``w``); Python integers are checked to lie in ``[-k, k)`` and to differ
    (traced indices under ``vmap`` cannot be: JAX clamps out-of-range indices).
    """
    check_array(w, "w", ndim=2, min_size={0: 2})
    check_array(b, "b", ndim=1)
    check_array(x, "x", ndim=1)
    k = w.shape[0]
    if b.shape != (k,) or x.shape != (w.shape[1],):
        raise ValueError(f"b must have shape ({k},) and x shape ({w.shape[1]},) to match w {w.shape}, got "
                         f"{b.shape} and {x.shape}")
    for name, idx in (("i", i), ("j", j)):
        if isinstance(idx, (int, np.integer)) and not isinstance(idx, bool) and not -k <= idx < k:
            raise ValueError(f"{name} must index one of the {k} classes (-{k} <= {name} < {k}), got {idx}")
    if all(isinstance(idx, (int, np.integer)) for idx in (i, j)) and i % k == j % k:
        raise ValueError(f"i and j must be two different classes, got {i} and {j}")
    f = w @ x + b
    return (f[i] - f[j]) / jnp.linalg.norm(w[i] - w[j])


def affine_min_perturbation(w: Float[Array, "k d"], b: Float[Array, " k"] | None, x: Float[Array, " d"],
                            label: int | Int[Array, ""] | None = None) -> MinPerturbation:
    """Exact minimal l2 perturbation that changes the label of ``f(x) = w x + b`` at ``x``.

    Args:
      w: ``(k, d)`` weights, one row per class.
      b: ``(k,)`` biases or ``None``.
      x: ``(d,)`` input.
      label: the class to move away from; defaults to ``argmax f(x)``. If ``x`` is already not classified as
        ``label`` the distance is 0.

    Returns:
      ``MinPerturbation(distance, target, delta, label)``.
    """
    check_array(w, "w", ndim=2, min_size={0: 2})
    check_array(x, "x", ndim=1)
    if x.shape[0] != w.shape[1]:
        raise ValueError(f"x must have length {w.shape[1]} to match w, got shape {x.shape}")
    if b is None:
        b = jnp.zeros(w.shape[0], w.dtype)
    check_array(b, "b", ndim=1)
    if b.shape[0] != w.shape[0]:
        raise ValueError(f"b must have length {w.shape[0]} to match w, got shape {b.shape}")
    k = w.shape[0]
    if label is not None and not isinstance(label, jax.core.Tracer):
        lab = np.asarray(label)
        if lab.ndim != 0 or not np.issubdtype(lab.dtype, np.integer) or not 0 <= int(lab) < k:
            raise ValueError(f"label must be an integer class index in [0, {k}), got {label!r}")
    f = w @ x + b
    i = jnp.argmax(f) if label is None else jnp.asarray(label)
    diff = w[i][None, :] - w
    norms = jnp.linalg.norm(diff, axis=1)
    dist = (f[i] - f) / norms
    dist = jnp.where(jnp.arange(w.shape[0]) == i, jnp.inf, dist)
    j = jnp.argmin(dist)
    best = jnp.maximum(dist[j], 0.0)
    delta = -best * diff[j] / norms[j]
    return MinPerturbation(best, j, delta, i)


def collapse_linear(layers: Sequence[tuple[Float[Array, "_o _i"], Float[Array, " _o"] | None]]
                    ) -> tuple[Float[Array, "k d"], Float[Array, " k"]]:
    """Collapse ``x -> W_L(...(W_1 x + b_1)...) + b_L`` into one affine map ``(W, b)``.

    Args:
      layers: ``[(W_1, b_1), ..., (W_L, b_L)]`` with ``W_l`` of shape ``(out, in)``; a bias may be ``None``.
    """
    if not isinstance(layers, (list, tuple)):
        raise TypeError(f"layers must be a list of (W, b) pairs, got {type(layers).__name__}")
    if len(layers) == 0:
        raise ValueError("layers must hold at least one (W, b) pair")
    w_tot, b_tot = None, None
    for n, (w, b) in enumerate(layers):
        check_array(w, f"layers[{n}][0]", ndim=2)
        b = jnp.zeros(w.shape[0], w.dtype) if b is None else check_array(b, f"layers[{n}][1]", ndim=1)
        if b.shape[0] != w.shape[0]:
            raise ValueError(f"layers[{n}] has {w.shape[0]} outputs but a bias of shape {b.shape}")
        if w_tot is None:
            w_tot, b_tot = w, b
            continue
        if w.shape[1] != w_tot.shape[0]:
            raise ValueError(f"layers[{n}] takes {w.shape[1]} inputs but the previous layer gives {w_tot.shape[0]}")
        w_tot, b_tot = w @ w_tot, w @ b_tot + b
    return w_tot, b_tot
