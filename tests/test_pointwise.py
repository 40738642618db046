"""Pointwise evaluation (core/metrics/pointwise.py) on hand-worked pairs, and `relevance evaluate` on a pointwise
judgments file of the demo catalog."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO

from core import metrics
from core.cli import main
from core.metrics.pointwise import ModelOutput, holm_in_place, is_pointwise, pointwise_rows


def _pairs(levels, languages=None, queries=None):
    n = len(levels)
    return pd.DataFrame({"query_id": queries or [f"q{i}" for i in range(n)],
                         "language": languages or ["en"] * n, "level": levels})


def test_hand_worked_accuracy_macro_f1_and_auc():
    # levels 5 5 1 2 4; scores rank both exact pairs above both irrelevant ones except one tie
    pairs = _pairs([5, 5, 1, 2, 4])
    out = ModelOutput(scores=np.array([0.9, 0.4, 0.4, 0.1, 0.5]), levels=np.array([5, 4, 1, 1, 4]))
    row = pointwise_rows(pairs, {"m": out}, by_language=False)[0]
    # E = {0.9, 0.4}, I = {0.4, 0.1}: 4 comparisons, wins 0.9>0.4, 0.9>0.1, 0.4>0.1, tie 0.4=0.4 -> 3.5/4
    assert row["auc"] == pytest.approx(0.875)
    assert row["accuracy"] == pytest.approx(3 / 5)  # pairs 0, 2, 4 right
    # per level F1: 5: P 1 R .5 -> 2/3; 4: P .5 R 1 -> 2/3; 1: P .5 R 1 -> 2/3; 2: 0; 3: absent 0
    assert row["macro_f1"] == pytest.approx((2 / 3 * 3) / 5)
    assert row["mode"] == "pointwise" and row["n_pairs"] == 5 and row["n_queries"] == 5
    assert row["ci_low"] <= row["accuracy"] <= row["ci_high"]
    assert row["auc_ci_low"] <= row["auc"] <= row["auc_ci_high"]


def test_point_estimates_equal_scikit_learn_on_random_data():
    rng = np.random.default_rng(1)
    levels = rng.choice([1, 2, 3, 4, 5], 400)
    scores = np.round(levels + rng.normal(0, 2, 400), 1)  # rounded: ties happen
    pred = np.clip(np.round(scores), 1, 5).astype(int)
    row = pointwise_rows(_pairs(list(levels)), {"m": ModelOutput(scores, pred)}, by_language=False)[0]
    assert row["auc"] == pytest.approx(metrics.exact_vs_irrelevant_auc(levels, scores))
    cls = metrics.classification_scores(levels, pred)
    assert (row["accuracy"], row["macro_f1"]) == pytest.approx((cls["accuracy"], cls["macro_f1"]))


def test_queries_are_resampled_whole():
    """A query with many pairs moves the interval more than one with few: the CI of a model that is right
    on one big query and wrong on many small ones is wide, not the pair-level binomial width."""
    levels = [5] * 50 + [1] * 10
    queries = ["big"] * 50 + [f"s{i}" for i in range(10)]
    out = ModelOutput(np.zeros(60), np.array([5] * 50 + [5] * 10))  # right on "big", wrong on the rest
    row = pointwise_rows(_pairs(levels, queries=queries), {"m": out}, by_language=False)[0]
    assert row["accuracy"] == pytest.approx(50 / 60)
    # a pair-level binomial interval would be about [0.73, 0.93]; whole queries give [0 ("big" not drawn), 0.95]
    assert row["ci_low"] < 0.5 and row["ci_high"] > 0.94


def test_languages_models_and_paired_tests():
    rng = np.random.default_rng(0)
    n = 300
    levels = rng.choice([1, 5], n)
    langs = list(rng.choice(["en", "ja"], n))
    good = ModelOutput(levels + rng.normal(0, 1, n), np.where(levels == 5, 5, 1))
    noise = ModelOutput(rng.normal(0, 1, n))
    rows = pointwise_rows(_pairs(list(levels), langs), {"good": good, "noise": noise, "same": good})
    holm_in_place(rows)
    by = {(r["model"], r["language"]): r for r in rows}
    assert {lang for _, lang in by} == {"all", "en", "ja"}
    assert by["noise", "all"]["accuracy"] is None and by["noise", "all"]["ci_low"] == by["noise", "all"]["auc_ci_low"]
    assert by["noise", "all"]["p_holm"] < 0.05 and by["noise", "all"]["auc"] < 0.65
    assert by["same", "all"]["p_value_vs_first"] == 1.0 and by["good", "all"]["p_value_vs_first"] is None


def test_auc_is_nan_without_both_sides():
    assert np.isnan(metrics.exact_vs_irrelevant_auc([5, 5, 4], [1, 2, 3]))
    row = pointwise_rows(_pairs([5, 4]), {"m": ModelOutput(np.array([1.0, 0.0]))}, by_language=False)[0]
    assert row["auc"] is None


@pytest.mark.parametrize("per_query,expected", [([1] * 9 + [5], True), ([2, 2, 2], True), ([3, 40, 45], False)],
                         ids=["one-each", "two-each", "listwise"])
def test_is_pointwise_by_the_median_query(per_query, expected):
    ids = [f"q{i}" for i, n in enumerate(per_query) for _ in range(n)]
    assert is_pointwise(ids) is expected


@pytest.fixture
def pointwise_file(tmp_path):
    """One judged product per query from the demo judgments, a language column, E and I pairs."""
    df = pd.read_csv(DEMO / "judgments.csv")
    df = df[df["esci_label"].isin(["E", "I"])].groupby("query_id").head(1).reset_index(drop=True)
    df["language"] = np.where(np.arange(len(df)) % 3 == 0, "es", "en")
    path = tmp_path / "pointwise.csv"
    df.drop(columns="query_id").to_csv(path, index=False)
    return path


def test_cli_reports_a_pointwise_file_per_language(catalog_url, monkeypatch, pointwise_file, tmp_path, capsys):
    monkeypatch.setenv("RELEVANCE_DB_URL", catalog_url)
    out = tmp_path / "report.json"
    assert main(["evaluate", "--judgments", str(pointwise_file), "--models", "bm25,random", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "pointwise" in printed and "AUC" in printed
    doc = json.loads(out.read_text())
    assert doc["mode"] == "pointwise"
    rows = {(r["model"], r["language"]): r for r in doc["rows"]}
    assert set(rows) == {(m, g) for m in ("bm25", "random") for g in ("all", "en", "es")}
    for r in doc["rows"]:
        assert {"model", "language", "n_queries", "n_pairs", "mode", "accuracy", "macro_f1", "auc", "ci_low",
                "ci_high"} <= set(r)
        assert r["accuracy"] is None  # neither model has levels
    assert rows["bm25", "all"]["auc"] > rows["random", "all"]["auc"]
    assert rows["random", "all"]["p_holm"] is not None


def test_mode_flag_overrides_detection(catalog_url, monkeypatch, pointwise_file, tmp_path):
    monkeypatch.setenv("RELEVANCE_DB_URL", catalog_url)
    out = tmp_path / "report.json"
    assert main(["evaluate", "--judgments", str(pointwise_file), "--models", "bm25", "--mode", "listwise",
                 "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["mode"] == "listwise" and {r["mode"] for r in doc["rows"]} == {"listwise"}
    assert all("ndcg" in r for r in doc["rows"])
