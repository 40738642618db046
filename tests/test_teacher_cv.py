"""Teacher training on listwise + pointwise labels and its query-grouped cross-validation, on a tiny
randomly initialised BERT (the architecture of e5-small) and the demo catalog."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from core.errors import InvalidInputError
from core.models.teacher import TeacherConfig, batches as _batches, pairwise_rank_loss, train_teacher
from core.workflows.teacher_cv import PROB_COLS, cross_validate, query_folds
from model_fixtures import labels_for, pointwise_labels


def test_rank_loss_compares_only_pairs_of_one_query():
    logits = torch.tensor([[0, 0, 0, 0, 5.0], [5.0, 0, 0, 0, 0], [0, 0, 0, 0, 5.0], [5.0, 0, 0, 0, 0]])
    target = torch.tensor([0, 4, 0, 4])  # rows 0/1: query a, scored the wrong way round; rows 2/3: query b, too
    wrong = pairwise_rank_loss(logits, target, ["a", "a", "b", "b"])
    assert wrong > 1.0
    # the same rows paired across queries instead: (0, 3) and (2, 1) are each scored the right way round
    crossed = pairwise_rank_loss(logits[[0, 3, 2, 1]], target[[0, 3, 2, 1]], ["a", "b", "b", "a"])
    assert crossed.item() == pytest.approx(wrong.item())
    assert pairwise_rank_loss(logits, target, ["a", "b", "c", "d"]).item() == 0.0


def test_pointwise_pairs_are_pooled_and_listwise_queries_kept_apart(demo_catalog):
    train = pd.concat([labels_for(demo_catalog, n_queries=3, per_query=6), pointwise_labels(demo_catalog, n=10)],
                      ignore_index=True)
    batches = _batches(train, TeacherConfig(batch_size=4, listwise=1.0), epoch=0)
    assert sorted(np.concatenate(batches)) == list(train.index)
    for b in batches:
        qs = set(train.loc[b, "query_id"])
        assert len(qs) == 1 or all(q.startswith("p") for q in qs)  # mixed batches only of pointwise pairs
    assert any(len(set(train.loc[b, "query_id"])) > 1 for b in batches)  # they are pooled, not 1-pair batches


def test_dev_metrics_split_listwise_and_pointwise(tiny_encoder, demo_catalog, tmp_path):
    labels = pd.concat([labels_for(demo_catalog, n_queries=4), pointwise_labels(demo_catalog)], ignore_index=True)
    dev = {"q0", "q1"} | {f"p{i}" for i in range(8)}
    cfg = TeacherConfig(backbone=tiny_encoder, epochs=1, batch_size=8, lr=1e-3, max_length=48, select="accuracy",
                        checkpoint_every=0)
    result = train_teacher(labels, demo_catalog, tmp_path / "t", cfg, progress=False, dev_query_ids=dev,
                           keep_dev_predictions=True)
    m = result.metrics["history"][-1]
    assert m["dev_queries"] == 2  # nDCG over the two listwise dev queries only
    assert m["pointwise_pairs"] == 8 and m["pointwise_pairs_en"] + m["pointwise_pairs_es"] == 8
    assert set(result.dev["query_id"]) == dev and set(result.dev_probs) == {0, 1}
    assert all(p.shape == (len(result.dev), 5) for p in result.dev_probs.values())
    meta = json.loads((tmp_path / "t" / "teacher.json").read_text())
    assert set(meta["dev_query_ids"]) == dev


def test_folds_group_query_texts():
    pairs = pd.DataFrame({"query_id": [f"x{i}" for i in range(12)],
                          "query": ["Lamp", "lamp "] + [f"q{i}" for i in range(10)]})
    folds = query_folds(pairs, 3)
    assert set().union(*folds) == set(pairs["query_id"]) and sum(map(len, folds)) == 12
    assert any({"x0", "x1"} <= f for f in folds)
    with pytest.raises(ValueError, match="distinct queries"):
        query_folds(pairs.iloc[:2], 3)


@pytest.mark.parametrize("train_languages", [None, ("en",)], ids=["all-languages", "english-only"])
def test_cross_validation_tests_every_pointwise_pair_once_per_epoch(tiny_encoder, demo_catalog, tmp_path,
                                                                    train_languages):
    listwise, pointwise = labels_for(demo_catalog, n_queries=5), pointwise_labels(demo_catalog)
    cfg = TeacherConfig(backbone=tiny_encoder, epochs=1, batch_size=8, lr=1e-3, max_length=48, dev_fraction=0.3,
                        freeze_layers=1, checkpoint_every=0)
    doc = cross_validate(listwise, pointwise, demo_catalog, tmp_path, cfg, n_folds=2, progress=False,
                         train_languages=train_languages, name="t")
    preds = pd.read_parquet(tmp_path / "t.parquet")
    for epoch in (0, 1):
        part = preds[preds["epoch"] == epoch]
        assert sorted(part["query_id"]) == sorted(pointwise["query_id"])  # each pair once, in its own fold
        np.testing.assert_allclose(part[PROB_COLS].sum(1), 1.0, rtol=1e-5)
    # the same text in two marketplaces is tested in one fold
    assert preds.loc[preds["query_id"] == "p0", "fold"].iat[0] == preds.loc[preds["query_id"] == "p1", "fold"].iat[0]
    for fold in doc["folds"]:
        tested = set(preds.loc[preds["fold"] == fold["fold"], "query_id"])
        expected = pointwise[~pointwise["query_id"].isin(tested)]
        if train_languages:
            expected = expected[expected["language"].isin(train_languages)]
        assert fold["train_pointwise_pairs"] == len(expected)
        assert [h["epoch"] for h in fold["history"]] == [0, 1]  # select=last: no early stop
    saved = json.loads((tmp_path / "t.json").read_text())
    assert saved["config"]["select"] == "last"
    models = {r["model"] for r in saved["rows"]}
    assert models == {"epoch 0", "epoch 1"}
    assert {r["language"] for r in saved["rows"]} == {"all", "en", "es"}



def test_a_run_of_the_remaining_folds_completes_the_earlier_one(tiny_encoder, demo_catalog, tmp_path):
    listwise, pointwise = labels_for(demo_catalog, n_queries=5), pointwise_labels(demo_catalog)
    cfg = TeacherConfig(backbone=tiny_encoder, epochs=1, batch_size=8, lr=1e-3, max_length=48, dev_fraction=0.3,
                        freeze_layers=1, checkpoint_every=0)
    first = cross_validate(listwise, pointwise, demo_catalog, tmp_path, cfg, n_folds=2, folds=[0], progress=False,
                           name="t")
    one = pd.read_parquet(tmp_path / "t.parquet")
    doc = cross_validate(listwise, pointwise, demo_catalog, tmp_path, cfg, n_folds=2, folds=[1], progress=False,
                         name="t")
    preds = pd.read_parquet(tmp_path / "t.parquet")
    assert [f["fold"] for f in doc["folds"]] == [0, 1] and doc["folds"][0] == first["folds"][0]
    assert sorted(preds.loc[preds["epoch"] == 0, "query_id"]) == sorted(pointwise["query_id"])
    pd.testing.assert_frame_equal(preds[preds["fold"] == 0].reset_index(drop=True), one.reset_index(drop=True))
    with pytest.raises(ValueError, match="another config"):  # another recipe never overwrites the run
        cross_validate(listwise, pointwise, demo_catalog, tmp_path, replace(cfg, lr=1e-4), n_folds=2, folds=[1],
                       progress=False, name="t")
    assert json.loads((tmp_path / "t.json").read_text())["folds"] == doc["folds"]

def _fake_run(folder, name, quality, n_queries, seed=0, folds=(0,), n_folds=1):
    """A cross-validation result as cross_validate writes it, from synthetic predictions: epoch 1 is
    ``quality`` better than the prior at putting probability on the right level (fold 1, if run, is noise).
    Query i is in test fold i % n_folds; the run has the folds ``folds``, fold f training on n_queries + f."""
    from core.workflows.teacher_cv import pooled_rows

    rng = np.random.default_rng(seed)
    n = 240
    level = rng.choice([1, 4, 5], n)
    fold = np.arange(n) % n_folds
    parts = []
    for epoch, q in ((0, 0.3), (1, 0.3 + quality)):
        probs = rng.dirichlet(np.ones(5), n) * (1 - q)
        probs[np.arange(n), level - 1] += np.where(fold == 1, 0.0, q)
        part = pd.DataFrame(probs / probs.sum(1, keepdims=True), columns=PROB_COLS)
        part["query_id"] = [f"q{i}" for i in range(n)]
        part["product_id"], part["level"], part["epoch"], part["fold"] = "p", level, epoch, fold
        part["language"] = np.array(["en", "es", "ja"])[np.arange(n) % 3]
        parts.append(part[part["fold"].isin(folds)])
    preds = pd.concat(parts, ignore_index=True)
    doc = {"name": name, "config": TeacherConfig().__dict__, "n_folds": n_folds, "train_languages": None,
           "max_train_queries": None, "rows": pooled_rows(preds),
           "folds": [{"fold": f, "train_pointwise_pairs": n_queries + f, "train_pointwise_queries": n_queries + f,
                      "train_listwise_queries": 86, "test_pairs": int((fold == f).sum()), "minutes": 1.0,
                      "history": [{"epoch": 0, "ndcg@20_esci": 0.75}, {"epoch": 1, "ndcg@20_esci": 0.76}]}
                     for f in folds]}
    (folder / f"{name}.json").write_text(json.dumps(doc))
    preds.to_parquet(folder / f"{name}.parquet", index=False)
    return doc


def test_report_has_the_bakeoff_the_unseen_language_table_and_the_curve(tmp_path):
    import xml.etree.ElementTree as ET

    from core.workflows.cards.cv_report import kept_share, write_report
    from core.workflows.cards.cv_runs import fold_scores, load_runs

    all_runs = _fake_run(tmp_path, "all", 0.4, 1500)
    en = _fake_run(tmp_path, "en-only", 0.2, 1000, seed=1)
    _fake_run(tmp_path, "lc250", 0.1, 250, seed=2)
    prior = _fake_run(tmp_path, "prior-all", 0.0, 1500, seed=3)
    prior["kind"] = "prior"
    for fold in prior["folds"]:
        fold["history"] = [{"epoch": 0}]  # as cross_validate_prior writes it: no listwise dev figure
    (tmp_path / "prior-all.json").write_text(json.dumps(prior))
    _fake_run(tmp_path, "prior-en-only", 0.0, 1000, seed=4)
    text = write_report(tmp_path)
    assert "### Run `all`" in text and "### Run `en-only`" in text and "prior alone" in text
    assert "Unseen languages" in text and "en only" in text and "Learning curve" in text
    auc = {(d["name"], r["language"]): r["auc"] for d in (all_runs, en) for r in d["rows"] if r["model"] == "epoch 1"}
    runs = load_runs(tmp_path)
    share = kept_share(runs, fold_scores(tmp_path, runs))
    assert share["ja"] == pytest.approx(auc["en-only", "ja"] / auc["all", "ja"])
    assert f"{share['es']:.1%} on es" in text
    root = ET.fromstring((tmp_path / "learning_curve.svg").read_text())
    # the cross-encoder (solid) and its own prior (dashed) for all/es/ja over lc250 and all
    lines = root.findall("{http://www.w3.org/2000/svg}polyline")
    assert len(lines) == 6 and sum("stroke-dasharray" in line.attrib for line in lines) == 3
    assert not (tmp_path / "learning_curve_prior.svg").exists()  # the prior has one curve point: no line
    assert "The English-only feature prior keeps" in text and "| feature prior | en only | 1 of 1 |" in text


def test_a_run_without_a_prior_is_tested_against_its_first_epoch(tmp_path):
    from core.workflows.cards.cv_report import bakeoff_table
    from core.workflows.teacher_cv import pooled_rows

    doc = _fake_run(tmp_path, "no-prior", 0.3, 1500)
    preds = pd.read_parquet(tmp_path / "no-prior.parquet")
    preds["epoch"] += 1  # --prior none: no epoch 0 (the prior alone) to test against
    doc["rows"] = pooled_rows(preds)
    table = bakeoff_table(doc)
    assert "p (Holm) AUC vs epoch 1" in table and "vs prior" not in table and "prior alone" not in table
    assert "p (Holm) AUC vs prior" in bakeoff_table(_fake_run(tmp_path, "with-prior", 0.3, 1500))


def test_cv_report_command_splices_the_section_into_the_card(tmp_path):
    from core.cli import main

    folder = tmp_path / "teacher" / "cv"
    folder.mkdir(parents=True)
    _fake_run(folder, "all", 0.4, 1500)
    card = tmp_path / "teacher" / "model_card.md"
    card.write_text("# Teacher\n\n## Bake-off\n\nold runs\n\n## Cross-lingual probe\n\nprobe table\n")
    assert main(["train", "teacher", "--cv-report", "--out", str(folder)]) == 0
    text = card.read_text()
    assert text.index("## Bake-off") < text.index("## Cross-validation on esci_multilingual") \
        < text.index("## Cross-lingual probe")
    assert "old runs" in text and "probe table" in text and "### Run `all`" in text
    assert main(["train", "teacher", "--cv-report", "--out", str(folder)]) == 0  # again: replaced, not doubled
    assert card.read_text().count("## Cross-validation") == 1


def test_prior_only_cross_validation_sees_the_same_folds(demo_catalog, tmp_path):
    from core.workflows.teacher_cv import cross_validate_prior, fold_data

    listwise, pointwise = labels_for(demo_catalog, n_queries=5), pointwise_labels(demo_catalog)
    cfg = TeacherConfig(dev_fraction=0.3)
    doc = cross_validate_prior(listwise, pointwise, demo_catalog, tmp_path, cfg, n_folds=2, name="p",
                               train_languages=("en",))
    preds = pd.read_parquet(tmp_path / "p.parquet")
    assert sorted(preds["query_id"]) == sorted(pointwise["query_id"]) and set(preds["epoch"]) == {0}
    np.testing.assert_allclose(preds[PROB_COLS].sum(1), 1.0, rtol=1e-5)
    folds = list(fold_data(listwise, pointwise, n_folds=2, seed=0, dev_fraction=0.3, train_languages=("en",)))
    for rec, fold in zip(doc["folds"], folds):
        assert set(preds.loc[preds["fold"] == fold.index, "query_id"]) == set(fold.test["query_id"])
        assert rec["train_pointwise_pairs"] == len(fold.train) and set(fold.train["language"]) == {"en"}
    assert {r["model"] for r in doc["rows"]} == {"epoch 0"} and doc["kind"] == "prior"
    with pytest.raises(ValueError, match="feature prior"):
        cross_validate_prior(listwise, pointwise, demo_catalog, tmp_path, TeacherConfig(prior="e5-cosine"))


def test_the_unseen_language_run_trains_on_every_english_pair_and_tests_every_other_one(tiny_encoder, demo_catalog,
                                                                                      tmp_path):
    from core.workflows.teacher_cv import cross_validate_prior, fold_data

    listwise, pointwise = labels_for(demo_catalog, n_queries=5), pointwise_labels(demo_catalog)
    (fold,) = fold_data(listwise, pointwise, n_folds=4, seed=0, dev_fraction=0.3, train_languages=("en",),
                        unseen=True)
    spanish = set(pointwise.loc[pointwise["language"] == "es", "query_id"])
    assert set(fold.test["query_id"]) == spanish
    # every English pair trains except p0, whose text (in another case) is the Spanish query p1
    assert set(fold.train["query_id"]) == set(pointwise.loc[pointwise["language"] == "en", "query_id"]) - {"p0"}
    with pytest.raises(ValueError, match="training languages"):
        next(fold_data(listwise, pointwise, n_folds=4, seed=0, dev_fraction=0.3, unseen=True))
    cfg = TeacherConfig(backbone=tiny_encoder, epochs=1, batch_size=8, lr=1e-3, max_length=48, dev_fraction=0.3,
                        freeze_layers=1, checkpoint_every=0)
    doc = cross_validate(listwise, pointwise, demo_catalog, tmp_path, cfg, n_folds=4, train_languages=("en",),
                         unseen=True, progress=False, name="en-unseen")
    preds = pd.read_parquet(tmp_path / "en-unseen.parquet")
    for epoch in (0, 1):
        assert sorted(preds.loc[preds["epoch"] == epoch, "query_id"]) == sorted(spanish)
    assert doc["unseen"] and doc["n_folds"] == 1 and {r["language"] for r in doc["rows"]} == {"all", "es"}
    prior = cross_validate_prior(listwise, pointwise, demo_catalog, tmp_path, cfg, train_languages=("en",),
                                 unseen=True, name="prior-en-unseen")
    assert prior["unseen"] and prior["folds"][0]["train_pointwise_pairs"] == doc["folds"][0]["train_pointwise_pairs"]


def test_the_report_reads_an_unseen_language_run_as_the_english_only_one(tmp_path):
    from core.workflows.cards.cv_report import kept_share, write_report
    from core.workflows.cards.cv_runs import fold_scores, load_runs

    all_runs = _fake_run(tmp_path, "all", 0.4, 1500)
    unseen = _fake_run(tmp_path, "en-unseen", 0.2, 1300, seed=1)
    unseen["unseen"] = True
    (tmp_path / "en-unseen.json").write_text(json.dumps(unseen))
    text = write_report(tmp_path)
    assert "One training that trains on 86 esci_us training queries + ~1300 pointwise queries" in text
    assert "| teacher (last epoch) | en only (every en pair) | one training |" in text
    auc = {(d["name"], r["language"]): r["auc"]
           for d in (all_runs, unseen) for r in d["rows"] if r["model"] == "epoch 1"}
    runs = load_runs(tmp_path)
    assert kept_share(runs, fold_scores(tmp_path, runs))["es"] == pytest.approx(auc["en-unseen", "es"] / auc["all", "es"])


def test_runs_are_compared_on_the_mean_of_their_folds_aucs_not_on_pooled_scores(tmp_path):
    """Two folds whose models rank perfectly but score on different scales (fold 1's expected levels lower):
    pooled, their AUC falls below 1; per fold it is 1, as for one model scoring every pair."""
    from core.workflows.cards.cv_report import kept_share, unseen_table
    from core.workflows.cards.cv_runs import fold_scores, load_runs

    rng = np.random.default_rng(0)
    n = 200
    level = rng.choice([1, 5], n)
    fold = np.arange(n) % 2
    probs = np.zeros((n, 5))
    top = np.where(fold == 0, 4, 2)  # fold 1's model says "level 3" where fold 0's says "level 5"
    probs[np.arange(n), np.where(level == 5, top, top - 2)] = 1.0
    for name, folds in (("all", fold), ("en-unseen", np.zeros(n, int))):
        part = pd.DataFrame(probs if name == "all" else np.eye(5)[np.where(level == 5, 4, 0)], columns=PROB_COLS)
        part["query_id"], part["product_id"], part["level"] = [f"q{i}" for i in range(n)], "p", level
        part["language"], part["epoch"], part["fold"] = "es", 1, folds
        part.to_parquet(tmp_path / f"{name}.parquet", index=False)
        doc = {"name": name, "n_folds": 2, "rows": [{"model": "epoch 1", "language": "es", "auc": 0.5}],
               "folds": [{"fold": 0}, {"fold": 1}]} | ({"unseen": True} if name == "en-unseen" else {})
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))
    from core.metrics import exact_vs_irrelevant_auc, expected_level
    assert exact_vs_irrelevant_auc(level, expected_level(probs)) < 0.9  # pooled
    runs = load_runs(tmp_path)
    scores = fold_scores(tmp_path, runs)
    assert {k[:3]: auc for k, (auc, _, _) in scores.items() if k[1] == "es"} == {
        ("all", "es", 0): 1.0, ("all", "es", 1): 1.0, ("en-unseen", "es", 0): 1.0,
        ("en-unseen", "es", 1): 1.0}  # the single training scored on the folds of "all"
    assert kept_share(runs, scores) == {"es": 1.0}
    assert "| 1.000 |" in unseen_table(runs, None, scores)


def test_the_curve_reads_every_run_on_the_folds_they_all_cover(tmp_path):
    """Learning-curve runs of one fold each (the cross-encoder's, which cost ~1 hour a fold) are compared with
    that fold of the four-fold ``all`` run, not with all of its folds; each point also has its own prior."""
    from core.cli import main
    from core.metrics import exact_vs_irrelevant_auc, expected_level
    from core.workflows.cards.cv_curve import curve_points
    from core.workflows.cards.cv_runs import fold_scores, load_runs

    folder = tmp_path / "teacher" / "cv"
    folder.mkdir(parents=True)
    _fake_run(folder, "all", 0.4, 1500, folds=(0, 1), n_folds=2)  # fold 1: noise
    _fake_run(folder, "lc250", 0.1, 250, seed=2, folds=(0,), n_folds=2)
    runs = load_runs(folder)
    pts = {(p["model"], p["language"], p["queries"]): p for p in curve_points(folder, runs, fold_scores(folder, runs))}
    assert set(pts) == {("teacher", lang, q) for lang in ("all", "en", "es", "ja") for q in (250, 1500)}
    top = pts["teacher", "all", 1500]
    preds = pd.read_parquet(folder / "all.parquet")
    for epoch, key in ((1, "auc"), (0, "prior_auc")):
        fold0 = preds[(preds["fold"] == 0) & (preds["epoch"] == epoch)]
        assert top[key] == pytest.approx(exact_vs_irrelevant_auc(fold0["level"], expected_level(fold0[PROB_COLS])))
    assert top["folds"] == "fold 0 of 2" and top["auc"] > 0.9  # fold 1 (noise) would pull it towards 0.5
    assert all(0 <= p[k] <= 1 for p in pts.values() for k in ("p_acc", "p_auc"))
    card = tmp_path / "teacher" / "model_card.md"
    card.write_text("# Teacher\n")
    assert main(["train", "teacher", "--cv-report", "--out", str(folder)]) == 0
    assert "![teacher learning curve](cv/learning_curve.svg)" in card.read_text()  # the card is one folder up
    assert "| teacher | all | 1500 | fold 0 of 2 |" in (folder / "cv.md").read_text()


def test_line_labels_that_would_overlap_are_set_a_line_apart():
    import xml.etree.ElementTree as ET

    from core.workflows.cards.common import line_svg

    series = {"a": [(10, 0.5), (100, 0.80)], "b": [(10, 0.6), (100, 0.801)], "c": [(10, 0.7), (100, 0.2)]}
    root = ET.fromstring(line_svg(series, x_label="x", y_label="y", dashed=("b",)))
    ns = "{http://www.w3.org/2000/svg}"
    ends = {t.text: float(t.get("y")) for t in root.findall(f"{ns}text") if t.text in series}
    assert abs(ends["a"] - ends["b"]) >= 12 and ends["c"] > max(ends["a"], ends["b"])  # c stays lowest
    assert [("stroke-dasharray" in line.attrib) for line in root.findall(f"{ns}polyline")] == [False, True, False]


def test_a_pointwise_only_fold_keeps_the_listwise_dev_queries_and_no_listwise_training_query(demo_catalog):
    from core.workflows.teacher_cv import _head, fold_data

    listwise, pointwise = labels_for(demo_catalog, n_queries=5), pointwise_labels(demo_catalog)
    kw = dict(n_folds=2, seed=0, dev_fraction=0.3)
    for both, alone in zip(fold_data(listwise, pointwise, **kw), fold_data(listwise, pointwise, **kw,
                                                                            pointwise_only=True)):
        assert set(alone.listwise["query_id"]) == set(alone.listwise_dev) < set(both.listwise["query_id"])
        assert alone.train.equals(both.train) and alone.test.equals(both.test)
    assert "pointwise_only" not in _head("a", TeacherConfig(), 4, None, None, False)  # earlier runs' files match
    assert _head("a", TeacherConfig(), 4, None, None, False, pointwise_only=True)["pointwise_only"] is True


def test_the_cv_report_puts_the_current_status_at_the_head_of_the_teacher_card(tmp_path):
    """The hand-kept status-<arch>.md changes as cross-validation runs land after training; --cv-report replaces the
    card's opening block quote with it and leaves the rest of the card alone."""
    from core.cli import main
    from core.workflows.cards.teacher import refresh_status

    teacher = tmp_path / "teacher"
    folder = teacher / "cv"
    folder.mkdir(parents=True)
    _fake_run(folder, "all", 0.4, 1500)
    (teacher / "teacher.json").write_text(json.dumps({"arch": "biencoder"}))
    card = teacher / "model_card.md"
    card.write_text("# Teacher: x\n\n> **Status: old.**\n> second old line\n\nThe teacher.\n\n## Model\n\nbody\n")
    (teacher / "status-biencoder.md").write_text("> **Status: new.**\n")
    (teacher / "status-cross-encoder.md").write_text("> not this kind of teacher\n")
    assert main(["train", "teacher", "--cv-report", "--out", str(folder)]) == 0
    text = card.read_text()
    assert text.startswith("# Teacher: x\n\n> **Status: new.**\n\nThe teacher.\n\n## Model\n\nbody\n")
    assert "Status: old" not in text and "second old line" not in text and "not this kind" not in text
    assert "## Cross-validation on esci_multilingual" in text

    card.write_text("# Teacher: x\n\nThe teacher.\n")  # a card written before there was a status
    assert refresh_status(teacher) and card.read_text() == "# Teacher: x\n\n> **Status: new.**\n\nThe teacher.\n"
    (teacher / "status-biencoder.md").unlink()
    assert not refresh_status(teacher)


def test_runs_over_other_folds_merge_into_the_run_of_all_of_them(tmp_path):
    """``relevance train teacher --cv-merge a,b --cv-name ab``: folds run apart (e.g. on two machines) make the
    run that ran them together; parts of other settings or sharing a fold are refused."""
    from core.cli import main
    from core.workflows.teacher_cv import merge_runs

    whole = _fake_run(tmp_path, "whole", 0.3, 1000, seed=4, folds=(0, 1), n_folds=2)
    _fake_run(tmp_path, "f1", 0.3, 1000, seed=4, folds=(1,), n_folds=2)
    _fake_run(tmp_path, "f0", 0.3, 1000, seed=4, folds=(0,), n_folds=2)
    assert main(["train", "teacher", "--cv-merge", "f1,f0", "--cv-name", "merged", "--out", str(tmp_path)]) == 0
    merged = json.loads((tmp_path / "merged.json").read_text())
    assert merged["name"] == "merged" and [f["fold"] for f in merged["folds"]] == [0, 1]
    assert merged["rows"] == json.loads(json.dumps(whole["rows"]))
    key = ["fold", "epoch", "query_id"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "merged.parquet").sort_values(key).reset_index(drop=True),
                                  pd.read_parquet(tmp_path / "whole.parquet").sort_values(key).reset_index(drop=True))
    with pytest.raises(InvalidInputError, match="share a fold"):
        merge_runs(tmp_path, "x", ["f0", "whole"])
    doc = json.loads((tmp_path / "f1.json").read_text())
    (tmp_path / "f1.json").write_text(json.dumps({**doc, "max_train_queries": 500}))
    with pytest.raises(InvalidInputError, match="differ in max_train_queries"):
        merge_runs(tmp_path, "x", ["f0", "f1"])
    assert not (tmp_path / "x.json").exists()
