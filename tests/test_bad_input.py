"""The bad inputs issue 15 found accepted (a wrong finite result, a silent NaN, a raw JAX error): each is now a
ValueError or TypeError naming the argument, raised before any tracing."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fcjax as F
from fcjax import jiang2021 as JZ

KEY = jax.random.key(0)
MLP = F.relu_mlp(1, 8, 3)
X = jax.random.normal(KEY, (6, 4))
Y = jnp.array([0, 1, 2, 0, 1, 2])
PARAMS = MLP.init(KEY, X[:1])
CFG = F.TrainConfig(steps=2)
CNN = F.CNN(image_shape=(4, 4, 1), classes=3, features=(2,), hidden=4)
CNN_PARAMS = CNN.init(KEY, jnp.ones((1, 16)))
W, B, V = jnp.eye(3, 4), jnp.zeros(3), jnp.ones(4)



def _no_x64(call):
    def run():
        with jax.enable_x64(False):
            return call()
    return run


CASES = {
    "robustness label -1": (lambda: F.robustness(MLP.apply, PARAMS, X, Y.at[0].set(-1)), ValueError,
                            r"^y must hold class indices in \[0, 3\)"),
    "robustness label k": (lambda: F.robustness(MLP.apply, PARAMS, X, Y.at[0].set(3)), ValueError, r"^y must hold"),
    "robustness reference label": (lambda: F.robustness(MLP.apply, PARAMS, X, Y, reference=(X, Y.at[1].set(7))),
                                   ValueError, r"^reference\[1\] must hold class indices"),
    "lp_norm NaN": (lambda: F.lp_norm(jnp.array([[jnp.nan, 1.0]]), 2), ValueError, r"^v contains non-finite"),
    "lp_norm ints": (lambda: F.lp_norm(jnp.ones((2, 2), int), 2), TypeError, r"^v must have a real floating"),
    "cross_entropy label -1": (lambda: F.cross_entropy(jnp.zeros((2, 3)), jnp.array([0, -1])), ValueError,
                               r"^labels must hold class indices in \[0, 3\)"),
    "cross_entropy label k": (lambda: F.cross_entropy(jnp.zeros((2, 3)), jnp.array([0, 3])), ValueError,
                              r"^labels must hold"),
    "cross_entropy float labels": (lambda: F.cross_entropy(jnp.zeros((2, 3)), jnp.zeros(2)), TypeError,
                                   r"^labels must have an integer dtype"),
    "cross_entropy shape": (lambda: F.cross_entropy(jnp.zeros((2, 3)), jnp.zeros(3, int)), ValueError,
                            r"^labels must have shape \(2,\)"),
    "train label k": (lambda: F.train(KEY, MLP, X, Y.at[0].set(3), CFG), ValueError, r"^y must hold class indices"),
    "train label -1": (lambda: F.train(KEY, MLP, X, Y.at[0].set(-1), CFG), ValueError, r"^y must hold"),
    "train key int": (lambda: F.train(0, MLP, X, Y, CFG), TypeError, r"^key must be a JAX PRNG key"),
    "train x list": (lambda: F.train(KEY, MLP, X.tolist(), Y, CFG), TypeError, r"^x must be an array"),
    "fit y length": (lambda: F.fit(KEY, MLP.apply, PARAMS, X, Y[:5], CFG), ValueError, r"^y must have shape \(6,\)"),
    "fit x NaN": (lambda: F.fit(KEY, MLP.apply, PARAMS, X.at[0, 0].set(jnp.nan), Y, CFG), ValueError,
                  r"^x contains non-finite"),
    "he_init float64 without x64": (_no_x64(lambda: F.he_init(MLP, KEY, X[:1], jnp.float64)), ValueError,
                                    r"^dtype=float64 needs 64-bit mode"),
    "he_init key": (lambda: F.he_init(MLP, 1, X[:1]), TypeError, r"^key must be a JAX PRNG key"),
    "fixed_readouts float64 without x64": (
        _no_x64(lambda: JZ.fixed_readouts(KEY, JZ.LocalErrorConfig(widths=(4,), classes=3), jnp.float64)), ValueError,
        r"^dtype=float64 needs 64-bit mode"),
    "representations config": (lambda: JZ.representations({}, X, {}), TypeError, r"^config must be a LocalErrorConfig"),
    "pairwise_distance i clamped": (lambda: F.pairwise_distance(W, B, V, 5, 0), ValueError,
                                    r"^i must index one of the 3 classes"),
    "pairwise_distance j": (lambda: F.pairwise_distance(W, B, V, 0, -4), ValueError, r"^j must index one of the 3"),
    "pairwise_distance same": (lambda: F.pairwise_distance(W, B, V, 1, -2), ValueError, r"^i and j must be two"),
    "pairwise_distance b": (lambda: F.pairwise_distance(W, jnp.zeros(2), V, 0, 1), ValueError, r"^b must have shape"),
    "pairwise_distance list": (lambda: F.pairwise_distance(W.tolist(), B, V, 0, 1), TypeError, r"^w must be an array"),
    "mlp_layers of a CNN": (lambda: F.mlp_layers(CNN_PARAMS), ValueError, r"^params hold layers \['conv_0'"),
    "float16 points": (lambda: F.optimal_radius(jnp.ones((3, 2), jnp.float16)), TypeError,
                       r"^points must be float32 or float64, got float16"),
    "float16 dtype": (lambda: F.gaussian_points(KEY, 3, dtype=jnp.float16), TypeError,
                      r"^dtype must be a floating dtype of at least 32 bits"),
    "bfloat16 trailing": (lambda: F.gao2024.trailing_qr(jnp.eye(3, dtype=jnp.bfloat16)), TypeError,
                          r"^x must be float32 or float64"),
    "gram list": (lambda: F.gram([[1.0, 2.0]]), TypeError, r"^points must be an array"),
    "nearest_other_class label dtype": (lambda: F.nearest_other_class(X, Y.astype(float), X, Y), TypeError,
                                        r"^y must have an integer dtype"),
    "nearest_other_class widths": (lambda: F.nearest_other_class(X, Y, X[:, :3], Y), ValueError,
                                   r"^ref_x must have 4 columns"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_rejected_naming_the_argument(case):
    call, err, match = CASES[case]
    with pytest.raises(err, match=match):
        call()


def test_traced_nan_propagates_through_lp_norm():
    # Under jit the values are unknown; a NaN must come out as NaN, never as a zero norm.
    out = jax.jit(lambda v: F.lp_norm(v, 2))(jnp.array([[jnp.nan, 1.0], [0.0, 0.0]]))
    assert np.isnan(out[0]) and out[1] == 0.0


def test_valid_calls_still_work():
    assert F.cross_entropy(jnp.zeros((2, 3)), jnp.array([0, 2])).shape == ()
    assert np.isfinite(float(F.pairwise_distance(W, B, V, 0, 1)))
    assert F.fit(KEY, MLP.apply, PARAMS, X, Y, CFG).accuracy.shape == ()
