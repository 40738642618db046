"""Campaigns: sampling strategies, task assignment (overlap, leases, skip, undo, gold), progress, consensus and
the training-label export. Small hand-made stores; the rater flow runs on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from conftest import count
from sqlalchemy import insert, select

from core.campaigns import (AssignmentError, CampaignError, CampaignSpec, LevelOutOfRangeError, NothingToUndoError,
                            RaterNotInCampaignError, TaskView, UnknownCampaignError, add_raters, create_campaign,
                            get_campaign, list_campaigns, next_task, progress, sampling, skip, submit_comparison,
                            submit_grade, undo_last)
from core.campaigns.consensus import (export_labels, labels_in_force, models_vs_humans, side_by_side_results,
                                      training_labels)
from core.cli import main
from core.errors import NoPredictionsError, SamplingError
from core.store.labels import current_labels
from core.store.session import session_scope
from db.models import Label, Prediction, Product, Query, Task, User

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
PRODUCTS = ["red running shoes", "blue running shoes", "red kitchen towels", "blue kitchen towels", "ceiling fan",
            "zapatillas rojas", "zapatillas azules", "toallas de cocina", "running socks", "towel rack", "desk lamp",
            "red lamp"]
QUERIES = [("red shoes", "en"), ("kitchen towels", "en"), ("lamp", "en"), ("zapatillas", "es"),
           ("toallas cocina", "es")]
RATERS = ("ann", "bob", "cat", "dan")


def seed(url: str) -> str:
    """12 products, 5 queries (3 en, 2 es); every query has 4 imported labels (source import:seed) and
    one trusted label (source gold); raters ann..dan and a viewer vic."""
    with session_scope(url) as s:
        s.execute(insert(Product), [dict(product_id=f"P{i + 1:02d}", title=t) for i, t in enumerate(PRODUCTS)])
        s.execute(insert(Query), [dict(query_id=f"q{i + 1}", text=t, language=lang, count=0)
                                  for i, (t, lang) in enumerate(QUERIES)])
        labels = [dict(query_pk=q, product_pk=(q * 3 + j) % 12 + 1, level=(q + j) % 5 + 1, source="import:seed")
                  for q in range(1, 6) for j in range(4)]
        labels += [dict(query_pk=q, product_pk=(q * 3 + 5) % 12 + 1, level=5, source="gold") for q in range(1, 6)]
        s.execute(insert(Label), labels)
        s.execute(insert(User), [dict(name=n, role="rater", password_hash="-", must_change_password=False,
                                      active=True) for n in RATERS]
                  + [dict(name="vic", role="viewer", password_hash="-", must_change_password=False, active=True)])
    return url


@pytest.fixture
def store(sqlite_url):
    return seed(sqlite_url)


@pytest.fixture
def both(store_url):
    return seed(store_url)


def spec(**kw) -> CampaignSpec:
    base = dict(name="c", n_tasks=6, raters=RATERS, candidates="store", overlap_k=1)
    return CampaignSpec(**{**base, **kw})


def tasks_of(url, name="c") -> pd.DataFrame:
    with session_scope(url) as s:
        rows = s.execute(select(Task.id, Task.query_pk, Task.product_pk, Task.required_ratings, Task.is_gold,
                                Task.position, Task.ratings_done, Task.payload)
                         .where(Task.campaign_id == get_campaign(name, url=url).id)).all()
    return pd.DataFrame(rows, columns=["id", "query_pk", "product_pk", "required", "is_gold", "position", "done",
                                       "payload"])


def rate_all(url, name, rater, level=3, now=T0) -> int:
    n = 0
    while (t := next_task(name, rater, url=url, now=now)) is not None:
        submit_grade(t.assignment_id, rater, level, seconds=1.0, url=url, now=now)
        n += 1
    return n


# ------------------------------------------------------------------------------------------ creating

def test_random_campaign_samples_distinct_store_pairs_with_overlap_share(store):
    info = create_campaign(spec(n_tasks=10, overlap_k=3, overlap_share=0.3), url=store)
    t = tasks_of(store)
    assert (info.n_tasks, info.n_gold, info.raters) == (10, 0, RATERS)
    assert not t.duplicated(["query_pk", "product_pk"]).any()
    assert sorted(t["required"]) == [1] * 7 + [3] * 3
    assert sorted(t["position"]) == list(range(10))
    assert [c.name for c in list_campaigns(url=store)] == ["c"]


def test_gold_pairs_are_separate_tasks_open_to_everyone(store):
    create_campaign(spec(n_tasks=8, gold_ratio=0.2, gold_sources=("gold",)), url=store)
    t = tasks_of(store).sort_values("id")
    assert t["is_gold"].tolist() != sorted(t["is_gold"])  # gold tasks' ids are mixed in, not last
    gold, regular = t[t["is_gold"]], t[~t["is_gold"]]
    assert len(gold) == math.ceil(8 * 0.2 / 0.8) == 2 and (gold["required"] == 0).all()
    assert not set(zip(gold["query_pk"], gold["product_pk"])) & set(zip(regular["query_pk"], regular["product_pk"]))


def test_language_stratified_takes_equal_shares_per_language(store):
    create_campaign(spec(n_tasks=6, strategy="language-stratified"), url=store)
    with session_scope(store) as s:
        lang = dict(s.execute(select(Query.id, Query.language)).tuples().all())
    assert tasks_of(store)["query_pk"].map(lang).value_counts().to_dict() == {"en": 3, "es": 3}


def test_stratified_sample_gives_a_short_group_share_to_the_others():
    df = pd.DataFrame({"language": ["a"] * 5 + ["b"] + ["c"] * 10, "x": range(16)})
    got = sampling.stratified_sample(df, 9, np.random.default_rng(0))
    assert got["language"].value_counts().to_dict() == {"a": 4, "b": 1, "c": 4}


def _predict(url, model, rows):
    with session_scope(url) as s:
        s.execute(insert(Prediction), [dict(model=model, query_pk=q, product_pk=p, p1=pr[0], p2=pr[1], p3=pr[2],
                                            p4=pr[3], p5=pr[4], expected=float(np.dot(pr, [1, 2, 3, 4, 5])),
                                            argmax=int(np.argmax(pr)) + 1) for q, p, pr in rows])


ONE = lambda lv: [1.0 if i == lv - 1 else 0.0 for i in range(5)]  # noqa: E731
UNIFORM = [0.2] * 5


@pytest.mark.parametrize("measure, expected", [("expected", {(1, 1), (1, 2)}), ("js", {(1, 1), (1, 3)})],
                         ids=["expected_gap", "jensen_shannon"])
def test_disagreement_picks_the_pairs_where_teacher_and_student_differ_most(store, measure, expected):
    # expected-level gap / JS in bits: (1,1) 4 / 1; (1,2) 1.6 / 0.15; (1,3) 1 / 1 (disjoint); (1,4) 0 / 0
    _predict(store, "teacher", [(1, 1, ONE(5)), (1, 2, [0.5, 0, 0, 0, 0.5]), (1, 3, ONE(3)), (1, 4, ONE(3))])
    _predict(store, "student", [(1, 1, ONE(1)), (1, 2, [0.9, 0, 0, 0, 0.1]), (1, 3, ONE(4)), (1, 4, ONE(3))])
    create_campaign(spec(n_tasks=2, strategy="disagreement", measure=measure), url=store)
    assert set(zip(tasks_of(store)["query_pk"], tasks_of(store)["product_pk"])) == expected


def test_uncertainty_picks_the_teachers_most_uncertain_pairs(store):
    _predict(store, "teacher", [(1, 1, ONE(5)), (1, 2, UNIFORM), (1, 3, [0.5, 0.5, 0, 0, 0]), (1, 4, ONE(1))])
    create_campaign(spec(n_tasks=2, strategy="uncertainty"), url=store)
    assert set(zip(tasks_of(store)["query_pk"], tasks_of(store)["product_pk"])) == {(1, 2), (1, 3)}


def test_entropy_and_js_divergence_in_bits():
    assert sampling.entropy_bits([UNIFORM, ONE(2)]).tolist() == pytest.approx([math.log2(5), 0.0])
    assert sampling.js_divergence([ONE(1), UNIFORM], [ONE(2), UNIFORM]).tolist() == pytest.approx([1.0, 0.0])


def test_strategies_needing_predictions_say_what_to_run(store):
    with pytest.raises(NoPredictionsError, match=r"no predictions of model 'teacher'.*run `relevance score teacher` "
                                                 r"first"):
        create_campaign(spec(strategy="disagreement"), url=store)
    assert count(store, "campaigns") == 0


def test_pool_is_the_union_of_each_models_top_k(store):
    from core.cache import get_catalog, get_scorer

    create_campaign(spec(n_tasks=100, strategy="pool", models=("bm25", "random"), pool_depth=2, rerank_depth=5),
                    url=store)
    bm25, rnd, catalog = get_scorer("bm25", store), get_scorer("random", store), get_catalog(store)
    t = tasks_of(store)
    with session_scope(store) as s:
        text = dict(s.execute(select(Query.id, Query.text)).tuples().all())
        pid = dict(s.execute(select(Product.id, Product.product_id)).tuples().all())
    assert set(t["query_pk"]) == set(text)
    for q, part in t.groupby("query_pk"):
        cands = [str(p) for p in catalog.ids[np.argsort(-bm25.score_all(text[q]), kind="stable")[:5]]]
        want = set()
        for scorer in (bm25, rnd):
            sc = scorer.score(text[q], cands)
            want |= {cands[i] for i in sorted(range(5), key=lambda i: (-sc[i], cands[i]))[:2]}
        assert set(part["product_pk"].map(pid)) == want


JA_PRODUCTS = [("J01", "ナイキ ランニングシューズ 赤", "ja"), ("J02", "ランニングシューズ 青 メンズ", "ja"),
               ("J03", "キッチンタオル 5枚", "ja"), ("E01", "nike running shoes", "en")]
JA_QUERIES = [("nike ランニングシューズ", "ja"), ("キッチンタオル", "ja")]


def seed_languages(url: str) -> str:
    """``seed`` plus products with a language (three ja, one en) and two ja queries (q6, q7) whose labels
    make a second data set, ``import:ja_set``."""
    seed(url)
    with session_scope(url) as s:
        s.execute(insert(Product), [dict(product_id=p, title=t, language=lang) for p, t, lang in JA_PRODUCTS])
        s.execute(insert(Query), [dict(query_id=f"q{6 + i}", text=t, language=lang, count=0)
                                  for i, (t, lang) in enumerate(JA_QUERIES)])
        s.execute(insert(Label), [dict(query_pk=6, product_pk=13, level=5, source="import:ja_set"),
                                  dict(query_pk=7, product_pk=15, level=5, source="import:ja_set")])
    return url


def _task_pairs(url, name="c") -> set[tuple[str, str, str | None]]:
    """(query language, product id, product language) of a campaign's tasks."""
    t = tasks_of(url, name)
    with session_scope(url) as s:
        qlang = dict(s.execute(select(Query.id, Query.language)).tuples().all())
        prod = {pk: (pid, lang) for pk, pid, lang in s.execute(select(Product.id, Product.product_id,
                                                                       Product.language)).tuples()}
    return {(qlang[q], *prod[p]) for q, p in zip(t["query_pk"], t["product_pk"])}


def test_japanese_queries_get_japanese_products(sqlite_url):
    from core.cache import get_catalog, get_scorer

    url = seed_languages(sqlite_url)
    bm25 = get_scorer("bm25", url).score_all("nike ランニングシューズ")
    assert bm25[get_catalog(url).positions(["E01"])[0]] > 0  # the English product would match by "nike"
    create_campaign(spec(n_tasks=20, languages=("ja",), candidates="bm25", bm25_k=20), url=url)
    pairs = _task_pairs(url)
    assert {lang for lang, _, _ in pairs} == {"ja"} and {plang for _, _, plang in pairs} == {"ja"}
    assert {"J01", "J02", "J03"} <= {pid for _, pid, _ in pairs}
    create_campaign(spec(name="store", n_tasks=20, languages=("ja",), candidates="store"), url=url)
    assert _task_pairs(url, "store") == {("ja", "J01", "ja"), ("ja", "J03", "ja")}


def test_a_language_without_products_of_its_own_draws_from_the_whole_catalog(sqlite_url):
    url = seed_languages(sqlite_url)  # es queries, no es product: the catalog's default-language ones serve
    create_campaign(spec(n_tasks=20, languages=("es",), candidates="bm25"), url=url)
    pairs = _task_pairs(url)
    assert {lang for lang, _, _ in pairs} == {"es"} and "P06" in {pid for _, pid, _ in pairs}  # zapatillas rojas


def test_language_mask_counts_products_without_a_language_as_the_default(monkeypatch):
    from core.catalog import Catalog

    cat = Catalog.from_frame(pd.DataFrame({"product_id": ["a", "b", "c"], "title": ["x", "y", "z"],
                                           "language": [None, "en", "JA"]}))
    assert sampling.language_mask(cat, "en").tolist() == [True, True, False]
    assert sampling.language_mask(cat, "ja").tolist() == [False, False, True]
    assert sampling.language_mask(cat, "es") is None
    monkeypatch.setenv("RELEVANCE_DEFAULT_LANGUAGE", "de")
    assert sampling.language_mask(cat, "de").tolist() == [True, False, False]


def test_a_campaign_can_sample_one_data_sets_queries(sqlite_url):
    url = seed_languages(sqlite_url)
    info = create_campaign(spec(n_tasks=50, dataset="ja_set"), url=url)
    assert info.config["dataset"] == "ja_set"
    assert set(tasks_of(url)["query_pk"]) == {6, 7}
    create_campaign(spec(name="seed", n_tasks=50, dataset="seed", languages=("es",)), url=url)
    assert set(tasks_of(url, "seed")["query_pk"]) == {4, 5}
    create_campaign(spec(name="raters", n_tasks=50, dataset="raters"), url=url)  # gold labels are the raters'
    assert set(tasks_of(url, "raters")["query_pk"]) == {1, 2, 3, 4, 5}
    with pytest.raises(SamplingError, match=r"no labels of data set 'nope'; data sets in the store: ja_set, seed, "
                                            r"raters"):
        create_campaign(spec(name="x", dataset="nope"), url=url)
    with pytest.raises(SamplingError, match=r"no stored queries in languages es of data set ja_set; pick other "
                                            r"languages or another data set"):
        create_campaign(spec(name="x", dataset="ja_set", languages=("es",)), url=url)
    assert [c.name for c in list_campaigns(url=url)] == ["c", "seed", "raters"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(kind="pairwise"), r"kind must be one of grade, side_by_side; got 'pairwise'"),
    (dict(strategy="clever"), r"strategy must be one of random, language-stratified"),
    (dict(n_tasks=0), r"n_tasks must be at least 1; got 0"),
    (dict(overlap_k=5), r"overlap_k=5 needs at least that many raters.*got '4 raters'"),
    (dict(overlap_share=1.5), r"overlap_share must be within \[0, 1\]"),
    (dict(gold_ratio=1.0), r"gold_ratio must be within \[0, 1\)"),
    (dict(kind="side_by_side", gold_ratio=0.1), r"gold items apply to grade campaigns only"),
    (dict(kind="side_by_side", strategy="uncertainty"), r"side-by-side campaigns sample queries"),
    (dict(strategy="disagreement", models=("teacher",)), r"give models=\(first, second\)"),
    (dict(measure="kl"), r"measure must be one of expected, js"),
], ids=["kind", "strategy", "n_tasks", "overlap_vs_raters", "overlap_share", "gold_ratio", "gold_sbs", "sbs_strategy",
        "one_model", "measure"])
def test_bad_settings_are_refused_with_what_was_expected(kwargs, match):
    with pytest.raises(CampaignError, match=match):
        spec(**kwargs)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(raters=("ann", "zed")), RaterNotInCampaignError, r"no user 'zed'; add one with `relevance users add zed"),
    (dict(raters=("vic",)), RaterNotInCampaignError, r"user 'vic' cannot rate \(role viewer, active\)"),
    (dict(gold_ratio=0.1, gold_sources=("import:trusted",)), SamplingError,
     r"no labels of sources import:trusted exist; import trusted judgments"),
    (dict(languages=("ja",)), SamplingError, r"no stored queries in languages ja"),
], ids=["unknown_user", "viewer", "no_gold", "no_queries"])
def test_campaigns_that_cannot_be_made_write_nothing(store, kwargs, error, match):
    with pytest.raises(error, match=match):
        create_campaign(spec(**kwargs), url=store)
    assert count(store, "campaigns") == 0 and count(store, "tasks") == 0


def test_a_campaign_name_is_taken_once(store):
    create_campaign(spec(), url=store)
    with pytest.raises(CampaignError, match="campaign 'c' exists already"):
        create_campaign(spec(), url=store)


# ------------------------------------------------------------------------------------------ rating

def test_rater_flow_lease_resume_submit_and_time_spent(both):
    create_campaign(spec(n_tasks=3), url=both)
    t = next_task("c", "ann", url=both, now=T0)
    assert isinstance(t, TaskView) and t.kind == "grade" and t.product["product_id"].startswith("P")
    assert next_task("c", "ann", url=both, now=T0 + timedelta(seconds=5)) == t  # resumes the same lease
    label_id = submit_grade(t.assignment_id, "ann", 4, url=both, now=T0 + timedelta(seconds=7))
    with session_scope(both) as s:
        label = s.get(Label, label_id)
        assert (label.level, label.rater, label.source, label.seconds_spent) == (4, "ann", "human", 7.0)
    with pytest.raises(AssignmentError, match=r"already submitted; use undo_last\(\) to change it"):
        submit_grade(t.assignment_id, "ann", 5, url=both)
    assert rate_all(both, "c", "ann") == 2 and next_task("c", "ann", url=both) is None


def test_tasks_needing_k_ratings_go_to_k_different_raters(both):
    create_campaign(spec(n_tasks=4, overlap_k=2, overlap_share=0.5), url=both)
    done = {r: rate_all(both, "c", r) for r in RATERS}
    assert done == {"ann": 4, "bob": 2, "cat": 0, "dan": 0}  # 2 tasks × 1 + 2 tasks × 2 = 6 ratings
    t = tasks_of(both)
    assert (t["done"] == t["required"]).all()
    with session_scope(both) as s:
        per_task = pd.DataFrame(s.execute(select(Label.task_id, Label.rater)).all()).groupby("task_id")["rater"]
        assert (per_task.nunique() == per_task.size()).all()


def test_an_abandoned_lease_returns_to_the_pool_after_it_expires(both):
    create_campaign(spec(n_tasks=1, lease_seconds=60), url=both)
    ann = next_task("c", "ann", url=both, now=T0)
    assert next_task("c", "bob", url=both, now=T0 + timedelta(seconds=59)) is None
    bob = next_task("c", "bob", url=both, now=T0 + timedelta(seconds=61))
    assert bob.task_id == ann.task_id
    with pytest.raises(AssignmentError, match=r"lease on task \d+ expired.*went to other raters; call next_task"):
        submit_grade(ann.assignment_id, "ann", 3, url=both, now=T0 + timedelta(seconds=70))
    submit_grade(bob.assignment_id, "bob", 3, url=both, now=T0 + timedelta(seconds=70))
    assert progress("c", url=both).ratings_done == 1


def test_a_late_answer_is_taken_while_the_task_still_has_room(store):
    create_campaign(spec(n_tasks=1, lease_seconds=60), url=store)
    t = next_task("c", "ann", url=store, now=T0)
    submit_grade(t.assignment_id, "ann", 2, url=store, now=T0 + timedelta(hours=1))
    assert progress("c", url=store).ratings_done == 1


def test_a_skipped_task_goes_to_others_never_back_to_the_skipper(store):
    create_campaign(spec(n_tasks=2), url=store)
    first = next_task("c", "ann", url=store, now=T0)
    skip(first.assignment_id, "ann", reason="image broken", url=store, now=T0)
    second = next_task("c", "ann", url=store, now=T0)
    assert second.task_id != first.task_id
    submit_grade(second.assignment_id, "ann", 3, url=store, now=T0)
    assert next_task("c", "ann", url=store, now=T0) is None
    assert next_task("c", "bob", url=store, now=T0).task_id == first.task_id


def test_undo_appends_a_retraction_and_gives_the_task_back(both):
    create_campaign(spec(n_tasks=2), url=both)
    a = next_task("c", "ann", url=both, now=T0)
    submit_grade(a.assignment_id, "ann", 5, url=both, now=T0)
    b = next_task("c", "ann", url=both, now=T0 + timedelta(seconds=1))
    submit_grade(b.assignment_id, "ann", 1, url=both, now=T0 + timedelta(seconds=2))
    again = undo_last("ann", "c", url=both, now=T0 + timedelta(seconds=3))
    assert again.task_id == b.task_id and next_task("c", "ann", url=both, now=T0 + timedelta(seconds=4)) == again
    assert undo_last("ann", "c", url=both, now=T0 + timedelta(seconds=5)).task_id == a.task_id
    assert count(both, "labels") == 25 + 4  # 2 grades + 2 retractions appended, nothing deleted
    with session_scope(both) as s:
        assert current_labels(s, "human").empty
        retractions = s.execute(select(Label.level, Label.supersedes_id).where(Label.supersedes_id.is_not(None))).all()
    assert [lv for lv, _ in retractions] == [None, None]
    assert progress("c", url=both).ratings_done == 0
    t = next_task("c", "ann", url=both, now=T0 + timedelta(seconds=6))
    assert t.task_id == a.task_id  # the task undone last comes first
    submit_grade(t.assignment_id, "ann", 4, url=both, now=T0 + timedelta(seconds=7))
    with session_scope(both) as s:
        assert current_labels(s, "human")["level"].tolist() == [4]


def test_undo_of_a_skip_reopens_it_and_nothing_left_is_an_error(store):
    create_campaign(spec(n_tasks=1), url=store)
    with pytest.raises(NothingToUndoError, match="rater 'ann' has nothing to undo in campaign 'c'"):
        undo_last("ann", "c", url=store)
    t = next_task("c", "ann", url=store, now=T0)
    skip(t.assignment_id, "ann", url=store, now=T0)
    assert undo_last("ann", "c", url=store, now=T0).task_id == t.task_id


@pytest.mark.parametrize("level", [0, 6, 3.5, "3", True, None], ids=["zero", "six", "float", "text", "bool", "none"])
def test_levels_outside_1_to_5_are_refused(store, level):
    create_campaign(spec(n_tasks=1), url=store)
    t = next_task("c", "ann", url=store)
    with pytest.raises(LevelOutOfRangeError, match=r"level must be an integer from 1 \(Highly irrelevant\) to 5 "
                                                   rf"\(Highly relevant\); got {level!r}"):
        submit_grade(t.assignment_id, "ann", level, url=store)
    assert count(store, "labels") == 25


@pytest.mark.parametrize("call, error, match", [
    (lambda u, a: next_task("nope", "ann", url=u), UnknownCampaignError,
     r"no campaign 'nope'; existing: c \(create one with `relevance campaign create NAME`\)"),
    (lambda u, a: next_task("c", "zed", url=u), RaterNotInCampaignError,
     r"rater 'zed' is not in campaign 'c' \(its raters: ann, bob\); add them with `relevance campaign add-raters"),
    (lambda u, a: submit_grade(a, "bob", 3, url=u), AssignmentError, r"belongs to another rater, not 'bob'"),
    (lambda u, a: submit_comparison(a, "ann", "A", url=u), AssignmentError,
     r"is a grade task; answer it with submit_grade\(\)"),
    (lambda u, a: submit_grade(999, "ann", 3, url=u), AssignmentError, r"no assignment 999; call next_task\(\)"),
    (lambda u, a: undo_last("ann", "nope", url=u), UnknownCampaignError, r"no campaign 'nope'"),
], ids=["unknown_campaign", "rater_not_in_campaign", "other_raters_task", "wrong_kind", "no_assignment",
        "undo_unknown_campaign"])
def test_rater_api_errors_say_what_to_do(store, call, error, match):
    create_campaign(spec(n_tasks=2, raters=("ann", "bob")), url=store)
    a = next_task("c", "ann", url=store).assignment_id
    with pytest.raises(error, match=match):
        call(store, a)


def test_gold_is_mixed_in_unseen_by_the_rater_and_kept_out_of_progress(store):
    create_campaign(spec(n_tasks=6, gold_ratio=0.4, n_gold=5, gold_sources=("gold",)), url=store)
    assert {f.name for f in dataclasses.fields(TaskView)}.isdisjoint({"is_gold", "gold_level", "payload"})
    rated = rate_all(store, "c", "ann")
    p = progress("c", url=store)
    ann = p.raters[0]
    assert rated == 6 + ann.gold_done
    assert (p.tasks, p.ratings_required, p.ratings_done, p.fraction) == (6, 6, 6, 1.0)
    assert ann.done == 6 + ann.gold_done and 1 <= ann.gold_done <= 5 and p.gold_ratings == ann.gold_done
    assert rate_all(store, "c", "bob") == 0  # gold alone is never served


def test_progress_counts_per_rater(store):
    create_campaign(spec(n_tasks=3, overlap_k=2), url=store)
    a = next_task("c", "ann", url=store, now=T0)
    submit_grade(a.assignment_id, "ann", 3, seconds=4.0, url=store, now=T0)
    b = next_task("c", "ann", url=store, now=T0)
    submit_grade(b.assignment_id, "ann", 3, seconds=8.0, url=store, now=T0)
    skip(next_task("c", "bob", url=store, now=T0).assignment_id, "bob", url=store, now=T0)
    next_task("c", "cat", url=store, now=T0)
    p = progress("c", url=store, now=T0)
    assert (p.tasks, p.tasks_complete, p.ratings_required, p.ratings_done) == (3, 0, 6, 2)
    got = {r.rater: (r.done, r.skipped, r.leased, r.median_seconds) for r in p.raters}
    assert got == {"ann": (2, 0, 0, 6.0), "bob": (0, 1, 0, None), "cat": (0, 0, 1, None), "dan": (0, 0, 0, None)}
    assert add_raters("c", ["ann"], url=store) == RATERS


# ------------------------------------------------------------------------------------------ side by side

def test_side_by_side_lists_sides_and_win_rates(store):
    from core.cache import get_scorer

    create_campaign(spec(kind="side_by_side", n_tasks=5, models=("bm25", "random"), sbs_k=3, rerank_depth=6,
                         raters=("ann",)), url=store)
    t = tasks_of(store)
    assert {p["model_a"] for p in t["payload"]} == {"bm25", "random"}  # sides drawn per task
    answers = []
    while (v := next_task("c", "ann", url=store)) is not None:
        payload = t.set_index("id").loc[v.task_id, "payload"]
        assert [p["product_id"] for p in v.list_a] == payload["list_a"] and len(v.list_b) == 3
        scorer = get_scorer(payload["model_a"], store)
        sc = scorer.score(v.query, payload["list_a"])
        assert list(sc) == sorted(sc, reverse=True)
        answer = "A" if payload["model_a"] == "bm25" else "B"  # always prefer bm25 ...
        answer = "tie" if len(answers) == 0 else answer  # ... except one tie
        submit_comparison(v.assignment_id, "ann", answer.lower(), reason="more relevant", url=store)
        answers.append(answer)
    undo_last("ann", "c", url=store)  # the last answer is taken back, a retracted copy appended
    assert count(store, "comparisons") == 6
    res = side_by_side_results("c", url=store).set_index("language")
    assert res.loc["all", ["n", "wins", "losses", "ties"]].tolist() == [4, 3, 0, 1]
    assert res.loc["all", "win_rate"] == 1.0 and res.loc["all", "win_rate_ties_half"] == pytest.approx(3.5 / 4)
    assert res.loc["all", "ci_low"] == pytest.approx(0.4385, abs=1e-4)  # Wilson, 3 of 3
    assert main(["--db", store, "campaign", "results", "c"]) == 0


# ------------------------------------------------------------------------------------------ consensus

def _rate_pairs(url, ratings: dict[str, list[int]], **kw):
    """ratings: rater -> levels, given in task position order."""
    create_campaign(spec(n_tasks=len(next(iter(ratings.values()))), overlap_k=len(ratings), **kw), url=url)
    for rater, levels in ratings.items():
        for level in levels:
            t = next_task("c", rater, url=url)
            submit_grade(t.assignment_id, rater, level, url=url)


def test_training_labels_take_gold_then_consensus_then_imports(store):
    _rate_pairs(store, {"ann": [4, 3], "bob": [5, 4], "cat": [4, 5]}, seed=4)  # seed 4: one of the 2 pairs is gold
    human = labels_in_force(store, include_imports=False)
    assert human[["level", "n_raters"]].values.tolist() == [[4, 3], [4, 3]]
    assert sorted(human["agreement"].round(3)) == [0.333, 0.667]
    tl = training_labels(store)
    assert list(tl.columns) == ["query_id", "query", "language", "product_id", "level", "n_raters", "source",
                                "agreement"]
    assert not tl.duplicated(["query_id", "product_id"]).any() and tl["level"].dtype == "int64"
    with session_scope(store) as s:
        labels = current_labels(s)
    gold = set(zip(*[labels.loc[labels["source"] == "gold", c] for c in ("query_pk", "product_pk")]))
    rated = set(zip(human["query_pk"], human["product_pk"]))
    assert len(rated & gold) == 1
    assert tl["source"].value_counts().to_dict() == {"import:seed": 19, "gold": 5, "human": 1}
    assert training_labels(store, include_imports=False)["source"].tolist() == ["human", "human"]


@pytest.mark.parametrize("method, expected", [("median", 1), ("weighted", 5)], ids=["median", "weighted"])
def test_consensus_median_or_reliability_weighted(store, method, expected):
    # Pairs 1-5: levels (ann 3, bob 3, cat 4, dan 2): ann and bob match the others' lower median (3), cat
    # and dan do not. Pair 6: ann 5, bob 5, cat 1, dan 1: nobody matches. Weights (leave-one-out agreement):
    # ann, bob 5/6; cat, dan 0 (-> 0.05). Pair 6's lower median is 1; its weighted lower median is 5.
    _rate_pairs(store, {"ann": [3, 3, 3, 3, 3, 5], "bob": [3, 3, 3, 3, 3, 5], "cat": [4, 4, 4, 4, 4, 1],
                        "dan": [2, 2, 2, 2, 2, 1]})
    got = labels_in_force(store, include_imports=False, method=method, exclude_flagged=False)
    assert got["level"].value_counts().to_dict() == {3: 5, expected: 1}


def test_flagged_raters_do_not_vote(store):
    from core.metrics.agreement import Thresholds

    _rate_pairs(store, {"ann": [2, 2, 2], "bob": [2, 2, 2], "cat": [5, 5, 5]})
    strict = Thresholds(min_consensus_agreement=0.5, min_items=3)
    assert set(labels_in_force(store, include_imports=False, exclude_flagged=False)["level"]) == {2}
    kept = labels_in_force(store, include_imports=False, thresholds=strict)
    assert set(kept["level"]) == {2} and set(kept["n_raters"]) == {2}


@pytest.mark.parametrize("suffix", [".parquet", ".csv"], ids=["parquet", "csv"])
def test_export_labels_writes_training_data(store, tmp_path, suffix):
    _rate_pairs(store, {"ann": [4], "bob": [4]})
    out = tmp_path / f"labels{suffix}"
    assert main(["--db", store, "export-labels", "--out", str(out)]) == 0
    df = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert list(df.columns) == ["query_id", "query", "language", "product_id", "level", "n_raters", "agreement",
                                "source"]
    assert len(df) == 25 and df["level"].between(1, 5).all()  # the rated pair is one of the 25 labelled
    with pytest.raises(ValueError, match=r"--out must end in .parquet or .csv; got 'labels.json'"):
        export_labels(tmp_path / "labels.json", store)


def test_models_against_the_raters_consensus(store):
    _rate_pairs(store, {"ann": [5, 4, 1], "bob": [5, 4, 1]})
    truth = labels_in_force(store, include_imports=False).sort_values("level")
    # teacher: right on level 1 and 5, predicts 2 for the 4 (within one fails: |2-4| = 2)
    _predict(store, "teacher", [(q, p, ONE(lv)) for q, p, lv in
                                zip(truth["query_pk"], truth["product_pk"], [1, 2, 5])])
    rows = models_vs_humans(store, ["teacher"], ks=[10], gains=["linear"])
    overall = rows[rows["language"] == "all"].iloc[0]
    assert overall["accuracy"] == pytest.approx(2 / 3) and overall["within_one"] == pytest.approx(2 / 3)
    assert overall["n_pairs"] == 3 and 0 <= overall["ndcg"] <= 1
    with pytest.raises(NoPredictionsError, match=r"model 'student' has no stored prediction.*relevance score student"):
        models_vs_humans(store, ["student"])


# ------------------------------------------------------------------------------------------ CLI

def test_cli_create_list_progress_and_agreement(store, tmp_path, capsys):
    assert main(["--db", store, "campaign", "create", "cli", "--tasks", "4", "--raters", "ann,bob",
                 "--overlap-k", "2", "--candidates", "store"]) == 0
    assert "created grade campaign 'cli': 4 tasks (random), 0 gold, raters: ann, bob" in capsys.readouterr().out
    for r in ("ann", "bob"):
        rate_all(store, "cli", r, level=4 if r == "ann" else 5)
    assert main(["--db", store, "campaign", "list"]) == 0
    assert "8/8" in capsys.readouterr().out
    assert main(["--db", store, "campaign", "progress", "cli"]) == 0
    assert "8/8 ratings (100%), 4/4 tasks complete" in capsys.readouterr().out
    out = tmp_path / "a.json"
    assert main(["--db", store, "agreement", "--campaign", "cli", "--min-shared", "2", "--json", str(out)]) == 0
    assert "exact agreement                      0.000" in capsys.readouterr().out
    assert main(["--db", store, "campaign", "progress", "nope"]) == 2
    assert "error: no campaign 'nope'" in capsys.readouterr().err
