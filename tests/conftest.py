"""Strict numerics for the whole test session (equinox-style ``tests/conftest.py``).

* implicit rank promotion raises, so a broadcasting slip in the library is an error, not a silent outer product;
* 64-bit mode is on, so the NumPy/SciPy oracles can be compared in float64 (tests of the float32 defaults and of
  the "float64 without x64" errors use ``with jax.enable_x64(False):`` locally);
* warnings are errors (``filterwarnings = ["error"]`` in ``pyproject.toml``);
* a ``key`` fixture, so no test reaches for a global PRNG state;
* hypothesis profiles: ``ci`` (default, modest example counts, no deadline: the first call of a JAX function
  compiles) and ``dev`` (more examples), chosen with ``HYPOTHESIS_PROFILE``.
"""

from __future__ import annotations

import os

import jax
import pytest
from hypothesis import HealthCheck, settings

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_enable_x64", True)
# The suite's time is almost all XLA compilation of small programs; skipping XLA's optimisation passes cuts it by about
# a third without changing what is computed (no fast-math either way). FCJAX_TEST_OPTIMIZE=1 restores them.
if os.environ.get("FCJAX_TEST_OPTIMIZE", "0") != "1":
    jax.config.update("jax_disable_most_optimizations", True)

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=False,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    deadline=None,
    derandomize=False,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def key() -> jax.Array:
    """A typed PRNG key; tests derive everything else from it with ``fold_in``/``split``."""
    return jax.random.key(0)


@pytest.fixture
def xla_optimized():
    """XLA's optimisation passes on for one test: for claims whose time goes into large random draws and products
    (fcjax.random_nets' sweeps: 2 minutes unoptimised, 20 s optimised), not into compiling small programs."""
    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", False)
    yield
    jax.config.update("jax_disable_most_optimizations", before)
