"""Point sets drawn from laws other than the standard Gaussian, for the primary paper's open question on
non-Gaussian data (Gao et al. 2024, "Open Questions"): heavy tails, bounded coordinates, several modes, low rank.

Every law has i.i.d. coordinates of mean 0 and variance 1 where it has a variance (Student-t with ν <= 2 has none),
so only the shape of the law changes, not its scale. Points are rows, ``(n, d)``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ._types import Array, Float, Key
from ._validate import check_dim, check_dtype, check_int, check_key

LAWS = ("normal", "student_t", "rademacher", "uniform", "mixture", "lowrank")


def points_from_law(key: Key, d: int, law: str, n: int | None = None, *, param: float = 3.0,
                    dtype=jnp.float32) -> Float[Array, "n d"]:
    """``n`` points (default ``d``) in ``R^d`` from ``law``:

    * ``"normal"``: N(0, 1) coordinates (the paper's setting);
    * ``"student_t"``: Student-t with ``param`` = ν degrees of freedom, scaled by ``√((ν−2)/ν)`` to unit variance
      when ν > 2 (unscaled otherwise: no variance);
    * ``"rademacher"``: ±1 coordinates; ``"uniform"``: U(−√3, √3) coordinates;
    * ``"mixture"``: each point from one of ``int(param)`` Gaussian modes with centres ``N(0, I)·√(1/2)`` and noise
      of variance ½ (so coordinates still have variance 1);
    * ``"lowrank"``: rank-``int(param)`` signal plus noise, ``A z + ε`` with ``z ~ N(0, I_r)``, ``A`` with
      ``N(0, 1/(2r))`` entries and ``ε`` of variance ½.
    """
    check_key(key)
    d = check_dim(d)
    n = d if n is None else check_int(n, "n", minimum=1)
    dtype = check_dtype(dtype)
    if law not in LAWS:
        raise ValueError(f"law must be one of {LAWS}, got {law!r}")
    if law in ("student_t", "mixture", "lowrank") and not param > 0:
        raise ValueError(f"param must be > 0 for law {law!r}, got {param!r}")
    shape = (n, d)
    if law == "normal":
        return jax.random.normal(key, shape, dtype)
    if law == "student_t":
        t = jax.random.t(key, param, shape, dtype)
        return t * math.sqrt((param - 2) / param) if param > 2 else t
    if law == "rademacher":
        return jax.random.rademacher(key, shape, dtype)
    if law == "uniform":
        return jax.random.uniform(key, shape, dtype, -math.sqrt(3), math.sqrt(3))
    k1, k2, k3 = jax.random.split(key, 3)
    modes = max(1, int(param))
    if law == "mixture":
        centres = jax.random.normal(k1, (modes, d), dtype) * math.sqrt(0.5)
        which = jax.random.randint(k2, (n,), 0, modes)
        return centres[which] + math.sqrt(0.5) * jax.random.normal(k3, shape, dtype)
    a = jax.random.normal(k1, (d, modes), dtype) / math.sqrt(2 * modes)
    z = jax.random.normal(k2, (n, modes), dtype)
    return z @ a.T + math.sqrt(0.5) * jax.random.normal(k3, shape, dtype)


__all__ = ["LAWS", "points_from_law"]
