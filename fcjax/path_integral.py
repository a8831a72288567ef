"""The path-integral distance formula of Gao et al. (arXiv 2406.16200, Section 5).

Along the segment ``x_gamma = x2 + gamma u``, ``u = (x1 - x2) / L``, ``L = ||x1 - x2||``:

    D = g(x1) - g(x2) = int_0^L ||grad g(x_gamma)|| cos(theta_gamma) d gamma,

with ``theta_gamma`` the angle between ``grad g(x_gamma)`` and ``u``. The mean ``|cos theta|`` along the path is the
compression ratio: an attacker moving along the gradient needs a path about ``L |mean cos theta|`` long, against
``L / 2`` for the optimal classifier.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._types import Array, Float
from ._validate import check_array, check_dtype, check_int


class PathIntegral(NamedTuple):
    """Gauss-Legendre evaluation of the path integral from ``x2`` to ``x1``.

    ``value`` is the quadrature, ``difference`` the exact ``g(x1) - g(x2)``, ``gamma`` the nodes in
    ``[0, length]``, ``integrand = ||grad g|| cos theta`` and ``cos`` its cosine factor at the nodes;
    ``mean_abs_cos`` is the path average of ``|cos theta|``.
    """

    value: Float[Array, ""]
    difference: Float[Array, ""]
    length: Float[Array, ""]
    gamma: Float[Array, " n"]
    integrand: Float[Array, " n"]
    cos: Float[Array, " n"]
    grad_norm: Float[Array, " n"]
    mean_abs_cos: Float[Array, ""]


def gauss_legendre(n: int, dtype=jnp.float32) -> tuple[Float[Array, " n"], Float[Array, " n"]]:
    """Nodes and weights of the ``n``-point Gauss-Legendre rule on ``[-1, 1]`` (exact for degree ``2n - 1``)."""
    n = check_int(n, "n_nodes", minimum=1)
    dtype = check_dtype(dtype)
    t, w = np.polynomial.legendre.leggauss(n)
    return jnp.asarray(t, dtype), jnp.asarray(w, dtype)


def path_integral(g: Callable[[Float[Array, " d"]], Float[Array, ""]], x1: Float[Array, " d"],
                  x2: Float[Array, " d"], n_nodes: int = 64) -> PathIntegral:
    """Quadrature of ``int ||grad g|| cos theta`` along the straight path from ``x2`` to ``x1``.

    Args:
      g: a differentiable scalar function of one input (e.g. a network's class-score difference).
      x1, x2: ``(d,)`` end points (distinct).
      n_nodes: Gauss-Legendre nodes; for ReLU networks the integrand is piecewise constant, so compare ``n`` with
        ``2n`` to estimate the quadrature error.

    Example:
      >>> import jax.numpy as jnp
      >>> r = path_integral(lambda x: jnp.sum(jnp.sin(x)), jnp.ones(3), jnp.zeros(3), n_nodes=8)
      >>> bool(jnp.allclose(r.value, r.difference, atol=1e-5))
      True
    """
    check_array(x1, "x1", ndim=1)
    check_array(x2, "x2", ndim=1)
    if x1.shape != x2.shape:
        raise ValueError(f"x1 and x2 must have one shape, got {x1.shape} and {x2.shape}")
    concrete = not isinstance(x1, jax.core.Tracer) and not isinstance(x2, jax.core.Tracer)
    if concrete and bool(np.all(np.asarray(x1) == np.asarray(x2))):
        raise ValueError("x1 and x2 must be distinct points (the path has zero length)")
    t, w = gauss_legendre(n_nodes, x1.dtype)
    delta = x1 - x2
    length = jnp.linalg.norm(delta)
    u = delta / length
    gamma = 0.5 * length * (t + 1.0)
    grads = jax.vmap(jax.grad(g))(x2[None, :] + gamma[:, None] * u[None, :])
    grad_norm = jnp.linalg.norm(grads, axis=1)
    integrand = grads @ u
    cos = integrand / grad_norm
    return PathIntegral(
        value=0.5 * length * jnp.sum(w * integrand),
        difference=g(x1) - g(x2),
        length=length,
        gamma=gamma,
        integrand=integrand,
        cos=cos,
        grad_norm=grad_norm,
        mean_abs_cos=0.5 * jnp.sum(w * jnp.abs(cos)),
    )
