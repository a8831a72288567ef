"""fmn.py: the FMN attack and best_min_norm, against exact minima (affine maps), brute force (2-d ReLU nets) and
min_norm itself.

Oracles: ``fcjax.linear.affine_min_perturbation`` (exact on affine maps); a NumPy forward pass (success flags); a
brute-force ray search in two dimensions, as in ``tests/test_attacks.py`` (an upper bound on the minimum, within
about 1 % of it at 720 rays). Compilation dominates: fixed shapes, module-level ``logits_fn``s, few option sets.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fcjax.attacks as A
from fcjax.fmn import best_min_norm, fmn
from fcjax.linear import affine_min_perturbation
from fcjax.models import relu_mlp

EPS64 = float(np.finfo(np.float64).eps)
D, N = 8, 16


def affine(p, x):
    return x @ p["w"].T + p["b"][None, :]


exact_distances = jax.jit(jax.vmap(lambda w, b, x, y: affine_min_perturbation(w, b, x, y).distance,
                                   in_axes=(None, None, 0, 0)))


def _affine_problem(seed: int, k: int):
    rng = np.random.default_rng(seed)
    p = {"w": jnp.asarray(rng.standard_normal((k, D))), "b": jnp.asarray(rng.standard_normal(k))}
    x = jnp.asarray(rng.standard_normal((N, D)))
    y = jnp.argmax(affine(p, x), axis=1)
    return p, x, y, np.asarray(exact_distances(p["w"], p["b"], x, y))


def _tol(p, x) -> np.ndarray:
    """Absolute float64 error of the boundary's position plus tau's cost (256 eps of the logit scale), over the
    smallest ||w_i - w_j||."""
    w, b = np.asarray(p["w"]), np.asarray(p["b"])
    k = w.shape[0]
    gap = min(np.linalg.norm(w[i] - w[j]) for i in range(k) for j in range(k) if i != j)
    scale = np.abs(w).max() * np.linalg.norm(np.asarray(x), axis=1) * np.sqrt(D) + np.abs(b).max() + 1
    return 1024 * D * EPS64 * scale / gap


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fmn_is_exact_on_binary_affine_maps(seed):
    # Two classes: one boundary, a half-space; FMN's first jump lands on the minimiser's ray, the line search ends.
    p, x, y, exact = _affine_problem(seed, 2)
    res = fmn(affine, p, x, y)
    norm, tol = np.asarray(res.norm), _tol(p, x)
    assert np.all(np.asarray(res.success))
    assert np.all(norm >= exact - tol)
    assert np.all(norm <= exact * (1 + 1e-8) + tol)
    np.testing.assert_allclose(np.asarray(A._l2(res.delta)), norm, rtol=1e-14)


def test_fmn_on_multiclass_affine_maps_never_beats_the_minimum_and_keeps_its_init():
    # With several classes FMN is local (it follows the current runner-up's facet): never below the exact minimum,
    # never above its init, and exact when started from min_norm's witness (exact on affine maps).
    p, x, y, exact = _affine_problem(3, 5)
    tol = _tol(p, x)
    plain = fmn(affine, p, x, y)
    mn = A.min_norm(affine, p, x, y)
    warm = fmn(affine, p, x, y, init=mn)
    for res in (plain, warm):
        assert np.all(np.asarray(res.success))
        assert np.all(np.asarray(res.norm) >= exact - tol)
    assert np.all(np.asarray(warm.norm) <= np.asarray(mn.norm))
    assert np.all(np.asarray(warm.norm) <= exact * (1 + 1e-8) + tol)
    best = best_min_norm(affine, p, x, y, key=jax.random.key(0), restarts=1, fmn_restarts=1, classes=2)
    assert np.all(np.asarray(best.norm) <= exact * (1 + 1e-8) + tol)
    assert np.all(np.asarray(best.norm) >= exact - tol)


def test_fmn_zero_where_the_label_already_differs_and_inf_where_nothing_flips():
    p, x, y, _ = _affine_problem(0, 2)
    res = fmn(affine, p, x, 1 - y)  # every x is already classified as the other class
    assert np.all(np.asarray(res.success)) and np.all(np.asarray(res.norm) == 0)
    np.testing.assert_array_equal(np.asarray(res.delta), 0.0)
    # A constant map (zero weights): no gradient, nothing flips; delta = 0, norm = linf = inf.
    flat = {"w": jnp.zeros((2, D)), "b": jnp.array([1.0, 0.0])}
    res = fmn(affine, flat, x, jnp.zeros(N, jnp.int32), steps=5)
    assert not np.any(np.asarray(res.success))
    assert np.all(np.isinf(np.asarray(res.norm))) and np.all(np.isinf(np.asarray(res.linf)))
    np.testing.assert_array_equal(np.asarray(res.delta), 0.0)


# ----------------------------------------------------------------------------------------------------------------
# ReLU nets in two dimensions: brute force
# ----------------------------------------------------------------------------------------------------------------
net = relu_mlp(2, 32, 4)


def _brute_force_2d(label_fn, x: np.ndarray, y: np.ndarray, r_max: float, rays: int = 720, grid: int = 160,
                    bisections: int = 20) -> np.ndarray:
    """Per point, the smallest flipping radius over ``rays`` directions (a grid scan refined by bisection): every
    value is a verified flip, so it upper-bounds the minimum (as in tests/test_attacks.py)."""
    theta = np.linspace(0, 2 * np.pi, rays, endpoint=False)
    u = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    radii = np.linspace(0, r_max, grid + 1)[1:]
    lo, hi = np.zeros((len(x), rays)), np.full((len(x), rays), np.inf)
    for i in range(len(x)):
        flip = label_fn((x[i] + radii[None, :, None] * u[:, None, :]).reshape(-1, 2)).reshape(rays, grid) != y[i]
        first = np.argmax(flip, axis=1)
        hi[i] = np.where(flip.any(axis=1), radii[first], np.inf)
        lo[i] = np.where(first > 0, radii[first - 1], 0.0)
    reach = np.isfinite(hi)
    hi = np.where(reach, hi, r_max)
    for _ in range(bisections):
        mid = 0.5 * (lo + hi)
        flip = label_fn((x[:, None, :] + mid[..., None] * u[None]).reshape(-1, 2)).reshape(mid.shape) != y[:, None]
        hi, lo = np.where(flip, mid, hi), np.where(flip, lo, mid)
    return np.min(np.where(reach, hi, np.inf), axis=1)


def _numpy_net(p, x: np.ndarray) -> np.ndarray:
    q = p["params"]
    h = np.asarray(x, np.float64)
    for n in range(len(net.hidden)):
        h = np.maximum(h @ np.asarray(q[f"dense_{n}"]["kernel"]) + np.asarray(q[f"dense_{n}"]["bias"]), 0.0)
    return h @ np.asarray(q["readout"]["kernel"]) + np.asarray(q["readout"]["bias"])


@pytest.mark.parametrize("seed", [5, 10])
def test_relu_nets_flags_are_true_norms_never_below_brute_force_and_best_is_close(seed):
    x = jnp.asarray(np.random.default_rng(seed).standard_normal((32, 2)))
    p = net.init(jax.random.key(seed), x)
    y = jnp.argmax(net.apply(p, x), axis=1)
    key = jax.random.key(0)
    plain = fmn(net.apply, p, x, y)
    best = best_min_norm(net.apply, p, x, y, key=key)
    mn = A.min_norm(net.apply, p, x, y, key=jax.random.split(key)[0], restarts=4)  # best_min_norm's first stage
    labels = jax.jit(lambda pts: jnp.argmax(net.apply(p, pts), axis=-1))
    finite = np.asarray(best.norm)[np.isfinite(np.asarray(best.norm))]
    brute = _brute_force_2d(lambda pts: np.asarray(labels(jnp.asarray(pts))), np.asarray(x), np.asarray(y),
                            1.5 * float(np.max(finite)))
    for res in (plain, best):
        z = _numpy_net(p, np.asarray(x) + np.asarray(res.delta))  # independent check of the flags
        np.testing.assert_array_equal(np.asarray(res.success), np.argmax(z, axis=1) != np.asarray(y))
        ok = np.asarray(res.success)
        # 720 rays find the minimum to well within 1 % here: a verified norm below that would be a false witness.
        assert np.all(np.asarray(res.norm)[ok] >= brute[ok] / 1.01)
    assert np.all(np.asarray(best.success))
    assert np.all(np.asarray(best.norm) <= np.asarray(mn.norm))  # never worse than its min_norm stage, per sample
    assert np.all(np.asarray(best.norm) <= 1.02 * brute)


def test_same_key_same_result_and_keys_matter():
    x = jnp.asarray(np.random.default_rng(5).standard_normal((32, 2)))
    p = net.init(jax.random.key(5), x)
    y = jnp.argmax(net.apply(p, x), axis=1)
    a = fmn(net.apply, p, x, y, key=jax.random.key(1), restarts=2, steps=20)
    b = fmn(net.apply, p, x, y, key=jax.random.key(1), restarts=2, steps=20)
    c = fmn(net.apply, p, x, y, key=jax.random.key(2), restarts=2, steps=20)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    assert not np.array_equal(np.asarray(a.delta), np.asarray(c.delta))
    # Random starts only add candidates: never worse than the deterministic run (same options).
    det = fmn(net.apply, p, x, y, steps=20)
    assert np.all(np.asarray(a.norm) <= np.asarray(det.norm))


def test_jit_vmap_and_float32():
    p, x, y, exact = _affine_problem(1, 2)
    batched = jax.jit(jax.vmap(lambda q: fmn(affine, q, x, y, steps=20).norm))
    stacked = jax.tree.map(lambda a: jnp.stack([a, 2 * a]), p)  # scaling the map keeps its boundary
    norms = np.asarray(batched(stacked))
    np.testing.assert_allclose(norms[0], norms[1], rtol=1e-9)
    np.testing.assert_allclose(norms[0], exact, rtol=1e-8)
    with jax.enable_x64(False):
        p32 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), p)
        res = fmn(affine, p32, jnp.asarray(x, jnp.float32), y.astype(jnp.int32), steps=20)
        assert res.delta.dtype == jnp.float32 and res.norm.dtype == jnp.float32
        assert np.all(np.asarray(res.success))
        # Recomputed one sample at a time (other rounding), every float32 witness still flips: tau's margin.
        x32 = jnp.asarray(x, jnp.float32)
        one = jax.jit(lambda xi, di: jnp.argmax(affine(p32, xi + di), axis=1))
        flips = [int(one(x32[i:i + 1], res.delta[i:i + 1])[0]) != int(y[i]) for i in range(N)]
        assert all(flips)
        np.testing.assert_allclose(np.asarray(res.norm, np.float64), exact, rtol=1e-3)


# ----------------------------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------------------------
_P, _X, _Y, _ = _affine_problem(0, 3)
_BAD = {
    "steps 0": (lambda: fmn(affine, _P, _X, _Y, steps=0), ValueError, r"^steps must be >= 1"),
    "alpha 0": (lambda: fmn(affine, _P, _X, _Y, alpha_init=0.0), ValueError, r"^alpha_init must be > 0"),
    "gamma 1": (lambda: fmn(affine, _P, _X, _Y, gamma_init=1.0), ValueError, r"^gamma_init must be < 1"),
    "gamma_final < 0": (lambda: fmn(affine, _P, _X, _Y, gamma_final=-0.1), ValueError, r"^gamma_final must be >= 0"),
    "step_scale": (lambda: fmn(affine, _P, _X, _Y, step_scale="pixels"), ValueError,
                   r"^step_scale must be one of 'relative', 'absolute'"),
    "init shape": (lambda: fmn(affine, _P, _X, _Y, init=_X[:, :2]), ValueError, r"^init must have the shape of x"),
    "init int": (lambda: fmn(affine, _P, _X, _Y, init=_Y), TypeError, r"^init must have a real floating dtype"),
    "init nan": (lambda: fmn(affine, _P, _X, _Y, init=_X.at[0, 0].set(jnp.nan)), ValueError,
                 r"^init contains non-finite"),
    "line_steps": (lambda: fmn(affine, _P, _X, _Y, line_steps=-1), ValueError, r"^line_steps must be >= 0"),
    "restarts 0": (lambda: fmn(affine, _P, _X, _Y, restarts=0), ValueError, r"^restarts must be >= 1"),
    "key": (lambda: fmn(affine, _P, _X, _Y, key=0), TypeError, r"^key must be a JAX PRNG key"),
    "y shape": (lambda: fmn(affine, _P, _X, _Y[:-1]), ValueError, r"^y must have shape \(16,\)"),
    "logits_fn": (lambda: fmn(None, _P, _X, _Y), TypeError, r"^logits_fn must be callable"),
    "best no key": (lambda: best_min_norm(affine, _P, _X, _Y, key=None), TypeError, r"^key must be a JAX PRNG key"),
    "best fmn_steps": (lambda: best_min_norm(affine, _P, _X, _Y, key=jax.random.key(0), fmn_steps=0), ValueError,
                       r"^fmn_steps must be >= 1"),
    "best classes": (lambda: best_min_norm(affine, _P, _X, _Y, key=jax.random.key(0), classes=-1), ValueError,
                     r"^classes must be >= 0"),
    "best options clash": (lambda: best_min_norm(affine, _P, _X, _Y, key=jax.random.key(0),
                                                 min_norm_options={"key": None}), ValueError,
                           r"^min_norm_options must not set key"),
    "best options type": (lambda: best_min_norm(affine, _P, _X, _Y, key=jax.random.key(0), fmn_options=[1]),
                          TypeError, r"^fmn_options must be a dict"),
    "best fmn unknown": (lambda: best_min_norm(affine, _P, _X, _Y, key=jax.random.key(0), fmn_options={"beta": 1}),
                         TypeError, r"^fmn_options has unknown keys beta"),
}


@pytest.mark.parametrize("case", list(_BAD))
def test_bad_input_raises_naming_the_argument(case):
    call, exc, match = _BAD[case]
    with pytest.raises(exc, match=match):
        call()
