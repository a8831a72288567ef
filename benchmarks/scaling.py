"""Benchmark: how a claim's Monte-Carlo throughput scales with the number of devices and with d.

The representative claim is ``gao2024.min_distance``: per trial d Gaussian points in R^d, their Gram matrix and the
smallest pairwise distance (:func:`fcjax.trials.min_distance_trial`, float32 as in the claim), run through
:func:`fcjax.map_trials` exactly as the claim runs it (groups of ``ceil(n / 8)`` trials per device, the trial axis
sharded by ``shard_map`` over a 1-D mesh). Not a QR claim: jaxlib 0.10.2's CPU LAPACK kernels can deadlock when
several forced host devices call them at once (see tests/test_parallel.py).

* Device scaling: trials per second with the trials spread over 1, 2, 4, ... devices (``map_trials(devices=k)``),
  all in one process. The baseline is the same sweep on one device, measured in the same run;
  ``speedup = throughput(k) / throughput(1)`` and ``efficiency = speedup / k``.
* d scaling: the same at every d of the grid, so the table shows where the work per trial is large enough for the
  devices to pay off.

On CPU the script forces ``--cpu-devices`` host devices (8 by default, through ``XLA_FLAGS`` before JAX starts).
They share the machine's cores, so on a 2-core machine the speedup is bounded by about 2 whatever k is: there the
benchmark measures how much of the machine one CPU device already uses, not multi-accelerator scaling. On GPUs the
devices are real and the same script measures real scaling.

Every stdout line is one JSON object (``benchmark, d, devices, n_trials, trials_per_s, baseline_trials_per_s,
speedup, efficiency, ...``); the last line is the summary at the largest d and device count, its ``ratio`` (the
speedup) last.

    python benchmarks/scaling.py             # d in {64, 256, 1024}, 1024 trials
    python benchmarks/scaling.py --quick     # smoke test, seconds

Measured (2026-11, jax 0.10.2, 2-core AMD EPYC VM, 8 forced host devices): see the closing note of issue 6; the
CPU numbers say nothing about GPUs, which were not available in that session.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from functools import partial
from typing import Any


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small grid, for a smoke test")
    p.add_argument("--ds", type=lambda s: tuple(int(x) for x in s.split(",")), help="comma-separated d grid")
    p.add_argument("--trials", type=int, help="trials per measurement")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats (the minimum is reported)")
    p.add_argument("--cpu-devices", type=int, default=8, help="host devices to force on CPU (before JAX starts)")
    args = p.parse_args(argv)
    args.ds = args.ds or ((16, 32) if args.quick else (64, 256, 1024))
    args.trials = args.trials or (64 if args.quick else 1024)
    if args.quick:
        args.repeats = 1
    for name in ("trials", "repeats", "cpu_devices"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if any(d < 2 for d in args.ds):
        p.error("--ds must be >= 2")
    return args


def emit(rec: dict[str, Any]) -> None:
    print(json.dumps(rec), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:  # only the CPU platform reads it
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={args.cpu_devices}".strip()
    import jax
    import jax.numpy as jnp

    import fcjax as F
    from fcjax import trials

    devs = jax.devices()
    counts = sorted({k for k in (1, 2, 4, 8, 16, 32, 64) if k <= len(devs)} | {len(devs)})
    env = {"device_kind": devs[0].device_kind, "device_count": len(devs), "platform": devs[0].platform,
           "jax_version": jax.__version__, "dtype": "float32",
           "matmul_precision": str(jax.config.jax_default_matmul_precision)}
    key = jax.random.key(0)
    last = None
    for d in args.ds:
        fn = partial(trials.min_distance_trial, d=d, dtype=jnp.float32)
        base = None
        for k in counts:
            run = partial(F.map_trials, fn, key, args.trials, chunk_size=args.trials, devices=k)
            t0 = time.perf_counter()
            first = run()  # compiles (reported apart)
            compile_s = time.perf_counter() - t0
            best = float("inf")
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                out = run()
                best = min(best, time.perf_counter() - t0)
            if not all((out[name] == first[name]).all() for name in first):
                print(f"results changed between repeats at d={d}, devices={k}", file=sys.stderr)
                return 1
            rate = args.trials / best
            base = rate if k == 1 else base
            last = {"benchmark": "scaling/min_distance", "d": d, "devices": k, "n_trials": args.trials,
                    "seconds": best, "compile_seconds": compile_s, "trials_per_s": rate,
                    "baseline_trials_per_s": base, **env, "speedup": rate / base, "efficiency": rate / base / k,
                    "ratio": rate / base}
            emit(last)
    emit({"benchmark": "scaling/summary", "d": last["d"], "devices": last["devices"], **env,
          "efficiency": last["efficiency"], "ratio": last["speedup"]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
