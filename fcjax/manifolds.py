"""Synthetic codes of a d-dimensional manifold with a prescribed power-law PC spectrum ``λ_n = n^(−α)``.

Stringer et al. (Nature 2019), the criterion Jiang, Zhou, Huang (Chin. Phys. B 30, 048702) build on: a code of a
d-dimensional stimulus manifold whose n-th PC variance decays as ``n^(−α)`` is smooth (differentiable) only if
``α > 1 + 2/d``; below it the coding manifold is fractal and small input changes move the code a lot.

The code here is a random Fourier series on the torus ``[0, 2π)^d``:
``Φ_n(s) = √(2 λ_n) cos(k_n·s + φ_n)``, ``n = 1..N``, with the integer frequencies ``k_n`` in order of ``|k|`` (one of
each pair ``±k``) and i.i.d. uniform phases ``φ_n``. The coordinates are uncorrelated with variance ``λ_n`` under a
uniform ``s``, so the PC spectrum is exactly ``λ``. Since ``|k_n| ∝ n^(1/d)``,
``E‖Φ(s+δv) − Φ(s)‖² = Σ_n 4 λ_n sin²(k_n·v δ/2) ∝ δ^min(2, d(α−1))`` as ``δ → 0`` (N → ∞) [D: our derivation of
the criterion], so the squared difference quotient ``‖ΔΦ‖²/δ²`` diverges like ``δ^(d(α−1)−2)`` exactly when
``α < 1 + 2/d``.

    >>> import jax, jax.numpy as jnp
    >>> from fcjax.manifolds import fourier_modes, random_phases, embed
    >>> modes = fourier_modes(2, 4)
    >>> modes.tolist()
    [[0, 1], [1, 0], [1, -1], [1, 1]]
    >>> embed(jnp.zeros((3, 2)), modes, random_phases(jax.random.key(0), 4), 2.0).shape
    (3, 4)
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._types import Array, Float, Int, Key
from ._validate import check_array, check_float, check_int, check_key

Modes = Int[np.ndarray, "N d"] | Int[Array, "N d"]  # integer frequencies, NumPy (static) or JAX


@functools.lru_cache(maxsize=16)
def _modes(d: int, n_modes: int) -> np.ndarray:
    # Radius of a d-ball holding 2·n_modes lattice points (a half-space keeps one of ±k), plus a margin.
    radius = (2 * n_modes * math.gamma(d / 2 + 1) / math.pi ** (d / 2)) ** (1 / d) + 2
    while True:
        side = math.ceil(radius)
        grid = np.stack(np.meshgrid(*[np.arange(-side, side + 1)] * d, indexing="ij"), -1).reshape(-1, d)
        nonzero = grid != 0
        first = grid[np.arange(len(grid)), np.argmax(nonzero, axis=1)]
        grid = grid[first > 0]  # the first nonzero coordinate positive: one of each ±k, and k = 0 dropped
        norm2 = np.sum(grid * grid, axis=1)
        grid = grid[norm2 <= side * side]
        if len(grid) >= n_modes:
            # Order by |k|, ties broken lexicographically so the order is platform-independent.
            order = np.lexsort((*grid.T[::-1], np.sum(grid * grid, axis=1)))
            out = grid[order][:n_modes]
            out.setflags(write=False)
            return out
        radius *= 1.25


def fourier_modes(d: int, n_modes: int) -> Int[np.ndarray, "N d"]:
    """The ``n_modes`` nonzero integer frequencies of ``ℤ^d`` of smallest norm, one of each pair ``±k``.

    Ordered by ``|k|`` (ties lexicographically), so ``|k_n| ≈ (n Γ(d/2+1) 2/π^(d/2))^(1/d)``. A NumPy array
    (read-only, cached): a static input of the traced functions.

    Args:
      d: manifold dimension, ``>= 1``.
      n_modes: number of frequencies ``N``, ``>= 1``.
    """
    return _modes(check_int(d, "d", minimum=1), check_int(n_modes, "n_modes", minimum=1))


def random_phases(key: Key, n_modes: int, dtype: Any = None) -> Float[Array, " N"]:
    """``N`` i.i.d. phases uniform on ``[0, 2π)``: one random code of the family (``dtype`` default: JAX's float)."""
    key = check_key(key)
    dtype = jnp.result_type(float) if dtype is None else dtype
    return jax.random.uniform(key, (check_int(n_modes, "n_modes", minimum=1),), dtype, maxval=2 * jnp.pi)


def power_law_amplitudes(n_modes: int, alpha: Any, dtype: Any = None) -> Float[Array, " N"]:
    """``√(2 λ_n)`` with ``λ_n = n^(−α)``: the cosine amplitudes that give coordinate ``n`` the variance ``λ_n``."""
    dtype = jnp.result_type(float) if dtype is None else dtype
    n = jnp.arange(1, n_modes + 1, dtype=dtype)
    return jnp.sqrt(2.0) * n ** (-jnp.asarray(alpha, dtype) / 2)


def _check_code(modes: Any, phases: Any, alpha: Any) -> None:
    if not hasattr(modes, "dtype") or not jnp.issubdtype(modes.dtype, jnp.integer):
        raise TypeError(f"modes must be an integer array of frequencies (fourier_modes), got "
                        f"{getattr(modes, 'dtype', type(modes).__name__)}")
    if modes.ndim != 2 or 0 in modes.shape:
        raise ValueError(f"modes must have shape (N, d) with N, d >= 1, got shape {modes.shape}")
    check_array(phases, "phases", ndim=1)
    if phases.shape[0] != modes.shape[0]:
        raise ValueError(f"phases must have one entry per mode ({modes.shape[0]}), got shape {phases.shape}")
    if not isinstance(alpha, jax.core.Tracer):
        check_float(alpha, "alpha", low=0.0, open_low=True)


def embed(s: Float[Array, "m d"], modes: Modes, phases: Float[Array, " N"], alpha: float | Array
          ) -> Float[Array, "m N"]:
    """The code ``Φ(s)``: ``Φ_n(s) = √(2 n^(−α)) cos(k_n·s + φ_n)`` for each of ``m`` points ``s`` of the torus.

    Args:
      s: ``(m, d)`` points (angles; any real values, the code is 2π-periodic).
      modes: ``(N, d)`` integer frequencies (:func:`fourier_modes`).
      phases: ``(N,)`` phases (:func:`random_phases`).
      alpha: the spectrum's exponent, ``> 0`` (may be traced).
    """
    _check_code(modes, phases, alpha)
    check_array(s, "s", ndim=2)
    if s.shape[1] != modes.shape[1]:
        raise ValueError(f"s must have {modes.shape[1]} columns (the manifold dimension of modes), got {s.shape}")
    return _embed(s, jnp.asarray(modes, s.dtype), phases.astype(s.dtype), alpha)


def _embed(s: Array, modes: Array, phases: Array, alpha: Any) -> Array:
    amp = power_law_amplitudes(modes.shape[0], alpha, s.dtype)
    return amp[None, :] * jnp.cos(jnp.matmul(s, modes.T, precision="highest") + phases[None, :])


def difference_quotients(key: Key, modes: Modes, phases: Float[Array, " N"], alpha: float | Array,
                         deltas: Float[Array, " r"], n_points: int) -> Float[Array, " r"]:
    """``mean_i ‖Φ(s_i + δ v_i) − Φ(s_i)‖² / δ²`` for each ``δ``: the squared difference quotient of the code.

    ``s_i`` uniform on the torus, ``v_i`` uniform unit directions, both drawn from ``key`` and shared by every
    ``δ`` (common random numbers: the curve in ``δ`` is smooth). Bounded as ``δ → 0`` for a differentiable code,
    ``∝ δ^(d(α−1)−2)`` for a fractal one (module docstring).

    Args:
      key: PRNG key of the points and directions.
      modes, phases, alpha: the code (:func:`embed`).
      deltas: ``(r,)`` step lengths, ``> 0``.
      n_points: ``m``, the number of base points.

    Returns:
      ``(r,)`` mean squared difference quotients.
    """
    key = check_key(key)
    _check_code(modes, phases, alpha)
    check_array(deltas, "deltas", ndim=1, min_size={0: 1})
    if not isinstance(deltas, jax.core.Tracer) and np.any(np.asarray(deltas) <= 0):
        raise ValueError("deltas must be positive")
    n_points = check_int(n_points, "n_points", minimum=1)
    dtype = phases.dtype
    ks, kv = jax.random.split(key)
    d = modes.shape[1]
    s = jax.random.uniform(ks, (n_points, d), dtype, maxval=2 * jnp.pi)
    v = jax.random.normal(kv, (n_points, d), dtype)
    v = v / jnp.linalg.norm(v, axis=1, keepdims=True)
    modes = jnp.asarray(modes, dtype)
    amp = power_law_amplitudes(modes.shape[0], alpha, dtype)
    angle = jnp.matmul(s, modes.T, precision="highest") + phases[None, :]
    speed = jnp.matmul(v, modes.T, precision="highest")

    def quotient(delta: Array) -> Array:
        # cos(a + b) − cos(a) = −2 sin(a + b/2) sin(b/2): no cancellation when δ is small.
        half = speed * (delta / 2)
        diff = 2 * amp[None, :] * jnp.sin(angle + half) * jnp.sin(half)
        return jnp.mean(jnp.sum(diff * diff, axis=1)) / delta**2

    return jax.lax.map(quotient, jnp.asarray(deltas, dtype))


__all__ = ["difference_quotients", "embed", "fourier_modes", "power_law_amplitudes", "random_phases"]
