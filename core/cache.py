"""A process-wide cache of loaded models and catalogs: one load per process, thread-safe.

The app wraps ``get_scorer`` with ``st.cache_resource``; the CLI and tests call it directly.
A catalog is keyed by the store's URL and its version, so new products give a fresh catalog.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

from core import config
from core.catalog import Catalog
from core.models.base import Scorer
from core.models.registry import entry
from core.store.catalog import catalog_version, load_catalog

_CACHE: dict[Hashable, object] = {}
_LOCKS: dict[Hashable, threading.Lock] = {}
_GUARD = threading.Lock()


def _get(key: Hashable, load):
    with _GUARD:
        if key in _CACHE:
            return _CACHE[key]
        lock = _LOCKS.setdefault(key, threading.Lock())
    with lock:  # one loader per key; others wait for it instead of loading twice
        if key not in _CACHE:
            _CACHE[key] = load()
        return _CACHE[key]


def get_catalog(url: str | None = None) -> Catalog:
    url = url or config.db_url()
    return _get(("catalog", url, catalog_version(url)), lambda: load_catalog(url))


def get_scorer(name: str, url: str | None = None, **kwargs) -> Scorer:
    """The scorer ``name`` built once per (store, catalog version, options)."""
    e = entry(name)
    key = ("scorer", name, tuple(sorted(kwargs.items())))
    if e.needs_catalog:
        catalog = get_catalog(url)
        key += (url or config.db_url(), catalog.version)
        return _get(key, lambda: e.factory(catalog=catalog, **kwargs))
    return _get(key, lambda: e.factory(**kwargs))


def clear() -> None:
    with _GUARD:
        _CACHE.clear()
        _LOCKS.clear()
