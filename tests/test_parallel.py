"""parallel.py and trial_keys: results independent of chunking, start offset and device count; one trace per call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fcjax as F

ROOT = Path(__file__).resolve().parents[1]


def _fn(k):
    # A pytree of several shapes and dtypes from one draw (one threefry call keeps compilation cheap).
    z = jax.random.normal(k, (4,))
    return {"scalar": z[0], "vec": z[1:], "flag": z[0] > 0}


def _direct(key, idx):
    outs = [_fn(jax.random.fold_in(key, int(i))) for i in idx]
    return {name: np.stack([np.asarray(o[name]) for o in outs]) for name in outs[0]}


def test_trial_keys_match_fold_in(key):
    ks = F.trial_keys(key, 5, start=3)
    assert ks.shape == (5,)
    for n, k in enumerate(ks):
        ref = jax.random.fold_in(key, 3 + n)
        np.testing.assert_array_equal(np.asarray(jax.random.key_data(k)), np.asarray(jax.random.key_data(ref)))
    assert F.trial_keys(key, 0).shape == (0,)
    # Legacy uint32 keys are accepted too.
    legacy = jax.random.PRNGKey(0)
    np.testing.assert_array_equal(np.asarray(F.trial_keys(legacy, 2)[1]), np.asarray(jax.random.fold_in(legacy, 1)))


def test_map_trials_independent_of_chunk_size(key):
    n = 10
    ref = _direct(key, range(n))
    for chunk_size in (1, 3, 7, 256):
        out = F.map_trials(_fn, key, n, chunk_size=chunk_size)
        assert set(out) == set(ref)
        for name in ref:
            assert isinstance(out[name], np.ndarray)
            assert out[name].shape == ref[name].shape
            # Same keys; vmapped vs single sampling of threefry bits is exact, the float conversion too.
            np.testing.assert_array_equal(out[name], ref[name])


def test_map_trials_start_offset_resumes_the_same_sweep(key):
    full = F.map_trials(_fn, key, 14, chunk_size=6)
    for start, chunk_size in ((6, 4), (9, 5)):
        part = F.map_trials(_fn, key, 14 - start, chunk_size=chunk_size, start=start)
        for name in full:
            np.testing.assert_array_equal(part[name], full[name][start:])


def test_map_trials_progress_reports_every_trial_once(key):
    seen: list[int] = []
    F.map_trials(_fn, key, 11, chunk_size=4, progress=seen.append, split=1)
    assert seen == [4, 4, 3]
    seen.clear()
    F.map_trials(_fn, key, 3, chunk_size=8, progress=seen.append, split=1)
    assert seen == [3]
    seen.clear()
    F.map_trials(_fn, key, 11, chunk_size=4, progress=seen.append)  # split=8: groups of ceil(11/8) = 2
    assert seen == [2, 2, 2, 2, 2, 1]


def test_map_trials_traces_once_for_padded_chunks(key):
    # 10 trials in chunks of 4: chunks of 4, 4 and 2 (+2 padding): one trace, one compilation.
    @chex.assert_max_traces(n=1)
    def fn(k):
        return jax.random.normal(k, (2,))

    out = F.map_trials(fn, key, 10, chunk_size=4, split=1)
    assert out.shape == (10, 2)
    ref = np.stack([np.asarray(jax.random.normal(jax.random.fold_in(key, i), (2,))) for i in range(10)])
    np.testing.assert_array_equal(out, ref)


def test_map_trials_sweep_over_trial_counts_traces_once(key):
    @chex.assert_max_traces(n=1)
    def fn(k):
        return jax.random.normal(k, (2,))

    for n in (5, 8, 11, 40):  # groups of 4 for all (split=1; 40/8 >= 4 with the default): always (4,) keys
        assert F.map_trials(fn, key, n, chunk_size=4, split=1 if n < 40 else 8).shape == (n, 2)


def test_map_trials_explicit_single_device_and_devices_summary(key):
    a = F.map_trials(_fn, key, 5, chunk_size=2, devices=1)
    b = F.map_trials(_fn, key, 5, chunk_size=2)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    summary = F.device_summary()
    assert summary.startswith(f"{len(jax.devices())} x ")


def test_chunk_size_for():
    assert F.chunk_size_for(100, 1000, 50) == 10
    assert F.chunk_size_for(100, 1000, 5) == 5  # never more than the trials
    assert F.chunk_size_for(100, 10, 50) == 1  # at least one trial
    assert F.chunk_size_for(100, 1000, 50, multiple=4) == 8  # rounded down to a multiple...
    assert F.chunk_size_for(100, 10, 50, multiple=4) == 4  # ...but at least one multiple
    for bpt, budget, n, m in ((7, 1000, 300, 1), (3, 100, 1000, 8), (1, 10**9, 17, 2)):
        c = F.chunk_size_for(bpt, budget, n, m)
        assert c % m == 0 and c >= m
        assert c == m or c * bpt <= budget


_MULTI_DEVICE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax
    jax.config.update("jax_numpy_rank_promotion", "raise")
    import numpy as np
    import fcjax as F

    assert len(jax.devices()) == 8, jax.devices()

    def fn(k):
        z = jax.random.normal(k, (4,))
        return {"scalar": z[0], "vec": z[1:], "flag": z[0] > 0}

    key = jax.random.key(0)
    out = {}
    for devices, chunk in ((1, 5), (8, 5), (8, 16), (4, 3), (None, 2)):
        r = F.map_trials(fn, key, 13, chunk_size=chunk, devices=devices)
        out[f"{devices}-{chunk}"] = {name: v.tolist() for name, v in r.items()}
    json.dump(out, sys.stdout)
    """
)


def test_map_trials_multi_device_in_subprocess(key):
    # Sharding the trial axis over 8 (forced host) devices must not change any trial's result.
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               JAX_DISABLE_MOST_OPTIMIZATIONS=str(int(jax.config.read("jax_disable_most_optimizations"))))
    proc = subprocess.run([sys.executable, "-W", "error", "-c", _MULTI_DEVICE_SCRIPT], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout)
    with jax.enable_x64(False):  # the subprocess runs in 32-bit mode: draw the reference there too
        ref = _direct(key, range(13))
    assert len(results) == 5
    for tag, r in results.items():
        for name, v in r.items():
            # float32 in both processes; same keys and same kernels, so the numbers agree exactly.
            np.testing.assert_array_equal(np.asarray(v, ref[name].dtype), ref[name], err_msg=tag)


def test_map_trials_jitted_trial_function_of_library(key):
    # A realistic trial: the library's own per-trial function, vmapped in chunks, equals per-key calls.
    from functools import partial

    from fcjax import trials as T

    fn = partial(T.min_distance_trial, d=6, dtype=jnp.float64)
    out = F.map_trials(fn, key, 7, chunk_size=3)
    ref = [float(jax.jit(fn)(jax.random.fold_in(key, i))["rho"]) for i in range(7)]
    # vmapped vs single Gram products may sum in another order: a few ulps of the O(1) ratio.
    np.testing.assert_allclose(out["rho"], ref, rtol=0, atol=1e-14)


def _scaled_draw(k, table, scale):
    return {"v": jax.random.normal(k, (3,)) @ table * scale}


def test_map_trials_shared_arguments_are_broadcast_not_batched(key):
    table = jnp.arange(12.0).reshape(3, 4)
    got = F.map_trials(_scaled_draw, key, 10, chunk_size=4, shared=(table, jnp.asarray(2.0)))
    want = F.map_trials(lambda k: _scaled_draw(k, table, 2.0), key, 10, chunk_size=3)
    np.testing.assert_allclose(got["v"], want["v"], rtol=1e-6)
    assert got["v"].shape == (10, 4)


def test_memory_budget_is_a_power_of_two_and_rejects_bad_fractions():
    b = F.memory_budget()
    assert b >= 1 << 20 and b & (b - 1) == 0
    assert F.memory_budget(0.01) <= b  # a smaller share never gives more
    for bad in (0.0, 1.5, 1, "0.5"):
        with pytest.raises(ValueError, match="fraction"):
            F.memory_budget(bad)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 200), batch=st.integers(1, 64))
def test_even_batches_keep_the_step_count_and_pad_less_than_one_row_per_step(n, batch):
    b, padded = F.parallel.even_batches(n, batch)
    steps = -(-n // batch)
    assert 1 <= b <= batch and padded == steps * b and n <= padded < n + steps


@pytest.mark.parametrize("n,batch", [(6, 4), (7, 4), (8, 4), (3, 8)])
def test_map_batches_equals_the_row_map_and_compiles_one_body(n, batch):
    xs = {"a": jnp.arange(n, dtype=jnp.float32), "b": jnp.arange(2 * n, dtype=jnp.float32).reshape(n, 2)}
    fn = lambda r: jnp.sin(r["a"]) + jnp.sum(r["b"] ** 2)
    got = F.map_batches(fn, xs, batch)
    np.testing.assert_allclose(got, jax.vmap(fn)(xs), rtol=1e-6)
    assert got.shape == (n,)
    # lax.map's remainder would be a second vmapped copy of the body outside the scan: sin appears once
    jaxpr = str(jax.make_jaxpr(lambda x: F.map_batches(fn, x, batch))(xs))
    assert jaxpr.count("sin") == 1, jaxpr
