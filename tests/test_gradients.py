"""gradients.py: input gradients, l_p norms, dual directions, first-order damage and the two penalties.

Oracles (Simon-Gabriel et al. 2019, our notes S1-S3): NumPy norms of flattened rows; Hölder's equality case and a
direct search over unit vectors for the dual direction; per-sample ``jax.grad`` of a hand-written cross-entropy and
the closed form ``W^T (softmax - onehot)`` of an affine map for the input gradients; Taylor's theorem (a gap
linear in eps) and convexity of the cross-entropy for the first-order damage; the O(lambda^2) agreement of the
gradient penalty and the adversarial augmentation, and both penalties written out by hand on affine maps.
Shapes are fixed and tiny: XLA compilation dominates the run time.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sp
from hypothesis import given
from hypothesis import strategies as hs
from hypothesis.extra import numpy as hnp

import fcjax.gradients as G
from fcjax.models import MLP

EPS64 = float(np.finfo(np.float64).eps)
PS = [1.0, 1.5, 2.0, 3.0, math.inf]  # exponents of the norm tests
DUAL_PS = [1.0, 4 / 3, 2.0, 4.0, math.inf]  # exponents of the dual-direction tests (q = inf, 4, 2, 4/3, 1)
N, K = 5, 3  # samples, classes
SHAPE = (2, 3)  # input shape of the affine tests (multi-axis on purpose); d = 6
D = math.prod(SHAPE)


def affine(p, x):
    """``x @ W.T + b`` on inputs of any shape ``(n, ...)`` (flattened)."""
    return x.reshape(x.shape[0], -1) @ p["w"].T + p["b"][None, :]


def _affine_problem(seed: int):
    rng = np.random.default_rng(seed)
    p = {"w": jnp.asarray(rng.standard_normal((K, D))), "b": jnp.asarray(rng.standard_normal(K))}
    x = jnp.asarray(rng.standard_normal((N, *SHAPE)))
    y = jnp.asarray(rng.integers(0, K, N))
    return p, x, y


def _np_ce(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return sp.logsumexp(z, axis=1) - z[np.arange(len(y)), y]


def _np_affine_grad(p, x, y) -> np.ndarray:
    """``W^T (softmax(z) - onehot(y))`` per sample, flattened: the input gradient of CE on an affine map."""
    w, b = np.asarray(p["w"]), np.asarray(p["b"])
    z = np.asarray(x).reshape(len(y), -1) @ w.T + b
    return (sp.softmax(z, axis=1) - np.eye(K)[np.asarray(y)]) @ w


def _np_affine_loss(p, x, y) -> np.ndarray:
    z = np.asarray(x).reshape(len(y), -1) @ np.asarray(p["w"]).T + np.asarray(p["b"])
    return _np_ce(z, np.asarray(y))


# A smooth (tanh) MLP in float64: Flax keeps float32 parameters even in x64 mode, so cast them.
TANH = MLP(hidden=(10,), classes=K)
TANH_D = 6


@jax.jit
def _tanh_problem_jit(key):
    keys = jax.random.split(key, 3)
    p = jax.tree.map(lambda a: a.astype(jnp.float64), TANH.init(keys[0], jnp.zeros((1, TANH_D))))
    x = jax.random.normal(keys[1], (N + 3, TANH_D), jnp.float64)
    y = jax.random.randint(keys[2], (N + 3,), 0, K)
    return p, x, y


def _tanh_problem(seed: int):
    return _tanh_problem_jit(jax.random.key(seed))


def _flat(tree) -> np.ndarray:
    return np.concatenate([np.ravel(a) for a in jax.tree.leaves(tree)])


# ----------------------------------------------------------------------------------------------------------------
# lp_norm
# ----------------------------------------------------------------------------------------------------------------

_ENTRY = hs.one_of(hs.just(0.0), hs.floats(1e-3, 1e3), hs.floats(-1e3, -1e-3))


@given(u=hnp.arrays(np.float64, (3, 2, 4), elements=_ENTRY), p=hs.sampled_from(PS),
       k=hs.sampled_from([-700, -300, 0, 300, 660]))
def test_lp_norm_matches_numpy_on_flattened_rows_at_any_magnitude(u, p, k):
    # v = 2^k u exactly, so ||v||_p = 2^k ||u||_p exactly; at 2^660 (5e198) |v|^3 overflows and at 2^-700 (2e-211)
    # |v|^2 underflows, so only a max-scaled evaluation passes.
    v = u * 2.0**k
    ref = 2.0**k * np.linalg.norm(u.reshape(3, -1), ord=p, axis=1)
    out = np.asarray(G.lp_norm(jnp.asarray(v), p))
    assert out.shape == (3,)
    np.testing.assert_allclose(out, ref, rtol=50 * EPS64, atol=0)


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize(("dtype", "size"), [(np.float64, 1e200), (np.float64, 1e-200), (np.float32, 1e30),
                                              (np.float32, 1e-30)])
def test_lp_norm_neither_overflows_nor_underflows(p, dtype, size):
    # Rows of 6 entries of magnitude `size` (mixed signs): ||v||_p = size * 6^(1/p); the naive sum of |v|^p
    # overflows (1e200^2, float32 1e30^2) or underflows (1e-200^2, float32 1e-30^2) for every p > 1.
    signs = np.array([[1, -1, 1, 1, -1, 1], [-1, -1, 1, -1, 1, 1]], dtype)
    v = jnp.asarray(signs * dtype(size))
    out = G.lp_norm(v, p)
    assert out.dtype == dtype
    expected = size * (1.0 if math.isinf(p) else 6.0 ** (1 / p))
    np.testing.assert_allclose(np.asarray(out, np.float64), expected, rtol=20 * float(np.finfo(dtype).eps))


@pytest.mark.parametrize("p", [1.5, 2.0, 3.0])
def test_lp_norm_has_a_finite_derivative_at_zero_rows(p):
    # d||v||_p/dv = sign(v)|v|^(p-1)/||v||_p^(p-1) on live rows; a zero row (a dead-ReLU sample's input gradient)
    # must give a finite (zero) derivative, not NaN, since the gradient penalty is differentiated through it.
    v = jnp.array([[0.0, 0.0, 0.0], [0.5, -2.0, 1.0]])
    grad = np.asarray(jax.grad(lambda a: jnp.sum(G.lp_norm(a, p)))(v))
    assert np.all(np.isfinite(grad))
    np.testing.assert_array_equal(grad[0], 0.0)
    live = np.asarray(v[1])
    ref = np.sign(live) * np.abs(live) ** (p - 1) / np.linalg.norm(live, p) ** (p - 1)
    np.testing.assert_allclose(grad[1], ref, rtol=1e-13)


# ----------------------------------------------------------------------------------------------------------------
# dual_exponent, check_p, dual_direction
# ----------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("p", "q"), [(math.inf, 1.0), (1.0, math.inf), (2.0, 2.0), (3.0, 1.5), (1.5, 3.0),
                                      (4 / 3, 4.0), (np.inf, 1.0), (np.float64(4.0), 4 / 3), (2, 2.0)])
def test_dual_exponent(p, q):
    got = G.dual_exponent(p)
    assert isinstance(got, float)
    assert got == pytest.approx(q, rel=4 * EPS64)
    if not math.isinf(q):
        assert 1 / p + 1 / got == pytest.approx(1.0, rel=4 * EPS64)
    assert G.dual_exponent(got) == pytest.approx(float(p), rel=8 * EPS64)  # an involution


@pytest.mark.parametrize(("bad", "exc", "match"), [
    (0.5, ValueError, r"^q must be in \[1, inf\], got 0.5"),
    (-math.inf, ValueError, r"^q must be in \[1, inf\]"),
    (math.nan, ValueError, r"^q must be in \[1, inf\], got nan"),
    ("2", TypeError, r"^q must be a real number"),
    (True, TypeError, r"^q must be a real number"),
    (None, TypeError, r"^q must be a real number"),
])
def test_check_p_rejects_naming_the_argument(bad, exc, match):
    with pytest.raises(exc, match=match):
        G.check_p(bad, "q")
    with pytest.raises(exc, match=match.replace("^q", "^p")):
        G.dual_exponent(bad)


def test_check_p_accepts_reals_in_range():
    assert G.check_p(1) == 1.0 and isinstance(G.check_p(1), float)
    assert G.check_p(np.float32(2.5)) == 2.5
    assert G.check_p(jnp.inf) == math.inf


def _np_unit(v: np.ndarray, p: float) -> np.ndarray:
    return v / np.linalg.norm(v, ord=p, axis=-1, keepdims=True)


@given(seed=hs.integers(0, 2**32 - 1), p=hs.sampled_from(DUAL_PS),
       scale=hs.sampled_from([1e-150, 1.0, 1e150]))
def test_dual_direction_is_a_unit_vector_attaining_hoelders_equality(seed, p, scale):
    rng = np.random.default_rng(seed)
    g = scale * rng.standard_normal((N, *SHAPE))
    dead = rng.integers(0, N)
    g[dead] = 0.0
    delta = np.asarray(G.dual_direction(jnp.asarray(g), p))
    assert delta.shape == g.shape
    np.testing.assert_array_equal(delta[dead], 0.0)  # zero rows give zero, not NaN
    live = np.arange(N) != dead
    gf, df = g.reshape(N, -1)[live], delta.reshape(N, -1)[live]
    q = G.dual_exponent(p)
    np.testing.assert_allclose(np.linalg.norm(df, ord=p, axis=1), 1.0, rtol=1e-13)
    # NumPy's norm of 1e+-150 entries over- or underflows for q > 2: evaluate it on g / scale (exact rescaling).
    np.testing.assert_allclose(np.sum(gf * df, axis=1), scale * np.linalg.norm(gf / scale, ord=q, axis=1),
                               rtol=1e-13)


@given(seed=hs.integers(0, 2**32 - 1), p=hs.sampled_from(DUAL_PS))
def test_dual_direction_maximises_the_inner_product_on_the_unit_sphere(seed, p):
    # Candidates: random unit-l_p vectors, and unit vectors near delta (a non-maximiser loses to some of those).
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((N, D))
    delta = np.asarray(G.dual_direction(jnp.asarray(g), p))
    best = np.sum(g * delta, axis=1)
    far = _np_unit(rng.standard_normal((64, N, D)), p)
    near = np.concatenate([_np_unit(delta + t * rng.standard_normal((32, N, D)), p) for t in (1e-1, 1e-3)])
    for v in (far, near):
        assert np.all(np.sum(g * v, axis=2) <= best * (1 + 1e-13))


# ----------------------------------------------------------------------------------------------------------------
# input_gradients, gradient_norms
# ----------------------------------------------------------------------------------------------------------------

def test_input_gradients_equal_per_sample_grads_of_a_hand_written_loss():
    p, x, y = _tanh_problem(0)
    g = np.asarray(G.input_gradients(TANH.apply, p, x, y))
    assert g.shape == x.shape
    one = jax.jit(jax.grad(lambda xi, yi: -jax.nn.log_softmax(TANH.apply(p, xi))[yi]))
    xs, ys = np.asarray(x), np.asarray(y)
    ref = np.stack([np.asarray(one(xs[i], ys[i])) for i in range(len(ys))])  # one unbatched sample at a time
    np.testing.assert_allclose(g, ref, rtol=1e-12, atol=1e-15 * np.abs(ref).max())
    # The per-sample losses are the same hand-written cross-entropy.
    np.testing.assert_allclose(np.asarray(G.per_sample_loss(TANH.apply, p, x, y)),
                               _np_ce(np.asarray(TANH.apply(p, x)), np.asarray(y)), rtol=1e-13)


@pytest.mark.parametrize("seed", [0, 1])
def test_input_gradients_of_an_affine_map_are_w_transpose_softmax_minus_onehot(seed):
    p, x, y = _affine_problem(seed)
    ref = _np_affine_grad(p, x, y)
    g = G.input_gradients(affine, p, x, y)
    assert g.shape == x.shape
    np.testing.assert_allclose(np.asarray(g).reshape(N, -1), ref, rtol=1e-12, atol=1e-15)
    norms = G.gradient_norms(affine, p, x, y, ps=(1.0, 2.0, math.inf))
    assert set(norms) == {1.0, 2.0, math.inf}
    for q, v in norms.items():
        np.testing.assert_allclose(np.asarray(v), np.linalg.norm(ref, ord=q, axis=1), rtol=1e-12)


# ----------------------------------------------------------------------------------------------------------------
# First-order damage (notes S1)
# ----------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("p", DUAL_PS)
def test_first_order_damage_is_the_damage_of_the_dual_attack_to_first_order(p):
    # Taylor: damage(eps) = eps ||g||_q + c eps^2 + O(eps^3), so ratio - 1 = (c/||g||_q) eps + O(eps^2): the gap
    # shrinks 10x from eps = 1e-3 to 1e-4 (float64: rounding of the loss difference is ~1e-16/1e-4 relative).
    p_, x, y = _tanh_problem(1)
    g = G.input_gradients(TANH.apply, p_, x, y)
    gaps = []
    for eps in (1e-3, 1e-4):
        delta = G.dual_attack(TANH.apply, p_, x, y, eps, p)
        np.testing.assert_allclose(np.linalg.norm(np.asarray(delta), ord=p, axis=1), eps, rtol=1e-13)
        ratio = np.asarray(G.damage(TANH.apply, p_, x, y, delta) / G.first_order_damage(g, eps, p))
        gaps.append(np.abs(ratio - 1))
    assert np.all(gaps[0] < 1e-2)
    shrink = gaps[0] / gaps[1]
    assert np.all((shrink > 5) & (shrink < 20)), shrink


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, math.inf])
def test_real_damage_is_at_least_first_order_on_affine_maps(p):
    # CE is convex in the logits and the logits are affine in x, so L(x + delta) >= L(x) + <g, delta>, and the dual
    # attack makes <g, delta> = eps ||g||_q exactly.
    p_, x, y = _affine_problem(2)
    eps = 0.3
    delta = G.dual_attack(affine, p_, x, y, eps, p)
    real = np.asarray(G.damage(affine, p_, x, y, delta))
    np.testing.assert_allclose(real, _np_affine_loss(p_, x + delta, y) - _np_affine_loss(p_, x, y),
                               rtol=1e-12, atol=1e-14)
    first = np.asarray(G.first_order_damage(G.input_gradients(affine, p_, x, y), eps, p))
    np.testing.assert_allclose(first, eps * np.linalg.norm(_np_affine_grad(p_, x, y), ord=G.dual_exponent(p), axis=1),
                               rtol=1e-12)
    assert np.all(first > 0)
    assert np.all(real >= first - 1e-13 * (1 + first))


# ----------------------------------------------------------------------------------------------------------------
# gradient_penalty vs adversarial_augmentation (notes S2), the d-scaling, calibrated_eps (S3)
# ----------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("q", [1.0, 2.0])
def test_gradient_penalty_and_adversarial_augmentation_agree_to_second_order(q):
    p, x, y = _tanh_problem(2)

    @jax.jit  # one compilation for both lambdas
    def values_and_grads(lam):
        gp, ggp = jax.value_and_grad(lambda pp: G.gradient_penalty(TANH.apply, pp, x, y, lam, q))(p)
        adv, gadv = jax.value_and_grad(lambda pp: G.adversarial_augmentation(TANH.apply, pp, x, y, lam, q))(p)
        return gp, adv, ggp, gadv

    def both(lam):
        gp, adv, ggp, gadv = values_and_grads(jnp.float64(lam))
        ggp, gadv = _flat(ggp), _flat(gadv)
        return float(gp - adv), np.linalg.norm(ggp - gadv) / np.linalg.norm(ggp)

    (diff2, rel2), (diff3, rel3) = both(1e-2), both(1e-3)
    # Values: the difference is c lambda^2 + O(lambda^3), so it shrinks 100x per decade of lambda.
    assert 100 / 3 < diff2 / diff3 < 300, (diff2, diff3)
    # Parameter gradients: both are (lambda/2) d^(1/p) d/dtheta ||g||_q + O(lambda^2) (Danskin: the maximiser's
    # derivative is the dual direction held fixed), so their relative difference is O(lambda).
    assert rel2 < 3e-2 and rel3 < 3e-3, (rel2, rel3)
    assert 5 < rel2 / rel3 < 20, (rel2, rel3)


@pytest.mark.parametrize("q", [1.0, 2.0, 3.0, math.inf])
def test_penalties_written_out_by_hand_on_an_affine_map(q):
    # gPenalty = lam d^(1-1/q) mean ||g||_q / 2 and advAugment = mean(L(x + delta) - L(x)) / 2 with
    # delta = lam d^(1-1/q) * (the unit-l_p maximiser of <g, .>), d = 6 (inputs of shape (2, 3)).
    p, x, y = _affine_problem(3)
    lam = 0.05
    g = _np_affine_grad(p, x, y)
    scale = D ** (1 - 1 / q)
    gp = G.gradient_penalty(affine, p, x, y, lam, q)
    np.testing.assert_allclose(float(gp), lam * scale * np.mean(np.linalg.norm(g, ord=q, axis=1)) / 2, rtol=1e-12)
    if q == 1:
        unit = np.sign(g)  # FGSM
    elif q == 2:
        unit = g / np.linalg.norm(g, axis=1, keepdims=True)
    elif math.isinf(q):
        unit = np.sign(g) * (np.abs(g) == np.abs(g).max(axis=1, keepdims=True))
    else:
        unit = _np_unit(np.sign(g) * np.abs(g) ** (q - 1), G.dual_exponent(q))
    xa = np.asarray(x) + lam * scale * unit.reshape(x.shape)
    adv = G.adversarial_augmentation(affine, p, x, y, lam, q)
    np.testing.assert_allclose(float(adv), np.mean(_np_affine_loss(p, xa, y) - _np_affine_loss(p, x, y)) / 2,
                               rtol=1e-11)


def test_gradient_penalty_q2_is_lambda_sqrt_d_mean_l2_over_2():
    p, x, y = _tanh_problem(3)
    lam = 0.2
    g = np.asarray(G.input_gradients(TANH.apply, p, x, y))
    by_hand = lam * math.sqrt(TANH_D) * np.mean(np.sqrt(np.sum(g * g, axis=1))) / 2
    np.testing.assert_allclose(float(G.gradient_penalty(TANH.apply, p, x, y, lam, 2.0)), by_hand, rtol=1e-13)


def test_adversarial_augmentation_holds_the_perturbation_fixed():
    # d/dtheta advAugment = d/dtheta of mean(L(x + delta0) - L(x))/2 with delta0 computed once, outside: the
    # adversarial example is data. Differentiating through delta would add a term (delta depends on theta).
    p, x, y = _affine_problem(4)
    lam, q = 0.1, 2.0
    g = _np_affine_grad(p, x, y)
    delta0 = jnp.asarray((lam * math.sqrt(D) * g / np.linalg.norm(g, axis=1, keepdims=True)).reshape(x.shape))

    def fixed(pp):
        return jnp.mean(G.per_sample_loss(affine, pp, x + delta0, y) - G.per_sample_loss(affine, pp, x, y)) / 2

    got = jax.jit(jax.grad(lambda pp: G.adversarial_augmentation(affine, pp, x, y, lam, q)))(p)
    np.testing.assert_allclose(_flat(got), _flat(jax.jit(jax.grad(fixed))(p)), rtol=1e-11, atol=1e-14)


def relu_net(p, x):
    return jax.nn.relu(x @ p["w1"].T + p["b1"][None, :]) @ p["w2"].T


_RELU_P = {"w1": jnp.array([[1.0, 1.0], [0.5, 2.0]]), "b1": jnp.array([-1.0, -1.0]),
           "w2": jnp.array([[1.0, -1.0], [0.0, 1.0]])}


@pytest.mark.parametrize("q", [1.0, 2.0, 3.0])
def test_gradient_penalty_is_differentiable_at_dead_relu_samples(q):
    # Sample 0 has both hidden units off (pre-activations -3, -3.5): its input gradient is 0 on a neighbourhood of
    # the parameters, so it adds nothing to the penalty's parameter gradient. That gradient is then exactly half
    # the live sample's (a batch of two copies of it has the live sample's gradient), and never NaN.
    x = jnp.array([[-1.0, -1.0], [2.0, 1.0]])
    y = jnp.array([0, 1])
    g = G.input_gradients(relu_net, _RELU_P, x, y)
    np.testing.assert_array_equal(np.asarray(g[0]), 0.0)
    grad = jax.jit(jax.grad(lambda pp, xx, yy: G.gradient_penalty(relu_net, pp, xx, yy, 0.1, q)))
    both, live = _flat(grad(_RELU_P, x, y)), _flat(grad(_RELU_P, x[jnp.array([1, 1])], y[jnp.array([1, 1])]))
    assert np.all(np.isfinite(both))
    assert np.any(live != 0)
    np.testing.assert_allclose(both, live / 2, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize(("eps", "d", "p", "expected"), [
    (0.1, 784, 2.0, 2.8), (0.1, 8, 3.0, 0.2), (0.1, 100, 1.0, 10.0), (0.1, 100, math.inf, 0.1),
    (0.03, 3072, 1.5, 0.03 * 3072 ** (2 / 3)), (0.0, 5, 2, 0.0), (2, np.int64(16), 4, 4.0),
])
def test_calibrated_eps(eps, d, p, expected):
    got = G.calibrated_eps(eps, d, p)
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=4 * EPS64, abs=0)


@pytest.mark.parametrize(("args", "exc", "match"), [
    ((0.1, 0, 2.0), ValueError, r"^d must be a positive integer"),
    ((0.1, -4, 2.0), ValueError, r"^d must be a positive integer"),
    ((0.1, 2.5, 2.0), ValueError, r"^d must be a positive integer"),
    ((0.1, True, 2.0), ValueError, r"^d must be a positive integer"),
    ((0.1, "8", 2.0), ValueError, r"^d must be a positive integer"),
    ((-0.1, 8, 2.0), ValueError, r"^eps_inf must be >= 0"),
    ((math.nan, 8, 2.0), ValueError, r"^eps_inf must be finite"),
    ((math.inf, 8, 2.0), ValueError, r"^eps_inf must be finite"),
    (("0.1", 8, 2.0), TypeError, r"^eps_inf must be a real number"),
    ((0.1, 8, 0.5), ValueError, r"^p must be in \[1, inf\]"),
    ((0.1, 8, "2"), TypeError, r"^p must be a real number"),
])
def test_calibrated_eps_rejects_bad_arguments(args, exc, match):
    with pytest.raises(exc, match=match):
        G.calibrated_eps(*args)


# ----------------------------------------------------------------------------------------------------------------
# Argument checks
# ----------------------------------------------------------------------------------------------------------------

_P, _X, _Y = _affine_problem(5)
_CALLS = {
    "input_gradients": lambda f, x, y: G.input_gradients(f, _P, x, y),
    "gradient_norms": lambda f, x, y: G.gradient_norms(f, _P, x, y),
    "gradient_penalty": lambda f, x, y: G.gradient_penalty(f, _P, x, y, 0.1, 2.0),
    "adversarial_augmentation": lambda f, x, y: G.adversarial_augmentation(f, _P, x, y, 0.1, 2.0),
    "damage": lambda f, x, y: G.damage(f, _P, x, y, jnp.zeros_like(_X)),
    "dual_attack": lambda f, x, y: G.dual_attack(f, _P, x, y, 0.1, 2.0),
}
_BAD = {
    "y float": ((affine, _X, _Y.astype(jnp.float64)), TypeError, r"^y must have an integer dtype"),
    "y list": ((affine, _X, [0] * N), TypeError, r"^y must be an integer array"),
    "y shape": ((affine, _X, jnp.zeros(N + 1, jnp.int32)), ValueError, rf"^y must have shape \({N},\)"),
    "y 2-d": ((affine, _X, _Y[:, None]), ValueError, rf"^y must have shape \({N},\)"),
    "y >= k": ((affine, _X, _Y.at[0].set(K)), ValueError, rf"^y must hold class indices in \[0, {K}\)"),
    "y < 0": ((affine, _X, _Y.at[0].set(-1)), ValueError, rf"^y must hold class indices in \[0, {K}\)"),
    "logits_fn": (("affine", _X, _Y), TypeError, r"^logits_fn must be callable"),
    "x 1-d": ((affine, _X[0, 0], _Y[:1]), ValueError, r"^x must have shape \(n, \*input_shape\)"),
    "logits shape": ((lambda p, x: affine(p, x)[:, 0], _X, _Y), ValueError,
                     r"^logits_fn\(params, x\) must return logits of shape"),
}


@pytest.mark.parametrize("fn", list(_CALLS))
@pytest.mark.parametrize("case", list(_BAD))
def test_bad_input_raises_naming_the_argument(fn, case):
    args, exc, match = _BAD[case]
    with pytest.raises(exc, match=match):
        _CALLS[fn](*args)


@pytest.mark.parametrize("fn", [G.gradient_penalty, G.adversarial_augmentation])
def test_penalties_reject_a_bad_q(fn):
    with pytest.raises(ValueError, match=r"^q must be in \[1, inf\]"):
        fn(affine, _P, _X, _Y, 0.1, 0.5)
    with pytest.raises(TypeError, match=r"^q must be a real number"):
        fn(affine, _P, _X, _Y, 0.1, "l3")  # "l1", "l2", "linf" are aliases of 1, 2, inf


def test_penalties_are_available_by_name():
    assert G.PENALTIES["grad"] is G.gradient_penalty and G.PENALTIES["adv"] is G.adversarial_augmentation
    assert G.PENALTIES["pgd"] is G.pgd_augmentation
    assert set(G.PENALTIES) == {"grad", "adv", "pgd"}


# ----------------------------------------------------------------------------------------------------------------
# PGD adversarial training (Madry et al. 2018): the inner maximisation and the training term
# ----------------------------------------------------------------------------------------------------------------


def _two_class_affine(seed: int):
    rng = np.random.default_rng(seed)
    p = {"w": jnp.asarray(rng.standard_normal((2, D))), "b": jnp.asarray(rng.standard_normal(2))}
    return p, jnp.asarray(rng.standard_normal((N, *SHAPE))), jnp.asarray(rng.integers(0, 2, N))


@pytest.mark.parametrize("p_norm", [2.0, math.inf])
def test_pgd_reaches_the_exact_maximiser_on_a_two_class_affine_map(p_norm):
    # Two classes, affine logits: CE falls with the margin (w_y - w_o).(x + delta) + b_y - b_o, so the l_p-ball
    # maximiser is -eps times the unit-l_p maximiser of <w_y - w_o, .> (Hölder), the same for every iterate's
    # gradient; steps of 2.5 eps / 7 reach the boundary at step 3 and projection keeps it there.
    p, x, y = _two_class_affine(0)
    eps = jnp.asarray([0.1, 0.2, 0.3, 0.4, 0.5])  # one radius per sample
    w = np.asarray(p["w"])
    v = w[np.asarray(y)] - w[1 - np.asarray(y)]
    unit = v / np.linalg.norm(v, axis=1, keepdims=True) if p_norm == 2 else np.sign(v)
    got = G.pgd_perturbation(affine, p, x, y, eps, p_norm)
    np.testing.assert_allclose(np.asarray(got).reshape(N, D), -np.asarray(eps)[:, None] * unit, rtol=1e-12)


def test_pgd_stays_in_the_ball_on_a_nonlinear_net():
    p, x, y = _tanh_problem(2)
    for p_norm, norm in ((2.0, 2.0), (math.inf, math.inf)):
        delta = np.asarray(G.pgd_perturbation(TANH.apply, p, x, y, 0.3, p_norm, steps=5))
        assert np.all(np.linalg.norm(delta.reshape(len(y), -1), ord=norm, axis=1) <= 0.3 * (1 + 1e-12))


@pytest.mark.parametrize("q", [1.0, 2.0])
def test_one_step_pgd_augmentation_is_the_single_step_augmentation(q):
    # One step of 2.5 eps along the dual direction, projected back on the eps-ball, is eps along it: advAugment.
    p, x, y = _tanh_problem(1)
    one = G.pgd_augmentation(TANH.apply, p, x, y, 0.05, q, steps=1)
    np.testing.assert_allclose(float(one), float(G.adversarial_augmentation(TANH.apply, p, x, y, 0.05, q)),
                               rtol=1e-12)
    assert float(G.pgd_augmentation(TANH.apply, p, x, y, 0.0, q)) == 0.0


def test_pgd_rejects_norms_without_a_closed_form_projection():
    with pytest.raises(ValueError, match=r"^p must be 2 or inf"):
        G.pgd_perturbation(affine, _P, _X, _Y, 0.1, 3.0)
    with pytest.raises(ValueError, match=r"^q must be 1 \(l_inf attacks\) or 2 \(l2\)"):
        G.pgd_augmentation(affine, _P, _X, _Y, 0.1, 3.0)
    bad = ((-0.1, r"^eps must be finite and >= 0"), (np.ones(N + 1), rf"^eps must be a scalar or have shape \({N},\)"),
           (np.ones((N, 1)), r"^eps must be a scalar"), ("0.1", r"^eps must be a real"))
    for eps, match in bad:
        with pytest.raises((ValueError, TypeError), match=match):
            G.pgd_perturbation(affine, _P, _X, _Y, eps, 2.0)
    with pytest.raises(ValueError, match=r"^steps must be"):
        G.pgd_perturbation(affine, _P, _X, _Y, 0.1, 2.0, steps=0)


def test_protocol_pgd_is_the_authors_loop():
    # penalties.py's pgd [CODE]: eps/(0.75 steps) steps along sign(g), clipped to the l_inf ball, last iterate
    p, x, y = _tanh_problem(4)
    eps, steps = 0.2, 5
    delta = np.zeros_like(np.asarray(x))
    for _ in range(steps):
        g = np.asarray(G.input_gradients(TANH.apply, p, x + delta, y))
        delta = np.clip(delta + eps / (0.75 * steps) * np.sign(g), -eps, eps)
    np.testing.assert_allclose(np.asarray(G.protocol_pgd(TANH.apply, p, x, y, eps, steps)), delta, rtol=1e-12,
                               atol=1e-15)
