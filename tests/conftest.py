"""Shared fixtures: migrated SQLite stores (copied from a session template), a real PostgreSQL server
started from Debian's binaries when they are installed, and the demo catalog."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parent.parent
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs the tests on two pytest-xdist workers, one per core: one thread each for torch and
    # NumPy's BLAS (set before they are imported; subprocesses inherit it), or four threads fight for two cores
    os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(ROOT))  # bench/ (shared helpers such as the store snapshot)
from bench.store_snapshot import reflect, snapshot  # noqa: E402,F401  (tests import snapshot from here)
pytest_plugins = ["model_fixtures"]
DEMO = ROOT / "data" / "esci_us"


def pytest_configure(config):
    os.environ.setdefault("RELEVANCE_CACHE_DIR", str(ROOT / ".cache" / "relevance"))


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path, monkeypatch):
    """No test touches data/relevance.db: the default URL points at a per-test file."""
    monkeypatch.setenv("RELEVANCE_DB_URL", f"sqlite:///{tmp_path / 'default.db'}")
    from core import cache
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(scope="session")
def _empty_template(tmp_path_factory) -> Path:
    from db.migrate import upgrade
    path = tmp_path_factory.mktemp("tpl") / "empty.db"
    upgrade(f"sqlite:///{path}")
    _close(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _catalog_template(tmp_path_factory, _empty_template) -> Path:
    from core.ingest import import_products
    path = tmp_path_factory.mktemp("tpl") / "catalog.db"
    shutil.copy(_empty_template, path)
    import_products(DEMO / "products.jsonl.gz", name="esci_us", url=f"sqlite:///{path}")
    _close(f"sqlite:///{path}")
    return path


def _close(url: str) -> None:
    """Close the template's connections: SQLite folds the WAL into the file, so a plain copy is complete."""
    from db.session import dispose
    dispose(url)


def _copy_db(src: Path, dst: Path) -> str:
    shutil.copy(src, dst)
    return f"sqlite:///{dst}"


@pytest.fixture
def sqlite_url(tmp_path, _empty_template) -> str:
    """A migrated, empty SQLite store."""
    return _copy_db(_empty_template, tmp_path / "store.db")


@pytest.fixture
def catalog_url(tmp_path, _catalog_template) -> str:
    """A SQLite store holding the demo catalog (6,764 products) and nothing else."""
    return _copy_db(_catalog_template, tmp_path / "store.db")


# ------------------------------------------------------------------------------------------ PostgreSQL

def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server():
    """A throw-away PostgreSQL cluster on 127.0.0.1 (initdb runs as the postgres user when we are root)."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (Debian package 'postgresql'; `make test` installs it as root)")
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data = Path(tempfile.mkdtemp(prefix="relevance-pg-"))
    if as_pg:
        shutil.chown(data, "postgres", "postgres")
    port = _free_port()
    run = lambda *cmd: subprocess.run(as_pg + list(cmd), check=True, capture_output=True, text=True)  # noqa: E731
    try:
        run(str(bindir / "initdb"), "-D", str(data / "db"), "-U", "postgres", "-A", "trust", "--no-sync")
        run(str(bindir / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "log"), "-w", "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        pytest.skip(f"could not start PostgreSQL: {getattr(exc, 'stderr', exc)}")
    yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    from db.session import dispose_all
    dispose_all()
    subprocess.run(as_pg + [str(bindir / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop"],
                   capture_output=True)
    # a detached `rm`: the cluster holds every test's database (~70,000 files after the suite), and deleting
    # them took 19–33 s of the session's end here; nothing waits for a throw-away folder in /tmp
    subprocess.Popen(["rm", "-rf", str(data)], start_new_session=True, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)


_PG_DB_COUNTER = iter(range(10**6))


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh, migrated database on the test server."""
    from db.migrate import upgrade
    name = f"t{os.getpid()}_{next(_PG_DB_COUNTER)}_{int(time.time() * 1000) % 100000}"
    admin = create_engine(f"{pg_server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = f"{pg_server}/{name}"
    upgrade(url)
    yield url
    # close this test's pooled connections: hundreds of PostgreSQL tests would otherwise use up the server's
    # max_connections (100) and later tests fail to connect
    from db.session import dispose
    dispose(url)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request) -> str:
    """Runs a test on SQLite and on a real PostgreSQL (skipped with its reason when there is none)."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


def count(url: str, table: str) -> int:
    engine = create_engine(url)
    md = reflect(engine, only=[table])
    with engine.connect() as c:
        n = c.execute(select(func.count()).select_from(md.tables[table])).scalar_one()
    engine.dispose()
    return n


# ------------------------------------------------------------------------------------------ browser tests
# Fixtures of tests/browser (a real `streamlit run app.py`, Debian's Chromium through Playwright). They live
# here, not in tests/browser/conftest.py: two conftest modules would both be imported as `conftest`, and the
# tests' `from conftest import …` would then find the wrong one. Helpers: tests/browser/browser_kit.py.
BROWSER_TESTS = Path(__file__).resolve().parent / "browser"
sys.path.insert(0, str(BROWSER_TESTS))  # browser_kit, app_server


def pytest_collection_modifyitems(items):
    """Every test here is a browser test, skipped (with the reason) where Debian's Chromium is missing."""
    from browser_kit import CHROMIUM

    skip = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                              reason=f"{CHROMIUM} missing (Debian package 'chromium'; `make test` installs it as root)")
    for item in items:
        if Path(str(item.fspath)).parent == BROWSER_TESTS:
            item.add_marker(pytest.mark.browser)
            item.add_marker(skip)


@pytest.fixture(scope="module")
def server(tmp_path_factory, _catalog_template):
    """`streamlit run app.py` on a free port over a temp SQLite store: demo catalog, 4 judged queries,
    an admin and a viewer (no campaign and no rater: the admin makes them in the browser)."""
    from app_server import store_app
    from browser_kit import USERS, app_store

    with store_app(tmp_path_factory, _catalog_template, "browser",
                   lambda url, folder: app_store.prepare(url, folder, campaigns=False, users=USERS)) as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    from browser_kit import CHROMIUM
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                              "--disable-background-networking",
                                                              "--disable-component-update", "--no-first-run"])
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    from browser_kit import SHOTS, WAIT_MS

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    yield pg
    pg.screenshot(path=str(SHOTS / f"last-{request.node.name}.png"), full_page=True)  # the state at the end
    context.close()
