"""Several hosts (``jax.distributed``), for real: two ``fcjax`` processes on 127.0.0.1 sharing one ``--out``.

Each process gets one CPU device, so the mesh spans two processes and every call goes through the collectives
(gloo on CPU). The verdicts must equal a one-process run's field for field (apart from the wall-clock time and the
device line), every process's ``--json`` must be valid JSON, a process whose peer dies must end with one clear line
(exit 5) instead of only jax.distributed's abort trace, and rerunning the same command must resume from the store.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

FCJAX = [sys.executable, "-m", "proofs_check.cli"]
QUICK = ["check", "gao2024.qr_law", "--quick", "--d", "8,32", "--trials", "2000"]
TRAINED = ["check", "gao2024.trained_linear", "--quick", "--set", "nets=4", "--set", "gauss_ds=[16,32]",
           "--d", "7,9", "--trials", "50"]
# Fixed, so the chunking (which follows the memory budget) is the same in every run compared here.
COMMON = ["--json", "--quiet", "--max-memory", "256"]
LIMIT = 300  # seconds for one run of the two processes (about 30 s on 2 idle cores); a hang fails, it never blocks CI


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one device per process
    return {**env, "JAX_PLATFORMS": "cpu", "PYTHONUNBUFFERED": "1"}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one(args: list[str], out: Path) -> dict:
    done = subprocess.run([*FCJAX, *args, *COMMON, "--out", str(out)], env=_env(), capture_output=True, text=True,
                          timeout=LIMIT)
    assert done.returncode in (0, 1, 3), done.stderr[-3000:]
    return json.loads(done.stdout)


def _start(args: list[str], out: Path, port: int, timeout: int = 60) -> list[subprocess.Popen]:
    """Both processes, each in its own session (so a test can kill one with all its children)."""
    return [subprocess.Popen([*FCJAX, *args, *COMMON, "--out", str(out), "--coordinator", f"127.0.0.1:{port}",
                              "--num-processes", "2", "--process-id", str(i), "--peer-timeout", str(timeout)],
                             env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
            for i in range(2)]


def _finish(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    deadline, got = time.monotonic() + LIMIT, []
    try:
        for p in procs:
            out, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            got.append((p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    return got


def _python_lines(err: str) -> str:
    """stderr without the C++ logs and stack frames (for failure messages)."""
    return "\n".join(ln for ln in err.splitlines() if not re.match(r"\s+@|[EFWI]\d{4} |\[Gloo\]", ln))[-3000:]


def _same_verdict(got: dict, ref: dict) -> None:
    assert got["device"] == "2 x cpu on 2 hosts" and ref["device"] == "1 x cpu"
    drop = {"seconds", "device", "stored"}
    assert {k: v for k, v in got.items() if k not in drop} == {k: v for k, v in ref.items() if k not in drop}


# The trained case (56 s on 2 cores) runs in the slow job, so the default job stays under 10 minutes.
@pytest.mark.parametrize("args", [QUICK, pytest.param(TRAINED, marks=pytest.mark.slow)],
                         ids=["qr_law", "trained_linear"])
def test_two_processes_give_the_one_process_verdict(tmp_path, args):
    ref = _one(args, tmp_path / "one")
    runs = _finish(_start(args, tmp_path / "two", _port()))
    for rc, out, err in runs:
        assert rc == {"pass": 0, "fail": 1, "undecided": 3}[ref["outcome"]], err[-3000:]
        _same_verdict(json.loads(out), ref)  # valid JSON on every process: gloo's lines went to stderr
    assert "[Gloo]" in runs[0][2] + runs[1][2]  # the collectives really ran (and printed where they may)
    assert not list((tmp_path / "two").rglob("*.pkl"))


def _records(out: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in (out / "store").rglob("[0-9]*-[0-9]*.json")}


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
def test_a_dead_peer_ends_the_other_with_one_line_and_a_rerun_resumes(tmp_path, how):
    """SIGKILL of the peer's whole session (a crash), or SIGTERM to the peer's fcjax (a scheduler's stop: passed on
    as a kill, since jax.distributed takes SIGTERM as a preemption notice and carries on)."""
    args = ["check", "gao2024.qr_law", "--quick", "--d", "8,32,64", "--trials", "60000"]
    ref = _one(args, tmp_path / "one")
    out, port = tmp_path / "two", _port()
    procs = _start(args, out, port, timeout=5)
    t0 = time.monotonic()
    while not _records(out) and time.monotonic() - t0 < LIMIT and procs[0].poll() is None:
        time.sleep(0.2)
    assert _records(out) and procs[0].poll() is None, "no group was stored before the run ended"
    if how == "sigkill":
        os.killpg(procs[1].pid, signal.SIGKILL)  # the peer dies, with its worker
    else:
        procs[1].send_signal(signal.SIGTERM)
    rc, _, err = _finish(procs[:1])[0]
    _, peer_err = procs[1].communicate(timeout=60)  # reaped, its pipes closed
    if how == "sigterm":
        said = [ln for ln in peer_err.splitlines() if ln.startswith("fcjax: error:")]
        assert procs[1].returncode == 5 and len(said) == 1 and "was stopped by SIGTERM" in said[0], \
            _python_lines(peer_err)
    lines = [ln for ln in err.splitlines() if ln.startswith("fcjax: error:")]
    assert rc == 5 and len(lines) == 1, _python_lines(err)
    assert "process 0 of 2" in lines[0] and "rerun the same command on every host to resume" in lines[0]
    kept = _records(out)
    assert kept and len(kept) < len(list((tmp_path / "one" / "store").rglob("[0-9]*-[0-9]*.json")))

    runs = _finish(_start(args, out, _port()))
    for rc, text, err in runs:
        assert rc in (0, 1, 3), err[-3000:]
        _same_verdict(json.loads(text), ref)
    after = _records(out)
    assert all(after[p] == t for p, t in kept.items())  # the groups finished before the kill were not recomputed
    assert len(after) > len(kept)
