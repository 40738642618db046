"""Distillation: the unlabeled pool and its exclusions, resumable teacher labelling, and small end-to-end
runs where the student learns to agree with its teacher."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.models.embeddings import EmbeddingStore
from core.models.features import FeatureBuilder
from core.models.student import Student, StudentConfig
from core.text.queries import query_id_for
from core.workflows.distill import DistillConfig, build_training_data, candidate_pool, teacher_label, train_kind
from core.workflows.scoring import PROB_COLS
from student_helpers import HashEncoder, RuleTeacher, small_catalog


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    enc = HashEncoder()
    return FeatureBuilder(small_catalog(300), encoder=enc, store=EmbeddingStore(enc, tmp_path_factory.mktemp("emb")),
                          default_language="en")


def _queries(features, n=40, start=0) -> pd.DataFrame:
    cat = features.catalog
    texts = list(dict.fromkeys(" ".join(str(t).split()[:3]) for t in cat.products["title"].iloc[start:start + n]))
    return pd.DataFrame({"query_id": [query_id_for(t) for t in texts], "query": texts})


def test_pool_leaves_out_dev_queries_and_human_pairs(features):
    qs = _queries(features, 10)
    dev = {qs["query_id"].iat[0]}
    human_pair = (qs["query_id"].iat[1], features.catalog.ids[1])
    pool = candidate_pool(qs, features, k_bm25=8, k_embed=5, exclude_pairs={human_pair}, exclude_queries=dev)
    assert not pool["query_id"].isin(dev).any()
    assert human_pair not in set(zip(pool["query_id"], pool["product_id"]))
    assert not pool.duplicated(["query_id", "product_id"]).any()
    assert set(pool["source"]) <= {"bm25", "embed", "both"} and "embed" in set(pool["source"])
    per_query = pool.groupby("query_id").size()
    assert (per_query <= 13).all() and (per_query >= 5).all()
    again = candidate_pool(qs, features, k_bm25=8, k_embed=5, exclude_pairs={human_pair}, exclude_queries=dev)
    pd.testing.assert_frame_equal(pool, again)  # seeded shuffle: the same pool, in the same order


def test_budget_caps_by_pairs_and_amplification():
    assert DistillConfig(max_pairs=100).budget(pool=500, human_train=40) == 100
    assert DistillConfig(max_pairs=None).budget(pool=500, human_train=40) == 500
    assert DistillConfig(max_pairs=None, amplify=10).budget(pool=500, human_train=40) == 400
    assert DistillConfig(max_pairs=300, amplify=10).budget(pool=500, human_train=40) == 300


def test_teacher_labelling_resumes_and_never_scores_a_pair_twice(features, tmp_path):
    pool = candidate_pool(_queries(features, 12), features, k_bm25=6, k_embed=4, exclude_pairs=set(),
                          exclude_queries=set())
    teacher = RuleTeacher()
    first, scored = teacher_label(pool.iloc[:40], teacher, features.catalog, tmp_path, fingerprint="t1")
    assert teacher.scored == 40 and scored["pairs_scored_now"] == 40 and len(first) == 40
    assert np.allclose(first[PROB_COLS].sum(1), 1, atol=1e-5)
    labels, scored = teacher_label(pool, teacher, features.catalog, tmp_path, fingerprint="t1", precision="int8")
    assert teacher.scored == len(pool), "only the pairs not labelled yet"
    assert len(labels) == len(pool) and len(pd.read_parquet(tmp_path / "teacher_labels.parquet")) == len(pool)
    teacher_label(pool, teacher, features.catalog, tmp_path, fingerprint="t1")
    assert teacher.scored == len(pool), "a rerun scores nothing"
    meta = json.loads((tmp_path / "teacher_labels.json").read_text())
    assert meta["teacher"] == "t1" and meta["pairs"] == len(pool) and len(meta["runs"]) == 2
    assert [r["precision"] for r in meta["runs"]] == ["fp32", "int8"], "each run says how the teacher ran"
    teacher_label(pool, teacher, features.catalog, tmp_path, fingerprint="t2")
    assert teacher.scored == 2 * len(pool), "another teacher's labels are not reused"
    assert not (tmp_path / "new_labels.parquet.parts").exists()


def _agreement(features, teacher, student, queries) -> float:
    """Pearson correlation of teacher and student expected levels on the queries' candidate pairs."""
    pool = candidate_pool(queries, features, k_bm25=15, k_embed=10, exclude_pairs=set(), exclude_queries=set())
    rows = features.catalog.rows(pool["product_id"].tolist()).to_dict("records")
    t = teacher.predict_pairs(pool["query"].tolist(), rows) @ np.arange(1, 6)
    s = np.concatenate([student.score(q, g["product_id"].tolist()) for q, g in pool.groupby("query", sort=False)])
    t = np.concatenate([t[g.index] for _, g in pool.groupby("query", sort=False)])
    return float(np.corrcoef(t, s)[0, 1])


def test_distilled_student_agrees_with_its_teacher(features, tmp_path):
    queries = _queries(features, 60)
    dev = set(queries["query_id"].iloc[::4])
    pool = candidate_pool(queries, features, k_bm25=15, k_embed=10, exclude_pairs=set(), exclude_queries=dev)
    teacher = RuleTeacher()
    labels, _ = teacher_label(pool, teacher, features.catalog, tmp_path, fingerprint="rule")
    human = pd.DataFrame({"query_id": queries["query_id"], "query": queries["query"],
                          "product_id": features.catalog.ids[:len(queries)], "level": 5})
    data = build_training_data(labels, human, features, dev)
    assert not data.teacher["query_id"].isin(dev).any() and not data.human["query_id"].isin(dev).any()
    cfg = StudentConfig(epochs=15, hidden=(32, 16), lr=3e-3, batch_size=64, dropout=0.0)
    student = Student.from_weights(train_kind("student", data, cfg), features)
    held_out = queries[queries["query_id"].isin(dev)]
    agree = _agreement(features, teacher, student, held_out)
    rng = np.random.default_rng(0)
    shuffled = data.teacher.assign(**{c: data.teacher[c].to_numpy()[rng.permutation(len(data.teacher))]
                                      for c in PROB_COLS})
    chance = Student.from_weights(train_kind("student", type(data)(data.X_teacher, shuffled, data.X_human,
                                                                   data.human), cfg), features)
    assert agree > 0.8, agree
    assert abs(_agreement(features, teacher, chance, held_out)) < 0.4
    mixed = Student.from_weights(train_kind("student-mixed", data, cfg), features)
    assert _agreement(features, teacher, mixed, held_out) > 0.6


@pytest.mark.slow
def test_distillation_from_a_tiny_trained_teacher(tmp_path, catalog_url, monkeypatch, tiny_encoder):
    """The real pipeline end to end (``core.workflows.distill.run``) on a tiny BERT teacher trained in the test."""
    from core.cache import get_catalog
    from core.workflows.distill import run
    from core.ingest import import_queries
    from core.models.teacher import Teacher, TeacherConfig, train_teacher

    monkeypatch.setenv("RELEVANCE_DB_URL", catalog_url)
    monkeypatch.setenv("RELEVANCE_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    catalog = get_catalog()
    ids = list(catalog.ids)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(24):
        q = " ".join(str(catalog.products.at[ids[i * 7], "title"]).split()[:4])
        rows.append((query_id_for(q), q, "en", ids[i * 7], 5))
        rows += [(query_id_for(q), q, "en", p, 1) for p in rng.choice(ids[1000:], 5, replace=False)]
    human = pd.DataFrame(rows, columns=["query_id", "query", "language", "product_id", "level"])
    tcfg = TeacherConfig(backbone=tiny_encoder, epochs=8, batch_size=8, lr=3e-3, max_length=48,
                         dev_fraction=0.25, patience=20, label_smoothing=0.0, lora_r=8)
    teacher_dir = train_teacher(human, catalog, tmp_path / "artifacts" / "teacher", tcfg, progress=False).out
    pd.DataFrame({"query": human["query"].unique()}).to_csv(tmp_path / "log.csv", index=False)
    import_queries(tmp_path / "log.csv", name="log")
    summary = run(url=None, human=human, teacher_dir=teacher_dir, out=tmp_path / "artifacts" / "distill",
                  artifacts=tmp_path / "artifacts", cfg=DistillConfig(k_bm25=20, k_embed=10, max_pairs=600,
                                                                     curve=(1.0, 2.0)),
                  student_cfg=StudentConfig(epochs=30, hidden=(32, 16), lr=3e-3))
    assert summary["teacher_pairs"] > 0 and summary["curve"]
    for kind in ("student", "student-human", "student-mixed"):
        assert (tmp_path / "artifacts" / kind / "model_card.md").exists()
    teacher = Teacher(teacher_dir, catalog)
    student = Student(tmp_path / "artifacts" / "student", catalog)
    dev = set(json.loads((teacher_dir / "teacher.json").read_text())["dev_query_ids"])
    for kind in ("student", "student-human", "student-mixed"):  # what each student saw, for the dashboard
        meta = json.loads((tmp_path / "artifacts" / kind / "student.json").read_text())
        assert set(meta["dev_query_ids"]) == dev and meta["train_query_ids"] and not dev & set(meta["train_query_ids"])
    fresh = list(dict.fromkeys(" ".join(str(t).split()[:4]) for t in catalog.products["title"].iloc[2000:2600:20]))
    held = pd.DataFrame({"query_id": [query_id_for(q) for q in fresh], "query": fresh})  # seen by no one
    agree = _agreement(student.features, teacher, student, held)
    data = build_training_data(pd.read_parquet(tmp_path / "artifacts" / "distill" / "teacher_labels.parquet"), human,
                               student.features, dev)
    rng = np.random.default_rng(0)
    shuffled = data.teacher.assign(**{c: data.teacher[c].to_numpy()[rng.permutation(len(data.teacher))]
                                      for c in PROB_COLS})
    chance = Student.from_weights(train_kind("student", type(data)(data.X_teacher, shuffled, data.X_human,
                                                                   data.human), StudentConfig(epochs=30)),
                                  student.features)
    by_chance = _agreement(student.features, teacher, chance, held)
    assert agree > by_chance + 0.15 and agree > 0.2, (agree, by_chance)


def test_the_whole_pipeline_writes_students_cards_and_curve(tmp_path, hash_student_env, monkeypatch):
    """``core.workflows.distill.run`` on the demo catalog with the rule teacher and the hash encoder (fast)."""
    from core.models import embeddings
    from core.workflows.distill import run
    from core.models.features import FeatureConfig
    from core.ingest import import_queries

    catalog = hash_student_env
    ids = list(catalog.ids)
    texts = list(dict.fromkeys(" ".join(str(catalog.products.at[ids[i * 11], "title"]).split()[:3])
                               for i in range(40)))
    pd.DataFrame({"query": texts}).to_csv(tmp_path / "log.csv", index=False)
    import_queries(tmp_path / "log.csv", name="log")
    rng = np.random.default_rng(0)
    teacher = RuleTeacher()
    rows = []
    for i, q in enumerate(texts):
        cands = [ids[i * 11]] + list(rng.choice(ids, 5, replace=False))
        probs = teacher.predict_pairs([q] * len(cands), catalog.rows(cands).to_dict("records"))
        rows += [(query_id_for(q), q, "en", p, int(pr.argmax()) + 1) for p, pr in zip(cands, probs)]
    for i in range(40):  # pointwise queries: one judged product each, as in esci_multilingual
        own = ids[3000 + i * 7]
        q = " ".join(str(catalog.products.at[own, "title"]).split()[:2]) + f" p{i}"
        rows.append((query_id_for(q), q, "es" if i % 2 else "en", own if i % 3 else ids[i], 5 if i % 3 else 1))
    human = pd.DataFrame(rows, columns=["query_id", "query", "language", "product_id", "level"])
    teacher_dir = tmp_path / "artifacts" / "teacher"
    teacher_dir.mkdir(parents=True)
    dev = sorted(set(human["query_id"]))[::5]
    (teacher_dir / "teacher.json").write_text(json.dumps({"dev_query_ids": dev}))
    summary = run(url=None, human=human, teacher_dir=teacher_dir, out=tmp_path / "artifacts" / "distill",
                  artifacts=tmp_path / "artifacts", cfg=DistillConfig(k_bm25=10, k_embed=5, max_pairs=400,
                                                                     curve=(1.0,)),
                  student_cfg=StudentConfig(epochs=10, hidden=(16,)), fcfg=FeatureConfig(encoder="hash"),
                  teacher=_ScoringRule(teacher, catalog))
    embeddings.get_encoder.cache_clear()
    assert summary["teacher_pairs"] == 400 and summary["human_pairs"] == (~human["query_id"].isin(dev)).sum()
    assert len(set(dev) & set(human.loc[human["query_id"].duplicated(keep=False), "query_id"])) >= 2
    assert [p["teacher_pairs"] for p in summary["curve"]][-1] == 400
    art = tmp_path / "artifacts"
    for kind in ("student", "student-human", "student-mixed"):
        files = {p.name for p in (art / kind).iterdir()}
        assert {"student.npz", "student.json", "model_card.md", "metrics.json"} <= files
    card = (art / "student" / "model_card.md").read_text()
    assert "## Dev results (teacher's dev queries, esci gains)" in card and "| student-human |" in card
    # the dev split holds both kinds of query: nDCG over the listwise ones, accuracy and AUC over the pointwise ones
    assert "## Dev results, pointwise queries" in card and "| student | es |" in card
    assert "listwise dev queries the distilled student reaches nDCG@20" in card and "pointwise dev pairs" in card
    assert all(p["ndcg"] is not None and p["auc"] is not None for p in summary["curve"])
    assert (art / "distill" / "amplification.svg").read_text().startswith("<svg")
    assert len(pd.read_parquet(art / "distill" / "teacher_labels.parquet")) == 400
    dev_file = pd.read_csv(art / "distill" / "dev_judgments.csv")
    assert set(dev_file["query_id"]) <= set(dev)
    parts = {m: pd.read_csv(art / "distill" / f"dev_judgments_{m}.csv") for m in ("listwise", "pointwise")}
    assert sum(map(len, parts.values())) == len(dev_file)
    assert parts["pointwise"].groupby("query_id").size().max() < 3 <= parts["listwise"].groupby("query_id").size().min()
    labels = pd.read_parquet(art / "distill" / "teacher_labels.parquet")
    assert not labels["query_id"].isin(dev).any()


class _ScoringRule(RuleTeacher):
    """The rule teacher with a catalog, so evaluate can call predict_proba."""

    def __init__(self, rule, catalog):
        super().__init__(catalog)


def test_curve_svg_is_well_formed():
    import xml.etree.ElementTree as ET

    from core.workflows.cards.student import curve_svg

    pts = [{"teacher_pairs": n, "amplification": n / 100, "ndcg": v} for n, v in ((50, 0.6), (100, 0.65), (400, 0.7))]
    root = ET.fromstring(curve_svg(pts, {"teacher": 0.72, "bm25": 0.66, "student-human": float("nan")}))
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}circle")) == 3 and len(root.findall(f"{ns}polyline")) == 1
    assert sum("stroke-dasharray" in e.attrib for e in root.findall(f"{ns}line")) == 2  # NaN reference left out


def test_pool_queries_keep_a_stored_query_once_when_the_log_repeats_its_text(sqlite_url, tmp_path):
    """A store from before 64-bit ids holds "Red Shoes" under its 40-bit id; the log's "red  shoes" is that query."""
    from core.ingest import import_judgments, import_products
    from core.text.queries import legacy_query_id_for
    from core.workflows.distill import pool_queries

    (tmp_path / "p.jsonl").write_text('{"product_id": "P1", "title": "red shoes"}\n')
    import_products(tmp_path / "p.jsonl", url=sqlite_url)
    old = legacy_query_id_for("Red Shoes")
    (tmp_path / "j.csv").write_text(f"query_id,query,product_id,level\n{old},Red Shoes,P1,5\n")
    import_judgments(tmp_path / "j.csv", url=sqlite_url)
    (tmp_path / "log.csv").write_text("query,count\nred  shoes,3\nblue socks,1\n")
    pool = pool_queries(sqlite_url, tmp_path / "log.csv")
    assert sorted(pool["query_id"]) == sorted([old, query_id_for("blue socks")])


def test_the_student_card_reads_a_missing_auc_as_a_dash():
    """A language without exact or irrelevant dev pairs has no AUC: the summary and the curve go on without it."""
    from core.workflows.cards.student import curve_svg, verdict

    rows = [{"model": m, "language": lang, "n_pairs": 10, "auc": None if lang == "es" else 0.8, "p_holm_auc": None}
            for m in ("student", "teacher", "student-human", "bm25") for lang in ("all", "es")]
    curve = [{"teacher_pairs": 10, "amplification": 1.0, "auc": None},
             {"teacher_pairs": 20, "amplification": 2.0, "auc": 0.7}]
    text = verdict({"rows": [], "pointwise_rows": rows}, {"curve": curve})
    assert "(per language: es — vs —)" in text and "goes from 0.700 (20 teacher-labelled pairs)" in text
    assert curve_svg(curve, {"teacher": float("nan")}, key="auc").startswith("<svg")
