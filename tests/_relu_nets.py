"""Random ReLU nets and points shared by the certificate tests (alpha-CROWN, branch and bound)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from fcjax import certify as C


def _net(seed: int, dims: list[int], bias: float = 0.5) -> list[tuple[jax.Array, jax.Array]]:
    """A random ReLU net with He-scaled weights, float64, ``W`` of shape ``(out, in)``."""
    rng = np.random.default_rng(seed)
    return [(jnp.asarray(rng.standard_normal((o, i)) * np.sqrt(2.0 / i)), jnp.asarray(bias * rng.standard_normal(o)))
            for i, o in itertools.pairwise(dims)]


def _apply(layers, x):
    h = x
    for n, (w, b) in enumerate(layers):
        h = h @ w.T + b[None, :]
        if n < len(layers) - 1:
            h = jax.nn.relu(h)
    return h


def _points(seed: int, layers, n: int):
    x = jnp.asarray(np.random.default_rng(seed).standard_normal((n, layers[0][0].shape[1])))
    return x, jnp.argmax(C.logits(layers, x), axis=1)
