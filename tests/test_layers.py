"""The house stays as built: an AST walk over core/, db/, ui/ (and views/, app.py) that counts every
import, inside functions too, and fails on an import circle or a layer leak (README, "Layout").

Layers of core, bottom to top; a module imports only from its own layer or those below:

    0 foundation  core.config, core.errors, core.scale, core.catalog, core.jsonable, core.safe_csv
    1 text        core.text
    2 metrics     core.metrics
    3 models      core.models          (knows nothing of the store)
    4 store       core.store
    5 ingest      core.ingest
    6 runtime     core.cache, core.serve, core.warmup
    7 campaigns   core.campaigns
    8 workflows   core.workflows
    9 cli         core.cli
   10 surface     core (the package: lazy re-exports), core.__main__

Besides: db imports nothing from core, ui or views; core imports nothing from ui, views or streamlit;
ui imports nothing from db; inside core only store, ingest and campaigns import db; no module is over
400 lines. A module importing its own ancestor package (``from core import config``) is not an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {
    "core.config": 0, "core.errors": 0, "core.scale": 0, "core.catalog": 0, "core.jsonable": 0, "core.safe_csv": 0,
    "core.text": 1, "core.metrics": 2, "core.models": 3, "core.store": 4, "core.ingest": 5,
    "core.cache": 6, "core.serve": 6, "core.warmup": 6, "core.campaigns": 7, "core.workflows": 8, "core.cli": 9,
    "core": 10, "core.__main__": 10,
}
DB_USERS = ("core.store", "core.ingest", "core.campaigns")
MAX_LINES = 400


def modules(root: Path) -> dict[str, Path]:
    files = [p for d in ("core", "db", "ui", "views") if (root / d).is_dir() for p in (root / d).rglob("*.py")
             if "migrations" not in p.parts]
    if (root / "app.py").exists():
        files.append(root / "app.py")
    return {".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): p for p in files}


def imports(path: Path) -> list[str]:
    """Every module name an ``import`` or ``from … import`` of the file names, at any depth."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return names


def graph(root: Path) -> tuple[dict[str, set[str]], dict[str, list[str]]]:
    """Edges between the project's modules, and every name each module imports."""
    mods = modules(root)
    known = set(mods)

    def target(name: str) -> str:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name

    edges, raw = {}, {}
    for m, p in mods.items():
        raw[m] = imports(p)
        edges[m] = {t for n in raw[m] if (t := target(n)) and t != m and not m.startswith(t + ".")}
    return edges, raw


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def layer(module: str) -> int | None:
    while module:
        if module in LAYERS:
            return LAYERS[module]
        module = module.rpartition(".")[0]
    return None


def leaks(edges: dict[str, set[str]], raw: dict[str, list[str]]) -> list[str]:
    found = []
    for m, names in raw.items():
        tops = {n.split(".")[0] for n in names}
        if m.startswith("db") and tops & {"core", "ui", "views"}:
            found.append(f"{m} imports {sorted(tops & {'core', 'ui', 'views'})}")
        if m.startswith("core") and tops & {"ui", "views", "streamlit"}:
            found.append(f"{m} imports {sorted(tops & {'ui', 'views', 'streamlit'})}")
        if m.startswith("ui") and "db" in tops:
            found.append(f"{m} imports db")
        if m.startswith("core") and "db" in tops and not m.startswith(DB_USERS):
            found.append(f"{m} imports db (only {', '.join(DB_USERS)} may)")
    for m, targets in edges.items():
        if not m.startswith("core") or m == "core":
            continue
        if layer(m) is None:
            found.append(f"{m} is in no layer (add it to LAYERS in tests/test_layers.py)")
            continue
        for t in targets:
            if t.startswith("core") and layer(t) is not None and layer(t) > layer(m):
                found.append(f"{m} (layer {layer(m)}) imports {t} (layer {layer(t)}): dependencies point down")
    return sorted(found)


def test_no_import_circle():
    edges, _ = graph(ROOT)
    assert circles(edges) == []


def test_no_layer_leak():
    edges, raw = graph(ROOT)
    assert leaks(edges, raw) == []


def test_no_module_over_400_lines():
    big = {m: n for m, p in modules(ROOT).items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert big == {}


# ------------------------------------------------------------------------------------------ the check checks

def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


def test_a_circle_through_a_function_level_import_is_found(tmp_path):
    root = _tree(tmp_path, {
        "core/__init__.py": "",
        "core/models/__init__.py": "",
        "core/models/a.py": "from core.models import b\n",
        "core/models/b.py": "def f():\n    from core.models.a import x\n",
    })
    assert circles(graph(root)[0]) == [["core.models.a", "core.models.b"]]


@pytest.mark.parametrize("files, expected", [
    ({"db/session.py": "from core import config\n"}, "db.session imports ['core']"),
    ({"ui/x.py": "def f():\n    from db.models import User\n"}, "ui.x imports db"),
    ({"core/metrics/x.py": "import streamlit as st\n"}, "core.metrics.x imports ['streamlit']"),
    ({"core/workflows/x.py": "from db.models import Query\n"}, "core.workflows.x imports db (only"),
    ({"core/models/x.py": "def f():\n    from core.store.labels import current_labels\n"},
     "core.models.x (layer 3) imports core.store.labels (layer 4)"),
], ids=["db-to-core", "ui-to-db", "core-to-streamlit", "workflow-to-db", "model-to-store"])
def test_a_leak_is_found(tmp_path, files, expected):
    base = {"core/__init__.py": "", "core/store/__init__.py": "", "core/store/labels.py": "",
            "db/__init__.py": "", "db/models.py": "", "ui/__init__.py": ""}
    root = _tree(tmp_path, {**base, **files})
    found = leaks(*graph(root))
    assert any(expected in f for f in found), found
