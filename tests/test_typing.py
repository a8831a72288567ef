"""The shape annotations of the public functions hold: rerun the oracle tests under jaxtyping + beartype checks.

The bad-input tests are left out on purpose: with runtime type checks a wrong shape is caught by the annotation
before fcjax's own validation can name the argument.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ORACLE_TESTS = ["test_geometry.py", "test_compression.py", "test_linear.py", "test_path_integral.py",
                "test_models_train.py", "test_stats.py", "test_parallel.py", "test_trials.py", "test_spectra.py",
                "test_manifolds.py", "test_local_errors.py", "test_robust_accuracy.py", "test_random_nets.py",
                "test_data_laws.py"]
# Bad-input tests by name: with runtime type checks a wrong shape is caught by the annotation first.
NOT_BAD_INPUT = "not bad and not rejects and not is_checked"


@pytest.mark.slow
def test_annotations_hold_under_runtime_type_checks():
    here = Path(__file__).parent
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--jaxtyping-packages=fcjax,beartype.beartype",
         "-k", NOT_BAD_INPUT, *[str(here / t) for t in ORACLE_TESTS]],
        capture_output=True, text=True, timeout=1200, cwd=here.parent,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
