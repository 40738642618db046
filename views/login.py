"""Sign in with a user from the store (``relevance users add NAME --role ROLE``)."""

import streamlit as st

from core.store import auth
from core.store.users import list_users
from ui import auth as ui_auth

st.title("Relevance Studio")
st.caption("Search-relevance workbench: rate pairs, compare rankings blind, read per-language nDCG.")

with st.form("login_form", width=420):
    name = st.text_input("User name", key="login_name", autocomplete="username")
    password = st.text_input("Password", type="password", key="login_password", autocomplete="current-password")
    submitted = st.form_submit_button("Sign in", type="primary", icon=":material/login:")

if submitted:
    try:
        user = auth.sign_in(name, password, client=ui_auth.client_key())
    except auth.LoginLocked as exc:
        st.error(f"Too many failed sign-ins for this name from this browser. Try again in {exc.seconds:.0f} s."
                 if "failed" in str(exc) else f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
        st.stop()
    if user is None:
        st.error("Wrong user name or password.")
        st.stop()
    ui_auth.set_user(user, go_home=True)
    st.rerun()

if not list_users():
    st.info("This store has no users yet. Create the first admin from a shell, then sign in: "
            "`relevance users add admin --role admin`.", icon=":material/person_add:")
else:
    st.caption("No account yet? An admin creates one on the Users page, or with "
               "`relevance users add NAME --role rater` (it prints a one-time password).")
