"""`relevance evaluate` and `export` on the demo catalog: BM25 against random, the JSON schema,
language groups, unknown queries scored on the fly, and the errors users meet."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import DEMO

from core.cli import main
from core.workflows.evaluate import evaluate, load_judged

ROW_KEYS = {"model", "mode", "language", "gains", "k", "ndcg", "ci_low", "ci_high", "accuracy", "n_queries", "n_pairs",
            "p_value_vs_first", "p_holm"}


@pytest.fixture
def demo(catalog_url, monkeypatch):
    monkeypatch.setenv("RELEVANCE_DB_URL", catalog_url)
    return catalog_url


@pytest.fixture(scope="module")
def judgments_with_language(tmp_path_factory):
    """The demo judgments (queries not in the store) with a language column: one query marked 'es'."""
    df = pd.read_csv(DEMO / "judgments.csv")
    df["language"] = "en"
    df.loc[df["query"] == df["query"].iloc[0], "language"] = "es"
    path = tmp_path_factory.mktemp("j") / "judgments_lang.csv"
    df.to_csv(path, index=False)
    return path


def test_bm25_beats_random_clearly_on_demo_judgments(demo):
    report = evaluate(load_judged(DEMO / "judgments.csv"), ["bm25", "random"], ks=[20, None],
                      gains=["esci", "linear"], progress=False)
    rows = {(r["model"], r["gains"], r["k"]): r for r in report["rows"]}
    for gains in ("esci", "linear"):
        for k in ("20", "all"):
            bm25, rnd = rows[("bm25", gains, k)], rows[("random", gains, k)]
            # linear gains over the whole judged list compress differences (most judged items are E or S)
            margin = 0.03 if gains == "esci" else 0.01
            assert bm25["ndcg"] > rnd["ndcg"] + margin, (gains, k, bm25["ndcg"], rnd["ndcg"])
            assert rnd["p_holm"] < 0.05 and rnd["p_holm"] >= rnd["p_value_vs_first"]
            assert bm25["ci_low"] <= bm25["ndcg"] <= bm25["ci_high"]
            assert bm25["n_queries"] <= 120 and bm25["n_pairs"] == 5361
    assert report["judgments"] == "judgments.csv"


def test_json_rows_follow_the_design_schema(demo, tmp_path, judgments_with_language, capsys):
    out = tmp_path / "out.json"
    rc = main(["evaluate", "--judgments", str(judgments_with_language), "--models", "bm25,random",
               "--by", "language", "--k", "20,all", "--json", str(out)])
    assert rc == 0
    doc = json.loads(out.read_text())
    assert set(doc) == {"judgments", "mode", "rows", "left_out"} and doc["mode"] == "listwise"  # README, "--json"
    assert all(set(r) == ROW_KEYS for r in doc["rows"])
    combos = {(r["model"], r["language"], r["gains"], r["k"]) for r in doc["rows"]}
    assert len(combos) == len(doc["rows"]) == 2 * 3 * 2 * 2  # models × {all, en, es} × gains × k
    es = [r for r in doc["rows"] if r["language"] == "es"]
    assert all(r["n_queries"] <= 1 for r in es)
    first = [r for r in doc["rows"] if r["model"] == "bm25"]
    assert all(r["p_value_vs_first"] is None and r["accuracy"] is None for r in first)
    printed = capsys.readouterr().out
    assert "bm25" in printed and "random" in printed and "p(Holm)" in printed


def test_unknown_model_is_a_clear_error(demo, capsys):
    rc = main(["evaluate", "--judgments", str(DEMO / "judgments.csv"), "--models", "bm25,nope"])
    assert rc == 2
    assert ("unknown model 'nope'; available: bm25, e5-cosine, random, student, student-human, student-mixed, "
            "teacher, use-cosine") in capsys.readouterr().err


def test_unknown_product_in_judgments_is_an_error(demo, tmp_path, capsys):
    f = tmp_path / "j.csv"
    f.write_text("query,product_id,level\nlamp,NOT-A-PRODUCT,5\n")
    assert main(["evaluate", "--judgments", str(f)]) == 2
    assert "unknown product_id 'NOT-A-PRODUCT'" in capsys.readouterr().err


@pytest.mark.parametrize("k,match", [("0", "positive"), ("ten", "k")], ids=["zero", "word"])
def test_bad_k(demo, k, match, capsys):
    assert main(["evaluate", "--judgments", str(DEMO / "judgments.csv"), "--k", k]) == 2
    assert match in capsys.readouterr().err


def test_bm25_ranks_the_matching_product_first(demo, tmp_path):
    """A hand-made check of the whole path: the product whose title holds the query words ranks first."""
    from core.cache import get_catalog, get_scorer
    cat = get_catalog()
    kindle = cat.products[cat.products["title"].str.contains("Kindle Paperwhite", na=False)].index[0]
    others = [p for p in cat.ids[:50] if p != kindle][:9]
    scores = get_scorer("bm25").score("kindle paperwhite", [*others, kindle])
    assert scores.argmax() == len(others)


def test_random_is_seeded_and_order_independent(demo):
    from core.cache import get_scorer
    r = get_scorer("random")
    ids = list(__import__("core.cache", fromlist=["x"]).get_catalog().ids[:20])
    a = dict(zip(ids, r.score("lamp", ids)))
    b = dict(zip(ids[::-1], r.score("lamp", ids[::-1])))
    assert a == b
    assert get_scorer("random", seed=1).score("lamp", ids).tolist() != list(a.values())


def test_export_qrels_and_run_in_trec_format(demo, tmp_path):
    qrels, run = tmp_path / "qrels.txt", tmp_path / "run.txt"
    assert main(["export", "qrels", "--judgments", str(DEMO / "judgments.csv"), "--gains", "esci", "--out", str(qrels)]) == 0
    lines = qrels.read_text().splitlines()
    assert len(lines) == 5361
    assert {ln.split()[3] for ln in lines} <= {"100", "10", "1", "0"}
    assert main(["export", "run", "--judgments", str(DEMO / "judgments.csv"), "--model", "bm25", "--out", str(run)]) == 0
    first = run.read_text().splitlines()[0].split()
    assert first[1] == "Q0" and first[3] == "1" and first[5] == "bm25"


def test_export_labels_writes_training_data(demo, tmp_path):
    from core.ingest import import_judgments
    import_judgments(DEMO / "judgments.csv", url=demo)
    out = tmp_path / "labels.parquet"
    assert main(["export", "labels", "--out", str(out)]) == 0
    df = pd.read_parquet(out)
    assert len(df) == 5361 and {"query_id", "product_id", "level", "n_raters"} <= set(df.columns)
    assert set(df["level"]) == {1, 3, 4, 5}


@pytest.mark.parametrize("extra,message", [(["--k", "99999999999999999999"], "larger than any judged list"),
                                           (["--json", "."], "is a folder; give a file name")],
                         ids=["huge-k", "json-is-a-folder"])
def test_bad_options_are_refused_before_any_work(demo, capsys, extra, message):
    assert main(["evaluate", "--judgments", str(DEMO / "judgments.csv"), "--models", "random", *extra]) == 2
    out = capsys.readouterr()
    assert message in out.err and out.out == ""  # no table printed before the error


def test_a_query_without_positive_gain_is_named_not_dropped_silently(demo, tmp_path, capsys):
    j = pd.read_csv(DEMO / "judgments.csv")
    first, second = j["query_id"].drop_duplicates().iloc[:2]
    part = j[j["query_id"].isin([first, second])].copy()
    if "esci_label" in part:
        part.loc[part["query_id"] == second, "esci_label"] = "I"  # every product of the second query irrelevant
    else:
        part.loc[part["query_id"] == second, "level"] = 1
    part.to_csv(tmp_path / "j.csv", index=False)
    assert main(["evaluate", "--judgments", str(tmp_path / "j.csv"), "--models", "bm25", "--gains", "esci"]) == 0
    out = capsys.readouterr().out
    assert "1 query left out of nDCG under esci gains" in out and second in out
