"""Data and campaigns (researcher, admin): validated imports and rating campaigns."""

import streamlit as st

from ui import admin
from ui.auth import require
from ui.components import table
from ui.models import jobs_panel

user = require("data")
st.title("Data and campaigns")
imports_tab, campaigns_tab = st.tabs(["Import files", "Campaigns"])

with imports_tab:
    st.caption("Every row is validated first; a file with a bad row imports nothing and the report lists each "
               "bad row. Importing the same file again changes nothing.")
    admin.import_form()

with campaigns_tab:
    if flash := st.session_state.pop("data_flash", None):
        st.success(flash)
    existing = admin.campaigns_table()
    if existing.empty:
        st.info("No campaigns yet. Create the first one below.", icon=":material/inbox:")
    else:
        table(existing, "data_campaigns", "campaigns.csv",
              column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1)})
        with st.expander("Add raters to a campaign"):
            admin.add_raters_form(existing["name"].tolist())
    st.subheader("New campaign")
    admin.campaign_form(user.name)
    st.subheader("Campaign jobs")
    st.caption("Campaigns whose sampling runs a model over candidate lists (side-by-side or pool with the teacher "
               "or a student) are made in the background; the page stays usable meanwhile.")
    jobs_panel("campaign ", key="data")
