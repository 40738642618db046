"""Overview: what the store holds, per language."""

import streamlit as st

from core import auth, config
from core.stats import overview
from ui.auth import require

user = require("overview")
st.title("Relevance Studio")
if user.role in auth.STAFF:
    st.caption(f"Store: `{config.db_url().split('@')[-1]}`")

data = overview()
if data["totals"]["products"] == 0:
    st.info("The store is empty. Run `relevance init` to import the bundled demo data, or import your own "
            "catalog on **Data and campaigns** (or `relevance import products FILE`).", icon=":material/inbox:")
    st.stop()

cols = st.columns(4)
for col, (name, value) in zip(cols, data["totals"].items()):
    col.metric(name.capitalize(), f"{value:,}")

st.subheader("Queries and labels per language")
st.dataframe(data["by_language"], hide_index=True, width="stretch")

st.subheader("Where to go")
for spec in auth.pages_for(user.role):
    if spec.key not in ("overview", "account"):
        st.page_link(spec.path, label=spec.title, icon=spec.icon)
