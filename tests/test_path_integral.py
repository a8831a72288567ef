"""path_integral.py: Gauss-Legendre rule and the path-integral identity D = g(x1) - g(x2) (Gao et al., Section 5)."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as hs

import fcjax as F

EPS64 = float(np.finfo(np.float64).eps)


# ----------------------------------------------------------------------------------------------------------------
# Gauss-Legendre
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5, 16, 64])
def test_gauss_legendre_matches_numpy_and_is_exact_to_degree_2n_minus_1(n):
    t, w = F.gauss_legendre(n, jnp.float64)
    t0, w0 = np.polynomial.legendre.leggauss(n)
    np.testing.assert_array_equal(np.asarray(t), t0)
    np.testing.assert_array_equal(np.asarray(w), w0)
    tn, wn = np.asarray(t), np.asarray(w)
    # int_{-1}^{1} x^k dx = 2/(k+1) for even k, 0 for odd k; exact up to k = 2n - 1 (sum of n O(1) terms: n eps).
    for k in range(2 * n):
        exact = 2.0 / (k + 1) if k % 2 == 0 else 0.0
        assert float(np.sum(wn * tn**k)) == pytest.approx(exact, abs=10 * n * EPS64)
    # At degree 2n the error is the classical constant 2^(2n+1) (n!)^4 / ((2n+1) ((2n)!)^2) (checkable while it is
    # above rounding, n <= 16).
    if n <= 16:
        err = 2.0 / (2 * n + 1) - float(np.sum(wn * tn ** (2 * n)))
        const = 2.0 ** (2 * n + 1) * math.factorial(n) ** 4 / ((2 * n + 1) * math.factorial(2 * n) ** 2)
        assert err == pytest.approx(const, rel=1e-3, abs=10 * n * EPS64)


def test_gauss_legendre_dtype():
    t, w = F.gauss_legendre(4)
    assert t.dtype == jnp.float32 and w.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(w).sum(), 2.0, rtol=4 * float(np.finfo(np.float32).eps))


# ----------------------------------------------------------------------------------------------------------------
# Exact cases: linear and quadratic g
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 3, 10])
def test_linear_g_is_exact_with_constant_cosine(d):
    rng = np.random.default_rng(d)
    a, c = rng.standard_normal(d), 0.7
    x1, x2 = rng.standard_normal(d), rng.standard_normal(d)
    g = lambda x: jnp.dot(jnp.asarray(a), x) + c
    r = F.path_integral(g, jnp.asarray(x1), jnp.asarray(x2), n_nodes=3)
    diff = a @ (x1 - x2)
    length = np.linalg.norm(x1 - x2)
    u = (x1 - x2) / length
    cos = a @ u / np.linalg.norm(a)
    scale = np.linalg.norm(a) * length
    assert float(r.length) == pytest.approx(length, rel=4 * EPS64 * d)
    assert float(r.difference) == pytest.approx(diff, abs=10 * d * EPS64 * (scale + np.abs(a) @ np.abs(x2) + c))
    assert float(r.value) == pytest.approx(diff, abs=10 * d * EPS64 * (scale + np.abs(a) @ np.abs(x2) + c))
    np.testing.assert_allclose(np.asarray(r.grad_norm), np.linalg.norm(a), rtol=4 * d * EPS64)
    np.testing.assert_allclose(np.asarray(r.cos), cos, rtol=0, atol=10 * d * EPS64)
    assert float(r.mean_abs_cos) == pytest.approx(abs(cos), abs=10 * d * EPS64)
    t0, _ = np.polynomial.legendre.leggauss(3)
    np.testing.assert_allclose(np.asarray(r.gamma), 0.5 * length * (t0 + 1), rtol=10 * EPS64)
    assert np.all((np.asarray(r.gamma) > 0) & (np.asarray(r.gamma) < length))


@pytest.mark.parametrize("n_nodes", [1, 2, 7])
def test_quadratic_g_is_exact_for_any_node_count(n_nodes):
    # g(x) = x^T A x / 2: the integrand along the segment is linear in gamma, which every rule with n >= 1 integrates.
    rng = np.random.default_rng(n_nodes)
    a = rng.standard_normal((5, 5))
    x1, x2 = rng.standard_normal(5), rng.standard_normal(5)
    aj = jnp.asarray(a)
    r = F.path_integral(lambda x: 0.5 * x @ aj @ x, jnp.asarray(x1), jnp.asarray(x2), n_nodes=n_nodes)
    exact = 0.5 * (x1 @ a @ x1 - x2 @ a @ x2)
    scale = np.abs(a).sum() * max(np.abs(x1).max(), np.abs(x2).max()) ** 2
    assert float(r.value) == pytest.approx(exact, abs=100 * EPS64 * scale)


# ----------------------------------------------------------------------------------------------------------------
# Smooth networks: tanh MLP
# ----------------------------------------------------------------------------------------------------------------


def _tanh_params(seed: int, d: int, width: int = 16):
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((width, d)) / math.sqrt(d)
    b1 = 0.1 * rng.standard_normal(width)
    w2 = rng.standard_normal((width, width)) / math.sqrt(width)
    v = rng.standard_normal(width) / math.sqrt(width)
    return tuple(jnp.asarray(p) for p in (w1, b1, w2, v))


def _tanh_g(params, x):
    w1, b1, w2, v = params
    return jnp.dot(v, jnp.tanh(w2 @ jnp.tanh(w1 @ x + b1)))


@functools.partial(jax.jit, static_argnames="n_nodes")
def _pi_tanh(params, x1, x2, n_nodes):
    return F.path_integral(functools.partial(_tanh_g, params), x1, x2, n_nodes=n_nodes)


def _check_tanh(seed: int, d: int, n_nodes: int, spread: float) -> None:
    params = _tanh_params(seed, d)
    rng = np.random.default_rng(seed + 1)
    x1, x2 = spread * rng.standard_normal(d), spread * rng.standard_normal(d)
    r = _pi_tanh(params, jnp.asarray(x1), jnp.asarray(x2), n_nodes=n_nodes)
    r2 = _pi_tanh(params, jnp.asarray(x1), jnp.asarray(x2), n_nodes=2 * n_nodes)
    # The integrand is analytic, so Gauss-Legendre converges geometrically and |I_n - I_2n| estimates the error of
    # I_n (the error of I_2n is roughly its square); float64 rounding adds ~ n eps * L * max|integrand| + eps |g|.
    length = float(r.length)
    rounding = 1e3 * EPS64 * (2 * n_nodes * length * float(np.abs(np.asarray(r2.integrand)).max()) + 1.0)
    quad = abs(float(r.value) - float(r2.value))
    assert float(r.value) == pytest.approx(float(r.difference), abs=10 * quad + rounding)
    assert float(r2.value) == pytest.approx(float(r.difference), abs=quad + rounding)
    # The difference itself, evaluated independently in NumPy.
    w1, b1, w2, v = (np.asarray(p) for p in params)
    g_np = lambda x: v @ np.tanh(w2 @ np.tanh(w1 @ x + b1))
    assert float(r.difference) == pytest.approx(g_np(x1) - g_np(x2), abs=100 * d * EPS64)


@pytest.mark.parametrize(("d", "n_nodes"), [(4, 32), (16, 64)])
def test_tanh_mlp_path_integral_equals_difference(d, n_nodes):
    _check_tanh(d, d, n_nodes, 1.0)


def test_integrand_matches_finite_differences():
    # ||grad g|| cos theta = directional derivative of g along u: compare with a central difference (independent of
    # autodiff). Truncation h^2 |g'''| / 6 ~ 1e-10, rounding eps |g| / h ~ 1e-11.
    d = 6
    params = _tanh_params(3, d)
    rng = np.random.default_rng(4)
    x1, x2 = rng.standard_normal(d), rng.standard_normal(d)
    r = _pi_tanh(params, jnp.asarray(x1), jnp.asarray(x2), n_nodes=8)
    w1, b1, w2, v = (np.asarray(p) for p in params)
    g_np = lambda x: v @ np.tanh(w2 @ np.tanh(w1 @ x + b1))
    u = (x1 - x2) / np.linalg.norm(x1 - x2)
    h = 1e-5
    for gam, val, gn, cos in zip(np.asarray(r.gamma), np.asarray(r.integrand), np.asarray(r.grad_norm),
                                 np.asarray(r.cos), strict=True):
        p = x2 + gam * u
        fd = (g_np(p + h * u) - g_np(p - h * u)) / (2 * h)
        assert val == pytest.approx(fd, abs=1e-8)
        assert val == pytest.approx(gn * cos, abs=10 * EPS64 * gn)
        assert -1.0 - 1e-12 <= cos <= 1.0 + 1e-12
    w = np.polynomial.legendre.leggauss(8)[1]
    assert float(r.mean_abs_cos) == pytest.approx(0.5 * np.sum(w * np.abs(np.asarray(r.cos))), abs=10 * EPS64)


@given(seed=hs.integers(0, 2**32 - 1), d=hs.sampled_from([2, 8]), spread=hs.sampled_from([0.1, 1.0, 4.0]))
def test_path_integral_identity_property(seed, d, spread):
    _check_tanh(seed, d, 64, spread)


def test_path_integral_is_antisymmetric():
    params = _tanh_params(7, 4)
    rng = np.random.default_rng(8)
    x1, x2 = jnp.asarray(rng.standard_normal(4)), jnp.asarray(rng.standard_normal(4))
    a = _pi_tanh(params, x1, x2, n_nodes=32)
    b = _pi_tanh(params, x2, x1, n_nodes=32)
    assert float(a.value) == pytest.approx(-float(b.value), abs=1e-13)
    assert float(a.mean_abs_cos) == pytest.approx(float(b.mean_abs_cos), abs=1e-13)


def test_flax_mlp_logit_difference():
    # The checks' use: g = difference of two logits of a Flax tanh MLP.
    model = F.MLP(hidden=(12, 12), classes=3)
    x1 = jnp.linspace(-1.0, 1.0, 5)
    x2 = jnp.cos(jnp.arange(5.0))
    params = model.init(jax.random.key(1), x1)

    @jax.jit
    def run(p, a, b):
        return F.path_integral(lambda x: model.apply(p, x)[0] - model.apply(p, x)[2], a, b, n_nodes=48)

    r = run(params, x1, x2)
    g_direct = lambda x: float(model.apply(params, x)[0] - model.apply(params, x)[2])
    assert float(r.difference) == pytest.approx(g_direct(x1) - g_direct(x2), abs=1e-12)
    # float32 parameters promote to float64 with float64 inputs; bound as in _check_tanh.
    scale = 48 * float(r.length) * float(jnp.max(jnp.abs(r.integrand))) + 1.0
    assert float(r.value) == pytest.approx(float(r.difference), abs=1e3 * EPS64 * scale)


def test_jit_matches_eager():
    params = _tanh_params(9, 3)
    x1, x2 = jnp.asarray([0.3, -1.0, 2.0]), jnp.asarray([1.0, 0.5, -0.5])
    e = F.path_integral(functools.partial(_tanh_g, params), x1, x2, n_nodes=16)
    j = _pi_tanh(params, x1, x2, n_nodes=16)
    for u, v in zip(e, j, strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=0, atol=1e-13)  # O(1) values, 16 nodes
