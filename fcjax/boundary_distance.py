"""The ℓ2 distance of inputs to a scalar ReLU network's decision boundary ``f = 0``, bracketed.

For a scalar network (the random nets of :mod:`fcjax.random_nets` and :mod:`fcjax.random_archs`) the two-class
network with logits ``(f, −f)`` has the same boundary (its margin is ``2f``), so fcjax's certificates and attacks
bound the distance ``r(x) = min{‖δ‖ : sign f(x + δ) ≠ sign f(x)}`` on both sides::

    certified_radius(method)  <=  r(x)  <=  ‖δ‖ of a verified flip (min_norm),

next to the first-order (dual-norm) estimate ``|f|/‖∇f‖_2``, exact for an affine ``f`` and neither bound in
general. De Palma et al. (2021, arXiv 2004.05923) predict ``r(x)/‖x‖ ∝ d^(−1/2)`` for random deep nets with biases.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import random_archs
from ._types import Array, Float, Key
from ._validate import check_array, check_dim, check_float, check_int, check_key
from .attacks import min_norm
from .certify import _check_layers, certified_radius, logits
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


def boundary_bracket(layers: list[Layer], x: Float[Array, "n d"], *, method: str = "crown",
                     steps: int = 20) -> Bracket:
    """Bracket the ℓ2 distance of each row of ``x`` to the boundary ``f = 0`` of the scalar network ``layers``.

    ``upper``: :func:`fcjax.min_norm` (deterministic) on the two-class network; ``lower``:
    :func:`fcjax.certified_radius` with ``method``, bisected ``steps`` times on ``[0, upper]``. Jittable and
    vmappable over networks (stacked layers) once validated."""
    x = check_array(x, "x", ndim=2, min_size={0: 1})
    two = two_class_layers(layers)
    if x.shape[1] != two[0][0].shape[1]:
        raise ValueError(f"x must have {two[0][0].shape[1]} columns (one input per row), got shape {x.shape}")
    steps = check_int(steps, "steps", minimum=1)
    f, g = jax.vmap(jax.value_and_grad(lambda v: biased_relu_value(layers, v)))(x)
    label = (f < 0).astype(jnp.int32)
    upper = min_norm(logits, two, x, label).norm
    lower = certified_radius(two, x, label, method=method, upper=upper, steps=steps)
    gnorm = jnp.linalg.norm(g, axis=1)
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
                  bias_std: float = 0.1, method: str = "crown", *, dtype=jnp.float32) -> dict[str, Array]:
    """One fresh random net (:func:`random_net`) and one input ``x ~ N(0, I_d)``: the linearised distance, the
    certified lower and the attack's upper bound on its distance to the boundary, each over ``‖x‖_2``
    (``rel_linearised``, ``rel_lower``, ``rel_upper``), and ``found`` (the attack verified a flip)."""
    check_key(key)
    d = check_dim(d)
    check_float(bias_std, "bias_std", low=0.0)
    kn, kx = jax.random.split(key)
    layers = random_net(kn, d, arch, width_factor, depth, bias_std, dtype=dtype)
    x = jax.random.normal(kx, (1, d), dtype)
    br = boundary_bracket(layers, x, method=method)
    norm = jnp.linalg.norm(x[0])
    return {"rel_linearised": br.linearised[0] / norm, "rel_lower": br.lower[0] / norm,
            "rel_upper": br.upper[0] / norm, "found": jnp.isfinite(br.upper[0])}


__all__ = ["ARCHS", "Bracket", "boundary_bracket", "bracket_trial", "random_net", "two_class_layers"]
