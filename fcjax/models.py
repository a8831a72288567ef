"""Flax (linen) classifiers used by the checks: the paper's one-hidden-layer linear network, MLPs and a small CNN.

Gao et al. (arXiv 2406.16200), Theorem 1 and experiment E1: ``f(x) = H_2 sigma(H_1 x)`` with sigma = identity.
A linear network's decision depends only on the collapsed map ``W = H_2 H_1``; its rows are the probe vectors
of Theorem 4.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp

from ._types import Array, Float
from ._validate import check_int
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


def relu_mlp(depth: int, width: int, classes: int) -> MLP:
    """A ReLU :class:`MLP` with ``depth`` hidden layers of ``width`` units (the nonlinear nets of Gao et al. 6)."""
    check_int(depth, "depth", minimum=1)
    check_int(width, "width", minimum=1)
    check_int(classes, "classes", minimum=2)
    return MLP(hidden=(width,) * depth, classes=classes, activation=nn.relu)


class CNN(nn.Module):
    """A small ReLU convolutional net on *flat* inputs: ``(..., h*w*c)`` is reshaped to ``(..., h, w, c)``.

    Flat inputs keep every attack, certificate and distance in fcjax one-dimensional (``d = h*w*c``), so the
    same code serves MLPs and CNNs. Layers: ``len(features)`` convolutions (``kernel`` x ``kernel``, stride
    ``stride``, SAME padding, ReLU), flatten, one ReLU dense layer of ``hidden`` units, a linear readout.
    """

    image_shape: tuple[int, int, int]
    classes: int
    features: Sequence[int] = (8, 16)
    kernel: int = 3
    stride: int = 2
    hidden: int = 64

    @nn.compact
    def __call__(self, x: Float[Array, "... d"]) -> Float[Array, "... k"]:
        batch = x.shape[:-1]
        x = x.reshape(-1, *self.image_shape)
        for n, f in enumerate(self.features):
            conv = nn.Conv(f, (self.kernel, self.kernel), strides=(self.stride, self.stride), padding="SAME",
                           name=f"conv_{n}")
            x = nn.relu(conv(x))
        x = x.reshape(x.shape[0], -1)
        x = nn.relu(nn.Dense(self.hidden, name="dense")(x))
        return nn.Dense(self.classes, name="readout")(x).reshape(*batch, self.classes)


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
