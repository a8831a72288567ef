"""Flax (linen) classifiers used by the checks: the paper's one-hidden-layer linear network and a small MLP.

Gao et al. (arXiv 2406.16200), Theorem 1 and experiment E1: ``f(x) = H_2 sigma(H_1 x)`` with sigma = identity.
A linear network's decision depends only on the collapsed map ``W = H_2 H_1``; its rows are the probe vectors
of Theorem 4.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp

from ._types import Array, Float
from .linear import collapse_linear


class LinearNet(nn.Module):
    """One hidden layer, no activation: ``f(x) = W_2 (W_1 x + b_1) + b_2``; ``x`` of shape ``(..., d)``."""

    hidden: int
    classes: int
    use_bias: bool = False

    @nn.compact
    def __call__(self, x: Float[Array, "... d"]) -> Float[Array, "... k"]:
        h = nn.Dense(self.hidden, use_bias=self.use_bias, name="hidden")(x)
        return nn.Dense(self.classes, use_bias=self.use_bias, name="readout")(h)


class MLP(nn.Module):
    """A fully connected network with a smooth or piecewise-linear activation (``tanh`` by default)."""

    hidden: Sequence[int]
    classes: int
    activation: Callable[[Array], Array] = jnp.tanh

    @nn.compact
    def __call__(self, x: Float[Array, "... d"]) -> Float[Array, "... k"]:
        for n, width in enumerate(self.hidden):
            x = self.activation(nn.Dense(width, name=f"dense_{n}")(x))
        return nn.Dense(self.classes, name="readout")(x)


def linear_net_affine(params, dtype=None) -> tuple[Float[Array, "k d"], Float[Array, " k"]]:
    """The collapsed affine map ``(W, b)`` of a :class:`LinearNet`'s parameters (rows of ``W`` are probes).

    ``dtype`` (e.g. float64) casts the parameters *before* the product, so the collapse adds no float32 rounding
    to what ``model.apply`` computes in that dtype.
    """
    p = params.get("params", params)
    layers = []
    for name in ("hidden", "readout"):
        kernel = p[name]["kernel"] if dtype is None else p[name]["kernel"].astype(dtype)
        bias = p[name].get("bias", jnp.zeros(kernel.shape[1], kernel.dtype)).astype(kernel.dtype)
        layers.append((kernel.T, bias))
    return collapse_linear(layers)
