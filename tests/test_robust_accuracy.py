"""robust_accuracy.py: accuracy under Gaussian noise and FGSM against closed forms for linear classifiers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

import fcjax as F
from fcjax import jiang2021 as JZ


def affine(p, x):
    return x @ p[0].T + p[1][None, :]


def _problem(key, n=50, d=6, k=2):
    """A random affine classifier and labelled points it gets partly right."""
    kw, kx, ky = jax.random.split(key, 3)
    w, b = jax.random.normal(kw, (k, d)), jnp.zeros(k)
    x = jax.random.normal(kx, (n, d))
    y = jnp.where(jax.random.uniform(ky, (n,)) < 0.8, jnp.argmax(affine((w, b), x), axis=1), 0)
    return (w, b), x, y


def _clean(params, x, y):
    return float(jnp.mean((jnp.argmax(affine(params, x), axis=1) == y).astype(jnp.float64)))


@pytest.mark.parametrize("k", [2, 4])
def test_zero_strength_gives_clean_accuracy(key, k):
    params, x, y = _problem(key, k=k)
    clean = _clean(params, x, y)
    assert 0 < clean < 1
    noise = F.noise_accuracy(affine, params, x, y, [0.0, 0.5, 3.0], jax.random.fold_in(key, 1), draws=3)
    adv = F.fgsm_accuracy(affine, params, x, y, jnp.array([0.0, 0.1, 1.0]))
    assert noise.shape == adv.shape == (3,)
    assert float(noise[0]) == clean and float(adv[0]) == clean
    for acc in (noise, adv):
        assert np.all((np.asarray(acc) >= 0) & (np.asarray(acc) <= 1))
    # Three draws of 50 points: accuracies are multiples of 1/150.
    np.testing.assert_allclose(np.asarray(noise) * 150, np.round(np.asarray(noise) * 150), atol=1e-9)


def test_fgsm_on_a_binary_linear_model_matches_the_closed_form(key):
    # Two classes: the sign step lowers the margin z_y − z_other by exactly ε·||w_y − w_other||_1, so the accuracy
    # at ε is the fraction of margins above that, and it cannot rise with ε.
    params, x, y = _problem(key, n=200, k=2)
    eps = jnp.linspace(0.0, 1.0, 41)
    acc = np.asarray(F.fgsm_accuracy(affine, params, x, y, eps))
    z = np.asarray(affine(params, x))
    yy = np.asarray(y)
    margin = z[np.arange(200), yy] - z[np.arange(200), 1 - yy]
    l1 = np.abs(np.asarray(params[0][0] - params[0][1])).sum()
    ref = [(margin - e * l1 > 0).mean() for e in np.asarray(eps)]
    np.testing.assert_allclose(acc, ref, rtol=0, atol=1e-12)
    assert np.all(np.diff(acc) <= 0)
    assert acc[-1] < acc[0]


def test_noise_on_a_binary_linear_model_matches_the_normal_law(key):
    # x + σξ is correct with probability Φ(margin / (σ·||w_y − w_other||_2)).
    params, x, y = _problem(key, n=40, k=2)
    sigmas = [0.3, 1.0, 3.0]
    acc = np.asarray(F.noise_accuracy(affine, params, x, y, sigmas, jax.random.fold_in(key, 2), draws=250))
    z, yy = np.asarray(affine(params, x)), np.asarray(y)
    margin = z[np.arange(40), yy] - z[np.arange(40), 1 - yy]
    l2 = np.linalg.norm(np.asarray(params[0][0] - params[0][1]))
    ref = np.array([st.norm.cdf(margin / (s * l2)).mean() for s in sigmas])
    # 10000 Bernoulli draws per σ: standard error <= 0.005; 5 of them.
    np.testing.assert_allclose(acc, ref, rtol=0, atol=0.025)


def test_same_key_same_noise_accuracy_and_vmap_over_networks(key):
    params, x, y = _problem(key, k=3)
    nk = jax.random.fold_in(key, 3)
    a = F.noise_accuracy(affine, params, x, y, [1.0, 2.0], nk)
    np.testing.assert_array_equal(a, F.noise_accuracy(affine, params, x, y, [1.0, 2.0], nk))
    batch = jax.tree.map(lambda p: jnp.stack([p, 2 * p, -p]), params)
    many_fgsm = jax.vmap(lambda p: F.fgsm_accuracy(affine, p, x, y, [0.0, 0.3]))(batch)
    many_noise = jax.vmap(lambda p: F.noise_accuracy(affine, p, x, y, [1.0, 2.0], nk))(batch)
    assert many_fgsm.shape == many_noise.shape == (3, 2)
    for i in range(3):
        p = jax.tree.map(lambda t, i=i: t[i], batch)
        np.testing.assert_allclose(many_fgsm[i], F.fgsm_accuracy(affine, p, x, y, [0.0, 0.3]), atol=1e-12)
        np.testing.assert_allclose(many_noise[i], F.noise_accuracy(affine, p, x, y, [1.0, 2.0], nk), atol=1e-12)


def test_clip_keeps_inputs_in_the_box(key):
    params, x, y = _problem(key, k=2)
    x = jax.nn.sigmoid(x)  # inside (0, 1)
    box = F.fgsm_accuracy(affine, params, x, y, [0.0, 10.0], clip=(0.0, 1.0))
    # Past the box, a huge ε lands every coordinate on a face: x + ε·sign(g) clipped is x's corner of the box.
    g_sign = F.fgsm(affine, params, x, y, 1.0).delta
    corner = jnp.clip(x + 10.0 * g_sign, 0.0, 1.0)
    assert float(box[1]) == _clean(params, corner, y)
    assert float(box[0]) == _clean(params, x, y)


def test_attacks_through_a_local_classifier(key):
    cfg = JZ.LocalErrorConfig(widths=(8, 8), classes=3, steps=1, batch_size=None)
    x = jax.random.normal(key, (12, 5))
    y = jnp.arange(12) % 3
    params = JZ.local_error_mlp(cfg).init(key, x[:1])
    readouts = JZ.fixed_readouts(jax.random.fold_in(key, 1), cfg, x.dtype)
    clf = JZ.LayerClassifier(cfg, layer=1)
    clean = float(jnp.mean((jnp.argmax(JZ.layer_logits(params, readouts, x, cfg)[1], axis=1) == y).astype(float)))
    acc = F.fgsm_accuracy(clf, (params, readouts), x, y, [0.0, 0.5])
    assert float(acc[0]) == clean
    assert float(acc[1]) <= clean


_P, _X, _Y = (jnp.eye(2, 3), jnp.zeros(2)), jnp.ones((4, 3)), jnp.zeros(4, int)
K = jax.random.key(0)
BAD = {
    "sigmas negative": (lambda: F.noise_accuracy(affine, _P, _X, _Y, [0.1, -1.0], K), ValueError,
                        r"^sigmas must be >= 0"),
    "sigmas 2-d": (lambda: F.noise_accuracy(affine, _P, _X, _Y, jnp.ones((2, 2)), K), ValueError,
                   r"^sigmas must be a non-empty 1-d grid"),
    "sigmas empty": (lambda: F.noise_accuracy(affine, _P, _X, _Y, [], K), ValueError, r"^sigmas must be a non-empty"),
    "sigmas nan": (lambda: F.noise_accuracy(affine, _P, _X, _Y, [jnp.nan], K), ValueError, r"^sigmas must be finite"),
    "sigmas str": (lambda: F.noise_accuracy(affine, _P, _X, _Y, ["a"], K), TypeError, r"^sigmas\[0\] must be a real"),
    "sigmas scalar": (lambda: F.noise_accuracy(affine, _P, _X, _Y, 0.5, K), TypeError, r"^sigmas must be a 1-d"),
    "key": (lambda: F.noise_accuracy(affine, _P, _X, _Y, [0.1], 0), TypeError, r"^key must be a JAX PRNG key"),
    "draws": (lambda: F.noise_accuracy(affine, _P, _X, _Y, [0.1], K, draws=0), ValueError, r"^draws must be >= 1"),
    "clip": (lambda: F.noise_accuracy(affine, _P, _X, _Y, [0.1], K, clip=(1.0, 0.0)), ValueError,
             r"^clip must satisfy lo < hi"),
    "x outside clip": (lambda: F.fgsm_accuracy(affine, _P, _X, _Y, [0.1], clip=(0.0, 0.5)), ValueError,
                       r"^x must lie inside clip"),
    "eps negative": (lambda: F.fgsm_accuracy(affine, _P, _X, _Y, [-0.1]), ValueError, r"^epsilons must be >= 0"),
    "eps bool": (lambda: F.fgsm_accuracy(affine, _P, _X, _Y, [True]), TypeError, r"^epsilons\[0\] must be a real"),
    "norm": (lambda: F.fgsm_accuracy(affine, _P, _X, _Y, [0.1], norm="l1"), ValueError, r"^norm must be one of"),
    "labels": (lambda: F.fgsm_accuracy(affine, _P, _X, _Y + 5, [0.1]), ValueError, r"^y must hold class indices"),
    "logits_fn": (lambda: F.fgsm_accuracy(None, _P, _X, _Y, [0.1]), TypeError, r"^logits_fn must be callable"),
}


@pytest.mark.parametrize(("call", "exc", "match"), BAD.values(), ids=BAD.keys())
def test_bad_inputs_raise(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
