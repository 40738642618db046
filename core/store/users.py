"""Users and roles; passwords hashed with Argon2 (argon2-cffi)."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from core.errors import UserError
from core.store.session import session_scope
from db.models import ROLES, User

_HASHER = PasswordHasher()
MIN_PASSWORD = 8
# The roles (``db.models.ROLES``) grouped by what they may do, defined once: who may rate in a campaign,
# who reads the dashboards, who runs data and model jobs.
RATER_ROLES = ("rater", "researcher", "admin")
READER_ROLES = ("viewer", "researcher", "admin")
STAFF_ROLES = ("researcher", "admin")


def _check(name: str, role: str | None, password: str | None) -> None:
    if not name or not name.strip() or len(name) > 128:
        raise UserError("user name must be 1–128 characters")
    if role is not None and role not in ROLES:
        raise UserError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if password is not None and len(password) < MIN_PASSWORD:
        raise UserError(f"password must have at least {MIN_PASSWORD} characters")


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def add_user(name: str, role: str, password: str, *, must_change: bool = False, url: str | None = None) -> User:
    _check(name, role, password)
    with session_scope(url, immediate=True) as s:
        if s.scalar(select(User).where(User.name == name)) is not None:
            raise UserError(f"user {name!r} exists already; use `relevance users passwd {name}` to reset it")
        user = User(name=name, role=role, password_hash=_HASHER.hash(password), must_change_password=must_change)
        s.add(user)
    return user


def set_password(name: str, password: str, *, must_change: bool = False, url: str | None = None) -> None:
    _check(name, None, password)
    with session_scope(url, immediate=True) as s:
        user = s.scalar(select(User).where(User.name == name))
        if user is None:
            raise UserError(f"no user {name!r}")
        user.password_hash = _HASHER.hash(password)
        user.must_change_password = must_change


def authenticate(name: str, password: str, url: str | None = None) -> User | None:
    """The active user with that name and password, or None."""
    with session_scope(url) as s:
        user = s.scalar(select(User).where(User.name == name, User.active.is_(True)))
        if user is None:
            _HASHER.hash(password)  # same work either way, so timing does not reveal names
            return None
        try:
            _HASHER.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        return user


def list_users(url: str | None = None) -> list[User]:
    with session_scope(url) as s:
        return list(s.scalars(select(User).order_by(User.name)))
