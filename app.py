"""Relevance Studio — Streamlit entry point: navigation over the pages in pages/."""

import streamlit as st

st.set_page_config(page_title="Relevance Studio", page_icon="🔎", layout="wide")

pages = [st.Page("pages/overview.py", title="Overview", icon="📊", default=True)]
st.navigation(pages).run()
