"""Model cards: ``model_card.md`` + ``metrics.json`` next to every trained artifact."""

from __future__ import annotations

import itertools
import json
import math
import platform
from datetime import datetime, timezone
from pathlib import Path


def machine() -> str:
    import os
    try:
        import torch
        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # torch missing: a CPU-only description is still right
        gpu = None
    return f"{platform.machine()} Linux, {os.cpu_count()} CPU cores" + (f", {gpu}" if gpu else ", no GPU") + \
        f", Python {platform.python_version()}"


def write(out: str | Path, *, title: str, summary: str, sections: dict[str, str], metrics: dict,
          command: str) -> None:
    """Write ``model_card.md`` (markdown sections in order) and ``metrics.json``."""
    out = Path(out)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"# {title}", "", summary, "", f"- trained: {now}", f"- machine: {machine()}",
             f"- command: `{command}`", ""]
    for head, body in sections.items():
        parts += [f"## {head}", "", body.strip(), ""]
    (out / "model_card.md").write_text("\n".join(parts))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1, default=float) + "\n")


def table(rows: list[dict], columns: list[str]) -> str:
    """A small markdown table."""
    def fmt(v):
        return f"{v:.4f}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def interval(lo, hi) -> str:
    """``[lo, hi]`` to 3 decimals, or — when there is none."""
    return "—" if lo is None or lo != lo else f"[{lo:.3f}, {hi:.3f}]"


POINTWISE_CAPTION = ("5-class accuracy of the predicted level, and the AUC of the score separating exact (5) from "
                     "irrelevant (1–2) pairs; 95% bootstrap CIs over queries; paired tests against {reference}, "
                     "Holm-corrected.")


def pointwise_table(rows: list[dict], reference: str) -> str:
    """``evaluate``'s pointwise rows as a markdown table: model × language with accuracy, AUC, CIs and the Holm p of
    the AUC against ``reference`` (the first model of the evaluation)."""
    return table([{"model": r["model"], "language": r["language"], "pairs": r["n_pairs"],
                   "accuracy": "—" if r["accuracy"] is None else f"{r['accuracy']:.3f}",
                   "accuracy 95% CI": interval(r["accuracy_ci_low"], r["accuracy_ci_high"]),
                   "AUC": "—" if r["auc"] is None else f"{r['auc']:.3f}",
                   "AUC 95% CI": interval(r["auc_ci_low"], r["auc_ci_high"]),
                   f"p (Holm) AUC vs {reference}": p_value(r["p_holm_auc"])} for r in rows],
                 ["model", "language", "pairs", "accuracy", "accuracy 95% CI", "AUC", "AUC 95% CI",
                  f"p (Holm) AUC vs {reference}"])


COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b")
REF_COLOURS = ("#d62728", "#2ca02c", "#7f7f7f", "#9467bd")


def line_svg(series: dict[str, list[tuple[float, float]]], *, x_label: str, y_label: str,
             refs: dict[str, float] | None = None, tips: dict[str, list[str]] | None = None,
             colours: dict[str, str] | None = None, dashed: tuple[str, ...] = (),
             width: int = 560, height: int = 320) -> str:
    """A standalone SVG line chart (no plotting dependency): one polyline per series over a log x axis,
    dashed horizontal reference lines (``refs``, NaN skipped) labelled on the right, optional hover
    text per point (``tips``); ``colours`` sets a series' colour (else the next of ``COLOURS``), series named
    in ``dashed`` are drawn dashed."""
    from xml.sax.saxutils import escape

    refs = {k: v for k, v in (refs or {}).items() if v == v}
    left, right, top, bottom = 60, 130, 20, 45
    xs = sorted({x for pts in series.values() for x, _ in pts})
    ys = [y for pts in series.values() for _, y in pts if y == y] + list(refs.values())
    lo_x, hi_x = math.log10(min(xs)), math.log10(max(xs))
    if hi_x - lo_x < 1e-9:
        lo_x, hi_x = lo_x - 0.5, hi_x + 0.5
    lo_y, hi_y = min(ys) - 0.02, max(ys) + 0.02

    def X(n):
        return left + (math.log10(n) - lo_x) / (hi_x - lo_x) * (width - left - right)

    def Y(v):
        return top + (hi_y - v) / (hi_y - lo_y) * (height - top - bottom)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="11">', f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="black"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>']
    for i in range(5):
        v = lo_y + i * (hi_y - lo_y) / 4
        out.append(f'<text x="{left - 6}" y="{Y(v) + 4:.1f}" text-anchor="end">{v:.3f}</text>')
    for n in xs:
        out.append(f'<text x="{X(n):.1f}" y="{height - bottom + 15}" text-anchor="middle">{n:g}</text>')
    out.append(f'<text x="{(left + width - right) / 2}" y="{height - 8}" text-anchor="middle">{escape(x_label)}</text>')
    mid = (top + height - bottom) / 2
    out.append(f'<text x="14" y="{mid}" transform="rotate(-90 14 {mid})" text-anchor="middle">{escape(y_label)}</text>')
    for (name, v), c in zip(refs.items(), REF_COLOURS):
        out.append(f'<line x1="{left}" y1="{Y(v):.1f}" x2="{width - right}" y2="{Y(v):.1f}" stroke="{c}" '
                   f'stroke-dasharray="5,4"/>')
        out.append(f'<text x="{width - right + 4}" y="{Y(v) + 4:.1f}" fill="{c}">{escape(name)} {v:.3f}</text>')
    labels = []
    for (name, pts), c in zip(series.items(), itertools.cycle(COLOURS)):
        c = (colours or {}).get(name, c)
        pts = [(x, y) for x, y in pts if y == y]
        if not pts:
            continue
        dash = ' stroke-dasharray="6,4"' if name in dashed else ""
        out.append(f'<polyline points="{" ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in pts)}" fill="none" '
                   f'stroke="{c}" stroke-width="2"{dash}/>')
        texts = (tips or {}).get(name) or [f"{name}: {x:g} → {y:.4f}" for x, y in pts]
        for (x, y), tip in zip(pts, texts):
            out.append(f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="3.5" fill="{c}"><title>{escape(tip)}</title>'
                       f'</circle>')
        if len(series) > 1:
            x, y = pts[-1]
            labels.append([Y(y) + 4, X(x) + 6, c, name])
    labels.sort()
    for i in range(1, len(labels)):  # end labels at least a line apart, in the order of their lines
        labels[i][0] = max(labels[i][0], labels[i - 1][0] + 12)
    out += [f'<text x="{x:.1f}" y="{y:.1f}" fill="{c}">{escape(name)}</text>' for y, x, c, name in labels]
    out.append("</svg>")
    return "\n".join(out) + "\n"


def splice_section(card: str | Path, title: str, body: str, before: str | None = None) -> None:
    """Replace the ``## title`` section of an existing ``model_card.md`` with ``body`` (or add it before the
    ``## before`` section, else at the end), leaving the rest of the card as it is."""
    card = Path(card)
    lines = card.read_text().split("\n")
    head = f"## {title}"
    new = [head, "", body.strip(), ""]
    if head in lines:
        start = lines.index(head)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = new
    elif before and f"## {before}" in lines:
        i = lines.index(f"## {before}")
        lines[i:i] = new
    else:
        lines += [""] + new
    card.write_text("\n".join(lines))


def rebase_images(markdown: str, folder: str) -> str:
    """Markdown whose relative image links (``![..](x.svg)``) point into ``folder``: a section written beside
    its figures, spliced into a card one folder up."""
    import re

    return re.sub(r"(!\[[^\]]*\]\()(?![a-z]+:|/)([^)]+\))", rf"\g<1>{folder}/\g<2>", markdown)


def figure(v, lo=None, hi=None) -> str:
    """``0.815 [0.787, 0.838]`` (the interval when given), or ``—`` for a missing or NaN value."""
    if v is None or v != v:
        return "—"
    return f"{v:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else "")


def p_value(v) -> str:
    """A p-value to 3 significant digits, or ``—`` when there is none."""
    return "—" if v is None or v != v else f"{v:.3g}"
