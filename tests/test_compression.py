"""compression.py against NumPy QR in float64, and Theorem 1's invariants as hypothesis properties.

Tolerances follow the standard perturbation bounds: a backward-stable QR or linear solve of X gives trailing
quantities with absolute error of order d * cond(X) * eps * ||X|| (R entries) and d * cond(X) * eps (unit
columns of Q); the Cholesky route squares the condition number (cond(X^T X) = cond(X)^2).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as hs
from hypothesis.extra import numpy as hnp

import fcjax as F
from fcjax import gao2024 as GAO

EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)
METHODS = ("solve", "cholesky", "qr")

positive_qr = jax.jit(GAO.positive_qr)
trailing_qr = jax.jit(GAO.trailing_qr, static_argnames="method")
theorem1_perturbation = jax.jit(GAO.theorem1_perturbation, static_argnames="method")
compression_ratio = jax.jit(GAO.compression_ratio, static_argnames="method")
gram_schmidt2 = jax.jit(GAO.gram_schmidt2)
two_probe_bound = jax.jit(GAO.two_probe_bound)
interpolating_network = jax.jit(GAO.interpolating_network)
last_two_probes = jax.jit(GAO.last_two_probes)


def _gauss(seed: int, *shape: int, scale: float = 1.0) -> np.ndarray:
    return scale * np.random.default_rng(seed).standard_normal(shape)


def _np_positive_qr(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q, r = np.linalg.qr(x)
    s = np.where(np.diag(r) < 0, -1.0, 1.0)
    return q * s[None, :], r * s[:, None]


def _tols(x: np.ndarray, method: str, eps: float = EPS64) -> tuple[float, float]:
    """(absolute tolerance on R entries, on unit Q columns) from the perturbation bounds above; 10x headroom."""
    d = x.shape[0]
    cond = np.linalg.cond(x)
    k = cond**2 if method == "cholesky" else cond
    return 10 * d * k * eps * np.linalg.norm(x, 2), 10 * d * k * eps


# ----------------------------------------------------------------------------------------------------------------
# QR oracles
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("d", "n"), [(2, 2), (5, 5), (12, 4), (33, 33)])
def test_positive_qr_matches_numpy(d, n):
    x = _gauss(d + n, d, n)
    q, r = (np.asarray(a) for a in positive_qr(jnp.asarray(x)))
    q0, r0 = _np_positive_qr(x)
    assert q.shape == (d, n) and r.shape == (n, n)
    assert np.all(np.diag(r) >= 0)
    np.testing.assert_array_equal(np.tril(r, -1), 0.0)
    a_r, a_q = _tols(x, "qr")
    np.testing.assert_allclose(r, r0, rtol=0, atol=a_r)
    np.testing.assert_allclose(q, q0, rtol=0, atol=a_q)
    np.testing.assert_allclose(q @ r, x, rtol=0, atol=10 * d * EPS64 * np.linalg.norm(x, 2))  # backward stable
    np.testing.assert_allclose(q.T @ q, np.eye(n), rtol=0, atol=10 * d * EPS64)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("d", [2, 3, 10, 48])
def test_trailing_qr_matches_numpy_qr(d, method):
    x = _gauss(1000 + d, d, d)
    t = trailing_qr(jnp.asarray(x), method=method)
    q0, r0 = _np_positive_qr(x)
    a_r, a_q = _tols(x, method)
    np.testing.assert_allclose(float(t.r_pp), r0[-2, -2], rtol=0, atol=a_r)
    np.testing.assert_allclose(float(t.r_pd), r0[-2, -1], rtol=0, atol=a_r)
    np.testing.assert_allclose(float(t.r_dd), r0[-1, -1], rtol=0, atol=a_r)
    np.testing.assert_allclose(np.asarray(t.q_p), q0[:, -2], rtol=0, atol=a_q)
    np.testing.assert_allclose(np.asarray(t.q_d), q0[:, -1], rtol=0, atol=a_q)
    assert float(t.r_pp) > 0 and float(t.r_dd) > 0


@pytest.mark.parametrize("method", ["solve", "qr"])
def test_trailing_qr_float32(method):
    # float32 inputs stay float32, with errors at float32's cond(X) * eps level.
    x = _gauss(77, 10, 10)
    t = trailing_qr(jnp.asarray(x, jnp.float32), method=method)
    assert t.r_dd.dtype == jnp.float32
    _, r0 = _np_positive_qr(x.astype(np.float32).astype(np.float64))
    a_r, _ = _tols(x, method, EPS32)
    np.testing.assert_allclose(float(t.r_dd), r0[-1, -1], rtol=0, atol=a_r)
    np.testing.assert_allclose(float(t.r_pd), r0[-2, -1], rtol=0, atol=a_r)


def test_cholesky_with_precomputed_gram_is_identical():
    x = jnp.asarray(_gauss(5, 10, 10))
    a = trailing_qr(x, method="cholesky")
    b = trailing_qr(x, method="cholesky", g=F.gram(x.T))
    # The same Gram matrix up to summation order (eager vs fused), then the Cholesky error bound.
    a_r, a_q = _tols(np.asarray(x), "cholesky")
    for u, v, tol in zip(a, b, (a_r, a_r, a_r, a_q, a_q), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=0, atol=tol)
    # A different Gram matrix is really used: pass 4 X^T X, get 2 R.
    c = trailing_qr(x, method="cholesky", g=4.0 * F.gram(x.T))
    np.testing.assert_allclose(float(c.r_dd), 2 * float(a.r_dd), rtol=0, atol=2 * a_r)


def test_trailing_qr_ill_conditioned_solve_beats_cholesky_bound():
    # cond(X) ~ 1e6: the Cholesky route loses ~cond^2 eps = 1e-4 relative, "solve" and "qr" keep ~cond eps.
    rng = np.random.default_rng(9)
    u, _ = np.linalg.qr(rng.standard_normal((10, 10)))
    v, _ = np.linalg.qr(rng.standard_normal((10, 10)))
    x = u @ np.diag(np.logspace(0, -6, 10)) @ v
    _, r0 = _np_positive_qr(x)
    for method in ("solve", "qr"):
        a_r, _ = _tols(x, method)
        assert float(trailing_qr(jnp.asarray(x), method=method).r_dd) == pytest.approx(r0[-1, -1], abs=a_r)


def test_last_two_probes_are_rows_of_inverse():
    x = _gauss(3, 10, 10)
    p = np.asarray(last_two_probes(jnp.asarray(x)))
    inv = np.linalg.inv(x)
    cond = np.linalg.cond(x)
    # relative error of a backward-stable solve: ~ d cond eps
    np.testing.assert_allclose(p, inv[-2:].T, rtol=0, atol=10 * 10 * cond * EPS64 * np.abs(inv).max())


def test_interpolating_network_is_one_hot_on_training_points():
    for d in (3, 10):
        x = _gauss(d, d, d)
        w = np.asarray(interpolating_network(jnp.asarray(x)))
        out = w @ x
        # W X = I up to the inverse's error ~ d cond eps
        np.testing.assert_allclose(out, np.eye(d), rtol=0, atol=10 * d * np.linalg.cond(x) * EPS64)
        assert np.array_equal(out.argmax(axis=0), np.arange(d))


@pytest.mark.parametrize("method", METHODS)
def test_compression_ratio_matches_numpy(method):
    for d in (2, 10):
        x = _gauss(50 + d, d, d)
        _, r0 = _np_positive_qr(x)
        ref = r0[-1, -1] / np.linalg.norm(x[:, -1])
        a_r, _ = _tols(x, method)
        phi = float(compression_ratio(jnp.asarray(x), method=method))
        assert phi == pytest.approx(ref, abs=a_r / np.linalg.norm(x[:, -1]))
        assert 0.0 < phi <= 1.0 + 1e-12  # a cosine


# ----------------------------------------------------------------------------------------------------------------
# Two Gram-Schmidt steps and the two-probe bound
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 3, 20])
def test_gram_schmidt2_matches_numpy_qr(d):
    p = _gauss(d, d, 2)
    qr = gram_schmidt2(jnp.asarray(p[:, 0]), jnp.asarray(p[:, 1]))
    q0, r0 = _np_positive_qr(p)
    a_r, a_q = _tols(p, "qr")
    np.testing.assert_allclose([float(qr.r11), float(qr.r12), float(qr.r22)], [r0[0, 0], r0[0, 1], r0[1, 1]],
                               rtol=0, atol=a_r)
    np.testing.assert_allclose(np.asarray(qr.q1), q0[:, 0], rtol=0, atol=a_q)
    np.testing.assert_allclose(np.asarray(qr.q2), q0[:, 1], rtol=0, atol=a_q)


def test_gram_schmidt2_nearly_parallel_columns_stay_orthogonal():
    # p2 = p1 + 1e-9 noise: one classical GS pass would leave q1.q2 ~ 1e-7; the second pass restores ~eps.
    rng = np.random.default_rng(1)
    p1 = rng.standard_normal(50)
    p2 = p1 + 1e-9 * rng.standard_normal(50)
    qr = gram_schmidt2(jnp.asarray(p1), jnp.asarray(p2))
    assert abs(float(jnp.dot(qr.q1, qr.q2))) < 100 * EPS64
    _, r0 = _np_positive_qr(np.stack([p1, p2], axis=1))
    # r22 ~ 1e-9 * ||noise_perp||; both routes have absolute error ~ d eps ||p||.
    assert float(qr.r22) == pytest.approx(r0[1, 1], abs=50 * 10 * EPS64 * np.linalg.norm(p1))


def _two_probe_check(pi: np.ndarray, pj: np.ndarray, x: np.ndarray) -> None:
    tp = two_probe_bound(jnp.asarray(pi), jnp.asarray(pj), jnp.asarray(x))
    diff = pi - pj
    exact = diff @ x / np.linalg.norm(diff)
    # Error of the formula: ~ d eps ||p|| ||x|| / ||p_i - p_j|| (cancellation in f_i - f_j), 100x headroom.
    d = x.size
    tol = 100 * d * EPS64 * (np.linalg.norm(pi) + np.linalg.norm(pj)) * np.linalg.norm(x) / np.linalg.norm(diff)
    assert float(tp.bound) == pytest.approx(exact, abs=tol)
    assert float(tp.bound) <= float(tp.upper) + tol  # Cauchy-Schwarz
    q, r = _np_positive_qr(np.stack([pi, pj], axis=1))
    a1, a2 = q.T @ x
    np.testing.assert_allclose([float(tp.a1), float(tp.a2)], [a1, a2], rtol=0, atol=tol)
    assert float(tp.upper) == pytest.approx(np.hypot(a1, a2), abs=tol)
    # f_i(x) = r11 a1, f_j(x) = r12 a1 + r22 a2
    assert pi @ x == pytest.approx(r[0, 0] * a1, abs=tol * np.linalg.norm(diff))
    assert pj @ x == pytest.approx(r[0, 1] * a1 + r[1, 1] * a2, abs=tol * np.linalg.norm(diff))


@pytest.mark.parametrize("d", [2, 5, 50])
def test_two_probe_bound_identity(d):
    for s in range(3):
        rng = np.random.default_rng(10 * d + s)
        _two_probe_check(*(rng.standard_normal(d) for _ in range(3)))


@given(seed=hs.integers(0, 2**32 - 1), d=hs.sampled_from([2, 3, 8, 24]),
       scales=hs.tuples(hs.sampled_from([1e-2, 1.0, 1e2]), hs.sampled_from([1e-2, 1.0, 1e2])))
def test_two_probe_identity_property(seed, d, scales):
    rng = np.random.default_rng(seed)
    pi = scales[0] * rng.standard_normal(d)
    pj = scales[1] * rng.standard_normal(d)
    _two_probe_check(pi, pj, rng.standard_normal(d))


# ----------------------------------------------------------------------------------------------------------------
# Theorem 1's perturbation
# ----------------------------------------------------------------------------------------------------------------


def _theorem1_check(x: np.ndarray, method: str) -> None:
    d = x.shape[0]
    pert = theorem1_perturbation(jnp.asarray(x), method=method)
    e = np.asarray(pert.e)
    f = np.linalg.solve(x, x[:, -1] + e)  # the interpolating network f = X^{-1}, independently
    q0, r0 = _np_positive_qr(x)
    cond = np.linalg.cond(x)
    # e carries error ~ d cond^k eps ||X|| (k = 2 for cholesky); X^{-1} amplifies it by 1/sigma_min = cond/||X||.
    k = 2 if method == "cholesky" else 1
    tol = 100 * d * cond ** (k + 1) * EPS64
    assert f[-1] == pytest.approx(0.0, abs=tol)  # f_d(x_d + e) = 0
    assert f[-2] == pytest.approx(1.0, abs=tol)  # f_{d-1}(x_d + e) = 1
    assert f[-2] > f[-1]  # the pairwise decision flips
    assert int(np.argmax(f)) != d - 1  # and the label moves off class d
    bound = abs(r0[-2, -2]) + abs(r0[-2, -1]) + abs(r0[-1, -1])
    a_r, _ = _tols(x, method)
    assert float(pert.norm) <= bound + 3 * a_r
    assert float(pert.bound) == pytest.approx(bound, abs=3 * a_r)
    assert float(pert.norm) == pytest.approx(np.hypot(r0[-2, -2] - r0[-2, -1], r0[-1, -1]), abs=3 * a_r)
    assert float(pert.norm) == pytest.approx(np.linalg.norm(e), rel=1e-12)
    # e = Q b lies in span(q_{d-1}, q_d): orthogonal to the first d-2 columns of Q.
    np.testing.assert_allclose(q0[:, :-2].T @ e, 0.0, rtol=0, atol=10 * d * cond**k * EPS64 * max(1, np.linalg.norm(e)))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("d", [2, 3, 10, 48])
def test_theorem1_perturbation_oracle(d, method):
    _theorem1_check(_gauss(500 + d, d, d), method)


def test_theorem1_perturbation_accepts_precomputed_trailing():
    x = jnp.asarray(_gauss(8, 10, 10))
    t = trailing_qr(x, "qr")
    a = GAO.theorem1_perturbation(x, trailing=t)
    b = theorem1_perturbation(x, method="qr")
    # Same trailing block; eager vs jitted arithmetic differ by a few ulps of e's O(1) entries.
    np.testing.assert_allclose(np.asarray(a.e), np.asarray(b.e), rtol=0, atol=10 * EPS64 * float(a.bound))
    # The supplied block is really used: scaling R by 2 doubles e.
    t2 = t._replace(r_pp=2 * t.r_pp, r_pd=2 * t.r_pd, r_dd=2 * t.r_dd)
    np.testing.assert_allclose(np.asarray(GAO.theorem1_perturbation(x, trailing=t2).e), 2 * np.asarray(a.e), rtol=1e-12)


@given(seed=hs.integers(0, 2**32 - 1), d=hs.sampled_from([2, 3, 10]),
       scale=hs.sampled_from([1e-3, 1.0, 1e3]), method=hs.sampled_from(METHODS))
def test_theorem1_invariants_gaussian(seed, d, scale, method):
    x = _gauss(seed, d, d, scale=scale)
    assume(np.linalg.cond(x) < 1e6)  # the theorem needs an invertible X; tolerances stay meaningful below 1e6
    _theorem1_check(x, method)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(x=hnp.arrays(np.float64, hs.sampled_from([(2, 2), (3, 3), (4, 4)]),
                    elements=hs.floats(-100, 100, allow_nan=False, allow_infinity=False)))
def test_theorem1_invariants_arbitrary_matrices(x):
    # Not only Gaussian data: any invertible X (hypothesis likes structured and extreme ones).
    # XLA flushes subnormals to zero, so matrices whose squares underflow are outside float64's working range.
    assume(np.linalg.norm(x) > 1e-3 and np.linalg.cond(x) < 1e5)
    _theorem1_check(x, "solve")
    _theorem1_check(x, "qr")


# ----------------------------------------------------------------------------------------------------------------
# Jit and no-jit agree; no retracing over draws
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_jit_matches_eager(method):
    x = jnp.asarray(_gauss(21, 10, 10))
    a_r, a_q = _tols(np.asarray(x), method)
    eager, jitted = GAO.trailing_qr(x, method), trailing_qr(x, method=method)
    for u, v, tol in zip(eager, jitted, (a_r, a_r, a_r, a_q, a_q), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=0, atol=tol)  # fusion may reorder sums
    pe, pj = GAO.theorem1_perturbation(x, method), theorem1_perturbation(x, method=method)
    np.testing.assert_allclose(np.asarray(pe.e), np.asarray(pj.e), rtol=0, atol=3 * a_r)
    assert float(GAO.compression_ratio(x, method)) == pytest.approx(float(compression_ratio(x, method=method)), abs=a_r)


def test_two_probe_and_gram_schmidt_jit_matches_eager():
    rng = np.random.default_rng(22)
    pi, pj, x = (jnp.asarray(rng.standard_normal(7)) for _ in range(3))
    e, j = GAO.two_probe_bound(pi, pj, x), two_probe_bound(pi, pj, x)
    for u, v in zip(jax.tree.leaves(e), jax.tree.leaves(j), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=0, atol=1e-13)  # O(1) values, d = 7
    np.testing.assert_allclose(np.asarray(GAO.interpolating_network(x[:, None] * jnp.eye(7) + jnp.eye(7))),
                               np.asarray(interpolating_network(x[:, None] * jnp.eye(7) + jnp.eye(7))), atol=1e-12)


def test_hot_functions_do_not_retrace_over_draws():
    @jax.jit
    @chex.assert_max_traces(n=1)
    def hot(x):
        return GAO.theorem1_perturbation(x, "solve").norm, GAO.trailing_qr(x, "cholesky").r_dd

    for s in range(5):
        hot(jnp.asarray(_gauss(s, 10, 10)))
    for s in range(3):
        trailing_qr(jnp.asarray(_gauss(s, 10, 10)), method="qr")
    assert trailing_qr._cache_size() >= 1
    before = trailing_qr._cache_size()
    trailing_qr(jnp.asarray(_gauss(99, 10, 10)), method="qr")
    assert trailing_qr._cache_size() == before  # same shape, dtype and method: served from the cache
