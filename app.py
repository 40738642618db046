"""Relevance Studio — Streamlit entry point: sign-in, then the pages the user's role may open.

The menu is built from ``ui.pages.PAGES``; each page checks the role again itself (``ui.auth.require``),
so a page left out of the menu is refused when reached by URL too. The user's role and status are read
from the store on every run: a deactivated account or a changed role takes effect at the next click.
"""

import streamlit as st

from core import config
from core.store import auth
from core.store.users import STAFF_ROLES
from ui import auth as ui_auth, pages as page_table
from ui.components import inject_css

st.set_page_config(page_title="Relevance Studio", page_icon="🔎", layout="wide")
inject_css()

user = ui_auth.current_user()
if user is not None:
    fresh = auth.refresh(user.name)
    if fresh is None:
        ui_auth.sign_out()
        user = None
    elif fresh != user:
        ui_auth.set_user(fresh)
        user = fresh

if user is None:
    pages = [st.Page("views/login.py", title="Sign in", icon=":material/login:", default=True)]
elif user.must_change_password:
    pages = [st.Page("views/account.py", title="Set a new password", icon=":material/key:", default=True)]
else:
    home, pages = page_table.home(user.role), {}
    for spec in page_table.pages_for(user.role):
        page = st.Page(spec.path, title=spec.title, icon=spec.icon, default=spec.key == home)
        pages.setdefault(spec.section, []).append(page)
        if spec.key == home:
            home_page = page

nav = st.navigation(pages)
if user is not None and not user.must_change_password and st.session_state.pop(ui_auth.GO_HOME, False):
    st.switch_page(home_page)  # right after signing in (or setting the first password)
if user is not None:
    with st.sidebar:
        st.markdown(f"**{user.name}** · {user.role}")
        if st.button("Sign out", key="app_sign_out", icon=":material/logout:"):
            ui_auth.sign_out()
            st.rerun()
        if user.role in STAFF_ROLES:
            st.caption(f"Store: `{config.db_url().split('@')[-1]}`")
nav.run()
