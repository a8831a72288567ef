"""Bad input fails early with a clear message naming the argument (before any tracing)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fcjax as F
from fcjax import gao2024 as GAO
from fcjax import trials as T

KEY = jax.random.key(0)
EYE3 = jnp.eye(3)
V3 = jnp.ones(3)
NAN33 = jnp.full((3, 3), jnp.nan)
INF3 = jnp.array([1.0, jnp.inf, 0.0])
W23 = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


# (call, exception type, regex the message must match)
CASES = {
    # d: an integer >= 2, bools and floats rejected
    "d=1": (lambda: F.gaussian_points(KEY, 1), ValueError, r"^d must be >= 2"),
    "d=0 product": (lambda: GAO.gaussian_product(KEY, 0, 2), ValueError, r"^d must be >= 2"),
    "d=1 signs": (lambda: GAO.hypercube_signs(1), ValueError, r"^d must be >= 2"),
    "d=1 chernoff": (lambda: GAO.chernoff_union_bound(1, 0.5), ValueError, r"^d must be >= 2"),
    "d=1 trial": (lambda: T.theorem1_trial(KEY, 1), ValueError, r"^d must be >= 2"),
    "d float": (lambda: F.gaussian_points(KEY, 4.0), TypeError, r"^d must be an integer"),
    "d np.float": (lambda: F.gaussian_points(KEY, np.float64(4)), TypeError, r"^d must be an integer"),
    "d bool": (lambda: F.gaussian_points(KEY, True), TypeError, r"^d must be an integer"),
    "d str": (lambda: GAO.hypercube_signs("4"), TypeError, r"^d must be an integer"),
    "d float chernoff": (lambda: GAO.chernoff_union_bound(10.0, 0.5), TypeError, r"^d must be an integer"),
    "d too big signs": (lambda: GAO.hypercube_signs(23), ValueError, r"^d must be <= 22"),
    "a too big cube": (lambda: GAO.sign_cube_radius(jnp.eye(21)), ValueError, r"^a must be at most 20"),
    # counts of trials / points / layers / steps
    "n=0 points": (lambda: F.gaussian_points(KEY, 3, 0), ValueError, r"^n must be >= 1"),
    "t=0": (lambda: GAO.gaussian_product(KEY, 3, 0), ValueError, r"^t must be >= 1"),
    "t=0 trial": (lambda: T.product_qr_trial(KEY, 3, 0), ValueError, r"^t must be >= 1"),
    "trial_keys n<0": (lambda: F.trial_keys(KEY, -1), ValueError, r"^n must be >= 0"),
    "trial_keys start<0": (lambda: F.trial_keys(KEY, 2, start=-1), ValueError, r"^start must be >= 0"),
    "n_trials=0": (lambda: F.map_trials(lambda k: 1.0, KEY, 0), ValueError, r"^n_trials must be >= 1"),
    "n_trials float": (lambda: F.map_trials(lambda k: 1.0, KEY, 2.0), TypeError, r"^n_trials must be an integer"),
    "chunk_size=0": (lambda: F.map_trials(lambda k: 1.0, KEY, 3, chunk_size=0), ValueError, r"^chunk_size must"),
    "devices=0": (lambda: F.map_trials(lambda k: 1.0, KEY, 3, devices=0), ValueError, r"^devices must be >= 1"),
    "start<0 map": (lambda: F.map_trials(lambda k: 1.0, KEY, 3, start=-2), ValueError, r"^start must be >= 0"),
    "shared list": (lambda: F.map_trials(lambda k, a: 1.0, KEY, 2, shared=[jnp.ones(3)]), TypeError,
                    r"^shared must be a tuple"),
    "bytes_per_trial": (lambda: F.chunk_size_for(0, 10, 10), ValueError, r"^bytes_per_trial must"),
    "budget_bytes": (lambda: F.chunk_size_for(1, 0, 10), ValueError, r"^budget_bytes must"),
    "steps=0": (lambda: F.TrainConfig(steps=0), ValueError, r"^steps must be >= 1"),
    "steps float": (lambda: F.TrainConfig(steps=2.5), TypeError, r"^steps must be an integer"),
    "lr=0": (lambda: F.TrainConfig(learning_rate=0.0), ValueError, r"^learning_rate must be > 0"),
    "lr nan": (lambda: F.TrainConfig(learning_rate=float("nan")), ValueError, r"^learning_rate must be finite"),
    "batch_size=0": (lambda: F.TrainConfig(batch_size=0), ValueError, r"^batch_size must be >= 1"),
    "log_every=0": (lambda: F.TrainConfig(log_every=0), ValueError, r"^log_every must be >= 1"),
    "n_nodes=0": (lambda: F.gauss_legendre(0), ValueError, r"^n_nodes must be >= 1"),
    "n_nodes path": (lambda: F.path_integral(jnp.sum, V3, 2 * V3, n_nodes=0), ValueError, r"^n_nodes must be >= 1"),
    "no layers": (lambda: F.collapse_linear([]), ValueError, r"^layers must hold at least one"),
    # keys and dtypes
    "key int": (lambda: F.gaussian_points(0, 3), TypeError, r"^key must be a JAX PRNG key"),
    "key float array": (lambda: F.trial_keys(jnp.zeros(2), 3), TypeError, r"^key must be a JAX PRNG key"),
    "key map": (lambda: F.map_trials(lambda k: 1.0, np.uint32(0), 3), TypeError, r"^key must be a JAX PRNG key"),
    "key slope": (lambda: F.loglog_slope([1, 2], [[1.0, 2.0], [1.0, 2.0]], 3), TypeError, r"^key must be"),
    "dtype int": (lambda: F.gaussian_points(KEY, 3, dtype=jnp.int32), TypeError, r"^dtype must be a floating"),
    "dtype str": (lambda: GAO.hypercube_signs(3, dtype="not-a-dtype"), TypeError, r"^dtype must be a floating"),
    # non-finite data
    "nan trailing": (lambda: GAO.trailing_qr(NAN33), ValueError, r"^x contains non-finite"),
    "inf distances": (lambda: F.pairwise_sq_distances(jnp.array([[1.0, jnp.inf]])), ValueError, r"^points contains"),
    "nan nearest": (lambda: F.nearest_other_distance(NAN33), ValueError, r"^points contains non-finite"),
    "nan queries": (lambda: F.nearest_point_classify(EYE3, NAN33), ValueError, r"^queries contains non-finite"),
    "nan point_radius": (lambda: F.point_radius(NAN33, 0), ValueError, r"^points contains non-finite"),
    "nan inverse": (lambda: GAO.interpolating_network(NAN33), ValueError, r"^x contains non-finite"),
    "nan positive_qr": (lambda: GAO.positive_qr(NAN33), ValueError, r"^x contains non-finite"),
    "nan theorem1": (lambda: GAO.theorem1_perturbation(NAN33), ValueError, r"^x contains non-finite"),
    "nan ratio": (lambda: GAO.compression_ratio(NAN33), ValueError, r"^x contains non-finite"),
    "nan probes": (lambda: GAO.last_two_probes(NAN33), ValueError, r"^x contains non-finite"),
    "nan cube": (lambda: GAO.sign_cube_radius(NAN33), ValueError, r"^a contains non-finite"),
    "nan w": (lambda: F.affine_min_perturbation(NAN33, None, V3), ValueError, r"^w contains non-finite"),
    "inf x affine": (lambda: F.affine_min_perturbation(EYE3, None, INF3), ValueError, r"^x contains non-finite"),
    "inf b": (lambda: F.affine_min_perturbation(EYE3, INF3, V3), ValueError, r"^b contains non-finite"),
    "inf probe": (lambda: GAO.two_probe_bound(V3, INF3, V3), ValueError, r"^probe_j contains non-finite"),
    "inf x2": (lambda: F.path_integral(jnp.sum, V3, INF3), ValueError, r"^x2 contains non-finite"),
    "nan layer": (lambda: F.collapse_linear([(NAN33, None)]), ValueError, r"^layers\[0\]\[0\] contains non-finite"),
    # wrong rank or shape
    "points 1-D": (lambda: F.pairwise_sq_distances(V3), ValueError, r"^points must have 2 dimensions"),
    "x 3-D": (lambda: GAO.trailing_qr(jnp.ones((2, 3, 3))), ValueError, r"^x must have 2 dimensions"),
    "x not square": (lambda: GAO.trailing_qr(jnp.ones((3, 4))), ValueError, r"^x must be square"),
    "x 1x1": (lambda: GAO.trailing_qr(jnp.ones((1, 1))), ValueError, r"^x must have at least 2 entries"),
    "x not square inv": (lambda: GAO.interpolating_network(jnp.ones((2, 3))), ValueError, r"^x must be square"),
    "a not square": (lambda: GAO.sign_cube_radius(jnp.ones((3, 4))), ValueError, r"^a must be square"),
    "one point": (lambda: F.nearest_other_distance(jnp.ones((1, 3))), ValueError, r"^points must have at least 2"),
    "one point radius": (lambda: F.point_radius(jnp.ones((1, 3)), 0), ValueError, r"^points must have at least 2"),
    "queries cols": (lambda: F.nearest_point_classify(EYE3, jnp.ones((2, 4))), ValueError, r"^queries must have 3"),
    "queries 1-D": (lambda: F.nearest_point_classify(EYE3, V3), ValueError, r"^queries must have 2 dimensions"),
    "probe shapes": (lambda: GAO.two_probe_bound(V3, jnp.ones(4), V3), ValueError, r"^probe_i, probe_j and x must"),
    "probe 2-D": (lambda: GAO.two_probe_bound(EYE3, EYE3, EYE3), ValueError, r"^probe_i must have 1 dimensions"),
    "path shapes": (lambda: F.path_integral(jnp.sum, V3, jnp.ones(4)), ValueError, r"^x1 and x2 must have one shape"),
    "path 2-D": (lambda: F.path_integral(jnp.sum, EYE3, EYE3), ValueError, r"^x1 must have 1 dimensions"),
    "one class": (lambda: F.affine_min_perturbation(jnp.ones((1, 3)), None, V3), ValueError, r"^w must have at least"),
    "x length": (lambda: F.affine_min_perturbation(W23, None, jnp.ones(4)), ValueError, r"^x must have length 3"),
    "b length": (lambda: F.affine_min_perturbation(W23, V3, V3), ValueError, r"^b must have length 2"),
    "layer mismatch": (lambda: F.collapse_linear([(jnp.ones((3, 4)), None), (jnp.ones((2, 2)), None)]), ValueError,
                       r"^layers\[1\] takes 2 inputs but the previous layer gives 3"),
    # dtypes of arrays
    "int x": (lambda: GAO.trailing_qr(jnp.eye(3, dtype=jnp.int32)), TypeError, r"^x must have a real floating dtype"),
    "int distances": (lambda: F.pairwise_sq_distances(jnp.ones((2, 2), jnp.int32)), TypeError, r"^points must have"),
    "int w": (lambda: F.affine_min_perturbation(jnp.ones((2, 3), jnp.int32), None, V3), TypeError, r"^w must have a"),
    "complex x": (lambda: GAO.trailing_qr(jnp.eye(3, dtype=jnp.complex64)), TypeError, r"^x must have a real floating"),
    "bool probe": (lambda: GAO.two_probe_bound(jnp.ones(3, bool), V3, V3), TypeError, r"^probe_i must have a real"),
    "list x": (lambda: GAO.trailing_qr([[1.0, 0.0], [0.0, 1.0]]), TypeError, r"^x must be an array"),
    # method strings
    "method trailing": (lambda: GAO.trailing_qr(EYE3, method="lu"), ValueError, r"^method must be one of"),
    "method theorem1": (lambda: GAO.theorem1_perturbation(EYE3, method="QR"), ValueError, r"^method must be one of"),
    "method ratio": (lambda: GAO.compression_ratio(EYE3, method=""), ValueError, r"^method must be one of"),
    "method trial": (lambda: T.qr_trial(KEY, 3, method="householder"), ValueError, r"^method must be one of"),
    # eps in (0, 1)
    "eps=0": (lambda: GAO.chernoff_union_bound(10, 0.0), ValueError, r"^eps must be > 0"),
    "eps=1": (lambda: GAO.chernoff_union_bound(10, 1.0), ValueError, r"^eps must be < 1"),
    "eps<0": (lambda: GAO.chernoff_union_bound(10, -0.2), ValueError, r"^eps must be > 0"),
    "eps>1": (lambda: GAO.chernoff_union_bound(10, 1.5), ValueError, r"^eps must be < 1"),
    "eps nan": (lambda: GAO.chernoff_union_bound(10, float("nan")), ValueError, r"^eps must be finite"),
    "eps str": (lambda: GAO.chernoff_union_bound(10, "0.5"), TypeError, r"^eps must be a real number"),
    "eps bool": (lambda: GAO.chernoff_union_bound(10, True), TypeError, r"^eps must be a real number"),
    # statistics with too few or bad samples
    "mean_ci one": (lambda: F.mean_ci([1.0]), ValueError, r"^x needs at least 2 values"),
    "mean_ci nan": (lambda: F.mean_ci([1.0, np.nan]), ValueError, r"^x contains non-finite"),
    "mean_ci level": (lambda: F.mean_ci([1.0, 2.0], level=1.0), ValueError, r"^level must be < 1"),
    "mean_ci level0": (lambda: F.mean_ci([1.0, 2.0], level=0.0), ValueError, r"^level must be > 0"),
    "cp k>n": (lambda: F.clopper_pearson(5, 3), ValueError, r"^k must be <= n"),
    "cp n=0": (lambda: F.clopper_pearson(0, 0), ValueError, r"^n must be >= 1"),
    "cp k<0": (lambda: F.clopper_pearson(-1, 3), ValueError, r"^k must be >= 0"),
    "cp k float": (lambda: F.clopper_pearson(1.5, 3), TypeError, r"^k must be an integer"),
    "pearson 3": (lambda: F.pearson_ci([1.0, 2, 3], [1.0, 2, 3]), ValueError, r"^x needs at least 4 values"),
    "pearson len": (lambda: F.pearson_ci([1.0, 2, 3, 4], [1.0, 2, 3, 4, 5]), ValueError, r"^x and y must have one"),
    "ks one": (lambda: F.ks_test([1.0], "norm"), ValueError, r"^x needs at least 2 values"),
    "ks2 y one": (lambda: F.ks_2samp([1.0, 2.0], [1.0]), ValueError, r"^y needs at least 2 values"),
    "spearman inf": (lambda: F.spearman([1.0, 2.0, np.inf], [1.0, 2.0, 3.0]), ValueError, r"^x contains non-finite"),
    "slope stat": (lambda: F.loglog_slope([1, 2], [[1.0, 2], [1.0, 2]], KEY, stat="max"), ValueError, r"^stat must"),
    "slope x dup": (lambda: F.loglog_slope([1, 1], [[1.0, 2], [1.0, 2]], KEY), ValueError, r"^x must hold at least"),
    "slope x<=0": (lambda: F.loglog_slope([0, 1], [[1.0, 2], [1.0, 2]], KEY), ValueError, r"^x must hold at least"),
    "slope len": (lambda: F.loglog_slope([1, 2], [[1.0, 2]], KEY), ValueError, r"^samples must have one array"),
    "slope neg": (lambda: F.loglog_slope([1, 2], [[1.0, 2], [1.0, -2]], KEY), ValueError, r"^samples\[1\] must be"),
    "slope one": (lambda: F.loglog_slope([1, 2], [[1.0, 2], [1.0]], KEY), ValueError, r"^samples\[1\] needs at least"),
    "slope n_boot": (lambda: F.loglog_slope([1, 2], [[1.0, 2], [1.0, 2]], KEY, n_boot=10), ValueError, r"^n_boot must"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_rejected_with_a_message_naming_the_argument(name):
    call, exc, match = CASES[name]
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize(
    "call",
    [
        lambda: F.gaussian_points(KEY, 3, dtype=jnp.float64),
        lambda: GAO.gaussian_product(KEY, 3, 2, dtype=jnp.float64),
        lambda: GAO.hypercube_signs(3, dtype=jnp.float64),
        lambda: GAO.sign_cube_data(KEY, 3, dtype=jnp.float64),
        lambda: T.qr_trial(KEY, 3),  # the float64 default of the trials
        lambda: T.theorem1_trial(KEY, 3),
        lambda: T.exact_gap_trial(KEY, 3),
        lambda: T.product_qr_trial(KEY, 3, 2),
    ],
)
def test_float64_without_x64_is_an_error_not_a_silent_downcast(call):
    with jax.enable_x64(False), pytest.raises(ValueError, match=r"^dtype=float64 needs 64-bit mode"):
        call()


def test_gauss_legendre_float64_without_x64():
    with jax.enable_x64(False), pytest.raises(ValueError, match=r"^dtype=float64 needs 64-bit mode"):
        F.gauss_legendre(4, jnp.float64)


def test_gauss_legendre_integer_dtype():
    with pytest.raises(TypeError, match=r"dtype must be a floating"):
        F.gauss_legendre(3, jnp.int32)


def test_two_probe_trial_float64_without_x64():
    with jax.enable_x64(False), pytest.raises(ValueError, match=r"^dtype=float64 needs 64-bit mode"):
        T.two_probe_trial(KEY, 3)


@pytest.mark.parametrize("i", [3, 5, -4])
def test_point_radius_index_out_of_range(i):
    x = jnp.asarray(np.random.default_rng(0).standard_normal((3, 4)))  # 3 points in R^4
    with pytest.raises((ValueError, IndexError), match=r"i must"):
        F.point_radius(x, i)


@pytest.mark.parametrize("n", [0, -1, 2.5])
def test_chernoff_union_bound_validates_n(n):
    with pytest.raises((ValueError, TypeError), match=r"^n must"):
        GAO.chernoff_union_bound(10, 0.5, n)


def test_chernoff_union_bound_single_point_is_zero():
    assert GAO.chernoff_union_bound(10, 0.5, 1) == 0.0


@pytest.mark.parametrize("chunk", [0, -1])
def test_sign_cube_radius_validates_chunk(chunk):
    with pytest.raises(ValueError, match=r"^chunk must"):
        GAO.sign_cube_radius(jnp.eye(3), chunk=chunk)


@pytest.mark.parametrize("label", [-1, 2, 7])
def test_affine_min_perturbation_label_out_of_range(label):
    with pytest.raises(ValueError, match=r"^label must"):
        F.affine_min_perturbation(W23, None, V3, label=label)


def test_collapse_linear_checks_bias_shape():
    with pytest.raises(ValueError, match=r"layers\[0\]"):
        F.collapse_linear([(jnp.ones((3, 4)), jnp.ones(2))])


def test_spearman_length_mismatch():
    with pytest.raises(ValueError, match=r"^x and y must have one length"):
        F.spearman([1.0, 2.0, 3.0], [1.0, 2.0])


def test_checks_run_before_tracing_and_shapes_are_checked_under_jit():
    # Shape and dtype errors are raised at trace time under jit with the same message...
    with pytest.raises(ValueError, match=r"^x must be square"):
        jax.jit(GAO.trailing_qr)(jnp.ones((3, 4)))
    with pytest.raises(TypeError, match=r"^points must have a real floating dtype"):
        jax.jit(F.nearest_other_distance)(jnp.ones((3, 3), jnp.int32))
    # ...while values of traced arrays are unknown, so NaN passes through jit (documented) and comes out as NaN.
    out = jax.jit(F.nearest_other_distance)(NAN33)
    assert np.all(np.isnan(np.asarray(out)))
    # Host-side checks reject bad input before any computation: a counter inside g never runs.
    calls = []

    def g(x):
        calls.append(1)
        return jnp.sum(x)

    with pytest.raises(ValueError, match=r"^x1 contains non-finite"):
        F.path_integral(g, INF3, V3)
    assert calls == []


def test_integer_like_arguments_that_are_accepted():
    # NumPy integers are integers; a float-valued NumPy array is an array.
    assert F.gaussian_points(KEY, np.int64(3)).shape == (3, 3)
    assert GAO.hypercube_signs(np.int32(2)).shape == (4, 2)
    assert GAO.trailing_qr(np.eye(3)).r_dd == 1.0
