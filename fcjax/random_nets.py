"""Random networks of the field's theorems on input dimension and fragility.

Bubeck, Cherapanamjeri, Gidel & Tachet des Combes (NeurIPS 2021, arXiv 2104.03863): the two-layer network
``f(x) = k^(-1/2) Σ_l a_l ψ(w_l·x)`` with ``w_l ~ N(0, I_d/d)``, ``a_l ~ Unif{±1}`` and ``x`` on the sphere of radius
``√d`` (so ``w_l·x ~ N(0, 1)``). By the CLT in ``k`` and concentration in ``d``, ``f(x) → N(0, Eψ(g)²)`` and
``‖∇f(x)‖² → Eψ'(g)²`` (``g ~ N(0, 1)``), so the linearised flip distance ``|f|/‖∇f‖`` tends to
``√(Eψ²/Eψ'²)·|Z|``: exactly ``|Z|`` for ReLU, whatever ``d`` and ``k`` (notes 1.2 [D]). Points are rows, ``(n, d)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._types import Array, Float, Key
from ._validate import check_array, check_dim, check_dtype, check_float, check_int, check_key
from .gradients import _lp_norm, dual_exponent

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "gelu": lambda z: jax.nn.gelu(z, approximate=False),
    "sin": jnp.sin,
    "square": jnp.square,
}


def activation(name: str) -> Callable[[Array], Array]:
    """The activation ``ψ`` called ``name`` (one of :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


def activation_ratio(name: str) -> float:
    """``√(Eψ(g)²/Eψ'(g)²)`` for ``g ~ N(0, 1)``: the scale of the limiting law ``|f|/‖∇f‖ → c·|Z|``.

    Closed forms for ReLU (``½/½``: 1), sin (``(1 − e⁻²)/(1 + e⁻²)``) and x² (``3/4``); Gauss–Hermite quadrature
    with 200 nodes for the smooth others (tanh 0.92, notes 1.2 [D]).
    """
    psi = activation(name)
    if name == "relu":
        return 1.0
    if name == "sin":
        return math.sqrt((1 - math.exp(-2)) / (1 + math.exp(-2)))
    if name == "square":
        return math.sqrt(3 / 4)
    nodes, weights = np.polynomial.hermite.hermgauss(200)
    g = jnp.asarray(math.sqrt(2) * nodes)
    dpsi = jax.vmap(jax.grad(psi))(g)
    e2 = float(np.sum(weights * np.asarray(psi(g)) ** 2) / math.sqrt(math.pi))
    d2 = float(np.sum(weights * np.asarray(dpsi) ** 2) / math.sqrt(math.pi))
    return math.sqrt(e2 / d2)


class TwoLayerNet(NamedTuple):
    """``f(x) = k^(-1/2) Σ_l a_l ψ(w_l·x)``: ``w`` of shape ``(k, d)`` with ``N(0, 1/d)`` entries, ``a`` of shape
    ``(k,)`` with ``±1`` entries."""

    w: Float[Array, "k d"]
    a: Float[Array, " k"]


def two_layer_net(key: Key, d: int, k: int, *, dtype=jnp.float32) -> TwoLayerNet:
    """A random two-layer network of Bubeck et al. (2021), Section 1: ``w_l ~ N(0, I_d/d)``, ``a_l ~ Unif{±1}``."""
    check_key(key)
    d = check_dim(d)
    k = check_int(k, "k", minimum=1)
    dtype = check_dtype(dtype)
    kw, ka = jax.random.split(key)
    w = jax.random.normal(kw, (k, d), dtype) / math.sqrt(d)
    a = jax.random.rademacher(ka, (k,), dtype)
    return TwoLayerNet(w, a)


def two_layer_value_and_grad(net: TwoLayerNet, x: Float[Array, " d"], name: str = "relu"
                             ) -> tuple[Float[Array, ""], Float[Array, " d"]]:
    """``f(x)`` and ``∇f(x) = k^(-1/2) Wᵀ(a ⊙ ψ'(Wx))`` of one input ``x`` (shape ``(d,)``)."""
    psi = activation(name)
    check_array(x, "x", ndim=1)
    if x.shape[0] != net.w.shape[1]:
        raise ValueError(f"x must have length {net.w.shape[1]} (the network's input size), got {x.shape}")
    scale = 1.0 / math.sqrt(net.w.shape[0])
    z = net.w @ x
    dpsi = jax.vmap(jax.grad(psi))(z)
    return scale * (net.a @ psi(z)), scale * (net.w.T @ (net.a * dpsi))


def sphere_points(key: Key, d: int, n: int, radius: float | None = None, *, dtype=jnp.float32
                  ) -> Float[Array, "n d"]:
    """``n`` points drawn uniformly on the sphere of radius ``radius`` (default ``√d``) in ``R^d``, as rows."""
    check_key(key)
    d = check_dim(d)
    n = check_int(n, "n", minimum=1)
    dtype = check_dtype(dtype)
    r = math.sqrt(d) if radius is None else check_float(radius, "radius", low=0.0, open_low=True)
    z = jax.random.normal(key, (n, d), dtype)
    return r * z / jnp.linalg.norm(z, axis=1, keepdims=True)


def linearised_distance(value: Float[Array, " n"], grad: Float[Array, "n d"], p: float = 2.0) -> Float[Array, " n"]:
    """``|f(x)|/‖∇f(x)‖_q`` with ``1/p + 1/q = 1``: the ℓ_p length of the smallest step that zeroes the first-order
    model of ``f`` at ``x`` (De Palma et al. 2021; ``p = 2``: Bubeck et al.'s one-step distance)."""
    q = dual_exponent(p)
    check_array(value, "value", ndim=1)
    check_array(grad, "grad", ndim=2)
    if grad.shape[0] != value.shape[0]:
        raise ValueError(f"grad must have one row per value ({value.shape[0]}), got shape {grad.shape}")
    return jnp.abs(value) / _lp_norm(grad, q)


def one_step_trial(key: Key, d: int, k: int, names: tuple[str, ...] = ("relu",), overshoot: float = 0.02, *,
                   dtype=jnp.float32) -> dict[str, Array]:
    """One fresh network (``w``, ``a``) and one input on the ``√d``-sphere, shared by the activations ``names``: for
    each ``ψ``, the linearised flip distance ``r_ψ = |f|/‖∇f‖`` and whether the single step
    ``x − (1 + overshoot)·f·∇f/‖∇f‖²`` (of length ``(1 + overshoot)·r_ψ``) flips ``sign f`` (``flipped_ψ``)."""
    kn, kx = jax.random.split(key)
    net = two_layer_net(kn, d, k, dtype=dtype)
    x = sphere_points(kx, d, 1, dtype=dtype)[0]
    out = {}
    for name in names:
        f, g = two_layer_value_and_grad(net, x, name)
        gg = g @ g
        after, _ = two_layer_value_and_grad(net, x - (1 + overshoot) * f * g / gg, name)
        out[f"r_{name}"] = jnp.abs(f) / jnp.sqrt(gg)
        out[f"flipped_{name}"] = jnp.sign(after) != jnp.sign(f)
    return out


__all__ = ["ACTIVATIONS", "TwoLayerNet", "activation", "activation_ratio", "linearised_distance", "one_step_trial",
           "sphere_points", "two_layer_net", "two_layer_value_and_grad"]
