"""Data-only records for the store: a pytree of arrays as an ``.npz`` (read with ``allow_pickle=False``) and a JSON
description that says what the ``.npz`` must hold and carries its SHA-256.

Nothing read back can run code: the arrays are plain ``.npy`` members (object dtypes are refused both ways) and
the tree structure is JSON (dicts with string keys, lists, tuples, None, Python scalars). A record is accepted only
if every check passes: format version, identity (the scope, configuration and cell it was written for, its trial
range), byte count and checksum of the ``.npz``, member names, shapes and dtypes, and, for a chunk of trials, the
leading (trial) axis of every array. The checksum detects corruption, not forgery: whoever can write the
directory can write a consistent record with other numbers (see the README's trust model).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from typing import Any

import numpy as np

FORMAT = "fcjax-store/2"


class RecordError(ValueError):
    """A stored record that fails a check (the message says which)."""


def _encode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("stored dicts must have string keys")
        return {"dict": [[k, _encode(v, arrays)] for k, v in value.items()]}
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return {"tuple": [_encode(v, arrays) for v in value]}
    if isinstance(value, list):
        return {"list": [_encode(v, arrays) for v in value]}
    if value is None:
        return {"none": None}
    if isinstance(value, (bool, int, float)) and not isinstance(value, np.generic):
        if isinstance(value, float) and not math.isfinite(value):
            return {"float": repr(value)}
        return {type(value).__name__: value}
    if isinstance(value, (np.ndarray, np.generic)) or hasattr(value, "__array__"):
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            raise TypeError("stored arrays must not have an object dtype")
        name = f"a{len(arrays)}"
        arrays[name] = arr
        return {"array": name, "scalar": isinstance(value, np.generic)}
    raise TypeError(f"the store keeps dicts, lists, tuples, None, Python scalars and arrays, not "
                    f"{type(value).__name__}")


def _decode(node: Any, arrays: dict[str, np.ndarray]) -> Any:
    if not isinstance(node, dict) or len(node) not in (1, 2):
        raise RecordError("malformed tree node")
    kind = next(iter(node))
    body = node[kind]
    if kind == "dict" and isinstance(body, list) and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
                                                         for p in body):
        return {k: _decode(v, arrays) for k, v in body}
    if kind in ("tuple", "list") and isinstance(body, list):
        items = [_decode(v, arrays) for v in body]
        return tuple(items) if kind == "tuple" else items
    if kind == "none" and body is None:
        return None
    if kind in ("bool", "int") and type(body).__name__ == kind:
        return body
    if kind == "float" and isinstance(body, (int, float, str)) and not isinstance(body, bool):
        return float(body)
    if kind == "array" and isinstance(body, str) and body in arrays:
        arr = arrays[body]
        return arr[()] if node.get("scalar") is True else arr
    raise RecordError(f"malformed tree node {kind!r}")


def encode(value: Any, identity: dict[str, Any], *, trials: int | None = None) -> tuple[bytes, str]:
    """``(npz bytes, JSON text)`` for ``value``; ``identity`` (JSON-ready) is what a reader will require back.

    ``trials``: for a chunk of trials, the length every array must have along axis 0.
    """
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(value, arrays)
    if trials is not None:
        bad = [n for n, a in arrays.items() if a.ndim == 0 or a.shape[0] != trials]
        if bad:
            raise ValueError(f"a chunk of {trials} trials must have {trials} rows in every array ({bad})")
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    meta = {"format": FORMAT, "identity": identity, "trials": trials, "tree": tree,
            "arrays": {n: {"shape": list(a.shape), "dtype": a.dtype.str} for n, a in arrays.items()},
            "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return data, json.dumps(meta, sort_keys=True)


def decode(data: bytes, text: str, identity: dict[str, Any], *, trials: int | None = None) -> Any:
    """The value of a record written by :func:`encode`, after every check; :class:`RecordError` says which failed."""
    try:
        meta = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RecordError(f"unreadable description ({err.msg if hasattr(err, 'msg') else err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise RecordError(f"not a {FORMAT} record")
    if meta.get("identity") != identity:
        raise RecordError(f"written for {meta.get('identity')}, not for {identity}")
    if meta.get("trials") != trials:
        raise RecordError(f"holds {meta.get('trials')} trials, not {trials}")
    if meta.get("bytes") != len(data) or meta.get("sha256") != hashlib.sha256(data).hexdigest():
        raise RecordError(f"checksum mismatch ({len(data)} bytes, {meta.get('bytes')} recorded)")
    spec = meta.get("arrays")
    if not isinstance(spec, dict):
        raise RecordError("no array list")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, EOFError) as err:  # includes "Object arrays cannot be loaded when allow_pickle=False"
        raise RecordError(f"unreadable arrays ({err})") from None
    if set(arrays) != set(spec):
        raise RecordError(f"holds arrays {sorted(arrays)}, described {sorted(spec)}")
    for name, arr in arrays.items():
        want = spec[name]
        if not isinstance(want, dict) or list(arr.shape) != want.get("shape") or arr.dtype.str != want.get("dtype"):
            raise RecordError(f"array {name} is {arr.dtype.str}{list(arr.shape)}, described {want}")
        if trials is not None and (arr.ndim == 0 or arr.shape[0] != trials):
            raise RecordError(f"array {name} has {arr.shape[0] if arr.ndim else 0} rows for {trials} trials")
    return _decode(meta.get("tree"), arrays)
