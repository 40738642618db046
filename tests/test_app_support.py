"""The app's non-Streamlit helpers: roles and sign-in (core.store.auth), background jobs (core.workflows.jobs), analytics over
stored predictions (core.workflows.analytics) and campaigns from a selection (core.campaigns.selection)."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert

from core.campaigns import next_task, submit_grade
from core.campaigns.selection import create_selection_campaign
from core.errors import CampaignError
from core.store import auth, datasets as store_datasets
from core.store.session import session_scope
from core.store.users import add_user, authenticate
from core.workflows import analytics, jobs
from db.models import Label, Product, Query
from ui import pages as page_table

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------ roles

def test_every_page_file_checks_its_own_key():
    """Like datasette's docs test: each screen in PAGES exists and starts with require(<its key>)."""
    for spec in page_table.PAGES:
        source = (ROOT / spec.path).read_text()
        assert re.search(rf'require\("{spec.key}"\)', source), spec.path
    listed = {spec.path for spec in page_table.PAGES} | {"views/login.py"}
    assert {f"views/{p.name}" for p in (ROOT / "views").glob("*.py")} == listed


@pytest.mark.parametrize("role,pages", [
    ("rater", {"overview", "rate", "compare", "my_labels", "account"}),
    ("viewer", {"overview", "dashboard", "account"}),
    ("researcher", {"overview", "rate", "compare", "my_labels", "dashboard", "failures", "adjudicate", "rater_quality",
                    "data", "models", "account"}),
    ("admin", {p.key for p in page_table.PAGES}),
], ids=["rater", "viewer", "researcher", "admin"])
def test_role_matrix(role, pages):
    assert {p.key for p in page_table.pages_for(role)} == pages
    assert all(page_table.allowed(role, k) == (k in pages) for k in (p.key for p in page_table.PAGES))
    assert page_table.home(role) in pages


def test_unknown_roles_open_nothing():
    assert not any(page_table.allowed(r, p.key) for r in (None, "", "root", "Admin") for p in page_table.PAGES)


def test_throttle_locks_after_repeated_failures_and_doubles():
    t = auth.LoginThrottle(max_failures=3, lock_seconds=10, max_lock=25)
    for _ in range(2):
        t.failed("eve", now=0)
    assert t.wait_seconds("eve", now=0) == 0
    t.failed("eve", now=0)
    assert t.wait_seconds("eve", now=0) == 10
    t.failed("eve", now=10)
    assert t.wait_seconds("eve", now=10) == 20
    t.failed("eve", now=30)
    assert t.wait_seconds("eve", now=30) == 25  # capped
    assert t.wait_seconds("bob", now=30) == 0
    t.succeeded("eve")
    assert t.wait_seconds("eve", now=30) == 0


def test_sign_in(sqlite_url):
    add_user("rita", "rater", "rita-password", url=sqlite_url)
    t = auth.LoginThrottle(max_failures=2, lock_seconds=60)
    assert auth.sign_in("rita", "rita-password", url=sqlite_url, throttle=t) == auth.SessionUser("rita", "rater")
    assert auth.sign_in("rita", "nope", url=sqlite_url, throttle=t) is None
    assert auth.sign_in("rita", "nope", url=sqlite_url, throttle=t) is None
    with pytest.raises(auth.LoginLocked, match="try again in 60 s"):
        auth.sign_in("rita", "rita-password", url=sqlite_url, throttle=t)


def test_one_time_passwords_must_be_changed(sqlite_url):
    password = auth.create_user_with_one_time_password("nora", "viewer", url=sqlite_url)
    assert authenticate("nora", password, url=sqlite_url).must_change_password
    with pytest.raises(ValueError, match="differ"):
        auth.change_password("nora", password, "new-password-1", "new-password-2", url=sqlite_url)
    with pytest.raises(ValueError, match="not the current one"):
        auth.change_password("nora", password, password, password, url=sqlite_url)
    auth.change_password("nora", password, "new-password-1", "new-password-1", url=sqlite_url)
    assert auth.refresh("nora", url=sqlite_url) == auth.SessionUser("nora", "viewer", False)
    second = auth.reset_to_one_time_password("nora", url=sqlite_url)
    assert second != password and auth.refresh("nora", url=sqlite_url).must_change_password


# ------------------------------------------------------------------------------------------ jobs

def _wait(job, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        job = jobs.load(job.folder)
        if job.status != "running":
            return job
        time.sleep(0.1)
    raise AssertionError(f"job still running after {seconds}s: {jobs.tail(job)}")


def test_job_runs_under_a_pty_and_reports_tqdm_progress(tmp_path):
    code = ("import sys, time\nfrom tqdm import tqdm\nprint('tty', sys.stderr.isatty())\n"
            "for _ in tqdm(range(4), desc='scoring'):\n    time.sleep(0.01)\n")
    job = _wait(jobs.start([sys.executable, "-c", code], "demo", root=tmp_path))
    assert (job.status, job.rc) == ("done", 0)
    assert jobs.progress(job) == 1.0
    log = jobs.tail(job)
    assert "tty True" in log and "scoring: 100%|" in log
    assert "scoring:   0%" not in log.splitlines()[-1]  # carriage returns rewrite the bar's line
    assert [j.id for j in jobs.list_jobs(tmp_path)] == [job.id]


def test_job_progress_is_read_from_a_running_bar_and_stop_ends_it(tmp_path):
    code = ("import time\nfrom tqdm import tqdm\nbar = tqdm(total=4)\nbar.update(1)\nbar.refresh()\n"
            "time.sleep(60)\n")
    job = jobs.start([sys.executable, "-c", code], "sleepy", root=tmp_path)
    deadline = time.time() + 30
    while jobs.progress(job) is None and time.time() < deadline:
        time.sleep(0.1)
    assert jobs.progress(job) == 0.25 and job.status == "running"
    jobs.stop(job)
    job = _wait(job)
    assert job.status == "stopped"


def test_failed_job_keeps_its_exit_status(tmp_path):
    job = _wait(jobs.start([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], "bad", root=tmp_path))
    assert (job.status, job.rc) == ("failed", 3) and "boom" in jobs.tail(job)


# ------------------------------------------------------------------------------------------ analytics

LABELS = pd.DataFrame({"query_pk": [1, 1, 2], "product_pk": [1, 2, 3], "query_id": ["q1", "q1", "q2"],
                       "query": ["red shoes", "red shoes", "zapatillas"], "language": ["en", "en", "es"],
                       "product_id": ["A", "B", "C"], "level": [5, 1, 3], "n_raters": [1, 1, 2],
                       "source": ["human", "human", "import:x"]})


def _parquet(tmp_path, model, expected):
    probs = np.zeros((3, 5))
    probs[np.arange(3), np.round(expected).astype(int) - 1] = 1.0
    df = pd.DataFrame({"query_id": ["q1", "q1", "q2"], "query": ["red shoes", "red shoes", "zapatillas"],
                       "product_id": ["A", "B", "C"], "p1": probs[:, 0], "p2": probs[:, 1], "p3": probs[:, 2],
                       "p4": probs[:, 3], "p5": probs[:, 4], "expected": expected, "argmax": np.round(expected)})
    path = tmp_path / model / "predictions" / "judged.parquet"
    path.parent.mkdir(parents=True)
    df.to_parquet(path, index=False)
    (tmp_path / "bm25" / "predictions").mkdir(parents=True, exist_ok=True)  # score-only files are ignored
    pd.DataFrame({"query_id": ["q1"], "product_id": ["A"], "score": [1.0]}).to_parquet(
        tmp_path / "bm25" / "predictions" / "judged.parquet")
    return path


def test_failure_pairs_rank_the_largest_gap_first(tmp_path):
    # teacher expects 4, 3, 3; student 2, 1, 3; humans 5, 1, 3
    _parquet(tmp_path, "teacher", [4.0, 3.0, 3.0])
    _parquet(tmp_path, "student", [2.0, 1.0, 3.0])
    files = analytics.prediction_files(tmp_path)
    assert set(files) == {"teacher", "student"}
    both = analytics.failure_pairs(LABELS, files, ["teacher", "student"])
    # gaps: A max(|5-4|,|5-2|,|4-2|)=3; B max(2,0,2)=2; C 0
    assert both["product_id"].tolist() == ["A", "B", "C"] and both["disagreement"].tolist() == [3, 2, 0]
    only_teacher = analytics.failure_pairs(LABELS, files, ["teacher"])
    assert only_teacher["product_id"].tolist() == ["B", "A", "C"]  # |1-3| = 2, |5-4| = 1, 0
    assert analytics.failure_pairs(LABELS, files, ["teacher"], languages=["es"])["product_id"].tolist() == ["C"]
    assert analytics.failure_pairs(LABELS, files, ["teacher"], query="RED")["product_id"].tolist() == ["B", "A"]
    assert analytics.failure_pairs(LABELS, files, ["teacher"], levels=[5, 3])["product_id"].tolist() == ["A", "C"]
    assert analytics.failure_pairs(LABELS, files, ["nothing"]).empty


def test_stored_prediction_scorer_counts_what_it_does_not_cover():
    preds = pd.DataFrame({"query": ["red  shoes"], "product_id": ["A"], "p1": [0.0], "p2": [0.0], "p3": [0.0],
                          "p4": [0.0], "p5": [1.0]})
    s = analytics.StoredPredictionScorer("teacher", preds)
    assert s.score("red shoes", ["A", "B"]).tolist() == [5.0, 3.0]
    assert s.coverage == 0.5


def _tiny_store(url):
    with session_scope(url) as s:
        s.execute(insert(Product), [dict(product_id=p, title=f"product {p}") for p in "ABC"])
        s.execute(insert(Query), [dict(query_id="q1", text="red shoes", language="en", count=0),
                                  dict(query_id="q2", text="zapatillas", language="es", count=0)])
        s.execute(insert(Label), [dict(query_pk=1, product_pk=1, level=5, source="import:x"),
                                  dict(query_pk=2, product_pk=3, level=3, source="import:x")])
    add_user("rita", "rater", "rita-password", url=url)
    add_user("vic", "viewer", "vic-password", url=url)


def test_selection_campaign_serves_exactly_the_selected_pairs(sqlite_url):
    _tiny_store(sqlite_url)
    pairs = pd.DataFrame({"query_pk": [2, 1, 2], "product_pk": [3, 2, 3]})
    info = create_selection_campaign("picked", pairs, ["rita"], url=sqlite_url)
    assert (info.n_tasks, info.strategy, info.raters) == (2, "selection", ("rita",))
    served = []
    while (task := next_task("picked", "rita", url=sqlite_url)) is not None:
        served.append((task.query, task.product["product_id"]))
        submit_grade(task.assignment_id, "rita", 4, url=sqlite_url)
    assert served == [("zapatillas", "C"), ("red shoes", "B")]
    with pytest.raises(CampaignError, match="exists already"):
        create_selection_campaign("picked", pairs, url=sqlite_url)
    with pytest.raises(CampaignError, match="cannot rate"):
        create_selection_campaign("other", pairs, ["vic"], url=sqlite_url)
    with pytest.raises(CampaignError, match="empty"):
        create_selection_campaign("other", pairs.iloc[:0], url=sqlite_url)


def test_counts_per_language_and_throughput(sqlite_url):
    _tiny_store(sqlite_url)
    create_selection_campaign("picked", pd.DataFrame({"query_pk": [2], "product_pk": [2]}), ["rita"], url=sqlite_url)
    task = next_task("picked", "rita", url=sqlite_url)
    submit_grade(task.assignment_id, "rita", 2, seconds=4.0, url=sqlite_url)
    langs = store_datasets.labels_by_language(sqlite_url).set_index("language")
    assert langs.loc["es"].tolist() == [1, 1, 1, 2] and langs.loc["en"].tolist() == [0, 1, 0, 1]
    thr = store_datasets.label_throughput(sqlite_url)
    assert thr[["rater", "labels", "median_seconds"]].values.tolist() == [["rita", 1, 4.0]]
    assert len(thr["period"].iat[0]) == len("2026-01-01 09:00")  # hours while all labels are recent
    assert len(store_datasets.label_throughput(sqlite_url, freq="D")["period"].iat[0]) == len("2026-01-01")
    judged = analytics.store_judged(sqlite_url)
    assert sorted(judged.pairs["product_id"]) == ["A", "B", "C"]


def _two_data_sets(url):
    """A listwise import ``lw`` (q1: three judged products, en) and a pointwise one ``pw`` (q2, q3: one each,
    es and ja); q1's first pair is also in ``pw``; rita grades one pair of q3 (data set ``raters``)."""
    with session_scope(url) as s:
        s.execute(insert(Product), [dict(product_id=p, title=f"product {p}") for p in "ABCDE"])
        s.execute(insert(Query), [dict(query_id="q1", text="red shoes", language="en", count=0),
                                  dict(query_id="q2", text="zapatillas", language="es", count=0),
                                  dict(query_id="q3", text="靴", language="ja", count=0)])
        s.execute(insert(Label), [dict(query_pk=1, product_pk=p, level=lv, source="import:lw")
                                  for p, lv in ((1, 5), (2, 3), (3, 1))]
                  + [dict(query_pk=1, product_pk=1, level=5, source="import:pw"),
                     dict(query_pk=2, product_pk=4, level=4, source="import:pw"),
                     dict(query_pk=3, product_pk=5, level=1, source="import:pw")])
    add_user("rita", "rater", "rita-password", url=url)
    create_selection_campaign("picked", pd.DataFrame({"query_pk": [3], "product_pk": [4]}), ["rita"], url=url)
    task = next_task("picked", "rita", url=url)
    submit_grade(task.assignment_id, "rita", 2, url=url)


def test_data_sets_are_listed_with_counts_languages_and_mode(sqlite_url):
    from core.store import datasets as stats

    assert store_datasets.datasets(sqlite_url).empty
    _two_data_sets(sqlite_url)
    sets = store_datasets.datasets(sqlite_url).set_index("dataset")
    assert list(sets.index) == ["lw", "pw", "raters"]
    assert sets.loc["lw"].tolist() == ["en", 1, 3, 3, 3.0, "listwise"]
    assert sets.loc["pw"].tolist() == ["en, es, ja", 3, 3, 3, 1.0, "pointwise"]
    assert sets.loc["raters", ["languages", "pairs", "mode"]].tolist() == ["ja", 1, "pointwise"]
    by_lang = store_datasets.datasets(sqlite_url, by_language=True)
    assert list(zip(by_lang["dataset"], by_lang["language"])) == [("lw", "en"), ("pw", "en"), ("pw", "es"),
                                                                  ("pw", "ja"), ("raters", "ja")]
    assert [stats.dataset_of(x) for x in ("import:esci_us", "human", "gold")] == ["esci_us", "raters", "raters"]
    assert stats.datasets_of("human,import:b,import:a") == ["a", "b", "raters"]
    assert stats.query_languages(sqlite_url) == {"en": 1, "es": 1, "ja": 1}


def test_labels_are_selected_by_data_set_and_language_and_split_by_mode(sqlite_url):
    _two_data_sets(sqlite_url)
    labels = analytics.labels_frame(sqlite_url)
    member = dict(zip(zip(labels["query_id"], labels["product_id"]), labels["datasets"]))
    assert member == {("q1", "A"): "lw,pw", ("q1", "B"): "lw", ("q1", "C"): "lw", ("q2", "D"): "pw",
                      ("q3", "E"): "pw", ("q3", "D"): "raters"}
    pick = analytics.select_labels
    assert sorted(pick(labels, ["pw"])["product_id"]) == ["A", "D", "E"]
    assert pick(labels, ["pw"], ["ja"])["product_id"].tolist() == ["E"]
    assert pick(labels, ["lw"], ["ja"]).empty
    assert len(pick(labels)) == 6
    assert analytics.dataset_modes(labels) == {"lw": "listwise", "pw": "pointwise", "raters": "pointwise"}
    parts = analytics.split_modes(labels)
    assert sorted(parts["listwise"]["product_id"]) == ["A", "B", "C"]  # q1/A is in pw too: listwise wins
    assert sorted(parts["pointwise"]["product_id"]) == ["D", "D", "E"]
    only_pw = analytics.split_modes(pick(labels, ["pw"]), ["pw"])
    assert only_pw["listwise"].empty and sorted(only_pw["pointwise"]["product_id"]) == ["A", "D", "E"]
    langs = store_datasets.labels_by_language(sqlite_url, ["pw"], ["ja", "es"]).set_index("language")
    assert langs["pairs"].to_dict() == {"es": 1, "ja": 1}
    assert store_datasets.labels_by_language(sqlite_url, ["lw"], ["ja"]).empty
    assert analytics.empty_selection_message(["lw"], ["ja"]) == "No labels in lw for ja yet."


def test_pointwise_selections_are_graded_per_pair(sqlite_url):
    _two_data_sets(sqlite_url)
    pw = analytics.split_modes(analytics.labels_frame(sqlite_url))["pointwise"]
    out = analytics.evaluate_store(sqlite_url, models=("random",), labels=pw, mode="pointwise")
    rows = {r["language"]: r for r in out["report"]["rows"]}
    assert set(rows) == {"all", "es", "ja"} and rows["all"]["n_pairs"] == 3 and rows["all"]["mode"] == "pointwise"


@pytest.mark.parametrize("planted", ["![x](http://example.invalid/a.png)", "<img src='http://example.invalid/a.png'>",
                                     "a\n\n![x](http://example.invalid/a.png)", "[link](javascript:alert(1))",
                                     ":red[big] $x^2$ **b** `c`"], ids=["md-image", "html-img", "blank-line", "link",
                                                                         "directives"])
def test_item_text_is_never_markup(planted):
    import html

    from ui.components import as_text

    safe = as_text(planted)
    assert not set("<>[]()!*`$:") & set(safe.replace("&#", "").replace(";", ""))  # only character references
    assert "\n" not in safe and "<br>" in as_text("a\nb", newlines="<br>")
    assert html.unescape(safe) == " ".join(planted.split("\n\n"))  # it still reads as what was imported
