"""Resumable results on disk: each finished chunk of trials, each cached cell and each verdict, written atomically.

Layout under the store's root (``DIR/store`` for ``--out DIR``)::

    <scope>/<config hash>/verdict.json                            a finished claim (checksummed JSON)
    <scope>/<config hash>/<cell>-<fingerprint>/chunk.json                 the chunk size the cell's first run chose
    <scope>/<config hash>/<cell>-<fingerprint>/<lo>-<n>.npz, <lo>-<n>.json  trials lo .. lo+n-1 of that cell
    <scope>/<config hash>/<cell>-<fingerprint>/cell.npz, cell.json          a cell computed in one piece
    .../quarantine/                                               records that failed a check, moved aside

Everything is data: arrays in ``.npz`` read without pickle, everything else JSON (:mod:`proofs_check.records`).
A record's ``.json`` is written after its ``.npz`` and names its checksum, so it is the record's commit mark. A
record that fails any check is moved to ``quarantine/``, reported in one line on stderr and recomputed; a file the
store did not write (a pickle, say) is never opened.

The config hash covers the store's format version, the claim's settings (not the memory budget, which changes
only the chunking), the seed, the JAX version, the platform (cpu / gpu / tpu: not the device count, which changes
no number), the source code of fcjax and proofs_check and that of the claim's own module (a plugin file too), so
an edit, another backend or an older store's format never resumes from stale numbers. The fingerprint covers the
cell's trial function, key, trial count and shared-argument shapes. Every file appears by an atomic rename of a
fully written temporary file, so a SIGKILL at any moment leaves whole files only; a resumed run pins each cell's
chunk size, so it recomputes exactly the missing chunks, in the same compiled shape.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from fcjax.stats import Verdict

from .records import FORMAT, RecordError, decode, encode

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
    return _digest({"format": FORMAT, "scope": scope, "config": settings, "seed": seed, "code": code_fingerprint(),
                    "module": code,
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


def warn(message: str) -> None:
    """One line on stderr: what the store found wrong and what it does about it."""
    print(f"fcjax: store: {message}", file=sys.stderr, flush=True)


def _quarantine(paths: list[Path], reason: str, write: bool) -> None:
    """Move a failed record's files aside (never delete: they are evidence) and say so in one line."""
    present = [p for p in paths if p.exists()]
    if not present:
        return
    if not write:
        warn(f"{present[0]}: {reason}; not used (this process does not write the store)")
        return
    dest = present[0].parent / "quarantine"
    dest.mkdir(exist_ok=True)
    stamp = f"{time.time_ns()}"
    for p in present:
        with contextlib.suppress(FileNotFoundError):  # another process moved it first
            os.replace(p, dest / f"{p.name}.{stamp}")
    warn(f"{present[0]}: {reason}; moved to {dest.name}/ and recomputed")


class CellStore:
    """One cell's records on disk; :func:`fcjax.map_trials` reads and writes it through the ChunkStore protocol.

    ``identity`` is what every record of the cell must say it belongs to (by default the last three parts of
    ``path``: scope, configuration hash, cell), so a record copied in from another cell is refused.
    """

    def __init__(self, path: Path, *, write: bool = True, identity: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.write = write
        self.identity = identity or {"where": list(self.path.parts[-3:])}

    def chunk_size(self, proposed: int) -> int:
        pinned = self.path / "chunk.json"
        try:
            meta = json.loads(pinned.read_text(encoding="utf-8"))
            if (isinstance(meta, dict) and meta.get("format") == FORMAT and meta.get("identity") == self.identity
                    and type(meta.get("chunk")) is int and meta["chunk"] >= 1):
                return meta["chunk"]
            _quarantine([pinned], "not a valid chunk-size record", self.write)
        except FileNotFoundError:
            pass
        except (json.JSONDecodeError, UnicodeDecodeError):
            _quarantine([pinned], "unreadable chunk-size record", self.write)
        # No valid pin: keep the chunking of the chunks already here (the largest is the chunk size), else propose.
        have = [count for _, count in self.chunks()]
        size = max(have) if have else int(proposed)
        if self.write:
            atomic_write(pinned, json.dumps({"format": FORMAT, "identity": self.identity, "chunk": size}))
        return size

    def _paths(self, stem: str) -> tuple[Path, Path]:
        return self.path / f"{stem}.npz", self.path / f"{stem}.json"

    def _load(self, stem: str, trials: int | None, span: list[int] | None) -> Any | None:
        npz, meta = self._paths(stem)
        try:
            text = meta.read_text(encoding="utf-8")
            data = npz.read_bytes()
        except FileNotFoundError:  # absent, half-written (no .json yet), or removed by a --fresh run meanwhile
            return None
        except UnicodeDecodeError:
            _quarantine([meta, npz], "unreadable description", self.write)
            return None
        try:
            return decode(data, text, {**self.identity, "record": stem, "span": span}, trials=trials)
        except (RecordError, TypeError, KeyError, RecursionError) as err:
            _quarantine([meta, npz], str(err) or type(err).__name__, self.write)
            return None

    def _save(self, stem: str, value: Any, trials: int | None, span: list[int] | None) -> None:
        if self.write:
            data, text = encode(value, {**self.identity, "record": stem, "span": span}, trials=trials)
            npz, meta = self._paths(stem)
            atomic_write_bytes(npz, data)
            atomic_write(meta, text)  # last: the record exists once its description does

    @staticmethod
    def _stem(lo: int, count: int) -> str:
        return f"{lo:010d}-{count}"

    def load(self, lo: int, count: int) -> Any | None:
        return self._load(self._stem(lo, count), count, [lo, count])

    def save(self, lo: int, count: int, value: Any) -> None:
        self._save(self._stem(lo, count), value, count, [lo, count])

    def chunks(self) -> list[tuple[int, int]]:
        """The committed chunks (a ``.json`` description is present) as ``(lo, count)``, in order."""
        found = (re.fullmatch(r"(\d+)-(\d+)\.json", p.name) for p in self.path.glob("*.json"))
        return sorted((int(m[1]), int(m[2])) for m in found if m)

    def load_whole(self) -> Any | None:
        return self._load("cell", None, None)

    def save_whole(self, value: Any) -> None:
        self._save("cell", value, None, None)


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
        old = next(self.root.rglob("*.pkl"), None) if self.root.is_dir() else None
        if old is not None:
            warn(f"{self.root} holds pickle files (an older fcjax wrote them, or someone planted them, e.g. {old}); "
                 "they are never opened: those results are recomputed. Delete them to reclaim the space.")

    def config_dir(self, scope: str, cfg: Any, seed: int, code: str = "") -> Path:
        path = self.root / scope / config_hash(scope, cfg, seed, code)
        if self.fresh and path not in self._cleared:
            self._cleared.add(path)  # once per run: a scope shared by several claims is not cleared again
            if self.write:
                shutil.rmtree(path, ignore_errors=True)
        return path

    def cell(self, scope: str, cfg: Any, seed: int, label: str, print_: str, code: str = "") -> CellStore:
        config = self.config_dir(scope, cfg, seed, code)
        name = f"{_safe(label)}-{print_[:12]}"
        return CellStore(config / name, write=self.write,
                         identity={"scope": scope, "config": config.name, "cell": name})

    def verdict(self, claim: str, cfg: Any, seed: int, code: str = "") -> Verdict | None:
        """The stored verdict of a finished claim (marked ``stored=True``), or None (also when it fails a check)."""
        path = self.config_dir(claim, cfg, seed, code) / "verdict.json"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            _quarantine([path], "unreadable verdict record", self.write)
            return None
        try:
            rec = json.loads(text)
            body = rec["verdict"]
            if not (isinstance(rec, dict) and rec.get("format") == FORMAT and rec.get("identity") ==
                    {"claim": claim, "config": path.parent.name} and isinstance(body, dict)):
                raise RecordError("not a verdict record of this claim and configuration")
            if rec.get("sha256") != hashlib.sha256(_canonical(body).encode()).hexdigest():
                raise RecordError("checksum mismatch")
            verdict = Verdict.from_dict(body)
            if verdict.claim != claim:
                raise RecordError(f"a verdict of {verdict.claim!r}, not of {claim!r}")
        except (json.JSONDecodeError, RecordError, KeyError, TypeError, ValueError) as err:
            _quarantine([path], f"bad verdict record ({err})", self.write)
            return None
        return dataclasses.replace(verdict, stored=True)

    def save_verdict(self, claim: str, cfg: Any, seed: int, verdict: Verdict, code: str = "") -> None:
        if self.write:
            path = self.config_dir(claim, cfg, seed, code) / "verdict.json"
            body = dataclasses.replace(verdict, stored=False).to_dict()
            rec = {"format": FORMAT, "identity": {"claim": claim, "config": path.parent.name},
                   "sha256": hashlib.sha256(_canonical(body).encode()).hexdigest(), "verdict": body}
            atomic_write(path, json.dumps(rec, allow_nan=False))


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, allow_nan=False, separators=(",", ":"))
