"""Map a per-trial function over many keyed trials: vmapped chunks, a memory budget, all local devices.

Trial ``i`` always receives ``fold_in(key, i)``, so results do not depend on the chunk size or device count.
The function is compiled once per chunk shape; the last chunk is padded rather than recompiled.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ._validate import check_int, check_key
from .ensembles import trial_keys


def chunk_size_for(bytes_per_trial: int, budget_bytes: int, n_trials: int, multiple: int = 1) -> int:
    """The largest chunk (a multiple of ``multiple``, at least ``multiple``) whose working set fits the budget."""
    bytes_per_trial = check_int(bytes_per_trial, "bytes_per_trial", minimum=1)
    budget_bytes = check_int(budget_bytes, "budget_bytes", minimum=1)
    n_trials = check_int(n_trials, "n_trials", minimum=1)
    size = max(1, min(n_trials, budget_bytes // bytes_per_trial))
    return max(multiple, (size // multiple) * multiple)


def _trial_sharding(n_devices: int) -> NamedSharding | None:
    if n_devices <= 1:
        return None
    mesh = Mesh(np.array(jax.local_devices()[:n_devices]), ("trials",))
    return NamedSharding(mesh, PartitionSpec("trials"))


@functools.lru_cache(maxsize=128)
def _batched(fn: Callable[..., Any], n_shared: int = 0) -> Callable[..., Any]:
    # One jitted vmap per trial function, so repeated sweeps with the same chunk shape never retrace. Shared
    # arguments are broadcast (not batched) and passed as arguments, not baked into the program as constants.
    return jax.jit(jax.vmap(fn, in_axes=(0,) + (None,) * n_shared))


def map_trials(fn: Callable[[jax.Array], Any], key: jax.Array, n_trials: int, *, chunk_size: int = 256,
               start: int = 0, progress: Callable[[int], Any] | None = None, devices: int | None = None,
               shared: tuple[Any, ...] = ()) -> Any:
    """Run ``fn(fold_in(key, i), *shared)`` for ``i = start, ..., start + n_trials - 1``; return stacked NumPy outputs.

    Args:
      fn: per-trial function of one key returning a pytree of arrays (traced once under ``vmap`` and ``jit``).
      key: root PRNG key.
      n_trials: number of trials.
      chunk_size: trials per compiled call (bounds memory); rounded up to a multiple of the device count.
      start: index of the first trial (resuming a sweep).
      progress: called with the number of trials finished after each chunk (e.g. ``tqdm.update``).
      devices: how many local devices to shard the trial axis over (default: all).
      shared: arrays every trial reads (e.g. a data set), replicated on every device rather than compiled in.
    """
    check_key(key)
    n_trials = check_int(n_trials, "n_trials", minimum=1)
    chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
    n_local = len(jax.local_devices())
    n_dev = n_local if devices is None else check_int(devices, "devices", minimum=1)
    if n_dev > n_local:
        raise ValueError(f"devices must be <= the {n_local} local device(s) JAX sees, got {n_dev}")
    chunk = -(-min(chunk_size, n_trials) // n_dev) * n_dev
    sharding = _trial_sharding(n_dev)
    if not isinstance(shared, tuple):
        raise TypeError(f"shared must be a tuple of arrays, got {type(shared).__name__}")
    batched = _batched(fn, len(shared))
    outputs = []
    for lo in range(start, start + n_trials, chunk):
        count = min(chunk, start + n_trials - lo)
        keys = trial_keys(key, chunk, lo)  # padded to a full chunk: one compilation for every chunk
        if sharding is not None:
            keys = jax.device_put(keys, sharding)
        out = jax.tree.map(lambda a, c=count: np.asarray(a)[:c], batched(keys, *shared))
        outputs.append(out)
        if progress is not None:
            progress(count)
    return jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *outputs)


def device_summary() -> str:
    """``"<count> x <kind>"`` for the devices JAX sees, recorded in every verdict."""
    devs = jax.devices()
    return f"{len(devs)} x {devs[0].device_kind}"


__all__ = ["chunk_size_for", "device_summary", "map_trials"]
