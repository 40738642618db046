"""Rater quality: every rater's labels per hour, median seconds per item (too fast under a setting), gold
accuracy and agreement with the others' consensus, in all and by week; the team's Krippendorff α by week."""

import streamlit as st

from core import config
from core.campaigns import list_campaigns
from ui import quality
from ui.auth import require
from ui.components import table

require("rater_quality")
url = config.db_url()
st.title("Rater quality")
ALL = "All campaigns"
names = [c.name for c in list_campaigns(include_archived=True) if c.kind == "grade"]
campaign = st.selectbox("Campaign", [ALL] + names, key="quality_campaign")
report = quality.report(url, campaign=None if campaign == ALL else campaign)
if report.empty:
    st.info("No rater labels yet: raters grade campaign tasks on **Rate**; their figures appear here.",
            icon=":material/inbox:")
    st.stop()

fast = report.raters[report.raters["too_fast"]]
if len(fast):
    st.warning(f"Too fast (median under {report.too_fast_seconds:g} s per item, setting `RELEVANCE_TOO_FAST_SECONDS`): "
               f"{', '.join(fast['rater'])}.", icon=":material/speed:")
st.caption("Labels per hour of rating time (seconds items were on screen); agreement: share of a rater's labels in "
           "force equal to the lower median of the item's other raters; gold accuracy on gold tasks.")
table(quality.display(report.raters), "quality_raters", "rater_quality.csv")
st.subheader("By week")
quality.charts(report, "quality")
table(quality.display(report.weekly), "quality_weekly", "rater_quality_weekly.csv")
st.subheader("Team agreement by week")
team = report.team.assign(week=report.team["week"].map(lambda d: f"{d:%Y-%m-%d}"))
table(team.rename(columns={"n_labels": "labels", "n_items_multi": "items rated twice or more",
                           "alpha_ordinal": "Krippendorff α (ordinal)"}), "quality_team", "team_agreement.csv")
