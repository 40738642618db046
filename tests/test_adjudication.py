"""Adjudication (issue 16, item 3): the queue of pairs whose raters disagree by at least a level range, or that a
rater flagged; a researcher's decision is a label of source ``adjudicated`` (no task) that becomes the pair's label
in force and is exported as such; a second decision supersedes the first; writes checked in their transaction;
on SQLite and PostgreSQL. Small hand-made stores from ``test_campaigns.seed``."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import snapshot
from sqlalchemy import insert, select
from test_campaigns import T0, seed, spec

from core.campaigns import adjudication as adj
from core.campaigns import create_campaign, next_task, submit_grade
from core.campaigns.consensus import labels_in_force, training_labels
from core.campaigns.flags import flag_task, list_flags
from core.campaigns.history import raw_labels
from core.errors import (CampaignError, LabelChangedError, LevelOutOfRangeError, NotPermittedError,
                         SessionEndedError)
from core.store.auth import SessionUser
from core.store.datasets import dataset_of
from core.store.session import session_scope
from db.models import Label, User

# task position -> levels of ann, bob, cat
LEVELS = {0: (5, 2, 4), 1: (3, 3, 4), 2: (1, 3, 3)}


@pytest.fixture
def rated(store_url):
    """Three tasks rated by ann, bob and cat (ranges 3, 1, 2); researcher rex, admin ada; ann's assignments kept."""
    url = seed(store_url)
    with session_scope(url) as s:
        s.execute(insert(User), [dict(name=n, name_key=n, role=r, password_hash="-", must_change_password=False,
                                      active=True) for n, r in (("rex", "researcher"), ("ada", "admin"))])
    create_campaign(spec(n_tasks=3, overlap_k=3, raters=("ann", "bob", "cat")), url=url)
    pairs, assignments = {}, {}
    for i, rater in enumerate(("ann", "bob", "cat")):
        for position in range(3):  # tasks come in position order
            t = next_task("c", rater, url=url, now=T0)
            assignments[rater, position] = t.assignment_id
            label = submit_grade(t.assignment_id, rater, LEVELS[position][i], url=url, now=T0)
            with session_scope(url) as s:
                pairs[position] = tuple(s.execute(select(Label.query_pk, Label.product_pk)
                                                  .where(Label.id == label)).one())
    return {"url": url, "pairs": pairs, "assignments": assignments}


def _in_force(url: str, pair, **kwargs) -> pd.Series:
    return labels_in_force(url, **kwargs).set_index(["query_pk", "product_pk"]).loc[pair]


def test_the_queue_holds_pairs_whose_raters_disagree_by_the_threshold(rated):
    url, pairs = rated["url"], rated["pairs"]
    q = adj.queue(url)
    assert list(q.columns) == adj.QUEUE_COLUMNS
    assert list(zip(q["query_pk"], q["product_pk"])) == [pairs[0], pairs[2]]  # ranges 3 and 2, most first
    first = q.iloc[0]
    assert (first["levels"], first["level_range"], first["median_level"], first["n_raters"]) == (
        "ann 5 · bob 2 · cat 4", 3, 4, 3)
    assert pd.isna(first["decided_level"]) and first["n_flags"] == 0
    assert len(adj.queue(url, min_range=3)) == 1 and len(adj.queue(url, min_range=1)) == 3
    assert adj.queue(url, campaign="c")["query_pk"].tolist() == q["query_pk"].tolist()
    view = adj.pair_view(*pairs[0], url=url)
    assert view["query_id"] == first["query_id"] and view["product"]["product_id"] == first["product_id"]
    labels = adj.pair_labels(*pairs[0], url=url)
    assert labels[["rater", "level", "campaign"]].values.tolist() == [["ann", 5, "c"], ["bob", 2, "c"],
                                                                      ["cat", 4, "c"]]


def test_a_flagged_pair_joins_the_queue_with_its_comment_and_a_decision_resolves_it(rated):
    url, pairs = rated["url"], rated["pairs"]
    flag_task(rated["assignments"]["ann", 1], "ann", "ambiguous_query", "could mean towels or racks", url=url)
    q = adj.queue(url)
    assert (q.iloc[0]["query_pk"], q.iloc[0]["product_pk"]) == pairs[1] and q.iloc[0]["n_flags"] == 1  # flagged first
    assert pairs[1] not in set(zip(*adj.queue(url, include_flagged=False)[["query_pk", "product_pk"]].T.values))
    comments = adj.pair_flags(q.iloc[0]["query_id"], q.iloc[0]["product_id"], url=url)
    assert comments[["rater", "reason", "comment"]].values.tolist() == [["ann", "ambiguous_query",
                                                                         "could mean towels or racks"]]
    adj.decide(*pairs[1], 2, "rex", url=url)
    assert list_flags(url).empty  # resolved with the decision, in the same transaction
    resolved = list_flags(url, include_resolved=True).iloc[0]
    assert (resolved["resolved_by"], resolved["resolution"]) == ("rex", "adjudicated: level 2")
    assert pairs[1] not in set(zip(adj.queue(url)["query_pk"], adj.queue(url)["product_pk"]))


def test_a_decision_is_the_label_in_force_and_is_exported_as_such(rated):
    url, pairs = rated["url"], rated["pairs"]
    assert _in_force(url, pairs[0])[["level", "source"]].tolist() == [4, "human"]  # lower median of 2, 4, 5
    decision = adj.decide(*pairs[0], 3, SessionUser("rex", "researcher"), url=url)
    for kwargs in ({}, {"include_imports": False}, {"campaign": "c"}):
        row = _in_force(url, pairs[0], **kwargs)
        assert (row["level"], row["source"]) == (3, "adjudicated"), kwargs
    assert _in_force(url, pairs[2])["source"] != "adjudicated"  # other pairs keep their labels
    exported = training_labels(url).set_index(["query_id", "product_id"])
    assert (exported.loc[tuple(adj.queue(url, include_decided=True).iloc[0][["query_id", "product_id"]]), "level"]
            == 3)
    raw = raw_labels(url).set_index("label_id").loc[decision]
    assert (raw["level"], raw["rater"], raw["source"], raw["in_force"]) == (3, "rex", "adjudicated", True)
    assert pd.isna(raw["campaign"]) and pd.isna(raw["task_id"])
    assert dataset_of("adjudicated") == "raters"
    assert pairs[0] not in set(zip(adj.queue(url)["query_pk"], adj.queue(url)["product_pk"]))
    decided = adj.queue(url, include_decided=True).iloc[0]
    assert (decided["decided_level"], decided["decided_by"]) == (3, "rex")


def test_a_second_decision_supersedes_the_first_and_a_withdrawal_restores_the_consensus(rated):
    url, pair = rated["url"], rated["pairs"][0]
    first = adj.decide(*pair, 3, "rex", url=url)
    assert adj.decide(*pair, 3, "rex", url=url) == first  # the same decision again writes nothing
    second = adj.decide(*pair, 5, "ada", url=url)
    third = adj.decide(*pair, 4, "rex", url=url)
    with session_scope(url) as s:
        chain = s.execute(select(Label.id, Label.level, Label.rater, Label.supersedes_id, Label.task_id)
                          .where(Label.source == "adjudicated").order_by(Label.id)).all()
    assert [tuple(r) for r in chain] == [(first, 3, "rex", None, None), (second, 5, "ada", first, None),
                                         (third, 4, "rex", second, None)]
    assert _in_force(url, pair)[["level", "source"]].tolist() == [4, "adjudicated"]
    adj.withdraw(*pair, "ada", url=url)
    assert _in_force(url, pair)[["level", "source"]].tolist() == [4, "human"]  # the raters' consensus again
    assert pair in set(zip(adj.queue(url)["query_pk"], adj.queue(url)["product_pk"]))
    with pytest.raises(CampaignError, match="nothing to withdraw"):
        adj.withdraw(*pair, "ada", url=url)
    adj.decide(*pair, 1, "rex", url=url)
    assert _in_force(url, pair)["level"] == 1


def test_only_an_active_researcher_or_admin_decides(rated):
    url, pair = rated["url"], rated["pairs"][0]
    before = snapshot(url)
    for actor, error, match in [("ann", NotPermittedError, "'ann' is a rater"),
                                (None, NotPermittedError, "needs the researcher's name"),
                                ("nobody", NotPermittedError, "not an active account"),
                                (SessionUser("rex", "researcher", version=3), SessionEndedError, "has ended")]:
        with pytest.raises(error, match=match):
            adj.decide(*pair, 3, actor, url=url)
    with pytest.raises(LevelOutOfRangeError):
        adj.decide(*pair, 0, "rex", url=url)
    with pytest.raises(CampaignError, match="no pair"):
        adj.decide(10**6, pair[1], 3, "rex", url=url)
    assert snapshot(url) == before


def test_a_lost_race_is_a_typed_error_and_writes_nothing(rated, monkeypatch):
    """Two decisions read "no decision yet": the store's unique index refuses the second root."""
    url, pair = rated["url"], rated["pairs"][0]
    adj.decide(*pair, 3, "rex", url=url)
    before = snapshot(url)
    monkeypatch.setattr(adj, "_live_head", lambda s, q, p: None)
    with pytest.raises(LabelChangedError, match="another decision on this pair"):
        adj.decide(*pair, 5, "rex", url=url)
    assert snapshot(url) == before


def test_a_store_without_disagreement_has_an_empty_queue(store_url):
    url = seed(store_url)
    assert adj.queue(url).empty and list(adj.queue(url).columns) == adj.QUEUE_COLUMNS
    create_campaign(spec(n_tasks=2), url=url)
    t = next_task("c", "ann", url=url, now=T0)
    submit_grade(t.assignment_id, "ann", 2, url=url, now=T0)
    assert adj.queue(url, min_range=0).empty is False and adj.queue(url).empty  # one rating: no disagreement
    held = next_task("c", "ann", url=url, now=T0)
    flag_task(held.assignment_id, "ann", "broken_image", None, url=url)  # flagged before anyone graded it
    q = adj.queue(url)
    assert len(q) == 1 and (q.iloc[0]["task_id"], q.iloc[0]["n_flags"], q.iloc[0]["levels"]) == (held.task_id, 1, "")
    assert pd.isna(q.iloc[0]["n_raters"])
