"""Keyed samplers for the random data models of Gao et al. (arXiv 2406.16200).

Points are rows, ``(n, d)``, as everywhere in fcjax's public API. The paper's data matrix
``X = [x_1, ..., x_d] = Q R`` holds them as columns: ``X = gaussian_points(key, d).T``.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from ._types import Array, Float, Int, Key, Keys, UInt32
from ._validate import check_dim, check_dtype, check_int, check_key


def trial_keys(key: Key, n: int, start: int = 0) -> Keys | UInt32[Array, "n 2"]:
    """Per-trial keys ``fold_in(key, i)`` for ``i = start, ..., start + n - 1``, shape ``(n,)``.

    Folding in the trial index (rather than splitting a chain) makes trial ``i`` draw the same numbers whatever
    the chunk size, device count or resume point.
    """
    check_key(key)
    n = check_int(n, "n", minimum=0)
    start = check_int(start, "start", minimum=0)
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(start, start + n, dtype=jnp.uint32))


def gaussian_points(key: Key, d: int, n: int | None = None, *, dtype=jnp.float32) -> Float[Array, "n d"]:
    """``n`` i.i.d. N(0, I_d) points as the rows of an ``(n, d)`` matrix (``n = d`` by default).

    The paper's setting (Theorem 1): d points in R^d, point ``i`` is the only member of class ``i``; its data
    matrix is the transpose, ``X = gaussian_points(key, d).T`` (drawn as ``X`` so that under one key the two
    layouts hold the same numbers).
    """
    check_key(key)
    d = check_dim(d)
    n = d if n is None else check_int(n, "n", minimum=1)
    return jax.random.normal(key, (d, n), check_dtype(dtype)).T


def gaussian_product(key: Key, d: int, t: int, *, dtype=jnp.float32) -> Float[Array, "t d d"]:
    """``t`` independent ``(d, d)`` standard Gaussian factors ``G_1, ..., G_t`` (stacked, ``G_1`` first).

    Their product ``P = G_t ... G_1`` is the multi-layer linear generative model of Gao et al. (Theorem 3,
    Lemma 7).
    """
    check_key(key)
    d = check_dim(d)
    t = check_int(t, "t", minimum=1)
    return jax.random.normal(key, (t, d, d), check_dtype(dtype))


def hypercube_signs(d: int, *, dtype=jnp.float32) -> Float[Array, "m d"]:
    """All ``2^d`` sign vectors ``z in {-1, +1}^d`` as rows, shape ``(2^d, d)``.

    Theorem 5's data are ``x = A z`` for every such ``z``, labelled by ``z_d > 0``. Enumeration is exact, so
    ``d`` is capped at 22 (4M points).
    """
    d = check_dim(d)
    if d > 22:
        raise ValueError(f"d must be <= 22 for exact enumeration of 2^d points, got {d}")
    rows = np.array(list(itertools.product((-1.0, 1.0), repeat=d)))
    return jnp.asarray(rows, dtype=check_dtype(dtype))


def sign_cube_data(key: Key, d: int, *, dtype=jnp.float32
                   ) -> tuple[Float[Array, "d d"], Float[Array, "m d"], Int[Array, " m"]]:
    """Theorem 5's data model: a Gaussian mixing matrix ``A`` and all ``2^d`` points ``x = A z`` as rows.

    Returns:
      ``(A, points, labels)`` with ``A`` of shape ``(d, d)``, ``points`` of shape ``(2^d, d)`` (row ``m`` is
      ``A z_m``) and ``labels = (z_d > 0)`` in ``{0, 1}``.
    """
    a = gaussian_points(key, d, dtype=dtype).T  # the mixing matrix, drawn as the paper's X
    z = hypercube_signs(d, dtype=dtype)
    return a, z @ a.T, (z[:, -1] > 0).astype(jnp.int32)
