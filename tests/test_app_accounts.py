"""Accounts in the app (AppTest): a session whose rights changed, or that sat idle, is signed out at its next
click with a notice and writes nothing, even from a button callback; a reset is told truthfully; the Users
page deactivates, reactivates and changes roles; the admin cannot reset their own password there."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the ui package lives next to app.py, like `streamlit run` sees it
    sys.path.insert(0, str(ROOT))

import app_store  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from core.store import auth, users  # noqa: E402
from core.store.session import session_scope  # noqa: E402
from db.models import Label  # noqa: E402
from db.session import dispose  # noqa: E402
from ui.auth import SEEN_KEY, USER_KEY  # noqa: E402


@pytest.fixture(scope="module")
def _template(tmp_path_factory, _catalog_template) -> Path:
    folder = tmp_path_factory.mktemp("accounts")
    path = folder / "app.db"
    shutil.copy(_catalog_template, path)
    app_store.prepare(f"sqlite:///{path}", folder)
    dispose(f"sqlite:///{path}")
    return path


@pytest.fixture
def store(tmp_path, monkeypatch, _template) -> str:
    shutil.copy(_template, tmp_path / "app.db")
    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("RELEVANCE_DB_URL", url)
    monkeypatch.setenv("RELEVANCE_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    return url


def app(name: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if name:
        at.session_state[USER_KEY] = auth.SessionUser(name, app_store.USERS[name][0])
    return ok(at.run())


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


def warnings(at: AppTest) -> str:
    return "\n".join(w.value for w in at.warning)


def human_labels(url: str) -> int:
    with session_scope(url) as s:
        return s.scalar(select(func.count()).select_from(Label).where(Label.source == "human"))


@pytest.mark.parametrize("change,notice", [
    (lambda: users.set_active("rita", False), "An admin deactivated your account"),
    (lambda: users.set_role("rita", "viewer"), "Your role changed from rater to viewer"),
    (lambda: auth.reset_to_one_time_password("rita"), "An admin reset your password"),
], ids=["deactivated", "demoted", "reset"])
def test_a_click_after_the_rights_changed_writes_nothing_and_says_why(store, change, notice):
    at = app("rita")
    assert at.title[0].value == "Rate"
    change()
    at = ok(at.button(key="rate_level_4").click().run())  # a callback: it runs before app.py
    assert human_labels(store) == 0
    assert USER_KEY not in at.session_state and at.title[0].value == "Relevance Studio"
    assert notice in warnings(at)


def test_an_idle_session_is_signed_out_at_the_next_click(store, monkeypatch):
    monkeypatch.setenv("RELEVANCE_IDLE_TIMEOUT_MINUTES", "1")
    at = app("rita")
    at.session_state[SEEN_KEY] = time.time() - 61
    at = ok(at.button(key="rate_level_4").click().run())
    assert human_labels(store) == 0 and USER_KEY not in at.session_state
    assert "signed out after 1 minute without activity" in warnings(at)


def test_a_reset_password_is_told_truthfully(store):
    at = app("ada")
    at = ok(at.switch_page("views/users.py").run())
    assert "ada" not in at.selectbox(key="users_reset_name").options  # own password: the Account page
    at.selectbox(key="users_reset_name").set_value("rita")
    at = ok(at.button(key="FormSubmitter:users_reset_form-Reset to a one-time password").click().run())
    one_time = at.code[0].value
    assert "You signed in with a one-time password" not in "\n".join(i.value for i in at.info)
    rita = app()
    rita.text_input(key="login_name").input("RITA")
    rita.text_input(key="login_password").input(one_time)
    rita = ok(rita.button(key="FormSubmitter:login_form-Sign in").click().run())
    assert rita.title[0].value == "Set a new password"
    assert "An admin reset your password. You signed in with a one-time password" in rita.info[0].value


def test_users_page_changes_roles_and_status(store):
    at = ok(app("ada").switch_page("views/users.py").run())
    at.selectbox(key="users_status_name").set_value("rita")
    at.selectbox(key="users_status_role").set_value("viewer")
    at = ok(at.button(key="FormSubmitter:users_status_form-Change role").click().run())
    assert "**rita** is now a viewer" in "\n".join(s.value for s in at.success)
    at.selectbox(key="users_status_name").set_value("vic")
    at = ok(at.button(key="FormSubmitter:users_status_form-Deactivate").click().run())
    accounts = at.dataframe[0].value.set_index("name")
    assert accounts.loc["rita", "role"] == "viewer" and not accounts.loc["vic", "active"]
    at.selectbox(key="users_status_name").set_value("ada")
    at = ok(at.button(key="FormSubmitter:users_status_form-Deactivate").click().run())
    assert "you cannot deactivate your own account" in at.error[0].value
    at.text_input(key="users_add_name").input("Rita")
    at = ok(at.button(key="FormSubmitter:users_add_form-Create user").click().run())
    assert "exists already (as 'rita'; names ignore case)" in at.error[0].value
