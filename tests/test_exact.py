"""exact.py: the exact minimal l2 perturbation of a ReLU net, against activation-region enumeration.

The oracle enumerates every activation pattern of a tiny net (at most 8 hidden units): on the closed region of a
pattern the net is affine, so the distance to ``f_j >= f_y`` there is a convex QP (linear constraints), solved by
SciPy (HiGHS for feasibility, then SLSQP from the feasible point); the minimum over patterns and classes is the
exact distance. Theorems asserted: ``lower <= exact <= upper`` with ``upper - lower`` within the tolerance; the
witness flips the label in float64; ``certified CROWN radius <= lower`` (up to the tolerance) and ``upper <=``
every attack's distance (up to the tolerance); both methods agree.
"""

from __future__ import annotations

import itertools
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from scipy.optimize import linprog, minimize

from fcjax import certify as C
from fcjax.attacks import min_norm
from fcjax.exact import ExactResult, exact_radius

pytest.importorskip("pyscipopt")

TOL = 1e-6
# Net shapes of the tests that run the attack (3 samples each): each new shape compiles it and CROWN once.
SHAPES = ([3, 8, 3], [3, 4, 4, 2])


def _net(seed: int, dims: list[int], bias: float = 0.5) -> list[tuple[np.ndarray, np.ndarray]]:
    """A random ReLU net with He-scaled weights, float64 NumPy ``(W, b)`` with ``W`` of shape ``(out, in)``."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((o, i)) * np.sqrt(2.0 / i), bias * rng.standard_normal(o))
            for i, o in itertools.pairwise(dims)]


def _forward(layers, p: np.ndarray) -> np.ndarray:
    # fcjax.certify's JAX forward in float64: independent of fcjax.exact's NumPy one, which it checks
    with jax.enable_x64(True):
        return np.asarray(C.logits([(jnp.asarray(w), jnp.asarray(b)) for w, b in layers], jnp.asarray(p)))


def _region(layers, pattern: tuple[int, ...], x: np.ndarray):
    """For one activation pattern: the affine logits ``J delta + f0`` and the region ``A delta <= c`` (in delta)."""
    d = x.size
    jac, off = np.eye(d), x.copy()  # the current layer's input as jac @ delta + off
    a_rows, c_rows, k = [], [], 0
    for w, b in layers[:-1]:
        zj, z0 = w @ jac, w @ off + b
        s = np.array(pattern[k:k + w.shape[0]], float)
        k += w.shape[0]
        sign = np.where(s > 0, -1.0, 1.0)  # active: -z <= 0; inactive: z <= 0
        a_rows.append(sign[:, None] * zj)
        c_rows.append(-sign * z0)
        jac, off = s[:, None] * zj, s * z0
    w, b = layers[-1]
    return w @ jac, w @ off + b, np.vstack(a_rows), np.concatenate(c_rows)


def _qp(a: np.ndarray, c: np.ndarray, best: float = np.inf) -> float:
    """``min ||delta||`` over ``{A delta <= c}`` (inf if empty), or any value ``>= best`` if that is above ``best``.

    HiGHS finds the feasible point of least max-norm ``t`` (an LP in ``(delta, t)``, ``-t <= delta_i <= t``); as
    ``||delta||_2 >= ||delta||_inf >= t``, a region with ``t >= best`` cannot hold the minimum; else SLSQP from
    there, on rows scaled to unit norm (near-degenerate rows stall it otherwise).
    """
    scale = np.linalg.norm(a, axis=1)
    if np.any((scale == 0) & (c < 0)):  # 0 <= c fails: a constant constraint (e.g. all units off) is violated
        return np.inf
    keep = scale > 0
    a, c = a[keep] / scale[keep, None], c[keep] / scale[keep]
    d = a.shape[1]
    eye = np.eye(d)
    a_lp = np.block([[a, np.zeros((a.shape[0], 1))], [eye, -np.ones((d, 1))], [-eye, -np.ones((d, 1))]])
    lp = linprog(np.append(np.zeros(d), 1.0), A_ub=a_lp, b_ub=np.concatenate([c, np.zeros(2 * d)]),
                 bounds=[(None, None)] * d + [(0, None)], method="highs")
    if lp.status == 2:
        return np.inf
    assert lp.status == 0, lp.message
    if lp.x[-1] >= best:
        return lp.x[-1]
    unit = max(float(np.linalg.norm(lp.x[:d])), 1e-12)  # solve in units of the start's norm: objective ~ 1
    cu = c / unit
    res = minimize(lambda v: v @ v, lp.x[:d] / unit, jac=lambda v: 2 * v, method="SLSQP",
                   constraints=[{"type": "ineq", "fun": lambda v: cu - a @ v, "jac": lambda v: -a}],
                   options={"ftol": 1e-15, "maxiter": 1000})
    if res.success and np.all(a @ res.x <= cu + 1e-9):
        return unit * float(np.linalg.norm(res.x))
    return _active_sets(a, c)  # SLSQP stalls on some ill-conditioned regions: the exact enumeration instead


def _active_sets(a: np.ndarray, c: np.ndarray) -> float:
    """``min ||delta||`` over ``{A delta <= c}`` exactly: the minimiser is the projection of 0 onto the affine hull
    of at most ``d`` independent active rows, so the least feasible such projection over all row subsets is it."""
    best = 0.0 if np.all(c >= 0) else np.inf
    for k in range(1, a.shape[1] + 1):
        for rows in itertools.combinations(range(a.shape[0]), k):
            sub = a[list(rows)]
            gram = sub @ sub.T
            if np.linalg.matrix_rank(gram) < k:
                continue
            v = sub.T @ np.linalg.solve(gram, c[list(rows)])
            if np.all(a @ v <= c + 1e-10):
                best = min(best, float(np.linalg.norm(v)))
    return best


def _brute_force(layers, x: np.ndarray, y: int) -> float:
    """The exact distance to ``{f_j >= f_y for some j != y}``, by enumeration of the activation patterns."""
    if int(np.argmax(_forward(layers, x))) != y:
        return 0.0
    hidden = sum(w.shape[0] for w, _ in layers[:-1])
    best = np.inf
    for pattern in itertools.product((0, 1), repeat=hidden):
        jac, f0, a, c = _region(layers, pattern, x)
        for j in range(jac.shape[0]):
            if j != y:  # f_y - f_j <= 0 with f = jac delta + f0
                best = min(best, _qp(np.vstack([a, jac[y] - jac[j]]), np.append(c, f0[j] - f0[y]), best))
    return best


def _assert_sound(res: ExactResult, layers, x: np.ndarray, y: np.ndarray) -> None:
    assert np.all(res.lower <= res.upper)
    for i in range(x.shape[0]):
        if np.isfinite(res.upper[i]) and res.upper[i] > 0:
            assert int(np.argmax(_forward(layers, x[i] + res.witness[i]))) != y[i]
            np.testing.assert_allclose(np.linalg.norm(res.witness[i]), res.upper[i], rtol=1e-12)


# ----------------------------------------------------------------------------------------------------------------
# Against brute force
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "dims", "method"), [
    (0, [2, 6, 3], "bab-qp"), (1, [3, 7, 4], "bab-qp"), (2, [4, 7, 2], "bab-qp"),
    (3, [3, 6, 3], "miqp"), (4, [2, 4, 3, 3], "miqp"), (5, [4, 3, 4, 2], "miqp"),
])
def test_matches_brute_force(seed, dims, method):
    layers = _net(seed, dims)
    x = np.random.default_rng(100 + seed).standard_normal((2, dims[0]))
    y = np.array([int(np.argmax(_forward(layers, p))) for p in x])
    refs = [_brute_force(layers, x[i], int(y[i])) for i in range(x.shape[0])]
    # A ball from the oracle instead of the attack (the attack's compilation per shape is most of the time;
    # the attack path has its own test): the ball holds the minimiser, no start point is given.
    res = exact_radius(layers, x, y, method=method, tol=TOL, upper=1.5 * np.array(refs) + 0.1)
    _assert_sound(res, layers, x, y)
    assert all(res.exact), res.status
    for i, ref in enumerate(refs):
        assert res.lower[i] <= ref * (1 + 1e-7) + 1e-9
        assert ref <= res.upper[i] * (1 + 1e-7) + 1e-9
        np.testing.assert_allclose(res.upper[i], ref, rtol=2 * TOL, atol=1e-8)


def test_methods_agree_and_auto_is_bab():
    layers = _net(7, SHAPES[0])
    x = np.random.default_rng(7).standard_normal((3, 3))
    y = np.array([int(np.argmax(_forward(layers, p))) for p in x])
    bab, miqp = exact_radius(layers, x, y, method="bab-qp"), exact_radius(layers, x, y, method="miqp")
    assert all(bab.exact) and all(miqp.exact)
    np.testing.assert_allclose(bab.upper, miqp.upper, rtol=2 * TOL)
    auto = exact_radius(layers, x, y)
    np.testing.assert_array_equal(auto.upper, bab.upper)  # deterministic, and "auto" is bab-qp here


# ----------------------------------------------------------------------------------------------------------------
# Sandwich with the attack and the certificate (hypothesis over seeds, shapes from SHAPES)
# ----------------------------------------------------------------------------------------------------------------



def _logits(p, x):
    return C.logits(p, x)


@settings(max_examples=5)
@given(seed=hs.integers(0, 10**6), shape=hs.sampled_from(SHAPES))
def test_sandwich_attack_and_certificate(seed, shape):
    layers = _net(seed, shape)
    x = np.random.default_rng(seed).standard_normal((3, shape[0]))
    y = np.array([int(np.argmax(_forward(layers, p))) for p in x])
    jl = [(jnp.asarray(w), jnp.asarray(b)) for w, b in layers]
    att = min_norm(_logits, jl, jnp.asarray(x), jnp.asarray(y))
    crown = np.asarray(C.certified_radius(jl, jnp.asarray(x), jnp.asarray(y), upper=att.norm))
    res = exact_radius(layers, x, y, tol=TOL)
    _assert_sound(res, layers, x, y)
    norm = np.asarray(att.norm)
    # Where neither finds a flip, the class may be unreachable (r = inf): no finite witness can exist.
    assert all(res.exact | (np.isinf(res.upper) & np.isinf(norm))), res.status
    assert np.all(res.lower <= norm)
    assert np.all(res.upper <= norm * (1 + 2 * TOL) + 1e-9)
    assert np.all(crown <= res.lower * (1 + TOL) + 1e-9)


# ----------------------------------------------------------------------------------------------------------------
# Special cases and options
# ----------------------------------------------------------------------------------------------------------------


def test_misclassified_is_zero_and_single_sample_shapes():
    layers = _net(11, SHAPES[0])
    x = np.random.default_rng(11).standard_normal((3, 3))
    label = np.array([int(np.argmax(_forward(layers, p))) for p in x])
    res = exact_radius(layers, x, np.array([label[0], (label[1] + 1) % 3, label[2]]))
    assert res.status[1] == "misclassified"
    assert res.upper[1] == 0.0 and res.lower[1] == 0.0 and res.exact[1] and not np.any(res.witness[1])
    assert res.exact[0] and res.upper[0] > 0
    one = exact_radius(layers, x[0], int(label[0]), upper=2 * float(res.upper[0]))  # (d,) in, () out
    assert one.lower.shape == () and one.witness.shape == (3,) and bool(one.exact)
    np.testing.assert_allclose(float(one.upper), res.upper[0], rtol=2 * TOL)


def test_affine_is_exact_closed_form():
    # No hidden layer would not be a ReLU net here; one hidden layer of always-active units is affine on the ball.
    w1, b1 = np.eye(2), np.array([10.0, 10.0])
    w2, b2 = np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2)
    layers = [(w1, b1), (w2, b2)]
    x = np.array([1.0, 0.0])
    res = exact_radius(layers, x[None], np.array([0]), upper=5.0)
    np.testing.assert_allclose(res.upper[0], 1 / np.sqrt(2), rtol=2 * TOL)  # distance to the line x1 = x2
    assert res.exact[0]


def test_given_bounds_small_upper_and_lower():
    layers = _net(12, SHAPES[0])
    x = np.random.default_rng(12).standard_normal((3, 3))
    y = np.array([int(np.argmax(_forward(layers, p))) for p in x])
    ref = exact_radius(layers, x, y)
    # an upper bound below the truth: the empty ball is found out and doubled, same answer without the attack
    small = exact_radius(layers, x, y, upper=ref.upper / 3)
    np.testing.assert_allclose(small.upper, ref.upper, rtol=2 * TOL)
    assert all(small.exact)
    # a caller's lower bound enters by max, and never above the witness
    high = exact_radius(layers, x, y, lower=ref.upper * 10)
    np.testing.assert_array_equal(high.lower, high.upper)


def test_time_limit_gives_a_valid_bracket():
    layers = _net(13, SHAPES[0])
    x = np.random.default_rng(13).standard_normal((3, 3))
    y = np.array([int(np.argmax(_forward(layers, p))) for p in x])
    ref = exact_radius(layers, x, y)
    for method in ("bab-qp", "miqp"):
        res = exact_radius(layers, x, y, method=method, time_limit=1e-4)
        _assert_sound(res, layers, x, y)
        assert np.all(res.lower <= ref.upper) and np.all(ref.lower <= res.upper)
        assert all(s in ("timelimit", "optimal") for s in res.status)


@pytest.mark.parametrize(("kwargs", "err", "match"), [
    ({"layers": [(np.ones((2, 3)), np.ones(3))]}, ValueError, "layers\\[0\\]"),
    ({"layers": "net"}, TypeError, "layers"),
    ({"x": np.ones(4)}, ValueError, "x must have length 3"),
    ({"x": np.ones((2, 3), int)}, TypeError, "x must have a real floating dtype"),
    ({"y": 5}, ValueError, "y must hold class indices"),
    ({"y": np.zeros(3, int)}, ValueError, "y must have shape"),
    ({"upper": -1.0}, ValueError, "upper must be >= 0"),
    ({"lower": np.nan}, ValueError, "lower must be"),
    ({"tol": 0.0}, ValueError, "tol must be >"),
    ({"atol": -1.0}, ValueError, "atol must be >= 0"),
    ({"time_limit": 0}, ValueError, "time_limit must be >"),
    ({"time_limit": "1"}, TypeError, "time_limit must be a real number"),
    ({"feastol": 1.0}, ValueError, "feastol must be <="),
    ({"method": "bab"}, ValueError, "method must be one of"),
    ({"max_doublings": -1}, ValueError, "max_doublings must be >= 0"),
    ({"seed": 1.5}, TypeError, "seed must be an integer"),
    ({"layers": _net(0, [3, 4, 4, 2]), "method": "bab-qp"}, ValueError, "one hidden layer"),
])
def test_bad_arguments(kwargs, err, match):
    args = {"layers": _net(0, [3, 4, 2]), "x": np.ones((2, 3)), "y": np.zeros(2, int), **kwargs}
    with pytest.raises(err, match=match):
        exact_radius(args.pop("layers"), args.pop("x"), args.pop("y"), **args)


def test_bab_needs_no_scip_and_miqp_says_what_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyscipopt", None)  # `import pyscipopt` now raises ImportError
    layers = [(np.eye(2), np.array([10.0, 10.0])), (np.eye(2), np.zeros(2))]
    x, y = np.array([[1.0, 0.0]]), np.array([0])
    np.testing.assert_allclose(exact_radius(layers, x, y, upper=5.0).upper, [1 / np.sqrt(2)], rtol=2 * TOL)
    with pytest.raises(ImportError, match="pyscipopt"):
        exact_radius(layers, x, y, upper=5.0, method="miqp")
