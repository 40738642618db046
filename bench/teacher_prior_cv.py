"""The feature prior alone under the teacher's query-grouped cross-validation, for every setting the teacher
card reports (all languages, English only in folds and in one training tested on es/ja, and the learning
curve at 250 / 500 / 1,000 pointwise training queries), in one process so the pairs' features are computed once.

Writes ``artifacts/teacher/cv/prior-<setting>.json`` / ``.parquet`` (the format of ``relevance train teacher
--cv N --prior-only``, which runs one setting) and prints one JSON line per setting and language; then
``relevance train teacher --cv-report`` puts them in the card. Needs the demo store (``relevance init``).

    .venv/bin/python bench/teacher_prior_cv.py
"""

from __future__ import annotations

import json
import time

from core import config
from core.cache import get_catalog
from core.campaigns.consensus import training_labels
from core.models.teacher import FeaturePrior, TeacherConfig
from core.workflows.teacher_cv import cross_validate_prior, split_by_data_set

# (name, training languages, pointwise training queries per fold, one unseen-language training instead of folds)
SETTINGS = (("all", None, None, False), ("en-only", ("en",), None, False), ("en-unseen", ("en",), None, True),
            ("lc250", None, 250, False), ("lc500", None, 500, False), ("lc1000", None, 1000, False))

if __name__ == "__main__":
    labels = training_labels()
    listwise, pointwise = split_by_data_set(labels, "esci_multilingual")
    catalog = get_catalog()
    prior = FeaturePrior(catalog)
    out = config.path("artifacts_dir") / "teacher" / "cv"
    for setting, languages, cap, unseen in SETTINGS:
        t0 = time.perf_counter()
        doc = cross_validate_prior(listwise, pointwise, catalog, out, TeacherConfig(), n_folds=4,
                                   train_languages=languages, max_train_queries=cap, name=f"prior-{setting}",
                                   prior=prior, unseen=unseen)
        for r in doc["rows"]:
            print(json.dumps({"setting": setting, "language": r["language"], "pairs": r["n_pairs"],
                              "accuracy": round(r["accuracy"], 4), "auc": round(r["auc"], 4),
                              "seconds": round(time.perf_counter() - t0, 1)}), flush=True)
