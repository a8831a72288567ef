"""Input gradients of the loss and first-order adversarial damage (Simon-Gabriel et al., ICML 2019).

For an attack of l_p size ``eps`` the damage ``max_{||δ||_p <= eps} L(x + δ) − L(x)`` equals
``eps·||∂_x L||_q + O(eps²)`` with ``1/p + 1/q = 1`` (Hölder; our notes S1 [D]), attained at the dual direction
``sign(g)|g|^(q−1)`` scaled to ``||δ||_p = eps``. Training on such perturbations is, at first order, training with
the penalty ``eps·||∂_x L||_q`` (S2; the authors' code ``penalties.py``: ``gPenalty`` and ``advAugment`` [CODE]),
and budgets are compared across norms at the same per-pixel size, ``eps_p = eps_inf·d^(1/p)`` (S3 [CODE]).

Every function takes ``logits_fn(params, x)`` on a batch ``x`` of shape ``(n, *input_shape)`` with labels ``y`` of
shape ``(n,)``; samples must not interact (no batch norm in training mode), so the per-sample input gradients are
the gradient of the *sum* of per-sample losses: one backward pass per batch, as in the authors' code (gradient of
the batch mean times the batch size). Norms are taken over all non-batch axes, ``d = prod(input_shape)``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._types import Array, Float, Int
from ._validate import check_array, check_float, check_int
from .attacks import LogitsFn, Params, _check_common, _cross_entropy
from .frameworks import as_static

_P_ALIASES = {"l1": 1.0, "l2": 2.0, "linf": math.inf}


def check_p(p: Any, name: str = "p") -> float:
    """An l_p exponent in ``[1, inf]`` (``float('inf')`` or ``jnp.inf`` for the max norm); the attacks' spellings
    ``"l1"``, ``"l2"``, ``"linf"`` are accepted as aliases (one norm convention across fcjax: the exponent)."""
    if isinstance(p, str) and p in _P_ALIASES:
        return _P_ALIASES[p]
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"{name} must be a real number in [1, inf], got {type(p).__name__} {p!r}")
    p = float(p)
    if math.isnan(p) or p < 1:
        raise ValueError(f"{name} must be in [1, inf], got {p}")
    return p


def dual_exponent(p: float) -> float:
    """``q`` with ``1/p + 1/q = 1``: ``inf -> 1``, ``1 -> inf``, ``2 -> 2``."""
    p = check_p(p)
    if p == 1:
        return math.inf
    if math.isinf(p):
        return 1.0
    return p / (p - 1)


def lp_norm(v: Float[Array, "n ..."], p: float) -> Float[Array, " n"]:
    """``||v_i||_p`` of each sample (row) over all its other axes."""
    p = check_p(p)
    return _lp_norm(_per_sample(v, "v"), p)


def _per_sample(v: Any, name: str) -> Array:
    """A real floating array with a leading sample axis; NaN or inf in concrete input is an error (traced NaN
    propagates, never becomes 0)."""
    check_array(v, name)
    if v.ndim < 1:
        raise ValueError(f"{name} must have a leading sample axis, got shape {v.shape}")
    return v


def _lp_norm(v: Array, p: float) -> Array:
    flat = jnp.abs(v.reshape(v.shape[0], math.prod(v.shape[1:])))  # not -1: an empty batch is (0, d)
    if math.isinf(p):
        return jnp.max(flat, axis=1)
    if p == 1:
        return jnp.sum(flat, axis=1)
    # Scale by the max first so that |v|^p neither overflows nor underflows for large or tiny entries (p = 2
    # included: 1e200 or float32 1e-30 entries). Zero rows take the safe branch of a double ``where``, so the
    # derivative stays finite there (0, not NaN: ``s^(1/p)`` has an infinite slope at 0; a dead-ReLU sample has
    # ``g_i = 0`` exactly and the gradient penalty is differentiated through this norm).
    top = jnp.max(flat, axis=1)
    live = top != 0  # NaN rows count as live, so NaN propagates
    scaled = flat / jnp.where(live, top, 1)[:, None]
    if p == 2:
        root = jnp.sqrt(jnp.where(live, jnp.sum(scaled * scaled, axis=1), 1))
    else:
        root = jnp.where(live, jnp.sum(scaled**p, axis=1), 1) ** (1 / p)
    return jnp.where(live, top * root, 0)


def per_sample_loss(logits_fn: LogitsFn, params: Params, x: Float[Array, "n ..."], y: Int[Array, " n"]
                    ) -> Float[Array, " n"]:
    """Softmax cross-entropy ``L(x_i, y_i)`` of each sample (the paper's loss)."""
    return _cross_entropy(logits_fn(params, x), y)


def input_gradients(logits_fn: LogitsFn, params: Params, x: Float[Array, "n ..."], y: Int[Array, " n"]
                    ) -> Float[Array, "n ..."]:
    """``∂_x L(x_i, y_i)`` for each sample: the gradient of the sum of per-sample cross-entropies (shape of ``x``)."""
    x, y = check_inputs(logits_fn, params, x, y)
    return _grad(logits_fn, params, x, y)


# Unchecked cores: the public functions check their arguments once and then call these, so no call re-validates
# (re-traces logits_fn for its shape) inside another or inside a loop body.
def _grad(logits_fn: LogitsFn, params: Params, x: Array, y: Array) -> Array:
    return jax.grad(lambda z: jnp.sum(per_sample_loss(logits_fn, params, z, y)))(x)


def _damage(logits_fn: LogitsFn, params: Params, x: Array, y: Array, delta: Array) -> Array:
    return per_sample_loss(logits_fn, params, x + delta, y) - per_sample_loss(logits_fn, params, x, y)


def _penalty_scale(x: Array, q: float) -> float:
    """``d^(1−1/q) = d^(1/p)``, the authors' scaling of the penalty and of the perturbation [CODE]."""
    return float(math.prod(x.shape[1:])) ** (1 - 1 / q)


def gradient_norms(logits_fn: LogitsFn, params: Params, x: Float[Array, "n ..."], y: Int[Array, " n"],
                   ps: tuple[float, ...] = (1.0, 2.0)) -> dict[float, Float[Array, " n"]]:
    """``{p: ||∂_x L(x_i, y_i)||_p}`` for each requested ``p`` (the paper's ``norm1``, ``norm2``)."""
    x, y = check_inputs(logits_fn, params, x, y)
    g = _grad(logits_fn, params, x, y)
    return {p: _lp_norm(g, p) for p in ps}


def dual_direction(g: Float[Array, "n ..."], p: float) -> Float[Array, "n ..."]:
    """The unit-l_p ``δ_i`` maximising ``<g_i, δ_i>``, so that ``<g_i, δ_i> = ||g_i||_q`` (Hölder's equality case).

    ``sign(g)`` for ``p = inf``; ``g/||g||_2`` for ``p = 2``; ``sign(g)|g|^(q−1)/||·||_p`` in general (the authors'
    ``advAugment`` direction [CODE]); for ``p = 1`` the signed unit vector at the largest ``|g|`` entry. Rows with
    ``g_i = 0`` give ``δ_i = 0``.
    """
    p = check_p(p)
    g = _per_sample(g, "g")
    flat = g.reshape(g.shape[0], math.prod(g.shape[1:]))
    if math.isinf(p):
        out = jnp.sign(flat)
    elif p == 1:
        idx = jnp.argmax(jnp.abs(flat), axis=1)
        out = jax.nn.one_hot(idx, flat.shape[1], dtype=flat.dtype) * jnp.sign(flat)
    else:
        q = dual_exponent(p)
        top = jnp.max(jnp.abs(flat), axis=1, keepdims=True)
        raw = jnp.sign(flat) * (jnp.abs(flat) / jnp.where(top > 0, top, 1)) ** (q - 1)
        size = _lp_norm(raw, p)[:, None]
        out = raw / jnp.where(size > 0, size, 1)
    return out.reshape(g.shape)


def calibrated_eps(eps_inf: float, d: int, p: float) -> float:
    """``eps_p = eps_inf·d^(1/p)``: an l_p budget of the same per-pixel size as ``eps_inf`` (notes S3 [CODE])."""
    eps_inf = check_float(eps_inf, "eps_inf", low=0.0)
    p = check_p(p)
    if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1:
        raise ValueError(f"d must be a positive integer, got {d!r}")
    return eps_inf * (1.0 if math.isinf(p) else float(d) ** (1 / p))


def first_order_damage(g: Float[Array, "n ..."], eps: float | Float[Array, ""], p: float) -> Float[Array, " n"]:
    """``eps·||g_i||_q``: the first-order l_p damage of each sample (notes S1 [D])."""
    q = dual_exponent(p)
    return eps * _lp_norm(_per_sample(g, "g"), q)


def damage(logits_fn: LogitsFn, params: Params, x: Float[Array, "n ..."], y: Int[Array, " n"],
           delta: Float[Array, "n ..."]) -> Float[Array, " n"]:
    """``L(x_i + δ_i, y_i) − L(x_i, y_i)`` of each sample: the damage a perturbation really does."""
    x, y = check_inputs(logits_fn, params, x, y)
    check_array(delta, "delta")
    if delta.shape != x.shape:
        raise ValueError(f"delta must have x's shape {x.shape} (one perturbation per input), got {delta.shape}")
    return _damage(logits_fn, params, x, y, delta)


def dual_attack(logits_fn: LogitsFn, params: Params, x: Float[Array, "n ..."], y: Int[Array, " n"],
                eps: float | Float[Array, ""], p: float) -> Float[Array, "n ..."]:
    """One step of size ``eps`` along the dual direction of the input gradient: FGSM for ``p = inf``, the fast
    gradient method for ``p = 2``, the authors' single-step l_p augmentation in general."""
    x, y = check_inputs(logits_fn, params, x, y)
    return eps * dual_direction(_grad(logits_fn, params, x, y), p)


def protocol_pgd(logits_fn: LogitsFn, params: Params, x: Float[Array, "n ..."], y: Int[Array, " n"],
                 eps: float | Float[Array, ""], steps: int = 10) -> Float[Array, "n ..."]:
    """The authors' damage attack (``penalties.py`` ``pgd`` [CODE]): l_inf projected ascent on the cross-entropy
    from ``δ = 0``, ``steps`` steps of size ``eps/(0.75·steps)``, returning the *last* iterate (unlike
    :func:`fcjax.attacks.pgd`, which keeps the iterate best at flipping the label)."""
    x, y = check_inputs(logits_fn, params, x, y)
    steps = check_int(steps, "steps", minimum=1)
    return _ascent(logits_fn, params, x, y, eps, eps / (0.75 * steps), math.inf, steps)


def pgd_perturbation(logits_fn: LogitsFn, params: Params, x: Float[Array, "n ..."], y: Int[Array, " n"],
                     eps: float | Float[Array, ""] | Float[Array, " n"], p: float = 2.0, steps: int = 7
                     ) -> Float[Array, "n ..."]:
    """The inner maximisation of PGD training (Madry et al., ICLR 2018), deterministic: ``steps`` projected ascent
    steps on the cross-entropy from ``δ = 0`` (Madry et al. start at random) inside the l_p ball of radius ``eps``
    (a scalar or one radius per sample, ``>= 0``), ``p`` in ``{2, inf}``, step ``2.5·eps/steps`` along the dual
    direction of the gradient (the rule of thumb of the ``robustness`` library's docs), returning the last iterate.
    """
    x, y = check_inputs(logits_fn, params, x, y)
    eps = _check_radius(eps, x.shape[0])
    p = _pgd_p(p, "p")
    steps = check_int(steps, "steps", minimum=1)
    return _ascent(logits_fn, params, x, y, eps, 2.5 * jnp.asarray(eps) / steps, p, steps)


def _check_radius(eps: Any, n: int) -> Any:
    """A scalar radius or one per sample (shape ``(n,)``); concrete values must be finite and ``>= 0``."""
    if isinstance(eps, jax.core.Tracer):
        if jnp.ndim(eps) not in (0, 1) or (jnp.ndim(eps) == 1 and eps.shape[0] != n):
            raise ValueError(f"eps must be a scalar or have shape ({n},), got shape {jnp.shape(eps)}")
        return eps
    arr = np.asarray(eps)
    if arr.dtype.kind not in "biuf" or arr.dtype == bool:
        raise TypeError(f"eps must be a real number or array, got {type(eps).__name__}")
    if arr.ndim not in (0, 1) or (arr.ndim == 1 and arr.shape[0] != n):
        raise ValueError(f"eps must be a scalar or have shape ({n},), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"eps must be finite and >= 0, got {eps!r}")
    return eps


def _pgd_p(p: Any, name: str) -> float:
    p = check_p(p, name)
    if p != 2 and not math.isinf(p):
        raise ValueError(f"{name} must be 2 or inf for projected gradient ascent (a closed-form projection), got {p}")
    return p


def _ascent(logits_fn: LogitsFn, params: Params, x: Array, y: Array, eps: Any, alpha: Any, p: float, steps: int
            ) -> Array:
    """Projected ascent on the cross-entropy in the l_p ball of radius ``eps`` (p = 2 or inf), steps of size
    ``alpha`` (scalars or one per sample); the last iterate."""
    def per_sample(v):  # one value per sample broadcasts over its input axes
        v = jnp.asarray(v)
        return v.reshape(v.shape + (1,) * (x.ndim - 1)) if v.ndim == 1 else v

    eps, alpha = per_sample(eps), per_sample(alpha)

    def body(_, delta):
        delta = delta + alpha * dual_direction(_grad(logits_fn, params, x + delta, y), p)
        if math.isinf(p):
            return jnp.clip(delta, -eps, eps)
        size = _lp_norm(delta, 2.0).reshape((-1,) + (1,) * (x.ndim - 1))
        return delta * jnp.minimum(1.0, eps / jnp.where(size > 0, size, 1))

    return jax.lax.fori_loop(0, steps, body, jnp.zeros_like(x))


def gradient_penalty(logits_fn: LogitsFn, params: Params, x: Float[Array, "n ..."], y: Int[Array, " n"],
                     lam: float | Float[Array, ""], q: float = 1.0) -> Float[Array, ""]:
    """``λ·d^(1−1/q)·mean_i ||∂_x L(x_i)||_q / 2``: double back-propagation with the authors' d-scaling (``gPenalty``
    in ``penalties.py`` [CODE]). Differentiable in ``params`` (a second-order term for training)."""
    x, y = check_inputs(logits_fn, params, x, y)
    q = check_p(q, "q")
    g = _grad(logits_fn, params, x, y)
    return lam * _penalty_scale(x, q) * jnp.mean(_lp_norm(g, q)) / 2


def adversarial_augmentation(logits_fn: LogitsFn, params: Params, x: Float[Array, "n ..."], y: Int[Array, " n"],
                             lam: float | Float[Array, ""], q: float = 1.0) -> Float[Array, ""]:
    """``(mean_i L(x_i + δ_i) − mean_i L(x_i))/2`` with ``δ = λ·d^(1/p)·dual_direction(∂_x L, p)``, ``1/p + 1/q = 1``
    (``advAugment`` in ``penalties.py`` [CODE]). ``δ`` is held fixed under differentiation (the adversarial
    example is data); equals :func:`gradient_penalty` up to ``O(λ²)`` (notes S2 [D])."""
    x, y = check_inputs(logits_fn, params, x, y)
    q = check_p(q, "q")
    delta = jax.lax.stop_gradient(dual_direction(_grad(logits_fn, params, x, y), dual_exponent(q)))
    return jnp.mean(_damage(logits_fn, params, x, y, lam * _penalty_scale(x, q) * delta)) / 2


def pgd_augmentation(logits_fn: LogitsFn, params: Params, x: Float[Array, "n ..."], y: Int[Array, " n"],
                     lam: float | Float[Array, ""], q: float = 2.0, steps: int = 7) -> Float[Array, ""]:
    """PGD adversarial training's term (Madry et al., ICLR 2018), in :func:`adversarial_augmentation`'s form:
    ``(mean_i L(x_i + δ_i) − mean_i L(x_i))/2`` with ``δ`` :func:`pgd_perturbation`'s ``steps``-step l_p attack of
    radius ``λ·d^(1/p)``, ``1/p + 1/q = 1`` (``q`` in ``{1, 2}``: l_inf or l2 attacks), held fixed under
    differentiation. Added to the clean loss it trains on half clean, half PGD examples; ``λ = 0`` adds 0."""
    x, y = check_inputs(logits_fn, params, x, y)
    q = check_p(q, "q")
    if q not in (1.0, 2.0):
        raise ValueError(f"q must be 1 (l_inf attacks) or 2 (l2) for PGD training, got {q}")
    p = dual_exponent(q)
    steps = check_int(steps, "steps", minimum=1)
    eps = lam * _penalty_scale(x, q)
    delta = jax.lax.stop_gradient(_ascent(logits_fn, params, x, y, eps, 2.5 * eps / steps, p, steps))
    return jnp.mean(_damage(logits_fn, params, x, y, delta)) / 2


PENALTIES = {"grad": gradient_penalty, "adv": adversarial_augmentation, "pgd": pgd_augmentation}


def check_inputs(logits_fn: Any, params: Params, x: Any, y: Any) -> tuple[Array, Array]:
    """The attacks' argument checks (callable, shapes, label range when concrete); returns ``(x, y)``."""
    x, y, _ = _check_common(logits_fn, params, x, y, None)
    logits_fn = as_static(logits_fn)  # equal functions share one compiled program
    return x, y


__all__ = ["PENALTIES", "adversarial_augmentation", "calibrated_eps", "check_inputs", "check_p", "damage",
           "dual_attack", "dual_direction", "dual_exponent", "first_order_damage", "gradient_norms",
           "gradient_penalty", "input_gradients", "lp_norm", "per_sample_loss", "pgd_augmentation", "pgd_perturbation",
           "protocol_pgd"]
