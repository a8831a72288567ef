"""Covariance eigen-spectra of hidden representations, their power-law exponent and participation ratio.

Jiang, Zhou, Huang (Chin. Phys. B 30, 048702, 2021; after Stringer et al., Nature 2019): the n-th largest principal
component variance of a layer's representation decays as ``λ_n ∝ n^(−α)``; a smooth code of a d-dimensional manifold
needs ``α > 1 + 2/d``. The exponent is fitted by least squares on log-log axes over a stated range of ranks (our
choice [D]: the paper's estimator and range are unknown), with the fit's ``R²`` as its goodness of fit. The
participation ratio ``(Σλ)²/Σλ²`` is the usual "manifold dimension" of this literature ([D], unverified for the paper).

Every function works on the last axis and takes leading batch axes, and is traceable: ``jax.vmap`` and ``jax.jit``
(with ``n_min``, ``n_max`` and ``method`` static) apply.

    >>> import jax.numpy as jnp
    >>> from fcjax.spectra import power_law_fit
    >>> fit = power_law_fit(jnp.arange(1.0, 11.0) ** -1.5, 1, 10)
    >>> round(float(fit.alpha), 6), round(float(fit.r2), 6)
    (1.5, 1.0)
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._types import Array, Float
from ._validate import check_array, check_int

METHODS = ("auto", "covariance", "gram")


class PowerLawFit(NamedTuple):
    """``log λ_n = intercept − alpha·log n`` fitted by least squares over ranks ``n_min..n_max``; ``r2`` its R²."""

    alpha: Float[Array, "*batch"]
    intercept: Float[Array, "*batch"]
    r2: Float[Array, "*batch"]


def covariance_spectrum(h: Float[Array, "n N"], method: str = "auto") -> Float[Array, " N"]:
    """Eigenvalues, in descending order, of the sample covariance of representations ``h`` (one sample per row).

    ``C = h_cᵀ h_c / (n − 1)`` with ``h_c`` the column-centred ``h`` (``np.cov``'s normalisation). Its nonzero
    eigenvalues are those of the ``n×n`` Gram matrix ``h_c h_cᵀ / (n − 1)``, which is cheaper when ``n < N``
    (``method="auto"`` picks the smaller matrix); the Gram route pads with zeros to ``N`` values. Round-off
    negatives are clipped to 0 (``C`` is positive semi-definite). Products run at "highest" matmul precision.

    Args:
      h: ``(n, N)`` representations of ``n >= 2`` inputs by ``N`` units (``jax.vmap`` for a batch).
      method: ``"auto"``, ``"covariance"`` (eigenvalues of the ``N×N`` matrix) or ``"gram"`` (of the ``n×n``).

    Returns:
      ``(N,)`` eigenvalues ``λ_1 >= λ_2 >= … >= 0``.
    """
    check_array(h, "h", ndim=2, min_size={0: 2, 1: 1})
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    return _covariance_spectrum(h, method == "gram" or (method == "auto" and h.shape[0] < h.shape[1]))


@partial(jax.jit, static_argnums=1)
def _covariance_spectrum(h: Array, use_gram: bool) -> Array:
    n, width = h.shape
    hc = h - jnp.mean(h, axis=0, keepdims=True)
    left, right = (hc, hc.T) if use_gram else (hc.T, hc)
    mat = jnp.matmul(left, right, precision="highest") / (n - 1)
    eigs = jnp.maximum(jnp.linalg.eigvalsh(mat)[::-1], 0)
    if eigs.shape[0] < width:
        eigs = jnp.concatenate([eigs, jnp.zeros(width - eigs.shape[0], eigs.dtype)])
    return eigs[:width]


def _check_fit(eigs: Any, n_min: Any, n_max: Any) -> tuple[int, int]:
    check_array(eigs, "eigs", min_size={-1: 2} if getattr(eigs, "ndim", 0) else None)
    if eigs.ndim < 1:
        raise ValueError(f"eigs must have at least 1 dimension (the spectrum), got shape {eigs.shape}")
    n_min = check_int(n_min, "n_min", minimum=1)
    n_max = check_int(n_max, "n_max", minimum=n_min + 1)
    if n_max > eigs.shape[-1]:
        raise ValueError(f"n_max must be <= the number of eigenvalues {eigs.shape[-1]}, got {n_max}")
    window = eigs[..., n_min - 1:n_max]
    if not isinstance(window, jax.core.Tracer) and np.any(np.asarray(window) <= 0):
        raise ValueError(f"eigs must be positive over the fitted ranks {n_min}..{n_max} (log of a zero eigenvalue)")
    return n_min, n_max


def power_law_fit(eigs: Float[Array, "*batch N"], n_min: int, n_max: int) -> PowerLawFit:
    """Least-squares fit of ``log λ_n = a − α log n`` over the 1-based ranks ``n_min <= n <= n_max``.

    Ordinary least squares on natural logs (the usual estimator of Stringer et al.'s exponent [D]; not an MLE,
    which would treat the eigenvalues as i.i.d. samples and estimate another exponent). ``R² = 1 − SS_res/SS_tot``
    of the log eigenvalues; a flat range (``SS_tot = 0``) is fitted exactly, ``α = 0`` and ``R² = 1``.

    Args:
      eigs: ``(..., N)`` spectra, largest first (:func:`covariance_spectrum`); positive over the fitted ranks.
      n_min: first rank fitted (``>= 1``); a static int.
      n_max: last rank fitted (``n_min < n_max <= N``); a static int.

    Returns:
      :class:`PowerLawFit` of arrays of shape ``eigs.shape[:-1]``.
    """
    n_min, n_max = _check_fit(eigs, n_min, n_max)
    return _log_fit(eigs, n_min, n_max, True)


def exponential_fit(eigs: Float[Array, "*batch N"], n_min: int, n_max: int) -> PowerLawFit:
    """The alternative to :func:`power_law_fit`: ``log λ_n = a − β n`` by least squares over the same ranks.

    Same response (``log λ``), same number of parameters: comparing the two ``R²`` compares the models. Returns a
    :class:`PowerLawFit` whose ``alpha`` field holds the rate ``β``.
    """
    n_min, n_max = _check_fit(eigs, n_min, n_max)
    return _log_fit(eigs, n_min, n_max, False)


@partial(jax.jit, static_argnums=(1, 2, 3))
def _log_fit(eigs: Array, n_min: int, n_max: int, log_ranks: bool) -> PowerLawFit:
    ranks = jnp.arange(n_min, n_max + 1, dtype=eigs.dtype)
    # The regressor, shaped (1, ..., 1, m) to meet the batch axes (implicit rank promotion may be an error).
    logn = (jnp.log(ranks) if log_ranks else ranks).reshape((1,) * (eigs.ndim - 1) + (-1,))
    logl = jnp.log(eigs[..., n_min - 1:n_max])
    xc = logn - jnp.mean(logn)
    ybar = jnp.mean(logl, axis=-1, keepdims=True)
    slope = jnp.sum(xc * (logl - ybar), axis=-1) / jnp.sum(xc * xc)
    intercept = ybar[..., 0] - slope * jnp.mean(logn)
    resid = logl - (intercept[..., None] + slope[..., None] * logn)
    ss_res = jnp.sum(resid * resid, axis=-1)
    ss_tot = jnp.sum((logl - ybar) ** 2, axis=-1)
    r2 = jnp.where(ss_tot > 0, 1 - ss_res / jnp.where(ss_tot > 0, ss_tot, 1), 1)
    return PowerLawFit(-slope, intercept, r2)


def participation_ratio(eigs: Float[Array, "*batch N"]) -> Float[Array, "*batch"]:
    """``(Σ_n λ_n)² / Σ_n λ_n²``: ``N`` for a flat spectrum, 1 for a single nonzero eigenvalue.

    Args:
      eigs: ``(..., N)`` non-negative spectra, not all zero.

    Returns:
      An array of shape ``eigs.shape[:-1]``, in ``[1, N]``.
    """
    check_array(eigs, "eigs")
    if eigs.ndim < 1:
        raise ValueError(f"eigs must have at least 1 dimension (the spectrum), got shape {eigs.shape}")
    if not isinstance(eigs, jax.core.Tracer):
        ev = np.asarray(eigs)
        if np.any(ev < 0):
            raise ValueError(f"eigs must be non-negative, got a minimum of {ev.min()}")
        if np.any(ev.sum(axis=-1) == 0):
            raise ValueError("eigs must not be all zero (the participation ratio is 0/0)")
    return jnp.sum(eigs, axis=-1) ** 2 / jnp.sum(eigs * eigs, axis=-1)


__all__ = ["METHODS", "PowerLawFit", "covariance_spectrum", "exponential_fit", "participation_ratio", "power_law_fit"]
