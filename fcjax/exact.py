"""The exact minimal l2 perturbation that changes a ReLU network's label: branch and bound, or a MIQP (SCIP).

For ``f = W_L relu(... relu(W_1 x + b_1) ...) + b_L`` (the layers of :mod:`fcjax.certify`), a point ``x`` with label
``y`` and a competing class ``j``, the distance to class ``j`` is::

    r_j = min ||delta||_2  s.t.  (w_j - w_y) . h^{L-1}(x + delta) + b_j - b_y >= 0,     ||delta||_2 <= R,

and ``r = min_{j != y} r_j`` is the minimal perturbation to a boundary point (some ``f_j >= f_y``), the infimum
of the perturbations with ``argmax f(x + delta) != y``. ``R`` is a ball known to hold a flip (the attack's
distance, :func:`fcjax.attacks.min_norm`); CROWN (:func:`fcjax.certify.preactivation_bounds`) bounds every
pre-activation on it, so ReLUs whose interval ``[l, u]`` excludes 0 are affine there and only the *unstable* ones
are decided by search. Classes that CROWN's margin bound excludes on the ball (:func:`fcjax.certify.margin_lower_bounds`
``> 0``) are skipped; the rest go one search each, the attack's class first, then by increasing CROWN margin bound,
each limited by the best verified distance so far (an objective cutoff), and the ball (so the bounds) shrinks to
that distance whenever it improves.

Sign trick (both methods). In the last hidden layer, an unstable unit whose margin weight ``c_i = (w_j - w_y)_i``
is ``<= 0`` needs no branching: relaxing ``h_i = relu(z_i)`` to ``h_i >= relu(z_i)`` (a convex constraint) can
only lower the margin, so the feasible ``delta`` are the same. Only units with ``c_i > 0`` are branched on.

``"bab-qp"`` (one hidden layer; the default there). Best-first branch and bound on the signs of those units. A
node fixes some of them (halfspaces ``z_i >= 0`` or ``<= 0``) and relaxes the free ones to their chord (the upper
side of the triangle relaxation), on intervals tightened to the cutoff ball cut by each fixed unit's halfspace
(closed form); the ``c_i < 0`` terms are exact through Kelley cuts. Its bound is a least-distance QP,
``min ||delta|| s.t. G delta >= h``, solved exactly by NNLS (Lawson & Hanson 1974) and certified by weak duality
(``u.h / ||G^T u||`` for the NNLS multipliers ``u >= 0``, so the bound never trusts the solver's accuracy). A node
closes when its bound reaches the cutoff, or when its minimiser is a true boundary point of the network.

``"miqp"`` (any depth, needs pyscipopt). One mixed-integer second-order-cone program per class, solved by SCIP:
``min t`` with ``||u|| <= t``, ``delta = R u`` (units of the ball: SCIP's tolerances are absolute), the big-M
encoding of Tjeng, Xiao & Tedrake (2019, "Evaluating robustness of neural networks with mixed integer
programming") for each unstable unit (``h >= z, h >= 0, h <= z - l (1 - a), h <= u a``, ``a`` binary; the LP
relaxation is the triangle), stable units fixed.

Measured (the trained nets of ``gao2024.sqrt_d_gap_relu``, width ``2 d``, 8 training points each, 2 CPU cores
shared with other jobs): ``"bab-qp"`` closed every sample at d = 16 in a median 0.08 s (max 1.1 s, the first
sample's CROWN compilation included) and at d = 32 in a median 16 s (max 43 s); ``"miqp"`` took a median 1.1 s
(max 2.6 s) at d = 16 and closed none of 4 samples at d = 32 within 60 s (``"bab-qp"``: 4 to 43 s on them); the
MIQP with one binary per class (``f_j - f_y >= -M_j (1 - c_j)``, ``sum c_j >= 1``) a median 3.3 s and max 21 s
at d = 16. At d = 64 neither closes one class in 60 s. Nearly every ReLU is unstable on these balls (60 of 64 at
d = 32, 127 of 128 at d = 64), so the cost grows exponentially with the width.

What "exact" means. ``upper`` is the norm of a *verified* witness: from the solver's boundary point, the shorter
of the point scaled outward by ``1 + tol / 10`` and a polished point (the nearest point of the point's linear
region where that region's affine margin is slightly positive, an LDP: needed at kinks), each re-evaluated in
float64 with ``argmax f(x + witness) != y`` required; it bounds the true minimum from above, up to the float64
evaluation of the network. ``lower`` is the smallest lower bound over the classes (pruned classes count with the
radius at which CROWN excluded them, classes left unsolved at the time limit with 0), or the caller's ``lower``
if larger. It is sound up to the solvers' tolerances: ``"bab-qp"``'s bounds are weak-duality certificates,
sound up to float64 rounding; SCIP's constraints hold to ``feastol`` (absolute, which relaxes its program and
so only lowers the bound) and its LP bounds are floating-point (not safeguarded as in exact MIP); CROWN's bounds
are padded by ``1e-9 (1 + |bound|)`` for rounding. ``exact`` is ``upper - lower <= tol * max(upper, tiny) +
atol``. Where the time runs out, the pair is still a valid bracket.

Host-side: NumPy float64 (and pyscipopt for ``"miqp"``), one sample after another, not jittable. SCIP runs with
one thread and fixed seeds; both methods are deterministic unless a time limit cuts a search.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import nnls

from . import certify
from ._validate import check_float, check_int
from .attacks import min_norm

METHODS = ("auto", "bab-qp", "miqp")
# Outward scalings tried on a solver point: 1 + (tol / 10) 4^k, k = 0..3 (k > 0 only if polishing fails).
_SCALE_STEPS = 4
# Rounding pad of CROWN's bounds, relative to 1 + |bound|: the bounds are sound to ~depth * width * eps64.
_BOUND_PAD = 1e-9
_TINY = 1e-300

Layer = tuple[np.ndarray, np.ndarray]


class ExactResult(NamedTuple):
    """Per sample: a bracket ``lower <= r <= upper`` on the minimal l2 perturbation ``r``, its witness, the cost.

    Attributes:
      lower: ``(n,)`` lower bounds (the searches' bounds, to their tolerances, or the caller's ``lower``).
      upper: ``(n,)`` norms of ``witness`` (``inf`` where none was found).
      exact: ``(n,)`` whether ``upper - lower <= tol * max(upper, tiny) + atol``.
      witness: ``(n, d)`` perturbations with ``argmax f(x + witness) != y`` in float64 (0 where ``upper`` is
        inf or the sample is misclassified).
      seconds: ``(n,)`` wall-clock seconds per sample (bounds, building and solving; not the attack, which runs
        once for all samples before).
      status: per sample, ``"optimal"``, ``"timelimit"``, ``"misclassified"`` (``r = 0``), ``"no witness"``
        (no flip found within the last ball) or ``"unverified"`` (solver points did not flip in float64).
      nodes: ``(n,)`` branch-and-bound nodes, summed over the searches.
      programs: ``(n,)`` searches run (one per class not pruned by CROWN, over all radii tried).
      unstable: ``(n,)`` unstable ReLUs at the final radius (the binaries of a one-program formulation).
    """

    lower: np.ndarray
    upper: np.ndarray
    exact: np.ndarray
    witness: np.ndarray
    seconds: np.ndarray
    status: tuple[str, ...]
    nodes: np.ndarray
    programs: np.ndarray
    unstable: np.ndarray


# ----------------------------------------------------------------------------------------------------------------
# The network on the host
# ----------------------------------------------------------------------------------------------------------------


def _forward(layers: Sequence[Layer], p: np.ndarray) -> np.ndarray:
    """Float64 logits ``(k,)`` at one point ``p`` of shape ``(d,)``."""
    h = p
    for n, (w, b) in enumerate(layers):
        h = w @ h + b
        if n < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return h


def _flips(layers: Sequence[Layer], x: np.ndarray, y: int, delta: np.ndarray) -> bool:
    """Whether ``argmax f(x + delta) != y``, evaluated in float64 (ties go to the lowest index, as in NumPy)."""
    return int(np.argmax(_forward(layers, x + delta))) != y


def _witness(layers: Sequence[Layer], x: np.ndarray, y: int, delta: np.ndarray, tol: float) -> np.ndarray | None:
    """The shortest verified flip near a solver point ``delta`` (on a tie ``f_j = f_y``, to the solver's
    tolerance), or ``None``.

    Candidates: ``delta (1 + tol / 10)`` (inside one linear region the outward ray enters class ``j``: KKT puts
    ``delta`` along the margin's gradient there) and :func:`_polished_witness` (needed at kinks, where the ray
    can leave the region, and where the solver's point misses the tie by more than ``tol / 10``); if neither
    flips, ``delta (1 + (tol / 10) 4^k)``, ``k = 1, 2, 3``. Each is verified in float64.
    """
    cands = [c for c in (delta * (1.0 + tol / 10), _polished_witness(layers, x, y, delta, tol))
             if c is not None and _flips(layers, x, y, c)]
    if cands:
        return min(cands, key=lambda c: float(np.linalg.norm(c)))
    for k in range(1, _SCALE_STEPS):
        cand = delta * (1.0 + tol / 10 * 4.0**k)
        if _flips(layers, x, y, cand):
            return cand
    return None


def _region(layers: Sequence[Layer], x: np.ndarray, pattern: list[np.ndarray]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The closed linear region of an activation pattern, in ``delta``: logits ``J delta + f0`` on it, and the
    region as ``G delta >= h`` (``z_i >= 0`` where active, ``z_i <= 0`` where not)."""
    jac, off = np.eye(x.size), x.copy()  # the layer's input is jac @ delta + off
    g_rows, h_rows = [], []
    for (w, b), on in zip(layers[:-1], pattern, strict=True):
        zj, z0 = w @ jac, w @ off + b
        sign = np.where(on, 1.0, -1.0)
        g_rows.append(sign[:, None] * zj)
        h_rows.append(-sign * z0)
        jac, off = on[:, None] * zj, on * z0
    w, b = layers[-1]
    return w @ jac, w @ off + b, np.vstack(g_rows), np.concatenate(h_rows)


def _polished_witness(layers: Sequence[Layer], x: np.ndarray, y: int, delta: np.ndarray, tol: float,
                      ambiguous: int = 3) -> np.ndarray | None:
    """A flip near a solver point at a kink: the nearest point of a linear region at ``delta`` where the margin
    ``f_j - f_y`` of its affine map is ``eps > 0`` (an LDP), ``eps = s (tol / 10) ||delta|| ||grad||`` for
    ``s = 1, 1e-2, 1e-4`` (at a corner of the region only the gradient's projection on the face moves the margin,
    so the cost in norm can exceed ``tol / 10``); the shortest that flips.

    The regions tried: every on/off choice of the ``ambiguous`` units nearest ``z = 0`` (within ``1e-6`` of
    the layer's scale), the others as at ``delta``; the classes: the two highest other than ``y``. On the closed
    region the network equals the affine map, so the point's margin is ``eps`` up to rounding; it is verified.
    """
    pre, h = [], x + delta
    for w, b in layers[:-1]:
        pre.append(w @ h + b)
        h = np.maximum(pre[-1], 0.0)
    f = _forward(layers, x + delta)
    scale = [1e-6 * (1 + np.max(np.abs(z))) for z in pre]
    near = sorted((abs(z[i]), n, i) for n, z in enumerate(pre) for i in range(z.size) if abs(z[i]) <= scale[n])
    near = near[:ambiguous]
    classes = [int(j) for j in np.argsort(-f, kind="stable") if j != y][:2]
    best, size = None, np.inf
    for choice in itertools.product((True, False), repeat=len(near)):
        pattern = [z > 0 for z in pre]
        for on, (_, n, i) in zip(choice, near, strict=True):
            pattern[n][i] = on
        jac, f0, g, hh = _region(layers, x, pattern)
        for j, shrink in itertools.product(classes, (1.0, 1e-2, 1e-4)):
            row = jac[j] - jac[y]
            eps = shrink * tol / 10 * np.linalg.norm(delta) * np.linalg.norm(row)
            _, cand = _ldp(np.vstack([g, row]), np.append(hh, f0[y] - f0[j] + eps))
            if cand is not None and np.linalg.norm(cand) < size and _flips(layers, x, y, cand):
                best, size = cand, float(np.linalg.norm(cand))
    return best


# ----------------------------------------------------------------------------------------------------------------
# Bounds (CROWN, through fcjax.certify in float64)
# ----------------------------------------------------------------------------------------------------------------


def _crown(jlayers: list, x: np.ndarray, y: int, radius: float
           ) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Padded pre-activation bounds of every hidden layer and CROWN's margin lower bounds over ``B(x, radius)``."""
    with jax.enable_x64(True):
        xj, r = jnp.asarray(x, jnp.float64), jnp.asarray(radius, jnp.float64)
        pre = certify.preactivation_bounds(jlayers, xj, r)
        margins = np.asarray(certify.margin_lower_bounds(jlayers, xj, jnp.asarray(y), r))
    bounds = []
    for lo, up in pre:
        lo, up = np.asarray(lo, np.float64), np.asarray(up, np.float64)
        bounds.append((lo - _BOUND_PAD * (1 + np.abs(lo)), up + _BOUND_PAD * (1 + np.abs(up))))
    return bounds, margins


def _count_unstable(bounds: list[tuple[np.ndarray, np.ndarray]]) -> int:
    return int(sum(np.sum((lo < 0) & (up > 0)) for lo, up in bounds))


# ----------------------------------------------------------------------------------------------------------------
# One program: the distance to class j within the ball of radius R
# ----------------------------------------------------------------------------------------------------------------


def _scip_model(scip: Any, *, time_limit: float, tol: float, atol: float, feastol: float, seed: int) -> Any:
    """A quiet, single-threaded, seeded SCIP model; heuristics and cutting-plane separators off.

    The attack's witness is the incumbent (an objective limit), so primal heuristics only cost time; the
    separators cost more than they save on these programs (measured: 1.9 s vs 12 s on a d = 16 sample).
    ``limits/gap`` is half of ``tol`` because the witness adds up to ``tol / 10`` more.
    """
    model = scip.Model()
    model.hideOutput()
    params = {"limits/time": max(time_limit, 1e-3), "limits/gap": tol / 2, "limits/absgap": atol / 2,
              "numerics/feastol": feastol, "randomization/randomseedshift": seed,
              "randomization/permutationseed": seed, "randomization/lpseed": seed, "lp/threads": 1,
              "parallel/maxnthreads": 1, "timing/clocktype": 2}
    for name, value in params.items():
        model.setParam(name, value)
    model.setHeuristics(scip.SCIP_PARAMSETTING.OFF)
    model.setSeparating(scip.SCIP_PARAMSETTING.OFF)
    return model


def _affine(scip: Any, w_row: np.ndarray, bias: float, inputs: list) -> Any:
    """``sum_k w_k h_k + bias`` for inputs ``h_k = coef var + offset`` given as ``(var, offset, coef)`` (``None``: a
    dead unit, 0)."""
    terms, const = [], float(bias)
    for wk, item in zip(w_row, inputs, strict=True):
        if item is None or wk == 0:
            continue
        var, off, coef = item
        terms.append(float(wk * coef) * var)
        const += float(wk) * off
    return scip.quicksum(terms) + const


def _relu_layer(scip: Any, model: Any, w: np.ndarray, b: np.ndarray, bounds: tuple[np.ndarray, np.ndarray],
                inputs: list, needs_binary: np.ndarray) -> list:
    """Variables ``h = relu(W h_prev + b)`` of one hidden layer: fixed where stable, big-M where unstable.

    ``needs_binary[i]`` False drops the binary and the two upper constraints (``h >= relu(z)`` only); only sound
    in the last hidden layer for a unit whose margin weight is ``<= 0`` (module docstring).
    """
    lo, up = bounds
    out: list = []
    for i in range(w.shape[0]):
        if up[i] <= 0:
            out.append(None)
            continue
        z = _affine(scip, w[i], b[i], inputs)
        h = model.addVar(lb=max(lo[i], 0.0), ub=up[i])
        if lo[i] >= 0:
            model.addCons(h == z)
        else:
            model.addCons(h >= z)
            if needs_binary[i]:
                a = model.addVar(vtype="B")
                model.addCons(h <= z - lo[i] * (1 - a))
                model.addCons(h <= up[i] * a)
        out.append((h, 0.0, 1.0))
    return out


def _class_program(scip: Any, model: Any, layers: Sequence[Layer], x: np.ndarray, y: int, j: int, radius: float,
                   bounds: list[tuple[np.ndarray, np.ndarray]]) -> list:
    """Adds ``min ||u|| s.t. f_j(x + radius u) >= f_y(x + radius u), ||u|| <= 1`` to ``model``.

    In units of the ball (``delta = radius u``): SCIP's tolerances are absolute, and ``||u||^2 <= t^2`` with
    ``t`` near 1 keeps them relative to the radius (unscaled, a radius of 0.08 lost 1e-6 of it). Returns the
    ``u`` variables. Units of the last hidden layer that the margin ignores (``c_i = 0``) are left out.
    """
    delta = [model.addVar(lb=-1.0, ub=1.0) for _ in range(x.size)]
    h: list = [(v, float(xi), radius) for v, xi in zip(delta, x, strict=True)]
    w_out, b_out = layers[-1]
    c = w_out[j] - w_out[y]
    for n, (w, b) in enumerate(layers[:-1]):
        last = n == len(layers) - 2
        needs = c > 0 if last else np.ones(w.shape[0], bool)
        lo, up = bounds[n]
        if last:  # a unit with c_i = 0 does not enter the margin
            up = np.where(c == 0, -np.inf, up)
        h = _relu_layer(scip, model, w, b, (lo, up), h, needs)
    model.addCons(_affine(scip, c, b_out[j] - b_out[y], h) >= 0)
    norm = model.addVar(lb=0.0, ub=1.0)
    model.addCons(scip.quicksum(v * v for v in delta) <= norm * norm)
    model.setObjective(norm, "minimize")
    return delta


class _Outcome(NamedTuple):
    """One program's result: its lower bound on ``r_j`` (within the ball), a solver point, status and nodes."""

    lower: float
    point: np.ndarray | None
    status: str
    nodes: int


def _solve_class_miqp(layers: Sequence[Layer], x: np.ndarray, y: int, j: int, radius: float,
                      bounds: list[tuple[np.ndarray, np.ndarray]], cutoff: float, deadline: float, *, scip: Any,
                      **options: Any) -> _Outcome:
    """Solve one class's program with objective limit ``cutoff`` (``inf``: none) until ``deadline``.

    Lower bound of ``min(r_j, cutoff)``: the dual bound, or ``cutoff`` (``radius`` without one) when SCIP proves
    that nothing better exists in the ball.
    """
    options = {**options, "atol": options["atol"] / radius}  # the objective is in units of the ball
    model = _scip_model(scip, time_limit=deadline - time.perf_counter(), **options)
    delta = _class_program(scip, model, layers, x, y, j, radius, bounds)
    if np.isfinite(cutoff):
        model.setObjlimit(cutoff / radius)
    model.optimize()
    status, nodes = model.getStatus(), int(model.getNNodes())
    point = None
    if model.getNSols() > 0:
        sol = model.getBestSol()
        point = radius * np.array([model.getSolVal(sol, v) for v in delta], np.float64)
    limit = min(cutoff, radius)
    lower = limit if status == "infeasible" else min(max(radius * float(model.getDualbound()), 0.0), limit)
    return _Outcome(lower, point, "timelimit" if status == "timelimit" else "optimal", nodes)


# ----------------------------------------------------------------------------------------------------------------
# One class by branch and bound with a least-distance QP per node (one hidden layer)
# ----------------------------------------------------------------------------------------------------------------


def _ldp(g: np.ndarray, h: np.ndarray) -> tuple[float, np.ndarray | None]:
    """``min ||delta|| s.t. G delta >= h``: a certified lower bound and the (approximate) minimiser.

    Lawson & Hanson (1974, "Solving least squares problems", ch. 23): with ``u >= 0`` the NNLS solution of
    ``[G^T; h^T] u ~ e_{n+1}`` and ``r`` its residual, ``delta = -r_{1:n} / r_{n+1}`` (``r = 0``: infeasible).
    The bound does not trust the solver: for every ``u >= 0``, ``u.h <= u.G delta <= ||G^T u|| ||delta||``
    (weak duality), so ``||delta|| >= u.h / ||G^T u||``, equal to the minimum at the exact ``u`` (KKT:
    ``delta* = G^T lambda``, ``||delta*||^2 = lambda.h``) and sound up to rounding at any other.
    """
    m, n = g.shape
    e = np.vstack([g.T, h[None, :]])
    f = np.zeros(n + 1)
    f[-1] = 1.0
    u, _ = nnls(e, f, maxiter=50 * (m + n + 1))
    gu, uh = g.T @ u, float(u @ h)
    size = float(np.linalg.norm(gu))
    bound = 0.0 if uh <= 0 else (np.inf if size == 0 else uh / size)
    r = e @ u - f
    if abs(r[-1]) < 1e-14:
        return np.inf, None  # residual 0: G^T u = 0 with u.h = 1, a Farkas certificate of infeasibility
    return bound, -r[:n] / r[-1]


class _ClassNet(NamedTuple):
    """One class's margin ``g(delta) = sum_i c_i relu(a_i . delta + z0_i) + c0`` on the ball, split by unit kind.

    ``pos``: unstable units with ``c_i > 0`` (branched on; their chord ``s (z - lo)`` bounds ``relu`` above);
    ``neg``: unstable units with ``c_i < 0`` (exact through cuts: ``relu(z) >= p z`` for ``p in {0, 1}``);
    stable active units are affine and folded into ``lin, const``; stable inactive ones are 0.
    """

    a: np.ndarray
    z0: np.ndarray
    c: np.ndarray
    lo: np.ndarray
    up: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    lin: np.ndarray
    const: float
    norms: np.ndarray
    a_hat: np.ndarray


def _class_net(layers: Sequence[Layer], x: np.ndarray, y: int, j: int,
               bounds: list[tuple[np.ndarray, np.ndarray]]) -> _ClassNet:
    (w, b), (w_out, b_out) = layers
    lo, up = bounds[0]
    c = w_out[j] - w_out[y]
    z0 = w @ x + b
    unstable = (lo < 0) & (up > 0)
    act = (lo >= 0) & (c != 0)
    norms = np.linalg.norm(w, axis=1)
    return _ClassNet(w, z0, c, lo, up, np.flatnonzero(unstable & (c > 0)), np.flatnonzero(unstable & (c < 0)),
                     c[act] @ w[act], float(c[act] @ z0[act] + b_out[j] - b_out[y]), norms,
                     w / np.where(norms > 0, norms, 1.0)[:, None])


def _halfspace_bounds(a_hat: np.ndarray, g_hat: np.ndarray, eta: np.ndarray, rho: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """``min / max â_i . delta`` over ``{||delta|| <= rho, ĝ_k . delta >= eta_k}``, one halfspace ``k`` at a time.

    Unit vectors ``â (m, d)``, ``ĝ (K, d)``. Where the ball's own extreme ``-rho â`` (``+rho â``) satisfies the
    halfspace it is the optimum (``-rho``, ``rho``); else the optimum lies on the hyperplane ``ĝ . delta = eta``,
    a ball of radius ``sqrt(rho^2 - eta^2)`` about ``eta ĝ``: ``eta cos -+ sqrt(rho^2 - eta^2) sin``. Returns
    ``(m, K)`` arrays (the caller takes the tightest over ``k``); needs ``eta <= rho`` (a non-empty cut ball).
    """
    cos = np.clip(a_hat @ g_hat.T, -1.0, 1.0)
    sin = np.sqrt(1.0 - cos**2)
    e = eta[None, :]
    rest = np.sqrt(np.maximum(rho**2 - e**2, 0.0))
    low = np.where(-rho * cos >= e, -rho, e * cos - rest * sin)
    high = np.where(rho * cos >= e, rho, e * cos + rest * sin)
    return low, high


def _node_rows(net: _ClassNet, side: np.ndarray, rho: float
               ) -> tuple[np.ndarray, float, np.ndarray, np.ndarray] | None:
    """The node's margin part without the ``neg`` units (``lin . delta + const``) and its halfspaces ``G delta >= h``.

    ``side[k]`` for unit ``pos[k]``: 1 active (``relu = z``, ``z >= 0``), 0 inactive (``relu = 0``, ``z <= 0``),
    -1 free: the chord over ``[lo, up]``, tightened to the ball of radius ``rho`` (the pruning threshold: only
    points inside it matter) cut by each fixed unit's halfspace (:func:`_halfspace_bounds`). A free unit whose
    tightened interval no longer straddles 0 is affine on the node. ``None`` where the node misses the ball.
    """
    p, cp = net.pos, net.c[net.pos]
    fixed = side >= 0
    sign = np.where(side[fixed] == 1, 1.0, -1.0)  # z >= 0 is a.delta >= -z0; z <= 0 is -a.delta >= z0
    norms = net.norms[p]
    z0 = net.z0[p]
    lo, up = np.maximum(net.lo[p], z0 - rho * norms), np.minimum(net.up[p], z0 + rho * norms)
    if fixed.any():
        g_hat = sign[:, None] * net.a_hat[p[fixed]]
        eta = -sign * z0[fixed] / norms[fixed]
        if np.any(eta > rho):  # a fixed unit's halfspace misses the ball: nothing of interest in this node
            return None
        low, high = _halfspace_bounds(net.a_hat[p], g_hat, eta, rho)
        lo = np.maximum(lo, z0 + norms * low.max(axis=1))
        up = np.minimum(up, z0 + norms * high.min(axis=1))
    free = side == -1
    straddle = free & (lo < 0) & (up > 0)
    chord = up / np.where(straddle, up - lo, 1.0)
    slope = np.where(side == 1, 1.0, np.where(side == 0, 0.0, np.where(straddle, chord, (lo >= 0) * 1.0)))
    offset = np.where(straddle, -slope * lo, 0.0)
    lin = net.lin + (cp * slope) @ net.a[p]
    const = net.const + float(cp @ (slope * z0 + offset))
    return lin, const, sign[:, None] * net.a[p[fixed]], -sign * z0[fixed]


def _node_bound(net: _ClassNet, side: np.ndarray, cuts: list[np.ndarray], cutoff: float
                ) -> tuple[float, np.ndarray | None, list[np.ndarray]]:
    """Lower bound of ``||delta||`` over the node (and its minimiser), by LDPs with Kelley cuts on the ``neg`` units.

    ``{g_node >= 0}`` is convex (the ``neg`` terms ``c_i relu(z_i)`` are concave) and equals the intersection of
    the halfspaces ``L_p(delta) >= 0``, ``L_p`` the margin with ``relu(z_i)`` replaced by ``p_i z_i``; each
    iteration adds the cut of the activation pattern ``p`` at the current minimiser, until that cut is already in
    (the point then satisfies the node's constraint) or the bound reaches ``cutoff``. Every LDP is a relaxation,
    so every bound is valid. Returns ``(bound, point or None, cuts)``.
    """
    rows = _node_rows(net, side, cutoff)
    if rows is None:
        return np.inf, None, list(cuts)
    lin, const, g_fix, h_fix = rows
    ca, cz = net.c[net.neg, None] * net.a[net.neg], net.c[net.neg] * net.z0[net.neg]
    cuts = list(cuts) or [np.zeros(net.neg.size, bool)]
    seen = {pat.tobytes() for pat in cuts}
    bound, point = 0.0, None
    for _ in range(4 * net.neg.size + 8):
        cut_rows = np.stack([lin + pat @ ca for pat in cuts])
        rhs = -np.array([const + float(pat @ cz) for pat in cuts])
        bound, point = _ldp(np.vstack([g_fix, cut_rows]), np.concatenate([h_fix, rhs]))
        if point is None or bound >= cutoff:
            return bound, None, cuts
        pat = net.a[net.neg] @ point + net.z0[net.neg] > 0
        if pat.tobytes() in seen:
            break
        seen.add(pat.tobytes())
        cuts.append(pat)
    return bound, point, cuts


def _branch_unit(net: _ClassNet, side: np.ndarray, point: np.ndarray) -> int | None:
    """The free ``pos`` unit whose chord overestimates ``c_i relu(z_i)`` the most at ``point`` (``None``: none free)."""
    free = np.flatnonzero(side == -1)
    if free.size == 0:
        return None
    p = net.pos[free]
    z = net.a[p] @ point + net.z0[p]
    chord = net.up[p] / (net.up[p] - net.lo[p]) * (z - net.lo[p])
    return int(free[np.argmax(net.c[p] * (chord - np.maximum(z, 0.0)))])


def _solve_class_bab(layers: Sequence[Layer], x: np.ndarray, y: int, j: int, radius: float,
                     bounds: list[tuple[np.ndarray, np.ndarray]], cutoff: float, deadline: float, tol: float,
                     **_: Any) -> _Outcome:
    """Best-first branch and bound on the ``pos`` units' signs, an LDP per node (:func:`_node_bound`).

    A node closes when its bound reaches the threshold (the cutoff, then ``(1 - tol / 2)`` times the best point
    found here), when the relaxation is infeasible, or when its minimiser is a true boundary point of class ``j``
    (float64 network: then it is the node's optimum). Lower bound of ``min(r_j, threshold)``: the smallest bound
    of the nodes left open at the deadline and of the nodes closed by a point.
    """
    net = _class_net(layers, x, y, j, bounds)
    limit = min(cutoff, radius)
    best_point, best_norm, closed_lower, nodes, status = None, np.inf, np.inf, 0, "optimal"
    heap: list = [(0.0, 0, -np.ones(net.pos.size, np.int8), [])]
    tick = 1
    while heap:
        if time.perf_counter() > deadline:
            status = "timelimit"
            break
        parent, _, side, cuts = heapq.heappop(heap)
        if parent >= limit:
            continue
        nodes += 1
        bound, point, cuts = _node_bound(net, side, cuts, limit)
        if point is None or bound >= limit:
            continue
        f = _forward(layers, x + point)
        unit = _branch_unit(net, side, point)
        if f[j] >= f[y] or unit is None:  # a true boundary point (or an exact leaf): the node's minimum
            closed_lower = min(closed_lower, bound)
            size = float(np.linalg.norm(point))
            if size < best_norm:
                best_point, best_norm = point, size
                limit = min(limit, size * (1 - tol / 2))
            continue
        for s in (0, 1):
            child = side.copy()
            child[unit] = s
            heapq.heappush(heap, (bound, tick, child, cuts))
            tick += 1
    open_lower = heap[0][0] if heap and status == "timelimit" else np.inf
    return _Outcome(max(min(open_lower, closed_lower, limit), 0.0), best_point, status, nodes)


class _Sample(NamedTuple):
    lower: float
    upper: float
    witness: np.ndarray
    status: str
    nodes: int
    programs: int
    unstable: int


def _candidates(margins: np.ndarray, y: int, first: int | None) -> list[int]:
    """Classes CROWN cannot exclude (margin bound ``<= 0``), ``first`` (the attack's class) leading, then by
    increasing margin bound (the most likely to be reachable)."""
    order = [int(j) for j in np.argsort(margins, kind="stable") if j != y and margins[j] <= 0]
    if first is not None and first in order:
        order.remove(first)
        order.insert(0, first)
    return order


def _exact_one(search: Callable[..., _Outcome], layers: Sequence[Layer], jlayers: list, x: np.ndarray, y: int,
               radius: float, start: np.ndarray | None, *, tol: float, time_limit: float, max_doublings: int
               ) -> _Sample:
    """The bracket for one correctly classified sample; ``radius`` is the first ball (the attack's distance),
    ``start`` the attack's perturbation (the first incumbent) and ``search`` one class's method."""
    deadline = time.perf_counter() + time_limit
    best, witness = np.inf, np.zeros_like(x)
    if start is not None:
        best, witness = float(np.linalg.norm(start)), start
    known, nodes, programs, status, unstable = 0.0, 0, 0, "optimal", 0  # known: no flip within this radius
    ball_lower = 0.0
    for _ in range(max_doublings + 1):
        r = min(radius, best)
        bounds, margins = _crown(jlayers, x, y, r)
        unstable = _count_unstable(bounds)
        first = int(np.argmax(_forward(layers, x + witness))) if np.isfinite(best) else None
        queue = _candidates(margins, y, first)
        ball_lower = r  # classes CROWN excluded at radius r are at distance > r
        while queue:
            if time.perf_counter() >= deadline:
                status = "timelimit"
                ball_lower = 0.0  # the classes not searched: nothing known beyond `known` and the caller's `lower`
                break
            j = queue.pop(0)
            cutoff = best * (1 - tol / 2) if np.isfinite(best) else np.inf
            out = search(layers, x, y, j, r, bounds, cutoff, deadline)
            nodes, programs = nodes + out.nodes, programs + 1
            ball_lower = min(ball_lower, out.lower)
            if out.status == "timelimit":
                status = "timelimit"
            if out.point is not None:
                cand = _witness(layers, x, y, out.point, tol)
                if cand is None:
                    status = "unverified" if status == "optimal" else status
                elif np.linalg.norm(cand) < best:
                    best, witness = float(np.linalg.norm(cand)), cand
                    if best < 0.99 * r:  # a smaller ball: tighter bounds, fewer unstable units and classes
                        r = best
                        bounds, margins = _crown(jlayers, x, y, r)
                        unstable = _count_unstable(bounds)
                        queue = [k for k in queue if margins[k] <= 0]
        if np.isfinite(best) or status == "timelimit":
            break
        known, radius = r, 2 * r  # no flip within r: the distance exceeds it; try a ball twice as large
    if not np.isfinite(best) and status == "optimal":
        status = "no witness"
    return _Sample(min(max(known, ball_lower), best), best, witness, status, nodes, programs, unstable)


# ----------------------------------------------------------------------------------------------------------------
# Validation and the public function
# ----------------------------------------------------------------------------------------------------------------


def _import_scip() -> Any:
    try:
        import pyscipopt  # optional: `import fcjax` and method='bab-qp' work without it
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("fcjax.exact.exact_radius needs pyscipopt (SCIP): pip install pyscipopt") from err
    return pyscipopt


def _check_bound_arg(value: Any, name: str, x: Any, *, allow_inf: bool) -> np.ndarray | None:
    if value is None:
        return None
    with jax.enable_x64(True):
        return np.asarray(certify._check_radius(value, x, name, allow_inf=allow_inf), np.float64)


def _attack(jlayers: list, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances and perturbations of :func:`fcjax.attacks.min_norm` in float64 (``inf`` where none found)."""
    with jax.enable_x64(True):
        res = min_norm(_logits, jlayers, jnp.asarray(x, jnp.float64), jnp.asarray(y))
    return np.asarray(res.norm, np.float64), np.asarray(res.delta, np.float64)


def _logits(layers: Any, x: jax.Array) -> jax.Array:
    """Module-level logits function, so repeated :func:`exact_radius` calls reuse the attack's compilation."""
    return certify.logits(layers, x)


def _first_ball(layers: list[Layer], jlayers: list, x: np.ndarray, y: int, upper: float) -> float:
    """The first radius: the caller's or attack's upper bound, else twice the Lipschitz radius (or 1)."""
    if np.isfinite(upper):
        return upper
    with jax.enable_x64(True):
        lip = float(certify.lipschitz_radius(jlayers, jnp.asarray(x, jnp.float64), jnp.asarray(y)))
    return 2 * lip if np.isfinite(lip) and lip > 0 else 1.0


def _method(method: Any, depth: int, **options: Any) -> Callable[..., _Outcome]:
    """One class's search ``solve(layers, x, y, j, radius, bounds, cutoff, deadline) -> _Outcome`` for ``method``
    (checked here, before anything runs) on a net of ``depth`` layers."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "auto":
        method = "bab-qp" if depth == 2 else "miqp"
    if method == "bab-qp":
        if depth != 2:
            raise ValueError(f"method='bab-qp' needs exactly one hidden layer (2 layers), got {depth} layers; "
                             "use method='miqp'")
        return functools.partial(_solve_class_bab, tol=options["tol"])
    return functools.partial(_solve_class_miqp, scip=_import_scip(), **options)


def exact_radius(layers: Sequence[tuple[Any, Any]], x: Any, y: Any, *, upper: Any = None, lower: Any = None,
                 tol: float = 1e-6, atol: float = 1e-9, time_limit: float = 60.0, feastol: float = 1e-7,
                 method: str = "auto", max_doublings: int = 12, seed: int = 0) -> ExactResult:
    """The exact minimal l2 perturbation ``min ||delta||`` with ``argmax f(x + delta) != y``, per sample.

    Per sample: if ``x`` is not classified as ``y`` (float64), ``r = 0``. Else a ball of radius ``R = upper``
    (default: :func:`fcjax.attacks.min_norm`'s distance, whose perturbation is the first incumbent), CROWN's
    pre-activation and margin bounds on it, and one search (``method``) per class that CROWN cannot exclude
    (module docstring), each limited by the best verified distance so far. If no flip exists within ``R``,
    ``R`` doubles (``max_doublings`` times). Stops at ``time_limit`` seconds per sample with the best bracket.

    Args:
      layers: ``[(W_1, b_1), ..., (W_L, b_L)]``, ``W_l`` of shape ``(out, in)``, ReLU between layers; cast to
        float64.
      x: ``(d,)`` or ``(n, d)`` inputs.
      y: label(s): an int or an integer array of shape ``()`` or ``(n,)``.
      upper: optional known upper bound(s) on ``r`` (scalar or ``(n,)``, ``inf`` for none), the first ball's
        radius; without it the attack runs. A value below ``r`` is found out (no flip in the ball: the ball
        doubles) at the cost of the programs on the smaller ball.
      lower: optional certified lower bound(s) (e.g. :func:`fcjax.certify.certified_radius`), combined with the
        solver's by ``max`` (and clipped to ``upper``: the witness is the proof).
      tol: relative tolerance of ``exact``: the searches stop at a relative gap of ``tol / 2`` on the norm (the
        cutoff is ``(1 - tol / 2)`` times the best distance), the witness costs about ``tol / 10`` more.
      atol: absolute slack of ``exact`` (for ``r`` near 0).
      time_limit: wall-clock seconds per sample (bounds, building and solving).
      feastol: SCIP's ``numerics/feastol`` (absolute constraint violation allowed; ``"miqp"`` only).
      method: ``"bab-qp"`` (one hidden layer only), ``"miqp"`` (any depth; needs pyscipopt), or ``"auto"``:
        ``"bab-qp"`` for one hidden layer (measured faster, module docstring), else ``"miqp"``.
      max_doublings: ball doublings where no flip lies within the ball.
      seed: SCIP's random seeds (``randomization/*``; ``"miqp"`` only, ``"bab-qp"`` is deterministic).

    Returns:
      :class:`ExactResult`, arrays of shape ``x.shape[:-1]`` (``witness`` like ``x``).

    Raises:
      TypeError, ValueError: naming the argument, before anything runs (``"bab-qp"`` on a net with more than
        one hidden layer included). ImportError: ``"miqp"`` without pyscipopt.
    """
    checked = certify._check_layers(layers)
    x_arr = certify._check_x(x, checked)
    k = checked[-1][0].shape[0]
    y_arr = np.asarray(certify._check_y(y, x_arr, k))
    upper_arr = _check_bound_arg(upper, "upper", x_arr, allow_inf=True)
    lower_arr = _check_bound_arg(lower, "lower", x_arr, allow_inf=False)
    tol = check_float(tol, "tol", low=0.0, high=0.1, open_low=True)
    atol = check_float(atol, "atol", low=0.0)
    time_limit = check_float(time_limit, "time_limit", low=0.0, open_low=True)
    feastol = check_float(feastol, "feastol", low=1e-12, high=1e-3)
    max_doublings = check_int(max_doublings, "max_doublings", minimum=0)
    seed = check_int(seed, "seed", minimum=0)
    search = _method(method, len(checked), tol=tol, atol=atol, feastol=feastol, seed=seed)

    net = [(np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in checked]
    with jax.enable_x64(True):
        jlayers = [(jnp.asarray(w), jnp.asarray(b)) for w, b in net]
    xs = np.asarray(x_arr, np.float64).reshape(-1, net[0][0].shape[1])
    ys = np.broadcast_to(y_arr, x_arr.shape[:-1]).reshape(-1).astype(int)
    n = xs.shape[0]
    ups = np.full(n, np.inf) if upper_arr is None else np.broadcast_to(upper_arr, x_arr.shape[:-1]).reshape(-1)
    lows = np.zeros(n) if lower_arr is None else np.broadcast_to(lower_arr, x_arr.shape[:-1]).reshape(-1)
    starts: list[np.ndarray | None] = [None] * n
    if upper_arr is None:
        ups, deltas = _attack(jlayers, xs, ys)
        starts = [deltas[i] if np.isfinite(ups[i]) and _flips(net, xs[i], ys[i], deltas[i]) else None
                  for i in range(n)]

    rows = []
    for i in range(n):
        t0 = time.perf_counter()
        if int(np.argmax(_forward(net, xs[i]))) != ys[i]:
            s = _Sample(0.0, 0.0, np.zeros_like(xs[i]), "misclassified", 0, 0, 0)
        else:
            s = _exact_one(search, net, jlayers, xs[i], int(ys[i]), _first_ball(net, jlayers, xs[i], ys[i], ups[i]),
                           starts[i], tol=tol, time_limit=time_limit, max_doublings=max_doublings)
        lo = min(max(s.lower, lows[i]), s.upper)
        rows.append((lo, s, time.perf_counter() - t0))
    return _pack(rows, x_arr.shape, tol, atol)


def _pack(rows: list, shape: tuple[int, ...], tol: float, atol: float) -> ExactResult:
    batch = shape[:-1]
    lower = np.array([r[0] for r in rows], np.float64)
    upper = np.array([r[1].upper for r in rows], np.float64)
    with np.errstate(invalid="ignore"):  # inf - inf where nothing was found: not exact
        exact = np.isfinite(upper) & (upper - lower <= tol * np.maximum(upper, _TINY) + atol)
    return ExactResult(lower=lower.reshape(batch), upper=upper.reshape(batch), exact=exact.reshape(batch),
                       witness=np.stack([r[1].witness for r in rows]).reshape(shape),
                       seconds=np.array([r[2] for r in rows]).reshape(batch),
                       status=tuple(r[1].status for r in rows),
                       nodes=np.array([r[1].nodes for r in rows]).reshape(batch),
                       programs=np.array([r[1].programs for r in rows]).reshape(batch),
                       unstable=np.array([r[1].unstable for r in rows]).reshape(batch))


__all__ = ["METHODS", "ExactResult", "exact_radius"]
