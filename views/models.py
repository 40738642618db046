"""Models and jobs (researcher, admin): model cards with metrics, training and scoring as background jobs."""

import streamlit as st

from core.models.registry import available, entry
from ui.auth import require
from ui.models import jobs_panel, model_cards, start_forms

require("models")
st.title("Models and jobs")

st.subheader("Trained models")
model_cards()
with st.expander("All registered scorers"):
    st.dataframe([{"name": n, "description": entry(n).description} for n in available()], hide_index=True,
                 width="stretch")

st.subheader("Start a job")
st.caption("Jobs run `relevance train …` / `relevance score …` in the background (they keep running if you leave "
           "this page); the log and progress refresh every 2 seconds.")
start_forms()
st.subheader("Jobs")
jobs_panel()
