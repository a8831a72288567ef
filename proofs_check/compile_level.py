"""The LLVM optimisation level the ``fcjax`` command asks XLA:CPU for (``--xla_backend_optimization_level``).

Much of a quick reproduction on CPU is XLA compiling many small programs once each (about half of the 8 heaviest
quick claims' time, measured with ``jax.monitoring``), and most of that is LLVM's optimisation pipeline. Level 1
instead of XLA's default keeps XLA's own HLO passes (fusion, layout) and LLVM's cheap ones. Measured on 2 CPU cores,
one claim per process, level 2 (default) -> 1: ``simon_gabriel2019.grad_norm_init`` 44.6 -> 30.1 s,
``gao2024_open.non_gaussian_gap`` 51.1 -> 36.8 s, ``gao2024.sqrt_d_gap_relu`` 66.9 -> 54.3 s,
``montanari2023.any_width`` 57.8 -> 56.1 s; float64 statistics were bitwise equal and float32 ones agreed to about
1e-7 relative (no fast-math at any level; FMA contraction may differ). Level 0 halves compile-bound claims again but
triples run-bound ones (any_width 164 s), so it is not the default.

Only the XLA flag string is touched, before the backend starts, and only where the user has not chosen a level in
``XLA_FLAGS`` and no accelerator plugin is installed (GPU kernels are not this trade-off).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import pkgutil
from collections.abc import Mapping

FLAG = "--xla_backend_optimization_level"
CPU_LEVEL = 1


def _accelerator_plugins() -> bool:
    # the two ways JAX discovers PJRT plugins (CUDA, ROCm, TPU...): the entry-point group and the namespace package
    if any(True for _ in importlib.metadata.entry_points(group="jax_plugins")):
        return True
    spec = importlib.util.find_spec("jax_plugins")
    return spec is not None and any(True for _ in pkgutil.iter_modules(spec.submodule_search_locations or []))


def xla_flags(env: Mapping[str, str], *, plugins: bool | None = None) -> str | None:
    """The ``XLA_FLAGS`` value the command should run with, or ``None`` to leave the environment as it is.

    ``None`` when ``env["XLA_FLAGS"]`` already sets the level, or when an accelerator may be used (a ``jax_plugins``
    entry point is installed and ``JAX_PLATFORMS`` does not restrict JAX to ``cpu``)."""
    flags = env.get("XLA_FLAGS", "")
    if FLAG in flags:
        return None
    cpu_only = env.get("JAX_PLATFORMS", "").strip().lower() == "cpu"
    if not cpu_only and (_accelerator_plugins() if plugins is None else plugins):
        return None
    return f"{flags} {FLAG}={CPU_LEVEL}".strip()


__all__ = ["CPU_LEVEL", "FLAG", "xla_flags"]
