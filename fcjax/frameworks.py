"""Models from every JAX framework as ``(logits_fn, params)``: Flax Linen, Flax NNX and Equinox.

Everything in fcjax that takes a model (:func:`fcjax.fit`, :func:`fcjax.robustness`, the attacks, the gradients)
takes a pure ``logits_fn(params, x)`` mapping ``(n, d)`` to ``(n, k)`` and its parameter pytree. :func:`as_model`
makes that pair from a Linen module and its variables, an NNX module (``nnx.split``: the ``nnx.Param`` state is
``params``, the rest is held constant) or an Equinox module (``eqx.partition``: the inexact arrays are ``params``,
everything else, such as activation functions, is static; the module acts on one example, so it is vmapped).

``logits_fn`` is a static argument of fcjax's compiled functions, so it must hash and compare equal across calls
for the compiled program to be reused. The functions returned here do (two calls on the same model give equal
functions), and :func:`as_static` gives a plain function the same property: two lambdas with the same bytecode, the
same closure contents (by identity) and the same defaults are equal, so a fresh but identical ``lambda`` does not
recompile.
"""

from __future__ import annotations

import dataclasses
import itertools
import types
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

LogitsFn = Callable[[Any, jax.Array], jax.Array]


class StaticFn:
    """A function wrapper that hashes and compares by code, closure contents (identity), defaults and bound self."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        cells = tuple(c.cell_contents for c in (fn.__closure__ or ()))
        defaults = tuple(fn.__defaults__ or ())
        kw = tuple(sorted((fn.__kwdefaults__ or {}).items()))
        # The referenced objects are kept alive here, so their ids cannot be reused by other objects while a
        # compiled program keyed by this wrapper exists.
        self._refs = (cells, defaults, kw, fn.__globals__)
        self._key = (_code_key(fn.__code__), tuple(map(id, cells)), tuple(map(id, defaults)),
                     tuple((k, id(v)) for k, v in kw), id(fn.__globals__))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StaticFn) and self._key == other._key

    def __repr__(self) -> str:
        return f"StaticFn({getattr(self.fn, '__qualname__', self.fn)!r})"


def _code_key(code: types.CodeType) -> tuple:
    """What a code object computes, without where it was written (line numbers): two lambdas typed alike on two
    lines are the same function when their closures and globals are the same objects."""
    consts = tuple(_code_key(c) if isinstance(c, types.CodeType) else (type(c).__name__, c) for c in code.co_consts)
    return (code.co_code, consts, code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars,
            code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_flags)


def as_static(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` wrapped so that equal functions (same code, closure, defaults) are one static argument under ``jit``.

    Functions that already define their own hashing (the adapters of this module, bound methods, ``partial``
    objects of hashable parts) are returned unchanged."""
    if not callable(fn):
        raise TypeError(f"logits_fn must be callable as logits_fn(params, x), got {type(fn).__name__}")
    if isinstance(fn, StaticFn) or getattr(fn, "__code__", None) is None or hasattr(fn, "__self__"):
        return fn  # has its own equality (adapters, partial, bound methods compare by their object)
    return StaticFn(fn)


@dataclasses.dataclass(frozen=True, eq=False)
class _NNXLogits:
    graphdef: Any
    rest: Any

    def __call__(self, params: Any, x: jax.Array) -> jax.Array:
        from flax import nnx

        return nnx.merge(self.graphdef, params, self.rest)(x)

    def _key(self) -> tuple:
        leaves, tree = jax.tree.flatten(self.rest)
        return (self.graphdef, tree, tuple(id(v) for v in leaves))

    def __hash__(self) -> int:
        return hash(self._key())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _NNXLogits) and self._key() == other._key()


@dataclasses.dataclass(frozen=True, eq=False)
class _EquinoxLogits:
    static: Any

    def __call__(self, params: Any, x: jax.Array) -> jax.Array:
        import equinox as eqx

        model = eqx.combine(params, self.static)
        return jax.vmap(model)(x)

    def __hash__(self) -> int:
        return hash(self.static)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _EquinoxLogits) and self.static == other.static


def _is_nnx(model: Any) -> bool:
    try:
        from flax import nnx
    except ImportError:  # pragma: no cover - flax is a dependency
        return False
    return isinstance(model, nnx.Module)


def _is_equinox(model: Any) -> bool:
    try:
        import equinox as eqx
    except ImportError:
        return False
    return isinstance(model, eqx.Module)


def as_model(model: Any, variables: Any = None) -> tuple[LogitsFn, Any]:
    """``(logits_fn, params)`` for a Linen module (with its ``variables``), an NNX module or an Equinox module.

    Args:
      model: ``flax.linen.Module`` (then ``variables`` is required: what ``model.init`` returned, or trained
        parameters), ``flax.nnx.Module`` or ``equinox.Module``; its call maps ``(n, d)`` inputs to ``(n, k)``
        logits (Equinox: ``(d,)`` to ``(k,)``, vmapped here).
      variables: the Linen variables; must be ``None`` for NNX and Equinox (the module holds its arrays).

    Returns:
      ``logits_fn(params, x)`` (hashable: equal for equal models) and ``params``: a pytree of the trainable arrays.
      For NNX, ``nnx.update(model, params)`` writes trained params back; for Equinox,
      ``eqx.combine(params, eqx.partition(model, eqx.is_inexact_array)[1])`` rebuilds the module.
    """
    import flax.linen as nn

    if isinstance(model, nn.Module):
        if variables is None:
            raise ValueError("variables is required for a Linen module (what model.init returned, or trained ones)")
        return model.apply, variables
    if variables is not None:
        raise ValueError(f"variables must be None for a {type(model).__name__} (the module holds its arrays)")
    if _is_nnx(model):
        from flax import nnx

        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        return _NNXLogits(graphdef, rest), params
    if _is_equinox(model):
        import equinox as eqx

        params, static = eqx.partition(model, eqx.is_inexact_array)
        return _EquinoxLogits(static), params
    raise TypeError(f"model must be a flax.linen.Module, a flax.nnx.Module or an equinox.Module, got "
                    f"{type(model).__name__} (or pass logits_fn(params, x) and params yourself)")


def _nnx_linears(module: Any) -> list[tuple[jax.Array, jax.Array]]:
    from flax import nnx

    if isinstance(module, nnx.Linear):
        if module.bias is None:
            return [(module.kernel[...].T, jnp.zeros(module.kernel.shape[1], module.kernel.dtype))]
        return [(module.kernel[...].T, module.bias[...])]
    out = []
    children = list(module) if isinstance(module, list | tuple) else list(vars(module).values())
    for child in children:  # definition order: the order __init__ assigned the layers in
        if isinstance(child, nnx.Module | list | tuple):
            out += _nnx_linears(child)
    return out


def _equinox_linears(model: Any) -> list[tuple[jax.Array, jax.Array]]:
    import equinox as eqx

    linears = [model] if isinstance(model, eqx.nn.Linear) else list(getattr(model, "layers", ()))
    out = []
    for lin in linears:
        if not isinstance(lin, eqx.nn.Linear) or lin.weight.ndim != 2:
            raise ValueError(f"an Equinox model's layers must be eqx.nn.Linear with vector inputs, got "
                             f"{type(lin).__name__}")
        bias = lin.bias if lin.bias is not None else jnp.zeros(lin.weight.shape[0], lin.weight.dtype)
        out.append((lin.weight, bias))
    return out


def module_layers(model: Any) -> list[tuple[jax.Array, jax.Array]]:
    """The ``[(W, b), ...]`` affine-ReLU layers (``W`` of shape ``(out, in)``) of an NNX or Equinox ReLU MLP.

    NNX: the ``nnx.Linear`` submodules in the order ``__init__`` assigned them; Equinox: ``eqx.nn.Linear`` or
    ``eqx.nn.MLP.layers``. The layers are checked against the model on random inputs (the activation is not
    stored in the parameters): a model that is not ``Linear, ReLU, ..., Linear`` raises a ``ValueError``."""
    if _is_nnx(model):
        layers = _nnx_linears(model)
    elif _is_equinox(model):
        layers = _equinox_linears(model)
    else:
        raise TypeError(f"model must be a flax.nnx.Module or an equinox.Module, got {type(model).__name__}")
    if not layers:
        raise ValueError(f"no Linear layers found in {type(model).__name__}")
    for (w0, _), (w1, _) in itertools.pairwise(layers):
        if w1.shape[1] != w0.shape[0]:
            raise ValueError(f"the Linear layers of {type(model).__name__} do not chain ({w0.shape} then "
                             f"{w1.shape}): not an MLP fcjax can certify")
    _check_relu_chain(model, layers)
    return layers


def _check_relu_chain(model: Any, layers: list[tuple[jax.Array, jax.Array]]) -> None:
    dtype = layers[0][0].dtype
    probe = 3.0 * jax.random.normal(jax.random.key(0), (8, layers[0][0].shape[1]), dtype)
    h = probe
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + b[None, :]
        if i < len(layers) - 1:
            h = jax.nn.relu(h)
    fn, params = as_model(model)
    got = fn(params, probe)
    scale = 1.0 + float(jnp.max(jnp.abs(h)))
    if got.shape != h.shape or float(jnp.max(jnp.abs(got - h))) > 1e-4 * scale:
        raise ValueError(f"{type(model).__name__} is not the chain Linear, ReLU, ..., Linear of its Linear layers "
                         "(outputs differ on random inputs): not an MLP fcjax can certify")
