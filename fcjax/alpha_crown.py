"""alpha-CROWN and beta-CROWN branch and bound for the certified l2 radius of a ReLU MLP (one sample).

The bounds of :mod:`fcjax.certify` are tightened in two ways, both by the same per-"leaf" bound::

    g(alpha, beta) = min_{||x' - x|| <= r} c^T relu-relaxed-net(x') + e  -  sum_i beta_i s_i z_i(x')
                   = Lam x + const - r ||Lam||_2                                       (dual norm of l2 is l2)

for one margin row ``c = w_y - w_j`` (a *spec*), back-substituted as in CROWN with every unstable ReLU's lower
slope ``alpha_i in [0, 1]`` free (any value gives a valid lower line through the origin) and, on a leaf of the
branch and bound, the split constraints ``s_i z_i >= 0`` (``s_i = +1``: active, ``-1``: inactive) taken into the
objective with Lagrange multipliers ``beta_i >= 0``. For every ``alpha in [0,1]``, ``beta >= 0``, ``g`` is a lower
bound of the margin over the ball intersected with the leaf, so the bound at the *final* iterate of any optimiser
is sound; we keep the best iterate.

* **alpha-CROWN** (Xu et al. 2021, "Fast and complete: enabling complete neural network verification with rapid
  and massively parallel incomplete verifiers", sec. 3.1): maximise ``g`` over ``alpha`` by projected Adam, one
  ``alpha`` vector per spec (per class margin), initialised (warm) from the previous radius and compared with
  CROWN's adaptive slopes at every radius, so it is never looser than CROWN on the same intermediate bounds.
* **Branch and bound** (Wang et al. 2021, "Beta-CROWN: efficient bound propagation with per-neuron split
  constraints", Thm. 3.1 for the ``beta`` terms; Bunel et al. 2020, "Branch and bound for piecewise linear neural
  network verification", BaBSR for the choice of neuron): a leaf is one spec ``j`` and a region ``P`` of the
  input space fixed by the signs of some pre-activations; on ``P`` a split neuron is exact (its interval is
  clamped at 0) and its sign is enforced by ``beta``. Each leaf ``(j, P)`` has its own certified radius
  ``r_{j,P}`` (margin ``j`` is positive on ``B(x, r_{j,P}) cap P``, found by bisection); the leaves of a spec
  cover the input space, so ``min_{j, P} r_{j,P}`` is certified. The leaves of smallest radius (``SPLIT_BATCH``
  per round) are split next, each on the neuron of largest ``-lambda_i (-l_i u_i) / (u_i - l_i)`` at the radius
  where it failed (``lambda_i < 0`` the back-substituted coefficient of ``relu(z_i)`` under the upper chord: the
  relaxation's largest gap, weighted); each child starts its bisection at the parent's radius (its region is
  smaller), so radii only grow with the budget.

Intermediate pre-activation bounds are CROWN's of the whole ball at the leaf's radius (a function of the radius
passed in by :mod:`fcjax.certify`), clamped by the leaf's splits; for one hidden layer they are the exact interval
``W_1 x + b_1 -+ r ||W_1 row||``, and on a leaf the first layer's are tightened by each of its split halfspaces
(``min w_i . x'`` over the ball cut by one hyperplane, in closed form from the Gram matrix ``W_1 W_1^T``). A split
that contradicts them (``u_i < 0`` for an active split) makes the leaf's part of the ball empty: its bound is
``+inf``. Everything here works on one sample and is vmapped by the caller.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from ._types import Array, Float, Int
from ._validate import check_int

Layer = tuple[Float[Array, "_out _in"], Float[Array, " _out"]]
Bounds = list[tuple[Array, Array]]
BoundsFn = Callable[[Array], Bounds]  # radius -> (lower, upper) of every hidden pre-activation over the ball

ALPHA_STEPS = 10  # default Adam steps per tested radius (more changed no radius in our measurements, d = 16..64)
BRANCHES = 64  # default splits of the branch and bound
ALPHA_LR = 0.2  # Adam's step on alpha (a slope in [0, 1]) and on beta / its scale
ALPHA_DECAY = 0.95  # per Adam step: coarse moves first, then convergence (Xu et al. use a similar decay)
MAX_DOUBLINGS = 64  # as certify's: radius doublings where no upper bound is given
SLOTS = 16  # first-layer splits of a leaf used to tighten its bounds (128 cost 4x the time for the same radii)
SPLIT_BATCH = 4  # leaves split per round, vectorised together (16 spent the budget on leaves far from the minimum)
TIE = 1e-3  # branching weight of a neuron under a lower relaxation, relative to one under the upper chord

_mm = functools.partial(jnp.matmul, precision="highest")


def check_options(method: str, alpha_steps: Any, branches: Any) -> tuple[int, int]:
    """``alpha_steps >= 1`` and ``branches >= 0`` (host side, naming the argument), zeroed where ``method`` does
    not use them so that the compiled program does not depend on them."""
    alpha_steps = check_int(alpha_steps, "alpha_steps", minimum=1)
    branches = check_int(branches, "branches", minimum=0)
    return (alpha_steps if method in ("alpha-crown", "bab") else 0), (branches if method == "bab" else 0)


class Leaf(NamedTuple):
    """One spec's bound variables on one region, all hidden neurons of all layers concatenated (``H = sum h_l``).

    Attributes:
      split: ``(H,)`` ``+1`` (active), ``-1`` (inactive) or ``0`` (not split).
      alpha: ``(H,)`` lower ReLU slopes in ``[0, 1]`` (used where the neuron is unstable).
      theta: ``(H,)`` ``beta / scale >= 0``, the split constraints' multipliers in units of the spec's scale.
    """

    split: Float[Array, " H"]
    alpha: Float[Array, " H"]
    theta: Float[Array, " H"]


class Net(NamedTuple):
    """One sample's network and what every leaf needs of it (built once per sample by :func:`make_net`).

    Attributes:
      hidden: the hidden layers ``[(W_1, b_1), ..., (W_{L-1}, b_{L-1})]``, ``W`` of shape ``(out, in)``.
      x: ``(d,)`` the centre of the ball.
      bounds_fn: ``r -> `` the hidden pre-activation bounds over ``B(x, r)`` (CROWN's; exact for layer 1).
      z1: ``(h_1,)`` ``W_1 x + b_1``.
      gram: ``(h_1, h_1)`` ``W_1 W_1^T``, for the first layer's bounds on a leaf (:func:`tighten_first`); ``None``
        without branching.
      slots: how many first-layer splits the tightening looks at (static; the most a leaf can have).
    """

    hidden: list[Layer]
    x: Array
    bounds_fn: BoundsFn
    z1: Array
    gram: Array | None
    slots: int


def hidden_bounds_fn(layers: list[Layer], x: Array, crown_hidden: Callable[[list[Layer], Array, Array], Bounds]
                     ) -> BoundsFn:
    """``r -> `` CROWN's hidden pre-activation bounds over ``B(x, r)`` (``crown_hidden(layers, x, r)``, from
    :mod:`fcjax.certify`); one hidden layer: the exact interval ``W_1 x + b_1 -+ r ||row||``, its centre and row
    norms computed once (the bisections call this at every tested radius)."""
    if len(layers) == 2:
        w, b = layers[0]
        z, rad = _mm(w, x) + b, jnp.linalg.norm(w, axis=1)
        return lambda r: [(z - r * rad, z + r * rad)]
    return lambda r: crown_hidden(layers, x, r)


def make_net(hidden: list[Layer], x: Array, bounds_fn: BoundsFn, branches: int) -> Net:
    """The :class:`Net` of one sample; ``branches`` bounds the number of splits on any leaf (0: no Gram matrix)."""
    w, b = hidden[0]
    gram = _mm(w, w.T) if branches > 0 else None
    return Net(hidden, x, bounds_fn, _mm(w, x) + b, gram, max(1, min(w.shape[0], branches, SLOTS)))


def _sizes(net: Net) -> list[int]:
    return [w.shape[0] for w, _ in net.hidden]


def _per_layer(v: Array, sizes: Sequence[int]) -> list[Array]:
    """Split a ``(H,)`` vector into one piece per hidden layer (static sizes)."""
    out, start = [], 0
    for n in sizes:
        out.append(v[start:start + n])
        start += n
    return out


def _norm(v: Array) -> Array:
    """``||v||_2`` with a zero (sub)gradient at 0 instead of NaN."""
    sq = jnp.sum(v * v)
    return jnp.where(sq > 0, jnp.sqrt(jnp.where(sq > 0, sq, 1.0)), 0.0)


def _halfspace_beta(z: Array, gii: Array, g: Array, a: Array, zeta: Array, r: Array) -> Array:
    """The multiplier maximising the one-halfspace Lagrangian of ``min v . x' + b`` over ``B(x, r)`` cut by
    ``{n . x' >= tau}``.

    ``phi(beta) = z - beta zeta - r sqrt(q(beta))``, ``q = ||v - beta n||^2 = gii - 2 beta g + beta^2 a``, with
    ``z = v . x + b``, ``g = v . n``, ``a = ||n||^2``, ``zeta = n . x - tau`` (the centre's slack). ``phi' = 0``:
    ``a t / sqrt(a t^2 + D) = kappa`` with ``t = beta - g / a``, ``D = gii - g^2 / a``, ``kappa = -zeta / r``, so
    ``t = sign(kappa) sqrt(kappa^2 D / (a (a - kappa^2)))`` where the hyperplane cuts the ball (``kappa^2 < a``),
    else ``beta = 0``; clipped at 0."""
    a_ = jnp.where(a > 0, a, 1.0)
    kappa = -zeta / jnp.where(r > 0, r, 1.0)
    cuts = (kappa * kappa < a) & (r > 0) & (a > 0)
    d = jnp.maximum(gii - g * g / a_, 0.0)
    t = jnp.sign(kappa) * jnp.sqrt(kappa * kappa * d / (a_ * jnp.where(cuts, a_ - kappa * kappa, 1.0)))
    return jnp.where(cuts, jnp.maximum(g / a_ + t, 0.0), 0.0)


def _dual_value(z: Array, zeta_b: Array, q: Array, q_scale: Array, z_scale: Array, r: Array) -> Array:
    """``z - beta . zeta - r sqrt(q)``, lowered to cover rounding: ``q`` is raised by ``8 eps q_scale`` (the size of
    the terms it was summed from) and the value by ``16 eps z_scale``. Weak duality makes it a valid bound."""
    eps = jnp.finfo(z.dtype).eps
    root = jnp.sqrt(jnp.maximum(q, 0.0) + 8 * eps * q_scale)
    return z - zeta_b - r * root - 16 * eps * (z_scale + r * root)


def _halfspace_lower(z, gii, g, a, zeta, r):
    """The one-halfspace bound (:func:`_halfspace_beta`'s multiplier), elementwise."""
    beta = _halfspace_beta(z, gii, g, a, zeta, r)
    q = gii - 2 * beta * g + beta * beta * a
    return _dual_value(z, beta * zeta, q, gii + 2 * beta * jnp.abs(g) + beta * beta * a,
                       jnp.abs(z) + beta * jnp.abs(zeta), r)


def tighten_first(net: Net, lo: Array, up: Array, split: Array, r: Array) -> tuple[Array, Array]:
    """The first layer's bounds on ``B(x, r) cap P``: for each neuron the best over the leaf's first-layer split
    halfspaces ``s_m z_m(x') >= 0`` taken one at a time (closed form from the Gram matrix, :func:`_halfspace_beta`),
    intersected with the ball's ``[lo, up]``. At most ``net.slots`` splits are used (the lowest-numbered neurons;
    fewer constraints only loosen the bound). Measured: taking the halfspaces jointly (coordinate ascent on all
    multipliers) gained 0.5 % in radius at 4x the cost, at d = 64."""
    idx = jnp.nonzero(split != 0, size=net.slots, fill_value=0)[0]
    used = (jnp.arange(net.slots) < jnp.sum(split != 0))[None, :]
    s = split[idx]
    gii = jnp.diag(net.gram)[:, None]
    a = jnp.diag(net.gram)[idx][None, :]
    g = s[None, :] * net.gram[:, idx]  # v . n with v = w_i, n = s_m w_m
    zeta = (s * net.z1[idx])[None, :]
    z = net.z1[:, None]
    lower = jnp.where(used, _halfspace_lower(z, gii, g, a, zeta, r), -jnp.inf)
    upper = jnp.where(used, -_halfspace_lower(-z, gii, -g, a, zeta, r), jnp.inf)
    return jnp.maximum(lo, jnp.max(lower, axis=1)), jnp.minimum(up, jnp.min(upper, axis=1))


def leaf_bounds(net: Net, r: Array, split: Array, tighten: bool = True) -> tuple[Bounds, Array]:
    """Pre-activation bounds on the leaf's part of ``B(x, r)``, and whether that part is empty.

    The ball's bounds (``net.bounds_fn``), the first layer tightened by the first-layer splits
    (:func:`tighten_first`), then clamped at 0 by every split (``l <- max(l, 0)`` where active, ``u <- min(u, 0)``
    where inactive). An empty interval means no point of the ball lies in the leaf."""
    bounds = net.bounds_fn(r)
    split = _per_layer(split, _sizes(net))
    if tighten:  # False at the roots, which have no split (and XLA would constant-fold the empty search)
        bounds = [tighten_first(net, *bounds[0], split[0], r), *bounds[1:]]
    out, empty = [], jnp.asarray(False)
    for (lo, up), s in zip(bounds, split, strict=True):
        lo = jnp.where(s > 0, jnp.maximum(lo, 0.0), lo)
        up = jnp.where(s < 0, jnp.minimum(up, 0.0), up)
        empty = empty | jnp.any(lo > up)
        out.append((lo, up))
    return out, empty


def _relax(lo: Array, up: Array, alpha: Array) -> tuple[Array, Array, Array, Array]:
    """``a_lo z <= relu(z) <= a_up z + c_up`` on ``[lo, up]`` with lower slope ``alpha`` where unstable.

    Returns ``(a_lo, a_up, c_up, unstable)``. As :func:`fcjax.certify._relu_relaxation` but with a free lower
    slope: for ``alpha in [0, 1]``, ``alpha z <= relu(z)`` everywhere, so the bound stays valid."""
    active = lo >= 0
    inactive = up <= 0
    unstable = ~(active | inactive)
    slope = up / jnp.where(unstable, up - lo, 1.0)  # the guard only avoids 0/0 where the value is unused
    a_up = jnp.where(active, 1.0, jnp.where(unstable, slope, 0.0))
    c_up = jnp.where(unstable, -slope * lo, 0.0)
    a_lo = jnp.where(active, 1.0, jnp.where(unstable, alpha, 0.0))
    return a_lo, a_up, c_up, unstable


def crown_slopes(bounds: Bounds) -> Float[Array, " H"]:
    """CROWN's adaptive lower slopes (1 iff ``u > -l``) for all hidden neurons, concatenated: alpha's start."""
    return jnp.concatenate([(up > -lo).astype(lo.dtype) for lo, up in bounds])


def beta_scale(hidden: list[Layer], c: Array) -> Float[Array, " H"]:
    """A natural size for each layer's multipliers: ``max_i |(c^T W_{L-1} ... W_{n+1})_i|``, per neuron ``(H,)``.

    It is the largest coefficient the spec can put on a pre-activation of layer ``n`` with every ReLU passing;
    Adam's steps are in these units, so one learning rate fits every layer and every network scale."""
    lam, scales = c, []
    for n in range(len(hidden) - 1, -1, -1):
        scales.append(jnp.full(hidden[n][0].shape[0], jnp.max(jnp.abs(lam))))
        lam = _mm(lam, hidden[n][0])
    return jnp.concatenate(scales[::-1])


def _backward(net: Net, c: Array, e: Array, bounds: Bounds, leaf: Leaf, scale: Array
              ) -> tuple[Array, Array, list[Array], list[Array]]:
    """Back-substitution of ``c^T h_{L-1} + e - sum beta s z`` on a leaf: ``>= Lam x' + const`` on ``B cap P``.

    ``bounds``: the leaf's (clamped) bounds. Returns ``(Lam, const, lambdas, gaps)``: ``lambdas[n]`` the
    coefficients on ``relu(z_n)``, ``gaps[n]`` the relaxation's largest gap ``-l u / (u - l)`` where unstable."""
    sizes = _sizes(net)
    split, alpha, beta = (_per_layer(v, sizes) for v in (leaf.split, leaf.alpha, leaf.theta * scale))
    lam, const = c, e
    lambdas, gaps = [None] * len(sizes), [None] * len(sizes)
    for n in range(len(sizes) - 1, -1, -1):
        lo, up = bounds[n]
        a_lo, a_up, c_up, unstable = _relax(lo, up, alpha[n])
        lambdas[n] = lam
        gaps[n] = jnp.where(unstable, -lo * up / jnp.where(unstable, up - lo, 1.0), 0.0)
        pos = lam >= 0
        const = const + jnp.sum(jnp.where(pos, 0.0, lam * c_up))
        # On the leaf s z >= 0, so subtracting beta s z >= 0 keeps a lower bound (the Lagrangian of the split).
        lam = jnp.where(pos, lam * a_lo, lam * a_up) - beta[n] * split[n]
        w, b = net.hidden[n]
        const = const + jnp.dot(lam, b, precision="highest")
        lam = _mm(lam, w)
    return lam, const, lambdas, gaps


def leaf_bound(net: Net, c: Float[Array, " h"], e: Float[Array, ""], bounds: Bounds, empty: Array,
               r: Float[Array, ""], leaf: Leaf, scale: Float[Array, " H"]) -> Float[Array, ""]:
    """A lower bound of ``c^T h_{L-1}(x') + e`` over ``||x' - x|| <= r`` on the leaf's region (``+inf`` if empty).

    ``bounds, empty`` from :func:`leaf_bounds`; ``Lam x + const - r ||Lam||_2`` by Cauchy-Schwarz at the input."""
    lam, const, _, _ = _backward(net, c, e, bounds, leaf, scale)
    return jnp.where(empty, jnp.inf, jnp.dot(lam, net.x, precision="highest") + const - r * _norm(lam))


def branch_scores(net: Net, c: Array, e: Array, bounds: Bounds, leaf: Leaf, scale: Array) -> Float[Array, " H"]:
    """BaBSR-like score (Bunel et al. 2020) of every neuron: ``-lambda_i (-l_i u_i) / (u_i - l_i)`` where the
    upper chord is used (``lambda_i < 0``), ``TIE`` times ``lambda_i`` times that gap where the lower line is; 0
    where stable or split. For one hidden layer alpha-CROWN's optimum is exact on the convex part (positive
    coefficients), so only the chords' neurons are worth splitting, unless splits tighten other neurons."""
    _, _, lambdas, gaps = _backward(net, c, e, bounds, leaf, scale)
    return jnp.concatenate([jnp.where(lam < 0, -lam, TIE * lam) * g for lam, g in zip(lambdas, gaps, strict=True)])


def _project(leaf: Leaf) -> Leaf:
    return leaf._replace(alpha=jnp.clip(leaf.alpha, 0.0, 1.0), theta=jnp.maximum(leaf.theta, 0.0))


def optimise(objective: Callable[[Leaf], Array], leaf: Leaf, best: Array, best_leaf: Leaf, steps: int,
             stop_positive: bool) -> tuple[Array, Leaf]:
    """Projected Adam ascent on ``objective(leaf)`` over ``alpha in [0,1]``, ``theta >= 0`` (``split`` fixed).

    Starts from ``leaf``; returns the best value seen (any iterate is a valid bound, so the best one is) and its
    leaf, never below the given ``best``. With ``stop_positive`` it stops once the best value is ``> 0``: a
    certificate needs nothing more."""
    opt = optax.adam(optax.exponential_decay(ALPHA_LR, 1, ALPHA_DECAY))
    free = (leaf.alpha, leaf.theta)

    def value(p):
        return objective(leaf._replace(alpha=p[0], theta=p[1]))

    value_and_grad = jax.value_and_grad(value)

    def cond(state):
        t, _, _, top, _ = state
        return (t < steps) & ~(stop_positive & (top > 0))

    def body(state):
        t, p, opt_state, top, top_p = state
        v, g = value_and_grad(p)
        better = v > top  # False for NaN
        top = jnp.where(better, v, top)
        top_p = jax.tree.map(lambda a, b: jnp.where(better, a, b), p, top_p)
        g = jax.tree.map(lambda a: jnp.where(jnp.isfinite(a), -a, 0.0), g)  # ascent; an empty leaf has no gradient
        updates, opt_state = opt.update(g, opt_state, p)
        q = _project(leaf._replace(alpha=p[0] + updates[0], theta=p[1] + updates[1]))
        return t + 1, (q.alpha, q.theta), opt_state, top, top_p

    state = (jnp.asarray(0), free, opt.init(free), best, (best_leaf.alpha, best_leaf.theta))
    _, _, _, top, top_p = lax.while_loop(cond, body, state)
    return top, leaf._replace(alpha=top_p[0], theta=top_p[1])


class Radius(NamedTuple):
    """A leaf's bisection: ``lo`` certified, ``hi`` the top of the bracket, ``failed`` whether ``hi`` was tested
    and not certified (else it is the caller's upper bound), and the leaf's variables at the last test."""

    lo: Float[Array, ""]
    hi: Float[Array, ""]
    failed: Array
    leaf: Leaf


def leaf_radius(net: Net, c: Array, e: Array, leaf: Leaf, scale: Array, lo: Array, hi: Array, grow: Array,
                steps: int, alpha_steps: int, tighten: bool = True) -> Radius:
    """The largest radius (on a bisection grid of ``[lo, hi]``) at which the leaf's bound is certified positive.

    ``lo`` must already be certified (0, or the parent leaf's radius: the child's region is inside the parent's).
    Where ``grow``, ``hi`` is first doubled until it fails (at most ``MAX_DOUBLINGS`` times). At each tested
    radius the bound is the best of CROWN's slopes (with the leaf's multipliers) and up to ``alpha_steps`` Adam
    steps warm-started from the previous radius' variables."""

    def test(r, leaf):
        bounds, empty = leaf_bounds(net, r, leaf.split, tighten)
        objective = functools.partial(leaf_bound, net, c, e, bounds, empty, r, scale=scale)
        crown = leaf._replace(alpha=crown_slopes(bounds))
        best, best_leaf = optimise(objective, leaf, objective(crown), crown, alpha_steps, True)
        return best > 0, best_leaf

    # One loop for both phases (doubling while ``growing``, then ``steps`` halvings): the test, with its optimiser
    # and gradient, is traced once, which halves the compile time of the branch and bound.
    def body(state):
        n, doublings, lo, hi, growing, failed, leaf = state
        mid = lo + (hi - lo) / 2
        r = jnp.where(growing, hi, mid)
        ok, leaf = test(r, leaf)
        new_lo = jnp.where(ok, r, lo)
        new_hi = jnp.where(growing, jnp.where(ok, 2 * hi, hi), jnp.where(ok, hi, mid))
        still = growing & ok & (doublings + 1 < MAX_DOUBLINGS)
        return (n + jnp.where(growing, 0, 1), doublings + jnp.where(growing, 1, 0), new_lo, new_hi, still,
                failed | ~ok, leaf)

    state = (jnp.asarray(0), jnp.asarray(0), lo, hi, jnp.asarray(grow), jnp.asarray(False), leaf)
    _, _, lo, hi, _, failed, leaf = lax.while_loop(lambda s: s[0] < steps, body, state)
    return Radius(lo, hi, failed, leaf)


def _root(net: Net, bounds: Bounds, c: Array) -> tuple[Leaf, Array]:
    """An unsplit leaf for the spec ``c``, alpha at CROWN's slopes for ``bounds``; and its ``beta`` scale."""
    alpha = crown_slopes(bounds)
    return Leaf(jnp.zeros_like(alpha), alpha, jnp.zeros_like(alpha)), beta_scale(net.hidden, c)


def spec_margins(net: Net, rows: Array, consts: Array, bounds: Bounds, r: Array, alpha_steps: int
                 ) -> Float[Array, " k"]:
    """alpha-CROWN lower bounds of every margin row at radius ``r``: the best of ``alpha_steps`` Adam steps from
    CROWN's slopes (so never below CROWN's bound). ``rows``: ``(k, h_{L-1})`` folded last layer ``w_y - w_j``;
    ``consts``: ``(k,)``; ``bounds``: the ball's hidden bounds at ``r``. One ``alpha`` vector per row."""

    def one(c, e):
        leaf, scale = _root(net, bounds, c)
        objective = functools.partial(leaf_bound, net, c, e, bounds, jnp.asarray(False), r, scale=scale)
        return optimise(objective, leaf, objective(leaf), leaf, alpha_steps, False)[0]

    return jax.vmap(one)(rows, consts)


def spec_radii(net: Net, rows: Array, consts: Array, lo: Array, hi: Array, grow: Array, steps: int,
               alpha_steps: int) -> tuple[Radius, Array]:
    """alpha-CROWN's certified radius of every spec separately (vmapped over the ``k`` rows), from ``[lo, hi]``.

    Returns the per-spec :class:`Radius` (the roots of the branch and bound) and the ``(k, H)`` beta scales."""
    bounds = net.bounds_fn(hi)

    def one(c, e):
        leaf, scale = _root(net, bounds, c)
        return leaf_radius(net, c, e, leaf, scale, lo, hi, grow, steps, alpha_steps, tighten=False), scale

    return jax.vmap(one)(rows, consts)


class Pool(NamedTuple):
    """The branch and bound's leaves, fixed size ``P = k + branches`` (roots first, one per spec; ``+inf`` radius
    marks unused slots and the label's own row). ``final``: the leaf cannot be improved by splitting."""

    spec: Int[Array, " P"]
    lo: Float[Array, " P"]
    hi: Float[Array, " P"]
    failed: Array
    final: Array
    leaf: Leaf


def _split(net: Net, rows: Array, consts: Array, scales: Array, pool: Pool, p: Array
           ) -> tuple[Array, Array, Array, Leaf]:
    """The neuron to split in leaf ``p`` (largest :func:`branch_scores` where it failed) and its two children.

    Returns ``(splittable, spec, parent radius, children)``; a leaf that never failed below the top, or has no
    unstable neuron left where it failed, is not splittable (its radius is final up to the bisection grid)."""
    j = pool.spec[p]
    leaf = jax.tree.map(lambda a: a[p], pool.leaf)
    bounds, _ = leaf_bounds(net, pool.hi[p], leaf.split)
    scores = branch_scores(net, rows[j], consts[j], bounds, leaf, scales[j])
    neuron = jnp.argmax(scores)
    ok = pool.failed[p] & (scores[neuron] > 0) & jnp.isfinite(pool.lo[p])
    children = Leaf(jnp.stack([leaf.split.at[neuron].set(1.0), leaf.split.at[neuron].set(-1.0)]),
                    jnp.stack([leaf.alpha, leaf.alpha]), jnp.stack([leaf.theta, leaf.theta]).at[:, neuron].set(0.0))
    return ok, j, pool.lo[p], children


def branch_and_bound(net: Net, rows: Array, consts: Array, y: Int[Array, ""], roots: Radius, scales: Array,
                     top: Array, grow: Array, steps: int, alpha_steps: int, branches: int,
                     batch: int = SPLIT_BATCH) -> Float[Array, ""]:
    """The certified radius ``min_{(j, P)} r_{j,P}`` after up to ``branches`` splits, ``batch`` at a time.

    Each round splits the ``batch`` leaves of smallest radius (among those not final): ``(j, P)`` becomes
    ``(j, P cap {z_i >= 0})`` and ``(j, P cap {z_i <= 0})``, each bisected on ``[r_{j,P}, top]`` (``top``: the
    caller's upper bound, doubled where ``grow``), so every leaf's radius is at least its parent's and the
    minimum only grows with the budget. Stops when the budget is spent or no leaf below the smallest final one
    is left to split. The shapes of a round's work do not depend on ``branches``, so a larger budget repeats a
    smaller one's rounds exactly (the last, partial round splitting a prefix of the same leaves), then goes on."""
    k = rows.shape[0]
    inf = jnp.full(branches, jnp.inf, roots.lo.dtype)
    own = jnp.arange(k) == y

    def pad(a):
        return jnp.concatenate([a, jnp.zeros((branches, *a.shape[1:]), a.dtype)])

    pool = Pool(pad(jnp.arange(k, dtype=jnp.int32)), jnp.concatenate([jnp.where(own, jnp.inf, roots.lo), inf]),
                jnp.concatenate([roots.hi, inf]), pad(roots.failed), pad(jnp.zeros(k, bool)),
                jax.tree.map(pad, roots.leaf))

    def cond(state):
        n, _, done = state
        return (n < branches) & ~done

    def body(state):
        n, pool, _ = state
        key = jnp.where(pool.final, jnp.inf, pool.lo)
        ps = lax.top_k(-key, batch)[1]
        ok, specs, lo, children = jax.vmap(lambda p: _split(net, rows, consts, scales, pool, p))(ps)
        ok = ok & jnp.isfinite(key[ps])
        rank = jnp.cumsum(ok)  # only real splits spend the budget, in the order of the smallest radius first
        take = ok & (n + rank <= branches)
        hi = jnp.where(grow, jnp.maximum(pool.hi[ps], 2 * lo), top)

        def evaluate(j, lo, hi, pair):
            return jax.vmap(lambda leaf: leaf_radius(net, rows[j], consts[j], leaf, scales[j], lo, hi, grow, steps,
                                                     alpha_steps))(pair)

        out = jax.vmap(evaluate)(specs, lo, hi, children)  # leaves (batch, 2, ...)
        size = pool.lo.shape[0]  # an index past the end: its update is dropped
        slots = jnp.concatenate([jnp.where(take, ps, size), jnp.where(take, k + n + rank - 1, size)])

        def put(a, v):
            return a.at[slots].set(jnp.concatenate([v[:, 0], v[:, 1]]), mode="drop")

        final = pool.final.at[ps].set(pool.final[ps] | ~ok)
        pool = Pool(put(pool.spec, jnp.stack([specs, specs], 1)), put(pool.lo, out.lo), put(pool.hi, out.hi),
                    put(pool.failed, out.failed), put(final, jnp.zeros((batch, 2), bool)),
                    jax.tree.map(put, pool.leaf, out.leaf))
        # The result is at most the smallest final radius: leaves above it need no refinement.
        ceiling = jnp.min(jnp.where(pool.final, pool.lo, jnp.inf))
        done = ~(jnp.min(jnp.where(pool.final, jnp.inf, pool.lo)) < ceiling)
        return n + jnp.sum(take), pool, done

    _, pool, _ = lax.while_loop(cond, body, (jnp.asarray(0), pool, jnp.asarray(False)))
    return jnp.min(pool.lo)


def tighter_radius(net: Net, rows: Array, consts: Array, y: Int[Array, ""], lo: Array, top: Array, grow: Array,
                   steps: int, alpha_steps: int, branches: int) -> Float[Array, ""]:
    """alpha-CROWN's radius ``min_{j != y} r_j`` (each spec bisected on ``[lo, top]``, ``lo`` certified for all
    specs already, e.g. CROWN's radius), then, with ``branches > 0``, the branch and bound's from those roots."""
    roots, scales = spec_radii(net, rows, consts, lo, top, grow, steps, alpha_steps)
    if branches == 0:
        return jnp.min(jnp.where(jnp.arange(rows.shape[0]) == y, jnp.inf, roots.lo))
    return branch_and_bound(net, rows, consts, y, roots, scales, top, grow, steps, alpha_steps, branches)


def sample_bytes(shapes: Sequence[tuple[int, int]], method: str, branches: int, itemsize: int) -> int:
    """About the peak bytes per sample of ``"alpha-crown"`` / ``"bab"`` (shapes ``(out, in)`` of all layers).

    Per spec (``k`` of them, all optimised at once) a leaf carries about ``16 H`` numbers (``H`` hidden neurons:
    its variables, Adam's moments, the best iterate, gradients, bounds) and ``4`` input-width vectors; deeper
    nets recompute CROWN's hidden bounds per spec at its own radius (``4 * 2 h * width`` per hidden layer past
    the first). The branch and bound adds its pool, ``(k + branches)`` leaves of ``3 H``, and one round's
    ``2 SPLIT_BATCH`` leaves with the first layer's tightening (``6 h_1 slots``) and the Gram matrix ``h_1^2``."""
    k, hidden = shapes[-1][0], shapes[:-1]
    big = sum(o for o, _ in hidden)
    width = max(i for _, i in shapes)
    leaf = 16 * big + 4 * width + sum(8 * o * width for o, _ in hidden[1:])
    total = k * leaf
    if method == "bab":
        h1 = hidden[0][0]
        total += (k + branches) * 3 * big + 2 * SPLIT_BATCH * (leaf + 6 * h1 * min(SLOTS, h1)) + h1 * h1
    return itemsize * total


__all__ = ["ALPHA_STEPS", "BRANCHES", "SPLIT_BATCH", "Leaf", "Net", "Pool", "Radius", "branch_and_bound",
           "branch_scores", "check_options", "crown_slopes", "hidden_bounds_fn", "leaf_bound", "leaf_bounds",
           "leaf_radius", "make_net", "optimise", "sample_bytes", "spec_margins", "spec_radii", "tighten_first",
           "tighter_radius"]
