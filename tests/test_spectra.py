"""spectra.py: covariance spectra against NumPy, exact power laws recovered, goodness of fit, participation ratio."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fcjax as F

fit_jit = jax.jit(F.power_law_fit, static_argnums=(1, 2))


def _low_rank_reps(key, n, width, rank):
    """``(n, width)`` representations of rank ``rank``, with unequal column scales."""
    k1, k2 = jax.random.split(key)
    z = jax.random.normal(k1, (n, rank))
    mix = jax.random.normal(k2, (rank, width)) * jnp.linspace(0.2, 2.0, width)[None, :]
    return z @ mix


@pytest.mark.parametrize(("n", "width"), [(40, 7), (6, 30)])
def test_covariance_spectrum_matches_numpy(key, n, width):
    h = _low_rank_reps(key, n, width, min(n, width))
    eigs = np.asarray(F.covariance_spectrum(h))
    ref = np.sort(np.clip(np.linalg.eigvalsh(np.cov(np.asarray(h), rowvar=False)), 0, None))[::-1]
    assert eigs.shape == (width,)
    np.testing.assert_allclose(eigs, ref, rtol=0, atol=1e-12 * ref[0])
    assert np.all(np.diff(eigs) <= 0) and np.all(eigs >= 0)


@pytest.mark.parametrize(("n", "width"), [(5, 12), (12, 5), (9, 9)])
def test_gram_and_covariance_routes_agree(key, n, width):
    h = _low_rank_reps(key, n, width, 4)
    cov = np.asarray(F.covariance_spectrum(h, method="covariance"))
    gram = np.asarray(F.covariance_spectrum(h, method="gram"))
    auto = np.asarray(F.covariance_spectrum(h))
    assert cov.shape == gram.shape == auto.shape == (width,)
    np.testing.assert_allclose(gram, cov, rtol=0, atol=1e-12 * cov[0])
    np.testing.assert_array_equal(auto, gram if n < width else cov)
    # Centred rank-4 data: at most min(4, n - 1) nonzero eigenvalues.
    assert np.all(cov[min(4, n - 1):] <= 1e-12 * cov[0])


def test_covariance_spectrum_vmaps_and_jits(key):
    hs = jax.random.normal(key, (3, 10, 4))
    batched = jax.jit(jax.vmap(F.covariance_spectrum))(hs)
    for i in range(3):
        np.testing.assert_allclose(batched[i], F.covariance_spectrum(hs[i]), rtol=1e-13, atol=0)


@pytest.mark.parametrize(("alpha", "a", "n_min", "n_max"), [(1.0, 0.0, 1, 50), (1.7, 2.5, 3, 40), (0.4, -1.0, 10, 64)])
def test_exact_power_law_recovered(alpha, a, n_min, n_max):
    n = np.arange(1, 65, dtype=np.float64)
    eigs = jnp.asarray(np.exp(a) * n**-alpha)
    fit = fit_jit(eigs, n_min, n_max)
    assert float(fit.alpha) == pytest.approx(alpha, abs=1e-10)
    assert float(fit.intercept) == pytest.approx(a, abs=1e-10)
    assert float(fit.r2) == pytest.approx(1.0, abs=1e-12)


def test_fit_uses_only_its_range():
    # A broken power law: exponent 2 up to rank 10, then 0.5. Each range sees only its own law.
    n = np.arange(1, 41, dtype=np.float64)
    eigs = jnp.asarray(np.where(n <= 10, n**-2.0, 10.0**-1.5 * n**-0.5))
    assert float(F.power_law_fit(eigs, 1, 10).alpha) == pytest.approx(2.0, abs=1e-10)
    assert float(F.power_law_fit(eigs, 10, 40).alpha) == pytest.approx(0.5, abs=1e-10)
    assert float(F.power_law_fit(eigs, 1, 40).r2) < 0.99


def test_noise_lowers_r2_and_fit_matches_polyfit(key):
    n = np.arange(1, 101, dtype=np.float64)
    r2 = []
    for scale in (0.0, 0.05, 0.3):
        noise = scale * np.asarray(jax.random.normal(jax.random.fold_in(key, 0), (100,)))
        eigs = n**-1.2 * np.exp(noise)
        fit = F.power_law_fit(jnp.asarray(eigs), 2, 90)
        slope, icpt = np.polyfit(np.log(n[1:90]), np.log(eigs[1:90]), 1)
        assert float(fit.alpha) == pytest.approx(-slope, abs=1e-10)
        assert float(fit.intercept) == pytest.approx(icpt, abs=1e-10)
        r2.append(float(fit.r2))
    assert r2[0] == pytest.approx(1.0, abs=1e-12)
    assert r2[0] > r2[1] > r2[2]


def test_fit_batched_and_vmapped_agree():
    n = jnp.arange(1.0, 33.0)
    alphas = jnp.array([0.5, 1.0, 2.0])
    eigs = n[None, :] ** -alphas[:, None]
    direct = F.power_law_fit(eigs, 2, 30)
    mapped = jax.jit(jax.vmap(lambda e: F.power_law_fit(e, 2, 30)))(eigs)
    assert direct.alpha.shape == (3,)
    np.testing.assert_allclose(direct.alpha, alphas, rtol=0, atol=1e-10)
    for got, want in zip(mapped, direct, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_flat_spectrum_is_fitted_exactly():
    fit = F.power_law_fit(jnp.full(8, 0.3), 1, 8)
    assert float(fit.alpha) == pytest.approx(0.0, abs=1e-14)
    assert float(fit.r2) == 1.0


@pytest.mark.parametrize("width", [1, 5, 64])
def test_participation_ratio_flat_and_one_hot(width):
    assert float(F.participation_ratio(jnp.full(width, 2.5))) == pytest.approx(width, rel=1e-13)
    assert float(F.participation_ratio(jnp.zeros(width).at[width // 2].set(3.0))) == pytest.approx(1.0, rel=1e-14)


def test_participation_ratio_against_numpy_and_batched(key):
    eigs = jnp.abs(jax.random.normal(key, (4, 20)))
    ref = np.asarray(eigs).sum(1) ** 2 / (np.asarray(eigs) ** 2).sum(1)
    np.testing.assert_allclose(F.participation_ratio(eigs), ref, rtol=1e-13)
    np.testing.assert_allclose(jax.vmap(F.participation_ratio)(eigs), ref, rtol=1e-13)
    pr = np.asarray(F.participation_ratio(eigs))
    assert np.all((pr >= 1) & (pr <= 20))


def test_spectrum_pipeline_on_power_law_representations(key):
    # Representations with PC variances n^(-1.5): the fitted exponent comes back (sampling error only).
    n_pts, width, alpha = 4000, 16, 1.5
    z = jax.random.normal(key, (n_pts, width)) * jnp.arange(1.0, width + 1)[None, :] ** (-alpha / 2)
    q, _ = jnp.linalg.qr(jax.random.normal(jax.random.fold_in(key, 1), (width, width)))
    eigs = F.covariance_spectrum(z @ q.T)
    fit = F.power_law_fit(eigs, 1, 10)
    assert float(fit.alpha) == pytest.approx(alpha, abs=0.1)
    assert float(fit.r2) > 0.99


BAD = {
    "h 1-d": (lambda: F.covariance_spectrum(jnp.ones(5)), ValueError, r"^h must have 2 dimensions"),
    "h one row": (lambda: F.covariance_spectrum(jnp.ones((1, 5))), ValueError, r"^h must have at least 2"),
    "h int": (lambda: F.covariance_spectrum(jnp.ones((3, 5), int)), TypeError, r"^h must have a real floating"),
    "h nan": (lambda: F.covariance_spectrum(jnp.full((3, 2), jnp.nan)), ValueError, r"^h contains non-finite"),
    "h list": (lambda: F.covariance_spectrum([[1.0, 2.0]]), TypeError, r"^h must be an array"),
    "method": (lambda: F.covariance_spectrum(jnp.ones((3, 2)), method="svd"), ValueError, r"^method must be one"),
    "n_min 0": (lambda: F.power_law_fit(jnp.ones(5), 0, 3), ValueError, r"^n_min must be >= 1"),
    "n_min float": (lambda: F.power_law_fit(jnp.ones(5), 1.0, 3), TypeError, r"^n_min must be an integer"),
    "n_max = n_min": (lambda: F.power_law_fit(jnp.ones(5), 2, 2), ValueError, r"^n_max must be >= 3"),
    "n_max > N": (lambda: F.power_law_fit(jnp.ones(5), 1, 6), ValueError, r"^n_max must be <= the number"),
    "zero eig": (lambda: F.power_law_fit(jnp.array([1.0, 0.5, 0.0]), 1, 3), ValueError, r"^eigs must be positive"),
    "eigs scalar": (lambda: F.power_law_fit(jnp.array(1.0), 1, 2), ValueError, r"^eigs must have at least 1"),
    "eigs int": (lambda: F.power_law_fit(jnp.ones(5, int), 1, 3), TypeError, r"^eigs must have a real floating"),
    "pr negative": (lambda: F.participation_ratio(jnp.array([1.0, -0.1])), ValueError, r"^eigs must be non-neg"),
    "pr zero": (lambda: F.participation_ratio(jnp.zeros(3)), ValueError, r"^eigs must not be all zero"),
    "pr scalar": (lambda: F.participation_ratio(jnp.array(2.0)), ValueError, r"^eigs must have at least 1"),
}


@pytest.mark.parametrize(("call", "exc", "match"), BAD.values(), ids=BAD.keys())
def test_bad_inputs_raise(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
