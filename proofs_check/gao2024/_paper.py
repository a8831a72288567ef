"""What every Gao et al. claim module shares: the paper's name and the confidence level."""

from __future__ import annotations

import jax.numpy as jnp

from ..api import ALPHA

PAPER = "Gao et al. 2024 (arXiv 2406.16200)"
LEVEL = 1 - ALPHA


def _eps(dtype) -> float:
    return float(jnp.finfo(dtype).eps)
