"""Benchmark: Monte-Carlo sweep drivers on one claim's trial, against the same machine's GEMM rate.

The trial is ``gao2024.min_distance``'s (:func:`fcjax.trials.min_distance_trial`, float32: d Gaussian points in
R^d, their Gram matrix, the smallest pairwise distance; model cost 2 d^3 flops, one GEMM). Drivers, same keys
``fold_in(root, i)``, same process:

* ``map_trials``: :func:`fcjax.map_trials` (chunks of a ``vmap`` under ``jit``, one device), as the claims run it;
* ``lax.map``: ``jit(lambda keys: lax.map(trial, keys))``, one compiled sequential loop;
* ``lax.map(batch_size)``: the same with ``batch_size`` = the chunk (JAX's own chunked vmap);
* ``jit loop``: a Python loop calling the jitted single trial (per-trial dispatch);
* ``numpy loop``: a NumPy loop of the same statistic (``np.random.default_rng`` normals, float64 Gram distances).

Before timing: ``map_trials`` and ``lax.map`` must give the same ``rho`` on every trial (rtol 1e-5: one trial
program under two batchings), and NumPy's arithmetic on the first trials' own matrices must match (float32
rounding bound ``2 d eps32``, as in ``gaussian_core.py``).

Scaling (issue 18, item 3): time against the number of trials (log-log slope, model 1 past the compile), time per
trial against d (slope, model 3 once the GEMM dominates; the d^2 draw dominates small d), and the compiled chunk's
memory (XLA's ``memory_analysis``: arguments + outputs + temporaries) against d with the chunk sized from a fixed
budget, which must stay under that budget (flat in d), next to the unchunked program's memory.

Every stdout line is one JSON object; the last is ``sweeps/summary`` with the ratios at the largest d and
``ratio`` (map_trials / numpy loop) last.

    python benchmarks/sweeps.py            # d in {64, 256, 1024}
    python benchmarks/sweeps.py --quick    # smoke test, seconds
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script from a checkout: make `import fcjax` work without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_default_matmul_precision", "highest")

from benchmarks._limits import best_seconds, gemm_fields, machine_fields  # noqa: E402
from fcjax import trials  # noqa: E402
from fcjax.ensembles import trial_keys  # noqa: E402
from fcjax.parallel import chunk_size_for, map_trials  # noqa: E402

BUDGET = 64 * 2**20  # bytes per compiled chunk: the memory check's fixed budget


def trial_fn(d: int):
    return lambda key: trials.min_distance_trial(key, d, jnp.float32)


def np_rho(x: np.ndarray) -> float:
    g = x.T @ x
    sq = np.diag(g)
    d2 = sq[:, None] + sq[None, :] - 2.0 * g
    np.fill_diagonal(d2, np.inf)
    return math.sqrt(max(float(d2.min()), 0.0)) / math.sqrt(2.0 * x.shape[0])


def numpy_loop(d: int, n: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return [np_rho(rng.standard_normal((d, d))) for _ in range(n)]


def bytes_per_trial(d: int) -> int:
    return 4 * d * d * 4  # the points, the Gram matrix, the distance matrix and one temporary, float32


def compiled_bytes(fn, *args) -> int:
    mem = jax.jit(fn).lower(*args).compile().memory_analysis()
    if mem is None:
        return -1
    return int(mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes)


def run_d(d: int, n: int, repeats: int, seed: int, loop_trials: int) -> dict[str, Any]:
    root = jax.random.key(seed + d)
    fn = trial_fn(d)
    chunk = chunk_size_for(bytes_per_trial(d), BUDGET, n)
    keys = trial_keys(root, n)

    def via_map_trials(_=None):
        return map_trials(fn, root, n, chunk_size=chunk, devices=1)["rho"]

    lax_map = jax.jit(lambda k: jax.lax.map(fn, k)["rho"])
    lax_map_b = jax.jit(lambda k: jax.lax.map(fn, k, batch_size=chunk)["rho"])
    one = jax.jit(lambda k: fn(k)["rho"])

    got = np.asarray(via_map_trials())
    ref = np.asarray(lax_map(keys))
    if not np.allclose(got, ref, rtol=1e-5, atol=0):
        raise SystemExit(f"d={d}: map_trials and lax.map disagree (max rel {np.max(np.abs(got / ref - 1)):.2e})")
    xs = np.asarray(jax.vmap(lambda k: trials._draw_points(k, d, jnp.float32, "normal"))(keys[:3]),
                    dtype=np.float64)
    tol = 2 * d * np.finfo(np.float32).eps
    worst = float(max(abs(np_rho(x) / float(r) - 1) / tol for x, r in zip(xs, got[:3], strict=True)))
    if worst > 1:
        raise SystemExit(f"d={d}: NumPy's rho differs from fcjax's beyond 2 d eps32 ({worst:.2f} x the bound)")

    t_map = best_seconds(via_map_trials, repeats=repeats)
    t_lax = best_seconds(lax_map, keys, repeats=repeats)
    t_lax_b = best_seconds(lax_map_b, keys, repeats=repeats)
    m = min(n, loop_trials)
    loop_keys = list(keys[:m])
    jax.block_until_ready(one(loop_keys[0]))

    def jit_loop(_=None):
        return [one(k) for k in loop_keys]

    t_jit = best_seconds(jit_loop, repeats=max(1, repeats // 2))
    t0 = time.perf_counter()
    numpy_loop(d, m, seed)
    t_np = time.perf_counter() - t0
    rates = {"map_trials": n / t_map, "lax_map": n / t_lax, "lax_map_batched": n / t_lax_b,
             "jit_loop": m / t_jit, "numpy_loop": m / t_np}
    tflops = 2 * d**3 * rates["map_trials"] / 1e12
    mem_chunk = compiled_bytes(jax.vmap(fn), keys[:chunk])
    mem_whole = compiled_bytes(jax.vmap(fn), keys)
    return {"benchmark": "sweeps/min_distance", "d": d, "n_trials": n, "loop_trials": m, "chunk": chunk,
            **{f"{k}_trials_per_s": v for k, v in rates.items()},
            "ratio_vs_numpy_loop": rates["map_trials"] / rates["numpy_loop"],
            "ratio_vs_lax_map": rates["map_trials"] / rates["lax_map"],
            "ratio_vs_lax_map_batched": rates["map_trials"] / rates["lax_map_batched"],
            "ratio_vs_jit_loop": rates["map_trials"] / rates["jit_loop"],
            "fcjax_tflops": tflops, "flop_model": "2 d^3 (Gram GEMM)", **gemm_fields(d, "float32", tflops),
            "chunk_bytes": mem_chunk, "unchunked_bytes": mem_whole, "budget_bytes": BUDGET,
            "agreement_worst_over_tol": worst, "dtype": "float32", "baseline_dtype": "float64",
            **machine_fields(), "ratio": rates["map_trials"] / rates["numpy_loop"]}


def slope(x: Sequence[float], y: Sequence[float]) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def trial_scaling(d: int, ns: Sequence[int], repeats: int, seed: int) -> dict[str, Any]:
    root = jax.random.key(seed)
    fn = trial_fn(d)
    chunk = chunk_size_for(bytes_per_trial(d), BUDGET, min(ns))
    secs = []
    for n in ns:
        map_trials(fn, root, n, chunk_size=chunk, devices=1)  # compile this n's shapes
        secs.append(best_seconds(lambda n=n: map_trials(fn, root, n, chunk_size=chunk, devices=1)["rho"],
                                 repeats=repeats))
    return {"benchmark": "sweeps/scaling_trials", "d": d, "n_trials": list(ns), "seconds": secs, "chunk": chunk,
            "slope": slope(ns, secs), "model_slope": 1.0, **machine_fields()}


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ds", default=None, help="comma-separated d values (default 64,256,1024)")
    p.add_argument("--trials", type=int, default=None, help="trials per d (default 512; 128 at d >= 1024)")
    p.add_argument("--loop-trials", type=int, default=64, help="trials the Python loops time (at most --trials)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats, the minimum is reported")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test that runs in seconds")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.quick:
        args.ds = args.ds or "16,32,64"
        args.trials = args.trials or 64
        args.loop_trials = min(args.loop_trials, 16)
        args.repeats = 1
    args.ds = [int(s) for s in (args.ds or "64,256,1024").split(",") if s]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    recs = []
    for d in args.ds:
        n = args.trials or (128 if d >= 1024 else 512)
        rec = run_d(d, n, args.repeats, args.seed, args.loop_trials)
        recs.append(rec)
        print(json.dumps(rec), flush=True)
    n0 = args.trials or 512
    d_mid = args.ds[len(args.ds) // 2]
    scal = trial_scaling(d_mid, [max(8, n0 // 4), max(16, n0 // 2), n0], args.repeats, args.seed)
    print(json.dumps(scal), flush=True)
    ds = [r["d"] for r in recs]
    per_trial = [1 / r["map_trials_trials_per_s"] for r in recs]
    top = recs[-1]
    print(json.dumps({
        "benchmark": "sweeps/summary", "d": top["d"], "slope_seconds_vs_d": slope(ds, per_trial) if len(ds) > 1
        else float("nan"), "model_slope_vs_d": 3.0, "slope_seconds_vs_trials": scal["slope"],
        "chunk_bytes_by_d": {str(r["d"]): r["chunk_bytes"] for r in recs},
        "unchunked_bytes_by_d": {str(r["d"]): r["unchunked_bytes"] for r in recs}, "budget_bytes": BUDGET,
        "fraction_of_gemm": top["fraction_of_gemm"], "ratio_vs_lax_map": top["ratio_vs_lax_map"],
        "ratio_vs_lax_map_batched": top["ratio_vs_lax_map_batched"], "ratio_vs_jit_loop": top["ratio_vs_jit_loop"],
        **machine_fields(), "ratio": top["ratio_vs_numpy_loop"]}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
