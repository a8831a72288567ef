"""Argument checks that run before tracing, so bad input fails with a message naming the argument.

These are host-side: they look at Python values and concrete arrays only. Inside ``jit`` a traced array is
passed through unchecked for finiteness (its values are unknown), but shapes and dtypes are still checked.
"""

from __future__ import annotations

import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def check_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """Return ``value`` as an ``int`` or raise, naming ``name``. Booleans are rejected."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_sizes(value: Any, name: str) -> tuple[int, ...]:
    """A non-empty tuple of positive integers (layer widths, channel counts)."""
    if not isinstance(value, tuple) or not value:
        raise TypeError(f"{name} must be a non-empty tuple of positive ints, got {value!r}")
    return tuple(check_int(v, name, minimum=1) for v in value)


def check_dim(d: Any, name: str = "d") -> int:
    """An input dimension: an integer of at least 2 (the theorems need two classes)."""
    return check_int(d, name, minimum=2)


def check_trials(n: Any, name: str = "trials") -> int:
    """A number of Monte-Carlo trials: an integer of at least 1."""
    return check_int(n, name, minimum=1)


def check_float(value: Any, name: str, *, low: float | None = None, high: float | None = None,
                open_low: bool = False, open_high: bool = False) -> float:
    """A finite real number inside the stated interval."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (open_low and value == low)):
        raise ValueError(f"{name} must be {'>' if open_low else '>='} {low}, got {value}")
    if high is not None and (value > high or (open_high and value == high)):
        raise ValueError(f"{name} must be {'<' if open_high else '<='} {high}, got {value}")
    return value


def check_key(key: Any, name: str = "key") -> jax.Array:
    """A JAX PRNG key: a typed key (``jax.random.key``) or a legacy uint32 key (``jax.random.PRNGKey``)."""
    if isinstance(key, jax.Array):
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            return key
        if key.dtype == jnp.uint32 and key.shape[-1:] == (2,):
            return key
    raise TypeError(
        f"{name} must be a JAX PRNG key (jax.random.key(seed)), got {type(key).__name__}"
        + (f" of dtype {key.dtype}" if hasattr(key, "dtype") else "")
    )


def check_array(x: Any, name: str, *, ndim: int | tuple[int, ...] | None = None, square: bool = False,
                min_size: dict[int, int] | None = None, finite: bool = True) -> jax.Array:
    """A real floating array with the given rank; finite when its values are known (not traced).

    Args:
      x: the array (NumPy or JAX).
      name: the argument name used in error messages.
      ndim: required rank (or ranks).
      square: require the last two axes to be equal.
      min_size: ``{axis: minimum length}``.
      finite: reject NaN and infinity in concrete arrays.
    """
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name} must have a real floating dtype (float32 or float64), got {x.dtype}")
    if jnp.finfo(x.dtype).bits < 32:  # LAPACK kernels, the solvers and the statistics need single precision
        raise TypeError(f"{name} must be float32 or float64, got {x.dtype} (cast it with .astype(jnp.float32))")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if x.ndim not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape {x.shape}")
    if square and (x.ndim < 2 or x.shape[-1] != x.shape[-2]):
        raise ValueError(f"{name} must be square in its last two axes, got shape {x.shape}")
    for axis, least in (min_size or {}).items():
        if x.shape[axis] < least:
            raise ValueError(f"{name} must have at least {least} entries along axis {axis}, got shape {x.shape}")
    if finite and not isinstance(x, jax.core.Tracer) and not bool(np.all(np.isfinite(np.asarray(x)))):
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return x


def check_params(params: Any, name: str = "params") -> Any:
    """A network's parameters (any pytree) with finite values where they are known (not traced): a NaN weight
    would otherwise turn every result into NaN, or into a finite but meaningless number (an argmax of NaN logits)."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        if isinstance(leaf, jax.core.Tracer) or not hasattr(leaf, "dtype"):
            continue
        if jnp.issubdtype(leaf.dtype, jnp.inexact) and not bool(np.all(np.isfinite(np.asarray(leaf)))):
            raise ValueError(f"{name} contains non-finite values (NaN or inf) at {jax.tree_util.keystr(path)}")
    return params


def first_line(err: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (``""`` if it has none), cut to ``limit`` characters: enough to say
    what failed inside a library, in a one-line error of ours."""
    return (str(err).strip().splitlines() or [""])[0][:limit]


def logits_shape(logits_fn: Any, params: Any, x: Any) -> Any:
    """``jax.eval_shape(logits_fn, params, x)``, with a failure of the model on these arguments reported as a
    TypeError naming ``params`` and ``x`` (the usual cause: params that are not the model's variables)."""
    try:
        return jax.eval_shape(logits_fn, params, x)
    except Exception as err:
        raise TypeError(f"logits_fn(params, x) raised {type(err).__name__} on these params and x (are params the "
                        f"model's variables, and x of its input shape?): {first_line(err)}") from err


def check_labels(y: Any, name: str, shape: tuple[int, ...], *, classes: int | None = None,
                 scalar: bool = False) -> jax.Array:
    """Integer class labels of the given ``shape`` (or one label for all when ``scalar``), in ``[0, classes)``
    when ``classes`` is given and the values are known (not traced). Returns them as a JAX array."""
    if isinstance(y, bool) or (hasattr(y, "dtype") and y.dtype == bool):
        raise TypeError(f"{name} must hold integer class labels, got booleans")
    if scalar and isinstance(y, numbers.Integral):
        y = jnp.asarray(int(y))
    elif not hasattr(y, "shape") or not hasattr(y, "dtype"):
        what = "an integer or an integer array of labels" if scalar else "an integer array of labels"
        raise TypeError(f"{name} must be {what}, got {type(y).__name__}")
    if not jnp.issubdtype(y.dtype, jnp.integer):
        raise TypeError(f"{name} must have an integer dtype (class labels), got {y.dtype}")
    if y.shape != tuple(shape) and not (scalar and y.shape == ()):
        raise ValueError(f"{name} must have shape {tuple(shape)}{' or be a scalar' if scalar else ''} (one label "
                         f"per input), got shape {y.shape}")
    if classes is not None and not isinstance(y, jax.core.Tracer):
        v = np.asarray(y)
        if v.size and (v.min() < 0 or v.max() >= classes):
            raise ValueError(f"{name} must hold class indices in [0, {classes}), got values in [{v.min()}, "
                             f"{v.max()}]")
    return jnp.asarray(y)


def check_dtype(dtype: Any, name: str = "dtype") -> jnp.dtype:
    """A real floating dtype; float64 needs ``jax.enable_x64``, which is checked here, not silently dropped."""
    try:
        dt = jnp.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"{name} must be a floating dtype, got {dtype!r}") from err
    if not jnp.issubdtype(dt, jnp.floating) or jnp.finfo(dt).bits < 32:
        raise TypeError(f"{name} must be a floating dtype of at least 32 bits (float32 or float64), got {dt}")
    if dt == jnp.float64 and not jax.config.read("jax_enable_x64"):
        raise ValueError(f"{name}=float64 needs 64-bit mode: wrap the call in `with jax.enable_x64(True):`")
    return dt
