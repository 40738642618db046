"""My labels (issue 16, item 2): a rater's history of labels in force, filtered by campaign and query, and changing
one append-only (a new label superseding the live head of its chain), checked in the write's transaction; on SQLite
and PostgreSQL. Small hand-made stores from ``test_campaigns.seed``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import snapshot
from sqlalchemy import select, update
from test_campaigns import T0, seed, spec

from core.campaigns import create_campaign, get_campaign, next_task, pause_campaign, resume_campaign, submit_grade, undo_last
from core.campaigns import my_labels as ml
from core.campaigns.consensus import labels_in_force
from core.campaigns.history import raw_labels
from core.errors import (CampaignError, CampaignNotActiveError, LabelChangedError, LevelOutOfRangeError,
                         NotPermittedError, RaterNotInCampaignError, SessionEndedError)
from core.store.auth import SessionUser
from core.store.session import session_scope
from db.models import CampaignRater, Label, User


@pytest.fixture
def both(store_url):
    return seed(store_url)


def grade(url, rater, level, campaign="c", minutes=0) -> int:
    t = next_task(campaign, rater, url=url, now=T0 + timedelta(minutes=minutes))
    return submit_grade(t.assignment_id, rater, level, seconds=3.0, url=url, now=T0 + timedelta(minutes=minutes))


def test_a_rater_sees_their_labels_in_force_newest_first_and_filters_them(both):
    create_campaign(spec(n_tasks=4), url=both)
    create_campaign(spec(name="d", n_tasks=3), url=both)
    first = grade(both, "ann", 2)
    grade(both, "ann", 4, minutes=1)
    grade(both, "ann", 5, campaign="d", minutes=2)
    grade(both, "bob", 1, minutes=3)  # someone else's: not listed
    undone = grade(both, "ann", 3, minutes=4)
    undo_last("ann", "c", url=both, now=T0 + timedelta(minutes=5))
    mine = ml.my_labels("ann", url=both)
    assert list(mine.columns) == ml.MY_LABEL_COLUMNS
    assert mine["level"].tolist() == [5, 4, 2] and undone not in mine["label_id"].tolist()
    assert mine["campaign"].tolist() == ["d", "c", "c"] and set(mine["status"]) == {"active"}
    assert not mine["changed"].any() and mine["previous_level"].isna().all()
    assert ml.select_my_labels(mine, campaign="c")["label_id"].tolist()[-1] == first
    one = mine.iloc[0]
    needle = one["query"][1:4].upper()  # any case, any part of the query
    found = ml.select_my_labels(mine, query=needle)
    assert one["label_id"] in found["label_id"].tolist() and all(needle.casefold() in q.casefold()
                                                                   for q in found["query"])
    assert ml.select_my_labels(mine, campaign="d", query="no such query").empty
    pair = ml.label_pair(int(one["label_id"]), url=both)
    assert pair["query"] == one["query"] and pair["product"]["product_id"] == one["product_id"]


def test_a_change_is_a_new_label_that_supersedes_and_becomes_the_label_in_force(both):
    create_campaign(spec(n_tasks=2), url=both)
    old = grade(both, "ann", 2)
    new = ml.change_label(old, "ann", 5, url=both, now=T0 + timedelta(hours=1))
    assert new != old
    rows = raw_labels(both, "c")
    assert rows[["label_id", "level", "supersedes_id", "in_force"]].values.tolist() == [[old, 2, pd_na(), False],
                                                                                       [new, 5, old, True]]
    mine = ml.my_labels("ann", url=both)
    assert mine[["label_id", "level", "previous_level", "changed"]].values.tolist() == [[new, 5, 2, True]]
    with session_scope(both) as s:
        pair = s.execute(select(Label.query_pk, Label.product_pk).where(Label.id == new)).one()
    force = labels_in_force(both, include_imports=False)
    assert force.set_index(["query_pk", "product_pk"]).loc[tuple(pair), "level"] == 5
    assert ml.change_label(old, "ann", 5, url=both) == new  # the same level again writes nothing
    assert len(raw_labels(both, "c")) == 2


def pd_na():
    import pandas as pd
    return pd.NA


def test_a_stale_label_id_changes_the_live_head_never_forks_the_chain(both):
    create_campaign(spec(n_tasks=2), url=both)
    root = grade(both, "ann", 2)
    second = ml.change_label(root, "ann", 3, url=both)
    third = ml.change_label(root, "ann", 4, url=both)  # e.g. an older tab: the head (second) is superseded
    with session_scope(both) as s:
        assert s.get(Label, third).supersedes_id == second
    assert ml.my_labels("ann", url=both)["level"].tolist() == [4]
    # undo on Rate retracts the changed label: the item is open again, nothing of it in force
    undo_last("ann", "c", url=both)
    assert ml.my_labels("ann", url=both).empty
    with pytest.raises(LabelChangedError, match="was undone"):
        ml.change_label(third, "ann", 1, url=both)


def test_a_lost_race_is_a_typed_error_and_writes_nothing(both, monkeypatch):
    """Two changes read the same head: the store's unique index refuses the second superseding row."""
    create_campaign(spec(n_tasks=2), url=both)
    root = grade(both, "ann", 2)
    ml.change_label(root, "ann", 3, url=both)
    monkeypatch.setattr(ml, "live_head", lambda s, label: s.get(Label, root))  # the race: an old head read
    before = snapshot(both)
    with pytest.raises(LabelChangedError, match="changed by another request"):
        ml.change_label(root, "ann", 5, url=both)
    assert snapshot(both) == before


def test_only_the_owner_an_active_member_of_an_active_campaign_may_change(both):
    create_campaign(spec(n_tasks=4), url=both)
    mine = grade(both, "ann", 2)
    grade(both, "bob", 3)
    before = snapshot(both)
    with pytest.raises(NotPermittedError, match="is 'ann''s, not 'bob''s"):
        ml.change_label(mine, "bob", 4, url=both)
    with pytest.raises(LevelOutOfRangeError):
        ml.change_label(mine, "ann", 6, url=both)
    with pytest.raises(CampaignError, match="no campaign label"):
        ml.change_label(10**6, "ann", 4, url=both)
    with session_scope(both) as s:
        imported = s.scalar(select(Label.id).where(Label.source == "import:seed").limit(1))
    with pytest.raises(CampaignError, match="no campaign label"):
        ml.change_label(imported, "ann", 4, url=both)
    with pytest.raises(SessionEndedError):
        ml.change_label(mine, SessionUser("ann", "rater", version=7), 4, url=both)
    assert snapshot(both) == before

    pause_campaign("c", url=both)
    with pytest.raises(CampaignNotActiveError, match="is paused; it takes no label changes"):
        ml.change_label(mine, "ann", 4, url=both)
    resume_campaign("c", url=both)
    with session_scope(both) as s:
        uid = s.scalar(select(User.id).where(User.name == "ann"))
        s.query(CampaignRater).filter(CampaignRater.user_id == uid).delete()
    with pytest.raises(RaterNotInCampaignError, match="not in campaign 'c'"):
        ml.change_label(mine, "ann", 4, url=both)
    with session_scope(both) as s:
        s.add(CampaignRater(campaign_id=get_campaign("c", url=both).id, user_id=uid))
        s.execute(update(User).where(User.name == "ann").values(active=False))
    with pytest.raises(RaterNotInCampaignError, match="deactivated"):
        ml.change_label(mine, "ann", 4, url=both)
    assert snapshot(both)["labels"] == before["labels"]
    assert ml.my_labels("ann", url=both)["status"].tolist() == ["active"]
