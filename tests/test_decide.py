"""The three-valued verdict model: PASS only when the data confirm within the declared margin, FAIL only when they
refute beyond it, UNDECIDED otherwise, for each of the three kinds of statistical check (slopes/intervals, laws,
convergence orders), and the claim-level combination and exit codes."""

import jax
import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given
from hypothesis import strategies as hs

from fcjax.decide import FAIL, PASS, UNDECIDED, combine, interval_check, ks2_check, ks_check, needed_factor, rate_check
from fcjax.stats import Check, Verdict, loglog_slope, sandwich_slope
from proofs_check._common import order_check, sandwich_slope_check, slope_check

ALPHA = 1e-3


def _power_samples(rng, ds, slope, n, noise=0.2):
    """Per-d positive samples whose mean scales like d**slope (lognormal noise)."""
    return [np.exp(slope * np.log(d) + noise * rng.standard_normal(n)) for d in ds]


# ------------------------------------------------------------------------------------------------ slope checks
@pytest.mark.parametrize(("n", "true_slope", "expected"), [
    (3, -0.5, UNDECIDED),   # true statement, too few trials: not a PASS
    (2000, -0.5, PASS),     # true statement, enough trials
    (2000, 0.0, FAIL),      # false statement (d-free, not falling), enough trials
])
def test_slope_check_three_outcomes(n, true_slope, expected):
    rng = np.random.default_rng(0)
    ds = [16, 32, 64]
    noise = 1.0 if n < 10 else 0.2
    fit = loglog_slope(ds, _power_samples(rng, ds, true_slope, n, noise), jax.random.key(0), level=1 - ALPHA)
    c = slope_check("falls like d^-1/2", fit, at_most=-0.5)
    assert c.outcome == expected, c.detail
    assert c.passed == (expected == PASS)
    assert bool(c.resolution) == (expected == UNDECIDED)


@pytest.mark.parametrize(("n", "true_slope", "expected"), [(3, 0.0, UNDECIDED), (2000, 0.0, PASS),
                                                           (2000, 0.5, FAIL)])
def test_equivalence_slope_check(n, true_slope, expected):
    rng = np.random.default_rng(1)
    ds = [16, 32, 64]
    noise = 1.0 if n < 10 else 0.2
    fit = loglog_slope(ds, _power_samples(rng, ds, true_slope, n, noise), jax.random.key(1), level=1 - ALPHA)
    assert slope_check("d-free", fit, equals=0.0).outcome == expected


def test_old_failure_modes_are_undecided():
    """The issue's two cases: a 3-trial run with CI [-28, 23] is not a PASS; slopes of 0.006-0.046 with CIs that
    lie within the d-free margin are not a FAIL because the CI misses 0."""
    assert interval_check("wide", -2.7, -28.3, 23.0, at_most=-0.5, margin=0.05).outcome == UNDECIDED
    assert interval_check("small slope", 0.03, 0.02, 0.04, equals=0.0, margin=0.05).outcome == PASS
    assert interval_check("small slope", 0.046, 0.03, 0.06, equals=0.0, margin=0.05).outcome == UNDECIDED


# -------------------------------------------------------------------------------------------------- law checks
@pytest.mark.parametrize(("n", "law", "expected"), [
    (30, st.chi(1), UNDECIDED),     # true law, too few samples for the DKW band to fit in the margin
    (40000, st.chi(1), PASS),       # true law, enough samples
    (40000, st.chi(2), FAIL),       # wrong law (chi_2 vs chi_1: KS distance 0.30)
])
def test_ks_check_three_outcomes(n, law, expected):
    x = np.abs(np.random.default_rng(2).standard_normal(n))  # chi_1 samples
    c = ks_check("law", x, law, margin=0.03, alpha=ALPHA)
    assert c.outcome == expected, c.detail


def test_ks2_check():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(40000), rng.standard_normal(40000)
    assert ks2_check("same", a, b, margin=0.03, alpha=ALPHA).outcome == PASS
    assert ks2_check("shifted", a, b + 1.0, margin=0.03, alpha=ALPHA).outcome == FAIL
    assert ks2_check("few", a[:20], b[:20], margin=0.03, alpha=ALPHA).outcome == UNDECIDED


# ------------------------------------------------------------------------------------------------ order checks
def _order_values(rng, eps, order, trials, noise):
    c = np.exp(noise * rng.standard_normal((trials, 1)))
    return c * eps[None, :] ** order * np.exp(0.01 * noise * rng.standard_normal((trials, eps.size)))


@pytest.mark.parametrize(("trials", "noise", "true", "expected"), [
    (3, 30.0, 2.0, UNDECIDED),   # true order, per-trial noise so large that 3 trials cannot place the slope
    (200, 1.0, 2.0, PASS),
    (200, 1.0, 1.0, FAIL),       # the statement says 2, the data have order 1
])
def test_order_check_three_outcomes(trials, noise, true, expected):
    eps = np.geomspace(1e-4, 1e-2, 7)
    values = _order_values(np.random.default_rng(4), eps, true, trials, noise)
    _, c = order_check("order 2", eps, values, 2.0, 1 - ALPHA)
    assert c.outcome == expected, c.detail


# ------------------------------------------------------------------------------------------ combination, rates
def test_combine_and_check_defaults():
    assert combine([PASS, PASS]) == PASS
    assert combine([PASS, UNDECIDED]) == UNDECIDED
    assert combine([UNDECIDED, FAIL, PASS]) == FAIL
    with pytest.raises(ValueError, match="outcomes"):
        combine(["maybe"])
    assert Check("x", True, "").outcome == PASS and Check("x", False, "").outcome == FAIL
    c = Check("x", True, "", outcome=UNDECIDED)
    assert not c.passed  # passed always follows the outcome
    with pytest.raises(ValueError, match="outcome"):
        Check("x", True, "", outcome="perhaps")


def test_rate_check():
    assert rate_check("rare", 0, 100000, at_most=1e-3, level=0.999).outcome == PASS
    assert rate_check("few trials", 0, 10, at_most=1e-3, level=0.999).outcome == UNDECIDED
    assert rate_check("too often", 50, 1000, at_most=1e-3, level=0.999).outcome == FAIL


def test_sandwich_slope_check():
    ds = [16, 64, 256]
    rng = np.random.default_rng(5)
    base = [np.exp(rng.standard_normal(200) * 0.05) for _ in ds]

    def decide(lo_slope, up_slope):
        lower = [b * d**lo_slope for b, d in zip(base, ds, strict=True)]
        upper = [b * d**up_slope * 1.0001 for b, d in zip(base, ds, strict=True)]
        fit = sandwich_slope(ds, lower, upper, jax.random.key(0), level=1 - ALPHA)
        return sandwich_slope_check("s", fit, at_most=-0.5)

    exact = decide(-0.6, -0.6)  # lower = upper: the ordinary slope, confirmed
    assert exact.outcome == PASS
    assert decide(0.0, 0.0).outcome == FAIL
    wide = decide(-0.6, -0.1)  # bounds that disagree about the slope cannot decide it
    assert wide.outcome == UNDECIDED and "tighter bounds" in wide.resolution


def test_sandwich_slope_bounds_the_true_slope():
    """Whatever values lie between the bounds, their OLS slope lies in [smin, smax] (here: exactly, no noise)."""
    ds = [16, 32, 64, 128]
    rng = np.random.default_rng(6)
    lo = [np.full(3, 0.5) * d**-0.3 for d in ds]
    up = [lx * 2.0 for lx in lo]
    fit = sandwich_slope(ds, lo, up, jax.random.key(1), level=0.95)
    for _ in range(200):
        true = [lx * np.exp(rng.uniform(0, np.log(2.0))) for lx in lo]
        s = loglog_slope(ds, true, jax.random.key(2), level=0.95).slope
        assert fit.smin - 1e-12 <= s <= fit.smax + 1e-12


@given(hs.floats(-5, 5), hs.floats(0.001, 3), hs.floats(-5, 5), hs.floats(0, 1))
def test_interval_outcome_is_consistent(center, half, target, margin):
    """PASS and FAIL are exclusive and each follows from the interval's position; a narrower interval around the
    same centre never turns a decided outcome into its opposite."""
    low, high = center - half, center + half
    c = interval_check("c", center, low, high, at_most=target, margin=margin)
    t = target + margin
    assert (c.outcome == PASS) == (high <= t)
    assert (c.outcome == FAIL) == (low > t)
    narrow = interval_check("c", center, center - half / 2, center + half / 2, at_most=target, margin=margin)
    assert {c.outcome, narrow.outcome} != {PASS, FAIL}
    if c.outcome == UNDECIDED:
        assert needed_factor(center, low, high, [t]) >= 1


def test_verdict_outcome_roundtrip():
    v = Verdict(claim="c", paper="p", statement="s", source="src", passed=False, statistic=0.1, expected="e",
                ci_low=0.0, ci_high=1.0, level=0.95, n_trials=3, params={}, seed=0, outcome=UNDECIDED,
                resolution="more trials")
    d = v.to_dict()
    assert d["outcome"] == UNDECIDED and not d["passed"]
    back = Verdict.from_dict(d)
    assert back.outcome == UNDECIDED and back.resolution == "more trials"
    old = {k: x for k, x in d.items() if k not in ("outcome", "resolution")}
    old["passed"] = True
    assert Verdict.from_dict(old).outcome == PASS  # a record without the field keeps its two-valued meaning
