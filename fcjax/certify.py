"""Certified lower bounds on the minimal l2 perturbation that changes a ReLU network's label.

A network is a sequence of affine layers with ReLU between them (not after the last)::

    layers = [(W_1, b_1), ..., (W_L, b_L)],   f(x) = W_L relu(... relu(W_1 x + b_1) ...) + b_L,

with ``W_l`` of shape ``(out, in)``. For a label ``y`` and radius ``r`` every method here returns lower bounds
``m_j(r) <= min_{||delta|| <= r} f_y(x + delta) - f_j(x + delta)``; when all ``m_j(r) > 0`` (``j != y``) no
perturbation of length ``<= r`` changes the label, so ``r`` is a *certified* lower bound on the minimal
adversarial perturbation that the attacks of ``attacks.py`` bound from above. Five bounds, typically
loosest first:

Every method certifies the l2 ball; CROWN, IBP and Lipschitz also the l1 and l_inf balls (``norm=1`` / ``inf``:
the dual norm replaces l2 where the ball meets a linear function, ``min_{||d||_p <= r} a.d = -r ||a||_q``).

* **Lipschitz** (Szegedy et al. 2014, sec. 4.3; Tsuzuku et al. 2018): ``m_j(r) = m_j(0) - r ||w_y - w_j||
  prod_{l<L} ||W_l||_2``, ReLU being 1-Lipschitz; the radius has a closed form.
* **IBP** (Gowal et al. 2018, "On the effectiveness of interval bound propagation"): the first layer is exact
  for the l2 ball (``W_1 x + b_1 +- r ||row||``), boxes afterwards, and the last layer is folded into the
  margins ("elision"): bounds of ``(w_y - w_j) W_L h + (b_y - b_j)`` from the box of the last hidden layer.
* **CROWN** (Zhang et al. 2018, "Efficient neural network robustness certification with general activation
  functions"): each ReLU is replaced by linear upper and lower bounds (the chord over ``[l, u]`` above, slope
  0 or 1 below, chosen adaptively: 1 iff ``u > -l``), the margin is propagated back to the input as one linear
  function and minimised over the ball in closed form (dual norm of l2 is l2). Intermediate pre-activation
  bounds are computed by CROWN too, layer by layer ("full CROWN"), and intersected with the IBP box of the
  same layer propagated from the previous (already intersected) bounds, which is sound and never looser.
* **alpha-CROWN** (Xu et al. 2021, "Fast and complete", sec. 3.1): CROWN with every unstable ReLU's lower slope
  ``alpha in [0, 1]`` optimised per spec ``w_y - w_j`` by projected Adam (any ``alpha`` is sound), on CROWN's
  intermediate bounds; ``Lam(alpha) x + const(alpha) - r ||Lam(alpha)||_2``. Each spec is bisected on its own,
  from CROWN's radius up (so never looser), and the radius is the smallest spec's.
* **Branch and bound** (``"bab"``; Wang et al. 2021, "Beta-CROWN", Thm. 3.1; BaBSR branching of Bunel et al.
  2020): leaves ``(spec j, region P)``, ``P`` fixed by the signs of split pre-activations, enforced by Lagrange
  multipliers ``beta >= 0`` optimised with ``alpha``; the first layer's bounds on ``P`` are tightened by each
  split halfspace in closed form. Every leaf has its own certified radius, children start at the parent's, and
  the radius is the smallest leaf's: it only grows with the budget. See :mod:`fcjax.alpha_crown`.

For a network with no hidden layer (one affine map) IBP and CROWN are exact; for a one-hidden-layer net whose
neurons all stay active on the ball, CROWN is exact. CROWN is *not* always tighter than IBP at the output (its
lower relaxation of an unstable ReLU, slope 0 or 1, can lose to IBP's ``h >= 0``), nor either always tighter
than Lipschitz; only the hidden-layer intervals are nested (CROWN's inside IBP's, by the intersection). The
radii are nested ``crown <= alpha-crown <= bab`` by construction.

Cost: CROWN back-substitutes from every hidden layer, ``O(L^2)`` matrix products of width ``2 h`` per sample and
per bisection step, vmapped over samples; the margins' pass folds the last layer into ``w_y - w_j`` first (no
``classes x classes`` product). For wide (e.g. convolutional) layers or many classes, ``certified_radius``'s
``batch_size`` bounds the memory (:func:`crown_sample_bytes` per sample). All bounds are sound in exact
arithmetic; in floating point they are sound up to rounding (relative ~ depth * width * eps), which is why the
checks run in float64.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import alpha_crown as ac
from ._types import Array, Float, Int
from ._validate import check_array, check_dtype, check_int, check_labels, check_params
from .frameworks import _is_equinox, _is_nnx, module_layers
from .gradients import check_p, dual_exponent
from .parallel import map_batches

# Widths differ from layer to layer, so the dimensions are named for the reader but not bound ("_" prefix).
Layer = tuple[Float[Array, "_out _in"], Float[Array, " _out"]]
Layers = Sequence[Layer]

METHODS = ("alpha-crown", "bab", "crown", "ibp", "lipschitz")
BALLS = (1.0, 2.0, math.inf)  # the perturbation norms (exponents p) whose dual norms have closed forms here
# Doublings allowed when searching for an uncertified radius above the Lipschitz one: 2^64 covers any ratio
# between a tighter certificate and the Lipschitz radius that floating point can express in practice.
_MAX_DOUBLINGS = 64

_mm = functools.partial(jnp.matmul, precision="highest")  # TF32 on GPU would break the 1e-10 equalities


# ----------------------------------------------------------------------------------------------------------------
# Flax models -> layers
# ----------------------------------------------------------------------------------------------------------------


def _cast(a: Array, dtype) -> Array:
    return jnp.asarray(a) if dtype is None else jnp.asarray(a).astype(dtype)


def mlp_layers(params: Any, dtype: Any = None) -> list[Layer]:
    """The ``[(W, b), ...]`` layers of a ReLU :class:`fcjax.models.MLP` (``dense_0 .. dense_{m-1}``, ``readout``),
    or of an NNX / Equinox ReLU MLP module (:func:`fcjax.frameworks.module_layers`: ``nnx.Linear`` in definition
    order, ``eqx.nn.MLP`` / ``eqx.nn.Linear``, checked against the module on random inputs).

    Flax kernels are ``(in, out)``; they are transposed to ``(out, in)`` (Equinox weights already are). The
    activation is not stored in Linen parameters: the layers describe the network only if the model used
    ``nn.relu`` (``fcjax.models.relu_mlp``).

    Args:
      params: the model's variables (``{"params": ...}``) or the inner ``params`` dict; or an NNX or Equinox
        module.
      dtype: cast to this dtype (e.g. ``jnp.float64``) before anything is computed.

    Returns:
      ``[(W_1, b_1), ..., (W_L, b_L)]`` with ``W_l`` of shape ``(out, in)``.
    """
    if dtype is not None:
        dtype = check_dtype(dtype)
    if _is_nnx(params) or _is_equinox(params):
        return [(_cast(w, dtype), _cast(b, dtype if dtype is not None else w.dtype)) for w, b in module_layers(params)]
    p = params.get("params", params) if hasattr(params, "get") else None
    if p is None or "readout" not in p:
        raise ValueError("params must be the parameters of fcjax.models.MLP (with a 'readout' layer)")
    check_params(params)
    names = []
    while f"dense_{len(names)}" in p:
        names.append(f"dense_{len(names)}")
    names.append("readout")
    extra = sorted(set(p) - set(names))
    if extra:  # e.g. a CNN's conv layers: dropping them would certify another network
        raise ValueError(f"params hold layers {extra} besides {names[0]}..readout: mlp_layers reads ReLU MLPs only "
                         "(for a fcjax.CNN use fcjax.cnn_layers(model, params))")
    layers = []
    for name in names:
        kernel = _cast(p[name]["kernel"], dtype)
        bias = _cast(p[name]["bias"], kernel.dtype)
        layers.append((kernel.T, bias))
    return layers


def _conv_matrix(kernel: Array, stride: int, in_shape: tuple[int, int, int]) -> tuple[Array, tuple[int, ...]]:
    """The dense ``(out, in)`` matrix of a bias-free SAME convolution on flat ``in_shape`` images, exactly.

    The convolution is applied to the standard basis: each output then is one kernel entry times 1, so the
    matrix holds the kernel entries without rounding, in Flax's own (h, w, c) flattening order.
    """
    k = kernel.shape[0]
    conv = nn.Conv(kernel.shape[-1], (k, k), strides=(stride, stride), padding="SAME", use_bias=False,
                   precision=lax.Precision.HIGHEST)
    d = int(np.prod(in_shape))
    basis = jnp.eye(d, dtype=kernel.dtype).reshape(d, *in_shape)
    out = conv.apply({"params": {"kernel": kernel}}, basis)
    return out.reshape(d, -1).T, out.shape[1:]


def cnn_layers(model: Any, params: Any, dtype: Any = None) -> list[Layer]:
    """The ``[(W, b), ...]`` layers of a :class:`fcjax.models.CNN` on flat inputs, convolutions made dense.

    Each SAME, strided convolution becomes its exact ``(h'w'f, hwc)`` matrix (the convolution applied to the
    standard basis) with the channel bias repeated over positions, so ``logits(layers, x)`` equals
    ``model.apply(params, x)`` up to summation order.

    Args:
      model: the ``fcjax.models.CNN`` module (for ``image_shape``, ``features``, ``kernel``, ``stride``).
      params: its variables (``{"params": ...}``) or the inner ``params`` dict.
      dtype: cast to this dtype (e.g. ``jnp.float64``) before anything is computed.

    Returns:
      ``[(W_conv_0, b), ..., (W_dense, b), (W_readout, b)]`` with ``W`` of shape ``(out, in)``.
    """
    if dtype is not None:
        dtype = check_dtype(dtype)
    for attr in ("image_shape", "features", "kernel", "stride"):
        if not hasattr(model, attr):
            raise TypeError(f"model must be an fcjax.models.CNN, got {type(model).__name__} without {attr!r}")
    p = params.get("params", params) if hasattr(params, "get") else None
    check_params(params)
    names = [f"conv_{n}" for n in range(len(model.features))]
    if p is None or any(name not in p for name in [*names, "dense", "readout"]):
        raise ValueError(f"params must be the parameters of this CNN (layers {[*names, 'dense', 'readout']})")
    layers = []
    shape = tuple(model.image_shape)
    for name in names:
        kernel = _cast(p[name]["kernel"], dtype)
        w, shape = _conv_matrix(kernel, model.stride, shape)
        bias = jnp.broadcast_to(_cast(p[name]["bias"], kernel.dtype), shape).reshape(-1)
        layers.append((w, bias))
    for name in ("dense", "readout"):
        kernel = _cast(p[name]["kernel"], dtype)
        layers.append((kernel.T, _cast(p[name]["bias"], kernel.dtype)))
    return layers


def logits(layers: Layers, x: Float[Array, "*n d"]) -> Float[Array, "*n k"]:
    """``f(x) = W_L relu(... relu(W_1 x + b_1) ...) + b_L`` for ``x`` of shape ``(d,)`` or ``(n, d)``."""
    layers = _check_layers(layers)
    x = _check_x(x, layers)
    return _forward(layers, x) if x.ndim == 1 else jax.vmap(functools.partial(_forward, layers))(x)


# ----------------------------------------------------------------------------------------------------------------
# Validation (host side, before tracing)
# ----------------------------------------------------------------------------------------------------------------


def _check_layers(layers: Any, min_outputs: int = 2) -> list[Layer]:
    """``[(W, b), ...]`` pairs, finite where concrete, chained, the last with ``min_outputs`` outputs or more (the
    classes; 1 for a scalar network)."""
    if not isinstance(layers, Sequence) or len(layers) == 0:
        raise TypeError(f"layers must be a non-empty sequence of (W, b) pairs, got {type(layers).__name__}")
    out = []
    for n, layer in enumerate(layers):
        if not isinstance(layer, Sequence) or len(layer) != 2:
            raise TypeError(f"layers[{n}] must be a (W, b) pair, got {type(layer).__name__}")
        w = check_array(layer[0], f"layers[{n}][0] (W)", ndim=2)
        b = check_array(layer[1], f"layers[{n}][1] (b)", ndim=1)
        if b.shape[0] != w.shape[0]:
            raise ValueError(f"layers[{n}]: b has shape {b.shape} but W has {w.shape[0]} rows (W is (out, in))")
        if n > 0 and w.shape[1] != out[-1][0].shape[0]:
            raise ValueError(f"layers[{n}]: W has shape {w.shape} but layers[{n - 1}] has "
                             f"{out[-1][0].shape[0]} outputs (W is (out, in))")
        out.append((w, b))
    if out[-1][0].shape[0] < min_outputs:
        raise ValueError(f"layers: the last layer must have at least {min_outputs} outputs (classes), got "
                         f"{out[-1][0].shape[0]}")
    return out


def _check_x(x: Any, layers: list[Layer]) -> Array:
    x = check_array(x, "x", ndim=(1, 2))
    d = layers[0][0].shape[1]
    if x.shape[-1] != d:
        raise ValueError(f"x must have length {d} (the first layer's input size), got shape {x.shape}")
    return x


def _check_y(y: Any, x: Array, k: int) -> Array:
    return jnp.broadcast_to(check_labels(y, "y", x.shape[:-1], classes=k, scalar=True), x.shape[:-1])


def _check_radius(r: Any, x: Array, name: str, *, allow_inf: bool = False) -> Array:
    if isinstance(r, bool):
        raise TypeError(f"{name} must be a real number or array, got bool")
    if isinstance(r, numbers.Real):
        r = jnp.asarray(float(r), dtype=x.dtype)
    if not hasattr(r, "shape") or not hasattr(r, "dtype"):
        raise TypeError(f"{name} must be a real number or array, got {type(r).__name__}")
    check_array(r, name, finite=False)
    batch = x.shape[:-1]
    if r.shape not in ((), batch):
        raise ValueError(f"{name} must be a scalar or have shape {batch} to match x of shape {x.shape}, "
                         f"got shape {r.shape}")
    if not isinstance(r, jax.core.Tracer):
        v = np.asarray(r)
        if np.any(np.isnan(v)) or (not allow_inf and np.any(np.isinf(v))):
            raise ValueError(f"{name} must be {'non-NaN' if allow_inf else 'finite'}, got {v}")
        if np.any(v < 0):
            raise ValueError(f"{name} must be >= 0, got {v}")
    return jnp.broadcast_to(r, batch)


def _check_ball(norm: Any, method: str) -> float:
    """The ball's norm, the exponent 1, 2 or ``inf`` (aliases ``"l1"``, ``"l2"``, ``"linf"``: :func:`check_p`) -> the
    dual exponent ``q`` of the closed forms ``min_{||d||_p <= r} a.d = -r ||a||_q``."""
    p = check_p(norm, "norm")
    if p not in BALLS:
        raise ValueError(f"norm must be 1, 2 or inf (aliases 'l1', 'l2', 'linf'), got {norm!r}")
    if p != 2 and method in ("alpha-crown", "bab"):
        raise ValueError(f"norm={norm!r}: method {method!r} certifies l2 balls only (use 'crown', 'ibp' or "
                         "'lipschitz' for l1 / linf)")
    return dual_exponent(p)


def _dual(a: Array, q: float) -> Array:
    """Row norms ``||a_i||_q``: the support function of the unit ``l_p`` ball, ``max_{||d||_p <= 1} a_i.d``."""
    if q == 1:
        return jnp.sum(jnp.abs(a), axis=-1)
    if math.isinf(q):
        return jnp.max(jnp.abs(a), axis=-1)
    return jnp.linalg.norm(a, axis=-1)


def _l2_per_lp(q: float, d: int) -> float:
    """``max ||d||_2 / ||d||_p`` on ``R^d``: 1 for ``p`` = 1, 2 and ``sqrt(d)`` for ``p = inf`` (``q = 1``), so an
    l2 Lipschitz constant times it is an l_p one."""
    return math.sqrt(d) if q == 1 else 1.0


def _check_method(method: Any) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


# ----------------------------------------------------------------------------------------------------------------
# Bounds for one sample (vmapped over samples by the public functions)
# ----------------------------------------------------------------------------------------------------------------


def _margin_layer(layer: Layer, y: Int[Array, ""]) -> Layer:
    """The last layer folded into the margins: ``(w_y - w_j, b_y - b_j)`` for every class ``j``.

    The same as multiplying by the spec ``C = 1 e_y^T - I`` (row ``y`` zero, masked later), without the
    ``k x k`` matrix product: at ``k = 1024`` classes that product was most of CROWN's work per bisection step.
    """
    w, b = layer
    return w[y][None, :] - w, b[y] - b


def _first_layer(layer: Layer, x: Float[Array, " d"], r: Float[Array, ""], q: float = 2.0) -> tuple[Array, Array]:
    """Exact bounds of ``W x' + b`` over ``||x' - x||_p <= r``: ``W x + b -+ r ||W_i||_q`` (Hoelder, tight; ``q``
    the dual exponent, 2 for the l2 ball: Cauchy-Schwarz)."""
    w, b = layer
    z = _mm(w, x) + b
    rad = r * _dual(w, q)
    return z - rad, z + rad


def _box_affine(w: Array, b: Array, lo: Array, up: Array) -> tuple[Array, Array]:
    """Bounds of ``W h + b`` over the box ``lo <= h <= up``: centre ``W m + b``, half-width ``|W| rad``."""
    mid = _mm(w, (lo + up) / 2) + b
    rad = _mm(jnp.abs(w), (up - lo) / 2)
    return mid - rad, mid + rad


def _ibp(layers: list[Layer], x: Array, r: Array, q: float = 2.0) -> tuple[list[tuple[Array, Array]], Array]:
    """IBP with an exact first layer: hidden pre-activation boxes and lower bounds of the outputs over the ball.

    With the margin-folded last layer (:func:`_margin_layer`) the output box is IBP's last-layer elision."""
    if len(layers) == 1:
        return [], _first_layer(layers[0], x, r, q)[0]
    bounds = [_first_layer(layers[0], x, r, q)]
    for w, b in layers[1:]:
        lo, up = bounds[-1]
        bounds.append(_box_affine(w, b, jax.nn.relu(lo), jax.nn.relu(up)))
    return bounds[:-1], bounds[-1][0]


def _relu_relaxation(lo: Array, up: Array) -> tuple[Array, Array, Array]:
    """CROWN's linear bounds ``a_lo z <= relu(z) <= a_up z + c_up`` on ``[lo, up]`` (Zhang et al. 2018, sec. 3).

    Stable neurons are exact (slope 1 if ``lo >= 0``, 0 if ``up <= 0``). Unstable ones get the chord
    ``up (z - lo) / (up - lo)`` above and, below, slope 1 if ``up > -lo`` else 0: of the two tangent-free lower
    lines through the origin, the one with the smaller area between it and relu on ``[lo, up]``.
    """
    active = lo >= 0
    inactive = up <= 0
    unstable = ~(active | inactive)
    slope = up / jnp.where(unstable, up - lo, 1)  # the guard only avoids 0/0 where the value is unused
    a_up = jnp.where(active, 1.0, jnp.where(unstable, slope, 0.0)).astype(lo.dtype)
    c_up = jnp.where(unstable, -slope * lo, 0.0).astype(lo.dtype)
    a_lo = jnp.where(active | (unstable & (up > -lo)), 1.0, 0.0).astype(lo.dtype)
    return a_lo, a_up, c_up


def _crown_backward(layers: list[Layer], bounds: list[tuple[Array, Array]], x: Array, r: Array, q: float = 2.0
                    ) -> Array:
    """Lower bounds of every output of ``layers[-1]`` over the ball, by back-substitution.

    ``bounds[l]`` bounds the pre-activation of hidden layer ``l``. Going backwards, a coefficient ``lam_i >= 0``
    on ``relu(z_i)`` takes the lower relaxation and ``lam_i < 0`` the upper one, so each step keeps a valid lower
    bound ``z_out >= Lam z_l + const``; at the input, ``min_{||x'-x||_p<=r} Lam x' = Lam x - r ||Lam_row||_q``.
    """
    lam, const = layers[-1]  # coefficients on the last hidden activation
    for n in range(len(layers) - 2, -1, -1):
        a_lo, a_up, c_up = _relu_relaxation(*bounds[n])
        pos = lam >= 0
        const = const + jnp.sum(jnp.where(pos, 0.0, lam * c_up[None, :]), axis=1)
        lam = jnp.where(pos, lam * a_lo[None, :], lam * a_up[None, :])  # now on the pre-activation z_n
        w, b = layers[n]
        const = const + _mm(lam, b)
        lam = _mm(lam, w)
    return _mm(lam, x) + const - r * _dual(lam, q)


def _crown_hidden(layers: list[Layer], x: Array, r: Array, q: float = 2.0) -> list[tuple[Array, Array]]:
    """Full CROWN's hidden-layer bounds: each by back-substitution, intersected with IBP (``len(layers) >= 2``)."""
    bounds = [_first_layer(layers[0], x, r, q)]
    for m in range(1, len(layers) - 1):
        w, b = layers[m]
        width = w.shape[0]
        both = _crown_backward([*layers[:m], (jnp.concatenate([w, -w]), jnp.concatenate([b, -b]))], bounds, x, r,
                              q)
        lo_prev, up_prev = bounds[-1]
        lo_box, up_box = _box_affine(w, b, jax.nn.relu(lo_prev), jax.nn.relu(up_prev))
        bounds.append((jnp.maximum(both[:width], lo_box), jnp.minimum(-both[width:], up_box)))
    return bounds


def _crown(layers: list[Layer], x: Array, r: Array, q: float = 2.0) -> tuple[list[tuple[Array, Array]], Array]:
    """Full CROWN: every hidden layer's bounds by back-substitution (intersected with IBP), then the outputs'."""
    if len(layers) == 1:
        return _ibp(layers, x, r, q)  # one affine map: both are the exact closed form
    bounds = _crown_hidden(layers, x, r, q)
    return bounds, _crown_backward(layers, bounds, x, r, q)


def spectral_norm_bound(w: Float[Array, "_out _in"], squarings: int = 10) -> Float[Array, ""]:
    """A guaranteed upper bound on ``||w||_2`` from matrix products only: ``tr(A^p)^(1/(2p)) >= sigma_max`` with
    ``A`` the smaller Gram matrix of ``w`` and ``p = 2^squarings`` (repeated squaring, renormalised each step).

    It overestimates by at most ``n^(1/(2p))`` (``n`` = rank bound; 1.003 for ``n = 1024`` at the default) and is
    exact for rank one. Why not the SVD: two independent batched LAPACK SVDs in one program (one per layer, under
    ``vmap`` over networks) deadlock jaxlib 0.10.2's CPU thread pool (both wait in ``ParallelBatchMap``); products
    are plain XLA. The result is inflated by ``1 + 8 n eps`` to cover the products' rounding (each step's relative
    error is O(n eps) and enters with weight 2^-(k+1)).
    """
    a = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    n = a.shape[0]
    t = jnp.trace(a)
    safe = jnp.where(t > 0, t, 1)
    b, log_c = a / safe, jnp.log(safe)  # A^(2^k) = c_k B_k with tr(B_k) = 1
    for _ in range(squarings):
        b2 = b @ b
        f = jnp.sum(b * b)  # tr(B_k^2) for symmetric B_k, never negative
        b, log_c = b2 / f, 2 * log_c + jnp.log(f)
        b = (b + b.T) / 2
    eps = jnp.finfo(a.dtype).eps
    sigma = jnp.exp(log_c / 2 ** (squarings + 1)) * (1 + 8 * max(n, 1) * eps)
    return jnp.where(t > 0, sigma, 0.0)


def _lipschitz_constants(layers: list[Layer]) -> Array:
    """``prod_{l<L} ||W_l||_2``, each factor a guaranteed upper bound (:func:`spectral_norm_bound`)."""
    prod = jnp.ones((), layers[0][0].dtype)
    for w, _ in layers[:-1]:
        prod = prod * spectral_norm_bound(w)
    return prod


def _sample(method: str, layers: list[Layer], x: Array, y: Array, r: Array, alpha_steps: int = 0, q: float = 2.0
            ) -> tuple[list, Array]:
    """Hidden-layer bounds and margin lower bounds (``+inf`` at ``j = y``) for one sample."""
    k = layers[-1][0].shape[0]
    folded = [*layers[:-1], _margin_layer(layers[-1], y)]
    if method == "lipschitz":
        margin = _forward(folded, x)
        gain = jnp.linalg.norm(folded[-1][0], axis=1) * _lipschitz_constants(layers) * _l2_per_lp(q, x.shape[-1])
        lb = margin - r * gain
        bounds = []
    elif method == "ibp":
        bounds, lb = _ibp(folded, x, r, q)
    else:
        bounds, lb = _crown(folded, x, r, q)
        if method == "alpha-crown" and len(layers) > 1:  # an affine map has no ReLU to relax: CROWN is exact
            net = ac.make_net(folded[:-1], x, ac.hidden_bounds_fn(folded, x, _crown_hidden), 0)
            lb = jnp.maximum(lb, ac.spec_margins(net, *folded[-1], bounds, r, alpha_steps))
    return bounds, jnp.where(jnp.arange(k) == y, jnp.inf, lb)


def _forward(layers: list[Layer], x: Array, act: Callable[[Array], Array] = jax.nn.relu) -> Array:
    h = x
    for n, (w, b) in enumerate(layers):
        h = _mm(w, h) + b
        if n < len(layers) - 1:
            h = act(h)
    return h


# GELU's derivative Phi(z) + z phi(z) has its extremes where phi(z)(2 - z^2) = 0: the maximum Phi(√2) + √2 phi(√2)
# at z = √2 (the minimum, at -√2, is 1 - that maximum > -1), so |GELU'| <= this constant.
_GELU_LIPSCHITZ = 0.5 * (1 + math.erf(1.0)) + math.sqrt(2) * math.exp(-1.0) / math.sqrt(2 * math.pi)

# The activations a Lipschitz certificate may sit between layers, with their Lipschitz constants.
LIPSCHITZ_ACTIVATIONS: dict[str, tuple[Callable[[Array], Array], float]] = {
    "relu": (jax.nn.relu, 1.0),
    "tanh": (jnp.tanh, 1.0),
    "gelu": (lambda z: jax.nn.gelu(z, approximate=False), _GELU_LIPSCHITZ),
    "identity": (lambda z: z, 1.0),
}


@functools.partial(jax.jit, static_argnames=("method", "alpha_steps", "q"))
def _margins_batch(layers, x, y, r, method, alpha_steps, q=2.0):
    return jax.vmap(lambda xi, yi, ri: _sample(method, layers, xi, yi, ri, alpha_steps, q)[1])(x, y, r)


@functools.partial(jax.jit, static_argnames=("method", "q"))
def _bounds_batch(layers, x, r, method, q=2.0):
    return jax.vmap(lambda xi, ri: (_crown if method == "crown" else _ibp)(layers, xi, ri, q)[0])(x, r)


def _lipschitz_one(layers: list[Layer], lip: Array, x: Array, y: Array, q: float = 2.0,
                   act: Callable[[Array], Array] = jax.nn.relu) -> tuple[Array, Array]:
    """Closed-form Lipschitz radius ``min_{j != y} m_j / (||w_y - w_j|| lip)`` (0 if misclassified), and whether
    ``x`` is classified as ``y``; ``lip = prod_{l<L} ||W_l||_2`` (times the activation's Lipschitz constant per
    hidden layer) is computed once per network by the caller."""
    k = layers[-1][0].shape[0]
    folded = [*layers[:-1], _margin_layer(layers[-1], y)]
    margin = _forward(folded, x, act)
    gain = jnp.linalg.norm(folded[-1][0], axis=1) * lip * _l2_per_lp(q, x.shape[-1])
    # a zero gain means f_y - f_j is constant: no perturbation moves it (radius inf if it is positive)
    ratio = jnp.where(gain > 0, margin / jnp.where(gain > 0, gain, 1), jnp.where(margin > 0, jnp.inf, 0.0))
    ratio = jnp.where(jnp.arange(k) == y, jnp.inf, ratio)
    correct = jnp.all((margin > 0) | (jnp.arange(k) == y))
    return jnp.where(correct, jnp.min(ratio), 0.0), correct


def _lipschitz_batch(layers, x, y, q=2.0, activation="relu"):
    act, c = LIPSCHITZ_ACTIVATIONS[activation]
    lip = _lipschitz_constants(layers) * c ** (len(layers) - 1)
    return jax.vmap(lambda xi, yi: _lipschitz_one(layers, lip, xi, yi, q, act))(x, y)


# ----------------------------------------------------------------------------------------------------------------
# Public functions
# ----------------------------------------------------------------------------------------------------------------


def margin_lower_bounds(layers: Layers, x: Float[Array, "*n d"], y: int | Int[Array, "*n"],
                        radius: float | Float[Array, "*n"], method: str = "crown", *,
                        alpha_steps: int = ac.ALPHA_STEPS, norm: float | str = 2.0) -> Float[Array, "*n k"]:
    """Lower bounds of ``f_y - f_j`` over the ball ``B_p(x, radius)`` (l2 unless ``norm``), for every class ``j``.

    ``m_j <= min_{||delta||_2 <= radius} f_y(x + delta) - f_j(x + delta)``, by CROWN (Zhang et al. 2018, full
    CROWN intermediate bounds intersected with IBP), IBP with an exact first layer and last-layer elision
    (Gowal et al. 2018), the global Lipschitz bound ``m_j(0) - r ||w_y - w_j|| prod_{l<L} ||W_l||_2``, or
    alpha-CROWN (Xu et al. 2021: the best of ``alpha_steps`` projected Adam steps on each row's lower slopes from
    CROWN's, on CROWN's intermediate bounds, so never below CROWN). ``"bab"`` certifies radii, not margins: it
    is :func:`certified_radius` only. If every ``m_j > 0`` for ``j != y``, no perturbation of length
    ``<= radius`` changes the label.

    Args:
      layers: ``[(W_1, b_1), ..., (W_L, b_L)]``, ``W_l`` of shape ``(out, in)``, ReLU between layers.
      x: ``(d,)`` or ``(n, d)`` inputs.
      y: the label(s) to keep: an int or an integer array of shape ``()`` or ``(n,)``.
      radius: the ball's radius, ``>= 0``: a scalar or one per sample.
      method: ``"crown"``, ``"alpha-crown"``, ``"ibp"`` or ``"lipschitz"``.
      alpha_steps: Adam steps of alpha-CROWN (``>= 1``; ignored by the other methods).
      norm: the ball's norm, the exponent ``p``: 2 (default), 1 or ``inf`` (aliases ``"l2"``, ``"l1"``,
        ``"linf"``). CROWN and IBP take the dual norm at the input (``min_{||d||_p <= r} a.d = -r ||a||_q``,
        ``1/p + 1/q = 1``); Lipschitz scales the l2 constant by ``max ||d||_2/||d||_p`` (``sqrt(d)`` for linf).
        alpha-CROWN: l2 only.

    Returns:
      ``(k,)`` or ``(n, k)`` lower bounds, ``+inf`` at ``j = y``.

    Example:
      >>> w = jnp.array([[1.0, 0.0], [0.0, 1.0]]); b = jnp.zeros(2)
      >>> margin_lower_bounds([(w, b)], jnp.array([2.0, 0.0]), 0, 1.0)  # [inf, 2 - sqrt(2)], exact
      Array([       inf, 0.58578646], dtype=float32)
    """
    layers = _check_layers(layers)
    x = _check_x(x, layers)
    y = _check_y(y, x, layers[-1][0].shape[0])
    r = _check_radius(radius, x, "radius")
    method = _check_method(method)
    if method == "bab":
        raise ValueError("method='bab' certifies radii (certified_radius), not margins: use 'alpha-crown' here")
    alpha_steps, _ = ac.check_options(method, alpha_steps, 0)
    q = _check_ball(norm, method)
    if x.ndim == 1:
        return _margins_batch(layers, x[None], y[None], r[None], method, alpha_steps, q)[0]
    return _margins_batch(layers, x, y, r, method, alpha_steps, q)


def preactivation_bounds(layers: Layers, x: Float[Array, "*n d"], radius: float | Float[Array, "*n"],
                         method: str = "crown", *, norm: float | str = 2.0
                         ) -> list[tuple[Float[Array, "*n _h"], Float[Array, "*n _h"]]]:
    """Bounds ``(lower, upper)`` of every hidden layer's pre-activation over ``B_p(x, radius)`` (l2 unless ``norm``
    is 1 or ``inf``).

    The first layer is exact for the ball; later layers are boxes (``"ibp"``) or full CROWN intersected with
    the box propagated from the previous layer (``"crown"``), so CROWN's intervals lie inside IBP's. A neuron
    with ``lower >= 0`` or ``upper <= 0`` is stable (its ReLU is affine on the ball).

    Returns:
      One ``(lower, upper)`` pair per hidden layer (``len(layers) - 1`` pairs), each ``(h,)`` or ``(n, h)``.
    """
    layers = _check_layers(layers)
    x = _check_x(x, layers)
    r = _check_radius(radius, x, "radius")
    if method not in ("crown", "ibp"):
        raise ValueError(f"method must be 'crown' or 'ibp' (pre-activation bounds), got {method!r}")
    q = _check_ball(norm, method)
    out = _bounds_batch(layers, x.reshape(-1, x.shape[-1]), r.reshape(-1), method, q)
    if x.ndim == 1:
        return [(lo[0], up[0]) for lo, up in out]
    return [tuple(pair) for pair in out]


def lipschitz_radius(layers: Layers, x: Float[Array, "*n d"], y: int | Int[Array, "*n"], *,
                     norm: float | str = 2.0, activation: str = "relu") -> Float[Array, "*n"]:
    """Global-Lipschitz certified radius ``min_{j != y} (f_y - f_j)(x) / (||w_y - w_j||_2 prod_{l<L} ||W_l||_2)``.

    ``f_y - f_j`` is Lipschitz with constant ``||w_y - w_j|| prod_{l<L} ||W_l||_2`` (ReLU is 1-Lipschitz; Szegedy
    et al. 2014, sec. 4.3), so no perturbation shorter than this ratio reaches ``f_y = f_j``. Spectral norms are
    guaranteed upper bounds from matrix products (:func:`spectral_norm_bound`). 0 where ``x`` is not classified as
    ``y`` (ties included); ``inf`` where all margins are constant and positive. Exact for a single affine layer
    (l2). ``norm=1`` / ``inf``: the l2 radius divided by ``max ||d||_2/||d||_p`` (1, ``sqrt(d)``).
    ``activation``: what sits between the layers, one of :data:`LIPSCHITZ_ACTIVATIONS` (``"relu"``, ``"tanh"``,
    ``"gelu"``, ``"identity"``); each hidden layer's factor is multiplied by its Lipschitz constant (1, 1,
    ``Phi(√2) + √2 phi(√2)`` = 1.1289, 1), the margin evaluated through it.

    Args:
      layers: ``[(W_1, b_1), ..., (W_L, b_L)]``, ``W_l`` of shape ``(out, in)``, ``activation`` between layers.
      x: ``(d,)`` or ``(n, d)`` inputs.
      y: the label(s): an int or an integer array of shape ``()`` or ``(n,)``.

    Returns:
      ``()`` or ``(n,)`` radii.
    """
    layers = _check_layers(layers)
    x = _check_x(x, layers)
    y = _check_y(y, x, layers[-1][0].shape[0])
    q = _check_ball(norm, "lipschitz")
    if not isinstance(activation, str) or activation not in LIPSCHITZ_ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(LIPSCHITZ_ACTIVATIONS)}, got {activation!r}")
    rad, _ = _lipschitz_batch(layers, x.reshape(-1, x.shape[-1]), y.reshape(-1), q, activation)
    return rad.reshape(x.shape[:-1])


def _certified_one(layers: list[Layer], lip: Array, x: Array, y: Array, upper: Array, method: str, steps: int,
                   alpha_steps: int = 0, branches: int = 0, q: float = 2.0) -> Array:
    """Bisection on the radius for one sample (vmapped, or mapped in blocks, by :func:`_certified_batch`)."""
    r_lip, correct = _lipschitz_one(layers, lip, x, y, q)
    if method == "lipschitz":
        return r_lip
    tighter = method in ("alpha-crown", "bab") and len(layers) > 1  # an affine map: CROWN is already exact
    base = "ibp" if method == "ibp" else "crown"

    def certified(r):
        return jnp.all(_sample(base, layers, x, y, r, 0, q)[1] > 0)

    # Bracket [lo, hi] with lo certified (0 trivially, for a correctly classified point) and hi not, or hi the
    # caller's upper bound. Without a finite upper bound, double from the Lipschitz radius until it fails.
    no_upper = ~jnp.isfinite(upper)
    start = jnp.where(jnp.isfinite(r_lip) & (r_lip > 0), r_lip, 1.0)
    hi = jnp.where(no_upper, start, upper)
    grow = correct & no_upper & jnp.isfinite(r_lip)

    def grow_body(state):
        i, lo, hi, _ = state
        ok = certified(hi)
        return i + 1, jnp.where(ok, hi, lo), jnp.where(ok, 2 * hi, hi), ok

    _, lo, hi, _ = lax.while_loop(lambda s: (s[0] < _MAX_DOUBLINGS) & s[3], grow_body,
                                  (jnp.asarray(0), jnp.zeros_like(hi), hi, grow))

    def bisect(_, state):
        lo, hi = state
        mid = lo + (hi - lo) / 2
        ok = certified(mid)
        return jnp.where(ok, mid, lo), jnp.where(ok, hi, mid)

    lo, _ = lax.fori_loop(0, steps, bisect, (lo, hi))
    if tighter:
        # CROWN's radius is certified for every spec: the per-spec bisections start there (never looser).
        top = jnp.where(no_upper, jnp.where(lo > 0, 2 * lo, start), upper)
        folded = [*layers[:-1], _margin_layer(layers[-1], y)]
        net = ac.make_net(folded[:-1], x, ac.hidden_bounds_fn(folded, x, _crown_hidden), branches)
        lo = jnp.maximum(lo, ac.tighter_radius(net, *folded[-1], y, lo, top, grow, steps, alpha_steps, branches))
    # lo was certified by `method` (or is 0); inf only where every margin is constant, which every method sees.
    return jnp.where(correct, jnp.where(jnp.isinf(r_lip), jnp.inf, lo), 0.0)


@functools.partial(jax.jit, static_argnames=("method", "steps", "batch_size", "alpha_steps", "branches", "q"))
def _certified_batch(layers, x, y, upper, method, steps, batch_size=None, alpha_steps=0, branches=0, q=2.0):
    lip = _lipschitz_constants(layers)  # once per network, not once per sample or block

    def one(args):
        return _certified_one(layers, lip, *args, method, steps, alpha_steps, branches, q)

    if batch_size is None or batch_size >= x.shape[0]:
        return jax.vmap(one)((x, y, upper))
    # Blocks of ``batch_size`` samples under vmap, one block after another: CROWN's per-sample coefficient
    # matrices (classes x width per layer) bound the memory, not the number of samples.
    return map_batches(one, (x, y, upper), batch_size)


def crown_sample_bytes(layers: Layers, itemsize: int = 8, *, method: str = "crown", branches: int = ac.BRANCHES
                       ) -> int:
    """About the peak bytes that CROWN needs per sample (and bisection step), for choosing ``batch_size``.

    Each back-substitution carries a ``rows x width`` coefficient matrix through the layers (``rows``: ``2 h`` for
    a hidden layer's bounds, ``classes`` for the margins); we count the largest one four times (the matrix, its
    relaxed copy, the product and the sign mask), for the widest pass. Shapes only: works on stacked layers.
    ``method="alpha-crown"`` or ``"bab"`` (with its ``branches``): the larger of that and
    :func:`fcjax.alpha_crown.sample_bytes` (per-spec variables and optimiser state, the branch and bound's pool).
    """
    shapes = [tuple(w.shape[-2:]) for w, _ in layers]
    passes = [2 * shapes[m][0] for m in range(1, len(shapes) - 1)] + [shapes[-1][0]]
    widest = max(rows * max(s[1] for s in shapes[: m + 2]) for m, rows in enumerate(passes))
    if method in ("alpha-crown", "bab") and len(shapes) > 1:
        return max(4 * itemsize * widest, ac.sample_bytes(shapes, method, branches, itemsize))
    return 4 * itemsize * widest


def certified_radius(layers: Layers, x: Float[Array, "*n d"], y: int | Int[Array, "*n"], *, method: str = "crown",
                     upper: float | Float[Array, "*n"] | None = None, steps: int = 20,
                     batch_size: int | None = None, alpha_steps: int = ac.ALPHA_STEPS,
                     branches: int = ac.BRANCHES, norm: float | str = 2.0) -> Float[Array, "*n"]:
    """The largest radius on a bisection grid at which ``method`` certifies the label ``y`` at ``x``.

    Bisection on ``r`` of the test "every margin lower bound ``m_j(r) > 0``" (see :func:`margin_lower_bounds`),
    vectorised over samples with ``lax.fori_loop``. The bracket is ``[0, upper]`` where ``upper`` is finite
    (e.g. an attack's distance, above the true minimum); elsewhere it is found by doubling from the Lipschitz
    radius. The lower end of the final bracket is returned: a radius the method actually certified, never the
    midpoint, so ``certified_radius <= true minimal perturbation <= any attack's distance``. After ``steps``
    halvings the result is within ``(hi - lo) 2^-steps`` of the largest certified radius when the certified set
    is an interval (always for IBP, Lipschitz and affine maps; CROWN's adaptive slopes can in principle make it
    non-monotone in ``r``, in which case a larger certified radius may be missed, never a wrong one returned).
    ``"lipschitz"`` returns the closed form :func:`lipschitz_radius` (its supremum, exactly). 0 where ``x`` is
    misclassified; ``inf`` where every margin is constant and positive.

    ``"alpha-crown"``/``"bab"`` bisect each class ``j`` on ``[crown, upper]`` on its own; ``min_j r_j`` is certified
    (margin ``j`` is positive on ``B(x, r_j)``) and ``>= crown``. ``"bab"`` then splits the leaf (class, region) of
    smallest radius ``branches`` times, so it is ``>= alpha-crown`` and non-decreasing in ``branches``. Pass
    ``upper`` (an attack's distance): without it each leaf's bracket top is found by doubling (more failed tests).

    Jit with ``static_argnames=("method", "steps", "batch_size", "alpha_steps", "branches")``; vmap over networks
    by stacking the layers' arrays on a leading axis. Memory: CROWN holds a ``(classes or 2 * width) x width``
    coefficient matrix per layer and sample (:func:`crown_sample_bytes`, which also estimates the new methods);
    ``batch_size`` bounds how many samples are bounded at once.

    Args:
      layers: ``[(W_1, b_1), ..., (W_L, b_L)]``, ``W_l`` of shape ``(out, in)``, ReLU between layers.
      x: ``(d,)`` or ``(n, d)`` inputs.
      y: the label(s) to certify: an int or an integer array of shape ``()`` or ``(n,)``.
      method: ``"crown"``, ``"alpha-crown"``, ``"bab"``, ``"ibp"`` or ``"lipschitz"``.
      upper: optional upper bound(s) on the minimal perturbation, ``>= 0``, ``inf`` meaning none.
      steps: bisection steps.
      batch_size: samples per vectorised block (blocks run one after another); ``None``: all at once. Each
        block is a program of another width, so where a bound is tight at a bisection midpoint, rounding can
        decide it differently: results may differ by one bisection step (``2^-steps`` of the bracket), never in
        soundness. Fix it (as ``proofs_check`` does) where results must be reproducible across machines.
      alpha_steps: Adam steps on the slopes (and split multipliers) per tested radius, ``>= 1``
        (``"alpha-crown"``, ``"bab"``).
      branches: splits of the branch and bound, ``>= 0`` (``"bab"``; 0 is alpha-CROWN).
      norm: the perturbation's norm, the exponent ``p``: 2 (default), 1 or ``inf`` (aliases as above): the radius is
        then certified for the l_p ball (:func:`margin_lower_bounds`); ``upper`` is in the same norm.
        ``"alpha-crown"`` and ``"bab"``: l2 only.

    Returns:
      ``()`` or ``(n,)`` certified radii.

    Example:
      >>> w = jnp.array([[1.0, 0.0], [0.0, 1.0]]); b = jnp.zeros(2)
      >>> float(certified_radius([(w, b)], jnp.array([2.0, 0.0]), 0, upper=2.0, steps=30))  # sqrt(2)
      1.414213...
    """
    layers = _check_layers(layers)
    x = _check_x(x, layers)
    y = _check_y(y, x, layers[-1][0].shape[0])
    method = _check_method(method)
    steps = check_int(steps, "steps", minimum=1)
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", minimum=1)
    if upper is None:
        upper = jnp.full(x.shape[:-1], jnp.inf, x.dtype)
    upper = _check_radius(upper, x, "upper", allow_inf=True)
    alpha_steps, branches = ac.check_options(method, alpha_steps, branches)
    q = _check_ball(norm, method)
    out = _certified_batch(layers, x.reshape(-1, x.shape[-1]), y.reshape(-1), upper.reshape(-1).astype(x.dtype),
                           method, steps, batch_size, alpha_steps, branches, q)
    return out.reshape(x.shape[:-1])
