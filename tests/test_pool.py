"""``fcjax reproduce --jobs N``: claims run in worker processes, one claim module per task, with the same numbers
as the serial run, the same report, and a claim's exception reported as the serial path reports it."""

from __future__ import annotations

import json

import pytest

from proofs_check import registry
from proofs_check.cli import main
from proofs_check.pool import units

CLAIM = '''
import jax
import jax.numpy as jnp
from proofs_check.api import Outcome, SweepConfig, interval_check, register, sweep

def trial(key, d, dtype):
    return {{"x": jax.random.normal(key, (), dtype) * 0.001 + {value}}}

@register("pool.{name}", paper="test", statement="x is 1", source="none",
          config=SweepConfig(ds=(4, 8), trials=4), quick={{}})
def {name}(cfg, key, ctx):
    data = sweep(cfg, key, ctx, trial)
    x = float(data[8]["x"].mean())
    if x < 0:
        raise RuntimeError("the claim's own bug")
    return Outcome([interval_check("x is 1", x, x, x, equals=1.0, margin=0.01)], statistic=x)
'''


@pytest.fixture(autouse=True)
def _clean_registry():
    registry.all_claims()
    before = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(before)


def _plugins(tmp_path, values=(1.0, 1.0)):
    paths = []
    for name, value in zip(("first", "second"), values, strict=True):
        path = tmp_path / f"claims_{name}.py"
        path.write_text(CLAIM.format(name=name, value=value), encoding="utf-8")
        paths += ["--plugin", str(path)]
    return paths


def test_units_keep_one_module_together_in_registry_order():
    jobs = [(c.id, {}) for c in registry.all_claims()]
    groups = units(jobs)
    assert sorted(j for g in groups for j in g) == sorted(jobs)
    for g in groups:  # a module's claims in their registry order
        assert g == [j for j in jobs if j in g]
    modules = [{registry.get_claim(c).module for c, _ in g} for g in groups]
    assert all(len(m) == 1 for m in modules) and len({m.pop() for m in modules}) == len(groups)
    jiang = [g for g in groups if g[0][0].startswith("jiang2021.")]
    assert len(jiang) == 1 and len(jiang[0]) == len(registry.all_claims("jiang2021"))


def test_two_jobs_give_the_serial_run_numbers_and_report(tmp_path, capsys):
    plugins = _plugins(tmp_path)
    assert main(["reproduce", *plugins, "pool", "--quick", "--quiet", "--out", str(tmp_path / "serial")]) == 0
    assert main(["reproduce", *plugins, "pool", "--quick", "--quiet", "--jobs", "2",
                 "--out", str(tmp_path / "par")]) == 0
    serial, par = (json.loads((tmp_path / d / "results.json").read_text())["verdicts"] for d in ("serial", "par"))
    assert [v["claim"] for v in par] == [v["claim"] for v in serial] == ["pool.first", "pool.second"]
    for s, p in zip(serial, par, strict=True):
        assert p["statistic"] == s["statistic"] and p["outcome"] == s["outcome"] == "pass"
    assert "pool.second" in (tmp_path / "par" / "report.md").read_text()
    # resumed from the workers' store: the same verdicts, now marked stored
    assert main(["reproduce", *plugins, "pool", "--quick", "--json", "--jobs", "2",
                 "--out", str(tmp_path / "par")]) == 0
    again = json.loads(capsys.readouterr().out)
    assert [v["statistic"] for v in again] == [v["statistic"] for v in serial]


def test_a_claim_raising_in_a_worker_exits_4_with_its_traceback(tmp_path, capsys):
    plugins = _plugins(tmp_path, values=(1.0, -1.0))
    assert main(["reproduce", *plugins, "pool", "--quick", "--quiet", "--jobs", "2",
                 "--out", str(tmp_path / "r")]) == 4
    err = capsys.readouterr().err
    assert "the claim's own bug" in err and "Traceback" in err and "claim pool.second raised" in err


@pytest.mark.parametrize("argv,message", [
    (["--jobs", "0"], "--jobs must be >= 1"),
    (["--jobs", "2", "--coordinator", "localhost:1234", "--num-processes", "2", "--process-id", "0"],
     "cannot be combined with --coordinator"),
])
def test_bad_jobs_are_usage_errors(tmp_path, capsys, argv, message):
    assert main(["reproduce", "gao2024", "--quick", "--out", str(tmp_path / "r"), *argv]) == 2
    assert message in capsys.readouterr().err
