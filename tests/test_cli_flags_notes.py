"""``relevance flags list|resolve`` and ``relevance notes show|set`` (core/cli/flags_notes.py): the raters' flags and
the researchers' query notes without the app. Exact output, ``--json``, and refused input: exit 2, one line on
stderr, the store unchanged. SQLite and PostgreSQL; the small store of ``test_campaigns.seed``."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from conftest import snapshot
from sqlalchemy import insert
from test_campaigns import T0, seed, spec

from core.campaigns import create_campaign, next_task
from core.campaigns.flags import flag_task, list_flags, resolve_flag
from core.campaigns.query_notes import note_history, query_note, set_query_note
from core.cli import main
from core.store.session import session_scope
from db.models import User

T1 = T0 + timedelta(hours=1)
STAFF = {"rex": "researcher", "ada": "admin"}


@pytest.fixture
def store(store_url):
    """Raters ann..dan, viewer vic, researcher rex, admin ada; campaigns c (2 tasks) and d (1 task); three open
    flags raised at T0: 1 (ann, c), 2 (bob, c), 3 (bob, d, no comment)."""
    seed(store_url)
    with session_scope(store_url) as s:
        s.execute(insert(User), [dict(name=n, name_key=n, role=r, password_hash="-", must_change_password=False)
                                 for n, r in STAFF.items()])
    create_campaign(spec(n_tasks=2, raters=("ann", "bob")), url=store_url)
    create_campaign(spec(name="d", n_tasks=1, raters=("bob",)), url=store_url)
    for campaign, rater, reason, comment in (("c", "ann", "broken_image", "the picture is a 404"),
                                             ("c", "bob", "ambiguous_query", "  red what? shoes or a lamp, it could "
                                                                             "be either\none of them  "),
                                             ("d", "bob", "unsure", None)):
        t = next_task(campaign, rater, url=store_url, now=T0)
        flag_task(t.assignment_id, rater, reason, comment, url=store_url, now=T0)
    return store_url


def run(url, *argv, capsys) -> tuple[int, str, str]:
    rc = main(["--db", url, *argv])
    out, err = capsys.readouterr()
    return rc, out, err


OPEN_TABLE = """\
flag_id campaign  kind query_id      query product_id rater          reason                                  comment       created_at
      1        c grade       q4 zapatillas        P06   ann    broken_image                     the picture is a 404 2026-01-05 09:00
      2        c grade       q1  red shoes        P09   bob ambiguous_query red what? shoes or a lamp, it could be … 2026-01-05 09:00
      3        d grade       q4 zapatillas        P06   bob          unsure                                        — 2026-01-05 09:00
"""


def test_flags_list_prints_the_open_flags_oldest_first(store, capsys):
    assert run(store, "flags", "list", capsys=capsys) == (0, OPEN_TABLE, "")
    assert run(store, "flags", "list", "--campaign", "d", capsys=capsys) == (0, (
        "flag_id campaign  kind query_id      query product_id rater reason comment       created_at\n"
        "      3        d grade       q4 zapatillas        P06   bob unsure       — 2026-01-05 09:00\n"), "")


def test_flags_list_all_adds_the_resolved_ones_with_who_and_how(store, capsys):
    resolve_flag(2, "  means red shoes  ", actor="rex", url=store, now=T1)
    rc, out, _ = run(store, "flags", "list", capsys=capsys)
    assert rc == 0 and [line.split()[0] for line in out.splitlines()] == ["flag_id", "1", "3"]
    rc, out, _ = run(store, "flags", "list", "--all", "--campaign", "c", capsys=capsys)
    assert rc == 0 and out == (
        "flag_id campaign  kind query_id      query product_id rater          reason                                  "
        "comment       created_at      resolved_at resolved_by      resolution\n"
        "      1        c grade       q4 zapatillas        P06   ann    broken_image                     the "
        "picture is a 404 2026-01-05 09:00                —           —               —\n"
        "      2        c grade       q1  red shoes        P09   bob ambiguous_query red what? shoes or a lamp, it "
        "could be … 2026-01-05 09:00 2026-01-05 10:00         rex means red shoes\n")


def _flag(fid, campaign, task_id, query_id, query, rater, reason, comment, **resolved):
    return {"flag_id": fid, "campaign": campaign, "kind": "grade", "task_id": task_id, "query_id": query_id,
            "query": query, "product_id": "P06" if query_id == "q4" else "P09", "rater": rater, "reason": reason,
            "comment": comment, "created_at": "2026-01-05T09:00:00+00:00", "resolved_at": None, "resolved_by": None,
            "resolution": None} | resolved


def test_flags_list_json_has_every_field_and_whole_texts(store, capsys):
    resolve_flag(2, "means red shoes", actor="rex", url=store, now=T1)
    rc, out, err = run(store, "flags", "list", "--json", "--all", capsys=capsys)
    assert (rc, err) == (0, "")
    assert json.loads(out) == [
        _flag(1, "c", 2, "q4", "zapatillas", "ann", "broken_image", "the picture is a 404"),
        _flag(2, "c", 1, "q1", "red shoes", "bob", "ambiguous_query",
              "red what? shoes or a lamp, it could be either\none of them",
              resolved_at="2026-01-05T10:00:00+00:00", resolved_by="rex", resolution="means red shoes"),
        _flag(3, "d", 3, "q4", "zapatillas", "bob", "unsure", None)]
    rc, out, _ = run(store, "flags", "list", "--json", "--campaign", "d", capsys=capsys)
    assert rc == 0 and [f["flag_id"] for f in json.loads(out)] == [3]


def test_flags_list_says_when_there_is_none(store, capsys):
    for fid in (1, 2, 3):
        resolve_flag(fid, actor="ada", url=store, now=T1)
    assert run(store, "flags", "list", capsys=capsys) == (
        0, "no open flags (`relevance flags list --all` lists resolved ones too)\n", "")
    assert run(store, "flags", "list", "--campaign", "d", capsys=capsys)[1] == (
        "no open flags in campaign 'd' (`relevance flags list --all` lists resolved ones too)\n")
    assert run(store, "flags", "list", "--json", capsys=capsys) == (0, "[]\n", "")
    rc, out, _ = run(store, "flags", "list", "--all", capsys=capsys)
    assert rc == 0 and len(out.splitlines()) == 4


def test_flags_resolve_records_the_user_and_the_note(store, capsys):
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    assert run(store, "flags", "resolve", "1", "--by", "rex", "--note", " image loads now ", capsys=capsys) == (
        0, "flag 1 resolved by rex; its pair votes again\n", "")
    assert run(store, "flags", "resolve", "3", "--by", "ada", capsys=capsys)[0] == 0
    done = list_flags(store, include_resolved=True).set_index("flag_id")
    assert [done.loc[1, "resolved_by"], done.loc[1, "resolution"], done.loc[3, "resolved_by"]] == [
        "rex", "image loads now", "ada"]
    assert pd.isna(done.loc[3, "resolution"]) and pd.isna(done.loc[2, "resolved_at"])
    stamp = done.loc[1, "resolved_at"]
    stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
    assert before <= stamp <= datetime.now(timezone.utc)
    assert list_flags(store)["flag_id"].tolist() == [2]


@pytest.mark.parametrize("argv, message", [
    (["flags", "resolve", "999", "--by", "ada"], "no flag 999"),
    (["flags", "resolve", "0", "--by", "ada"], "no flag 0"),
    (["flags", "resolve", str(2**70), "--by", "ada"], f"no flag {2**70}"),
    (["flags", "resolve", "1", "--by", "ann"], "'ann' is a rater; only a researcher or admin may change a campaign"),
    (["flags", "resolve", "1", "--by", "nobody"],
     "'nobody' is not an active account; campaigns are managed by researcher or admin accounts"),
    (["flags", "resolve", "1", "--by", "rex", "--note", "x" * 1001],
     "a flag's resolution note must be at most 1,000 characters; got 1,001"),
    (["flags", "resolve", "2", "--by", "ada"], "flag 2 was resolved already by rex at 2026-01-05 10:00 UTC"),
    (["flags", "list", "--campaign", "zz"],
     "no campaign 'zz'; existing: c, d (create one with `relevance campaign create NAME`)"),
    (["notes", "show", "q99"], "no query with query_id 'q99'"),
    (["notes", "set", "q99", "--text", "x", "--by", "rex"], "no query with query_id 'q99'"),
    (["notes", "set", "q1", "--text", "x", "--by", "ann"],
     "'ann' is a rater; only a researcher or admin may change a campaign"),
    (["notes", "set", "q1", "--clear", "--by", "vic"],
     "'vic' is a viewer; only a researcher or admin may change a campaign"),
    (["notes", "set", "q1", "--text", "y" * 2001, "--by", "rex"],
     "a query note must be at most 2,000 characters; got 2,001"),
    (["notes", "set", "q1", "--text", "  \n ", "--by", "rex"], "the note is empty; `--clear` removes a query's note"),
    (["notes", "set", "q1", "--file", "missing.txt", "--by", "rex"],
     "no file 'missing.txt' (a query note is a text file; '-' reads stdin)"),
], ids=["unknown-flag", "flag-0", "flag-huge", "rater-resolves", "no-account", "long-resolution", "resolved-twice",
        "unknown-campaign", "show-unknown-query", "set-unknown-query", "rater-writes", "viewer-clears",
        "long-note", "empty-note", "missing-file"])
def test_refused_input_is_one_line_exit_2_and_writes_nothing(store, capsys, argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    resolve_flag(2, "means red shoes", actor="rex", url=store, now=T1)
    set_query_note("q1", "red shoes, any brand", actor="rex", url=store, now=T0)
    before = snapshot(store)
    assert run(store, *argv, capsys=capsys) == (2, "", f"error: {message}\n")
    assert snapshot(store) == before


@pytest.mark.parametrize("argv", [["flags", "resolve", "one", "--by", "ada"], ["flags", "resolve", "1"],
                                  ["notes", "set", "q1", "--text", "x"], ["notes", "set", "q1", "--by", "rex"],
                                  ["notes", "set", "q1", "--text", "x", "--clear", "--by", "rex"]],
                         ids=["flag-id-not-a-number", "resolve-without-by", "set-without-by", "set-without-text",
                              "text-and-clear"])
def test_malformed_commands_stop_in_the_parser(store, capsys, argv):
    before = snapshot(store)
    with pytest.raises(SystemExit) as exc:
        main(["--db", store, *argv])
    assert exc.value.code == 2 and "usage: relevance" in capsys.readouterr().err
    assert snapshot(store) == before


def test_notes_show_the_note_in_force_with_its_author(store, capsys):
    assert run(store, "notes", "show", "q1", capsys=capsys) == (0, "query 'q1' has no note\n", "")
    set_query_note("q1", "red shoes, any brand\nnot red laces", actor="rex", url=store, now=T0)
    assert run(store, "notes", "show", "q1", capsys=capsys) == (
        0, "query 'q1': note by rex, 2026-01-05 09:00 UTC\nred shoes, any brand\nnot red laces\n", "")
    set_query_note("q1", "shoes", actor=None, url=store, now=T1)
    assert run(store, "notes", "show", "q1", capsys=capsys)[1] == (
        "query 'q1': note by the shell, 2026-01-05 10:00 UTC\nshoes\n")
    set_query_note("q1", "", actor="ada", url=store, now=T1)
    assert run(store, "notes", "show", "q1", capsys=capsys)[1] == "query 'q1' has no note\n"


def test_notes_set_from_text_file_or_stdin_and_clear(store, capsys, tmp_path, monkeypatch):
    assert run(store, "notes", "set", "q1", "--text", "  red shoes, any brand ", "--by", "rex", capsys=capsys) == (
        0, "query 'q1': note set by rex (20 characters)\n", "")
    assert query_note("q1", url=store) == "red shoes, any brand"
    rc, out, _ = run(store, "notes", "show", "q1", capsys=capsys)
    assert rc == 0 and re.fullmatch(r"query 'q1': note by rex, \d{4}-\d\d-\d\d \d\d:\d\d UTC\nred shoes, any brand\n",
                                    out)
    file = tmp_path / "note.txt"
    file.write_text("towels for the kitchen,\nnot for the bath\n", encoding="utf-8")
    assert run(store, "notes", "set", "q2", "--file", str(file), "--by", "ada", capsys=capsys)[1] == (
        "query 'q2': note set by ada (40 characters)\n")
    assert query_note("q2", url=store) == "towels for the kitchen,\nnot for the bath"
    monkeypatch.setattr("sys.stdin", io.StringIO("a lamp of any kind\n"))
    assert run(store, "notes", "set", "q3", "--file", "-", "--by", "rex", capsys=capsys)[1] == (
        "query 'q3': note set by rex (18 characters)\n")
    assert query_note("q3", url=store) == "a lamp of any kind"
    assert run(store, "notes", "set", "q1", "--clear", "--by", "ada", capsys=capsys) == (
        0, "query 'q1': note removed by ada\n", "")
    assert query_note("q1", url=store) == ""
    assert [(h["note"], h["author"]) for h in note_history("q1", url=store)] == [
        ("", "ada"), ("red shoes, any brand", "rex")]


def test_a_note_file_that_is_not_utf8_is_refused(store, capsys, tmp_path):
    file = tmp_path / "latin1.txt"
    file.write_bytes("zapatillas de niño".encode("latin-1"))
    before = snapshot(store)
    assert run(store, "notes", "set", "q4", "--file", str(file), "--by", "rex", capsys=capsys) == (
        2, "", f"error: {str(file)!r} is not UTF-8 text (byte 16); a query note is a text file\n")
    assert snapshot(store) == before
