"""The teacher card's cross-validation sections, from the files ``relevance train teacher --cv`` wrote.

Reads ``<folder>/<run>.json`` (one per cross-validation run: ``all`` = every language, ``en-only`` =
English pointwise pairs only, ``en-unseen`` = one training on every English pair, tested on the other
languages, ``lc<N>`` = at most N pointwise training queries per fold; ``prior-<run>`` = the same with the
feature prior alone) and, when present, ``<folder>/baselines.json`` (``relevance evaluate --json`` on the
same pointwise file: bm25, e5-cosine, the students), and writes ``<folder>/cv.md`` (tables),
``<folder>/learning_curve.svg`` (the cross-encoder against its own prior), ``learning_curve_prior.svg`` (the
prior-only runs) and ``learning_curve_biencoder.svg`` (one bi-encoder recipe at several ``--max-train-queries``).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

from core.workflows.cards import common as model_card
from core.workflows.cards.common import figure, p_value
from core.workflows.cards.cv_curve import curve_points, curve_section
from core.workflows.cards.cv_runs import (LANGS, epoch_number, fold_scores, folds_text, last_epoch,
                                          last_epoch_number, load_runs, mean_auc, rows_by_model, run_family,
                                          same_recipe)


def _listwise_dev(doc: dict, epoch: int) -> float:
    """Mean over folds of the esci_us dev nDCG@20 at ``epoch`` (the same 34 dev queries in every fold)."""
    vals = [h["ndcg@20_esci"] for f in doc["folds"] for h in f["history"]
            if h["epoch"] == epoch and h.get("ndcg@20_esci") is not None]  # prior-only runs have none
    return sum(vals) / len(vals) if vals else math.nan


def bakeoff_table(doc: dict) -> str:
    """Per epoch and language: accuracy, macro-F1, AUC with CIs, paired tests against epoch 0 (the prior), or
    against the first epoch in a run without a prior (no epoch 0)."""
    table = []
    first = min(epoch_number(r["model"]) for r in doc["rows"])
    ref = "prior" if first == 0 else f"epoch {first}"
    for (model, lang), r in sorted(rows_by_model(doc).items(), key=lambda kv: (LANGS.index(kv[0][1])
                                                                         if kv[0][1] in LANGS else 9, kv[0][0])):
        epoch = epoch_number(model)
        table.append({"language": lang, "epoch": f"{epoch}" + (" (prior alone)" if epoch == 0 else ""),
                      "pairs": r["n_pairs"],
                      "accuracy [95% CI]": figure(r["accuracy"], r["accuracy_ci_low"], r["accuracy_ci_high"]),
                      "macro-F1": figure(r["macro_f1"]),
                      "AUC E vs I [95% CI]": figure(r["auc"], r["auc_ci_low"], r["auc_ci_high"]),
                      f"p (Holm) acc vs {ref}": p_value(r["p_holm"]),
                      f"p (Holm) AUC vs {ref}": p_value(r["p_holm_auc"]),
                      "esci_us dev nDCG@20": figure(_listwise_dev(doc, epoch)) if lang == "all" else ""})
    return model_card.table(table, list(table[0]))


def biencoder_text(name: str, doc: dict) -> str:
    """A ``cross_validate_biencoder`` run: its setting, the fine-tuned cosine's own AUC per epoch, the bake-off."""
    b, folds = doc["biencoder"], doc["folds"]
    epochs = sorted({h["epoch"] for f in folds for h in f["history"]})
    cos = [sum(h["cosine_auc"] for f in folds for h in f["history"] if h["epoch"] == e) / len(folds) for e in epochs]
    return (f"### Run `{name}` (feature prior + fine-tuned e5 bi-encoder)\n\n"
            + _setup_text(doc, "fine-tunes e5-small as a bi-encoder")
            + (" (the esci_us pairs for the bi-encoder only: the prior's regression fits on the pointwise pairs)"
               if doc.get("encoder_listwise") else "")
            + f". The prior's logistic regression gets the fine-tuned cosine as one more feature; the training "
            f"pairs' cosines are cross-fitted over {doc['inner_folds']} inner query-grouped folds (each from a "
            f"bi-encoder that did not train on that pair's query). Recipe: ordinal loss, lr {b['lr']}, "
            f"{b['epochs']} epochs, batch {b['batch_size']}, freeze_layers {b['freeze_layers']}, contrastive weight "
            f"{b['contrastive']}; {sum(f['minutes'] for f in folds):.0f} minutes for {len(folds)} fold(s). Epoch k: "
            "the prior + the cosine after k epochs of fine-tuning (epoch 0: the prior alone). The fine-tuned cosine "
            "alone, AUC exact vs irrelevant (mean of the folds): "
            + ", ".join(f"{figure(a)} ({'untrained' if e == 0 else f'epoch {e}'})" for e, a in zip(epochs, cos))
            + ".\n\n" + bakeoff_table(doc))


def baseline_table(baselines: dict) -> str:
    rows = [{"model": r["model"], "language": r["language"], "pairs": r["n_pairs"],
             "accuracy [95% CI]": figure(r["accuracy"], r.get("accuracy_ci_low"), r.get("accuracy_ci_high")),
             "macro-F1": figure(r["macro_f1"]),
             "AUC E vs I [95% CI]": figure(r["auc"], r.get("auc_ci_low"), r.get("auc_ci_high"))}
            for r in baselines["rows"]]
    return model_card.table(rows, list(rows[0]))


def _setup_text(doc: dict, trains: str) -> str:
    """What a run trained on and was tested on (``trains``: "trains" or "fits the prior's logistic regression")."""
    folds = doc["folds"]
    langs = f" ({', '.join(doc['train_languages'])} only)" if doc.get("train_languages") else ""
    lw = folds[0]["train_listwise_queries"]
    data = ((f"{lw} esci_us training queries + " if lw else "no esci_us training query, ")
            + f"~{round(sum(f['train_pointwise_queries'] for f in folds) / len(folds))} pointwise queries{langs}")
    if doc.get("unseen"):
        return (f"One training that {trains} on {data}, tested on every pointwise pair of the other languages "
                f"({folds[0]['test_pairs']} pairs, none of their languages seen in training)")
    return f"Query-grouped folds of the pointwise set: {folds_text(doc)}; each fold {trains} on {data} and is " \
           "tested on its own fold"


def unseen_table(runs: dict[str, dict], baselines: dict | None, scores: dict | None = None) -> str:
    """Trained on → tested on: AUC (mean over the test folds, see ``fold_scores``) and accuracy per language for
    the teacher (last epoch) and the feature prior (prior-only runs, else the teacher runs' epoch 0) trained on
    all languages and on English only, next to e5-cosine, BM25 and the students (trained on English data only;
    one model each, AUC over the whole file)."""
    scores = scores or {}
    rows = []
    for name, doc in runs.items():
        family, setting = run_family(name)
        if doc.get("kind") == "biencoder":
            if doc.get("train_languages") not in (None, ["en"]) or doc.get("max_train_queries"):
                continue
            trained_on = ("en only (pointwise)" if doc.get("train_languages") else "en + es + ja (pointwise)") \
                + (" + esci_us (bi-encoder only)" if doc.get("encoder_listwise") else "")
            models = [(f"prior + fine-tuned e5 cosine (`{name}`, last epoch)", last_epoch(doc))]
        elif setting not in ("all", "en-only") and not doc.get("unseen"):
            continue
        else:
            trained_on = ("en + es + ja" if setting == "all"
                          else "en only" + (" (every en pair)" if doc.get("unseen") else ""))
            models = [("teacher (last epoch)", last_epoch(doc))] if family == "teacher" else []
            if family == "prior" or f"prior-{setting}" not in runs:
                models.append(("feature prior", "epoch 0"))
        got = rows_by_model(doc)
        for label, model in models:
            row = {"model": label, "trained on": trained_on, "folds": folds_text(doc)}
            for lang in ("en", "es", "ja"):
                r = got.get((model, lang), {})
                fold_mean = mean_auc(scores, name, lang, epoch_number(model))
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


def biencoder_pairs(runs: dict[str, dict]) -> list[tuple[str, str]]:
    """(English-only run, all-language run of the same recipe) for the bi-encoder runs on every training query;
    ``same_recipe`` decides."""
    full = {n: doc for n, doc in runs.items() if doc.get("kind") == "biencoder" and not doc.get("max_train_queries")}
    return [(e, a) for e, en in full.items() if en.get("train_languages") == ["en"]
            for a, doc in full.items() if not doc.get("train_languages")
            and same_recipe(doc, en)]


def kept_share(runs: dict[str, dict], scores: dict, family: str = "teacher", english: str | None = None
               ) -> dict[str, float]:
    """AUC of the English-only model as a share of the all-language one's, on es and ja, for the teacher
    (``all`` / ``en-only`` or ``en-unseen`` runs, last epoch), the prior (the ``prior-`` runs) or the prior with
    the fine-tuned bi-encoder's cosine (``biencoder``: its runs on all languages and on English only), each the
    mean over the test folds both runs cover (``fold_scores``)."""
    if family == "biencoder":  # an English-only bi-encoder run (``english``, else the first) and its recipe's
        pairs = biencoder_pairs(runs)
        e_name, a_name = next(((e, a) for e, a in pairs if english in (None, e)), (None, None))
    else:
        prefix = "" if family == "teacher" else "prior-"
        a_name = f"{prefix}all"
        e_name = next((n for n in (f"{prefix}en-only", f"{prefix}en-unseen") if n in runs), None)
    if a_name not in runs or e_name is None:
        return {}
    out = {}
    for lang in ("es", "ja"):
        common = {f for (n, la, f, _) in scores if n == a_name and la == lang} \
            & {f for (n, la, f, _) in scores if n == e_name and la == lang}
        a = mean_auc(scores, a_name, lang, last_epoch_number(runs[a_name]), common)
        e = mean_auc(scores, e_name, lang, last_epoch_number(runs[e_name]), common)
        if a and e:
            out[lang] = e / a
    return out


def write_report(folder: str | Path) -> str:
    """Write ``cv.md`` and the learning-curve SVGs into ``folder`` and return the Markdown."""
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
        if doc.get("kind") == "biencoder":
            parts.append(biencoder_text(name, doc))
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
    scores = fold_scores(folder, runs)
    if runs or baselines:
        kept = [(who, f"the all-language {who}", kept_share(runs, scores, family))
                for who, family in (("teacher", "teacher"), ("feature prior", "prior"))]
        kept += [(f"prior + fine-tuned e5 cosine (`{e}`)", f"`{a}` (its recipe on every language)",
                  kept_share(runs, scores, "biencoder", e)) for e, a in biencoder_pairs(runs)]
        parts.append("### Unseen languages: trained on → tested on\n\nAUC of the cross-validated and single-training "
                     "runs: the mean over the test folds of each fold's AUC (a single training scored on the same "
                     "subsets), since pooling four folds' scores mixes four models' calibrations; accuracy pooled."
                     "\n\n" + unseen_table(runs, baselines, scores) + "".join(
            f"\n\nThe English-only {who} keeps " + ", ".join(f"{v:.1%} on {k}" for k, v in share.items())
            + f" of {ref}'s AUC." for who, ref, share in kept if share))
    pts = curve_points(folder, runs, scores)
    if len({(p["model"], p["queries"]) for p in pts}) > 1:
        parts.append(curve_section(folder, pts))
    if runs:
        stamps = sorted(datetime.fromtimestamp((folder / f"{n}.json").stat().st_mtime, timezone.utc) for n in runs)
        parts.insert(0, f"Runs written {stamps[0]:%Y-%m-%d} to {stamps[-1]:%Y-%m-%d} (UTC); report made on "
                        f"{model_card.machine()}. Pairs: the pointwise data set's judged pairs, each tested once, in "
                        "its own fold; CIs: 95% bootstrap over queries; p: paired bootstrap against epoch 0 (the "
                        "prior alone) on the same pairs, Holm-corrected within the run.")
    text = "\n\n".join(parts) + "\n"
    (folder / "cv.md").write_text(text)
    return text
