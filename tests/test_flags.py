"""Flags on grade and side-by-side tasks (issue 16, item 1) and the reasons given with side-by-side answers
(item 7): a rater flags a task they were given, an open flag keeps its pair out of the raters' consensus until a
researcher resolves it, writes check the acting user in their transaction. Store tests on SQLite and PostgreSQL;
the small store of ``test_campaigns.seed``."""

from __future__ import annotations

import warnings

import pytest
from conftest import count
from sqlalchemy import create_engine, insert
from test_campaigns import T0, seed, spec

from core.campaigns import (AssignmentError, CampaignError, CampaignNotActiveError, NotPermittedError,
                            RaterNotInCampaignError, close_campaign, create_campaign, next_task, submit_comparison,
                            submit_grade, undo_last)
from core.campaigns.answer_reasons import COMPARE_REASONS, side_by_side_reasons
from core.campaigns.consensus import labels_in_force
from core.campaigns.flags import (REASONS, drop_flagged_pairs, flag_task, flagged_pairs, list_flags, open_flags,
                                  resolve_flag)
from core.errors import SessionEndedError
from core.store.auth import SessionUser
from core.store.session import session_scope
from db.models import Task, User

STAFF = {"rex": "researcher", "ada": "admin"}


@pytest.fixture
def both(store_url):
    seed(store_url)
    with session_scope(store_url) as s:
        s.execute(insert(User), [dict(name=n, name_key=n, role=r, password_hash="-", must_change_password=False)
                                 for n, r in STAFF.items()])
    return store_url


def _grade_one_pair_twice(url, levels=(2, 2)):
    """A 1-task campaign rated by ann and bob (overlap 2): returns (ann's assignment id, the task's pair pks)."""
    create_campaign(spec(n_tasks=1, overlap_k=2, raters=("ann", "bob")), url=url)
    held = {}
    for rater, level in zip(("ann", "bob"), levels):
        t = next_task("c", rater, url=url, now=T0)
        submit_grade(t.assignment_id, rater, level, url=url, now=T0)
        held[rater] = t
    return held


def _human(url):
    df = labels_in_force(url, include_imports=False)
    return df[["query_pk", "product_pk", "level", "n_raters"]]


def test_an_open_flag_keeps_the_pair_out_of_consensus_until_a_researcher_resolves_it(both):
    held = _grade_one_pair_twice(both)
    before = _human(both)
    assert len(before) == 1 and before["level"].tolist() == [2]
    fid = flag_task(held["ann"].assignment_id, "ann", "broken_image", "  the picture is a 404  ", url=both, now=T0)
    assert _human(both).empty  # no raters' consensus while the flag is open
    gold_or_import = labels_in_force(both).set_index(["query_pk", "product_pk"])
    key = tuple(before[["query_pk", "product_pk"]].iloc[0])
    assert "human" not in gold_or_import.loc[[key], "source"].tolist()  # the pair falls back to gold / imports
    flags = open_flags(both)
    assert flags[["flag_id", "campaign", "kind", "rater", "reason", "comment"]].values.tolist() == [
        [fid, "c", "grade", "ann", "broken_image", "the picture is a 404"]]
    assert {"query_id", "product_id", "created_at"} <= set(flags.columns) and flags["product_id"].notna().all()
    pairs = flagged_pairs(both)
    assert pairs[["query_pk", "product_pk", "n_flags"]].values.tolist() == [[*key, 1]]

    resolve_flag(fid, "image checked, fine", actor="rex", url=both, now=T0)
    assert open_flags(both).empty and flagged_pairs(both).empty
    assert _human(both).values.tolist() == before.values.tolist()
    done = list_flags(both, include_resolved=True)
    assert done[["resolved_by", "resolution", "comment"]].values.tolist() == [
        ["rex", "image checked, fine", "the picture is a 404"]]  # the flag row keeps its reason and comment
    with pytest.raises(CampaignError, match=f"flag {fid} was resolved already by rex"):
        resolve_flag(fid, actor="ada", url=both)
    assert count(both, "flags") == 1


def test_flagging_is_checked_in_the_write(both):
    held = _grade_one_pair_twice(both)
    aid = held["ann"].assignment_id
    with pytest.raises(CampaignError, match="reason must be one of broken_image, ambiguous_query"):
        flag_task(aid, "ann", "boring", url=both)
    with pytest.raises(CampaignError, match="at most 1,000 characters"):
        flag_task(aid, "ann", "other", "x" * 1001, url=both)
    with pytest.raises(AssignmentError, match="belongs to another rater, not 'bob'"):
        flag_task(aid, "bob", "unsure", url=both)
    with pytest.raises(RaterNotInCampaignError):
        flag_task(aid, "vic", "unsure", url=both)  # a viewer cannot rate, so cannot flag
    with pytest.raises(SessionEndedError):
        flag_task(aid, SessionUser("ann", "rater", version=7), "unsure", url=both)
    fid = flag_task(aid, "ann", "unsure", url=both)
    with pytest.raises(NotPermittedError, match="'ann' is a rater; only a researcher or admin"):
        resolve_flag(fid, actor="ann", url=both)
    with pytest.raises(CampaignError, match="no flag 999"):
        resolve_flag(999, actor="ada", url=both)
    close_campaign("c", actor="ada", url=both)
    with pytest.raises(CampaignNotActiveError, match="takes no more flags"):
        flag_task(aid, "ann", "other", url=both)
    assert count(both, "flags") == 1 and len(open_flags(both)) == 1


def test_drop_flagged_pairs_leaves_other_pairs(sqlite_url):
    import pandas as pd

    seed(sqlite_url)
    create_campaign(spec(n_tasks=2, raters=("ann",)), url=sqlite_url)
    first = next_task("c", "ann", url=sqlite_url, now=T0)
    flag_task(first.assignment_id, "ann", "ambiguous_query", url=sqlite_url)
    pairs = flagged_pairs(sqlite_url)
    q, p = int(pairs["query_pk"][0]), int(pairs["product_pk"][0])
    ratings = pd.DataFrame({"query_pk": [q, q, p + 100], "product_pk": [p, p + 1, p], "level": [1, 2, 3]})
    with session_scope(sqlite_url) as s:
        assert drop_flagged_pairs(s, ratings)["level"].tolist() == [2, 3]
    assert REASONS == ("broken_image", "ambiguous_query", "foreign_language", "unsure", "other")


def test_side_by_side_flags_name_the_query_and_reasons_are_counted_per_outcome(store_url):
    seed(store_url)
    create_campaign(spec(kind="side_by_side", n_tasks=4, models=("bm25", "random"), sbs_k=3, rerank_depth=6,
                         raters=("ann",)), url=store_url)
    reasons = [COMPARE_REASONS[0], COMPARE_REASONS[0], None, COMPARE_REASONS[1]]
    first = None
    for reason in reasons:
        v = next_task("c", "ann", url=store_url)
        first = first or v
        bm25_side = "A" if _model_a(store_url, v) == "bm25" else "B"
        submit_comparison(v.assignment_id, "ann", bm25_side if reason != COMPARE_REASONS[1] else "tie",
                          reason=reason, url=store_url)
    flag_task(first.assignment_id, "ann", "foreign_language", "results in German", url=store_url)
    flags = open_flags(store_url)
    assert flags[["kind", "reason"]].values.tolist() == [["side_by_side", "foreign_language"]]
    assert flags["product_id"].isna().all() and flagged_pairs(store_url).empty  # a query, not a pair
    undo_last("ann", "c", url=store_url)  # the tie is taken back: it no longer counts
    got = side_by_side_reasons("c", url=store_url)
    assert got[["outcome", "reason", "n"]].values.tolist() == [
        ["bm25 better", COMPARE_REASONS[0], 2], ["bm25 better", "(none)", 1]]
    assert got["share"].round(3).tolist() == [0.667, 0.333]


def _model_a(url, view) -> str:
    with session_scope(url) as s:
        return s.get(Task, view.task_id).payload["model_a"]


def test_migration_0005_matches_the_models(sqlite_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from db.models import Base

    engine = create_engine(sqlite_url)
    with warnings.catch_warnings(), engine.connect() as c:  # 0004's expression index cannot be compared
        warnings.simplefilter("ignore")
        diff = compare_metadata(MigrationContext.configure(c), Base.metadata)
    engine.dispose()
    assert diff == []


def test_deleting_an_unused_campaign_takes_its_flags_along(both):
    from core.campaigns import delete_campaign

    create_campaign(spec(n_tasks=2, raters=("ann",)), url=both)
    held = next_task("c", "ann", url=both)
    flag_task(held.assignment_id, "ann", "other", "wrong campaign", url=both)
    assert delete_campaign("c", actor="ada", url=both) == "c"  # no label or answer: it may go, with its flags
    assert count(both, "flags") == 0 and open_flags(both).empty
