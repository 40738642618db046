"""Alembic migrations, run programmatically (``relevance init`` calls ``upgrade`` with the store's URL)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class MigrationRefused(RuntimeError):
    """A migration found rows it must not change silently; its message says what and how to list them."""


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Create or migrate the database at ``url`` to ``revision`` (idempotent)."""
    command.upgrade(alembic_config(url), revision)
