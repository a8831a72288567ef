"""The gap decision shared by the trained-ReLU and real-data claims: the slopes the certified/attack sandwich allows
for robustness / optimal radius against d, decided against d^(-1/2), and the figure panel that shows it."""

from __future__ import annotations

import math

import numpy as np

from ..api import Check, fit_line, line, sandwich_slope, sandwich_slope_check


def gap_fits(ds, lower, upper, key, level, what):
    """The range of slopes of the per-network mean ratio that the bounds allow, and the sandwich decision."""
    name = f"{what}: robustness / optimal radius falls at least like d^(-1/2)"
    if any(lo.size < 2 or np.any(lo <= 0) for lo in lower):
        return None, [Check(name, False, "fewer than 2 valid networks, or a vacuous (zero) lower bound, at some d",
                            outcome="undecided", resolution="at least 2 valid networks with a nonzero certificate "
                                                            "at every d")]
    fit = sandwich_slope(ds, lower, upper, key, level=level)
    return fit, [sandwich_slope_check(name, fit, at_most=-0.5)]


def gap_series(title, xlabel, ds, lower, upper, fit, exact=None):
    lines = [line(name, ds, [float(np.mean(s)) for s in samples])
             for name, samples in (("lower bound / optimal", lower), ("upper bound / optimal", upper))]
    if exact is not None:
        lines.append(line("exact / optimal (where every sample closed)", [d for d, e in zip(ds, exact, strict=True)
                                                                          if e is not None],
                          [float(np.mean(e)) for e in exact if e is not None]))
    fits = [] if fit is None else [fit_line("lower bound", fit.lower), fit_line("upper bound", fit.upper)]
    return {"title": title, "xlabel": xlabel, "ylabel": "robustness / optimal radius", "loglog": True,
            "lines": lines, "fits": fits,
            "refs": [line("d^(-1/2)", ds, [lines[1]["y"][0] * math.sqrt(ds[0] / d) for d in ds])]}
