"""The claim registry: a claim is a config of defaults (full and quick) and a function that returns an Outcome.

Claims come from fcjax's own paper modules (:data:`PAPER_MODULES`), from the modules installed packages list in the
``fcjax.claims`` entry-point group, and from :func:`load_plugin` (``fcjax check --plugin FILE|MODULE``). All go
through :func:`register` (public as :mod:`proofs_check.api`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from fcjax._validate import check_dim, check_int
from fcjax.decide import PASS, UNDECIDED, combine
from fcjax.stats import Check

PAPER_MODULES = {"gao2024": "proofs_check.gao2024", "simon_gabriel2019": "proofs_check.simon_gabriel2019",
                 "jiang2021": "proofs_check.jiang2021", "bubeck2021": "proofs_check.bubeck2021",
                 "bartlett2021": "proofs_check.bartlett2021", "montanari2023": "proofs_check.montanari2023",
                 "depalma2021": "proofs_check.depalma2021", "gao2024_open": "proofs_check.gao2024_open",
                 "gilmer2018": "proofs_check.gilmer2018", "fawzi2018": "proofs_check.fawzi2018"}

# Family-wise error rate of each claim: all of a claim's tests share it (Bonferroni), so a claim that is true
# fails with probability <= ALPHA under a fresh seed.
ALPHA = 1e-3


@dataclasses.dataclass(frozen=True)
class ClaimConfig:
    """Settings every claim has: trials (or networks) per cell, dtype, and the memory budget of a compiled call
    (``None``: the runner sets it from the device's free memory, see :func:`fcjax.memory_budget`)."""

    trials: int = 200
    dtype: str = "float64"
    max_memory_mb: int | None = None

    def __post_init__(self) -> None:
        check_int(self.trials, "trials", minimum=1)
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if self.max_memory_mb is not None:
            check_int(self.max_memory_mb, "max_memory_mb", minimum=1)

    @property
    def jdtype(self) -> Any:
        return jnp.float64 if self.dtype == "float64" else jnp.float32

    def chunk(self, bytes_per_trial: int) -> int:
        """Trials per compiled call under the memory budget."""
        if self.max_memory_mb is None:
            raise ValueError("max_memory_mb is unset: run claims through proofs_check.run_claim, which sets it")
        return max(1, min(self.trials, (self.max_memory_mb << 20) // max(1, bytes_per_trial)))


@dataclasses.dataclass(frozen=True)
class SweepConfig(ClaimConfig):
    """A Monte-Carlo claim over a grid of dimensions ``ds``."""

    ds: tuple[int, ...] = (16, 64, 256)

    min_d: int = dataclasses.field(default=2, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.ds, tuple) or len(self.ds) == 0:
            raise ValueError(f"d must be a non-empty list of dimensions, got {self.ds!r}")
        for d in self.ds:
            check_dim(d, "d")
            if d < self.min_d:
                raise ValueError(f"d must be >= {self.min_d} for this claim, got {d}")
        if len(set(self.ds)) != len(self.ds):
            raise ValueError(f"d must not repeat values, got {self.ds!r}")
        object.__setattr__(self, "ds", tuple(sorted(self.ds)))  # the rising/slope tests read the grid in order


@dataclasses.dataclass
class Outcome:
    """What a claim function measured; the runner adds the provenance to make a Verdict.

    The claim's outcome is decided by its checks (:func:`fcjax.decide.combine`: FAIL if any fails, else UNDECIDED if
    any is undecided, else PASS); a claim without checks is UNDECIDED (nothing decided it). ``statistic`` (with its
    name, ``expected`` and its CI at ``level``) is the one number the summary table shows; ``table`` has one row per
    cell; ``series`` is the figure (:class:`proofs_check.api.Series`).
    """

    checks: list[Check]
    table: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    statistic: float = float("nan")
    statistic_name: str = ""
    expected: str = ""
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    level: float = float("nan")
    n_trials: int = 0
    series: dict[str, Any] = dataclasses.field(default_factory=dict)
    caveats: list[str] = dataclasses.field(default_factory=list)

    @property
    def outcome(self) -> str:
        return combine(c.outcome for c in self.checks) if self.checks else UNDECIDED

    @property
    def passed(self) -> bool:
        return self.outcome == PASS

    @property
    def resolution(self) -> str:
        """What would decide the undecided checks, one clause per check."""
        return "; ".join(f"{c.name}: {c.resolution}" for c in self.checks
                         if c.outcome == UNDECIDED and c.resolution)


RunFn = Callable[[Any, jax.Array, Any], Outcome]  # (config, key, proofs_check.context.Run) -> Outcome


@dataclasses.dataclass(frozen=True)
class Claim:
    """A registered claim: id, the paper statement it checks, its defaults and its check function."""

    id: str
    paper: str
    statement: str
    source: str
    config: Any
    quick: dict[str, Any]
    run: RunFn
    work: Callable[[Any], int]
    module: str = ""
    # SHA-256 of the defining module's source file as it was loaded: part of the claim's stored results' hash, so an
    # edited claim (a plugin file too) never reuses numbers of its old code (fcjax's and proofs_check's sources are
    # hashed as a whole by proofs_check.store.code_fingerprint).
    code: str = ""

    def configure(self, quick: bool = False, overrides: dict[str, Any] | None = None) -> Any:
        """The config for a run: defaults, then the quick form, then the user's overrides (validated)."""
        cfg = dataclasses.replace(self.config, **self.quick) if quick else self.config
        overrides = dict(overrides or {})
        names = {f.name for f in dataclasses.fields(cfg) if f.repr}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown} for {self.id}; known: {sorted(names)}")
        return dataclasses.replace(cfg, **overrides)


_REGISTRY: dict[str, Claim] = {}


def register(claim_id: str, *, paper: str, statement: str, source: str, config: Any, quick: dict[str, Any],
             work: Callable[[Any], int] | None = None) -> Callable[[RunFn], RunFn]:
    """Decorator: register ``fn(config, key, ctx) -> Outcome`` under ``claim_id`` (``ctx``: a
    :class:`~proofs_check.context.Run`)."""

    def deco(fn: RunFn) -> RunFn:
        if claim_id in _REGISTRY:
            raise ValueError(f"claim {claim_id!r} is registered twice")
        _REGISTRY[claim_id] = Claim(claim_id, paper, statement, source, config, quick, fn,
                                    work or (lambda c: c.trials * len(getattr(c, "ds", (0,)))),
                                    getattr(fn, "__module__", "") or "",
                                    module_fingerprint(getattr(fn, "__module__", "") or ""))
        return fn

    _check_registration(claim_id, paper, statement, source, config, quick, work)
    return deco


def _check_registration(claim_id: Any, paper: Any, statement: Any, source: Any, config: Any, quick: Any,
                        work: Any) -> None:
    if not isinstance(claim_id, str) or claim_id.count(".") != 1 or not all(claim_id.split(".")):
        raise ValueError(f"claim_id must look like 'paper.claim' (one dot), got {claim_id!r}")
    for name, value in (("paper", paper), ("statement", statement), ("source", source)):
        if not isinstance(value, str) or not value.strip():
            raise TypeError(f"{name} must be a non-empty string, got {value!r}")
    if not (dataclasses.is_dataclass(config) and isinstance(config, ClaimConfig)):
        raise TypeError(f"config must be an instance of a ClaimConfig dataclass, got {type(config).__name__}")
    if not isinstance(quick, dict):
        raise TypeError(f"quick must be a dict of settings, got {type(quick).__name__}")
    names = {f.name for f in dataclasses.fields(config) if f.repr}
    if set(quick) - names:
        raise ValueError(f"quick sets unknown setting(s) {sorted(set(quick) - names)} of {claim_id}")
    if work is not None and not callable(work):
        raise TypeError(f"work must be callable (config -> trials), got {type(work).__name__}")


def module_fingerprint(module: str) -> str:
    """SHA-256 of a loaded module's source file ('' when it has none)."""
    mod = sys.modules.get(module)
    try:
        path = inspect.getsourcefile(mod) if mod is not None else None
    except TypeError:
        path = None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else ""


_ENTRY_POINTS = "fcjax.claims"
_loaded = False


def _load_all() -> None:
    global _loaded
    for module in PAPER_MODULES.values():
        importlib.import_module(module)
    if not _loaded:
        _loaded = True
        for ep in importlib.metadata.entry_points(group=_ENTRY_POINTS):
            try:
                ep.load()
            except Exception as err:  # a broken plugin must not hide fcjax's own claims
                raise ValueError(f"the {_ENTRY_POINTS} entry point {ep.name!r} ({ep.value}) failed to load: "
                                 f"{type(err).__name__}: {err}") from err


def load_plugin(spec: str) -> list[str]:
    """Import a module of claims: a ``.py`` file path or an importable module name. Returns the ids it registered.

    Loading the same file again (e.g. after an edit) replaces its claims."""
    if not isinstance(spec, str) or not spec.strip():
        raise TypeError(f"plugin must be a file path or a module name, got {spec!r}")
    _load_all()
    path = Path(spec)
    if spec.endswith(".py") or path.exists():
        if not path.is_file():
            raise ValueError(f"plugin file {spec!r} does not exist")
        path = path.resolve()
        name = "fcjax_plugin_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
        _forget(name)
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            _forget(name)
            sys.modules.pop(name, None)
            raise
    else:
        name = spec
        if name in sys.modules:
            _forget(name)
            sys.modules.pop(name)
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            raise ValueError(f"plugin {spec!r} is neither a file nor an importable module ({err})") from err
    return [c.id for c in _REGISTRY.values() if c.module == name]


def _forget(module: str) -> None:
    for cid in [c.id for c in _REGISTRY.values() if c.module == module]:
        del _REGISTRY[cid]


def papers() -> list[str]:
    """The paper ids of every known claim (fcjax's own papers first, then plugins' in registration order)."""
    _load_all()
    out = list(PAPER_MODULES)
    for c in _REGISTRY.values():
        paper = c.id.split(".")[0]
        if paper not in out:
            out.append(paper)
    return out


def all_claims(paper: str | None = None) -> list[Claim]:
    """Every registered claim (of one paper when ``paper`` is given), in registration order."""
    _load_all()
    if paper is not None and paper not in papers():
        raise ValueError(f"unknown paper {paper!r}; known: {papers()}")
    return [c for c in _REGISTRY.values() if paper is None or c.id.split(".")[0] == paper]


def get_claim(claim_id: str) -> Claim:
    """The claim registered under ``claim_id``; a ``ValueError`` listing the known ids otherwise."""
    _load_all()
    if not isinstance(claim_id, str) or claim_id not in _REGISTRY:
        raise ValueError(f"unknown claim {claim_id!r}; known claims: {', '.join(_REGISTRY)}")
    return _REGISTRY[claim_id]
