"""Sign-in with a brute-force brake, and the signed-in user (no Streamlit here; the page table is ui.pages).

Roles (``db.models.ROLES``): ``rater`` grades and compares; ``viewer`` (PMs) reads dashboards;
``researcher`` does both, digs into failures and runs data and model jobs; ``admin`` does everything
and manages users.

Sign-in: an attempt is *reserved* in the throttle before the password is checked, so parallel guesses
cannot all pass a lock that only a finished check would set; the lock is per (name, client), so a
stranger cannot lock a user out from another client; at most ``RELEVANCE_SIGN_IN_PARALLEL`` Argon2
checks (~64 MiB each) run at once. A session ends (``check_session``) when its account's
``session_version`` moved on: password set or reset, role changed, deactivated.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from core import config
from core.errors import ConfigError, LoginLocked, SessionEndedError
from core.store import users
from core.store.session import session_scope


@dataclass(frozen=True)
class SessionUser:
    """What the app keeps about the signed-in user (never the password or its hash).

    ``version`` is the account's ``session_version`` at sign-in; ``reset`` says the one-time password in
    use was set by an admin's reset (not a new account's).
    """

    name: str
    role: str
    must_change_password: bool = False
    version: int = field(default=0, compare=False)
    reset: bool = field(default=False, compare=False)


def _session_user(u) -> SessionUser:
    return SessionUser(u.name, u.role, bool(u.must_change_password), int(u.session_version or 0),
                       u.password_reset_at is not None)


# ------------------------------------------------------------------------------------------ throttle

@dataclass
class _Attempts:
    failures: int = 0
    pending: int = 0  # checks reserved and still running
    until: float = 0.0  # locked until (monotonic seconds)
    last: float = 0.0


class LoginThrottle:
    """Slows down password guessing per (name, client): after ``max_failures`` failures in a row, that pair
    is locked for ``lock_seconds``, doubling with each further failure up to ``max_lock``. Checks still
    running count as failures until they finish, so parallel guesses cannot slip past the limit.
    Process-wide; failures older than ``forget_after`` seconds are forgotten."""

    def __init__(self, max_failures: int = 5, lock_seconds: float = 30.0, max_lock: float = 900.0,
                 forget_after: float = 3600.0):
        self.max_failures, self.lock_seconds, self.max_lock = max_failures, lock_seconds, max_lock
        self.forget_after = forget_after
        self._state: dict[tuple[str, str], _Attempts] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(name: str, client: str) -> tuple[str, str]:
        return users.name_key(name), client or ""

    def _get(self, key: tuple[str, str], now: float) -> _Attempts:
        a = self._state.get(key)
        if a is None or (not a.pending and a.until <= now and now - a.last > self.forget_after):
            a = self._state[key] = _Attempts()
            if len(self._state) > 10_000:
                self._prune(now)
        return a

    def _prune(self, now: float) -> None:
        stale = [k for k, a in self._state.items()
                 if not a.pending and a.until <= now and now - a.last > min(self.forget_after, self.max_lock)]
        for k in stale:
            del self._state[k]

    def wait_seconds(self, name: str, client: str = "", now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            a = self._state.get(self._key(name, client))
            return max(0.0, a.until - now) if a else 0.0

    def begin(self, name: str, client: str = "", now: float | None = None) -> tuple[str, str]:
        """Reserve one check for (name, client); raises LoginLocked when locked or when the checks already
        running would reach the limit. Pair with ``finish``."""
        now = time.monotonic() if now is None else now
        key = self._key(name, client)
        with self._lock:
            a = self._get(key, now)
            if a.until > now:
                raise LoginLocked(a.until - now)
            if a.pending >= max(1, self.max_failures - a.failures):  # after a lock: one check at a time
                raise LoginLocked(self.lock_seconds)
            a.pending += 1
            a.last = now
        return key

    def finish(self, key: tuple[str, str], ok: bool | None, now: float | None = None) -> None:
        """End a reserved check: ``ok`` True resets the pair, False counts a failure, None (not checked) neither."""
        now = time.monotonic() if now is None else now
        with self._lock:
            a = self._get(key, now)
            a.pending = max(0, a.pending - 1)
            if ok:
                a.failures, a.until = 0, 0.0
            elif ok is False:
                self._fail(a, now)

    def _fail(self, a: _Attempts, now: float) -> None:
        a.failures += 1
        a.last = now
        if a.failures >= self.max_failures:
            a.until = now + min(self.max_lock, self.lock_seconds * 2 ** (a.failures - self.max_failures))

    def failed(self, name: str, client: str = "", now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._fail(self._get(self._key(name, client), now), now)

    def succeeded(self, name: str, client: str = "") -> None:
        with self._lock:
            self._state.pop(self._key(name, client), None)


class CheckGate:
    """At most ``limit`` password checks at once (Argon2 takes ~64 MiB each); ``peak`` is the most seen."""

    def __init__(self, limit: int, timeout: float = 30.0):
        if limit < 1:
            raise ConfigError(f"RELEVANCE_SIGN_IN_PARALLEL must be at least 1; got {limit}")
        self.limit, self.timeout = limit, timeout
        self._sem = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self.running = self.peak = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._sem.acquire(timeout=self.timeout):
            raise LoginLocked(5, "the server is busy checking other sign-ins; try again in a few seconds")
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            yield
        finally:
            with self._lock:
                self.running -= 1
            self._sem.release()


THROTTLE = LoginThrottle()
_GATE: CheckGate | None = None
_GATE_LOCK = threading.Lock()


def _int_setting(name: str, minimum: int) -> int:
    raw = config.get(name).strip()
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(f"RELEVANCE_{name.upper()} must be an integer >= {minimum}; got {raw!r}")
    return value


def gate() -> CheckGate:
    """The process-wide gate, sized by ``RELEVANCE_SIGN_IN_PARALLEL``."""
    global _GATE
    with _GATE_LOCK:
        if _GATE is None:
            _GATE = CheckGate(_int_setting("sign_in_parallel", 1))
        return _GATE


def idle_timeout_seconds() -> float:
    """``RELEVANCE_IDLE_TIMEOUT_MINUTES`` in seconds; 0 means sessions never time out."""
    return 60.0 * _int_setting("idle_timeout_minutes", 0)


# ------------------------------------------------------------------------------------------ sign-in

def sign_in(name: str, password: str, *, client: str = "", url: str | None = None,
            throttle: LoginThrottle = THROTTLE, check_gate: CheckGate | None = None) -> SessionUser | None:
    """The user if the name (any case) and password match an active account, else None.

    ``client`` identifies where the attempt comes from (an address, a browser); the lockout is per
    (name, client), so failures from one client do not lock the name for the others.

    Raises:
        LoginLocked: this name is locked for this client after repeated failures (the password is not
            even checked), or the server is too busy checking other sign-ins.
    """
    name = (name or "").strip()
    key = throttle.begin(name, client)
    ok: bool | None = None
    try:
        user = users.get_user(name, active_only=True, url=url) if name else None
        with (check_gate or gate()).slot():
            ok = users.verify(user, password or "") and user is not None
    finally:
        throttle.finish(key, ok)
    return _session_user(user) if ok else None


def refresh(name: str, *, url: str | None = None) -> SessionUser | None:
    """The user's current role and flags from the store, or None when the account is gone or inactive."""
    user = users.get_user(name, active_only=True, url=url)
    return _session_user(user) if user is not None else None


def check_session(user: SessionUser, *, url: str | None = None) -> SessionUser:
    """The session's user as the store has it now, if the session still holds its rights.

    Raises:
        SessionEndedError: the account is gone or deactivated, its role changed, or its password was
            changed or reset since this session signed in (``reason`` says which).
    """
    with session_scope(url) as s:
        row = users.find(s, user.name)
        fresh = _session_user(row) if row is not None and row.name == user.name else None
        active = bool(row.active) if fresh else False
    if fresh is None:
        raise SessionEndedError("gone", f"The account {user.name!r} no longer exists; you were signed out.")
    if not active:
        raise SessionEndedError("deactivated", "An admin deactivated your account, so you were signed out. "
                                               "Ask an admin to reactivate it.")
    if fresh.role != user.role:
        raise SessionEndedError("role", f"Your role changed from {user.role} to {fresh.role}, so you were signed "
                                        f"out. Sign in again to continue as {fresh.role}.")
    if fresh.version != user.version:
        if fresh.reset and fresh.must_change_password:
            raise SessionEndedError("password", "An admin reset your password, so you were signed out. Sign in "
                                                "with the one-time password they give you.")
        raise SessionEndedError("password", "Your password was changed in another session, so you were signed "
                                            "out. Sign in again with the new password.")
    return fresh


def change_password(name: str, current: str, new: str, repeat: str, *, url: str | None = None) -> SessionUser:
    """Set a new password after checking the current one; clears ``must_change_password``.

    Ends the user's other sessions; returns the user as this session should now hold them.

    Raises:
        users.UserError: the current password is wrong, the two new ones differ, the new one is too
            short or equals the current one.
    """
    user = users.get_user(name, active_only=True, url=url)
    with gate().slot():
        right = users.verify(user, current or "")
    if not right:
        raise users.UserError("the current password is wrong")
    if new != repeat:
        raise users.UserError("the two new passwords differ")
    if new == current:
        raise users.UserError("choose a new password, not the current one")
    users.set_password(user.name, new, must_change=False, url=url)
    return refresh(user.name, url=url)


def create_user_with_one_time_password(name: str, role: str, *, url: str | None = None) -> str:
    """Add a user with a generated password that must be changed at first sign-in; returns that password."""
    password = users.generate_password()
    users.add_user(name, role, password, must_change=True, url=url)
    return password


def reset_to_one_time_password(name: str, *, actor: str | None = None, url: str | None = None) -> str:
    """Give the user a generated password they must change at sign-in (their open sessions end).

    Raises:
        users.UserError: no such user, or ``actor`` resets their own password (use the Account page).
    """
    if actor is not None and users.name_key(actor) == users.name_key(name):
        raise users.UserError("that is your own account; change your password on the Account page")
    password = users.generate_password()
    users.set_password(name, password, must_change=True, reset=True, url=url)
    return password
