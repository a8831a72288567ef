"""stats.py against SciPy, the log-log slope fit on synthetic power laws, and the Verdict record."""

from __future__ import annotations

import json
import math

import jax
import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given
from hypothesis import strategies as hs

import fcjax as F
from fcjax.stats import sandwich_slope

# ----------------------------------------------------------------------------------------------------------------
# Intervals and tests against SciPy
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "level"), [(2, 0.95), (10, 0.9), (500, 0.99)])
def test_mean_ci_matches_scipy_t_interval(n, level):
    x = np.random.default_rng(n).lognormal(size=n)
    est = F.mean_ci(x, level)
    low, high = st.t.interval(level, n - 1, loc=x.mean(), scale=st.sem(x))
    assert est.value == pytest.approx(x.mean(), rel=1e-14)
    assert est.low == pytest.approx(low, rel=1e-12)
    assert est.high == pytest.approx(high, rel=1e-12)
    assert est.n == n and est.level == level


@given(n=hs.integers(1, 400), frac=hs.floats(0, 1), level=hs.sampled_from([0.5, 0.9, 0.95, 0.999]))
def test_clopper_pearson_matches_scipy_binomtest(n, frac, level):
    k = round(frac * n)
    low, high = F.clopper_pearson(k, n, level)
    ref = st.binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
    # scipy solves the same beta-quantile equations by root finding (xtol ~1e-12 relative)
    assert low == pytest.approx(ref.low, rel=1e-8, abs=1e-12)
    assert high == pytest.approx(ref.high, rel=1e-8, abs=1e-12)
    assert 0.0 <= low <= k / n <= high <= 1.0


def test_clopper_pearson_edges_are_exact():
    # k = 0: high solves (1 - p)^n = alpha/2 in closed form; k = n: low solves p^n = alpha/2.
    n, alpha = 25, 0.05
    assert F.clopper_pearson(0, n, 1 - alpha) == pytest.approx((0.0, 1 - (alpha / 2) ** (1 / n)), rel=1e-12)
    assert F.clopper_pearson(n, n, 1 - alpha) == pytest.approx(((alpha / 2) ** (1 / n), 1.0), rel=1e-12)


def test_ks_test_matches_scipy():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(300)
    cases = ((x, "norm", ()), (x, st.norm.cdf, ()), (np.abs(x) * 2, "chi", (1, 0, 2)), (np.abs(x), st.chi(1).cdf, ()))
    for data, cdf, args in cases:
        r = F.ks_test(data, cdf, *args)
        ref = st.kstest(data, cdf, args=args)
        assert r.statistic == pytest.approx(ref.statistic, rel=1e-14)
        assert r.pvalue == pytest.approx(ref.pvalue, rel=1e-12)
    # It detects a wrong law.
    assert F.ks_test(x + 0.5, "norm").pvalue < 1e-4


def test_ks_2samp_spearman_match_scipy():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal(80), rng.standard_normal(60) + 0.2
    r = F.ks_2samp(x, y)
    ref = st.ks_2samp(x, y)
    assert (r.statistic, r.pvalue) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-12)
    z = x[:60] + y
    r = F.spearman(x[:60], z)
    ref = st.spearmanr(x[:60], z)
    assert (r.statistic, r.pvalue) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-12)


@pytest.mark.parametrize(("n", "level"), [(4, 0.95), (30, 0.9), (200, 0.99)])
def test_pearson_ci_matches_scipy_fisher_interval(n, level):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n)
    y = 0.6 * x + rng.standard_normal(n)
    est = F.pearson_ci(x, y, level)
    ref = st.pearsonr(x, y)
    ci = ref.confidence_interval(confidence_level=level)  # SciPy's default method is the Fisher z transform
    assert est.value == pytest.approx(ref.statistic, rel=1e-12)
    assert est.low == pytest.approx(ci.low, rel=1e-10)
    assert est.high == pytest.approx(ci.high, rel=1e-10)


def test_spearman_ci_value_and_coverage():
    rng = np.random.default_rng(5)
    x = rng.standard_normal(50)
    y = np.exp(0.5 * x + rng.standard_normal(50))  # monotone transform: Spearman sees through it
    est = F.spearman_ci(x, y, 0.95)
    assert est.value == pytest.approx(st.spearmanr(x, y).statistic, rel=1e-12)
    assert est.low < est.value < est.high
    # Coverage of the Bonett-Wright interval for bivariate normal data with a known rank correlation
    # rho_s = (6/pi) asin(rho/2); 400 replicates: a 95% interval covers in >= 91% (binomial 4-sigma slack).
    rho = 0.5
    true = 6 / math.pi * math.asin(rho / 2)
    cov = np.array([[1, rho], [rho, 1]])
    hits = 0
    for _ in range(400):
        a = rng.multivariate_normal([0, 0], cov, 40)
        e = F.spearman_ci(a[:, 0], a[:, 1], 0.95)
        hits += e.low <= true <= e.high
    assert hits / 400 >= 0.91
    with pytest.raises(ValueError, match="one length"):
        F.spearman_ci(x, y[:10])


def test_partial_spearman_without_controls_is_spearman_ci():
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal(30), rng.standard_normal(30)
    x = x + 0.5 * y
    got, ref = F.partial_spearman_ci(x, y, np.zeros((30, 0))), F.spearman_ci(x, y)
    np.testing.assert_allclose(got[:3], ref[:3], rtol=1e-12)


def test_partial_spearman_is_the_precision_matrix_formula_on_ranks():
    # Partial correlation by residuals equals -P_xy / sqrt(P_xx P_yy), P the inverse correlation matrix (of the
    # ranks here): an identity, so to rounding. The interval is Fisher's with n - 2 samples for 2 controls.
    rng = np.random.default_rng(7)
    z = rng.standard_normal((60, 2))
    x = z @ [1.0, -0.5] + rng.standard_normal(60)
    y = np.exp(z @ [0.3, 0.8] + 0.4 * x + rng.standard_normal(60))
    prec = np.linalg.inv(np.corrcoef(np.column_stack([st.rankdata(v) for v in (x, y, *z.T)]).T))
    est = F.partial_spearman_ci(x, y, z, 0.9)
    assert est.value == pytest.approx(-prec[0, 1] / math.sqrt(prec[0, 0] * prec[1, 1]), rel=1e-10)
    half = st.norm.ppf(0.95) * math.sqrt((1 + est.value**2 / 2) / (60 - 3 - 2))
    assert est.low == pytest.approx(math.tanh(math.atanh(est.value) - half), rel=1e-12)
    assert (est.n, est.level) == (60, 0.9)


@given(seed=hs.integers(0, 2**31 - 1))
def test_partial_spearman_is_invariant_under_monotone_maps(seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(20)
    x, y = z + rng.standard_normal(20), z - rng.standard_normal(20)
    ref = F.partial_spearman_ci(x, y, z)
    got = F.partial_spearman_ci(np.exp(x), y**3, np.arctan(z))
    np.testing.assert_allclose(got[:3], ref[:3], rtol=1e-9, atol=1e-12)


def test_partial_spearman_removes_a_confounder_and_covers():
    # x and y share z: marginal rank correlation about 0.48, partial given z about 0.009 (the population bias of the
    # rank version, measured at n = 200000); at n = 2000 its sd is about 0.022, so |r| < 0.08 is 3 sd of slack.
    rng = np.random.default_rng(8)
    z = rng.standard_normal(2000)
    x, y = z + rng.standard_normal(2000), z + rng.standard_normal(2000)
    assert F.spearman_ci(x, y).low > 0.4
    assert abs(F.partial_spearman_ci(x, y, z).value) < 0.08
    # Coverage under independence with 2 (irrelevant) controls, n = 20: a 95% interval covers 0 in >= 91% of 400.
    covered = 0
    for _ in range(400):
        a = rng.standard_normal((20, 4))
        e = F.partial_spearman_ci(a[:, 0], a[:, 1], a[:, 2:])
        covered += e.low <= 0 <= e.high
    assert covered / 400 >= 0.91


@pytest.mark.parametrize(("args", "exc", "match"), [
    ((np.arange(5.0), np.arange(4.0), np.zeros(5)), ValueError, "one length"),
    ((np.arange(5.0), np.arange(5.0), np.zeros((4, 1))), ValueError, r"^controls must have shape \(5,\)"),
    ((np.arange(5.0), np.arange(5.0), np.zeros((5, 2))), ValueError, r"k \+ 4 = 6"),
    ((np.arange(6.0), np.arange(6.0) ** 2, np.arange(6.0)), ValueError, "affine function of the controls"),
    ((np.arange(6.0), np.arange(6.0), np.full(6, np.nan)), ValueError, "^controls contains non-finite"),
])
def test_partial_spearman_rejects_bad_input(args, exc, match):
    with pytest.raises(exc, match=match):
        F.partial_spearman_ci(*args)


def test_pearson_ci_perfect_correlation_is_finite():
    x = np.arange(10.0)
    est = F.pearson_ci(x, 2 * x + 1)
    assert est.value == pytest.approx(1.0, abs=1e-5)
    assert all(math.isfinite(v) for v in (est.low, est.high))


# ----------------------------------------------------------------------------------------------------------------
# Log-log slope
# ----------------------------------------------------------------------------------------------------------------

GRID = (4.0, 8.0, 16.0, 32.0, 64.0, 128.0)


@pytest.mark.parametrize("stat", ["mean", "median", "geomean"])
def test_loglog_slope_point_estimate_is_exact_on_a_power_law(stat, key):
    # samples_i = c d_i^p * base: every stat is scale-equivariant, so centers_i = c d_i^p stat(base) and the OLS
    # slope in log-log is exactly p (rounding only: ~1e-15 relative).
    c, p = 2.5, -0.75
    base = np.random.default_rng(3).lognormal(sigma=0.5, size=31)
    samples = [c * dd**p * base for dd in GRID]
    fit = F.loglog_slope(GRID, samples, key, stat=stat, n_boot=200)
    ref_stat = {"mean": np.mean, "median": np.median, "geomean": lambda a: np.exp(np.mean(np.log(a)))}[stat](base)
    assert fit.slope == pytest.approx(p, abs=1e-12)
    assert fit.intercept == pytest.approx(math.log(c * ref_stat), abs=1e-12)
    np.testing.assert_allclose(fit.centers, [c * dd**p * ref_stat for dd in GRID], rtol=1e-13)
    assert fit.x == GRID
    assert fit.low <= fit.slope <= fit.high


def _noisy_power_law(seed: int, n: int = 200, sigma: float = 0.5, p: float = 0.5, c: float = 1.3):
    rng = np.random.default_rng(seed)
    return [c * dd**p * rng.lognormal(sigma=sigma, size=n) for dd in GRID]


def test_loglog_slope_recovers_exponent_with_calibrated_ci(key):
    n, sigma, p = 200, 0.5, 0.5
    fit = F.loglog_slope(GRID, _noisy_power_law(0, n, sigma, p), key, stat="mean", n_boot=2000, level=0.95)
    # Delta method: Var log(mean of n lognormals) = (e^{sigma^2} - 1) / n; OLS slope SE = sqrt(var / Sxx).
    logx = np.log(GRID)
    se = math.sqrt((math.exp(sigma**2) - 1) / n / np.sum((logx - logx.mean()) ** 2))
    assert abs(fit.slope - p) < 5 * se  # a 5-sigma band: fails with probability ~6e-7 for a correct fit
    assert fit.low <= p <= fit.high  # a 95 % interval (this seed: fixed; fresh seeds: covers 95 % of the time)
    # The bootstrap percentile interval's width matches the normal theory 2 * 1.96 * SE (bootstrap + sampling noise
    # of the variance of a lognormal with n = 200: a factor 1.5 either way).
    width = fit.high - fit.low
    assert 2 * 1.96 * se / 1.5 < width < 2 * 1.96 * se * 1.5


def test_loglog_slope_is_reproducible_with_the_same_key(key):
    samples = _noisy_power_law(1, n=50)
    a = F.loglog_slope(GRID, samples, key, n_boot=300)
    b = F.loglog_slope(GRID, samples, key, n_boot=300)
    c = F.loglog_slope(GRID, samples, jax.random.fold_in(key, 1), n_boot=300)
    assert a == b
    assert a.slope == c.slope  # the point estimate does not depend on the key
    assert (a.low, a.high) != (c.low, c.high)  # the bootstrap does


@pytest.mark.slow
def test_loglog_slope_coverage_frequency():
    # Over 100 independent data sets the 90 % interval must cover the true exponent at a rate compatible with 0.9
    # (one-sided binomial test at 1e-3; percentile bootstrap at n = 100 per point may undercover slightly, so the
    # null allows 0.85).
    hits, reps = 0, 100
    for r in range(reps):
        fit = F.loglog_slope(GRID, _noisy_power_law(1000 + r, n=100), jax.random.key(r), level=0.9, n_boot=500)
        hits += fit.low <= 0.5 <= fit.high
    assert hits >= st.binom.ppf(1e-3, reps, 0.85)


@pytest.mark.parametrize("fit", ["loglog", "sandwich"])
def test_slope_interval_covers_with_three_trials_per_point(fit):
    # Three lognormal trials at each of two points, true slope 0, nominal 99 %: a normal quantile on the bootstrap SE
    # missed 10 % of the time (measured, 400 data sets); the Student-t interval must miss at most at a rate compatible
    # with 1 % (one-sided binomial test at 1e-3). Exact bounds (lower = upper) make the sandwich the same interval.
    rng, misses, reps = np.random.default_rng(11), 0, 400
    for r in range(reps):
        s = [np.exp(rng.normal(0.0, 0.3, 3)) for _ in (8, 32)]
        if fit == "loglog":
            f = F.loglog_slope([8.0, 32.0], s, jax.random.key(r), level=0.99, n_boot=300)
        else:
            f = sandwich_slope([8.0, 32.0], s, s, jax.random.key(r), level=0.99, n_boot=300)
        misses += not f.low <= 0.0 <= f.high
    assert misses <= st.binom.isf(1e-3, reps, 0.01)


# ----------------------------------------------------------------------------------------------------------------
# Verdict
# ----------------------------------------------------------------------------------------------------------------


def _verdict(**over) -> F.Verdict:
    kw = dict(claim="gao2024.min_distance", paper="Gao et al. 2024", statement="points are far apart",
              source="Lemma 2", passed=True, statistic=0.81, expected="-> 1", ci_low=0.79, ci_high=0.83, level=0.95,
              n_trials=200, params={"d": [16, 64], "eps": 0.2, "dtype": "float64"}, seed=0, seconds=1.5,
              device="1 x cpu", dtype="float64", statistic_name="rho",
              checks=[F.Check("ci covers", True, "0.79 <= 0.81 <= 0.83"), F.Check("monotone", False, "no")],
              table=[{"d": 16, "rho": 0.58}, {"d": 64, "rho": 0.71}], series={"x": [16, 64], "y": [0.58, 0.71]},
              caveats=["slow convergence"])
    kw.update(over)
    return F.Verdict(**kw)


def test_verdict_json_round_trip():
    v = _verdict()
    text = v.to_json()
    assert "\n" not in text
    data = json.loads(text)
    assert set(data) == {f for f in F.Verdict.__dataclass_fields__}
    assert data["jax_version"] == jax.__version__
    back = F.Verdict.from_dict(data)
    assert back == v
    assert isinstance(back.checks[0], F.Check)
    assert F.Verdict.from_dict(json.loads(back.to_json())).to_json() == text


def test_verdict_to_dict_converts_numpy_and_non_finite_values():
    v = _verdict(statistic=np.float32(0.5), n_trials=np.int64(7), passed=np.bool_(True), ci_high=float("inf"),
                 table=[{"d": np.int32(4), "x": np.array([1.0, np.nan])}])
    data = v.to_dict()
    json.dumps(data, allow_nan=False)  # strictly valid JSON
    assert data["statistic"] == 0.5 and type(data["statistic"]) is float
    assert data["n_trials"] == 7 and type(data["n_trials"]) is int
    assert data["passed"] is True
    assert data["ci_high"] == "inf"
    assert data["table"] == [{"d": 4, "x": [1.0, "nan"]}]


def test_verdict_round_trip_of_non_finite_statistic():
    v = _verdict(statistic=float("nan"), ci_low=float("-inf"), ci_high=float("inf"))
    back = F.Verdict.from_dict(json.loads(v.to_json()))
    assert isinstance(back.statistic, float) and math.isnan(back.statistic)
    assert back.ci_low == float("-inf") and back.ci_high == float("inf")
    # Inside tables and series too: a stored verdict read back plots and prints numbers, not the strings.
    v = _verdict(table=[{"d": 4, "x": float("nan")}], series={"lines": [{"y": [1.0, float("inf")]}]})
    back = F.Verdict.from_dict(json.loads(v.to_json()))
    assert math.isnan(back.table[0]["x"]) and back.series["lines"][0]["y"] == [1.0, float("inf")]
    assert back.to_dict() == v.to_dict()


def test_jackknife_of_the_mean_is_the_t_interval(key):
    """With one value per group the delete-one jackknife standard error of the mean is s/√n exactly."""
    x = np.asarray(jax.random.normal(key, (9,)))
    (jk,) = F.jackknife_ci(np.mean, [(np.array([v]),) for v in x], 0.9)
    t = F.mean_ci(x, 0.9)
    np.testing.assert_allclose([jk.value, jk.low, jk.high], [t.value, t.low, t.high], rtol=1e-12)
    assert jk.n == 9


def test_jackknife_resamples_whole_groups(key):
    """Duplicating every row inside its group changes nothing: the groups, not the rows, are the sample."""
    x = np.asarray(jax.random.normal(key, (6, 3)))
    one = F.jackknife_ci(np.mean, [(r,) for r in x])
    two = F.jackknife_ci(np.mean, [(np.concatenate([r, r]),) for r in x])
    np.testing.assert_allclose([one[0].low, one[0].high], [two[0].low, two[0].high], rtol=1e-12)


def test_binned_means_call_a_concave_monotone_curve_monotone():
    x = np.linspace(0, 4, 42)
    low, mid, high = F.binned_means(x, -np.abs(x - 2) * 3)  # a peak in the middle third
    assert mid > low and mid > high
    low, mid, high = F.binned_means(x[::-1], np.sqrt(x[::-1]))  # concave but monotone; order of rows irrelevant
    assert low < mid < high
    np.testing.assert_allclose(F.binned_means(np.arange(6.0), np.arange(6.0), bins=2), [1.0, 4.0])


@pytest.mark.parametrize(("call", "exc", "match"), [
    (lambda: F.jackknife_ci(np.mean, [(np.ones(2),)] * 2), ValueError, r"^groups needs at least 3"),
    (lambda: F.jackknife_ci(3, [(np.ones(2),)] * 3), TypeError, r"^stat must be callable"),
    (lambda: F.binned_means(np.ones(2), np.ones(2), bins=3), ValueError, r"^x needs at least bins=3 values"),
    (lambda: F.binned_means(np.arange(5.0), np.ones(4)), ValueError, r"^x and y must have one length"),
    (lambda: F.binned_means(np.arange(5.0), np.ones(5), bins=1), ValueError, r"^bins must be >= 2"),
])
def test_jackknife_and_binned_means_bad_inputs(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
