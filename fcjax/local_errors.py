"""Deep supervised learning with local errors (Mostafa, Ramesh, Cauwenberghs, Front. Neurosci. 2018), and the
back-propagation baseline of the same architecture: the networks of Jiang, Zhou, Huang (Chin. Phys. B 30, 048702).

Every hidden layer ``l`` of an MLP, ``h_l = act(W_l h_{l−1} + b_l)`` with ``h_0 = x``, has a fixed random readout
``B_l`` of shape ``(N_l, k)``, entries ``N(0, gain²/N_l)``, drawn from a key and never trained. In ``"local"`` mode
the training loss is ``Σ_l CE(h_l B_l, y)`` with ``stop_gradient`` on every layer's input, so each layer learns from
its own classifier's error and no gradient crosses layers; all layers are trained at once (Mostafa et al.'s
simultaneous variant; the layer-by-layer variant of the third-party code [3P] is not implemented). In
``"backprop"`` mode the same hidden layers feed a trained linear readout and the loss is its cross-entropy.

The stop-gradient is part of the *training loss* only: :func:`representations` and :func:`layer_logits` are the
plain forward pass, so input gradients (FGSM) flow through every layer.

Our choices where the paper's are unknown [D]: Flax's default (LeCun-normal) initialisation, zero biases, Adam,
readouts without bias, the sum (not the mean) of the per-layer losses.

    >>> import jax, jax.numpy as jnp
    >>> from fcjax.local_errors import LocalErrorConfig, representations, train_local
    >>> x = jnp.concatenate([jnp.full((10, 2), -1.0), jnp.full((10, 2), 1.0)])
    >>> y = jnp.repeat(jnp.arange(2), 10)
    >>> cfg = LocalErrorConfig(widths=(8, 8), classes=2, steps=50, learning_rate=0.05, batch_size=None)
    >>> res = train_local(jax.random.key(0), x, y, cfg)
    >>> res.accuracies.tolist(), [h.shape for h in representations(res.params, x, cfg)]
    ([1.0, 1.0], [(20, 8), (20, 8)])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from ._types import Array, Float, Int, Key
from ._validate import (
    check_array,
    check_dtype,
    check_float,
    check_int,
    check_key,
    check_labels,
    check_params,
    first_line,
)
from .train import cross_entropy, minibatch_step

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {"relu": nn.relu, "tanh": jnp.tanh, "sigmoid": nn.sigmoid}
MODES = ("local", "backprop")

Params = Any
Readouts = tuple[Float[Array, "_N k"], ...]  # one (N_l, k) array per layer; N_l varies (unchecked)


@dataclasses.dataclass(frozen=True)
class LocalErrorConfig:
    """Architecture and optimisation of a local-error (or back-propagation) MLP; hashable, a static ``jit`` argument.

    Attributes:
      widths: hidden widths ``(N_1, …, N_L)``.
      classes: number of classes ``k``.
      activation: ``"relu"``, ``"tanh"`` or ``"sigmoid"``.
      steps: Adam steps (all layers updated at every step).
      learning_rate: Adam step size.
      batch_size: mini-batch size (drawn with replacement); ``None`` for full-batch training.
      mode: ``"local"`` (fixed random readout per layer, no gradient across layers) or ``"backprop"``.
      readout_gain: the fixed readouts' entries are ``N(0, readout_gain²/N_l)``.
      log_every: record the training loss every this many steps.
    """

    widths: tuple[int, ...] = (256, 256, 256)
    classes: int = 10
    activation: str = "relu"
    steps: int = 1000
    learning_rate: float = 1e-3
    batch_size: int | None = 64
    mode: str = "local"
    readout_gain: float = 1.0
    log_every: int = 10

    def __post_init__(self) -> None:
        if not isinstance(self.widths, tuple) or not self.widths:
            raise TypeError(f"widths must be a non-empty tuple of ints, got {self.widths!r}")
        for i, w in enumerate(self.widths):
            check_int(w, f"widths[{i}]", minimum=1)
        check_int(self.classes, "classes", minimum=2)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        check_int(self.steps, "steps", minimum=1)
        check_float(self.learning_rate, "learning_rate", low=0.0, open_low=True)
        if self.batch_size is not None:
            check_int(self.batch_size, "batch_size", minimum=1)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        check_float(self.readout_gain, "readout_gain", low=0.0, open_low=True)
        check_int(self.log_every, "log_every", minimum=1)


class LocalErrorResult(NamedTuple):
    """A trained network: its parameters, the fixed readouts (``()`` in backprop mode), each classifier's final
    training accuracy (``(L,)`` local classifiers, or ``(1,)`` for the backprop readout), the final full-data loss
    and the loss every ``log_every`` steps."""

    params: Params
    readouts: Readouts
    accuracies: Float[Array, " c"]
    loss: Float[Array, ""]
    loss_curve: Float[Array, " s"]


class LocalErrorMLP(nn.Module):
    """Hidden layers ``dense_0 … dense_{L−1}`` (and a trained ``readout`` when ``trained_readout``).

    ``__call__(x, detach=False)`` returns ``(representations, logits)``: the ``L`` arrays ``(..., N_l)`` and the
    trained readout's ``(..., k)`` logits (``None`` without one). ``detach=True`` stops gradients at every hidden
    layer's input (the local-error training loss).
    """

    widths: Sequence[int]
    classes: int
    activation: str = "relu"
    trained_readout: bool = False

    @nn.compact
    def __call__(self, x: Float[Array, "... d"], detach: bool = False
                 ) -> tuple[tuple[Float[Array, "... _N"], ...], Float[Array, "... k"] | None]:
        act = ACTIVATIONS[self.activation]
        hs = []
        for n, width in enumerate(self.widths):
            inp = jax.lax.stop_gradient(x) if detach and n > 0 else x
            x = act(nn.Dense(width, name=f"dense_{n}")(inp))
            hs.append(x)
        logits = nn.Dense(self.classes, name="readout")(x) if self.trained_readout else None
        return tuple(hs), logits


def local_error_mlp(config: LocalErrorConfig) -> LocalErrorMLP:
    """The :class:`LocalErrorMLP` of ``config`` (a trained readout in backprop mode only)."""
    return LocalErrorMLP(tuple(config.widths), config.classes, config.activation, config.mode == "backprop")


def fixed_readouts(key: Key, config: LocalErrorConfig, dtype: Any = jnp.float32) -> Readouts:
    """The local classifiers ``B_l``, ``(N_l, k)`` with i.i.d. ``N(0, readout_gain²/N_l)`` entries, one key per layer
    (``fold_in(key, l)``); ``()`` in backprop mode."""
    check_key(key)
    if not isinstance(config, LocalErrorConfig):
        raise TypeError(f"config must be a LocalErrorConfig, got {type(config).__name__}")
    dtype = check_dtype(dtype)  # float64 without x64 is an error, not float32
    if config.mode != "local":
        return ()
    return tuple(jax.random.normal(jax.random.fold_in(key, n), (w, config.classes), dtype)
                 * (config.readout_gain / w**0.5) for n, w in enumerate(config.widths))


def representations(params: Params, x: Float[Array, "n d"], config: LocalErrorConfig) -> list[Float[Array, "n _N"]]:
    """The hidden representations ``h_l(x)``, one ``(n, N_l)`` array per layer (plain forward pass)."""
    if not isinstance(config, LocalErrorConfig):
        raise TypeError(f"config must be a LocalErrorConfig, got {type(config).__name__}")
    check_array(x, "x", ndim=2)
    check_params(params)
    hs, _ = _apply(config, params, x)
    return list(hs)


def layer_logits(params: Params, readouts: Readouts, x: Float[Array, "n d"], config: LocalErrorConfig,
                 *, detach: bool = False) -> list[Float[Array, "n k"]]:
    """Each classifier's logits: ``h_l B_l`` for every layer (local mode), or the trained readout's (backprop).

    ``detach=True`` cuts the gradient at each hidden layer's input (what the local training loss differentiates).
    """
    _check_readouts(readouts, config)
    check_array(x, "x", ndim=2)
    check_params(params)
    return _layer_logits(params, readouts, x, config, detach)


def _layer_logits(params: Params, readouts: Readouts, x: Array, config: LocalErrorConfig, detach: bool) -> list:
    hs, logits = _apply(config, params, x, detach)
    if config.mode == "backprop":
        return [logits]
    return [h @ b.astype(h.dtype) for h, b in zip(hs, readouts, strict=True)]


def local_loss(params: Params, readouts: Readouts, x: Float[Array, "m d"], y: Int[Array, " m"],
               config: LocalErrorConfig) -> Float[Array, ""]:
    """The training loss: ``Σ_l CE(stop_gradient-fed h_l B_l, y)`` (local) or ``CE(readout(h_L), y)`` (backprop)."""
    _check_readouts(readouts, config)
    _check_data(x, y, config.classes)
    check_params(params)
    return sum(cross_entropy(z, y) for z in _layer_logits(params, readouts, x, config, config.mode == "local"))


@dataclasses.dataclass(frozen=True)
class LayerClassifier:
    """``logits_fn((params, readouts), x)`` of one classifier of a trained network, for the attacks.

    Hashable and compared by value, so two equal instances share compiled attack programs. ``layer`` indexes the
    local classifiers (``-1``: the last; backprop mode has one classifier, index 0 or -1).
    """

    config: LocalErrorConfig
    layer: int = -1

    def __post_init__(self) -> None:
        if not isinstance(self.config, LocalErrorConfig):
            raise TypeError(f"config must be a LocalErrorConfig, got {type(self.config).__name__}")
        count = len(self.config.widths) if self.config.mode == "local" else 1
        layer = check_int(self.layer, "layer")
        if not -count <= layer < count:
            raise ValueError(f"layer must index one of the {count} classifiers ({-count} to {count - 1}), got {layer}")

    def __call__(self, params: tuple[Params, Readouts], x: Float[Array, "n d"]) -> Float[Array, "n k"]:
        return layer_logits(params[0], params[1], x, self.config)[self.layer]


def _apply(config: LocalErrorConfig, params: Params, x: Array, detach: bool = False) -> Any:
    try:
        return local_error_mlp(config).apply(params, x, detach)
    except Exception as err:  # flax's scope errors do not say which argument was wrong
        raise TypeError(f"params must be the variables of local_error_mlp(config) for inputs like x "
                        f"{getattr(x, 'shape', '')} ({type(err).__name__}: {first_line(err)})") from err


def _check_readouts(readouts: Any, config: Any) -> None:
    if not isinstance(config, LocalErrorConfig):
        raise TypeError(f"config must be a LocalErrorConfig, got {type(config).__name__}")
    want = [(w, config.classes) for w in config.widths] if config.mode == "local" else []
    if not isinstance(readouts, (tuple, list)) or [getattr(b, "shape", None) for b in readouts] != want:
        got = [getattr(b, "shape", type(b).__name__) for b in readouts] if isinstance(readouts, (tuple, list)) \
            else type(readouts).__name__
        raise ValueError(f"readouts must be fixed_readouts(key, config): arrays of shapes {want}, got {got}")
    for b in readouts:
        check_array(b, "readouts")


def _check_data(x: Any, y: Any, classes: int) -> None:
    check_array(x, "x", ndim=2, min_size={0: 1, 1: 1})
    check_labels(y, "y", x.shape[:1], classes=classes)


def _check_train(key: Any, x: Any, y: Any, config: Any) -> jax.Array:
    if not isinstance(config, LocalErrorConfig):
        raise TypeError(f"config must be a LocalErrorConfig, got {type(config).__name__}")
    key = check_key(key)
    _check_data(x, y, config.classes)
    return key


def _fit(key: Key, x: Array, y: Array, config: LocalErrorConfig, checkpoints: tuple[int, ...]):
    """Adam on the local (or backprop) loss; also the parameters after each of ``checkpoints`` steps.

    Every step writes its parameters into the slot of the first checkpoint not yet reached, so after the scan slot
    ``i`` holds the parameters of step ``checkpoints[i]`` (one copy a step, no host round trip).
    """
    params = local_error_mlp(config).init(jax.random.fold_in(key, 0), x[:1])
    readouts = fixed_readouts(jax.random.fold_in(key, 1), config, x.dtype)
    opt = optax.adam(config.learning_rate)
    step = minibatch_step(lambda p, xb, yb: local_loss(p, readouts, xb, yb, config), opt, x, y, config.batch_size)
    marks = jnp.asarray(checkpoints, jnp.int32)

    def body(carry, inp):
        t, k = inp
        (p, state), snaps = carry
        (p, state), loss = step((p, state), k)
        slot = jnp.minimum(jnp.searchsorted(marks, t + 1), len(checkpoints) - 1)
        snaps = jax.tree.map(lambda buf, leaf: jax.lax.dynamic_update_index_in_dim(buf, leaf, slot, 0), snaps, p)
        return ((p, state), snaps), loss

    snaps0 = jax.tree.map(lambda leaf: jnp.zeros((len(checkpoints), *leaf.shape), leaf.dtype), params)
    keys = jax.random.split(jax.random.fold_in(key, 2), config.steps)
    ((params, _), snaps), losses = jax.lax.scan(body, ((params, opt.init(params)), snaps0),
                                                (jnp.arange(config.steps), keys))
    return params, readouts, snaps, losses


def train_local(key: Key, x: Float[Array, "m d"], y: Int[Array, " m"], config: LocalErrorConfig) -> LocalErrorResult:
    """Initialise, draw the fixed readouts and train with Adam: one pure function, ``jax.vmap``-able over keys.

    ``fold_in(key, 0)`` initialises the layers, ``fold_in(key, 1)`` draws the readouts (:func:`fixed_readouts`),
    ``fold_in(key, 2)`` the mini-batches. ``jax.jit(jax.vmap(train_local, in_axes=(0, None, None, None)),
    static_argnums=3)`` trains one network per key.

    Args:
      key: PRNG key.
      x: ``(m, d)`` training inputs.
      y: ``(m,)`` integer labels in ``[0, config.classes)``.
      config: :class:`LocalErrorConfig` (static under ``jit``).
    """
    key = _check_train(key, x, y, config)
    params, readouts, _, losses = _fit(key, x, y, config, (config.steps,))
    logits = layer_logits(params, readouts, x, config)
    accuracies = jnp.stack([jnp.mean((jnp.argmax(z, axis=-1) == y).astype(z.dtype)) for z in logits])
    return LocalErrorResult(params, readouts, accuracies, local_loss(params, readouts, x, y, config),
                            losses[:: config.log_every])


def train_local_snapshots(key: Key, x: Float[Array, "m d"], y: Int[Array, " m"], config: LocalErrorConfig,
                          checkpoints: tuple[int, ...]) -> tuple[Params, Readouts]:
    """The parameters of one training run after each of ``checkpoints`` steps: a family of networks of growing
    training time from a single run (same key, same mini-batches as :func:`train_local`).

    Args:
      key, x, y, config: as :func:`train_local`; ``config.steps`` is the run's length.
      checkpoints: strictly increasing step counts in ``[1, config.steps]`` (static).

    Returns:
      ``(snapshots, readouts)``: the parameter pytree with a leading axis of ``len(checkpoints)``, and the fixed
      readouts (shared by every snapshot).
    """
    key = _check_train(key, x, y, config)
    if not isinstance(checkpoints, tuple) or not checkpoints:
        raise TypeError(f"checkpoints must be a non-empty tuple of step counts, got {checkpoints!r}")
    for i, c in enumerate(checkpoints):
        check_int(c, f"checkpoints[{i}]", minimum=1)
    if list(checkpoints) != sorted(set(checkpoints)) or checkpoints[-1] > config.steps:
        raise ValueError(f"checkpoints must increase strictly and end at most at config.steps={config.steps}, "
                         f"got {checkpoints!r}")
    _, readouts, snaps, _ = _fit(key, x, y, config, checkpoints)
    return snaps, readouts


__all__ = ["ACTIVATIONS", "MODES", "LayerClassifier", "LocalErrorConfig", "LocalErrorMLP", "LocalErrorResult",
           "fixed_readouts", "layer_logits", "local_error_mlp", "local_loss", "representations", "train_local",
           "train_local_snapshots"]
