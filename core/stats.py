"""Counts of what the store holds, for the app's overview and the CLI, and the store's *data sets*.

A data set is where a label came from: the name of an import (labels with source ``import:esci_us``
belong to ``esci_us``) or ``raters`` (labels of source ``human`` or ``gold``). A labelled pair belongs
to every data set that has a label in force on it, so a pair imported with ``esci_us`` and graded by
raters is in both.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Label, Product, Query, User
from core.store.session import session_scope

RATERS = "raters"
RATER_SOURCES = ("human", "gold")
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


def pair_datasets(s: Session) -> pd.DataFrame:
    """One row per labelled pair × data set, from the labels in force: query_pk, product_pk, dataset."""
    from core.store.labels import current_labels

    cur = current_labels(s)
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
