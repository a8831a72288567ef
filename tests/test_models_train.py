"""models.py and train.py: collapsed affine maps of Flax linear nets, cross-entropy, and vmapped training."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sp

import fcjax as F

EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)

train = jax.jit(F.train, static_argnums=(1, 4))
train_many = jax.jit(jax.vmap(F.train, in_axes=(0, None, None, None, None)), static_argnums=(1, 4))


@pytest.mark.parametrize("use_bias", [False, True])
def test_linear_net_affine_matches_apply(use_bias):
    d, hidden, k = 6, 5, 4
    model = F.LinearNet(hidden=hidden, classes=k, use_bias=use_bias)
    params = model.init(jax.random.key(0), jnp.zeros((1, d)))
    if use_bias:  # Flax initialises biases to 0: make them non-zero so they are really tested
        params = jax.tree.map(lambda a: a + 0.3 if a.ndim == 1 else a, params)
    w, b = F.linear_net_affine(params)
    assert w.shape == (k, d) and b.shape == (k,)
    xs = jax.random.normal(jax.random.key(1), (7, d))
    out = np.asarray(model.apply(params, xs), np.float64)
    ref = np.asarray(xs, np.float64) @ np.asarray(w, np.float64).T + np.asarray(b, np.float64)
    # float32 parameters: two chained products vs one, each with error <= width * eps32 * |terms|.
    scale = np.abs(np.asarray(xs)).max() * np.abs(np.asarray(w)).sum(axis=1).max() + 1.0
    np.testing.assert_allclose(out, ref, rtol=0, atol=4 * (d + hidden) * EPS32 * scale)
    # The probes are H_2 H_1 composed by hand.
    h1 = np.asarray(params["params"]["hidden"]["kernel"], np.float64)
    h2 = np.asarray(params["params"]["readout"]["kernel"], np.float64)
    np.testing.assert_allclose(np.asarray(w, np.float64), (h1 @ h2).T, rtol=0, atol=4 * hidden * EPS32 * scale)
    # Either form of the parameter tree is accepted.
    w2, _ = F.linear_net_affine(params["params"])
    np.testing.assert_array_equal(np.asarray(w2), np.asarray(w))


def test_mlp_identity_activation_collapses():
    model = F.MLP(hidden=(7, 5), classes=3, activation=lambda a: a)
    params = model.init(jax.random.key(2), jnp.zeros((1, 4)))["params"]
    layers = [(params[n]["kernel"].T, params[n]["bias"]) for n in ("dense_0", "dense_1", "readout")]
    w, b = F.collapse_linear(layers)
    xs = jax.random.normal(jax.random.key(3), (6, 4))
    np.testing.assert_allclose(np.asarray(model.apply({"params": params}, xs)), np.asarray(xs @ w.T + b[None, :]),
                               rtol=0, atol=100 * EPS32)  # O(1) entries, widths <= 7, float32


def test_mlp_uses_its_activation():
    x = jax.random.normal(jax.random.key(4), (3, 4))
    tanh_net = F.MLP(hidden=(8,), classes=2)
    relu_net = F.MLP(hidden=(8,), classes=2, activation=jax.nn.relu)
    params = tanh_net.init(jax.random.key(5), x)
    p = params["params"]
    h = np.asarray(x) @ np.asarray(p["dense_0"]["kernel"]) + np.asarray(p["dense_0"]["bias"])
    for net, act in ((tanh_net, np.tanh), (relu_net, lambda a: np.maximum(a, 0))):
        ref = act(np.asarray(h)) @ np.asarray(p["readout"]["kernel"]) + np.asarray(p["readout"]["bias"])
        np.testing.assert_allclose(np.asarray(net.apply(params, x)), ref, rtol=0, atol=100 * EPS32)


def test_cross_entropy_matches_scipy():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((9, 4)) * 3
    labels = rng.integers(0, 4, 9)
    ref = -np.mean(sp.log_softmax(logits, axis=1)[np.arange(9), labels])
    assert float(F.cross_entropy(jnp.asarray(logits), jnp.asarray(labels))) == pytest.approx(ref, rel=1e-13)


D = 6  # one problem size and one full-batch config for most tests: one compilation of train, shared
CFG = F.TrainConfig(steps=150, learning_rate=3e-2, log_every=10)
CFG_MINI = F.TrainConfig(steps=150, learning_rate=3e-2, batch_size=3, log_every=1)
MODEL = F.LinearNet(hidden=D, classes=D)


def _separable(d: int, seed: int = 1):
    # d Gaussian points in R^d, one per class: invertible X, so a linear net can interpolate them.
    x = jax.random.normal(jax.random.key(seed), (d, d), jnp.float64)
    return x, jnp.arange(d)


def test_train_linear_net_interpolates_separable_points(key):
    d, model, cfg = D, MODEL, CFG
    x, y = _separable(d)
    res = train(key, model, x, y, cfg)
    assert res.loss_curve.shape == (math.ceil(cfg.steps / cfg.log_every),)
    curve = np.asarray(res.loss_curve)
    assert curve[0] == pytest.approx(float(F.cross_entropy(model.apply(model.init(jax.random.split(key)[0], x[:1]), x),
                                                           y)), rel=1e-6)
    assert curve[-1] < 0.1 * curve[0]  # the loss decreases (by far more than an order of magnitude here)
    assert float(res.accuracy) == 1.0  # d points in general position, d classes: separable
    # The reported loss/accuracy are those of the returned parameters.
    logits = model.apply(res.params, x)
    assert float(res.loss) == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-12)
    assert np.array_equal(np.asarray(jnp.argmax(logits, axis=1)), np.arange(d))
    # Every training point is classified correctly, so its exact distance to the trained net's boundary is > 0.
    w, b = F.linear_net_affine(res.params)
    mp = jax.jit(jax.vmap(F.affine_min_perturbation, in_axes=(None, None, 0)))(w.astype(jnp.float64),
                                                                               b.astype(jnp.float64), x)
    assert np.array_equal(np.asarray(mp.label), np.arange(d)) and np.all(np.asarray(mp.distance) > 0)


def test_train_vmap_over_keys_matches_python_loop(key):
    model, cfg = MODEL, CFG
    x, y = _separable(D, seed=2)
    keys = F.trial_keys(key, 3)
    batched = train_many(keys, model, x, y, cfg)
    # Different keys give different initialisations, hence different trained weights.
    init = jax.vmap(lambda k: model.init(jax.random.split(k)[0], x[:1]))(keys)
    k0 = np.asarray(init["params"]["hidden"]["kernel"])
    assert not np.allclose(k0[0], k0[1]) and not np.allclose(k0[1], k0[2])
    assert not np.allclose(np.asarray(batched.loss[0]), np.asarray(batched.loss[1]))
    for n in range(3):
        single = train(keys[n], model, x, y, cfg)
        # Batched and unbatched kernels may sum in another order: float32 parameters after 150 Adam steps (each
        # moving a parameter by <= lr) agree to a few hundred ulps of their O(1) size.
        for a, b in zip(jax.tree.leaves(single.params), jax.tree.leaves(batched.params), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b)[n], rtol=0, atol=1e3 * EPS32)
        assert float(single.loss) == pytest.approx(float(batched.loss[n]), rel=1e-4, abs=1e-6)


def test_train_minibatches(key):
    model, cfg = MODEL, CFG_MINI
    x, y = _separable(D, seed=3)
    res = train(key, model, x, y, cfg)
    curve = np.asarray(res.loss_curve)
    assert curve.shape == (150,)
    # Mini-batch losses are noisy: compare the first and last 20-step averages.
    assert curve[-20:].mean() < 0.5 * curve[:20].mean()
    assert float(res.accuracy) == 1.0
    # A batch as large as the data set is full-batch training (no sampling).
    full = train(key, model, x, y, CFG)
    same = train(key, model, x, y, F.TrainConfig(steps=150, learning_rate=3e-2, batch_size=D, log_every=10))
    np.testing.assert_array_equal(np.asarray(full.loss_curve), np.asarray(same.loss_curve))


def test_train_is_deterministic_given_key():
    x, y = _separable(D, seed=4)
    model, cfg = MODEL, CFG_MINI  # mini-batches: the key drives the initialisation and the batch draws
    a = train(jax.random.key(9), model, x, y, cfg)
    b = train(jax.random.key(9), model, x, y, cfg)
    c = train(jax.random.key(10), model, x, y, cfg)
    np.testing.assert_array_equal(np.asarray(a.loss_curve), np.asarray(b.loss_curve))
    assert not np.array_equal(np.asarray(a.loss_curve), np.asarray(c.loss_curve))


# Early stop at interpolation: a lax.while_loop over blocks of check_every scan steps.
def test_early_stop_equals_training_for_the_steps_it_ran(key):
    model = F.relu_mlp(1, 16, D)
    x, y = _separable(D, seed=5)
    cfg = F.TrainConfig(steps=400, learning_rate=3e-2, batch_size=4, stop_at_accuracy=1.0, check_every=10)
    res = train(key, model, x, y, cfg)
    ran = int(res.steps_run)
    assert float(res.accuracy) == 1.0 and 0 < ran < cfg.steps and ran % cfg.check_every == 0
    curve = np.asarray(res.loss_curve)
    assert np.all(np.isfinite(curve[: ran // cfg.log_every])) and np.all(np.isnan(curve[ran // cfg.log_every:]))
    # Oracle: the same key and the same number of steps without the stop gives the same parameters; one block
    # fewer has not interpolated yet (the stop is at the first check that sees 100%).
    plain = train(key, model, x, y, F.TrainConfig(steps=ran, learning_rate=3e-2, batch_size=4))
    for a, b in zip(jax.tree.leaves(plain.params), jax.tree.leaves(res.params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-6)
    if ran > cfg.check_every:
        early = train(key, model, x, y, F.TrainConfig(steps=ran - cfg.check_every, learning_rate=3e-2, batch_size=4))
        assert float(early.accuracy) < 1.0


def test_early_stop_unreached_runs_every_step_and_vmaps(key):
    model = F.relu_mlp(1, 4, D)
    x, y = _separable(D, seed=6)
    cfg = F.TrainConfig(steps=25, learning_rate=1e-4, stop_at_accuracy=1.0, check_every=10)  # too slow to fit
    full = F.TrainConfig(steps=25, learning_rate=1e-4)
    keys = F.trial_keys(key, 2)
    res = jax.vmap(lambda k: train(k, model, x, y, cfg))(keys)
    np.testing.assert_array_equal(np.asarray(res.steps_run), [25, 25])
    for n in range(2):
        ref = train(keys[n], model, x, y, full)
        for a, b in zip(jax.tree.leaves(ref.params), jax.tree.leaves(res.params), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b)[n], rtol=0, atol=1e-6)


def test_early_stop_bad_config():
    with pytest.raises(ValueError, match="stop_at_accuracy"):
        F.TrainConfig(stop_at_accuracy=1.5)
    with pytest.raises(ValueError, match="check_every"):
        F.TrainConfig(check_every=0)


def test_weight_decay_is_checked():
    import pytest as _pytest

    from fcjax.train import TrainConfig as _TC

    with _pytest.raises(ValueError, match="weight_decay"):
        _TC(weight_decay=-1.0)
    assert _TC(weight_decay=1e-2).weight_decay == 1e-2
