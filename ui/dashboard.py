"""Cached figures and charts for the dashboard page, and the data-set and language filters it shares with
the failure explorer.

Every loader takes the store's version (``core.workflows.analytics.store_version``) as an argument, so
``st.cache_data`` recomputes only when labels, comparisons or predictions changed, not on every rerun.
nDCG goes through ``core.workflows.evaluate`` (ranx, bootstrap CIs) — seconds on first use in a server process,
then served from the cache. The selected labels are split by data set into a listwise part (nDCG per
query) and a pointwise part (about one judged product per query: accuracy, macro-F1 and AUC per pair,
``core.metrics.pointwise``), as ``relevance evaluate`` picks its mode.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.express as px
import streamlit as st

from core.store import datasets as store_datasets
from core.workflows import analytics
from ui.components import table


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


def _live(url: str, models: tuple[str, ...]) -> dict:
    from ui.cache import scorer

    return {"bm25": scorer("bm25", url)} if "bm25" in models else {}


@st.cache_data(show_spinner="Scoring the labelled pairs…", max_entries=16)
def ndcg_table(url: str, version: tuple, k: str, models: tuple[str, ...], datasets: tuple[str, ...] = (),
               languages: tuple[str, ...] = ()) -> tuple[pd.DataFrame, dict, dict]:
    """(tidy rows of nDCG per model × language × gains on the listwise part of the selection, coverage of
    stored runs, skipped models)."""
    from core import metrics

    part = selection(url, version, datasets, languages)["listwise"]
    if part.empty:
        return pd.DataFrame(), {}, {}
    out = analytics.evaluate_store(url, models=models, ks=metrics.parse_ks(k), live_scorers=_live(url, models),
                                   labels=part, mode="listwise")
    if out["report"] is None:
        return pd.DataFrame(), out["coverage"], out["skipped"]
    df = pd.DataFrame(out["report"]["rows"]).drop(columns=["p_value_vs_first", "mode"], errors="ignore")
    return df, out["coverage"], out["skipped"]


POINTWISE_COLUMNS = ["model", "language", "accuracy", "accuracy_ci_low", "accuracy_ci_high", "macro_f1",
                     "macro_f1_ci_low", "macro_f1_ci_high", "auc", "auc_ci_low", "auc_ci_high", "n_queries",
                     "n_pairs", "p_holm", "p_holm_auc"]


@st.cache_data(show_spinner="Grading the labelled pairs…", max_entries=16)
def pointwise_table(url: str, version: tuple, models: tuple[str, ...], datasets: tuple[str, ...] = (),
                    languages: tuple[str, ...] = ()) -> tuple[pd.DataFrame, dict, dict]:
    """(rows of accuracy, macro-F1 and exact-vs-irrelevant AUC with 95% query-bootstrap CIs per model ×
    language on the pointwise part of the selection, coverage of stored runs, skipped models)."""
    part = selection(url, version, datasets, languages)["pointwise"]
    if part.empty:
        return pd.DataFrame(), {}, {}
    out = analytics.evaluate_store(url, models=models, live_scorers=_live(url, models), labels=part,
                                   mode="pointwise")
    if out["report"] is None:
        return pd.DataFrame(), out["coverage"], out["skipped"]
    df = pd.DataFrame(out["report"]["rows"])
    df = df[[c for c in POINTWISE_COLUMNS if c in df.columns]]
    num = [c for c in df.columns if c not in ("model", "language", "n_queries", "n_pairs")]
    return df.astype({c: "float64" for c in num}), out["coverage"], out["skipped"]


@st.cache_data(max_entries=16)
def labels_by_language(url: str, version: tuple, datasets: tuple[str, ...] = (),
                       languages: tuple[str, ...] = ()) -> pd.DataFrame:
    return store_datasets.labels_by_language(url, datasets, languages)


def model_quality(url: str, version: tuple, datasets: tuple[str, ...],
                  languages: tuple[str, ...]) -> tuple[str, ...]:
    """The dashboard's model section on the selection: nDCG@k on its listwise data sets, accuracy, macro-F1 and
    AUC on its pointwise ones; returns the models picked."""
    parts = modes(url, version, datasets, languages)
    models: tuple[str, ...] = ()
    if parts:
        st.subheader("Model quality on the labelled pairs")
        c1, c2 = st.columns([1, 3])
        k = c1.selectbox("Cut-off k", ["10", "20", "all"], index=1, key="dash_k", disabled="listwise" not in parts,
                         help="`all` ranks each query's whole judged list (the ESCI KDD Cup 2022 task 1 protocol)")
        models = tuple(c2.multiselect("Models", model_options(), default=["teacher", "student", "bm25"],
                                      key="dash_models"))
        if not models:
            st.caption("Pick a model to see its figures.")
    if models and "listwise" in parts:
        st.markdown(f"**Ranking: nDCG@{k}** on {', '.join(parts['listwise'])} (each query's judged products "
                    f"reranked)")
        ndcg, coverage, skipped = ndcg_table(url, version, k, models, datasets, languages)
        notes(skipped, coverage)
        if not ndcg.empty:
            a, b = st.columns(2)
            a.plotly_chart(ndcg_chart(ndcg, "esci"), key="dash_chart_esci")
            b.plotly_chart(ndcg_chart(ndcg, "linear"), key="dash_chart_linear")
            st.caption("Accuracy: 5-class argmax against the label in force (models with level probabilities "
                       "only). p_holm: paired randomization test against the first model, Holm-corrected.")
            table(ndcg, "dash_ndcg", f"ndcg_at_{k}.csv", column_config=NUMBERS)
    if models and "pointwise" in parts:
        st.markdown(f"**Grading single pairs** on {', '.join(parts['pointwise'])}: about one judged product per "
                    f"query, so an nDCG per query would mean nothing; instead accuracy and macro-F1 of the predicted "
                    f"level, and AUC of the score separating exact (5) from irrelevant (1–2) pairs")
        pointwise, coverage, skipped = pointwise_table(url, version, models, datasets, languages)
        notes({} if "listwise" in parts else skipped, coverage)
        if not pointwise.empty:
            a, b = st.columns(2)
            for col, metric, title, key in ((a, "auc", "AUC exact vs irrelevant", "dash_chart_pw_auc"),
                                            (b, "accuracy", "Accuracy (5 levels)", "dash_chart_pw_acc")):
                if (fig := pointwise_chart(pointwise, metric, f"{title}, 95% query-bootstrap CI")) is not None:
                    col.plotly_chart(fig, key=key)
            st.caption("95% CIs: bootstrap over queries. Accuracy and macro-F1 need level probabilities (bm25 has "
                       "none). p_holm (accuracy) and p_holm_auc: paired bootstrap against the first model, "
                       "Holm-corrected.")
            table(pointwise, "dash_pointwise", "pointwise.csv", column_config=NUMBERS)
    return models


def notes(skipped: dict, coverage: dict) -> None:
    """Captions for the models left out and for stored runs that do not cover every selected pair."""
    for m, why in skipped.items():
        st.caption(f"`{m}` left out: {why}.")
    for m, share in coverage.items():
        if share < 0.999:
            st.caption(f"`{m}`: stored predictions cover {share:.0%} of the labelled pairs "
                       f"(the rest count as level 3).")


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
def vs_humans(url: str, version: tuple, models: tuple[str, ...]) -> pd.DataFrame:
    """Stored predictions against the raters' consensus (``core.campaigns.consensus.models_vs_humans``), if both exist."""
    from core.campaigns.consensus import models_vs_humans
    from core.errors import NoPredictionsError

    have = [m for m in models if m in analytics.models_with_predictions(url)]
    if not have:
        return pd.DataFrame()
    try:
        return models_vs_humans(url, have, ks=(10,))
    except (ValueError, NoPredictionsError):
        return pd.DataFrame()


def model_options() -> list[str]:
    """Teacher, the registered students, and the cheap baselines."""
    from core.models.registry import available

    students = [m for m in available() if m.startswith("student") and m != "student"]
    return ["teacher", "student", *students, "bm25", "random"]


def ndcg_chart(df: pd.DataFrame, gains: str):
    part = df[df["gains"] == gains].copy()
    part["err_plus"] = part["ci_high"] - part["ndcg"]
    part["err_minus"] = part["ndcg"] - part["ci_low"]
    fig = px.bar(part, x="language", y="ndcg", color="model", barmode="group", error_y="err_plus",
                 error_y_minus="err_minus", hover_data=["n_queries", "n_pairs", "ci_low", "ci_high"],
                 title=f"nDCG@{part['k'].iat[0]} ({gains} gains), 95% bootstrap CI")
    fig.update_layout(yaxis_range=[0, 1], height=360, margin=dict(t=50, b=10), legend_title_text="")
    return fig


def pointwise_chart(df: pd.DataFrame, metric: str, title: str):
    """Bars of ``metric`` per language and model with their 95% CIs; None when no model has the metric."""
    part = df[df[metric].notna()].copy()
    if part.empty:
        return None
    part["err_plus"] = (part[f"{metric}_ci_high"] - part[metric]).fillna(0)
    part["err_minus"] = (part[metric] - part[f"{metric}_ci_low"]).fillna(0)
    fig = px.bar(part, x="language", y=metric, color="model", barmode="group", error_y="err_plus",
                 error_y_minus="err_minus", hover_data=["n_queries", "n_pairs"], title=title)
    fig.update_layout(yaxis_range=[0, 1], height=360, margin=dict(t=50, b=10), legend_title_text="")
    return fig


def throughput_chart(df: pd.DataFrame):
    hourly = df["period"].str.len().gt(10).any()
    fig = px.bar(df, x="period", y="labels", color="rater", title=f"Rater labels per {'hour' if hourly else 'day'}")
    fig.update_layout(height=320, margin=dict(t=50, b=10), legend_title_text="", xaxis_title="")
    fig.update_xaxes(type="category")
    return fig


NUMBERS = {c: st.column_config.NumberColumn(c, format="%.3f")
           for c in ("ndcg", "ci_low", "ci_high", "accuracy", "within_one", "p_holm", "win_rate",
                     "win_rate_ties_half", "median_seconds", "consensus_agreement", "gold_accuracy",
                     "gold_within_one", "level_tvd", "accuracy_ci_low", "accuracy_ci_high", "macro_f1",
                     "macro_f1_ci_low", "macro_f1_ci_high", "auc", "auc_ci_low", "auc_ci_high", "p_holm_auc",
                     "products per query")}


def win_chart(df: pd.DataFrame):
    part = df.copy()
    part["label"] = part["campaign"] + " · " + part["language"]
    part["err_plus"] = (part["ci_high"] - part["win_rate"]).fillna(0)
    part["err_minus"] = (part["win_rate"] - part["ci_low"]).fillna(0)
    fig = px.bar(part, x="label", y="win_rate", error_y="err_plus", error_y_minus="err_minus",
                 hover_data=["first", "second", "wins", "losses", "ties", "n"],
                 title="Win rate of the first model (ties apart), 95% Wilson CI")
    fig.add_hline(y=0.5, line_dash="dot")
    fig.update_layout(yaxis_range=[0, 1], height=320, margin=dict(t=50, b=10), xaxis_title="")
    return fig


def fmt(v) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


@st.cache_data(max_entries=8)
def labels(url: str, version: tuple) -> pd.DataFrame:
    """The labelled pairs in force (``core.workflows.analytics.labels_frame``), cached per store version."""
    return analytics.labels_frame(url)
