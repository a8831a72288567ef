"""The ``fcjax`` command's XLA:CPU optimisation level: added where the user chose none and no accelerator may run."""

import os

import pytest

from proofs_check import cli
from proofs_check.compile_level import CPU_LEVEL, FLAG, xla_flags


def test_level_added_and_other_flags_kept():
    assert xla_flags({}, plugins=False) == f"{FLAG}={CPU_LEVEL}"
    got = xla_flags({"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}, plugins=False)
    assert got.split() == ["--xla_force_host_platform_device_count=8", f"{FLAG}={CPU_LEVEL}"]


@pytest.mark.parametrize("level", ["0", "2", "3"])
def test_a_level_the_user_chose_is_left_alone(level):
    assert xla_flags({"XLA_FLAGS": f"{FLAG}={level}"}, plugins=False) is None


def test_accelerator_plugins_keep_xla_defaults_unless_jax_is_restricted_to_cpu():
    assert xla_flags({}, plugins=True) is None
    assert xla_flags({"JAX_PLATFORMS": "cuda"}, plugins=True) is None
    assert xla_flags({"JAX_PLATFORMS": "cpu"}, plugins=True) == f"{FLAG}={CPU_LEVEL}"


def test_console_sets_the_flag_before_main_runs(monkeypatch):
    seen = {}
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.setattr(cli, "main", lambda: seen.setdefault("flags", os.environ.get("XLA_FLAGS")) and 0)
    assert cli.console() == 0
    assert seen["flags"] == f"{FLAG}={CPU_LEVEL}"
