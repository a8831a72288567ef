"""Flax (linen) classifiers used by the checks: the paper's one-hidden-layer linear network, MLPs, a small CNN and
the He-initialised conv-net family of Simon-Gabriel et al.'s protocol (strided, average-pooling, residual).

Gao et al. (arXiv 2406.16200), Theorem 1 and experiment E1: ``f(x) = H_2 sigma(H_1 x)`` with sigma = identity.
A linear network's decision depends only on the collapsed map ``W = H_2 H_1``; its rows are the probe vectors
of Theorem 4.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from ._types import Array, Float
from ._validate import check_array, check_dtype, check_int, check_key, check_params
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


# He et al. (2015) initialisation as in Simon-Gabriel et al.'s code (``initialize_params`` [CODE]): weights
# N(0, gain²/fan_in), gain √2 before a ReLU and 1 for the readout, biases 0. Module-level objects, so two models
# built with them compare equal (and share compiled programs).
HE_RELU = nn.initializers.variance_scaling(2.0, "fan_in", "normal")
HE_LINEAR = nn.initializers.variance_scaling(1.0, "fan_in", "normal")


class MLP(nn.Module):
    """A fully connected network with a smooth or piecewise-linear activation (``tanh`` by default)."""

    hidden: Sequence[int]
    classes: int
    activation: Callable[[Array], Array] = jnp.tanh
    kernel_init: Callable[..., Array] = nn.linear.default_kernel_init
    readout_init: Callable[..., Array] = nn.linear.default_kernel_init

    @nn.compact
    def __call__(self, x: Float[Array, "... d"]) -> Float[Array, "... k"]:
        for n, width in enumerate(self.hidden):
            x = self.activation(nn.Dense(width, kernel_init=self.kernel_init, name=f"dense_{n}")(x))
        return nn.Dense(self.classes, kernel_init=self.readout_init, name="readout")(x)


def relu_mlp(depth: int, width: int, classes: int) -> MLP:
    """A ReLU :class:`MLP` with ``depth`` hidden layers of ``width`` units (the nonlinear nets of Gao et al. 6)."""
    check_int(depth, "depth", minimum=1)
    check_int(width, "width", minimum=1)
    check_int(classes, "classes", minimum=2)
    return MLP(hidden=(width,) * depth, classes=classes, activation=nn.relu)


def he_mlp(depth: int, width: int, classes: int) -> MLP:
    """A He-initialised ReLU :class:`MLP` (the fully connected net of Simon-Gabriel et al.'s protocol)."""
    net = relu_mlp(depth, width, classes)
    return net.clone(kernel_init=HE_RELU, readout_init=HE_LINEAR)


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


POOLS = ("stride", "avgpool", "maxpool")
HEADS = ("fc", "avgpool", "maxpool")


class ConvNet(nn.Module):
    """The conv-net family of Simon-Gabriel et al.'s code (``nets.py`` ``ConvNet`` [CODE]), on flat inputs, He init.

    ``layers`` blocks of a 3x3 convolution with ``channels`` maps, dilation ``dilation`` (the protocol scales it with
    the image side so receptive fields cover the same fraction of the image), then ReLU. Padding is circular by
    default: every pixel then has the same number of taps, as the theorem's large-image limit assumes; zero padding
    (``"SAME"``) loses the taps that fall off small planes and makes gradient norms grow with the image side (we
    measured l2 norms rising 2x from 8x8 to 32x32), and the authors' reflection padding doubles some instead. At the
    block indices in ``poolings`` the block subsamples by 2: a stride-2 convolution (``pool="stride"``) or a 2x2
    average / max pool after the convolution. With ``residual=True`` every block after the first is followed by a
    residual block ``relu(x + conv(relu(conv(x))))`` (our residual variant; the paper's is not specified). Head:
    a linear readout of the flattened last plane (``"fc"``) or of its global average / max (``"avgpool"``,
    ``"maxpool"``). No batch norm: per-sample gradients stay per-sample.
    """

    image_shape: tuple[int, int, int]
    classes: int
    channels: int = 64
    layers: int = 4
    poolings: tuple[int, ...] = (1, 2, 3)
    pool: str = "stride"
    dilation: int = 1
    head: str = "fc"
    residual: bool = False
    padding: str = "CIRCULAR"

    def _conv(self, x: Array, stride: int, name: str) -> Array:
        return nn.Conv(self.channels, (3, 3), strides=(stride, stride), kernel_dilation=self.dilation,
                       padding=self.padding, kernel_init=HE_RELU, name=name)(x)

    @nn.compact
    def __call__(self, x: Float[Array, "... d"]) -> Float[Array, "... k"]:
        batch = x.shape[:-1]
        x = x.reshape(-1, *self.image_shape)
        for n in range(self.layers):
            sub = n in self.poolings
            x = nn.relu(self._conv(x, 2 if sub and self.pool == "stride" else 1, f"conv_{n}"))
            if sub and self.pool == "avgpool":
                x = nn.avg_pool(x, (2, 2), strides=(2, 2))
            elif sub and self.pool == "maxpool":
                x = nn.max_pool(x, (2, 2), strides=(2, 2))
            if self.residual and n > 0:
                x = nn.relu(x + self._conv(nn.relu(self._conv(x, 1, f"res_{n}a")), 1, f"res_{n}b"))
        if self.head == "avgpool":
            x = jnp.mean(x, axis=(1, 2))
        elif self.head == "maxpool":
            x = jnp.max(x, axis=(1, 2))
        else:
            x = x.reshape(x.shape[0], -1)
        return nn.Dense(self.classes, kernel_init=HE_LINEAR, name="readout")(x).reshape(*batch, self.classes)


ARCHITECTURES = ("mlp", "strided", "avgpool", "residual")


def protocol_net(arch: str, image_shape: tuple[int, int, int], classes: int, *, channels: int = 64, layers: int = 4,
                 base_side: int | None = None, width: int = 256, head: str = "fc", padding: str = "CIRCULAR"
                 ) -> nn.Module:
    """One network of Simon-Gabriel et al.'s family for images of ``image_shape`` (flat inputs), He-initialised.

    ``arch``: ``"mlp"`` (``layers − 1`` hidden layers of ``width``), ``"strided"`` (stride-2 subsampling),
    ``"avgpool"`` (2x2 average pooling) or ``"residual"`` (strided, with residual blocks). Conv nets subsample at
    every block but the first; their dilation is ``side // base_side`` (the protocol's ``img_size/32`` with
    ``base_side=32``) so that an upsampled image is seen at the same relative scale; ``None``: dilation 1.
    ``padding``: ``"CIRCULAR"`` (default, see :class:`ConvNet`) or ``"SAME"`` (zeros).
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {ARCHITECTURES}, got {arch!r}")
    if padding not in ("CIRCULAR", "SAME"):
        raise ValueError(f"padding must be 'CIRCULAR' or 'SAME', got {padding!r}")
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")
    if not (isinstance(image_shape, tuple) and len(image_shape) == 3):
        raise ValueError(f"image_shape must be (height, width, channels), got {image_shape!r}")
    for i, s in enumerate(image_shape):
        check_int(s, f"image_shape[{i}]", minimum=1)
    check_int(classes, "classes", minimum=2)
    check_int(layers, "layers", minimum=2)
    if arch == "mlp":
        return he_mlp(layers - 1, check_int(width, "width", minimum=1), classes)
    check_int(channels, "channels", minimum=1)
    side = image_shape[0]
    if base_side is not None:
        check_int(base_side, "base_side", minimum=1)
        if side % base_side:
            raise ValueError(f"the image side {side} must be a multiple of base_side={base_side}")
    dilation = 1 if base_side is None else side // base_side
    pool = {"strided": "stride", "residual": "stride", "avgpool": "avgpool"}[arch]
    return ConvNet(image_shape, classes, channels=channels, layers=layers, poolings=tuple(range(1, layers)),
                   pool=pool, dilation=dilation, head=head, residual=arch == "residual", padding=padding)


def linear_net_affine(params, dtype=None) -> tuple[Float[Array, "k d"], Float[Array, " k"]]:
    """The collapsed affine map ``(W, b)`` of a :class:`LinearNet`'s parameters (rows of ``W`` are probes).

    ``dtype`` (e.g. float64) casts the parameters *before* the product, so the collapse adds no float32 rounding
    to what ``model.apply`` computes in that dtype.
    """
    p = params.get("params", params) if hasattr(params, "get") else None
    if p is None or any(name not in p for name in ("hidden", "readout")):
        raise TypeError("params must be the variables of a fcjax.LinearNet (layers 'hidden' and 'readout'), got "
                        f"{type(params).__name__}")
    check_params(params)
    layers = []
    for name in ("hidden", "readout"):
        kernel = p[name]["kernel"] if dtype is None else p[name]["kernel"].astype(dtype)
        bias = p[name].get("bias", jnp.zeros(kernel.shape[1], kernel.dtype)).astype(kernel.dtype)
        layers.append((kernel.T, bias))
    return collapse_linear(layers)


def he_init(model: nn.Module, key: Any, x: Float[Array, "n d"], dtype: Any = None) -> Any:
    """Parameters of a He-initialised model (:func:`he_mlp`, :func:`protocol_net`) drawn with *one* normal call.

    The distribution is ``model.init``'s: kernels N(0, 2/fan_in), the ``readout`` kernel N(0, 1/fan_in), biases 0,
    with ``fan_in`` the product of all kernel axes but the last. One draw instead of one per parameter compiles far
    faster under ``vmap`` (threefry is expanded per call: 1.4 s instead of 17 s for a 4-layer conv net on 2 CPU
    cores), which dominates the cost of sweeps over many fresh networks.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a flax.linen.Module, got {type(model).__name__}")
    check_key(key)
    check_array(x, "x", finite=False)  # only its shape and dtype are used
    dtype = None if dtype is None else check_dtype(dtype)  # float64 without x64 is an error, not float32
    shapes = jax.eval_shape(model.init, jax.random.key(0), x)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(shapes)
    dtype = dtype or leaves[0][1].dtype
    sizes = [math.prod(leaf.shape) for _, leaf in leaves]
    z = jax.random.normal(key, (sum(sizes),), dtype)
    out, start = [], 0
    for (path, leaf), size in zip(leaves, sizes, strict=True):
        names = [str(getattr(p, "key", p)) for p in path]
        if names[-1] == "kernel":
            gain2 = 1.0 if "readout" in names else 2.0
            fan_in = math.prod(leaf.shape[:-1])
            out.append(z[start:start + size].reshape(leaf.shape) * math.sqrt(gain2 / fan_in))
        elif names[-1] == "bias":
            out.append(jnp.zeros(leaf.shape, dtype))
        else:
            raise ValueError(f"he_init knows kernels and biases only, got parameter {'/'.join(names)}")
        start += size
    return jax.tree_util.tree_unflatten(treedef, out)
