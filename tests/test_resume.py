"""Resumable sweeps: the chunk store, map_trials resuming from it, and a real run killed part-way and resumed."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

import fcjax as F
from proofs_check import Run, Store, get_claim, run_claim
from proofs_check.store import CellStore, atomic_write, config_hash

ROOT = Path(__file__).resolve().parents[1]


def _fn(k):
    z = jax.random.normal(k, (3,))
    return {"a": z[0], "b": z[1:]}


class DictStore:
    """An in-memory ChunkStore that counts what map_trials asks of it."""

    def __init__(self, chunk=None):
        self.chunks, self.pinned, self.saved = {}, chunk, []

    def chunk_size(self, proposed):
        self.pinned = self.pinned or proposed
        return self.pinned

    def load(self, lo, count):
        return self.chunks.get((lo, count))

    def save(self, lo, count, value):
        self.saved.append((lo, count))
        self.chunks[lo, count] = value


def test_map_trials_resumes_from_a_partial_store(key):
    ref = F.map_trials(_fn, key, 23, chunk_size=5)
    store = DictStore()
    F.map_trials(_fn, key, 23, chunk_size=5, store=store, split=1)
    assert store.saved == [(0, 5), (5, 5), (10, 5), (15, 5), (20, 3)]
    for gone in ((5, 5), (20, 3)):  # as if killed before these two chunks were written
        del store.chunks[gone]
    store.saved.clear()
    done = []
    out = F.map_trials(_fn, key, 23, chunk_size=9, store=store, progress=done.append, split=1)
    assert store.saved == [(5, 5), (20, 3)]  # only the missing chunks, in the pinned chunk size (5, not 9)
    assert sum(done) == 23  # the bar still counts every trial once
    for name in ref:
        np.testing.assert_array_equal(out[name], ref[name])


def test_cell_store_pins_chunks_and_writes_whole_files(tmp_path):
    cell = CellStore(tmp_path / "c")
    assert cell.chunk_size(8) == 8 and cell.chunk_size(64) == 8  # a resumed cell keeps its first chunking
    value = {"x": np.arange(4.0), "y": (np.ones((4, 2), bool),)}
    cell.save(0, 4, value)
    got = cell.load(0, 4)
    np.testing.assert_array_equal(got["x"], value["x"])
    assert cell.load(4, 4) is None and cell.chunks() == [(0, 4)]
    # A temporary file left by a kill mid-write is never read as a chunk.
    (tmp_path / "c" / ".0000000004-4.npz.abc.tmp").write_bytes(b"PK\x03half")
    assert cell.load(4, 4) is None and cell.chunks() == [(0, 4)]
    reader = CellStore(tmp_path / "r", write=False)
    reader.save(0, 4, value)
    assert reader.chunk_size(3) == 3 and not (tmp_path / "r").exists()


def test_fresh_store_clears_each_configuration_once(tmp_path):
    cfg = get_claim("gao2024.qr_law").configure(quick=True)
    old = Store(tmp_path).cell("s", cfg, 0, "d=4", "abc")
    old.save(0, 4, {"x": np.zeros(4)})
    fresh = Store(tmp_path, fresh=True)
    cell = fresh.cell("s", cfg, 0, "d=4", "abc")
    assert cell.load(0, 4) is None and cell.chunks() == []  # the old results are gone...
    cell.save(0, 4, {"x": np.ones(4)})
    again = fresh.cell("s", cfg, 0, "d=4", "abc")  # ...once: what this run wrote stays (a shared scope, a resume)
    np.testing.assert_array_equal(again.load(0, 4)["x"], np.ones(4))
    np.testing.assert_array_equal(Store(tmp_path).cell("s", cfg, 0, "d=4", "abc").load(0, 4)["x"], np.ones(4))


def test_atomic_write_replaces_whole(tmp_path):
    path = tmp_path / "a" / "f.json"
    atomic_write(path, "one")
    atomic_write(path, "two")
    assert path.read_text() == "two" and [p.name for p in path.parent.iterdir()] == ["f.json"]


def test_config_hash_ignores_the_memory_budget_only():
    cfg = get_claim("gao2024.qr_law").configure(quick=True)
    h = config_hash("gao2024.qr_law", cfg, 0)
    assert h == config_hash("gao2024.qr_law", cfg.__class__(**{**cfg.__dict__, "max_memory_mb": 7}), 0)
    assert h != config_hash("gao2024.qr_law", cfg, 1)
    assert h != config_hash("gao2024.qr_law", get_claim("gao2024.qr_law").configure(True, {"trials": 99}), 0)


def test_run_rejects_a_cell_computed_twice(key):
    ctx = Run("x.y", get_claim("gao2024.qr_law").config, 0)
    ctx.map_trials(_fn, key, 2, cell="d=2", chunk_size=2)
    with pytest.raises(RuntimeError, match="computed twice"):
        ctx.map_trials(_fn, key, 2, cell="d=2", chunk_size=2)


def test_run_claim_reuses_a_finished_verdict_and_fresh_recomputes(tmp_path):
    store = Store(tmp_path)
    kw = {"quick": True, "overrides": {"ds": (8,), "trials": 64}, "seed": 3}
    first = run_claim("gao2024.qr_law", store=store, **kw)
    again = run_claim("gao2024.qr_law", store=store, **kw)
    assert again.stored and not first.stored  # returned as stored, and marked so
    assert {**again.to_dict(), "stored": False} == first.to_dict()  # same seconds too
    redo = run_claim("gao2024.qr_law", store=Store(tmp_path, fresh=True), **kw)
    assert redo.seconds != first.seconds and redo.statistic == first.statistic and not redo.stored
    with pytest.raises(TypeError, match="store"):
        run_claim("gao2024.qr_law", store=str(tmp_path), **kw)


# --------------------------------------------------------------------------------------------- kill and resume
_CMD = ["check", "gao2024.qr_law", "--quick", "--d", "32,48", "--trials", "480", "--max-memory", "1", "--quiet",
        "--json"]


def _fcjax(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "proofs_check.cli", *_CMD, "--out", str(out), *extra]


def _chunks(out: Path) -> dict[Path, tuple[int, int]]:
    # Committed chunk records: a chunk exists once its description (<lo>-<n>.json, written after the .npz) does.
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "store").rglob("[0-9]*-[0-9]*.json")}


def _numbers(out: Path) -> dict:
    (v,) = json.loads((out / "results.json").read_text())["verdicts"]
    return {k: v[k] for k in ("passed", "statistic", "ci_low", "ci_high", "n_trials", "checks", "table", "series")}


def test_killed_run_resumes_without_losing_or_duplicating_chunks(tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    subprocess.run(_fcjax(full), env=env, capture_output=True, timeout=600, check=False)
    n_total = len(_chunks(full))
    assert n_total >= 30  # 1 MiB per call: many chunks per cell

    proc = subprocess.Popen(_fcjax(resumed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while len(_chunks(resumed)) < n_total // 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # no handler can run: whatever was half-written stays half-written
    proc.wait()
    before = _chunks(resumed)
    assert 0 < len(before) < n_total, "the kill came too late or too early to test resuming"
    assert not (resumed / "results.json").exists()

    subprocess.run(_fcjax(resumed), env=env, capture_output=True, timeout=600, check=False)
    after = _chunks(resumed)
    # Nothing lost or rewritten: every chunk finished before the kill is the same file (same inode, same mtime).
    assert all(after[p] == stamp for p, stamp in before.items())
    # Nothing duplicated: each cell's chunks tile its trials exactly once, as in the uninterrupted run.
    assert sorted(p.relative_to(resumed) for p in after) == sorted(p.relative_to(full) for p in _chunks(full))
    for cell in {p.parent for p in after}:
        spans = sorted(CellStore(cell).chunks())
        assert spans[0][0] == 0 and all(a + n == b for (a, n), (b, _) in itertools.pairwise(spans))
        assert spans[-1][0] + spans[-1][1] == 480
    # The same numbers as the run that was never interrupted.
    assert _numbers(resumed) == _numbers(full)
    shutil.rmtree(tmp_path)
