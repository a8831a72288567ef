"""Accuracy under attacks of growing strength: independent Gaussian noise and FGSM (Jiang, Zhou, Huang, 2021).

The paper attacks with "independent Gaussian noise" ``x + σξ``, ``ξ ~ N(0, I)`` per pixel, and with FGSM
``x + ε·sign(∂_x L)`` (Goodfellow et al., 2015); its grids of σ and ε, clipping, and which readout the FGSM gradient
goes through are unknown [D], so they are arguments here. Both functions take ``logits_fn(params, x)`` as the attacks
of :mod:`fcjax.attacks` do (samples must not interact) and return one accuracy per attack strength; both are
traceable, so ``jax.vmap`` over networks (batched ``params``) applies. Pass the same ``logits_fn`` object (a module
function, ``model.apply`` or a :class:`fcjax.local_errors.LayerClassifier`) to reuse compiled programs.

    >>> import jax, jax.numpy as jnp
    >>> from fcjax.robust_accuracy import fgsm_accuracy
    >>> f = lambda w, x: x @ w.T
    >>> w, x, y = jnp.array([[1.0, 0.0], [0.0, 1.0]]), jnp.array([[1.0, 0.0], [0.0, 0.5]]), jnp.array([0, 1])
    >>> fgsm_accuracy(f, w, x, y, [0.0, 0.2, 0.4, 0.6]).tolist()   # margins 1 and 0.5, each falling by 2ε
    [1.0, 1.0, 0.5, 0.0]
"""

from __future__ import annotations

import numbers
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._types import Array, Float, Int, Key
from ._validate import check_int, check_key
from .attacks import Clip, LogitsFn, Params, _check_common, fgsm
from .frameworks import as_static


def _check_grid(values: Any, name: str, dtype: Any) -> Array:
    """A non-empty 1-d grid of non-negative, finite attack strengths (checked when concrete), in ``dtype``."""
    if isinstance(values, list | tuple):
        for i, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise TypeError(f"{name}[{i}] must be a real number, got {type(v).__name__} {v!r}")
        values = np.asarray(values, dtype=np.float64)
    if not hasattr(values, "shape") or not hasattr(values, "dtype"):
        raise TypeError(f"{name} must be a 1-d array or a sequence of numbers, got {type(values).__name__}")
    if not (jnp.issubdtype(values.dtype, jnp.floating) or jnp.issubdtype(values.dtype, jnp.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {values.dtype}")
    if values.ndim != 1 or values.shape[0] < 1:
        raise ValueError(f"{name} must be a non-empty 1-d grid, got shape {values.shape}")
    if not isinstance(values, jax.core.Tracer):
        v = np.asarray(values)
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name} must be finite")
        if np.any(v < 0):
            raise ValueError(f"{name} must be >= 0, got a minimum of {v.min()}")
    return jnp.asarray(values, dtype)


def _correct(logits_fn: LogitsFn, params: Params, x: Array, y: Array, direction: Array, scale: Array,
             clip: Clip) -> Array:
    """How many points ``x + scale·direction`` (clipped to the box ``clip``) are classified correctly."""
    xa = x + scale * direction
    if clip is not None:
        xa = jnp.clip(xa, clip[0], clip[1])
    return jnp.sum(jnp.argmax(logits_fn(params, xa), axis=-1) == y)


@partial(jax.jit, static_argnames=("logits_fn", "clip"))
def _accuracy_along(logits_fn: LogitsFn, params: Params, x: Array, y: Array, directions: Array, scales: Array, *,
                    clip: Clip) -> Array:
    """``(s,)`` accuracies at ``x + scale·direction``, pooled over the leading axis of ``directions``.

    Correct counts are summed, then divided once, so a zero scale gives the clean accuracy to the last bit.
    """
    def along(direction: Array) -> Array:
        return jax.lax.map(lambda s: _correct(logits_fn, params, x, y, direction, s, clip), scales)

    total = jnp.sum(jax.lax.map(along, directions), axis=0)
    return total.astype(x.dtype) / (directions.shape[0] * x.shape[0])


def noise_accuracy(logits_fn: LogitsFn, params: Params, x: Float[Array, "n ..."], y: Int[Array, " n"],
                   sigmas: Float[Array, " s"] | list[float] | tuple[float, ...], key: Key, *, draws: int = 1,
                   clip: Clip = None) -> Float[Array, " s"]:
    """Accuracy under independent Gaussian noise ``x + σξ``, ``ξ ~ N(0, I)``, for each ``σ`` of a grid.

    The same ``draws`` noise samples ``ξ`` (from ``key``) serve every ``σ`` (common random numbers: the curve in
    ``σ`` is smooth and ``σ = 0`` gives the clean accuracy exactly); the accuracy is averaged over the draws.

    Args:
      logits_fn: ``logits_fn(params, x) -> (n, k)`` logits.
      params: the network's parameters (any pytree).
      x: ``(n, *input_shape)`` clean inputs.
      y: ``(n,)`` integer labels.
      sigmas: ``(s,)`` noise standard deviations, ``>= 0``.
      key: PRNG key of the noise.
      draws: noise samples per input.
      clip: ``(lo, hi)`` box for the noisy inputs (``x`` must lie inside it), or ``None``.

    Returns:
      ``(s,)`` accuracies in ``[0, 1]``.
    """
    x, y, clip = _check_common(logits_fn, params, x, y, clip)
    logits_fn = as_static(logits_fn)  # equal functions share one compiled program
    key = check_key(key)
    sigmas = _check_grid(sigmas, "sigmas", x.dtype)
    noise = jax.random.normal(key, (check_int(draws, "draws", minimum=1), *x.shape), x.dtype)
    return _accuracy_along(logits_fn, params, x, y, noise, sigmas, clip=clip)


def fgsm_accuracy(logits_fn: LogitsFn, params: Params, x: Float[Array, "n ..."], y: Int[Array, " n"],
                  epsilons: Float[Array, " s"] | list[float] | tuple[float, ...], *, norm: str | float = "linf",
                  clip: Clip = None) -> Float[Array, " s"]:
    """Accuracy under FGSM ``x + ε·sign(∂_x CE(x, y))`` for each ``ε`` of a grid (:func:`fcjax.attacks.fgsm`).

    The direction depends on ``x`` only, so it is computed once (``fgsm`` with ``eps = 1``) and scaled; ``x + εδ``
    is then clipped to ``clip``. ``norm="l2"`` uses the normalised gradient instead of its sign.

    Args:
      logits_fn: ``logits_fn(params, x) -> (n, k)`` logits; the FGSM gradient is taken through them.
      params: the network's parameters (any pytree).
      x: ``(n, *input_shape)`` clean inputs.
      y: ``(n,)`` integer labels.
      epsilons: ``(s,)`` attack sizes, ``>= 0``.
      norm: ``"linf"`` (FGSM) or ``"l2"`` (fast gradient method).
      clip: ``(lo, hi)`` box for the attacked inputs (``x`` must lie inside it), or ``None``.

    Returns:
      ``(s,)`` accuracies in ``[0, 1]``.
    """
    x, y, clip = _check_common(logits_fn, params, x, y, clip)
    logits_fn = as_static(logits_fn)  # equal functions share one compiled program
    epsilons = _check_grid(epsilons, "epsilons", x.dtype)
    direction = fgsm(logits_fn, params, x, y, 1.0, norm=norm).delta
    return _accuracy_along(logits_fn, params, x, y, direction[None], epsilons, clip=clip)


__all__ = ["fgsm_accuracy", "noise_accuracy"]
