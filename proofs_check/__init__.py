"""Registered checks of the papers' claims; each returns a :class:`fcjax.Verdict`. Driven by the ``fcjax`` command."""

from .context import Run as Run
from .registry import Claim as Claim
from .registry import all_claims as all_claims
from .registry import get_claim as get_claim
from .runner import run_claim as run_claim
from .store import Store as Store

__all__ = ["Claim", "Run", "Store", "all_claims", "get_claim", "run_claim"]
