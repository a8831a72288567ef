"""One Monte-Carlo trial of each Gaussian-data statement of Gao et al. (arXiv 2406.16200): key in, statistics out.

Each function draws its own data from ``key`` and returns a dict of scalars (and flags), so
``map_trials(partial(fn, d=d), key, n)`` vmaps it over trials. ``d`` and ``dtype`` must be static.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from ._types import Array, Float, Key
from ._validate import check_dim, check_dtype, check_key
from .compression import theorem1_vector, trailing_from_probes, trailing_qr, two_probe_bound
from .data_laws import points_from_law
from .ensembles import gaussian_points, gaussian_product
from .geometry import gram, min_pairwise_distance, optimal_radius, point_radius
from .linear import affine_min_perturbation

Stats = dict[str, Array]
Draw = Literal["normal", "paired"]
_DRAWS = ("normal", "paired")
Theorem1Method = Literal["lu", "cholesky"]


def paired_normal(key: Key, shape: tuple[int, ...], dtype=jnp.float32) -> Float[Array, ...]:
    """``jax.random.normal`` drawn with JAX's non-partitionable Threefry (``jax.threefry_partitionable(False)``).

    The default partitionable mode hashes one counter per 32-bit output word; the original mode takes both words
    of every Threefry-2x32 block, half the hashing. Same law (standard normals, JAX's own uniform and inverse-CDF
    steps), different bits from the same key; like any per-key draw it does not depend on chunking or devices.
    """
    check_key(key)
    dtype = check_dtype(dtype)
    with jax.threefry_partitionable(False):
        return jax.random.normal(key, shape, dtype)


def _draw_points(key: Key, d: int, dtype, draw: Draw) -> Float[Array, "d d"]:
    if draw == "normal":
        return gaussian_points(key, d, dtype=dtype).T
    if draw == "paired":
        return paired_normal(key, (check_dim(d), d), dtype)
    raise ValueError(f"draw must be one of {_DRAWS}, got {draw!r}")


def min_distance_trial(key: Key, d: int, dtype=jnp.float32, *, draw: Draw = "normal") -> Stats:
    """``rho = min_{i != j} ||x_i - x_j|| / sqrt(2d)`` for d points in R^d (v1 Lemma 2).

    ``draw="paired"`` samples with :func:`paired_normal` (same law, faster) instead of ``jax.random.normal``.
    """
    return min_distance_stats(_draw_points(key, d, dtype, draw).T)


def min_distance_stats(points: Float[Array, "n d"]) -> Stats:
    """:func:`min_distance_trial`'s statistic for given points (rows): one Gram matrix, one min."""
    return {"rho": min_pairwise_distance(points) / jnp.sqrt(2.0 * points.shape[1])}


def optimal_radius_trial(key: Key, d: int, dtype=jnp.float32) -> Stats:
    """Mean and minimum over the d training points of the optimal classifier's exact radius."""
    r = optimal_radius(gaussian_points(key, d, dtype=dtype))
    return {"mean_radius": jnp.mean(r), "min_radius": jnp.min(r)}


def qr_trial(key: Key, d: int, dtype=jnp.float64, method: str = "solve") -> Stats:
    """``R_{d-1,d-1}, R_{d-1,d}, R_dd`` of a Gaussian ``d x d`` matrix and ``phi = R_dd / ||x_d||``."""
    x = gaussian_points(key, d, dtype=dtype).T  # the paper's X: points in columns
    t = trailing_qr(x, method)
    return {"r_pp": t.r_pp, "r_pd": t.r_pd, "r_dd": t.r_dd, "phi": t.r_dd / jnp.linalg.norm(x[:, -1])}


def theorem1_trial(key: Key, d: int, dtype=jnp.float64, check_all_points: bool = True, *,
                   draw: Draw = "normal", method: Theorem1Method = "lu") -> Stats:
    """Theorem 1 at ``x_d``: the perturbation ``e``, its bound, whether it fools ``f = X^{-1}``, the radius ratio.

    One LU factorisation of ``X`` serves the probes (``X^T P = [e_{d-1}, e_d]``), the network's outputs at
    ``x_d + e`` and, when ``check_all_points``, the one-hot check ``f(X) = I`` on every training point.
    ``draw="paired"`` samples with :func:`paired_normal` (same law, half the Threefry hashing) instead of
    ``jax.random.normal``;
    ``method="cholesky"`` is the GEMM-heavy path of :func:`theorem1_stats` (faster on GPUs).
    """
    return theorem1_stats(_draw_points(key, d, dtype, draw), check_all_points, method)


def theorem1_stats(x: Float[Array, "d d"], check_all_points: bool = True, method: Theorem1Method = "lu") -> Stats:
    """:func:`theorem1_trial`'s statistics for a given square data matrix ``x`` (points in columns).

    ``method="lu"``: one LU of ``X`` gives the probes (last two rows of ``X^{-1}``) and ``f(v) = X^{-1} v``.
    ``method="cholesky"``: ``G = X^T X = R^T R`` (a GEMM) and its Cholesky factor replace the LU, and every
    ``X^{-1} v`` is solved by the corrected semi-normal equations (``G^{-1} X^T v``, then one refinement step on
    the residual ``v - X f``): a plain normal-equations solve has error ~ cond(X)^2 eps (about sqrt(eps) at
    d = 2048), one correction brings it back to the ~ cond(X) eps of LU while cond(X)^2 eps << 1 (Bjorck's
    corrected semi-normal equations). It costs ~ 31/3 d^3 flops against LU's 8/3 d^3, but 6 d^3 of them are
    GEMMs and Cholesky needs no pivoting: measured on an H100 (float64, 32 matrices per vmap) 1.15x / 1.5x / 1.9x
    faster than LU at d = 512 / 1024 / 2048, slower at 256 and 4096; slower on a CPU.
    """
    d, dtype = x.shape[0], x.dtype
    cols = x if check_all_points else x[:, -2:]
    target = jnp.eye(d, dtype=dtype) if check_all_points else jnp.eye(d, dtype=dtype)[:, -2:]
    rhs = jnp.zeros((d, 2), dtype).at[d - 2, 0].set(1).at[d - 1, 1].set(1)
    if method == "lu":
        lu = jsl.lu_factor(x)
        t = trailing_from_probes(jsl.lu_solve(lu, rhs, trans=1))
        e = theorem1_vector(t)
        # One solve for f(x_d + e) and f(X): the LAPACK calls then form a chain (factor -> probes -> outputs).
        # jaxlib 0.10's CPU LAPACK kernels block a pool thread while they spread their batch over the same pool,
        # so two independent batched solves at once can deadlock a 2-thread pool (seen on a 2-core machine).
        sol = jsl.lu_solve(lu, jnp.concatenate([(x[:, -1] + e)[:, None], cols], axis=1))
    elif method == "cholesky":
        g = gram(x.T)
        cho = (jnp.linalg.cholesky(g), True)

        def mm(a, b):
            return jnp.matmul(a, b, precision="highest")

        # Probes X^{-T} E = X G^{-1} E, corrected once on the residual E - X^T P.
        p = mm(x, jsl.cho_solve(cho, rhs))
        p = p + mm(x, jsl.cho_solve(cho, rhs - mm(x.T, p)))
        t = trailing_from_probes(p)
        e = theorem1_vector(t)
        v = jnp.concatenate([(x[:, -1] + e)[:, None], cols], axis=1)
        xtv = jnp.concatenate([mm(x.T, v[:, 0])[:, None], g if check_all_points else g[:, -2:]], axis=1)
        sol = jsl.cho_solve(cho, xtv)
        sol = sol + jsl.cho_solve(cho, mm(x.T, v - mm(x, sol)))
    else:
        raise ValueError(f"method must be 'lu' or 'cholesky', got {method!r}")
    f_after, onehot = sol[:, 0], sol[:, 1:]
    top = jnp.argmax(f_after)
    norm_e = jnp.linalg.norm(e)
    radius = point_radius(x.T, d - 1)
    return {
        "onehot_error": jnp.max(jnp.abs(onehot - target)),
        "onehot_argmax_ok": jnp.all(jnp.argmax(onehot, axis=0) == jnp.argmax(target, axis=0)),
        "pair_margin": f_after[d - 2] - f_after[d - 1],
        "moved_off_d": top != d - 1,
        "argmax_is_d_minus_1": top == d - 2,
        "norm_e": norm_e,
        "bound": jnp.abs(t.r_pp) + jnp.abs(t.r_pd) + jnp.abs(t.r_dd),
        "radius": radius,
        "ratio": norm_e / radius,
    }


def two_probe_trial(key: Key, d: int, dtype=jnp.float64) -> Stats:
    """Theorem 4's two-probe bound for random probes and input against the exact hyperplane distance.

    Also crosses the boundary with the perturbation of length ``|bound| (1 + 1e-6)`` along ``p_j - p_i`` (or
    back) and records whether the sign of ``f_i - f_j`` flipped.
    """
    dtype = check_dtype(dtype)
    ki, kj, kx = jax.random.split(key, 3)
    p_i, p_j = (jax.random.normal(k, (d,), dtype) for k in (ki, kj))
    x = jax.random.normal(kx, (d,), dtype)
    tp = two_probe_bound(p_i, p_j, x)
    diff = p_i - p_j
    ndiff = jnp.linalg.norm(diff)
    exact = jnp.dot(diff, x) / ndiff
    x_adv = x - (tp.bound * (1 + 1e-6)) * diff / ndiff
    scale = (jnp.linalg.norm(p_i) + jnp.linalg.norm(p_j)) * jnp.linalg.norm(x) / ndiff
    return {
        "error": jnp.abs(tp.bound - exact),
        "scale": scale,
        "slack": tp.upper - tp.bound,
        "flipped": jnp.sign(jnp.dot(diff, x_adv)) == -jnp.sign(jnp.dot(diff, x)),
    }


def exact_gap_trial(key: Key, d: int, dtype=jnp.float64) -> Stats:
    """Exact robustness of Theorem 1's network ``f = X^{-1}`` at ``x_d`` against the optimal radius.

    ``exact`` minimises over every class (rows of ``X^{-1}``); ``pair`` is the exact distance to the (d-1, d)
    boundary of the theorem; ``theorem`` is ``||e||`` of the construction (an upper bound on ``pair``).
    """
    return exact_gap_stats(gaussian_points(key, d, dtype=dtype).T)  # the paper's X: points in columns


def exact_gap_law_trial(key: Key, d: int, law: str, param: float = 3.0, dtype=jnp.float64) -> Stats:
    """:func:`exact_gap_trial` on d points from :func:`fcjax.data_laws.points_from_law` (a singular draw, e.g.
    two equal Rademacher points, gives non-finite statistics: callers count and drop them)."""
    return exact_gap_stats(points_from_law(key, d, law, param=param, dtype=dtype).T)


def exact_gap_stats(x: Float[Array, "d d"]) -> Stats:
    """:func:`exact_gap_trial`'s statistics for a given data matrix ``X`` (points in columns, the paper's layout)."""
    d = x.shape[0]
    w = jnp.linalg.inv(x)
    xd = x[:, -1]
    exact = affine_min_perturbation(w, None, xd, label=d - 1).distance
    f = w @ xd
    pair = (f[d - 1] - f[d - 2]) / jnp.linalg.norm(w[d - 1] - w[d - 2])
    t = trailing_from_probes(w[-2:].T)
    theorem = jnp.linalg.norm(theorem1_vector(t))
    radius = point_radius(x.T, d - 1)
    return {"exact": exact / radius, "pair": pair / radius, "theorem": theorem / radius, "radius": radius}


def product_qr_trial(key: Key, d: int, t: int, dtype=jnp.float64) -> Stats:
    """``R(P)_dd`` of ``P = G_t ... G_1`` as ``1 / ||e_d^T P^{-1}||``, by ``t`` solves (no product is formed).

    ``e_d^T P^{-1} = e_d^T G_1^{-1} ... G_t^{-1}``; each factor has condition number ~ d, the product ~ d^t.
    Reference ``prod_chi1`` draws ``t`` independent ``|N(0,1)|`` from a split of the key (the law derived in our
    notes for Lemma 7).
    """
    kg, kr = jax.random.split(key)
    gs = gaussian_product(kg, d, t, dtype=dtype)

    def step(y, g):
        return jnp.linalg.solve(g.T, y), None

    y, _ = jax.lax.scan(step, jnp.zeros(d, dtype).at[d - 1].set(1), gs)
    return {"r_dd": 1.0 / jnp.linalg.norm(y), "prod_chi1": jnp.prod(jnp.abs(jax.random.normal(kr, (t,), dtype)))}
