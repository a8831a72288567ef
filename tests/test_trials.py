"""trials.py: each per-trial function against direct library calls and NumPy on the same draws."""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.distance import cdist

import fcjax as F
from fcjax import gao2024 as GAO
from fcjax import trials as T

EPS64 = float(np.finfo(np.float64).eps)


def _np_positive_qr(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q, r = np.linalg.qr(x)
    s = np.where(np.diag(r) < 0, -1.0, 1.0)
    return q * s[None, :], r * s[:, None]


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _trial(key, name: str, d: int, kw: tuple = ()):
    return getattr(T, name)(key, d, **dict(kw))


theorem1_perturbation = jax.jit(GAO.theorem1_perturbation)


def _same_x(key, d, dtype=jnp.float64) -> np.ndarray:
    """The paper's X (points in columns) that the trials draw under ``key``."""
    return np.asarray(F.gaussian_points(key, d, dtype=dtype)).T


def _nearest(x: np.ndarray) -> np.ndarray:
    dist = cdist(x.T, x.T)
    np.fill_diagonal(dist, np.inf)
    return dist.min(axis=1)


@pytest.mark.parametrize("d", [2, 16])
def test_min_distance_and_optimal_radius_trials(key, d):
    x = _same_x(key, d, jnp.float32).astype(np.float64)
    near = _nearest(x)
    out = jax.jit(T.min_distance_trial, static_argnums=1)(key, d)
    # float32 Gram-based distances: absolute error ~ d eps32 max||x||^2 / (2 min distance), relative to sqrt(2d).
    tol = 16 * d * float(np.finfo(np.float32).eps) * np.max(np.sum(x * x, axis=0)) / near.min()
    assert float(out["rho"]) == pytest.approx(near.min() / np.sqrt(2 * d), abs=tol)
    r = jax.jit(T.optimal_radius_trial, static_argnums=1)(key, d)
    assert float(r["mean_radius"]) == pytest.approx(near.mean() / 2, abs=tol)
    assert float(r["min_radius"]) == pytest.approx(near.min() / 2, abs=tol)


@pytest.mark.parametrize("method", ["solve", "cholesky", "qr"])
def test_qr_trial_matches_numpy(key, method):
    d = 12
    x = _same_x(key, d)
    out = jax.jit(T.qr_trial, static_argnums=(1, 2, 3))(key, d, jnp.float64, method)
    _, r = _np_positive_qr(x)
    cond = np.linalg.cond(x)
    tol = 10 * d * (cond**2 if method == "cholesky" else cond) * EPS64 * np.linalg.norm(x, 2)  # see test_compression
    assert float(out["r_pp"]) == pytest.approx(r[-2, -2], abs=tol)
    assert float(out["r_pd"]) == pytest.approx(r[-2, -1], abs=tol)
    assert float(out["r_dd"]) == pytest.approx(r[-1, -1], abs=tol)
    assert float(out["phi"]) == pytest.approx(r[-1, -1] / np.linalg.norm(x[:, -1]), abs=tol)


@pytest.mark.parametrize("d", [2, 3, 24])
def test_theorem1_trial_agrees_with_theorem1_perturbation(key, d):
    out = _trial(key, "theorem1_trial", d)
    x = _same_x(key, d)
    pert = theorem1_perturbation(jnp.asarray(x))
    cond = np.linalg.cond(x)
    tol = 100 * d * cond**2 * EPS64  # e from LU probes: ~ d cond eps ||R||; f = X^{-1}(.) amplifies by cond
    assert float(out["norm_e"]) == pytest.approx(float(pert.norm), abs=tol)
    assert float(out["bound"]) == pytest.approx(float(pert.bound), abs=tol)
    f = np.linalg.solve(x, x[:, -1] + np.asarray(pert.e))
    assert float(out["pair_margin"]) == pytest.approx(f[-2] - f[-1], abs=tol)
    assert float(out["pair_margin"]) == pytest.approx(1.0, abs=tol)  # f_{d-1} - f_d = 1 - 0
    assert bool(out["moved_off_d"])
    assert bool(out["argmax_is_d_minus_1"]) == (int(np.argmax(f)) == d - 2)
    assert float(out["norm_e"]) <= float(out["bound"]) + tol
    assert float(out["onehot_error"]) <= 10 * d * cond * EPS64  # X^{-1} X = I to ~ d cond eps
    assert bool(out["onehot_argmax_ok"])
    near = _nearest(x)
    assert float(out["radius"]) == pytest.approx(near[-1] / 2, rel=1e-12)
    assert float(out["ratio"]) == pytest.approx(float(out["norm_e"]) / (near[-1] / 2), rel=1e-10)


def test_theorem1_trial_last_two_points_only(key):
    d = 10
    full = _trial(key, "theorem1_trial", d)
    part = _trial(key, "theorem1_trial", d, (("check_all_points", False),))
    for name in ("norm_e", "bound", "pair_margin", "radius"):
        assert float(part[name]) == pytest.approx(float(full[name]), rel=1e-12)
    assert float(part["onehot_error"]) <= float(full["onehot_error"]) + 1e-15
    assert bool(part["onehot_argmax_ok"])


@pytest.mark.parametrize("d", [2, 9])
def test_two_probe_trial(key, d):
    out = _trial(key, "two_probe_trial", d)
    ki, kj, kx = jax.random.split(key, 3)
    pi, pj, x = (np.asarray(jax.random.normal(k, (d,), jnp.float64)) for k in (ki, kj, kx))
    diff = pi - pj
    scale = (np.linalg.norm(pi) + np.linalg.norm(pj)) * np.linalg.norm(x) / np.linalg.norm(diff)
    assert float(out["scale"]) == pytest.approx(scale, rel=1e-12)
    assert float(out["error"]) <= 100 * d * EPS64 * scale  # identity holds to rounding (see test_compression)
    assert float(out["slack"]) >= -100 * d * EPS64 * scale  # Cauchy-Schwarz
    assert bool(out["flipped"])


@pytest.mark.parametrize("d", [3, 12])
def test_exact_gap_trial_ordering_and_oracle(key, d):
    out = _trial(key, "exact_gap_trial", d)
    x = _same_x(key, d)
    w = np.linalg.inv(x)
    f = w @ x[:, -1]
    dists = [(f[-1] - f[j]) / np.linalg.norm(w[-1] - w[j]) for j in range(d - 1)]
    radius = _nearest(x)[-1] / 2
    cond = np.linalg.cond(x)
    tol = 100 * d * cond**2 * EPS64 / radius  # inverse rows carry ~ d cond eps relative error; ratios to radius
    assert float(out["radius"]) == pytest.approx(radius, rel=1e-12)
    assert float(out["exact"]) == pytest.approx(max(min(dists), 0.0) / radius, abs=tol)
    assert float(out["pair"]) == pytest.approx(dists[-1] / radius, abs=tol)
    _, r = _np_positive_qr(x)
    assert float(out["theorem"]) == pytest.approx(np.hypot(r[-2, -2] - r[-2, -1], r[-1, -1]) / radius, abs=tol)
    # exact minimum over all classes <= distance to the (d-1, d) boundary <= ||e|| of the construction
    assert float(out["exact"]) <= float(out["pair"]) + tol
    assert float(out["pair"]) <= float(out["theorem"]) + tol


@pytest.mark.parametrize(("d", "t"), [(2, 1), (4, 3), (6, 2)])
def test_product_qr_trial_matches_numpy_qr_of_explicit_product(key, d, t):
    out = jax.jit(T.product_qr_trial, static_argnums=(1, 2))(key, d, t)
    kg, kr = jax.random.split(key)
    gs = np.asarray(GAO.gaussian_product(kg, d, t, dtype=jnp.float64))
    p = np.eye(d)
    for g in gs:  # P = G_t ... G_1 (G_1 applied first)
        p = g @ p
    _, r = _np_positive_qr(p)
    # t solves with cond ~ d each: relative error ~ t d cond(P) eps
    assert float(out["r_dd"]) == pytest.approx(r[-1, -1], rel=100 * t * d * np.linalg.cond(p) * EPS64)
    ref_chi = np.prod(np.abs(np.asarray(jax.random.normal(kr, (t,), jnp.float64))))
    assert float(out["prod_chi1"]) == pytest.approx(ref_chi, rel=1e-14)


NAMES = ("min_distance_trial", "optimal_radius_trial", "qr_trial", "theorem1_trial", "two_probe_trial",
         "exact_gap_trial")


def _all_trials(k):
    return {name: getattr(T, name)(k, 5) for name in NAMES}


def test_trials_through_map_trials_are_finite_and_sane(key):
    out = F.map_trials(_all_trials, key, 6, chunk_size=4)
    for name in NAMES:
        for v in out[name].values():
            assert v.shape == (6,)
            assert np.all(np.isfinite(v.astype(np.float64)))
    assert np.all((out["min_distance_trial"]["rho"] > 0) & (out["min_distance_trial"]["rho"] < 3))  # order 1
    q = out["qr_trial"]
    assert np.all(q["r_pp"] > 0) and np.all(q["r_dd"] > 0) and np.all(q["phi"] <= 1 + 1e-12)
    assert np.all(out["theorem1_trial"]["moved_off_d"]) and np.all(out["two_probe_trial"]["flipped"])
    # Trial i depends only on fold_in(key, i): the vmapped chunk equals a single jitted call on that key.
    first = jax.jit(_all_trials)(jax.random.fold_in(key, 3))
    for name in NAMES:
        for k, v in first[name].items():
            # vmapped vs unbatched kernels may round differently: a few ulps of O(1)..O(10) quantities.
            np.testing.assert_allclose(out[name][k][3], np.asarray(v), rtol=1e-12, atol=1e-13, err_msg=f"{name}.{k}")


def test_jitted_trial_does_not_retrace_over_draws():
    # Hot path: one compilation serves every draw of the same shape (different keys, different trial counts
    # through vmap are different shapes and may compile once each).
    @jax.jit
    @chex.assert_max_traces(n=1)
    def fn(k):
        return T.theorem1_trial(k, 6)

    for i in range(4):
        out = fn(jax.random.key(i))
        assert bool(out["moved_off_d"])
    batched = jax.jit(jax.vmap(functools.partial(T.qr_trial, d=6)))
    for n in range(3):
        batched(F.trial_keys(jax.random.key(n), 8))
    assert batched._cache_size() == 1
