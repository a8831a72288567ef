"""Random CNN / ResNet chains (exact against direct forward passes), the boundary bracket, the CDF exponent."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from fcjax import boundary_distance as bd
from fcjax import random_archs as ra
from fcjax.random_nets import biased_relu_value
from fcjax.stats import cdf_exponent


def _direct_cnn(key, x, channels, kernel, bias_std):
    """The CNN of biased_relu_cnn computed with convolutions and pooling, not dense matrices."""
    h = x[None, :, None]
    for n, cout in enumerate(channels):
        k_w, k_b = jax.random.split(jax.random.fold_in(key, n))
        cin = h.shape[-1]
        w = jnp.sqrt(2.0 / (kernel * cin)) * jax.random.normal(k_w, (kernel, cin, cout), x.dtype)
        b = bias_std * jax.random.normal(k_b, (cout,), x.dtype)
        h = jax.lax.conv_general_dilated(h, w, (1,), "SAME", dimension_numbers=("NWC", "WIO", "NWC"),
                                         precision=jax.lax.Precision.HIGHEST) + b[None, None, :]
        h = jax.nn.relu(h)
        if h.shape[1] % 2 == 0:
            h = 0.5 * (h[:, 0::2] + h[:, 1::2])
    flat = h.reshape(-1)
    k_w, k_b = jax.random.split(jax.random.fold_in(key, len(channels)))
    w = jnp.sqrt(1.0 / flat.size) * jax.random.normal(k_w, (1, flat.size), x.dtype)
    return (w @ flat + bias_std * jax.random.normal(k_b, (1,), x.dtype))[0]


def _direct_resnet(key, x, width, blocks, bias_std):
    k0, kb0 = jax.random.split(jax.random.fold_in(key, 0))
    h = jax.nn.relu(jnp.sqrt(2.0 / x.size) * jax.random.normal(k0, (width, x.size), x.dtype) @ x
                    + bias_std * jax.random.normal(kb0, (width,), x.dtype))
    for n in range(blocks):
        kv, kc = jax.random.split(jax.random.fold_in(key, n + 1))
        v = jnp.sqrt(2.0 / (width * blocks)) * jax.random.normal(kv, (width, width), x.dtype)
        h = h + jax.nn.relu(v @ h + bias_std * jax.random.normal(kc, (width,), x.dtype))
    kw, kb = jax.random.split(jax.random.fold_in(key, blocks + 1))
    w = jnp.sqrt(1.0 / width) * jax.random.normal(kw, (1, width), x.dtype)
    return (w @ h + bias_std * jax.random.normal(kb, (1,), x.dtype))[0]


@settings(max_examples=10, deadline=None)
@given(seed=hs.integers(0, 2**31 - 1), d=hs.integers(2, 12), c=hs.integers(1, 3), depth=hs.integers(1, 3))
def test_cnn_chain_equals_the_convolutions(seed, d, c, depth):
    with jax.enable_x64(True):
        key = jax.random.key(seed)
        x = jax.random.normal(jax.random.fold_in(key, 99), (d,), jnp.float64)
        layers = ra.biased_relu_cnn(key, d, (c,) * depth, 3, 0.3, dtype=jnp.float64)
        np.testing.assert_allclose(biased_relu_value(layers, x), _direct_cnn(key, x, (c,) * depth, 3, 0.3),
                                   rtol=1e-10, atol=1e-12)


@settings(max_examples=10, deadline=None)
@given(seed=hs.integers(0, 2**31 - 1), d=hs.integers(2, 10), width=hs.integers(1, 8), blocks=hs.integers(0, 3))
def test_resnet_chain_equals_the_skip_connections(seed, d, width, blocks):
    with jax.enable_x64(True):
        key = jax.random.key(seed)
        x = jax.random.normal(jax.random.fold_in(key, 99), (d,), jnp.float64)
        layers = ra.biased_relu_resnet(key, d, width, blocks, 0.3, dtype=jnp.float64)
        np.testing.assert_allclose(biased_relu_value(layers, x), _direct_resnet(key, x, width, blocks, 0.3),
                                   rtol=1e-10, atol=1e-12)


def test_two_class_layers_put_the_boundary_at_f_zero():
    key = jax.random.key(0)
    layers = bd.random_net(key, 6, "mlp")
    two = bd.two_class_layers(layers)
    x = jax.random.normal(key, (5, 6))
    f = jax.vmap(lambda v: biased_relu_value(layers, v))(x)
    from fcjax.certify import logits
    out = logits(two, x)
    np.testing.assert_allclose(out[:, 0] - out[:, 1], 2 * f, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="scalar readout"):
        bd.two_class_layers(two)


@pytest.mark.parametrize("arch", bd.ARCHS)
def test_bracket_is_ordered_and_the_attack_flips(arch):
    with jax.enable_x64(True):
        key = jax.random.key(3)
        layers = bd.random_net(key, 8, arch, dtype=jnp.float64)
        x = jax.random.normal(jax.random.fold_in(key, 1), (6, 8), jnp.float64)
        br = bd.boundary_bracket(layers, x)
        found = np.isfinite(np.asarray(br.upper))
        assert found.any()
        assert np.all(np.asarray(br.lower)[found] <= np.asarray(br.upper)[found] * (1 + 1e-9))
        assert np.all(np.asarray(br.lower) >= 0)


def test_bracket_is_exact_on_an_affine_net():
    """One layer: f = w.x + b, distance |f|/‖w‖ exactly; the bracket closes on it."""
    with jax.enable_x64(True):
        w, b = jnp.array([[3.0, -4.0]]), jnp.array([1.0])
        x = jnp.array([[1.0, 2.0], [0.5, -1.0]])
        br = bd.boundary_bracket([(w, b)], x)
        exact = np.abs(np.asarray(x @ w[0] + b[0])) / 5.0
        np.testing.assert_allclose(br.linearised, exact, rtol=1e-12)
        np.testing.assert_allclose(br.upper, exact, rtol=1e-3)
        assert np.all(np.asarray(br.lower) <= exact * (1 + 1e-9)) and np.all(np.asarray(br.lower) >= 0.99 * exact)


def test_bad_input_names_the_argument():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="arch"):
        bd.random_net(key, 8, "transformer")
    with pytest.raises(TypeError, match="channels"):
        ra.biased_relu_cnn(key, 8, [4, 4])
    with pytest.raises(ValueError, match="columns"):
        bd.boundary_bracket(bd.random_net(key, 8, "mlp"), jnp.ones((2, 7)))
    with pytest.raises(ValueError, match="q"):
        cdf_exponent(np.ones(100), q=1.5)


@pytest.mark.parametrize(("law", "beta"), [("abs_normal", 1.0), ("square", 0.5), ("rayleigh", 2.0)])
def test_cdf_exponent_recovers_known_laws(law, beta):
    rng = np.random.default_rng(7)
    z = rng.standard_normal((2, 20000))
    x = {"abs_normal": np.abs(z[0]), "square": z[0] ** 2, "rayleigh": np.hypot(z[0], z[1])}[law]
    fit = cdf_exponent(x, q=0.2, level=0.999)
    assert fit.low <= beta * 1.02 and beta * 0.98 <= fit.high  # the estimator's curvature bias is ~1 % at q = 0.2
    assert fit.high - fit.low < 0.15 * beta


def test_cdf_exponent_interval_is_exact_for_a_power_law():
    """F(t) = t^β on [0, 1]: the Gamma interval covers β at its level (checked over 400 replicates)."""
    rng = np.random.default_rng(0)
    beta, cover = 1.7, 0
    for _ in range(400):
        x = rng.uniform(size=2000) ** (1 / beta)
        fit = cdf_exponent(x, q=0.2, level=0.9)
        cover += fit.low <= beta <= fit.high
    assert 0.85 <= cover / 400 <= 0.95  # binomial sd 0.015 around 0.9
