"""Exports: TREC qrels and runs, and the label files the app's Data and campaigns page downloads.

``label_export`` builds one download: the labels in force (``core.campaigns.consensus``), the raw label rows or
side-by-side answers with rater and time (``core.campaigns.history``), or TREC qrels, for the whole store or one
campaign, as formula-safe CSV (``core.safe_csv``) or Parquet.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core import metrics
from core.errors import InvalidInputError
from core.safe_csv import to_csv

# kind -> what it holds (the app's labels for them)
EXPORTS = {"labels": "labels in force (one row per pair)",
           "raw": "raw labels (every row, with rater and time)",
           "answers": "side-by-side answers (every row, with rater and time)",
           "qrels": "qrels (TREC: query_id 0 product_id relevance)"}
FORMATS = ("csv", "parquet")
MIME = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet", "trec": "text/plain"}


@dataclass(frozen=True)
class ExportFile:
    """One export, ready to save or download."""

    file_name: str
    data: bytes
    mime: str
    rows: int


def qrels_lines(qrels: Mapping[str, Mapping[str, int]], gains: str = "linear") -> list[str]:
    """``query_id 0 product_id relevance`` lines, sorted; relevance is the level's gain as an integer.

    ``linear`` writes level−1 (0…4), ``esci`` writes 100/10/1/0 (the ESCI gains ×100), ``exp`` 2^(level−1)−1.
    """
    scale = 100 if gains == "esci" else 1
    return [f"{q} 0 {p} {round(metrics.gain(qrels[q][p], gains) * scale)}\n"
            for q in sorted(qrels) for p in sorted(qrels[q])]


def write_qrels(qrels: Mapping[str, Mapping[str, int]], path: str | Path, gains: str = "linear") -> int:
    """Write ``qrels_lines`` to ``path``; returns the number of lines."""
    lines = qrels_lines(qrels, gains)
    Path(path).write_text("".join(lines), encoding="utf-8")
    return len(lines)


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


def export_frame(kind: str, *, campaign: str | int | None = None, url: str | None = None) -> pd.DataFrame:
    """The table behind an export ``kind`` (a key of ``EXPORTS``; qrels: the labels in force).

    For one ``campaign`` the labels in force are that campaign's raters' consensus (no imported labels); for the
    whole store, every source (gold first, then the raters' consensus, then imports).
    """
    from core.campaigns.consensus import EXPORT_COLUMNS, training_labels
    from core.campaigns.history import raw_answers, raw_labels

    if kind not in EXPORTS:
        raise InvalidInputError(f"export kind must be one of {', '.join(EXPORTS)}; got {kind!r}")
    if kind == "raw":
        return raw_labels(url, campaign)
    if kind == "answers":
        return raw_answers(url, campaign)
    return training_labels(url, include_imports=campaign is None, campaign=campaign)[EXPORT_COLUMNS]


def label_export(kind: str, fmt: str = "csv", *, campaign: str | int | None = None, url: str | None = None,
                 gains: str = "linear") -> ExportFile:
    """One export as bytes: ``kind`` from ``EXPORTS``, ``fmt`` csv or parquet (qrels are always TREC text).

    CSV is formula-safe (a text cell starting with ``= + - @`` gets a leading ``'``); Parquet keeps the types.
    """
    if fmt not in FORMATS:
        raise InvalidInputError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    df = export_frame(kind, campaign=campaign, url=url)
    name = export_file_name(kind, fmt, campaign, gains)
    if kind == "qrels":
        qrels: dict[str, dict[str, int]] = {}
        for q, p, level in zip(df["query_id"], df["product_id"], df["level"]):
            qrels.setdefault(str(q), {})[str(p)] = int(level)
        lines = qrels_lines(qrels, gains)
        return ExportFile(name, "".join(lines).encode("utf-8"), MIME["trec"], len(lines))
    if fmt == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return ExportFile(name, buf.getvalue(), MIME["parquet"], len(df))
    return ExportFile(name, to_csv(df), MIME["csv"], len(df))


def export_file_name(kind: str, fmt: str = "csv", campaign: str | int | None = None, gains: str = "linear") -> str:
    """The file name of an export: ``raw_my-campaign.csv``, ``labels_all.parquet``, ``qrels_all_linear.qrels``."""
    stem = f"{kind}_{_slug(campaign) if campaign is not None else 'all'}"
    return f"{stem}_{gains}.qrels" if kind == "qrels" else f"{stem}.{fmt}"


def export_mime(kind: str, fmt: str = "csv") -> str:
    return MIME["trec" if kind == "qrels" else fmt]


def write_export(kind: str, out: str | Path, *, campaign: str | int | None = None, url: str | None = None,
                 gains: str = "linear") -> int:
    """``label_export`` written to ``out`` (``.csv`` or ``.parquet``; qrels any name); returns the rows written."""
    out = Path(out)
    fmt = out.suffix.lower().lstrip(".")
    if kind != "qrels" and fmt not in FORMATS:
        raise InvalidInputError(f"--out must end in .parquet or .csv; got {out.name!r}")
    result = label_export(kind, fmt if fmt in FORMATS else "csv", campaign=campaign, url=url, gains=gains)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(result.data)
    return result.rows


def _slug(name) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("_") or "campaign"
