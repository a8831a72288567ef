"""manifolds.py: Fourier modes, the code's exact PC spectrum, difference quotients against their closed form."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as hs

import fcjax.manifolds as M


@given(d=hs.integers(1, 4), n=hs.integers(1, 300))
def test_modes_are_the_shortest_nonzero_frequencies_one_of_each_pair(d, n):
    k = M.fourier_modes(d, n)
    assert k.shape == (n, d) and np.issubdtype(k.dtype, np.integer)
    norms = np.linalg.norm(k, axis=1)
    assert np.all(norms > 0) and np.all(np.diff(norms) >= 0)
    seen = {tuple(r) for r in k}
    assert len(seen) == n and not any(tuple(-r) in seen for r in k)
    # Nothing shorter was left out: every lattice vector shorter than the last one kept is there (up to sign).
    side = int(np.ceil(norms[-1]))
    grid = np.stack(np.meshgrid(*[np.arange(-side, side + 1)] * d, indexing="ij"), -1).reshape(-1, d)
    shorter = grid[(np.linalg.norm(grid, axis=1) < norms[-1]) & np.any(grid != 0, axis=1)]
    assert all(tuple(r) in seen or tuple(-r) in seen for r in shorter)


def test_modes_in_one_dimension_are_the_integers():
    np.testing.assert_array_equal(M.fourier_modes(1, 5)[:, 0], np.arange(1, 6))


def test_code_has_exactly_the_power_law_spectrum():
    """On a uniform grid of 64 angles the modes 1..8 are orthogonal with mean square 1/2, so the code's covariance
    is diag(n^-α) exactly (phases do not matter)."""
    modes = M.fourier_modes(1, 8)
    s = jnp.linspace(0, 2 * jnp.pi, 64, endpoint=False)[:, None]
    phi = M.embed(s, modes, M.random_phases(jax.random.key(1), 8), 1.7)
    cov = np.cov(np.asarray(phi), rowvar=False, ddof=0)
    np.testing.assert_allclose(cov, np.diag(np.arange(1, 9) ** -1.7), atol=1e-12)


def test_difference_quotient_matches_its_expectation():
    """E_s ‖Φ(s+δv) − Φ(s)‖²/δ² = Σ_n 4 λ_n sin²(k_n·v δ/2)/δ² (d = 1, so v = ±1): the mean over 300 independent
    codes lies within 5 standard errors of it."""
    modes, alpha = M.fourier_modes(1, 6), 1.3
    deltas = jnp.array([0.05, 0.5, 2.0])

    def one(key):
        kp, kq = jax.random.split(key)
        return M.difference_quotients(kq, modes, M.random_phases(kp, 6), alpha, deltas, 16)

    q = np.asarray(jax.vmap(one)(jax.random.split(jax.random.key(2), 300)))
    lam, k = np.arange(1, 7) ** -alpha, np.arange(1, 7)
    exact = np.array([np.sum(4 * lam * np.sin(k * d / 2) ** 2) / d**2 for d in np.asarray(deltas)])
    se = q.std(axis=0, ddof=1) / np.sqrt(q.shape[0])
    assert np.all(np.abs(q.mean(axis=0) - exact) < 5 * se), (q.mean(axis=0), exact, se)


def test_smooth_code_quotient_tends_to_the_gradient_norm(key):
    """A smooth code (α = 5 > 1 + 2/d, d = 2): the quotient has converged by δ = 1e-3 (its change to δ = 1e-4 is
    O(δ²)), where a rough one keeps growing."""
    modes = M.fourier_modes(2, 400)
    phases = M.random_phases(key, 400)
    q = np.asarray(M.difference_quotients(key, modes, phases, 5.0, jnp.array([1e-3, 1e-4]), 64))
    np.testing.assert_allclose(q[0], q[1], rtol=1e-5)


def test_rough_code_quotient_grows_as_delta_shrinks(key):
    modes = M.fourier_modes(1, 4096)
    phases = M.random_phases(key, 4096)
    q = np.asarray(M.difference_quotients(key, modes, phases, 1.5, jnp.geomspace(0.3, 3e-3, 5), 64))
    assert np.all(np.diff(q) > 0)


def test_quotients_are_deterministic_and_jittable(key):
    modes = M.fourier_modes(2, 50)
    phases = M.random_phases(key, 50)
    deltas = jnp.array([0.1, 0.2])
    a = M.difference_quotients(key, modes, phases, 2.0, deltas, 8)
    b = jax.jit(lambda k, al: M.difference_quotients(k, modes, phases, al, deltas, 8))(key, 2.0)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12)


MODES = M.fourier_modes(2, 10)
PH = jnp.zeros(10)
BAD = {
    "d": (lambda: M.fourier_modes(0, 5), ValueError, r"^d must be >= 1"),
    "n_modes": (lambda: M.fourier_modes(2, 2.0), TypeError, r"^n_modes must be an integer"),
    "modes float": (lambda: M.embed(jnp.zeros((3, 2)), jnp.ones((10, 2)), PH, 2.0), TypeError,
                    r"^modes must be an integer array"),
    "phases length": (lambda: M.embed(jnp.zeros((3, 2)), MODES, jnp.zeros(9), 2.0), ValueError,
                      r"^phases must have one entry per mode \(10\)"),
    "alpha": (lambda: M.embed(jnp.zeros((3, 2)), MODES, PH, 0.0), ValueError, r"^alpha must be > 0"),
    "s columns": (lambda: M.embed(jnp.zeros((3, 3)), MODES, PH, 2.0), ValueError, r"^s must have 2 columns"),
    "deltas": (lambda: M.difference_quotients(jax.random.key(0), MODES, PH, 2.0, jnp.array([0.1, 0.0]), 4),
               ValueError, r"^deltas must be positive"),
    "n_points": (lambda: M.difference_quotients(jax.random.key(0), MODES, PH, 2.0, jnp.array([0.1]), 0),
                 ValueError, r"^n_points must be >= 1"),
    "key": (lambda: M.random_phases(3, 10), TypeError, r"^key must be a JAX PRNG key"),
}


@pytest.mark.parametrize(("call", "exc", "match"), BAD.values(), ids=BAD.keys())
def test_bad_inputs_raise(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
