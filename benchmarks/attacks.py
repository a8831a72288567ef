"""Benchmark: minimal-norm attack throughput, batched and vmapped over networks, against a per-sample Python loop.

Workload: ``networks`` random ReLU MLPs (``fcjax.models.relu_mlp(depth, width, classes)``, LeCun-normal kernels
drawn by NumPy from ``(seed, d)``) on ``samples`` standard Gaussian inputs of dimension ``d``; each network attacks
every sample away from its own predicted label with :func:`fcjax.attacks.min_norm` at its default budget (DeepFool,
radius search where DeepFool fails, line search, 10 radius bisections of 10 PGD steps, final line search).

* fcjax: ``jax.jit(jax.vmap(lambda p, y: min_norm(f, p, x, y)))`` over the stacked parameters: one call attacks
  every (network, sample) pair.
* baseline: the SAME algorithm, ``jax.jit(partial(min_norm, f))`` compiled once for one sample, called in a Python
  loop over (network, sample) pairs (parameters pre-sliced per network, outside the timing), ``block_until_ready``
  after each call. This is what a per-sample attack loop (Foolbox/ART style) costs when the attack itself is jitted;
  it times ``--baseline-pairs`` pairs (spread over all networks), not all of them.

Before timing, the baseline's norms and success flags on the timed pairs are compared with the batched ones (flags
equal, norms within ``--rtol``; a radius decision taken on the other side of a rounding-level margin could move a
norm by up to the bisection resolution, which this would report). Timing: compile (first call) reported apart, one
warm-up call, ``block_until_ready``, the minimum over ``--repeats`` repeats, both sides in the same process.

Every stdout line is one JSON object with ``benchmark, d, networks, samples, seconds, samples_per_s, ratio, dtype,
matmul_precision, jax_version, device_kind`` and more; the last line is the summary (the largest d run).
``fraction_of_gemm``: the batched program's matmul flops, counted from its jaxpr with every ``scan`` unrolled
(:func:`benchmarks._limits.dot_flops`; its early-stopping ``while`` loops count once, so ``flops_lower_bound``),
per second over a GEMM of the matching shape ``(networks·samples x width) @ (width x max(d, width))``.

Measured (2026-11, jax 0.10.2, 2-core AMD EPYC VM shared with other jobs, float32, depth 2, width 64, 10 classes):
ratios 3.7 / 3.9 / 3.1 at d = 16 / 64 / 256 (batched 6.2k / 5.1k / 2.8k samples/s against 1.7k / 1.3k / 0.9k),
norms agreeing to 3e-5 relative. On CPU the batched run is compute-bound (a forward pass of the 512 pairs at d = 64
runs at ~50 GFLOP/s, near what two cores give), so the ratio is roughly the per-call overhead the loop pays
(~0.8 ms a call) over the per-sample compute; no GPU was available to this run.

    python benchmarks/attacks.py              # d in {16, 64, 256}, 8 networks x 64 samples
    python benchmarks/attacks.py --quick      # smoke test, a few seconds
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script from a checkout: make `import fcjax` work without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_default_matmul_precision", "highest")

from benchmarks._limits import dot_flops, gemm_fields  # noqa: E402
from fcjax.attacks import min_norm  # noqa: E402
from fcjax.models import relu_mlp  # noqa: E402

PRECISION = "highest"


def env_fields() -> dict[str, Any]:
    devs = jax.devices()
    return {"jax_version": jax.__version__, "backend": jax.default_backend(), "device_kind": devs[0].device_kind,
            "device_count": len(devs), "matmul_precision": PRECISION}


def emit(rec: dict[str, Any]) -> None:
    print(json.dumps(rec, sort_keys=False), flush=True)


def numpy_mlp(params: Any, x: np.ndarray) -> np.ndarray:
    """A ReLU MLP's logits in NumPy (float64), for the labels each network is attacked away from."""
    q = params["params"]
    h = x.astype(np.float64)
    for n in range(len(q) - 1):
        h = np.maximum(h @ q[f"dense_{n}"]["kernel"] + q[f"dense_{n}"]["bias"], 0.0)
    return h @ q["readout"]["kernel"] + q["readout"]["bias"]


def timed(fn, repeats: int) -> float:
    """Minimum wall time of ``fn()`` over ``repeats`` calls (``fn`` blocks until its results are ready)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run_d(d: int, args: argparse.Namespace) -> dict[str, Any]:
    dtype = jnp.dtype(args.dtype)
    model = relu_mlp(args.depth, args.width, args.classes)

    # Data and parameters from NumPy (compiling a jitted initialiser cost more than the attacks in --quick):
    # kernels N(0, 1/fan_in) (LeCun normal, Flax's default up to its truncation), biases N(0, 0.01).
    rng = np.random.default_rng([args.seed, d])
    shapes = jax.eval_shape(model.init, jax.random.key(0), jax.ShapeDtypeStruct((1, d), dtype))
    params = jax.tree.map(
        lambda s: (rng.standard_normal((args.networks, *s.shape)) * (s.shape[0] ** -0.5 if len(s.shape) == 2 else 0.1)
                   ).astype(dtype), shapes)
    x = rng.standard_normal((args.samples, d)).astype(dtype)
    ys = np.stack([np.argmax(numpy_mlp(jax.tree.map(lambda a, i=i: a[i], params), x), axis=1)
                   for i in range(args.networks)])
    host = (params, x, ys)
    params, x, ys = jax.device_put(host)

    batched = jax.jit(jax.vmap(lambda p, y: min_norm(model.apply, p, x, y)))
    single = jax.jit(partial(min_norm, model.apply))

    def run_batched():
        return jax.block_until_ready(batched(params, ys))

    # Pairs for the loop: spread over networks and samples; parameters and inputs sliced before timing.
    n_pairs = min(args.baseline_pairs, args.networks * args.samples)
    flat = np.linspace(0, args.networks * args.samples - 1, n_pairs).round().astype(int)
    pairs = [(int(f) // args.samples, int(f) % args.samples) for f in flat]
    # Sliced on the host: no per-slice compilation.
    per_net = [jax.device_put(jax.tree.map(lambda a, i=i: a[i], host[0])) for i in range(args.networks)]
    inputs = [(per_net[i], jax.device_put(host[1][j:j + 1]), jax.device_put(host[2][i, j:j + 1])) for i, j in pairs]

    def run_loop():
        return [jax.block_until_ready(single(*a)) for a in inputs]

    t0 = time.perf_counter()
    full = run_batched()
    compile_fc = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(single(*inputs[0]))
    compile_bl = time.perf_counter() - t0

    # Agreement first: the loop's results on its pairs against the batched results for the same pairs.
    loop = run_loop()
    ok_fc = np.array([bool(full.success[i, j]) for i, j in pairs])
    ok_bl = np.array([bool(r.success[0]) for r in loop])
    if not np.array_equal(ok_fc, ok_bl):
        raise AssertionError(f"d={d}: success flags differ between batched and per-sample runs at pairs "
                             f"{[p for p, a, b in zip(pairs, ok_fc, ok_bl, strict=True) if a != b]}")
    n_fc = np.array([float(full.norm[i, j]) for i, j in pairs])
    n_bl = np.array([float(r.norm[0]) for r in loop])
    fin = np.isfinite(n_fc)
    if not np.array_equal(fin, np.isfinite(n_bl)):
        raise AssertionError(f"d={d}: found / not found differs between batched and per-sample runs")
    rel = np.abs(n_fc[fin] - n_bl[fin]) / np.maximum(np.abs(n_bl[fin]), np.finfo(dtype).tiny)
    worst = float(rel.max()) if rel.size else 0.0
    if worst > args.rtol:
        raise AssertionError(f"d={d}: norms differ by up to {worst:.2e} relative (> rtol {args.rtol:.1e})")

    run_batched()  # warm-up
    t_fc = timed(run_batched, args.repeats)
    run_loop()
    t_bl = timed(run_loop, args.repeats)
    total = args.networks * args.samples
    fc_rate, bl_rate = total / t_fc, n_pairs / t_bl
    norms = np.asarray(full.norm)
    flops, exact = dot_flops(lambda p, y: batched(p, y).norm, params, ys)
    tflops = flops / t_fc / 1e12
    return {
        "benchmark": "attacks/min_norm", "d": d, "networks": args.networks, "samples": args.samples,
        "seconds": t_fc, "samples_per_s": fc_rate, "baseline_pairs": n_pairs, "baseline_seconds": t_bl,
        "baseline_samples_per_s": bl_rate, "ratio": fc_rate / bl_rate, "dtype": str(dtype), **env_fields(),
        "model": f"relu_mlp(depth={args.depth}, width={args.width}, classes={args.classes})",
        "fcjax": "jit(vmap over networks of min_norm on all samples)",
        "baseline": "Python loop over (network, sample) of jit(min_norm) on one sample",
        "compile_s": compile_fc, "baseline_compile_s": compile_bl, "repeats": args.repeats,
        "success_rate": float(np.mean(np.asarray(full.success))),
        "median_norm": float(np.median(norms[np.isfinite(norms)])) if np.isfinite(norms).any() else None,
        "agreement_checked": n_pairs, "agreement_max_rel_diff": worst,
        "fcjax_tflops": tflops,
        "flop_model": "matmul flops of the batched program's jaxpr (benchmarks._limits.dot_flops)",
        "flops_lower_bound": not exact,
        **gemm_fields(d, str(dtype), tflops, shape=(args.networks * args.samples, args.width, max(d, args.width))),
    }


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ds", default=None, help="comma-separated input dimensions (default 16,64,256)")
    p.add_argument("--networks", type=int, default=None, help="networks vmapped (default 8)")
    p.add_argument("--samples", type=int, default=None, help="samples per network (default 64)")
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--width", type=int, default=None, help="hidden width (default 64)")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--baseline-pairs", type=int, default=None, help="(network, sample) pairs the loop times "
                   "(default 64)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats, the minimum is reported (default 3)")
    p.add_argument("--rtol", type=float, default=None,
                   help="agreement tolerance on norms (default 1e-4 for float32, 1e-9 for float64)")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test that runs in seconds")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.quick:
        args.ds = args.ds or "8"
        args.networks = args.networks or 2
        args.samples = args.samples or 8
        args.width = args.width or 16
        args.baseline_pairs = args.baseline_pairs or 4
        args.repeats = args.repeats or 1
    args.ds = [int(s) for s in (args.ds or "16,64,256").split(",") if s]
    args.networks = args.networks or 8
    args.samples = args.samples or 64
    args.width = args.width or 64
    args.baseline_pairs = args.baseline_pairs or 64
    args.repeats = args.repeats or 3
    args.rtol = args.rtol if args.rtol is not None else (1e-4 if args.dtype == "float32" else 1e-9)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    recs = []
    for d in args.ds:
        rec = run_d(d, args)
        emit(rec)
        recs.append(rec)
    last = recs[-1]
    emit({"benchmark": "attacks/min_norm/summary", "d": last["d"], "networks": last["networks"],
          "samples": last["samples"], "seconds": last["seconds"], "samples_per_s": last["samples_per_s"],
          "baseline_samples_per_s": last["baseline_samples_per_s"], "dtype": last["dtype"], **env_fields(),
          "fraction_of_gemm": last["fraction_of_gemm"], "flops_lower_bound": last["flops_lower_bound"],
          "ratios_by_d": {str(r["d"]): r["ratio"] for r in recs}, "ratio": last["ratio"]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
