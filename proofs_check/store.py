"""Resumable results on disk: each finished chunk of trials, each cached cell and each verdict, written atomically.

Layout under the store's root (``DIR/store`` for ``--out DIR``)::

    <scope>/<config hash>/verdict.json                 a finished claim
    <scope>/<config hash>/<cell>-<fingerprint>/chunk.json      the chunk size the cell's first run chose
    <scope>/<config hash>/<cell>-<fingerprint>/<lo>-<n>.pkl    trials lo .. lo+n-1 of that cell
    <scope>/<config hash>/<cell>-<fingerprint>/cell.pkl        a cell computed in one piece

The config hash covers the claim's settings (not the memory budget, which changes only the chunking), the seed,
the JAX version, the platform (cpu / gpu / tpu: not the device count, which changes no number), the source code
of fcjax and proofs_check and that of the claim's own module (a plugin file too), so an edit or another backend
never resumes from stale numbers. The fingerprint covers the cell's trial function, key, trial count and
shared-argument shapes. Every file appears by an atomic rename of a fully written temporary file, so a SIGKILL at
any moment leaves whole files only; a resumed run pins each cell's chunk size, so it recomputes exactly the missing
chunks, in the same compiled shape.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import pickle
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np

from fcjax.stats import Verdict

_PACKAGES = ("fcjax", "proofs_check")
# Settings that change how a result is computed (chunking), not what: excluded from the config hash.
_NOT_HASHED = frozenset({"max_memory_mb"})


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync and a rename: readers see all of it or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: Path, text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """SHA-256 of the Python sources of fcjax and proofs_check (what computed a stored number)."""
    h = hashlib.sha256()
    for pkg in _PACKAGES:
        root = Path(__import__(pkg).__file__).parent
        for path in sorted(root.rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=repr).encode()).hexdigest()[:16]


def config_hash(scope: str, cfg: Any, seed: int, code: str = "") -> str:
    """The hash naming a claim's (or shared scope's) results for one configuration and seed; ``code`` is the
    fingerprint of the claim's own module (:attr:`proofs_check.registry.Claim.code`)."""
    settings = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)
                if f.repr and f.name not in _NOT_HASHED}
    return _digest({"scope": scope, "config": settings, "seed": seed, "code": code_fingerprint(), "module": code,
                    "jax": jax.__version__, "platform": jax.devices()[0].platform})


def _describe(fn: Any) -> Any:
    if isinstance(fn, functools.partial):
        return [_describe(fn.func), [repr(a) for a in fn.args], {k: repr(v) for k, v in sorted(fn.keywords.items())}]
    return f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"


def fingerprint(fn: Any, key: jax.Array, n_trials: int, shared: tuple[Any, ...] = ()) -> str:
    """What identifies one cell's computation inside its configuration (the key carries the seed and the cell)."""
    key_data = np.asarray(jax.random.key_data(key)).ravel().tolist()
    avals = [[list(np.shape(a)), str(getattr(a, "dtype", type(a).__name__))] for a in jax.tree.leaves(shared)]
    return _digest({"fn": _describe(fn), "key": key_data, "n": n_trials, "shared": avals})


def _safe(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=,+-]+", "_", label)[:80]


class CellStore:
    """One cell's chunks on disk; :func:`fcjax.map_trials` reads and writes it through the ChunkStore protocol."""

    def __init__(self, path: Path, *, write: bool = True) -> None:
        self.path = Path(path)
        self.write = write

    def chunk_size(self, proposed: int) -> int:
        pinned = self.path / "chunk.json"
        if pinned.exists():
            return int(json.loads(pinned.read_text())["chunk"])
        if self.write:
            atomic_write(pinned, json.dumps({"chunk": int(proposed)}))
        return int(proposed)

    def _chunk(self, lo: int, count: int) -> Path:
        return self.path / f"{lo:010d}-{count}.pkl"

    def load(self, lo: int, count: int) -> Any | None:
        return _read(self._chunk(lo, count))

    def _write(self, path: Path, value: Any) -> None:
        if self.write:
            atomic_write_bytes(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

    def save(self, lo: int, count: int, value: Any) -> None:
        self._write(self._chunk(lo, count), value)

    def chunks(self) -> list[tuple[int, int]]:
        """The stored chunks as ``(lo, count)``, in order."""
        found = (re.fullmatch(r"(\d+)-(\d+)\.pkl", p.name) for p in self.path.glob("*.pkl"))
        return sorted((int(m[1]), int(m[2])) for m in found if m)

    def load_whole(self) -> Any | None:
        return _read(self.path / "cell.pkl")

    def save_whole(self, value: Any) -> None:
        self._write(self.path / "cell.pkl", value)


def _read(path: Path) -> Any | None:
    try:
        with open(path, "rb") as f:  # the store's own files, written by this module (pickle is trusted here)
            return pickle.load(f)
    except FileNotFoundError:  # absent, or removed by a --fresh run of process 0 meanwhile
        return None


class Store:
    """A directory of resumable results.

    ``fresh=True`` deletes each configuration's stored results the first time this store opens it, so the run
    starts from nothing and is itself resumable after a kill (without ``--fresh`` the second time).
    ``write=False`` only reads (the processes other than 0 of a multi-host run, on a shared filesystem).
    """

    def __init__(self, root: Path | str, *, fresh: bool = False, write: bool = True) -> None:
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root must be a path, got {type(root).__name__}")
        self.root = Path(root)
        self.fresh = bool(fresh)
        self.write = bool(write)
        self._cleared: set[Path] = set()

    def config_dir(self, scope: str, cfg: Any, seed: int, code: str = "") -> Path:
        path = self.root / scope / config_hash(scope, cfg, seed, code)
        if self.fresh and path not in self._cleared:
            self._cleared.add(path)  # once per run: a scope shared by several claims is not cleared again
            if self.write:
                shutil.rmtree(path, ignore_errors=True)
        return path

    def cell(self, scope: str, cfg: Any, seed: int, label: str, print_: str, code: str = "") -> CellStore:
        return CellStore(self.config_dir(scope, cfg, seed, code) / f"{_safe(label)}-{print_[:12]}",
                         write=self.write)

    def verdict(self, claim: str, cfg: Any, seed: int, code: str = "") -> Verdict | None:
        """The stored verdict of a finished claim (marked ``stored=True``), or None."""
        try:
            text = (self.config_dir(claim, cfg, seed, code) / "verdict.json").read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return dataclasses.replace(Verdict.from_dict(json.loads(text)), stored=True)

    def save_verdict(self, claim: str, cfg: Any, seed: int, verdict: Verdict, code: str = "") -> None:
        if self.write:
            fresh = dataclasses.replace(verdict, stored=False)
            atomic_write(self.config_dir(claim, cfg, seed, code) / "verdict.json", fresh.to_json())
