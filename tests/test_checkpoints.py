"""fcjax.train_checkpoints: the run fcjax.train makes, kept at chosen steps."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fcjax
from fcjax.checkpoints import check_steps


def _data(key, n=12, d=6, k=3):
    kx, ky = jax.random.split(key)
    return jax.random.normal(kx, (n, d)), jax.random.randint(ky, (n,), 0, k)


def _leaves_equal(a, b, rtol=0.0):
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=rtol, atol=0.0)


def test_last_checkpoint_is_train_and_first_is_init(key):
    x, y = _data(key)
    model = fcjax.relu_mlp(depth=1, width=16, classes=3)
    cfg = fcjax.TrainConfig(steps=20, learning_rate=1e-2, batch_size=4)  # mini-batches: the per-step keys matter
    ck = fcjax.train_checkpoints(jax.random.fold_in(key, 1), model, x, y, cfg, steps=(0, 3, 20))
    ref = fcjax.train(jax.random.fold_in(key, 1), model, x, y, cfg)
    init = model.init(jax.random.split(jax.random.fold_in(key, 1))[0], x[:1])
    # Same step function on the same keys, scanned in segments instead of at once: float32 rounding may differ by
    # compilation, not by more than a few ulps after 20 Adam steps.
    _leaves_equal(jax.tree.map(lambda a: a[-1], ck.params), ref.params, rtol=1e-5)
    _leaves_equal(jax.tree.map(lambda a: a[0], ck.params), init)
    np.testing.assert_allclose(ck.accuracy[-1], ref.accuracy, rtol=1e-6)
    assert ck.steps.tolist() == [0, 3, 20]
    # the middle checkpoint is neither end (training moved the weights)
    mid, end = (jax.tree.leaves(jax.tree.map(lambda a, i=i: a[i], ck.params))[0] for i in (1, 2))
    assert not np.allclose(mid, end) and not np.allclose(mid, jax.tree.leaves(init)[0])


def test_full_batch_checkpoint_equals_a_shorter_run(key):
    # Full-batch Adam draws nothing: training s steps is the first s steps of a longer run.
    x, y = _data(key)
    model = fcjax.relu_mlp(depth=2, width=8, classes=3)
    ck = fcjax.train_checkpoints(key, model, x, y, fcjax.TrainConfig(steps=15, learning_rate=1e-2), steps=(7, 15))
    short = fcjax.train(key, model, x, y, fcjax.TrainConfig(steps=7, learning_rate=1e-2))
    _leaves_equal(jax.tree.map(lambda a: a[0], ck.params), short.params, rtol=1e-5)
    logits = model.apply(jax.tree.map(lambda a: a[0], ck.params), x)
    np.testing.assert_allclose(ck.accuracy[0], jnp.mean(jnp.argmax(logits, -1) == y), rtol=1e-6)


def test_vmaps_over_networks(key):
    x, y = _data(key)
    model = fcjax.relu_mlp(depth=1, width=8, classes=3)
    cfg = fcjax.TrainConfig(steps=10, learning_rate=1e-2)
    keys = jax.random.split(key, 3)
    many = jax.jit(jax.vmap(lambda k: fcjax.train_checkpoints(k, model, x, y, cfg, steps=(0, 10))))(keys)
    assert many.accuracy.shape == (3, 2)
    one = fcjax.train_checkpoints(keys[2], model, x, y, cfg, steps=(0, 10))
    _leaves_equal(jax.tree.map(lambda a: a[2], many.params), one.params, rtol=1e-5)


@pytest.mark.parametrize(("steps", "error"), [
    ((), TypeError), ((3, 3), ValueError), ((5, 2), ValueError), ((-1, 4), ValueError), ((0, 11), ValueError),
    ((True, 4), TypeError), ("12", TypeError), ((1.0, 4), TypeError), (7, TypeError),
])
def test_bad_steps(steps, error):
    with pytest.raises(error, match="steps"):
        check_steps(steps, 10)


def test_bad_config_and_model(key):
    x, y = _data(key)
    model = fcjax.relu_mlp(depth=1, width=8, classes=3)
    with pytest.raises(ValueError, match="stop_at_accuracy"):
        fcjax.train_checkpoints(key, model, x, y, fcjax.TrainConfig(steps=10, stop_at_accuracy=1.0), steps=(0, 10))
    with pytest.raises(TypeError, match="model"):
        fcjax.train_checkpoints(key, object(), x, y, fcjax.TrainConfig(steps=10), steps=(0, 10))
    with pytest.raises(TypeError, match="config"):
        fcjax.fit_checkpoints(key, model.apply, {}, x, y, {"steps": 10}, steps=(0, 10))
