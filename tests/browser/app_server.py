"""A real `streamlit run app.py` over a given store, on a free port, for the browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from browser_kit import ROOT, SHOTS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_app(url: str, folder: Path, env: dict | None = None) -> Iterator[str]:
    """Serve the app over the store at ``url`` (artifacts under ``folder``) and yield its base URL; the
    server's output goes to test-artifacts/browser/server-<folder name>.log."""
    from db.session import dispose

    dispose(url)  # the test process's connections: the server must see a settled SQLite file
    port = _free_port()
    SHOTS.mkdir(parents=True, exist_ok=True)
    log_path = SHOTS / f"server-{folder.name}.log"
    full_env = {**os.environ, "RELEVANCE_DB_URL": url, "RELEVANCE_ARTIFACTS_DIR": str(folder / "artifacts"),
                **(env or {})}
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                                 "--server.address", "127.0.0.1", "--server.headless", "true",
                                 "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
                                cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 90
        while True:
            try:
                if urllib.request.urlopen(base + "/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"streamlit did not start; see {log_path}")
            time.sleep(0.3)
        try:
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextmanager
def store_app(tmp_path_factory, template: Path, name: str, fill) -> Iterator[dict]:
    """A copy of the catalog ``template`` filled by ``fill(url, folder)``, served; yields base, url, folder."""
    import shutil

    folder = tmp_path_factory.mktemp(name)
    shutil.copy(template, folder / "store.db")
    url = f"sqlite:///{folder / 'store.db'}"
    fill(url, folder)
    with serve_app(url, folder) as base:
        yield {"base": base, "url": url, "folder": folder}
