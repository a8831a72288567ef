"""Map a per-trial function over many keyed trials: vmapped chunks, a memory budget, all devices of all hosts.

Trial ``i`` always receives ``fold_in(key, i)``, so results do not depend on the chunk size or device count.
The function is compiled once per chunk shape; the last chunk is padded rather than recompiled. An optional
:class:`ChunkStore` (the caller's, e.g. files on disk) supplies finished chunks and receives new ones, which makes
a sweep resumable without this module doing any I/O.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ._validate import check_int, check_key


@runtime_checkable
class ChunkStore(Protocol):
    """Where :func:`map_trials` finds finished chunks and leaves new ones (one store per sweep cell)."""

    def chunk_size(self, proposed: int) -> int:
        """The chunk size to use: the one a previous run of this cell recorded, else ``proposed`` (recorded)."""
        ...

    def load(self, lo: int, count: int) -> Any | None:
        """The outputs of trials ``lo .. lo + count - 1`` if stored, else None."""
        ...

    def save(self, lo: int, count: int, value: Any) -> None:
        """Keep the outputs of trials ``lo .. lo + count - 1`` (atomically: all or nothing)."""
        ...


def chunk_size_for(bytes_per_trial: int, budget_bytes: int, n_trials: int, multiple: int = 1) -> int:
    """The largest chunk (a multiple of ``multiple``, at least ``multiple``) whose working set fits the budget."""
    bytes_per_trial = check_int(bytes_per_trial, "bytes_per_trial", minimum=1)
    budget_bytes = check_int(budget_bytes, "budget_bytes", minimum=1)
    n_trials = check_int(n_trials, "n_trials", minimum=1)
    size = max(1, min(n_trials, budget_bytes // bytes_per_trial))
    return max(multiple, (size // multiple) * multiple)


def _host_available_bytes() -> int:
    # MemAvailable counts reclaimable page cache, which a new allocation can use; sysconf's free pages do not.
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for row in f:
                if row.startswith("MemAvailable:"):
                    return int(row.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


_HOST_SHARES = 8


def memory_budget(fraction: float = 0.25) -> int:
    """A per-device working-set budget in bytes for one compiled call: ``fraction`` of the first local device's
    free memory, rounded down to a power of two so that small fluctuations give the same chunking.

    CPU devices share the host's memory: they get ``fraction / 8`` of its available memory each, a share that does
    not depend on how many there are (so 1 or 8 forced host devices chunk alike and give identical results, and 8
    fit). The fraction leaves room for XLA's temporaries, which the claims' per-trial estimates only approximate.
    On several hosts (``jax.distributed``) every process gets the smallest host's budget, so all of them chunk
    alike.
    """
    if not isinstance(fraction, float) or not 0 < fraction <= 1:
        raise ValueError(f"fraction must be a float in (0, 1], got {fraction!r}")
    stats = jax.local_devices()[0].memory_stats()
    if stats and "bytes_limit" in stats:
        free = int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    else:
        free = _host_available_bytes() // _HOST_SHARES
    budget = max(1 << 20, int(free * fraction))
    if jax.process_count() > 1:
        budget = int(np.min(multihost_utils.process_allgather(np.asarray(budget, np.int64))))
    return 1 << (budget.bit_length() - 1)


def _mesh(n_devices: int) -> Mesh:
    return Mesh(np.array(jax.devices()[:n_devices]), ("trials",))


def _trial_sharding(n_devices: int) -> NamedSharding | None:
    return None if n_devices <= 1 else NamedSharding(_mesh(n_devices), PartitionSpec("trials"))


@functools.lru_cache(maxsize=128)
def _batched(fn: Callable[..., Any], n_shared: int = 0, n_devices: int = 1) -> Callable[..., Any]:
    # One jitted vmap per trial function, so repeated sweeps with the same chunk shape never retrace. Shared
    # arguments are broadcast (not batched) and passed as arguments, not baked into the program as constants.
    # Over several devices, shard_map runs that same vmap on each device's group as written (no partitioner
    # rewrites), so each device's program is the single-device one and, within one backend, the numbers match it
    # bit for bit. (A process with 8 host devices compiles float32 convolutions with another loop partitioning
    # than a process with 1, so across such processes they agree to float32 rounding, not bitwise.)
    body = jax.vmap(fn, in_axes=(0,) + (None,) * n_shared)
    if n_devices <= 1:
        return jax.jit(body)
    specs = (PartitionSpec("trials"),) + (PartitionSpec(),) * n_shared
    return jax.jit(jax.shard_map(body, mesh=_mesh(n_devices), in_specs=specs, out_specs=PartitionSpec("trials")))


def _place(keys: jax.Array, sharding: NamedSharding | None) -> jax.Array:
    if sharding is None:
        return keys
    if jax.process_count() == 1:
        return jax.device_put(keys, sharding)
    # Several hosts: every process holds the same keys and contributes the shards of its own devices.
    host = np.asarray(jax.random.key_data(keys))
    data = jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])
    return jax.random.wrap_key_data(data, impl=jax.random.key_impl(keys))


def _fetch(out: Any, count: int) -> Any:
    if jax.process_count() > 1:  # outputs sharded over hosts: gather every trial onto every process
        out = multihost_utils.process_allgather(out, tiled=True)
    return jax.tree.map(lambda a: np.asarray(a)[:count], out)


def agree_across_hosts(value: Any) -> Any:
    """Process 0's ``value`` (a NumPy-convertible pytree) on every process; ``value`` itself on one host.

    What a process reads from a shared store may lag (NFS caches, a file process 0 is writing): every decision
    that shapes a collective call (group size, which groups to compute, whether a claim is done) is process 0's.
    """
    if jax.process_count() == 1:
        return value
    return jax.tree.map(np.asarray, multihost_utils.broadcast_one_to_all(value))


def _load_agreed(store: ChunkStore, spans: list[tuple[int, int]]) -> list[Any]:
    found = [store.load(lo, count) for lo, count in spans]
    if jax.process_count() == 1:
        return found
    have = agree_across_hosts(np.array([f is not None for f in found]))
    for i, (lo, count) in enumerate(spans):
        if not have[i]:
            found[i] = None  # process 0 computes it: so does every process
            continue
        for wait in (0.1, 0.5, 2.0, 5.0):
            if found[i] is not None:
                break
            time.sleep(wait)
            found[i] = store.load(lo, count)
        if found[i] is None:
            raise RuntimeError(f"trials {lo}..{lo + count - 1} are stored for process 0 but not visible to process "
                               f"{jax.process_index()}: the output directory must be on a filesystem every host shares")
    return found


def _n_devices(devices: int | None) -> int:
    n_all = len(jax.devices())
    n_dev = n_all if devices is None else check_int(devices, "devices", minimum=1)
    if n_dev > n_all:
        raise ValueError(f"devices must be <= the {n_all} device(s) JAX sees, got {n_dev}")
    if jax.process_count() > 1 and n_dev != n_all:
        raise ValueError(f"devices must be all {n_all} devices when running on {jax.process_count()} hosts")
    return n_dev


def _keys_at(key: jax.Array, idx: np.ndarray) -> jax.Array:
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.asarray(idx, jnp.uint32))


def map_trials(fn: Callable[[jax.Array], Any], key: jax.Array, n_trials: int, *, chunk_size: int = 256,
               start: int = 0, progress: Callable[[int], Any] | None = None, devices: int | None = None,
               shared: tuple[Any, ...] = (), store: ChunkStore | None = None, split: int = 8) -> Any:
    """Run ``fn(fold_in(key, i), *shared)`` for ``i = start, ..., start + n_trials - 1``; return stacked NumPy outputs.

    The trials are cut into groups of ``G = min(chunk_size, ceil(n_trials / split))``; each compiled call gives
    every device one group (one ``vmap`` of G trials). G never depends on the device count, so every trial runs
    in the same compiled per-device shape on 1 or 8 devices, and the results are bitwise identical within one
    backend (processes started with different device counts compile differently: float32 rounding may differ).

    Args:
      fn: per-trial function of one key returning a pytree of arrays (traced once under ``vmap`` and ``jit``).
      key: root PRNG key.
      n_trials: number of trials.
      chunk_size: most trials one device runs at once (bounds its memory).
      start: index of the first trial (resuming a sweep).
      progress: called with the number of trials finished after each group (e.g. ``tqdm.update``).
      devices: how many devices to shard the groups over (default: all devices of all processes; with
        ``jax.distributed`` on several hosts it must be all of them).
      shared: arrays every trial reads (e.g. a data set), replicated on every device rather than compiled in.
      store: finished groups to reuse and where to keep new ones (one entry per group); it pins G, so a resumed
        sweep runs every trial in the shape the interrupted one did, on any number of devices.
      split: groups a small sweep is cut into at least, so that up to ``split`` devices share it.
    """
    check_key(key)
    n_trials = check_int(n_trials, "n_trials", minimum=1)
    chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
    start = check_int(start, "start", minimum=0)
    split = check_int(split, "split", minimum=1)
    if not isinstance(shared, tuple):
        raise TypeError(f"shared must be a tuple of arrays, got {type(shared).__name__}")
    n_dev = _n_devices(devices)
    group = min(chunk_size, -(-n_trials // split))
    if store is not None:
        group = int(agree_across_hosts(np.int64(check_int(store.chunk_size(group), "store.chunk_size()", minimum=1))))
    sharding = _trial_sharding(n_dev)
    batched = _batched(fn, len(shared), n_dev)
    stop = start + n_trials
    spans = [(lo, min(group, stop - lo)) for lo in range(start, stop, group)]
    done: dict[int, Any] = {}
    todo = []
    stored = [None] * len(spans) if store is None else _load_agreed(store, spans)
    for (lo, count), found in zip(spans, stored, strict=True):
        if found is None:
            todo.append((lo, count))
        else:
            done[lo] = found
            if progress is not None:
                progress(count)
    for i in range(0, len(todo), n_dev):
        batch = todo[i:i + n_dev]
        # Each device gets a whole group (short groups and missing devices padded with spare trial indices, whose
        # outputs are dropped), so every call has one shape: one compilation for the whole sweep.
        rows = [np.arange(lo, lo + group) for lo, _ in batch]
        rows += [rows[-1]] * (n_dev - len(rows))
        out = _fetch(batched(_place(_keys_at(key, np.concatenate(rows)), sharding), *shared), n_dev * group)
        for j, (lo, count) in enumerate(batch):
            done[lo] = jax.tree.map(lambda a, j=j, c=count: a[j * group: j * group + c], out)
            if store is not None:
                store.save(lo, count, done[lo])
            if progress is not None:
                progress(count)
    return jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *(done[lo] for lo, _ in spans))


def even_batches(n: int, batch_size: int) -> tuple[int, int]:
    """``(b, padded)``: the batch width ``b <= batch_size`` that covers ``n`` rows in as many steps as
    ``batch_size`` would, and ``padded = steps * b >= n`` (fewer than ``steps`` padding rows)."""
    n = check_int(n, "n", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    steps = -(-n // batch_size)
    b = -(-n // steps)
    return b, steps * b


def map_batches(fn: Callable[[Any], Any], xs: Any, batch_size: int) -> Any:
    """``lax.map(fn, xs, batch_size=batch_size)`` without a remainder: equal batches, padded with copies of the
    first rows whose outputs are dropped.

    ``lax.map`` runs a remainder (``n mod batch_size`` rows) as a second, separately compiled copy of ``fn``'s
    vmapped body; for a body that trains and certifies a network that doubles a claim's compile time (37 s per copy
    measured for ``gao2024.sqrt_d_gap_relu``). Rows are independent, so padding changes no kept output.
    """
    n = jax.tree.leaves(xs)[0].shape[0]
    b, padded = even_batches(n, batch_size)
    if padded > n:
        xs = jax.tree.map(lambda a: jnp.concatenate([a, a[:padded - n]], axis=0), xs)
    out = jax.lax.map(fn, xs, batch_size=b)
    return jax.tree.map(lambda a: a[:n], out) if padded > n else out


def device_summary() -> str:
    """``"<count> x <kind>"`` for the devices JAX sees (``"... on <n> hosts"`` when distributed), for every verdict."""
    devs = jax.devices()
    hosts = f" on {jax.process_count()} hosts" if jax.process_count() > 1 else ""
    return f"{len(devs)} x {devs[0].device_kind}{hosts}"


__all__ = ["ChunkStore", "agree_across_hosts", "chunk_size_for", "device_summary", "even_batches", "map_batches",
           "map_trials", "memory_budget"]
