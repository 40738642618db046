"""Model cards: ``model_card.md`` + ``metrics.json`` next to every trained artifact."""

from __future__ import annotations

import json
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
