"""Rater quality over time on the Rater quality page (staff: every rater) and on My labels (a rater: their own).

The figures come from ``core.campaigns.quality.rater_quality``, cached per state of the labels table; the charts
are plotly lines per week (a too-fast threshold line on the seconds chart), each table with a CSV download.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from core.campaigns import quality
from core.store.datasets import table_versions
from ui.components import table
from ui.dashboard_charts import fmt

HEADERS = {"n_labels": "labels", "labels_per_hour": "labels / hour", "median_seconds": "median s / item",
           "too_fast_share": "share under threshold", "too_fast": "too fast", "gold_accuracy": "gold accuracy",
           "n_gold": "gold items", "consensus_agreement": "agreement with consensus",
           "kappa_quadratic": "κ vs consensus (quadratic)", "n_consensus": "shared items"}
WEEKLY = {"consensus_agreement": ("Agreement with the other raters' consensus, by week", [0, 1]),
          "gold_accuracy": ("Gold accuracy, by week", [0, 1]),
          "median_seconds": ("Median seconds per item, by week", None),
          "labels_per_hour": ("Labels per hour of rating time, by week", None)}


@st.cache_data(max_entries=32, show_spinner=False)
def _report(url: str, version: tuple, rater: str | None, campaign: str | None) -> quality.RaterQuality:
    return quality.rater_quality(url, rater=rater, campaign=campaign)


def report(url: str, rater: str | None = None, campaign: str | None = None) -> quality.RaterQuality:
    """The figures, re-read when the labels table changed."""
    return _report(url, table_versions(url)["labels"], rater, campaign)


def display(frame: pd.DataFrame) -> pd.DataFrame:
    """Figures as text with readable headers: 3 decimals, missing values "—", the flag as "yes"/""."""
    out = frame.copy()
    if "week" in out:
        out["week"] = out["week"].map(lambda d: f"{d:%Y-%m-%d}")
    out["too_fast"] = out["too_fast"].map(lambda v: "yes" if v else "")
    for c in ("labels_per_hour", "median_seconds"):
        out[c] = out[c].map(lambda v: fmt(v, 1))
    for c in ("too_fast_share", "gold_accuracy", "consensus_agreement", "kappa_quadratic"):
        out[c] = out[c].map(fmt)
    return out.rename(columns=HEADERS)


def weekly_chart(weekly: pd.DataFrame, metric: str, threshold: float | None = None):
    """One line per rater over the weeks; None when no week has the figure."""
    part = weekly[weekly[metric].notna()].copy()
    if part.empty:
        return None
    title, yrange = WEEKLY[metric]
    part["week"] = pd.to_datetime(part["week"])
    fig = px.line(part, x="week", y=metric, color="rater", markers=True, title=title,
                  hover_data=["n_labels", "n_gold", "n_consensus"], labels={metric: HEADERS[metric]})
    if threshold is not None:
        fig.add_hline(y=threshold, line_dash="dot", annotation_text=f"too fast under {threshold:g} s")
    fig.update_layout(height=300, margin=dict(t=50, b=10), legend_title_text="", xaxis_title="")
    if yrange:
        fig.update_yaxes(range=[yrange[0] - 0.05, yrange[1] + 0.05])
    fig.update_xaxes(tick0=part["week"].min(), dtick=7 * 24 * 3600 * 1000, tickformat="%Y-%m-%d")  # Mondays
    return fig


def charts(report: quality.RaterQuality, prefix: str) -> None:
    """The weekly charts side by side, two a row."""
    figures = [(m, weekly_chart(report.weekly, m, report.too_fast_seconds if m == "median_seconds" else None))
               for m in WEEKLY]
    figures = [(m, f) for m, f in figures if f is not None]
    for i in range(0, len(figures), 2):
        for col, (metric, fig) in zip(st.columns(2), figures[i:i + 2]):
            col.plotly_chart(fig, key=f"{prefix}_chart_{metric}")


def own_figures(report: quality.RaterQuality, name: str) -> None:
    """A rater's own figures: the totals as metrics, a too-fast warning, the weekly charts and table."""
    if report.empty:
        st.caption("No figures yet: they come with your grades.")
        return
    row = report.raters.iloc[0]
    cols = st.columns(5)
    cols[0].metric("Labels", f"{row['n_labels']:,}")
    cols[1].metric("Labels per hour", fmt(row["labels_per_hour"], 0))
    cols[2].metric("Median seconds per item", fmt(row["median_seconds"], 1))
    cols[3].metric("Gold accuracy", fmt(row["gold_accuracy"], 2), help=f"on {row['n_gold']} gold items")
    cols[4].metric("Agreement with consensus", fmt(row["consensus_agreement"], 2),
                   help=f"on {row['n_consensus']} items other raters graded too")
    if row["too_fast"]:
        st.warning(f"Your median time per item is {row['median_seconds']:.1f} s, under {report.too_fast_seconds:g} s: "
                   f"take the time to read the query and the product before you grade.", icon=":material/speed:")
    charts(report, "my_labels")
    table(display(report.weekly.drop(columns="rater")), "my_labels_weekly", f"quality_{name}_weekly.csv")
