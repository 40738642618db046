"""The Streamlit app through ``streamlit.testing.v1.AppTest``: sign-in, roles on every page (menu and direct
runs), the rater's loop, side-by-side, dashboards, failures, data, users and models, and empty states."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the ui package lives next to app.py, like `streamlit run` sees it
    sys.path.insert(0, str(ROOT))

import app_store  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from core.store import auth  # noqa: E402
from core.campaigns import progress  # noqa: E402
from core.store.users import add_user, authenticate  # noqa: E402
from db.models import Campaign, Comparison, Label, Prediction, Product, Query, Task  # noqa: E402
from db.session import dispose  # noqa
from core.store.session import session_scope  # noqa: E402
from ui import pages as page_table  # noqa: E402
from ui.auth import USER_KEY  # noqa: E402

TIMEOUT = 120


def _template(folder: Path, base: Path, fill) -> Path:
    """A session-wide store file: a copy of ``base`` filled by ``fill(url, folder)``."""
    path = folder / "app.db"
    shutil.copy(base, path)
    fill(f"sqlite:///{path}", folder)
    dispose(f"sqlite:///{path}")
    return path


def _use(template: Path, tmp_path, monkeypatch) -> str:
    """A per-test copy of a template store, with an empty artifacts folder; returns its URL."""
    shutil.copy(template, tmp_path / "app.db")
    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("RELEVANCE_DB_URL", url)
    monkeypatch.setenv("RELEVANCE_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    return url


@pytest.fixture(scope="session")
def _app_template(tmp_path_factory, _catalog_template) -> Path:
    return _template(tmp_path_factory.mktemp("app"), _catalog_template, app_store.prepare)


@pytest.fixture
def store(tmp_path, monkeypatch, _app_template) -> str:
    """The app's store (demo catalog, 4 judged queries, users of every role, a grade and a side-by-side
    campaign) and an empty artifacts folder, both per test."""
    return _use(_app_template, tmp_path, monkeypatch)


@pytest.fixture(scope="session")
def _two_sets_template(tmp_path_factory, _app_template) -> Path:
    return _template(tmp_path_factory.mktemp("app2"), _app_template, app_store.add_pointwise)


@pytest.fixture
def two_sets(tmp_path, monkeypatch, _two_sets_template) -> str:
    """The app's store plus a pointwise data set ``small_ml`` (one judged product per query in en, es, ja)."""
    return _use(_two_sets_template, tmp_path, monkeypatch)


@pytest.fixture
def empty_store(sqlite_url, tmp_path, monkeypatch) -> str:
    """No products, labels or campaigns: only users."""
    monkeypatch.setenv("RELEVANCE_DB_URL", sqlite_url)
    monkeypatch.setenv("RELEVANCE_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    for name, (role, password) in app_store.USERS.items():
        add_user(name, role, password, url=sqlite_url)
    return sqlite_url


@pytest.fixture
def fast_dashboard(monkeypatch):
    """Skip the nDCG computation (ranx, BM25) where a test only checks that pages open."""
    import ui.dashboard
    from core.workflows import figures
    monkeypatch.setattr(ui.dashboard, "listwise_per_query", lambda *a, **k: figures.per_query(pd.DataFrame(), ()))
    monkeypatch.setattr(ui.dashboard, "pointwise_table", lambda *a, **k: (pd.DataFrame(), {}, {}))


def app(name: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    if name:
        role = app_store.USERS[name][0]
        at.session_state[USER_KEY] = auth.SessionUser(name, role)
    return at.run()


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "success", "warning", "error", "title", "subheader")
             for e in getattr(at, kind)]
    return "\n".join(map(str, parts))


def sign_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(password)
    return at.button(key="FormSubmitter:login_form-Sign in").click().run()


# ------------------------------------------------------------------------------------------ sign-in

def test_sign_in_page_is_all_an_anonymous_visitor_gets(store):
    at = ok(app())
    assert at.title[0].value == "Relevance Studio"
    assert {t.key for t in at.text_input} == {"login_name", "login_password"}
    with pytest.raises(ValueError):
        at.switch_page("views/rate.py")


def test_rater_signs_in_and_lands_on_rate(store):
    at = ok(sign_in(app(), "rita", "rita-password"))
    assert at.session_state[USER_KEY] == auth.SessionUser("rita", "rater")
    assert at.title[0].value == "Rate"
    assert "rita" in " ".join(m.value for m in at.sidebar.markdown)


@pytest.mark.parametrize("name,password", [("rita", "wrong-password"), ("nobody", "rita-password"), ("", "")],
                         ids=["wrong-password", "unknown-user", "empty"])
def test_wrong_credentials_are_refused(store, name, password):
    at = ok(sign_in(app(), name, password))
    assert USER_KEY not in at.session_state
    assert at.error[0].value == "Wrong user name or password."
    assert at.title[0].value == "Relevance Studio"


def test_one_time_password_must_be_changed_at_first_sign_in(store):
    password = auth.create_user_with_one_time_password("newbie", "rater")
    at = ok(sign_in(app(), "newbie", password))
    assert at.title[0].value == "Set a new password"
    with pytest.raises(ValueError):  # nothing else is in the menu until the password is changed
        at.switch_page("views/rate.py")
    at.text_input(key="account_current").input("not-it")
    at.text_input(key="account_new").input("my-own-password")
    at.text_input(key="account_repeat").input("my-own-password")
    at = ok(at.button(key="FormSubmitter:account_form-Save password").click().run())
    assert "current password is wrong" in at.error[0].value
    at.text_input(key="account_current").input(password)
    at.text_input(key="account_new").input("my-own-password")
    at.text_input(key="account_repeat").input("my-own-password")
    at = ok(at.button(key="FormSubmitter:account_form-Save password").click().run())
    assert at.title[0].value == "Rate"
    assert authenticate("newbie", "my-own-password").must_change_password is False
    assert authenticate("newbie", password) is None


def test_a_deactivated_account_is_signed_out_at_the_next_click(store):
    from db.models import User
    at = ok(app("rita"))
    assert at.title[0].value == "Rate"
    with session_scope() as s:
        s.scalar(select(User).where(User.name == "rita")).active = False
    at = ok(at.run())
    assert at.title[0].value == "Relevance Studio" and USER_KEY not in at.session_state


# ------------------------------------------------------------------------------------------ roles

@pytest.mark.parametrize("name", ["rita", "vic", "rex", "ada"])
def test_each_role_opens_exactly_its_pages(store, fast_dashboard, name):
    role = app_store.USERS[name][0]
    at = ok(app(name))
    assert at.title[0].value == {"rita": "Rate", "vic": "Dashboard"}.get(name, "Relevance Studio")  # the home page
    for spec in page_table.PAGES:
        if page_table.allowed(role, spec.key):
            at = ok(at.switch_page(spec.path).run())
            assert at.title, spec.key
            assert not [e for e in at.error if "is open to" in e.value], spec.key
        else:
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                at.switch_page(spec.path)


FORBIDDEN = [(spec.key, name) for spec in page_table.PAGES for name in ("rita", "vic", "rex")
             if not page_table.allowed(app_store.USERS[name][0], spec.key)]


@pytest.mark.parametrize("key,name", FORBIDDEN, ids=[f"{n}-{k}" for k, n in FORBIDDEN])
def test_pages_refuse_other_roles_even_when_run_directly(store, key, name):
    """A page reached without the menu (URL, switch_page, a stale link) checks the role itself."""
    at = AppTest.from_file(str(ROOT / page_table.page(key).path), default_timeout=TIMEOUT)
    at.session_state[USER_KEY] = auth.SessionUser(name, app_store.USERS[name][0])
    at = ok(at.run())
    assert len(at.error) == 1 and "is open to" in at.error[0].value
    assert not at.title and not at.button and not at.dataframe


@pytest.mark.parametrize("key", [s.key for s in page_table.PAGES])
def test_pages_refuse_anonymous_visitors(store, key):
    at = ok(AppTest.from_file(str(ROOT / page_table.page(key).path), default_timeout=TIMEOUT).run())
    assert at.warning[0].value == "Please sign in first." and not at.title


# ------------------------------------------------------------------------------------------ rating

def _labels(url: str, rater: str) -> list[tuple]:
    with session_scope(url) as s:
        return s.execute(select(Label.task_id, Label.level, Label.supersedes_id)
                         .where(Label.rater == rater).order_by(Label.id)).all()


def keypad_data(at: AppTest) -> dict:
    """The data the rating keypad (ui/keypad.py) was drawn with: the task in view, and on Rate the item's HTML."""
    def walk(node):
        proto = getattr(node, "proto", None)
        if getattr(proto, "component_name", None) == "relevance_keypad":
            yield json.loads(proto.json)
        for child in getattr(node, "children", {}).values():
            yield from walk(child)
    found = list(walk(at._tree))
    assert len(found) == 1, f"{len(found)} keypads on the page"
    return found[0]


def _task_id(at: AppTest) -> int:
    """The task in view: its caption (Compare), or the item the keypad draws (Rate)."""
    caption = next((c.value for c in at.caption if c.value.startswith("task ")), None)
    return int(caption.split()[1]) if caption is not None else keypad_data(at)["task"]


def test_rater_grades_skips_and_undoes(store):
    at = ok(app("rita"))
    first = _task_id(at)
    assert "Highly relevant" in at.button(key="rate_level_5").label
    assert "expected" not in texts(at)  # no model prediction is shown before a label is saved
    seen = [first]
    for level in (4, 5, 3):
        at = ok(at.button(key=f"rate_level_{level}").click().run())
        seen.append(_task_id(at))
        assert "next item ready in" in texts(at)
    assert len(set(seen)) == 4
    data = keypad_data(at)  # the item the browser draws, and the next one, leased ahead
    assert data["view"]["task"] == seen[3] and f"task {seen[3]} · keys" in data["view"]["html"]
    assert data["next"]["task"] not in seen and data["advance"] == list("12345s")
    at = ok(at.button(key="rate_undo").click().run())
    assert _task_id(at) == seen[2]  # the last graded item is back
    assert "Undone" in texts(at)
    at = ok(at.button(key="rate_skip").click().run())
    assert _task_id(at) == seen[3]  # the item that was in view before the undo
    at = ok(at.button(key="rate_level_2").click().run())
    rows = _labels(store, "rita")
    assert [r.level for r in rows] == [4, 5, 3, None, 2]
    assert rows[3].supersedes_id is not None and rows[3].task_id == seen[2]
    mine = next(r for r in progress(app_store.GRADE).raters if r.rater == "rita")
    assert (mine.done, mine.skipped) == (3, 1)


def test_training_mode_reveals_stored_predictions_only_after_saving(store):
    at = ok(app("rita"))
    task = _task_id(at)
    with session_scope(store) as s:
        t = s.get(Task, task)
        s.add(Prediction(model="teacher", query_pk=t.query_pk, product_pk=t.product_pk, p1=0, p2=0, p3=0.1,
                         p4=0.2, p5=0.7, expected=4.6, argmax=5))
    at = ok(at.toggle(key="rate_training").set_value(True).run())
    assert "teacher: 4.60" not in texts(at)
    at = ok(at.button(key="rate_level_5").click().run())
    assert "Your last label: **5**. teacher: 4.60 (argmax 5)" in texts(at)


def test_rater_without_campaign_gets_a_kind_empty_state(store):
    add_user("newrater", "rater", "newrater-pass")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.session_state[USER_KEY] = auth.SessionUser("newrater", "rater")
    at = ok(at.run())
    assert "not a rater of any active grading campaign" in at.info[0].value
    at = ok(at.switch_page("views/compare.py").run())
    assert "not a rater of any active side-by-side campaign" in at.info[0].value


def test_side_by_side_is_blind_and_answers_are_stored(store):
    at = ok(app("rita").switch_page("views/compare.py").run())
    assert at.title[0].value == "Compare"
    shown = texts(at)
    assert "bm25" not in shown and "random" not in shown
    task = _task_id(at)
    at = ok(at.button(key="compare_a").click().run())
    assert _task_id(at) != task
    at = ok(at.toggle(key="compare_training").set_value(True).run())
    assert "A was `" in texts(at)
    at = ok(at.button(key="compare_undo").click().run())
    assert _task_id(at) == task
    with session_scope(store) as s:
        rows = s.execute(select(Comparison.answer, Comparison.retracted).order_by(Comparison.id)).all()
    assert [tuple(r) for r in rows] == [("A", False), ("A", True)]


# ------------------------------------------------------------------------------------------ results

def test_dashboard_shows_ndcg_and_labels_per_language(store, monkeypatch):
    monkeypatch.setenv("RELEVANCE_MIN_QUERIES_FOR_CI", "1")  # 4 queries: figures for every language
    at = ok(app("rita"))
    for level in (5, 4, 1):
        at = ok(at.button(key=f"rate_level_{level}").click().run())
    at = ok(app("vic"))
    assert at.title[0].value == "Dashboard"
    langs = at.dataframe[0].value.set_index("language")
    assert set(langs.index) == {"en", "es", "de"}
    assert langs["rater labels"].sum() == 3
    ndcg = at.dataframe[1].value
    assert set(ndcg["model"]) == {"bm25"} and set(ndcg["gains"]) == {"esci", "linear"}
    assert {"all", "en", "es", "de"} <= set(ndcg["language"])
    figs = ndcg["nDCG@20 [95% CI]"].str.extract(r"^([\d.]+) \[([\d.]+), ([\d.]+)\]$").astype(float)
    assert ((figs[1] <= figs[0]) & (figs[0] <= figs[2])).all()
    shown = texts(at)
    assert "`teacher` left out" in shown and "`student` left out" in shown
    assert len(at.get("plotly_chart")) >= 3  # nDCG (esci, linear) and throughput
    assert {b.key for b in at.get("download_button")} >= {"dash_langs_csv", "dash_ndcg_csv", "dash_thr_csv"}


def test_dashboard_replays_stored_predictions(store, tmp_path, monkeypatch):
    monkeypatch.setenv("RELEVANCE_MIN_QUERIES_FOR_CI", "1")
    app_store.write_predictions(store, tmp_path / "artifacts", models=("teacher",))
    at = ok(app("vic"))
    ndcg = at.dataframe[1].value
    assert set(ndcg["model"]) == {"teacher", "student", "bm25"} - {"student"}
    assert ndcg.loc[ndcg["model"] == "teacher", "accuracy"].str.match(r"^0\.\d{3}$").all()


def _failures_key(table: pd.DataFrame) -> str:
    from core.workflows.analytics import pairs_fingerprint
    return f"failures_table_{pairs_fingerprint(table)}"


def test_failures_lists_disagreements_and_sends_a_selection_to_a_campaign(store, tmp_path, monkeypatch):
    import ui.cache
    from core.text import pin as text
    monkeypatch.setattr(ui.cache, "pin_text_builder", lambda: (text.whitespace_builder(), "by word counts"))
    app_store.write_predictions(store, tmp_path / "artifacts")
    at = ok(app("rex").switch_page("views/failures.py").run())
    table = at.dataframe[0].value
    assert len(table) > 50 and table["disagreement"].is_monotonic_decreasing
    assert {"teacher_expected", "student_expected"} <= set(table.columns)
    at.multiselect(key="failures_languages").set_value(["es"])
    at = ok(at.run())
    assert set(at.dataframe[0].value["language"]) == {"es"}
    es_table = at.dataframe[0].value
    at.session_state[_failures_key(es_table)] = {"selection": {"rows": [0, 1], "columns": []}}
    at = ok(at.run())
    assert "Pin text the teacher read" in texts(at)
    assert "Send 2 selected pair(s)" in texts(at)
    # a filter change drops the selection instead of re-pointing rows 0 and 1 at other pairs
    at.multiselect(key="failures_languages").set_value(["es", "en"])
    at = ok(at.run())
    assert "Pin text the teacher read" not in texts(at) and "selected pair(s)" not in texts(at)
    at.multiselect(key="failures_languages").set_value(["es"])
    at = ok(at.run())
    assert at.dataframe[0].value[["query_id", "product_id"]].equals(es_table[["query_id", "product_id"]])
    at.session_state[_failures_key(es_table)] = {"selection": {"rows": [0, 1], "columns": []}}
    at = ok(at.run())
    assert at.code[0].value.startswith("title: ")
    at.text_input(key="failures_campaign_name").input("hard-es")
    at.multiselect(key="failures_raters").set_value(["rita"])
    at = ok(at.button(key="FormSubmitter:failures_send-Create campaign").click().run())
    assert "Created campaign **hard-es** with 2 tasks" in texts(at)
    with session_scope(store) as s:
        c = s.scalar(select(Campaign).where(Campaign.name == "hard-es"))
        assert c.strategy == "selection"


# ------------------------------------------------------------------------------------------ data sets

def _frame(at: AppTest, column: str) -> pd.DataFrame:
    """The first table that has ``column``."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_overview_lists_data_sets_per_language(two_sets):
    at = ok(app("rita").switch_page("views/overview.py").run())
    sets = _frame(at, "dataset")
    got = {(r.dataset, r.language): (r.queries, r.pairs, r.mode) for r in sets.itertuples()}
    assert {k for k in got if k[0] == app_store.POINTWISE} == {("small_ml", "en"), ("small_ml", "es"),
                                                                ("small_ml", "ja")}
    assert {k for k in got if k[0] == "small"} == {("small", "en"), ("small", "es"), ("small", "de")}
    assert got[("small_ml", "ja")] == (8, 8, "pointwise") and got[("small", "es")][2] == "listwise"


def test_dashboard_filters_by_data_set_and_language(two_sets, tmp_path, monkeypatch):
    monkeypatch.setenv("RELEVANCE_MIN_QUERIES_FOR_CI", "1")
    app_store.write_predictions(two_sets, tmp_path / "artifacts", models=("teacher",))
    at = ok(app("vic"))
    assert at.multiselect(key="dash_datasets").value == ["small", "small_ml"]
    assert set(_frame(at, "rater labels")["language"]) == {"en", "es", "de", "ja"}
    ndcg, pointwise = _frame(at, "nDCG@20 [95% CI]"), _frame(at, "macro-F1 [95% CI]")  # small, small_ml
    assert {"all", "en", "es", "de"} <= set(ndcg["language"]) and "ja" not in set(ndcg["language"])
    assert set(pointwise["language"]) == {"all", "en", "es", "ja"}
    assert (pointwise.loc[pointwise["language"] == "all", "pairs"] == 24).all()
    assert "Grading single pairs** on small_ml" in texts(at)

    at.multiselect(key="dash_datasets").set_value(["small_ml"])
    at.multiselect(key="dash_languages").set_value(["ja"])
    at = ok(at.run())
    assert _frame(at, "rater labels")["language"].tolist() == ["ja"]
    assert not any("nDCG@20 [95% CI]" in d.value.columns for d in at.dataframe)
    pointwise = _frame(at, "macro-F1 [95% CI]").set_index(["model", "language"])
    assert set(pointwise.index) == {(m, g) for m in ("teacher", "bm25") for g in ("all", "ja")}
    ja = pointwise.loc[("teacher", "ja")]
    auc = [float(x) for x in re.findall(r"[\d.]+", ja["AUC exact vs irrelevant [95% CI]"])]
    assert ja["pairs"] == 8 and auc[1] <= auc[0] <= auc[2]
    assert ja["accuracy [95% CI]"][0].isdigit() and pointwise.loc[("bm25", "ja"), "accuracy [95% CI]"] == "—"
    assert {b.key for b in at.get("download_button")} >= {"dash_langs_csv", "dash_pointwise_csv"}

    at.multiselect(key="dash_datasets").set_value(["small"])
    at = ok(at.run())
    assert "No labels in small for ja yet." in [i.value for i in at.info]
    at.multiselect(key="dash_datasets").set_value([])
    at = ok(at.run())
    assert at.warning[0].value == "Pick at least one data set."


def test_failures_filter_by_data_set(two_sets, tmp_path):
    app_store.write_predictions(two_sets, tmp_path / "artifacts")
    at = ok(app("rex").switch_page("views/failures.py").run())
    assert set(at.dataframe[0].value["datasets"]) == {"small", "small_ml"}
    at.multiselect(key="failures_datasets").set_value(["small_ml"])
    at = ok(at.run())
    table = at.dataframe[0].value
    assert len(table) == 24 and set(table["datasets"]) == {"small_ml"}
    assert set(table["language"]) == {"en", "es", "ja"}
    at.multiselect(key="failures_languages").set_value(["de"])
    at = ok(at.run())
    assert "No labels in small_ml for de yet." in [i.value for i in at.info]
    assert not at.dataframe


def test_campaign_form_uses_an_import_as_gold(two_sets):
    at = ok(app("rex").switch_page("views/data.py").run())
    gold_from = at.multiselect(key="data_campaign_gold_from")
    assert gold_from.value == [] and set(gold_from.options) == {"small (import): 161 pairs",
                                                                "small_ml (import): 24 pairs"}
    at.text_input(key="data_campaign_name").input("with-gold")
    at.number_input(key="data_campaign_n").set_value(6)
    at.slider(key="data_campaign_gold").set_value(0.25)
    at.multiselect(key="data_campaign_raters").set_value(["rita"])
    at = ok(at.button(key="FormSubmitter:data_campaign_form-Create campaign").click().run())
    assert any("a gold share needs trusted labels" in e.value for e in at.error)  # none chosen: nothing created
    at.multiselect(key="data_campaign_gold_from").set_value(["import:small_ml"])
    at = ok(at.button(key="FormSubmitter:data_campaign_form-Create campaign").click().run())
    assert "Created grade campaign **with-gold**: 6 tasks, 2 gold" in texts(at)
    with session_scope(two_sets) as s:
        c = s.scalar(select(Campaign).where(Campaign.name == "with-gold"))
        gold = s.execute(select(Task.gold_level, Query.text).join(Query, Query.id == Task.query_pk)
                         .where(Task.campaign_id == c.id, Task.is_gold)).all()
    assert len(gold) == 2 and all(level in (1, 5) for level, _ in gold)  # small_ml holds E and I pairs only


def test_a_side_by_side_campaign_with_a_trained_model_is_made_by_a_background_job(store):
    import time

    from core.cli.main import main
    from core.workflows import jobs

    at = ok(app("rex").switch_page("views/data.py").run())
    at.text_input(key="data_campaign_name").input("sbs-teacher")
    at.selectbox(key="data_campaign_kind").set_value("side_by_side")
    at.number_input(key="data_campaign_n").set_value(2)
    at.multiselect(key="data_campaign_raters").set_value(["rita"])
    at.multiselect(key="data_campaign_models").set_value(["teacher", "bm25"])
    at = ok(at.button(key="FormSubmitter:data_campaign_form-Create campaign").click().run())
    assert "Creating side_by_side campaign **sbs-teacher** in the background" in texts(at)
    [job] = jobs.list_jobs()
    assert job.title == "campaign sbs-teacher" and job.argv[3:6] == ("campaign", "create", "sbs-teacher")
    with session_scope(store) as s:  # nothing was sampled in the web server
        assert s.scalar(select(Campaign).where(Campaign.name == "sbs-teacher")) is None
    # the job's own command line, with two cheap models, makes the campaign the form described
    argv = list(job.argv[3:])
    argv[2], argv[argv.index("--models") + 1] = "sbs-cheap", "bm25,random"
    assert main(argv) == 0
    with session_scope(store) as s:
        c = s.scalar(select(Campaign).where(Campaign.name == "sbs-cheap"))
        assert (c.kind, c.config["n_tasks"], c.created_by, c.config["models"]) == ("side_by_side", 2, "rex",
                                                                                 ["bm25", "random"])
    # here the teacher is untrained: the job ends with that reason in its log, and its duration stops
    deadline = time.time() + 120
    while (job := jobs.load(job.folder)).status == "running" and time.time() < deadline:
        time.sleep(0.5)
    assert job.status == "failed" and "teacher" in jobs.tail(job)
    assert job.ended_at is not None and job.minutes == pytest.approx((job.ended_at - job.started_at) / 60)


def test_campaign_form_offers_the_stored_languages_and_a_data_set(two_sets):
    at = ok(app("rex").switch_page("views/data.py").run())
    languages = at.multiselect(key="data_campaign_languages")  # the stored languages, not a fixed list
    assert languages.options == ["en (English): 10 queries", "es (Spanish): 9 queries", "ja (Japanese): 8 queries",
                                 "de (German): 1 query"]
    dataset = at.selectbox(key="data_campaign_dataset")
    assert dataset.value is None and dataset.options[0] == "all stored queries"
    at.text_input(key="data_campaign_name").input("ja-first")
    at.number_input(key="data_campaign_n").set_value(4)
    languages.set_value(["ja"])
    at.selectbox(key="data_campaign_dataset").set_value(app_store.POINTWISE)
    at.multiselect(key="data_campaign_raters").set_value(["rita"])
    at = ok(at.button(key="FormSubmitter:data_campaign_form-Create campaign").click().run())
    assert "Created grade campaign **ja-first**: 4 tasks" in texts(at)
    row = at.dataframe[0].value.set_index("name").loc["ja-first"]
    assert (row["languages"], row["data set"]) == ("ja", app_store.POINTWISE)
    with session_scope(two_sets) as s:
        c = s.scalar(select(Campaign).where(Campaign.name == "ja-first"))
        langs = s.execute(select(Query.language, Product.language).join(Task, Task.query_pk == Query.id)
                          .join(Product, Product.id == Task.product_pk).where(Task.campaign_id == c.id)).all()
    assert set(langs) == {("ja", "ja")}


# ------------------------------------------------------------------------------------------ admin

def test_import_shows_the_validation_report_as_a_table(store, fast_dashboard):
    at = ok(app("ada").switch_page("views/data.py").run())
    bad = b"query,product_id,level\nred shoes,B0NOPE,5\n  ,B07CXG6C9W,3\nblue shoes,B07CXG6C9W,9\n"
    at.get("file_uploader")[0].upload("bad.csv", bad, "text/csv")
    at = ok(at.run())
    at = ok(at.button(key="data_import_go").click().run())
    assert "bad.csv: 3 bad row(s); nothing was imported." in at.error[0].value
    report = at.dataframe[0].value
    assert list(report.columns) == ["row", "column", "problem"] and len(report) == 3
    assert "unknown product_id 'B0NOPE'" in " ".join(report["problem"])


def test_admin_creates_a_campaign_and_a_user(store):
    at = ok(app("ada").switch_page("views/users.py").run())
    at.text_input(key="users_add_name").input("nora")
    at = ok(at.button(key="FormSubmitter:users_add_form-Create user").click().run())
    password = at.code[0].value
    assert authenticate("nora", password).must_change_password is True
    at = ok(at.switch_page("views/data.py").run())
    at.text_input(key="data_campaign_name").input("nora-first")
    at.number_input(key="data_campaign_n").set_value(5)
    at.multiselect(key="data_campaign_raters").set_value(["nora"])
    at = ok(at.button(key="FormSubmitter:data_campaign_form-Create campaign").click().run())
    assert "Created grade campaign **nora-first**: 5 tasks" in texts(at)
    table = at.dataframe[0].value
    assert "nora-first" in set(table["name"])


def test_models_page_shows_cards_and_an_empty_jobs_list(store, tmp_path):
    folder = tmp_path / "artifacts" / "student"
    folder.mkdir(parents=True)
    (folder / "model_card.md").write_text("# Student\n\nA tiny MLP.\n")
    (folder / "metrics.json").write_text('{"ndcg@20_esci": 0.71, "accuracy": 0.5}')
    at = ok(app("rex").switch_page("views/models.py").run())
    assert "# Student" in texts(at) or "A tiny MLP." in texts(at)
    assert "No jobs yet." in texts(at)
    assert at.button(key="models_train_go") and at.button(key="models_score_go")


def test_the_train_form_starts_the_bi_encoder_teacher_unless_a_cross_encoder_is_chosen(store):
    from core.workflows import jobs

    at = ok(app("rex").switch_page("views/models.py").run())
    assert at.number_input(key="models_train_epochs").value == 2
    at = ok(at.button(key="models_train_go").click().run())
    [job] = jobs.list_jobs()
    jobs.stop(job)  # the command line is what is tested here, not a training
    assert job.title == "train teacher (bi-encoder)"
    assert job.argv[3:] == ("train", "teacher", "--epochs", "2", "--biencoder")
    at.radio(key="models_train_teacher_kind").set_value("cross-encoder").run()
    at.number_input(key="models_train_epochs").set_value(3)
    at = ok(at.button(key="models_train_go").click().run())
    job = next(j for j in jobs.list_jobs() if j.title != "train teacher (bi-encoder)")
    jobs.stop(job)
    assert job.title == "train teacher (e5-small-ce)"
    assert job.argv[3:] == ("train", "teacher", "--epochs", "3", "--backbone", "e5-small-ce")


def test_a_store_without_users_says_how_to_create_the_first_admin(sqlite_url, monkeypatch):
    monkeypatch.setenv("RELEVANCE_DB_URL", sqlite_url)
    at = ok(app())
    assert "relevance users add admin --role admin" in at.info[0].value


def test_every_page_has_a_kind_empty_state(empty_store):
    at = ok(app("ada"))
    assert "The store is empty" in at.info[0].value
    expected = {"views/rate.py": "not a rater of any active grading campaign",
                "views/compare.py": "not a rater of any active side-by-side campaign",
                "views/dashboard.py": "No labels yet", "views/failures.py": "No stored predictions yet",
                "views/data.py": "No campaigns yet", "views/models.py": "No trained models yet"}
    for path, message in expected.items():
        at = ok(at.switch_page(path).run())
        assert message in "\n".join(i.value for i in at.info), path
    for path in ("views/users.py", "views/account.py"):
        ok(at.switch_page(path).run())
