"""Cached figures and charts for the dashboard page.

Every loader takes the store's version (``core.analytics.store_version``) as an argument, so
``st.cache_data`` recomputes only when labels, comparisons or predictions changed, not on every rerun.
nDCG goes through ``core.evaluate`` (ranx, bootstrap CIs) — seconds on first use in a server process,
then served from the cache.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.express as px
import streamlit as st

from core import analytics


@st.cache_data(show_spinner="Scoring the labelled pairs…", max_entries=16)
def ndcg_table(url: str, version: tuple, k: str, models: tuple[str, ...]) -> tuple[pd.DataFrame, dict, dict]:
    """(tidy rows of nDCG per model × language × gains, coverage of stored runs, skipped models)."""
    from core import metrics
    from ui.cache import scorer

    live = {"bm25": scorer("bm25", url)} if "bm25" in models else {}
    out = analytics.evaluate_store(url, models=models, ks=metrics.parse_ks(k), live_scorers=live)
    if out["report"] is None:
        return pd.DataFrame(), out["coverage"], out["skipped"]
    df = pd.DataFrame(out["report"]["rows"]).drop(columns=["p_value_vs_first"])
    return df, out["coverage"], out["skipped"]


@st.cache_data(max_entries=16)
def labels_by_language(url: str, version: tuple) -> pd.DataFrame:
    return analytics.labels_by_language(url)


@st.cache_data(max_entries=16)
def throughput(url: str, version: tuple) -> pd.DataFrame:
    return analytics.label_throughput(url)


@st.cache_data(max_entries=16)
def agreement(url: str, version: tuple) -> tuple[dict | None, pd.DataFrame]:
    from core.consensus import store_agreement

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
    from core.consensus import side_by_side_results

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
    """Stored predictions against the raters' consensus (``core.consensus.models_vs_humans``), if both exist."""
    from core.consensus import models_vs_humans
    from core.sampling import NoPredictionsError

    have = [m for m in models if m in analytics.models_with_predictions(url)]
    if not have:
        return pd.DataFrame()
    try:
        return models_vs_humans(url, have, ks=(10,))
    except (ValueError, NoPredictionsError):
        return pd.DataFrame()


def model_options() -> list[str]:
    """Teacher, the registered students, and the cheap baselines."""
    from core.registry import available

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


def throughput_chart(df: pd.DataFrame):
    hourly = df["period"].str.len().gt(10).any()
    fig = px.bar(df, x="period", y="labels", color="rater", title=f"Rater labels per {'hour' if hourly else 'day'}")
    fig.update_layout(height=320, margin=dict(t=50, b=10), legend_title_text="", xaxis_title="")
    fig.update_xaxes(type="category")
    return fig


NUMBERS = {c: st.column_config.NumberColumn(c, format="%.3f")
           for c in ("ndcg", "ci_low", "ci_high", "accuracy", "within_one", "p_holm", "win_rate",
                     "win_rate_ties_half", "median_seconds", "consensus_agreement", "gold_accuracy",
                     "gold_within_one", "level_tvd")}


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
    """The labelled pairs in force (``core.analytics.labels_frame``), cached per store version."""
    return analytics.labels_frame(url)
