"""Overview: what the store holds, per language."""

import streamlit as st

from core import config
from core.stats import overview

st.title("Relevance Studio")
st.caption(f"Store: `{config.db_url()}`")

data = overview()
if data["totals"]["products"] == 0:
    st.info("The store is empty. Run `relevance init` to import the bundled demo data, or import your own "
            "catalog with `relevance import products FILE`.")
    st.stop()

cols = st.columns(4)
for col, (name, value) in zip(cols, data["totals"].items()):
    col.metric(name.capitalize(), f"{value:,}")

st.subheader("Queries and labels per language")
st.dataframe(data["by_language"], hide_index=True, use_container_width=True)
