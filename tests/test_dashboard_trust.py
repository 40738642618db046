"""A dashboard a PM can trust (issue 14, item 4): too few queries instead of zero-width CIs, held-out queries by
default with a caption saying which queries a figure covers, the reference model named, no "None" cells, empty
sections that say why, "what changed" between two models; and the pieces under it (numpy nDCG equal to ranx's,
the query scope from a model's metadata, throughput of labels in force)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

import app_store
import test_app
from test_app import app, ok, texts
from core.metrics.ranking import ndcg_per_query, ndcg_per_query_np
from core.store import datasets as store_datasets
from core.store.session import session_scope
from core.workflows import figures, query_scope
from db.models import Label

store, _app_template = test_app.store, test_app._app_template  # the app tests' store fixture and its template


# ------------------------------------------------------------------------------------------ core

@pytest.mark.parametrize("gains", ["esci", "linear", "exp"])
@pytest.mark.parametrize("k", [1, 5, None], ids=["k1", "k5", "all"])
def test_numpy_ndcg_equals_ranx_with_ties_and_missing_queries(gains, k):
    rng = np.random.default_rng(7)
    qrels, run = {}, {}
    for q in range(25):
        pids = [f"p{rng.integers(0, 40)}" for _ in range(rng.integers(1, 15))]
        qrels[f"q{q}"] = {p: int(rng.integers(1, 6)) for p in pids}
        if q % 7:  # some queries have no run: they score 0
            run[f"q{q}"] = {p: float(rng.integers(0, 3)) for p in [*qrels[f"q{q}"], "extra"]}
    want, got = ndcg_per_query(qrels, run, k, gains), ndcg_per_query_np(qrels, run, k, gains)
    assert list(got) == list(want)
    assert np.allclose([got[q] for q in want], [want[q] for q in want])


def test_numpy_ndcg_by_hand():
    # ranking b (level 3), a (level 5) under linear gains: DCG = 2/1 + 4/log2(3), IDCG = 4 + 2/log2(3)
    got = ndcg_per_query_np({"q": {"a": 5, "b": 3}}, {"q": {"a": 0.1, "b": 0.9}}, None, "linear")
    assert got["q"] == pytest.approx((2 + 4 / math.log2(3)) / (4 + 2 / math.log2(3)))


def _result(values: dict[str, dict[str, float]], langs: dict[str, str]) -> dict:
    rows = [(m, q, langs[q], "esci", "20", v) for m, per in values.items() for q, v in per.items()]
    return {"per_query": pd.DataFrame(rows, columns=figures.PER_QUERY_COLUMNS), "models": list(values),
            "accuracy": pd.DataFrame(columns=["model", "language", "accuracy"]),
            "pairs": {"all": 10, "en": 8, "de": 2}}


LANGS = {"q1": "en", "q2": "en", "q3": "en", "q4": "de"}
VALUES = {"a": {"q1": 0.5, "q2": 0.6, "q3": 0.7, "q4": 1.0}, "b": {"q1": 0.6, "q2": 0.8, "q3": 0.7, "q4": 1.0}}


def test_summary_gives_no_figure_below_the_minimum():
    df = figures.summary(_result(VALUES, LANGS), min_n=2).set_index(["model", "language"])
    de = df.loc[("a", "de")]
    assert not de["enough"] and de["n_queries"] == 1 and math.isnan(de["ndcg"]) and math.isnan(de["ci_low"])
    en = df.loc[("a", "en")]
    assert en["enough"] and en["ndcg"] == pytest.approx(0.6) and en["ci_low"] <= 0.6 <= en["ci_high"]
    assert math.isnan(df.loc[("a", "all"), "p_holm"]) and 0 < df.loc[("b", "all"), "p_holm"] <= 1


def test_compare_gives_per_language_deltas():
    df = figures.compare(_result(VALUES, LANGS), "a", "b", gains="esci", k="20", min_n=2).set_index("language")
    assert df.loc["en", "delta"] == pytest.approx((0.1 + 0.2 + 0.0) / 3)
    assert df.loc["en", "ci_low"] <= df.loc["en", "delta"] <= df.loc["en", "ci_high"]
    assert df.loc["all", "n_queries"] == 4 and df.loc["all", "delta"] == pytest.approx(0.3 / 4)
    assert not df.loc["de", "enough"] and math.isnan(df.loc["de", "delta"])
    # exact sign-flip test on 3 queries with 2 non-zero differences: 2 of 4 sign vectors reach |0.3|
    assert df.loc["en", "p_value"] == pytest.approx(0.5)


def _teacher_meta(folder, **ids):
    (folder / "teacher").mkdir(parents=True, exist_ok=True)
    (folder / "teacher" / "teacher.json").write_text(json.dumps({"name": "teacher", **ids}))


def test_query_scope_from_metadata(tmp_path):
    _teacher_meta(tmp_path, dev_query_ids=["q1", "q2"])
    teacher = query_scope.model_queries("teacher", tmp_path)
    assert teacher.dev == {"q1", "q2"} and teacher.train is None
    assert "lists its 2 dev queries but not its training queries" in teacher.note
    bm25 = query_scope.model_queries("bm25", tmp_path)
    assert not bm25.trained and bm25.note is None
    classes = query_scope.classify(["q1", "q2", "q3"], [teacher, bm25])
    assert classes == {"q1": "dev", "q2": "dev", "q3": "training"}
    _teacher_meta(tmp_path, dev_query_ids=["q1"], train_query_ids=["q2"])
    listed = query_scope.model_queries("teacher", tmp_path)
    assert listed.note is None
    assert query_scope.classify(["q1", "q2", "q3"], [listed]) == {"q1": "dev", "q2": "training", "q3": "held out"}
    unknown = query_scope.model_queries("student", tmp_path)
    assert "lists no training queries" in unknown.note and query_scope.held_out(["q9"], [unknown]) == {"q9"}


def test_throughput_counts_only_labels_in_force(store):
    with session_scope(store) as s:
        first, second = s.scalars(select(Label).order_by(Label.id).limit(2)).all()
        kept = Label(query_pk=first.query_pk, product_pk=first.product_pk, level=4, rater="rita", source="human",
                     seconds_spent=2.0)
        undone = Label(query_pk=second.query_pk, product_pk=second.product_pk, level=2, rater="rita",
                       source="human", seconds_spent=9.0)  # one first label per pair (uq_labels_import_root)
        s.add_all([kept, undone])
        s.flush()
        s.add(Label(query_pk=second.query_pk, product_pk=second.product_pk, level=None, rater="rita", source="human",
                    supersedes_id=undone.id))
    thr = store_datasets.label_throughput(store)
    assert thr[["rater", "labels", "median_seconds"]].values.tolist() == [["rita", 1, 2.0]]


# ------------------------------------------------------------------------------------------ page

def _cells(at) -> set[str]:
    return {str(v) for d in at.dataframe for v in d.value.astype(str).to_numpy().ravel()}


def test_default_view_says_too_few_queries_and_why_sections_are_empty(store):
    at = ok(app("vic"))
    ndcg = next(d.value for d in at.dataframe if "nDCG@20 [95% CI]" in d.value.columns)
    assert set(ndcg["nDCG@20 [95% CI]"]) <= {"too few queries (1)", "too few queries (2)", "too few queries (4)"}
    assert (ndcg.loc[ndcg["language"] == "all", "nDCG@20 [95% CI]"] == "too few queries (4)").all()
    assert "None" not in _cells(at) and "nan" not in _cells(at)
    shown = texts(at)
    assert "Reference model: **bm25**" in shown  # teacher and student have no predictions here
    assert "No side-by-side answers yet" in shown and "No rater labels yet" in shown
    assert "Covers 4 queries (4 held out, 0 dev, 0 training; 0 rater-labelled)" in shown
    assert not [c for c in at.get("plotly_chart")]  # no chart of figures nobody should read


def test_held_out_by_default_training_on_request_and_what_changed(store, tmp_path, monkeypatch):
    monkeypatch.setenv("RELEVANCE_MIN_QUERIES_FOR_CI", "2")
    app_store.write_predictions(store, tmp_path / "artifacts", models=("teacher",))
    qids = sorted(pd.read_parquet(tmp_path / "artifacts" / "teacher" / "predictions" / "judged.parquet")["query_id"]
                  .unique())
    _teacher_meta(tmp_path / "artifacts", dev_query_ids=qids[:2])
    at = ok(app("vic"))
    shown = texts(at)
    assert "`teacher`: its metadata (teacher/teacher.json) lists its 2 dev queries but not its training" in shown
    assert "Covers 2 queries (0 held out, 2 dev, 0 training; 0 rater-labelled) — held-out queries only" in shown
    assert "Reference model: **teacher**" in shown
    ndcg = next(d.value for d in at.dataframe if "nDCG@20 [95% CI]" in d.value.columns)
    assert "p (Holm) vs teacher" in ndcg.columns
    assert (ndcg.loc[ndcg["language"] == "all", "queries"] == 2).all()

    at.radio(key="dash_scope").set_value("all")
    at = ok(at.run())
    assert "Covers 4 queries (0 held out, 2 dev, 2 training; 0 rater-labelled) — training queries included" \
        in texts(at)
    changes = next(d.value for d in at.dataframe if "teacher − bm25 [95% CI]" in d.value.columns)
    row = changes.set_index("language").loc["all"]
    assert row["queries"] == 4 and row["teacher − bm25 [95% CI]"][0] in "-0123456789"
    assert row["p (Holm)"] != "—"
    assert "None" not in _cells(at)
