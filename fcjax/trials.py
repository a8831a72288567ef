"""One Monte-Carlo trial of each Gaussian-data statement of Gao et al. (arXiv 2406.16200): key in, statistics out.

Each function draws its own data from ``key`` and returns a dict of scalars (and flags), so
``map_trials(partial(fn, d=d), key, n)`` vmaps it over trials. ``d`` and ``dtype`` must be static.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from ._types import Array, Key
from .compression import trailing_from_probes, trailing_qr, two_probe_bound
from .ensembles import gaussian_points, gaussian_product
from .geometry import min_pairwise_distance, optimal_radius, point_radius
from .linear import affine_min_perturbation

Stats = dict[str, Array]


def min_distance_trial(key: Key, d: int, dtype=jnp.float32) -> Stats:
    """``rho = min_{i != j} ||x_i - x_j|| / sqrt(2d)`` for d points in R^d (v1 Lemma 2)."""
    x = gaussian_points(key, d, dtype=dtype)
    return {"rho": min_pairwise_distance(x) / jnp.sqrt(2.0 * d)}


def optimal_radius_trial(key: Key, d: int, dtype=jnp.float32) -> Stats:
    """Mean and minimum over the d training points of the optimal classifier's exact radius."""
    r = optimal_radius(gaussian_points(key, d, dtype=dtype))
    return {"mean_radius": jnp.mean(r), "min_radius": jnp.min(r)}


def qr_trial(key: Key, d: int, dtype=jnp.float64, method: str = "solve") -> Stats:
    """``R_{d-1,d-1}, R_{d-1,d}, R_dd`` of a Gaussian ``d x d`` matrix and ``phi = R_dd / ||x_d||``."""
    x = gaussian_points(key, d, dtype=dtype)
    t = trailing_qr(x, method)
    return {"r_pp": t.r_pp, "r_pd": t.r_pd, "r_dd": t.r_dd, "phi": t.r_dd / jnp.linalg.norm(x[:, -1])}


def theorem1_trial(key: Key, d: int, dtype=jnp.float64, check_all_points: bool = True) -> Stats:
    """Theorem 1 at ``x_d``: the perturbation ``e``, its bound, whether it fools ``f = X^{-1}``, the radius ratio.

    One LU factorisation of ``X`` serves the probes (``X^T P = [e_{d-1}, e_d]``), the network's outputs at
    ``x_d + e`` and, when ``check_all_points``, the one-hot check ``f(X) = I`` on every training point.
    """
    x = gaussian_points(key, d, dtype=dtype)
    lu = jsl.lu_factor(x)
    rhs = jnp.zeros((d, 2), dtype).at[d - 2, 0].set(1).at[d - 1, 1].set(1)
    t = trailing_from_probes(jsl.lu_solve(lu, rhs, trans=1))
    e = (t.r_pp - t.r_pd) * t.q_p - t.r_dd * t.q_d
    f_after = jsl.lu_solve(lu, x[:, -1] + e)
    cols = x if check_all_points else x[:, -2:]
    target = jnp.eye(d, dtype=dtype) if check_all_points else jnp.eye(d, dtype=dtype)[:, -2:]
    onehot = jsl.lu_solve(lu, cols)
    top = jnp.argmax(f_after)
    norm_e = jnp.linalg.norm(e)
    radius = point_radius(x, d - 1)
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
    x = gaussian_points(key, d, dtype=dtype)
    w = jnp.linalg.inv(x)
    xd = x[:, -1]
    exact = affine_min_perturbation(w, None, xd, label=d - 1).distance
    f = w @ xd
    pair = (f[d - 1] - f[d - 2]) / jnp.linalg.norm(w[d - 1] - w[d - 2])
    t = trailing_from_probes(w[-2:].T)
    theorem = jnp.hypot(t.r_pp - t.r_pd, t.r_dd)
    radius = point_radius(x, d - 1)
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
