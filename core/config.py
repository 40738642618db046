"""One table of settings, read from the environment and checked at start-up.

Every setting has a name, a default and a help text (see ``SETTINGS``). ``get(name)`` returns the
value from the environment variable ``RELEVANCE_<NAME>`` or the default. Paths are resolved against
the project root, so the CLI and the app agree wherever they are started from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str

    @property
    def env(self) -> str:
        return "RELEVANCE_" + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("db_url", "", "SQLAlchemy URL of the store; empty means sqlite:///<data_dir>/relevance.db"),
    Setting("data_dir", "data", "folder of the SQLite database and the bundled demo data"),
    Setting("artifacts_dir", "artifacts", "folder of model artifacts (adapters, students, predictions)"),
    Setting("cache_dir", ".cache/relevance", "local cache of converted base weights and embeddings"),
    Setting("languages", "en,es,de,fr,it,pt,nl,ja,zh,ko,pl,tr,sv", "ISO 639-1 languages the detector chooses from"),
    Setting("default_language", "en", "language assumed when detection is not confident"),
    Setting("demo", "1", "import the bundled demo data into an empty database on init (1/0)"),
    Setting("idle_timeout_minutes", "60", "sign a session out after this many minutes without a click (0 = never)"),
    Setting("sign_in_parallel", "4", "password checks run at once (Argon2, ~64 MiB each); more sign-ins wait"),
    Setting("min_queries_for_ci", "5", "the dashboard shows a language's figures and 95% CIs only from this many "
            "queries on (fewer: \"too few queries (n)\")"),
    Setting("too_fast_seconds", "2", "a rater whose median time per item is under this many seconds is flagged "
            "too fast (rater quality on My labels and Rater quality)"),
    Setting("trust_forwarded_for", "0", "1 behind a proxy that sets X-Forwarded-For: the sign-in lockout then "
            "keys clients by that address (else by the connection's address, or the browser on localhost)"),
)
_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str) -> str:
    """Return a setting's value from ``RELEVANCE_<NAME>`` or its default."""
    try:
        setting = _BY_NAME[name]
    except KeyError:
        raise ConfigError(f"unknown setting {name!r}; known: {', '.join(sorted(_BY_NAME))}") from None
    return os.environ.get(setting.env, setting.default)


def path(name: str) -> Path:
    """A path setting, resolved against the project root when relative."""
    p = Path(get(name)).expanduser()
    return p if p.is_absolute() else PROJECT_ROOT / p


def artifact(name: str) -> Path:
    """The artifact folder of model ``name`` (``teacher``, ``student``, ``student-human`` …)."""
    return path("artifacts_dir") / name


def db_url() -> str:
    """The store's URL: ``RELEVANCE_DB_URL`` or the SQLite file in the data folder."""
    url = get("db_url").strip()
    if url:
        if "://" not in url:
            raise ConfigError(f"RELEVANCE_DB_URL must be an SQLAlchemy URL such as "
                              f"postgresql+psycopg://user@host/db, got {url!r}")
        return url
    return f"sqlite:///{path('data_dir') / 'relevance.db'}"


def languages() -> tuple[str, ...]:
    langs = tuple(x.strip().lower() for x in get("languages").split(",") if x.strip())
    if not langs:
        raise ConfigError("RELEVANCE_LANGUAGES must list at least one ISO 639-1 code")
    return langs
