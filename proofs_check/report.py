"""Write a reproduction's results: results.json (every verdict), report.md (summary table + sections), figures."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fcjax.stats import Verdict


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, so a kill never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    return str(v)


def _draw(ax: Any, s: dict[str, Any], title: str) -> None:
    colors = {}
    for ln in s["lines"]:
        if s.get("scatter"):
            ax.scatter(ln["x"], ln["y"], s=10, alpha=0.6, label=ln["label"])
        else:
            (handle,) = ax.plot(ln["x"], ln["y"], "o-", label=ln["label"])
            colors[ln["label"]] = handle.get_color()
            if "low" in ln:
                ax.fill_between(ln["x"], ln["low"], ln["high"], alpha=0.2)
    for ln in s.get("fits", []):
        # A fit labelled "<line label>: slope ..." takes its line's colour.
        color = colors.get(ln["label"].split(": ")[0])
        ax.plot(ln["x"], ln["y"], "--", label=ln["label"], **({"color": color} if color else {}))
    for ln in s.get("refs", []):
        ax.plot(ln["x"], ln["y"], ":", color="gray", label=ln["label"])
    if s.get("loglog"):
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(s.get("xlabel", ""))
    ax.set_ylabel(s.get("ylabel", ""))
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def plot(verdict: Verdict, path: Path) -> bool:
    """Draw a verdict's ``series`` (log-log with fitted slopes when it is a scaling claim); False if it has none.

    A series is one plot (``lines``, optional ``fits``/``refs``, axis labels) or ``{"panels": [series, ...]}``,
    drawn side by side.
    """
    s = verdict.series
    panels = [p for p in (s.get("panels") or [s]) if p and p.get("lines")] if s else []
    if not panels:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.6), dpi=110, squeeze=False)
    status = f"{verdict.claim}: {'PASS' if verdict.passed else 'FAIL'}"
    for ax, panel in zip(axes[0], panels, strict=True):
        _draw(ax, panel, f"{panel.get('title', s.get('title', verdict.claim))}\n{status}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True


def _ci(v: Verdict) -> str:
    if v.ci_low != v.ci_low:  # NaN: the claim reports a tolerance ratio, not an interval
        return "—"
    return f"[{v.ci_low:.4g}, {v.ci_high:.4g}] ({v.level:.2%})"


def render_markdown(verdicts: Sequence[Verdict], figures: dict[str, str], header: str) -> str:
    """report.md: a summary table (claim, predicted, measured, CI, verdict), then one section per claim."""
    out = [header, "", "| claim | statement | predicted | measured | CI | verdict |", "|---|---|---|---|---|---|"]
    for v in verdicts:
        stmt = v.statement if len(v.statement) < 140 else v.statement[:137] + "…"
        out.append(f"| `{v.claim}` | {stmt} | {v.expected} | {v.statistic:.4g} ({v.statistic_name}) | {_ci(v)} | "
                   f"**{'PASS' if v.passed else 'FAIL'}** |")
    n_pass = sum(v.passed for v in verdicts)
    out += ["", f"{n_pass} of {len(verdicts)} claims pass.", ""]
    for v in verdicts:
        out += [f"## `{v.claim}` — {'PASS' if v.passed else 'FAIL'}", "", f"*{v.paper}* — {v.source}", "",
                f"> {v.statement}", "",
                f"seed {v.seed} · {v.n_trials} trials · {v.dtype} · {v.device} · jax {v.jax_version} · "
                f"{v.seconds:.1f} s", "", "| check | result | evidence |", "|---|---|---|"]
        out += [f"| {c.name} | {'pass' if c.passed else '**FAIL**'} | {c.detail} |" for c in v.checks]
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
    return "\n".join(out)


def write_report(out_dir: Path, verdicts: Sequence[Verdict], header: str) -> dict[str, Path]:
    """Write results.json, report.md and figures/*.png under ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    figures = {}
    for v in verdicts:
        rel = f"figures/{v.claim.replace('.', '_')}.png"
        if plot(v, out_dir / rel):
            figures[v.claim] = rel
    atomic_write(out_dir / "results.json",
                 json.dumps({"verdicts": [v.to_dict() for v in verdicts]}, indent=1, allow_nan=False))
    atomic_write(out_dir / "report.md", render_markdown(verdicts, figures, header))
    return {"results": out_dir / "results.json", "report": out_dir / "report.md",
            **{k: out_dir / p for k, p in figures.items()}}
