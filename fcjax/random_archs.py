"""Random biased ReLU networks beyond the MLP (De Palma et al. 2021: "any combination of convolutional or fully
connected layers with skipped connections and pooling"), written as exact affine-ReLU chains.

Every network here is returned as the ``[(W, b), ...]`` layers of :func:`fcjax.certified_radius` (``W`` of shape
``(out, in)``, ReLU between layers, a scalar readout), so the certificates, the attacks and
:func:`fcjax.random_nets.biased_relu_value` apply unchanged:

* **CNN** (:func:`biased_relu_cnn`): the input ``x ∈ R^d`` is a one-channel signal of length ``d``; each block is a
  SAME (zero-padded), stride-1 convolution with a per-channel bias, a ReLU and, where the length is even, average
  pooling by 2. A convolution is linear, so it is its dense matrix (the convolution applied to the standard basis,
  exact); pooling is linear and comes after the ReLU, so it is folded into the next layer's matrix (``W P``), exact
  up to the order of summation.
* **ResNet** (:func:`biased_relu_resnet`): ``h_1 = relu(W_0 x + b_0)``, then ``h ← h + relu(V_l h + c_l)``. After a
  ReLU ``h >= 0``, so ``relu(h) = h`` and one block is the chain layer ``u ↦ relu([S; V_l S] u + [0; c_l])`` on the
  stacked ``u = [h; r]`` with ``S = [I I]`` (the skip sums the halves): the identity half passes the ReLU
  unchanged. Exact, at twice the width.

Weights are Gaussian with He variance ``2 / fan_in`` before each ReLU and ``1 / fan_in`` for the readout (the
residual branches ``2 / (fan_in · blocks)``, so the variance of ``h`` stays bounded in depth); biases
``N(0, bias_std²)``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

from ._types import Array, Float, Key
from ._validate import check_array, check_dim, check_dtype, check_float, check_int, check_key, check_sizes

Layer = tuple[Float[Array, "_o _i"], Float[Array, " _o"]]


def conv1d_matrix(kernel: Float[Array, "k cin cout"], length: int) -> Float[Array, "_o _i"]:
    """The dense ``(length·cout, length·cin)`` matrix of a SAME, stride-1 1-D convolution (cross-correlation, zero
    padding) on flat ``(length, cin)`` signals, position-major (index ``t·c + channel``): the convolution applied
    to the standard basis, so each entry is a kernel entry or 0, without rounding."""
    kernel = check_array(kernel, "kernel", ndim=3, min_size={0: 1, 1: 1, 2: 1})
    length = check_int(length, "length", minimum=1)
    cin = kernel.shape[1]
    n = length * cin
    basis = jnp.eye(n, dtype=kernel.dtype).reshape(n, length, cin)
    out = lax.conv_general_dilated(basis, kernel, (1,), "SAME", dimension_numbers=("NWC", "WIO", "NWC"),
                                   precision=lax.Precision.HIGHEST)
    return out.reshape(n, -1).T


def avg_pool_matrix(length: int, channels: int, dtype=jnp.float32) -> Float[Array, "_o _i"]:
    """The ``(length/2·channels, length·channels)`` matrix of average pooling by 2 on position-major signals."""
    half = length // 2
    rows = jnp.arange(half * channels)
    t, c = rows // channels, rows % channels
    cols = jnp.arange(length * channels)
    tc, cc = cols // channels, cols % channels
    return (0.5 * ((tc[None, :] // 2 == t[:, None]) & (cc[None, :] == c[:, None]))).astype(dtype)


def _gauss(key: Key, shape: tuple[int, ...], var: float, dtype) -> Array:
    return math.sqrt(var) * jax.random.normal(key, shape, dtype)


def biased_relu_cnn(key: Key, d: int, channels: tuple[int, ...] = (4, 4), kernel: int = 3, bias_std: float = 0.1,
                    pool: bool = True, *, dtype=jnp.float32) -> list[Layer]:
    """A random 1-D CNN ``d → [conv(kernel, c) → ReLU → avg-pool 2] per c in channels → 1`` as dense layers.

    Returns ``[(W, b), ...]``: one layer per convolution (the previous block's pooling folded in) and the readout
    (the last pooling folded in). Pooling is skipped where the length is odd (or ``pool=False``)."""
    check_key(key)
    d = check_dim(d)
    channels = check_sizes(channels, "channels")
    kernel = check_int(kernel, "kernel", minimum=1)
    bias_std = check_float(bias_std, "bias_std", low=0.0)
    if not isinstance(pool, bool):
        raise TypeError(f"pool must be a bool, got {type(pool).__name__}")
    dtype = check_dtype(dtype)
    layers: list[Layer] = []
    length, cin, fold = d, 1, None  # fold: the previous block's pooling, applied before this layer
    for n, cout in enumerate(channels):
        k_w, k_b = jax.random.split(jax.random.fold_in(key, n))
        w = conv1d_matrix(_gauss(k_w, (kernel, cin, cout), 2.0 / (kernel * cin), dtype), length)
        b = jnp.tile(bias_std * jax.random.normal(k_b, (cout,), dtype), length)
        layers.append((w if fold is None else w @ fold, b))
        fold = None
        if pool and length % 2 == 0:
            fold = avg_pool_matrix(length, cout, dtype)
            length //= 2
        cin = cout
    k_w, k_b = jax.random.split(jax.random.fold_in(key, len(channels)))
    fan_in = length * cin
    w = _gauss(k_w, (1, fan_in), 1.0 / fan_in, dtype)
    layers.append((w if fold is None else w @ fold, bias_std * jax.random.normal(k_b, (1,), dtype)))
    return layers


def biased_relu_resnet(key: Key, d: int, width: int, blocks: int = 2, bias_std: float = 0.1, *,
                       dtype=jnp.float32) -> list[Layer]:
    """A random residual ReLU net ``h_1 = relu(W_0 x + b_0)``, ``h ← h + relu(V_l h + c_l)`` (``blocks`` times),
    ``f = w·h + b``, as an exact chain of ``blocks + 2`` dense layers (module docstring; width ``2·width`` after
    the first)."""
    check_key(key)
    d = check_dim(d)
    width = check_int(width, "width", minimum=1)
    blocks = check_int(blocks, "blocks", minimum=0)
    bias_std = check_float(bias_std, "bias_std", low=0.0)
    dtype = check_dtype(dtype)

    def bias(k, n):
        return bias_std * jax.random.normal(k, (n,), dtype)

    k0, kb0 = jax.random.split(jax.random.fold_in(key, 0))
    layers: list[Layer] = [(_gauss(k0, (width, d), 2.0 / d, dtype), bias(kb0, width))]
    eye = jnp.eye(width, dtype=dtype)
    s = eye  # h = S u for the current chain state u
    for n in range(blocks):
        kv, kc = jax.random.split(jax.random.fold_in(key, n + 1))
        v = _gauss(kv, (width, width), 2.0 / (width * blocks), dtype)
        layers.append((jnp.concatenate([s, v @ s]), jnp.concatenate([jnp.zeros(width, dtype), bias(kc, width)])))
        s = jnp.concatenate([eye, eye], axis=1)
    kw, kb = jax.random.split(jax.random.fold_in(key, blocks + 1))
    layers.append((_gauss(kw, (1, width), 1.0 / width, dtype) @ s, bias(kb, 1)))
    return layers


__all__ = ["avg_pool_matrix", "biased_relu_cnn", "biased_relu_resnet", "conv1d_matrix"]
