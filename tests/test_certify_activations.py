"""lipschitz_radius(activation=...): the global Lipschitz certificate for tanh, GELU and linear networks.

The theorems tested: |GELU'| <= Phi(√2) + √2 phi(√2) (attained at √2), tanh and identity are 1-Lipschitz, so the
radius is sound (no point of the open ball flips the label, against points pushed downhill by projected gradient and
against a verified attack); for a linear network collapsed to one affine map the radius is the exact distance.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fcjax import certify as C
from fcjax.attacks import min_norm
from fcjax.linear import affine_min_perturbation
from proofs_check._robust import collapse_affine


def _net(seed: int, dims: list[int]) -> list[tuple[jax.Array, jax.Array]]:
    rng = np.random.default_rng(seed)
    return [(jnp.asarray(rng.standard_normal((o, i)) * np.sqrt(2.0 / i)), jnp.asarray(0.5 * rng.standard_normal(o)))
            for i, o in itertools.pairwise(dims)]


def _apply(layers, act):
    def f(params, x):
        h = x
        for n, (w, b) in enumerate(params):
            h = h @ w.T + b[None]
            if n < len(params) - 1:
                h = act(h)
        return h
    return f


def test_gelu_constant_is_the_supremum_of_its_derivative():
    z = jnp.linspace(-8.0, 8.0, 400_001, dtype=jnp.float64)
    grad = jax.vmap(jax.grad(lambda t: jax.nn.gelu(t, approximate=False)))(z)
    top = float(jnp.max(jnp.abs(grad)))
    assert top <= C._GELU_LIPSCHITZ * (1 + 1e-12)
    assert top >= C._GELU_LIPSCHITZ * (1 - 1e-9)  # the grid passes within 4e-5 of √2: the bound is attained
    assert float(z[jnp.argmax(jnp.abs(grad))]) == pytest.approx(np.sqrt(2), abs=1e-4)


@pytest.mark.parametrize("activation", ["tanh", "gelu", "identity", "relu"])
def test_radius_is_sound_against_descent_and_attack(activation):
    act = C.LIPSCHITZ_ACTIVATIONS[activation][0]
    layers = _net(3, [6, 12, 12, 4])
    f = _apply(layers, act)
    xs = jnp.asarray(np.random.default_rng(4).standard_normal((16, 6)))
    y = jnp.argmax(f(layers, xs), axis=1)
    r = C.lipschitz_radius(layers, xs, y, activation=activation)
    assert bool(jnp.all(r > 0)) and bool(jnp.all(jnp.isfinite(r)))

    def margin(x, yi):  # f_y - max_{j != y} f_j at one point
        z = f(layers, x[None])[0]
        return z[yi] - jnp.max(jnp.where(jnp.arange(z.size) == yi, -jnp.inf, z))

    def descend(x0, yi, ri):  # projected gradient on the margin inside the closed ball of radius ri
        def step(x, _):
            g = jax.grad(margin)(x, yi)
            x = x - 0.1 * ri * g / (jnp.linalg.norm(g) + 1e-30)
            d = x - x0
            return x0 + d * jnp.minimum(1.0, ri / (jnp.linalg.norm(d) + 1e-30)), None
        return margin(jax.lax.scan(step, x0, None, length=200)[0], yi)

    low = jax.vmap(descend)(xs, y, r * (1 - 1e-9))
    assert bool(jnp.all(low > 0)), np.asarray(low)
    # a verified adversarial perturbation is never shorter than the certificate
    upper = min_norm(f, layers, xs, y).norm
    assert bool(jnp.all(r <= upper * (1 + 1e-9)))
    # and the certificate is not vacuous: within the product-of-norms looseness of the attack
    assert bool(jnp.all(r >= 1e-4 * upper))


def test_identity_on_the_collapsed_map_is_the_exact_distance():
    layers = _net(5, [5, 9, 7, 3])
    (w, b), = collapse_affine(layers)
    f = _apply(layers, lambda z: z)
    xs = jnp.asarray(np.random.default_rng(6).standard_normal((10, 5)))
    np.testing.assert_allclose(np.asarray(f(layers, xs)), np.asarray(xs @ w.T + b[None]), rtol=1e-12, atol=1e-12)
    y = jnp.argmax(xs @ w.T + b[None], axis=1)
    exact = jnp.stack([affine_min_perturbation(w, b, xi, yi).distance for xi, yi in zip(xs, y, strict=True)])
    got = C.lipschitz_radius([(w, b)], xs, y, activation="identity")
    np.testing.assert_allclose(np.asarray(got), np.asarray(exact), rtol=1e-10)
    # on the uncollapsed chain the product of norms only loosens it
    assert bool(jnp.all(C.lipschitz_radius(layers, xs, y, activation="identity") <= got * (1 + 1e-12)))


@pytest.mark.parametrize("bad", ["sigmoid", "", None, 1])
def test_unknown_activation_is_refused(bad):
    layers = _net(0, [3, 4, 2])
    with pytest.raises(ValueError, match="activation"):
        C.lipschitz_radius(layers, jnp.ones((2, 3)), 0, activation=bad)
