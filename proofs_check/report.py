"""Write a reproduction's results: results.json (every verdict), report.md (summary table + one section per paper
with its claims and figures), figures/*.png."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax

from fcjax.parallel import device_summary
from fcjax.stats import FAIL, OUTCOMES, PASS, UNDECIDED, Verdict

from .store import atomic_write


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    return str(v)


def _draw_heatmap(ax: Any, s: dict[str, Any], title: str) -> None:
    """A grid of values (``None``: no value, drawn blank) with a text note per cell, diverging about ``center``."""
    import numpy as np
    from matplotlib.colors import TwoSlopeNorm

    h = s["heatmap"]
    v = np.array([[np.nan if x is None else float(x) for x in row] for row in h["values"]], dtype=float)
    c = float(h.get("center", 0.0))
    finite = v[np.isfinite(v)]
    span = max(float(np.max(np.abs(finite - c))) if finite.size else 1.0, 1e-3)
    im = ax.imshow(v, cmap="coolwarm", norm=TwoSlopeNorm(c, c - span, c + span), aspect="auto")
    ax.figure.colorbar(im, ax=ax, fraction=0.05)
    ax.set_xticks(range(len(h["cols"])), h["cols"])
    ax.set_yticks(range(len(h["rows"])), h["rows"], fontsize=8)
    for i, row in enumerate(h.get("notes", [])):
        for j, note in enumerate(row):
            ax.text(j, i, note, ha="center", va="center", fontsize=7)
    ax.set_xlabel(s.get("xlabel", ""))
    ax.set_ylabel(s.get("ylabel", ""))
    ax.set_title(title, fontsize=10)


def _draw(ax: Any, s: dict[str, Any], title: str) -> None:
    if "heatmap" in s:
        _draw_heatmap(ax, s, title)
        return
    colors = {}
    for ln in s["lines"]:
        if s.get("scatter"):
            ax.scatter(ln["x"], ln["y"], s=10, alpha=0.6, label=ln["label"])
        else:
            (handle,) = ax.plot(ln["x"], ln["y"], "o-", label=ln["label"])
            colors[ln["label"]] = handle.get_color()
            if "low" in ln and len(ln["x"]) == 1:  # a band needs two points: one estimate gets an error bar
                ax.errorbar(ln["x"], ln["y"], yerr=[[max(0.0, ln["y"][0] - ln["low"][0])],
                                                    [max(0.0, ln["high"][0] - ln["y"][0])]],
                            color=handle.get_color(), capsize=4)
            elif "low" in ln:
                ax.fill_between(ln["x"], ln["low"], ln["high"], alpha=0.2)
    for ln in s.get("fits", []):
        # A fit labelled "<line label>: slope ..." takes its line's colour.
        color = colors.get(ln["label"].split(": ")[0])
        ax.plot(ln["x"], ln["y"], "--", label=ln["label"], **({"color": color} if color else {}))
    for ln in s.get("refs", []):
        ax.plot(ln["x"], ln["y"], ":", color="gray", label=ln["label"])
    if s.get("xlog"):  # a positive quantity spread over decades, against a linear one
        ax.set_xscale("log")
    if s.get("loglog"):
        ax.set_xscale("log")
        ax.set_yscale("log")
        xs = sorted({float(x) for ln in s["lines"] for x in ln["x"]})
        if not s.get("scatter") and len(xs) <= 12:
            # A sweep over a few d: label the d's themselves (log minor labels overlap on one or two decades).
            from matplotlib.ticker import NullFormatter

            ax.set_xticks(xs, [f"{x:g}" for x in xs])
            ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(s.get("xlabel", ""))
    ax.set_ylabel(s.get("ylabel", ""))
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


PANELS_PER_ROW = 4  # more panels wrap onto further rows


def plot(verdict: Verdict, path: Path) -> bool:
    """Draw a verdict's ``series`` (log-log with fitted slopes when it is a scaling claim); False if it has none.

    A series is one plot (``lines``, optional ``fits``/``refs``, axis labels, ``loglog`` / ``xlog``), a heat map
    (``{"heatmap": {"rows", "cols", "values", "notes", "center"}}``, values row-major, ``None`` blank), or
    ``{"panels": [series, ...]}``, drawn side by side, at most ``PANELS_PER_ROW`` to a row.
    """
    s = verdict.series
    panels = [p for p in (s.get("panels") or [s]) if p and (p.get("lines") or p.get("heatmap"))] if s else []
    if not panels:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = max(len(p["heatmap"]["rows"]) if "heatmap" in p else 0 for p in panels)
    cols = min(len(panels), PANELS_PER_ROW)
    lines = -(-len(panels) // cols)
    fig, axes = plt.subplots(lines, cols, figsize=(6.4 * cols, max(4.6, 1.5 + 0.45 * rows) * lines), dpi=110,
                             squeeze=False)
    status = f"{verdict.claim}: {verdict.outcome.upper()}"
    for ax, panel in zip(axes.ravel(), panels, strict=False):
        _draw(ax, panel, f"{panel.get('title', s.get('title', verdict.claim))}\n{status}")
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True


def _ci(v: Verdict) -> str:
    if v.ci_low != v.ci_low:  # NaN: the claim reports a tolerance ratio, not an interval
        return "—"
    return f"[{v.ci_low:.4g}, {v.ci_high:.4g}] ({v.level:.2%})"


def counts(verdicts: Sequence[Verdict]) -> str:
    """"3 of 5 claims pass, 1 fails, 1 undecided"."""
    n = {o: sum(v.outcome == o for v in verdicts) for o in OUTCOMES}
    return f"{n[PASS]} of {len(verdicts)} claims pass, {n[FAIL]} fail, {n[UNDECIDED]} undecided"


def _mark(outcome: str) -> str:
    return {PASS: "pass", FAIL: "**FAIL**", UNDECIDED: "*undecided*"}[outcome]


def _papers(verdicts: Sequence[Verdict]) -> dict[str, list[Verdict]]:
    groups: dict[str, list[Verdict]] = {}
    for v in verdicts:
        groups.setdefault(v.paper, []).append(v)
    return groups


def render_markdown(verdicts: Sequence[Verdict], figures: dict[str, str], header: str) -> str:
    """report.md: a summary table (paper, claim, statement, predicted, measured, CI, verdict), then one section per
    paper with a subsection (checks, per-grid-point table, figure, caveats, parameters) per claim."""
    out = [header, "", "| paper | claim | statement | predicted | measured | CI | verdict |",
           "|---|---|---|---|---|---|---|"]
    for v in verdicts:
        stmt = v.statement if len(v.statement) < 140 else v.statement[:137] + "…"
        out.append(f"| {v.paper} | `{v.claim}` | {stmt} | {v.expected} | {v.statistic:.4g} ({v.statistic_name}) | "
                   f"{_ci(v)} | **{v.outcome.upper()}** |")
    out += ["", f"{counts(verdicts)}.", ""]
    for paper, group in _papers(verdicts).items():
        out += [f"## {paper}", "", f"{counts(group)}.", ""]
        out += _claim_sections(group, figures)
    return "\n".join(out)


def _claim_sections(verdicts: Sequence[Verdict], figures: dict[str, str]) -> list[str]:
    out = []
    for v in verdicts:
        stored = " (read back from the store: computed by an earlier run of the same code)" if v.stored else ""
        out += [f"### `{v.claim}` — {v.outcome.upper()}", "", f"{v.source}", "",
                f"> {v.statement}", "",
                f"seed {v.seed} · {v.n_trials} trials · {v.dtype} · {v.device} · jax {v.jax_version} · "
                f"{v.seconds:.1f} s{stored}", "", "| check | result | evidence |", "|---|---|---|"]
        out += [f"| {c.name} | {_mark(c.outcome)} | {c.detail}"
                f"{f' — to decide: {c.resolution}' if c.resolution else ''} |" for c in v.checks]
        if v.resolution:
            out += ["", f"To decide: {v.resolution}"]
        if v.table:
            cols = list(dict.fromkeys(k for row in v.table for k in row))
            out += ["", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
            out += ["| " + " | ".join(_fmt(row.get(k, "")) for k in cols) + " |" for row in v.table]
        if v.claim in figures:
            out += ["", f"![{v.claim}]({figures[v.claim]})"]
        if v.caveats:
            out += ["", "Caveats:"] + [f"- {c}" for c in v.caveats]
        params = ", ".join(f"{k}={_fmt(x)}" for k, x in v.params.items())
        out += ["", f"Parameters: {params}", ""]
    return out


def write_report(out_dir: Path, verdicts: Sequence[Verdict], header: str) -> dict[str, Path]:
    """Write results.json, report.md and figures/*.png under ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    figures = {}
    for v in verdicts:
        rel = f"figures/{v.claim.replace('.', '_')}.png"
        if plot(v, out_dir / rel):
            figures[v.claim] = rel
    summary = {"header": header, "passed": sum(bool(v.passed) for v in verdicts), "claims": len(verdicts),
               **{o: sum(v.outcome == o for v in verdicts) for o in (FAIL, UNDECIDED)},
               "device": device_summary(), "jax_version": jax.__version__,
               "papers": {p: [v.claim for v in g] for p, g in _papers(verdicts).items()}}
    atomic_write(out_dir / "results.json", json.dumps({"summary": summary, "verdicts": [v.to_dict() for v in verdicts]},
                                                      indent=1, allow_nan=False))
    atomic_write(out_dir / "report.md", render_markdown(verdicts, figures, header))
    return {"results": out_dir / "results.json", "report": out_dir / "report.md",
            **{k: out_dir / p for k, p in figures.items()}}
