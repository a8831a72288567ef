"""Branch and bound (certify.py method "bab", fcjax/alpha_crown.py): sound, monotone in its budget, exact in the limit.

The theorems tested: every leaf's bound is below the margin on its part of the ball (split constraints by Lagrange
multipliers, first-layer bounds tightened by the split halfspaces), so ``bab <= exact`` minimal perturbation, computed
here by brute force (every activation pattern's region, a convex QP solved by SciPy's SLSQP); children start at their
parent's radius and a larger budget repeats a smaller one's splits, so ``alpha-crown <= bab(b) <= bab(b')`` for
``b <= b'``; with a budget that splits every unstable neuron each leaf is one linear region, where the multipliers'
dual is exact, so ``bab`` reaches the exact value up to the bisection grid and the optimiser's tolerance.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _relu_nets import _apply, _net, _points
from hypothesis import given, settings
from hypothesis import strategies as hs
from scipy.optimize import minimize

from fcjax import alpha_crown as ac
from fcjax import certify as C
from fcjax.attacks import min_norm

DIMS = [2, 5, 3]  # d = 2 inputs, 5 hidden units, 3 classes: 32 activation patterns


def _exact(layers, x: np.ndarray, y: int) -> float:
    """The minimal l2 perturbation of a one-hidden-layer net by brute force: in each activation pattern's region
    ``{(2p - 1)(W_1 x' + b_1) >= 0}`` the net is affine, and reaching class ``j`` there is a convex QP."""
    (w1, b1), (w2, b2) = [(np.asarray(w), np.asarray(b)) for w, b in layers]
    best = np.inf
    for pattern in itertools.product((0.0, 1.0), repeat=b1.size):
        p = np.array(pattern)
        a, c = (2 * p - 1)[:, None] * w1, (2 * p - 1) * b1  # region: a x' + c >= 0
        g, h = w2 @ (p[:, None] * w1), w2 @ (p * b1) + b2  # logits: g x' + h
        for j in range(b2.size):
            if j == y:
                continue
            cons = [{"type": "ineq", "fun": lambda v, a=a, c=c: a @ v + c, "jac": lambda v, a=a: a},
                    {"type": "ineq", "fun": lambda v, j=j, g=g, h=h: np.array([(g[j] - g[y]) @ v + h[j] - h[y]]),
                     "jac": lambda v, j=j, g=g: (g[j] - g[y])[None, :]}]
            res = minimize(lambda v: np.sum((v - x) ** 2), x, jac=lambda v: 2 * (v - x), constraints=cons,
                           method="SLSQP", options={"ftol": 1e-14, "maxiter": 200})
            feasible = np.all(a @ res.x + c >= -1e-9) and (g[j] - g[y]) @ res.x + h[j] - h[y] >= -1e-9
            if res.success and feasible:
                best = min(best, float(np.linalg.norm(res.x - x)))
    return best


def _radii(layers, x, y, upper, **kw):
    return np.asarray(C.certified_radius(layers, x, y, upper=upper, **kw))


@pytest.fixture(scope="module")
def tiny():
    """One tiny net, 6 points, the attack's upper bounds and the exact radii."""
    layers = _net(3, DIMS, bias=0.8)
    x, y = _points(4, layers, 6)
    upper = min_norm(_apply, layers, x, y).norm
    exact = np.array([_exact(layers, np.asarray(xi), int(yi)) for xi, yi in zip(x, y, strict=True)])
    return layers, x, y, upper, exact


def test_exact_oracle_below_attack(tiny):
    _, _, _, upper, exact = tiny
    assert np.all(np.isfinite(exact))
    assert np.all(exact <= np.asarray(upper) * (1 + 1e-6))  # the attack's point is in some region


def test_nested_and_exact_in_the_limit(tiny):
    layers, x, y, upper, exact = tiny
    crown = _radii(layers, x, y, upper, method="crown", steps=24)
    alpha = _radii(layers, x, y, upper, method="alpha-crown", steps=24, alpha_steps=40)
    bab = _radii(layers, x, y, upper, method="bab", steps=24, alpha_steps=40, branches=64)
    assert np.all(crown <= alpha) and np.all(alpha <= bab)
    assert np.all(bab <= exact * (1 + 1e-7))
    np.testing.assert_allclose(bab, exact, rtol=1e-6)  # measured: within 5e-8 (bisection grid, Adam's tolerance)
    assert np.any(bab > alpha * 1.01) and np.any(alpha > crown * 1.01)


def test_monotone_in_the_budget(tiny):
    layers, x, y, upper, _ = tiny
    runs = [_radii(layers, x, y, upper, method="alpha-crown")]
    runs += [_radii(layers, x, y, upper, method="bab", branches=b) for b in (3, 10)]
    assert np.all(runs[1] >= runs[0]) and np.all(runs[2] >= runs[1])
    assert np.any(runs[2] > runs[0])


@settings(max_examples=6)
@given(seed=hs.integers(0, 10**6))
def test_property_sound_nested_and_monotone(seed):
    layers = _net(seed, DIMS, bias=0.8)
    x, y = _points(seed + 1, layers, 6)
    exact = np.array([_exact(layers, np.asarray(xi), int(yi)) for xi, yi in zip(x, y, strict=True)])
    top = jnp.asarray(np.where(np.isfinite(exact), 1.5 * exact, np.inf))
    alpha = _radii(layers, x, y, top, method="alpha-crown")
    small = _radii(layers, x, y, top, method="bab", branches=3)
    bab = _radii(layers, x, y, top, method="bab", branches=10)
    assert np.all(small >= alpha) and np.all(bab >= small)
    finite = np.isfinite(exact)
    assert np.all(bab[finite] <= exact[finite] * (1 + 1e-7))


@pytest.mark.slow
def test_depth_two_and_no_upper():
    layers = _net(2, [3, 5, 5, 3])
    x, y = _points(2, layers, 6)
    upper = np.asarray(min_norm(_apply, layers, x, y).norm)
    alpha = _radii(layers, x, y, None, method="alpha-crown")
    bab = _radii(layers, x, y, None, method="bab", branches=10)  # brackets found by doubling
    bab_up = _radii(layers, x, y, jnp.asarray(upper), method="bab", branches=10)
    assert np.all(bab >= alpha) and np.all(bab_up >= _radii(layers, x, y, jnp.asarray(upper), method="alpha-crown"))
    found = np.isfinite(upper)
    assert found.sum() >= 4
    assert np.all(bab[found] <= upper[found] * (1 + 1e-9)) and np.all(bab_up[found] <= upper[found] * (1 + 1e-9))
    assert np.any(bab_up > 1.01 * _radii(layers, x, y, jnp.asarray(upper), method="crown"))


def _min_linear(v, b, x, r, cuts):
    """``min v . x' + b`` over ``||x' - x|| <= r`` and ``a . x' + c >= 0`` for each ``(a, c)`` in ``cuts`` (SLSQP)."""
    cons = [{"type": "ineq", "fun": lambda p: r * r - np.sum((p - x) ** 2), "jac": lambda p: -2 * (p - x)}]
    cons += [{"type": "ineq", "fun": lambda p, a=a, c=c: np.array([a @ p + c]), "jac": lambda p, a=a: a[None, :]}
             for a, c in cuts]
    res = minimize(lambda p: v @ p + b, x, jac=lambda p: v, constraints=cons, method="SLSQP",
                   options={"ftol": 1e-15, "maxiter": 500})
    return res.fun if res.success else np.nan


@pytest.mark.parametrize("seed", range(4))
def test_halfspace_tightening_matches_the_exact_minimum(seed):
    rng = np.random.default_rng(seed)
    w, b, x = rng.standard_normal((6, 3)), rng.standard_normal(6), rng.standard_normal(3)
    r = 1.2
    split = np.zeros(6)
    split[[1, 4]] = rng.choice([-1.0, 1.0], 2)
    net = ac.make_net([(jnp.asarray(w), jnp.asarray(b))], jnp.asarray(x), lambda _: None, branches=8)
    tighten = jax.jit(lambda z1, gram, *args: ac.tighten_first(net._replace(z1=z1, gram=gram), *args))
    z, rad = w @ x + b, r * np.linalg.norm(w, axis=1)
    for used in ([1], [1, 4]):
        s = np.where(np.isin(np.arange(6), used), split, 0.0)
        lo, up = (np.asarray(v) for v in tighten(net.z1, net.gram, jnp.asarray(z - rad), jnp.asarray(z + rad),
                                                 jnp.asarray(s), jnp.asarray(r)))
        cuts = [(s[m] * w[m], s[m] * b[m]) for m in used]
        true_lo = np.array([_min_linear(w[i], b[i], x, r, cuts) for i in range(6)])
        true_up = -np.array([_min_linear(-w[i], -b[i], x, r, cuts) for i in range(6)])
        ok = np.isfinite(true_lo) & np.isfinite(true_up)  # the cut ball is not empty
        assert np.all(lo[ok] <= true_lo[ok] + 1e-9) and np.all(up[ok] >= true_up[ok] - 1e-9)
        assert np.all(lo >= z - rad) and np.all(up <= z + rad)
        if len(used) == 1:  # one halfspace: the closed form is the exact minimum
            np.testing.assert_allclose(lo[ok], true_lo[ok], atol=1e-7)
            np.testing.assert_allclose(up[ok], true_up[ok], atol=1e-7)


@pytest.mark.slow
def test_lax_map_over_networks(tiny):
    layers, x, y, upper, _ = tiny
    other = _net(5, DIMS, bias=0.8)
    stacked = [tuple(jnp.stack(pair) for pair in zip(a, b, strict=True)) for a, b in zip(layers, other, strict=True)]
    y2 = jnp.stack([y, jnp.argmax(C.logits(other, x), axis=1)])
    top = jnp.stack([upper, jnp.full(6, 3.0)])
    out = jax.jit(lambda ls, ys, tops: jax.lax.map(
        lambda a: C.certified_radius(a[0], x, a[1], method="bab", upper=a[2], branches=10), (ls, ys, tops)))(
        stacked, y2, top)
    for n, net in enumerate((layers, other)):
        one = _radii(net, x, y2[n], top[n], method="bab", branches=10)
        np.testing.assert_allclose(np.asarray(out[n]), one, rtol=1e-4)  # one bisection step of another program
