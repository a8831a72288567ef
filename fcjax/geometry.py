"""Distances between data points and the exact robustness of the optimal (minimum-distance) classifier.

Gao et al. (arXiv 2406.16200), Lemma 2 (v1): d i.i.d. N(0, I_d) points are at least (1 - eps) sqrt(2d) apart with
high probability, so the minimum-distance classifier cannot be flipped at a training point by less than half the
distance to its nearest other point, which is of order sqrt(d/2).
All distances come from the Gram matrix (one GEMM), never from a d x n x n tensor of differences.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._types import Array, Float, Int
from ._validate import check_array, check_dim, check_float, check_int


def gram(x: Float[Array, "d n"]) -> Float[Array, "n n"]:
    """``X^T X`` for points in the columns of ``x`` (full precision on every backend)."""
    return jnp.matmul(x.T, x, precision="highest")


def pairwise_sq_distances(x: Float[Array, "d n"]) -> Float[Array, "n n"]:
    """Squared distances ``||x_i - x_j||^2 = G_ii + G_jj - 2 G_ij`` (clipped at 0 against rounding)."""
    check_array(x, "x", ndim=2)
    g = gram(x)
    sq = jnp.diagonal(g)
    return jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * g, 0.0)


def _off_diagonal(d2: Float[Array, "n n"]) -> Float[Array, "n n"]:
    return jnp.where(jnp.eye(d2.shape[0], dtype=bool), jnp.inf, d2)


def nearest_other_distance(x: Float[Array, "d n"]) -> Float[Array, " n"]:
    """``min_{j != i} ||x_i - x_j||`` for every point ``i`` (columns of ``x``), shape ``(n,)``."""
    check_array(x, "x", ndim=2, min_size={1: 2})
    return jnp.sqrt(jnp.min(_off_diagonal(pairwise_sq_distances(x)), axis=1))


def nearest_other_index(x: Float[Array, "d n"]) -> Int[Array, " n"]:
    """``argmin_{j != i} ||x_i - x_j||`` for every point ``i`` (columns of ``x``), shape ``(n,)``."""
    check_array(x, "x", ndim=2, min_size={1: 2})
    return jnp.argmin(_off_diagonal(pairwise_sq_distances(x)), axis=1)


def min_pairwise_distance(x: Float[Array, "d n"]) -> Float[Array, ""]:
    """``min_{i != j} ||x_i - x_j||`` over the columns of ``x``."""
    return jnp.min(nearest_other_distance(x))


def optimal_radius(x: Float[Array, "d n"]) -> Float[Array, " n"]:
    """Exact robustness of the minimum-distance classifier at each training point, shape ``(n,)``.

    With one point per class the decision boundary between ``x_i`` and ``x_j`` is their bisecting hyperplane,
    so the smallest label-changing perturbation of ``x_i`` has length ``1/2 min_{j != i} ||x_i - x_j||``.
    """
    return 0.5 * nearest_other_distance(x)


def point_radius(x: Float[Array, "d n"], i: int) -> Float[Array, ""]:
    """``optimal_radius(x)[i]`` with one matrix-vector product instead of the whole Gram matrix."""
    check_array(x, "x", ndim=2, min_size={1: 2})
    n = x.shape[1]
    i = check_int(i, "i")
    if not -n <= i < n:
        raise ValueError(f"i must index one of the {n} points (-{n} <= i < {n}), got {i}")
    i %= n
    xi = x[:, i]
    d2 = jnp.sum(x * x, axis=0) + jnp.dot(xi, xi) - 2.0 * jnp.matmul(xi, x, precision="highest")
    d2 = jnp.where(jnp.arange(n) == i, jnp.inf, jnp.maximum(d2, 0.0))
    return 0.5 * jnp.sqrt(jnp.min(d2))


def nearest_point_classify(x: Float[Array, "d n"], queries: Float[Array, "m d"]) -> Int[Array, " m"]:
    """The optimal classifier's labels: the index of the nearest column of ``x`` for each query row."""
    check_array(x, "x", ndim=2)
    check_array(queries, "queries", ndim=2)
    if queries.shape[1] != x.shape[0]:
        raise ValueError(f"queries must have {x.shape[0]} columns to match x, got shape {queries.shape}")
    cross = jnp.matmul(queries, x, precision="highest")
    return jnp.argmin(jnp.sum(x * x, axis=0)[None, :] - 2.0 * cross, axis=1)


def chernoff_union_bound(d: int, eps: float, n: int | None = None) -> float:
    """Union-Chernoff bound on ``P(min_{i != j} ||x_i - x_j|| < (1 - eps) sqrt(2d))`` for ``n`` N(0, I_d) points.

    ``||x_i - x_j||^2 = 2 chi^2_d`` and the Chernoff lower tail gives
    ``P(chi^2_d <= t d) <= exp(-(d/2)(t - 1 - ln t))`` with ``t = (1 - eps)^2`` (Gao et al., v1 Lemma 2;
    derivation in our notes). A union over ``n(n-1)/2`` pairs multiplies it. Returns the bound capped at 1.
    """
    d = check_dim(d)
    eps = check_float(eps, "eps", low=0.0, high=1.0, open_low=True, open_high=True)
    n = d if n is None else check_int(n, "n", minimum=1)
    if n == 1:
        return 0.0  # no pair, no failure
    t = (1.0 - eps) ** 2
    log_bound = np.log(n * (n - 1) / 2.0) - 0.5 * d * (t - 1.0 - np.log(t))
    return float(min(1.0, np.exp(log_bound)))


def sign_cube_radius(a: Float[Array, "d d"], chunk: int = 65536) -> Float[Array, ""]:
    """Exact optimal robustness on Theorem 5's data ``{A z : z in {-1, 1}^d}`` labelled by ``z_d``.

    Two points of different classes differ by ``A (z - z')`` with ``(z - z')_d = +-2`` and the other entries in
    ``{-2, 0, 2}``, so half the smallest inter-class distance is ``min_{v in {-1,0,1}^{d-1}} ||a_d + A_{<d} v||``
    (``a_d`` the last column). The ``3^(d-1)`` candidates are enumerated in chunks of ``chunk`` under
    ``lax.map``, so memory stays at ``chunk x d``.
    """
    check_array(a, "a", ndim=2, square=True, min_size={0: 2})
    chunk = check_int(chunk, "chunk", minimum=1)
    d = a.shape[0]
    if d > 20:
        raise ValueError(f"a must be at most 20 x 20 for exact enumeration of 3^(d-1) points, got d = {d}")
    total = 3 ** (d - 1)
    n_chunks = -(-total // chunk)
    powers = 3 ** jnp.arange(d - 1)

    def chunk_min(c):
        idx = c * chunk + jnp.arange(chunk)
        v = ((idx[:, None] // powers[None, :]) % 3 - 1).astype(a.dtype)
        dist2 = jnp.sum((a[:, -1][None, :] + v @ a[:, :-1].T) ** 2, axis=1)
        return jnp.min(jnp.where(idx < total, dist2, jnp.inf))

    return jnp.sqrt(jnp.min(jax.lax.map(chunk_min, jnp.arange(n_chunks))))
