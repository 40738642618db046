"""Model predictions in the store: written by ``relevance score --store``, read by the app."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from core.errors import InvalidInputError
from core.scale import PROB_COLS
from core.store.session import session_scope
from db.models import Prediction, Product, Query, Task


def store_predictions(df: pd.DataFrame, model: str, url: str | None = None) -> int:
    """Upsert 5-class predictions into the store (what the app shows); returns rows written."""
    from sqlalchemy import delete, insert

    if "p1" not in df.columns:
        raise InvalidInputError(f"{model} gives scores, not level probabilities; only 5-class models can be stored")
    with session_scope(url, immediate=True) as s:
        qpk = dict(s.execute(select(Query.query_id, Query.id)).tuples().all())
        ppk = dict(s.execute(select(Product.product_id, Product.id)).tuples().all())
        known = df[df["query_id"].isin(qpk.keys())]
        rows = [dict(model=model, query_pk=qpk[q], product_pk=ppk[p], p1=float(a), p2=float(b), p3=float(c),
                     p4=float(d), p5=float(e), expected=float(x), argmax=int(m))
                for q, p, a, b, c, d, e, x, m in zip(known["query_id"], known["product_id"], known["p1"], known["p2"],
                                                     known["p3"], known["p4"], known["p5"], known["expected"],
                                                     known["argmax"])]
        pairs = {(r["query_pk"], r["product_pk"]) for r in rows}
        old = s.execute(select(Prediction.id, Prediction.query_pk, Prediction.product_pk)
                        .where(Prediction.model == model)).all()
        stale = [i for i, q, p in old if (q, p) in pairs]
        for i in range(0, len(stale), 900):
            s.execute(delete(Prediction).where(Prediction.id.in_(stale[i:i + 900])))
        for i in range(0, len(rows), 20_000):
            s.execute(insert(Prediction), rows[i:i + 20_000])
    return len(rows)


def task_predictions(task_id: int, url: str | None = None) -> pd.DataFrame:
    """Stored model predictions for a grade task's pair (model, expected, argmax) — shown only after saving."""
    with session_scope(url) as s:
        t = s.get(Task, task_id)
        if t is None or t.product_pk is None:
            return pd.DataFrame(columns=["model", "expected", "argmax"])
        rows = s.execute(select(Prediction.model, Prediction.expected, Prediction.argmax)
                         .where(Prediction.query_pk == t.query_pk, Prediction.product_pk == t.product_pk)
                         .order_by(Prediction.model)).all()
    return pd.DataFrame(rows, columns=["model", "expected", "argmax"])


def stored_probabilities(model: str, url: str | None = None) -> pd.DataFrame:
    """A model's level probabilities in the predictions table: columns query, product_id, p1…p5."""
    with session_scope(url) as s:
        rows = s.execute(select(Query.text, Product.product_id, *[getattr(Prediction, c) for c in PROB_COLS])
                         .join(Query, Query.id == Prediction.query_pk)
                         .join(Product, Product.id == Prediction.product_pk)
                         .where(Prediction.model == model)).all()
    return pd.DataFrame(rows, columns=["query", "product_id"] + PROB_COLS)


def stored_models(url: str | None = None) -> list[str]:
    """Models with predictions in the predictions table."""
    with session_scope(url) as s:
        return sorted(s.scalars(select(Prediction.model).distinct()))


def pair_predictions(pairs: list[tuple[int, int]], url: str | None = None) -> pd.DataFrame:
    """Stored predictions on the (query_pk, product_pk) ``pairs``: query_pk, product_pk, model, expected, argmax."""
    wanted = set(pairs)
    columns = ["query_pk", "product_pk", "model", "expected", "argmax"]
    if not wanted:
        return pd.DataFrame(columns=columns)
    queries = sorted({q for q, _ in wanted})
    with session_scope(url) as s:
        rows = [r for i in range(0, len(queries), 900) for r in s.execute(
            select(Prediction.query_pk, Prediction.product_pk, Prediction.model, Prediction.expected,
                   Prediction.argmax).where(Prediction.query_pk.in_(queries[i:i + 900]))).all()
                if (r[0], r[1]) in wanted]
    return pd.DataFrame(rows, columns=columns)
