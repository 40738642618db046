"""``relevance evaluate``: rerank each query's judged products with each model and report nDCG per language.

One report holds model × language × gain scheme × k rows with 95% bootstrap CIs over queries, 5-class
accuracy for models that predict levels, and a paired randomization test of every model against the
first one on the same queries, Holm-corrected across all comparisons of the report (DESIGN.md).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from core import metrics
from core.cache import get_catalog, get_scorer
from core.errors import InvalidInputError
from core.jsonable import jsonable
from core.ingest import read_judgments
from core.metrics.pointwise import ModelOutput, holm_in_place, is_pointwise, listwise_pairs, pointwise_rows
from core.models.base import LevelScorer
from core.scale import PROB_COLS
from core.store.pairs import languages_of
from core.text.language import detect_languages
from core.workflows.cards.common import figure, p_value
from core.workflows.scoring import score_frame

log = logging.getLogger(__name__)
DEFAULT_GAINS = ("esci", "linear")
MODES = ("listwise", "pointwise")


@dataclass(frozen=True)
class Judged:
    """Judged pairs of one file: one row per pair with query_id, query, language, product_id, level."""

    name: str
    pairs: pd.DataFrame

    @property
    def queries(self) -> pd.DataFrame:
        return self.pairs.drop_duplicates("query_id")[["query_id", "query", "language"]]

    def qrels(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for q, p, lv in zip(self.pairs["query_id"], self.pairs["product_id"], self.pairs["level"]):
            out.setdefault(q, {})[p] = int(lv)
        return out

    def by_mode(self) -> dict[str, Judged]:
        """The pairs split by query: ``listwise`` (queries with ``LISTWISE_MIN``+ judged products, where nDCG
        means something) and ``pointwise`` (the others); only the non-empty parts, listwise first."""
        listwise = listwise_pairs(self.pairs)
        parts = {"listwise": self.pairs[listwise], "pointwise": self.pairs[~listwise]}
        return {mode: Judged(self.name if mode == "listwise" else f"{self.name} (pointwise)", p.reset_index(drop=True))
                for mode, p in parts.items() if len(p)}


def load_judged(path: str | Path, *, scale=None, url: str | None = None) -> Judged:
    """Validate a judgments file against the catalog and attach each query's language.

    Language: the file's ``language`` column, else the store's language for a known query, else detected.
    Rater duplicates are averaged to one level per pair (rounded half up).
    """
    catalog = get_catalog(url)
    rows, queries, _, _ = read_judgments(path, scale=scale, product_ids=set(catalog.ids))
    qids = sorted(queries.by_id)
    stored = languages_of(qids, url) if len(qids) < 30_000 else {}
    lang = {q: queries.by_id[q][1] or stored.get(q) for q in qids}
    todo = [q for q in qids if not lang[q]]
    lang.update(zip(todo, detect_languages([queries.by_id[q][0] for q in todo])))
    pairs = (rows.groupby(["query_id", "product_id"], sort=False)["level"].mean().add(0.5).floordiv(1)
             .astype(int).reset_index())
    pairs["query"] = pairs["query_id"].map(lambda q: queries.by_id[q][0])
    pairs["language"] = pairs["query_id"].map(lang)
    return Judged(Path(path).name, pairs)


def run_models(judged: Judged, models: Sequence[str], url: str | None = None, progress: bool = True,
               scorers: dict | None = None):
    """Score every judged pair with every model: returns ({model: run}, {model: predicted levels or None}).

    ``scorers`` maps names to already built scorers (e.g. a teacher being trained); other names come
    from the registry through the process-wide cache.
    """
    runs, preds = {}, {}
    groups = list(judged.pairs.groupby("query_id", sort=False))
    for name in models:
        scorer = (scorers or {}).get(name) or get_scorer(name, url)
        if isinstance(scorer, LevelScorer):  # one bulk call: the model batches across queries itself
            probs = _level_probs(scorer, judged, url, progress, name)
            runs[name] = _per_query(metrics.expected_level(probs), judged, groups)
            preds[name] = pd.Series(probs.argmax(1) + 1, index=judged.pairs.index)
            continue
        if hasattr(scorer, "score_pairs"):  # e.g. BM25: every pair in one call
            pairs = judged.pairs
            runs[name] = _per_query(scorer.score_pairs(pairs["query"].tolist(), pairs["product_id"].tolist()),
                                    judged, groups)
            preds[name] = None
            continue
        run = {}
        for qid, g in tqdm(groups, desc=f"scoring {name}", disable=not progress, leave=False):
            pids = g["product_id"].tolist()
            run[qid] = dict(zip(pids, map(float, scorer.score(g["query"].iat[0], pids))))
        runs[name], preds[name] = run, None
    return runs, preds


def _per_query(scores, judged: Judged, groups) -> dict:
    """A run ({query_id: {product_id: score}}) from one score per judged pair, in the pairs' order."""
    scores = pd.Series(scores, index=judged.pairs.index)
    return {qid: dict(zip(g["product_id"], map(float, scores[g.index]))) for qid, g in groups}


def _level_probs(scorer: LevelScorer, judged: Judged, url: str | None, progress: bool, name: str) -> np.ndarray:
    """Level probabilities (n, 5) of every judged pair, in the file's order, in one bulk call
    (``scoring.score_frame``; the per-query path called a teacher once per query: ~2,100 one-pair batches on a
    pointwise file)."""
    catalog = getattr(scorer, "catalog", None) or get_catalog(url)  # the products the model was built over
    log.info("scoring %d pairs with %s", len(judged.pairs), name)
    with tqdm(total=len(judged.pairs), desc=f"scoring {name}", disable=not progress, leave=False) as bar:
        scored = score_frame(scorer, judged.pairs, catalog, batch_size=None, advance=bar.update)
    return scored[PROB_COLS].to_numpy()


def evaluate(judged: Judged, models: Sequence[str], *, ks: Sequence[int | None] = (20,),
             gains: Sequence[str] = DEFAULT_GAINS, by_language: bool | None = False, url: str | None = None,
             seed: int = 0, progress: bool = True, scorers: dict | None = None, mode: str | None = None) -> dict:
    """Evaluate ``models`` on ``judged``; returns the DESIGN.md JSON document ``{"judgments", "mode", "rows"}``.

    ``mode``: ``listwise`` (rerank each query's judged products: nDCG@k per gain scheme) or ``pointwise``
    (grade single pairs: accuracy, macro-F1, exact-vs-irrelevant AUC; ``core.metrics.pointwise``); None picks
    pointwise when the median query has fewer than ``metrics.LISTWISE_MIN`` judged products.
    ``by_language`` None: per language in pointwise mode, not in listwise mode.
    """
    if not models:
        raise InvalidInputError("give at least one model, e.g. --models bm25,random")
    if mode is None:
        mode = "pointwise" if is_pointwise(judged.pairs["query_id"]) else "listwise"
    if mode not in MODES:
        raise InvalidInputError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    if by_language is None:
        by_language = mode == "pointwise"
    runs, preds = run_models(judged, models, url, progress, scorers)
    if mode == "pointwise":
        return {"judgments": judged.name, "mode": mode, "rows": _pointwise(judged, models, runs, preds,
                                                                        by_language, seed)}
    qrels = judged.qrels()
    qlang = dict(zip(judged.queries["query_id"], judged.queries["language"]))
    groups = [("all", None)]
    if by_language:
        groups += [(lang, lang) for lang in sorted(set(qlang.values()))]
    rows = []
    for g_name, g_lang in groups:
        in_group = judged.pairs["language"] == g_lang if g_lang else pd.Series(True, index=judged.pairs.index)
        group_q = {q for q, lang in qlang.items() if g_lang is None or lang == g_lang}
        for scheme in gains:
            for k in ks:
                per_model = {m: metrics.ndcg_per_query({q: qrels[q] for q in group_q}, runs[m], k, scheme)
                             for m in models}
                first = per_model[models[0]]
                for m in models:
                    summary = metrics.summarize(per_model[m], seed=seed)
                    acc = None
                    if preds[m] is not None:
                        sel = in_group
                        acc = metrics.classification_scores(judged.pairs.loc[sel, "level"], preds[m][sel])["accuracy"]
                    p = None
                    if m != models[0]:
                        common = sorted(set(first) & set(per_model[m]))
                        p = metrics.paired_p_value([first[q] for q in common], [per_model[m][q] for q in common],
                                                   seed=seed) if common else None
                    rows.append({"model": m, "language": g_name, "mode": "listwise", "gains": scheme,
                                 "k": "all" if k is None else str(k),
                                 "ndcg": summary["mean"], "ci_low": summary["ci_low"], "ci_high": summary["ci_high"],
                                 "accuracy": acc, "n_queries": summary["n_queries"],
                                 "n_pairs": int(in_group.sum()), "p_value_vs_first": p, "p_holm": None})
    tested = [i for i, r in enumerate(rows) if r["p_value_vs_first"] is not None]
    for i, adj in zip(tested, metrics.holm([rows[i]["p_value_vs_first"] for i in tested])):
        rows[i]["p_holm"] = adj
    # queries whose judged products all have gain 0 (e.g. every label level 1): nDCG is undefined, so they are
    # left out of the means; the report says which, instead of dropping them silently
    left_out = {g: sorted(q for q, judged_levels in qrels.items()
                          if all(metrics.gain(level, g) <= 0 for level in judged_levels.values())) for g in gains}
    return {"judgments": judged.name, "mode": mode, "rows": rows, "left_out": left_out}


def left_out_note(report: dict) -> str:
    """One line per gain scheme that left queries out of nDCG (none: empty string)."""
    lines = []
    for scheme, ids in (report.get("left_out") or {}).items():
        if ids:
            shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
            lines.append(f"{len(ids)} quer{'y' if len(ids) == 1 else 'ies'} left out of nDCG under {scheme} gains: no "
                         f"judged product with a positive gain (e.g. every label level 1): {shown}")
    return "\n".join(lines)


def _pointwise(judged: Judged, models: Sequence[str], runs: dict, preds: dict, by_language: bool,
               seed: int) -> list[dict]:
    """Pointwise rows (``core.metrics.pointwise``) from the scored runs and predicted levels."""
    pairs = judged.pairs
    outputs = {m: ModelOutput(np.array([runs[m][q][p] for q, p in zip(pairs["query_id"], pairs["product_id"])]),
                              None if preds[m] is None else preds[m].to_numpy())
               for m in models}
    rows = pointwise_rows(pairs, outputs, by_language=by_language, seed=seed)
    holm_in_place(rows)
    return rows


def format_table(report: dict) -> str:
    """The printed table: one line per model × language × gains × k (pointwise: per model × language)."""
    df = pd.DataFrame(report["rows"])
    if df.empty:
        return "(no rows)"
    if report.get("mode") == "pointwise":
        return _format_pointwise(df)
    out = pd.DataFrame({
        "model": df["model"], "lang": df["language"], "gains": df["gains"], "k": df["k"],
        "nDCG": df["ndcg"].map("{:.4f}".format),
        "95% CI": [f"[{lo:.3f}, {hi:.3f}]" for lo, hi in zip(df["ci_low"], df["ci_high"])],
        "acc": df["accuracy"].map(lambda v: "—" if v is None or pd.isna(v) else f"{v:.3f}"),
        "queries": df["n_queries"], "pairs": df["n_pairs"],
        "p(Holm) vs first": df["p_holm"].map(lambda v: "—" if v is None or pd.isna(v) else f"{v:.3g}"),
    })
    return out.to_string(index=False)


def _format_pointwise(df: pd.DataFrame) -> str:
    out = pd.DataFrame({
        "model": df["model"], "lang": df["language"],
        "accuracy [95% CI]": [figure(*t) for t in zip(df["accuracy"], df["accuracy_ci_low"], df["accuracy_ci_high"])],
        "macro-F1": [figure(*t) for t in zip(df["macro_f1"], df["macro_f1_ci_low"], df["macro_f1_ci_high"])],
        "AUC E vs I [95% CI]": [figure(*t) for t in zip(df["auc"], df["auc_ci_low"], df["auc_ci_high"])],
        "queries": df["n_queries"], "pairs": df["n_pairs"],
        "p(Holm) acc": [p_value(v) if a == a and a is not None else "—"
                        for v, a in zip(df["p_holm"], df["accuracy"])], "p(Holm) AUC": df["p_holm_auc"].map(p_value),
    })
    return out.to_string(index=False)


def write_json(report: dict, path: str | Path) -> None:
    """Strict JSON (NaN, e.g. a group with no scorable query, becomes null)."""
    doc = {"judgments": report["judgments"], "mode": report.get("mode", "listwise"),
           "rows": [jsonable(r) for r in report["rows"]]}
    if "left_out" in report:  # listwise: queries without a positive gain, per scheme (README)
        doc["left_out"] = report["left_out"]
    Path(path).write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n", encoding="utf-8")
