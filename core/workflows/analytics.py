"""Read-side analytics for the app's dashboard and failure explorer (no Streamlit here).

- ``store_judged``: the labels in force (gold, raters' consensus, imports) as a ``core.workflows.evaluate.Judged``,
  so ``core.workflows.evaluate.evaluate`` scores the store's judgments like a judgments file.
- ``StoredPredictionScorer``: a teacher or student as its *stored* predictions (the predictions table that
  ``relevance score MODEL --store`` fills, else the Parquet files under ``artifacts/<model>/predictions``),
  so dashboards never load a model or run one.
- ``failure_pairs``: DuckDB over the Parquet predictions joined with the labels: the pairs where the
  models and the humans disagree most, filtered by language, query text, level.
- ``select_labels`` and ``split_modes`` cut the labelled pairs by data set and language, and into the
  listwise and the pointwise part (the counts per data set and language are ``core.store.datasets``).

Every read of the store goes through ``core.store``; this module combines what it reads.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, time, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from core import config
from core.models.base import LevelScorer
from core.scale import PROB_COLS
from core.store.datasets import RATERS, dataset_membership, datasets_of, sort_datasets, store_fingerprint
from core.store.predictions import stored_models, stored_probabilities
from core.text.queries import clean_query

log = logging.getLogger(__name__)
LABEL_COLUMNS = ["query_pk", "product_pk", "query_id", "query", "language", "product_id", "level", "n_raters",
                 "source", "datasets"]


def store_version(url: str | None = None, artifacts_dir: str | Path | None = None) -> tuple:
    """A cheap fingerprint that changes when labels, comparisons, predictions or prediction files change."""
    files = tuple((str(f), f.stat().st_mtime_ns) for fs in prediction_files(artifacts_dir).values() for f in fs)
    return store_fingerprint(url) + files


def section_versions(url: str | None = None, artifacts_dir: str | Path | None = None) -> dict[str, tuple]:
    """Fingerprints per kind of data a dashboard section reads: ``labels``, ``comparisons`` and ``predictions``
    (the table and the Parquet files), so a new label leaves win rates and the prediction loaders cached."""
    from core.store.datasets import table_versions

    v = table_versions(url)
    files = tuple((str(f), f.stat().st_mtime_ns) for fs in prediction_files(artifacts_dir).values() for f in fs)
    return {"labels": v["labels"], "comparisons": v["comparisons"], "predictions": v["predictions"] + files}


def labels_frame(url: str | None = None, *, as_of: datetime | None = None) -> pd.DataFrame:
    """One row per labelled pair (``LABEL_COLUMNS``): gold first, then the raters' consensus, then imports.

    ``datasets`` lists (comma-joined, raters last) every data set with a label in force on the pair. ``as_of``
    (timezone-aware, e.g. ``end_of_day``): the labels in force at that time
    (``core.campaigns.consensus.labels_in_force``); default now.
    """
    from core.campaigns.consensus import labels_in_force

    df = labels_in_force(url, as_of=as_of)
    if df.empty:
        return pd.DataFrame(columns=LABEL_COLUMNS)
    member = dataset_membership(url, as_of=as_of)
    joined = member.groupby(["query_pk", "product_pk"])["dataset"].agg(lambda x: ",".join(sort_datasets(x)))
    df = df.merge(joined.rename("datasets").reset_index(), on=["query_pk", "product_pk"], how="left")
    return with_datasets(df)[LABEL_COLUMNS].copy()


def end_of_day(day: date) -> datetime:
    """The last instant of ``day`` in UTC: "the labels as of 5 January" include every label made that day."""
    return datetime.combine(day, time.max, tzinfo=timezone.utc)


def with_datasets(labels: pd.DataFrame) -> pd.DataFrame:
    """``labels`` with a ``datasets`` column (filled from ``source`` where missing)."""
    from_source = labels["source"].map(lambda v: ",".join(datasets_of(v))) if "source" in labels else ""
    if "datasets" not in labels:
        return labels.assign(datasets=from_source)
    return labels.assign(datasets=labels["datasets"].where(labels["datasets"].notna() & (labels["datasets"] != ""),
                                                           from_source))


def select_labels(labels: pd.DataFrame, datasets: Sequence[str] = (), languages: Sequence[str] = ()) -> pd.DataFrame:
    """The labelled pairs in any of ``datasets`` and of a query in ``languages`` (empty: no restriction)."""
    labels = with_datasets(labels)
    keep = np.ones(len(labels), bool)
    if datasets:
        wanted = set(datasets)
        keep &= labels["datasets"].map(lambda v: not wanted.isdisjoint(str(v).split(","))).to_numpy(bool)
    if languages:
        keep &= labels["language"].isin(list(languages)).to_numpy(bool)
    return labels[keep]


def dataset_names(labels: pd.DataFrame) -> list[str]:
    """The data sets among ``labels`` (imports by name, ``raters`` last)."""
    labels = with_datasets(labels)
    return sort_datasets(n for v in labels["datasets"].unique() for n in str(v).split(",") if n)


def dataset_modes(labels: pd.DataFrame, datasets: Sequence[str] = ()) -> dict[str, str]:
    """``listwise`` or ``pointwise`` for each data set among ``labels`` (only ``datasets`` when given), on
    those labels: pointwise when its median query has fewer than 3 judged products
    (``core.metrics.pointwise.is_pointwise``), where an nDCG per query would mean nothing."""
    from core.metrics.pointwise import is_pointwise

    labels = with_datasets(labels)
    names = [n for n in dataset_names(labels) if not datasets or n in datasets]
    return {n: "pointwise" if is_pointwise(select_labels(labels, [n])["query_id"]) else "listwise" for n in names}


def split_modes(labels: pd.DataFrame, datasets: Sequence[str] = ()) -> dict[str, pd.DataFrame]:
    """``{"listwise": pairs, "pointwise": pairs}``: a pair is listwise when any of its data sets (among
    ``datasets`` when given) is listwise (``dataset_modes``), else pointwise."""
    labels = with_datasets(labels)
    listwise = [n for n, m in dataset_modes(labels, datasets).items() if m == "listwise"]
    mask = labels.index.isin(select_labels(labels, listwise).index) if listwise else np.zeros(len(labels), bool)
    return {"listwise": labels[mask], "pointwise": labels[~mask]}


def store_judged(url: str | None = None, labels: pd.DataFrame | None = None):
    """The store's labels in force (or the selection ``labels`` of them) as ``core.workflows.evaluate.Judged`` (None when
    there are none)."""
    from core.workflows.evaluate import Judged

    labels = labels_frame(url) if labels is None else labels
    if labels.empty:
        return None
    pairs = labels[["query_id", "query", "language", "product_id", "level"]].reset_index(drop=True)
    return Judged("labels in the store", pairs.astype({"level": "int64"}))


# ------------------------------------------------------------------------------------------ predictions

def prediction_files(artifacts_dir: str | Path | None = None) -> dict[str, list[Path]]:
    """Parquet prediction files with level probabilities, by model folder: ``artifacts/<model>/predictions``."""
    import pyarrow.parquet as pq

    root = Path(artifacts_dir) if artifacts_dir else config.path("artifacts_dir")
    out: dict[str, list[Path]] = {}
    for f in sorted(root.glob("*/predictions/*.parquet")):
        try:
            names = set(pq.read_schema(f).names)
        except Exception as exc:  # a file being written, or not Parquet: leave it out and say so
            log.warning("skipping %s: %s", f, exc)
            continue
        if {"query_id", "product_id", "expected", *PROB_COLS} <= names:
            out.setdefault(f.parent.parent.name, []).append(f)
    return out


def _sql_files(files: Sequence[Path]) -> str:
    return "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"


def stored_predictions(model: str, url: str | None = None, artifacts_dir: str | Path | None = None) -> pd.DataFrame:
    """A model's stored level probabilities: columns query, product_id, p1…p5 (one row per pair).

    From the predictions table when it holds the model, else from its Parquet files (DuckDB); empty if none.
    """
    df = stored_probabilities(model, url)
    if df.empty:
        files = prediction_files(artifacts_dir).get(model)
        if files:
            import duckdb

            with duckdb.connect() as con:
                df = con.execute(f"SELECT query, product_id, {', '.join(f'avg({c}) AS {c}' for c in PROB_COLS)} "
                                 f"FROM read_parquet({_sql_files(files)}, union_by_name=true) "
                                 f"GROUP BY query, product_id").df()
    return df.drop_duplicates(["query", "product_id"], keep="last")


def models_with_predictions(url: str | None = None, artifacts_dir: str | Path | None = None) -> list[str]:
    return sorted(set(stored_models(url)) | set(prediction_files(artifacts_dir)))


class StoredPredictionScorer(LevelScorer):
    """A 5-class model replayed from its stored predictions (a ``core.models.base.LevelScorer``).

    Pairs it has no prediction for get the uniform distribution (expected level 3) and are counted in
    ``missing``, so a report can say how much of the judged set the stored run covers.
    """

    def __init__(self, name: str, predictions: pd.DataFrame):
        self.name = name
        keys = zip(predictions["query"].map(clean_query), predictions["product_id"].astype(str))
        self._probs = dict(zip(keys, predictions[PROB_COLS].to_numpy(dtype=np.float64)))
        self.asked = self.missing = 0

    def predict_proba(self, query: str, product_ids: Sequence[str]) -> np.ndarray:
        q = clean_query(query)
        out = np.full((len(product_ids), 5), 0.2)
        for i, pid in enumerate(product_ids):
            p = self._probs.get((q, str(pid)))
            if p is None:
                self.missing += 1
            else:
                out[i] = p
        self.asked += len(product_ids)
        return out

    def score(self, query: str, product_ids: Sequence[str]) -> np.ndarray:
        return self.predict_proba(query, product_ids) @ np.arange(1, 6)

    @property
    def coverage(self) -> float:
        return 1 - self.missing / self.asked if self.asked else float("nan")


def evaluate_store(url: str | None = None, *, models: Sequence[str] = ("teacher", "student", "bm25"),
                   ks: Sequence[int | None] = (20,), gains: Sequence[str] = ("esci", "linear"),
                   live_scorers: dict | None = None, artifacts_dir: str | Path | None = None,
                   labels: pd.DataFrame | None = None, mode: str | None = None) -> dict:
    """nDCG per language with CIs and 5-class accuracy of ``models`` on the store's labels in force.

    ``labels``: a selection of ``labels_frame`` (``select_labels``) instead of all labels in force.
    ``mode``: ``listwise`` (nDCG@k) or ``pointwise`` (accuracy, macro-F1, AUC per language:
    ``core.metrics.pointwise``, as ``relevance evaluate`` computes them); None picks by the median judged products
    per query (``core.workflows.evaluate.evaluate``).

    Models with stored predictions are replayed (``StoredPredictionScorer``); others come from
    ``live_scorers`` or the registry (cheap rankers such as bm25). Models that have neither predictions
    nor a cheap live scorer are left out and listed in ``skipped``.

    Returns:
        ``{"report": <core.workflows.evaluate report>, "coverage": {model: share of judged pairs with a stored
        prediction}, "skipped": {model: reason}, "n_pairs": int}``; ``report`` is None without labels.
    """
    from core.workflows.evaluate import evaluate

    judged = store_judged(url, labels)
    if judged is None:
        return {"report": None, "coverage": {}, "skipped": {}, "n_pairs": 0}
    have = set(models_with_predictions(url, artifacts_dir))
    scorers, skipped, use = dict(live_scorers or {}), {}, []
    for m in models:
        if m in have:
            scorers[m] = StoredPredictionScorer(m, stored_predictions(m, url, artifacts_dir))
        elif m not in scorers and m not in ("bm25", "random"):
            skipped[m] = f"no stored predictions; run `relevance score {m} --judged --store`"
            continue
        use.append(m)
    if not use:
        return {"report": None, "coverage": {}, "skipped": skipped, "n_pairs": len(judged.pairs)}
    report = evaluate(judged, use, ks=ks, gains=gains, by_language=True, url=url, progress=False, scorers=scorers,
                      mode=mode)
    coverage = {m: s.coverage for m, s in scorers.items() if isinstance(s, StoredPredictionScorer)}
    return {"report": report, "coverage": coverage, "skipped": skipped, "n_pairs": len(judged.pairs)}


# ------------------------------------------------------------------------------------------ failures

def failure_pairs(labels: pd.DataFrame, files: dict[str, list[Path]], models: Sequence[str], *,
                  languages: Sequence[str] = (), query: str | None = None, levels: Sequence[int] = (),
                  datasets: Sequence[str] = (), limit: int = 500) -> pd.DataFrame:
    """Labelled pairs where ``models`` and the humans disagree most (DuckDB over the Parquet predictions).

    ``disagreement`` is the largest gap between any two of: the human level and each model's expected
    level (so with one model it is |level − expected|). Pairs need a prediction from every model.

    Returns:
        The label columns, then ``<model>_expected``, ``<model>_argmax`` per model and ``disagreement``,
        most disagreeing first, at most ``limit`` rows.
    """
    import duckdb

    models = [m for m in models if files.get(m)]
    labels = select_labels(labels, datasets)
    if labels.empty or not models:
        return pd.DataFrame(columns=LABEL_COLUMNS + ["disagreement"])
    with duckdb.connect() as con:
        con.register("labels", labels[LABEL_COLUMNS])
        joins, cols, values = [], [], ["CAST(l.level AS DOUBLE)"]
        for i, m in enumerate(models):
            joins.append(f"JOIN (SELECT query_id, product_id, avg(expected) AS expected, "
                         f"arg_max(argmax, expected) AS argmax FROM read_parquet({_sql_files(files[m])}, "
                         f"union_by_name=true) GROUP BY query_id, product_id) p{i} "
                         f"ON p{i}.query_id = l.query_id AND p{i}.product_id = l.product_id")
            cols += [f'p{i}.expected AS "{m}_expected"', f'p{i}.argmax AS "{m}_argmax"']
            values.append(f"p{i}.expected")
        gaps = [f"abs({a} - {b})" for j, a in enumerate(values) for b in values[j + 1:]]
        where, params = [], []
        if languages:
            where.append(f"l.language IN ({', '.join('?' for _ in languages)})")
            params += list(languages)
        if query and query.strip():
            where.append("l.query ILIKE ?")
            params.append(f"%{query.strip()}%")
        if levels:
            where.append(f"l.level IN ({', '.join('?' for _ in levels)})")
            params += [int(v) for v in levels]
        sql = (f"SELECT l.*, {', '.join(cols)}, greatest({', '.join(gaps)}) AS disagreement FROM labels l "
               f"{' '.join(joins)} {'WHERE ' + ' AND '.join(where) if where else ''} "
               f"ORDER BY disagreement DESC, l.query_id, l.product_id LIMIT {int(limit)}")
        return con.execute(sql, params).df()


def empty_selection_message(datasets: Sequence[str] = (), languages: Sequence[str] = ()) -> str:
    """What to say when a selection holds no labels, e.g. "No labels in esci_multilingual for ja yet."."""
    where = f" in {', '.join(datasets)}" if datasets else ""
    langs = f" for {', '.join(languages)}" if languages else ""
    tip = (" Raters' labels appear under `raters` once a campaign is graded." if RATERS in datasets else "")
    return f"No labels{where}{langs} yet.{tip}"


def pairs_fingerprint(pairs: pd.DataFrame) -> str:
    """A short digest of the ordered (query_id, product_id) list: equal exactly when the same pairs are shown
    in the same order (the Failures table keys its row selection on it)."""
    import hashlib

    keys = "\n".join(pairs["query_id"].astype(str) + "\t" + pairs["product_id"].astype(str))
    return hashlib.sha1(keys.encode()).hexdigest()[:16]
