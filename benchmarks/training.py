"""Benchmark: networks trained per second, fcjax's vmapped training against one-network-at-a-time loops.

Workload: ``networks`` ReLU MLPs ``fcjax.models.relu_mlp(depth, width, 10)`` (float32), each from its own Flax
initialisation, trained full-batch with Adam (learning rate ``1e-3``, optax's and torch's defaults otherwise) and
mean softmax cross-entropy for ``steps`` steps on ``points`` standard Gaussian inputs of dimension ``d`` with
labels from a random linear teacher.

* fcjax: ``jit(vmap(fit))`` over (key, initial parameters): every network in one compiled call.
* fcjax loop: the same ``jit(fit)`` called once per network (what a per-seed script in JAX costs).
* PyTorch loop (optional; one ``peer_skipped`` line when torch does not import): the same initial weights copied into
  ``torch.nn.Sequential(Linear, ReLU, ...)``, ``torch.optim.Adam``, one network after the other, ``steps`` steps
  each (the seeds' authors' pattern), all threads torch wants.

Before timing: network 0's final full-data loss must agree between fcjax and PyTorch (same weights, same full-batch
Adam: rtol 1e-3, float32 rounding over ``steps`` steps), and between the vmapped and looped fcjax (rtol 1e-5).

``fraction_of_gemm``: the model flops of training (6 x points x Σ fan_in·fan_out per step: forward 2, backward 4)
per second over a float32 GEMM of the matching shape ``(networks·points x width) @ (width x max(d, width))`` timed in
the same process. Scaling: seconds against the number of networks (log-log slope, model 1 past the compile).

Every stdout line is one JSON object; the last is ``training/summary`` with ``ratio`` (fcjax vmapped networks/s over
the PyTorch loop's, or over the fcjax loop's when torch is absent) last.

    python benchmarks/training.py            # d in {16, 64}, 32 networks
    python benchmarks/training.py --quick    # smoke test, seconds
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script from a checkout: make `import fcjax` work without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import itertools

import jax
import jax.numpy as jnp

from benchmarks._limits import best_seconds, gemm_fields, machine_fields
from fcjax.certify import mlp_layers
from fcjax.models import relu_mlp
from fcjax.train import TrainConfig, fit

CLASSES = 10
LR = 1e-3


def load_torch() -> Any:
    try:
        import torch
    except Exception as err:  # any import failure means: skip the peer, saying why
        return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    return torch


def data(d: int, points: int) -> tuple[jax.Array, jax.Array]:
    kx, kw = jax.random.split(jax.random.key(d))
    x = jax.random.normal(kx, (points, d), jnp.float32)
    return x, jnp.argmax(x @ jax.random.normal(kw, (d, CLASSES), jnp.float32), axis=1)


def torch_train(torch, layers, x: np.ndarray, y: np.ndarray, steps: int) -> float:
    """Full-batch Adam on a torch copy of ``layers``; returns the final full-data loss."""
    mods = []
    for i, (w, b) in enumerate(layers):
        lin = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.array(w)))
            lin.bias.copy_(torch.from_numpy(np.array(b)))
        mods += [lin, torch.nn.ReLU()] if i < len(layers) - 1 else [lin]
    net = torch.nn.Sequential(*mods)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    xt, yt = torch.from_numpy(np.array(x)), torch.from_numpy(np.array(y, dtype=np.int64))
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(net(xt), yt)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(loss_fn(net(xt), yt))


def run_d(d: int, args: argparse.Namespace, torch) -> dict[str, Any]:
    model = relu_mlp(args.depth, args.width, CLASSES)
    x, y = data(d, args.points)
    keys = jax.random.split(jax.random.key(100 + d), args.networks)
    inits = jax.vmap(lambda k: model.init(k, x[:1]))(keys)
    cfg = TrainConfig(steps=args.steps, learning_rate=LR, log_every=args.steps)
    one = jax.jit(lambda k, p: fit(k, model.apply, p, x, y, cfg).loss)
    many = jax.jit(jax.vmap(lambda k, p: fit(k, model.apply, p, x, y, cfg).loss))
    loss_v = np.asarray(many(keys, inits))
    first = jax.tree.map(lambda a: a[0], inits)
    loss_1 = float(one(keys[0], first))
    if not np.isclose(loss_v[0], loss_1, rtol=1e-5):
        raise SystemExit(f"d={d}: vmapped and looped fcjax training disagree ({loss_v[0]} vs {loss_1})")
    t_v = best_seconds(many, keys, inits, repeats=args.repeats)
    per_net = [jax.tree.map(lambda a, i=i: a[i], inits) for i in range(args.networks)]

    def loop():
        return [one(k, p) for k, p in zip(keys, per_net, strict=True)]

    t_l = best_seconds(loop, repeats=max(1, args.repeats // 2))
    sizes = [d] + [args.width] * args.depth + [CLASSES]
    flops = 6.0 * args.points * sum(a * b for a, b in itertools.pairwise(sizes)) * args.steps
    tflops = flops * args.networks / t_v / 1e12
    rec: dict[str, Any] = {
        "benchmark": "training/mlp", "d": d, "depth": args.depth, "width": args.width, "points": args.points,
        "steps": args.steps, "networks": args.networks, "fcjax_networks_per_s": args.networks / t_v,
        "fcjax_loop_networks_per_s": args.networks / t_l, "ratio_vs_fcjax_loop": t_l / t_v,
        "fcjax_tflops": tflops, "flop_model": "6 points Σ fan_in fan_out per step",
        **gemm_fields(d, "float32", tflops, shape=(args.networks * args.points, args.width, max(d, args.width))),
        "dtype": "float32", **machine_fields()}
    if isinstance(torch, str):
        return {**rec, "ratio": rec["ratio_vs_fcjax_loop"]}
    xn, yn = np.asarray(x), np.asarray(y)
    loss_t = torch_train(torch, mlp_layers(first), xn, yn, args.steps)
    if not np.isclose(loss_t, loss_1, rtol=1e-3):
        raise SystemExit(f"d={d}: PyTorch's and fcjax's training of the same network disagree ({loss_t} vs {loss_1})")
    m = min(args.networks, args.torch_networks)
    t0 = time.perf_counter()
    for p in per_net[:m]:
        torch_train(torch, mlp_layers(p), xn, yn, args.steps)
    t_t = (time.perf_counter() - t0) / m * args.networks
    return {**rec, "peer": f"torch {torch.__version__} ({torch.get_num_threads()} threads)",
            "torch_networks_timed": m, "torch_loop_networks_per_s": args.networks / t_t,
            "final_loss_fcjax": loss_1, "final_loss_torch": loss_t, "ratio_vs_torch_loop": t_t / t_v,
            "ratio": t_t / t_v}


def network_scaling(d: int, args: argparse.Namespace) -> dict[str, Any]:
    model = relu_mlp(args.depth, args.width, CLASSES)
    x, y = data(d, args.points)
    cfg = TrainConfig(steps=args.steps, learning_rate=LR, log_every=args.steps)
    many = jax.jit(jax.vmap(lambda k, p: fit(k, model.apply, p, x, y, cfg).loss))
    counts = [max(1, args.networks // 4), max(2, args.networks // 2), args.networks]
    secs = []
    for n in counts:
        keys = jax.random.split(jax.random.key(7), n)
        inits = jax.vmap(lambda k: model.init(k, x[:1]))(keys)
        secs.append(best_seconds(many, keys, inits, repeats=args.repeats))
    return {"benchmark": "training/scaling_networks", "d": d, "networks": counts, "seconds": secs,
            "slope": float(np.polyfit(np.log(counts), np.log(secs), 1)[0]), "model_slope": 1.0, **machine_fields()}


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ds", default="16,64", help="comma-separated input dimensions")
    p.add_argument("--networks", type=int, default=32)
    p.add_argument("--torch-networks", type=int, default=8, help="networks the PyTorch loop times (rate scaled)")
    p.add_argument("--points", type=int, default=256)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test that runs in seconds")
    args = p.parse_args(argv)
    if args.quick:
        args.ds, args.networks, args.torch_networks, args.points, args.width = "8", 4, 2, 32, 16
        args.steps, args.repeats = 20, 1
    args.ds = [int(s) for s in args.ds.split(",") if s]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    torch = load_torch()
    if isinstance(torch, str):
        print(json.dumps({"benchmark": "training/peer_skipped", "peer": "torch",
                          "why": f"torch does not import ({torch}); `pip install torch` to time the PyTorch loop"}),
              flush=True)
    recs = []
    for d in args.ds:
        rec = run_d(d, args, torch)
        recs.append(rec)
        print(json.dumps(rec), flush=True)
    scal = network_scaling(args.ds[-1], args)
    print(json.dumps(scal), flush=True)
    top = recs[-1]
    print(json.dumps({"benchmark": "training/summary", "d": top["d"], "peer": top.get("peer", "skipped"),
                      "fraction_of_gemm": top["fraction_of_gemm"], "ratio_vs_fcjax_loop": top["ratio_vs_fcjax_loop"],
                      "ratio_vs_torch_loop": top.get("ratio_vs_torch_loop"), "slope_seconds_vs_networks":
                      scal["slope"], "goal": ">= 10x the PyTorch loop", **machine_fields(), "ratio": top["ratio"]}),
          flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
