"""The user-facing robustness API: sandwich order, optimal-radius oracle, compression ratio, bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fcjax as F
from fcjax.certify import mlp_layers
from fcjax.robustness import nearest_other_class, robustness

D, K, M = 6, 3, 24


@pytest.fixture(scope="module")
def net():
    # Three Gaussian clusters in R^6 and a small trained ReLU MLP: some points are near other classes.
    key = jax.random.key(3)
    centers = 1.5 * jax.random.normal(jax.random.fold_in(key, 0), (K, D), jnp.float64)
    y = jnp.arange(M) % K
    x = centers[y] + jax.random.normal(jax.random.fold_in(key, 1), (M, D), jnp.float64)
    model = F.relu_mlp(2, 16, K)
    res = F.train(jax.random.fold_in(key, 2), model, x, y, F.TrainConfig(steps=400, learning_rate=1e-2))
    params = jax.tree.map(lambda a: a.astype(jnp.float64), res.params)
    return model, params, x, y


def test_nearest_other_class_matches_brute_force(net):
    _, _, x, y = net
    ref_x, ref_y = x[::2], y[::2]
    idx, d_other, d_same = nearest_other_class(x, y, ref_x, ref_y)
    xn, yn, rx, ry = map(np.asarray, (x, y, ref_x, ref_y))
    dist = np.linalg.norm(xn[:, None, :] - rx[None, :, :], axis=2)
    other = np.where(yn[:, None] != ry[None, :], dist, np.inf)
    same = np.where(yn[:, None] == ry[None, :], dist, np.inf)
    np.testing.assert_array_equal(np.asarray(idx), other.argmin(1))
    np.testing.assert_allclose(np.asarray(d_other), other.min(1), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(d_same), same.min(1), rtol=1e-12, atol=0)
    # Reference points themselves: distance to the same class is exactly 0 (recomputed from differences).
    _, _, d0 = nearest_other_class(ref_x, ref_y, ref_x, ref_y)
    assert np.all(np.asarray(d0) == 0.0)


def test_sandwich_and_optimal_radius(net):
    model, params, x, y = net
    r = robustness(model.apply, params, x, y, layers=mlp_layers(params))
    predicted = np.asarray(jnp.argmax(model.apply(params, x), axis=1))
    np.testing.assert_array_equal(np.asarray(r.predicted), predicted)
    ok = predicted == np.asarray(y)
    assert ok.sum() >= M // 2
    lower, upper = np.asarray(r.lower), np.asarray(r.upper)
    # The sandwich on every correctly classified sample; misclassified points have lower bound 0.
    assert np.all(np.isfinite(upper[ok])) and np.all(lower[ok] > 0)
    assert np.all(lower <= upper * (1 + 1e-12))
    assert np.all(lower[~ok] == 0)
    # The witness is real: it flips the label and has the reported norm.
    flipped = np.asarray(jnp.argmax(model.apply(params, x + r.delta), axis=1))
    assert np.all(flipped[ok] != np.asarray(y)[ok])
    np.testing.assert_allclose(np.linalg.norm(np.asarray(r.delta), axis=1)[ok], upper[ok], rtol=1e-12)
    # At reference points the optimal radius is half the distance to the nearest other-class point.
    xn, yn = np.asarray(x), np.asarray(y)
    dist = np.linalg.norm(xn[:, None] - xn[None], axis=2)
    half = np.where(yn[:, None] != yn[None], dist, np.inf).min(1) / 2
    np.testing.assert_allclose(np.asarray(r.optimal), half, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(r.upper_ratio), upper / half, rtol=1e-12)
    # Without layers there is no certificate.
    r0 = robustness(model.apply, params, x, y)
    assert np.all(np.asarray(r0.lower) == 0)
    np.testing.assert_allclose(np.asarray(r0.upper), upper, rtol=1e-12)


def test_compression_is_the_path_mean_abs_cos(net):
    model, params, x, y = net
    r = robustness(model.apply, params, x, y, nodes=16)
    i = 0
    j = int(r.nearest[i])

    def g(z):
        f = model.apply(params, z)
        return f[int(y[i])] - f[int(y[j])]

    pi = F.path_integral(g, x[i], x[j], 16)
    assert float(r.compression[i]) == pytest.approx(float(pi.mean_abs_cos), rel=1e-10)
    assert np.all((np.asarray(r.compression) >= 0) & (np.asarray(r.compression) <= 1 + 1e-12))


def test_path_compression_is_robustness_compression_alone(net):
    model, params, x, y = net
    r = robustness(model.apply, params, x[:6], y[:6], reference=(x, y), nodes=16)
    got = F.path_compression(model.apply, params, x[:6], y[:6], reference=(x, y), nodes=16)
    np.testing.assert_allclose(np.asarray(got), np.asarray(r.compression), rtol=1e-12)  # one program vs another: ulps
    with pytest.raises(ValueError, match="reference"):
        F.path_compression(model.apply, params, x, y, reference=(x[:, :3], y))
    with pytest.raises(ValueError, match="nodes"):
        F.path_compression(model.apply, params, x, y, nodes=0)


def test_test_points_against_a_reference_set(net):
    model, params, x, y = net
    r = robustness(model.apply, params, x[:5], y[:5], reference=(x[5:], y[5:]))
    _, d_other, d_same = nearest_other_class(x[:5], y[:5], x[5:], y[5:])
    np.testing.assert_allclose(np.asarray(r.optimal), np.maximum(np.asarray(d_other - d_same), 0) / 2, rtol=1e-12)


def test_bad_input(net):
    model, params, x, y = net
    with pytest.raises(TypeError, match="y"):
        robustness(model.apply, params, x, y.astype(jnp.float64))
    with pytest.raises(ValueError, match="y"):
        robustness(model.apply, params, x, y[:3])
    with pytest.raises(ValueError, match="certify"):
        robustness(model.apply, params, x, y, certify="exact")
    with pytest.raises(ValueError, match="reference"):
        robustness(model.apply, params, x, y, reference=(x[:, :3], y))
    with pytest.raises(ValueError, match="nodes"):
        robustness(model.apply, params, x, y, nodes=0)


def test_measure_nets_replicates_use_their_own_data():
    # proofs_check's real-data claims give every network its own training set and points (independent replicates).
    from proofs_check._robust import measure_nets

    key = jax.random.key(5)
    xs = jax.random.normal(key, (3, 12, 4), jnp.float64)  # three training sets of 12 points in R^4
    ys = jnp.tile(jnp.arange(12) % 3, (3, 1))
    idx = jnp.array([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]])
    tc = F.TrainConfig(steps=100, learning_rate=1e-2)
    model = F.relu_mlp(1, 16, 3)
    out = measure_nets(model, (xs, ys), idx, key, 3, tc, batch=2)
    assert out["lower"].shape == (3, 4) and out["accuracy"].shape == (3,)
    for i in range(3):
        # The optimal radius is each replicate's own geometry: half the gap to its own nearest other-class point.
        _, d_other, d_same = nearest_other_class(xs[i, idx[i]], ys[i, idx[i]], xs[i], ys[i])
        np.testing.assert_allclose(out["optimal"][i], np.maximum(d_other - d_same, 0) / 2, rtol=1e-12)
    ok = out["correct"].astype(bool) & np.isfinite(out["upper"])
    assert np.all(out["lower"][ok] <= out["upper"][ok] * (1 + 1e-9))
    with pytest.raises(ValueError, match="per-network data"):
        measure_nets(model, (xs, ys), idx[:2], key, 3, tc)
    with pytest.raises(ValueError, match="eval_idx must be"):
        measure_nets(model, (xs, ys), idx[0], key, 3, tc)


def test_attack_key_must_be_a_key():
    import jax as _jax
    import jax.numpy as _jnp
    import pytest as _pytest

    import fcjax as _F

    x = _F.gaussian_points(_jax.random.key(0), 4).T
    model = _F.relu_mlp(depth=1, width=8, classes=4)
    params = model.init(_jax.random.key(1), x[:1])
    with _pytest.raises((TypeError, ValueError), match="key"):
        _F.robustness(model.apply, params, x, _jnp.arange(4), attack_key=3)


def test_segment_fallback_replaces_only_misses_of_fitting_nets():
    from proofs_check._robust import with_segment_fallback

    inf = np.inf
    out = {"upper": np.array([[1.0, inf], [inf, 2.0]]), "optimal": np.array([[3.0, 4.0], [5.0, 6.0]]),
           "correct": np.array([[True, True], [True, True]]), "accuracy": np.array([1.0, 0.9])}
    got, n = with_segment_fallback(out)
    # net 0 fits: its miss becomes the distance to the nearest other-class point (2 x optimal); net 1 does not fit
    np.testing.assert_array_equal(got["upper"], [[1.0, 8.0], [inf, 2.0]])
    assert n == 1 and np.isinf(out["upper"][0, 1])  # the input is not modified
