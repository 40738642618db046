"""``relevance score``: batch scoring of pairs into Parquet, locally or on Ray.

Output columns: query_id, query, product_id, then ``p1``…``p5`` (level probabilities), ``expected``
(Σ level·p) and ``argmax`` for 5-class models, or ``score`` for rankers such as BM25. Local scoring is
resumable: pairs are scored in parts written under ``<out>.parts/`` and a rerun skips finished parts.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from core import config
from core.errors import ImportValidationError, RowError
from core.ingest import readers
from core.models.base import LevelScorer, Scorer
from core.scale import PROB_COLS
from core.store.pairs import query_texts
from core.text.queries import clean_query, query_id_for

log = logging.getLogger(__name__)
PART_PAIRS = 2_000


# ------------------------------------------------------------------------------------------ pair sources

def pairs_from_file(path: str | Path, product_ids) -> pd.DataFrame:
    """Pairs (query, product_id) from CSV/Parquet, validated like an import (row numbers in errors)."""
    frames, errors = [], []
    for chunk in readers.iter_chunks(path):
        readers.require_columns(Path(path).name, chunk.columns, ["query", "product_id"])
        q = chunk["query"].astype(str).str.split().str.join(" ")
        pid = chunk["product_id"].astype(str).str.strip()
        errors += [RowError(r, "query", "empty or whitespace-only query") for r in chunk.index[q == ""]]
        errors += [RowError(r, "product_id", f"unknown product_id {pid[r]!r}")
                   for r in chunk.index[(q != "") & ~pid.isin(product_ids)]]
        frames.append(pd.DataFrame({"query": q, "product_id": pid}))
    if errors:
        raise ImportValidationError(Path(path).name, errors)
    df = pd.concat(frames, ignore_index=True).drop_duplicates(ignore_index=True)
    df.insert(0, "query_id", [query_id_for(t) for t in df["query"]])
    return df


def candidate_pairs(k: int, url: str | None = None, queries: pd.DataFrame | None = None) -> pd.DataFrame:
    """Stored queries (or ``queries`` with query_id, query) × their BM25 top-``k`` catalog products."""
    from core.cache import get_catalog, get_scorer

    if queries is None:
        queries = query_texts(url)
    bm25, ids = get_scorer("bm25", url), get_catalog(url).ids
    rows = []
    for qid, text in zip(queries["query_id"], queries["query"]):
        scores = bm25.score_all(text)
        top = np.argsort(-scores, kind="stable")[:k]
        rows += [(qid, text, ids[i]) for i in top if scores[i] > 0]
    return pd.DataFrame(rows, columns=["query_id", "query", "product_id"])


# ------------------------------------------------------------------------------------------ scoring

def score_frame(scorer: Scorer, pairs: pd.DataFrame, catalog=None, batch_size: int | None = 32,
                advance: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Score ``pairs`` (query_id, query, product_id) with one scorer; returns pairs + score columns.

    ``advance(n)`` is told as each batch of n pairs is done (a progress bar over many calls); ``batch_size``
    None: the model's own."""
    advance = advance or (lambda n: None)
    out = pairs[["query_id", "query", "product_id"]].reset_index(drop=True)
    if isinstance(scorer, LevelScorer) and catalog is not None:
        rows = catalog.rows(out["product_id"].tolist()).to_dict("records")
        probs = scorer.predict_pairs([clean_query(q) for q in out["query"]], rows, batch_size=batch_size,
                                     progress=advance)
    elif isinstance(scorer, LevelScorer):
        probs = np.zeros((len(out), 5), dtype=np.float32)
        for _, g in out.groupby("query_id", sort=False):
            probs[g.index] = scorer.predict_proba(g["query"].iat[0], g["product_id"].tolist())
            advance(len(g))
    else:
        scores = np.zeros(len(out), dtype=np.float32)
        for _, g in out.groupby("query_id", sort=False):
            scores[g.index] = scorer.score(g["query"].iat[0], g["product_id"].tolist())
            advance(len(g))
        return out.assign(score=scores)
    out[PROB_COLS] = probs
    out["expected"] = probs @ np.arange(1, 6, dtype=np.float32)
    out["argmax"] = (probs.argmax(1) + 1).astype("int8")
    return out


def score_resumable(score_part: Callable[[pd.DataFrame, Callable[[int], None]], pd.DataFrame], pairs: pd.DataFrame,
                    out: Path, progress: bool = True, part_pairs: int = PART_PAIRS) -> pd.DataFrame:
    """Score ``pairs`` in parts under ``<out>.parts/``; finished parts are kept, so a rerun resumes.

    ``score_part(chunk, advance)`` scores one part and calls ``advance(n)`` as batches finish, so the bar
    moves every few seconds, not once per part."""
    parts_dir = out.with_name(out.name + ".parts")
    parts_dir.mkdir(parents=True, exist_ok=True)
    n_parts = -(-len(pairs) // part_pairs)
    todo = [i for i in range(n_parts) if not (parts_dir / f"part-{i:05d}.parquet").exists()]
    if len(todo) < n_parts:
        log.info("resuming: %d of %d parts already scored", n_parts - len(todo), n_parts)
    with tqdm(total=len(pairs), initial=(n_parts - len(todo)) * part_pairs, desc="scoring", unit="pair",
              disable=not progress) as bar:
        for i in todo:
            chunk = pairs.iloc[i * part_pairs:(i + 1) * part_pairs]
            tmp = parts_dir / f"part-{i:05d}.parquet.tmp"
            done = [0]

            def advance(n: int, done=done) -> None:
                n = min(n, len(chunk) - done[0])  # never past the part
                done[0] += n
                bar.update(n)

            score_part(chunk, advance).to_parquet(tmp, index=False)
            tmp.replace(parts_dir / f"part-{i:05d}.parquet")
            bar.update(len(chunk) - done[0])
    result = pd.concat([pd.read_parquet(parts_dir / f"part-{i:05d}.parquet") for i in range(n_parts)],
                       ignore_index=True) if n_parts else pairs.iloc[:0]
    tmp = out.with_name(out.name + ".tmp")
    result.to_parquet(tmp, index=False)
    tmp.replace(out)
    shutil.rmtree(parts_dir)
    return result


class _RayScorer:
    """One model per Ray actor; loads the catalog and the scorer once, in the actor."""

    def __init__(self, model: str, url: str | None, batch_size: int):
        from core.cache import get_catalog, get_scorer
        self.scorer, self.catalog, self.batch_size = get_scorer(model, url), get_catalog(url), batch_size

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return score_frame(self.scorer, batch, self.catalog, self.batch_size)


def score_ray(model: str, pairs: pd.DataFrame, *, url: str | None = None, address: str | None = None,
              actors: int | None = None, batch_size: int = 32) -> pd.DataFrame:
    """Score on Ray Data: ``map_batches`` over an actor pool, one model per actor, a GPU each when present.

    ``address`` points at a running cluster (``ray://head:10001`` or ``auto``); the store URL must then be
    reachable from the workers (PostgreSQL), and the artifacts folder present on them.
    """
    import os

    import ray
    import torch

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
                 runtime_env={"env_vars": {k: v for k, v in os.environ.items() if k.startswith("RELEVANCE_")}})
    gpus = torch.cuda.device_count()
    n = actors or max(1, gpus or int(ray.cluster_resources().get("CPU", 2)) // 2)
    ds = ray.data.from_pandas(pairs[["query_id", "query", "product_id"]])
    scored = ds.map_batches(_RayScorer, fn_constructor_kwargs={"model": model, "url": url or config.db_url(),
                                                               "batch_size": batch_size},
                            batch_size=max(batch_size, 64), batch_format="pandas", concurrency=n,
                            num_gpus=1 if gpus else 0, num_cpus=1 if not gpus else None)
    return scored.to_pandas()
