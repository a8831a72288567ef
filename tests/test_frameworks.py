"""Models from Flax NNX and Equinox through fit, the certificates and robustness; hashable logits functions."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
import pytest
from flax import nnx

import fcjax
from fcjax import attacks
from fcjax.frameworks import as_static

D, H, K = 6, 16, 3


class Net(nnx.Module):
    def __init__(self, rngs, act=jax.nn.relu):
        self.hidden = nnx.Linear(D, H, rngs=rngs)
        self.out = nnx.Linear(H, K, rngs=rngs)
        self.act = act

    def __call__(self, x):
        return self.out(self.act(self.hidden(x)))


@pytest.fixture(scope="module")
def data():
    x = jax.random.normal(jax.random.key(0), (24, D))
    return x, jnp.arange(24) % K


CFG = fcjax.TrainConfig(steps=200, learning_rate=1e-2)


def _forward(layers, x):
    return fcjax.certify.logits(layers, x)


def test_nnx_model_trains_certifies_and_attacks(data):
    x, y = data
    net = Net(nnx.Rngs(0))
    fn, params = fcjax.as_model(net)
    before = float(fcjax.cross_entropy(fn(params, x), y))
    res = fcjax.fit(jax.random.key(1), fn, params, x, y, CFG)
    assert float(res.loss) < before
    nnx.update(net, res.params)
    layers = fcjax.mlp_layers(net)
    assert [w.shape for w, _ in layers] == [(H, D), (K, H)]
    assert jnp.allclose(_forward(layers, x), net(x), atol=1e-5)
    r = fcjax.robustness(fn, res.params, x[:6], y[:6], layers=layers)
    assert bool(jnp.all(r.lower <= r.upper + 1e-6))


def test_equinox_model_trains_with_any_optax_optimiser(data):
    x, y = data
    mlp = eqx.nn.MLP(D, K, H, 2, activation=jax.nn.relu, key=jax.random.key(2))
    fn, params = fcjax.as_model(mlp)
    before = float(fcjax.cross_entropy(fn(params, x), y))
    res = fcjax.fit(jax.random.key(1), fn, params, x, y, CFG, optimizer=optax.sgd(0.1))
    assert float(res.loss) < before
    trained = eqx.combine(res.params, eqx.partition(mlp, eqx.is_inexact_array)[1])
    layers = fcjax.mlp_layers(trained, dtype=jnp.float32)
    assert len(layers) == 3 and jnp.allclose(_forward(layers, x), jax.vmap(trained)(x), atol=1e-5)
    r = fcjax.robustness(fn, res.params, x[:6], y[:6], layers=layers)
    assert bool(jnp.all(r.lower <= r.upper + 1e-6))
    adv = fcjax.min_norm(fn, res.params, x[:6], y[:6])
    assert bool(jnp.all(adv.success))


def test_layers_that_are_not_a_relu_chain_are_refused():
    with pytest.raises(ValueError, match="not the chain"):
        fcjax.mlp_layers(eqx.nn.MLP(D, K, H, 1, activation=jnp.tanh, key=jax.random.key(0)))
    with pytest.raises(ValueError, match="not the chain"):
        fcjax.mlp_layers(Net(nnx.Rngs(0), act=jax.nn.gelu))

    class Crossed(nnx.Module):  # defined out of order: the Linear layers do not chain
        def __init__(self, rngs):
            self.out = nnx.Linear(H, K, rngs=rngs)
            self.hidden = nnx.Linear(D, H, rngs=rngs)

    with pytest.raises(ValueError, match="do not chain"):
        fcjax.mlp_layers(Crossed(nnx.Rngs(0)))


def test_as_model_and_train_errors():
    model = fcjax.relu_mlp(1, 8, K)
    with pytest.raises(ValueError, match="variables"):
        fcjax.as_model(model)
    with pytest.raises(ValueError, match="variables"):
        fcjax.as_model(Net(nnx.Rngs(0)), {"params": {}})
    with pytest.raises(TypeError, match="model"):
        fcjax.as_model(lambda p, x: x)
    with pytest.raises(TypeError, match=r"fcjax\.fit"):
        fcjax.train(jax.random.key(0), Net(nnx.Rngs(0)), jnp.zeros((4, D)), jnp.zeros(4, int), CFG)
    fn, params = fcjax.as_model(Net(nnx.Rngs(0)))
    with pytest.raises(TypeError, match="optimizer"):
        fcjax.fit(jax.random.key(0), fn, params, jnp.zeros((4, D)), jnp.zeros(4, int), CFG, optimizer="adam")
    with pytest.raises(TypeError, match="config"):
        fcjax.fit(jax.random.key(0), fn, params, jnp.zeros((4, D)), jnp.zeros(4, int), {"steps": 3})


def test_fit_is_train_for_linen(data):
    x, y = data
    model = fcjax.relu_mlp(1, 8, K)
    key = jax.random.key(3)
    a = fcjax.train(key, model, x, y, CFG)
    init_key, batch_key = jax.random.split(key)
    b = fcjax.fit(batch_key, model.apply, model.init(init_key, x[:1]), x, y, CFG)
    assert jax.tree.all(jax.tree.map(lambda u, v: bool(jnp.array_equal(u, v)), a.params, b.params))


def test_equal_models_and_fresh_identical_lambdas_do_not_recompile(data):
    x, y = data
    model = fcjax.relu_mlp(1, 8, K)
    params = model.init(jax.random.key(0), x[:1])
    fresh = [lambda p, z: model.apply(p, z) for _ in range(2)]
    fcjax.min_norm(fresh[0], params, x[:4], y[:4], steps=5)
    size = attacks._min_norm._cache_size()
    fcjax.min_norm(fresh[1], params, x[:4], y[:4], steps=5)
    fcjax.min_norm(lambda p, z: model.apply(p, z), params, x[:4], y[:4], steps=5)  # typed anew, same code
    assert attacks._min_norm._cache_size() == size
    net = Net(nnx.Rngs(0))
    assert fcjax.as_model(net)[0] == fcjax.as_model(net)[0]
    mlp = eqx.nn.MLP(D, K, H, 1, key=jax.random.key(0))
    assert hash(fcjax.as_model(mlp)[0]) == hash(fcjax.as_model(mlp)[0])


def test_lambdas_over_different_objects_stay_apart(data):
    # Equal code over other closure objects is another function: no stale compiled program may be reused.
    x, y = data
    model = fcjax.relu_mlp(1, 8, K)
    p0, p1 = (model.init(jax.random.key(i), x[:1]) for i in (0, 1))

    def bound(p):
        return lambda _, z: model.apply(p, z)

    f0, f1 = as_static(bound(p0)), as_static(bound(p1))
    assert f0 != f1 and f0 == as_static(f0)
    a = fcjax.min_norm(bound(p0), p0, x[:4], y[:4], steps=5)
    b = fcjax.min_norm(bound(p1), p0, x[:4], y[:4], steps=5)
    c = fcjax.min_norm(model.apply, p1, x[:4], y[:4], steps=5)
    assert not jnp.array_equal(a.norm, b.norm) and jnp.allclose(b.norm, c.norm)
    with pytest.raises(TypeError, match="logits_fn"):
        as_static(3)
