"""geometry.py and the samplers of ensembles.py against brute force (scipy cdist, explicit enumeration)."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given
from hypothesis import strategies as hs
from scipy.spatial.distance import cdist

import fcjax as F
from fcjax import gao2024 as GAO
from fcjax.testing import assert_law, assert_mean

EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)

# Oracle tests call the jitted functions (one compilation per shape instead of one per primitive, and the jitted
# path is what the claims run); eager calls are compared with these in test_jit_matches_eager below.
gram = jax.jit(F.gram)
pairwise_sq_distances = jax.jit(F.pairwise_sq_distances)
nearest_other_distance = jax.jit(F.nearest_other_distance)
min_pairwise_distance = jax.jit(F.min_pairwise_distance)
optimal_radius = jax.jit(F.optimal_radius)
point_radius = jax.jit(F.point_radius, static_argnums=1)
nearest_point_classify = jax.jit(F.nearest_point_classify)
sign_cube_radius = jax.jit(GAO.sign_cube_radius, static_argnums=1)


def _points(seed: int, d: int, n: int, scale: float = 1.0) -> jax.Array:
    """``n`` N(0, scale^2 I_d) points as rows ``(n, d)``, float64 (NumPy's generator: no compilation per shape)."""
    return jnp.asarray(scale * np.random.default_rng(seed).standard_normal((n, d)))


def _gram_tol(x: np.ndarray, eps: float = EPS64) -> float:
    # ||x_i||^2 + ||x_j||^2 - 2 x_i.x_j: each term is a d-term dot product with error <= d eps ||x_i|| ||x_j||
    # (Higham 3.1), so the squared distance has absolute error <= 4 d eps max_i ||x_i||^2; factor 4 headroom.
    d = x.shape[1]
    return 16.0 * d * eps * float(np.max(np.sum(x * x, axis=1)))


# ----------------------------------------------------------------------------------------------------------------
# Oracles
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("d", "n"), [(2, 2), (5, 3), (16, 16), (7, 30), (64, 9)])
def test_gram_and_pairwise_sq_distances_match_cdist(d, n):
    x = _points(d * 100 + n, d, n)
    xn = np.asarray(x)
    np.testing.assert_allclose(np.asarray(gram(x)), xn @ xn.T, rtol=0, atol=4 * d * EPS64 * np.max(xn**2) * d)
    d2 = np.asarray(pairwise_sq_distances(x))
    ref = cdist(xn, xn, "sqeuclidean")
    assert d2.shape == (n, n)
    assert np.all(d2 >= 0.0)  # clipped at 0 against rounding
    np.testing.assert_allclose(d2, ref, rtol=0, atol=_gram_tol(xn))


@pytest.mark.parametrize(("d", "n"), [(2, 2), (3, 8), (16, 16), (64, 20)])
def test_nearest_other_and_radii_match_brute_force(d, n):
    x = _points(7 * d + n, d, n, scale=3.0)
    xn = np.asarray(x)
    dist = cdist(xn, xn)
    np.fill_diagonal(dist, np.inf)
    nearest = dist.min(axis=1)
    # sqrt of a squared distance with absolute error a has error <= a / (2 sqrt(D2)) (D2 >= min nearest^2).
    tol = _gram_tol(xn) / (2 * nearest.min())
    np.testing.assert_allclose(np.asarray(nearest_other_distance(x)), nearest, rtol=0, atol=tol)
    np.testing.assert_allclose(float(min_pairwise_distance(x)), nearest.min(), rtol=0, atol=tol)
    np.testing.assert_allclose(np.asarray(optimal_radius(x)), nearest / 2, rtol=0, atol=tol)
    for i in (0, n // 2, n - 1, -1):
        np.testing.assert_allclose(float(point_radius(x, i)), nearest[i] / 2, rtol=0, atol=tol)


def test_distances_float32_within_float32_rounding():
    x32 = jax.random.normal(jax.random.key(3), (32, 32), jnp.float32)
    xn = np.asarray(x32, np.float64)
    dist = cdist(xn, xn)
    np.fill_diagonal(dist, np.inf)
    out = nearest_other_distance(x32)
    assert out.dtype == jnp.float32
    tol = _gram_tol(xn, EPS32) / (2 * dist.min())  # same analysis as in float64, with float32's epsilon
    np.testing.assert_allclose(np.asarray(out, np.float64), dist.min(axis=1), rtol=0, atol=tol)


def test_duplicate_points_have_zero_distance():
    # Two identical points: the Gram formula cancels to (rounded) 0 and is clipped, never negative -> no NaN.
    x = _points(11, 6, 4)
    x = x.at[3].set(x[1])
    out = np.asarray(nearest_other_distance(x))
    assert np.all(np.isfinite(out))
    # sqrt of an absolute error _gram_tol: the distance itself is below sqrt(_gram_tol).
    assert out[1] <= math.sqrt(_gram_tol(np.asarray(x)))
    assert out[3] <= math.sqrt(_gram_tol(np.asarray(x)))


@pytest.mark.parametrize(("d", "n", "m"), [(2, 3, 50), (8, 8, 100), (40, 12, 64)])
def test_nearest_point_classify_matches_argmin(d, n, m):
    x = _points(d + n, d, n)
    q = _points(d * n, d, m, scale=1.5)
    labels = np.asarray(nearest_point_classify(x, q))
    dist = cdist(np.asarray(q), np.asarray(x))
    ref = dist.argmin(axis=1)
    # A disagreement is only allowed on a near-tie (within rounding of the squared distances).
    srt = np.sort(dist**2, axis=1)
    near_tie = (srt[:, 1] - srt[:, 0]) < _gram_tol(np.concatenate([np.asarray(x), np.asarray(q)], axis=0))
    assert np.all((labels == ref) | near_tie)
    assert not near_tie.all()  # the comparison is not vacuous


def test_nearest_point_classify_training_points_get_own_label():
    x = _points(5, 10, 10)
    assert np.array_equal(np.asarray(nearest_point_classify(x, x)), np.arange(10))


# ----------------------------------------------------------------------------------------------------------------
# Chernoff union bound
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("d", "eps", "n"), [(16, 0.3, None), (256, 0.2, None), (256, 0.3, None), (1024, 0.2, 7),
                                           (4096, 0.1, None), (100, 0.5, 2), (2, 0.9, 3)])
def test_chernoff_union_bound_formula(d, eps, n):
    # Independent evaluation: log C(n, 2) + log of the Chernoff tail exp(-(d/2)(t - 1 - ln t)), t = (1 - eps)^2.
    npts = d if n is None else n
    t = (1 - eps) ** 2
    log_pairs = math.log(math.comb(npts, 2))
    ref = min(1.0, math.exp(log_pairs - d / 2 * (t - 1 - math.log(t))))
    assert GAO.chernoff_union_bound(d, eps, n) == pytest.approx(ref, rel=1e-12)  # same formula, ~10 flops of rounding


@given(d=hs.integers(2, 5000), eps=hs.floats(0.01, 0.99))
def test_chernoff_pair_bound_dominates_exact_chi2_tail(d, eps):
    # With n = 2 there is one pair and ||x_1 - x_2||^2 = 2 chi^2_d, so the exact probability of the event is
    # P(chi^2_d <= (1 - eps)^2 d). A valid bound can never be below it (rtol: scipy's cdf is accurate to ~1e-12).
    exact = st.chi2.cdf((1 - eps) ** 2 * d, d)
    bound = GAO.chernoff_union_bound(d, eps, n=2)
    assert bound >= exact * (1 - 1e-10)
    # ...and with n points the union event contains the single-pair event.
    assert GAO.chernoff_union_bound(d, eps) >= exact * (1 - 1e-10)


def _log_chi2_lower_tail(x: float, d: int) -> float:
    """log P(chi^2_d <= x) by the series of the lower incomplete gamma function (no underflow for tiny tails).

    P(a, y) = y^a e^-y / Gamma(a + 1) * sum_k y^k / ((a + 1) ... (a + k)) with a = d/2, y = x/2; for y < a the terms
    shrink at least geometrically (ratio y / (a + k) < 1).
    """
    a, y = d / 2, x / 2
    term, total, k = 1.0, 1.0, 0
    while term > 1e-17 * total:
        k += 1
        term *= y / (a + k)
        total += term
    return a * math.log(y) - y - math.lgamma(a + 1) + math.log(total)


def test_log_chi2_lower_tail_helper_matches_scipy():
    for d, x in ((4, 1.0), (64, 20.0), (256, 150.0)):
        assert _log_chi2_lower_tail(x, d) == pytest.approx(st.chi2.logcdf(x, d), rel=1e-10)


@pytest.mark.parametrize("eps", [0.2, 0.4, 0.6])
def test_chernoff_exponent_is_the_right_one(eps):
    # The Chernoff tail is tight up to a polynomial factor: log(bound / exact) = O(log d) (Cramer / Bahadur-Rao:
    # the prefactor is ~ 1/sqrt(d)). A wrong rate constant would make the log-ratio grow linearly in d.
    t = (1 - eps) ** 2
    for d in (64, 256, 1024, 4096):
        log_exact = _log_chi2_lower_tail(t * d, d)
        log_pair = -d / 2 * (t - 1 - math.log(t))
        if log_pair < 0:
            assert GAO.chernoff_union_bound(d, eps, n=2) == pytest.approx(math.exp(log_pair), rel=1e-12)
        assert 0.0 <= log_pair - log_exact <= math.log(d) + 3.0


def test_chernoff_union_bound_caps_at_one():
    assert GAO.chernoff_union_bound(16, 0.1) == 1.0
    assert 0.0 < GAO.chernoff_union_bound(4096, 0.1) < 1e-6


def test_chernoff_bound_dominates_monte_carlo_rate():
    # P(min_{i!=j} ||x_i - x_j|| < (1 - eps) sqrt(2d)) estimated from 400 draws: the bound must be at least the
    # Clopper-Pearson lower confidence limit (99.9 %) of the observed rate (d = 24, eps = 0.5: bound ~ 0.14).
    d, eps, trials = 24, 0.5, 400
    bound = GAO.chernoff_union_bound(d, eps)
    assert bound < 1.0
    keys = F.trial_keys(jax.random.key(42), trials)
    mins = jax.jit(jax.vmap(lambda k: F.min_pairwise_distance(F.gaussian_points(k, d, dtype=jnp.float64))))(keys)
    hits = int(np.sum(np.asarray(mins) < (1 - eps) * math.sqrt(2 * d)))
    low, _ = F.clopper_pearson(hits, trials, level=0.998)
    assert bound >= low


# ----------------------------------------------------------------------------------------------------------------
# Property: the optimal classifier's radius is exactly half the nearest distance
# ----------------------------------------------------------------------------------------------------------------


@given(seed=hs.integers(0, 2**32 - 1), dn=hs.sampled_from([(2, 2), (3, 5), (8, 6), (16, 12)]),
       scale=hs.sampled_from([1e-3, 1.0, 1e3]))
def test_optimal_radius_is_half_nearest_distance_and_exact(seed, dn, scale):
    d, n = dn
    x = _points(seed, d, n, scale)
    xn = np.asarray(x)
    r = np.asarray(optimal_radius(x))
    dist = cdist(xn, xn)
    np.fill_diagonal(dist, np.inf)
    tol = _gram_tol(xn) / (2 * dist.min())
    np.testing.assert_allclose(r, dist.min(axis=1) / 2, rtol=0, atol=tol)
    rel = 1e-6  # margin: the label flips at exactly r; 1e-6 r is far above the float64 rounding of the distances
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    src = np.array([i for i, _ in pairs])
    dirs = np.stack([(xn[j] - xn[i]) / dist[i, j] for i, j in pairs])
    # Slightly less than the radius from x_i toward every other point: still classified as i.
    inside = xn[src] + (1 - rel) * r[src, None] * dirs
    assert np.array_equal(np.asarray(nearest_point_classify(x, jnp.asarray(inside))), src)
    # Slightly more than the radius toward the nearest other point: the label changes.
    nearest = dist.argmin(axis=1)
    u = (xn[nearest] - xn) / dist.min(axis=1)[:, None]
    outside = xn + (1 + rel) * r[:, None] * u
    assert np.all(np.asarray(nearest_point_classify(x, jnp.asarray(outside))) != np.arange(n))


# ----------------------------------------------------------------------------------------------------------------
# Theorem 5's sign-cube data
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 3, 5])
def test_hypercube_signs_enumerates_every_vertex_once(d):
    z = np.asarray(GAO.hypercube_signs(d))
    assert z.shape == (2**d, d)
    assert set(np.unique(z).tolist()) == {-1.0, 1.0}
    ref = {tuple(v) for v in itertools.product((-1.0, 1.0), repeat=d)}
    assert {tuple(row) for row in z.tolist()} == ref


def test_sign_cube_data_shapes_and_labels(key):
    d = 5
    a, pts, labels = GAO.sign_cube_data(key, d, dtype=jnp.float64)
    assert a.shape == (d, d) and pts.shape == (2**d, d) and labels.shape == (2**d,)
    assert labels.dtype == jnp.int32
    z = np.asarray(GAO.hypercube_signs(d, dtype=jnp.float64))
    np.testing.assert_allclose(np.asarray(pts), z @ np.asarray(a).T, rtol=0, atol=4 * d * EPS64 * 10)
    assert np.array_equal(np.asarray(labels), (z[:, -1] > 0).astype(np.int32))
    assert int(labels.sum()) == 2 ** (d - 1)  # half the points per class
    np.testing.assert_array_equal(np.asarray(a), np.asarray(F.gaussian_points(key, d, dtype=jnp.float64)).T)


def _brute_sign_cube_radius(a: np.ndarray) -> float:
    d = a.shape[0]
    z = np.array(list(itertools.product((-1.0, 1.0), repeat=d)))
    pts = z @ a.T
    pos, neg = pts[z[:, -1] > 0], pts[z[:, -1] < 0]
    return float(cdist(pos, neg).min() / 2)


@pytest.mark.parametrize("d", [2, 4, 5, 6, 7])
def test_sign_cube_radius_matches_enumeration_of_all_points(d):
    a = _points(100 + d, d, d)
    ref = _brute_sign_cube_radius(np.asarray(a))
    # Both sides sum at most d terms of size ||A||: error ~ d eps ||A||_F, relative to a radius of order 1.
    tol = 8 * d * EPS64 * float(np.linalg.norm(np.asarray(a)))
    assert float(sign_cube_radius(a)) == pytest.approx(ref, abs=tol)
    if d == 5:
        # Chunking (with a padded last chunk) must not change the answer.
        for chunk in (1, 5, 3 ** (d - 1), 3 ** (d - 1) + 1):
            assert float(sign_cube_radius(a, chunk)) == pytest.approx(ref, abs=tol)


def test_sign_cube_radius_orthonormal_is_one():
    # A = I: classes differ by 2 in the last coordinate only, so half the inter-class distance is exactly 1.
    assert float(sign_cube_radius(jnp.eye(6, dtype=jnp.float64))) == 1.0


def test_gaussian_points_shapes_dtypes_and_moments(key):
    x = F.gaussian_points(key, 4)
    assert x.shape == (4, 4) and x.dtype == jnp.float32
    assert F.gaussian_points(key, 3, 7, dtype=jnp.float64).shape == (7, 3)  # 7 points in R^3, as rows
    g = GAO.gaussian_product(key, 5, 3, dtype=jnp.float64)
    assert g.shape == (3, 5, 5)
    # 40,000 standard normals (fcjax.testing, each at alpha 1e-3): mean 0 and second moment 1 within 0.05 (a
    # twentieth of the standard deviation), and the law within Kolmogorov distance 0.03 of N(0, 1).
    big = np.asarray(F.gaussian_points(key, 200, dtype=jnp.float64)).ravel()
    assert_mean(big, 0.0, 0.05)
    assert_mean(big**2, 1.0, 0.05)
    assert_law(big, st.norm(), 0.03)


def test_jit_matches_eager():
    x = _points(31, 9, 7)
    q = _points(32, 9, 5)
    xn = np.asarray(x)
    tol = _gram_tol(xn)
    np.testing.assert_allclose(np.asarray(F.pairwise_sq_distances(x)), np.asarray(pairwise_sq_distances(x)), atol=tol)
    np.testing.assert_allclose(np.asarray(F.nearest_other_distance(x)), np.asarray(nearest_other_distance(x)),
                               atol=tol)
    assert float(F.point_radius(x, 2)) == pytest.approx(float(point_radius(x, 2)), abs=tol)
    assert np.array_equal(np.asarray(F.nearest_point_classify(x, q)), np.asarray(nearest_point_classify(x, q)))
    a = _points(33, 4, 4)
    assert float(GAO.sign_cube_radius(a, 7)) == pytest.approx(float(sign_cube_radius(a, 7)), abs=1e-13)


# ----------------------------------------------------------------------------------------------------------------
# One point layout across the public API (issue 14): rows
# ----------------------------------------------------------------------------------------------------------------


def test_points_are_rows_in_geometry_and_robustness_alike():
    # The same (n, d) array means the same n points to the geometry and to the robustness tools, with n != d so that
    # a transposed reading could not give the same shapes.
    pts = F.gaussian_points(jax.random.key(5), 6, 11, dtype=jnp.float64)
    assert pts.shape == (11, 6)
    _, d_other, _ = F.nearest_other_class(pts, jnp.arange(11), pts, jnp.arange(11))
    np.testing.assert_allclose(np.asarray(F.optimal_radius(pts)), 0.5 * np.asarray(d_other), rtol=1e-12)
    assert F.optimal_radius(pts).shape == (11,)
    assert np.array_equal(np.asarray(F.nearest_point_classify(pts, pts)), np.arange(11))


@pytest.mark.parametrize(("call", "match"), [
    (lambda p: F.nearest_point_classify(p, p.T), r"^queries must have 6 columns \(one point per row"),
    (lambda p: F.point_radius(p, 6), None),  # i = 6 indexes one of the 11 rows: fine
    (lambda p: F.point_radius(p, 11), r"^i must index one of the 11 points \(rows of points"),
    (lambda p: F.optimal_radius(p[:1]), r"^points must have at least 2 entries along axis 0"),
    (lambda p: F.optimal_radius(p[0]), r"^points must have 2 dimensions"),
])
def test_layout_check_rejects_a_transposed_argument_where_shapes_disagree(call, match):
    # Where the shapes pin the layout down, a transposed argument is an error that names it. A single square matrix
    # cannot be checked (d points in R^d read the same either way); docstrings say rows.
    pts = F.gaussian_points(jax.random.key(5), 6, 11)
    if match is None:
        call(pts)
    else:
        with pytest.raises(ValueError, match=match):
            call(pts)
