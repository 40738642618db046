"""The signed-in user in the Streamlit session, and the role check every page runs first."""

from __future__ import annotations

import streamlit as st

from core.store import auth
from ui import pages

USER_KEY = "auth_user"
GO_HOME = "auth_go_home"  # set after signing in: app.py opens the role's home page once


def current_user() -> auth.SessionUser | None:
    user = st.session_state.get(USER_KEY)
    return user if isinstance(user, auth.SessionUser) else None


def set_user(user: auth.SessionUser | None, *, go_home: bool = False) -> None:
    if user is None:
        st.session_state.pop(USER_KEY, None)
    else:
        st.session_state[USER_KEY] = user
        if go_home:
            st.session_state[GO_HOME] = True


def sign_out() -> None:
    """Forget everything this session held (user, leases in view, selections)."""
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def require(page_key: str) -> auth.SessionUser:
    """The signed-in user if their role may open ``page_key``; otherwise say why and stop the script.

    Every page calls this first, so the check holds however the page was reached (menu, URL, switch_page).
    """
    spec = pages.page(page_key)
    user = current_user()
    if user is None:
        st.warning("Please sign in first.", icon=":material/lock:")
        st.stop()
    if user.must_change_password and page_key != "account":
        st.warning("Set a new password first (Account page).", icon=":material/key:")
        st.stop()
    if not pages.allowed(user.role, page_key):
        st.error(f"**{spec.title}** is open to {', '.join(spec.roles)}; you are signed in as "
                 f"**{user.name}** ({user.role}).", icon=":material/block:")
        st.stop()
    return user
