"""Counts of what the store holds, for the app's overview and the CLI, and the store's *data sets*.

A data set is where a label came from: the name of an import (labels with source ``import:esci_us``
belong to ``esci_us``) or ``raters`` (labels of source ``human``, ``gold`` or ``adjudicated``). A labelled
pair belongs to every data set that has a label in force on it, so a pair imported with ``esci_us`` and graded
by raters is in both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.store.labels import current_labels
from core.store.session import session_scope
from db.models import Comparison, ImportRecord, Label, Prediction, Product, Query, User

RATERS = "raters"
RATER_SOURCES = ("human", "gold", "adjudicated")  # adjudicated: a researcher's decision on a pair
IMPORT_PREFIX = "import:"


def dataset_of(source: str) -> str:
    """The data set of one label source: ``import:esci_us`` → ``esci_us``; ``human``/``gold`` → ``raters``."""
    source = str(source).strip()
    if source.startswith(IMPORT_PREFIX):
        return source[len(IMPORT_PREFIX):]
    return RATERS if source in RATER_SOURCES else source


def datasets_of(sources: str) -> list[str]:
    """The data sets of a comma-joined source (as the labels in force give it), imports first, raters last."""
    return sort_datasets({dataset_of(x) for x in str(sources).split(",") if x.strip()})


def sort_datasets(names) -> list[str]:
    """Data set names by name, ``raters`` last."""
    return sorted(set(names), key=lambda n: (n == RATERS, n))


def sources_of(dataset: str) -> tuple[str, ...]:
    """The label sources of a data set (the inverse of ``dataset_of``)."""
    return RATER_SOURCES if dataset == RATERS else (f"{IMPORT_PREFIX}{dataset}",)


def pair_datasets(s: Session, *, as_of: datetime | None = None) -> pd.DataFrame:
    """One row per labelled pair × data set, from the labels in force (at ``as_of``, default now): query_pk,
    product_pk, dataset."""
    from core.store.labels import current_labels

    cur = current_labels(s, as_of=as_of)
    if cur.empty:
        return pd.DataFrame(columns=["query_pk", "product_pk", "dataset"])
    out = cur[["query_pk", "product_pk"]].assign(dataset=cur["source"].map(dataset_of))
    return out.drop_duplicates(ignore_index=True)


def overview(url: str | None = None) -> dict:
    """Totals and a per-language table of queries, labelled queries and labels in force."""
    with session_scope(url) as s:
        totals = {
            "products": s.scalar(select(func.count(Product.id))),
            "queries": s.scalar(select(func.count(Query.id))),
            "labels": s.scalar(select(func.count(Label.id))),
            "users": s.scalar(select(func.count(User.id))),
        }
        q = pd.DataFrame(s.execute(select(Query.language, func.count(Query.id)).group_by(Query.language)).all(),
                         columns=["language", "queries"])
        lab = pd.DataFrame(s.execute(
            select(Query.language, func.count(func.distinct(Label.query_pk)), func.count(Label.id))
            .join(Query, Query.id == Label.query_pk).where(Label.level.is_not(None)).group_by(Query.language)).all(),
            columns=["language", "labelled queries", "labels"])
    table = q.merge(lab, on="language", how="left").fillna(0)
    table = table.astype({c: "int64" for c in table.columns if c != "language"})
    return {"totals": totals, "by_language": table.sort_values("queries", ascending=False, ignore_index=True)}


def query_languages(url: str | None = None) -> dict[str, int]:
    """Stored queries per language, most queries first."""
    with session_scope(url) as s:
        rows = s.execute(select(Query.language, func.count(Query.id)).group_by(Query.language)).tuples().all()
    return dict(sorted(((lang, int(n)) for lang, n in rows if lang), key=lambda x: (-x[1], x[0])))


def dataset_membership(url: str | None = None, *, as_of: datetime | None = None) -> pd.DataFrame:
    """``pair_datasets`` in a session of its own: query_pk, product_pk, dataset."""
    with session_scope(url) as s:
        return pair_datasets(s, as_of=as_of)


def first_rater_label_at(url: str | None = None) -> datetime | None:
    """When a rater first graded a campaign task (a label of source ``human``; undone ones count, they were made
    then), in UTC; None when no rater has."""
    with session_scope(url) as s:
        first = s.scalar(select(func.min(Label.created_at)).where(Label.source == "human"))
    if first is None:
        return None
    return first.replace(tzinfo=timezone.utc) if first.tzinfo is None else first.astimezone(timezone.utc)


def store_fingerprint(url: str | None = None) -> tuple:
    """A cheap fingerprint of the labels, comparisons and predictions tables (count, max id of each)."""
    with session_scope(url) as s:
        return tuple(x for model in (Label, Comparison, Prediction)
                     for x in s.execute(select(func.count(model.id), func.max(model.id))).one())


def table_versions(url: str | None = None) -> dict[str, tuple]:
    """``store_fingerprint`` per table: ``{"labels": (count, max id), "comparisons": …, "predictions": …}``, so
    a page section can be keyed on the one table it reads."""
    with session_scope(url) as s:
        return {name: tuple(s.execute(select(func.count(model.id), func.max(model.id))).one())
                for name, model in (("labels", Label), ("comparisons", Comparison), ("predictions", Prediction))}


def import_status(url: str | None = None) -> tuple[bool, set[str]]:
    """Whether the store has no products, and the names of the judgments imported so far."""
    with session_scope(url) as s:
        empty = s.execute(select(func.count(Product.id))).scalar_one() == 0
        done = set(s.scalars(select(ImportRecord.name).where(ImportRecord.kind == "judgments")))
    return empty, done


# ------------------------------------------------------------------------------------------ counts

def label_throughput(url: str | None = None, freq: str | None = None) -> pd.DataFrame:
    """Raters' labels in force per period and rater: an undone label (superseded by a retraction, an undo)
    and a corrected one (superseded by its correction) do not count; the correction does.

    ``freq`` is ``"D"`` (days) or ``"h"`` (hours); by default hours when all labels fall within three
    days, else days. Columns: period (start, UTC, as text), rater, labels, median_seconds.
    """
    with session_scope(url) as s:
        rows = s.execute(select(Label.id, Label.created_at, Label.rater, Label.seconds_spent)
                         .where(Label.source == "human", Label.level.is_not(None))).all()
        superseded = set(s.scalars(select(Label.supersedes_id).where(Label.supersedes_id.is_not(None))))
    df = pd.DataFrame([r[1:] for r in rows if r[0] not in superseded], columns=["created_at", "rater", "seconds"])
    if df.empty:
        return pd.DataFrame(columns=["period", "rater", "labels", "median_seconds"])
    at = pd.to_datetime(df["created_at"], utc=True)
    if freq is None:
        freq = "h" if at.max() - at.min() < pd.Timedelta(days=3) else "D"
    df["period"] = at.dt.floor(freq).dt.strftime("%Y-%m-%d %H:00" if freq == "h" else "%Y-%m-%d")
    out = df.groupby(["period", "rater"], as_index=False).agg(labels=("rater", "size"),
                                                              median_seconds=("seconds", "median"))
    return out.sort_values(["period", "rater"], ignore_index=True)


def labels_by_language(url: str | None = None, datasets: Sequence[str] = (),
                       languages: Sequence[str] = ()) -> pd.DataFrame:
    """Per language: raters' labels in force, imported labels in force, raters, pairs labelled by either;
    only pairs in ``datasets`` and queries in ``languages`` when given."""
    with session_scope(url) as s:
        cur = current_labels(s)
        member = pair_datasets(s) if datasets else None
        lang = pd.DataFrame(s.execute(select(Query.id, Query.language)).all(), columns=["query_pk", "language"])
    cur = cur.merge(lang, on="query_pk")
    if member is not None:
        keys = member[member["dataset"].isin(list(datasets))][["query_pk", "product_pk"]].drop_duplicates()
        cur = cur.merge(keys, on=["query_pk", "product_pk"])
    if languages:
        cur = cur[cur["language"].isin(list(languages))]
    if cur.empty:
        return pd.DataFrame(columns=["language", "rater labels", "imported labels", "raters", "pairs"])
    human = cur["source"].isin(RATER_SOURCES)
    cur["pair"] = cur["query_pk"].astype(str) + ":" + cur["product_pk"].astype(str)
    out = pd.DataFrame({
        "rater labels": cur[human].groupby("language").size(),
        "imported labels": cur[~human].groupby("language").size(),
        "raters": cur[human & (cur["rater"] != "")].groupby("language")["rater"].nunique(),
        "pairs": cur.groupby("language")["pair"].nunique(),
    }).fillna(0).astype("int64")
    return out.rename_axis("language").reset_index().sort_values("pairs", ascending=False, ignore_index=True)


# ------------------------------------------------------------------------------------------ data sets

DATASET_COLUMNS = ["dataset", "languages", "queries", "pairs", "labels", "products per query", "mode"]


def datasets(url: str | None = None, *, by_language: bool = False) -> pd.DataFrame:
    """The store's data sets (each import's name, and ``raters``), imports first.

    Columns: dataset, languages (comma-joined; with ``by_language`` one row per data set × language and a
    ``language`` column instead), queries, pairs and labels in force, products per query (median judged
    products of its queries) and mode (``listwise``, or ``pointwise`` when that median is below 3, for the
    whole data set). Empty (with these columns) when the store has no labels.
    """
    from core.metrics import LISTWISE_MIN

    with session_scope(url) as s:
        cur = current_labels(s)
        lang = dict(s.execute(select(Query.id, Query.language)).tuples().all())
    cols = [c if c != "languages" or not by_language else "language" for c in DATASET_COLUMNS]
    if cur.empty:
        return pd.DataFrame(columns=cols)
    cur = cur.assign(dataset=cur["source"].map(dataset_of), language=cur["query_pk"].map(lang).fillna(""))
    per_query = (cur.drop_duplicates(["dataset", "query_pk", "product_pk"])
                 .groupby(["dataset", "language", "query_pk"]).size().rename("n").reset_index())
    mode = per_query.groupby("dataset")["n"].median().map(lambda m: "pointwise" if m < LISTWISE_MIN else "listwise")
    keys = ["dataset", "language"] if by_language else ["dataset"]
    by = per_query.groupby(keys)
    out = pd.DataFrame({"queries": by["query_pk"].nunique(), "pairs": by["n"].sum(), "labels": cur.groupby(keys).size(),
                        "products per query": by["n"].median()}).reset_index()
    if not by_language:
        langs = per_query.groupby("dataset")["language"].agg(lambda x: ", ".join(sorted(set(x) - {""})))
        out["languages"] = out["dataset"].map(langs)
    out["mode"] = out["dataset"].map(mode)
    out = out.astype({"queries": "int64", "pairs": "int64", "labels": "int64", "products per query": "float64"})
    order = {n: i for i, n in enumerate(sort_datasets(out["dataset"]))}
    out = out.assign(_order=out["dataset"].map(order)).sort_values(["_order", "pairs"], ascending=[True, False])
    return out[cols].reset_index(drop=True)


def gold_sources(url: str | None = None) -> dict[str, int]:
    """Label sources a campaign can draw gold pairs from (imports and ``gold``; not the raters' own ``human``
    labels) -> the number of pairs with a label in force from that source, largest first."""
    with session_scope(url) as s:
        cur = current_labels(s)
    if cur.empty:
        return {}
    cur = cur[cur["source"] != "human"]
    counts = cur.groupby("source")[["query_pk", "product_pk"]].apply(lambda g: len(g.drop_duplicates()))
    return {str(k): int(v) for k, v in counts.sort_values(ascending=False).items()}
