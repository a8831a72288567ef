"""QR quantities of the data matrix, the Theorem-1 perturbation and the compression ratio.

Gao et al. (arXiv 2406.16200), Theorem 1: with ``X = Q R`` (R upper triangular, positive diagonal), the linear
network ``f(x) = R^{-1} Q^T x`` is one-hot on the training points, and the perturbation ``e = Q b`` that moves
the last two Q-coordinates of ``x_d`` to those of ``x_{d-1}`` makes class d-1 beat class d with
``||e|| <= |R_{d-1,d-1}| + |R_{d-1,d}| + |R_{d,d}|`` = O(1), while the optimal classifier needs ~ sqrt(d/2).

Only the trailing 2 x 2 block of R and the last two columns of Q enter the theorem, so the default path never
forms a QR: ``f = X^{-1}``, its last two rows ("probes") come from one LU solve, and two Gram-Schmidt steps on
them give the block (``p_d = q_d / R_dd``, ``[q_{d-1}, q_d] = [p_{d-1}, p_d] R_22^T``). ``method="cholesky"``
reads R from the Cholesky factor of the Gram matrix (shared with the distance computation, float64 only:
cond(X^T X) ~ d^2), and ``method="qr"`` is the plain reference.

These functions take the paper's data matrix ``X`` (one point per column, as the theorem is stated); from points in
fcjax's row layout, ``X = points.T``. They are exported as ``fcjax.gao2024``.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp

from ._types import Array, Float
from ._validate import check_array
from .geometry import gram

Method = Literal["solve", "cholesky", "qr"]
_METHODS = ("solve", "cholesky", "qr")


def positive_qr(x: Float[Array, "d n"]) -> tuple[Float[Array, "d n"], Float[Array, "n n"]]:
    """Reduced QR ``x = Q R`` with ``R``'s diagonal made non-negative (``jnp.linalg.qr`` does not promise it)."""
    check_array(x, "x", ndim=2)
    q, r = jnp.linalg.qr(x)
    s = jnp.where(jnp.diagonal(r) < 0, -1.0, 1.0).astype(x.dtype)
    return q * s[None, :], r * s[:, None]


class TwoColumnQR(NamedTuple):
    """QR of a ``(d, 2)`` matrix ``[p1, p2] = [q1, q2] [[r11, r12], [0, r22]]``."""

    q1: Float[Array, " d"]
    q2: Float[Array, " d"]
    r11: Float[Array, ""]
    r12: Float[Array, ""]
    r22: Float[Array, ""]


def _unit_and_norm(v: Float[Array, " d"]) -> tuple[Float[Array, " d"], Float[Array, ""]]:
    nv = jnp.linalg.norm(v)
    return v / nv, nv


def _orthogonalise(v: Float[Array, " d"], q: Float[Array, " d"]) -> tuple[Float[Array, " d"], Float[Array, ""]]:
    # Two passes of classical Gram-Schmidt ("twice is enough") keep q'v accurate when v is nearly parallel to q.
    c1 = jnp.dot(q, v)
    v = v - c1 * q
    c2 = jnp.dot(q, v)
    return v - c2 * q, c1 + c2


def gram_schmidt2(p1: Float[Array, " d"], p2: Float[Array, " d"]) -> TwoColumnQR:
    """Two Gram-Schmidt steps: the positive-diagonal QR of ``[p1, p2]`` without a d x d factorisation."""
    check_array(p1, "p1", ndim=1, min_size={0: 2})
    check_array(p2, "p2", ndim=1)
    if p2.shape != p1.shape:
        raise ValueError(f"p2 must have p1's shape {p1.shape}, got {p2.shape}")
    q1, r11 = _unit_and_norm(p1)
    u, r12 = _orthogonalise(p2, q1)
    q2, r22 = _unit_and_norm(u)
    return TwoColumnQR(q1, q2, r11, r12, r22)


class TwoProbeBound(NamedTuple):
    """Gao et al. Theorem 4 (two probes): ``bound = (r11 a1 - (r12 a1 + r22 a2)) / sqrt((r12 - r11)^2 + r22^2)``.

    ``bound`` is exactly the signed distance from ``x`` to the hyperplane ``probe_i^T x = probe_j^T x`` (positive
    when class i wins) and ``bound <= upper = sqrt(a1^2 + a2^2)`` by Cauchy-Schwarz.
    """

    bound: Float[Array, ""]
    upper: Float[Array, ""]
    a1: Float[Array, ""]
    a2: Float[Array, ""]
    qr: TwoColumnQR


def two_probe_bound(probe_i: Float[Array, " d"], probe_j: Float[Array, " d"], x: Float[Array, " d"]) -> TwoProbeBound:
    """The two-probe perturbation bound of Gao et al. (Theorem 4, the seed summary's formula) at input ``x``.

    With ``[probe_i, probe_j] = [q1, q2] [[r11, r12], [0, r22]]``, ``a1 = q1^T x`` and ``a2 = q2^T x``:
    ``f_i(x) = r11 a1``, ``f_j(x) = r12 a1 + r22 a2`` and
    ``||Delta|| <= (r11 a1 - (r12 a1 + r22 a2)) / sqrt((r12 - r11)^2 + r22^2) <= sqrt(a1^2 + a2^2)``.
    """
    for name, v in (("probe_i", probe_i), ("probe_j", probe_j), ("x", x)):
        check_array(v, name, ndim=1)
    if not probe_i.shape == probe_j.shape == x.shape:
        raise ValueError(f"probe_i, probe_j and x must have one shape, got {probe_i.shape}, {probe_j.shape}, {x.shape}")
    qr = gram_schmidt2(probe_i, probe_j)
    a1, a2 = jnp.dot(qr.q1, x), jnp.dot(qr.q2, x)
    num = qr.r11 * a1 - (qr.r12 * a1 + qr.r22 * a2)
    bound = num / jnp.sqrt((qr.r12 - qr.r11) ** 2 + qr.r22**2)
    return TwoProbeBound(bound, jnp.sqrt(a1**2 + a2**2), a1, a2, qr)


class TrailingQR(NamedTuple):
    """The trailing block of ``X = Q R``: ``R_{d-1,d-1}``, ``R_{d-1,d}``, ``R_{d,d}`` and ``q_{d-1}``, ``q_d``."""

    r_pp: Float[Array, ""]
    r_pd: Float[Array, ""]
    r_dd: Float[Array, ""]
    q_p: Float[Array, " d"]
    q_d: Float[Array, " d"]


def last_two_probes(x: Float[Array, "d d"]) -> Float[Array, "d 2"]:
    """The last two rows of ``X^{-1}`` as columns ``[p_{d-1}, p_d]``: the probes of classes d-1 and d.

    ``f(x) = R^{-1} Q^T x = X^{-1} x`` for square ``X``, so ``f_k(x) = p_k^T x``; one LU solve of
    ``X^T P = [e_{d-1}, e_d]`` gives both.
    """
    check_array(x, "x", ndim=2, square=True, min_size={0: 2})
    d = x.shape[0]
    rhs = jnp.zeros((d, 2), x.dtype).at[d - 2, 0].set(1).at[d - 1, 1].set(1)
    return jnp.linalg.solve(x.T, rhs)


def trailing_from_probes(p: Float[Array, "d 2"]) -> TrailingQR:
    """The trailing QR block from the probes ``[p_{d-1}, p_d]`` (last two rows of ``X^{-1}``).

    Two Gram-Schmidt steps, most recent probe first.
    """
    check_array(p, "p", ndim=2, min_size={0: 2})
    if p.shape[1] != 2:
        raise ValueError(f"p must hold the two probes as columns, shape (d, 2), got {p.shape}")
    # p_d = q_d / R_dd and p_{d-1} = q_{d-1} / R_{d-1,d-1} - R_{d-1,d} / (R_{d-1,d-1} R_dd) q_d.
    q_d, n_d = _unit_and_norm(p[:, 1])
    u, c = _orthogonalise(p[:, 0], q_d)
    q_p, n_p = _unit_and_norm(u)
    r_dd, r_pp = 1.0 / n_d, 1.0 / n_p
    return TrailingQR(r_pp, -c * r_pp * r_dd, r_dd, q_p, q_d)


def _trailing_from_cholesky(x: Float[Array, "d d"], g: Float[Array, "d d"] | None) -> TrailingQR:
    # X^T X = R^T R, so R is the transposed Cholesky factor and Q[:, -2:] = X R^{-1}[:, -2:].
    d = x.shape[0]
    low = jnp.linalg.cholesky(gram(x.T) if g is None else g)
    rhs = jnp.zeros((d, 2), x.dtype).at[d - 2, 0].set(1).at[d - 1, 1].set(1)
    z = jax.scipy.linalg.solve_triangular(low.T, rhs, lower=False)
    q = jnp.matmul(x, z, precision="highest")
    return TrailingQR(low[d - 2, d - 2], low[d - 1, d - 2], low[d - 1, d - 1], q[:, 0], q[:, 1])


def _trailing_from_qr(x: Float[Array, "d d"]) -> TrailingQR:
    q, r = positive_qr(x)
    return TrailingQR(r[-2, -2], r[-2, -1], r[-1, -1], q[:, -2], q[:, -1])


def trailing_qr(x: Float[Array, "d d"], method: Method = "solve", g: Float[Array, "d d"] | None = None) -> TrailingQR:
    """``R_{d-1,d-1}, R_{d-1,d}, R_dd, q_{d-1}, q_d`` of the positive-diagonal QR of a square ``x``.

    Args:
      x: ``(d, d)`` data matrix, points in columns.
      method: ``"solve"`` (LU solve for two probes + two Gram-Schmidt steps; accurate to ~cond(X) eps),
        ``"cholesky"`` (from the Gram matrix; needs float64 since cond(X^T X) ~ d^2) or ``"qr"`` (reference).
      g: optional precomputed ``X^T X`` for ``method="cholesky"``.
    """
    check_array(x, "x", ndim=2, square=True, min_size={0: 2})
    if method == "solve":
        return trailing_from_probes(last_two_probes(x))
    if method == "cholesky":
        if x.dtype != jnp.float64:
            raise ValueError(f"method='cholesky' needs float64 x (cond(X^T X) ~ d^2), got {x.dtype}; use 'solve'")
        return _trailing_from_cholesky(x, g)
    if method == "qr":
        return _trailing_from_qr(x)
    raise ValueError(f"method must be one of {_METHODS}, got {method!r}")


class Theorem1Perturbation(NamedTuple):
    """Gao et al. Theorem 1's perturbation ``e = Q b`` at ``x_d`` and its bound."""

    e: Float[Array, " d"]
    norm: Float[Array, ""]
    bound: Float[Array, ""]
    trailing: TrailingQR


def theorem1_vector(t: TrailingQR) -> Float[Array, " d"]:
    """``e = (R_{d-1,d-1} - R_{d-1,d}) q_{d-1} - R_dd q_d``: Theorem 1's perturbation from the trailing block."""
    return (t.r_pp - t.r_pd) * t.q_p - t.r_dd * t.q_d


def theorem1_perturbation(x: Float[Array, "d d"], method: Method = "solve", *, trailing: TrailingQR | None = None
                          ) -> Theorem1Perturbation:
    """The perturbation that makes the interpolating network put class d-1 above class d at ``x_d``.

    ``b_{d-1} = R_{d-1,d-1} - R_{d-1,d}``, ``b_d = -R_dd`` (all other ``b_k = 0``), ``e = Q b``, so that
    ``f_d(x_d + e) = 0`` and ``f_{d-1}(x_d + e) = 1``; ``||e|| <= |R_{d-1,d-1}| + |R_{d-1,d}| + |R_dd|``
    (Gao et al., Theorem 1; construction derived in our notes).
    """
    t = trailing_qr(x, method) if trailing is None else trailing
    e = theorem1_vector(t)
    return Theorem1Perturbation(e, jnp.linalg.norm(e), jnp.abs(t.r_pp) + jnp.abs(t.r_pd) + jnp.abs(t.r_dd), t)


def compression_ratio(x: Float[Array, "d d"], method: Method = "solve") -> Float[Array, ""]:
    """``phi = R_dd / ||x_d|| = cos angle(q_d, x_d)`` (Gao et al., Theorem 5's compression ratio).

    For Gaussian ``X``, ``phi^2 ~ Beta(1/2, (d-1)/2)`` and ``E phi^2 = 1/d`` (derived in our notes).
    """
    return trailing_qr(x, method).r_dd / jnp.linalg.norm(x[:, -1])


def interpolating_network(x: Float[Array, "d d"]) -> Float[Array, "d d"]:
    """The weight matrix ``W = R^{-1} Q^T = X^{-1}`` of Theorem 1's network ``f(x) = W x`` (rows are probes)."""
    check_array(x, "x", ndim=2, square=True, min_size={0: 2})
    return jnp.linalg.inv(x)
