"""fcjax.data_laws: each law's moments against its definition (5-sigma bands), keyed draws, and bad input."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

from fcjax.data_laws import LAWS, points_from_law

N, D = 4000, 50  # 200000 coordinates per law


@pytest.mark.parametrize("law, param", [("normal", 0.0), ("student_t", 5.0), ("rademacher", 0.0), ("uniform", 0.0),
                                        ("mixture", 4.0), ("lowrank", 4.0)])
def test_unit_variance_and_zero_mean(key, law, param):
    if law in ("mixture", "lowrank"):  # the modes / the signal are drawn per point set: pool many sets
        keys = jax.random.split(key, 400)
        x = np.asarray(jax.vmap(lambda k: points_from_law(k, D, law, 10, param=param, dtype=jnp.float64))(keys))
        x = x.reshape(-1, D)
    else:
        x = np.asarray(points_from_law(key, D, law, N, param=param, dtype=jnp.float64))
    assert x.shape == (N, D)
    n = x.size
    # the mean's sd is 1/√n; the variance's sd is √((κ−1)/n) with κ <= 9 for these laws (Student-t 5: κ = 9)
    assert abs(x.mean()) < 5 / math.sqrt(n) * (3 if law in ("mixture", "lowrank") else 1)
    assert abs(x.var() - 1) < 5 * math.sqrt(8 / n) * (3 if law in ("mixture", "lowrank") else 1)


def test_the_laws_have_their_shapes(key):
    signs = np.asarray(points_from_law(key, D, "rademacher", 10, dtype=jnp.float64))
    assert set(np.unique(signs)) == {-1.0, 1.0}
    u = np.asarray(points_from_law(key, D, "uniform", 10, dtype=jnp.float64))
    assert np.abs(u).max() <= math.sqrt(3)
    t = np.asarray(points_from_law(key, D, "student_t", N, param=1.5, dtype=jnp.float64)).ravel()
    # unscaled t(1.5): compare with scipy's law by a KS test at the 1e-3 level
    assert st.kstest(t, st.t(1.5).cdf).pvalue > 1e-3
    low = np.asarray(points_from_law(key, 40, "lowrank", 400, param=2.0, dtype=jnp.float64))
    eig = np.linalg.eigvalsh(np.cov(low.T))[::-1]
    assert eig[1] > 3 * eig[2]  # two signal directions above the noise floor


def test_keyed_and_bad_input(key):
    a = points_from_law(key, 8, "mixture", param=3.0)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(points_from_law(key, 8, "mixture", param=3.0)))
    assert a.shape == (8, 8)
    with pytest.raises(ValueError, match="law must be one of"):
        points_from_law(key, 8, "cauchy")
    with pytest.raises(ValueError, match="param must be > 0 for law 'student_t'"):
        points_from_law(key, 8, "student_t", param=0.0)
    assert set(LAWS) >= {"normal", "student_t"}
    with pytest.raises(TypeError, match="key must be a JAX PRNG key"):
        points_from_law(0, 8, "normal")


def test_exact_gap_law_trial_on_normal_equals_the_gaussian_trial_law(key):
    from fcjax import trials

    o = trials.exact_gap_law_trial(key, 16, "normal", dtype=jnp.float64)
    assert set(o) == {"exact", "pair", "theorem", "radius"} and all(np.isfinite(float(v)) for v in o.values())
    assert float(o["exact"]) <= float(o["pair"]) + 1e-12 <= float(o["theorem"]) + 2e-12
