"""Negative controls of the Gaussian claims: a claim must FAIL when the quantity it checks is wrong (apart from
tests/test_claims.py so pytest-xdist's per-file scheduling can balance the two workers)."""

from __future__ import annotations

import numpy as np
import pytest

from fcjax import trials
from proofs_check import run_claim


def test_qr_law_detects_a_wrong_law(monkeypatch):
    real = trials.qr_trial
    monkeypatch.setattr(trials, "qr_trial", lambda key, d, **kw: {**(o := real(key, d, **kw)), "r_dd": o["r_dd"] * 1.2})
    assert run_claim("gao2024.qr_law", quick=True, seed=0).outcome == "fail"


@pytest.mark.slow  # 30 s on 2 cores
def test_onehot_detects_a_growing_perturbation(monkeypatch):
    real = trials.theorem1_trial

    def grown(key, d, **kw):
        o = real(key, d, **kw)
        return {**o, "norm_e": o["norm_e"] * d**0.5, "ratio": o["ratio"] * d**0.5}

    monkeypatch.setattr(trials, "theorem1_trial", grown)
    v = run_claim("gao2024.onehot_linear_fooled", quick=True, seed=0)
    failed = {c.name for c in v.checks if c.outcome == "fail"}
    assert "mean ‖e‖ does not grow with d" in failed
    assert "‖e‖/optimal radius falls at least like d^(-1/2)" in failed and v.outcome == "fail"


def test_compression_law_detects_a_wrong_exponent(monkeypatch):
    real = trials.qr_trial
    monkeypatch.setattr(trials, "qr_trial", lambda key, d, **kw: {**(o := real(key, d, **kw)),
                                                                   "phi": o["phi"] * np.float64(d) ** 0.1})
    assert run_claim("gao2024.compression_ratio_law", quick=True, seed=0).outcome == "fail"


def _scaled_two_layer_trial(monkeypatch, factor):
    from fcjax import random_nets

    real = random_nets.one_step_trial

    def wrong(key, d, k, names=("relu",), overshoot=0.02, **kw):
        o = real(key, d, k, names, overshoot, **kw)
        return {n: v * factor(d) if n.startswith("r_") else v for n, v in o.items()}

    monkeypatch.setattr(random_nets, "one_step_trial", wrong)


@pytest.mark.slow  # 20-45 s on 2 cores: the slow job keeps the default job under 10 minutes
def test_flip_distance_law_detects_a_wrong_law(monkeypatch, xla_optimized):
    _scaled_two_layer_trial(monkeypatch, lambda d: 1.2)  # 1.2|Z| is ~0.09 from |Z| in KS distance
    v = run_claim("bubeck2021.flip_distance_law", quick=True, seed=0)
    assert v.outcome == "fail" and all(c.outcome == "fail" for c in v.checks)


@pytest.mark.slow  # 20-45 s on 2 cores: the slow job keeps the default job under 10 minutes
def test_one_step_flip_detects_a_wrong_exponent(monkeypatch, xla_optimized):
    _scaled_two_layer_trial(monkeypatch, lambda d: d**0.1)  # step / ‖x‖ ~ d^(-0.4)
    v = run_claim("bubeck2021.one_step_flip", quick=True, seed=0)
    failed = {c.name for c in v.checks if c.outcome == "fail"}
    assert v.outcome == "fail" and "step length / ‖x‖ falls like d^(−1/2) (relu)" in failed


def test_euler_identity_detects_a_bias(monkeypatch, xla_optimized):
    from fcjax import random_nets

    real = random_nets.euler_trial
    # a bias of 1e-6 on the output: far below f's scale, far above the rounding bound
    monkeypatch.setattr(random_nets, "euler_trial", lambda key, d, widths, **kw: {
        **(o := real(key, d, widths, **kw)), "f": o["f"] + 1e-6})
    v = run_claim("bartlett2021.euler_identity", quick=True, seed=0)
    assert v.outcome == "fail" and all(c.outcome == "fail" for c in v.checks)


@pytest.mark.slow  # 20-45 s on 2 cores: the slow job keeps the default job under 10 minutes
def test_cos_theta_d_free_detects_a_wrong_exponent(monkeypatch, xla_optimized):
    from fcjax import random_nets

    real = random_nets.euler_trial
    monkeypatch.setattr(random_nets, "euler_trial", lambda key, d, widths, **kw: {
        **(o := real(key, d, widths, **kw)), "sqrt_d_cos": o["sqrt_d_cos"] * d**0.1})
    assert run_claim("bartlett2021.cos_theta_d_free", quick=True, seed=0).outcome == "fail"


@pytest.mark.slow  # 40 s on 2 cores
def test_any_width_detects_a_growing_distance(monkeypatch, xla_optimized):
    _scaled_two_layer_trial(monkeypatch, lambda d: d**0.1)  # |f|/‖∇f‖ ~ d^0.1: not O(1)
    assert run_claim("montanari2023.any_width", quick=True, seed=0).outcome == "fail"


@pytest.mark.slow  # 35-40 s on 2 cores: the slow job (the default job stays under 10 minutes)
def test_lp_distance_scaling_detects_a_wrong_exponent(monkeypatch, xla_optimized):
    from fcjax import random_nets

    real = random_nets.lp_distance_trial
    monkeypatch.setattr(random_nets, "lp_distance_trial", lambda key, d, widths, bias_std=0.1, **kw: {
        n: v * d**0.3 for n, v in real(key, d, widths, bias_std, **kw).items()})  # slopes -0.2 (ℓ2), -0.33
    v = run_claim("depalma2021.lp_distance_scaling", quick=True, seed=0)
    slopes = [c for c in v.checks if not c.name.startswith("CDF")]
    assert v.outcome == "fail" and len(slopes) == 3 and all(c.outcome == "fail" for c in slopes)


@pytest.mark.slow  # 35-40 s on 2 cores: the slow job (the default job stays under 10 minutes)
def test_lp_distance_scaling_detects_a_cdf_that_is_not_linear(monkeypatch, xla_optimized):
    from fcjax import random_nets

    real = random_nets.lp_distance_trial
    # squared distances: F(t) ∝ t^(1/2) near 0, the density diverges there
    monkeypatch.setattr(random_nets, "lp_distance_trial", lambda key, d, widths, bias_std=0.1, **kw: {
        n: v**2 for n, v in real(key, d, widths, bias_std, **kw).items()})
    v = run_claim("depalma2021.lp_distance_scaling", quick=True, seed=0)
    cdf = [c for c in v.checks if c.name.startswith("CDF")]
    assert cdf and cdf[0].outcome == "fail" and v.outcome == "fail"


@pytest.mark.slow  # 60 s on 2 cores
def test_boundary_bracket_detects_a_slower_fall(monkeypatch, xla_optimized):
    from fcjax import boundary_distance

    real = boundary_distance.bracket_trial
    # both bounds × d^0.5: distance/‖x‖ then does not fall at all; the lower bound alone refutes O(d^(-1/2))
    monkeypatch.setattr(boundary_distance, "bracket_trial", lambda key, d, *a, **kw: {
        n: v * d**0.5 if n.startswith("rel_") else v for n, v in real(key, d, *a, **kw).items()})
    v = run_claim("depalma2021.boundary_bracket", quick=True, seed=0)
    o_checks = [c for c in v.checks if "= O(" in c.name]
    assert len(o_checks) == 3 and all(c.outcome == "fail" for c in o_checks) and v.outcome == "fail"


@pytest.mark.slow  # 35 s on 2 cores
def test_lp_bracket_detects_a_slower_fall(monkeypatch, xla_optimized):
    from fcjax import boundary_distance

    real = boundary_distance.bracket_trial
    # both bounds × d^0.8: distance/‖x‖_p then about d-free (the bounds' slopes near −0.85 at d = 16..64 become
    # near −0.05); the certified lower bound alone refutes "at least as fast as d^(−1/2)", the affine controls
    # still hold. (× d^0.5, slopes near −0.35, is left UNDECIDED: the quick form's lower-bound CI is ±0.1.)
    monkeypatch.setattr(boundary_distance, "bracket_trial", lambda key, d, *a, **kw: {
        n: v * d**0.8 if n.startswith("rel_") else v for n, v in real(key, d, *a, **kw).items()})
    v = run_claim("depalma2021.lp_bracket", quick=True, seed=0)
    o_checks = [c for c in v.checks if "= O(" in c.name]
    controls = [c for c in v.checks if c.name.startswith("control")]
    assert len(o_checks) == 2 and all(c.outcome == "fail" for c in o_checks) and v.outcome == "fail"
    assert len(controls) == 2 and all(c.passed for c in controls)


@pytest.mark.slow  # 40 s on 2 cores
def test_non_gaussian_gap_detects_a_slower_fall(monkeypatch):
    real = trials.exact_gap_law_trial
    monkeypatch.setattr(trials, "exact_gap_law_trial", lambda key, d, law, param=3.0, **kw: {
        **(o := real(key, d, law, param, **kw)), "exact": o["exact"] * d**0.4})  # ratio slopes near -0.3
    v = run_claim("gao2024_open.non_gaussian_gap", quick=True, seed=0)
    assert v.outcome == "fail" and v.checks[0].outcome == "fail" and v.checks[1].outcome == "pass"


def test_cap_bound_detects_a_wrong_power_of_n(monkeypatch):
    from fcjax import isoperimetry

    real = isoperimetry.cap_distance_approx
    # d_cap ~ 1/n instead of 1/√n: every measured ratio rises by √n (>= 7), far above the bound
    monkeypatch.setattr(isoperimetry, "cap_distance", lambda mu, n: real(mu, n) / n**0.5)
    v = run_claim("gilmer2018.cap_bound", quick=True, seed=0)
    assert v.outcome == "fail" and v.statistic > 3


def test_exact_cases_detect_a_wrong_lipschitz_constant(monkeypatch):
    from fcjax import isoperimetry

    real = isoperimetry.gaussian_isoperimetric_bound
    # the bound of an L = 2/3 map: half-spaces' distances now fall below it, by up to ~0.2 in CDF
    monkeypatch.setattr(isoperimetry, "gaussian_isoperimetric_bound", lambda eta, p, lipschitz=1.0: real(
        np.asarray(eta) * 1.5, p, lipschitz))
    v = run_claim("fawzi2018.exact_cases", quick=True, seed=0)
    assert v.outcome == "fail" and v.checks[0].outcome == "fail"


@pytest.mark.slow  # 35-40 s on 2 cores: the slow job (the default job stays under 10 minutes)
def test_trained_nets_detect_distances_above_the_bound(monkeypatch):
    from proofs_check import fawzi2018

    real = fawzi2018._trained
    # distances 3x the nets' (medians ~1.2 against the half-spaces' 0.67): below the bound at small η, so it FAILs
    monkeypatch.setattr(fawzi2018, "_trained", lambda cfg, key, d: {
        **(o := real(cfg, key, d)), "lower": 3 * o["lower"], "upper": 3 * o["upper"]})
    v = run_claim("fawzi2018.trained_nets", quick=True, seed=0, overrides={"ds": (8,), "trials": 1, "steps": 100,
                                                                           "points": 4000})
    assert v.outcome == "fail"


@pytest.mark.slow  # 50 s on 2 cores
def test_trained_nets_can_confirm_a_fall_like_the_conjecture(monkeypatch):
    """The trained-nets finding (FAIL) is not built in: with both bounds × d^(−0.7) (slopes near −0.6 to −0.9) the
    O half is confirmed on both data sets and the claim no longer FAILs on it."""
    from proofs_check import depalma2021

    real = depalma2021._real_cell

    def shrunk(cfg, key, name, d, kind):
        out = real(cfg, key, name, d, kind)
        return None if out is None else {**out, "lower": out["lower"] * d**-0.7, "upper": out["upper"] * d**-0.7}

    monkeypatch.setattr(depalma2021, "_real_cell", shrunk)
    v = run_claim("depalma2021.trained_nets", quick=True, seed=0)
    o_checks = [c for c in v.checks if "= O(" in c.name]
    assert len(o_checks) == 2 and all(c.outcome == "pass" for c in o_checks), [c.detail for c in o_checks]


def _architectures_scaled(monkeypatch, factor, scale_lower=True):
    from proofs_check.gao2024_open import architectures

    real = architectures._cell

    def scaled(cfg, key, d, depth, width, activation):
        out = real(cfg, key, d, depth, width, activation)
        return {**out, "upper": out["upper"] * factor(d),
                "lower": out["lower"] * (factor(d) if scale_lower else 1.0)}

    monkeypatch.setattr(architectures, "_cell", scaled)
    return run_claim("gao2024_open.architectures", quick=True, seed=0,
                     overrides={"cells": ((1, 4, "linear"),), "trials": 8})


@pytest.mark.slow  # 15 s on 2 cores
def test_architectures_can_confirm_the_gap(monkeypatch):
    """The linear cell's FAIL is not built in: with its exact values × d^(−0.7) (slope near −0.75) it PASSes."""
    v = _architectures_scaled(monkeypatch, lambda d: d**-0.7)
    assert v.outcome == "pass", [c.detail for c in v.checks]


@pytest.mark.slow  # 15 s on 2 cores
def test_architectures_detects_an_unsound_bracket(monkeypatch):
    """An attack that reports below the certificate (upper × 0.5) is caught by the sandwich check."""
    v = _architectures_scaled(monkeypatch, lambda d: 0.5, scale_lower=False)
    assert v.checks[0].outcome == "fail" and v.outcome == "fail"


def _training_controlled(monkeypatch, robustness_of):
    """training_dynamics on a small configuration, with the attack's radii replaced by ``robustness_of(out)``."""
    from proofs_check.gao2024_open import training

    real = training._cell

    def controlled(cfg, key, name):
        out = real(cfg, key, name)
        return {**out, "lower": np.zeros_like(out["lower"]), "upper": robustness_of(out)}

    monkeypatch.setattr(training, "_cell", controlled)
    return run_claim("gao2024_open.training_dynamics", quick=True, seed=0,
                     overrides={"datasets": ("mnist1d",), "trials": 3, "checkpoints": (0, 300), "n_train": 40,
                                "points": 16, "width": 32})


@pytest.mark.slow  # about 30 s on 2 cores
def test_training_dynamics_can_confirm_and_refute(monkeypatch):
    """The per-checkpoint correlation check is not built in: robustness equal to compression × optimal radius (rank
    correlation 1) PASSes at the trained checkpoint, its reverse (rank correlation −1) FAILs there."""
    v = _training_controlled(monkeypatch, lambda o: o["optimal"] * o["compression"])
    trained = [c for c in v.checks if "step 300" in c.name]
    assert [c.outcome for c in trained] == ["pass"], [c.detail for c in trained]
    v = _training_controlled(monkeypatch, lambda o: o["optimal"] * (1.0 - o["compression"]))
    trained = [c for c in v.checks if "step 300" in c.name]
    assert [c.outcome for c in trained] == ["fail"] and v.outcome == "fail", [c.detail for c in trained]


def _laws_relu_bracketed(monkeypatch, factor):
    """non_gaussian_relu on two laws, with a tight bracket (lower = 0.97 × upper) and both bounds × ``factor(d)``."""
    from proofs_check.gao2024_open import laws_relu

    real = laws_relu._cell

    def bracketed(cfg, key, d):
        out = real(cfg, key, d)
        return {**out, "upper": out["upper"] * factor(d), "lower": 0.97 * out["upper"] * factor(d)}

    monkeypatch.setattr(laws_relu, "_cell", bracketed)
    return run_claim("gao2024_open.non_gaussian_relu", quick=True, seed=0,
                     overrides={"laws": ("normal", "rademacher"), "trials": 8})


@pytest.mark.slow  # about 25 s on 2 cores
def test_non_gaussian_relu_can_confirm_and_refute(monkeypatch):
    """The per-law decision is not built in: the networks' attack radii (slope near −0.1 from d = 8 to 32, measured)
    in a tight bracket FAIL "falls like d^(−1/2)"; the same × d^(−0.9) PASS."""
    v = _laws_relu_bracketed(monkeypatch, lambda d: 1.0)
    assert v.outcome == "fail" and v.checks[1].outcome == "fail", [c.detail for c in v.checks]
    v = _laws_relu_bracketed(monkeypatch, lambda d: d**-0.9)
    assert v.outcome == "pass", [c.detail for c in v.checks]
