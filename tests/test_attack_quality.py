"""Smoke test of ``benchmarks/attack_quality.py``: ``--smoke`` runs and prints JSON lines ending in the summary.

Foolbox is an optional dependency: without it the run must say so in one ``peers_skipped`` line and still compare
fcjax's own attacks; with it (``pip install foolbox==3.3.4``) the peers' lines are checked too.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "attack_quality.py"
ATTACKS = {"fcjax.min_norm", "fcjax.min_norm_restarts4", "fcjax.fmn", "fcjax.best_min_norm"}


def _smoke() -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_PLATFORMS")}
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--smoke"], capture_output=True, text=True, env=env,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return [json.loads(ln) for ln in proc.stdout.splitlines() if ln.strip()]  # every line is one JSON object


@pytest.mark.slow  # 19 s on 2 cores: the slow job
def test_attack_quality_smoke_prints_json_lines_and_a_summary_last():
    records = _smoke()
    rows = [r for r in records if r["benchmark"] == "attack_quality/attack"]
    assert {r["attack"] for r in rows} == ATTACKS
    for r in rows:
        assert 0.0 <= r["success_rate"] <= 1.0 and r["seconds"] > 0, r
        st = r["vs_best_fcjax"]
        assert st["compared"] >= 1 and st["median"] >= 1.0 - 1e-12, r  # the reference is the best of them
        for field in ("d", "samples", "model", "jax_version", "device_kind", "dtype", "compile_s"):
            assert field in r, (field, r)
    peers = [r for r in records if r["benchmark"] == "attack_quality/peer"]
    if importlib.util.find_spec("foolbox") is None:
        skipped = [r for r in records if r["benchmark"] == "attack_quality/peers_skipped"]
        assert len(skipped) == 1 and "foolbox" in skipped[0]["reason"], skipped
        assert not peers
    else:
        assert peers, records
        for r in rows:
            assert set(r["speedup_vs_peers"]) == {p["peer"] for p in peers if p["d"] == r["d"]}, r
    summary = records[-1]
    assert summary["benchmark"] == "attack_quality/summary"
    assert set(summary["attacks"]) == ATTACKS
    assert list(summary)[-1] == "ratio" and math.isfinite(summary["ratio"]) and summary["ratio"] > 0
