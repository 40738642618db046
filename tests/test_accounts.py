"""Accounts (core.store.users, core.store.auth): the name rule and case-insensitive names, deactivation and
role changes, sessions that end when rights or credentials change, the sign-in lockout under 64 parallel
attempts, the bound on parallel password checks, the migration of existing stores, the `users` CLI and the
rights check where a rater's write happens (core.campaigns)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, insert, select, text

from core.campaigns import (CampaignSpec, RaterNotInCampaignError, create_campaign, next_task, skip,
                            submit_grade, undo_last)
from core.cli.main import main as cli
from core.errors import ConfigError, LoginLocked, SessionEndedError, UserError
from core.store import auth, users
from core.store.session import session_scope
from db.migrate import upgrade
from db.models import Label, Product, Query, User


@pytest.fixture
def url(sqlite_url):
    for name, role in (("ada", "admin"), ("rita", "rater"), ("vic", "viewer")):
        users.add_user(name, role, f"{name}-password", url=sqlite_url)
    return sqlite_url


# ------------------------------------------------------------------------------------------ names

@pytest.mark.parametrize("name", ["", " ", "a", "x" * 65, "ana maría", "ümit", "a#b", "bob@example.com", "a/b"],
                         ids=["empty", "blank", "one-char", "65-chars", "space", "non-ascii", "hash", "at", "slash"])
def test_bad_names_are_refused_with_the_rule(sqlite_url, name):
    with pytest.raises(UserError, match="2–64 characters: letters a–z or A–Z, digits, '.', '_' or '-'"):
        users.add_user(name, "rater", "long-enough", url=sqlite_url)
    assert users.list_users(sqlite_url) == []


def test_names_are_unique_whatever_their_case(sqlite_url):
    users.add_user("Rater4", "rater", "rater4-password", url=sqlite_url)
    with pytest.raises(UserError, match=r"user 'rater4' exists already \(as 'Rater4'; names ignore case\)"):
        users.add_user("rater4", "viewer", "other-password", url=sqlite_url)
    assert [u.name for u in users.list_users(sqlite_url)] == ["Rater4"]
    for typed in ("rater4", "RATER4", " Rater4 "):
        assert auth.sign_in(typed, "rater4-password", url=sqlite_url, throttle=auth.LoginThrottle()).name == "Rater4"


def test_migration_keeps_names_that_clashed_in_case(tmp_path):
    """A store at revision 0002 holding 'Rater4' and (later) 'rater4' migrates; each signs in by its exact name."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0002")
    hashed = users._HASHER.hash("same-password")
    with session_scope(url) as s:
        for i, name in enumerate(("Rater4", "rater4", "ada")):
            s.execute(text("INSERT INTO users (name, role, password_hash, must_change_password, active, created_at) "
                           "VALUES (:n, 'rater', :h, 0, 1, :t)"), dict(n=name, h=hashed, t=f"2026-01-0{i + 1}"))
    upgrade(url)
    with session_scope(url) as s:
        keys = dict(s.execute(select(User.name, User.name_key)).tuples().all())
        assert s.scalar(select(func.min(User.session_version))) == 0
    assert keys["Rater4"] == "rater4" and keys["rater4"].startswith("rater4#") and keys["ada"] == "ada"
    throttle = auth.LoginThrottle()
    assert auth.sign_in("rater4", "same-password", url=url, throttle=throttle).name == "rater4"
    assert auth.sign_in("Rater4", "same-password", url=url, throttle=throttle).name == "Rater4"
    with pytest.raises(UserError, match="exists already"):
        users.add_user("RATER4", "rater", "long-enough", url=url)


# ------------------------------------------------------------------------------------------ lifecycle

def test_deactivation_refuses_sign_in_and_ends_open_sessions(url):
    session = auth.sign_in("rita", "rita-password", url=url, throttle=auth.LoginThrottle())
    users.set_active("RITA", False, actor="ada", url=url)
    assert auth.sign_in("rita", "rita-password", url=url, throttle=auth.LoginThrottle()) is None
    with pytest.raises(SessionEndedError, match="An admin deactivated your account") as ended:
        auth.check_session(session, url=url)
    assert ended.value.reason == "deactivated"
    with pytest.raises(UserError, match="'rita' is inactive already"):
        users.set_active("rita", False, url=url)
    users.set_active("rita", True, url=url)
    with pytest.raises(SessionEndedError):  # reactivating does not revive the old session
        auth.check_session(session, url=url)
    fresh = auth.sign_in("rita", "rita-password", url=url, throttle=auth.LoginThrottle())
    assert auth.check_session(fresh, url=url) == fresh


def test_role_change_ends_open_sessions_with_the_new_role_named(url):
    session = auth.sign_in("rita", "rita-password", url=url, throttle=auth.LoginThrottle())
    users.set_role("rita", "viewer", actor="ada", url=url)
    with pytest.raises(SessionEndedError, match="Your role changed from rater to viewer") as ended:
        auth.check_session(session, url=url)
    assert ended.value.reason == "role"
    with pytest.raises(UserError, match="unknown role 'root'"):
        users.set_role("rita", "root", url=url)
    with pytest.raises(UserError, match="no user 'nobody'"):
        users.set_role("nobody", "rater", url=url)


def test_admins_cannot_lock_themselves_out(url):
    with pytest.raises(UserError, match="you cannot deactivate your own account"):
        users.set_active("ada", False, actor="Ada", url=url)
    with pytest.raises(UserError, match="the last active admin"):
        users.set_role("ada", "rater", url=url)
    with pytest.raises(UserError, match="your own account; change your password on the Account page"):
        auth.reset_to_one_time_password("ada", actor="ada", url=url)
    users.set_role("rita", "admin", url=url)
    users.set_role("ada", "researcher", actor="rita", url=url)  # another admin exists now


def test_a_password_change_ends_the_other_sessions_only(url):
    throttle = auth.LoginThrottle()
    other = auth.sign_in("rita", "rita-password", url=url, throttle=throttle)
    mine = auth.sign_in("rita", "rita-password", url=url, throttle=throttle)
    mine = auth.change_password(mine.name, "rita-password", "rita-new-password", "rita-new-password", url=url)
    assert auth.check_session(mine, url=url) == mine
    with pytest.raises(SessionEndedError, match="Your password was changed in another session"):
        auth.check_session(other, url=url)


def test_a_reset_ends_the_session_and_says_so_at_the_next_sign_in(url):
    session = auth.sign_in("rita", "rita-password", url=url, throttle=auth.LoginThrottle())
    one_time = auth.reset_to_one_time_password("rita", actor="ada", url=url)
    with pytest.raises(SessionEndedError, match="An admin reset your password"):
        auth.check_session(session, url=url)
    again = auth.sign_in("rita", one_time, url=url, throttle=auth.LoginThrottle())
    assert again.must_change_password and again.reset
    done = auth.change_password("rita", one_time, "rita-own-password", "rita-own-password", url=url)
    assert not done.must_change_password and not done.reset
    nora = auth.sign_in("nora", auth.create_user_with_one_time_password("nora", "rater", url=url), url=url,
                        throttle=auth.LoginThrottle())
    assert nora.must_change_password and not nora.reset  # a new account's one-time password, not a reset


# ------------------------------------------------------------------------------------------ sign-in

def test_64_parallel_guesses_cannot_slip_past_the_lockout(url):
    """63 wrong guesses and the right one start together: at most max_failures passwords are checked."""
    throttle, gate = auth.LoginThrottle(max_failures=5, lock_seconds=60), auth.CheckGate(4)
    guesses = [f"guess-{i:02d}" for i in range(64)]
    guesses[41] = "ada-password"
    start, results = threading.Barrier(64), [None] * 64

    def attempt(i):
        start.wait()
        try:
            results[i] = auth.sign_in("ada", guesses[i], client="10.0.0.9", url=url, throttle=throttle,
                                      check_gate=gate)
        except LoginLocked as exc:
            results[i] = exc

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    checked = [r for r in results if not isinstance(r, LoginLocked)]
    assert len(checked) <= 5 and sum(isinstance(r, LoginLocked) for r in results) >= 59
    assert gate.peak <= 4
    if results[41] is None or isinstance(results[41], LoginLocked):  # the right guess was not among those checked
        with pytest.raises(LoginLocked):
            auth.sign_in("ada", "ada-password", client="10.0.0.9", url=url, throttle=throttle, check_gate=gate)
    # the lock is per (name, client): ada signs in from elsewhere, and another name from the same client
    assert auth.sign_in("ADA", "ada-password", client="10.0.0.1", url=url, throttle=throttle).name == "ada"
    assert auth.sign_in("rita", "rita-password", client="10.0.0.9", url=url, throttle=throttle).name == "rita"


def test_parallel_password_checks_are_bounded(url):
    """16 sign-ins with unknown names from 16 clients: never more than the gate's limit of Argon2 checks at once."""
    gate = auth.CheckGate(2)
    throttle = auth.LoginThrottle()
    threads = [threading.Thread(target=auth.sign_in, args=(f"ghost{i}", "whatever-pw"),
                                kwargs=dict(client=f"c{i}", url=url, throttle=throttle, check_gate=gate))
               for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gate.peak == 2 and gate.running == 0


def test_throttle_backs_off_per_name_and_client():
    t = auth.LoginThrottle(max_failures=2, lock_seconds=10, max_lock=100)
    for now in (0, 1):
        t.finish(t.begin("Eve", "a", now=now), False, now=now)
    assert t.wait_seconds("eve", "a", now=1) == 10 and t.wait_seconds("eve", "b", now=1) == 0
    with pytest.raises(LoginLocked, match="try again in 10 s"):
        t.begin("eve", "a", now=1)
    t.finish(t.begin("eve", "a", now=11), False, now=11)
    assert t.wait_seconds("eve", "a", now=11) == 20  # doubled
    t.finish(t.begin("eve", "b", now=11), True, now=11)
    assert t.wait_seconds("eve", "a", now=11) == 20  # a success elsewhere does not unlock this client


@pytest.mark.parametrize("value,seconds", [("0", 0), ("90", 5400)], ids=["off", "90-minutes"])
def test_idle_timeout_setting(monkeypatch, value, seconds):
    monkeypatch.setenv("RELEVANCE_IDLE_TIMEOUT_MINUTES", value)
    assert auth.idle_timeout_seconds() == seconds


def test_a_bad_idle_timeout_is_a_config_error(monkeypatch):
    monkeypatch.setenv("RELEVANCE_IDLE_TIMEOUT_MINUTES", "soon")
    with pytest.raises(ConfigError, match="RELEVANCE_IDLE_TIMEOUT_MINUTES must be an integer >= 0; got 'soon'"):
        auth.idle_timeout_seconds()


# ------------------------------------------------------------------------------------------ the `users` CLI

def test_cli_changes_roles_and_status(url, capsys):
    assert cli(["--db", url, "users", "role", "RITA", "viewer"]) == 0
    assert cli(["--db", url, "users", "deactivate", "vic"]) == 0
    out = capsys.readouterr().out
    assert "rita is now a viewer" in out and "vic deactivated" in out
    assert cli(["--db", url, "users", "list"]) == 0
    assert "rita\tviewer\tactive\nvic\tviewer\tinactive" in capsys.readouterr().out
    assert cli(["--db", url, "users", "reactivate", "vic"]) == 0
    assert cli(["--db", url, "users", "deactivate", "ada"]) == 2
    assert "last active admin" in capsys.readouterr().err
    assert cli(["--db", url, "users", "add", "a b", "--role", "rater"]) == 2
    assert "2–64 characters" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ rights at the write

@pytest.fixture
def campaign(url):
    with session_scope(url) as s:
        s.execute(insert(Product), [dict(product_id=f"P{i}", title=f"product {i}") for i in range(6)])
        s.execute(insert(Query), [dict(query_id=f"q{i}", text=f"query {i}", language="en", count=0)
                                  for i in range(3)])
        s.execute(insert(Label), [dict(query_pk=q + 1, product_pk=p + 1, level=3, source="import:seed")
                                  for q in range(3) for p in range(2)])
    create_campaign(CampaignSpec(name="c", n_tasks=4, raters=("rita", "ada"), candidates="store"), url=url)
    return url


def _labels(url) -> int:
    with session_scope(url) as s:
        return s.scalar(select(func.count()).select_from(Label).where(Label.source == "human"))


def test_a_demoted_or_deactivated_rater_writes_nothing(campaign):
    url = campaign
    task = next_task("c", "rita", url=url)
    submit_grade(task.assignment_id, "rita", 4, url=url)
    task = next_task("c", "rita", url=url)
    users.set_role("rita", "viewer", url=url)  # still listed as a rater of the campaign
    with pytest.raises(RaterNotInCampaignError, match="'rita' is a viewer and cannot rate"):
        submit_grade(task.assignment_id, "rita", 5, url=url)
    with pytest.raises(RaterNotInCampaignError, match="is a viewer"):
        undo_last("rita", "c", url=url)
    users.set_role("rita", "rater", url=url)
    users.set_active("rita", False, url=url)
    for call in (lambda: submit_grade(task.assignment_id, "rita", 5, url=url),
                 lambda: skip(task.assignment_id, "rita", url=url), lambda: undo_last("rita", "c", url=url),
                 lambda: next_task("c", "rita", url=url)):
        with pytest.raises(RaterNotInCampaignError, match="the account 'rita' is deactivated"):
            call()
    assert _labels(url) == 1


def test_a_session_that_ended_cannot_write_through_core(campaign):
    url = campaign
    session = auth.sign_in("ada", "ada-password", url=url, throttle=auth.LoginThrottle())
    task = next_task("c", session, url=url)
    assert submit_grade(task.assignment_id, session, 2, url=url)
    task = next_task("c", session, url=url)
    auth.change_password("ada", "ada-password", "ada-new-password", "ada-new-password", url=url)
    with pytest.raises(SessionEndedError, match="the session of 'ada' has ended"):
        submit_grade(task.assignment_id, session, 5, url=url)
    assert _labels(url) == 1
