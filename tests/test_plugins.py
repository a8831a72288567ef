"""Claims of one's own: plugins (files, modules, entry points), registration errors, exit codes, per-claim help, and
a store hash that covers the claim's own module."""

from __future__ import annotations

import sys
import types

import pytest

from proofs_check import api, registry
from proofs_check.cli import main
from proofs_check.store import config_hash

CLAIM = '''
import jax.numpy as jnp
from proofs_check.api import Outcome, SweepConfig, interval_check, register, sweep

def trial(key, d, dtype):
    return {{"x": jnp.zeros((), dtype) + {value}}}

@register("{paper}.const", paper="test", statement="x is 1", source="none",
          config=SweepConfig(ds=(4, 8), trials=4), quick={{}})
def const(cfg, key, ctx):
    data = sweep(cfg, key, ctx, trial)
    x = float(data[8]["x"].mean())
    if x < 0:
        raise RuntimeError("the claim's own bug")
    return Outcome([interval_check("x is 1", x, x, x, equals=1.0, margin=0.01)])
'''


@pytest.fixture(autouse=True)
def _clean_registry():
    # Plugins registered here must not leak into other tests of the same worker (all_claims(), `fcjax list`).
    registry.all_claims()  # fcjax's own claims first: a snapshot taken before they load would drop them
    before = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(before)


def _plugin(tmp_path, paper="plug", value=1.0, name="claims.py"):
    path = tmp_path / name
    path.write_text(CLAIM.format(paper=paper, value=value), encoding="utf-8")
    return str(path)


def test_a_plugin_file_registers_and_reloading_it_replaces_its_claims(tmp_path):
    path = _plugin(tmp_path)
    assert api.load_plugin(path) == ["plug.const"]
    first = api.get_claim("plug.const")
    assert "plug" in registry.papers() and [c.id for c in api.all_claims("plug")] == ["plug.const"]
    _plugin(tmp_path, value=2.0)
    assert api.load_plugin(path) == ["plug.const"]  # not "registered twice"
    second = api.get_claim("plug.const")
    assert second.code != first.code and second.module == first.module
    assert api.run_claim("plug.const", quick=True).outcome == "fail"


def test_the_store_hash_covers_the_claim_module():
    cfg = api.SweepConfig()
    assert config_hash("x.y", cfg, 0, "a") != config_hash("x.y", cfg, 0, "b")
    assert config_hash("x.y", cfg, 0, "a") == config_hash("x.y", cfg, 0, "a")


def test_bad_plugins_are_named(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        api.load_plugin(str(tmp_path / "missing.py"))
    with pytest.raises(ValueError, match="neither a file nor an importable module"):
        api.load_plugin("no_such_module_xyz")
    with pytest.raises(TypeError, match="plugin"):
        api.load_plugin(3)


@pytest.mark.parametrize(("kwargs", "err", "match"), [
    ({"claim_id": "nodot"}, ValueError, "claim_id"),
    ({"config": {"trials": 3}}, TypeError, "config"),
    ({"quick": {"nope": 1}}, ValueError, "nope"),
    ({"statement": ""}, TypeError, "statement"),
    ({"quick": [("trials", 3)]}, TypeError, "quick"),
])
def test_register_rejects_bad_registrations(kwargs, err, match):
    args = {"claim_id": "bad.claim", "paper": "p", "statement": "s", "source": "src", "config": api.SweepConfig(),
            "quick": {}, **kwargs}
    with pytest.raises(err, match=match):
        api.register(args.pop("claim_id"), **args)


def test_bonferroni():
    b = api.bonferroni(4)
    assert b.alpha == pytest.approx(api.ALPHA / 4) and b.level == pytest.approx(1 - api.ALPHA / 4)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="tests"):
            api.bonferroni(bad)


def test_entry_point_claims_are_discovered(tmp_path, monkeypatch):
    path = _plugin(tmp_path, paper="ep", name="ep_claims_mod.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = types.SimpleNamespace(name="ep", value="ep_claims_mod", load=lambda: __import__("ep_claims_mod"))
    monkeypatch.setattr(registry.importlib.metadata, "entry_points",
                        lambda group: [ep] if group == "fcjax.claims" else [])
    monkeypatch.setattr(registry, "_loaded", False)
    assert path and "ep.const" in [c.id for c in api.all_claims()]
    sys.modules.pop("ep_claims_mod", None)
    registry._forget("ep_claims_mod")


def test_a_broken_entry_point_is_named(monkeypatch):
    def boom():
        raise ImportError("missing dependency")

    ep = types.SimpleNamespace(name="broken", value="broken.mod", load=boom)
    monkeypatch.setattr(registry.importlib.metadata, "entry_points", lambda group: [ep])
    monkeypatch.setattr(registry, "_loaded", False)
    with pytest.raises(ValueError, match=r"entry point 'broken'.*missing dependency"):
        api.all_claims()


def test_cli_exit_codes_for_plugins(tmp_path, capsys):
    good = _plugin(tmp_path, paper="cli1")
    assert main(["check", "--plugin", good, "cli1.const", "--quick", "--quiet"]) == 0
    assert "PASS  cli1.const" in capsys.readouterr().out
    raising = _plugin(tmp_path, paper="cli2", value=-1.0, name="raising.py")
    assert main(["check", "--plugin", raising, "cli2.const", "--quick", "--quiet"]) == 4
    err = capsys.readouterr().err
    assert "Traceback" in err and "the claim's own bug" in err and "raised an exception" in err
    broken = tmp_path / "broken.py"
    broken.write_text("import this_module_does_not_exist_xyz\n", encoding="utf-8")
    assert main(["check", "--plugin", str(broken), "cli1.const"]) == 2
    assert "--plugin" in capsys.readouterr().err
    assert main(["check", "--plugin", good, "cli1.const", "--set", "unknown=1"]) == 2
    assert "unknown setting" in capsys.readouterr().err
    assert main(["reproduce", "--plugin", good, "nopaper", "--out", str(tmp_path / "r")]) == 2
    assert "unknown paper" in capsys.readouterr().err


def test_per_claim_help(tmp_path, capsys):
    assert main(["check", "gao2024.min_distance", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Chernoff" in out and "ds" in out and "[16, 64, 256]" in out and "(quick)" in out
    assert main(["check", "no.such_claim", "--help"]) == 2
    good = _plugin(tmp_path, paper="cli3")
    assert main(["check", "--plugin", good, "cli3.const", "-h"]) == 0
    assert "x is 1" in capsys.readouterr().out
