"""The Users page's forms (admin): accounts, roles, activation, one-time passwords.

Every change to a user's role, status or password ends that user's open sessions at their next click.
An admin cannot deactivate, demote or reset their own account here, and the last active admin stays one.
"""

from __future__ import annotations

import streamlit as st

from core.store import auth, users

ROLE_CHOICES = ["rater", "viewer", "researcher", "admin"]
FLASH = "users_flash"


def add_user_form() -> None:
    """Create a user with a one-time password, shown once; they set their own at first sign-in."""
    with st.form("users_add_form", clear_on_submit=True):
        c1, c2 = st.columns(2)
        name = c1.text_input("User name", key="users_add_name", help=f"{users.NAME_RULE}; case is ignored")
        role = c2.selectbox("Role", ROLE_CHOICES, key="users_add_role")
        go = st.form_submit_button("Create user", type="primary", icon=":material/person_add:")
    if go:
        _one_time_password(lambda: auth.create_user_with_one_time_password(name, role), "User not created",
                           f"Created {role} **{name.strip()}**. One-time password (shown once; they must change it "
                           f"at first sign-in):")


def reset_form(names: list[str], actor: str) -> None:
    with st.form("users_reset_form"):
        name = st.selectbox("User", names, key="users_reset_name")
        go = st.form_submit_button("Reset to a one-time password", icon=":material/lock_reset:")
    if go and name:
        _one_time_password(lambda: auth.reset_to_one_time_password(name, actor=actor), "Password not reset",
                           f"New one-time password for **{name}** (shown once; their open sessions end at their "
                           f"next click):")


def _one_time_password(issue, failed: str, shown: str) -> None:
    """Run ``issue()`` (it returns a one-time password) and show the password once, or why there is none."""
    try:
        password = issue()
    except users.UserError as exc:
        st.error(f"{failed}: {exc}.")
        return
    st.success(shown)
    st.code(password, language=None)


def status_form(everyone: list, actor: str) -> None:
    """Deactivate or reactivate an account, or change its role."""
    names = [u.name for u in everyone]
    with st.form("users_status_form"):
        c1, c2 = st.columns(2)
        name = c1.selectbox("User", names, key="users_status_name")
        role = c2.selectbox("New role", ROLE_CHOICES, key="users_status_role")
        b1, b2, b3 = st.columns(3)
        change = b1.form_submit_button("Change role", icon=":material/badge:")
        off = b2.form_submit_button("Deactivate", icon=":material/person_off:")
        on = b3.form_submit_button("Reactivate", icon=":material/person_check:")
    if not name or not (change or off or on):
        return
    try:
        if change:
            users.set_role(name, role, actor=actor)
            done = f"**{name}** is now a {role}; their open sessions end at their next click."
        else:
            users.set_active(name, on, actor=actor)
            done = f"**{name}** is " + ("active again." if on else "deactivated: they cannot sign in, and their "
                                                                   "open sessions end at their next click.")
    except users.UserError as exc:
        st.error(f"Not changed: {exc}.")
        return
    st.session_state[FLASH] = done
    st.rerun()  # the accounts table above shows the change


def show_flash() -> None:
    done = st.session_state.pop(FLASH, None)
    if done:
        st.success(done, icon=":material/check:")
