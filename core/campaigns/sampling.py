r"""Which pairs (or queries) a campaign asks raters about: the sampling strategies of a campaign.

Strategies (``STRATEGIES``):

- ``random``: a uniform sample of candidate pairs;
- ``language-stratified``: the same number of pairs per language (languages that run short give
  their share to the others);
- ``disagreement``: the pairs where two models (default teacher and student) disagree most, by the gap
  of expected levels $|E_t - E_s|$ (``measure="expected"``) or by the Jensen–Shannon divergence
  $\mathrm{JS}(P\|Q) = \frac12 \mathrm{KL}(P\|M) + \frac12 \mathrm{KL}(Q\|M)$, $M = \frac12(P+Q)$, in bits
  (``measure="js"``, in [0, 1]);
- ``uncertainty``: the pairs with the highest entropy $H(P) = -\sum_l p_l \log_2 p_l$ of the first
  model (the teacher), in bits (at most $\log_2 5$);
- ``pool``: TREC-style pooling: for each query, the union of the top ``pool_depth`` products of each
  model, reranking BM25's top ``rerank_depth``; whole queries are added until ``n_tasks`` is reached.

Candidate pairs for ``random`` and ``language-stratified`` are the stored queries × products that the
store has labels or predictions for (``candidates="store"``), or BM25's top ``bm25_k`` products of every
stored query (``"bm25"``); ``"auto"`` uses the store's pairs and falls back to BM25 when there are none.
Products that BM25 (and ``pool``, side-by-side) draw from the catalog are those of the query's language
when the catalog has any (a product without a ``language`` counts as the catalog's default language,
``RELEVANCE_DEFAULT_LANGUAGE``), else all products: a Japanese query gets Japanese products.
``languages`` restricts the queries to those languages and ``dataset`` to the queries labelled in one data
set (``core.store.datasets``: an import's name, or ``raters``).
``disagreement`` and ``uncertainty`` read model probabilities from the ``predictions`` table.
Side-by-side campaigns sample queries the same way (random or stratified) and store each model's top
``sbs_k`` over BM25's top ``rerank_depth``, with the sides drawn at random.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from tqdm.auto import tqdm
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NoPredictionsError, SamplingError
from core.metrics.agreement import lower_median
from core.scale import PROB_COLS
from db.models import Label, Prediction, Product, Query

log = logging.getLogger(__name__)
from core.campaigns.spec import CampaignSpec


# ------------------------------------------------------------------------------------------ pure parts

def entropy_bits(p) -> np.ndarray:
    """Entropy in bits of each row of level probabilities (0 log 0 = 0)."""
    p = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=1)


def js_divergence(p, q) -> np.ndarray:
    """Jensen–Shannon divergence in bits of each pair of rows (0 for equal rows, 1 for disjoint ones)."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    m = (p + q) / 2
    return entropy_bits(m) - (entropy_bits(p) + entropy_bits(q)) / 2


def random_sample(df: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` rows drawn uniformly without replacement (all rows, shuffled, when there are fewer)."""
    return df.iloc[rng.permutation(len(df))[:n]].reset_index(drop=True)


def stratified_sample(df: pd.DataFrame, n: int, rng: np.random.Generator, by: str = "language") -> pd.DataFrame:
    """``n`` rows with an equal share per value of ``by``; a group that runs short gives the rest to others."""
    sizes = df[by].value_counts().sort_index()
    alloc = dict.fromkeys(sizes.index, 0)
    remaining, active = n, [g for g in sizes.index if sizes[g] > 0]
    while remaining > 0 and active:
        share, extra = divmod(remaining, len(active))
        for i, g in enumerate(active):
            take = min(share + (i < extra), sizes[g] - alloc[g])
            alloc[g] += take
            remaining -= take
        active = [g for g in active if alloc[g] < sizes[g]]
    parts = [random_sample(df[df[by] == g], k, rng) for g, k in alloc.items() if k]
    return pd.concat(parts, ignore_index=True) if parts else df.iloc[:0]


def top_n(df: pd.DataFrame, column: str, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """The ``n`` rows with the highest ``column``; ties broken at random."""
    key = rng.random(len(df))
    order = np.lexsort((key, -df[column].to_numpy(dtype=float)))
    return df.iloc[order[:n]].reset_index(drop=True)


def sample(df: pd.DataFrame, n: int, rng: np.random.Generator, strategy: str) -> pd.DataFrame:
    return stratified_sample(df, n, rng) if strategy == "language-stratified" else random_sample(df, n, rng)


# ------------------------------------------------------------------------------------------ the store

def stored_queries(s: Session, languages, dataset: str | None = None) -> pd.DataFrame:
    """Stored queries (query_pk, query_id, text, language), restricted to ``languages`` when given and to the
    queries with a label in force from ``dataset`` (``core.store.datasets``) when given.

    Raises SamplingError when ``dataset`` has no labels, naming the data sets that have.
    """
    stmt = select(Query.id, Query.query_id, Query.text, Query.language).order_by(Query.id)
    if languages:
        stmt = stmt.where(Query.language.in_(list(languages)))
    df = pd.DataFrame(s.execute(stmt).all(), columns=["query_pk", "query_id", "text", "language"])
    if dataset:
        from core.store.datasets import pair_datasets, sort_datasets

        member = pair_datasets(s)
        in_set = set(member.loc[member["dataset"] == dataset, "query_pk"])
        if not in_set:
            raise SamplingError(f"no labels of data set {dataset!r}; data sets in the store: "
                                f"{', '.join(sort_datasets(member['dataset'])) or 'none'}")
        df = df[df["query_pk"].isin(in_set)].reset_index(drop=True)
    return df


def language_mask(catalog, language: str) -> np.ndarray | None:
    """Which catalog products are in ``language`` (a product without a language counts as the catalog's
    default language); None when none is, meaning every product is a candidate."""
    from core import config

    langs = catalog.products["language"].fillna("").astype(str).str.strip().str.lower()
    langs = langs.where(langs != "", config.get("default_language").strip().lower()).to_numpy()
    mask = langs == str(language).strip().lower()
    return mask if mask.any() else None


class _LanguageMasks:
    """``language_mask`` per language, computed once per sampling run."""

    def __init__(self, catalog):
        self.catalog, self._masks = catalog, {}

    def __call__(self, language: str) -> np.ndarray | None:
        if language not in self._masks:
            self._masks[language] = language_mask(self.catalog, language)
        return self._masks[language]


def _in_language(scores: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``scores`` with the products outside ``mask`` pushed below every other (-inf); unchanged without a mask."""
    return np.asarray(scores, dtype=float) if mask is None else np.where(mask, scores, -np.inf)


def store_pairs(s: Session, queries: pd.DataFrame) -> pd.DataFrame:
    """Pairs the store has labels or predictions for, among ``queries``: query_pk, product_pk, language."""
    labelled = s.execute(select(Label.query_pk, Label.product_pk).distinct()).all()
    predicted = s.execute(select(Prediction.query_pk, Prediction.product_pk).distinct()).all()
    pairs = pd.DataFrame(list(labelled) + list(predicted), columns=["query_pk", "product_pk"]).drop_duplicates()
    return pairs.merge(queries[["query_pk", "language"]], on="query_pk").sort_values(["query_pk", "product_pk"],
                                                                                       ignore_index=True)


def bm25_pairs(s: Session, queries: pd.DataFrame, k: int, url: str | None) -> pd.DataFrame:
    """BM25's top ``k`` products (positive scores only) of each query, among the products of the query's
    language when the catalog has any (``language_mask``): query_pk, product_pk, language."""
    from core.cache import get_catalog, get_scorer

    catalog, scorer = get_catalog(url), get_scorer("bm25", url)
    pk, masks = _product_pks(s), _LanguageMasks(catalog)
    rows = []
    for q in queries.itertuples():
        scores = _in_language(scorer.score_all(q.text), masks(q.language))
        top = np.argsort(-scores, kind="stable")[:k]
        rows += [(q.query_pk, pk[pid], q.language) for pid, sc in zip(catalog.ids[top], scores[top]) if sc > 0]
    return pd.DataFrame(rows, columns=["query_pk", "product_pk", "language"])


def model_predictions(s: Session, models, queries: pd.DataFrame) -> pd.DataFrame:
    """Predictions of ``models`` on the same pairs, wide: query_pk, product_pk, language, <model>_p1…p5 and
    <model>_expected.

    Raises NoPredictionsError naming the model that has none (and what to run).
    """
    out = None
    for model in models:
        rows = s.execute(select(Prediction.query_pk, Prediction.product_pk, *[getattr(Prediction, c) for c in PROB_COLS],
                                Prediction.expected).where(Prediction.model == model)).all()
        df = pd.DataFrame(rows, columns=["query_pk", "product_pk"] + [f"{model}_{c}" for c in PROB_COLS + ["expected"]])
        df = df.merge(queries[["query_pk", "language"]], on="query_pk")
        if df.empty:
            have = sorted(s.scalars(select(Prediction.model).distinct()))
            where = f" for queries in {', '.join(sorted(set(queries['language'])))}" if len(queries) else ""
            raise NoPredictionsError(f"no predictions of model {model!r} in the store{where}; run "
                                     f"`relevance score {model}` first (models with predictions: "
                                     f"{', '.join(have) or 'none'})")
        out = df if out is None else out.merge(df.drop(columns="language"), on=["query_pk", "product_pk"])
    if out.empty:
        raise NoPredictionsError(f"models {', '.join(models)} have no scored pair in common; score the same pairs "
                                 f"with each (`relevance score MODEL --judged`)")
    return out


def gold_pairs(s: Session, sources, queries: pd.DataFrame) -> pd.DataFrame:
    """Pairs with trusted levels from labels of ``sources``: query_pk, product_pk, language, gold_level.

    A pair labelled more than once in those sources gets the lower median of its levels.
    """
    from core.store.labels import current_labels

    labels = current_labels(s)
    labels = labels[labels["source"].isin(list(sources))].merge(queries[["query_pk", "language"]], on="query_pk")
    if labels.empty:
        return pd.DataFrame(columns=["query_pk", "product_pk", "language", "gold_level"])
    gold = labels.groupby(["query_pk", "product_pk", "language"], as_index=False)["level"].agg(lower_median)
    return gold.rename(columns={"level": "gold_level"})


def _product_pks(s: Session) -> dict[str, int]:
    return dict(s.execute(select(Product.product_id, Product.id)).tuples().all())


def _ranked(scorer, text: str, pids: list[str], k: int) -> list[str]:
    scores = np.asarray(scorer.score(text, pids), dtype=float)
    order = sorted(range(len(pids)), key=lambda i: (-scores[i], pids[i]))
    return [pids[i] for i in order[:k]]


def _bm25_candidates(scorer, catalog, text: str, depth: int, mask: np.ndarray | None = None) -> list[str]:
    """BM25's top ``depth`` products of ``text`` (within ``mask`` when given)."""
    scores = _in_language(scorer.score_all(text), mask)
    depth = depth if mask is None else min(depth, int(mask.sum()))
    return [str(p) for p in catalog.ids[np.argsort(-scores, kind="stable")[:depth]]]


# ------------------------------------------------------------------------------------------ planning

def plan_tasks(s: Session, spec: CampaignSpec, url: str | None) -> list[dict]:
    """The task rows of a new campaign: sampled, ``overlap_share`` of them needing ``overlap_k`` ratings, in a
    seeded random order (``position``), and the gold tasks (open to every rater: required 0), rows shuffled."""
    if spec.kind == "grade":
        regular, gold = plan_grade_pairs(s, spec, url)
        rows = [dict(query_pk=int(q), product_pk=int(p), payload={})
                for q, p in zip(regular["query_pk"], regular["product_pk"])]
    else:
        rows, gold = [dict(query_pk=t["query_pk"], product_pk=None, payload=t["payload"])
                      for t in plan_side_by_side(s, spec, url)], None
    rng = np.random.default_rng(spec.seed + 1)
    overlapped = set(rng.permutation(len(rows))[:round(spec.overlap_share * len(rows))].tolist())
    tasks = [dict(rows[i], kind=spec.kind, position=pos, is_gold=False, gold_level=None, ratings_done=0,
                  required_ratings=spec.overlap_k if i in overlapped else 1)
             for pos, i in enumerate(rng.permutation(len(rows)).tolist())]
    if gold is not None:
        tasks += [dict(query_pk=int(q), product_pk=int(p), kind="grade", position=pos, is_gold=True,
                       gold_level=int(lv), ratings_done=0, required_ratings=0, payload={})
                  for pos, (q, p, lv) in enumerate(zip(gold["query_pk"], gold["product_pk"], gold["gold_level"]))]
    return [tasks[i] for i in rng.permutation(len(tasks))]  # insertion order (task ids) tells nothing either


def plan_grade_pairs(s: Session, spec: CampaignSpec, url: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(regular pairs, gold pairs) of a grade campaign; regular: query_pk, product_pk, language."""
    rng = np.random.default_rng(spec.seed)
    queries = stored_queries(s, spec.languages, spec.dataset)
    if queries.empty:
        raise SamplingError(f"no stored queries{_in(spec.languages, spec.dataset)}; {_no_queries_tip(spec)}")
    gold = gold_pairs(s, spec.gold_sources, queries) if spec.gold_ratio > 0 else None
    if gold is not None and gold.empty:
        raise SamplingError(f"gold_ratio is {spec.gold_ratio} but no labels of sources {', '.join(spec.gold_sources)}"
                            f"{_in(spec.languages)} exist; import trusted judgments (`relevance import judgments "
                            f"FILE --name trusted`) and choose them as gold (**Gold from** in the app, "
                            f"`--gold-sources import:trusted` on the CLI), or set the gold share to 0")
    if gold is not None:
        gold = random_sample(gold, spec.n_gold or math.ceil(spec.n_tasks * spec.gold_ratio / (1 - spec.gold_ratio)),
                             rng)
    exclude = set() if gold is None else set(zip(gold["query_pk"], gold["product_pk"]))
    if spec.unlabelled_only:
        from core.store.labels import current_labels
        lab = current_labels(s)
        exclude |= set(zip(lab["query_pk"], lab["product_pk"]))

    def keep(df):
        return df[[p not in exclude for p in zip(df["query_pk"], df["product_pk"])]] if exclude else df

    if spec.strategy in ("random", "language-stratified"):
        pairs = keep(store_pairs(s, queries)) if spec.candidates in ("auto", "store") else None
        if pairs is None or (pairs.empty and spec.candidates == "auto"):
            pairs = keep(bm25_pairs(s, queries, spec.bm25_k, url))
        regular = sample(pairs, spec.n_tasks, rng, spec.strategy)
    elif spec.strategy == "disagreement":
        t, st = spec.models[0], spec.models[1]
        pred = keep(model_predictions(s, spec.models[:2], queries))
        if spec.measure == "js":
            pred["score"] = js_divergence(pred[[f"{t}_{c}" for c in PROB_COLS]], pred[[f"{st}_{c}" for c in PROB_COLS]])
        else:
            pred["score"] = (pred[f"{t}_expected"] - pred[f"{st}_expected"]).abs()
        regular = top_n(pred, "score", spec.n_tasks, rng)
    elif spec.strategy == "uncertainty":
        m = spec.models[0]
        pred = keep(model_predictions(s, spec.models[:1], queries))
        pred["score"] = entropy_bits(pred[[f"{m}_{c}" for c in PROB_COLS]])
        regular = top_n(pred, "score", spec.n_tasks, rng)
    else:
        regular = keep(_pool(s, spec, queries, url, rng))
    if regular.empty:
        raise SamplingError(f"no candidate pairs{_in(spec.languages, spec.dataset)} for strategy "
                            f"{spec.strategy!r}; import judgments, run `relevance score MODEL`, or use "
                            f"candidates='bm25'")
    if len(regular) < spec.n_tasks and spec.strategy != "pool":
        log.warning("asked for %d tasks, found %d candidate pairs", spec.n_tasks, len(regular))
    regular = regular[["query_pk", "product_pk", "language"]].astype({"query_pk": int, "product_pk": int})
    return regular, gold


def _pool(s: Session, spec: CampaignSpec, queries: pd.DataFrame, url, rng) -> pd.DataFrame:
    from core.cache import get_catalog, get_scorer

    catalog, bm25 = get_catalog(url), get_scorer("bm25", url)
    scorers = [get_scorer(m, url) for m in spec.models]
    pk, rows, masks = _product_pks(s), [], _LanguageMasks(catalog)
    bar = tqdm(total=spec.n_tasks, desc="pooling", unit="pair", disable=None)
    for q in queries.iloc[rng.permutation(len(queries))].itertuples():
        cands = _bm25_candidates(bm25, catalog, q.text, spec.rerank_depth, masks(q.language))
        pool = sorted({p for sc in scorers for p in _ranked(sc, q.text, cands, spec.pool_depth)})
        if rows and len(rows) + len(pool) > spec.n_tasks:
            break
        rows += [(q.query_pk, pk[p], q.language) for p in pool]
        bar.update(min(len(pool), spec.n_tasks - bar.n))
        if len(rows) >= spec.n_tasks:
            break
    bar.close()
    return pd.DataFrame(rows, columns=["query_pk", "product_pk", "language"])


def plan_side_by_side(s: Session, spec: CampaignSpec, url: str | None) -> list[dict]:
    """One task per sampled query: {query_pk, payload} with the two models' top ``sbs_k`` and the sides drawn."""
    from core.cache import get_catalog, get_scorer

    rng = np.random.default_rng(spec.seed)
    queries = stored_queries(s, spec.languages, spec.dataset)
    if queries.empty:
        raise SamplingError(f"no stored queries{_in(spec.languages, spec.dataset)}; {_no_queries_tip(spec)}")
    chosen = sample(queries, spec.n_tasks, rng, spec.strategy)
    catalog, bm25 = get_catalog(url), get_scorer("bm25", url)
    first, second = spec.models[:2]
    scorers = {m: get_scorer(m, url) for m in (first, second)}
    tasks, masks = [], _LanguageMasks(catalog)
    # a bar only on a terminal: a background job's (pty) log shows it; the web server and tests stay quiet
    for q in tqdm(chosen.itertuples(), total=len(chosen), desc="side-by-side lists", unit="query", disable=None):
        cands = _bm25_candidates(bm25, catalog, q.text, spec.rerank_depth, masks(q.language))
        lists = {m: _ranked(sc, q.text, cands, spec.sbs_k) for m, sc in scorers.items()}
        a, b = (second, first) if rng.random() < 0.5 else (first, second)
        tasks.append({"query_pk": int(q.query_pk), "language": q.language,
                      "payload": {"model_a": a, "model_b": b, "list_a": lists[a], "list_b": lists[b],
                                  "candidates": len(cands)}})
    return tasks


def _no_queries_tip(spec: CampaignSpec) -> str:
    if spec.dataset:
        return "pick other languages or another data set"
    return "import judgments or a query log first (`relevance import judgments FILE`)"


def _in(languages, dataset: str | None = None) -> str:
    where = f" in languages {', '.join(languages)}" if languages else ""
    return where + (f" of data set {dataset}" if dataset else "")
