"""Exports in TREC format: qrels from stored labels, runs from a model over judged pairs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from core import metrics


def write_qrels(qrels: Mapping[str, Mapping[str, int]], path: str | Path, gains: str = "linear") -> int:
    """``query_id 0 product_id relevance`` lines; relevance is the level's gain as an integer.

    ``linear`` writes level−1 (0…4), ``esci`` writes 100/10/1/0 (the ESCI gains ×100), ``exp`` 2^(level−1)−1.
    """
    scale = 100 if gains == "esci" else 1
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for q in sorted(qrels):
            for p in sorted(qrels[q]):
                f.write(f"{q} 0 {p} {round(metrics.gain(qrels[q][p], gains) * scale)}\n")
                n += 1
    return n


def write_run(run: Mapping[str, Mapping[str, float]], path: str | Path, name: str) -> int:
    """``query_id Q0 product_id rank score name`` lines, ranked by score (ties by product id)."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for q in sorted(run):
            ranked = sorted(run[q].items(), key=lambda kv: (-kv[1], kv[0]))
            for rank, (p, score) in enumerate(ranked, 1):
                f.write(f"{q} Q0 {p} {rank} {score:.6g} {name}\n")
                n += 1
    return n
