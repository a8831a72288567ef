"""The machine's measured limits, in the benchmark's own process: dense GEMM rates and the kernels' own rates.

Every benchmark divides its effective rate (model flops / seconds) by the rate of a batched GEMM of matching shape
and dtype timed here, in the same process and under the same matmul precision: ``fraction_of_gemm``. Statistics
built on kernels slower than GEMM (float64 LU, triangular solves, Cholesky) also get the rate of those kernels at
the same shape, so a fraction below the goal comes with the number that explains it.

Timing: one compile-and-run call, then the minimum over ``repeats`` calls with ``block_until_ready``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

# Leading-term flops of each kernel on one d x d matrix (d right-hand sides for the solves).
KERNEL_FLOPS = {"gemm": 2.0, "getrf": 2.0 / 3.0, "trsm": 1.0, "potrf": 1.0 / 3.0}


def best_seconds(fn: Callable[..., Any], *args: Any, repeats: int = 5) -> float:
    """The minimum wall time of ``fn(*args)`` over ``repeats`` warm calls (after one call that compiles)."""
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t)
    return best


def _operands(d: int, batch: int, dtype: Any) -> tuple[jax.Array, jax.Array]:
    a = jax.random.normal(jax.random.key(12345), (batch, d, d), dtype)
    # well-conditioned and positive definite: LU and Cholesky do their full work and nothing pivots oddly
    spd = a @ jnp.swapaxes(a, 1, 2) / d + 4 * jnp.eye(d, dtype=dtype)
    return a, spd


@functools.cache
def kernel_tflops(kernel: str, d: int, dtype: str, batch: int = 8, repeats: int = 5) -> float:
    """Measured TFLOP/s of ``kernel`` (``gemm``, ``getrf``, ``trsm``, ``potrf``) on ``batch`` d x d matrices of
    ``dtype``, vmapped as the benchmarks' own programs are, under the current matmul precision."""
    if kernel not in KERNEL_FLOPS:
        raise ValueError(f"kernel must be one of {sorted(KERNEL_FLOPS)}, got {kernel!r}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    a, spd = _operands(d, batch, jnp.dtype(dtype))
    if kernel == "gemm":
        fn, args = jax.jit(lambda x, y: x @ y), (a, spd)
    elif kernel == "getrf":
        fn, args = jax.jit(jax.vmap(lambda x: jsl.lu_factor(x)[0])), (spd,)
    elif kernel == "potrf":
        fn, args = jax.jit(jax.vmap(jnp.linalg.cholesky)), (spd,)
    else:
        tri = jnp.linalg.cholesky(spd)
        fn, args = jax.jit(jax.vmap(lambda t, b: jsl.solve_triangular(t, b, lower=True))), (tri, a)
    seconds = best_seconds(fn, *args, repeats=repeats)
    return KERNEL_FLOPS[kernel] * d**3 * batch / seconds / 1e12


@functools.cache
def gemm_shape_tflops(m: int, k: int, n: int, dtype: str, repeats: int = 5) -> float:
    """Measured TFLOP/s of one ``(m x k) @ (k x n)`` GEMM of ``dtype``: the matching shape of a batched program
    whose products are rectangular (samples x width rows, as in a batched network)."""
    a = jax.random.normal(jax.random.key(1), (m, k), jnp.dtype(dtype))
    b = jax.random.normal(jax.random.key(2), (k, n), jnp.dtype(dtype))
    return 2.0 * m * k * n / best_seconds(jax.jit(jnp.matmul), a, b, repeats=repeats) / 1e12


def gemm_fields(d: int, dtype: str, tflops: float, *, batch: int = 8, shape: tuple[int, int, int] | None = None
                ) -> dict[str, Any]:
    """``gemm_tflops_float32``/``_float64`` (batched d x d, or one GEMM of ``shape = (m, k, n)``) and
    ``fraction_of_gemm = tflops / gemm(dtype)``."""
    if shape is None:
        out: dict[str, Any] = {f"gemm_tflops_{dt}": kernel_tflops("gemm", d, dt, batch)
                               for dt in ("float32", "float64")}
        out["gemm_shape"] = f"{batch} x ({d} x {d}) @ ({d} x {d})"
    else:
        out = {f"gemm_tflops_{dt}": gemm_shape_tflops(*shape, dt) for dt in ("float32", "float64")}
        out["gemm_shape"] = f"({shape[0]} x {shape[1]}) @ ({shape[1]} x {shape[2]})"
    out["fraction_of_gemm"] = tflops / out[f"gemm_tflops_{dtype}"]
    return out


def kernel_limit_tflops(d: int, dtype: str, mix: dict[str, float], batch: int = 8) -> float:
    """The rate a program with ``mix`` (flop coefficient per kernel, times d^3) reaches if each kernel ran at its own
    measured rate: ``Σ c_k / Σ (c_k / rate_k)``. The ceiling a statistic built on these kernels cannot pass."""
    total = sum(mix.values())
    seconds = sum(c / kernel_tflops(k, d, dtype, batch) for k, c in mix.items())
    return total / seconds


def machine_fields() -> dict[str, Any]:
    """The device, its count and the versions, as every benchmark line carries them."""
    dev = jax.devices()[0]
    return {"jax_version": jax.__version__, "device_kind": dev.device_kind, "backend": jax.default_backend(),
            "device_count": jax.device_count(),
            "matmul_precision": str(jax.config.jax_default_matmul_precision or "default")}
