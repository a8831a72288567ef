"""fcjax.random_nets against NumPy/SciPy: the two-layer net, its gradient, the limit constants, the sphere sampler,
the linearised distance; and Euler's identity for the bias-free ReLU net (a property, by hypothesis)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate as si
from hypothesis import given
from hypothesis import strategies as st

from fcjax import random_nets as RN

NP_ACT = {"relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
          "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
          "sin": (np.sin, np.cos),
          "square": (np.square, lambda z: 2 * z)}


@pytest.mark.parametrize("name", sorted(NP_ACT))
def test_value_and_grad_match_numpy(key, name):
    net = RN.two_layer_net(key, 7, 11, dtype=jnp.float64)
    x = np.random.default_rng(1).standard_normal(7)
    f, g = RN.two_layer_value_and_grad(net, jnp.asarray(x), name)
    w, a = np.asarray(net.w), np.asarray(net.a)
    psi, dpsi = NP_ACT[name]
    z = w @ x
    np.testing.assert_allclose(float(f), a @ psi(z) / math.sqrt(11), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(g), w.T @ (a * dpsi(z)) / math.sqrt(11), rtol=1e-10, atol=1e-14)
    auto = jax.grad(lambda v: RN.two_layer_value_and_grad(net, v, name)[0])(jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(auto), np.asarray(g), rtol=1e-10, atol=1e-14)


def test_the_net_has_the_papers_law(key):
    net = RN.two_layer_net(key, 400, 3000, dtype=jnp.float64)
    w, a = np.asarray(net.w), np.asarray(net.a)
    assert set(np.unique(a)) == {-1.0, 1.0}
    # entries N(0, 1/d): 5-sigma bands for the mean (sd 0.05/√n) and the variance (relative sd √(2/n) = 0.13 %)
    n = w.size
    assert abs(w.mean()) < 5 * 0.05 / math.sqrt(n) and abs(w.var() * 400 - 1) < 5 * math.sqrt(2 / n)


def _expect(h):
    return si.quad(lambda t: h(t) * math.exp(-t * t / 2) / math.sqrt(2 * math.pi), -np.inf, np.inf)[0]


@pytest.mark.parametrize("name", ["relu", "tanh", "gelu", "sin", "square"])
def test_activation_ratio_matches_quadrature(name):
    from scipy.special import erf

    scipy_psi = {"relu": lambda t: max(t, 0.0), "tanh": math.tanh, "sin": math.sin, "square": lambda t: t * t,
                 "gelu": lambda t: 0.5 * t * (1 + erf(t / math.sqrt(2)))}[name]
    h = 1e-6
    deriv = (lambda t: float(t > 0)) if name == "relu" else (lambda t: (scipy_psi(t + h) - scipy_psi(t - h)) / (2 * h))
    want = math.sqrt(_expect(lambda t: scipy_psi(t) ** 2) / _expect(lambda t: deriv(t) ** 2))
    assert RN.activation_ratio(name) == pytest.approx(want, rel=1e-6)


def test_sphere_points_are_on_the_sphere_and_keyed(key):
    pts = RN.sphere_points(key, 50, 9, dtype=jnp.float64)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(pts), axis=1), math.sqrt(50), rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(pts), np.asarray(RN.sphere_points(key, 50, 9, dtype=jnp.float64)))
    assert pts.shape == (9, 50)
    assert float(jnp.linalg.norm(RN.sphere_points(key, 5, 2, 3.0), axis=1)[0]) == pytest.approx(3.0, rel=1e-6)


@pytest.mark.parametrize("p, q", [(2.0, 2.0), (jnp.inf, 1.0), (1.0, jnp.inf), (3.0, 1.5)])
def test_linearised_distance_uses_the_dual_norm(p, q):
    v = jnp.array([0.5, -2.0])
    g = jnp.array([[3.0, -4.0, 0.0], [1.0, 1.0, 1.0]])
    want = np.abs(np.asarray(v)) / np.linalg.norm(np.asarray(g), ord=float(q), axis=1)
    np.testing.assert_allclose(np.asarray(RN.linearised_distance(v, g, p)), want, rtol=1e-6)


@given(d=st.integers(2, 12), k=st.integers(1, 40), seed=st.integers(0, 2**31 - 1), scale=st.floats(0.1, 10.0))
def test_euler_identity_of_the_bias_free_relu_net(d, k, seed, scale):
    """ReLU nets without biases are positively homogeneous: f(x) = <∇f(x), x> (and f(cx) = c f(x), c > 0)."""
    key = jax.random.key(seed)
    net = RN.two_layer_net(key, d, k, dtype=jnp.float64)
    x = jax.random.normal(jax.random.fold_in(key, 1), (d,), jnp.float64)
    f, g = RN.two_layer_value_and_grad(net, x, "relu")
    f2, _ = RN.two_layer_value_and_grad(net, scale * x, "relu")
    assert float(f) == pytest.approx(float(g @ x), rel=1e-9, abs=1e-12)
    assert float(f2) == pytest.approx(scale * float(f), rel=1e-9, abs=1e-12)


def test_one_step_trial_is_keyed_and_flips_an_almost_linear_net(key):
    a = RN.one_step_trial(key, 64, 256, ("relu", "tanh"))
    b = RN.one_step_trial(key, 64, 256, ("relu", "tanh"))
    assert {k: float(v) for k, v in a.items()} == {k: float(v) for k, v in b.items()}
    # x² nets are even, not homogeneous of degree 1: the step still has the linearised length
    c = RN.one_step_trial(key, 64, 256, ("square",), overshoot=0.5)
    assert float(c["r_square"]) > 0


def test_bad_input_is_named(key):
    with pytest.raises(ValueError, match="activation must be one of"):
        RN.activation("softsign")
    with pytest.raises(ValueError, match=r"^k must be >= 1"):
        RN.two_layer_net(key, 4, 0)
    net = RN.two_layer_net(key, 4, 3)
    with pytest.raises(ValueError, match=r"^x must have length 4"):
        RN.two_layer_value_and_grad(net, jnp.ones(5))
    with pytest.raises(ValueError, match=r"^grad must have one row per value"):
        RN.linearised_distance(jnp.ones(2), jnp.ones((3, 4)))
    with pytest.raises(ValueError, match=r"^radius must be > 0"):
        RN.sphere_points(key, 4, 2, 0.0)


def test_deep_relu_net_matches_numpy_and_its_init(key):
    weights = RN.deep_relu_net(key, 6, (5, 4), dtype=jnp.float64)
    assert [w.shape for w in weights] == [(5, 6), (4, 5), (1, 4)]
    x = np.random.default_rng(2).standard_normal(6)
    ws = [np.asarray(w) for w in weights]
    want = ws[2] @ np.maximum(ws[1] @ np.maximum(ws[0] @ x, 0), 0)
    assert float(RN.deep_relu_value(weights, jnp.asarray(x))) == pytest.approx(float(want[0]), rel=1e-12)
    absolute = np.abs(ws[2]) @ np.abs(ws[1]) @ np.abs(ws[0]) @ np.abs(x)
    assert float(RN.deep_relu_abs_value(weights, jnp.asarray(x))) == pytest.approx(float(absolute[0]), rel=1e-12)
    big = RN.deep_relu_net(key, 300, (400, 400), dtype=jnp.float64)
    # He variances 2/fan_in before the ReLUs, 1/fan_in for the readout (5-sigma bands of the sample variance)
    for w, fan_in, gain in zip(big, (300, 400, 400), (2, 2, 1), strict=True):
        n = w.size
        assert abs(float(w.var()) * fan_in / gain - 1) < 5 * math.sqrt(2 / n)


def test_euler_trial_identity_holds_to_rounding(key):
    o = RN.euler_trial(key, 32, (32, 32), dtype=jnp.float64)
    assert abs(float(o["f"] - o["g_dot_x"])) <= 1e-12 * float(o["scale"])
    kn, kx = jax.random.split(key)  # the trial's own draws, recomputed
    weights = RN.deep_relu_net(kn, 32, (32, 32), dtype=jnp.float64)
    x = RN.sphere_points(kx, 32, 1, dtype=jnp.float64)[0]
    g = jax.grad(lambda v: RN.deep_relu_value(weights, v))(x)
    cos = float(g @ x) / (float(jnp.linalg.norm(g)) * float(jnp.linalg.norm(x)))
    assert float(o["sqrt_d_cos"]) == pytest.approx(math.sqrt(32) * abs(cos), rel=1e-9)


def test_depth_trial_of_a_dead_net_is_constant_and_never_flips(key, monkeypatch):
    monkeypatch.setattr(RN, "deep_relu_net", lambda key, d, widths, dtype: [jnp.zeros((w_out, w_in), dtype)
                        for w_in, w_out in zip((d, *widths), (*widths, 1), strict=True)])
    o = RN.depth_trial(key, 8, (4, 4), inputs=5, dtype=jnp.float64)
    assert float(o["spread"]) == 0.0 and float(o["flip_rate"]) == 0.0


def test_deep_net_bad_input(key):
    with pytest.raises(TypeError, match="widths must be a non-empty tuple"):
        RN.deep_relu_net(key, 4, [3])
    with pytest.raises(ValueError, match=r"^widths must be >= 1"):
        RN.deep_relu_net(key, 4, (3, 0))


@pytest.mark.parametrize("p", [1.0, 2.0, jnp.inf])
def test_linearised_distance_is_exact_for_an_affine_function(p):
    """Hölder's equality case: the ℓp-smallest step that zeroes w·x + b has length |f|/‖w‖_q."""
    from fcjax.simon_gabriel2019 import dual_direction

    w = jnp.array([[0.5, -2.0, 1.0, 0.25]])
    x, b = jnp.array([1.0, 0.3, -0.2, 2.0]), 0.7
    f = w[0] @ x + b
    r = float(RN.linearised_distance(jnp.array([f]), w, p)[0])
    step = -jnp.sign(f) * r * dual_direction(w, p)[0]  # unit-ℓp direction maximising <w, δ>
    assert float(w[0] @ (x + step) + b) == pytest.approx(0.0, abs=1e-12)
    assert float(jnp.linalg.norm(step, ord=p)) == pytest.approx(r, rel=1e-12)


def test_biased_net_and_lp_trial(key):
    layers = RN.biased_relu_net(key, 5, (4,), 0.3, dtype=jnp.float64)
    assert [(w.shape, b.shape) for w, b in layers] == [((4, 5), (4,)), ((1, 4), (1,))]
    x = jnp.arange(5.0)
    (w0, b0), (w1, b1) = layers
    assert float(RN.biased_relu_value(layers, x)) == pytest.approx(float((w1 @ jax.nn.relu(w0 @ x + b0) + b1)[0]))
    o = RN.lp_distance_trial(key, 16, (16,), dtype=jnp.float64)
    assert set(o) == {"rel_l1", "rel_l2", "rel_linf"} and all(float(v) > 0 for v in o.values())
