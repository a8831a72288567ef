"""Smoke tests of ``benchmarks/*.py``: ``--quick`` runs, and prints JSON lines ending in the summary."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    for rec in records[:-1]:  # every statistic against the same process's GEMM and its own kernels' limit
        assert rec["fraction_of_gemm"] > 0 and rec["gemm_tflops_float32"] > 0 and rec["gemm_tflops_float64"] > 0
        assert rec["fraction_of_peak_gemm"] > 0 and rec["kernel_limit_tflops"] > 0, rec


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
    assert records[-1]["fraction_of_gemm"] > 0 and records[-1]["flops_lower_bound"] in (True, False)
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


def _peer_line(records: list[dict], skipped: str, module: str) -> None:
    """A peer that does not import is one line saying why; one that does gives its ratio on every d."""
    try:
        __import__(module)
        have = True
    except Exception:
        have = False
    if have:
        assert all(r["benchmark"] != skipped for r in records) and records[-1]["ratio"] > 0
    else:
        assert records[0]["benchmark"] == skipped and records[0]["why"], records[0]


@pytest.mark.slow  # ~20 s: the slow job runs every benchmark's smoke mode
def test_certificates_quick_checks_crown_against_the_peer_or_says_why_not():
    records = _quick(Path(__file__).resolve().parents[1] / "benchmarks" / "certificates.py")
    _peer_line(records, "certificates/peer_skipped", "auto_LiRPA")
    rows = [r for r in records if r["benchmark"] == "certificates/crown"]
    assert rows and all(r["fraction_of_gemm"] > 0 and r["fcjax_crown_radii_per_s"] > 0 for r in rows)
    for r in rows:
        if "peer" in r:  # the same radii (fcjax never certifies more) and the same margins
            assert r["fcjax_certifies_more"] == 0 and r["margin_max_abs_diff"] < 1e-6, r
    assert records[-1]["benchmark"] == "certificates/summary" and list(records[-1])[-1] == "ratio"


@pytest.mark.slow
def test_training_quick_compares_vmapped_training_with_loops():
    records = _quick(Path(__file__).resolve().parents[1] / "benchmarks" / "training.py")
    _peer_line(records, "training/peer_skipped", "torch")
    rows = [r for r in records if r["benchmark"] == "training/mlp"]
    assert rows and all(r["fraction_of_gemm"] > 0 and r["ratio_vs_fcjax_loop"] > 0 for r in rows)
    scaling = next(r for r in records if r["benchmark"] == "training/scaling_networks")
    assert len(scaling["seconds"]) == 3 and math.isfinite(scaling["slope"])
    assert records[-1]["benchmark"] == "training/summary" and list(records[-1])[-1] == "ratio"


@pytest.mark.slow
def test_sweeps_quick_times_every_driver_and_bounds_chunk_memory():
    records = _quick(Path(__file__).resolve().parents[1] / "benchmarks" / "sweeps.py")
    rows = [r for r in records if r["benchmark"] == "sweeps/min_distance"]
    assert len(rows) >= 2
    for r in rows:
        for driver in ("map_trials", "lax_map", "lax_map_batched", "jit_loop", "numpy_loop"):
            assert r[f"{driver}_trials_per_s"] > 0, (driver, r)
        assert r["fraction_of_gemm"] > 0 and r["agreement_worst_over_tol"] <= 1
        assert 0 < r["chunk_bytes"] <= r["budget_bytes"], r  # the chunk fits the budget it was sized for
    summary = records[-1]
    assert summary["benchmark"] == "sweeps/summary" and list(summary)[-1] == "ratio"
    assert math.isfinite(summary["slope_seconds_vs_trials"])


def test_kernel_rates_refuse_float64_without_x64_instead_of_timing_float32(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parents[1]))  # benchmarks/ is scripts, not an installed package
    import jax

    from benchmarks._limits import gemm_fields, gemm_shape_tflops, kernel_tflops
    with jax.enable_x64(False):
        with pytest.raises(ValueError, match="jax_enable_x64"):
            kernel_tflops("gemm", 8, "float64")
        with pytest.raises(ValueError, match="jax_enable_x64"):
            gemm_shape_tflops(8, 8, 8, "float64")
        assert "gemm_tflops_float64" not in gemm_fields(8, "float32", 1e-3, shape=(8, 8, 8))
        with pytest.raises(ValueError, match="jax_enable_x64"):
            gemm_fields(8, "float64", 1e-3, shape=(8, 8, 8))
    with pytest.raises(ValueError, match="dtype"):
        kernel_tflops("gemm", 8, "float16")
