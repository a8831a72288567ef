"""fcjax.testing: confirmed statements return, refuted ones raise Refuted, unpowered ones raise Undecided."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import scipy.stats as st

from fcjax.testing import Refuted, Undecided, assert_law, assert_mean, assert_rate, assert_slope


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_assert_mean(rng):
    assert assert_mean(rng.normal(1.0, 1.0, 20000), 1.0, 0.05).outcome == "pass"
    with pytest.raises(Refuted, match="refuted"):
        assert_mean(rng.normal(1.2, 1.0, 20000), 1.0, 0.05)
    with pytest.raises(Undecided, match="the trials"):
        assert_mean(rng.normal(1.0, 1.0, 30), 1.0, 0.05)


def test_assert_slope(rng):
    ds = [16, 64, 256, 1024]
    key = jax.random.key(0)
    sqrt_d = [np.sqrt(d) * rng.lognormal(0, 0.05, 400) for d in ds]
    assert assert_slope(ds, sqrt_d, 0.5, key=key).passed
    with pytest.raises(Refuted):
        assert_slope(ds, sqrt_d, 0.0, key=key)
    with pytest.raises(Undecided):
        assert_slope(ds[:2], [np.sqrt(d) * rng.lognormal(0, 1.0, 5) for d in ds[:2]], 0.5, key=key)


def test_assert_law(rng):
    assert assert_law(np.abs(rng.normal(size=20000)), st.halfnorm()).passed
    with pytest.raises(Refuted):
        assert_law(rng.exponential(size=20000), st.halfnorm())
    with pytest.raises(Undecided, match="to decide"):
        assert_law(np.abs(rng.normal(size=50)), st.halfnorm())


def test_assert_rate():
    assert assert_rate(3, 10000, 0.01).passed
    with pytest.raises(Refuted):
        assert_rate(300, 10000, 0.01)
    with pytest.raises(Undecided):
        assert_rate(0, 10, 0.01)


def test_false_failure_rate_is_alpha_at_margin_zero():
    # With margin 0 a true mean is refuted exactly when the level-(1 - alpha) t interval misses it: probability
    # alpha = 0.05 per draw, so over 400 draws refutations ~ Binomial(400, 0.05) (mean 20, sd 4.4). Fewer than 6 or
    # 40 or more have probability < 1e-3 together: the test fails if the interval is too narrow or too wide.
    rng = np.random.default_rng(1)
    refuted = 0
    for _ in range(400):
        try:
            assert_mean(rng.normal(0.0, 1.0, 200), 0.0, 0.0, alpha=0.05)
        except Refuted:
            refuted += 1
        except Undecided:
            pass
    assert 6 <= refuted < 40


@pytest.mark.parametrize(("call", "err", "match"), [
    (lambda: assert_mean([1.0], 0.0, 0.1), ValueError, "samples"),
    (lambda: assert_mean([1.0, np.nan], 0.0, 0.1), ValueError, "non-finite"),
    (lambda: assert_mean([1.0, 2.0], 0.0, -0.1), ValueError, "margin"),
    (lambda: assert_mean([1.0, 2.0], 0.0, 0.1, alpha=1.5), ValueError, "alpha"),
    (lambda: assert_slope([1, 2], [[1.0, 2.0]], 0.5, key=jax.random.key(0)), ValueError, "same length"),
    (lambda: assert_law([1.0, 2.0], "normal"), TypeError, "cdf"),
    (lambda: assert_rate(5, 3, 0.1), ValueError, "events"),
    (lambda: assert_rate(1.0, 3, 0.1), TypeError, "ints"),
])
def test_bad_input_is_named(call, err, match):
    with pytest.raises(err, match=match):
        call()
