"""What a claim function receives besides its config and key: progress, and trial maps that resume from a store.

A claim names each of its cells (``"d=64"``, ``"width=256"``); with a :class:`~proofs_check.store.Store` the
cell's chunks are kept on disk as they finish and reused by the next run of the same configuration and seed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import jax

from fcjax.parallel import map_trials

from .store import Store, fingerprint

T = TypeVar("T")


class Run:
    """A claim's run: ``ctx(n)`` advances its progress bar; ``ctx.map_trials`` and ``ctx.cell`` are resumable."""

    def __init__(self, claim: str, cfg: Any, seed: int, progress: Callable[[int], Any] | None = None,
                 store: Store | None = None, code: str = "") -> None:
        self.claim, self.cfg, self.seed, self.code = claim, cfg, seed, code
        self._progress = progress
        self._store = store
        self._cells: set[tuple[str, str]] = set()

    def __call__(self, n: int) -> None:
        if self._progress is not None:
            self._progress(n)

    def _cell(self, label: str, fn: Any, key: jax.Array, n: int, shared: tuple, scope: str | None,
              cfg: Any | None):
        scope = scope or self.claim
        if (scope, label) in self._cells:
            raise RuntimeError(f"cell {label!r} of {scope} is computed twice in one run: give each cell its own "
                               "label")
        self._cells.add((scope, label))
        if self._store is None:
            return None
        return self._store.cell(scope, cfg or self.cfg, self.seed, label, fingerprint(fn, key, n, shared), self.code)

    def map_trials(self, fn: Callable[..., Any], key: jax.Array, n_trials: int, *, cell: str, chunk_size: int,
                   shared: tuple[Any, ...] = (), scope: str | None = None, cfg: Any | None = None,
                   tally: bool = True) -> Any:
        """:func:`fcjax.map_trials` over the cell ``cell``, resuming from stored chunks.

        ``scope``/``cfg`` name results shared by several claims (e.g. one trained family); ``tally=False`` keeps
        the trials out of the progress bar (work the claim's total does not count).
        """
        store = self._cell(cell, fn, key, n_trials, shared, scope, cfg)
        return map_trials(fn, key, n_trials, chunk_size=chunk_size, shared=shared, store=store,
                          progress=self if tally else None)

    def cell(self, cell: str, compute: Callable[[], T], *, key: jax.Array, work: int = 0, scope: str | None = None,
             cfg: Any | None = None) -> T:
        """``compute()`` for a cell computed in one piece (e.g. networks trained in one program), stored whole.

        ``key`` is the cell's key (it identifies the computation with ``cell``); ``work`` advances the bar.
        """
        store = self._cell(cell, compute, key, 1, (), scope, cfg)
        value = None if store is None else store.load_whole()
        if value is None:
            value = compute()
            if store is not None:
                store.save_whole(value)
        self(work)
        return value
