"""Distances between data points and the exact robustness of the optimal (minimum-distance) classifier.

Gao et al. (arXiv 2406.16200), Lemma 2 (v1): d i.i.d. N(0, I_d) points are at least (1 - eps) sqrt(2d) apart with
high probability, so the minimum-distance classifier cannot be flipped at a training point by less than half the
distance to its nearest other point, which is of order sqrt(d/2).
All distances come from the Gram matrix (one GEMM), never from an n x n x d tensor of differences.
Points are rows, ``(n, d)``, as everywhere in fcjax's public API; the paper's data matrix is ``X = points.T``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._types import Array, Float, Int
from ._validate import check_array, check_dim, check_float, check_int


def gram(points: Float[Array, "n d"]) -> Float[Array, "n n"]:
    """``G = P P^T`` for points in the rows of ``points`` (full precision on every backend).

    The paper's data matrix is ``X = points.T``, so this is its ``X^T X``.
    """
    check_array(points, "points", ndim=2)
    return jnp.matmul(points, points.T, precision="highest")


def pairwise_sq_distances(points: Float[Array, "n d"]) -> Float[Array, "n n"]:
    """Squared distances ``||x_i - x_j||^2 = G_ii + G_jj - 2 G_ij`` between rows (clipped at 0 against rounding)."""
    g = gram(points)
    sq = jnp.diagonal(g)
    return jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * g, 0.0)


def _off_diagonal(d2: Float[Array, "n n"]) -> Float[Array, "n n"]:
    return jnp.where(jnp.eye(d2.shape[0], dtype=bool), jnp.inf, d2)


def _check_points(points: Array) -> Array:
    return check_array(points, "points", ndim=2, min_size={0: 2})


def nearest_other_distance(points: Float[Array, "n d"]) -> Float[Array, " n"]:
    """``min_{j != i} ||x_i - x_j||`` for every point ``i`` (rows of ``points``), shape ``(n,)``."""
    _check_points(points)
    return jnp.sqrt(jnp.min(_off_diagonal(pairwise_sq_distances(points)), axis=1))


def nearest_other_index(points: Float[Array, "n d"]) -> Int[Array, " n"]:
    """``argmin_{j != i} ||x_i - x_j||`` for every point ``i`` (rows of ``points``), shape ``(n,)``."""
    _check_points(points)
    return jnp.argmin(_off_diagonal(pairwise_sq_distances(points)), axis=1)


def min_pairwise_distance(points: Float[Array, "n d"]) -> Float[Array, ""]:
    """``min_{i != j} ||x_i - x_j||`` over the rows of ``points``."""
    return jnp.min(nearest_other_distance(points))


def optimal_radius(points: Float[Array, "n d"]) -> Float[Array, " n"]:
    """Exact robustness of the minimum-distance classifier at each training point (rows), shape ``(n,)``.

    With one point per class the decision boundary between ``x_i`` and ``x_j`` is their bisecting hyperplane,
    so the smallest label-changing perturbation of ``x_i`` has length ``1/2 min_{j != i} ||x_i - x_j||``.
    """
    return 0.5 * nearest_other_distance(points)


def point_radius(points: Float[Array, "n d"], i: int) -> Float[Array, ""]:
    """``optimal_radius(points)[i]`` with one matrix-vector product instead of the whole Gram matrix."""
    _check_points(points)
    n = points.shape[0]
    i = check_int(i, "i")
    if not -n <= i < n:
        raise ValueError(f"i must index one of the {n} points (rows of points, -{n} <= i < {n}), got {i}")
    i %= n
    xi = points[i]
    d2 = jnp.sum(points * points, axis=1) + jnp.dot(xi, xi) - 2.0 * jnp.matmul(points, xi, precision="highest")
    d2 = jnp.where(jnp.arange(n) == i, jnp.inf, jnp.maximum(d2, 0.0))
    return 0.5 * jnp.sqrt(jnp.min(d2))


def nearest_point_classify(points: Float[Array, "n d"], queries: Float[Array, "m d"]) -> Int[Array, " m"]:
    """The optimal classifier's labels: the index of the nearest row of ``points`` for each row of ``queries``."""
    check_array(points, "points", ndim=2, min_size={0: 1})
    check_array(queries, "queries", ndim=2)
    if queries.shape[1] != points.shape[1]:
        raise ValueError(f"queries must have {points.shape[1]} columns (one point per row, like points "
                         f"{tuple(points.shape)}), got shape {tuple(queries.shape)}")
    cross = jnp.matmul(queries, points.T, precision="highest")
    return jnp.argmin(jnp.sum(points * points, axis=1)[None, :] - 2.0 * cross, axis=1)


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
