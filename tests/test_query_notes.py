"""Query notes (issue 16, item 8): a researcher or admin writes what a query means; the note is append-only (an
edit is a new row, the latest in force) and comes with every task of that query (``TaskView.note``), loaded in the
same statement as the query. SQLite and PostgreSQL; the store of ``test_campaigns.seed``."""

from __future__ import annotations

import pytest
from conftest import count
from sqlalchemy import event, insert
from test_campaigns import seed, spec

from core.campaigns import CampaignError, NotPermittedError, create_campaign, next_task, submit_grade
from core.campaigns.query_notes import MAX_NOTE, note_history, query_note, set_query_note
from core.store.notes import notes_by_query
from core.store.session import session_scope
from db.models import Query, User


@pytest.fixture
def both(store_url):
    seed(store_url)
    with session_scope(store_url) as s:
        s.execute(insert(User), [dict(name="rex", name_key="rex", role="researcher", password_hash="-",
                                      must_change_password=False)])
    return store_url


def test_a_researcher_writes_a_note_and_raters_get_it_with_every_task_of_the_query(both):
    create_campaign(spec(n_tasks=6, raters=("ann",)), url=both)
    first = next_task("c", "ann", url=both)
    with session_scope(both) as s:
        qid = s.get(Query, s.query(Query.id).filter(Query.text == first.query).scalar()).query_id
    assert first.note == "" and query_note(qid, url=both) == ""
    assert set_query_note(qid, "  shoes in red, any brand  ", actor="rex", url=both) == "shoes in red, any brand"
    set_query_note(qid, "shoes in red, any brand", actor="rex", url=both)  # unchanged: no new row
    assert count(both, "query_notes") == 1
    submit_grade(first.assignment_id, "ann", 3, url=both)
    seen = {}
    while (t := next_task("c", "ann", url=both)) is not None:
        seen[t.query] = t.note
        submit_grade(t.assignment_id, "ann", 3, url=both)
    assert all(note == ("shoes in red, any brand" if q == first.query else "") for q, note in seen.items())

    set_query_note(qid, "red running shoes only", actor=None, url=both)  # the shell
    set_query_note(qid, "", actor="rex", url=both)  # cleared
    assert query_note(qid, url=both) == ""
    assert [h["note"] for h in note_history(qid, url=both)] == ["", "red running shoes only",
                                                               "shoes in red, any brand"]
    assert [h["author"] for h in note_history(qid, url=both)] == ["rex", None, "rex"]
    with session_scope(both) as s:
        assert notes_by_query(s) == {}


def test_only_staff_write_notes(both):
    with pytest.raises(NotPermittedError, match="'ann' is a rater"):
        set_query_note("q1", "x", actor="ann", url=both)
    with pytest.raises(NotPermittedError, match="'nobody' is not an active account"):
        set_query_note("q1", "x", actor="nobody", url=both)
    with pytest.raises(CampaignError, match="no query with query_id 'q99'"):
        set_query_note("q99", "x", actor="rex", url=both)
    with pytest.raises(CampaignError, match="at most 2,000 characters"):
        set_query_note("q1", "x" * (MAX_NOTE + 1), actor="rex", url=both)
    assert count(both, "query_notes") == 0


def test_the_note_costs_no_extra_statement_per_task(sqlite_url):
    """next_task loads the query and its note in one SELECT: the number of statements is the same with a note."""
    from db.session import get_engine

    seed(sqlite_url)
    create_campaign(spec(n_tasks=4, raters=("ann",)), url=sqlite_url)
    statements = []
    engine = get_engine(sqlite_url)
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    def one_step() -> int:
        statements.clear()
        t = next_task("c", "ann", url=sqlite_url)
        submit_grade(t.assignment_id, "ann", 4, url=sqlite_url)
        return len(statements)

    without = one_step()
    for qid in ("q1", "q2", "q3", "q4", "q5"):
        set_query_note(qid, f"meaning of {qid}", url=sqlite_url)
    assert one_step() == without
