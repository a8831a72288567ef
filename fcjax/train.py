"""Training as one pure function of ``(key, data, config)``, so ``jax.vmap`` trains many networks in one call.

Adam + softmax cross-entropy (the optimiser and loss of Gao et al.'s experiment E1, per our seed summary),
``lax.scan`` over steps, full batch or keyed mini-batches.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from ._types import Array, Float, Int, Key
from ._validate import check_float, check_int


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (hashable, so it can be a static argument of ``jit``).

    Attributes:
      steps: Adam steps.
      learning_rate: Adam step size.
      batch_size: mini-batch size; ``None`` for full-batch training.
      log_every: record the training loss every this many steps.
    """

    steps: int = 500
    learning_rate: float = 1e-3
    batch_size: int | None = None
    log_every: int = 10

    def __post_init__(self) -> None:
        check_int(self.steps, "steps", minimum=1)
        check_float(self.learning_rate, "learning_rate", low=0.0, open_low=True)
        if self.batch_size is not None:
            check_int(self.batch_size, "batch_size", minimum=1)
        check_int(self.log_every, "log_every", minimum=1)


class TrainResult(NamedTuple):
    """Trained parameters, the final full-data loss and accuracy, and the loss every ``log_every`` steps."""

    params: Any
    loss: Float[Array, ""]
    accuracy: Float[Array, ""]
    loss_curve: Float[Array, " s"]


def cross_entropy(logits: Float[Array, "m k"], labels: Int[Array, " m"]) -> Float[Array, ""]:
    """Mean softmax cross-entropy of integer labels."""
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def train(key: Key, model: nn.Module, x: Float[Array, "m d"], y: Int[Array, " m"], config: TrainConfig) -> TrainResult:
    """Initialise ``model`` from ``key`` and train it on ``(x, y)`` with Adam and cross-entropy.

    Pure and traceable: ``jax.vmap(train, in_axes=(0, None, 0, 0, None))`` trains one network per key (and per
    data set when ``x, y`` are batched). ``model`` and ``config`` must be static under ``jit``.

    Args:
      key: PRNG key for the initialisation and the mini-batch draws.
      model: a Flax module mapping ``(m, d)`` inputs to ``(m, k)`` logits.
      x: ``(m, d)`` inputs, one point per row.
      y: ``(m,)`` integer labels.
      config: :class:`TrainConfig`.
    """
    init_key, batch_key = jax.random.split(key)
    params = model.init(init_key, x[:1])
    opt = optax.adam(config.learning_rate)

    def loss_fn(p, xb, yb):
        return cross_entropy(model.apply(p, xb), yb)

    def step(carry, k):
        p, state = carry
        if config.batch_size is None or config.batch_size >= x.shape[0]:
            xb, yb = x, y
        else:
            idx = jax.random.randint(k, (config.batch_size,), 0, x.shape[0])
            xb, yb = x[idx], y[idx]
        loss, grads = jax.value_and_grad(loss_fn)(p, xb, yb)
        updates, state = opt.update(grads, state, p)
        return (optax.apply_updates(p, updates), state), loss

    keys = jax.random.split(batch_key, config.steps)
    (params, _), losses = jax.lax.scan(step, (params, opt.init(params)), keys)
    logits = model.apply(params, x)
    accuracy = jnp.mean((jnp.argmax(logits, axis=-1) == y).astype(x.dtype))
    return TrainResult(params, cross_entropy(logits, y), accuracy, losses[:: config.log_every])
