"""linear.py: the exact minimal l2 perturbation of an affine classifier, against brute force, SciPy and attacks."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize as so
from hypothesis import assume, given
from hypothesis import strategies as hs

import fcjax as F

EPS64 = float(np.finfo(np.float64).eps)

affine_min_perturbation = jax.jit(F.affine_min_perturbation)
pairwise_distance = jax.jit(F.pairwise_distance, static_argnums=(3, 4))


def _problem(seed: int, k: int, d: int, scale: float = 1.0, bias: bool = True):
    rng = np.random.default_rng(seed)
    w = scale * rng.standard_normal((k, d))
    b = rng.standard_normal(k) if bias else np.zeros(k)
    x = rng.standard_normal(d)
    return w, b, x


def _brute(w: np.ndarray, b: np.ndarray, x: np.ndarray, i: int) -> tuple[float, int]:
    """min_{j != i} (f_i - f_j) / ||w_i - w_j||, clipped at 0, by an explicit loop."""
    f = w @ x + b
    best, arg = np.inf, -1
    for j in range(w.shape[0]):
        if j == i:
            continue
        dist = (f[i] - f[j]) / np.linalg.norm(w[i] - w[j])
        if dist < best:
            best, arg = dist, j
    return max(best, 0.0), arg


def _tol(w: np.ndarray, b: np.ndarray, x: np.ndarray) -> float:
    # f_i - f_j is a d-term dot product: error <= 2 d eps (||w|| ||x|| + |b|); divided by min ||w_i - w_j||.
    d = x.size
    k = w.shape[0]
    min_gap = min(np.linalg.norm(w[i] - w[j]) for i in range(k) for j in range(k) if i != j)
    return 10 * d * EPS64 * (np.abs(w).max() * np.linalg.norm(x) * np.sqrt(d) + np.abs(b).max() + 1) / min_gap


def _labels(w: np.ndarray, b: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return np.argmax(pts @ w.T + b, axis=-1)


# ----------------------------------------------------------------------------------------------------------------
# Oracles
# ----------------------------------------------------------------------------------------------------------------


def test_pairwise_distance_formula():
    w, b, x = _problem(0, 4, 6)
    f = w @ x + b
    for i, j in ((0, 1), (2, 3), (3, 0)):
        ref = (f[i] - f[j]) / np.linalg.norm(w[i] - w[j])
        got = float(pairwise_distance(jnp.asarray(w), jnp.asarray(b), jnp.asarray(x), i, j))
        assert got == pytest.approx(ref, abs=_tol(w, b, x))


@pytest.mark.parametrize(("k", "d", "bias"), [(2, 2, True), (3, 5, False), (10, 8, True), (12, 40, True)])
def test_affine_min_perturbation_matches_brute_force(k, d, bias):
    w, b, x = _problem(k * d, k, d, bias=bias)
    res = affine_min_perturbation(jnp.asarray(w), jnp.asarray(b) if bias else None, jnp.asarray(x))
    i = int(np.argmax(w @ x + b))
    ref, j = _brute(w, b, x, i)
    tol = _tol(w, b, x)
    assert int(res.label) == i
    assert float(res.distance) == pytest.approx(ref, abs=tol)
    assert int(res.target) == j
    delta = np.asarray(res.delta)
    assert np.linalg.norm(delta) == pytest.approx(ref, abs=tol)
    # delta points from class i toward class j: along w_j - w_i.
    u = (w[j] - w[i]) / np.linalg.norm(w[j] - w[i])
    np.testing.assert_allclose(delta, ref * u, rtol=0, atol=tol)
    # x + delta lies on the boundary f_i = f_j.
    f_adv = w @ (x + delta) + b
    assert f_adv[i] - f_adv[j] == pytest.approx(0.0, abs=tol * np.linalg.norm(w[i] - w[j]))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_affine_min_perturbation_matches_scipy_optimize(seed):
    # Independent solver: for each j != i, minimise ||delta||^2 s.t. f_j(x + delta) >= f_i(x + delta) with SLSQP.
    w, b, x = _problem(seed, 5, 4)
    i = int(np.argmax(w @ x + b))
    best = np.inf
    for j in range(5):
        if j == i:
            continue
        cons = {"type": "ineq", "fun": lambda dl, j=j: (w[j] - w[i]) @ (x + dl) + b[j] - b[i],
                "jac": lambda dl, j=j: w[j] - w[i]}
        r = so.minimize(lambda dl: dl @ dl, np.zeros(4), jac=lambda dl: 2 * dl, constraints=[cons], method="SLSQP",
                        options={"ftol": 1e-14, "maxiter": 200})
        assert r.success
        best = min(best, float(np.linalg.norm(r.x)))
    res = affine_min_perturbation(jnp.asarray(w), jnp.asarray(b), jnp.asarray(x))
    assert float(res.distance) == pytest.approx(best, rel=1e-6)  # SLSQP converges to ~sqrt(ftol) in the norm


def test_label_argument():
    w, b, x = _problem(4, 6, 5)
    f = w @ x + b
    i = int(np.argmax(f))
    a = affine_min_perturbation(jnp.asarray(w), jnp.asarray(b), jnp.asarray(x))
    c = affine_min_perturbation(jnp.asarray(w), jnp.asarray(b), jnp.asarray(x), i)
    assert float(a.distance) == float(c.distance)
    # x is not classified as any other class, so moving away from it costs nothing.
    other = (i + 1) % 6
    z = affine_min_perturbation(jnp.asarray(w), jnp.asarray(b), jnp.asarray(x), other)
    assert float(z.distance) == 0.0
    assert int(z.label) == other
    np.testing.assert_array_equal(np.asarray(z.delta), 0.0)
    assert _brute(w, b, x, other)[0] == 0.0  # the oracle agrees: f_other < f_i already


def test_float32_inputs_keep_float32():
    w, b, x = _problem(5, 3, 4)
    res = affine_min_perturbation(jnp.asarray(w, jnp.float32), jnp.asarray(b, jnp.float32), jnp.asarray(x, jnp.float32))
    assert res.distance.dtype == jnp.float32 and res.delta.dtype == jnp.float32
    i = int(np.argmax(w.astype(np.float32) @ x.astype(np.float32) + b.astype(np.float32)))
    ref, _ = _brute(w, b, x, i)
    assert float(res.distance) == pytest.approx(ref, abs=1e-4 * (1 + ref))  # float32: ~1e-7 * d * ||w|| ||x||


# ----------------------------------------------------------------------------------------------------------------
# Property: nothing beats the exact minimum, and the returned delta really changes the label
# ----------------------------------------------------------------------------------------------------------------


def _bisect_boundary(w, b, x, i, dirs, iters=80):
    """Smallest t with argmax f(x + t u) != i along each unit direction u (inf if the label never changes)."""
    lo = np.zeros(len(dirs))
    hi = np.full(len(dirs), 1.0)
    for _ in range(64):  # grow hi until the label changes (or give up: the ray stays in class i)
        same = _labels(w, b, x + hi[:, None] * dirs) == i
        if not same.any():
            break
        hi = np.where(same, 2 * hi, hi)
    reach = _labels(w, b, x + hi[:, None] * dirs) != i
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        changed = _labels(w, b, x + mid[:, None] * dirs) != i
        hi = np.where(changed, mid, hi)
        lo = np.where(changed, lo, mid)
    return np.where(reach, hi, np.inf)


def _fgsm_like(w, b, x, i, step, max_steps=10_000):
    """Normalised-gradient steps on the margin f_i - max_{j != i} f_j until the label changes; returns ||x_adv - x||."""
    z = x.copy()
    for _ in range(max_steps):
        f = w @ z + b
        if np.argmax(f) != i:
            return float(np.linalg.norm(z - x))
        fo = f.copy()
        fo[i] = -np.inf
        j = int(np.argmax(fo))
        g = w[i] - w[j]  # gradient of the margin against the runner-up
        z = z - step * g / np.linalg.norm(g)
    return np.inf


@given(seed=hs.integers(0, 2**32 - 1), k=hs.sampled_from([2, 3, 7]), d=hs.sampled_from([2, 3, 10]),
       scale=hs.sampled_from([1e-2, 1.0, 1e2]), bias=hs.booleans())
def test_no_attack_beats_the_exact_minimum(seed, k, d, scale, bias):
    w, b, x = _problem(seed, k, d, scale, bias)
    res = affine_min_perturbation(jnp.asarray(w), jnp.asarray(b), jnp.asarray(x))
    dist = float(res.distance)
    i = int(res.label)
    xn = np.linalg.norm(x)
    # Crossing by a relative 1e-9 must beat float64 rounding of f (~ d eps ||w|| ||x||): skip degenerate near-ties.
    assume(dist > 1e-6 * (xn + 1))
    tol = _tol(w, b, x)
    ref, _ = _brute(w, b, x, i)
    assert dist == pytest.approx(ref, abs=tol)
    # The witness: delta scaled by 1 + 1e-9 changes the label.
    delta = np.asarray(res.delta)
    assert _labels(w, b, x + (1 + 1e-9) * delta) != i
    assert np.linalg.norm(delta) == pytest.approx(dist, abs=tol)
    # Random directions, bisected to the label-change boundary: never shorter than the exact minimum.
    rng = np.random.default_rng(seed ^ 0x5EED)
    dirs = rng.standard_normal((256, d))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    t = _bisect_boundary(w, b, x, i, dirs)
    assert np.all(t >= dist - tol - 1e-12 * (1 + dist))  # bisection brackets the boundary to 2^-80 relative
    # The direction of delta itself is bisected to |delta| (the boundary is where the library says it is).
    t0 = _bisect_boundary(w, b, x, i, (delta / np.linalg.norm(delta))[None, :])[0]
    assert t0 == pytest.approx(dist, abs=tol + 1e-12 * (1 + dist))
    # FGSM-like normalised gradient steps of size dist / 16: they too need at least the exact distance.
    reached = _fgsm_like(w, b, x, i, dist / 16)
    assert reached >= dist - tol


# ----------------------------------------------------------------------------------------------------------------
# collapse_linear
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", [(5, 3), (6, 4, 3), (4, 8, 8, 2)])
def test_collapse_linear_matches_explicit_composition(sizes):
    rng = np.random.default_rng(len(sizes))
    layers, np_layers = [], []
    for n, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        w = rng.standard_normal((fan_out, fan_in))
        b = None if n == 1 else rng.standard_normal(fan_out)
        layers.append((jnp.asarray(w), None if b is None else jnp.asarray(b)))
        np_layers.append((w, np.zeros(fan_out) if b is None else b))
    w_tot, b_tot = F.collapse_linear(layers)
    assert w_tot.shape == (sizes[-1], sizes[0]) and b_tot.shape == (sizes[-1],)
    xs = rng.standard_normal((20, sizes[0]))
    h = xs
    for w, b in np_layers:
        h = h @ w.T + b
    # L products of O(1) Gaussian matrices: error ~ L * width * eps * (product of norms), generous 1e-12 relative.
    got = xs @ np.asarray(w_tot).T + np.asarray(b_tot)
    np.testing.assert_allclose(got, h, rtol=1e-12, atol=1e-12 * np.abs(h).max())


def test_collapse_linear_single_layer_is_identity():
    w = jnp.arange(6.0).reshape(2, 3)
    w_tot, b_tot = F.collapse_linear([(w, None)])
    np.testing.assert_array_equal(np.asarray(w_tot), np.asarray(w))
    np.testing.assert_array_equal(np.asarray(b_tot), 0.0)


def test_jit_matches_eager():
    w, b, x = _problem(40, 5, 6)
    e = F.affine_min_perturbation(jnp.asarray(w), jnp.asarray(b), jnp.asarray(x))
    j = affine_min_perturbation(jnp.asarray(w), jnp.asarray(b), jnp.asarray(x))
    assert int(e.label) == int(j.label) and int(e.target) == int(j.target)
    tol = _tol(w, b, x)
    assert float(e.distance) == pytest.approx(float(j.distance), abs=tol)
    np.testing.assert_allclose(np.asarray(e.delta), np.asarray(j.delta), rtol=0, atol=tol)
