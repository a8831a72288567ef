"""The machine's measured limits, in the benchmark's own process: dense GEMM rates and the kernels' own rates.

Every benchmark divides its effective rate (model flops / seconds) by the rate of a batched GEMM of matching shape
and dtype timed here, in the same process and under the same matmul precision: ``fraction_of_gemm``. Statistics
built on kernels slower than GEMM (float64 LU, triangular solves, Cholesky) also get the rate of those kernels at
the same shape, so a fraction below the goal comes with the number that explains it.

Timing: one compile-and-run call, then the minimum over ``repeats`` calls with ``block_until_ready``.
"""

from __future__ import annotations

import functools
import math
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
    spd = a @ jnp.swapaxes(a, 1, 2) / d + 4 * jnp.eye(d, dtype=dtype)[None]
    return a, spd


# Enough work per timed call that dispatch (~10 µs) does not count: a small shape is timed as a batch of copies,
# within a memory cap.
MIN_FLOPS = 2e8
MAX_BYTES = 512 * 2**20
PEAK_D = 2048  # the machine's peak: a large square GEMM, whatever the benchmark's shape


def _x64() -> bool:
    """Whether float64 arrays stay float64 here (respects ``jax.enable_x64`` contexts, unlike the global flag)."""
    return jax.dtypes.canonicalize_dtype(jnp.float64) == jnp.float64


def _check_dtype(dtype: str) -> None:
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    if dtype == "float64" and not _x64():
        raise ValueError("dtype='float64' needs jax_enable_x64; without it JAX would time float32 under that name")


def _copies(flops_each: float, bytes_each: int, at_least: int = 1) -> int:
    return max(at_least, min(math.ceil(MIN_FLOPS / flops_each), max(1, MAX_BYTES // bytes_each)))


@functools.cache
def kernel_tflops(kernel: str, d: int, dtype: str, batch: int = 8, repeats: int = 5) -> float:
    """Measured TFLOP/s of ``kernel`` (``gemm``, ``getrf``, ``trsm``, ``potrf``) on at least ``batch`` d x d
    matrices of ``dtype`` (more when one call would be too small to time), vmapped as the benchmarks' own programs
    are, under the current matmul precision."""
    if kernel not in KERNEL_FLOPS:
        raise ValueError(f"kernel must be one of {sorted(KERNEL_FLOPS)}, got {kernel!r}")
    _check_dtype(dtype)
    batch = _copies(KERNEL_FLOPS[kernel] * d**3, 3 * d * d * jnp.dtype(dtype).itemsize, batch)
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
    """Measured TFLOP/s of ``(m x k) @ (k x n)`` GEMMs of ``dtype``: the matching shape of a batched program whose
    products are rectangular (samples x width rows, as in a batched network); a batch of copies when one is too
    small to time."""
    _check_dtype(dtype)
    size = jnp.dtype(dtype).itemsize * (m * k + k * n + m * n)
    copies = _copies(2.0 * m * k * n, size)
    a = jax.random.normal(jax.random.key(1), (copies, m, k), jnp.dtype(dtype))
    b = jax.random.normal(jax.random.key(2), (copies, k, n), jnp.dtype(dtype))
    seconds = best_seconds(jax.jit(jnp.matmul), a, b, repeats=repeats)
    return 2.0 * m * k * n * copies / seconds / 1e12


def gemm_fields(d: int, dtype: str, tflops: float, *, batch: int = 8, shape: tuple[int, int, int] | None = None
                ) -> dict[str, Any]:
    """``gemm_tflops_float32``/``_float64`` (batched d x d, or GEMMs of ``shape = (m, k, n)``),
    ``fraction_of_gemm = tflops / gemm(dtype)``, and ``fraction_of_peak_gemm`` against a 2048 x 2048 GEMM (small
    shapes cannot reach the peak: a fraction of the matching shape above 1 means fcjax's fused program beats a
    lone GEMM of that shape)."""
    _check_dtype(dtype)  # before any timing: a float64 rate without x64 would be float32's under that name
    # float64 only where the process enabled it: otherwise JAX silently truncates to float32 and the field would lie
    dtypes = ("float32", "float64") if _x64() else ("float32",)
    if shape is None:
        out: dict[str, Any] = {f"gemm_tflops_{dt}": kernel_tflops("gemm", d, dt, batch) for dt in dtypes}
        out["gemm_shape"] = f"{batch} x ({d} x {d}) @ ({d} x {d})"
    else:
        out = {f"gemm_tflops_{dt}": gemm_shape_tflops(*shape, dt) for dt in dtypes}
        out["gemm_shape"] = f"({shape[0]} x {shape[1]}) @ ({shape[1]} x {shape[2]})"
    out["fraction_of_gemm"] = tflops / out[f"gemm_tflops_{dtype}"]
    out[f"peak_gemm_tflops_{dtype}"] = peak = kernel_tflops("gemm", PEAK_D, dtype, 1)
    out["fraction_of_peak_gemm"] = tflops / peak
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


def dot_flops(fn: Callable[..., Any], *args: Any) -> tuple[float, bool]:
    """Matmul flops of ``fn(*args)`` counted from its jaxpr: ``2·batch·m·n·k`` per ``dot_general``, times each
    ``scan``'s length, the larger branch of a ``cond``; a ``while`` body (a trip count the program decides) counts
    once, and the second value says whether one was met (then the count is a lower bound). XLA's own cost analysis
    counts every loop body once, so it cannot give a loop-heavy program's work."""
    exact = [True]

    def count(jaxpr) -> float:
        total = 0.0
        for eqn in jaxpr.eqns:
            name, p = eqn.primitive.name, eqn.params
            if name == "dot_general":
                (lc, _), (lb, _) = p["dimension_numbers"]
                lhs, rhs = eqn.invars[0].aval.shape, eqn.invars[1].aval.shape
                k = 1
                for a in lc:
                    k *= lhs[a]
                out = 1
                for s in eqn.outvars[0].aval.shape:
                    out *= s
                total += 2.0 * out * k
                del rhs, lb
            elif name == "scan":
                total += p["length"] * count(p["jaxpr"].jaxpr)
            elif name == "while":
                exact[0] = False
                total += count(p["body_jaxpr"].jaxpr) + count(p["cond_jaxpr"].jaxpr)
            elif name == "cond":
                total += max(count(b.jaxpr) for b in p["branches"])
            else:
                for v in p.values():
                    sub = getattr(v, "jaxpr", None)
                    if sub is not None and hasattr(sub, "eqns"):
                        total += count(sub)
                    elif hasattr(v, "eqns"):
                        total += count(v)
        return total

    closed = jax.make_jaxpr(fn)(*args)
    return count(closed.jaxpr), exact[0]
