"""Smoke tests of ``benchmarks/*.py``: ``--quick`` runs, and prints JSON lines ending in the summary."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gaussian_core.py"


def _quick(script: Path) -> list[dict]:
    """Run ``script --quick`` on the CPU path (wherever the tests run); its stdout as JSON records."""
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_PLATFORMS")}
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return [json.loads(ln) for ln in proc.stdout.splitlines() if ln.strip()]  # every line is one JSON object


def test_gaussian_core_quick_prints_json_lines_and_a_summary_last():
    records = _quick(SCRIPT)
    assert len(records) >= 3, records
    for rec in records:
        assert math.isfinite(rec["ratio"]) and rec["ratio"] > 0, rec
        for field in ("benchmark", "d", "n_trials", "fcjax_trials_per_s", "baseline_trials_per_s", "jax_version",
                      "device_kind", "device_count", "matmul_precision", "dtype"):
            assert field in rec, (field, rec)
    stats = {rec["benchmark"] for rec in records[:-1]}
    assert {"gaussian_core/min_distance", "gaussian_core/onehot_linear_fooled"} <= stats
    summary = records[-1]
    assert summary["benchmark"] == "gaussian_core/summary"
    for field in ("ratio_min_distance", "ratio_onehot_linear_fooled", "ratio_combined"):
        assert math.isfinite(summary[field]) and summary[field] > 0, summary


ATTACKS_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "attacks.py"


def test_attacks_quick_prints_json_lines_and_a_summary_last():
    records = _quick(ATTACKS_SCRIPT)
    assert len(records) >= 2, records
    for rec in records:
        assert math.isfinite(rec["ratio"]) and rec["ratio"] > 0, rec
        for field in ("benchmark", "d", "networks", "samples", "seconds", "samples_per_s", "baseline_samples_per_s",
                      "jax_version", "device_kind", "matmul_precision", "dtype"):
            assert field in rec, (field, rec)
    for rec in records[:-1]:
        assert rec["benchmark"] == "attacks/min_norm"
        assert rec["agreement_checked"] >= 1 and rec["agreement_max_rel_diff"] <= 1e-4, rec
    assert records[-1]["benchmark"] == "attacks/min_norm/summary"
    assert list(records[-1])[-1] == "ratio"  # the ratio is the last field of the last line


SCALING_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "scaling.py"


def test_scaling_quick_measures_every_device_count_against_one_device():
    records = _quick(SCALING_SCRIPT)
    rows, summary = records[:-1], records[-1]
    assert {(r["d"], r["devices"]) for r in rows} == {(d, k) for d in (16, 32) for k in (1, 2, 4, 8)}
    for r in rows:
        assert r["device_count"] == 8 and math.isfinite(r["speedup"]) and r["speedup"] > 0, r
        assert math.isclose(r["efficiency"], r["speedup"] / r["devices"]), r
        if r["devices"] == 1:
            assert r["speedup"] == 1.0  # the baseline, measured in the same run
    assert summary["benchmark"] == "scaling/summary" and list(summary)[-1] == "ratio"
