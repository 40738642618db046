"""The teacher card's cross-validation sections, from the files ``relevance train teacher --cv`` wrote.

Reads ``<folder>/<run>.json`` (one per cross-validation run: ``all`` = every language, ``en-only`` =
English pointwise pairs only, ``en-unseen`` = one training on every English pair, tested on the other
languages, ``lc<N>`` = at most N pointwise training queries per fold; ``prior-<run>`` = the same with the
feature prior alone) and, when present, ``<folder>/baselines.json`` (``relevance evaluate --json`` on the
same pointwise file: bm25, e5-cosine, the students), and writes ``<folder>/cv.md`` (tables) and
``<folder>/learning_curve.svg``.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

from core.workflows.cards import common as model_card
from core.workflows.cards.common import figure, p_value

LANGS = ("all", "en", "es", "ja")


def load_runs(folder: Path) -> dict[str, dict]:
    """Cross-validation runs by name (every ``*.json`` with per-fold histories)."""
    runs = {}
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_text())
        if "folds" in doc and doc.get("rows"):
            runs[doc["name"]] = doc
    return runs


def _rows(doc: dict) -> dict[tuple[str, str], dict]:
    return {(r["model"], r["language"]): r for r in doc["rows"]}


def last_epoch(doc: dict) -> str:
    return max((r["model"] for r in doc["rows"]), key=lambda m: int(m.split()[-1]))


def _listwise_dev(doc: dict, epoch: int) -> float:
    """Mean over folds of the esci_us dev nDCG@20 at ``epoch`` (the same 34 dev queries in every fold)."""
    vals = [h["ndcg@20_esci"] for f in doc["folds"] for h in f["history"]
            if h["epoch"] == epoch and h.get("ndcg@20_esci") is not None]  # prior-only runs have none
    return sum(vals) / len(vals) if vals else math.nan


def bakeoff_table(doc: dict) -> str:
    """Per epoch and language: accuracy, macro-F1, AUC with CIs, paired tests against epoch 0 (the prior)."""
    table = []
    for (model, lang), r in sorted(_rows(doc).items(), key=lambda kv: (LANGS.index(kv[0][1])
                                                                         if kv[0][1] in LANGS else 9, kv[0][0])):
        epoch = int(model.split()[-1])
        table.append({"language": lang, "epoch": f"{epoch}" + (" (prior alone)" if epoch == 0 else ""),
                      "pairs": r["n_pairs"],
                      "accuracy [95% CI]": figure(r["accuracy"], r["accuracy_ci_low"], r["accuracy_ci_high"]),
                      "macro-F1": figure(r["macro_f1"]),
                      "AUC E vs I [95% CI]": figure(r["auc"], r["auc_ci_low"], r["auc_ci_high"]),
                      "p (Holm) acc vs prior": p_value(r["p_holm"]), "p (Holm) AUC vs prior": p_value(r["p_holm_auc"]),
                      "esci_us dev nDCG@20": figure(_listwise_dev(doc, epoch)) if lang == "all" else ""})
    return model_card.table(table, list(table[0]))


def baseline_table(baselines: dict) -> str:
    rows = [{"model": r["model"], "language": r["language"], "pairs": r["n_pairs"],
             "accuracy [95% CI]": figure(r["accuracy"], r.get("accuracy_ci_low"), r.get("accuracy_ci_high")),
             "macro-F1": figure(r["macro_f1"]),
             "AUC E vs I [95% CI]": figure(r["auc"], r.get("auc_ci_low"), r.get("auc_ci_high"))}
            for r in baselines["rows"]]
    return model_card.table(rows, list(rows[0]))


def _family(name: str) -> tuple[str, str]:
    """(``teacher`` or ``prior``, the run's setting: ``all``, ``en-only``, ``lc<N>``) from a run name."""
    return ("prior", name[len("prior-"):]) if name.startswith("prior-") else ("teacher", name)


def _folds_text(doc: dict) -> str:
    return "one training" if doc.get("unseen") else f"{len(doc['folds'])} of {doc['n_folds']}"


def _setup_text(doc: dict, trains: str) -> str:
    """What a run trained on and was tested on (``trains``: "trains" or "fits the prior's logistic regression")."""
    folds = doc["folds"]
    langs = f" ({', '.join(doc['train_languages'])} only)" if doc.get("train_languages") else ""
    data = (f"{folds[0]['train_listwise_queries']} esci_us training queries + "
            f"~{round(sum(f['train_pointwise_queries'] for f in folds) / len(folds))} pointwise queries{langs}")
    if doc.get("unseen"):
        return (f"One training that {trains} on {data}, tested on every pointwise pair of the other languages "
                f"({folds[0]['test_pairs']} pairs, none of their languages seen in training)")
    return f"{_folds_text(doc)} query-grouped folds of the pointwise set; each fold {trains} on {data} and is " \
           "tested on its own fold"


def fold_aucs(folder: Path, runs: dict[str, dict]) -> dict[tuple[str, str, int], float]:
    """AUC exact vs irrelevant per (run, language, test fold) at the run's last epoch, the folds being those of
    the all-language runs (``prior-all``, else ``all``): a single-training run (``--unseen``) is scored on the same
    subsets. Runs are compared on the mean of these, not on AUC pooled over the folds, which mixes the scores
    of four models (four calibrations) and so lowers the AUC of a cross-validated run against a single model."""
    import pandas as pd

    from core.metrics import exact_vs_irrelevant_auc, expected_level
    from core.scale import PROB_COLS

    ref = next((n for n in ("prior-all", "all") if n in runs), None)
    if ref is None:
        return {}
    key = ["query_id", "product_id"]
    fold_of = pd.read_parquet(folder / f"{ref}.parquet", columns=key + ["fold"]).drop_duplicates(key)
    out = {}
    for name in runs:
        preds = pd.read_parquet(folder / f"{name}.parquet")
        preds = preds[preds["epoch"] == preds["epoch"].max()].drop(columns="fold").merge(fold_of, on=key)
        for (lang, fold), part in preds.groupby(["language", "fold"]):
            out[name, lang, int(fold)] = exact_vs_irrelevant_auc(part["level"].to_numpy(),
                                                                 expected_level(part[PROB_COLS].to_numpy()))
    return out


def _mean_auc(aucs: dict, name: str, lang: str, folds: set[int] | None = None) -> float | None:
    vals = [v for (n, la, f), v in aucs.items() if n == name and la == lang and (folds is None or f in folds)
            and not math.isnan(v)]
    return sum(vals) / len(vals) if vals else None


def unseen_table(runs: dict[str, dict], baselines: dict | None, aucs: dict | None = None) -> str:
    """Trained on → tested on: AUC (mean over the test folds, see ``fold_aucs``) and accuracy per language for
    the teacher (last epoch) and the feature prior (prior-only runs, else the teacher runs' epoch 0) trained on
    all languages and on English only, next to e5-cosine, BM25 and the students (trained on English data only;
    one model each, AUC over the whole file)."""
    aucs = aucs or {}
    rows = []
    for name, doc in runs.items():
        family, setting = _family(name)
        if setting not in ("all", "en-only") and not doc.get("unseen"):
            continue
        trained_on = ("en + es + ja" if setting == "all"
                      else "en only" + (" (every en pair)" if doc.get("unseen") else ""))
        models = [("teacher (last epoch)", last_epoch(doc))] if family == "teacher" else []
        if family == "prior" or f"prior-{setting}" not in runs:
            models.append(("feature prior", "epoch 0"))
        got = _rows(doc)
        for label, model in models:
            row = {"model": label, "trained on": trained_on, "folds": _folds_text(doc)}
            for lang in ("en", "es", "ja"):
                r = got.get((model, lang), {})
                fold_mean = _mean_auc(aucs, name, lang) if model == last_epoch(doc) else None
                row[f"AUC {lang}"] = figure(fold_mean if fold_mean is not None else r.get("auc"))
                row[f"acc {lang}"] = figure(r.get("accuracy"))
            rows.append(row)
    if baselines:
        got = {(r["model"], r["language"]): r for r in baselines["rows"]}
        for model in dict.fromkeys(r["model"] for r in baselines["rows"]):
            trained = ("nothing (packaged embeddings)" if model.endswith("cosine")
                       else "nothing" if model in ("bm25", "random") else "esci_us (English) only")
            row = {"model": model, "trained on": trained, "folds": "whole file"}
            for lang in ("en", "es", "ja"):
                r = got.get((model, lang), {})
                row[f"AUC {lang}"], row[f"acc {lang}"] = figure(r.get("auc")), figure(r.get("accuracy"))
            rows.append(row)
    return model_card.table(rows, list(rows[0])) if rows else "(no runs yet)"


def kept_share(runs: dict[str, dict], aucs: dict, family: str = "teacher") -> dict[str, float]:
    """AUC of the English-only model as a share of the all-language one's, on es and ja, for the teacher
    (``all`` / ``en-only`` or ``en-unseen`` runs, last epoch) or the prior (the ``prior-`` runs), each the mean
    over the test folds both runs cover (``fold_aucs``)."""
    prefix = "" if family == "teacher" else "prior-"
    a_name = f"{prefix}all"
    e_name = next((n for n in (f"{prefix}en-only", f"{prefix}en-unseen") if n in runs), None)
    if a_name not in runs or e_name is None:
        return {}
    out = {}
    for lang in ("es", "ja"):
        common = {f for (n, la, f) in aucs if n == a_name and la == lang} \
            & {f for (n, la, f) in aucs if n == e_name and la == lang}
        a, e = _mean_auc(aucs, a_name, lang, common), _mean_auc(aucs, e_name, lang, common)
        if a and e:
            out[lang] = e / a
    return out


def curve_points(runs: dict[str, dict]) -> list[dict]:
    """Learning-curve points: mean pointwise training queries per fold → last-epoch AUC and accuracy, for
    the teacher runs (``all``, ``lc<N>``) and the prior-only runs (``prior-all``, ``prior-lc<N>``)."""
    pts = []
    for name, doc in runs.items():
        family, setting = _family(name)
        if setting != "all" and not setting.startswith("lc"):
            continue
        n = sum(f["train_pointwise_queries"] for f in doc["folds"]) / len(doc["folds"])
        got = _rows(doc)
        for lang in LANGS:
            r = got.get((last_epoch(doc), lang))
            if r:
                pts.append({"model": family, "queries": round(n), "language": lang, "auc": r["auc"],
                            "accuracy": r["accuracy"], "folds": _folds_text(doc)})
    return sorted(pts, key=lambda p: (p["model"], p["language"], p["queries"]))


def write_report(folder: str | Path) -> str:
    """Write ``cv.md`` and ``learning_curve.svg`` into ``folder`` and return the Markdown."""
    folder = Path(folder)
    runs = load_runs(folder)
    base_file = folder / "baselines.json"
    baselines = json.loads(base_file.read_text()) if base_file.exists() else None
    parts = []
    for name, doc in runs.items():
        folds = doc["folds"]
        if doc.get("kind") == "prior":
            parts.append(f"### Run `{name}` (feature prior alone)\n\n"
                         + _setup_text(doc, "fits the prior's logistic regression")
                         + "; no cross-encoder.\n\n" + bakeoff_table(doc))
            continue
        cfg = doc["config"]
        parts.append(
            f"### Run `{name}`\n\n" + _setup_text(doc, "trains")
            + f". Recipe: `{cfg['backbone']}`, freeze_layers {cfg['freeze_layers']}, "
            f"lr {cfg['lr']}, head lr {cfg.get('head_lr')}, {cfg['epochs']} epochs (all kept: no test fold picks "
            f"an epoch), prior `{cfg['prior']}` (prior lr {cfg['prior_lr']}), ranking loss weight "
            f"{cfg['listwise']} on listwise queries; {sum(f['minutes'] for f in folds):.0f} minutes for "
            + ("the training" if doc.get("unseen") else f"{len(folds)} fold(s)") + ".\n\n" + bakeoff_table(doc))
    if baselines:
        parts.append("### Baselines on the same pairs\n\n`relevance evaluate` on the whole pointwise file (none of "
                     "these trained on it).\n\n" + baseline_table(baselines))
    if runs or baselines:
        aucs = fold_aucs(folder, runs)
        kept = [(who, kept_share(runs, aucs, family)) for who, family in (("teacher", "teacher"),
                                                                          ("feature prior", "prior"))]
        parts.append("### Unseen languages: trained on → tested on\n\nAUC of the cross-validated and single-training "
                     "runs: the mean over the test folds of each fold's AUC (a single training scored on the same "
                     "subsets), since pooling four folds' scores mixes four models' calibrations; accuracy pooled."
                     "\n\n" + unseen_table(runs, baselines, aucs) + "".join(
            f"\n\nThe English-only {who} keeps " + ", ".join(f"{v:.1%} on {k}" for k, v in share.items())
            + f" of the all-language {who}'s AUC." for who, share in kept if share))
    pts = curve_points(runs)
    if len({p["queries"] for p in pts}) > 1:
        series = {}
        for p in pts:
            if p["language"] in ("es", "ja", "all"):
                series.setdefault(f"{p['model']} {p['language']}", []).append((p["queries"], p["auc"]))
        series = {k: v for k, v in series.items() if len(v) > 1}
        (folder / "learning_curve.svg").write_text(model_card.line_svg(
            series, x_label="pointwise training queries per fold (log scale)", y_label="AUC exact vs irrelevant"))
        parts.append("### Learning curve\n\n![learning curve](learning_curve.svg)\n\n" + model_card.table(
            [{"model": p["model"], "language": p["language"], "training queries": p["queries"], "folds": p["folds"],
              "AUC": figure(p["auc"]), "accuracy": figure(p["accuracy"])} for p in pts],
            ["model", "language", "training queries", "folds", "AUC", "accuracy"]))
    if runs:
        stamps = sorted(datetime.fromtimestamp((folder / f"{n}.json").stat().st_mtime, timezone.utc) for n in runs)
        parts.insert(0, f"Runs written {stamps[0]:%Y-%m-%d} to {stamps[-1]:%Y-%m-%d} (UTC); report made on "
                        f"{model_card.machine()}. Pairs: the pointwise data set's judged pairs, each tested once, in "
                        "its own fold; CIs: 95% bootstrap over queries; p: paired bootstrap against epoch 0 (the "
                        "prior alone) on the same pairs, Holm-corrected within the run.")
    text = "\n\n".join(parts) + "\n"
    (folder / "cv.md").write_text(text)
    return text
