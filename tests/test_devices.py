"""Whole claims sharded over 8 forced host devices give the single-device verdicts bit for bit (issue 6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _claim_json(devices: int, claim_args: list[str]) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "proofs_check.cli", "check", *claim_args, "--quick", "--json"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode in (0, 1, 3), proc.stderr[-3000:]  # pass, fail, undecided: not a crash
    return json.loads(proc.stdout)


# No claim with batched LAPACK calls here: jaxlib 0.10.2's CPU LAPACK kernels (QR, LU, eigh) split a large batch
# over the intra-op pool and block waiting for it, which can deadlock when 8 forced host devices make such calls
# at once (qr_law hung here intermittently; fixed upstream by compiling that path out). Accelerators do not use
# these kernels; forced host devices are a testing device.
@pytest.mark.parametrize("claim_args", [
    ["gao2024.min_distance", "--d", "32,48", "--trials", "200", "--max-memory", "1"],  # many groups, padded last
    # float32 convolutions (36 s on 2 cores: the slow job)
    pytest.param(["simon_gabriel2019.grad_norm_init", "--d", "64,256", "--trials", "8", "--set", "archs=[\"avgpool\"]"],
                 marks=pytest.mark.slow),
])
def test_claim_on_8_devices_equals_one_device(claim_args):
    # The bar: a whole claim sharded over 8 (forced host) devices gives the single-device verdict exactly
    # (float32 convolutions included: every trial runs in the same per-device program whatever the device count).
    one, eight = _claim_json(1, claim_args), _claim_json(8, claim_args)
    assert one["device"] == "1 x cpu" and eight["device"] == "8 x cpu"
    for field in ("passed", "statistic", "ci_low", "ci_high", "n_trials", "checks", "table", "series"):
        assert eight[field] == one[field], field
