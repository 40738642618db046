"""Relevance Studio — Streamlit entry point: sign-in, then the pages the user's role may open.

The menu is built from ``ui.pages.PAGES``; each page checks the role again itself (``ui.auth.require``),
so a page left out of the menu is refused when reached by URL too. The session is checked against the
store on every run (``ui.auth.check_session``): a deactivated account, a changed role or password, or an
idle timeout signs the session out with a notice saying why.

Every page's URL exists in every state, so a deep link never meets "Page not found": signed out it shows
the sign-in form and the page opens after signing in (when the role may open it; else the role's home,
with a note); signed in, a page the role may not open says who may.
"""

import streamlit as st

from core import config
from core.store.users import STAFF_ROLES
from ui import auth as ui_auth, pages as page_table, preload
from ui.components import inject_css

preload.start()  # once per server process: the pages' libraries are imported while the visitor signs in
st.set_page_config(page_title="Relevance Studio", page_icon="🔎", layout="wide")
inject_css()


def _refused(key: str):
    """A hidden stand-in for a page the role may not open: the page's own role check says who may."""
    def page() -> None:
        ui_auth.require(key)
    page.__name__ = f"refused_{key}"
    return page


def _placeholders(script: str, title: str, skip: set[str]) -> list:
    """Hidden pages under every page's URL that run ``script`` (the sign-in or set-password form)."""
    return [st.Page(script, title=title, url_path=p.key, visibility="hidden") for p in page_table.PAGES
            if p.key not in skip]


user = ui_auth.check_session()
by_key: dict = {}
if user is None:
    pages = [st.Page("views/login.py", title="Sign in", icon=":material/login:", default=True)]
    pages += _placeholders("views/login.py", "Sign in", set())
elif user.must_change_password:
    pages = [st.Page("views/account.py", title="Set a new password", icon=":material/key:", default=True)]
    pages += _placeholders("views/account.py", "Set a new password", {"account"})
    pages.append(st.Page("views/account.py", title="Set a new password", url_path="login", visibility="hidden"))
else:
    home, pages = page_table.home(user.role), {}
    for spec in page_table.PAGES:
        if page_table.allowed(user.role, spec.key):
            page = st.Page(spec.path, title=spec.title, icon=spec.icon, default=spec.key == home)
            pages.setdefault(spec.section, []).append(page)
            by_key[spec.key] = page
        else:
            pages.setdefault(spec.section, []).append(
                st.Page(_refused(spec.key), title=spec.title, url_path=spec.key, visibility="hidden"))
    # the sign-in form's URL, reached by the rerun right after signing in: it leads home (below)
    pages.setdefault("Studio", []).append(st.Page(_refused("overview"), title="Sign in", url_path="login",
                                                  visibility="hidden"))

nav = st.navigation(pages)
if user is None:
    ui_auth.remember_target(nav.url_path)
elif not user.must_change_password and (st.session_state.pop(ui_auth.GO_HOME, False) or nav.url_path == "login"):
    target = ui_auth.pop_target()  # right after signing in (or setting the first password)
    if target and target not in by_key:
        spec = page_table.page(target)
        ui_auth.notify(f"{spec.title} is open to {', '.join(spec.roles)}; you are signed in as {user.role}, so "
                       f"you landed on your home page.")
    st.switch_page(by_key.get(target, by_key[home]))
if user is not None:
    with st.sidebar:
        st.markdown(f"**{user.name}** · {user.role}")
        if st.button("Sign out", key="app_sign_out", icon=":material/logout:"):
            ui_auth.sign_out()
            st.rerun()
        if user.role in STAFF_ROLES:
            st.caption(f"Store: `{config.db_url().split('@')[-1]}`")
ui_auth.show_notice()
nav.run()
