"""Import the libraries the pages need, in a background thread, when the server process starts.

A fresh ``streamlit run`` imports scikit-learn, plotly, bm25s and ranx only when the first page that uses them
runs: about 2.5 s of the Dashboard's first load on a 2-core machine (bench/dashboard_load.py; ranx alone takes
3.5 s to import, for the section against the raters' consensus). Every visitor sees the sign-in form first,
so ``start`` (called by app.py on every run, acting once per process) imports them meanwhile; a page that
needs a module still being imported waits for that import (Python's import lock), never imports it twice.
Nothing here loads a model or imports torch (tests/test_no_torch_in_app.py checks it).
"""

from __future__ import annotations

import importlib
import threading

MODULES = ("plotly.express", "sklearn.metrics", "bm25s", "krippendorff", "ranx")
_lock = threading.Lock()
_thread: threading.Thread | None = None


def _import_all() -> None:
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 (a page that needs it reports the error itself)
            pass


def start() -> threading.Thread:
    """Start the imports (once per process); returns their thread."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_import_all, name="relevance-preload", daemon=True)
            _thread.start()
        return _thread


def wait(timeout: float | None = None) -> bool:
    """Wait for the imports started by ``start``; True when they are done."""
    thread = start()
    thread.join(timeout)
    return not thread.is_alive()
