"""Minimal-perturbation attacks, batched over samples and vmappable over networks: FGSM, PGD, DeepFool, min-norm.

Every attack takes ``logits_fn(params, x)``, a batch ``x`` of shape ``(n, *input_shape)`` and labels ``y`` of shape
``(n,)`` (the class to move away from: untargeted), and returns an :class:`AttackResult` whose ``success`` flag is
recomputed at the end from ``argmax logits_fn(params, x + delta) != y``, never carried over from the loop.

Assumption: ``logits_fn`` treats samples independently (row ``i`` of its output depends on ``x[i]`` only; no batch
norm in training mode, no cross-sample attention). Per-sample input gradients are then the gradient of the *sum*
over the batch of per-sample losses, one backward pass for the whole batch.

Iterative attacks are a factory of ``init``/``step`` functions run under ``lax.fori_loop``/``lax.while_loop``; samples
that are done are frozen by masked updates, so a sample's result does not depend on the rest of its batch (up to
rounding: a matrix product may round differently at another batch size, which :func:`min_norm` guards against). The
public functions check their arguments on the host (values only when they are concrete, not traced), then call one
jitted implementation with ``logits_fn`` and the options static: pass the same ``logits_fn`` object (a module-level
function or ``model.apply``) to reuse the compiled program; a fresh ``lambda`` per call recompiles.

    >>> import jax, jax.numpy as jnp
    >>> from fcjax.attacks import min_norm
    >>> w, b = jnp.array([[1.0, 0.0], [0.0, 1.0]]), jnp.zeros(2)
    >>> f = lambda p, x: x @ p[0].T + p[1][None, :]
    >>> res = min_norm(f, (w, b), jnp.array([[1.0, 0.0]]), jnp.array([0]))
    >>> bool(res.success[0]), round(float(res.norm[0]), 4)   # exact: 1 / sqrt(2)
    (True, 0.7071)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._types import Array, Bool, Float, Int, Key
from ._validate import check_array, check_float, check_int, check_key, check_labels, check_params, logits_shape
from .frameworks import as_static

Params = Any
LogitsFn = Callable[[Params, Array], Array]
Clip = tuple[float, float] | None

NORMS = ("l2", "linf")
# One norm spelling across fcjax: the exponent p (as in fcjax.gradients, ART and auto_LiRPA); the strings are aliases.
_NORM_OF_P = {2.0: "l2", math.inf: "linf"}
LOSSES = ("ce", "margin")


class AttackResult(NamedTuple):
    """A perturbation per sample and its size; ``success`` re-verified at ``x + delta``.

    ``norm`` is the l2 norm over all non-batch axes (for linf attacks too), ``linf`` the l-infinity norm.
    """

    delta: Float[Array, "n ..."]
    norm: Float[Array, " n"]
    linf: Float[Array, " n"]
    success: Bool[Array, " n"]


# ------------------------------------------------------------------------------------------------ small pieces
def _per_sample(s: Array, x: Array) -> Array:
    """``(n,)`` -> ``(n, 1, ..., 1)`` to scale ``x``-shaped arrays sample by sample (rank promotion raises)."""
    return s.reshape(s.shape + (1,) * (x.ndim - 1))


def _l2(v: Array) -> Array:
    return jnp.linalg.norm(v.reshape(v.shape[0], -1), axis=1)


def _linf(v: Array) -> Array:
    return jnp.max(jnp.abs(v.reshape(v.shape[0], -1)), axis=1)


def _margin(z: Float[Array, "n k"], y: Int[Array, " n"]) -> Float[Array, " n"]:
    """``max_{j != y} z_j - z_y``: positive exactly where the label has changed (up to argmax ties)."""
    is_y = jnp.arange(z.shape[1])[None, :] == y[:, None]
    z_y = jnp.take_along_axis(z, y[:, None], axis=1)[:, 0]
    return jnp.max(jnp.where(is_y, -jnp.inf, z), axis=1) - z_y


def _cross_entropy(z: Float[Array, "n k"], y: Int[Array, " n"]) -> Float[Array, " n"]:
    """``-log softmax(z)_y``."""
    return jax.nn.logsumexp(z, axis=1) - jnp.take_along_axis(z, y[:, None], axis=1)[:, 0]


_LOSS_FNS = {"ce": _cross_entropy, "margin": _margin}


def _flipped(z: Float[Array, "n k"], y: Int[Array, " n"]) -> Bool[Array, " n"]:
    return jnp.argmax(z, axis=1) != y


def _clears(z: Float[Array, "n k"], y: Int[Array, " n"], tau: Float[Array, " n"]) -> Bool[Array, " n"]:
    """Flipped with room to spare: ``max_{j != y} z_j - z_y > tau`` (``tau >= 0``, so the argmax is not y)."""
    return _margin(z, y) > tau


def _box(x: Array, delta: Array, clip: Clip) -> Array:
    """The perturbation that lands ``x + delta`` in the box; every logit is evaluated at ``x + _box(...)``."""
    if clip is None:
        return delta
    return jnp.clip(x + delta, clip[0], clip[1]) - x


def _loss_and_grad(logits_fn: LogitsFn, params: Params, x: Array, y: Array, delta: Array, loss: str
                   ) -> tuple[Array, Array]:
    """Logits at ``x + delta`` and the per-sample gradient of the loss (sum over samples, see module docstring)."""

    def total(d: Array) -> tuple[Array, Array]:
        z = logits_fn(params, x + d)
        return jnp.sum(_LOSS_FNS[loss](z, y)), z

    (_, z), g = jax.value_and_grad(total, has_aux=True)(delta)
    return z, g


def _ascent_direction(g: Array, norm: str) -> Array:
    """Steepest ascent under the norm's unit ball: ``sign(g)`` for linf, ``g / ||g||_2`` for l2 (0 where g = 0)."""
    if norm == "linf":
        return jnp.sign(g)
    gn = _l2(g)
    return g / _per_sample(jnp.where(gn > 0, gn, 1.0), g)


def _project(delta: Array, eps: Array, norm: str) -> Array:
    """Projection onto the ball of radius ``eps`` (per sample)."""
    if norm == "linf":
        e = _per_sample(eps, delta)
        return jnp.clip(delta, -e, e)
    n = _l2(delta)
    # A few ulps inside the sphere, so that the reported norm (the same sum, rounded again) never exceeds eps.
    shrink = eps * (1 - 8 * jnp.finfo(delta.dtype).eps) / jnp.where(n > 0, n, 1.0)
    return delta * _per_sample(jnp.where(n > eps, shrink, 1.0).astype(delta.dtype), delta)


def _random_start(key: Key, x: Array, eps: Array, norm: str) -> Array:
    """Uniform in the ball: a uniform cube for linf; a Gaussian direction and radius ``eps u^(1/D)`` for l2."""
    k_dir, k_rad = jax.random.split(key)
    if norm == "linf":
        e = _per_sample(eps, x)
        return jax.random.uniform(k_dir, x.shape, x.dtype, -1.0, 1.0) * e
    g = jax.random.normal(k_dir, x.shape, x.dtype)
    dim = int(np.prod(x.shape[1:]))
    radius = eps * jax.random.uniform(k_rad, eps.shape, x.dtype) ** (1.0 / dim)
    return g * _per_sample(radius / jnp.maximum(_l2(g), jnp.finfo(x.dtype).tiny), x)


def _result(logits_fn: LogitsFn, params: Params, x: Array, y: Array, delta: Array) -> AttackResult:
    """Re-verify at ``x + delta`` (the point a caller would rebuild) and measure."""
    success = _flipped(logits_fn(params, x + delta), y)
    return AttackResult(delta, _l2(delta), _linf(delta), success)


# ------------------------------------------------------------------------------------------------ validation
def _is_concrete(a: Any) -> bool:
    return not isinstance(a, jax.core.Tracer)


def _check_common(logits_fn: Any, params: Params, x: Any, y: Any, clip: Any) -> tuple[Array, Array, Clip]:
    """Shapes, dtypes, the logits' shape and (when concrete) label range and box; returns ``(x, y, clip)``."""
    if not callable(logits_fn):
        raise TypeError(f"logits_fn must be callable as logits_fn(params, x), got {type(logits_fn).__name__}")
    check_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (n, *input_shape) with at least 2 dimensions, got shape {x.shape}")
    x = jnp.asarray(x)
    check_params(params)
    out = logits_shape(logits_fn, params, x)
    if getattr(out, "ndim", None) != 2 or out.shape[0] != x.shape[0] or out.shape[1] < 2:
        raise ValueError(f"logits_fn(params, x) must return logits of shape ({x.shape[0]}, k) with k >= 2, got "
                         f"{getattr(out, 'shape', type(out).__name__)}")
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(f"logits_fn(params, x) must return floating logits, got {out.dtype}")
    y = check_labels(y, "y", x.shape[:1], classes=out.shape[1])
    if clip is not None:
        if not isinstance(clip, tuple | list) or len(clip) != 2:
            raise TypeError(f"clip must be None or a pair (lo, hi) of floats, got {clip!r}")
        lo, hi = check_float(clip[0], "clip[0]"), check_float(clip[1], "clip[1]")
        if not lo < hi:
            raise ValueError(f"clip must satisfy lo < hi, got {clip!r}")
        clip = (lo, hi)
        if _is_concrete(x):
            xv = np.asarray(x)
            if xv.size and (xv.min() < lo or xv.max() > hi):
                raise ValueError(f"x must lie inside clip=({lo}, {hi}) (the box the attack keeps x + delta in)")
    return x, y, clip


def _check_eps(eps: Any, x: Array, name: str = "eps") -> Array:
    """A scalar or ``(n,)`` radius, non-negative and finite when concrete; returned as ``(n,)`` in x's dtype."""
    if isinstance(eps, numbers.Real) and not isinstance(eps, bool):
        eps = check_float(eps, name, low=0.0)
    elif hasattr(eps, "shape") and hasattr(eps, "dtype"):
        if not jnp.issubdtype(eps.dtype, jnp.floating) and not jnp.issubdtype(eps.dtype, jnp.integer):
            raise TypeError(f"{name} must be a real number or a real array, got dtype {eps.dtype}")
        if eps.shape not in ((), x.shape[:1]):
            raise ValueError(f"{name} must be a scalar or have shape ({x.shape[0]},), got shape {eps.shape}")
        if _is_concrete(eps):
            ev = np.asarray(eps)
            if not np.all(np.isfinite(ev)):
                raise ValueError(f"{name} must be finite")
            if np.any(ev < 0):
                raise ValueError(f"{name} must be >= 0, got a minimum of {ev.min()}")
    else:
        raise TypeError(f"{name} must be a real number or an array of shape (n,), got {type(eps).__name__}")
    return jnp.broadcast_to(jnp.asarray(eps, x.dtype), x.shape[:1])


def _check_norm(norm: Any) -> str:
    """``2`` / ``"l2"`` or ``inf`` / ``"linf"``, returned as the internal name."""
    if isinstance(norm, str) and norm in NORMS:
        return norm
    if isinstance(norm, numbers.Real) and not isinstance(norm, bool) and float(norm) in _NORM_OF_P:
        return _NORM_OF_P[float(norm)]
    raise ValueError(f"norm must be one of 2 (alias 'l2') or inf (alias 'linf'), got {norm!r}")


def _check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


# ------------------------------------------------------------------------------------------------ FGSM
@partial(jax.jit, static_argnames=("logits_fn", "norm", "loss", "clip"))
def _fgsm(logits_fn: LogitsFn, params: Params, x: Array, y: Array, eps: Array, *, norm: str, loss: str,
          clip: Clip) -> AttackResult:
    _, g = _loss_and_grad(logits_fn, params, x, y, jnp.zeros_like(x), loss)
    delta = _box(x, _per_sample(eps, x) * _ascent_direction(g, norm), clip)
    return _result(logits_fn, params, x, y, delta)


def fgsm(logits_fn: LogitsFn, params: Params, x: Float[Array, "n ..."], y: Int[Array, " n"],
         eps: float | Float[Array, ""] | Float[Array, " n"], *, norm: str | float = "linf", clip: Clip = None,
         loss: str = "ce"
         ) -> AttackResult:
    """Fast gradient (sign) method: one step of size ``eps`` along the loss gradient (Goodfellow et al., 2015).

    ``delta = eps * sign(grad_x L(x, y))`` for ``norm="linf"``; ``delta = eps * g / ||g||_2`` for ``norm="l2"``
    (zero where the gradient vanishes); then ``x + delta`` is clipped to the box ``clip``. ``L`` is the softmax
    cross-entropy by default (the paper's), or ``loss="margin"``.

    Args:
      logits_fn: ``logits_fn(params, x) -> (n, k)`` logits; samples must not interact.
      params: the network's parameters (any pytree; may be batched by an outer ``jax.vmap``).
      x: ``(n, *input_shape)`` inputs.
      y: ``(n,)`` integer labels to move away from.
      eps: the radius, a scalar or one per sample ``(n,)``.
      norm: the exponent p, ``inf`` or ``2`` (aliases ``"linf"``, ``"l2"``).
      clip: ``(lo, hi)`` box for ``x + delta``, or ``None``.
      loss: ``"ce"`` or ``"margin"``.

    Returns:
      :class:`AttackResult` with ``success`` re-verified at ``x + delta``.
    """
    x, y, clip = _check_common(logits_fn, params, x, y, clip)
    logits_fn = as_static(logits_fn)  # equal functions share one compiled program
    eps = _check_eps(eps, x)
    norm = _check_norm(norm)
    loss = _check_choice(loss, "loss", LOSSES)
    return _fgsm(logits_fn, params, x, y, eps, norm=norm, loss=loss, clip=clip)


# ------------------------------------------------------------------------------------------------ PGD
class PGDState(NamedTuple):
    """The iterate and the best point seen so far (successful first, then the larger margin)."""

    delta: Array
    best: Array
    best_success: Array
    best_margin: Array


def pgd_factory(logits_fn: LogitsFn, params: Params, x: Array, y: Array, eps: Array, step_size: Array, *,
                norm: str, loss: str, clip: Clip
                ) -> tuple[Callable[[Array], PGDState], Callable[[PGDState], PGDState], Callable[[PGDState], Array]]:
    """``(init, step, finish)`` of projected gradient ascent; run ``step`` under a lax loop (see :func:`pgd`).

    ``step`` evaluates the current iterate (logits and loss gradient in one pass), records it if it beats the best,
    then moves; ``finish`` evaluates the last iterate and returns the best perturbation.
    """

    def better(z: Array, state: PGDState) -> tuple[Array, Array, Array]:
        ok, m = _flipped(z, y), _margin(z, y)
        win = (ok & ~state.best_success) | ((ok == state.best_success) & (m > state.best_margin))
        return win, ok, m

    def record(state: PGDState, z: Array) -> PGDState:
        win, ok, m = better(z, state)
        return state._replace(best=jnp.where(_per_sample(win, x), state.delta, state.best),
                              best_success=jnp.where(win, ok, state.best_success),
                              best_margin=jnp.where(win, m, state.best_margin))

    margin_dtype = jax.eval_shape(logits_fn, params, x).dtype  # may differ from x's (float64 params, float32 x)

    def init(delta0: Array) -> PGDState:
        delta = _box(x, _project(delta0, eps, norm), clip)
        n = x.shape[0]
        return PGDState(delta, delta, jnp.zeros(n, bool), jnp.full(n, -jnp.inf, margin_dtype))

    def step(state: PGDState) -> PGDState:
        z, g = _loss_and_grad(logits_fn, params, x, y, state.delta, loss)
        state = record(state, z)
        moved = state.delta + _per_sample(step_size, x) * _ascent_direction(g, norm)
        return state._replace(delta=_box(x, _project(moved, eps, norm), clip))

    def finish(state: PGDState) -> Array:
        return record(state, logits_fn(params, x + state.delta)).best

    return init, step, finish


def _pgd_run(logits_fn: LogitsFn, params: Params, x: Array, y: Array, eps: Array, step_size: Array,
             delta0: Array, *, steps: int, norm: str, loss: str, clip: Clip) -> Array:
    init, step, finish = pgd_factory(logits_fn, params, x, y, eps, step_size, norm=norm, loss=loss, clip=clip)
    return finish(lax.fori_loop(0, steps, lambda _, s: step(s), init(delta0)))


@partial(jax.jit, static_argnames=("logits_fn", "norm", "loss", "clip", "steps"))
def _pgd(logits_fn: LogitsFn, params: Params, x: Array, y: Array, eps: Array, step_size: Array, key: Key | None,
         *, steps: int, norm: str, loss: str, clip: Clip) -> AttackResult:
    delta0 = jnp.zeros_like(x) if key is None else _random_start(key, x, eps, norm)
    delta = _pgd_run(logits_fn, params, x, y, eps, step_size, delta0, steps=steps, norm=norm, loss=loss, clip=clip)
    return _result(logits_fn, params, x, y, delta)


def pgd(logits_fn: LogitsFn, params: Params, x: Float[Array, "n ..."], y: Int[Array, " n"],
        eps: float | Float[Array, ""] | Float[Array, " n"], *, norm: str | float = "l2", steps: int = 20,
        step_size: float | Float[Array, ""] | Float[Array, " n"] | None = None, key: Key | None = None,
        loss: str = "margin", clip: Clip = None) -> AttackResult:
    """Projected gradient ascent on the loss inside the ``eps``-ball (Madry et al., 2018).

    ``delta <- Proj_{||.|| <= eps, box}(delta + alpha * u(grad_delta L(x + delta, y)))`` with ``u = sign`` (linf) or
    ``g / ||g||_2`` (l2), ``steps`` times; ``L`` is the margin ``max_{j != y} f_j - f_y`` (Carlini & Wagner's,
    default) or the cross-entropy. Returns the best iterate (a successful one where any was, else the largest
    margin), not merely the last. ``||delta|| <= eps`` holds for the returned norms (the l2 projection lands a few
    ulps inside the sphere); with ``clip`` the box is applied after the ball.

    Args:
      logits_fn, params, x, y: as in :func:`fgsm`.
      eps: radius, scalar or ``(n,)``.
      norm: the exponent p, ``2`` or ``inf`` (aliases ``"l2"``, ``"linf"``).
      steps: number of gradient steps (>= 1).
      step_size: ``alpha``; default ``2.5 * eps / steps`` (Madry et al.'s choice).
      key: ``None`` starts at ``delta = 0``; a PRNG key starts uniformly in the ball.
      loss: ``"margin"`` or ``"ce"``.
      clip: ``(lo, hi)`` box for ``x + delta``, or ``None``.

    Returns:
      :class:`AttackResult`.
    """
    x, y, clip = _check_common(logits_fn, params, x, y, clip)
    logits_fn = as_static(logits_fn)  # equal functions share one compiled program
    eps = _check_eps(eps, x)
    norm = _check_norm(norm)
    loss = _check_choice(loss, "loss", LOSSES)
    steps = check_int(steps, "steps", minimum=1)
    alpha = 2.5 * eps / steps if step_size is None else _check_eps(step_size, x, "step_size")
    if key is not None:
        key = check_key(key)
    return _pgd(logits_fn, params, x, y, eps, alpha, key, steps=steps, norm=norm, loss=loss, clip=clip)


# ------------------------------------------------------------------------------------------------ DeepFool
class DeepFoolState(NamedTuple):
    """``r_tot``: the accumulated linearised steps; the iterate is ``x + (1 + overshoot) r_tot`` (boxed)."""

    i: Array
    r_tot: Array
    active: Array


def _class_candidates(z: Float[Array, "n k"], y: Int[Array, " n"], candidates: int) -> Int[Array, "n m"]:
    """``[y, others...]`` per sample: every other class, or the ``candidates`` largest other logits."""
    k = z.shape[1]
    if k - 1 <= candidates:
        j = jnp.arange(k - 1, dtype=y.dtype)[None, :]
        others = j + (j >= y[:, None]).astype(y.dtype)
    else:
        is_y = jnp.arange(k)[None, :] == y[:, None]
        others = lax.top_k(jnp.where(is_y, -jnp.inf, z), candidates)[1].astype(y.dtype)
    return jnp.concatenate([y[:, None], others], axis=1)


def deepfool_factory(logits_fn: LogitsFn, params: Params, x: Array, y: Array, *, steps: int, overshoot: float,
                     candidates: int, clip: Clip, target: Array | None = None, tau: Array | None = None
                     ) -> tuple[Callable[[], DeepFoolState], Callable[[DeepFoolState], Array],
                                Callable[[DeepFoolState], DeepFoolState], Callable[[DeepFoolState], Array]]:
    """``(init, cond, step, finish)`` of multi-class DeepFool for ``lax.while_loop`` (see :func:`deepfool`).

    ``step`` evaluates the iterate (logits, and the gradients of the candidate logits by one batched VJP), marks
    samples that have flipped as inactive (frozen from then on) and moves the active ones to the nearest
    linearised boundary. ``cond`` looks at the flags of the last evaluated iterate, so the loop ends one
    (update-free) evaluation after the last sample flips. With ``target`` (``(n,)`` classes) only the boundary
    ``f_target = f_y`` is linearised (targeted DeepFool; one VJP per step), still stopping at any label change.
    With ``tau`` (``(n,)``, for :func:`min_norm`) a sample stops only once its margin exceeds ``tau``, and each
    step aims at the level set ``f_j - f_y = 2 tau`` instead of ``0``: a plain stop can leave a margin of a few
    ulps, too small to count as a robust flip.
    """
    scale = 1.0 + overshoot
    n = x.shape[0]

    def point(r_tot: Array) -> Array:
        return _box(x, scale * r_tot, clip)

    def init() -> DeepFoolState:
        return DeepFoolState(jnp.zeros((), jnp.int32), jnp.zeros_like(x), jnp.ones(n, bool))

    def cond(state: DeepFoolState) -> Array:
        return (state.i < steps) & jnp.any(state.active)

    def step(state: DeepFoolState) -> DeepFoolState:
        z, vjp = jax.vjp(lambda d: logits_fn(params, x + d), point(state.r_tot))
        active = ~_flipped(z, y) if tau is None else ~_clears(z, y, tau)
        k = z.shape[1]
        if target is None:
            idx = _class_candidates(z, y, candidates)  # (n, m), column 0 is y
            (grads,) = jax.vmap(vjp)(jax.nn.one_hot(idx.T, k, dtype=z.dtype))  # one VJP per candidate: (m, n, ...)
            w = grads[1:] - grads[:1]  # (m-1, n, ...): grad (f_j - f_y)
            f = jnp.take_along_axis(z, idx, axis=1)
            f = (f[:, 1:] - f[:, :1]).T  # (m-1, n): f_j - f_y, negative while y wins
        else:
            (w,) = jax.vmap(vjp)((jax.nn.one_hot(target, k, dtype=z.dtype) - jax.nn.one_hot(y, k, dtype=z.dtype))[None])
            f = (jnp.take_along_axis(z, target[:, None], axis=1) - jnp.take_along_axis(z, y[:, None], axis=1)).T
        # Linearised distance to the level f_j - f_y = level: |f_j - f_y| for the paper (level 0); positive for
        # every j while a sample is active (its margin, the largest f_j - f_y, is below the level).
        gap = jnp.abs(f) if tau is None else jnp.maximum(2 * tau[None, :] - f, 0.0)
        wn = _l2(w.reshape((-1, *x.shape[1:]))).reshape(w.shape[:2])
        dist = jnp.where(wn > 0, gap / jnp.where(wn > 0, wn, 1.0), jnp.inf)
        j = jnp.argmin(dist, axis=0)  # (n,) nearest linearised boundary
        pert = jnp.take_along_axis(dist, j[None, :], axis=0)[0]
        wj = jnp.take_along_axis(w, _per_sample(j, w[0])[None], axis=0)[0]
        wnj = jnp.take_along_axis(wn, j[None, :], axis=0)[0]
        move = active & jnp.isfinite(pert)
        coef = jnp.where(move, pert / jnp.where(move, wnj, 1.0), 0.0).astype(x.dtype)
        return DeepFoolState(state.i + 1, state.r_tot + _per_sample(coef, x) * wj, active)

    def finish(state: DeepFoolState) -> Array:
        return point(state.r_tot)

    return init, cond, step, finish


def _deepfool_run(logits_fn: LogitsFn, params: Params, x: Array, y: Array, *, steps: int, overshoot: float,
                  candidates: int, clip: Clip, target: Array | None = None, tau: Array | None = None) -> Array:
    init, cond, step, finish = deepfool_factory(logits_fn, params, x, y, steps=steps, overshoot=overshoot,
                                                candidates=candidates, clip=clip, target=target, tau=tau)
    return finish(lax.while_loop(cond, step, init()))


@partial(jax.jit, static_argnames=("logits_fn", "steps", "overshoot", "candidates", "clip"))
def _deepfool(logits_fn: LogitsFn, params: Params, x: Array, y: Array, *, steps: int, overshoot: float,
              candidates: int, clip: Clip) -> AttackResult:
    delta = _deepfool_run(logits_fn, params, x, y, steps=steps, overshoot=overshoot, candidates=candidates,
                          clip=clip)
    return _result(logits_fn, params, x, y, delta)


def deepfool(logits_fn: LogitsFn, params: Params, x: Float[Array, "n ..."], y: Int[Array, " n"], *,
             steps: int = 50, overshoot: float = 0.02, candidates: int = 10, clip: Clip = None) -> AttackResult:
    """Multi-class DeepFool (Moosavi-Dezfooli et al., 2016, Algorithm 2), batched with per-sample stopping.

    At the iterate ``x_i = x + (1 + overshoot) r_tot``, for every candidate class ``j != y`` the linearised
    distance to the boundary ``f_j = f_y`` is ``|f_j - f_y| / ||grad f_j - grad f_y||``; step to the nearest,
    ``r_i = |f_l - f_y| / ||w_l||^2 w_l``, ``r_tot += r_i``, until the label changes or ``steps`` run out. The
    returned ``delta = (1 + overshoot) r_tot`` (boxed by ``clip``) is exactly the last iterate. Unlike the
    reference code no ``1e-4`` is added to each step: on an affine map the first step lands on the boundary and
    the overshoot carries it across, so ``||delta|| = (1 + overshoot) * exact distance``; with ``overshoot=0`` a
    sample that lands exactly on a boundary keeps iterating. Samples where the label already differs get
    ``delta = 0``. Where ``success`` is False ``delta`` is the last iterate (not an adversarial example).

    Args:
      logits_fn, params, x, y: as in :func:`fgsm`.
      steps: maximum number of linearisation steps (>= 1).
      overshoot: relative overshoot (>= 0), 0.02 as in the paper.
      candidates: with more than ``candidates + 1`` classes only the ``candidates`` largest other logits at the
        iterate are considered (the reference code's ``num_classes=10``); the Jacobian costs one VJP per class kept.
      clip: ``(lo, hi)`` box for ``x + delta``, or ``None``.

    Returns:
      :class:`AttackResult`.
    """
    x, y, clip = _check_common(logits_fn, params, x, y, clip)
    logits_fn = as_static(logits_fn)  # equal functions share one compiled program
    steps = check_int(steps, "steps", minimum=1)
    overshoot = check_float(overshoot, "overshoot", low=0.0)
    candidates = check_int(candidates, "candidates", minimum=1)
    return _deepfool(logits_fn, params, x, y, steps=steps, overshoot=overshoot, candidates=candidates, clip=clip)


# ------------------------------------------------------------------------------------------------ minimal norm
def _line_search(logits_fn: LogitsFn, params: Params, x: Array, y: Array, tau: Array, direction: Array, *,
                 steps: int, clip: Clip) -> Array:
    """Bisection on ``t in (0, 1]`` for the smallest ``t`` with ``x + t * direction`` (boxed) still flipped (by more
    than ``tau``).

    Invariant: ``hi`` flips (``t = 1`` is assumed to), so whatever is returned flips even where the flipping set
    along the ray is not an interval (nonlinear nets); ``t = 1`` returns ``direction`` itself. Forward passes only.
    """

    def body(_: Array | int, lohi: tuple[Array, Array]) -> tuple[Array, Array]:
        lo, hi = lohi
        t = 0.5 * (lo + hi)
        ok = _clears(logits_fn(params, x + _box(x, _per_sample(t, x) * direction, clip)), y, tau)
        return jnp.where(ok, lo, t), jnp.where(ok, t, hi)

    n = x.shape[0]
    _, hi = lax.fori_loop(0, steps, body, (jnp.zeros(n, x.dtype), jnp.ones(n, x.dtype)))
    return jnp.where(_per_sample(hi < 1, x), _box(x, _per_sample(hi, x) * direction, clip), direction)


class SearchState(NamedTuple):
    """Doubling search for a first adversarial radius where DeepFool failed: step ``i``, radius ``r``, result."""

    i: Array
    r: Array
    best: Array
    found: Array


def _radius_search(logits_fn: LogitsFn, params: Params, x: Array, y: Array, tau: Array, start: Array,
                   found: Array, *, steps: int, pgd_steps: int, pgd_step: float, clip: Clip) -> tuple[Array, Array]:
    """PGD-l2 (margin loss) at radii ``r0, 2 r0, 4 r0, ...`` (``steps`` of them) where ``found`` is False.

    DeepFool can circle forever near a boundary its linearisation predicts but the network never reaches (a class
    whose logit approaches ``f_y`` without overtaking it, common for ReLU nets in low dimension); its last iterate
    is still a good direction. PGD starts from that iterate rescaled to ``r``; ``r0`` is its norm (the norm of ``x``,
    or 1, where the iterate is zero). Runs under ``lax.while_loop``: costs nothing once every sample has one.
    """
    size = _l2(start)
    scale = jnp.where(size > 0, size, jnp.where(_l2(x) > 0, _l2(x), 1.0))
    unit = start / _per_sample(jnp.where(size > 0, size, 1.0), x)

    def cond(s: SearchState) -> Array:
        return (s.i < steps) & ~jnp.all(s.found)

    def step(s: SearchState) -> SearchState:
        r = jnp.where(s.found, 0.0, s.r)
        delta = _pgd_run(logits_fn, params, x, y, r, pgd_step * r, unit * _per_sample(r, x), steps=pgd_steps,
                         norm="l2", loss="margin", clip=clip)
        ok = ~s.found & _clears(logits_fn(params, x + delta), y, tau)
        return SearchState(s.i + 1, jnp.where(s.found | ok, s.r, 2 * s.r),
                           jnp.where(_per_sample(ok, x), delta, s.best), s.found | ok)

    init = SearchState(jnp.zeros((), jnp.int32), scale.astype(x.dtype), jnp.where(_per_sample(found, x), start, 0.0),
                       found)
    out = lax.while_loop(cond, step, init)
    return out.best, out.found


class MinNormState(NamedTuple):
    """Bisection bracket on the radius, the smallest verified adversarial perturbation so far, the step count."""

    lo: Array
    hi: Array
    best: Array
    i: Array


def min_norm_factory(logits_fn: LogitsFn, params: Params, x: Array, y: Array, tau: Array, *, pgd_steps: int,
                     pgd_step: float, clip: Clip, key: Key | None = None, restarts: int = 0
                     ) -> tuple[Callable[[Array, Array], MinNormState], Callable[[MinNormState], MinNormState]]:
    """``(init, step)`` of the radius bisection in :func:`min_norm`.

    ``init(best, found)`` starts from a flipping ``best`` (where ``found``); ``step`` runs PGD-l2 with the margin
    loss at ``r = (lo + hi) / 2`` warm-started from ``best`` rescaled to ``r`` (and, with a ``key``, from
    ``restarts`` uniform random points of the ball, keyed by ``fold_in(key, i)``): if one succeeds (a margin above
    ``tau``) ``hi <- ||delta||`` and ``best <- delta`` for the smallest, else ``lo <- r``. Samples with nothing
    found (``hi = inf``) run at ``r = 0`` and are ignored.
    """
    n_random = 0 if key is None else restarts

    def init(best: Array, found: Array) -> MinNormState:
        n = x.shape[0]
        hi = jnp.where(found, _l2(best), jnp.inf)
        return MinNormState(jnp.zeros(n, x.dtype), hi.astype(x.dtype), best, jnp.zeros((), jnp.int32))

    def attempt(r: Array, start: Array) -> tuple[Array, Array]:
        delta = _pgd_run(logits_fn, params, x, y, r, pgd_step * r, start, steps=pgd_steps, norm="l2",
                         loss="margin", clip=clip)
        return delta, _clears(logits_fn(params, x + delta), y, tau)

    def step(state: MinNormState) -> MinNormState:
        live = jnp.isfinite(state.hi) & (state.hi > 0)
        r = jnp.where(live, 0.5 * (state.lo + state.hi), 0.0)
        start = state.best * _per_sample(jnp.where(live, r / jnp.where(live, state.hi, 1.0), 0.0), x)
        delta, ok = attempt(r, start)
        if n_random:
            keys = jax.random.split(jax.random.fold_in(key, state.i), n_random)
            d_r, ok_r = jax.vmap(lambda k: attempt(r, _random_start(k, x, r, "l2")))(keys)
            deltas, oks = jnp.concatenate([delta[None], d_r]), jnp.concatenate([ok[None], ok_r])
            pick = jnp.argmin(jnp.where(oks, jax.vmap(_l2)(deltas), jnp.inf), axis=0)
            delta = jnp.take_along_axis(deltas, pick.reshape((1, -1) + (1,) * (x.ndim - 1)), axis=0)[0]
            ok = jnp.any(oks, axis=0)
        ok = live & ok
        size = _l2(delta)
        better = ok & (size < state.hi)
        hi = jnp.where(better, size, state.hi)
        return MinNormState(jnp.where(ok, jnp.minimum(state.lo, hi), jnp.where(live, r, state.lo)), hi,
                            jnp.where(_per_sample(better, x), delta, state.best), state.i + 1)

    return init, step


@partial(jax.jit, static_argnames=("logits_fn", "steps", "overshoot", "candidates", "targeted", "search_steps",
                                   "line_steps", "bisection_steps", "pgd_steps", "pgd_step", "restarts", "margin_rtol",
                                   "clip"))
def _min_norm(logits_fn: LogitsFn, params: Params, x: Array, y: Array, key: Key | None, *, steps: int,
              overshoot: float, candidates: int, targeted: bool, search_steps: int, line_steps: int,
              bisection_steps: int, pgd_steps: int, pgd_step: float, restarts: int, margin_rtol: float | None,
              clip: Clip) -> AttackResult:
    z0 = logits_fn(params, x)
    rtol = 256 * float(jnp.finfo(z0.dtype).eps) if margin_rtol is None else margin_rtol
    # Scale of the two competing logits at x: re-evaluating a network rounds its logits at about eps times this
    # (measured: ~3 eps between batch sizes 1 and 64 in float32), so the search only accepts margins well above it.
    z_y = jnp.take_along_axis(z0, y[:, None], axis=1)[:, 0]
    tau = rtol * (jnp.abs(z_y) + jnp.abs(z_y + _margin(z0, y)))
    already = _flipped(z0, y)  # the minimal perturbation is 0, whatever the margin
    run = partial(_deepfool_run, logits_fn, params, x, y, steps=steps, overshoot=overshoot, candidates=candidates,
                  clip=clip, tau=tau)
    df = run()
    starts = df[None]
    if targeted and z0.shape[1] > 2:
        # Targeted DeepFool toward each candidate class (one VJP per step each, as many as the untargeted run's):
        # the untargeted walk commits to one boundary, and can circle near one that is never reached.
        others = _class_candidates(z0, y, candidates)[:, 1:].T  # (m - 1, n)
        starts = jnp.concatenate([starts, jax.vmap(lambda t: run(target=t))(others)])
    ok = jax.vmap(lambda d: _clears(logits_fn(params, x + d), y, tau))(starts)  # (m, n)
    per_start = (1,) * (x.ndim - 1)
    starts = jnp.where(ok.reshape(ok.shape + per_start), starts, 0.0)
    if line_steps > 0:
        starts = jax.vmap(lambda d: _line_search(logits_fn, params, x, y, tau, d, steps=line_steps, clip=clip))(starts)
    pick = jnp.argmin(jnp.where(ok, jax.vmap(_l2)(starts), jnp.inf), axis=0)
    best = jnp.take_along_axis(starts, pick.reshape((1, -1, *per_start)), axis=0)[0]
    found = already | jnp.any(ok, axis=0)
    best = jnp.where(_per_sample(already | ~found, x), 0.0, best)
    if search_steps > 0:
        best, found = _radius_search(logits_fn, params, x, y, tau, jnp.where(_per_sample(found, x), best, df),
                                     found, steps=search_steps, pgd_steps=pgd_steps, pgd_step=pgd_step, clip=clip)
        if line_steps > 0:
            best = _line_search(logits_fn, params, x, y, tau, best, steps=line_steps, clip=clip)
    if bisection_steps > 0:
        init, step = min_norm_factory(logits_fn, params, x, y, tau, pgd_steps=pgd_steps, pgd_step=pgd_step,
                                      clip=clip, key=key, restarts=restarts)
        best = lax.fori_loop(0, bisection_steps, lambda _, s: step(s), init(best, found)).best
        if line_steps > 0:
            best = _line_search(logits_fn, params, x, y, tau, best, steps=line_steps, clip=clip)
    res = _result(logits_fn, params, x, y, best)
    ok = res.success & found  # never report a delta that does not flip; `found` also excludes an empty search
    inf = jnp.asarray(jnp.inf, res.norm.dtype)
    return AttackResult(jnp.where(_per_sample(ok, x), res.delta, 0.0), jnp.where(ok, res.norm, inf),
                        jnp.where(ok, res.linf, inf), ok)


def min_norm(logits_fn: LogitsFn, params: Params, x: Float[Array, "n ..."], y: Int[Array, " n"], *,
             steps: int = 50, overshoot: float = 0.02, candidates: int = 10, targeted: bool = True,
             search_steps: int = 8, line_steps: int = 30, bisection_steps: int = 10, pgd_steps: int = 10,
             pgd_step: float | None = None, key: Key | None = None, restarts: int = 1,
             margin_rtol: float | None = None, clip: Clip = None) -> AttackResult:
    """The smallest verified adversarial l2 perturbation found by DeepFool, line search and PGD bisection.

    1. Starts: DeepFool (:func:`deepfool`) and, with ``targeted``, targeted DeepFool toward each of the (up to
       ``candidates``) other classes (linearising only ``f_j - f_y``; the same VJP count as one untargeted run).
       Each start that flips is shrunk by a line search: the smallest ``t in (0, 1]`` with ``x + t v`` still
       adversarial, ``line_steps`` bisection steps on ``t`` (forward passes only); the shortest wins. On an affine
       map DeepFool's direction is the exact minimiser's, so this is exact to ``2^-line_steps`` relative
       (``fcjax.linear.affine_min_perturbation``).
    2. Where no start flips (DeepFool circling near a boundary its linearisation predicts but the network never
       reaches), PGD-l2 at radii ``r0, 2 r0, ...`` (``search_steps`` of them, ``r0`` the norm of DeepFool's last
       iterate) warm-started from that iterate looks for one.
    3. Bisection on the radius ``r in [lo, hi]``, ``hi`` the best norm so far, ``lo = 0``: ``bisection_steps``
       times, PGD-l2 with the margin loss (:func:`pgd`, ``pgd_steps`` steps of ``pgd_step * r``) at
       ``r = (lo + hi) / 2`` warm-started from the best perturbation rescaled to ``r`` (plus, with a ``key``,
       ``restarts`` uniform random starts in the ball); success sets ``hi = ||delta||`` and keeps ``delta``,
       failure sets ``lo = r``. A final line search shrinks the winner.

    Norm-constrained PGD at a bisected radius is the fixed-radius counterpart of the adaptive radius of FMN
    (Pintor et al., 2021, "Fast minimum-norm adversarial attacks through adaptive norm constraints"); here the
    radius moves only on verified outcomes, so the best norm never increases. The search accepts a point only if
    its margin ``max_{j != y} f_j - f_y`` exceeds ``tau = margin_rtol (|f_y(x)| + |max_{j != y} f_j(x)|)``, so a
    witness still flips when its logits are recomputed with other rounding (another batch size, program or
    device: without it about 40 % of float32 witnesses did not, in a test); an exact tie never counts. The final
    ``success`` is recomputed at ``x + delta``: ``delta`` flips the label where ``success``; ``norm = linf = inf``
    and ``delta = 0`` where nothing was found, and ``delta = 0`` where ``x`` is already not classified as ``y``.

    The result is an upper bound on the minimal distance; ``lo`` is not a certificate and is not returned. Measured
    against brute force on 2-d ReLU nets (tests): deterministic (``key=None``) within 2 % on about 97 % of points,
    but up to 1.8x on the rest, where the nearest boundary lies where no linearisation points; with a ``key`` and
    ``restarts=4`` within 3 % on every point seen.

    Args:
      logits_fn, params, x, y: as in :func:`fgsm`.
      steps, overshoot, candidates: DeepFool's (see :func:`deepfool`).
      targeted: also start from targeted DeepFool toward each candidate class.
      search_steps: radius doublings where no start flips (0: none; such samples then report ``inf``).
      line_steps: bisection steps of each line search (0 skips them).
      bisection_steps: radius bisection steps (0 keeps the best line-searched start).
      pgd_steps: PGD steps per bisection step (>= 1).
      pgd_step: PGD step size as a fraction of the radius; default ``2.5 / pgd_steps``.
      key: ``None`` for a deterministic search; a PRNG key adds random restarts to every bisection step
        (``fold_in(key, step)``).
      restarts: random restarts per bisection step when ``key`` is given (each costs one more PGD run).
      margin_rtol: ``tau``'s factor; default ``256 eps`` of the logits' dtype (costs about that, relative to the
        logit scale over the margin at ``x``, in the norm).
      clip: ``(lo, hi)`` box for ``x + delta``, or ``None``.

    Returns:
      :class:`AttackResult`; ``norm`` is ``inf`` where no adversarial perturbation was found.
    """
    x, y, clip = _check_common(logits_fn, params, x, y, clip)
    logits_fn = as_static(logits_fn)  # equal functions share one compiled program
    steps = check_int(steps, "steps", minimum=1)
    overshoot = check_float(overshoot, "overshoot", low=0.0)
    candidates = check_int(candidates, "candidates", minimum=1)
    if not isinstance(targeted, bool):
        raise TypeError(f"targeted must be a bool, got {type(targeted).__name__}")
    search_steps = check_int(search_steps, "search_steps", minimum=0)
    line_steps = check_int(line_steps, "line_steps", minimum=0)
    bisection_steps = check_int(bisection_steps, "bisection_steps", minimum=0)
    pgd_steps = check_int(pgd_steps, "pgd_steps", minimum=1)
    pgd_step = 2.5 / pgd_steps if pgd_step is None else check_float(pgd_step, "pgd_step", low=0.0, open_low=True)
    if margin_rtol is not None:
        margin_rtol = check_float(margin_rtol, "margin_rtol", low=0.0)
    restarts = check_int(restarts, "restarts", minimum=1)
    if key is not None:
        key = check_key(key)
    return _min_norm(logits_fn, params, x, y, key, restarts=restarts, steps=steps, overshoot=overshoot,
                     candidates=candidates, targeted=targeted, search_steps=search_steps, line_steps=line_steps,
                     bisection_steps=bisection_steps, pgd_steps=pgd_steps, pgd_step=pgd_step,
                     margin_rtol=margin_rtol, clip=clip)


__all__ = ["AttackResult", "DeepFoolState", "LogitsFn", "MinNormState", "PGDState", "SearchState", "deepfool",
           "deepfool_factory", "fgsm", "min_norm", "min_norm_factory", "pgd", "pgd_factory"]
