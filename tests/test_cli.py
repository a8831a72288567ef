"""The fcjax command: exit codes, JSON output, report files."""

from __future__ import annotations

import json
import os

import pytest

from proofs_check import cli, get_claim


def test_list(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "gao2024.min_distance" in out and "gao2024.product_qr" in out


@pytest.mark.parametrize("argv", [
    ["check", "gao2024.nope"], ["check", "gao2024.qr_law", "--d", "1,8"], ["check", "gao2024.qr_law", "--trials", "0"],
    ["check", "gao2024.qr_law", "--set", "nope=3"], ["reproduce", "nopaper", "--out", "x"],
    ["check", "gao2024.qr_law", "--max-memory", "0"], ["reproduce", "all", "--out", "x", "--coordinator", "h:1"],
])
def test_bad_usage_exits_2(argv, capsys):
    assert cli.main(argv) == 2
    assert "fcjax: error:" in capsys.readouterr().err


def test_argparse_errors_exit_2():
    with pytest.raises(SystemExit) as e:
        cli.main(["check", "gao2024.qr_law", "--d", "a,b"])
    assert e.value.code == 2


def test_check_json_and_exit_code(capsys, tmp_path):
    code = cli.main(["check", "gao2024.qr_law", "--quick", "--trials", "200", "--d", "8,16", "--json",
                     "--out", str(tmp_path)])
    v = json.loads(capsys.readouterr().out)
    assert code == {"pass": 0, "fail": 1, "undecided": 3}[v["outcome"]]
    assert v["passed"] == (v["outcome"] == "pass")
    for k in ("claim", "passed", "outcome", "resolution", "statistic", "expected", "ci_low", "ci_high", "n_trials",
              "params", "seed",
              "seconds", "device"):
        assert k in v
    assert v["params"]["ds"] == [8, 16] and v["n_trials"] == 400
    assert (tmp_path / "report.md").read_text().count("gao2024.qr_law") >= 2
    assert json.loads((tmp_path / "results.json").read_text())["verdicts"][0]["claim"] == "gao2024.qr_law"


def test_failing_verdict_exits_1(monkeypatch, capsys):
    from fcjax import trials

    real = trials.qr_trial
    monkeypatch.setattr(trials, "qr_trial", lambda key, d, **kw: {**(o := real(key, d, **kw)), "r_pp": o["r_pp"] * 2})
    assert cli.main(["check", "gao2024.qr_law", "--quick", "--quiet"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_undecided_verdict_exits_3(capsys):
    """The issue's case: 3 trials at d = 16, 18 gave PASS with a slope CI of [-28, 23]; now it is UNDECIDED."""
    assert cli.main(["check", "gao2024.sqrt_d_gap", "--d", "16,18", "--trials", "3", "--quiet"]) == 3
    out = capsys.readouterr().out
    assert out.startswith("UNDECIDED") and "to decide: needs CI half-width" in out


@pytest.mark.slow  # 16 s; test_failing_verdict_exits_1 covers the exit code in the default job
def test_reproduce_strict_exits_1_on_a_failing_verdict(monkeypatch, tmp_path):
    from fcjax import trials

    real = trials.qr_trial
    monkeypatch.setattr(trials, "qr_trial", lambda key, d, **kw: {**(o := real(key, d, **kw)), "r_pp": o["r_pp"] * 2})
    monkeypatch.setattr(cli, "all_claims", lambda paper=None: [get_claim("gao2024.qr_law")])
    assert cli.main(["reproduce", "gao2024", "--quick", "--quiet", "--out", str(tmp_path)]) == 0
    assert cli.main(["reproduce", "gao2024", "--quick", "--quiet", "--strict", "--out", str(tmp_path)]) == 1
    assert "**FAIL**" in (tmp_path / "report.md").read_text()


def test_set_overrides_nested_settings(capsys):
    code = cli.main(["check", "gao2024.product_qr", "--quick", "--json", "--set", "ts=[1]", "--set", "ds=[8]",
                     "--trials", "300"])
    v = json.loads(capsys.readouterr().out)
    assert v["params"]["ts"] == [1] and v["params"]["ds"] == [8] and code in (0, 1, 3)


def test_reproduce_writes_report_and_figures(monkeypatch, tmp_path, capsys):
    # Two fast claims stand in for the paper; the full quick reproduction runs in the slow job.
    claims = [get_claim("gao2024.min_distance"), get_claim("gao2024.two_probe_identity")]
    monkeypatch.setattr(cli, "all_claims", lambda paper=None: claims)
    code = cli.main(["reproduce", "gao2024", "--quick", "--quiet", "--out", str(tmp_path)])
    assert code == 0
    report = (tmp_path / "report.md").read_text()
    assert "| paper | claim | statement | predicted | measured | CI | verdict |" in report
    assert "\n## Gao et al. 2024 (arXiv 2406.16200)\n" in report and "### `gao2024.min_distance`" in report
    summary = json.loads((tmp_path / "results.json").read_text())["summary"]
    assert summary["claims"] == 2 and summary["device"] and summary["papers"] == {
        "Gao et al. 2024 (arXiv 2406.16200)": ["gao2024.min_distance", "gao2024.two_probe_identity"]}
    assert "gao2024.min_distance" in report and "gao2024.two_probe_identity" in report
    assert (tmp_path / "figures" / "gao2024_min_distance.png").stat().st_size > 1000
    assert len(json.loads((tmp_path / "results.json").read_text())["verdicts"]) == 2


def _usage_error(argv, capsys) -> str:
    capsys.readouterr()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("fcjax: error: ") and "Traceback" not in err, err
    return lines[0]


def test_path_and_seed_errors_are_one_line_with_exit_2(tmp_path, capsys):
    afile = tmp_path / "a_file"
    afile.write_text("x")
    base = ["check", "gao2024.qr_law", "--quick", "--d", "4", "--trials", "8"]
    assert "is not a directory" in _usage_error([*base, "--out", str(afile)], capsys)
    assert "is not a directory" in _usage_error(["reproduce", "gao2024", "--out", str(afile)], capsys)
    assert "empty string" in _usage_error([*base, "--out", ""], capsys)
    assert "--fresh needs --out" in _usage_error([*base, "--fresh"], capsys)
    assert "--seed must be in [0, 2^63)" in _usage_error([*base, "--seed", str(2**63)], capsys)
    assert "--seed must be" in _usage_error([*base, "--seed", "-1"], capsys)
    assert "cannot write there" in _usage_error([*base, "--out", str(afile / "below")], capsys)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_out_is_a_one_line_error(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert "cannot write there" in _usage_error(["check", "gao2024.qr_law", "--quick", "--out", str(ro)], capsys)
    finally:
        ro.chmod(0o700)
