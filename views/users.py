"""Users (admin): create accounts with one-time passwords, change roles, deactivate, reset passwords."""

import pandas as pd
import streamlit as st

from core.store.users import NAME_RULE, list_users
from ui.users import add_user_form, reset_form, show_flash, status_form
from ui.auth import require
from ui.components import table

user = require("users")
st.title("Users")
st.caption("New accounts get a one-time password, shown once here; the user must choose their own at first "
           f"sign-in. Names: {NAME_RULE}, unique whatever the case. From a shell: "
           "`relevance users add NAME --role rater`, `relevance users role NAME ROLE`, "
           "`relevance users deactivate NAME`.")

st.subheader("Add a user")
add_user_form()

everyone = list_users()
st.subheader("Accounts")
show_flash()
table(pd.DataFrame([{"name": u.name, "role": u.role, "active": u.active,
                     "must change password": u.must_change_password, "created": u.created_at} for u in everyone]),
      "users_table", "users.csv")
st.subheader("Change a role or deactivate")
st.caption("The user's open sessions end at their next click. You cannot change your own account here, and "
           "the last active admin stays one.")
status_form(everyone, user.name)
st.subheader("Reset a password")
reset_form([u.name for u in everyone if u.name != user.name], user.name)
