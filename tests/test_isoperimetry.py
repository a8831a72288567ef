"""fcjax.isoperimetry against independent computations: SciPy quadrature of the sphere's marginal density, a
constrained optimiser, exact half-space laws and sampling."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate as si
import scipy.optimize as so
import scipy.special as sp
import scipy.stats as st

from fcjax import isoperimetry as I
from fcjax.random_nets import sphere_points


def _cap_distance_by_density(mu: float, n: int) -> float:
    # the marginal u_1 of a uniform point on S^(n-1) has density ∝ (1 - s²)^((n-3)/2): integrate the chord against it
    t = I.cap_threshold(mu, n)
    rim = math.acos(t)
    c = 1 / sp.beta(0.5, (n - 1) / 2)

    def f(s):
        return c * (1 - s * s) ** ((n - 3) / 2) * 2 * math.sin((math.acos(s) - rim) / 2)

    return si.quad(f, -1.0, t, limit=400, epsabs=1e-13)[0]


@pytest.mark.parametrize(("mu", "n"), [(0.01, 10), (0.3, 10), (0.5, 25), (0.05, 40)])
def test_cap_distance_equals_density_quadrature(mu, n):
    assert I.cap_distance(mu, n) == pytest.approx(_cap_distance_by_density(mu, n), rel=1e-7, abs=1e-10)


def test_cap_threshold_has_the_measure():
    # P(u_1 >= t) on the sphere, by sampling: 200000 points put the binomial sd at ~2e-4
    for mu, n in [(0.1, 20), (0.4, 200)]:
        u = np.asarray(sphere_points(jax.random.key(0), n, 200_000, 1.0, dtype=jnp.float64))[:, 0]
        assert np.mean(u >= I.cap_threshold(mu, n)) == pytest.approx(mu, abs=6 * math.sqrt(mu * (1 - mu) / u.size))


def test_cap_distance_approaches_the_normal_form():
    # √n·d_cap -> E(a - g)^+ (a CLT limit): the error must shrink with n, roughly like 1/n
    for mu in (0.01, 0.05, 0.3):
        errs = [abs(I.cap_distance(mu, n) / I.cap_distance_approx(mu, n) - 1) for n in (20, 200, 2000)]
        assert errs[0] > errs[1] > errs[2] and errs[2] < 2e-3
    # and the leading order a/√n is the limit only for small µ
    a = st.norm.ppf(0.99)
    assert I.cap_distance_approx(0.01, 500) == pytest.approx(a / math.sqrt(500), rel=2e-3)


def test_cap_distance_falls_with_measure():
    d = [I.cap_distance(mu, 100) for mu in (0.01, 0.1, 0.3, 0.5, 0.7)]
    assert all(a > b for a, b in itertools.pairwise(d)) and d[3] > 0


def _slsqp_distance(b, x, starts=20, seed=0):
    rng = np.random.default_rng(seed)
    best = np.inf
    for _ in range(starts):
        y0 = rng.normal(size=x.size)
        y0 /= np.linalg.norm(y0)
        r = so.minimize(lambda y: np.sum((y - x) ** 2), y0, method="SLSQP",
                        constraints=[{"type": "eq", "fun": lambda y: y @ y - 1},
                                     {"type": "ineq", "fun": lambda y: np.sum(b * y * y)}],
                        options={"ftol": 1e-14, "maxiter": 500})
        if r.success and abs(r.x @ r.x - 1) < 1e-8 and np.sum(b * r.x ** 2) > -1e-8:
            best = min(best, math.sqrt(r.fun))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quadratic_distance_equals_a_constrained_optimiser(seed):
    rng = np.random.default_rng(seed)
    n = 5
    b = rng.normal(size=n)
    b[0] = abs(b[0]) + 0.1  # a non-empty error set
    x = rng.normal(size=n)
    x /= np.linalg.norm(x)
    if np.sum(b * x * x) >= 0:
        x = np.eye(n)[int(np.argmin(b))]  # a point outside E
    exact = float(I.quadratic_sphere_distance(jnp.asarray(b), jnp.asarray(x)))
    assert exact == pytest.approx(_slsqp_distance(b, x), rel=1e-5)


def test_quadratic_distance_edge_cases():
    x = jnp.asarray([1.0, 0.0, 0.0], dtype=jnp.float64)
    assert float(I.quadratic_sphere_distance(jnp.asarray([-1.0, -2.0, -3.0]), x)) == math.inf
    assert float(I.quadratic_sphere_distance(jnp.asarray([1.0, -2.0, -3.0]), x)) == 0.0
    # E = {y: y_2² >= y_1²} from e_1: the nearest point is (1, 1, 0)/√2 at chord 2 sin(π/8)
    d = float(I.quadratic_sphere_distance(jnp.asarray([-1.0, 1.0, -5.0]), x))
    assert d == pytest.approx(2 * math.sin(math.pi / 8), rel=1e-10)
    got = I.quadratic_sphere_distances(jnp.asarray([-1.0, 1.0, -5.0]), jnp.stack([x, x]))
    np.testing.assert_allclose(np.asarray(got), [d, d], rtol=1e-12)
    # the hard case: x has no weight on b's top coordinate (the Lagrange root sits at the pole)
    b = np.array([2.0, 0.5, -1.0, -3.0])
    for x in (np.array([0.0, 0.0, 0.0, 1.0]), np.array([0.0, 0.0, 0.6, 0.8])):
        got = float(I.quadratic_sphere_distance(jnp.asarray(b), jnp.asarray(x)))
        assert got == pytest.approx(_slsqp_distance(b, x), rel=1e-6)


def test_gaussian_bound_is_the_half_space_law():
    # a half-space {w·z <= c} has p = Φ(c) and r = |w·z - c|: P(r <= η) = Φ(c + η) - Φ(c - η), the bound's equality
    eta = np.linspace(0, 4, 41)
    for c in (-1.3, 0.0, 0.4, 2.0):
        exact = st.norm.cdf(c + eta) - st.norm.cdf(c - eta)
        np.testing.assert_allclose(I.gaussian_isoperimetric_bound(eta, st.norm.cdf(c)), exact, atol=1e-12)
    np.testing.assert_allclose(I.gaussian_isoperimetric_bound(eta, 0.5), sp.erf(eta / math.sqrt(2)), atol=1e-12)
    np.testing.assert_allclose(I.gaussian_isoperimetric_bound(2 * eta, 0.3, lipschitz=2.0),
                               I.gaussian_isoperimetric_bound(eta, 0.3), atol=1e-15)


def test_closed_form_sits_below_the_balanced_bound_but_not_every_bound():
    eta = np.linspace(0.5, 4, 36)
    assert np.all(I.fawzi_closed_form(eta) < I.gaussian_isoperimetric_bound(eta, 0.5))
    # an unbalanced half-space (p = 0.84) is closer to no boundary than the p-free closed form allows at η = 3
    assert I.gaussian_isoperimetric_bound(3.0, 0.84) < I.fawzi_closed_form(3.0)


def test_cdf_shortfall_sees_a_law_below_the_bound():
    rng = np.random.default_rng(0)
    z = rng.normal(size=20000)

    def bound(e):
        return I.gaussian_isoperimetric_bound(e, 0.5)

    eps = math.sqrt(math.log(2 / 1e-3) / (2 * z.size))
    assert I.cdf_shortfall(bound, np.abs(z)) <= eps  # the extremal case itself: within the DKW band
    assert I.cdf_shortfall(bound, 2 * np.abs(z)) > 0.2  # twice as far from the boundary: far below the bound
    assert I.cdf_shortfall(bound, np.full(10, np.inf)) == 1.0
    assert I.cdf_shortfall(bound, np.r_[np.zeros(9), np.inf]) == pytest.approx(0.1)


@pytest.mark.parametrize(("call", "name"), [
    (lambda: I.cap_distance(0.0, 10), "mu"), (lambda: I.cap_distance(1.2, 10), "mu"),
    (lambda: I.cap_threshold(0.5, 1), "n"), (lambda: I.cap_distance(0.5, 0), "n"),
    (lambda: I.gaussian_isoperimetric_bound(1.0, 1.5), "p"),
    (lambda: I.gaussian_isoperimetric_bound(-1.0, 0.5), "eta"),
    (lambda: I.gaussian_isoperimetric_bound(1.0, 0.5, lipschitz=0.0), "lipschitz"),
    (lambda: I.quadratic_sphere_distances(jnp.ones(3), jnp.ones((2, 4))), "x"),
    (lambda: I.quadratic_sphere_distances(jnp.ones((3, 1)), jnp.ones((2, 3))), "b"),
    (lambda: I.cdf_shortfall(np.exp, [np.nan]), "samples"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises((ValueError, TypeError), match=name):
        call()


def test_quadratic_logits_error_set_is_the_distance_functions():
    # the inner-sphere errors of quadratic_logits are the points the distance function puts at 0
    n = 6
    params = {"alpha": jax.random.normal(jax.random.key(1), (n,), jnp.float64), "beta": jnp.asarray(-0.2)}
    x = sphere_points(jax.random.key(2), n, 500, 1.0, dtype=jnp.float64)
    logits = I.quadratic_logits(params, x)
    assert logits.shape == (500, 2)
    errors = np.asarray(jnp.argmax(logits, axis=1) == 1)
    d = np.asarray(I.quadratic_sphere_distances(params["alpha"] + params["beta"], x))
    assert 0 < errors.mean() < 1 and np.array_equal(errors, d == 0)
