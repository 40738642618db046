"""Cached loaders for the dashboard page, and the data-set and language filters it shares with the failure
explorer.

Each loader is keyed on what its section reads, so a new label does not recompute the whole page: the labels
on the labels table's version, win rates on the comparisons', the model figures on the labels they cover (by
content) and the predictions' version. nDCG goes through ``core.workflows.figures`` (numpy nDCG with ranx's
values, bootstrap CIs), so no ranx/numba start on the page. The selected labels are split by data set into a
listwise part (nDCG per query) and a pointwise part (about one judged product per query: accuracy, macro-F1
and AUC per pair, ``core.metrics.pointwise``), as ``relevance evaluate`` picks its mode.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from core.store import datasets as store_datasets
from core.workflows import analytics


@st.cache_data(max_entries=16)
def selection(url: str, version: tuple, datasets: tuple[str, ...] = (),
              languages: tuple[str, ...] = ()) -> dict[str, pd.DataFrame]:
    """The labelled pairs in ``datasets`` and ``languages`` (empty: all), as ``{"listwise": …, "pointwise": …}``
    (``core.workflows.analytics.split_modes``)."""
    return analytics.split_modes(analytics.select_labels(labels(url, version), datasets, languages), datasets)


@st.cache_data(max_entries=16)
def modes(url: str, version: tuple, datasets: tuple[str, ...] = (),
          languages: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """``{"listwise": [data sets], "pointwise": [data sets]}`` of the selection, only the modes it has pairs in."""
    parts = selection(url, version, datasets, languages)
    found = analytics.dataset_modes(analytics.select_labels(labels(url, version), datasets, languages), datasets)
    return {mode: [n for n, m in found.items() if m == mode and n in analytics.dataset_names(part)]
            for mode, part in parts.items() if not part.empty}


def live(url: str, models: tuple[str, ...]) -> dict:
    """The cheap live scorers among ``models`` (bm25: loaded once per server)."""
    from ui.cache import scorer

    return {"bm25": scorer("bm25", url)} if "bm25" in models else {}


@st.cache_data(show_spinner="Scoring the labelled pairs…", max_entries=32)
def listwise_per_query(url: str, predictions: tuple, k: str, models: tuple[str, ...],
                       part: pd.DataFrame) -> dict:
    """nDCG per query of ``models`` on the listwise labels ``part`` (``core.workflows.figures.per_query``).

    Keyed on the labels it covers (``part``, by content) and the predictions' version, not on the whole store:
    a new label elsewhere leaves it cached."""
    from core import metrics
    from core.workflows import figures

    return figures.per_query(part, models, url=url, ks=metrics.parse_ks(k), live_scorers=live(url, models))


POINTWISE_COLUMNS = ["model", "language", "accuracy", "accuracy_ci_low", "accuracy_ci_high", "macro_f1",
                     "macro_f1_ci_low", "macro_f1_ci_high", "auc", "auc_ci_low", "auc_ci_high", "n_queries",
                     "n_pairs", "p_holm", "p_holm_auc"]


@st.cache_data(show_spinner="Grading the labelled pairs…", max_entries=32)
def pointwise_table(url: str, predictions: tuple, models: tuple[str, ...],
                    part: pd.DataFrame) -> tuple[pd.DataFrame, dict, dict]:
    """(rows of accuracy, macro-F1 and exact-vs-irrelevant AUC with 95% query-bootstrap CIs per model ×
    language on the pointwise labels ``part``, coverage of stored runs, skipped models); keyed like
    ``listwise_per_query``."""
    if part.empty:
        return pd.DataFrame(), {}, {}
    out = analytics.evaluate_store(url, models=models, live_scorers=live(url, models), labels=part, mode="pointwise")
    if out["report"] is None:
        return pd.DataFrame(), out["coverage"], out["skipped"]
    df = pd.DataFrame(out["report"]["rows"])
    df = df[[c for c in POINTWISE_COLUMNS if c in df.columns]]
    num = [c for c in df.columns if c not in ("model", "language", "n_queries", "n_pairs")]
    return df.astype({c: "float64" for c in num}), out["coverage"], out["skipped"]


@st.cache_data(max_entries=32)
def model_queries(model: str, predictions: tuple):
    """``core.workflows.query_scope.model_queries`` (the artifact's metadata), per predictions version."""
    from core.workflows.query_scope import model_queries as read

    return read(model)


@st.cache_data(max_entries=16)
def labels_by_language(url: str, version: tuple, datasets: tuple[str, ...] = (),
                       languages: tuple[str, ...] = ()) -> pd.DataFrame:
    return store_datasets.labels_by_language(url, datasets, languages)


def selection_filters(frame: pd.DataFrame, prefix: str, datasets_col, languages_col) -> tuple[tuple, tuple]:
    """The data-set filter (all selected at first) and the language filter (empty: all) in two columns.

    Returns the selected (data sets, languages); widget keys ``{prefix}_datasets``, ``{prefix}_languages``.
    """
    names = analytics.dataset_names(frame)
    datasets = datasets_col.multiselect(
        "Data sets", names, default=names, key=f"{prefix}_datasets",
        help="Where the labels come from: an import's name, or `raters` for the raters' labels. A pair "
             "counts in every data set that labelled it.")
    languages = languages_col.multiselect("Languages (empty: all)", sorted(frame["language"].dropna().unique()),
                                          key=f"{prefix}_languages", help="The language of the query")
    return tuple(datasets), tuple(languages)


@st.cache_data(max_entries=16)
def throughput(url: str, version: tuple) -> pd.DataFrame:
    return store_datasets.label_throughput(url)


@st.cache_data(max_entries=16)
def agreement(url: str, version: tuple) -> tuple[dict | None, pd.DataFrame]:
    from core.campaigns.consensus import store_agreement

    try:
        report = store_agreement(url)
    except ValueError:
        return None, pd.DataFrame()
    summary = {k: v for k, v in report.to_dict().items() if k not in ("raters", "levels")}
    raters = report.raters.drop(columns=["level_shares"], errors="ignore")
    if "flags" in raters:
        raters = raters.assign(flags=raters["flags"].map(lambda v: "; ".join(v) if isinstance(v, list) else v))
    return summary, raters


@st.cache_data(max_entries=16)
def win_rates(url: str, version: tuple) -> pd.DataFrame:
    from core.campaigns import list_campaigns
    from core.campaigns.consensus import side_by_side_results

    frames = []
    for c in list_campaigns(url=url):
        if c.kind == "side_by_side":
            frames.append(side_by_side_results(c.id, url).assign(campaign=c.name))
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    return df[df["n"] > 0][["campaign"] + [c for c in df.columns if c != "campaign"]].reset_index(drop=True)


@st.cache_data(max_entries=16)
def answer_reasons(url: str, version: tuple) -> pd.DataFrame:
    """The reasons raters gave with their side-by-side answers, per campaign and outcome
    (``core.campaigns.answer_reasons``)."""
    from core.campaigns import list_campaigns
    from core.campaigns.answer_reasons import side_by_side_reasons

    frames = [side_by_side_reasons(c.id, url) for c in list_campaigns(url=url) if c.kind == "side_by_side"]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@st.cache_data(show_spinner="Ranking the rated queries…", max_entries=16)
def vs_raters(url: str, version: tuple, models: tuple[str, ...], languages: tuple[str, ...], scope: str,
              min_n: int) -> dict:
    """Stored predictions against the raters' consensus on the dashboard's terms (``core.workflows.figures.vs_raters``)."""
    from core.workflows import figures

    return figures.vs_raters(url, models, min_n=min_n, languages=languages, scope=scope)


@st.cache_data(max_entries=8)
def first_rater_day(url: str, version: tuple) -> date | None:
    """The day (UTC) a rater first graded a campaign task; None when none has."""
    first = store_datasets.first_rater_label_at(url)
    return None if first is None else first.date()


@st.cache_data(max_entries=8)
def labels_as_of(url: str, version: tuple, day: date) -> pd.DataFrame:
    """The labelled pairs in force at the end of ``day`` (UTC; ``core.workflows.analytics.labels_frame``)."""
    return analytics.labels_frame(url, as_of=analytics.end_of_day(day))


@st.cache_data(show_spinner="Scoring the labelled pairs at both dates…", max_entries=16)
def dates_change(url: str, predictions: tuple, model: str, k: str, gains: str, min_n: int, before: pd.DataFrame,
                 after: pd.DataFrame) -> dict:
    """``core.workflows.figures.compare_dates``: ``model`` against the labels ``before`` and ``after`` (selections of
    ``labels_as_of``); keyed on them by content and the predictions' version."""
    from core.workflows import figures

    return figures.compare_dates(before, after, model, url=url, k=k, gains=gains, min_n=min_n,
                                 live_scorers=live(url, (model,)))


def model_options() -> list[str]:
    """Teacher, the registered students, and the cheap baselines."""
    from core.models.registry import available

    students = [m for m in available() if m.startswith("student") and m != "student"]
    return ["teacher", "student", *students, "bm25", "random"]


@st.cache_data(max_entries=8)
def labels(url: str, version: tuple) -> pd.DataFrame:
    """The labelled pairs in force (``core.workflows.analytics.labels_frame``), cached per store version."""
    return analytics.labels_frame(url)
