"""The ℓ_p distance (p = 1, 2, ∞) of inputs to a scalar ReLU network's decision boundary ``f = 0``, bracketed.

For a scalar network (the random nets of :mod:`fcjax.random_nets` and :mod:`fcjax.random_archs`) the two-class
network with logits ``(f, −f)`` has the same boundary (its margin is ``2f``), so fcjax's certificates and attacks
bound the distance ``r(x) = min{‖δ‖ : sign f(x + δ) ≠ sign f(x)}`` on both sides::

    certified_radius(method, norm=p)  <=  r_p(x)  <=  ‖δ‖_p of a verified flip (min_norm for ℓ2, lp_flip),

next to the first-order (dual-norm) estimate ``|f|/‖∇f‖_q`` (``1/p + 1/q = 1``), exact for an affine ``f`` and
neither bound in general. De Palma et al. (2021, arXiv 2004.05923) predict ``r_p(x)/‖x‖_p ∝ d^(−1/2)`` for random
deep nets with biases.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from . import random_archs
from ._types import Array, Float, Key
from ._validate import check_array, check_dim, check_float, check_int, check_key
from .attacks import min_norm
from .certify import _check_ball, _check_layers, certified_radius, logits
from .gradients import _lp_norm, check_p
from .random_nets import biased_relu_net, biased_relu_value

ARCHS = ("mlp", "cnn", "resnet")
Layer = tuple[Float[Array, "_o _i"], Float[Array, " _o"]]


class Bracket(NamedTuple):
    """Per input ``(n,)``: ``linearised`` ``|f|/‖∇f‖``, certified ``lower``, attack ``upper`` (``inf`` where no
    flip was found) and ``label`` (1 where ``f < 0``: the two-class network's class)."""

    linearised: Float[Array, " n"]
    lower: Float[Array, " n"]
    upper: Float[Array, " n"]
    label: Array


def two_class_layers(layers: list[Layer]) -> list[Layer]:
    """The layers of the two-class network with logits ``(f, −f)`` for a scalar network's ``[(W, b), ...]``."""
    layers = _check_layers(layers, min_outputs=1)
    w, b = layers[-1]
    if w.shape[0] != 1:
        raise ValueError(f"layers must end in a scalar readout (1 output), got {w.shape[0]} outputs")
    return [*layers[:-1], (jnp.concatenate([w, -w]), jnp.concatenate([b, -b]))]


def _steepest_zero(f: Array, g: Array, q: float) -> Array:
    """The shortest ℓ_p step ``δ`` with ``f + g·δ = 0`` (``q`` the dual exponent): ``−f/‖g‖_q`` times the ℓ_p-unit
    vector maximising ``g·u``: ``g/‖g‖_2`` (p = 2), ``sign(g)`` (p = ∞), ``sign(g_i) e_i`` at ``i = argmax |g_i|``
    (p = 1). Zero where ``g = 0``."""
    if q == 1:  # p = inf
        unit = jnp.sign(g)
    elif math.isinf(q):  # p = 1
        i = jnp.argmax(jnp.abs(g))
        unit = jnp.sign(g[i]) * jax.nn.one_hot(i, g.shape[0], dtype=g.dtype)
    else:
        unit = g / jnp.where(jnp.any(g != 0), jnp.linalg.norm(g), 1.0)
    gq = _lp_norm(g[None], q)[0]
    return jnp.where(gq > 0, -f / jnp.where(gq > 0, gq, 1.0), 0.0) * unit


def _lp_flip_one(layers: list[Layer], x: Array, q: float, iters: int, overshoot: float, steps: int
                 ) -> tuple[Array, Array]:
    """DeepFool-ℓ_p on one input, then bisection on the ray: ``(δ, flipped)``."""
    value = lambda v: biased_relu_value(layers, v)
    side = value(x) < 0

    def crossed(v):
        return (value(v) < 0) != side

    def step(_, state):
        total, done = state
        f, g = jax.value_and_grad(value)(x + total)
        nxt = total + _steepest_zero(f, g, q)
        done_now = done | crossed(x + (1 + overshoot) * nxt)
        return jnp.where(done, total, nxt), done_now

    total, flipped = lax.fori_loop(0, iters, step, (jnp.zeros_like(x), crossed(x)))
    delta = (1 + overshoot) * total

    def bisect(_, state):  # keep hi a verified flip: the boundary lies in (lo, hi] on the ray
        lo, hi = state
        mid = (lo + hi) / 2
        ok = crossed(x + mid * delta)
        return jnp.where(ok, lo, mid), jnp.where(ok, mid, hi)

    _, hi = lax.fori_loop(0, steps, bisect, (jnp.zeros((), x.dtype), jnp.ones((), x.dtype)))
    return hi * delta, flipped


def lp_flip(layers: list[Layer], x: Float[Array, "n d"], norm: float | str = 2.0, *, iters: int = 50,
            overshoot: float = 0.02, steps: int = 30) -> Float[Array, " n"]:
    """An ℓ_p upper bound on the distance of each row of ``x`` to the boundary ``f = 0`` of a scalar network: the
    ℓ_p norm of a *verified* sign flip, ``inf`` where none was found.

    DeepFool for a scalar ``f`` in the ℓ_p geometry (Moosavi-Dezfooli et al. 2016, eq. 10 with the dual norm):
    ``δ ← δ + step``, ``step`` the shortest ℓ_p move zeroing the linearisation at ``x + δ`` (:func:`_steepest_zero`),
    until ``x + (1 + overshoot)δ`` crosses; then ``steps`` bisections on the ray ``t(1 + overshoot)δ``, ``t ∈ (0, 1]``,
    keep the shortest crossing verified in the forward pass. ``norm``: 1, 2 or ``inf`` (aliases ``"l1"``...)."""
    x = check_array(x, "x", ndim=2, min_size={0: 1})
    layers = _check_layers(layers, min_outputs=1)
    if x.shape[1] != layers[0][0].shape[1]:
        raise ValueError(f"x must have {layers[0][0].shape[1]} columns (one input per row), got shape {x.shape}")
    q = _check_ball(norm, "crown")
    iters = check_int(iters, "iters", minimum=1)
    steps = check_int(steps, "steps", minimum=1)
    overshoot = check_float(overshoot, "overshoot", low=0.0)
    delta, flipped = jax.vmap(lambda v: _lp_flip_one(layers, v, q, iters, overshoot, steps))(x)
    return jnp.where(flipped, _lp_norm(delta, check_p(norm, "norm")), jnp.inf)


def boundary_bracket(layers: list[Layer], x: Float[Array, "n d"], *, method: str = "crown",
                     steps: int = 20, norm: float | str = 2.0) -> Bracket:
    """Bracket the ℓ_p distance (``norm``: 2, 1 or ``inf``) of each row of ``x`` to the boundary ``f = 0`` of the
    scalar network ``layers``.

    ``upper``: :func:`fcjax.min_norm` (deterministic) on the two-class network; ℓ1 and ℓ∞, the shorter of
    :func:`lp_flip` and min_norm's flip measured in ℓ_p.
    ``lower``: :func:`fcjax.certified_radius` with ``method`` for the ℓ_p ball, bisected ``steps`` times on
    ``[0, upper]``. ``linearised``: ``|f|/‖∇f‖_q``. Jittable and vmappable over networks (stacked layers) once
    validated."""
    x = check_array(x, "x", ndim=2, min_size={0: 1})
    two = two_class_layers(layers)
    if x.shape[1] != two[0][0].shape[1]:
        raise ValueError(f"x must have {two[0][0].shape[1]} columns (one input per row), got shape {x.shape}")
    steps = check_int(steps, "steps", minimum=1)
    q = _check_ball(norm, method)
    f, g = jax.vmap(jax.value_and_grad(lambda v: biased_relu_value(layers, v)))(x)
    label = (f < 0).astype(jnp.int32)
    flip = min_norm(logits, two, x, label)  # verified ℓ2 flips are ℓ_p upper bounds too: the better one is kept
    upper = flip.norm if q == 2 else jnp.minimum(
        lp_flip(layers, x, norm), jnp.where(flip.success, _lp_norm(flip.delta, check_p(norm, "norm")), jnp.inf))
    lower = certified_radius(two, x, label, method=method, upper=upper, steps=steps, norm=norm)
    gnorm = _lp_norm(g, q)
    lin = jnp.where(gnorm > 0, jnp.abs(f) / jnp.where(gnorm > 0, gnorm, 1.0), jnp.inf)
    return Bracket(lin, lower, upper, label)


def random_net(key: Key, d: int, arch: str, width_factor: int = 1, depth: int = 2, bias_std: float = 0.1, *,
               dtype=jnp.float32) -> list[Layer]:
    """One random biased ReLU network on ``R^d``: ``"mlp"`` (``depth`` layers of ``width_factor·d``), ``"cnn"``
    (``depth`` conv blocks of ``4·width_factor`` channels, kernel 3, pooling) or ``"resnet"`` (width
    ``width_factor·d``, ``depth`` residual blocks)."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    width_factor = check_int(width_factor, "width_factor", minimum=1)
    depth = check_int(depth, "depth", minimum=1)
    if arch == "mlp":
        return biased_relu_net(key, d, (width_factor * d,) * depth, bias_std, dtype=dtype)
    if arch == "cnn":
        return random_archs.biased_relu_cnn(key, d, (4 * width_factor,) * depth, 3, bias_std, dtype=dtype)
    return random_archs.biased_relu_resnet(key, d, width_factor * d, depth, bias_std, dtype=dtype)


def bracket_trial(key: Key, d: int, arch: str = "mlp", width_factor: int = 1, depth: int = 2,
                  bias_std: float = 0.1, method: str = "crown", *, norm: float | str = 2.0, dtype=jnp.float32
                  ) -> dict[str, Array]:
    """One fresh random net (:func:`random_net`) and one input ``x ~ N(0, I_d)``: the linearised distance, the
    certified lower and the attack's upper bound on its ℓ_p distance to the boundary (``norm``), each over
    ``‖x‖_p`` (``rel_linearised``, ``rel_lower``, ``rel_upper``), and ``found`` (the attack verified a flip)."""
    check_key(key)
    d = check_dim(d)
    check_float(bias_std, "bias_std", low=0.0)
    _check_ball(norm, method)
    kn, kx = jax.random.split(key)
    layers = random_net(kn, d, arch, width_factor, depth, bias_std, dtype=dtype)
    x = jax.random.normal(kx, (1, d), dtype)
    br = boundary_bracket(layers, x, method=method, norm=norm)
    norm = _lp_norm(x, check_p(norm, "norm"))[0]
    return {"rel_linearised": br.linearised[0] / norm, "rel_lower": br.lower[0] / norm,
            "rel_upper": br.upper[0] / norm, "found": jnp.isfinite(br.upper[0])}


__all__ = ["ARCHS", "Bracket", "boundary_bracket", "bracket_trial", "lp_flip", "random_net", "two_class_layers"]
