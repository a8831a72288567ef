"""Issue 14's bar: the README's "Check your own theorem" claim, run as a user would (its own file from
tests/test_readme.py so pytest-xdist's per-file scheduling can balance the two workers)."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


PLUGIN = re.search(r"<!-- plugin: my_claims.py -->\n```python plugin\n(.*?)```", README.read_text(encoding="utf-8"),
                   flags=re.S)
USER_TEST = next(b for b in BLOCKS if b.startswith("# test_my_claims.py"))


def _fcjax(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "proofs_check.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def test_readme_plugin_claim_runs_is_recomputed_after_an_edit_and_tests(tmp_path):
    """Issue 14's bar: a user's claim of <= 30 lines using only proofs_check.api runs with `fcjax check --plugin`
    and `fcjax reproduce --plugin`; rerun with the same --out it is read back (and says so); after an edit of its
    trial (a x1.1 bug) the same command recomputes and gives the new verdict; the README's pytest example passes."""
    assert PLUGIN is not None
    source = PLUGIN[1]
    assert len(source.strip().splitlines()) <= 30
    assert "from proofs_check.api import" in source and "proofs_check._" not in source
    (tmp_path / "my_claims.py").write_text(source, encoding="utf-8")
    check = ("check", "--plugin", "my_claims.py", "mynote.gauss_norm", "--quick", "--json", "--out", "out")
    first = _fcjax(*check, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    v = json.loads(first.stdout)
    assert v["outcome"] == "pass" and not v["stored"] and [r["d"] for r in v["table"]] == [16, 64, 256, 1024]

    again = _fcjax(*check[:-3], "--out", "out", cwd=tmp_path)  # the terminal summary, from the store
    assert again.returncode == 0 and "read back from the store" in again.stdout, again.stdout + again.stderr[-2000:]
    assert "read back from the store" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")

    buggy = source.replace("/ jnp.sqrt(d)}", "/ jnp.sqrt(d) * 1.1}")
    assert buggy != source
    (tmp_path / "my_claims.py").write_text(buggy, encoding="utf-8")
    edited = _fcjax(*check, cwd=tmp_path)
    w = json.loads(edited.stdout)
    assert edited.returncode == 1 and w["outcome"] == "fail" and not w["stored"], edited.stderr[-3000:]
    assert any(c["outcome"] == "fail" and c["name"].startswith("mean at d=1024") for c in w["checks"])
    (tmp_path / "my_claims.py").write_text(source, encoding="utf-8")

    rep = _fcjax("reproduce", "--plugin", "my_claims.py", "mynote", "--quick", "--quiet", "--out", "rep", cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr[-3000:]
    assert "`mynote.gauss_norm`" in (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    assert (tmp_path / "rep" / "figures" / "mynote_gauss_norm.png").stat().st_size > 1000

    helped = _fcjax("check", "--plugin", "my_claims.py", "mynote.gauss_norm", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "Lemma 1" in helped.stdout and "trials" in helped.stdout, helped.stderr

    (tmp_path / "test_my_claims.py").write_text(USER_TEST, encoding="utf-8")
    user = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_my_claims.py"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert user.returncode == 0, user.stdout[-3000:] + user.stderr[-2000:]
