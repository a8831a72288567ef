"""gao2024_open.explanations (open question 4): the planted data, the per-network measures, the configuration's
checks, and controls showing the verdict's checks can confirm and refute."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from proofs_check import run_claim
from proofs_check.gao2024_open import explanations as E


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_data_replaces_one_coordinate_by_the_label_feature(seed):
    key = jax.random.key(seed)
    x0, y0, u0 = E.planted_data(key, 40, 8, jnp.float32(0.0), 0.5, 0.05, jnp.float64)
    x, y, u = E.planted_data(key, 40, 8, jnp.float32(1.0), 0.5, 0.05, jnp.float64)
    x0, x, u = np.asarray(x0), np.asarray(x), np.asarray(u)
    np.testing.assert_array_equal(np.asarray(y0), np.asarray(y))
    np.testing.assert_allclose(u, np.asarray(u0))
    assert np.linalg.norm(u) == pytest.approx(1.0, rel=1e-12)
    assert np.bincount(np.asarray(y)).tolist() == [20, 20]  # balanced labels
    # the part orthogonal to u is the unplanted point's; along u: ±0.5 (the label's sign) plus N(0, 0.05²)
    proj = np.eye(8) - np.outer(u, u)
    np.testing.assert_allclose(x @ proj, x0 @ proj, atol=1e-12)
    along = (x @ u) - (2 * np.asarray(y) - 1) * 0.5
    assert np.all(np.abs(along) < 0.05 * 5)
    assert np.all(np.sign(x @ u) == 2 * np.asarray(y) - 1)  # the feature separates the classes


def _out(correct, accuracy):
    c = np.asarray(correct, bool)
    nets, m = c.shape
    return {"lower": np.full((nets, m), 0.5), "upper": np.arange(1.0, 1.0 + nets * m).reshape(nets, m),
            "optimal": np.full((nets, m), 2.0), "compression": np.full((nets, m), 0.3), "correct": c,
            "compression_same": np.full((nets, m), 0.4), "correct_held_out": np.ones((nets, m), bool),
            "damage": np.full((nets, m), 3.0), "first_order": np.full((nets, m), 2.0),
            "reliance": np.linspace(0, 1, nets * m).reshape(nets, m), "margin_drop": np.full((nets, m), 1.0),
            "margin_first_order": np.full((nets, m), 2.0), "accuracy": np.asarray(accuracy, float)}


def test_network_measures_by_hand():
    out = _out([[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0]], [1.0, 0.9, 1.0])
    m = E.network_measures(out)
    assert m["valid"].tolist() == [True, False, False]  # net 1 does not fit, net 2 has 2 < 3 correct points
    assert m["robustness"][0] == pytest.approx((1 + 2 + 3) / 3 / 2.0)  # over its correct points only
    assert m["certified"][0] == pytest.approx(0.25)
    assert m["linearity_gap"][0] == pytest.approx(0.5)  # |9 / 6 - 1|
    assert m["margin_gap"][0] == pytest.approx(0.5)  # |3 / 6 - 1|
    assert m["reliance"][0] == pytest.approx(np.mean(np.linspace(0, 1, 12)[:3]))
    assert m["compression"][0] == pytest.approx(0.3) and m["compression_same"][0] == pytest.approx(0.4)
    assert m["fits"].tolist() == [True, False, True]
    assert np.isnan(m["robustness"][1:]).all() and np.isnan(m["compression"][1:]).all()


def test_partials_find_the_predictor_that_drives_robustness():
    # Robustness driven by compression alone (plus noise); the other two are unrelated or a noisy copy of it.
    rng = np.random.default_rng(0)
    c = rng.uniform(0.1, 0.6, 200)
    table = {"compression": c, "linearity_gap": rng.lognormal(size=200), "reliance": c + rng.normal(0, 0.3, 200),
             "robustness": c + rng.normal(0, 0.02, 200)}
    p = E.partials(table, 0.99)
    assert p["compression"][1] > 0.8
    assert p["linearity_gap"][1] < 0 < p["linearity_gap"][2] and p["reliance"][1] < 0 < p["reliance"][2]
    best = E._best_margin(table, 0.99, jax.random.key(0), 200)
    assert best[1] > 0.5


@pytest.mark.parametrize(("overrides", "match"), [
    ({"regimes": ()}, "regimes must be distinct"),
    ({"regimes": (("a", 0.0, 0.0), ("a", 0.1, 0.0))}, "regimes must be distinct"),
    ({"regimes": (("a", -1.0, 0.0),)}, "regime 'a' lambda_grad must be >= 0"),
    ({"planted": (True, True)}, "planted must list"),
    ({"points": 40}, r"points must be <= n_train / 2 \(32"),
    ({"ds": (8, 16)}, "d must be one dimension"),
    ({"regimes": (("a", 0.0),)}, "regimes must be distinct"),
    ({"plant": 0.0}, "plant must be > 0"),
    ({"trials": 1, "regimes": (("a", 0.0, 0.0),)}, "needs at least 6 networks"),
])
def test_config_rejects_bad_settings(overrides, match):
    with pytest.raises(ValueError, match=match):
        E.ExplanationsConfig(**({"ds": (8,)} | overrides))


def _controlled(monkeypatch, robustness_of):
    """The claim on a small configuration, with the attack's radii replaced by ``robustness_of(out)``."""
    real = E._group

    def controlled(cfg, key, planted, lam, eps):
        out = real(cfg, key, planted, lam, eps)
        return {**out, "lower": np.zeros_like(out["lower"]), "upper": robustness_of(out)}

    monkeypatch.setattr(E, "_group", controlled)
    return run_claim("gao2024_open.explanations", quick=True, seed=0,
                     overrides={"ds": (8,), "trials": 3, "steps": 150, "width": 16, "n_train": 16, "points": 8,
                                "bootstrap": 200})


@pytest.mark.slow  # about 20 s on 2 cores
def test_explanations_can_confirm_and_refute(monkeypatch):
    """The compression check is not built in: robustness equal to compression × optimal radius (plus a little
    noise: exactly equal, the partial correlations of the other two are undefined) PASSes it, its reverse FAILs."""
    def noise(o):
        return np.random.default_rng(0).normal(0, 0.01, o["optimal"].shape)

    v = _controlled(monkeypatch, lambda o: o["optimal"] * (o["compression"] + noise(o)))
    assert v.checks[1].outcome == "pass", v.checks[1].detail
    assert any(r["regime"].startswith("sensitivity, within groups") for r in v.table)
    v = _controlled(monkeypatch, lambda o: o["optimal"] * (1.0 - o["compression"] + noise(o)))
    assert v.checks[1].outcome == "fail" and v.outcome == "fail", v.checks[1].detail
