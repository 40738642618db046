"""The Users page's forms (admin): accounts, roles, one-time passwords."""

from __future__ import annotations

import streamlit as st

from core.store import auth, users


def add_user_form() -> None:
    """Create a user with a one-time password, shown once; they set their own at first sign-in."""
    with st.form("users_add_form", clear_on_submit=True):
        c1, c2 = st.columns(2)
        name = c1.text_input("User name", key="users_add_name")
        role = c2.selectbox("Role", ["rater", "viewer", "researcher", "admin"], key="users_add_role")
        go = st.form_submit_button("Create user", type="primary", icon=":material/person_add:")
    if go:
        try:
            password = auth.create_user_with_one_time_password(name, role)
        except users.UserError as exc:
            st.error(f"User not created: {exc}.")
            return
        st.success(f"Created {role} **{name.strip()}**. One-time password (shown once; they must change it at "
                   f"first sign-in):")
        st.code(password, language=None)


def reset_form(names: list[str]) -> None:
    with st.form("users_reset_form"):
        name = st.selectbox("User", names, key="users_reset_name")
        go = st.form_submit_button("Reset to a one-time password", icon=":material/lock_reset:")
    if go and name:
        st.success(f"New one-time password for **{name}** (shown once):")
        st.code(auth.reset_to_one_time_password(name), language=None)
