"""Benchmark: certified l2 radii per second, fcjax's CROWN (and alpha-CROWN) against auto_LiRPA on the same MLP.

Workload: ``fcjax.models.relu_mlp(depth, width, 10)`` at its initialisation from ``key(d)`` (float64), ``samples``
standard Gaussian inputs of dimension ``d``, each certified for the network's own label. The same weights are copied
into a ``torch.nn.Sequential`` of ``Linear``/``ReLU`` layers (float64) for auto_LiRPA (optional: the benchmark prints
one ``certificates/peer_skipped`` line and goes on when ``torch`` or ``auto_LiRPA`` does not import).

* Margins at one radius: fcjax :func:`fcjax.certify.margin_lower_bounds` (CROWN) against auto_LiRPA's
  ``compute_bounds(method="CROWN", C=...)`` with the margin matrix ``e_y - e_j``, at each sample's radius ``r_i``
  (half its attack distance): the largest difference is printed and must stay below ``1e-6`` of the margins'
  scale, or the script stops before timing.
* Radii: both sides bisect the same bracket ``[0, upper]`` (``upper``: :func:`fcjax.min_norm`'s distance, shared)
  for ``steps`` halvings of "every margin > 0", returning the bracket's certified end. fcjax CROWN must not certify
  more than auto_LiRPA's CROWN (beyond one bisection step ``upper 2^-steps``): the line says how many samples differ.
  fcjax runs the whole bisection in one jitted call; auto_LiRPA runs ``steps`` batched ``compute_bounds`` calls on a
  per-sample radius (its usual use: a loop of bound computations).
* fcjax alpha-CROWN (``certified_radius(method="alpha-crown")``) is timed too, with its gain over CROWN.

``fraction_of_gemm``: CROWN's model flops (every layer's bound after the first back-propagated to the input through
the layers below it, a ``(n_l x n_i) @ (n_i x n_{i-1})`` product per layer pair, for each of the ``steps + 1``
radii) per second over a float64 GEMM of the matching shape ``(samples·width x width) @ (width x max(d, width))``
timed in the same process.

Every stdout line is one JSON object; the last is ``certificates/summary`` (largest d) with ``ratio``
(fcjax CROWN radii/s over auto_LiRPA's) last.

    python benchmarks/certificates.py            # d in {16, 64, 256}, 64 samples
    python benchmarks/certificates.py --quick    # smoke test, seconds
"""

from __future__ import annotations

import argparse
import json
import logging
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
from fcjax.attacks import min_norm  # noqa: E402
from fcjax.certify import certified_radius, margin_lower_bounds, mlp_layers  # noqa: E402
from fcjax.models import relu_mlp  # noqa: E402

CLASSES = 10


def crown_flops(sizes: Sequence[int]) -> float:
    """Model flops of one CROWN evaluation per sample: layer ``l``'s bound (``n_l`` rows, ``l >= 2``; the first
    layer's bounds are closed-form) back through layers ``l, ..., 1``, a ``(n_l x n_i) @ (n_i x n_{i-1})`` product
    each. ``sizes = [d, n_1, ..., n_L]``."""
    return float(sum(2 * sizes[lay] * sizes[i] * sizes[i - 1] for lay in range(2, len(sizes))
                     for i in range(1, lay + 1)))


def load_peer() -> tuple[Any, Any] | str:
    try:
        import torch
        from auto_LiRPA import BoundedModule, BoundedTensor, PerturbationLpNorm  # noqa: F401
    except Exception as err:
        return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    import auto_LiRPA

    # auto_LiRPA's import runs logging.basicConfig(stream=sys.stdout): stdout carries this script's JSON lines
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)
    torch.set_default_dtype(torch.float64)
    return torch, auto_LiRPA


def torch_net(torch, layers) -> Any:
    mods = []
    for i, (w, b) in enumerate(layers):
        lin = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.asarray(w)))
            lin.bias.copy_(torch.from_numpy(np.asarray(b)))
        mods.append(lin)
        if i < len(layers) - 1:
            mods.append(torch.nn.ReLU())
    return torch.nn.Sequential(*mods).eval()


class LirpaCrown:
    """auto_LiRPA's CROWN margins on a batch, and the same bisection of radii as fcjax's."""

    def __init__(self, peer, layers, x: np.ndarray, y: np.ndarray) -> None:
        torch, al = peer
        self.torch, self.al = torch, al
        self.x = torch.from_numpy(x)
        self.model = al.BoundedModule(torch_net(torch, layers), self.x, device="cpu", verbose=0)
        eye = torch.eye(CLASSES)
        self.c = eye[torch.from_numpy(y)].unsqueeze(1) - eye.unsqueeze(0)  # (n, K, K): rows e_y - e_j
        self.mask = torch.ones(len(y), CLASSES, dtype=torch.bool)
        self.mask[torch.arange(len(y)), torch.from_numpy(y)] = False

    def margins(self, radius: np.ndarray) -> np.ndarray:
        eps = self.torch.from_numpy(radius).reshape(-1, 1)
        ptb = self.al.PerturbationLpNorm(norm=2, eps=eps)
        with self.torch.no_grad():
            lb, _ = self.model.compute_bounds(x=(self.al.BoundedTensor(self.x, ptb),), method="CROWN", C=self.c,
                                              bound_upper=False)
        return lb.numpy()

    def radius(self, upper: np.ndarray, steps: int) -> np.ndarray:
        lo, hi = np.zeros_like(upper), upper.copy()
        for _ in range(steps):
            mid = (lo + hi) / 2
            m = self.margins(mid)
            ok = np.where(self.mask.numpy(), m, np.inf).min(axis=1) > 0
            lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
        return lo


def run_d(d: int, args: argparse.Namespace, peer) -> dict[str, Any]:
    model = relu_mlp(args.depth, args.width, CLASSES)
    key = jax.random.key(d)
    x = jax.random.normal(jax.random.fold_in(key, 1), (args.samples, d), jnp.float64)
    params = jax.tree.map(lambda a: a.astype(jnp.float64), model.init(key, x[:1]))
    layers = mlp_layers(params, jnp.float64)
    y = jnp.argmax(model.apply(params, x), axis=1)
    att = jax.jit(lambda p, x, y: min_norm(model.apply, p, x, y))(params, x, y)
    upper = jnp.where(att.success, att.norm, 0.0)  # an unattacked sample gets an empty bracket on both sides
    crown = jax.jit(lambda x, y, u: certified_radius(layers, x, y, method="crown", upper=u, steps=args.steps))
    alpha = jax.jit(lambda x, y, u: certified_radius(layers, x, y, method="alpha-crown", upper=u,
                                                     steps=args.steps))
    t_c = best_seconds(crown, x, y, upper, repeats=args.repeats)
    t_a = best_seconds(alpha, x, y, upper, repeats=max(1, args.repeats // 2))
    r_c, r_a = np.asarray(crown(x, y, upper)), np.asarray(alpha(x, y, upper))
    sizes = [d] + [args.width] * args.depth + [CLASSES]
    tflops = crown_flops(sizes) * (args.steps + 1) * args.samples / t_c / 1e12
    rec: dict[str, Any] = {
        "benchmark": "certificates/crown", "d": d, "depth": args.depth, "width": args.width, "samples": args.samples,
        "steps": args.steps, "fcjax_crown_radii_per_s": args.samples / t_c,
        "fcjax_alpha_crown_radii_per_s": args.samples / t_a,
        "alpha_crown_gain_median": float(np.median(r_a / np.where(r_c > 0, r_c, np.nan))),
        "fcjax_tflops": tflops, "flop_model": "Σ_{l>=2} Σ_{i<=l} 2 n_l n_i n_(i-1) per radius tested",
        **gemm_fields(d, "float64", tflops, shape=(args.samples * args.width, args.width, max(d, args.width))),
        "dtype": "float64", **machine_fields()}
    if isinstance(peer, str):
        return rec
    up = np.asarray(upper)
    lirpa = LirpaCrown(peer, layers, np.asarray(x), np.asarray(y))
    r_mid = up / 2
    m_fc = np.asarray(margin_lower_bounds(layers, x, y, jnp.asarray(r_mid), method="crown"))
    m_al = lirpa.margins(r_mid)
    mask = lirpa.mask.numpy()
    diff = float(np.max(np.abs(np.where(mask, m_fc - m_al, 0.0))))
    scale = float(np.max(np.abs(np.where(mask, m_al, 0.0))))
    if diff > 1e-6 * max(scale, 1.0):
        raise SystemExit(f"d={d}: fcjax's and auto_LiRPA's CROWN margins differ by {diff:.3g} (scale {scale:.3g})")
    t0 = time.perf_counter()
    r_l = lirpa.radius(up, args.steps)
    t_l = time.perf_counter() - t0
    step = up * 2.0**-args.steps
    more = int(np.sum(r_c > r_l + step * (1 + 1e-9)))
    if more:
        raise SystemExit(f"d={d}: fcjax CROWN certifies more than auto_LiRPA's CROWN on {more} samples")
    return {**rec, "peer": f"auto_LiRPA {peer[1].__version__} (torch {peer[0].__version__})",
            "peer_crown_radii_per_s": args.samples / t_l, "ratio_crown": t_l / t_c,
            "margin_max_abs_diff": diff, "radius_samples_equal": int(np.sum(np.abs(r_c - r_l) <= step * (1 + 1e-9))),
            "radius_max_rel_diff": float(np.max(np.abs(r_c - r_l) / np.where(r_l > 0, r_l, 1.0))),
            "fcjax_certifies_more": more, "ratio": t_l / t_c}


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ds", default="16,64,256", help="comma-separated input dimensions")
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--steps", type=int, default=20, help="bisection halvings (both sides)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test that runs in seconds")
    args = p.parse_args(argv)
    if args.quick:
        args.ds, args.samples, args.width, args.steps, args.repeats = "8,16", 8, 16, 8, 1
    args.ds = [int(s) for s in args.ds.split(",") if s]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    peer = load_peer()
    if isinstance(peer, str):
        print(json.dumps({"benchmark": "certificates/peer_skipped", "peer": "auto_LiRPA",
                          "why": f"auto_LiRPA or torch does not import ({peer}); install torch and auto_LiRPA "
                                 "(github.com/Verified-Intelligence/auto_LiRPA) to time it"}), flush=True)
    recs = []
    for d in args.ds:
        rec = run_d(d, args, peer)
        recs.append(rec)
        print(json.dumps(rec), flush=True)
    top = recs[-1]
    print(json.dumps({"benchmark": "certificates/summary", "d": top["d"], "peer": top.get("peer", "skipped"),
                      "fraction_of_gemm": top["fraction_of_gemm"],
                      "fcjax_crown_radii_per_s": top["fcjax_crown_radii_per_s"],
                      "peer_crown_radii_per_s": top.get("peer_crown_radii_per_s"),
                      "ratio_by_d": {str(r["d"]): r.get("ratio") for r in recs}, **machine_fields(),
                      "ratio": top.get("ratio")}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
