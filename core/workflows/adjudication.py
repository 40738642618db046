"""The models' predictions on the pairs of the adjudication queue (``core.campaigns.adjudication``), for the
Adjudicate page: the predictions table (``relevance score MODEL --store``) first, else the model's Parquet files
under ``artifacts/<model>/predictions`` (DuckDB), as ``core.workflows.analytics`` finds them. Nothing is scored."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.store.predictions import pair_predictions
from core.workflows.analytics import prediction_files

COLUMNS = ["query_pk", "product_pk", "model", "expected", "argmax"]


def queue_predictions(pairs: pd.DataFrame, url: str | None = None,
                      artifacts_dir: str | Path | None = None) -> pd.DataFrame:
    """Each model's prediction on ``pairs`` (columns query_pk, product_pk, query_id, product_id): ``COLUMNS``, one
    row per pair and model; a model in the predictions table is not read again from its Parquet files."""
    if pairs.empty:
        return pd.DataFrame(columns=COLUMNS)
    keys = pairs[["query_pk", "product_pk", "query_id", "product_id"]].drop_duplicates()
    stored = pair_predictions(list(zip(keys["query_pk"].astype(int), keys["product_pk"].astype(int))), url)
    frames = [stored]
    files = {m: fs for m, fs in prediction_files(artifacts_dir).items() if m not in set(stored["model"])}
    if files:
        import duckdb

        with duckdb.connect() as con:
            con.register("pairs", keys)
            for model, fs in sorted(files.items()):
                frames.append(con.execute(
                    "SELECT k.query_pk, k.product_pk, ? AS model, avg(p.expected) AS expected, "
                    "arg_max(p.argmax, p.expected) AS argmax FROM read_parquet(?, union_by_name=true) p "
                    "JOIN pairs k ON k.query_id = p.query_id AND k.product_id = p.product_id "
                    "GROUP BY k.query_pk, k.product_pk", [model, [str(f) for f in fs]]).df())
    out = pd.concat([f for f in frames if not f.empty], ignore_index=True) if any(not f.empty for f in frames) \
        else pd.DataFrame(columns=COLUMNS)
    return out[COLUMNS].sort_values(["query_pk", "product_pk", "model"], ignore_index=True)
