"""certify.py: certified lower bounds on the minimal l2 perturbation, sandwiched by sampling, attacks and exact cases.

The theorems tested: every margin lower bound is below the margin at every point of the ball (soundness, against
points sampled in the ball and pushed downhill by projected gradient steps); every certified radius is below the
length of a verified adversarial perturbation; on an affine map all methods are exact, and so is CROWN on a
one-hidden-layer net whose neurons stay active on the ball; CROWN's hidden-layer intervals lie inside IBP's.
Not asserted, because it is not a theorem: any ordering of the Lipschitz, IBP and CROWN radii at the output.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from fcjax import certify as C
from fcjax.linear import affine_min_perturbation
from fcjax.models import CNN, relu_mlp

METHODS = ("crown", "ibp", "lipschitz")
EPS64 = float(np.finfo(np.float64).eps)


def _net(seed: int, dims: list[int], bias: float = 0.5) -> list[tuple[jax.Array, jax.Array]]:
    """A random ReLU net with He-scaled weights: layers ``(W, b)``, ``W`` of shape ``(out, in)``, float64."""
    rng = np.random.default_rng(seed)
    return [(jnp.asarray(rng.standard_normal((o, i)) * np.sqrt(2.0 / i)), jnp.asarray(bias * rng.standard_normal(o)))
            for i, o in itertools.pairwise(dims)]


def _np_layers(layers):
    return [(np.asarray(w), np.asarray(b)) for w, b in layers]


def _forward(layers, pts: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """NumPy logits of points ``(m, d)`` and the hidden pre-activations."""
    h, pre = pts, []
    for n, (w, b) in enumerate(layers):
        z = h @ w.T + b
        if n < len(layers) - 1:
            pre.append(z)
            h = np.maximum(z, 0.0)
        else:
            h = z
    return h, pre


def _jacobian(layers, p: np.ndarray) -> np.ndarray:
    """The ``(k, d)`` Jacobian of the logits at ``p`` (the active linear piece)."""
    jac, h = np.eye(p.size), p
    for n, (w, b) in enumerate(layers):
        z = w @ h + b
        jac = w @ jac
        if n < len(layers) - 1:
            jac = jac * (z > 0)[:, None]
            h = np.maximum(z, 0.0)
    return jac


def _margins(layers, pts, y):
    f, _ = _forward(layers, pts)
    return f[:, [y]] - f  # (m, k): f_y - f_j, zero at j = y


# ----------------------------------------------------------------------------------------------------------------
# Networks from Flax models
# ----------------------------------------------------------------------------------------------------------------


def test_mlp_layers_reproduce_apply():
    model = relu_mlp(3, 7, 4)
    params = model.init(jax.random.key(1), jnp.zeros((1, 5)))
    x = jax.random.normal(jax.random.key(2), (9, 5), jnp.float64)
    p64 = jax.tree.map(lambda a: a.astype(jnp.float64), params)
    ref = np.asarray(model.apply(p64, x))
    layers = C.mlp_layers(params, dtype=jnp.float64)
    assert [w.shape for w, _ in layers] == [(7, 5), (7, 7), (7, 7), (4, 7)]
    assert all(w.dtype == jnp.float64 and b.dtype == jnp.float64 for w, b in layers)
    np.testing.assert_allclose(np.asarray(C.logits(layers, x)), ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(_forward(_np_layers(layers), np.asarray(x))[0], ref, rtol=0, atol=1e-12)
    assert C.mlp_layers(params)[0][0].dtype == jnp.float32  # no dtype: the parameters' own


@pytest.mark.parametrize(("image_shape", "features", "kernel", "stride"),
                         [((6, 6, 2), (3, 4), 3, 2), ((7, 5, 1), (2,), 2, 1)])
def test_cnn_layers_reproduce_apply(image_shape, features, kernel, stride):
    model = CNN(image_shape=image_shape, classes=3, features=features, kernel=kernel, stride=stride, hidden=6)
    d = int(np.prod(image_shape))
    params = model.init(jax.random.key(3), jnp.zeros((1, d)))
    p64 = jax.tree.map(lambda a: a.astype(jnp.float64), params)
    x = jax.random.normal(jax.random.key(4), (5, d), jnp.float64)
    layers = C.cnn_layers(model, params, dtype=jnp.float64)
    assert layers[0][0].shape[1] == d and layers[-1][0].shape[0] == 3
    ref = np.asarray(model.apply(p64, x))
    np.testing.assert_allclose(np.asarray(C.logits(layers, x)), ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(_forward(_np_layers(layers), np.asarray(x))[0], ref, rtol=0, atol=1e-10)
    # The conv matrix holds the kernel entries exactly: its nonzeros are a multiset drawn from the kernel.
    kern = np.asarray(p64["params"]["conv_0"]["kernel"]).ravel()
    nz = np.asarray(layers[0][0])[np.asarray(layers[0][0]) != 0]
    assert np.all(np.isin(nz, kern))


# ----------------------------------------------------------------------------------------------------------------
# Oracles: independent NumPy loops for IBP and for one-hidden-layer CROWN; exact affine cases
# ----------------------------------------------------------------------------------------------------------------


def _ibp_oracle(layers, x, y, r):
    """IBP with an exact first layer and last-layer elision, written with explicit lower/upper arithmetic."""
    (w1, b1), rest = layers[0], layers[1:]
    k = layers[-1][0].shape[0]
    if not rest:
        return np.array([np.inf if j == y else (w1[y] - w1[j]) @ x + b1[y] - b1[j] - r * np.linalg.norm(w1[y] - w1[j])
                         for j in range(k)])
    lo = w1 @ x + b1 - r * np.linalg.norm(w1, axis=1)
    up = w1 @ x + b1 + r * np.linalg.norm(w1, axis=1)
    for w, b in rest[:-1]:
        hl, hu = np.maximum(lo, 0), np.maximum(up, 0)
        lo = np.maximum(w, 0) @ hl + np.minimum(w, 0) @ hu + b
        up = np.maximum(w, 0) @ hu + np.minimum(w, 0) @ hl + b
    hl, hu = np.maximum(lo, 0), np.maximum(up, 0)
    wl, bl = layers[-1]
    out = []
    for j in range(k):
        a = wl[y] - wl[j]
        out.append(np.inf if j == y else np.maximum(a, 0) @ hl + np.minimum(a, 0) @ hu + bl[y] - bl[j])
    return np.array(out)


def _crown1_oracle(layers, x, y, r):
    """CROWN on one hidden layer, neuron by neuron: relax each ReLU by the sign of its coefficient."""
    (w1, b1), (w2, b2) = layers
    z = w1 @ x + b1
    lo, up = z - r * np.linalg.norm(w1, axis=1), z + r * np.linalg.norm(w1, axis=1)
    out = []
    for j in range(w2.shape[0]):
        if j == y:
            out.append(np.inf)
            continue
        lam = w2[y] - w2[j]
        coef, const = np.zeros(x.size), b2[y] - b2[j]
        for i in range(w1.shape[0]):
            if lo[i] >= 0:  # active: relu(z) = z
                slope, icpt = 1.0, 0.0
            elif up[i] <= 0:  # inactive
                slope, icpt = 0.0, 0.0
            elif lam[i] >= 0:  # lower line through the origin, slope 1 iff u > -l
                slope, icpt = float(up[i] > -lo[i]), 0.0
            else:  # chord from (l, 0) to (u, u)
                slope = up[i] / (up[i] - lo[i])
                icpt = -slope * lo[i]
            coef += lam[i] * slope * w1[i]
            const += lam[i] * (slope * b1[i] + icpt)
        out.append(coef @ x + const - r * np.linalg.norm(coef))
    return np.array(out)


@pytest.mark.parametrize("seed", range(4))
def test_ibp_and_crown_match_numpy_oracles(seed):
    rng = np.random.default_rng(seed)
    d, k = 4, 3
    for dims in ([d, 6, k], [d, 5, 7, k], [d, k]):
        layers = _net(seed, dims)
        x = rng.standard_normal(d)
        nl = _np_layers(layers)
        for r in (0.0, 0.05, 0.4, 2.0):
            y = int(rng.integers(k))
            got = np.asarray(C.margin_lower_bounds(layers, jnp.asarray(x), y, r, method="ibp"))
            np.testing.assert_allclose(got, _ibp_oracle(nl, x, y, r), rtol=1e-12, atol=1e-12)
            if len(dims) == 3:
                got = np.asarray(C.margin_lower_bounds(layers, jnp.asarray(x), y, r, method="crown"))
                np.testing.assert_allclose(got, _crown1_oracle(nl, x, y, r), rtol=1e-12, atol=1e-12)


_affine_distance = jax.jit(jax.vmap(lambda w, b, x: affine_min_perturbation(w, b, x).distance, in_axes=(None, None, 0)))


@pytest.mark.parametrize(("seed", "d", "k"), [(0, 2, 2), (2, 8, 5), (3, 3, 4)])
def test_single_affine_layer_is_exact(seed, d, k):
    (w, b), = _net(seed, [d, k])
    rng = np.random.default_rng(seed + 10)
    xs = jnp.asarray(rng.standard_normal((6, d)))
    y = jnp.argmax(C.logits([(w, b)], xs), axis=1)
    exact = np.asarray(_affine_distance(w, b, xs))
    steps = 24
    for method in METHODS:
        # No upper bound: the bracket comes from doubling the (here exact) Lipschitz radius, so hi <= 2 exact.
        got = np.asarray(C.certified_radius([(w, b)], xs, y, method=method, steps=steps))
        assert np.all(got <= exact * (1 + 1e-12) + 1e-15), method
        assert np.all(got >= exact - 2 * exact * 2.0**-steps - 1e-15), method
        # With an attack's upper bound the bracket is [0, upper].
        upper = 1.7 * exact
        got = np.asarray(C.certified_radius([(w, b)], xs, y, method=method, upper=jnp.asarray(upper), steps=steps))
        assert np.all(got <= exact * (1 + 1e-12) + 1e-15), method
        assert np.all(got >= exact - upper * 2.0**-steps - 1e-15), method
    np.testing.assert_allclose(np.asarray(C.lipschitz_radius([(w, b)], xs, y)), exact, rtol=1e-12)
    # The margin bounds are the exact minima over the ball: f_y - f_j at x - r (w_y - w_j) / ||w_y - w_j||.
    r = 0.3
    for method in METHODS:
        lb = np.asarray(C.margin_lower_bounds([(w, b)], xs, y, r, method=method))
        for i in range(len(xs)):
            yi = int(y[i])
            for j in range(k):
                if j == yi:
                    assert lb[i, j] == np.inf
                    continue
                g = np.asarray(w[yi] - w[j])
                p = np.asarray(xs[i]) - r * g / np.linalg.norm(g)
                assert lb[i, j] == pytest.approx(_margins([(np.asarray(w), np.asarray(b))], p[None], yi)[0, j],
                                                 abs=1e-12)


def test_crown_is_exact_when_all_neurons_stay_active():
    d, h, k = 5, 9, 4
    rng = np.random.default_rng(7)
    w1 = rng.standard_normal((h, d)) / np.sqrt(d)
    b1 = 30.0 + rng.random(h)  # big positive biases: every neuron is active far beyond the decision boundary
    w2 = rng.standard_normal((k, h)) / np.sqrt(h)
    b2 = rng.standard_normal(k)
    layers = [(jnp.asarray(w1), jnp.asarray(b1)), (jnp.asarray(w2), jnp.asarray(b2))]
    xs = rng.standard_normal((8, d))
    a, c = w2 @ w1, w2 @ b1 + b2  # the affine map the net is while every neuron is active
    y = np.argmax(xs @ a.T + c, axis=1)
    exact = np.asarray(_affine_distance(jnp.asarray(a), jnp.asarray(c), jnp.asarray(xs)))
    # Precondition: the ball of twice the exact radius stays inside the all-active region.
    pre = xs @ w1.T + b1 - 2 * exact[:, None] * np.linalg.norm(w1, axis=1)[None, :]
    assert np.all(pre > 0)
    steps = 24
    xj, yj, upper = jnp.asarray(xs), jnp.asarray(y), jnp.asarray(2 * exact)
    got = np.asarray(C.certified_radius(layers, xj, yj, method="crown", upper=upper, steps=steps))
    assert np.all(got <= exact * (1 + 1e-12))
    assert np.all(got >= exact - 2 * exact * 2.0**-steps - 1e-14)
    # IBP loses the correlation between hidden units (not exact here), but stays below.
    ibp = np.asarray(C.certified_radius(layers, xj, yj, method="ibp", upper=upper))
    assert np.all(ibp <= exact * (1 + 1e-12))


def test_lipschitz_radius_is_exact_when_the_product_bound_is_attained():
    # W_1 = u v^T and w_0 - w_1 = 2u, all neurons active: f_0 - f_1 = 2||u||^2 (v.x) + const has gradient norm
    # ||w_0 - w_1|| ||W_1||_2 = 2 ||u||^2 ||v||, so the Lipschitz radius is the exact minimal perturbation.
    rng = np.random.default_rng(8)
    d, h = 4, 6
    u, v = rng.random(h) + 0.1, rng.standard_normal(d)
    w1, b1 = np.outer(u, v), 40.0 + rng.random(h)
    w2, b2 = np.stack([u, -u]), np.array([0.25 - u @ b1, u @ b1 - 0.25])  # cancel the biases' large offset
    layers = [(jnp.asarray(w1), jnp.asarray(b1)), (jnp.asarray(w2), jnp.asarray(b2))]
    xs = rng.standard_normal((5, d))
    margin = 2 * (u @ u) * (xs @ v) + 0.5  # f_0 - f_1
    y = np.where(margin > 0, 0, 1)
    exact = np.abs(margin) / (2 * (u @ u) * np.linalg.norm(v))
    assert np.all(xs @ w1.T + b1 - 2 * exact[:, None] * np.linalg.norm(w1, axis=1) > 0)  # all active on the ball
    lip = np.asarray(C.lipschitz_radius(layers, jnp.asarray(xs), jnp.asarray(y)))
    np.testing.assert_allclose(lip, exact, rtol=1e-12)
    assert np.all(lip <= exact * (1 + 1e-12))


# ----------------------------------------------------------------------------------------------------------------
# Soundness against sampling (hypothesis)
# ----------------------------------------------------------------------------------------------------------------


def _ball_points(layers, x, y, r, rng, n_random=100, pgd_steps=20):
    """Points of B(x, r): uniform inside, on the sphere, along each margin's descent direction, and PGD iterates
    that minimise each margin (the points most likely to expose an unsound bound)."""
    d = x.size
    u = rng.standard_normal((2 * n_random, d))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    inside = u[:n_random] * (r * rng.random(n_random) ** (1 / d))[:, None]
    pts = [x[None], x + inside, x + r * u[n_random:]]
    jac = _jacobian(layers, x)
    for j in range(jac.shape[0]):
        if j == y:
            continue
        g = jac[y] - jac[j]
        p = x - r * g / max(np.linalg.norm(g), 1e-300)
        pts.append(p[None])
        # Projected normalised-gradient descent on f_y - f_j inside the ball, with a shrinking step.
        for t in range(pgd_steps):
            gj = _jacobian(layers, p)
            g = gj[y] - gj[j]
            p = p - (r / (1 + t)) * g / max(np.linalg.norm(g), 1e-300)
            off = p - x
            p = x + off * min(1.0, r / max(np.linalg.norm(off), 1e-300))
            pts.append(p[None])
    return np.concatenate(pts)


@jax.jit
def _all_bounds(layers, xs, ys, rs):
    # One compilation per example (each example has new shapes): every method in one program.
    lbs = [C.margin_lower_bounds(layers, xs, ys, rs, method=m) for m in METHODS]
    pre = [C.preactivation_bounds(layers, xs, rs, method=m) for m in ("crown", "ibp")] if len(layers) > 1 else []
    return lbs, pre


RADII = np.array([1e-3, 3e-2, 0.2, 0.7, 2.0, 6.0])


# Each example compiles a new program (about a second on a busy CPU), so this test runs a third of the profile's
# examples; each example checks six (label, radius) pairs and three methods.
@settings(max_examples=max(6, settings.default.max_examples // 3))
@given(seed=hs.integers(0, 2**32 - 1), d=hs.integers(2, 8), widths=hs.lists(hs.integers(2, 16), min_size=0, max_size=3),
       k=hs.integers(2, 5), bias=hs.sampled_from([0.0, 0.5, 2.0]))
def test_bounds_are_sound_against_sampling(seed, d, widths, k, bias):
    layers = _net(seed, [d, *widths, k], bias)
    nl = _np_layers(layers)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(d)
    ys = np.arange(len(RADII)) % k  # every label, the wrong ones too: the bounds must hold for negative margins
    lbs, pre_bounds = _all_bounds(layers, jnp.asarray(np.tile(x, (len(RADII), 1))), jnp.asarray(ys), jnp.asarray(RADII))
    lbs = [np.asarray(lb) for lb in lbs]
    for row, (y, r) in enumerate(zip(ys, RADII, strict=True)):
        pts = _ball_points(nl, x, int(y), r, rng)
        assert np.all(np.linalg.norm(pts - x, axis=1) <= r * (1 + 1e-12))
        f, pre = _forward(nl, pts)
        true_min = (f[:, [y]] - f).min(axis=0)
        tol = 1e-10 * (1 + np.abs(f).max())
        mask = np.arange(k) != y
        for method, lb in zip(METHODS, lbs, strict=True):
            assert lb[row, y] == np.inf
            assert np.all(lb[row, mask] <= true_min[mask] + tol), (method, r, lb[row], true_min)
        if not widths:
            continue
        crown, ibp = pre_bounds
        assert len(crown) == len(ibp) == len(widths)
        for z, (cl, cu), (il, iu) in zip(pre, crown, ibp, strict=True):
            cl, cu, il, iu = (np.asarray(a)[row] for a in (cl, cu, il, iu))
            assert np.all(cl <= z.min(axis=0) + tol) and np.all(z.max(axis=0) <= cu + tol)
            assert np.all(il <= z.min(axis=0) + tol) and np.all(z.max(axis=0) <= iu + tol)
            # CROWN's box is intersected with the box propagated from its own (tighter) previous layer, and
            # interval propagation is monotone in its input box: CROWN's interval lies inside IBP's.
            assert np.all(il <= cl + tol) and np.all(cu <= iu + tol)
        # The first hidden layer is exact for the l2 ball in both methods.
        w1, b1 = nl[0]
        np.testing.assert_allclose(np.asarray(crown[0][0])[row], w1 @ x + b1 - r * np.linalg.norm(w1, axis=1),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(np.asarray(ibp[0][1])[row], w1 @ x + b1 + r * np.linalg.norm(w1, axis=1),
                                   rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------------------------------------------
# The sandwich: certified radius <= verified attack distance
# ----------------------------------------------------------------------------------------------------------------


def _first_crossing(layers, x, y, dirs, t_max, iters=50):
    """For each unit direction, the smallest grid t in (0, t_max] with argmax f(x + t u) != y, refined by bisection
    to the crossing; every returned t is verified misclassified (inf where the ray's grid never leaves y)."""
    ts = np.linspace(0.0, t_max, 65)[1:]
    pts = x + ts[None, :, None] * dirs[:, None, :]
    lab = np.argmax(_forward(layers, pts.reshape(-1, x.size))[0], axis=1).reshape(len(dirs), len(ts))
    bad = lab != y
    found = bad.any(axis=1)
    first = np.argmax(bad, axis=1)
    hi = np.where(found, ts[first], np.inf)
    lo = np.where(first > 0, ts[np.maximum(first - 1, 0)], 0.0)
    for _ in range(iters):
        mid = np.where(found, 0.5 * (lo + hi), 0.0)
        changed = np.argmax(_forward(layers, x + mid[:, None] * dirs)[0], axis=1) != y
        hi = np.where(found & changed, mid, hi)
        lo = np.where(found & ~changed, mid, lo)
    return hi


def _attack(layers, x, y, rng, n_dirs=300):
    """A verified upper bound on the minimal perturbation: DeepFool toward each class (re-linearised at every
    step) with a line search along what it found, then random directions up to the best length so far."""
    best = np.inf
    k = layers[-1][0].shape[0]
    for target in [None, *[j for j in range(k) if j != y]]:
        p = x.copy()
        for _ in range(60):
            f = _forward(layers, p[None])[0][0]
            if np.argmax(f) != y:
                break
            jac = _jacobian(layers, p)
            steps = []
            for j in [target] if target is not None else [j for j in range(k) if j != y]:
                g = jac[y] - jac[j]
                gn = np.linalg.norm(g)
                if gn > 0:
                    steps.append(((f[y] - f[j]) / gn, (f[y] - f[j]) / gn**2 * g))
            if not steps:
                break  # flat piece: DeepFool cannot move
            p = p - 1.02 * min(steps, key=lambda s: s[0])[1]  # overshoot: DeepFool lands on the linearised boundary
        if np.argmax(_forward(layers, p[None])[0][0]) != y:
            t = np.linalg.norm(p - x)
            best = min(best, _first_crossing(layers, x, y, ((p - x) / t)[None], t)[0])
    u = rng.standard_normal((n_dirs, x.size))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    t_max = best if np.isfinite(best) else 100.0 * (1 + np.linalg.norm(x))
    return min(best, _first_crossing(layers, x, y, u, t_max).min())


@pytest.mark.parametrize(("seed", "dims"), [(0, [3, 8, 3]), (1, [4, 6, 5, 3]), (3, [6, 10, 10, 10, 5])])
def test_certified_radius_below_attack(seed, dims):
    layers = _net(seed, dims, 0.3)
    nl = _np_layers(layers)
    rng = np.random.default_rng(100 + seed)
    xs = rng.standard_normal((6, dims[0]))
    y = np.argmax(_forward(nl, xs)[0], axis=1)
    attack = np.array([_attack(nl, xi, int(yi), rng) for xi, yi in zip(xs, y, strict=True)])
    assert np.all(np.isfinite(attack))
    xj, yj = jnp.asarray(xs), jnp.asarray(y)
    radii = {m: np.asarray(C.certified_radius(layers, xj, yj, method=m)) for m in METHODS}
    for m, got in radii.items():
        assert np.all(got > 0), m  # correctly classified with margin: some radius is certified
        assert np.all(got <= attack * (1 + 1e-9)), (m, got, attack)
        if m != "lipschitz":
            # The returned radius was certified, not a midpoint: the bounds at it are all positive.
            lb = np.asarray(C.margin_lower_bounds(layers, xj, yj, jnp.asarray(got), m))
            assert np.all(lb > 0), m
    # With the attack as the bracket's upper end the result is still certified and below the attack.
    for m in ("crown", "ibp"):
        got = np.asarray(C.certified_radius(layers, xj, yj, method=m, upper=jnp.asarray(attack)))
        assert np.all(got <= attack)
        lb = np.asarray(C.margin_lower_bounds(layers, xj, yj, jnp.asarray(got), m))
        assert np.all(lb > 0), m
        if m == "ibp":
            # IBP's bounds shrink monotonically as r grows, so its certified set is an interval [0, sup): both
            # brackets ([0, attack], and the doubling one, inside [0, max(2 sup, r_lip)]) resolve the same sup.
            tol = (2 * attack + radii["lipschitz"]) * 2.0**-20
            assert np.all(np.abs(got - radii["ibp"]) <= tol)
    # Misclassified points: nothing to certify.
    wrong = jnp.asarray((y + 1) % dims[-1])
    for m in METHODS:
        np.testing.assert_array_equal(np.asarray(C.certified_radius(layers, jnp.asarray(xs), wrong, method=m)), 0.0)
    np.testing.assert_array_equal(np.asarray(C.lipschitz_radius(layers, jnp.asarray(xs), wrong)), 0.0)


# ----------------------------------------------------------------------------------------------------------------
# Transformations: vmap over networks, jit, no jit
# ----------------------------------------------------------------------------------------------------------------


@jax.jit
def _per_network(stacked, xs, ys):
    # One program for everything vmapped over the network axis (each compilation costs about a second here).
    out = {}
    for m in METHODS:
        out[m] = (jax.vmap(lambda layers, y, m=m: C.certified_radius(layers, xs, y, method=m))(stacked, ys),
                  jax.vmap(lambda layers, y, m=m: C.margin_lower_bounds(layers, xs, y, 0.2, m))(stacked, ys))
    out["lipschitz_radius"] = jax.vmap(lambda layers, y: C.lipschitz_radius(layers, xs, y))(stacked, ys)
    return out


def test_vmap_over_networks_equals_loop():
    nets = [_net(s, [4, 6, 5, 3]) for s in range(3)]  # the shapes of a sandwich test: the loop reuses its programs
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *nets)
    xs = jax.random.normal(jax.random.key(6), (6, 4), jnp.float64)
    ys = jnp.stack([jnp.argmax(C.logits(net, xs), axis=1) for net in nets])  # traced labels, one row per network
    got = _per_network(stacked, xs, ys)
    for method in METHODS:
        ref = np.stack([np.asarray(C.certified_radius(net, xs, y, method=method))
                        for net, y in zip(nets, ys, strict=True)])
        assert np.all(ref > 0)
        np.testing.assert_allclose(np.asarray(got[method][0]), ref, rtol=1e-12, atol=0)
        ref = np.stack([np.asarray(C.margin_lower_bounds(net, xs, y, 0.2, method))
                        for net, y in zip(nets, ys, strict=True)])
        np.testing.assert_allclose(np.asarray(got[method][1]), ref, rtol=1e-12, atol=1e-14)
    ref = np.stack([np.asarray(C.lipschitz_radius(net, xs, y)) for net, y in zip(nets, ys, strict=True)])
    np.testing.assert_allclose(np.asarray(got["lipschitz_radius"]), ref, rtol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_jit_and_no_jit_agree(method):
    layers = _net(11, [4, 6, 5, 3])
    xs = jax.random.normal(jax.random.key(7), (6, 4), jnp.float64)
    y = jnp.argmax(C.logits(layers, xs), axis=1)
    upper = 3 * C.lipschitz_radius(layers, xs, y)  # with and without a bracket: both loops run
    for kw in ({}, {"upper": upper}):
        plain = np.asarray(C.certified_radius(layers, xs, y, method=method, **kw))
        jitted = np.asarray(jax.jit(C.certified_radius, static_argnames=("method", "steps"))(layers, xs, y,
                                                                                              method=method, **kw))
        with jax.disable_jit():  # every loop a Python loop, every op dispatched on its own
            eager = np.asarray(C.certified_radius(layers, xs, y, method=method, **kw))
        np.testing.assert_allclose(jitted, plain, rtol=1e-12)
        np.testing.assert_allclose(eager, plain, rtol=1e-12)
    # One sample, unbatched: a scalar, the same as the batched entry.
    one = C.certified_radius(layers, xs[0], int(y[0]), method=method, upper=upper[0])
    assert one.shape == ()
    assert float(one) == pytest.approx(plain[0], rel=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_blocks_of_samples_give_the_same_radii(method):
    # 7 samples in blocks of 3: two full blocks and a remainder, each block its own bisection loops.
    layers = _net(13, [5, 8, 6, 4])
    xs = jax.random.normal(jax.random.key(8), (7, 5), jnp.float64)
    y = jnp.argmax(C.logits(layers, xs), axis=1)
    upper = jnp.where(jnp.arange(7) % 2 == 0, jnp.inf, 2 * C.lipschitz_radius(layers, xs, y))  # both brackets
    whole = np.asarray(C.certified_radius(layers, xs, y, method=method, upper=upper))
    # A block is a program of another width: where a bound is tight at a midpoint, rounding may decide one of the
    # 20 bisection steps the other way (seen: 2^-20 relative on a one-layer net), so one step of the bracket is allowed.
    bracket = np.where(np.isfinite(upper), upper, 2 * whole)
    for size in (1, 3, 7, 100):
        blocks = np.asarray(C.certified_radius(layers, xs, y, method=method, upper=upper, batch_size=size))
        np.testing.assert_array_less(np.abs(blocks - whole), 1.01 * 2.0**-20 * bracket + 1e-15,
                                     err_msg=f"batch_size={size}")
    assert np.all(whole > 0)


def test_crown_sample_bytes_counts_the_widest_pass():
    w = lambda o, i: (jnp.zeros((o, i)), jnp.zeros(o))
    # One hidden layer: the margins' pass carries (classes x width) then (classes x d): the widest is 10 x 64.
    assert C.crown_sample_bytes([w(64, 32), w(10, 64)]) == 4 * 8 * 10 * 64
    # Two hidden layers: the second layer's bounds carry (2 * 128) x 64 rows before the margins' 10 x 128.
    assert C.crown_sample_bytes([w(64, 32), w(128, 64), w(10, 128)], itemsize=4) == 4 * 4 * 256 * 64
    # Stacked over networks (a leading axis): shapes only.
    stacked = [(jnp.zeros((3, 64, 32)), jnp.zeros((3, 64))), (jnp.zeros((3, 10, 64)), jnp.zeros((3, 10)))]
    assert C.crown_sample_bytes(stacked) == C.crown_sample_bytes([w(64, 32), w(10, 64)])


def test_float32_layers_give_float32():
    layers = [(w.astype(jnp.float32), b.astype(jnp.float32)) for w, b in _net(12, [3, 4, 2])]
    x = jnp.ones(3, jnp.float32)
    lb = C.margin_lower_bounds(layers, x, 0, 0.1)
    assert lb.dtype == jnp.float32


# ----------------------------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------------------------


def _bad_cases():
    good = _net(0, [3, 4, 2])
    x = jnp.zeros(3)
    w1, b1 = good[0]
    w2, b2 = good[1]
    return [
        ("layers", lambda: C.certified_radius([], x, 0)),
        ("layers\\[0\\]", lambda: C.certified_radius([w1, (w2, b2)], x, 0)),
        ("layers\\[1\\]", lambda: C.certified_radius([(w1, b1), (w2[:, :3], b2)], x, 0)),
        ("layers\\[0\\]", lambda: C.certified_radius([(w1, b1[:2]), (w2, b2)], x, 0)),
        ("layers\\[1\\]\\[0\\]", lambda: C.certified_radius([(w1, b1), (w2[0], b2)], x, 0)),
        ("layers", lambda: C.certified_radius([(w1, b1), (w2[:1], b2[:1])], x, 0)),
        ("x", lambda: C.certified_radius(good, jnp.zeros(4), 0)),
        ("x", lambda: C.certified_radius(good, jnp.zeros((2, 2, 3)), 0)),
        ("x", lambda: C.certified_radius(good, jnp.zeros(3, jnp.int32), 0)),
        ("x", lambda: C.margin_lower_bounds(good, jnp.array([0.0, jnp.nan, 0.0]), 0, 0.1)),
        ("y", lambda: C.certified_radius(good, x, 0.0)),
        ("y", lambda: C.certified_radius(good, x, True)),
        ("y", lambda: C.certified_radius(good, x, jnp.zeros((), jnp.float64))),
        ("y", lambda: C.certified_radius(good, x, 2)),
        ("y", lambda: C.certified_radius(good, jnp.zeros((2, 3)), jnp.zeros(3, jnp.int32))),
        ("method", lambda: C.certified_radius(good, x, 0, method="pgd")),
        ("method", lambda: C.margin_lower_bounds(good, x, 0, 0.1, method="CROWN")),
        ("method", lambda: C.preactivation_bounds(good, x, 0.1, method="lipschitz")),
        ("radius", lambda: C.margin_lower_bounds(good, x, 0, -0.1)),
        ("radius", lambda: C.margin_lower_bounds(good, x, 0, jnp.array([0.1, 0.2]))),
        ("radius", lambda: C.margin_lower_bounds(good, x, 0, np.inf)),
        ("radius", lambda: C.margin_lower_bounds(good, x, 0, "0.1")),
        ("upper", lambda: C.certified_radius(good, x, 0, upper=-1.0)),
        ("upper", lambda: C.certified_radius(good, x, 0, upper=np.nan)),
        ("steps", lambda: C.certified_radius(good, x, 0, steps=0)),
        ("steps", lambda: C.certified_radius(good, x, 0, steps=2.5)),
        ("batch_size", lambda: C.certified_radius(good, x, 0, batch_size=0)),
        ("batch_size", lambda: C.certified_radius(good, x, 0, batch_size=1.5)),
        ("params", lambda: C.mlp_layers({"dense_0": {}})),
        ("model", lambda: C.cnn_layers(relu_mlp(1, 2, 2), {})),
        ("dtype", lambda: C.mlp_layers({"params": {"readout": {}}}, dtype=jnp.int32)),
    ]


@pytest.mark.parametrize(("name", "call"), _bad_cases())
def test_bad_input_names_the_argument(name, call):
    with pytest.raises((ValueError, TypeError), match=name):
        call()


def test_spectral_norm_bound_against_svd():
    rng = np.random.default_rng(11)
    for shape in ((5, 9), (9, 5), (40, 40), (1, 7), (64, 200)):
        w = rng.standard_normal(shape)
        exact = np.linalg.norm(w, 2)
        bound = float(C.spectral_norm_bound(jnp.asarray(w)))
        n = min(shape)
        assert exact <= bound <= exact * n ** (1 / 2**11) * (1 + 1e-12)
    # Degenerate spectrum (all singular values equal: the worst case of the trace bound) and the zero matrix.
    q, _ = np.linalg.qr(rng.standard_normal((30, 30)))
    bound = float(C.spectral_norm_bound(jnp.asarray(3 * q)))
    assert 3 <= bound <= 3 * 30 ** (1 / 2**11) * (1 + 1e-12)
    assert float(C.spectral_norm_bound(jnp.zeros((4, 3)))) == 0.0
