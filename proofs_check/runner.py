"""Run one claim: configure, seed, time, show progress, resume from a store, and wrap the outcome in a Verdict."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from fcjax._validate import check_int
from fcjax.parallel import agree_across_hosts, device_summary, memory_budget
from fcjax.stats import Verdict

from .context import Run
from .registry import get_claim
from .store import Store


def run_claim(claim_id: str, *, quick: bool = False, overrides: dict[str, Any] | None = None, seed: int = 0,
              progress: bool = False, store: Store | None = None) -> Verdict:
    """Run ``claim_id`` and return its :class:`~fcjax.Verdict`.

    Args:
      claim_id: a registered id such as ``"gao2024.min_distance"``.
      quick: use the claim's quick form (seconds on 2 CPU cores).
      overrides: settings to replace, e.g. ``{"ds": (64, 128), "trials": 50}``.
      seed: the root seed; the verdict records it and the same seed reproduces the same numbers.
      progress: show a progress bar (on stderr).
      store: where finished chunks and verdicts are kept; a claim already finished there with the same
        configuration, seed and code (fcjax's, proofs_check's and the claim module's) is returned as stored
        (``verdict.stored`` is True), and an interrupted one resumes.
    """
    claim = get_claim(claim_id)
    seed = check_int(seed, "seed", minimum=0)
    if store is not None and not isinstance(store, Store):
        raise TypeError(f"store must be a proofs_check.store.Store, got {type(store).__name__}")
    cfg = claim.configure(quick, overrides)
    if cfg.max_memory_mb is None:
        cfg = dataclasses.replace(cfg, max_memory_mb=memory_budget() >> 20)
    if store is not None:
        done = store.verdict(claim.id, cfg, seed, claim.code)
        if agree_across_hosts(np.bool_(done is not None)):  # on several hosts, process 0's view decides
            if done is None:
                raise RuntimeError(f"{claim.id}: process 0 found a stored verdict this process cannot see; the "
                                   "output directory must be on a filesystem every host shares")
            return done
    bar = tqdm(total=claim.work(cfg), desc=claim_id, unit="trial", disable=not progress, leave=False)
    start = time.perf_counter()
    try:
        with jax.enable_x64(cfg.dtype == "float64"):
            out = claim.run(cfg, jax.random.key(seed), Run(claim.id, cfg, seed, bar.update, store, claim.code))
    finally:
        bar.close()
    params = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "min_d"}
    params["quick"] = quick
    verdict = Verdict(
        claim=claim.id, paper=claim.paper, statement=claim.statement, source=claim.source,
        passed=out.passed, outcome=out.outcome, resolution=out.resolution, statistic=float(out.statistic),
        expected=out.expected,
        ci_low=float(out.ci_low), ci_high=float(out.ci_high), level=float(out.level), n_trials=int(out.n_trials),
        params=params, seed=seed, seconds=time.perf_counter() - start, device=device_summary(), dtype=cfg.dtype,
        statistic_name=out.statistic_name, checks=out.checks, table=out.table, series=out.series,
        caveats=out.caveats,
    )
    if store is not None:
        store.save_verdict(claim.id, cfg, seed, verdict, claim.code)
    return verdict
