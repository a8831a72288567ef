"""Random networks of the field's theorems on input dimension and fragility.

Bubeck, Cherapanamjeri, Gidel & Tachet des Combes (NeurIPS 2021, arXiv 2104.03863): the two-layer network
``f(x) = k^(-1/2) Σ_l a_l ψ(w_l·x)`` with ``w_l ~ N(0, I_d/d)``, ``a_l ~ Unif{±1}`` and ``x`` on the sphere of radius
``√d`` (so ``w_l·x ~ N(0, 1)``). By the CLT in ``k`` and concentration in ``d``, ``f(x) → N(0, Eψ(g)²)`` and
``‖∇f(x)‖² → Eψ'(g)²`` (``g ~ N(0, 1)``), so the linearised flip distance ``|f|/‖∇f‖`` tends to
``√(Eψ²/Eψ'²)·|Z|``: exactly ``|Z|`` for ReLU, whatever ``d`` and ``k`` (notes 1.2 [D]).

Bartlett, Bubeck & Cherapanamjeri (NeurIPS 2021, arXiv 2106.12611): deep bias-free ReLU networks with Gaussian
weights. They are positively homogeneous, so Euler's identity ``f(x) = ⟨∇f(x), x⟩`` holds exactly and the one-step
flip distance is ``|f|/‖∇f‖ = ‖x‖·|cos θ|``, ``θ`` the angle between ``∇f(x)`` and ``x``: Gao et al.'s compression
factor (notes 1.3 [D]).

De Palma, Kiani & Lloyd (ICML 2021, arXiv 2004.05923): deep ReLU networks with random weights and biases; the ℓ_p
distance of an input to the decision boundary scales as ``‖x‖_p/√d`` for every ``p >= 1`` (notes 1.5 [P]). Points
are rows, ``(n, d)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._types import Array, Float, Key
from ._validate import check_array, check_dim, check_dtype, check_float, check_int, check_key, check_sizes
from .certify import _check_layers
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


def deep_relu_net(key: Key, d: int, widths: tuple[int, ...], *, dtype=jnp.float32) -> list[Float[Array, "_o _i"]]:
    """A bias-free ReLU network ``d → widths[0] → … → widths[-1] → 1``: weights ``(out, in)`` with ``N(0, 2/in)``
    entries (He) before each ReLU and ``N(0, 1/in)`` for the linear readout, one ``fold_in`` key per layer."""
    check_key(key)
    d = check_dim(d)
    widths = check_sizes(widths, "widths")
    dtype = check_dtype(dtype)
    sizes = (d, *widths, 1)
    return [jax.random.normal(jax.random.fold_in(key, n), (o, i), dtype)
            * math.sqrt((2.0 if n < len(widths) else 1.0) / i)
            for n, (i, o) in enumerate(itertools.pairwise(sizes))]


def _check_input(x: Array, d: int | None, net: str) -> None:
    if d is None:
        raise ValueError(f"{net} must hold at least one layer")
    check_array(x, "x", ndim=1)
    if x.shape[0] != d:
        raise ValueError(f"x must have length {d} (the first layer's input size), got shape {x.shape}")


def deep_relu_value(weights: list[Float[Array, "_o _i"]], x: Float[Array, " d"]) -> Float[Array, ""]:
    """``f(x) = W_L relu(W_{L-1} ⋯ relu(W_1 x))`` of one input (shape ``(d,)``)."""
    _check_input(x, weights[0].shape[1] if weights else None, "weights")
    h = x
    for w in weights[:-1]:
        h = jax.nn.relu(w @ h)
    return (weights[-1] @ h)[0]


def deep_relu_abs_value(weights: list[Float[Array, "_o _i"]], x: Float[Array, " d"]) -> Float[Array, ""]:
    """The same product with ``|W_l|`` and ``|x|`` (no ReLU masking can make it smaller than the masked one): the
    scale in the rounding-error bound ``|fl(f) − f| <= γ_N·(|W_L|⋯|W_1||x|)``, ``N`` the sum of the fan-ins
    (Higham 2002, §3.5, for a chain of matrix-vector products)."""
    _check_input(x, weights[0].shape[1] if weights else None, "weights")
    h = jnp.abs(x)
    for w in weights:
        h = jnp.abs(w) @ h
    return h[0]


def euler_trial(key: Key, d: int, widths: tuple[int, ...], *, dtype=jnp.float32) -> dict[str, Array]:
    """One fresh bias-free ReLU net and one input on the ``√d``-sphere: ``f``, ``⟨∇f, x⟩``, the error scale
    ``|W_L|⋯|W_1||x|`` and ``√d·|cos θ| = |f|/‖∇f‖`` (``‖x‖ = √d``)."""
    kn, kx = jax.random.split(key)
    weights = deep_relu_net(kn, d, widths, dtype=dtype)
    x = sphere_points(kx, d, 1, dtype=dtype)[0]
    f, g = jax.value_and_grad(lambda v: deep_relu_value(weights, v))(x)
    norm = jnp.linalg.norm(g)
    return {"f": f, "g_dot_x": g @ x, "scale": deep_relu_abs_value(weights, x),
            "sqrt_d_cos": jnp.where(norm > 0, jnp.abs(g @ x) / jnp.where(norm > 0, norm, 1), jnp.nan)}


def depth_trial(key: Key, d: int, widths: tuple[int, ...], inputs: int = 32, overshoot: float = 0.02, *,
                dtype=jnp.float32) -> dict[str, Array]:
    """One fresh bias-free ReLU net on ``inputs`` points of the ``√d``-sphere: the spread of ``f`` over inputs
    (``std/rms``: 0 for a constant function) and the fraction of inputs where one step of ``1 + overshoot`` times
    ``|f|/‖∇f‖`` flips ``sign f``."""
    kn, kx = jax.random.split(key)
    weights = deep_relu_net(kn, d, widths, dtype=dtype)
    xs = sphere_points(kx, d, inputs, dtype=dtype)

    def one(x):
        f, g = jax.value_and_grad(lambda v: deep_relu_value(weights, v))(x)
        gg = g @ g
        live = gg > 0  # a net whose ReLUs are all off at x is locally constant (f = 0): no step flips it
        after = deep_relu_value(weights, x - (1 + overshoot) * f * g / jnp.where(live, gg, 1))
        return f, live & (jnp.sign(after) != jnp.sign(f))

    fs, flipped = jax.vmap(one)(xs)
    rms = jnp.sqrt(jnp.mean(fs * fs))
    spread = jnp.where(rms > 0, jnp.std(fs) / jnp.where(rms > 0, rms, 1), 0.0)  # f = 0 everywhere: constant
    return {"spread": spread, "flip_rate": jnp.mean(flipped.astype(dtype))}


def biased_relu_net(key: Key, d: int, widths: tuple[int, ...], bias_std: float = 0.1, *, dtype=jnp.float32
                    ) -> list[tuple[Float[Array, "_o _i"], Float[Array, " _o"]]]:
    """A ReLU network ``d → widths → 1`` with random weights *and biases* (De Palma et al. 2021): ``(W, b)`` per
    layer, ``W`` of shape ``(out, in)`` with He entries ``N(0, 2/in)`` (``N(0, 1/in)`` for the readout) and
    ``b ~ N(0, bias_std²)``; the layout of :func:`fcjax.certified_radius`'s ``layers``."""
    weights = deep_relu_net(key, d, widths, dtype=dtype)
    bias_std = check_float(bias_std, "bias_std", low=0.0)
    return [(w, bias_std * jax.random.normal(jax.random.fold_in(key, 10**6 + n), (w.shape[0],), w.dtype))
            for n, w in enumerate(weights)]


def biased_relu_value(layers: list[tuple[Array, Array]], x: Float[Array, " d"]) -> Float[Array, ""]:
    """``f(x)`` of :func:`biased_relu_net`'s layers at one input (shape ``(d,)``)."""
    layers = _check_layers(layers, min_outputs=1)  # the certificates' check: pairs, finite, chained
    _check_input(x, layers[0][0].shape[1], "layers")
    h = x
    for w, b in layers[:-1]:
        h = jax.nn.relu(w @ h + b)
    w, b = layers[-1]
    return (w @ h + b)[0]


def lp_distance_trial(key: Key, d: int, widths: tuple[int, ...], bias_std: float = 0.1, *, dtype=jnp.float32
                      ) -> dict[str, Array]:
    """One fresh biased ReLU net and one Gaussian input ``x ~ N(0, I_d)``: for ``p`` in 1, 2, ∞ the linearised
    ℓ_p distance to the boundary ``f = 0`` over ``‖x‖_p``, ``|f|/(‖∇f‖_q‖x‖_p)`` (``rel_l1``, ``rel_l2``,
    ``rel_linf``), exact for an affine ``f``."""
    kn, kx = jax.random.split(key)
    layers = biased_relu_net(kn, d, widths, bias_std, dtype=dtype)
    x = jax.random.normal(kx, (d,), dtype)
    f, g = jax.value_and_grad(lambda v: biased_relu_value(layers, v))(x)
    out = {}
    for label, p in (("l1", 1.0), ("l2", 2.0), ("linf", math.inf)):
        r = linearised_distance(f[None], g[None], p)[0]
        out[f"rel_{label}"] = jnp.where(jnp.isfinite(r), r, jnp.nan) / _lp_norm(x[None], p)[0]  # ∇f = 0: no step
    return out


__all__ = ["ACTIVATIONS", "TwoLayerNet", "activation", "activation_ratio", "biased_relu_net", "biased_relu_value",
           "deep_relu_abs_value", "deep_relu_net", "deep_relu_value", "depth_trial", "euler_trial",
           "linearised_distance", "lp_distance_trial", "one_step_trial", "sphere_points", "two_layer_net",
           "two_layer_value_and_grad"]
