"""The signed-in user in the Streamlit session: the session check every run and every callback makes first,
the role check every page runs first, the sign-in client key, and the page asked for before sign-in."""

from __future__ import annotations

import hashlib
import secrets
import time

import streamlit as st

from core import config
from core.errors import SessionEndedError
from core.store import auth
from ui import pages

USER_KEY = "auth_user"
GO_HOME = "auth_go_home"  # set after signing in: app.py opens the asked-for page or the role's home once
NEXT_KEY = "auth_next"  # the page (key) a signed-out visitor opened by URL, opened after sign-in
NOTICE_KEY = "auth_notice"  # a message shown once on the next run (why the session ended, where you landed)
SEEN_KEY = "auth_last_seen"  # time of this session's last click (idle timeout)
CLIENT_KEY = "auth_client"  # this session's own client key when the browser gives nothing better


def current_user() -> auth.SessionUser | None:
    user = st.session_state.get(USER_KEY)
    return user if isinstance(user, auth.SessionUser) else None


def set_user(user: auth.SessionUser | None, *, go_home: bool = False) -> None:
    if user is None:
        st.session_state.pop(USER_KEY, None)
    else:
        st.session_state[USER_KEY] = user
        st.session_state[SEEN_KEY] = time.time()
        if go_home:
            st.session_state[GO_HOME] = True


def sign_out(notice: str | None = None) -> None:
    """Forget everything this session held (user, leases in view, selections); ``notice`` says why, once."""
    client = st.session_state.get(CLIENT_KEY)
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if client:
        st.session_state[CLIENT_KEY] = client
    if notice:
        st.session_state[NOTICE_KEY] = notice


def check_session() -> auth.SessionUser | None:
    """The signed-in user if the session still holds its rights, else None (signed out, with a notice).

    A session ends when it was idle longer than ``RELEVANCE_IDLE_TIMEOUT_MINUTES`` or when the account was
    deactivated, its role changed or its password was changed or reset elsewhere. app.py calls this on
    every run, and every button callback that writes calls it first: callbacks run before app.py.
    """
    user = current_user()
    if user is None:
        return None
    now, timeout = time.time(), auth.idle_timeout_seconds()
    seen = st.session_state.get(SEEN_KEY, now)
    if timeout and now - seen > timeout:
        minutes = round(timeout / 60)
        sign_out(f"You were signed out after {minutes} minute{'s' if minutes != 1 else ''} without activity. "
                 f"Sign in again.")
        return None
    try:
        fresh = auth.check_session(user)
    except SessionEndedError as exc:
        sign_out(str(exc))
        return None
    st.session_state[SEEN_KEY] = now
    if fresh != user:
        st.session_state[USER_KEY] = fresh
    return fresh


def client_key() -> str:
    """Where a sign-in comes from, for the per-(name, client) lockout: the proxy's X-Forwarded-For when
    ``RELEVANCE_TRUST_FORWARDED_FOR=1``, else the connection's address; on localhost (no address) the
    browser (its Streamlit XSRF cookie), else this session."""
    ctx = st.context
    try:
        headers, cookies, ip = ctx.headers, ctx.cookies, ctx.ip_address
    except Exception:  # outside a browser session (AppTest): no context
        headers, cookies, ip = {}, {}, None
    if config.get("trust_forwarded_for").strip() == "1":
        forwarded = (headers.get("X-Forwarded-For") or "").split(",")[0].strip()
        if forwarded:
            return f"ip:{forwarded}"
    if ip:
        return f"ip:{ip}"
    token = _xsrf_token(cookies.get("_streamlit_xsrf") if cookies else None)
    if token:
        return "browser:" + hashlib.sha256(token).hexdigest()[:16]
    if CLIENT_KEY not in st.session_state:
        st.session_state[CLIENT_KEY] = secrets.token_hex(8)
    return "session:" + st.session_state[CLIENT_KEY]


def _xsrf_token(cookie: str | None) -> bytes | None:
    """The browser's XSRF token inside Tornado's cookie ``2|mask|masked token|time`` (the mask changes at every
    page load, the token stays), or None."""
    parts = (cookie or "").split("|")
    try:
        if len(parts) == 4 and parts[0] == "2":
            mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
            return bytes(b ^ mask[i % len(mask)] for i, b in enumerate(masked)) if mask else masked
    except ValueError:
        pass
    return cookie.encode() if cookie else None


def remember_target(key: str) -> None:
    """Remember the page a signed-out visitor opened (its URL path), to open it after sign-in."""
    if key in {p.key for p in pages.PAGES}:
        st.session_state[NEXT_KEY] = key
    else:
        st.session_state.pop(NEXT_KEY, None)


def pop_target() -> str | None:
    return st.session_state.pop(NEXT_KEY, None)


def notify(message: str) -> None:
    st.session_state[NOTICE_KEY] = message


def show_notice() -> None:
    message = st.session_state.pop(NOTICE_KEY, None)
    if message:
        st.warning(message, icon=":material/info:")


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
