"""Sign-in with a brute-force brake, and the signed-in user (no Streamlit here; the page table is ui.pages).

Roles (``db.models.ROLES``): ``rater`` grades and compares; ``viewer`` (PMs) reads dashboards;
``researcher`` does both, digs into failures and runs data and model jobs; ``admin`` does everything
and manages users.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import select

from core.errors import LoginLocked
from core.store import users
from core.store.session import session_scope
from db.models import User

@dataclass(frozen=True)
class SessionUser:
    """What the app keeps about the signed-in user (never the password or its hash)."""

    name: str
    role: str
    must_change_password: bool = False


# ------------------------------------------------------------------------------------------ sign-in

class LoginThrottle:
    """Slows down password guessing: after ``max_failures`` failures in a row for a name, that name is
    locked for ``lock_seconds`` (doubling with each further failure, up to ``max_lock``). Process-wide."""

    def __init__(self, max_failures: int = 5, lock_seconds: float = 30.0, max_lock: float = 900.0):
        self.max_failures, self.lock_seconds, self.max_lock = max_failures, lock_seconds, max_lock
        self._state: dict[str, tuple[int, float]] = {}  # name -> (failures, locked until)
        self._lock = threading.Lock()

    def wait_seconds(self, name: str, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            _, until = self._state.get(name, (0, 0.0))
        return max(0.0, until - now)

    def failed(self, name: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            n, _ = self._state.get(name, (0, 0.0))
            n += 1
            until = 0.0
            if n >= self.max_failures:
                until = now + min(self.max_lock, self.lock_seconds * 2 ** (n - self.max_failures))
            self._state[name] = (n, until)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._state.pop(name, None)


THROTTLE = LoginThrottle()


def sign_in(name: str, password: str, *, url: str | None = None,
            throttle: LoginThrottle = THROTTLE) -> SessionUser | None:
    """The user if the name and password match an active account, else None.

    Raises:
        LoginLocked: the name is locked after repeated failures (the password is not even checked).
    """
    name = (name or "").strip()
    wait = throttle.wait_seconds(name)
    if wait > 0:
        raise LoginLocked(wait)
    user = users.authenticate(name, password or "", url=url) if name else None
    if user is None:
        throttle.failed(name)
        return None
    throttle.succeeded(name)
    return SessionUser(user.name, user.role, bool(user.must_change_password))


def refresh(name: str, *, url: str | None = None) -> SessionUser | None:
    """The user's current role and flags from the store, or None when the account is gone or inactive.

    The app calls it on every run, so a role change or a deactivation takes effect at the next click.
    """
    with session_scope(url) as s:
        row = s.execute(select(User.name, User.role, User.must_change_password)
                        .where(User.name == name, User.active.is_(True))).first()
    return SessionUser(row[0], row[1], bool(row[2])) if row else None


def change_password(name: str, current: str, new: str, repeat: str, *, url: str | None = None) -> None:
    """Set a new password after checking the current one; clears ``must_change_password``.

    Raises:
        users.UserError: the current password is wrong, the two new ones differ, the new one is too
            short or equals the current one.
    """
    if users.authenticate(name, current or "", url=url) is None:
        raise users.UserError("the current password is wrong")
    if new != repeat:
        raise users.UserError("the two new passwords differ")
    if new == current:
        raise users.UserError("choose a new password, not the current one")
    users.set_password(name, new, must_change=False, url=url)


def create_user_with_one_time_password(name: str, role: str, *, url: str | None = None) -> str:
    """Add a user with a generated password that must be changed at first sign-in; returns that password."""
    password = users.generate_password()
    users.add_user(name.strip(), role, password, must_change=True, url=url)
    return password


def reset_to_one_time_password(name: str, *, url: str | None = None) -> str:
    password = users.generate_password()
    users.set_password(name, password, must_change=True, url=url)
    return password
