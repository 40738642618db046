"""Overview: what the store holds, per language and per data set."""

import streamlit as st

from core import config
from core.store.datasets import datasets, overview
from core.store.users import STAFF_ROLES
from ui import pages
from ui.auth import require

user = require("overview")
st.title("Relevance Studio")
if user.role in STAFF_ROLES:
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
st.dataframe(data["by_language"], hide_index=True, width="stretch", key="overview_languages")

st.subheader("Data sets")
sets = datasets(by_language=True)
if sets.empty:
    st.caption("No labels yet: import judgments or let raters grade a campaign.")
else:
    st.caption("Labels in force per data set (an import's name, or `raters`) and query language. Pointwise data "
               "sets judge about one product per query: they are graded pair by pair, not ranked.")
    st.dataframe(sets, hide_index=True, width="stretch", key="overview_datasets",
                 column_config={"products per query": st.column_config.NumberColumn(format="%.0f")})

st.subheader("Where to go")
for spec in pages.pages_for(user.role):
    if spec.key not in ("overview", "account"):
        st.page_link(spec.path, label=spec.title, icon=spec.icon)
