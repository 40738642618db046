"""Data and campaigns (researcher, admin): validated imports, rating campaigns (create, manage), label exports, raters'
flags (resolve) and query notes."""

import streamlit as st

from core.campaigns import list_campaigns
from ui import admin, campaigns, flags
from ui.auth import require
from ui.components import table
from ui.models import jobs_panel

user = require("data")
st.title("Data and campaigns")
imports_tab, campaigns_tab, export_tab, flags_tab = st.tabs(["Import files", "Campaigns", "Export labels",
                                                             "Flags and query notes"])

with imports_tab:
    st.caption("Every row is validated first; a file with a bad row imports nothing and the report lists each "
               "bad row. Importing the same file again changes nothing.")
    admin.import_form()

with campaigns_tab:
    campaigns.show_outcome()
    every = list_campaigns(include_archived=True)
    shown = campaigns.unarchived(every)
    existing = admin.campaigns_table(shown)
    if existing.empty:
        st.info("No campaigns outside the archive." if every else "No campaigns yet. Create the first one below.",
                icon=":material/inbox:")
    else:
        table(existing, "data_campaigns", "campaigns.csv",
              column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1)})
        with st.expander("Add raters to a campaign"):
            admin.add_raters_form(existing["name"].tolist())
        with st.expander("Manage a campaign: instructions, pause, resume, close, archive, delete",
                         key="data_manage", on_change="rerun"):
            campaigns.manage_panel(user, shown)
    st.subheader("New campaign")
    admin.campaign_form(user.name)
    st.subheader("Campaign jobs")
    st.caption("Campaigns whose sampling runs a model over candidate lists (side-by-side or pool with the teacher "
               "or a student) are made in the background; the page stays usable meanwhile.")
    jobs_panel("campaign ", key="data")

with export_tab:
    campaigns.export_panel(every)

with flags_tab:
    st.subheader("Flags")
    flags.flags_panel()
    st.subheader("Query notes")
    st.caption("What a query means (its information need); raters see it above the item on Rate and Compare.")
    flags.notes_panel()
