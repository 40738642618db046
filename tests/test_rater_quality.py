"""Rater quality over time (issue 16, item 6): labels per hour, median seconds per item with the too-fast flag
(setting ``too_fast_seconds``), gold accuracy and agreement with the others' consensus, per rater and per week;
figures worked out by hand on a tiny store (three raters, three regular tasks and one gold task over two weeks),
on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from sqlalchemy import insert, select
from test_campaigns import T0, seed, spec

from core.campaigns import create_campaign, next_task, submit_grade
from core.campaigns import quality as q
from core.errors import ConfigError
from core.metrics import agreement as agr
from core.store.session import session_scope
from db.models import Label, Task

WEEK1, WEEK2 = date(2026, 1, 5), date(2026, 1, 12)  # T0 is Monday 2026-01-05 09:00 UTC
# task -> {rater: (level, seconds)}; week 1: tasks 0, 1 and gold; week 2: task 2
GRADES = {0: {"ann": (4, 1.0), "bob": (4, 10.0), "cat": (2, 10.0)},
          1: {"ann": (3, 1.0), "bob": (3, 10.0), "cat": (3, 10.0)},
          "gold": {"ann": (5, 1.0), "bob": (4, 10.0)},
          2: {"ann": (1, 3.0), "bob": (5, 10.0), "cat": (5, 10.0)}}


@pytest.fixture
def rated(store_url):
    """The grades above, then bob changes task 2 from 5 to 4 in week 2 (a change: in force, not a grade)."""
    url = seed(store_url)
    create_campaign(spec(n_tasks=3, overlap_k=3, raters=("ann", "bob", "cat")), url=url)
    with session_scope(url) as s:
        tasks = s.execute(select(Task.id, Task.campaign_id, Task.query_pk, Task.product_pk).order_by(Task.position)).all()
        gold_pair = s.execute(select(Label.query_pk, Label.product_pk).where(Label.source == "gold").limit(1)).one()
        gold = s.scalar(insert(Task).values(campaign_id=tasks[0].campaign_id, kind="grade", query_pk=gold_pair[0],
                                            product_pk=gold_pair[1], required_ratings=0, is_gold=True, gold_level=5,
                                            payload={}).returning(Task.id))
        pairs = {i: (t.id, t.query_pk, t.product_pk) for i, t in enumerate(tasks)} | {"gold": (gold, *gold_pair)}
        ids = {}
        for key, by in GRADES.items():
            when = T0 + timedelta(days=7 if key == 2 else 0, minutes=len(ids))
            for rater, (level, seconds) in by.items():
                task, qpk, ppk = pairs[key]
                ids[key, rater] = s.scalar(insert(Label).values(
                    query_pk=qpk, product_pk=ppk, level=level, rater=rater, source="human", task_id=task,
                    seconds_spent=seconds, created_at=when).returning(Label.id))
        task, qpk, ppk = pairs[2]
        s.execute(insert(Label).values(query_pk=qpk, product_pk=ppk, level=4, rater="bob", source="human",
                                       task_id=task, supersedes_id=ids[2, "bob"], created_at=T0 + timedelta(days=8)))
    return url


def test_per_rater_figures_by_hand(rated):
    report = q.rater_quality(rated, too_fast=2)
    assert list(report.raters.columns) == q.RATER_COLUMNS and report.too_fast_seconds == 2
    ann = report.raters.set_index("rater").loc["ann"]
    # grades: 1, 1, 1, 3 s -> 4 labels in 6 s of rating time
    assert (ann["n_labels"], ann["labels_per_hour"], ann["median_seconds"]) == (4, 2400.0, 1.0)
    assert ann["too_fast"] and ann["too_fast_share"] == 0.75
    assert (ann["gold_accuracy"], ann["n_gold"]) == (1.0, 1)
    # others' lower medians: task 0 (bob 4, cat 2) -> 2; task 1 -> 3; task 2 (bob 4 after his change, cat 5) -> 4
    assert (ann["consensus_agreement"], ann["n_consensus"]) == (pytest.approx(1 / 3), 3)
    assert ann["kappa_quadratic"] == pytest.approx(cohen_kappa_score([4, 3, 1], [2, 3, 4], labels=[1, 2, 3, 4, 5],
                                                                     weights="quadratic"))
    bob = report.raters.set_index("rater").loc["bob"]
    assert (bob["n_labels"], bob["labels_per_hour"], bob["median_seconds"], bool(bob["too_fast"])) == (4, 360.0, 10.0,
                                                                                                      False)
    assert (bob["gold_accuracy"], bob["n_gold"]) == (0.0, 1)
    # bob in force: 4 (others 4, 2 -> 2), 3 (-> 3), 4 (others 1, 5 -> 1)
    assert bob["consensus_agreement"] == pytest.approx(1 / 3)
    cat = report.raters.set_index("rater").loc["cat"]
    assert math.isnan(cat["gold_accuracy"]) and cat["n_gold"] == 0


def test_weekly_figures_and_the_team_alpha(rated):
    report = q.rater_quality(rated, too_fast=2)
    weekly = report.weekly[report.weekly["rater"] == "ann"].set_index("week")
    assert list(weekly.index) == [WEEK1, WEEK2]
    w1, w2 = weekly.loc[WEEK1], weekly.loc[WEEK2]
    assert (w1["n_labels"], w1["labels_per_hour"], w1["median_seconds"], bool(w1["too_fast"])) == (3, 3600.0, 1.0, True)
    assert (w1["gold_accuracy"], w1["consensus_agreement"], w1["n_consensus"]) == (1.0, 0.5, 2)
    assert (w2["n_labels"], w2["labels_per_hour"], w2["median_seconds"], bool(w2["too_fast"])) == (1, 1200.0, 3.0, False)
    assert (w2["consensus_agreement"], w2["n_gold"]) == (0.0, 0) and math.isnan(w2["gold_accuracy"])
    bob2 = report.weekly.set_index(["rater", "week"]).loc[("bob", WEEK2)]
    assert bob2["n_labels"] == 1  # the change is in force that week, not a second grade
    team = report.team.set_index("week")
    week1 = pd.DataFrame([(f"t{t}", r, lv) for t in (0, 1) for r, (lv, _) in GRADES[t].items()],
                         columns=["item", "rater", "level"])
    assert team.loc[WEEK1, "alpha_ordinal"] == pytest.approx(agr.krippendorff_alpha(week1))
    assert team.loc[WEEK1, "n_items_multi"] == 2 and math.isnan(team.loc[WEEK2, "alpha_ordinal"])


def test_one_raters_figures_are_the_same_alone(rated):
    everyone = q.rater_quality(rated, too_fast=2)
    alone = q.rater_quality(rated, rater="ann", too_fast=2)
    assert alone.raters["rater"].tolist() == ["ann"]
    pd.testing.assert_frame_equal(alone.raters.reset_index(drop=True),
                                  everyone.raters[everyone.raters["rater"] == "ann"].reset_index(drop=True))
    assert set(alone.weekly["rater"]) == {"ann"} and len(alone.weekly) == 2


def test_too_fast_comes_from_the_setting(rated, monkeypatch):
    assert q.rater_quality(rated).too_fast_seconds == 2.0  # the default
    monkeypatch.setenv("RELEVANCE_TOO_FAST_SECONDS", "0.5")
    report = q.rater_quality(rated)
    assert report.too_fast_seconds == 0.5 and not report.raters["too_fast"].any()
    for bad in ("fast", "-1", "inf"):
        monkeypatch.setenv("RELEVANCE_TOO_FAST_SECONDS", bad)
        with pytest.raises(ConfigError, match="RELEVANCE_TOO_FAST_SECONDS must be a number of seconds"):
            q.rater_quality(rated)


def test_figures_follow_the_rating_flow_and_an_empty_store_has_none(store_url):
    url = seed(store_url)
    assert q.rater_quality(url).empty
    create_campaign(spec(n_tasks=3), url=url)
    for i in range(3):
        t = next_task("c", "ann", url=url, now=T0)
        submit_grade(t.assignment_id, "ann", 3, seconds=0.75, url=url, now=T0)
    row = q.rater_quality(url, campaign="c").raters.iloc[0]
    assert (row["rater"], row["n_labels"], row["median_seconds"], bool(row["too_fast"])) == ("ann", 3, 0.75, True)
    assert math.isnan(row["consensus_agreement"]) and row["n_consensus"] == 0
