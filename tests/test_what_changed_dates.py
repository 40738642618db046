"""What changed between two label dates (issue 14, item 4): the labels in force as of a time T (labels, flags,
researchers' decisions and imports made at or before T; a label superseded after T still in force at T), a
model's per-language nDCG against the labels of two dates with the delta's CI and the Holm-corrected paired test,
and the models against the raters' consensus on the dashboard's terms. Store tests on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import app_store
import pandas as pd
import pytest
import test_app
from sqlalchemy import insert, select, update
from test_app import app, ok, texts
from test_campaigns import ONE, T0, _predict, seed, spec

from core.campaigns import create_campaign, next_task, submit_grade
from core.campaigns.adjudication import decide
from core.campaigns.consensus import labels_in_force, store_ratings
from core.campaigns.flags import flag_task, resolve_flag
from core.campaigns.my_labels import change_label
from core.errors import InvalidInputError
from core.ingest import import_judgments
from core.store.datasets import first_rater_label_at
from core.store.session import session_scope
from core.workflows import analytics, figures
from db.models import Label, Prediction, Product, Query, User

store, _app_template = test_app.store, test_app._app_template  # the app tests' store fixture and its template
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
T1 = T0 + DAY
KEYS = ["query_pk", "product_pk"]


# ------------------------------------------------------------------------------------------ labels as of T

@pytest.fixture
def dated(store_url):
    """``seed``'s imported and gold labels stored a day before T0; rater ann grades three tasks, the first two at
    T0 (levels 2 and 4) and the third at T1 (level 3), and changes the first to 5 at T1; researcher rex."""
    url = seed(store_url)
    with session_scope(url) as s:
        s.execute(update(Label).values(created_at=T0 - DAY))
        s.execute(insert(User), [dict(name="rex", name_key="rex", role="researcher", password_hash="-",
                                      must_change_password=False, active=True)])
    create_campaign(spec(n_tasks=3, raters=("ann",)), url=url)
    tasks, labels = [], []
    for level, when in ((2, T0), (4, T0), (3, T1)):
        t = next_task("c", "ann", url=url, now=when)
        tasks.append(t)
        labels.append(submit_grade(t.assignment_id, "ann", level, url=url, now=when))
    change_label(labels[0], "ann", 5, url=url, now=T1)
    with session_scope(url) as s:
        pairs = [tuple(s.execute(select(Label.query_pk, Label.product_pk).where(Label.id == i)).one()) for i in labels]
    return {"url": url, "pairs": pairs, "tasks": tasks}


def _human(url, **kw) -> dict:
    df = labels_in_force(url, include_imports=False, **kw)
    return {(int(q), int(p)): (int(lv), src) for q, p, lv, src in zip(df["query_pk"], df["product_pk"], df["level"],
                                                                       df["source"])}


def test_a_label_superseded_after_t_is_in_force_at_t_and_one_made_after_t_is_not(dated):
    url, (first, second, third) = dated["url"], dated["pairs"]
    assert _human(url, as_of=T0 + HOUR) == {first: (2, "human"), second: (4, "human")}
    assert _human(url, as_of=T1 + HOUR) == {first: (5, "human"), second: (4, "human"), third: (3, "human")}
    assert _human(url, as_of=T0 - HOUR) == {}  # before any rater label
    # at exactly the time of a label it counts ("at or before")
    assert _human(url, as_of=T1)[first] == (5, "human")
    at_t0 = store_ratings_at(url, T0 + HOUR)
    assert sorted(at_t0["level"]) == [2, 4] and set(at_t0["rater"]) == {"ann"}


def store_ratings_at(url, when):
    with session_scope(url) as s:
        return store_ratings(s, as_of=when)


def test_as_of_none_is_todays_output_and_a_naive_time_is_refused(dated):
    url = dated["url"]
    now = labels_in_force(url)
    pd.testing.assert_frame_equal(labels_in_force(url, as_of=None), now)
    pd.testing.assert_frame_equal(labels_in_force(url, as_of=datetime.now(timezone.utc) + HOUR), now)
    # another time zone is the same instant: 10:00 at UTC+1 is 09:00 UTC
    cet = timezone(timedelta(hours=1))
    assert _human(url, as_of=(T0 + HOUR).astimezone(cet)) == _human(url, as_of=T0 + HOUR)
    frame = analytics.labels_frame(url)
    pd.testing.assert_frame_equal(analytics.labels_frame(url, as_of=datetime.now(timezone.utc)), frame)
    assert len(now) == 25  # seed's 25 labelled pairs (20 imported, 5 gold); the campaign graded 3 of them
    assert set(now.set_index(KEYS).loc[dated["pairs"], "source"]) <= {"human", "gold"}  # gold comes first
    with pytest.raises(InvalidInputError, match="as_of must be a timezone-aware datetime"):
        labels_in_force(url, as_of=datetime(2026, 1, 5, 12))


def test_imports_count_from_their_import_time(dated, tmp_path):
    url = dated["url"]
    assert labels_in_force(url, as_of=T0 - 2 * DAY).empty  # before the seed's import
    at_import = labels_in_force(url, as_of=T0 - DAY)
    assert len(at_import) == 25 and set(at_import["source"]) == {"import:seed", "gold"}
    (tmp_path / "late.csv").write_text("query_id,query,product_id,level\nq1,red shoes,P12,5\n")
    before = datetime.now(timezone.utc)
    import_judgments(tmp_path / "late.csv", name="late", url=url)
    late = lambda df: df[df["source"].str.contains("import:late")]  # noqa: E731
    assert late(labels_in_force(url, as_of=before)).empty
    assert len(late(labels_in_force(url))) == 1
    assert first_rater_label_at(url) == T0  # the raters' first label, not the imports'


def test_flags_and_decisions_count_from_their_time(dated):
    url, (_, second, third) = dated["url"], dated["pairs"]
    fid = flag_task(dated["tasks"][1].assignment_id, "ann", "unsure", url=url, now=T0 + 2 * HOUR)
    resolve_flag(fid, "fine", url=url, now=T1 + 2 * HOUR)
    assert second in _human(url, as_of=T0 + HOUR)  # not flagged yet
    assert second not in _human(url, as_of=T0 + 3 * HOUR)  # flag open
    assert second in _human(url, as_of=T1 + 3 * HOUR) and second in _human(url)  # resolved
    decide(*third, 1, "rex", url=url, now=T1 + 4 * HOUR)
    assert _human(url, as_of=T1 + 3 * HOUR)[third] == (3, "human")
    assert _human(url, as_of=T1 + 5 * HOUR)[third] == (1, "adjudicated") == _human(url)[third]


# ------------------------------------------------------------------------------------------ two label dates

TA, TB = datetime(2026, 3, 2, 10, tzinfo=timezone.utc), datetime(2026, 3, 9, 10, tzinfo=timezone.utc)
# query -> language; each query judges two products, a and b; the model ranks a (expected level 5) above b (1)
QUERIES = {"q1": "en", "q2": "en", "q3": "en", "q4": "es", "q5": "en"}


@pytest.fixture
def two_dates(store_url):
    """Imported labels at TA (a = 5, b = 1 on q1-q4); a re-import at TB swaps them on q1 and q2 (a = 1, b = 5) and
    labels q5 for the first time; stored teacher predictions rank a first everywhere."""
    url = store_url
    with session_scope(url) as s:
        s.execute(insert(Query), [dict(query_id=q, text=f"query {q}", language=lang, count=0)
                                  for q, lang in QUERIES.items()])
        s.execute(insert(Product), [dict(product_id=f"{q}{side}", title=f"{q} {side}") for q in QUERIES
                                    for side in "ab"])
        qpk = dict(s.execute(select(Query.query_id, Query.id)).tuples().all())
        ppk = dict(s.execute(select(Product.product_id, Product.id)).tuples().all())
        label = lambda q, side, level, when, old=None: dict(  # noqa: E731
            query_pk=qpk[q], product_pk=ppk[q + side], level=level, source="import:set", created_at=when,
            supersedes_id=old)
        s.execute(insert(Label), [label(q, side, 5 if side == "a" else 1, TA) for q in ("q1", "q2", "q3", "q4")
                                  for side in "ab"])
        old = {(q, p): i for i, q, p in s.execute(select(Label.id, Label.query_pk, Label.product_pk)).all()}
        s.execute(insert(Label), [label(q, side, 1 if side == "a" else 5, TB, old[qpk[q], ppk[q + side]])
                                  for q in ("q1", "q2") for side in "ab"]
                  + [label("q5", side, 5 if side == "a" else 1, TB) for side in "ab"])
    _predict(url, "teacher", [(qpk[q], ppk[q + side], ONE(5 if side == "a" else 1)) for q in QUERIES for side in "ab"])
    return url


# esci gains: level 5 -> 1, level 1 -> 0. Before: a (5) first, nDCG 1. After on q1, q2: a (1) first, then b (5):
# DCG = 1 / log2(3), IDCG = 1
SWAPPED = 1 / math.log2(3)


def test_one_models_figures_at_two_label_dates(two_dates, tmp_path):
    url = two_dates
    before = analytics.labels_frame(url, as_of=analytics.end_of_day(TA.date()))
    after = analytics.labels_frame(url, as_of=analytics.end_of_day(TB.date()))
    assert set(before["query_id"]) == {"q1", "q2", "q3", "q4"} and len(after) == 10
    out = figures.compare_dates(before, after, "teacher", url=url, k="20", gains="esci", min_n=2,
                                artifacts_dir=tmp_path)
    changes = out["changes"]
    assert (changes["added"], changes["changed"], changes["removed"], changes["n_queries"]) == (2, 4, 0, 3)
    assert (out["n_common"], out["common_changed"], out["only_before"], out["only_after"]) == (4, 2, 0, 1)
    assert out["coverage"] == {"before": 1.0, "after": 1.0} and out["skipped"] == {}
    df = out["table"].set_index("language")
    assert list(df.index) == ["all", "en", "es"]
    en = df.loc["en"]
    assert en["n_queries"] == 3 and en["enough"]
    assert en["before"] == pytest.approx(1.0) and en["after"] == pytest.approx((2 * SWAPPED + 1) / 3)
    assert en["delta"] == pytest.approx(2 * (SWAPPED - 1) / 3)
    assert SWAPPED - 1 - 1e-9 <= en["ci_low"] <= en["delta"] <= en["ci_high"] <= 1e-9
    assert en["p_value"] == pytest.approx(0.5)  # exact sign-flip test: 2 of 4 sign vectors of 2 non-zero deltas
    assert df.loc["all", "n_queries"] == 4 and df.loc["all", "delta"] == pytest.approx(2 * (SWAPPED - 1) / 4)
    assert df.loc["all", "p_holm"] == pytest.approx(1.0) and df.loc["en", "p_holm"] == pytest.approx(1.0)  # Holm: 2 tests
    es = df.loc["es"]
    assert es["n_queries"] == 1 and not es["enough"] and math.isnan(es["delta"]) and math.isnan(es["p_holm"])


def test_two_label_dates_without_common_queries_or_predictions(two_dates, tmp_path):
    url = two_dates
    early = analytics.labels_frame(url, as_of=analytics.end_of_day((TA - DAY).date()))
    after = analytics.labels_frame(url, as_of=analytics.end_of_day(TB.date()))
    none = figures.compare_dates(early, after, "teacher", url=url, min_n=2, artifacts_dir=tmp_path)
    assert early.empty and none["table"].empty and none["n_common"] == 0 and none["changes"]["added"] == 10
    before = analytics.labels_frame(url, as_of=analytics.end_of_day(TA.date()))
    student = figures.compare_dates(before, after, "student", url=url, min_n=2, artifacts_dir=tmp_path)
    assert student["table"].empty and "relevance score student" in student["skipped"]["student"]


# ------------------------------------------------------------------------------------------ models vs raters

def test_models_against_the_raters_on_the_dashboards_terms(dated, tmp_path):
    url, pairs = dated["url"], dated["pairs"]
    assert figures.vs_raters(url, ["teacher"], min_n=1, artifacts_dir=tmp_path)["empty"] == "no predictions"
    _predict(url, "teacher", [(q, p, ONE(5)) for q, p in pairs])
    with session_scope(url) as s:
        lang = dict(s.execute(select(Query.id, Query.language)).tuples().all())
        qid = dict(s.execute(select(Query.id, Query.query_id)).tuples().all())
    n_queries = len({q for q, _ in pairs})
    out = figures.vs_raters(url, ["teacher", "student"], min_n=1, scope="all", artifacts_dir=tmp_path)
    assert out["empty"] is None and "relevance score student" in out["skipped"]["student"]
    table = out["table"]
    overall = table[(table["language"] == "all") & (table["gains"] == "esci")].iloc[0]
    assert overall["n_queries"] == n_queries and overall["n_pairs"] == 3 and overall["enough"]
    # levels 5, 4, 3 (ann's, in force now) against argmax 5 everywhere: one exact, two within one
    assert overall["accuracy"] == pytest.approx(1 / 3) and overall["within_one"] == pytest.approx(2 / 3)
    assert out["classes"] == {"held out": n_queries}  # no metadata for teacher: it lists no training queries
    strict = figures.vs_raters(url, ["teacher"], min_n=n_queries + 1, scope="all", artifacts_dir=tmp_path)["table"]
    assert not strict["enough"].any() and strict[figures.FIGURE_COLUMNS].isna().all().all()
    assert (strict["n_queries"] <= n_queries).all()
    langs = {lang[q] for q, _ in pairs}
    one = sorted(langs)[0]
    only = figures.vs_raters(url, ["teacher"], min_n=1, languages=[one], scope="all", artifacts_dir=tmp_path)
    assert set(only["table"]["language"]) == {"all", one}
    assert figures.vs_raters(url, ["teacher"], min_n=1, languages=["xx"], artifacts_dir=tmp_path)["empty"] == \
        "no queries"
    # a teacher trained on one of the rated queries: held out by default, that query left out
    (tmp_path / "teacher").mkdir()
    trained = qid[pairs[0][0]]
    (tmp_path / "teacher" / "teacher.json").write_text(f'{{"train_query_ids": ["{trained}"]}}')
    held = figures.vs_raters(url, ["teacher"], min_n=1, artifacts_dir=tmp_path)
    kept = {qid[q] for q, _ in pairs} - {trained}
    assert held["classes"] == ({"held out": len(kept)} if kept else {})
    if kept:
        row = held["table"][(held["table"]["language"] == "all")].iloc[0]
        assert row["n_queries"] == len(kept)


def test_vs_raters_says_why_without_a_consensus(store_url, tmp_path):
    url = seed(store_url)
    assert figures.vs_raters(url, ["teacher"], min_n=1, artifacts_dir=tmp_path)["empty"] == "no consensus"
    with session_scope(url) as s:
        assert s.scalar(select(Prediction.id)) is None


# ------------------------------------------------------------------------------------------ the page

def _cells(at) -> set[str]:
    return {str(v) for d in at.dataframe for v in d.value.astype(str).to_numpy().ravel()}


def test_the_page_says_what_to_do_without_rater_labels(store):
    at = ok(app("vic"))
    at.radio(key="dash_change_mode").set_value("dates")
    at = ok(at.run())
    assert "No rater labels yet, so no label dates to compare: create a grade campaign" in texts(at)
    at.toggle(key="dash_humans").set_value(True)
    assert "No raters' consensus yet: create a grade campaign" in texts(ok(at.run()))


def test_models_against_the_raters_section_follows_the_dashboards_rules(store, tmp_path, monkeypatch):
    monkeypatch.setenv("RELEVANCE_MIN_QUERIES_FOR_CI", "2")
    while (t := next_task(app_store.GRADE, "rita", url=store)) is not None:
        submit_grade(t.assignment_id, "rita", 4, url=store)
    at = ok(app("vic"))
    at.toggle(key="dash_humans").set_value(True)
    at = ok(at.run())
    assert "No model picked above has stored predictions on the rated pairs" in texts(at)
    app_store.write_predictions(store, tmp_path / "artifacts", models=("teacher",))  # Parquet files only
    want = figures.vs_raters(store, ["teacher"], min_n=2, artifacts_dir=tmp_path / "artifacts")
    table = want["table"]
    assert set(table["language"]) > {"all"} and (table["n_queries"] < 2).any()  # some language with 1 query
    assert table["enough"].any()
    at = ok(app("vic"))
    at.toggle(key="dash_humans").set_value(True)
    at = ok(at.run())
    shown = texts(at)
    n = sum(want["classes"].values())
    assert f"Covers {n} queries ({n} held out, 0 dev, 0 training; {n} rater-labelled)" in shown
    assert "`student` left out: no stored predictions" in shown
    got = next(d.value for d in at.dataframe if "nDCG@10 [95% CI]" in d.value.columns)
    assert len(got) == len(table) and "None" not in _cells(at) and "nan" not in _cells(at)
    for (_, row), (_, cell) in zip(table.iterrows(), got.iterrows()):
        assert (cell["model"], cell["language"], cell["queries"]) == ("teacher", row["language"], row["n_queries"])
        if row["enough"]:
            assert cell["nDCG@10 [95% CI]"] == f"{row['ndcg']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
            assert cell["accuracy"] == f"{row['accuracy']:.3f}"
        else:
            few = f"too few queries ({row['n_queries']})"
            assert cell["nDCG@10 [95% CI]"] == cell["accuracy"] == cell["within one"] == few
