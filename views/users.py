"""Users (admin): create accounts with one-time passwords, reset passwords."""

import pandas as pd
import streamlit as st

from core.store.users import list_users
from ui.users import add_user_form, reset_form
from ui.auth import require
from ui.components import table

require("users")
st.title("Users")
st.caption("New accounts get a one-time password, shown once here; the user must choose their own at first "
           "sign-in. From a shell: `relevance users add NAME --role rater`.")

st.subheader("Add a user")
add_user_form()

everyone = list_users()
st.subheader("Accounts")
table(pd.DataFrame([{"name": u.name, "role": u.role, "active": u.active,
                     "must change password": u.must_change_password, "created": u.created_at} for u in everyone]),
      "users_table", "users.csv")
st.subheader("Reset a password")
reset_form([u.name for u in everyone])
