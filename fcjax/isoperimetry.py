"""Isoperimetric bounds on the distance to a classifier's error set, for any classifier.

Gilmer et al., "Adversarial spheres" (arXiv 1801.02774, Theorem 5.1): on the unit sphere ``S^(n-1)`` a set ``E`` of
measure ``µ`` (a classifier's errors on the inner sphere) has mean distance ``d(E) <= d_cap(µ, n)``, the mean
distance to a spherical cap of the same measure, ``≈ Φ⁻¹(1 - µ)/√n`` (:func:`cap_distance`). Lévy's spherical
isoperimetric inequality makes caps extremal: ``µ(E_t) >= µ(C_t)`` for every ``t``, and ``d(E) = ∫ (1 - µ(E_t)) dt``
(notes ``shared/papers/field_theorems.md`` 1.8 [D]). Distances are Euclidean (chords).

Fawzi, Fawzi & Fawzi, "Adversarial vulnerability for any classifier" (NeurIPS 2018, arXiv 1802.08686): for data
``x = g(z)``, ``z ~ N(0, I_d)``, ``g`` ``L``-Lipschitz, every classifier has ``P(r(x) <= η)`` bounded below,
independently of ``d``. The sharp two-class form used here is Gaussian isoperimetry (Borell; Sudakov & Tsirelson):
a class of measure ``p`` has ``P(r <= η) >= Φ(η/L + Φ⁻¹(p)) + Φ(η/L - Φ⁻¹(p)) - 1``, with equality for half-spaces
(:func:`gaussian_isoperimetric_bound`, [D]); :func:`fawzi_closed_form` is the notes' closed form (tagged [R]).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.integrate as si
import scipy.special as sp
import scipy.stats as st

from ._types import Array, Float
from ._validate import check_array, check_dim, check_float


def _check_mu(mu: float, name: str = "mu") -> float:
    return check_float(mu, name, low=0.0, high=1.0, open_low=True, open_high=True)


def cap_threshold(mu: float, n: int) -> float:
    """The cap ``{u ∈ S^(n-1): u_1 >= t}`` of measure ``mu``: ``t``, from ``(u_1 + 1)/2 ~ Beta((n-1)/2, (n-1)/2)``."""
    mu, n = _check_mu(mu), check_dim(n, "n")
    if n < 2:
        raise ValueError(f"n must be >= 2 (the sphere S^(n-1)), got {n}")
    a = (n - 1) / 2
    return float(2 * sp.betaincinv(a, a, 1 - mu) - 1)


def cap_distance(mu: float, n: int) -> float:
    """Mean Euclidean distance from a uniform point of ``S^(n-1)`` to a cap of measure ``mu`` (0 inside it).

    ``d_cap = E[2 sin((arccos s - arccos t)/2); s < t]`` with ``s = u_1`` and ``t`` = :func:`cap_threshold`: the
    chord of the geodesic gap to the cap's rim. Integrated over the quantile ``q`` of ``s`` (``s(q)`` by the Beta
    quantile), so the integrand is bounded whatever ``n`` (the density of ``s`` is a spike of width ``n^(-1/2)``).
    Gilmer et al. 2018, Theorem 5.1: the largest mean distance any error set of measure ``mu`` can have.
    """
    t = cap_threshold(mu, n)
    a = (n - 1) / 2
    rim = math.acos(max(-1.0, min(1.0, t)))

    def chord(q: float) -> float:
        s = 2 * sp.betaincinv(a, a, q) - 1
        return 2 * math.sin((math.acos(max(-1.0, min(1.0, s))) - rim) / 2)

    value, _ = si.quad(chord, 0.0, 1.0 - mu, limit=200, epsabs=1e-12, epsrel=1e-10)
    return float(value)


def cap_distance_approx(mu: float, n: int) -> float:
    """``(aΦ(a) + φ(a))/√n``, ``a = Φ⁻¹(1 - mu)``: the large-``n`` limit of :func:`cap_distance`.

    ``√n·u_1 → N(0, 1)`` and the chord to the rim tends to ``(a - √n·u_1)^+/√n``, whose mean is ``E(a - g)^+``. For
    small ``mu`` it is ``≈ a/√n``, Gilmer et al. 2018, Theorem 5.1's ``O(Φ⁻¹(p)/√n)`` (within 0.2 % at ``mu = 0.01``,
    but 36 % above ``a/√n`` at ``mu = 0.3``).
    """
    a = float(st.norm.ppf(1 - _check_mu(mu)))
    return (a * float(st.norm.cdf(a)) + float(st.norm.pdf(a))) / math.sqrt(check_dim(n, "n"))


def quadratic_logits(params: dict[str, Any], x: Float[Array, "*n d"]) -> Float[Array, "*n 2"]:
    """Gilmer et al.'s quadratic network: logits ``[0, Σ_i α_i x_i² + β]`` (class 1: the outer sphere), from
    ``params = {"alpha": (d,), "beta": ()}``; a ``logits_fn`` for :func:`fcjax.fit`."""
    f = (x * x) @ params["alpha"] + params["beta"]
    return jnp.stack([jnp.zeros_like(f), f], axis=-1)


def quadratic_sphere_distance(b: Float[Array, " n"], x: Float[Array, " n"], steps: int = 100) -> Float[Array, ""]:
    """Exact Euclidean distance from ``x ∈ S^(n-1)`` to ``E = {y ∈ S^(n-1): Σ_i b_i y_i² >= 0}``.

    ``E`` is the inner-sphere error set of Gilmer et al.'s quadratic network ``Σ α_i x_i² + β`` (``b = α + β``, as
    ``‖y‖ = 1``). 0 for ``x ∈ E``; ``inf`` if ``max b <= 0`` (``E`` is empty or null). Otherwise the nearest point
    maximises ``⟨x, y⟩`` on the sphere with ``yᵀBy = 0``; its Lagrange condition gives ``y ∝ (I - tB)⁻¹x`` with
    ``t ∈ (0, 1/max b)`` the root of ``h(t) = Σ b_i x_i²/(1 - t b_i)²``, increasing there (``h' > 0``) from
    ``h(0) = xᵀBx < 0``, so ``steps`` bisection steps on ``u = t·max b ∈ (0, 1)`` find it; with every
    ``1 - t b_i > 0`` the Lagrangian is concave in ``y``, so the stationary point is the global nearest point (the
    trust-region subproblem's "hard case", ``x`` orthogonal to ``b``'s top coordinates, is solved at ``t = 1/max b``).
    Traceable: ``vmap`` over points (and over networks' ``b``).
    """
    b = jnp.asarray(b)
    x = jnp.asarray(x, dtype=b.dtype)
    bmax = jnp.max(b)
    safe = jnp.where(bmax > 0, bmax, 1)
    inside = jnp.sum(b * x * x) >= 0
    top = b >= bmax

    def h(u):
        return jnp.sum(b * x * x / (1 - u * b / safe) ** 2)

    def bisect(_, lohi):
        lo, hi = lohi
        mid = (lo + hi) / 2
        neg = h(mid) < 0
        return jnp.where(neg, mid, lo), jnp.where(neg, hi, mid)

    _, hi = jax.lax.fori_loop(0, steps, bisect, (jnp.zeros((), b.dtype), jnp.ones((), b.dtype)))
    y = x / (1 - hi * b / safe)
    # The trust-region "hard case": x has no weight on b's top eigenvector and h stays < 0 up to its pole, so the
    # nearest point is w + s·e with w = x/(1 - b/max b) off the top coordinates, e the first top one, and s the
    # weight that puts w + s·e on the boundary: wᵀBw + s²·max b = 0.
    w = jnp.where(top, 0.0, x / jnp.where(top, 1.0, 1 - b / safe))
    wbw = jnp.sum(b * w * w)
    hard = (jnp.sum(jnp.where(top, x * x, 0.0)) == 0) & (wbw < 0)
    e = jax.nn.one_hot(jnp.argmax(b), b.shape[0], dtype=b.dtype)
    y = jnp.where(hard, w + jnp.sqrt(jnp.maximum(-wbw, 0.0) / safe) * e, y)
    y = y / jnp.linalg.norm(y)
    dist = jnp.linalg.norm(x - y)
    return jnp.where(inside, 0.0, jnp.where(bmax > 0, dist, jnp.inf)).astype(b.dtype)


def quadratic_sphere_distances(b: Float[Array, " n"], x: Float[Array, "m n"]) -> Float[Array, " m"]:
    """:func:`quadratic_sphere_distance` of each row of ``x`` (unit rows, ``(m, n)``), checked before tracing."""
    b = check_array(b, "b", ndim=1)
    x = check_array(x, "x", ndim=2)
    if x.shape[1] != b.shape[0]:
        raise ValueError(f"x must have {b.shape[0]} columns (len(b)), got shape {x.shape}")
    return jax.vmap(quadratic_sphere_distance, in_axes=(None, 0))(b, x.astype(b.dtype))


def gaussian_isoperimetric_bound(eta: Float[Array, "*n"] | float, p: float, lipschitz: float = 1.0
                                 ) -> np.ndarray:
    """``Φ(η/L + a) + Φ(η/L - a) - 1``, ``a = Φ⁻¹(p)``: the least ``P(r <= η)`` of a two-class classifier of data
    ``g(z)``, ``z ~ N(0, I_d)``, ``g`` ``L``-Lipschitz, whose first class has measure ``p``.

    A class ``A`` of measure ``p`` has ``P(A_η) >= Φ(Φ⁻¹(p) + η)`` (Borell 1975; Sudakov & Tsirelson 1974); the points
    within ``η`` of the other class are ``(A_η \\ A) ∪ (B_η \\ B)``. Equality for half-spaces (``r = |w·z - c|``);
    at ``p = ½`` it is ``erf(η/(L√2))``. Independent of ``d`` (Fawzi et al. 2018's point; the form is [D]).
    """
    p = check_float(p, "p", low=0.0, high=1.0)
    lipschitz = check_float(lipschitz, "lipschitz", low=0.0, open_low=True)
    e = np.asarray(eta, dtype=np.float64) / lipschitz
    if np.any(e < 0):
        raise ValueError("eta must be >= 0")
    if p in (0.0, 1.0):
        return np.zeros_like(e)  # one class is (almost) empty: nothing need lie near a boundary
    a = st.norm.ppf(p)
    return np.clip(st.norm.cdf(e + a) + st.norm.cdf(e - a) - 1, 0.0, 1.0)


def fawzi_closed_form(eta: Float[Array, "*n"] | float, lipschitz: float = 1.0) -> np.ndarray:
    """``1 - √(π/2) e^(-η²/(2L²))``: the two-class bound as the notes reconstruct it ([R]; reported, never a
    threshold). It is below :func:`gaussian_isoperimetric_bound` at ``p = ½``; a bound free of ``p`` cannot hold
    for every classifier (an almost empty class leaves almost every point far from the boundary)."""
    lipschitz = check_float(lipschitz, "lipschitz", low=0.0, open_low=True)
    e = np.asarray(eta, dtype=np.float64) / lipschitz
    return 1 - math.sqrt(math.pi / 2) * np.exp(-e**2 / 2)


def cdf_shortfall(bound: Callable[[np.ndarray], np.ndarray], samples: Any) -> float:
    """``sup_η (B(η) - F_n(η))^+`` for a nondecreasing bound ``B`` (a callable) and the empirical CDF ``F_n`` of
    ``samples``: how far the sample's CDF falls below the bound anywhere.

    Infinite samples (no boundary found) are never ``<= η``, and ``B(∞) = 1``. The supremum of ``B - F_n`` is
    reached just below a jump of ``F_n`` (at the ``i``-th smallest sample, where ``F_n = (i - 1)/n``) or at
    ``η → ∞``. NaN samples are a ValueError.
    """
    if np.iscomplexobj(samples):
        raise TypeError("samples must be real distances, got complex values")
    s = np.asarray(samples, dtype=np.float64).ravel()
    if s.size == 0 or np.isnan(s).any():
        raise ValueError("samples must be a non-empty array without NaN")
    finite = np.sort(s[np.isfinite(s)])
    below = np.asarray(bound(finite), dtype=np.float64) - np.arange(finite.size) / s.size
    return float(max(0.0, below.max(initial=0.0), 1.0 - finite.size / s.size))
