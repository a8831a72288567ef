"""Training with checkpoints: the parameters at chosen steps of one :func:`fcjax.fit` run, from initialisation on.

For studies of how a quantity (compression, robustness) evolves during training: the run is the one
:func:`fcjax.train` makes with the same key and config (same initialisation, same per-step keys, same steps), cut
into ``lax.scan`` segments between checkpoints, so the last checkpoint at ``config.steps`` is ``train``'s result.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from ._types import Array, Float, Int, Key
from ._validate import check_key
from .train import TrainConfig, _check_data, evaluate, prepare_fit


class Checkpoints(NamedTuple):
    """Parameters at each checkpoint (a leading axis of ``len(steps)`` on every leaf), the full-data loss and
    accuracy there, and the checkpoint steps themselves."""

    params: Any
    loss: Float[Array, " c"]
    accuracy: Float[Array, " c"]
    steps: Int[Array, " c"]


def check_steps(steps: Sequence[int], total: int, name: str = "steps") -> tuple[int, ...]:
    """Checkpoint steps as a tuple: strictly increasing integers in ``[0, total]`` (0 is the initialisation);
    errors name the argument ``name``."""
    if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence):
        raise TypeError(f"{name} must be a sequence of integers, got {type(steps).__name__}")
    out = tuple(steps)
    if not out or any(isinstance(s, bool) or not isinstance(s, int) for s in out):
        raise TypeError(f"{name} must be a non-empty sequence of integers, got {steps!r}")
    if any(b <= a for a, b in itertools.pairwise(out)) or out[0] < 0 or out[-1] > total:
        raise ValueError(f"{name} must increase strictly within [0, {total}] (the training steps), got {out!r}")
    return out


def fit_checkpoints(key: Key, logits_fn: Callable[[Any, Array], Array], params: Any, x: Float[Array, "m d"],
                    y: Int[Array, " m"], config: TrainConfig, steps: Sequence[int],
                    optimizer: optax.GradientTransformation | None = None) -> Checkpoints:
    """:func:`fcjax.fit`'s run with the parameters kept at ``steps`` (strictly increasing, within
    ``[0, config.steps]``; ``0`` keeps the initial ones). ``config.stop_at_accuracy`` must be ``None``: a
    checkpoint is a fixed step. Pure and traceable (``steps`` static); vmap it over keys and data sets."""
    if not isinstance(config, TrainConfig):  # before reading its fields
        raise TypeError(f"config must be a fcjax.TrainConfig, got {type(config).__name__}")
    if config.stop_at_accuracy is not None:
        raise ValueError("config.stop_at_accuracy must be None for checkpoints at fixed steps, got "
                         f"{config.stop_at_accuracy!r}")
    at = check_steps(steps, config.steps)
    step, keys, carry = prepare_fit(key, logits_fn, params, x, y, config, optimizer)
    kept, done = [], 0
    for s in at:
        if s > done:  # one scan per segment: the same step function, on the same slice of the per-step keys
            carry, _ = jax.lax.scan(step, carry, keys[done:s])
            done = s
        kept.append(carry[0])
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *kept)
    loss, accuracy = jax.lax.map(lambda p: evaluate(logits_fn, p, x, jnp.asarray(y)), stacked)
    return Checkpoints(stacked, loss, accuracy, jnp.asarray(at))


def train_checkpoints(key: Key, model: nn.Module, x: Float[Array, "m d"], y: Int[Array, " m"], config: TrainConfig,
                      steps: Sequence[int], init: Callable[[nn.Module, Key, Array], Any] | None = None) -> Checkpoints:
    """Initialise a Linen ``model`` from ``key`` as :func:`fcjax.train` does and train it, keeping the parameters
    at ``steps`` (:func:`fit_checkpoints`). With ``steps[-1] == config.steps`` the last checkpoint is
    ``train(key, model, x, y, config).params``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a flax.linen.Module, got {type(model).__name__}; for NNX and Equinox "
                        "modules use fcjax.fit_checkpoints(key, *fcjax.as_model(module), x, y, config, steps)")
    check_key(key)
    _check_data(x)
    init_key, batch_key = jax.random.split(key)
    params = model.init(init_key, x[:1]) if init is None else init(model, init_key, x[:1])
    return fit_checkpoints(batch_key, model.apply, params, x, y, config, steps)


__all__ = ["Checkpoints", "check_steps", "fit_checkpoints", "train_checkpoints"]
