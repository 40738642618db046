"""Would the bi-encoder teacher learn more from the products' bullet points? It reads title, brand and colour (64
tokens); ESCI's substitutes differ from exact matches in attributes (size, model, compatibility) that bullet
points often state. Before paying for fine-tuning on longer texts, the frozen multilingual-e5-small's cosine
with each product text is given to the feature prior as an extra column (``FeaturePrior(extra=...)``) under the
bi-encoder teacher's cross-validation folds (pointwise training pairs, 4 query-grouped folds over
esci_multilingual), one text at a time.

Prints, per text and language: the cosine's own AUC exact vs irrelevant (fold mean), and the prior's pooled
accuracy and fold-mean AUC with the column; the first line is the prior alone. Needs the demo store (``relevance
init``).

    .venv/bin/python bench/product_fields.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.cache import get_catalog  # noqa: E402 (needs ROOT on the path)
from core.campaigns.consensus import training_labels  # noqa: E402
from core.metrics import exact_vs_irrelevant_auc  # noqa: E402
from core.models.features import product_text  # noqa: E402
from core.models.teacher import FeaturePrior, TeacherConfig  # noqa: E402
from core.models.teacher.biencoder import BiEncoder, BiEncoderConfig  # noqa: E402
from core.models.teacher.priors import prior_probs  # noqa: E402
from core.workflows.teacher_cv import fold_data, split_by_data_set  # noqa: E402
from bench.fold_scores import accuracy_and_auc  # noqa: E402 (needs ROOT on the path)

TEXTS = [  # (name, product fields, max tokens)
    ("title+brand+colour, 64 tokens (the teacher's)", ("title", "brand", "color"), 64),
    ("title+brand+colour, 128 tokens", ("title", "brand", "color"), 128),
    ("+ bullet points, 128 tokens", ("title", "brand", "color", "bullet_points"), 128),
    ("+ bullet points, 256 tokens", ("title", "brand", "color", "bullet_points"), 256),
]


def main() -> None:
    labels = training_labels()
    listwise, pointwise = split_by_data_set(labels, "esci_multilingual")
    catalog = get_catalog()
    records = dict(zip(catalog.ids, catalog.products.to_dict("records")))
    cfg = TeacherConfig()
    folds = list(fold_data(listwise, pointwise, n_folds=4, seed=cfg.seed, dev_fraction=cfg.dev_fraction,
                           pointwise_only=True))
    base, extra = FeaturePrior(catalog), FeaturePrior(catalog, extra=["cosine"])
    rows = [f.test.reset_index(drop=True).assign(prior=list(prior_probs(base, records, f.train.reset_index(drop=True),
                                                                       f.test.reset_index(drop=True))))
            for f in folds]
    for lang in ("all", "en", "es", "ja"):
        acc, auc = accuracy_and_auc(rows, "prior", lang)
        print(json.dumps({"text": "prior alone", "language": lang, "accuracy": round(acc, 4), "auc": round(auc, 4)}))
    for name, fields, length in TEXTS:
        enc = BiEncoder(BiEncoderConfig(max_length=length))
        start = time.perf_counter()
        cos = {}
        for f in folds:
            for part in (f.train, f.test):
                todo = part[~part["product_id"].isin([k[1] for k in cos])]
                if len(todo):
                    vals = enc.cosines(todo["query"].tolist(), [product_text(records[p], fields) or "-"
                                                                for p in todo["product_id"]])
                    cos.update({(q, p): v for q, p, v in zip(todo["query"], todo["product_id"], vals)})
        seconds = time.perf_counter() - start
        column = lambda part: np.array([cos[(q, p)] for q, p in zip(part["query"], part["product_id"])])[:, None]  # noqa: E731
        for f, t in zip(folds, rows):
            train, test = f.train.reset_index(drop=True), f.test.reset_index(drop=True)
            t["with"] = list(prior_probs(extra, records, train, test, (column(train), column(test))))
            t["cos"] = column(test)[:, 0]
        for lang in ("all", "en", "es", "ja"):
            acc, auc = accuracy_and_auc(rows, "with", lang)
            alone = np.nanmean([exact_vs_irrelevant_auc(t["level"].to_numpy(), t["cos"].to_numpy()) for t in
                                (r if lang == "all" else r[r["language"] == lang] for r in rows)])
            print(json.dumps({"text": name, "language": lang, "cosine_auc": round(float(alone), 4),
                              "accuracy": round(acc, 4), "auc": round(auc, 4), "embed_seconds": round(seconds, 1)}),
                  flush=True)


if __name__ == "__main__":
    main()
