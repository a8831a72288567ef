"""Every quick claim against its verdict, with a fixed seed and a fresh one; negative controls; verdict schema."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from fcjax.stats import Verdict
from proofs_check import all_claims, get_claim, run_claim

# Quick-form outcomes with seed 0 that are not PASS: findings (FAIL: the data refute the claim) and claims the quick
# form cannot decide (UNDECIDED: the interval straddles the margin; the verdict says what would decide it). See the
# finding tests below and the README's verdict table.
NOT_PASS = {
    "gao2024.trained_linear": "fail", "gao2024.sqrt_d_gap_relu": "undecided", "gao2024.real_data_gap": "fail",
    "gao2024.sqrt_d_gap": "undecided", "gao2024.product_qr": "undecided", "gao2024.relu_gap_training": "undecided",
    "simon_gabriel2019.after_training": "undecided", "simon_gabriel2019.lp_calibration": "undecided",
    "simon_gabriel2019.first_order_damage": "undecided", "simon_gabriel2019.grad_norm_init": "undecided",
    "simon_gabriel2019.penalty_equals_adv_training": "undecided",
    "jiang2021.fractal_threshold": "undecided", "jiang2021.noise_monotonic": "undecided",
    "depalma2021.boundary_bracket": "undecided", "depalma2021.trained_nets": "fail",
    "gao2024_open.architectures": "undecided", "gao2024_open.training_dynamics": "undecided",
    "gao2024_open.explanations": "undecided", "gao2024_open.non_gaussian_relu": "undecided",
}
# Findings whose quick form lacks the power to refute with seed 0 (UNDECIDED there) but whose data point against the
# statement: after_training's penalised slope rises (point estimate), architectures' full grid refutes the linear cells.
# They are not claims that hold, so no fresh seed is required to avoid FAIL.
UNDERPOWERED_FINDINGS = {"simon_gabriel2019.after_training", "gao2024_open.architectures"}
FINDINGS = ({c for c, o in NOT_PASS.items() if o == "fail"} | {"jiang2021.fgsm_nonmonotonic"}
            | UNDERPOWERED_FINDINGS)
# Claims that train and attack many networks (a minute or two each on 2 cores), and Simon-Gabriel et al.'s and
# Jiang et al.'s quick forms (30-60 s each), run with seed 0 in the slow job's end-to-end reproduction
# (test_reproduce_all_quick below checks their verdicts there), so only their fresh-seed runs are listed here;
# tests/test_simon_gabriel.py and tests/test_jiang.py run small configurations in the default job.
HEAVY = {"gao2024.compression_predicts_robustness", "gao2024.sqrt_d_gap_relu", "gao2024.relu_gap_training",
         "gao2024.real_data_gap", "depalma2021.trained_nets", "gao2024_open.architectures",
         "gao2024_open.training_dynamics"}
# The slowest Gaussian and random-network quick forms (30-40 s each on 2 cores) are likewise checked only there, to
# keep the default job under 10 minutes.
REPRODUCE_ONLY = {"gao2024.product_qr", "gao2024.onehot_linear_fooled", "montanari2023.any_width",
                  "gao2024_open.non_gaussian_gap", "fawzi2018.trained_nets", "depalma2021.boundary_bracket",
                  "depalma2021.lp_bracket", "gao2024_open.explanations",
                  "gao2024_open.non_gaussian_relu", "bubeck2021.one_step_flip", "bubeck2021.flip_distance_law",
                  "depalma2021.lp_distance_scaling", "bartlett2021.cos_theta_d_free"}
BY_REPRODUCE = ({c.id for c in all_claims("simon_gabriel2019")} | {c.id for c in all_claims("jiang2021")} | HEAVY
                | REPRODUCE_ONLY)
HOLDING = [c.id for c in all_claims() if c.id not in FINDINGS]
FIXED = [c for c in HOLDING if c not in BY_REPRODUCE]
# Fresh seeds test the error rate, not the code: the slow job runs them all. A claim that holds must not FAIL on a
# fresh seed (probability <= ALPHA). Power is not asserted on fresh seeds: several quick forms are sized to decide
# with little room (the fixed seed's verdict shows it), so an UNDECIDED fresh seed is allowed.
FRESH = [pytest.param(c, marks=pytest.mark.slow) for c in HOLDING]


# A finding must stand on a fresh seed too: it may lose power (UNDECIDED) but must not PASS. The field theorems'
# findings are checked so (the Gaussian papers' findings have their own finding tests, with seed 0).
FRESH_FINDINGS = [pytest.param(c, marks=pytest.mark.slow) for c in ("depalma2021.trained_nets",
                                                                    "gao2024_open.architectures")]


def _explain(v: Verdict) -> str:
    return f"{v.claim} seed={v.seed} {v.outcome}: " + "; ".join(f"{c.name}: {c.outcome} {c.detail}"
                                                              for c in v.checks if not c.passed)


# Claims whose time is large random draws, not compiling: run with XLA's optimisations on (tests/conftest.py).
FIELD = ("bubeck2021", "bartlett2021", "montanari2023", "depalma2021")
DRAW_BOUND = {c.id for paper in FIELD for c in all_claims(paper)}


@pytest.mark.parametrize("claim_id", FIXED)
def test_quick_claim_outcome_with_fixed_seed(claim_id, request):
    if claim_id in DRAW_BOUND:
        request.getfixturevalue("xla_optimized")
    v = run_claim(claim_id, quick=True, seed=0)
    assert v.outcome == NOT_PASS.get(claim_id, "pass"), _explain(v)
    if v.outcome == "pass":
        assert v.checks and all(c.passed for c in v.checks)
    else:  # undecided: nothing refuted, and the verdict says what would decide it
        assert all(c.outcome != "fail" for c in v.checks) and v.resolution, _explain(v)


@pytest.mark.parametrize("claim_id", FRESH)
def test_quick_claim_passes_with_fresh_seed(claim_id, request):
    if claim_id in DRAW_BOUND:
        request.getfixturevalue("xla_optimized")
    # A true claim fails with probability <= ALPHA = 1e-3 per fresh seed (Bonferroni inside each claim); the seed
    # is in the message so any failure can be replayed.
    seed = int.from_bytes(os.urandom(4), "little")
    v = run_claim(claim_id, quick=True, seed=seed)
    assert v.outcome != "fail", _explain(v)


@pytest.mark.slow  # 40 s on 2 cores: the slow job (the default job stays under 10 minutes)
def test_trained_linear_finding():
    """The paper's experiment (x = Az data) is reproduced; on one Gaussian point per class it is refuted.

    Adam + cross-entropy networks match the compression ratio phi on x = Az data, but on Gaussian points their
    robustness/optimal-radius ratio falls far slower than d^(-1/2): training does not find the fragile
    interpolating solution. If this test starts failing, the finding changed: read the verdict.
    """
    v = run_claim("gao2024.trained_linear", quick=True, seed=0)
    by_name = {c.name.split(":")[0]: c for c in v.checks}
    cube = [c for n, c in by_name.items() if n.startswith("x = Az")]
    gauss = [c for n, c in by_name.items() if n.startswith("Gaussian points")]
    # x = Az data: not refuted (|cos θ₁| = φ within 10 % cannot be confirmed by 8 runs either: undecided)
    assert cube and all(c.outcome != "fail" for c in cube), _explain(v)
    assert gauss and all(c.outcome == "fail" for c in gauss)
    assert v.outcome == "fail"
    rows = [r for r in v.table if r["data"] == "Gaussian points" and r["steps"] == max(r["steps"] for r in v.table)]
    ratio = {r["d"]: r["geomean_ratio"] for r in rows}
    interp = {r["d"]: r["interpolating_ratio"] for r in rows}
    d_lo, d_hi = min(ratio), max(ratio)
    assert ratio[d_hi] > 5 * interp[d_hi]  # trained nets are far more robust than the theorem's network
    assert ratio[d_hi] / ratio[d_lo] > (d_lo / d_hi) ** 0.5


@pytest.mark.slow
def test_sqrt_d_gap_relu_finding():
    """Trained ReLU MLPs on one Gaussian point per class: exact values where the solver runs (d = 16 in the quick
    form), branch-and-bound certificates elsewhere, tighter than CROWN on the same networks; the verdict follows
    from the range of slopes the bounds allow. If this test starts failing, the finding changed: read the verdict."""
    v = run_claim("gao2024.sqrt_d_gap_relu", quick=True, seed=0)
    by_name = {c.name: c for c in v.checks}
    assert by_name["sandwich: certified lower <= attack upper on every sample"].passed, _explain(v)
    assert v.outcome == NOT_PASS["gao2024.sqrt_d_gap_relu"], _explain(v)
    rows = {r["d"]: r for r in v.table}
    assert rows[16]["exact"] is not None and rows[16]["closed"].split("/")[0] == rows[16]["closed"].split("/")[1]
    assert rows[16]["sandwich"] <= 1.05  # exact: the bracket closed to 1e-6
    for r in rows.values():
        assert r["lower"] <= r["upper"]
        assert r["sandwich_bab"] <= r["sandwich_crown_only"] * (1 + 1e-9)  # BaB never looser than CROWN


@pytest.mark.slow
def test_real_data_gap_finding():
    """On real data the trained MLPs are far less robust than the optimal classifier, but on resized digits even
    the least robust values the bounds allow fall slower than d^(-1/2) (FAIL); on MNIST-1D the sandwich straddles
    it. If this test starts failing, the finding changed: read the verdict."""
    v = run_claim("gao2024.real_data_gap", quick=True, seed=0)
    by_name = {c.name: c for c in v.checks}
    for data in ("digits", "mnist1d"):
        assert by_name[f"{data} mlp: sandwich lower <= upper"].passed, _explain(v)
        assert by_name[f"{data} mlp: network less robust than the optimal classifier at every d"].passed, _explain(v)
    assert by_name["digits mlp: robustness / optimal radius falls at least like d^(-1/2)"].outcome == "fail"
    assert by_name["mnist1d mlp: robustness / optimal radius falls at least like d^(-1/2)"].outcome != "pass"
    assert v.outcome == "fail"


@pytest.mark.parametrize("claim_id", FRESH_FINDINGS)
def test_finding_stands_on_a_fresh_seed(claim_id):
    seed = int.from_bytes(os.urandom(4), "little")
    v = run_claim(claim_id, quick=True, seed=seed)
    assert v.outcome != "pass", _explain(v)


@pytest.mark.slow
def test_depalma_trained_nets_finding():
    """De Palma et al.'s conjecture that trained nets keep distance / ‖x‖_2 ∝ d^(−1/2): on resized digits and on
    MNIST-1D even the certified lower bound falls slower than d^(−0.45), so the O half is refuted on both, while
    the attack's slope confirms the Ω half. If this test starts failing, the finding changed: read the verdict."""
    v = run_claim("depalma2021.trained_nets", quick=True, seed=0)
    by_name = {c.name: c for c in v.checks}
    assert v.checks[0].passed, _explain(v)  # the sandwich
    for data in ("digits", "mnist1d"):
        assert by_name[f"{data} (trained MLP): distance / ‖x‖_2 = O(d^(-0.5))"].outcome == "fail", _explain(v)
        assert by_name[f"{data} (trained MLP): distance / ‖x‖_2 = Ω(d^(-0.5))"].outcome == "pass", _explain(v)
    assert v.outcome == "fail"


@pytest.mark.slow
@pytest.mark.timed
def test_reproduce_all_quick(tmp_path):
    """Issue 6's bar: ``fcjax reproduce all --quick`` on 2 CPU cores in under 15 minutes, one report with every claim
    of every paper (summary table, a section per paper, a figure per plotted claim) and every claim the data do not
    refute passing with seed 0. Issues 4 and 5's bars ride along: each of those papers' claims together under 5
    minutes."""
    exe = shutil.which("fcjax") or f"{sys.executable} -m proofs_check.cli"
    out = tmp_path / "report"
    start = time.perf_counter()
    proc = subprocess.run([*exe.split(), "reproduce", "all", "--quick", "--quiet", "--jobs", "2", "--out", str(out)],
                          capture_output=True, text=True, timeout=1800)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    verdicts = {v["claim"]: v for v in results["verdicts"]}
    assert set(verdicts) == {c.id for c in all_claims()}
    report = (out / "report.md").read_text()
    assert "| paper | claim | statement | predicted | measured | CI | verdict |" in report
    for paper in {v["paper"] for v in verdicts.values()}:
        assert f"\n## {paper}\n" in report
    for claim_id, v in verdicts.items():
        if v["series"]:  # law checks (KS tests, identities) have a table and no figure
            figure = f"figures/{claim_id.replace('.', '_')}.png"
            assert (out / figure).stat().st_size > 1000 and f"]({figure})" in report, claim_id
        assert v["device"] and v["table"], claim_id
        if claim_id not in FINDINGS:
            assert v["outcome"] == NOT_PASS.get(claim_id, "pass"), \
                f"{claim_id}: " + "; ".join(c["detail"] for c in v["checks"] if not c["passed"])
    for paper in ("simon_gabriel2019", "jiang2021"):
        seconds = sum(verdicts[c.id]["seconds"] for c in all_claims(paper))
        assert seconds < 300, f"{paper} --quick took {seconds:.0f} s of claims; issues 4 and 5 ask for < 5 minutes"
    slowest = sorted(verdicts.values(), key=lambda v: -v["seconds"])[:8]  # where the time went, if this fails
    assert elapsed < 900, (f"reproduce all --quick took {elapsed:.0f} s; the issue asks for < 15 minutes; sum of "
                           f"claim seconds {sum(v['seconds'] for v in verdicts.values()):.0f}; slowest: "
                           + ", ".join(f"{v['claim']} {v['seconds']:.0f} s" for v in slowest))
    # A second run resumes from the store: every verdict is read back, none recomputed.
    start = time.perf_counter()
    again = subprocess.run([*exe.split(), "reproduce", "all", "--quick", "--quiet", "--out", str(out)],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    read_back = json.loads((out / "results.json").read_text())["verdicts"]
    assert all(v["stored"] for v in read_back) and not any(v["stored"] for v in results["verdicts"])
    assert [{**v, "stored": False} for v in read_back] == results["verdicts"]  # identical apart from the mark
    assert time.perf_counter() - start < 120


@pytest.mark.slow
def test_after_training_finding():
    """After ordinary training the l1 norm still grows with d (slope > 0, but well below the 1/2 at init), and the
    gradient penalty is not seen to lower the slope: at λ = 1 it is unchanged, at λ = 10 the small-d networks collapse
    (accuracy ~25 % at d = 64) and the slope's estimate rises. With Student-t intervals (five networks per d) the
    rise is no longer significant: UNDECIDED, not the FAIL that the normal quantile's too-narrow interval gave. The
    paper's "attenuated with higher regularization" is not confirmed. If this test starts failing, the finding
    changed: read the verdict."""
    v = run_claim("simon_gabriel2019.after_training", quick=True, seed=0)
    assert v.checks[0].passed, _explain(v)
    assert 0 < v.statistic < 0.5
    assert not any(c.outcome == "pass" for c in v.checks[1:]) and v.outcome == NOT_PASS[v.claim], _explain(v)


@pytest.mark.slow
def test_lp_calibration_finding():
    """At budgets ε_p = ε_inf·d^(1/p) the MLP's l_p / l_inf damage ratios are d-free, but the average-pooling CNN's
    drift upward (its gradient coordinates are not evenly spread), most for p = 4/3. If this test starts failing, the
    finding changed: read the verdict."""
    v = run_claim("simon_gabriel2019.lp_calibration", quick=True, seed=0)
    mlp = [c for c in v.checks if c.name.startswith("mlp/")]
    avg = {c.name.split(":")[1].split(" damage")[0].strip(): c for c in v.checks if c.name.startswith("avgpool/")}
    assert mlp and all(c.passed for c in mlp), _explain(v)
    # the drift (slope 0.046 [0.015, 0.077]) straddles the d-free margin ±0.05: undecided, no longer FAIL
    assert avg["l_1.33"].outcome == "undecided" and v.outcome == "undecided"


def test_verdict_schema_and_reproducibility():
    a = run_claim("gao2024.min_distance", quick=True, overrides={"ds": (8, 16), "trials": 30}, seed=7)
    b = run_claim("gao2024.min_distance", quick=True, overrides={"ds": (8, 16), "trials": 30}, seed=7)
    c = run_claim("gao2024.min_distance", quick=True, overrides={"ds": (8, 16), "trials": 30}, seed=8)
    assert a.statistic == b.statistic and a.table == b.table
    assert a.statistic != c.statistic
    d = json.loads(a.to_json())
    for k in ("claim", "passed", "statistic", "expected", "ci_low", "ci_high", "n_trials", "params", "seed", "seconds",
              "device"):
        assert k in d
    assert d["params"]["ds"] == [8, 16] and d["seed"] == 7 and d["n_trials"] == 60
    assert Verdict.from_dict(d).to_dict() == d


def test_quick_forms_are_smaller_than_full_forms():
    for c in all_claims():
        quick, full = c.configure(quick=True), c.configure(quick=False)
        assert c.work(quick) < c.work(full), c.id


@pytest.mark.parametrize(("overrides", "match"), [
    ({"ds": (1, 16)}, "d must be >= 2"), ({"trials": 0}, "trials must be >= 1"), ({"ds": ()}, "d must be"),
    ({"dtype": "int8"}, "dtype must be"), ({"bogus": 1}, "unknown setting"), ({"ds": (16, 16)}, "must not repeat"),
])
def test_bad_settings_are_rejected_before_running(overrides, match):
    with pytest.raises(ValueError, match=match):
        run_claim("gao2024.qr_law", quick=True, overrides=overrides)


def test_unknown_claim():
    with pytest.raises(ValueError, match="unknown claim"):
        get_claim("gao2024.nope")


@pytest.mark.slow
def test_fgsm_nonmonotonic_finding():
    """Under FGSM the accuracy of local-error networks rises with α at small ε and flattens at larger ε (ρ falls
    toward 0). Whether the middle third of α is significantly above both outer thirds at ε = 0.1 is borderline with
    10 networks on digits: its lower limit was -0.003 (fail) with the trials in one vmap and 0.004 (pass) in groups
    of ceil(n/8), float32 training turning rounding differences into another family. So the verdict is not
    asserted, only the robust part of the finding. If this test starts failing, the finding changed: read it."""
    v = run_claim("jiang2021.fgsm_nonmonotonic", quick=True, seed=0)
    rows = v.table
    assert rows[0]["spearman_low"] > 0  # smallest ε: accuracy still rises with α
    assert rows[-1]["spearman"] < rows[0]["spearman"]
    assert not rows[0]["interior_extremum"]  # where accuracy still rises, no extremum
