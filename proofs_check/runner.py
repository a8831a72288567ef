"""Run one claim: configure, seed, time, show progress, and wrap the outcome in a Verdict with provenance."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
from tqdm.auto import tqdm

from fcjax._validate import check_int
from fcjax.parallel import device_summary
from fcjax.stats import Verdict

from .registry import get_claim


def run_claim(claim_id: str, *, quick: bool = False, overrides: dict[str, Any] | None = None, seed: int = 0,
              progress: bool = False) -> Verdict:
    """Run ``claim_id`` and return its :class:`~fcjax.Verdict`.

    Args:
      claim_id: a registered id such as ``"gao2024.min_distance"``.
      quick: use the claim's quick form (seconds on 2 CPU cores).
      overrides: settings to replace, e.g. ``{"ds": (64, 128), "trials": 50}``.
      seed: the root seed; the verdict records it and the same seed reproduces the same numbers.
      progress: show a progress bar (on stderr).
    """
    claim = get_claim(claim_id)
    seed = check_int(seed, "seed", minimum=0)
    cfg = claim.configure(quick, overrides)
    bar = tqdm(total=claim.work(cfg), desc=claim_id, unit="trial", disable=not progress, leave=False)
    start = time.perf_counter()
    try:
        with jax.enable_x64(cfg.dtype == "float64"):
            out = claim.run(cfg, jax.random.key(seed), bar.update)
    finally:
        bar.close()
    params = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "min_d"}
    params["quick"] = quick
    return Verdict(
        claim=claim.id, paper=claim.paper, statement=claim.statement, source=claim.source,
        passed=bool(out.passed), statistic=float(out.statistic), expected=out.expected,
        ci_low=float(out.ci_low), ci_high=float(out.ci_high), level=float(out.level), n_trials=int(out.n_trials),
        params=params, seed=seed, seconds=time.perf_counter() - start, device=device_summary(), dtype=cfg.dtype,
        statistic_name=out.statistic_name, checks=out.checks, table=out.table, series=out.series,
        caveats=out.caveats,
    )
