"""Bad input to every public function of fcjax: a valid call per function, and the ways to spoil one argument.

``tests/test_fuzz_public.py`` draws the spoiled calls with hypothesis and asserts that each ends in a ``ValueError``
or ``TypeError`` naming the argument, raised before any tracing (no JAX frame between the call and the raise), or is
a spoiling the function legitimately accepts (listed per function, with the reason). Run this file to count all
outcomes at once::

    python tests/fuzz_public.py            # one line per finding, then the totals
"""

from __future__ import annotations

import dataclasses
import re
import sys
import traceback
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import fcjax as F
from fcjax import boundary_distance as BD
from fcjax import gao2024 as GAO
from fcjax import isoperimetry as ISO
from fcjax import jiang2021 as JZ
from fcjax import random_archs as RA
from fcjax import random_nets as RN
from fcjax import simon_gabriel2019 as SG

KEY = jax.random.key(0)
RNG = np.random.default_rng(0)
N, D, K = 6, 4, 3
X = jnp.asarray(RNG.standard_normal((N, D)), jnp.float32)
Y = jnp.array([0, 1, 2, 0, 1, 2])
MLP = F.relu_mlp(1, 8, K)
PARAMS = MLP.init(KEY, X[:1])
LAYERS = F.mlp_layers(PARAMS)
SQ = jnp.asarray(RNG.standard_normal((D, D)), jnp.float32)
V = jnp.asarray(RNG.standard_normal(D), jnp.float32)
W, B = jnp.asarray(RNG.standard_normal((K, D)), jnp.float32), jnp.zeros(K, jnp.float32)
EIGS = jnp.asarray(np.arange(1, 41, dtype=np.float32) ** -1.5)
LOCAL = JZ.LocalErrorConfig(widths=(8,), classes=K, steps=2, batch_size=None, log_every=1)
_SNAPSHOTS, READOUTS = JZ.train_local_snapshots(KEY, X, Y, LOCAL, (2,))
LOCAL_PARAMS = jax.tree.map(lambda a: a[0], _SNAPSHOTS)
CFG = F.TrainConfig(steps=2)
FN = F.as_static(MLP.apply)
CNN = F.CNN(image_shape=(4, 4, 1), classes=K, features=(2,), hidden=4)
CNN_PARAMS = CNN.init(KEY, jnp.ones((1, 16)))
LINEAR_PARAMS = F.LinearNet(hidden=5, classes=K).init(KEY, X[:1])


def _logits(p, x):
    return MLP.apply(p, x)


@dataclasses.dataclass(frozen=True)
class Case:
    """A valid call, and which spoilings of which arguments the function may accept (with the reason)."""

    fn: Callable[..., Any]
    kwargs: dict[str, Any]
    accepts: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)


def _attack(fn: Callable[..., Any], **extra: Any) -> Case:
    return Case(fn, {"logits_fn": FN, "params": PARAMS, "x": X, "y": Y, **extra})


# One valid call per public function that takes arrays, keys or labels (classes, configs and constants are tested
# in test_validation.py; load_dataset reads files: test_data.py).
CASES: dict[str, Case] = {
    "gaussian_points": Case(F.gaussian_points, {"key": KEY, "d": D, "n": N}),
    "points_from_law": Case(F.points_from_law, {"key": KEY, "d": D, "law": "student_t", "n": N}),
    "gram": Case(F.gram, {"points": X}),
    "pairwise_sq_distances": Case(F.pairwise_sq_distances, {"points": X}),
    "nearest_other_distance": Case(F.nearest_other_distance, {"points": X}),
    "nearest_other_index": Case(F.nearest_other_index, {"points": X}),
    "min_pairwise_distance": Case(F.min_pairwise_distance, {"points": X}),
    "optimal_radius": Case(F.optimal_radius, {"points": X}),
    "point_radius": Case(F.point_radius, {"points": X, "i": 1}),
    "nearest_point_classify": Case(F.nearest_point_classify, {"points": X, "queries": X[:2] + 0.1}),
    "nearest_other_class": Case(F.nearest_other_class, {"x": X[:3], "y": Y[:3], "ref_x": X, "ref_y": Y}),
    "affine_min_perturbation": Case(F.affine_min_perturbation, {"w": W, "b": B, "x": V, "label": 0}),
    "pairwise_distance": Case(F.pairwise_distance, {"w": W, "b": B, "x": V, "i": 0, "j": 1}),
    "collapse_linear": Case(F.collapse_linear, {"layers": [(SQ, V), (W, B)]}),
    "lp_norm": Case(F.lp_norm, {"v": X, "p": 2.0}),
    "cross_entropy": Case(F.cross_entropy, {"logits": X[:, :K], "labels": Y}),
    "input_gradients": _attack(F.input_gradients),
    "gradient_norms": _attack(F.gradient_norms),
    "fgsm": _attack(F.fgsm, eps=0.1),
    "pgd": _attack(F.pgd, eps=0.1, steps=2),
    "deepfool": _attack(F.deepfool, steps=2),
    "fmn": _attack(F.fmn, steps=2),
    "min_norm": _attack(F.min_norm, steps=2),
    "best_min_norm": _attack(F.best_min_norm, key=KEY, restarts=1, fmn_steps=2, fmn_restarts=1),
    "fgsm_accuracy": _attack(F.fgsm_accuracy, epsilons=jnp.array([0.0, 0.1])),
    "noise_accuracy": _attack(F.noise_accuracy, sigmas=jnp.array([0.0, 0.1]), key=KEY),
    "robustness": _attack(F.robustness, layers=LAYERS, nodes=4),
    "path_compression": _attack(F.path_compression, nodes=4),
    "certified_radius": Case(F.certified_radius, {"layers": LAYERS, "x": X, "y": Y},
                             {("x", "extra_axis"): "x is '*n d': any batch shape", }),
    "lipschitz_radius": Case(F.lipschitz_radius, {"layers": LAYERS, "x": X, "y": Y},
                             {("x", "extra_axis"): "x is '*n d': any batch shape"}),
    "margin_lower_bounds": Case(F.margin_lower_bounds, {"layers": LAYERS, "x": X, "y": Y, "radius": 0.1},
                                {("x", "extra_axis"): "x is '*n d': any batch shape"}),
    "exact_radius": Case(F.exact_radius, {"layers": LAYERS, "x": np.asarray(X[:2], np.float64), "y": Y[:2]}),
    "path_integral": Case(F.path_integral, {"g": jnp.sum, "x1": V, "x2": 2 * V, "n_nodes": 4}),
    "covariance_spectrum": Case(F.covariance_spectrum, {"h": X}),
    "participation_ratio": Case(F.participation_ratio, {"eigs": EIGS},
                                {("eigs", "extra_axis"): "eigs is '*batch N'"}),
    "power_law_fit": Case(F.power_law_fit, {"eigs": EIGS, "n_min": 2, "n_max": 30},
                          {("eigs", "extra_axis"): "eigs is '*batch N'"}),
    "exponential_fit": Case(F.exponential_fit, {"eigs": EIGS, "n_min": 2, "n_max": 30},
                            {("eigs", "extra_axis"): "eigs is '*batch N'"}),
    "train": Case(F.train, {"key": KEY, "model": MLP, "x": X, "y": Y, "config": CFG}),
    "fit": Case(F.fit, {"key": KEY, "logits_fn": _logits, "params": PARAMS, "x": X, "y": Y, "config": CFG}),
    "he_init": Case(F.he_init, {"model": F.he_mlp(1, 8, K), "key": KEY, "x": X}),
    "mlp_layers": Case(F.mlp_layers, {"params": PARAMS}),
    "trial_keys": Case(F.trial_keys, {"key": KEY, "n": 3}),
    "map_trials": Case(F.map_trials, {"fn": lambda k: jax.random.normal(k), "key": KEY, "n_trials": 3}),
    "mean_ci": Case(F.mean_ci, {"x": np.asarray(X[:, 0])}),
    "binned_means": Case(F.binned_means, {"x": np.arange(9.0), "y": np.arange(9.0)}),
    "pearson_ci": Case(F.pearson_ci, {"x": np.asarray(X[:, 0]), "y": np.asarray(X[:, 1])}),
    "spearman_ci": Case(F.spearman_ci, {"x": np.asarray(X[:, 0]), "y": np.asarray(X[:, 1])}),
    "spearman": Case(F.spearman, {"x": np.asarray(X[:, 0]), "y": np.asarray(X[:, 1])}),
    "partial_spearman_ci": Case(F.partial_spearman_ci, {"x": np.asarray(X[:, 0]), "y": np.asarray(X[:, 1]),
                                                        "controls": np.asarray(X[:, 2:4])}),
    "ks_2samp": Case(F.ks_2samp, {"x": np.asarray(X[:, 0]), "y": np.asarray(X[:, 1])}),
    "ks_test": Case(F.ks_test, {"x": np.asarray(X[:, 0]), "cdf": "norm"}),
    "loglog_slope": Case(F.loglog_slope, {"x": [8.0, 16.0, 32.0], "samples": [np.ones(4) + np.arange(4), 2 * (
        np.ones(4) + np.arange(4)), 4 * (np.ones(4) + np.arange(4))], "key": KEY, "n_boot": 100}),
    "GAO.compression_ratio": Case(GAO.compression_ratio, {"x": SQ}),
    "GAO.gaussian_product": Case(GAO.gaussian_product, {"key": KEY, "d": D, "t": 2}),
    "GAO.gram_schmidt2": Case(GAO.gram_schmidt2, {"p1": V, "p2": SQ[0]}),
    "GAO.interpolating_network": Case(GAO.interpolating_network, {"x": SQ}),
    "GAO.last_two_probes": Case(GAO.last_two_probes, {"x": SQ}),
    "GAO.positive_qr": Case(GAO.positive_qr, {"x": SQ}),
    "GAO.sign_cube_data": Case(GAO.sign_cube_data, {"key": KEY, "d": D}),
    "GAO.sign_cube_radius": Case(GAO.sign_cube_radius, {"a": SQ}),
    "GAO.theorem1_perturbation": Case(GAO.theorem1_perturbation, {"x": SQ}),
    "GAO.trailing_qr": Case(GAO.trailing_qr, {"x": SQ}),
    "GAO.trailing_from_probes": Case(GAO.trailing_from_probes, {"p": SQ[:, :2]}),
    "GAO.two_probe_bound": Case(GAO.two_probe_bound, {"probe_i": V, "probe_j": SQ[0], "x": SQ[1]}),
    "SG.damage": _attack(SG.damage, delta=0.01 * X),
    "SG.dual_direction": Case(SG.dual_direction, {"g": X, "p": 2.0}),
    "SG.first_order_damage": Case(SG.first_order_damage, {"g": X, "eps": 0.1, "p": 2.0}),
    "SG.gradient_penalty": _attack(SG.gradient_penalty, lam=0.1),
    "SG.adversarial_augmentation": _attack(SG.adversarial_augmentation, lam=0.1),
    "F.pgd_augmentation": _attack(F.pgd_augmentation, lam=0.1),
    "F.pgd_perturbation": _attack(F.pgd_perturbation, eps=0.1),
    "RN.two_layer_net": Case(RN.two_layer_net, {"key": KEY, "d": D, "k": 5}),
    "RN.two_layer_value_and_grad": Case(RN.two_layer_value_and_grad, {"net": RN.two_layer_net(KEY, D, 5), "x": V}),
    "RN.sphere_points": Case(RN.sphere_points, {"key": KEY, "d": D, "n": 3}),
    "RN.linearised_distance": Case(RN.linearised_distance, {"value": X[:, 0], "grad": X, "p": 2.0}),
    "RN.one_step_trial": Case(RN.one_step_trial, {"key": KEY, "d": D, "k": 5}),
    "RN.deep_relu_net": Case(RN.deep_relu_net, {"key": KEY, "d": D, "widths": (3, 2)}),
    "RN.euler_trial": Case(RN.euler_trial, {"key": KEY, "d": D, "widths": (3,)}),
    "RN.depth_trial": Case(RN.depth_trial, {"key": KEY, "d": D, "widths": (3,), "inputs": 4}),
    "RN.biased_relu_net": Case(RN.biased_relu_net, {"key": KEY, "d": D, "widths": (3,)}),
    "RN.lp_distance_trial": Case(RN.lp_distance_trial, {"key": KEY, "d": D, "widths": (3,)}),
    "RN.deep_relu_value": Case(RN.deep_relu_value, {"weights": RN.deep_relu_net(KEY, D, (3,)), "x": V}),
    "RN.deep_relu_abs_value": Case(RN.deep_relu_abs_value, {"weights": RN.deep_relu_net(KEY, D, (3,)), "x": V}),
    "RN.biased_relu_value": Case(RN.biased_relu_value, {"layers": RN.biased_relu_net(KEY, D, (3,)), "x": V}),
    "ISO.quadratic_sphere_distances": Case(ISO.quadratic_sphere_distances, {"b": V, "x": X / jnp.linalg.norm(
        X, axis=1, keepdims=True)}),
    "ISO.cdf_shortfall": Case(ISO.cdf_shortfall, {"bound": lambda e: 1 - np.exp(-e), "samples": np.abs(V)}),
    "cdf_exponent": Case(F.cdf_exponent, {"samples": np.abs(RNG.standard_normal(120)) + 0.01}, {
        ("samples", "extra_axis"): "samples of any shape are pooled (flattened), as in every statistic",
        ("samples", "float16"): "the statistics cast samples to float64"}),
    "RA.conv1d_matrix": Case(RA.conv1d_matrix, {"kernel": jnp.ones((3, 1, 2)), "length": D}),
    "RA.biased_relu_cnn": Case(RA.biased_relu_cnn, {"key": KEY, "d": D, "channels": (2,)}),
    "RA.biased_relu_resnet": Case(RA.biased_relu_resnet, {"key": KEY, "d": D, "width": 3}),
    "BD.random_net": Case(BD.random_net, {"key": KEY, "d": D, "arch": "cnn"}),
    "BD.boundary_bracket": Case(BD.boundary_bracket, {"layers": BD.random_net(KEY, D, "mlp"), "x": X[:2]}),
    "BD.bracket_trial": Case(BD.bracket_trial, {"key": KEY, "d": D, "arch": "resnet"}),
    "BD.lp_flip": Case(BD.lp_flip, {"layers": BD.random_net(KEY, D, "mlp"), "x": X[:2], "norm": "linf"}),
    "BD.boundary_bracket(l1)": Case(BD.boundary_bracket, {"layers": BD.random_net(KEY, D, "mlp"), "x": X[:2],
                                                          "norm": 1}),
    "certified_radius(linf)": Case(F.certified_radius, {"layers": LAYERS, "x": X, "y": Y, "norm": "linf"},
                                   {("x", "extra_axis"): "x is '*n d': any batch shape"}),
    "cnn_layers": Case(F.cnn_layers, {"model": CNN, "params": CNN_PARAMS}),
    "linear_net_affine": Case(F.linear_net_affine, {"params": LINEAR_PARAMS}),
    "jackknife_ci": Case(F.jackknife_ci, {"stat": lambda a: a.mean(keepdims=True), "groups": [
        (np.arange(3.0) + g,) for g in range(4)]}),
    "JZ.fixed_readouts": Case(JZ.fixed_readouts, {"key": KEY, "config": LOCAL}),
    "JZ.layer_logits": Case(JZ.layer_logits, {"params": LOCAL_PARAMS, "readouts": READOUTS, "x": X,
                                              "config": LOCAL}),
    "JZ.local_loss": Case(JZ.local_loss, {"params": LOCAL_PARAMS, "readouts": READOUTS, "x": X, "y": Y,
                                          "config": LOCAL}),
    "JZ.representations": Case(JZ.representations, {"params": LOCAL_PARAMS, "x": X, "config": LOCAL}),
    "JZ.train_local": Case(JZ.train_local, {"key": KEY, "x": X, "y": Y, "config": LOCAL}),
    "JZ.train_local_snapshots": Case(JZ.train_local_snapshots, {"key": KEY, "x": X, "y": Y, "config": LOCAL,
                                                                "checkpoints": (1, 2)}),
}

SCALAR_LABEL = "y is 'int | *n': one label for every input is valid"
SAMPLE_AXES = "'n ...': one sample per row, any trailing shape"
LEVELS = "a list of levels: numbers, cast to x's dtype"
DATA = "samples are real numbers of any shape (flattened); integers and booleans are data too"
ACCEPTS: dict[str, dict[tuple[str, str], str]] = {
    "certified_radius": {("y", "drop_axis"): SCALAR_LABEL},
    "certified_radius(linf)": {("y", "drop_axis"): SCALAR_LABEL},
    "lipschitz_radius": {("y", "drop_axis"): SCALAR_LABEL},
    "margin_lower_bounds": {("y", "drop_axis"): SCALAR_LABEL},
    "exact_radius": {("y", "drop_axis"): SCALAR_LABEL},
    "lp_norm": {("v", "extra_axis"): SAMPLE_AXES, ("v", "drop_axis"): SAMPLE_AXES},
    "SG.dual_direction": {("g", "extra_axis"): SAMPLE_AXES, ("g", "drop_axis"): SAMPLE_AXES},
    "SG.first_order_damage": {("g", "extra_axis"): SAMPLE_AXES, ("g", "drop_axis"): SAMPLE_AXES},
    "he_init": {("x", k): "only x's last axis (the input size) is used, as by model.init"
                for k in ("empty", "extra_axis", "drop_axis")},
    "cross_entropy": {("logits", k): "a diverged network's NaN/inf logits give a NaN/inf loss: that is the result"
                      for k in ("nan", "inf")},
    "fgsm_accuracy": {("epsilons", k): LEVELS for k in ("int_dtype", "float16")},
    "noise_accuracy": {("sigmas", k): LEVELS for k in ("int_dtype", "float16")},
    "nearest_other_class": {(a, k): "documented: the same-class distance is inf where the class has no point"
                            for a in ("y", "ref_y") for k in ("label_high", "label_negative")},
    **{f: {(a, k): DATA for a in ("x", "y") for k in ("extra_axis", "int_dtype", "float16", "bool")}
       for f in ("mean_ci", "ks_test", "ks_2samp", "spearman", "spearman_ci", "pearson_ci", "binned_means",
                 "partial_spearman_ci")},
}
ACCEPTS["ISO.cdf_shortfall"] = {**{("samples", k): DATA for k in ("extra_axis", "drop_axis", "int_dtype",
                                                                 "float16", "bool")},
                                 ("samples", "inf"): "documented: an infinite distance is a point with no "
                                                         "boundary found, never within any η"}
ACCEPTS["partial_spearman_ci"].update({("controls", k): DATA for k in ("int_dtype", "float16", "bool", "drop_axis")})
ACCEPTS["ks_2samp"].update({(a, "short"): "two independent samples may differ in size" for a in ("x", "y")})
for _name, _extra in ACCEPTS.items():
    CASES[_name].accepts.update(_extra)

LABEL_ARGS = {"y", "labels", "ref_y", "label"}
# Inputs whose values fcjax only uses through their shape (NaN there is harmless): he_init's x.
SHAPE_ONLY = {("he_init", "x")}


def _is_key(v: Any) -> bool:
    return isinstance(v, jax.Array) and jax.dtypes.issubdtype(v.dtype, jax.dtypes.prng_key)


def _spoilings(name: str, arg: str, v: Any, seed: int = 0) -> dict[str, Any]:
    """The bad values for one argument: ``{kind: value}``; ``seed`` picks where a NaN goes and which bad label."""
    rng = np.random.default_rng(seed)
    if _is_key(v):
        return {"int_key": 0, "float_key": jnp.zeros(2), "list_key": [0, 0]}
    if arg == "layers":
        (w0, b0), (w1, b1), *rest = v
        return {"layers_nan": [(w0.at[0, 0].set(jnp.nan), b0), (w1, b1), *rest], "layers_empty": [],
                "layers_chain": [(w0, b0), (w1[:, :-1], b1), *rest], "layers_bias": [(w0, b0[:-1]), (w1, b1), *rest],
                "layers_not_list": w0}
    if arg == "groups":
        bad = [(np.where(np.arange(g[0].size) == 0, np.nan, g[0]),) for g in v]
        return {"groups_few": v[:2], "groups_nan": bad, "groups_ragged": [*v[:-1], (*v[-1], v[-1][0])],
                "groups_not_arrays": [("a", "b")] * len(v)}
    if isinstance(v, dict) or type(v).__name__ == "FrozenDict":
        leaves, tree = jax.tree_util.tree_flatten(v)
        nan = [leaves[0].at[(0,) * leaves[0].ndim].set(jnp.nan), *leaves[1:]]
        return {"tree_nan": jax.tree_util.tree_unflatten(tree, nan), "tree_array": leaves[0]}
    if isinstance(v, (list, tuple)) or not hasattr(v, "dtype"):
        return {}
    a = np.asarray(v)
    out: dict[str, Any] = {"list": a.tolist(), "empty": a[:0] if a.ndim else a.reshape(0)}
    if a.ndim:
        out["extra_axis"] = a[None]
        out["drop_axis"] = a[..., 0] if a.ndim > 1 else a[0]
        if a.shape[0] > 1 and _partners(name, arg):
            out["short"] = a[:-1]  # mismatched lengths: only where another argument must have the same
    if np.issubdtype(a.dtype, np.floating):
        if (name, arg) not in SHAPE_ONLY:
            out["nan"] = _poke(a, np.nan, rng)
            out["inf"] = _poke(a, -np.inf if rng.random() < 0.5 else np.inf, rng)
        out["int_dtype"] = a.astype(np.int32)
        out["complex"] = a.astype(np.complex64)
        out["float16"] = a.astype(np.float16)
        out["bool"] = a > 0
    elif np.issubdtype(a.dtype, np.integer) and arg in LABEL_ARGS:
        out["label_high"] = _poke(a, K + int(rng.integers(0, 3)), rng)
        out["label_negative"] = _poke(a, -1 - int(rng.integers(0, 3)), rng)
        out["label_float"] = a.astype(np.float32)
    return out


def _partners(name: str, arg: str) -> set[str]:
    """The other array arguments whose first axis must match ``arg``'s (one label per input, paired samples)."""
    kw = CASES[name].kwargs
    n = getattr(kw[arg], "shape", (None,))[:1]
    return {a for a, v in kw.items() if a != arg and hasattr(v, "shape") and not _is_key(v) and v.shape[:1] == n
            and (arg, a) not in INDEPENDENT and (a, arg) not in INDEPENDENT}


# Pairs of arguments with equal lengths in the valid call that need not be equal.
INDEPENDENT = {("x", "ref_x"), ("x", "ref_y"), ("y", "ref_x"), ("y", "ref_y"), ("points", "queries"),
               ("w", "x"), ("b", "x"), ("v", "x"), ("x1", "x2")}


def _poke(a: np.ndarray, value: float, rng: np.random.Generator) -> np.ndarray:
    b = np.array(a, dtype=a.dtype, copy=True)
    b.reshape(-1)[int(rng.integers(0, b.size))] = value
    return b


def spoilings(name: str) -> list[tuple[str, str]]:
    """Every ``(argument, kind)`` for one function."""
    case = CASES[name]
    out = [(arg, kind) for arg, v in case.kwargs.items() for kind in _spoilings(name, arg, v)]
    # A Python list for a scalar label is a plain int's job: "list" applies to arrays only.
    return out


OUTCOMES = ("clear", "accepted-ok", "raw", "unnamed", "traced", "nonfinite", "accepted")


def _finite(tree: Any) -> bool:
    leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(tree) if hasattr(x, "dtype")]
    return all(np.all(np.isfinite(x)) for x in leaves if np.issubdtype(x.dtype, np.inexact))


def _same(a: Any, b: Any) -> bool:
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    if len(la) != len(lb):
        return False
    for x, y in zip(la, lb, strict=True):
        if _is_key(x) or _is_key(y):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        if hasattr(x, "shape") or hasattr(y, "shape"):
            x, y = np.asarray(x), np.asarray(y)
            if x.shape != y.shape or not np.allclose(x, y, rtol=1e-5, atol=1e-6, equal_nan=True):
                return False
        elif x != y and not (isinstance(x, float) and np.isnan(x) and np.isnan(y)):
            return False
    return True


_JAX_FRAME = re.compile(r"[/\\]jax[/\\]_src[/\\](interpreters|pjit|linear_util|api|core)")


def classify(name: str, arg: str, kind: str, seed: int = 0) -> tuple[str, str]:
    """Run one spoiled call: ``(outcome, detail)``."""
    case = CASES[name]
    bad = _spoilings(name, arg, case.kwargs[arg], seed)[kind]
    try:
        got = case.fn(**{**case.kwargs, arg: bad})
    except (ValueError, TypeError) as err:
        msg = str(err)
        frames = traceback.extract_tb(err.__traceback__)
        if any(_JAX_FRAME.search(f.filename) for f in frames):
            return "traced", f"{type(err).__name__} from inside JAX: {msg[:160]}"
        named = {arg} | (_partners(name, arg) if kind in ("short", "empty", "extra_axis", "drop_axis") else set())
        if not any(re.search(rf"(?<![A-Za-z_]){re.escape(a)}(?![A-Za-z_])", msg) for a in named):
            return "unnamed", f"{type(err).__name__}: {msg[:160]}"
        return "clear", msg[:160]
    except Exception as err:
        return "raw", f"{type(err).__name__}: {str(err)[:160]}"
    if kind == "list" and _same(got, case.fn(**case.kwargs)):
        return "accepted-ok", "a list is converted: same result as the array"
    if kind == "empty" and all(np.size(x) == 0 for x in jax.tree_util.tree_leaves(got) if hasattr(x, "shape")):
        return "accepted-ok", "no input, no output"
    if (arg, kind) in case.accepts:
        return "accepted-ok", case.accepts[arg, kind]
    if not _finite(got) and _finite(case.fn(**case.kwargs)):
        return "nonfinite", "returned NaN or inf"
    return "accepted", "returned a finite result"


def main() -> int:
    counts = dict.fromkeys(OUTCOMES, 0)
    for name in CASES:
        CASES[name].fn(**CASES[name].kwargs)  # the valid call itself must work
        for arg, kind in spoilings(name):
            outcome, detail = classify(name, arg, kind)
            counts[outcome] += 1
            if outcome not in ("clear", "accepted-ok"):
                print(f"{outcome:10s} {name}({arg}={kind}): {detail}", flush=True)
    total = sum(counts.values())
    print(f"{total} spoiled calls to {len(CASES)} functions: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0 if counts["clear"] + counts["accepted-ok"] == total else 1


if __name__ == "__main__":
    sys.exit(main())
