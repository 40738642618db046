"""Shared by the benchmarks: the UTC time a figure was measured and appending a section to RESULTS.md."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def utc_now() -> str:
    """The time stamp every RESULTS.md section carries, e.g. ``2026-11-27 08:12 UTC``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def append(text: str) -> None:
    """Append ``text`` (a section starting with a blank line and a ``##`` heading) to bench/RESULTS.md."""
    with open(RESULTS, "a", encoding="utf-8") as f:
        f.write(text)
