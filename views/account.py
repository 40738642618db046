"""Change your password (forced at first sign-in with a one-time password)."""

import streamlit as st

from core.store import auth, users
from ui import auth as ui_auth

user = ui_auth.require("account")
st.title("Set a new password" if user.must_change_password else "Account")
if user.must_change_password:
    st.info(("An admin reset your password. " if user.reset else "") + "You signed in with a one-time password: "
            "choose your own to continue. Your other open sessions end when you save it.", icon=":material/key:")
else:
    st.markdown(f"Signed in as **{user.name}** ({user.role}).")

with st.form("account_form", width=420, clear_on_submit=True):
    current = st.text_input("Current password", type="password", key="account_current")
    new = st.text_input(f"New password (at least {users.MIN_PASSWORD} characters)", type="password",
                        key="account_new", autocomplete="new-password")
    repeat = st.text_input("Repeat the new password", type="password", key="account_repeat",
                           autocomplete="new-password")
    submitted = st.form_submit_button("Save password", type="primary")

if submitted:
    try:
        fresh = auth.change_password(user.name, current, new, repeat)
    except (users.UserError, auth.LoginLocked) as exc:
        st.error(f"Password not changed: {exc}.")
        st.stop()
    ui_auth.set_user(fresh, go_home=user.must_change_password)
    st.success("Password changed. Your other open sessions end at their next click.")
    if user.must_change_password:
        st.rerun()
