"""Do token-level (late-interaction) similarities help the feature prior tell exact from substitute?

The teacher's accuracy goal (0.65) is unmet because neither the prior nor the fine-tuned bi-encoder cosine
separates E from S: one cosine of two mean-pooled vectors cannot say that one query word (a brand, a size, a
model) is missing from the product. ColBERT-style MaxSim can: every query token's best cosine against the
product's tokens, from the frozen multilingual-e5-small's last layer (sub-word tokens, so it works for Japanese
without a tokenizer). Columns given to the prior as extra columns (``FeaturePrior(extra=...)``), under the
bi-encoder teacher's cross-validation folds (pointwise training pairs, 4 query-grouped folds over
esci_multilingual):

* ``q_min``, ``q_mean``: the worst-covered and the mean query token's MaxSim against the product (title, brand,
  colour);
* ``p_mean``: the product title tokens' mean MaxSim against the query (how much of the product is about the
  query: a complement's title is mostly about something else).

Prints pooled accuracy and fold-mean AUC per language for the prior alone and with the columns. Then, when the
teacher card's ``bienc-top4`` cross-validation is in ``artifacts/teacher/cv``, whether the columns add to the
bi-encoder teacher itself: a logistic regression stacked on its out-of-fold log-probabilities, with and without
the columns, under the same folds. Needs the demo store (``relevance init``).

    .venv/bin/python bench/late_interaction.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.cache import get_catalog  # noqa: E402 (needs ROOT on the path)
from core.campaigns.consensus import training_labels  # noqa: E402
from core.metrics import exact_vs_irrelevant_auc  # noqa: E402
from core.models import e5  # noqa: E402
from core.models.features import product_text  # noqa: E402
from core.models.teacher import FeaturePrior, TeacherConfig  # noqa: E402
from core.models.teacher.priors import prior_probs  # noqa: E402
from core.workflows.teacher_cv import fold_data, split_by_data_set  # noqa: E402
from bench.fold_scores import accuracy_and_auc  # noqa: E402 (needs ROOT on the path)

NAMES = ["q_min", "q_mean", "p_mean"]


def token_vectors(texts: list[str], prefix: str, batch_size: int = 32) -> dict[str, np.ndarray]:
    """Each distinct text's unit token vectors (special and prefix tokens dropped)."""
    import torch

    model, tok = e5.load_encoder()
    n_prefix = len(tok(prefix.strip(), add_special_tokens=False)["input_ids"])
    texts = sorted(set(texts), key=len)
    out = {}
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            chunk = texts[i:i + batch_size]
            enc = tok([prefix + t for t in chunk], padding=True, truncation=True, max_length=128, return_tensors="pt")
            hidden = torch.nn.functional.normalize(model(**enc).last_hidden_state, dim=-1).numpy()
            for t, h, m in zip(chunk, hidden, enc["attention_mask"].numpy()):
                n = int(m.sum())
                out[t] = h[1 + n_prefix:n - 1] if n - 2 > n_prefix else h[1:n - 1]
    return out


def columns(queries, records, qv, pv, tv) -> np.ndarray:
    out = np.zeros((len(queries), len(NAMES)), np.float32)
    for i, (q, p) in enumerate(zip(queries, records)):
        sim = qv[q] @ pv[full_text(p)].T  # (query tokens, product tokens)
        best = sim.max(1)
        out[i] = best.min(), best.mean(), (tv[title(p)] @ qv[q].T).max(1).mean()
    return out


def full_text(p) -> str:
    return product_text(p, ("title", "brand", "color")) or "-"


def title(p) -> str:
    return product_text(p, ("title",)) or "-"


def stacked(cols: pd.DataFrame, run: Path) -> None:
    """The bi-encoder teacher's out-of-fold probabilities (last epoch of ``run``) restacked, alone and with the
    columns: fold-grouped like the run, so every row is predicted by a regression that did not see its fold."""
    from sklearn.linear_model import LogisticRegression

    d = pd.read_parquet(run)
    d = d[d["epoch"] == d["epoch"].max()].merge(cols, on=["query_id", "product_id"]).reset_index(drop=True)
    logp = np.log(d[[f"p{k}" for k in range(1, 6)]].to_numpy() + 1e-6)
    for name, X in (("teacher probabilities", logp), ("+ MaxSim columns", np.column_stack([logp, d[NAMES]]))):
        X = (X - X.mean(0)) / X.std(0)
        probs = np.zeros((len(d), 5))
        for f in sorted(d["fold"].unique()):
            test = (d["fold"] == f).to_numpy()
            lr = LogisticRegression(C=0.1, max_iter=3000).fit(X[~test], d["level"][~test] - 1)
            probs[np.ix_(test, lr.classes_)] = lr.predict_proba(X[test])
        d["pred"], d["ev"] = probs.argmax(1) + 1, probs @ np.arange(1, 6)
        for lang, g in [("all", d), *d.groupby("language")]:
            auc = np.mean([exact_vs_irrelevant_auc(h["level"].to_numpy(), h["ev"].to_numpy()) for _, h in g.groupby("fold")])
            print(json.dumps({"stacked": name, "language": lang, "accuracy": round(float((g["pred"] == g["level"]).mean()), 4),
                              "auc": round(float(auc), 4)}), flush=True)


def main() -> None:
    labels = training_labels()
    listwise, pointwise = split_by_data_set(labels, "esci_multilingual")
    catalog = get_catalog()
    records = dict(zip(catalog.ids, catalog.products.to_dict("records")))
    pairs = pointwise[["query", "product_id"]]
    start = time.perf_counter()
    qv = token_vectors(list(pairs["query"]), "query: ")
    prods = [records[p] for p in pairs["product_id"]]
    pv = token_vectors([full_text(p) for p in prods], "passage: ")
    tv = token_vectors([title(p) for p in prods], "passage: ")
    print(json.dumps({"token_vectors_seconds": round(time.perf_counter() - start, 1)}), flush=True)
    cfg = TeacherConfig()
    base, extra = FeaturePrior(catalog), FeaturePrior(catalog, extra=NAMES)
    rows = []
    for fold in fold_data(listwise, pointwise, n_folds=4, seed=cfg.seed, dev_fraction=cfg.dev_fraction,
                          pointwise_only=True):
        train, test = fold.train.reset_index(drop=True), fold.test.reset_index(drop=True)
        x_train = columns(train["query"], [records[p] for p in train["product_id"]], qv, pv, tv)
        x_test = columns(test["query"], [records[p] for p in test["product_id"]], qv, pv, tv)
        p0 = prior_probs(base, records, train, test)
        p1 = prior_probs(extra, records, train, test, (x_train, x_test))
        rows.append(test.assign(p0=list(p0), p1=list(p1), **{n: x_test[:, j] for j, n in enumerate(NAMES)}))
    for lang in ("all", "en", "es", "ja"):
        (acc0, auc0), (acc1, auc1) = accuracy_and_auc(rows, "p0", lang), accuracy_and_auc(rows, "p1", lang)
        both = [t if lang == "all" else t[t["language"] == lang] for t in rows]
        alone = {n: round(float(np.nanmean([exact_vs_irrelevant_auc(t["level"].to_numpy(), t[n].to_numpy())
                                            for t in both])), 4) for n in NAMES}
        print(json.dumps({"language": lang, "accuracy_prior": round(acc0, 4), "accuracy_with": round(acc1, 4),
                          "auc_prior": round(auc0, 4), "auc_with": round(auc1, 4),
                          "auc_column_alone": alone}), flush=True)
    run = ROOT / "artifacts" / "teacher" / "cv" / "bienc-top4.parquet"
    if run.exists():
        X = columns(list(pairs["query"]), prods, qv, pv, tv)
        stacked(pointwise[["query_id", "product_id"]].assign(**{n: X[:, j] for j, n in enumerate(NAMES)}), run)


if __name__ == "__main__":
    main()
