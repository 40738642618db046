"""Every row of every table of a store, for "nothing changed" checks (tests/conftest.py and bench/fuzz_imports.py)."""

from __future__ import annotations

import warnings

from sqlalchemy import MetaData, create_engine, select


def reflect(engine, only=None) -> MetaData:
    md = MetaData()
    with warnings.catch_warnings():  # rows are compared, not indexes (0004's index is on an expression)
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        md.reflect(engine, only=only)
    return md


def snapshot(url: str) -> dict[str, list]:
    """Every row of every table but alembic_version, each table's rows sorted."""
    engine = create_engine(url)
    md = reflect(engine)
    out = {}
    with engine.connect() as c:
        for name, table in sorted(md.tables.items()):
            if name == "alembic_version":
                continue
            out[name] = sorted(map(tuple, c.execute(select(table)).all()), key=repr)
    engine.dispose()
    return out
