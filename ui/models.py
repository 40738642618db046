"""The models page's parts: model cards and background jobs (``core.workflows.jobs``) with progress bars."""

from __future__ import annotations

import importlib.util
import json
import re
import time

import pandas as pd
import streamlit as st

from core import config
from core.workflows import jobs


def artifact_folders() -> list:
    root = config.path("artifacts_dir")
    if not root.exists():
        return []
    return [f for f in sorted(root.iterdir()) if f.is_dir() and f.name != "runs"
            and ((f / "model_card.md").exists() or (f / "metrics.json").exists())]


def model_cards() -> None:
    folders = artifact_folders()
    if not folders:
        st.info("No trained models yet. Start `relevance train teacher` below (or `make train`); each trained "
                "model gets a card with its data, metrics, command, date and machine.", icon=":material/inbox:")
    for folder in folders:
        where = folder.relative_to(config.PROJECT_ROOT) if folder.is_relative_to(config.PROJECT_ROOT) else folder
        with st.expander(f"**{folder.name}** — `{where}`"):
            metrics = folder / "metrics.json"
            if metrics.exists():
                try:
                    data = json.loads(metrics.read_text())
                    flat = pd.json_normalize(data).T.reset_index()
                    flat.columns = ["metric", "value"]
                    st.dataframe(flat.astype({"value": str}), hide_index=True, width="stretch")
                except ValueError as exc:
                    st.warning(f"metrics.json unreadable: {exc}")
            card = folder / "model_card.md"
            if card.exists():  # headings two levels down, so a card's title does not outshout the page
                st.markdown(re.sub(r"^(#{1,4}) ", lambda m: "#" * (len(m.group(1)) + 2) + " ", card.read_text(),
                                   flags=re.MULTILINE))


TEACHER_KINDS = {"bi-encoder + feature prior (recommended)": "biencoder", "cross-encoder": "cross-encoder"}
BIENCODER_ARGS = ("--biencoder",)  # the Makefile's recipe: BiEncoderConfig's defaults


def start_forms() -> None:
    from core.models.teacher.backbones import BACKBONES
    from core.models.registry import available

    train, score = st.columns(2, border=True)
    with train:
        st.markdown("**Train**")
        options = ["teacher"] + (["student", "distill"] if importlib.util.find_spec("core.models.student") else [])
        what = st.segmented_control("Model", options, default="teacher", key="models_train_what")
        kind = st.radio("Teacher", list(TEACHER_KINDS), key="models_train_teacher_kind", disabled=what != "teacher",
                        help="The bi-encoder teacher (feature prior + fine-tuned e5 cosine) is what `make train` "
                             "builds: on a CPU it beat every cross-encoder tried here (teacher card).")
        cross = what == "teacher" and TEACHER_KINDS[kind] == "cross-encoder"
        backbone = st.selectbox("Cross-encoder backbone", sorted(BACKBONES), key="models_train_backbone",
                                index=sorted(BACKBONES).index("e5-small-ce") if "e5-small-ce" in BACKBONES else 0,
                                disabled=not cross)
        epochs = st.number_input("Epochs", 1, 50, 3 if cross or what != "teacher" else 2, key="models_train_epochs")
        if what == "distill":
            st.caption("`relevance distill`: the teacher labels unlabelled pairs, then student, student-human and "
                       "student-mixed are trained (needs a trained teacher).")
        if st.button("Start training", key="models_train_go", type="primary", disabled=what is None):
            args = ["distill"] if what == "distill" else ["train", what]
            args += ["--epochs", str(int(epochs))]
            label = f"train {what}"
            if cross:
                args, label = args + ["--backbone", backbone], f"{label} ({backbone})"
            elif what == "teacher":
                args, label = args + list(BIENCODER_ARGS), f"{label} (bi-encoder)"
            jobs.start(jobs.relevance_argv(*args), label)
            st.toast(f"Started training the {what}.")
    with score:
        st.markdown("**Score**")
        names = available()
        model = st.selectbox("Model", names, key="models_score_model",
                             index=names.index("teacher") if "teacher" in names else 0)
        source = st.radio("Pairs", ["labelled pairs (--judged)", "BM25 candidates (--candidates K)"],
                          key="models_score_source")
        k = st.number_input("K candidates per query", 5, 1000, 50, key="models_score_k",
                            disabled=not source.startswith("BM25"))
        store = st.checkbox("Also store the predictions in the database (dashboards read them)", value=True,
                            key="models_score_store")
        if st.button("Start scoring", key="models_score_go", type="primary"):
            args = ["score", model] + (["--judged"] if source.startswith("labelled") else ["--candidates", str(int(k))])
            jobs.start(jobs.relevance_argv(*args + (["--store"] if store else [])), f"score {model}")
            st.toast(f"Started scoring with {model}.")


def jobs_panel(prefix: str = "", key: str = "models") -> None:
    """Jobs (those whose title starts with ``prefix``), newest first: status, progress bar (tqdm's
    percentage), log tail, stop; redrawn every 2 s while one runs, without rerunning the page."""
    listed = _listed(prefix)
    if any(j.status == "running" for j in listed):
        _live_jobs(prefix, key)
    else:
        _jobs(listed, key)


def _listed(prefix: str) -> list:
    return [j for j in jobs.list_jobs() if j.title.startswith(prefix)]


@st.fragment(run_every=2)
def _live_jobs(prefix: str, key: str) -> None:
    _jobs(_listed(prefix), key)


def _jobs(listed: list, key: str = "models") -> None:
    if not listed:
        st.caption("No jobs yet.")
        return
    for job in listed:
        icon = {"running": ":material/progress_activity:", "done": ":green[:material/check_circle:]",
                "failed": ":red[:material/error:]", "stopped": ":material/stop_circle:",
                "lost": ":orange[:material/help:]"}[job.status]
        with st.container(border=True):
            head, stop = st.columns([5, 1], vertical_alignment="center")
            head.markdown(f"{icon} **{job.title}** · {job.status}" + (f" (exit {job.rc})" if job.rc else "") +
                          f" · {time.strftime('%Y-%m-%d %H:%M', time.localtime(job.started_at))} · "
                          f"{job.minutes:.1f} min")
            if job.status == "running":
                if stop.button("Stop", key=f"{key}_job_stop_{job.id}"):
                    jobs.stop(job)
                p = jobs.progress(job)
                st.progress(p if p is not None else 0.0, text=f"{p:.0%}" if p is not None else "starting…")
            with st.expander("Log", expanded=job.status == "running"):
                st.code(jobs.tail(job) or "(no output yet)", language=None)
