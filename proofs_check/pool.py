"""Run the claims of a reproduction in several worker processes (``fcjax reproduce --jobs N``).

Much of a quick reproduction is single-threaded XLA compilation (about 45 % of ``reproduce all --quick`` on 2 CPU
cores), so a second process keeps the other core busy. The unit of work is a claim *module*: claims of one module
can share in-process state (``jiang2021``'s trained family) and store scopes, so they always run together, in their
registry order, in one process. Each worker opens the same store (atomic, per-configuration files), runs
:func:`~proofs_check.runner.run_claim` exactly as the serial path does, and returns the verdicts as dictionaries;
a claim's numbers depend only on its configuration and seed, never on the process that ran it or on ``N``.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fcjax._validate import check_int
from fcjax.stats import Verdict

from .registry import get_claim

Job = tuple[str, dict[str, Any]]  # (claim id, overrides)


def units(jobs: Sequence[Job]) -> list[list[Job]]:
    """The jobs grouped by the module that defines each claim, in first-appearance order (a module's claims keep
    their order)."""
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(get_claim(job[0]).module or job[0], []).append(job)
    return list(groups.values())


class ClaimRaised(RuntimeError):
    """A claim's own code raised in a worker; ``claim`` names it and ``trace`` is the worker's traceback."""

    def __init__(self, claim: str, trace: str) -> None:
        super().__init__(f"claim {claim} raised an exception")
        self.claim, self.trace = claim, trace


def _run_unit(unit: list[Job], quick: bool, seed: int, store_root: str | None, fresh: bool,
              plugins: list[str]) -> list[dict[str, Any]] | tuple[str, str]:
    """Worker side: load the plugins, open the store, run the unit's claims; verdict dicts, or (claim, traceback)
    for the first claim that raised."""
    from .registry import load_plugin
    from .runner import run_claim
    from .store import Store

    for plugin in plugins:
        load_plugin(plugin)
    store = None if store_root is None else Store(store_root, fresh=fresh)
    out = []
    for claim_id, overrides in unit:
        try:
            out.append(run_claim(claim_id, quick=quick, overrides=overrides, seed=seed, store=store).to_dict())
        except Exception:  # the claim's failure, reported by the parent as the serial path reports it
            return claim_id, traceback.format_exc()
    return out


def run_parallel(jobs: Sequence[Job], *, workers: int, quick: bool, seed: int, store_root: Path | None,
                 fresh: bool = False, plugins: Sequence[str] = (),
                 done: Callable[[Verdict], Any] | None = None) -> list[Verdict]:
    """Run ``jobs`` in ``workers`` spawned processes, one module's claims per task; the verdicts in ``jobs``' order.

    ``done`` is called with each verdict as its unit finishes (e.g. to print a summary line). Raises
    :class:`ClaimRaised` for the first claim that raised (the other workers are cancelled)."""
    workers = check_int(workers, "workers", minimum=1)
    groups = units(jobs)
    # spawn, not fork: a forked JAX runtime (threads, device state) is not safe to use in the child
    ctx = multiprocessing.get_context("spawn")
    results: dict[str, Verdict] = {}
    root = None if store_root is None else str(store_root)
    with cf.ProcessPoolExecutor(max_workers=min(workers, len(groups)), mp_context=ctx) as pool:
        futures = [pool.submit(_run_unit, g, quick, seed, root, fresh, list(plugins)) for g in groups]
        try:
            for fut in cf.as_completed(futures):
                got = fut.result()
                if isinstance(got, tuple):
                    raise ClaimRaised(*got)
                for rec in got:
                    v = Verdict.from_dict(rec)
                    results[v.claim] = v
                    if done is not None:
                        done(v)
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return [results[claim_id] for claim_id, _ in jobs]


__all__ = ["ClaimRaised", "run_parallel", "units"]
