"""Training as one pure function of ``(key, data, config)``, so ``jax.vmap`` trains many networks in one call.

Adam + softmax cross-entropy (the optimiser and loss of Gao et al.'s experiment E1, per our seed summary),
``lax.scan`` over steps, full batch or keyed mini-batches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from ._types import Array, Float, Int, Key, Keys
from ._validate import check_array, check_float, check_int, check_key, check_labels, check_params, logits_shape
from .gradients import PENALTIES, check_p


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (hashable, so it can be a static argument of ``jit``).

    Attributes:
      steps: Adam steps.
      learning_rate: Adam step size.
      batch_size: mini-batch size; ``None`` for full-batch training.
      log_every: record the training loss every this many steps.
      stop_at_accuracy: stop once the full-data training accuracy reaches this value (``1.0``: stop at
        interpolation, as claims about networks that fit their data need); ``None`` runs all ``steps``.
      check_every: steps between accuracy checks when ``stop_at_accuracy`` is set.
      penalty: ``None``, ``"grad"`` (gradient-norm penalty, double back-propagation) or ``"adv"`` (single-step
        adversarial augmentation), added to the loss as in Simon-Gabriel et al.'s code, or ``"pgd"`` (PGD adversarial
        training, Madry et al. 2018, in the same half-clean form; :mod:`fcjax.gradients`).
      penalty_lambda: the penalty's ``λ`` (its size before the ``d^(1−1/q)`` scaling).
      penalty_q: the dual norm ``q`` of the penalised gradient (``1``: l_inf attacks; ``"pgd"``: 1 or 2).
      pgd_steps: the PGD attack's steps for ``penalty="pgd"``.
      weight_decay: decoupled weight decay (AdamW, Loshchilov & Hutter 2019; ``optax.adamw``); 0: plain Adam.
    """

    steps: int = 500
    learning_rate: float = 1e-3
    batch_size: int | None = None
    log_every: int = 10
    stop_at_accuracy: float | None = None
    check_every: int = 10
    penalty: str | None = None
    penalty_lambda: float = 0.0
    penalty_q: float = 1.0
    pgd_steps: int = 7
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        check_int(self.steps, "steps", minimum=1)
        check_float(self.learning_rate, "learning_rate", low=0.0, open_low=True)
        if self.batch_size is not None:
            check_int(self.batch_size, "batch_size", minimum=1)
        check_int(self.log_every, "log_every", minimum=1)
        if self.stop_at_accuracy is not None:
            check_float(self.stop_at_accuracy, "stop_at_accuracy", low=0.0, high=1.0, open_low=True)
        check_int(self.check_every, "check_every", minimum=1)
        if self.penalty is not None and self.penalty not in PENALTIES:
            raise ValueError(f"penalty must be None or one of {sorted(PENALTIES)}, got {self.penalty!r}")
        check_float(self.penalty_lambda, "penalty_lambda", low=0.0)
        q = check_p(self.penalty_q, "penalty_q")
        if self.penalty == "pgd" and q not in (1.0, 2.0):
            raise ValueError(f"penalty_q must be 1 (l_inf) or 2 (l2) with penalty='pgd', got {self.penalty_q!r}")
        check_int(self.pgd_steps, "pgd_steps", minimum=1)
        check_float(self.weight_decay, "weight_decay", low=0.0)


class TrainResult(NamedTuple):
    """Trained parameters, the final full-data loss and accuracy, the loss every ``log_every`` steps (NaN after
    an early stop) and the number of steps taken."""

    params: Any
    loss: Float[Array, ""]
    accuracy: Float[Array, ""]
    loss_curve: Float[Array, " s"]
    steps_run: Int[Array, ""]


def cross_entropy(logits: Float[Array, "m k"], labels: Int[Array, " m"]) -> Float[Array, ""]:
    """Mean softmax cross-entropy of integer labels in ``[0, k)`` (checked when the labels are concrete)."""
    check_array(logits, "logits", ndim=2, finite=False)  # finite: a diverged network's logits are a result
    labels = check_labels(labels, "labels", logits.shape[:1], classes=logits.shape[1])
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def train(key: Key, model: nn.Module, x: Float[Array, "m d"], y: Int[Array, " m"], config: TrainConfig,
          init: Callable[[nn.Module, Key, Array], Any] | None = None) -> TrainResult:
    """Initialise a Linen ``model`` from ``key`` and train it on ``(x, y)`` with Adam and cross-entropy.

    Pure and traceable: ``jax.vmap(train, in_axes=(0, None, 0, 0, None))`` trains one network per key (and per
    data set when ``x, y`` are batched). ``model`` and ``config`` must be static under ``jit``. NNX and Equinox
    modules hold their own (already initialised) arrays: train them with
    ``fit(key, *fcjax.as_model(module), x, y, config)``.

    Args:
      key: PRNG key for the initialisation and the mini-batch draws.
      model: a Flax Linen module mapping ``(m, d)`` inputs to ``(m, k)`` logits.
      x: ``(m, d)`` inputs, one point per row.
      y: ``(m,)`` integer labels.
      config: :class:`TrainConfig`. With ``stop_at_accuracy`` set, a ``lax.while_loop`` runs ``check_every``
        steps at a time until the accuracy is reached; under ``vmap`` each network freezes at its own stop.
      init: ``init(model, key, x[:1]) -> params`` instead of ``model.init`` (e.g. :func:`fcjax.models.he_init`).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a flax.linen.Module, got {type(model).__name__}; for NNX and Equinox "
                        "modules use fcjax.fit(key, *fcjax.as_model(module), x, y, config)")
    check_key(key)
    _check_data(x)
    init_key, batch_key = jax.random.split(key)
    params = model.init(init_key, x[:1]) if init is None else init(model, init_key, x[:1])
    return fit(batch_key, model.apply, params, x, y, config)


def fit(key: Key, logits_fn: Callable[[Any, Array], Array], params: Any, x: Float[Array, "m d"],
        y: Int[Array, " m"], config: TrainConfig, optimizer: optax.GradientTransformation | None = None
        ) -> TrainResult:
    """Train ``params`` of any model given as ``logits_fn(params, x)`` (Linen ``apply``, or :func:`fcjax.as_model`
    of an NNX / Equinox module) with softmax cross-entropy (plus ``config``'s penalty).

    ``optimizer`` is any optax ``GradientTransformation`` (default: Adam at ``config.learning_rate``, AdamW when
    ``config.weight_decay > 0``). ``key`` draws the mini-batches. Pure and traceable, as :func:`train`.
    """
    step, keys, carry0 = prepare_fit(key, logits_fn, params, x, y, config, optimizer)
    y = jnp.asarray(y)
    if config.stop_at_accuracy is None:
        (params, _), losses = jax.lax.scan(step, carry0, keys)
        steps_run = jnp.asarray(config.steps)
    else:
        params, losses, steps_run = _train_until(logits_fn, x, y, config, step, carry0, keys)
    loss, accuracy = evaluate(logits_fn, params, x, y)
    return TrainResult(params, loss, accuracy, losses[:: config.log_every], steps_run)


def evaluate(logits_fn: Callable[[Any, Array], Array], params: Any, x: Float[Array, "m d"], y: Int[Array, " m"]
             ) -> tuple[Float[Array, ""], Float[Array, ""]]:
    """``(loss, accuracy)`` of ``params`` on the full data: mean cross-entropy and the fraction classified right."""
    logits = logits_fn(params, x)
    return cross_entropy(logits, y), jnp.mean((jnp.argmax(logits, axis=-1) == y).astype(x.dtype))


def prepare_fit(key: Key, logits_fn: Callable[[Any, Array], Array], params: Any, x: Float[Array, "m d"],
                y: Int[Array, " m"], config: TrainConfig, optimizer: optax.GradientTransformation | None = None
                ) -> tuple[Callable[[tuple[Any, Any], Key], tuple[tuple[Any, Any], Array]], Keys, tuple[Any, Any]]:
    """What :func:`fit` runs, validated: ``(step, keys, carry0)``, the ``lax.scan`` body, its ``config.steps``
    per-step keys and the initial ``(params, opt_state)``; for trainers that stop in between (checkpoints)."""
    if not callable(logits_fn):
        raise TypeError(f"logits_fn must be callable as logits_fn(params, x), got {type(logits_fn).__name__}")
    check_key(key)
    _check_data(x)
    check_params(params)
    out = logits_shape(logits_fn, params, x[:1])
    if getattr(out, "ndim", None) != 2 or out.shape[1] < 2:
        raise ValueError(f"logits_fn(params, x) must return (n, k) logits with k >= 2, got "
                         f"{getattr(out, 'shape', type(out).__name__)}")
    y = check_labels(y, "y", x.shape[:1], classes=out.shape[1])
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a fcjax.TrainConfig, got {type(config).__name__}")
    if optimizer is not None and not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer must be an optax.GradientTransformation, got {type(optimizer).__name__}")
    opt = optimizer if optimizer is not None else (
        optax.adamw(config.learning_rate, weight_decay=config.weight_decay) if config.weight_decay > 0
        else optax.adam(config.learning_rate))

    def loss_fn(p, xb, yb):
        loss = cross_entropy(logits_fn(p, xb), yb)
        if config.penalty is not None and config.penalty_lambda > 0:
            extra = {"steps": config.pgd_steps} if config.penalty == "pgd" else {}
            loss = loss + PENALTIES[config.penalty](logits_fn, p, xb, yb, config.penalty_lambda, config.penalty_q,
                                                    **extra)
        return loss

    step = minibatch_step(loss_fn, opt, x, y, config.batch_size)
    return step, jax.random.split(key, config.steps), (params, opt.init(params))


def _check_data(x: Any) -> None:
    check_array(x, "x")
    if x.ndim < 2 or x.shape[0] < 1:
        raise ValueError(f"x must have shape (m, *input_shape) with m >= 1 rows, got shape {x.shape}")


def minibatch_step(loss_fn: Callable[[Any, Array, Array], Array], opt: optax.GradientTransformation,
                   x: Float[Array, "m d"], y: Int[Array, " m"], batch_size: int | None
                   ) -> Callable[[tuple[Any, Any], Key], tuple[tuple[Any, Any], Array]]:
    """One optimiser step as a ``lax.scan`` body: ``((params, opt_state), key) -> ((params, opt_state), loss)``.

    The step draws ``batch_size`` rows of ``(x, y)`` with replacement from ``key`` (the full data when ``batch_size``
    is ``None`` or at least ``m``) and follows the gradient of ``loss_fn(params, xb, yb)``.
    """

    def step(carry, k):
        p, state = carry
        if batch_size is None or batch_size >= x.shape[0]:
            xb, yb = x, y
        else:
            idx = jax.random.randint(k, (batch_size,), 0, x.shape[0])
            xb, yb = x[idx], y[idx]
        loss, grads = jax.value_and_grad(loss_fn)(p, xb, yb)
        updates, state = opt.update(grads, state, p)
        return (optax.apply_updates(p, updates), state), loss

    return step


def _train_until(logits_fn, x, y, config: TrainConfig, step, carry0, keys):
    """Run ``step`` in blocks of ``check_every`` until the training accuracy reaches the target or steps run out."""
    block = config.check_every
    blocks = -(-config.steps // block)
    # Pad the per-step keys to whole blocks; padded steps of the last block leave the state unchanged.
    keys = jnp.concatenate([keys, keys[: blocks * block - config.steps]]) if blocks * block > config.steps else keys
    keys = keys.reshape(blocks, block)
    live = (jnp.arange(blocks * block) < config.steps).reshape(blocks, block)
    losses0 = jnp.full((blocks, block), jnp.nan, jnp.result_type(x.dtype, jnp.float32))

    def accuracy(p):
        return jnp.mean((jnp.argmax(logits_fn(p, x), axis=-1) == y).astype(jnp.float32))

    def cond(state):
        b, carry, _ = state
        return (b < blocks) & (accuracy(carry[0]) < config.stop_at_accuracy)

    def body(state):
        b, carry, losses = state
        def masked(c, inputs):
            k, on = inputs
            new, loss = step(c, k)
            return jax.tree.map(lambda a, o: jnp.where(on, a, o), new, c), jnp.where(on, loss, jnp.nan)

        carry, block_losses = jax.lax.scan(masked, carry, (keys[b], live[b]))
        return b + 1, carry, losses.at[b].set(block_losses.astype(losses.dtype))

    b, (params, _), losses = jax.lax.while_loop(cond, body, (jnp.asarray(0), carry0, losses0))
    return params, losses.reshape(-1)[: config.steps], jnp.minimum(b * block, config.steps)
