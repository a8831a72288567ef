"""alpha-CROWN (certify.py method "alpha-crown", fcjax/alpha_crown.py): sound, and never looser than CROWN.

The theorems tested: for any slopes ``alpha in [0, 1]`` the back-substituted bound is below the margin at every point
of the ball, so the optimised bounds are below sampled margins and the certified radius below a verified adversarial
perturbation's length; the per-spec bisection starts at CROWN's radius, so ``alpha-crown >= crown`` on every sample;
an affine map has no relaxation (both exact). The exact-value and branch-and-bound checks are in ``test_bab.py``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _relu_nets import _apply, _net, _points
from hypothesis import given, settings
from hypothesis import strategies as hs

from fcjax import alpha_crown as ac
from fcjax import certify as C
from fcjax.attacks import min_norm
from fcjax.robustness import robustness


def _attack(layers, x, y):
    return min_norm(_apply, layers, x, y).norm


@pytest.mark.parametrize("dims", [[3, 6, 3], [3, 5, 5, 3]])
def test_radius_between_crown_and_attack(dims):
    layers = _net(2, dims)
    x, y = _points(2, layers, 6)
    upper = _attack(layers, x, y)
    crown = np.asarray(C.certified_radius(layers, x, y, method="crown", upper=upper))
    alpha = np.asarray(C.certified_radius(layers, x, y, method="alpha-crown", upper=upper))
    found = np.isfinite(np.asarray(upper))  # elsewhere no class is reachable (the bracket then grows)
    assert found.sum() >= 4
    assert np.all(alpha >= crown)
    assert np.all(alpha[found] <= np.asarray(upper)[found] * (1 + 1e-9))
    if len(dims) == 3:  # the optimisation does something (on this depth-2 net it gains only ~1e-6)
        assert np.any(alpha > crown * (1 + 1e-4))


def test_margins_sound_and_above_crown():
    layers = _net(3, [3, 7, 7, 4])
    x, y = _points(4, layers, 6)
    r = jnp.full(6, 0.6)
    crown = np.asarray(C.margin_lower_bounds(layers, x, y, r))
    alpha = np.asarray(C.margin_lower_bounds(layers, x, y, r, method="alpha-crown", alpha_steps=30))
    finite = np.isfinite(crown)
    assert np.all(alpha[finite] >= crown[finite]) and np.all(np.isinf(alpha[~finite]))
    assert np.any(alpha[finite] > crown[finite] + 1e-6)
    # sampled points of each ball, pushed to its surface: every margin there is above the bound
    rng = np.random.default_rng(5)
    u = rng.standard_normal((6, 4000, 3))
    pts = np.asarray(x)[:, None] + 0.6 * u / np.linalg.norm(u, axis=-1, keepdims=True) * rng.random((6, 4000, 1))**(1/3)
    f = np.asarray(C.logits(layers, jnp.asarray(pts.reshape(-1, 3)))).reshape(6, 4000, -1)
    margins = np.take_along_axis(f, np.asarray(y)[:, None, None], axis=2) - f
    assert np.all(alpha[finite] <= margins.min(axis=1)[finite] + 1e-12)


def test_affine_map_is_exact():
    w, b = jnp.array([[1.0, 0.0], [0.0, 1.0], [0.5, -1.0]]), jnp.array([0.0, 0.0, 0.2])
    x = jnp.array([[2.0, 0.0], [0.3, 1.5]])
    y = jnp.argmax(C.logits([(w, b)], x), axis=1)
    for m in ("alpha-crown", "bab"):
        np.testing.assert_array_equal(np.asarray(C.certified_radius([(w, b)], x, y, method=m, upper=5.0)),
                                      np.asarray(C.certified_radius([(w, b)], x, y, method="crown", upper=5.0)))


def test_no_upper_grows_and_misclassified_is_zero():
    layers = _net(6, [3, 6, 3])
    x, y = _points(7, layers, 6)
    y = y.at[0].set((y[0] + 1) % 3)  # not the network's label: radius 0
    crown = np.asarray(C.certified_radius(layers, x, y, method="crown"))
    alpha = np.asarray(C.certified_radius(layers, x, y, method="alpha-crown"))
    assert alpha[0] == 0.0 and crown[0] == 0.0
    assert np.all(alpha >= crown)
    upper = np.asarray(_attack(layers, x[1:], y[1:]))
    assert np.all(alpha[1:] <= upper * (1 + 1e-9))


@settings(max_examples=8)
@given(seed=hs.integers(0, 10**6))
def test_property_crown_alpha_attack(seed):
    layers = _net(seed, [3, 6, 3], bias=1.0)
    x, y = _points(seed + 1, layers, 6)
    upper = _attack(layers, x, y)
    crown = np.asarray(C.certified_radius(layers, x, y, method="crown", upper=upper))
    alpha = np.asarray(C.certified_radius(layers, x, y, method="alpha-crown", upper=upper))
    finite = np.isfinite(np.asarray(upper))
    assert np.all(alpha >= crown) and np.all(alpha[finite] <= np.asarray(upper)[finite] * (1 + 1e-9))


def test_jit_and_vmap_over_networks():
    nets = [_net(s, [3, 5, 3]) for s in (8, 9)]
    stacked = [(jnp.stack([n[i][0] for n in nets]), jnp.stack([n[i][1] for n in nets])) for i in range(2)]
    x = jnp.asarray(np.random.default_rng(10).standard_normal((4, 3)))
    y = jnp.zeros(4, jnp.int32)

    @jax.jit
    def radii(layers):
        return jax.vmap(lambda ls: C.certified_radius(ls, x, y, method="alpha-crown", upper=jnp.full(4, 3.0),
                                                      steps=12, alpha_steps=5))(layers)

    out = np.asarray(radii([tuple(layer) for layer in stacked]))
    for n, layers in enumerate(nets):
        one = np.asarray(C.certified_radius(layers, x, y, method="alpha-crown", upper=jnp.full(4, 3.0), steps=12,
                                            alpha_steps=5))
        np.testing.assert_allclose(out[n], one, rtol=1e-3, atol=1e-9)  # one bisection step of another program


def test_robustness_forwards_the_method_and_options():
    layers = _net(11, [3, 6, 3])
    x, _ = _points(12, layers, 6)
    y = jnp.argmax(C.logits(layers, x), axis=1)
    r = robustness(_apply, layers, x, y, layers=layers, certify="alpha-crown", certify_options={"alpha_steps": 5})
    crown = robustness(_apply, layers, x, y, layers=layers)
    assert np.all(np.asarray(r.lower) <= np.asarray(r.upper) * (1 + 1e-9))
    assert np.all(np.asarray(r.lower) >= np.asarray(crown.lower))
    with pytest.raises(ValueError, match="certify_options: unknown keys"):
        robustness(_apply, layers, x, y, layers=layers, certify_options={"alpha": 3})
    with pytest.raises(ValueError, match=r"certify_options\['branches'\]"):
        robustness(_apply, layers, x, y, layers=layers, certify="bab", certify_options={"branches": -1})


def test_bad_arguments():
    layers = _net(13, [3, 4, 3])
    x = jnp.zeros((2, 3))
    for bad, err in ((0, ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(err, match="alpha_steps"):
            C.certified_radius(layers, x, 0, method="alpha-crown", alpha_steps=bad)
        with pytest.raises(err, match="alpha_steps"):
            C.margin_lower_bounds(layers, x, 0, 0.1, method="alpha-crown", alpha_steps=bad)
    for bad, err in ((-1, ValueError), ("3", TypeError)):
        with pytest.raises(err, match="branches"):
            C.certified_radius(layers, x, 0, method="bab", branches=bad)
    with pytest.raises(ValueError, match="certifies radii"):
        C.margin_lower_bounds(layers, x, 0, 0.1, method="bab")
    with pytest.raises(ValueError, match="method must be one of"):
        C.certified_radius(layers, x, 0, method="beta-crown")


def test_sample_bytes_grow_with_the_method():
    layers = _net(14, [16, 32, 16])
    crown = C.crown_sample_bytes(layers)
    alpha = C.crown_sample_bytes(layers, method="alpha-crown")
    assert crown == C.crown_sample_bytes(layers, 8, method="crown")
    assert alpha > crown
    assert C.crown_sample_bytes(layers, method="bab", branches=256) > C.crown_sample_bytes(layers, method="bab",
                                                                                             branches=16) > alpha
    assert ac.sample_bytes([(32, 16), (16, 32)], "alpha-crown", 0, 4) * 2 == alpha
