"""Fast minimum-norm (FMN) l2 attack, and the best verified norm of :func:`fcjax.attacks.min_norm` refined by it.

FMN (Pintor, Roli, Brendel & Biggio, 2021, "Fast minimum-norm adversarial attacks through adaptive norm
constraints", NeurIPS; Algorithm 1, and Foolbox 3.3.4's ``FMNAttackLp``): normalised gradient ascent on the margin
``m(delta) = max_{j != y} f_j(x + delta) - f_y(x + delta)`` inside an l2 ball whose radius ``eps`` adapts every step,
shrinking while the iterate is adversarial and growing while it is not, so the iterate slides along the decision
boundary toward smaller norms. Batched over samples like :mod:`fcjax.attacks` (same ``logits_fn(params, x)``
convention, same :class:`~fcjax.attacks.AttackResult`, same verification: a point counts only if its margin exceeds
``tau``, and ``success`` is recomputed at ``x + delta`` at the end).

:func:`best_min_norm` runs :func:`~fcjax.attacks.min_norm` with random restarts, then FMN warm-started from its
result, from random points of its ball and from targeted DeepFool starts toward the nearest classes, and keeps the
smallest verified norm per sample.

    >>> import jax, jax.numpy as jnp
    >>> from fcjax.fmn import fmn
    >>> f = lambda p, x: x @ p[0].T + p[1][None, :]
    >>> res = fmn(f, (jnp.eye(2), jnp.zeros(2)), jnp.array([[1.0, 0.0]]), jnp.array([0]))
    >>> bool(res.success[0]), round(float(res.norm[0]), 3)   # exact: 1 / sqrt(2)
    (True, 0.707)
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from ._types import Array, Float, Int, Key
from ._validate import check_array, check_float, check_int, check_key
from .attacks import (
    AttackResult,
    Clip,
    LogitsFn,
    _box,
    _check_choice,
    _check_common,
    _deepfool_run,
    _flipped,
    _l2,
    _line_search,
    _linf,
    _loss_and_grad,
    _margin,
    _per_sample,
    _project,
    _random_start,
    min_norm,
)
from .frameworks import as_static

Params = Any
STEP_SCALES = ("relative", "absolute")


# ------------------------------------------------------------------------------------------------ small pieces
def _cosine(start: float, end: float, i: Array, steps: int) -> Array:
    """Cosine annealing from ``start`` (``i = 0``) toward ``end``: ``end + (start - end) (1 + cos(pi i / K)) / 2``."""
    return end + (start - end) * 0.5 * (1.0 + jnp.cos(jnp.pi * i / steps))


def _tau(z0: Float[Array, "n k"], y: Int[Array, " n"], margin_rtol: float | None) -> Float[Array, " n"]:
    """The acceptance margin of :func:`fcjax.attacks.min_norm`: ``rtol (|f_y(x)| + |max_{j != y} f_j(x)|)``.

    Re-evaluating a network rounds its logits at about eps times this scale (another batch size or program), so a
    witness whose margin clears ``tau`` still flips when recomputed. Default ``rtol = 256 eps`` of the logits' dtype.
    """
    rtol = 256 * float(jnp.finfo(z0.dtype).eps) if margin_rtol is None else margin_rtol
    z_y = jnp.take_along_axis(z0, y[:, None], axis=1)[:, 0]
    return rtol * (jnp.abs(z_y) + jnp.abs(z_y + _margin(z0, y)))


def _worst_norm(x: Array, clip: Clip) -> Array:
    """Largest l2 norm a perturbation can have inside the box (``inf`` without one): FMN's cap on ``eps``."""
    if clip is None:
        return jnp.full(x.shape[:1], jnp.inf, x.dtype)
    return _l2(jnp.maximum(x - clip[0], clip[1] - x))


def _pick_smallest(deltas: Float[Array, "r n ..."], norms: Float[Array, "r n"]) -> tuple[Array, Array]:
    """Per sample, the candidate of smallest norm (``inf`` marks a failed one): ``(delta (n, ...), norm (n,))``."""
    pick = jnp.argmin(norms, axis=0)
    delta = jnp.take_along_axis(deltas, pick.reshape((1, -1) + (1,) * (deltas.ndim - 2)), axis=0)[0]
    return delta, jnp.take_along_axis(norms, pick[None], axis=0)[0]


# ------------------------------------------------------------------------------------------------ FMN
class FMNState(NamedTuple):
    """The iterate, the adaptive radius, and the smallest verified adversarial perturbation so far.

    ``best_norm`` is ``inf`` and ``best = 0`` where none was found (``found`` False).
    """

    delta: Array
    eps: Array
    best: Array
    best_norm: Array
    found: Array


def fmn_factory(logits_fn: LogitsFn, params: Params, x: Array, y: Array, tau: Array, *, steps: int,
                alpha_init: float, alpha_final: float, gamma_init: float, gamma_final: float, step_scale: str,
                clip: Clip) -> tuple[Callable[[Array, Array, Array], FMNState], Callable[[Array, FMNState], FMNState],
                                     Callable[[FMNState], FMNState]]:
    """``(init, step, finish)`` of l2 FMN (Pintor et al., 2021, Algorithm 1); run ``step`` under ``lax.fori_loop``.

    ``init(delta0, best, found)`` starts the iterate at ``delta0`` with ``best`` (where ``found``) as the incumbent
    and ``eps = ||best||`` (``inf`` where nothing is known). Step ``i`` (``alpha_i``, ``gamma_i`` cosine-annealed
    over ``steps``):

    1. ``m, g = margin(delta), grad_delta margin``; record ``delta`` as ``best`` if ``m > tau`` and it is smaller;
    2. ``eps <- min(eps (1 - gamma_i), ||best||)`` if adversarial, else ``eps (1 + gamma_i)`` if an adversarial was
       ever found, else ``||delta|| + (1 + gamma_final) (2 tau - m) / ||g||`` (the linearised distance to just past
       the acceptance level ``m = tau``; the paper's ``|m| / ||g||``); capped at the box's largest norm;
    3. ``delta <- Proj_{eps-ball, box}(delta + a_i g / ||g||)``, with ``a_i = alpha_i`` (``step_scale="absolute"``,
       the paper's, for inputs in [0, 1]) or ``alpha_i * eps`` (``"relative"``: invariant to the input scale).

    ``finish`` records the last iterate and returns the state. Every sample is updated independently.
    """
    worst = _worst_norm(x, clip)
    tiny = jnp.finfo(x.dtype).tiny

    def init(delta0: Array, best: Array, found: Array) -> FMNState:
        best_norm = jnp.where(found, _l2(best), jnp.inf).astype(x.dtype)
        best = jnp.where(_per_sample(found, x), best, 0.0)
        return FMNState(_box(x, delta0, clip), jnp.minimum(best_norm, worst), best, best_norm, found)

    def record(state: FMNState, m: Array) -> tuple[FMNState, Array]:
        size = _l2(state.delta)
        adv = m > tau
        better = adv & (size < state.best_norm)
        return state._replace(best=jnp.where(_per_sample(better, x), state.delta, state.best),
                              best_norm=jnp.where(better, size, state.best_norm),
                              found=state.found | adv), adv

    def step(i: Array, state: FMNState) -> FMNState:
        cos_a = _cosine(alpha_init, alpha_final, i, steps)
        cos_g = _cosine(gamma_init, gamma_final, i, steps)
        z, g = _loss_and_grad(logits_fn, params, x, y, state.delta, "margin")
        m = _margin(z, y)
        state, adv = record(state, m)
        gn = _l2(g).astype(x.dtype)
        size = _l2(state.delta)
        # Aim past the acceptance level (at m = 2 tau, times 1 + gamma_final): on an affine map the linearised
        # distance is exact, and aiming at m = tau itself lands on it from below step after step, never accepted.
        gap = jnp.maximum(2 * tau - m, 0.0) * (1 + gamma_final)
        to_boundary = jnp.where(gn > 0, gap / jnp.where(gn > 0, gn, 1.0), jnp.inf)
        # Once an adversarial is known the radius only moves geometrically; before that it jumps to the linearised
        # boundary, so the first adversarial is reached in about one DeepFool step.
        grown = jnp.where(state.found, state.eps * (1 + cos_g), size + to_boundary.astype(x.dtype))
        eps = jnp.where(adv, jnp.minimum(state.eps * (1 - cos_g), state.best_norm), grown)
        eps = jnp.minimum(eps, worst).astype(x.dtype)
        a = cos_a if step_scale == "absolute" else cos_a * jnp.where(jnp.isfinite(eps), eps, 0.0)
        unit = g / _per_sample(jnp.maximum(gn, tiny), g)
        moved = state.delta + _per_sample(jnp.asarray(a, x.dtype), x) * unit.astype(x.dtype)
        return state._replace(delta=_box(x, _project(moved, eps, "l2"), clip), eps=eps)

    def finish(state: FMNState) -> FMNState:
        return record(state, _margin(logits_fn(params, x + state.delta), y))[0]

    return init, step, finish


def _fmn_run(logits_fn: LogitsFn, params: Params, x: Array, y: Array, tau: Array, delta0: Array, best: Array,
             found: Array, *, steps: int, alpha_init: float, alpha_final: float, gamma_init: float,
             gamma_final: float, step_scale: str, clip: Clip) -> FMNState:
    init, step, finish = fmn_factory(logits_fn, params, x, y, tau, steps=steps, alpha_init=alpha_init,
                                     alpha_final=alpha_final, gamma_init=gamma_init, gamma_final=gamma_final,
                                     step_scale=step_scale, clip=clip)
    return finish(lax.fori_loop(0, steps, step, init(delta0, best, found)))


def _start_radius(logits_fn: LogitsFn, params: Params, x: Array, y: Array, tau: Array, best_norm: Array) -> Array:
    """Radius of the random starts: ``||best||`` where one is known, else the linearised distance ``(2 tau - m) /
    ||g||`` at ``x``, or ``||x||`` (1 where ``x = 0``) where the gradient vanishes: a ReLU net whose units are all
    dead around ``x`` is flat there, and only a start outside that region can find a gradient."""
    z, g = _loss_and_grad(logits_fn, params, x, y, jnp.zeros_like(x), "margin")
    gn = _l2(g)
    xn = _l2(x)
    flat = jnp.where(xn > 0, xn, 1.0)
    lin = jnp.where(gn > 0, jnp.maximum(2 * tau - _margin(z, y), 0.0) / jnp.where(gn > 0, gn, 1.0), flat)
    return jnp.where(jnp.isfinite(best_norm), best_norm, lin.astype(x.dtype))


def _shrink_and_pick(logits_fn: LogitsFn, params: Params, x: Array, y: Array, tau: Array, cands: Array, norms: Array,
                     *, line_steps: int, clip: Clip) -> tuple[Array, Array]:
    """Line-search every candidate ``(r, n, ...)`` (``norms = inf``: none), then the smallest per sample.

    Shrinking before picking keeps the choice monotone: adding candidates never yields a longer result.
    Returns ``(delta (n, ...), found (n,))``, ``delta = 0`` where nothing was found.
    """
    found = jnp.isfinite(norms)
    if line_steps > 0:
        cands = jax.vmap(lambda d: _line_search(logits_fn, params, x, y, tau, d, steps=line_steps, clip=clip))(cands)
        norms = jnp.where(found, jax.vmap(_l2)(cands), jnp.inf)
    best, best_norm = _pick_smallest(cands, norms)
    ok = jnp.isfinite(best_norm)
    return jnp.where(_per_sample(ok, x), best, 0.0), ok


def _finalize(logits_fn: LogitsFn, params: Params, x: Array, y: Array, delta: Array, ok: Array) -> AttackResult:
    """Re-verify at ``x + delta``; ``delta = 0`` and ``norm = linf = inf`` where nothing verified (``ok`` False)."""
    ok = ok & _flipped(logits_fn(params, x + delta), y)
    delta = jnp.where(_per_sample(ok, x), delta, 0.0)
    inf = jnp.asarray(jnp.inf, x.dtype)
    return AttackResult(delta, jnp.where(ok, _l2(delta), inf), jnp.where(ok, _linf(delta), inf), ok)


@partial(jax.jit, static_argnames=("logits_fn", "steps", "alpha_init", "alpha_final", "gamma_init", "gamma_final",
                                   "step_scale", "line_steps", "restarts", "margin_rtol", "clip"))
def _fmn(logits_fn: LogitsFn, params: Params, x: Array, y: Array, init: Array | None, key: Key | None, *,
         steps: int, alpha_init: float, alpha_final: float, gamma_init: float, gamma_final: float, step_scale: str,
         line_steps: int, restarts: int, margin_rtol: float | None, clip: Clip) -> AttackResult:
    z0 = logits_fn(params, x)
    tau = _tau(z0, y, margin_rtol)
    already = _flipped(z0, y)  # the minimal perturbation is 0, whatever the margin
    if init is None:
        best, found = jnp.zeros_like(x), jnp.zeros(x.shape[0], bool)
    else:
        init = _box(x, init, clip)
        # A flip suffices (not a margin above tau): another attack's verified witness sits next to the boundary, and
        # recomputed here it may round below tau; the line search below keeps it where nothing shorter clears tau.
        found = _margin(logits_fn(params, x + init), y) > 0
        best = jnp.where(_per_sample(found, x), init, 0.0)
        if line_steps > 0:  # as Foolbox's binary search toward x from the starting point: start on the boundary
            best = _line_search(logits_fn, params, x, y, tau, best, steps=line_steps, clip=clip)
    run = partial(_fmn_run, logits_fn, params, x, y, tau, steps=steps, alpha_init=alpha_init,
                  alpha_final=alpha_final, gamma_init=gamma_init, gamma_final=gamma_final, step_scale=step_scale,
                  clip=clip)
    out = run(best, best, found)
    cands, norms = out.best[None], out.best_norm[None]
    if key is not None and restarts > 0:
        r = _start_radius(logits_fn, params, x, y, tau, out.best_norm)
        outs = jax.vmap(lambda k: run(_random_start(k, x, r, "l2"), out.best, out.found))(
            jax.random.split(key, restarts))
        cands, norms = jnp.concatenate([cands, outs.best]), jnp.concatenate([norms, outs.best_norm])
    best, found = _shrink_and_pick(logits_fn, params, x, y, tau, cands, norms, line_steps=line_steps, clip=clip)
    best = jnp.where(_per_sample(already, x), 0.0, best)
    return _finalize(logits_fn, params, x, y, best, found | already)


def _check_init(init: Any, x: Array) -> Array | None:
    if init is None:
        return None
    if isinstance(init, AttackResult):
        init = init.delta
    check_array(init, "init")
    if init.shape != x.shape:
        raise ValueError(f"init must have the shape of x {x.shape} (a perturbation per sample), got {init.shape}")
    return jnp.asarray(init, x.dtype)


def fmn(logits_fn: LogitsFn, params: Params, x: Float[Array, "n ..."], y: Int[Array, " n"], *, steps: int = 100,
        alpha_init: float = 1.0, alpha_final: float | None = None, gamma_init: float = 0.05,
        gamma_final: float = 0.001, step_scale: str = "relative",
        init: Float[Array, "n ..."] | AttackResult | None = None, line_steps: int = 30, key: Key | None = None,
        restarts: int = 1, margin_rtol: float | None = None, clip: Clip = None) -> AttackResult:
    """l2 Fast Minimum-Norm attack (Pintor et al., 2021, Algorithm 1; Foolbox's ``L2FMNAttack``), batched.

    ``steps`` iterations of: margin ``m = max_{j != y} f_j - f_y`` and its gradient ``g`` at ``x + delta``; keep
    ``delta`` if adversarial (``m > tau``) and smaller than the best so far; adapt the radius,
    ``eps <- min(eps (1 - gamma), ||best||)`` when adversarial, ``eps (1 + gamma)`` when not (once any adversarial
    was found), ``||delta|| + |m| / ||g||`` before that; step ``delta <- Proj_eps(delta + alpha g / ||g||)`` (and
    into the box). ``alpha`` and ``gamma`` are cosine-annealed from ``*_init`` to ``*_final`` over the steps.

    Differences from the paper, all optional: the step is relative to the radius by default
    (``alpha * eps``; ``step_scale="absolute"`` restores the paper's absolute ``alpha``, tuned for pixels in
    [0, 1]); the best point is finally shrunk by a line search toward ``x`` (``line_steps``; forward passes only);
    with a ``key``, ``restarts`` more runs start uniformly in the ball of the best radius (or of the linearised
    distance at ``x`` where none is known) and the smallest verified result wins. As in :func:`fcjax.attacks.min_norm`
    a point is accepted only if its margin exceeds ``tau = margin_rtol (|f_y(x)| + |max_{j != y} f_j(x)|)``
    (so it still flips when recomputed with other rounding), and ``success`` is recomputed at ``x + delta``.

    Args:
      logits_fn: ``logits_fn(params, x) -> (n, k)`` logits; samples must not interact. Static under ``jit``: pass
        the same object to reuse the compiled program.
      params: the network's parameters (any pytree).
      x: ``(n, *input_shape)`` inputs.
      y: ``(n,)`` integer labels to move away from.
      steps: FMN iterations (>= 1), one gradient each.
      alpha_init, alpha_final: the step size's start and end (``alpha_final`` defaults to ``alpha_init / 100``,
        Foolbox's); relative to ``eps`` or absolute, per ``step_scale``.
      gamma_init, gamma_final: the radius's relative change per step, start and end (paper: 0.05 and 0.001).
      step_scale: ``"relative"`` or ``"absolute"``.
      init: ``(n, *input_shape)`` starting perturbations (e.g. another attack's ``delta``, or its
        :class:`AttackResult`); rows where ``x + init`` is adversarial are line-searched toward ``x`` (keeping
        ``init`` where no shorter point clears ``tau``) and become the incumbent and the first iterate, so the
        result is never longer than ``init`` there; the other rows start from ``delta = 0``.
      line_steps: bisection steps of the line searches on ``init`` and on the result (0 skips them).
      key: ``None``: deterministic; a PRNG key adds ``restarts`` random-start runs.
      restarts: random-start runs with a ``key`` (>= 1).
      margin_rtol: ``tau``'s factor; default ``256 eps`` of the logits' dtype.
      clip: ``(lo, hi)`` box for ``x + delta``, or ``None``.

    Returns:
      :class:`~fcjax.attacks.AttackResult`; ``norm = linf = inf`` and ``delta = 0`` where nothing verified,
      ``delta = 0`` where ``x`` is already not classified as ``y``.
    """
    x, y, clip = _check_common(logits_fn, params, x, y, clip)
    logits_fn = as_static(logits_fn)  # equal functions share one compiled program
    steps = check_int(steps, "steps", minimum=1)
    alpha_init = check_float(alpha_init, "alpha_init", low=0.0, open_low=True)
    alpha_final = alpha_init / 100 if alpha_final is None else check_float(alpha_final, "alpha_final", low=0.0)
    gamma_init = check_float(gamma_init, "gamma_init", low=0.0, high=1.0, open_low=True, open_high=True)
    gamma_final = check_float(gamma_final, "gamma_final", low=0.0, high=1.0, open_high=True)
    step_scale = _check_choice(step_scale, "step_scale", STEP_SCALES)
    init = _check_init(init, x)
    line_steps = check_int(line_steps, "line_steps", minimum=0)
    restarts = check_int(restarts, "restarts", minimum=1)
    if key is not None:
        key = check_key(key)
    if margin_rtol is not None:
        margin_rtol = check_float(margin_rtol, "margin_rtol", low=0.0)
    return _fmn(logits_fn, params, x, y, init, key, steps=steps, alpha_init=alpha_init, alpha_final=alpha_final,
                gamma_init=gamma_init, gamma_final=gamma_final, step_scale=step_scale, line_steps=line_steps,
                restarts=restarts, margin_rtol=margin_rtol, clip=clip)


# ------------------------------------------------------------------------------------------------ best of both
def _nearest_classes(logits_fn: LogitsFn, params: Params, x: Array, y: Array, m: int) -> Int[Array, "m n"]:
    """The ``m`` classes ``j != y`` of smallest linearised distance ``|f_j - f_y| / ||grad (f_j - f_y)||`` at ``x``.

    One VJP per class (the full Jacobian), so the ranking sees every class, not only the largest logits: the nearest
    boundary is often toward a class whose logit at ``x`` is not among the top ones.
    """
    z, vjp = jax.vjp(lambda d: logits_fn(params, x + d), jnp.zeros_like(x))
    k = z.shape[1]
    (jac,) = jax.vmap(vjp)(jnp.broadcast_to(jnp.eye(k, dtype=z.dtype)[:, None, :], (k, *z.shape)))  # (k, n, ...)
    w = jac - jnp.take_along_axis(jac, y.reshape((1, -1) + (1,) * (jac.ndim - 2)), axis=0)
    wn = jax.vmap(_l2)(w)  # (k, n)
    gap = jnp.abs(z - jnp.take_along_axis(z, y[:, None], axis=1)).T
    dist = jnp.where(wn > 0, gap / jnp.where(wn > 0, wn, 1.0), jnp.inf)
    dist = jnp.where(jnp.arange(k)[:, None] == y[None, :], jnp.nan, dist)  # NaN sorts last, after inf
    return jnp.argsort(dist, axis=0)[:m].astype(y.dtype)


@partial(jax.jit, static_argnames=("logits_fn", "classes", "steps", "fmn_kw", "margin_rtol", "clip"))
def _class_fmn(logits_fn: LogitsFn, params: Params, x: Array, y: Array, *, classes: int, steps: int,
               fmn_kw: tuple, margin_rtol: float | None, clip: Clip) -> AttackResult:
    """FMN from targeted DeepFool starts toward the ``classes`` nearest classes (line-searched), the best verified.

    Targeted DeepFool is :func:`fcjax.attacks.min_norm`'s (aiming at ``f_t - f_y = 2 tau``); starts that do not
    clear ``tau`` are dropped (their FMN runs from ``delta = 0`` with no incumbent).
    """
    kw = dict(fmn_kw)
    line_steps = kw.pop("line_steps")
    tau = _tau(logits_fn(params, x), y, margin_rtol)
    targets = _nearest_classes(logits_fn, params, x, y, classes)
    run_df = partial(_deepfool_run, logits_fn, params, x, y, steps=50, overshoot=0.02, candidates=1, clip=clip,
                     tau=tau)
    starts = jax.vmap(lambda t: run_df(target=t))(targets)
    ok = jax.vmap(lambda d: _margin(logits_fn(params, x + d), y) > tau)(starts)
    starts = jnp.where(ok.reshape(ok.shape + (1,) * (x.ndim - 1)), starts, 0.0)
    if line_steps > 0:
        starts = jax.vmap(lambda d: _line_search(logits_fn, params, x, y, tau, d, steps=line_steps, clip=clip))(starts)
    outs = jax.vmap(lambda d, o: _fmn_run(logits_fn, params, x, y, tau, d, d, o, steps=steps, clip=clip, **kw))(
        starts, ok)
    best, found = _shrink_and_pick(logits_fn, params, x, y, tau, outs.best, outs.best_norm, line_steps=line_steps,
                                   clip=clip)
    return _finalize(logits_fn, params, x, y, best, found)


def best_min_norm(logits_fn: LogitsFn, params: Params, x: Float[Array, "n ..."], y: Int[Array, " n"], *, key: Key,
                  restarts: int = 4, fmn_steps: int = 100, fmn_restarts: int = 8, classes: int = 16,
                  min_norm_options: dict | None = None, fmn_options: dict | None = None,
                  margin_rtol: float | None = None, clip: Clip = None) -> AttackResult:
    """The smallest verified l2 perturbation per sample of :func:`~fcjax.attacks.min_norm` and FMN runs around it.

    With ``k1, k2 = split(key)``:

    1. ``a = min_norm(..., key=k1, restarts=restarts)``;
    2. ``b = fmn(..., init=a.delta, steps=fmn_steps, key=k2, restarts=fmn_restarts)``: FMN from ``a``'s witness,
       which slides it along the boundary to the bottom of its basin (its incumbent is ``a``'s line-searched
       witness, so ``||b|| <= ||a||``), plus ``fmn_restarts`` FMN runs from uniform points of the ball of that
       radius, which find other basins;
    3. ``c``: with ``classes > 0``, FMN (``fmn_steps``) from targeted DeepFool starts toward each of the
       ``classes`` classes nearest by linearised distance at ``x`` (``|f_j - f_y| / ||grad (f_j - f_y)||``, the full
       Jacobian): ``min_norm`` refines only its single best start, and with many classes the nearest boundary is
       often toward a class whose logit at ``x`` is not among its ``candidates`` largest;
    4. per sample the smallest verified norm, re-verified at ``x + delta``; where that fails (it should not: every
       candidate cleared ``tau`` or was ``a``'s) ``a``'s result is kept, so ``norm <= min_norm's`` on every sample,
       for the same ``key`` and options.

    FMN and the DeepFool starts are local searches; what finds the global minimum is the number of basins visited:
    the restarts and the class starts are where the extra cost goes (measured in ``benchmarks/attack_quality.py``).

    Args:
      logits_fn, params, x, y, clip: as in :func:`fmn`.
      key: PRNG key (required: the restarts are what the extra cost buys).
      restarts: ``min_norm``'s random restarts per bisection step (>= 1).
      fmn_steps: iterations of every FMN run (>= 1).
      fmn_restarts: FMN runs from random starts in the ball of the best radius (>= 0).
      classes: targeted starts refined by FMN (>= 0; at most ``k - 1`` are used; 0 skips step 3).
      min_norm_options: more keyword arguments of :func:`~fcjax.attacks.min_norm` (not ``key``, ``restarts``,
        ``margin_rtol``, ``clip``).
      fmn_options: more keyword arguments of :func:`fmn` (not ``init``, ``key``, ``restarts``, ``steps``,
        ``margin_rtol``, ``clip``), used by every FMN run.
      margin_rtol: every attack's ``tau`` factor.

    Returns:
      :class:`~fcjax.attacks.AttackResult`.
    """
    x, y, clip = _check_common(logits_fn, params, x, y, clip)
    logits_fn = as_static(logits_fn)  # equal functions share one compiled program
    key = check_key(key)
    restarts = check_int(restarts, "restarts", minimum=1)
    fmn_steps = check_int(fmn_steps, "fmn_steps", minimum=1)
    fmn_restarts = check_int(fmn_restarts, "fmn_restarts", minimum=0)
    k = jax.eval_shape(logits_fn, params, x).shape[1]
    classes = min(check_int(classes, "classes", minimum=0), k - 1)
    mn_opts = _check_options(min_norm_options, "min_norm_options", ("key", "restarts", "margin_rtol", "clip"))
    fmn_opts = _check_options(fmn_options, "fmn_options", ("init", "key", "restarts", "steps", "margin_rtol", "clip"))
    if margin_rtol is not None:
        margin_rtol = check_float(margin_rtol, "margin_rtol", low=0.0)
    fmn_kw = _fmn_keywords(fmn_opts)
    k1, k2 = jax.random.split(key)
    a = min_norm(logits_fn, params, x, y, key=k1, restarts=restarts, margin_rtol=margin_rtol, clip=clip, **mn_opts)
    b = fmn(logits_fn, params, x, y, init=a.delta, steps=fmn_steps, key=k2 if fmn_restarts else None,
            restarts=max(fmn_restarts, 1), margin_rtol=margin_rtol, clip=clip, **fmn_opts)
    found = [a, b]
    if classes:
        found.append(_class_fmn(logits_fn, params, x, y, classes=classes, steps=fmn_steps,
                                fmn_kw=fmn_kw, margin_rtol=margin_rtol, clip=clip))
    return _combine(logits_fn, params, x, y, tuple(found))


def _fmn_keywords(options: dict) -> tuple:
    """:func:`fmn`'s run options (its defaults, overridden by ``options``) as a hashable, static tuple."""
    kw = {"alpha_init": 1.0, "alpha_final": None, "gamma_init": 0.05, "gamma_final": 0.001,
          "step_scale": "relative", "line_steps": 30}
    unknown = sorted(set(options) - set(kw))
    if unknown:
        raise TypeError(f"fmn_options has unknown keys {', '.join(unknown)} (fmn's options: {', '.join(kw)})")
    kw.update(options)
    if kw["alpha_final"] is None:
        kw["alpha_final"] = kw["alpha_init"] / 100
    return tuple(sorted(kw.items()))


def _check_options(options: dict | None, name: str, reserved: tuple[str, ...]) -> dict:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"{name} must be a dict of keyword arguments or None, got {type(options).__name__}")
    clash = sorted(set(options) & set(reserved))
    if clash:
        raise ValueError(f"{name} must not set {', '.join(clash)} (best_min_norm sets them)")
    return options


@partial(jax.jit, static_argnames=("logits_fn",))
def _combine(logits_fn: LogitsFn, params: Params, x: Array, y: Array, results: tuple[AttackResult, ...]
             ) -> AttackResult:
    """Per sample the smallest verified of ``results``, re-verified; ``results[0]`` where re-verification fails."""
    norms = jnp.stack([jnp.where(r.success, r.norm, jnp.inf) for r in results])
    delta, _ = _pick_smallest(jnp.stack([r.delta for r in results]), norms)
    first = results[0]
    res = _finalize(logits_fn, params, x, y, delta, jnp.any(jnp.isfinite(norms), axis=0))
    keep = res.success
    return AttackResult(*(jnp.where(_per_sample(keep, u), u, v) for u, v in zip(res, first, strict=True)))


__all__ = ["FMNState", "best_min_norm", "fmn", "fmn_factory"]
