"""models.py (He initialisation, ConvNet, protocol_net) and the penalties of train.py (Simon-Gabriel et al. 2019).

Oracles: shapes and the single-input/batch agreement for every architecture; the He variances 2/fan_in and
1/fan_in within a sampling tolerance; the module attributes the protocol sets (dilation = side // base_side); the
average-pooling vs strided gradient gap at initialisation (notes S6); the training loss written out by hand at the
first step, and the drop of the input-gradient norm that the gradient penalty buys (notes S5). Tiny shapes.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fcjax as F
import fcjax.gradients as G
from fcjax.models import ARCHITECTURES, HEADS, MLP, ConvNet, he_mlp, protocol_net

IMAGE = (8, 8, 3)
D = math.prod(IMAGE)
CLASSES = 5


def _small(arch: str, **kw) -> nn.Module:
    return protocol_net(arch, IMAGE, CLASSES, channels=4, layers=3, width=16, **kw)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_protocol_net_maps_flat_inputs_to_logits(arch):
    net = _small(arch)
    x = jax.random.normal(jax.random.key(1), (3, D))
    params = jax.jit(net.init)(jax.random.key(0), x[:1])
    apply = jax.jit(net.apply)
    out = apply(params, x)
    assert out.shape == (3, CLASSES)
    assert np.all(np.isfinite(np.asarray(out)))
    single = apply(params, x[0])  # one unbatched (d,) input
    assert single.shape == (CLASSES,)
    np.testing.assert_allclose(np.asarray(single), np.asarray(out[0]), rtol=1e-10, atol=1e-12)
    assert not np.allclose(np.asarray(out[0]), np.asarray(out[1]))  # the input is really used
    names = set(params["params"])
    if arch == "mlp":
        assert isinstance(net, MLP) and net.hidden == (16, 16) and net.activation is nn.relu
        assert names == {"dense_0", "dense_1", "readout"}
    else:
        assert isinstance(net, ConvNet)
        assert net.pool == {"strided": "stride", "residual": "stride", "avgpool": "avgpool"}[arch]
        assert net.residual == (arch == "residual") and net.poolings == (1, 2)
        res = {"res_1a", "res_1b", "res_2a", "res_2b"} if arch == "residual" else set()
        assert names == {"conv_0", "conv_1", "conv_2", "readout"} | res
        # Two subsamplings by 2: an 8x8 image ends as a 2x2 plane of 4 channels under the "fc" head.
        assert params["params"]["readout"]["kernel"].shape == (2 * 2 * 4, CLASSES)


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("pool", ["stride", "avgpool", "maxpool"])
def test_conv_net_heads_and_pools(head, pool):
    net = ConvNet(IMAGE, CLASSES, channels=4, layers=3, poolings=(1, 2), pool=pool, head=head)
    x = jax.random.normal(jax.random.key(2), (2, D))
    assert jax.eval_shape(net.apply, jax.eval_shape(net.init, jax.random.key(3), x[:1]), x).shape == (2, CLASSES)
    params = jax.eval_shape(net.init, jax.random.key(3), x[:1])
    # The global heads read one value per channel; "fc" reads the whole last plane.
    fan_in = 4 if head != "fc" else 2 * 2 * 4
    assert params["params"]["readout"]["kernel"].shape == (fan_in, CLASSES)


def _check_variance(w, fan_in: int, gain2: float) -> None:
    # Sample variance of m i.i.d. N(0, s^2) entries: relative standard deviation sqrt(2/m); allow 5 of them.
    w = np.asarray(w, np.float64).ravel()
    tol = 5 * math.sqrt(2 / w.size)
    assert abs(np.mean(w * w) / (gain2 / fan_in) - 1) < tol, (np.mean(w * w) * fan_in, gain2, tol)


def test_he_mlp_initial_variances():
    d, width, classes = 64, 512, 10
    net = he_mlp(2, width, classes)
    p = jax.jit(net.init)(jax.random.key(4), jnp.zeros((1, d)))["params"]
    _check_variance(p["dense_0"]["kernel"], d, 2.0)  # 32768 entries: tolerance 3.9%
    _check_variance(p["dense_1"]["kernel"], width, 2.0)  # 262144 entries: 1.4%
    _check_variance(p["readout"]["kernel"], width, 1.0)  # 5120 entries: 9.9% (He's 2 would be 100% off)
    for name in ("dense_0", "dense_1", "readout"):
        np.testing.assert_array_equal(np.asarray(p[name]["bias"]), 0.0)
    # The default (LeCun) initialisation is not He's: the first layer's variance is half as large.
    default = jax.jit(MLP(hidden=(width,), classes=classes).init)(jax.random.key(4), jnp.zeros((1, d)))["params"]
    with pytest.raises(AssertionError):
        _check_variance(default["dense_0"]["kernel"], d, 2.0)


def test_conv_net_initial_variances():
    channels = 64
    net = protocol_net("strided", (8, 8, 1), 10, channels=channels, layers=2)
    p = jax.jit(net.init)(jax.random.key(5), jnp.zeros((1, 64)))["params"]
    _check_variance(p["conv_1"]["kernel"], 9 * channels, 2.0)  # 3x3x64x64 = 36864 entries: tolerance 3.7%
    _check_variance(p["readout"]["kernel"], 4 * 4 * channels, 1.0)  # 1024x10 = 10240 entries: 7.0%


@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({"arch": "resnet"}, ValueError, r"^arch must be one of"),
    ({"head": "gap"}, ValueError, r"^head must be one of"),
    ({"image_shape": [16, 16, 1]}, ValueError, r"^image_shape must be \(height, width, channels\)"),
    ({"image_shape": (16, 16)}, ValueError, r"^image_shape must be \(height, width, channels\)"),
    ({"image_shape": (16, 0, 1)}, ValueError, r"^image_shape\[1\] must be >= 1"),
    ({"image_shape": (16.0, 16, 1)}, TypeError, r"^image_shape\[0\] must be an integer"),
    ({"base_side": 5}, ValueError, r"base_side=5"),
    ({"base_side": 32}, ValueError, r"base_side=32"),
    ({"base_side": 0}, ValueError, r"^base_side must be >= 1"),
    ({"classes": 1}, ValueError, r"^classes must be >= 2"),
    ({"layers": 1}, ValueError, r"^layers must be >= 2"),
    ({"channels": 0}, ValueError, r"^channels must be >= 1"),
    ({"arch": "mlp", "width": 0}, ValueError, r"^width must be >= 1"),
])
def test_protocol_net_rejects_bad_arguments(kwargs, exc, match):
    args = {"arch": "strided", "image_shape": (16, 16, 1), "classes": 10} | kwargs
    with pytest.raises(exc, match=match):
        protocol_net(args.pop("arch"), args.pop("image_shape"), args.pop("classes"), **args)


def test_dilation_is_side_over_base_side():
    assert protocol_net("strided", (16, 16, 1), 3, channels=2).dilation == 1
    assert protocol_net("strided", (16, 16, 1), 3, channels=2, base_side=16).dilation == 1
    assert protocol_net("avgpool", (16, 16, 1), 3, channels=2, base_side=8).dilation == 2
    assert protocol_net("residual", (32, 32, 1), 3, channels=2, base_side=8).dilation == 4
    # The dilation reaches the convolutions: same parameters, different function.
    wide = protocol_net("strided", (16, 16, 1), 3, channels=2, layers=2, base_side=4)
    assert wide.dilation == 4
    narrow = wide.clone(dilation=1)
    x = jax.random.normal(jax.random.key(6), (2, 256))
    params = jax.jit(narrow.init)(jax.random.key(7), x[:1])
    assert jax.tree.map(jnp.shape, jax.eval_shape(wide.init, jax.random.key(7), x[:1])) == jax.tree.map(jnp.shape,
                                                                                                      params)
    assert not np.allclose(np.asarray(jax.jit(wide.apply)(params, x)), np.asarray(jax.jit(narrow.apply)(params, x)))


def test_average_pooling_nets_have_smaller_input_gradients_than_strided_at_init():
    # Notes S6: back-propagating through a 2x2 average pool splits each entry in four (l2 down by 2 per pool); a
    # strided convolution does not. 16 He initialisations each, d = 16x16, 3 subsamplings. The ratio of the mean
    # l2 norms was 0.13-0.17 for data/key seeds 0-5 (every single key < 0.25): assert a margin of 3x.
    shape, keys = (16, 16, 1), jax.random.split(jax.random.key(0), 18)
    x = jax.random.normal(keys[-2], (4, 256))
    y = jax.random.randint(keys[-1], (4,), 0, 10)
    norms = {}
    for arch in ("avgpool", "strided"):
        net = protocol_net(arch, shape, 10, channels=4, layers=4)
        norm = jax.jit(lambda k, net=net: jnp.mean(G.lp_norm(G.input_gradients(net.apply, net.init(k, x[:1]), x, y),
                                                             2.0)))
        norms[arch] = np.array([norm(k) for k in keys[:16]])
    assert np.all(norms["avgpool"] < norms["strided"])
    assert norms["avgpool"].mean() / norms["strided"].mean() < 0.5


# ----------------------------------------------------------------------------------------------------------------
# Penalised training
# ----------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({"penalty": "bogus"}, ValueError, r"^penalty must be None or one of \['adv', 'grad', 'pgd'\]"),
    ({"penalty": "Grad"}, ValueError, r"^penalty must be None or one of"),
    ({"penalty_lambda": -0.1}, ValueError, r"^penalty_lambda must be >= 0"),
    ({"penalty_lambda": math.nan}, ValueError, r"^penalty_lambda must be finite"),
    ({"penalty_lambda": "0.1"}, TypeError, r"^penalty_lambda must be a real number"),
    ({"penalty_q": 0.5}, ValueError, r"^penalty_q must be in \[1, inf\]"),
    ({"penalty_q": True}, TypeError, r"^penalty_q must be a real number"),
    ({"penalty": "pgd", "penalty_q": 1.5}, ValueError, r"^penalty_q must be 1 \(l_inf\) or 2 \(l2\) with penalty"),
    ({"pgd_steps": 0}, ValueError, r"^pgd_steps must be >= 1"),
])
def test_train_config_rejects_bad_penalties(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        F.TrainConfig(**kwargs)


def test_train_config_accepts_penalties():
    cfg = F.TrainConfig(penalty="adv", penalty_lambda=0.5, penalty_q=math.inf)
    assert (cfg.penalty, cfg.penalty_lambda, cfg.penalty_q) == ("adv", 0.5, math.inf)


train = jax.jit(F.train, static_argnums=(1, 4))
train_many = jax.jit(jax.vmap(F.train, in_axes=(0, None, None, None, None)), static_argnums=(1, 4))


TINY = MLP(hidden=(8,), classes=3)


@pytest.mark.parametrize(("penalty", "q"), [("grad", 2.0), ("adv", 1.0), ("pgd", 2.0)])
def test_training_loss_is_cross_entropy_plus_the_penalty(penalty, q):
    # The first logged loss is the objective at the initial parameters: CE + penalty(lambda, q), written out here.
    key = jax.random.key(8)
    x = jax.random.normal(jax.random.key(9), (6, 4))
    y = jnp.array([0, 1, 2, 0, 1, 2])
    lam = 0.3
    cfg = F.TrainConfig(steps=1, learning_rate=1e-2, log_every=1, penalty=penalty, penalty_lambda=lam, penalty_q=q,
                        pgd_steps=2)  # not the function's default (7): the config's steps must reach the penalty
    res = train(key, TINY, x, y, cfg)
    extra = {"steps": 2} if penalty == "pgd" else {}

    @jax.jit
    def by_hand(k):
        p0 = TINY.init(jax.random.split(k)[0], x[:1])  # train's initialisation
        return (jnp.mean(G.per_sample_loss(TINY.apply, p0, x, y)),
                G.PENALTIES[penalty](TINY.apply, p0, x, y, lam, q, **extra))

    ce, pen = by_hand(key)
    assert float(pen) > 1e-3 * float(ce)  # the penalty is not negligible, so a mis-wired one shows
    np.testing.assert_allclose(float(res.loss_curve[0]), float(ce + pen), rtol=1e-6)


def test_gradient_penalty_training_flattens_the_loss_in_the_inputs():
    # Every input appears twice, once per label: the best fit is p = 1/2 everywhere, which leaves the per-sample
    # input gradients at whatever slope the net has; the penalty drives that slope down. Ratio of the mean
    # ||dL/dx||_1 (penalised / plain) was 0.07-0.19 over 3 keys x 2 data sets x (50, 100 steps) x (lambda 0.1, 1).
    m, d = 16, 8
    x0 = jax.random.normal(jax.random.key(10), (m, d))
    x = jnp.concatenate([x0, x0])
    y = jnp.concatenate([jnp.zeros(m, jnp.int32), jnp.ones(m, jnp.int32)])
    net = MLP(hidden=(16,), classes=2)
    keys = jax.random.split(jax.random.key(0), 3)
    plain = train_many(keys, net, x, y, F.TrainConfig(steps=50, learning_rate=3e-2))
    penal = train_many(keys, net, x, y, F.TrainConfig(steps=50, learning_rate=3e-2, penalty="grad",
                                                      penalty_lambda=0.1))

    @jax.vmap
    def l1(params):
        return jnp.mean(G.lp_norm(G.input_gradients(net.apply, params, x, y), 1.0))

    ratio = np.asarray(l1(penal.params)) / np.asarray(l1(plain.params))
    assert np.all(ratio < 0.5), ratio
