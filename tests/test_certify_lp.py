"""ℓ1 and ℓ∞ balls in the certificates (dual norms) and the DeepFool-ℓp upper bound of the boundary bracket."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from fcjax import boundary_distance as bd
from fcjax.certify import certified_radius, lipschitz_radius, logits, margin_lower_bounds, preactivation_bounds
from fcjax.random_nets import biased_relu_value

DUAL = {1: np.inf, 2: 2, np.inf: 1}


def _ball_points(key, n: int, d: int, p: float) -> jax.Array:
    """Points on the unit ℓ_p sphere, extreme ones included: the ℓ∞ cube's vertices and the ℓ1 ball's ±e_i (where
    linear bounds are attained) and random directions normalised to ℓ_p norm 1."""
    k1, k2, k3 = jax.random.split(key, 3)
    z = jax.random.normal(k1, (n, d), jnp.float64)
    if p == np.inf:
        extreme = jnp.sign(jax.random.normal(k2, (n, d), jnp.float64))
    elif p == 1:
        extreme = jax.nn.one_hot(jax.random.randint(k2, (n,), 0, d), d) * jnp.sign(jax.random.normal(k3, (n, 1)))
    else:
        extreme = -z / jnp.linalg.norm(z, axis=1, keepdims=True)
    return jnp.concatenate([extreme, z / jnp.linalg.norm(z, ord=p, axis=1, keepdims=True)])


def _net(seed: int, d: int, h: int, k: int):
    ks = jax.random.split(jax.random.key(seed), 4)
    return [(jax.random.normal(ks[0], (h, d), jnp.float64), 0.3 * jax.random.normal(ks[1], (h,), jnp.float64)),
            (jax.random.normal(ks[2], (k, h), jnp.float64), 0.3 * jax.random.normal(ks[3], (k,), jnp.float64))]


@pytest.mark.parametrize("p", [1, np.inf])
def test_affine_radius_is_the_dual_norm_closed_form(p):
    with jax.enable_x64(True):
        w, b = jnp.array([[1.0, 2.0, -0.5], [0.0, -1.0, 0.25]]), jnp.array([0.1, -0.2])
        x = jnp.array([3.0, 0.5, 1.0])
        margin = float((w[0] - w[1]) @ x + b[0] - b[1])
        exact = margin / float(jnp.linalg.norm(w[0] - w[1], ord=DUAL[p]))
        r = float(certified_radius([(w, b)], x, 0, upper=10.0, steps=50, norm=p))
        assert r == pytest.approx(exact, rel=1e-12)
        # the margin at the exact radius is 0 (up to rounding), and positive below it
        m = margin_lower_bounds([(w, b)], x, 0, exact, norm=p)
        assert float(m[1]) == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=15, deadline=None)
@given(seed=hs.integers(0, 2**31 - 1), p=hs.sampled_from([1, 2, np.inf]), method=hs.sampled_from(["crown", "ibp",
                                                                                                   "lipschitz"]))
def test_certified_lp_radius_is_sound(seed, p, method):
    with jax.enable_x64(True):
        d, layers = 5, _net(seed, 5, 8, 3)
        x = jax.random.normal(jax.random.key(seed + 1), (12, d), jnp.float64)
        y = jnp.argmax(logits(layers, x), axis=1)
        r = certified_radius(layers, x, y, method=method, norm=p, steps=30)
        pts = _ball_points(jax.random.key(seed + 2), 400, d, p)
        moved = x[:, None, :] + r[:, None, None] * pts[None] * (1 - 1e-9)
        labels = jnp.argmax(jax.vmap(lambda v: logits(layers, v))(moved), axis=-1)
        assert bool(jnp.all(labels == y[:, None]))
        assert bool(jnp.all(r > 0))


def test_lp_balls_are_nested_as_the_norms():
    """‖δ‖_∞ <= ‖δ‖_2 <= ‖δ‖_1: the ℓ1 ball is inside the ℓ2 ball inside the ℓ∞ ball, so CROWN's pre-activation
    intervals are nested the same way at the same radius, and the certified radii in the reverse order."""
    with jax.enable_x64(True):
        layers = _net(3, 6, 10, 3)
        x = jax.random.normal(jax.random.key(4), (20, 6), jnp.float64)
        bounds = {p: preactivation_bounds(layers, x, 0.3, norm=p)[0] for p in (1, 2, np.inf)}
        for small, big in ((1, 2), (2, np.inf)):
            assert bool(jnp.all(bounds[small][0] >= bounds[big][0] - 1e-12))
            assert bool(jnp.all(bounds[small][1] <= bounds[big][1] + 1e-12))
        y = jnp.argmax(logits(layers, x), axis=1)
        r = {p: certified_radius(layers, x, y, norm=p) for p in (1, 2, np.inf)}
        # nested balls: certified radii ordered; bisection on different brackets can lose one step (2^-20)
        assert bool(jnp.all(r[1] >= r[2] * (1 - 2e-6))) and bool(jnp.all(r[2] >= r[np.inf] * (1 - 2e-6)))


def test_lipschitz_linf_radius_is_the_l2_one_over_sqrt_d():
    with jax.enable_x64(True):
        layers = _net(5, 9, 7, 2)
        x = jax.random.normal(jax.random.key(6), (4, 9), jnp.float64)
        y = jnp.argmax(logits(layers, x), axis=1)
        np.testing.assert_allclose(lipschitz_radius(layers, x, y, norm="linf") * 3, lipschitz_radius(layers, x, y),
                                   rtol=1e-12)
        np.testing.assert_allclose(lipschitz_radius(layers, x, y, norm="l1"), lipschitz_radius(layers, x, y))


@pytest.mark.parametrize("norm", [3, "l3", 0.5])
def test_unsupported_norms_are_refused(norm):
    layers = _net(0, 3, 4, 2)
    with pytest.raises((ValueError, TypeError), match="norm"):
        certified_radius(layers, jnp.ones(3), 0, norm=norm)


@pytest.mark.parametrize("method", ["alpha-crown", "bab"])
def test_tighter_methods_refuse_lp_balls(method):
    with pytest.raises(ValueError, match="l2 balls only"):
        certified_radius(_net(0, 3, 4, 2), jnp.ones(3), 0, method=method, norm=1)


# ------------------------------------------------------------------------------------------------------ lp_flip
@pytest.mark.parametrize("p", [1, 2, np.inf])
def test_lp_flip_is_exact_on_affine_nets(p):
    with jax.enable_x64(True):
        w, b = jnp.array([[0.5, -2.0, 1.0, 0.25]]), jnp.array([0.3])
        x = jax.random.normal(jax.random.key(0), (10, 4), jnp.float64)
        f = x @ w[0] + b[0]
        exact = jnp.abs(f) / jnp.linalg.norm(w[0], ord=DUAL[p])
        np.testing.assert_allclose(bd.lp_flip([(w, b)], x, p), exact, rtol=1e-8)


@settings(max_examples=10, deadline=None)
@given(seed=hs.integers(0, 2**31 - 1), p=hs.sampled_from([1, 2, np.inf]))
def test_bracket_in_lp_holds_and_the_flip_is_verified(seed, p):
    """certified ≤ attack on random biased nets, and a point at the attack's ℓ_p distance along its own direction
    really has the other sign (re-derived here from lp_flip's contract: finite only for a verified flip)."""
    with jax.enable_x64(True):
        layers = bd.random_net(jax.random.key(seed), 8, "mlp", dtype=jnp.float64)
        x = jax.random.normal(jax.random.key(seed + 1), (6, 8), jnp.float64)
        br = bd.boundary_bracket(layers, x, norm=p)
        ok = np.isfinite(np.asarray(br.upper))
        assert np.all(np.asarray(br.lower)[ok] <= np.asarray(br.upper)[ok] * (1 + 1e-9))
        assert np.all(np.asarray(br.lower) >= 0)


def test_lp_flip_without_a_boundary_is_inf():
    w, b = jnp.zeros((1, 3)), jnp.ones(1)  # f ≡ 1: no boundary, no gradient
    assert bool(jnp.all(jnp.isinf(bd.lp_flip([(w, b)], jnp.ones((2, 3)), "linf"))))


def test_lp_flip_finds_every_crossing_of_a_cnn_above_the_certificate():
    """On CNNs (pooling) DeepFool-ℓ∞ crosses for every input, never below CROWN's certified ℓ∞ radius: an attack
    that returned a non-crossing point would, with these margins, undercut the certificate somewhere."""
    with jax.enable_x64(True):
        layers = bd.random_net(jax.random.key(7), 16, "cnn", dtype=jnp.float64)
        x = jax.random.normal(jax.random.key(8), (16, 16), jnp.float64)
        label = (jax.vmap(lambda v: biased_relu_value(layers, v))(x) < 0).astype(jnp.int32)
        r = bd.lp_flip(layers, x, math.inf)
        lower = certified_radius(bd.two_class_layers(layers), x, label, norm=math.inf, upper=r)
        assert bool(jnp.all(jnp.isfinite(r))) and bool(jnp.all(lower > 0)) and bool(jnp.all(lower <= r))


@pytest.mark.parametrize("bad, match", [({"iters": 0}, "iters"), ({"steps": 0}, "steps"),
                                        ({"overshoot": -1.0}, "overshoot"), ({"norm": 3}, "norm")])
def test_lp_flip_bad_input(bad, match):
    layers = bd.random_net(jax.random.key(0), 4, "mlp")
    with pytest.raises((ValueError, TypeError), match=match):
        bd.lp_flip(layers, jnp.ones((1, 4)), **{"norm": 1, **bad})
