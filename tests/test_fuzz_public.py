"""Hypothesis fuzz of every public function's bad input (the table and the spoilings: tests/fuzz_public.py).

For each function, hypothesis draws an argument, a way to spoil it (wrong rank, empty, a Python list, NaN or inf
at a random place, integer / complex / float16 / boolean dtype, an int or a list for a key, a length that no longer
matches its partner, a label out of range or of float dtype, a broken layer chain) and where the spoiling goes.
Each call must end in a ValueError or TypeError naming the argument (or, for a length mismatch, its partner),
raised before any tracing; or be a spoiling the function documents as valid, with the reason in the table. A raw
JAX/NumPy error, a silent NaN and a finite result from bad input all fail.
"""

from __future__ import annotations

import fuzz_public as FZ
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.mark.parametrize("name", sorted(FZ.CASES))
def test_every_spoiled_argument_is_named_or_documented(name):
    kinds = FZ.spoilings(name)
    assert kinds, f"{name}: nothing to spoil (the table's valid call takes no array, key or labels)"

    @settings(max_examples=min(3 * len(kinds), 40), suppress_health_check=[HealthCheck.too_slow], deadline=None)
    @given(st.sampled_from(kinds), st.integers(0, 2**16))
    def spoiled(which, seed):
        outcome, detail = FZ.classify(name, *which, seed)
        assert outcome in ("clear", "accepted-ok"), f"{name}({which[0]}={which[1]}): {outcome}: {detail}"

    spoiled()


def test_the_valid_calls_work_and_the_classifier_can_fail():
    """The table's valid calls run, and each outcome the fuzz rejects is reachable (so the fuzz can fail)."""
    for name in ("gram", "cross_entropy", "GAO.gram_schmidt2"):
        FZ.CASES[name].fn(**FZ.CASES[name].kwargs)
    # A function with no checks at all: every kind of finding shows up.
    naive = FZ.Case(lambda v: (v * 2.0).sum(), {"v": FZ.X})
    FZ.CASES["_naive"] = naive
    try:
        seen = {FZ.classify("_naive", arg, kind)[0] for arg, kind in FZ.spoilings("_naive")}
    finally:
        del FZ.CASES["_naive"]
    assert {"accepted", "nonfinite", "raw"} <= seen or {"accepted", "nonfinite"} <= seen
