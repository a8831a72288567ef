"""local_errors.py: local-error vs back-propagation training, no gradient across layers, fixed readouts, vmap."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fcjax as F
from fcjax import jiang2021 as JZ

CFG = JZ.LocalErrorConfig(widths=(16, 12), classes=3, activation="relu", steps=120, learning_rate=0.02,
                         batch_size=None, mode="local", log_every=10)
BP = dataclasses.replace(CFG, mode="backprop")

train = jax.jit(JZ.train_local, static_argnums=3)
train_many = jax.jit(jax.vmap(JZ.train_local, in_axes=(0, None, None, None)), static_argnums=3)


def _blobs(key, m=60, d=4, k=3):
    """``k`` well-separated Gaussian blobs (centres 4 apart on the axes)."""
    y = jnp.arange(m) % k
    centres = 4.0 * jnp.eye(k, d)
    return centres[y] + 0.5 * jax.random.normal(key, (m, d)), y


@pytest.fixture(scope="module")
def data():
    return _blobs(jax.random.key(7))


@pytest.mark.parametrize("config", [CFG, BP], ids=["local", "backprop"])
def test_tiny_run_learns_separable_data(data, config):
    x, y = data
    res = train(jax.random.key(1), x, y, config)
    assert res.accuracies.shape == ((2,) if config.mode == "local" else (1,))
    assert np.all(np.asarray(res.accuracies) >= 0.95), res.accuracies
    assert res.loss_curve.shape == (config.steps // config.log_every,)
    assert float(res.loss) < float(res.loss_curve[0])
    # The reported accuracies are those of layer_logits on the training data.
    for acc, z in zip(res.accuracies, JZ.layer_logits(res.params, res.readouts, x, config), strict=True):
        assert float(acc) == pytest.approx(float(jnp.mean(jnp.argmax(z, axis=1) == y)), abs=1e-12)


loss_grad = jax.jit(jax.grad(JZ.local_loss), static_argnums=4)


@jax.jit
def _own_grad(params, readouts, x, y):
    """The gradient of layer 1's local loss alone (local mode)."""
    return jax.grad(lambda p: F.cross_entropy(JZ.layer_logits(p, readouts, x, CFG)[0], y))(params)


def _layer0_grad(params, readouts, x, y, config):
    return loss_grad(params, readouts, x, y, config)["params"]["dense_0"]


@pytest.mark.parametrize("config", [CFG, BP], ids=["local", "backprop"])
def test_gradient_crosses_layers_only_in_backprop(data, config):
    x, y = data
    key = jax.random.key(3)
    params = JZ.local_error_mlp(config).init(key, x[:1])
    readouts = JZ.fixed_readouts(jax.random.fold_in(key, 1), config, x.dtype)
    perturbed = jax.tree_util.tree_map_with_path(
        lambda path, a: a + 0.3 if "dense_1" in jax.tree_util.keystr(path) else a, params)
    g, g2 = _layer0_grad(params, readouts, x, y, config), _layer0_grad(perturbed, readouts, x, y, config)
    diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g2), strict=True))
    if config.mode == "local":
        assert diff == 0.0  # layer 2 cannot reach layer 1's gradient at all
        # ... which is the gradient of layer 1's own local loss alone.
        own = _own_grad(params, readouts, x, y)
        for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(own["params"]["dense_0"]), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    else:
        assert diff > 1e-3


def test_input_gradients_flow_through_every_layer(data):
    # The stop-gradient belongs to the training loss only: an attack on the last local classifier sees all layers.
    x, y = data
    res = train(jax.random.key(1), x, y, CFG)
    fn = JZ.LayerClassifier(CFG, layer=-1)
    # Compared and hashed by value, so equal classifiers share the attacks' compiled programs.
    assert fn == JZ.LayerClassifier(dataclasses.replace(CFG), layer=-1) and hash(fn) == hash(JZ.LayerClassifier(CFG))
    g = jax.grad(lambda z: F.cross_entropy(fn((res.params, res.readouts), z), y))(x)
    assert float(jnp.max(jnp.abs(g))) > 0


def test_readouts_are_fixed_and_not_parameters(data):
    x, y = data
    key = jax.random.key(5)
    res = train(key, x, y, CFG)
    drawn = JZ.fixed_readouts(jax.random.fold_in(key, 1), CFG, x.dtype)
    for got, want, width in zip(res.readouts, drawn, CFG.widths, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)  # drawn inside jit vs eagerly: last ulp
        assert got.shape == (width, CFG.classes)
    assert set(res.params["params"]) == {"dense_0", "dense_1"}
    assert JZ.fixed_readouts(key, BP) == ()
    assert set(train(key, x, y, BP).params["params"]) == {"dense_0", "dense_1", "readout"}


def test_readout_variance():
    cfg = dataclasses.replace(CFG, widths=(400,), classes=50, readout_gain=2.0)
    (b,) = JZ.fixed_readouts(jax.random.key(0), cfg, jnp.float64)
    # 20000 draws of N(0, 4/400): the sample variance is within 5 % (about 5 standard errors).
    assert float(jnp.var(b)) == pytest.approx(4.0 / 400, rel=0.05)


def test_vmap_over_keys_and_determinism(data):
    x, y = data
    keys = jax.random.split(jax.random.key(11), 3)
    many = train_many(keys, x, y, CFG)
    w = np.asarray(many.params["params"]["dense_0"]["kernel"])
    assert w.shape[0] == 3 and many.accuracies.shape == (3, 2)
    assert not np.allclose(w[0], w[1]) and not np.allclose(w[1], w[2])
    assert not np.allclose(many.readouts[0][0], many.readouts[0][1])
    one = train(keys[1], x, y, CFG)
    np.testing.assert_allclose(one.params["params"]["dense_0"]["kernel"], w[1], rtol=1e-10, atol=1e-12)
    again = train(keys[1], x, y, CFG)
    for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(a, b)


def test_representations_shapes_and_minibatches(data):
    x, y = data
    cfg = dataclasses.replace(CFG, batch_size=16, steps=20, activation="tanh")
    res = train(jax.random.key(2), x, y, cfg)
    hs = JZ.representations(res.params, x, cfg)
    assert [h.shape for h in hs] == [(60, 16), (60, 12)]
    assert float(jnp.max(jnp.abs(hs[1]))) <= 1.0  # tanh
    np.testing.assert_allclose(hs[0] @ res.readouts[0], JZ.layer_logits(res.params, res.readouts, x, cfg)[0])


BAD = {
    "widths list": (lambda: JZ.LocalErrorConfig(widths=[4]), TypeError, r"^widths must be a non-empty tuple"),
    "widths empty": (lambda: JZ.LocalErrorConfig(widths=()), TypeError, r"^widths must be a non-empty tuple"),
    "width 0": (lambda: JZ.LocalErrorConfig(widths=(4, 0)), ValueError, r"^widths\[1\] must be >= 1"),
    "classes": (lambda: JZ.LocalErrorConfig(classes=1), ValueError, r"^classes must be >= 2"),
    "activation": (lambda: JZ.LocalErrorConfig(activation="gelu"), ValueError, r"^activation must be one of"),
    "mode": (lambda: JZ.LocalErrorConfig(mode="layerwise"), ValueError, r"^mode must be one of"),
    "steps": (lambda: JZ.LocalErrorConfig(steps=0), ValueError, r"^steps must be >= 1"),
    "lr": (lambda: JZ.LocalErrorConfig(learning_rate=0.0), ValueError, r"^learning_rate must be > 0"),
    "batch": (lambda: JZ.LocalErrorConfig(batch_size=2.5), TypeError, r"^batch_size must be an integer"),
    "gain": (lambda: JZ.LocalErrorConfig(readout_gain=-1.0), ValueError, r"^readout_gain must be > 0"),
    "config": (lambda: JZ.train_local(jax.random.key(0), jnp.ones((3, 2)), jnp.zeros(3, int), {}), TypeError,
               r"^config must be a LocalErrorConfig"),
    "key": (lambda: JZ.train_local(0, jnp.ones((3, 2)), jnp.zeros(3, int), CFG), TypeError, r"^key must be a JAX PRNG"),
    "layer": (lambda: JZ.LayerClassifier(CFG, layer=2), ValueError, r"^layer must index one of the 2 classifiers"),
    "layer bp": (lambda: JZ.LayerClassifier(BP, layer=1), ValueError, r"^layer must index one of the 1 classifiers"),
    "layer float": (lambda: JZ.LayerClassifier(CFG, layer=1.0), TypeError, r"^layer must be an integer"),
    "x 1-d": (lambda: JZ.train_local(jax.random.key(0), jnp.ones(3), jnp.zeros(3, int), CFG), ValueError,
              r"^x must have 2 dimensions"),
    "y float": (lambda: JZ.train_local(jax.random.key(0), jnp.ones((3, 2)), jnp.zeros(3), CFG), TypeError,
                r"^y must have an integer dtype"),
    "y shape": (lambda: JZ.train_local(jax.random.key(0), jnp.ones((3, 2)), jnp.zeros(4, int), CFG), ValueError,
                r"^y must have shape \(3,\)"),
    "y range": (lambda: JZ.train_local(jax.random.key(0), jnp.ones((3, 2)), jnp.array([0, 1, 3]), CFG), ValueError,
                r"^y must hold class indices in \[0, 3\)"),
}


@pytest.mark.parametrize(("call", "exc", "match"), BAD.values(), ids=BAD.keys())
def test_bad_inputs_raise(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_snapshots_are_the_runs_of_those_lengths(data):
    """The last snapshot is bit-for-bit the parameters train_local returns for the same key (one code path); earlier
    snapshots are earlier states of that run (a shorter train_local splits its step keys differently, so it is not
    the same run): the training loss falls along them."""
    x, y = data
    cfg = dataclasses.replace(CFG, steps=60, batch_size=16)
    snaps, readouts = jax.jit(JZ.train_local_snapshots, static_argnums=(3, 4))(jax.random.key(3), x, y, cfg,
                                                                            (5, 20, 60))
    full = train(jax.random.key(3), x, y, cfg)
    last = jax.tree.map(lambda a: a[-1], snaps)
    for a, b in zip(jax.tree.leaves(last), jax.tree.leaves(full.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(readouts, full.readouts, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    losses = [float(JZ.local_loss(jax.tree.map(lambda a, i=i: a[i], snaps), readouts, x, y, cfg)) for i in range(3)]
    assert losses[0] > losses[1] > losses[2]  # later snapshots have trained longer
    first = jax.tree.map(lambda a: a[0], snaps)
    assert not np.allclose(np.asarray(jax.tree.leaves(first)[0]), np.asarray(jax.tree.leaves(last)[0]))


@pytest.mark.parametrize(("checkpoints", "exc", "match"), [
    ((), TypeError, r"^checkpoints must be a non-empty tuple"),
    ([5], TypeError, r"^checkpoints must be a non-empty tuple"),
    ((5, 5), ValueError, r"^checkpoints must increase strictly"),
    ((5, 200), ValueError, r"^checkpoints must increase strictly and end at most at config.steps=120"),
    ((0, 5), ValueError, r"^checkpoints\[0\] must be >= 1"),
])
def test_bad_snapshot_checkpoints_raise(data, checkpoints, exc, match):
    with pytest.raises(exc, match=match):
        JZ.train_local_snapshots(jax.random.key(0), *data, CFG, checkpoints)
