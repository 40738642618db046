"""Users and roles; passwords hashed with Argon2 (argon2-cffi).

A user name follows ``NAME_RULE`` and is unique whatever its case: ``Rater4`` and ``rater4`` are one user
(``User.name_key`` holds the case-folded name), and every look-up by name ignores case. Every change to an
account's rights or credentials (password, role, active) bumps ``User.session_version``, which ends the
user's other open sessions at their next click (``core.store.auth.check_session``).
"""

from __future__ import annotations

import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.errors import SessionEndedError, UserError
from core.store.session import session_scope
from db.models import ROLES, User, utcnow

_HASHER = PasswordHasher()
MIN_PASSWORD = 8
NAME_RULE = "2–64 characters: letters a–z or A–Z, digits, '.', '_' or '-'"
_NAME_RE = re.compile(r"[A-Za-z0-9._-]{2,64}")
# The roles (``db.models.ROLES``) grouped by what they may do, defined once: who may rate in a campaign,
# who reads the dashboards, who runs data and model jobs.
RATER_ROLES = ("rater", "researcher", "admin")
READER_ROLES = ("viewer", "researcher", "admin")
STAFF_ROLES = ("researcher", "admin")


def name_key(name: str) -> str:
    """The name as stored in ``User.name_key``: stripped and case-folded."""
    return (name or "").strip().casefold()


def check_name(name: str) -> str:
    """The stripped name if it follows ``NAME_RULE``; raises UserError saying the rule otherwise."""
    stripped = (name or "").strip()
    if not _NAME_RE.fullmatch(stripped):
        shown = stripped if len(stripped) <= 40 else stripped[:40] + "…"
        raise UserError(f"user name {shown!r} is not allowed; use {NAME_RULE}")
    return stripped


def _check(role: str | None, password: str | None) -> None:
    if role is not None and role not in ROLES:
        raise UserError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if password is not None and len(password) < MIN_PASSWORD:
        raise UserError(f"password must have at least {MIN_PASSWORD} characters")


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def find(s: Session, name: str, *, active_only: bool = False, lock: bool = False) -> User | None:
    """The user called ``name`` in any case (an exact match first: names that clashed in case before the
    rule keep signing in by their exact spelling), or None."""
    name = (name or "").strip()
    if not name:
        return None
    stmt = select(User).where(or_(User.name == name, User.name_key == name_key(name)))
    if active_only:
        stmt = stmt.where(User.active.is_(True))
    if lock:
        stmt = stmt.with_for_update()
    found = list(s.scalars(stmt))
    return next((u for u in found if u.name == name), found[0] if found else None)


def _get(s: Session, name: str) -> User:
    user = find(s, name, lock=True)
    if user is None:
        raise UserError(f"no user {name!r}; see `relevance users list`")
    return user


def add_user(name: str, role: str, password: str, *, must_change: bool = False, url: str | None = None) -> User:
    name = check_name(name)
    _check(role, password)
    with session_scope(url, immediate=True) as s:
        other = find(s, name)
        if other is not None:
            same = "" if other.name == name else f" (as {other.name!r}; names ignore case)"
            raise UserError(f"user {name!r} exists already{same}; use `relevance users passwd {other.name}` to "
                            f"reset it")
        user = User(name=name, name_key=name_key(name), role=role, password_hash=_HASHER.hash(password),
                    must_change_password=must_change)
        s.add(user)
    return user


def set_password(name: str, password: str, *, must_change: bool = False, reset: bool = False,
                 url: str | None = None) -> int:
    """Set a password; ``reset`` marks it as set by an admin (the user is told at sign-in).

    Ends the user's other sessions; returns the account's new session version.
    """
    _check(None, password)
    with session_scope(url, immediate=True) as s:
        user = _get(s, name)
        user.password_hash = _HASHER.hash(password)
        user.must_change_password = must_change
        user.password_reset_at = utcnow() if reset else None
        user.session_version = (user.session_version or 0) + 1
        return user.session_version


def _active_admins(s: Session) -> int:
    return s.scalar(select(func.count()).select_from(User).where(User.role == "admin", User.active.is_(True)))


def _refuse_self_and_last_admin(s: Session, user: User, actor: str | None, what: str) -> None:
    if actor is not None and name_key(actor) == user.name_key:
        raise UserError(f"you cannot {what} your own account; another admin can")
    if user.role == "admin" and user.active and _active_admins(s) <= 1:
        raise UserError(f"{user.name!r} is the last active admin; make another user admin first")


def set_active(name: str, active: bool, *, actor: str | None = None, url: str | None = None) -> User:
    """Deactivate (sign-in refused, open sessions end, rater writes refused) or reactivate an account.

    Raises:
        UserError: no such user, the actor's own account, or the last active admin.
    """
    with session_scope(url, immediate=True) as s:
        user = _get(s, name)
        if user.active == active:
            raise UserError(f"{user.name!r} is {'active' if active else 'inactive'} already")
        if not active:
            _refuse_self_and_last_admin(s, user, actor, "deactivate")
        user.active = active
        user.session_version = (user.session_version or 0) + 1
        return user


def set_role(name: str, role: str, *, actor: str | None = None, url: str | None = None) -> User:
    """Change an account's role; the user's open sessions end at their next click.

    Raises:
        UserError: unknown role or user, the same role, the actor's own account, or the last active admin.
    """
    _check(role, None)
    with session_scope(url, immediate=True) as s:
        user = _get(s, name)
        if user.role == role:
            raise UserError(f"{user.name!r} is a {role} already")
        if user.role == "admin":
            _refuse_self_and_last_admin(s, user, actor, "change the role of")
        user.role = role
        user.session_version = (user.session_version or 0) + 1
        return user


def verify(user: User | None, password: str) -> bool:
    """Whether ``password`` is the user's (Argon2, ~64 MiB); runs a hash for a missing user too, so timing
    does not reveal which names exist."""
    if user is None:
        _HASHER.hash(password)
        return False
    try:
        return _HASHER.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def get_user(name: str, *, active_only: bool = False, url: str | None = None) -> User | None:
    with session_scope(url) as s:
        return find(s, name, active_only=active_only)


def authenticate(name: str, password: str, url: str | None = None) -> User | None:
    """The active user with that name (any case) and password, or None."""
    user = get_user(name, active_only=True, url=url)
    return user if verify(user, password) else None


def list_users(url: str | None = None) -> list[User]:
    with session_scope(url) as s:
        return list(s.scalars(select(User).order_by(User.name_key)))


def check_session(actor, user: User) -> None:
    """Raise SessionEndedError when ``actor`` (a signed-in ``SessionUser``; a plain name carries no version)
    signed in before ``user``'s password, role or status last changed."""
    version = getattr(actor, "version", None)
    if version is not None and version != (user.session_version or 0):
        raise SessionEndedError("password", f"the session of {user.name!r} has ended (password, role or status "
                                            f"changed); sign in again")
