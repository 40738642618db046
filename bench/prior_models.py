"""Is the teacher's feature prior limited by its linear model or by its features? The prior's logistic regression
(``FeaturePrior`` itself) against scikit-learn's gradient-boosted trees over the same dense pair features, on
the teacher card's query-grouped 4-fold cross-validation of ``esci_multilingual`` (each fold trains on the
esci_us training queries + the other folds' pointwise pairs, as ``relevance train teacher --cv 4
--prior-only``).

Prints one JSON line per model and language: accuracy pooled over the folds, AUC exact vs irrelevant as
the mean of the folds' AUCs (as in the card), and the fit seconds. Needs the demo store (``relevance init``).

    .venv/bin/python bench/prior_models.py
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from core.cache import get_catalog
from core.campaigns.consensus import training_labels
from core.metrics import exact_vs_irrelevant_auc, expected_level
from core.models.teacher import FeaturePrior, TeacherConfig
from core.models.teacher.priors import prior_probs
from core.workflows.teacher_cv import fold_data, split_by_data_set


def _trees():
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(learning_rate=0.05, max_iter=300, max_leaf_nodes=15, l2_regularization=1.0,
                                          random_state=0)


def _probs(model, X: np.ndarray) -> np.ndarray:
    """(n, 5) probabilities over levels 1–5 (a level missing from the training pairs gets 0)."""
    out = np.zeros((len(X), 5))
    out[:, model.classes_ - 1] = model.predict_proba(X)
    return out


if __name__ == "__main__":
    cfg = TeacherConfig()
    listwise, pointwise = split_by_data_set(training_labels(), "esci_multilingual")
    catalog = get_catalog()
    products = dict(zip(catalog.ids, catalog.products.to_dict("records")))
    prior = FeaturePrior(catalog)
    t0 = time.perf_counter()
    pairs = pd.concat([listwise, pointwise], ignore_index=True).drop_duplicates(["query", "product_id"])
    prior.features(pairs["query"].tolist(), [products[p] for p in pairs["product_id"]])  # cached for the folds
    print(json.dumps({"features": len(prior.names), "pairs": len(pairs),
                      "seconds": round(time.perf_counter() - t0, 1)}), flush=True)

    def X(df: pd.DataFrame) -> np.ndarray:
        return prior.features(df["query"].tolist(), [products[p] for p in df["product_id"]])

    def fit_prior(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
        return prior_probs(prior, products, train, test)

    def fit_trees(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
        return _probs(_trees().fit(X(train), train["level"].to_numpy()), X(test))

    models = {"logistic regression (the prior)": fit_prior, "gradient-boosted trees": fit_trees}
    results = {name: [] for name in models}
    seconds = dict.fromkeys(results, 0.0)
    for fold in fold_data(listwise, pointwise, n_folds=4, seed=cfg.seed, dev_fraction=cfg.dev_fraction):
        for name, fit in models.items():
            t0 = time.perf_counter()
            probs = fit(fold.fit_pairs, fold.test)
            seconds[name] += time.perf_counter() - t0
            results[name].append(fold.test.assign(fold=fold.index, pred=probs.argmax(1) + 1,
                                                  score=expected_level(probs)))
    for name, parts in results.items():
        preds = pd.concat(parts, ignore_index=True)
        for lang, part in [("all", preds)] + list(preds.groupby("language")):
            aucs = [exact_vs_irrelevant_auc(f["level"].to_numpy(), f["score"].to_numpy())
                    for _, f in part.groupby("fold")]
            print(json.dumps({"model": name, "language": lang, "pairs": len(part),
                              "accuracy": round(float((part["pred"] == part["level"]).mean()), 4),
                              "auc_fold_mean": round(float(np.nanmean(aucs)), 4),
                              "fit_seconds": round(seconds[name], 1)}), flush=True)
