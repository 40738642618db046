"""The web server never imports torch: every page, visited with data (campaigns, stored predictions, a Failures
row selected, its pin text shown), leaves ``torch`` and ``transformers`` out of ``sys.modules`` (issue 14), and
so do the libraries app.py imports in the background (ui/preload.py) once they are in.
The pages run in a fresh interpreter, since the test process itself has imported torch for other tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import app_store

ROOT = Path(__file__).resolve().parent.parent

VISIT = r'''
import json, sys
sys.path.insert(0, ".")
from streamlit.testing.v1 import AppTest
from core.store import auth
from ui import pages
from ui.auth import USER_KEY

seen = {}
for spec in pages.PAGES:
    at = AppTest.from_file("app.py", default_timeout=600)
    at.session_state[USER_KEY] = auth.refresh("ada")
    at.run()
    at.switch_page(spec.path).run()
    if spec.key == "failures" and at.dataframe:  # open a pair: the detail panel shows the teacher's pin text
        table = at.dataframe[0].value
        from core.workflows.analytics import pairs_fingerprint
        at.session_state[f"failures_table_{pairs_fingerprint(table)}"] = {"selection": {"rows": [0], "columns": []}}
        at.run()
        seen["pin text shown"] = any("Pin text the teacher read" in m.value for m in at.markdown)
    seen[spec.key] = {"errors": [e.message[:200] for e in at.exception], "torch": "torch" in sys.modules,
                      "transformers": "transformers" in sys.modules}
from ui import preload  # app.py started the imports of the pages' libraries: once done, still no torch
done = preload.wait(600)
seen["preload"] = {"done": done, "modules": [m for m in preload.MODULES if m in sys.modules],
                   "torch": "torch" in sys.modules, "transformers": "transformers" in sys.modules}
print(json.dumps(seen))
'''


def test_no_page_imports_torch(catalog_url, tmp_path):
    app_store.prepare(catalog_url, tmp_path)
    app_store.write_predictions(catalog_url, tmp_path / "artifacts")
    env = {**os.environ, "RELEVANCE_DB_URL": catalog_url, "RELEVANCE_ARTIFACTS_DIR": str(tmp_path / "artifacts")}
    out = subprocess.run([sys.executable, "-c", VISIT], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen.pop("pin text shown") is True
    from ui import preload
    assert seen.pop("preload") == {"done": True, "modules": list(preload.MODULES), "torch": False, "transformers": False}
    assert set(seen) == {"overview", "rate", "compare", "my_labels", "dashboard", "failures", "adjudicate",
                         "rater_quality", "data", "models", "users", "account"}
    for page, found in seen.items():
        assert found == {"errors": [], "torch": False, "transformers": False}, (page, found)
