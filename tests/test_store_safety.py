"""The store holds data only and trusts nothing it reads back: every corrupted, foreign or planted record is moved
aside with a one-line warning and recomputed, and the verdict equals an uninterrupted run's (issue 15)."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from proofs_check import Store, run_claim
from proofs_check.records import FORMAT, RecordError, decode, encode

CLAIM = "gao2024.qr_law"
KW = {"quick": True, "overrides": {"ds": (8, 16), "trials": 64}, "seed": 3}


def _numbers(v) -> dict:
    return {k: val for k, val in v.to_dict().items() if k not in ("seconds", "stored")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run's verdict and its store, copied for each case."""
    root = tmp_path_factory.mktemp("ref") / "store"
    v = run_claim(CLAIM, store=Store(root), **KW)
    return _numbers(v), root


def _cells(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob("chunk.json"))


def _record(cell: Path) -> tuple[Path, Path]:
    (meta,) = [p for p in cell.glob("[0-9]*-[0-9]*.json")][:1]
    return meta.with_suffix(".npz"), meta


def _rerun(root: Path, capsys) -> tuple[dict, str]:
    for v in root.rglob("verdict.json"):  # the claim must go back to its records
        v.unlink()
    capsys.readouterr()
    v = run_claim(CLAIM, store=Store(root), **KW)
    assert not v.stored
    return _numbers(v), capsys.readouterr().err


def _copy(reference, tmp_path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(reference[1], root)
    return root


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def _rewrite_consistent(npz: Path, meta: Path, change) -> None:
    """A record with a valid checksum whose content ``change`` altered: only the content checks can catch it."""
    rec = json.loads(meta.read_text())
    data = npz.read_bytes()
    value = decode(data, meta.read_text(), rec["identity"], trials=rec["trials"])
    new_data, new_text = encode(change(value), rec["identity"])
    new = json.loads(new_text)
    new["trials"] = rec["trials"]  # claims the original trial count
    npz.write_bytes(new_data)
    meta.write_text(json.dumps(new))


CORRUPTIONS = {
    "truncated npz": lambda npz, meta, other: npz.write_bytes(npz.read_bytes()[: len(npz.read_bytes()) // 2]),
    "flipped byte": lambda npz, meta, other: _flip(npz, len(npz.read_bytes()) // 3),
    "wrong-length arrays": lambda npz, meta, other: _rewrite_consistent(
        npz, meta, lambda v: {k: a[:-1] for k, a in v.items()}),
    "another cell's record": lambda npz, meta, other: [shutil.copy(src, dst) for src, dst in
                                                       zip(_record(other), (npz, meta), strict=True)],
    "garbage description": lambda npz, meta, other: meta.write_bytes(b"\xff\xfe\x00garbage"),
    "truncated description": lambda npz, meta, other: meta.write_text(meta.read_text()[:40]),
    "description of another format": lambda npz, meta, other: meta.write_text(
        json.dumps({**json.loads(meta.read_text()), "format": "fcjax-store/1"})),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_a_bad_chunk_record_is_moved_aside_warned_and_recomputed(reference, tmp_path, capsys, case):
    root = _copy(reference, tmp_path)
    cell, other = _cells(root)
    npz, meta = _record(cell)
    CORRUPTIONS[case](npz, meta, other)
    numbers, err = _rerun(root, capsys)
    assert numbers == reference[0]
    warnings = [line for line in err.splitlines() if line.startswith("fcjax: store:")]
    assert len(warnings) == 1 and "moved to quarantine/ and recomputed" in warnings[0], err
    assert list((cell / "quarantine").iterdir())  # kept as evidence, not deleted
    # The recomputed record is valid again: a third run reads it without a warning.
    again, err = _rerun(root, capsys)
    assert again == reference[0] and "fcjax: store:" not in err


def test_a_bad_chunk_size_record_and_a_leftover_temp_file(reference, tmp_path, capsys):
    root = _copy(reference, tmp_path)
    cell, _ = _cells(root)
    (cell / "chunk.json").write_text('{"format": "fcjax-st')
    (cell / ".0000000000-64.npz.k3j.tmp").write_bytes(b"PK\x03\x04half a file")  # a kill mid-write
    numbers, err = _rerun(root, capsys)
    assert numbers == reference[0] and "chunk-size record" in err
    assert json.loads((cell / "chunk.json").read_text())["format"] == FORMAT


@pytest.mark.parametrize("case", ["truncated", "garbage", "forged without the checksum", "another claim's"])
def test_a_bad_verdict_record_is_recomputed(reference, tmp_path, capsys, case):
    root = _copy(reference, tmp_path)
    (path,) = root.rglob("verdict.json")
    rec = json.loads(path.read_text())
    if case == "truncated":
        path.write_text(path.read_text()[:100])
    elif case == "garbage":
        path.write_bytes(b"\x00\x01\x02")
    elif case == "forged without the checksum":
        rec["verdict"]["outcome"] = "fail"
        path.write_text(json.dumps(rec))
    else:
        rec["verdict"]["claim"] = "gao2024.min_distance"
        path.write_text(json.dumps(rec))
    capsys.readouterr()
    v = run_claim(CLAIM, store=Store(root), **KW)
    err = capsys.readouterr().err
    assert not v.stored and _numbers(v) == reference[0]
    assert "verdict" in err and "moved to quarantine/" in err


class _Payload:
    """Unpickling this writes the marker file: proof that the store ran code it read back."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


def test_planted_pickles_are_never_loaded(reference, tmp_path, capsys):
    root = _copy(reference, tmp_path)
    marker = tmp_path / "marker"
    cell, _ = _cells(root)
    npz, meta = _record(cell)
    evil = pickle.dumps(_Payload(marker))
    # 1. a pickle where an older fcjax kept its chunks; 2. a pickle posing as the .npz, with a matching description;
    # 3. an .npz holding an object array (pickled inside the .npy member), with a matching description.
    (cell / npz.name.replace(".npz", ".pkl")).write_bytes(evil)
    (cell / "cell.pkl").write_bytes(evil)
    _, other = _cells(root)
    npz2, meta2 = _record(other)
    npz2.write_bytes(evil)
    rec = json.loads(meta2.read_text())
    meta2.write_text(json.dumps({**rec, "bytes": len(evil), "sha256": hashlib.sha256(evil).hexdigest()}))
    obj = np.empty(1, dtype=object)
    obj[0] = _Payload(marker)
    buf = io.BytesIO()
    np.savez(buf, a0=obj)
    npz.write_bytes(buf.getvalue())
    rec = json.loads(meta.read_text())
    meta.write_text(json.dumps({**rec, "bytes": len(buf.getvalue()),
                                "sha256": hashlib.sha256(buf.getvalue()).hexdigest()}))
    numbers, err = _rerun(root, capsys)
    assert not marker.exists()  # no payload ran
    assert numbers == reference[0]
    assert "pickle files" in err and "never opened" in err
    assert err.count("moved to quarantine/") == 2


def test_no_run_writes_a_pickle(reference):
    root = reference[1]
    assert not list(root.rglob("*.pkl"))
    assert {p.suffix for p in root.rglob("*") if p.is_file()} == {".json", ".npz"}


def test_records_round_trip_and_refuse_what_they_cannot_hold():
    ident = {"where": ["a", "b", "c"]}
    value = {"x": np.arange(3.0), "t": (np.float32(2.5), 3, True, None, float("nan")), "l": [np.zeros((3, 2), "i4")]}
    data, text = encode(value, ident)
    back = decode(data, text, ident)
    assert back["t"][1:4] == (3, True, None) and isinstance(back["t"][0], np.float32) and np.isnan(back["t"][4])
    np.testing.assert_array_equal(back["l"][0], value["l"][0])
    with pytest.raises(RecordError, match="written for"):
        decode(data, text, {"where": ["a", "b", "d"]})
    with pytest.raises(TypeError, match="object dtype"):
        encode({"o": np.empty(2, object)}, ident)
    with pytest.raises(TypeError, match="not set"):
        encode({1, 2}, ident)
    with pytest.raises(ValueError, match="rows in every array"):
        encode({"x": np.zeros(3)}, ident, trials=4)
