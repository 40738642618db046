"""Charts and display tables of the dashboard: every figure with its CI or "too few queries (n)", every
missing value as "—", every comparison naming its reference model."""

from __future__ import annotations

import math

import pandas as pd
import plotly.express as px
import streamlit as st

DASH = "—"


def missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def fmt(v, digits: int = 3) -> str:
    return DASH if missing(v) else f"{v:.{digits}f}"


def p_text(v) -> str:
    return DASH if missing(v) else ("< 0.001" if v < 0.001 else f"{v:.3f}")


def with_ci(value, low, high, n: int, enough: bool) -> str:
    """"0.812 [0.701, 0.902]", or "too few queries (n)" below the minimum, or "—" without a figure."""
    if not enough:
        return f"too few queries ({n})"
    if missing(value):
        return DASH
    return f"{value:.3f} [{fmt(low)}, {fmt(high)}]"


def too_few(value, enough: bool, n: int) -> str:
    """A figure as text, or "too few queries (n)" below the minimum."""
    return fmt(value) if enough else f"too few queries ({n})"


def change_display(df: pd.DataFrame, a: str, b: str, a_name: str | None = None,
                   b_name: str | None = None) -> pd.DataFrame:
    """What changed (``core.workflows.figures.compare`` or ``compare_dates``) as text: language, queries, the figure
    of ``a`` and of ``b`` (titled ``a_name``, ``b_name``), "b − a [95% CI]" and the Holm-corrected p."""
    a_name, b_name = a_name or a, b_name or b
    return pd.DataFrame({
        "language": df["language"], "queries": df["n_queries"].astype(int),
        a_name: [too_few(*t) for t in zip(df[a], df["enough"], df["n_queries"])],
        b_name: [too_few(*t) for t in zip(df[b], df["enough"], df["n_queries"])],
        f"{b_name} − {a_name} [95% CI]": [with_ci(*t) for t in zip(df["delta"], df["ci_low"], df["ci_high"],
                                                                  df["n_queries"], df["enough"])],
        "p (Holm)": [p_text(p) for p in df["p_holm"]],
    })


def vs_raters_display(df: pd.DataFrame) -> pd.DataFrame:
    """The models against the raters' consensus (``core.workflows.figures.vs_raters``) as text, "too few queries
    (n)" for every figure of a language under the minimum."""
    return pd.DataFrame({
        **_ndcg_columns(df),
        "within one": [too_few(*t) for t in zip(df["within_one"], df["enough"], df["n_queries"])],
        "queries": df["n_queries"].astype(int), "pairs": df["n_pairs"].astype(int),
    })


def _ndcg_columns(df: pd.DataFrame) -> dict:
    """model, language, gains, nDCG@k with its CI and accuracy as text ("too few queries (n)" under the minimum)."""
    k = df["k"].iat[0]
    return {
        "model": df["model"], "language": df["language"], "gains": df["gains"],
        f"nDCG@{k} [95% CI]": [with_ci(*t) for t in zip(df["ndcg"], df["ci_low"], df["ci_high"], df["n_queries"],
                                                         df["enough"])],
        "accuracy": [too_few(*t) for t in zip(df["accuracy"], df["enough"], df["n_queries"])],
    }


def ndcg_display(df: pd.DataFrame, reference: str) -> pd.DataFrame:
    """The nDCG summary (``core.workflows.figures.summary``) as text, one row per model × language × gains."""
    return pd.DataFrame({
        **_ndcg_columns(df),
        f"p (Holm) vs {reference}": [("reference" if m == reference else p_text(p))
                                     for m, p in zip(df["model"], df["p_holm"])],
        "queries": df["n_queries"].astype(int), "pairs": df["n_pairs"].astype(int),
    })


def pointwise_display(df: pd.DataFrame, reference: str, min_n: int) -> pd.DataFrame:
    enough = df["n_queries"] >= min_n
    cell = {m: [with_ci(*t) for t in zip(df[m], df[f"{m}_ci_low"], df[f"{m}_ci_high"], df["n_queries"], enough)]
            for m in ("accuracy", "macro_f1", "auc")}
    return pd.DataFrame({
        "model": df["model"], "language": df["language"], "accuracy [95% CI]": cell["accuracy"],
        "macro-F1 [95% CI]": cell["macro_f1"], "AUC exact vs irrelevant [95% CI]": cell["auc"],
        f"p (Holm) accuracy vs {reference}": [("reference" if m == reference else p_text(p) if e else DASH)
                                              for m, p, e in zip(df["model"], df["p_holm"], enough)],
        f"p (Holm) AUC vs {reference}": [("reference" if m == reference else p_text(p) if e else DASH)
                                         for m, p, e in zip(df["model"], df["p_holm_auc"], enough)],
        "queries": df["n_queries"].astype(int), "pairs": df["n_pairs"].astype(int),
    })


def text_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Every cell of ``df`` as display text: numbers to 3 decimals, missing values as "—" (never "None")."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].map(fmt)
        elif out[c].dtype == object or not pd.api.types.is_numeric_dtype(out[c]):
            out[c] = out[c].map(lambda v: DASH if missing(v) or v == "" else str(v))
    return out


def ndcg_chart(df: pd.DataFrame, gains: str, min_n: int):
    """Bars with 95% CIs of the languages with enough queries; None when none has."""
    part = df[(df["gains"] == gains) & df["enough"]].copy()
    if part.empty:
        return None
    part["err_plus"] = part["ci_high"] - part["ndcg"]
    part["err_minus"] = part["ndcg"] - part["ci_low"]
    fig = px.bar(part, x="language", y="ndcg", color="model", barmode="group", error_y="err_plus",
                 error_y_minus="err_minus", hover_data=["n_queries", "n_pairs", "ci_low", "ci_high"],
                 title=f"nDCG@{part['k'].iat[0]} ({gains} gains), 95% bootstrap CI; languages with ≥ {min_n} queries")
    fig.update_layout(yaxis_range=[0, 1], height=360, margin=dict(t=50, b=10), legend_title_text="")
    return fig


def pointwise_chart(df: pd.DataFrame, metric: str, title: str, min_n: int):
    """Bars of ``metric`` per language and model with their 95% CIs; None when no row has the metric and
    enough queries."""
    part = df[df[metric].notna() & (df["n_queries"] >= min_n)].copy()
    if part.empty:
        return None
    part["err_plus"] = (part[f"{metric}_ci_high"] - part[metric]).fillna(0)
    part["err_minus"] = (part[metric] - part[f"{metric}_ci_low"]).fillna(0)
    fig = px.bar(part, x="language", y=metric, color="model", barmode="group", error_y="err_plus",
                 error_y_minus="err_minus", hover_data=["n_queries", "n_pairs"], title=title)
    fig.update_layout(yaxis_range=[0, 1], height=360, margin=dict(t=50, b=10), legend_title_text="")
    return fig


def win_title(df: pd.DataFrame) -> str:
    pairs = df[["first", "second"]].drop_duplicates()
    if len(pairs) == 1:
        return f"Win rate of {pairs['first'].iat[0]} vs {pairs['second'].iat[0]} (ties apart), 95% Wilson CI"
    return "Win rate of each campaign's first model vs its second (named per bar; ties apart), 95% Wilson CI"


def win_chart(df: pd.DataFrame):
    part = df.copy()
    part["label"] = part["campaign"] + " · " + part["language"] + ": " + part["first"] + " vs " + part["second"]
    part["err_plus"] = (part["ci_high"] - part["win_rate"]).fillna(0)
    part["err_minus"] = (part["win_rate"] - part["ci_low"]).fillna(0)
    fig = px.bar(part, x="label", y="win_rate", error_y="err_plus", error_y_minus="err_minus",
                 hover_data=["first", "second", "wins", "losses", "ties", "n"], title=win_title(df))
    fig.add_hline(y=0.5, line_dash="dot")
    fig.update_layout(yaxis_range=[0, 1], height=320, margin=dict(t=50, b=10), xaxis_title="")
    return fig


def throughput_chart(df: pd.DataFrame):
    hourly = df["period"].str.len().gt(10).any()
    fig = px.bar(df, x="period", y="labels", color="rater",
                 title=f"Rater labels in force per {'hour' if hourly else 'day'} (undone labels not counted)")
    fig.update_layout(height=320, margin=dict(t=50, b=10), legend_title_text="", xaxis_title="")
    fig.update_xaxes(type="category")
    return fig


NUMBERS = {c: st.column_config.NumberColumn(c, format="%.3f")
           for c in ("median_seconds", "win_rate", "win_rate_ties_half", "ci_low", "ci_high")}
