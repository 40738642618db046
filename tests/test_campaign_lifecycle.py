"""Campaign lifecycle (instructions, pause, resume, close, archive, delete; staff only) and the label exports
(labels in force, raw labels, side-by-side answers, qrels; formula-safe CSV and Parquet). Small hand-made stores
from ``test_campaigns.seed``; the rater flow under a paused campaign also runs on PostgreSQL."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from conftest import count, snapshot
from sqlalchemy import insert, update
from test_campaigns import T0, seed, spec

from core.campaigns import (CampaignError, CampaignInUseError, CampaignNotActiveError, CampaignSpec, NotPermittedError,
                            create_campaign, delete_campaign, get_campaign, instructions_markdown,
                            list_campaigns, next_task, pause_campaign, rater_campaign_list, resume_campaign,
                            set_instructions, set_status, skip, submit_comparison, submit_grade, undo_last)
from core.campaigns.assignment import has_work
from core.cli import main
from core.errors import SessionEndedError
from core.store.auth import SessionUser
from core.store.session import session_scope
from core.workflows.export import export_file_name, label_export, write_export
from db.models import Query, User

STAFF = {"rex": "researcher", "ada": "admin", "old": "researcher"}


def _staff(url: str) -> str:
    with session_scope(url) as s:
        s.execute(insert(User), [dict(name=n, name_key=n, role=r, password_hash="-", must_change_password=False,
                                      active=n != "old") for n, r in STAFF.items()])
    return url


@pytest.fixture
def store(sqlite_url):
    return _staff(seed(sqlite_url))


@pytest.fixture
def both(store_url):
    return _staff(seed(store_url))


# ------------------------------------------------------------------------------------------ status

def test_a_paused_campaign_hands_out_nothing_but_takes_answers_on_screen_until_resumed(both):
    create_campaign(spec(n_tasks=4), url=both)
    held = next_task("c", "ann", url=both, now=T0)
    assert pause_campaign("c", actor="rex", url=both).status == "paused"
    with pytest.raises(CampaignNotActiveError, match="paused; it hands out no new tasks until") as err:
        next_task("c", "bob", url=both, now=T0)
    assert (err.value.campaign, err.value.status) == ("c", "paused")
    assert not has_work("c", "ann", url=both, now=T0)
    submit_grade(held.assignment_id, "ann", 4, url=both, now=T0)  # the item was on screen: its answer counts
    with pytest.raises(CampaignNotActiveError, match="reopens no answers"):
        undo_last("ann", "c", url=both, now=T0)
    assert resume_campaign("c", actor="ada", url=both).status == "active"
    assert next_task("c", "bob", url=both, now=T0) is not None


def test_a_closed_campaign_takes_no_answer_skip_or_undo(store):
    create_campaign(spec(n_tasks=4), url=store)
    a = next_task("c", "ann", url=store, now=T0)
    submit_grade(a.assignment_id, "ann", 3, url=store, now=T0)
    b = next_task("c", "ann", url=store, now=T0)
    set_status("c", "close", url=store)
    before = snapshot(store)
    for call in (lambda: submit_grade(b.assignment_id, "ann", 5, url=store, now=T0),
                 lambda: skip(b.assignment_id, "ann", url=store, now=T0),
                 lambda: undo_last("ann", "c", url=store, now=T0),
                 lambda: next_task("c", "ann", url=store, now=T0)):
        with pytest.raises(CampaignNotActiveError, match="'c' is closed"):
            call()
    assert snapshot(store) == before


def test_side_by_side_answers_wait_for_resume_too(store):
    create_campaign(spec(name="s", kind="side_by_side", n_tasks=2, models=("bm25", "random"), sbs_k=3), url=store)
    t = next_task("s", "ann", url=store, now=T0)
    set_status("s", "archive", url=store)
    with pytest.raises(CampaignNotActiveError, match="archived"):
        submit_comparison(t.assignment_id, "ann", "A", url=store, now=T0)


@pytest.mark.parametrize("start, action, message", [
    ("active", "resume", "active already"), ("paused", "pause", "paused already"),
    ("archived", "close", "close applies to a campaign that is active or paused"),
    ("active", "explode", "action must be one of pause, resume, close, archive")],
    ids=["resume-active", "pause-paused", "close-archived", "unknown"])
def test_status_changes_say_what_is_allowed(store, start, action, message):
    create_campaign(spec(), url=store)
    if start != "active":
        set_status("c", {"paused": "pause", "archived": "archive"}[start], url=store)
    with pytest.raises(CampaignError, match=message):
        set_status("c", action, url=store)
    assert get_campaign("c", url=store).status == start


def test_archived_campaigns_leave_the_default_lists_and_raters_see_active_and_paused(store):
    for name in ("a", "p", "x", "z"):
        create_campaign(spec(name=name, n_tasks=2), url=store)
    set_status("p", "pause", url=store)
    set_status("x", "close", url=store)
    set_status("z", "archive", url=store)
    assert [c.name for c in list_campaigns(url=store)] == ["a", "p", "x"]
    assert [c.name for c in list_campaigns(include_archived=True, url=store)] == ["a", "p", "x", "z"]
    assert [(c.name, c.status) for c in rater_campaign_list("ann", "grade", url=store)] == [("p", "paused"),
                                                                                             ("a", "active")]
    assert main(["--db", store, "campaign", "list"]) == 0
    assert main(["--db", store, "campaign", "resume", "z"]) == 0
    assert [c.name for c in list_campaigns(url=store)] == ["a", "p", "x", "z"]


# ------------------------------------------------------------------------------------------ who may

@pytest.mark.parametrize("actor, error", [
    ("ann", NotPermittedError), ("vic", NotPermittedError), ("old", NotPermittedError), ("nobody", NotPermittedError),
    (SessionUser("rex", "researcher", version=7), SessionEndedError)],
    ids=["rater", "viewer", "deactivated-researcher", "unknown", "stale-session"])
def test_only_active_staff_change_a_campaign(store, actor, error):
    create_campaign(spec(), url=store)
    before = snapshot(store)
    for call in (lambda: set_status("c", "pause", actor=actor, url=store),
                 lambda: set_instructions("c", "Be careful", actor=actor, url=store),
                 lambda: delete_campaign("c", actor=actor, url=store)):
        with pytest.raises(error):
            call()
    assert snapshot(store) == before
    assert set_status("c", "pause", actor=SessionUser("rex", "researcher", version=0), url=store).status == "paused"


# ------------------------------------------------------------------------------------------ delete

def test_delete_removes_an_unused_campaign_with_its_tasks_leases_skips_and_raters(store):
    create_campaign(spec(n_tasks=4), url=store)
    create_campaign(spec(name="keep", n_tasks=2), url=store)
    skip(next_task("c", "ann", url=store, now=T0).assignment_id, "ann", url=store, now=T0)
    next_task("c", "bob", url=store, now=T0)
    assert delete_campaign("c", actor="ada", url=store) == "c"
    assert [c.name for c in list_campaigns(include_archived=True, url=store)] == ["keep"]
    assert (count(store, "tasks"), count(store, "assignments"), count(store, "campaign_raters")) == (2, 0, 4)


def test_delete_refuses_a_campaign_with_labels_even_undone_ones(store):
    create_campaign(spec(n_tasks=4), url=store)
    t = next_task("c", "ann", url=store, now=T0)
    submit_grade(t.assignment_id, "ann", 2, url=store, now=T0)
    undo_last("ann", "c", url=store, now=T0)
    before = snapshot(store)
    with pytest.raises(CampaignInUseError, match=r"holds 2 label row\(s\).*close or archive it instead"):
        delete_campaign("c", url=store)
    assert snapshot(store) == before
    assert main(["--db", store, "campaign", "delete", "c"]) == 2


def test_delete_refuses_a_campaign_with_side_by_side_answers(store):
    create_campaign(spec(name="s", kind="side_by_side", n_tasks=2, models=("bm25", "random"), sbs_k=3), url=store)
    t = next_task("s", "ann", url=store, now=T0)
    submit_comparison(t.assignment_id, "ann", "tie", url=store, now=T0)
    with pytest.raises(CampaignInUseError, match=r"1 side-by-side answer row"):
        delete_campaign("s", url=store)


# ------------------------------------------------------------------------------------------ instructions

def test_instructions_are_kept_in_the_config_and_listed_for_raters(store, tmp_path):
    create_campaign(spec(instructions="  # Rules\nJudge **colour** too.  "), url=store)
    assert get_campaign("c", url=store).config["instructions"] == "# Rules\nJudge **colour** too."
    assert get_campaign("c", url=store).config["candidates"] == "store"
    info = set_instructions("c", "New rules", actor="rex", url=store)
    assert info.config["instructions"] == "New rules" and info.config["n_tasks"] == 6
    assert rater_campaign_list("ann", "grade", url=store)[0].instructions == "New rules"
    file = tmp_path / "rules.md"
    file.write_text("From a *file*")
    assert main(["--db", store, "campaign", "instructions", "c", str(file)]) == 0
    assert get_campaign("c", url=store).config["instructions"] == "From a *file*"
    assert main(["--db", store, "campaign", "instructions", "c", "--clear"]) == 0
    assert "instructions" not in get_campaign("c", url=store).config
    with pytest.raises(CampaignError, match="at most 20,000 characters"):
        set_instructions("c", "x" * 20_001, url=store)
    with pytest.raises(CampaignError, match="at most 20,000 characters"):
        CampaignSpec(name="long", instructions="x" * 20_001)


def test_cli_creates_a_campaign_with_instructions_and_changes_its_status(store, tmp_path, capsys):
    file = tmp_path / "rules.md"
    file.write_text("Read the *whole* title.")
    assert main(["--db", store, "campaign", "create", "cli", "--tasks", "3", "--raters", "ann",
                 "--candidates", "store", "--instructions", str(file)]) == 0
    assert get_campaign("cli", url=store).config["instructions"] == "Read the *whole* title."
    for action, status in (("pause", "paused"), ("resume", "active"), ("close", "closed"), ("archive", "archived")):
        assert main(["--db", store, "campaign", action, "cli"]) == 0
        assert f"campaign 'cli' is {status}" in capsys.readouterr().out
    assert main(["--db", store, "campaign", "delete", "cli"]) == 0
    assert main(["--db", store, "campaign", "list", "--all"]) == 0
    assert "no campaigns yet" in capsys.readouterr().out


@pytest.mark.parametrize("text, expected", [
    ("**bold** and [a link](https://example.org/a_(b))", "**bold** and [a link](https://example.org/a_(b))"),
    ("<b>x</b><script>alert(1)</script>", "xalert(1)"),
    ("![pixel](http://tracker.example/p.png)", "[pixel](http://tracker.example/p.png)"),
    ("[run](javascript:alert(1)) [mail](mailto:a@b.org)", "run [mail](mailto:a@b.org)"),
    ("see <https://example.org> <!-- hidden --> 3 < 5 > 4", "see https://example.org  3 < 5 > 4"),
    ("[x][r]\n\n[r]: javascript:alert(1)", "[x][r]"),
    ('<img src="http://tracker.example/i.png" onerror="alert(1)">ok', "ok"),
], ids=["markdown-and-links", "tags", "image-becomes-link", "unsafe-scheme", "autolink-comment-lt", "reference",
        "img-tag"])
def test_instructions_render_without_html_images_or_unsafe_links(text, expected):
    assert instructions_markdown(text) == expected


# ------------------------------------------------------------------------------------------ exports

def _rated(url: str) -> str:
    """Campaign c with ann's 4 and an undone 2 of bob, a query text that starts like a formula, and campaign s."""
    with session_scope(url) as s:
        s.execute(update(Query).where(Query.query_id == "q1").values(text="=HYPERLINK(\"http://x\")"))
    create_campaign(spec(n_tasks=3, overlap_k=2), url=url)
    t = next_task("c", "ann", url=url, now=T0)
    submit_grade(t.assignment_id, "ann", 4, seconds=2.5, url=url, now=T0)
    u = next_task("c", "bob", url=url, now=T0)
    submit_grade(u.assignment_id, "bob", 2, url=url, now=T0)
    undo_last("bob", "c", url=url, now=T0)
    create_campaign(spec(name="s", kind="side_by_side", n_tasks=1, models=("bm25", "random"), sbs_k=3), url=url)
    v = next_task("s", "cat", url=url, now=T0)
    submit_comparison(v.assignment_id, "cat", "B", reason="=cmd", url=url, now=T0)
    return url


def test_raw_labels_keep_every_row_with_rater_time_and_whether_it_counts(store):
    _rated(store)
    raw = pd.read_csv(io.BytesIO(label_export("raw", campaign="c", url=store).data))
    assert list(raw["rater"]) == ["ann", "bob", "bob"]
    assert list(raw["level"].fillna(0)) == [4, 2, 0]  # the undo row has no level
    assert list(raw["in_force"]) == [True, False, False]
    assert raw["created_at"].str.startswith("2026-01-05 09:00:00").all() and raw["seconds_spent"][0] == 2.5
    assert set(raw["campaign"]) == {"c"}
    whole = pd.read_parquet(io.BytesIO(label_export("raw", "parquet", url=store).data))
    assert len(whole) == 28 and str(whole["created_at"].dt.tz) == "UTC"  # 25 seeded labels + 3 campaign rows
    assert whole["level"].dtype == "Int64" and whole.loc[whole["campaign"].isna(), "source"].str.match(
        r"import:seed|gold").all()


def test_csv_exports_neutralise_formulas_and_parquet_keeps_the_text(store):
    _rated(store)
    for kind in ("labels", "raw"):
        csv = pd.read_csv(io.BytesIO(label_export(kind, url=store).data))
        texts = set(csv["query"])
        assert "'=HYPERLINK(\"http://x\")" in texts and "=HYPERLINK(\"http://x\")" not in texts
        parquet = pd.read_parquet(io.BytesIO(label_export(kind, "parquet", url=store).data))
        assert "=HYPERLINK(\"http://x\")" in set(parquet["query"])
    answers = pd.read_csv(io.BytesIO(label_export("answers", campaign="s", url=store).data))
    assert list(answers[["rater", "answer", "reason", "in_force"]].itertuples(index=False, name=None)) == [
        ("cat", "B", "'=cmd", True)]


def test_labels_in_force_and_qrels_for_one_campaign(store):
    _rated(store)
    labels = pd.read_csv(io.BytesIO(label_export("labels", campaign="c", url=store).data))
    assert list(labels[["level", "n_raters", "source"]].itertuples(index=False, name=None)) == [(4, 1, "human")]
    qrels = label_export("qrels", campaign="c", url=store)
    assert qrels.data.decode().splitlines() == [f"{labels['query_id'][0]} 0 {labels['product_id'][0]} 3"]
    assert (qrels.file_name, qrels.mime, qrels.rows) == ("qrels_c_linear.qrels", "text/plain", 1)
    whole = label_export("qrels", url=store)
    assert whole.rows == 25  # 20 imported pairs and 5 gold ones; the campaign sampled one of them
    assert export_file_name("raw", "parquet", "my campaign/1") == "raw_my_campaign_1.parquet"


def test_export_labels_cli_writes_raw_rows(store, tmp_path):
    _rated(store)
    out = tmp_path / "raw.parquet"
    assert main(["--db", store, "export-labels", "--out", str(out), "--raw", "--campaign", "c"]) == 0
    assert len(pd.read_parquet(out)) == 3
    assert write_export("answers", tmp_path / "a.csv", url=store) == 1
    assert main(["--db", store, "export-labels", "--out", str(tmp_path / "x.txt"), "--raw"]) == 2
