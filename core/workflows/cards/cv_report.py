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


def _epoch(model: str) -> int:
    """The epoch of a run's row name ("epoch 3" → 3)."""
    return int(model.split()[-1])


def last_epoch(doc: dict) -> str:
    return max((r["model"] for r in doc["rows"]), key=_epoch)


def _listwise_dev(doc: dict, epoch: int) -> float:
    """Mean over folds of the esci_us dev nDCG@20 at ``epoch`` (the same 34 dev queries in every fold)."""
    vals = [h["ndcg@20_esci"] for f in doc["folds"] for h in f["history"]
            if h["epoch"] == epoch and h.get("ndcg@20_esci") is not None]  # prior-only runs have none
    return sum(vals) / len(vals) if vals else math.nan


def bakeoff_table(doc: dict) -> str:
    """Per epoch and language: accuracy, macro-F1, AUC with CIs, paired tests against epoch 0 (the prior), or
    against the first epoch in a run without a prior (no epoch 0)."""
    table = []
    first = min(_epoch(r["model"]) for r in doc["rows"])
    ref = "prior" if first == 0 else f"epoch {first}"
    for (model, lang), r in sorted(_rows(doc).items(), key=lambda kv: (LANGS.index(kv[0][1])
                                                                         if kv[0][1] in LANGS else 9, kv[0][0])):
        epoch = _epoch(model)
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


def _family(name: str) -> tuple[str, str]:
    """(``teacher`` or ``prior``, the run's setting: ``all``, ``en-only``, ``lc<N>``) from a run name."""
    return ("prior", name[len("prior-"):]) if name.startswith("prior-") else ("teacher", name)


def _folds_text(doc: dict, folds: list[dict] | None = None) -> str:
    """"one training", "4 of 4", or the folds by number when a run has some of them ("fold 0 of 4")."""
    if doc.get("unseen"):
        return "one training"
    folds = doc["folds"] if folds is None else folds
    if len(folds) == doc["n_folds"]:
        return f"{len(folds)} of {doc['n_folds']}"
    return f"fold{'s' if len(folds) > 1 else ''} {', '.join(str(f['fold']) for f in folds)} of {doc['n_folds']}"


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
    return f"Query-grouped folds of the pointwise set: {_folds_text(doc)}; each fold {trains} on {data} and is " \
           "tested on its own fold"


def fold_scores(folder: Path, runs: dict[str, dict]) -> dict[tuple[str, str, int, int], tuple[float, int, int]]:
    """(AUC exact vs irrelevant, pairs right, pairs) per (run, language or ``all``, test fold, epoch) at epoch 0
    (the prior alone) and the run's last epoch, the folds being those of the all-language runs (``prior-all``,
    else ``all``, else any cross-validated run): a single-training run (``--unseen``) is scored on the same subsets. Runs are compared on the
    mean of the folds' AUCs, not on AUC pooled over the folds, which mixes the scores of four models (four
    calibrations) and so lowers the AUC of a cross-validated run against a single model."""
    import pandas as pd

    from core.metrics import exact_vs_irrelevant_auc, expected_level
    from core.scale import PROB_COLS

    ref = next((n for n in ("prior-all", "all") if n in runs), None) or next(
        (n for n, doc in runs.items() if not doc.get("unseen")), None)  # else any cross-validated run's folds
    if ref is None:
        return {}
    key = ["query_id", "product_id"]
    fold_of = pd.read_parquet(folder / f"{ref}.parquet", columns=key + ["fold"]).drop_duplicates(key)
    out = {}
    for name in runs:
        preds = pd.read_parquet(folder / f"{name}.parquet")
        preds = preds[preds["epoch"].isin({0, preds["epoch"].max()})].drop(columns="fold").merge(fold_of, on=key)
        preds = pd.concat([preds, preds.assign(language="all")], ignore_index=True)
        for (lang, fold, epoch), part in preds.groupby(["language", "fold", "epoch"]):
            probs, level = part[PROB_COLS].to_numpy(), part["level"].to_numpy()
            out[name, lang, int(fold), int(epoch)] = (exact_vs_irrelevant_auc(level, expected_level(probs)),
                                                      int((probs.argmax(1) + 1 == level).sum()), len(part))
    return out


def _over_folds(scores: dict, name: str, lang: str, epoch: int, folds: set[int] | None = None
                ) -> tuple[float, float] | None:
    """(mean AUC over the folds, accuracy pooled over them) of run ``name``, or None without a fold."""
    got = [v for (n, la, f, e), v in scores.items() if n == name and la == lang and e == epoch
           and (folds is None or f in folds)]
    aucs = [a for a, _, _ in got if not math.isnan(a)]
    if not got:
        return None
    return (sum(aucs) / len(aucs) if aucs else math.nan), sum(c for _, c, _ in got) / sum(n for _, _, n in got)


def _mean_auc(scores: dict, name: str, lang: str, epoch: int, folds: set[int] | None = None) -> float | None:
    got = _over_folds(scores, name, lang, epoch, folds)
    return None if got is None or math.isnan(got[0]) else got[0]


def unseen_table(runs: dict[str, dict], baselines: dict | None, scores: dict | None = None) -> str:
    """Trained on → tested on: AUC (mean over the test folds, see ``fold_scores``) and accuracy per language for
    the teacher (last epoch) and the feature prior (prior-only runs, else the teacher runs' epoch 0) trained on
    all languages and on English only, next to e5-cosine, BM25 and the students (trained on English data only;
    one model each, AUC over the whole file)."""
    scores = scores or {}
    rows = []
    for name, doc in runs.items():
        family, setting = _family(name)
        if doc.get("kind") == "biencoder":
            if doc.get("train_languages") not in (None, ["en"]):
                continue
            trained_on = "en only (pointwise)" if doc.get("train_languages") else "en + es + ja (pointwise)"
            models = [("prior + fine-tuned e5 cosine (last epoch)", last_epoch(doc))]
        elif setting not in ("all", "en-only") and not doc.get("unseen"):
            continue
        else:
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
                fold_mean = _mean_auc(scores, name, lang, _epoch(model))
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


def kept_share(runs: dict[str, dict], scores: dict, family: str = "teacher") -> dict[str, float]:
    """AUC of the English-only model as a share of the all-language one's, on es and ja, for the teacher
    (``all`` / ``en-only`` or ``en-unseen`` runs, last epoch), the prior (the ``prior-`` runs) or the prior with
    the fine-tuned bi-encoder's cosine (``biencoder``: its runs on all languages and on English only), each the
    mean over the test folds both runs cover (``fold_scores``)."""
    if family == "biencoder":  # the pointwise-only bi-encoder runs, all languages and English only
        bi = {tuple(doc.get("train_languages") or ()): n for n, doc in runs.items() if doc.get("kind") == "biencoder"}
        a_name, e_name = bi.get(()), bi.get(("en",))
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
        a = _mean_auc(scores, a_name, lang, _last(runs[a_name]), common)
        e = _mean_auc(scores, e_name, lang, _last(runs[e_name]), common)
        if a and e:
            out[lang] = e / a
    return out


def _last(doc: dict) -> int:
    return _epoch(last_epoch(doc))


def _curve_runs(runs: dict[str, dict], family: str) -> list[str]:
    """The runs of one learning curve: ``teacher`` (the cross-encoder's ``all``, ``lc<N>``), ``prior`` (``prior-all``,
    ``prior-lc<N>``) or ``biencoder`` (the all-language runs of the bi-encoder recipe run at most sizes)."""
    if family == "biencoder":
        recipes: dict[str, list[str]] = {}
        for name, doc in runs.items():
            if doc.get("kind") == "biencoder" and not doc.get("train_languages"):
                recipes.setdefault(json.dumps(doc["biencoder"], sort_keys=True), []).append(name)
        curves = [names for names in recipes.values() if len({runs[n].get("max_train_queries") for n in names}) > 1]
        return max(curves, key=len, default=[])
    return [n for n, doc in runs.items() if doc.get("kind") != "biencoder" and _family(n)[0] == family
            and not doc.get("unseen") and (_family(n)[1] == "all" or _family(n)[1].startswith("lc"))]


def curve_points(folder: Path, runs: dict[str, dict], scores: dict) -> list[dict]:
    """Learning-curve points: pointwise training queries per fold → last-epoch AUC (mean over the test folds)
    and accuracy, per family of ``_curve_runs`` (``teacher``, ``prior``, ``biencoder``). Each family's points
    cover the same test folds: those all its curve runs have (a run of one fold per size is compared with that
    fold of ``all``). A teacher or bi-encoder point also has its own prior (the run's epoch 0, same training pairs
    and test folds) and paired-bootstrap p-values against it, Holm-corrected over the curve's points that have
    one."""
    import pandas as pd

    from core.metrics.stats import holm
    from core.workflows.teacher_cv import pooled_rows

    pts = []
    for family in ("teacher", "prior", "biencoder"):
        names = _curve_runs(runs, family)
        if not names:
            continue
        common = set.intersection(*({f["fold"] for f in runs[n]["folds"]} for n in names))
        for name in names:
            doc = runs[name]
            folds = [f for f in doc["folds"] if f["fold"] in common]
            if not folds:
                continue
            where = _folds_text(doc, folds)
            p = {}
            if family != "prior":
                preds = pd.read_parquet(folder / f"{name}.parquet")
                preds = preds[preds["fold"].isin(common) & preds["epoch"].isin({0, _last(doc)})]
                p = {r["language"]: r for r in pooled_rows(preds) if r["model"] != "epoch 0"}
            for lang in LANGS:
                got = _over_folds(scores, name, lang, _last(doc), common)
                if got is None:
                    continue
                pt = {"model": family, "language": lang, "folds": where, "auc": got[0], "accuracy": got[1],
                      "queries": round(sum(f["train_pointwise_queries"] for f in folds) / len(folds))}
                if family != "prior":
                    pt["prior_auc"], pt["prior_accuracy"] = _over_folds(scores, name, lang, 0, common)
                    pt["p_acc"] = p.get(lang, {}).get("p_value_vs_first")
                    pt["p_auc"] = p.get(lang, {}).get("p_value_auc_vs_first")
                pts.append(pt)
    for key in ("p_acc", "p_auc"):
        have = [pt for pt in pts if pt.get(key) is not None]
        for pt, adjusted in zip(have, holm([pt[key] for pt in have])):
            pt[key] = adjusted
    return sorted(pts, key=lambda p: (p["model"], LANGS.index(p["language"]), p["queries"]))


def curve_section(folder: Path, pts: list[dict]) -> str:
    """The learning-curve table and its SVG(s): the cross-encoder against its own prior (solid / dashed, one
    colour per language) when it has two or more sizes, and the prior-only runs' curve."""
    figures = []
    labels = {"teacher": "cross-encoder", "prior": "prior", "biencoder": "prior + fine-tuned cosine"}
    for family, file in (("teacher", "learning_curve.svg"), ("prior", "learning_curve_prior.svg"),
                         ("biencoder", "learning_curve_biencoder.svg")):
        mine = [p for p in pts if p["model"] == family and p["language"] in ("all", "es", "ja")]
        if len({p["queries"] for p in mine}) < 2:
            (folder / file).unlink(missing_ok=True)  # no stale figure from an earlier report
            continue
        series, colours = {}, {}
        for p in mine:
            colour = model_card.COLOURS[("all", "es", "ja").index(p["language"])]
            label = labels[family]
            series.setdefault(f"{label} {p['language']}", []).append((p["queries"], p["auc"]))
            colours[f"{label} {p['language']}"] = colour
            if family != "prior":
                series.setdefault(f"its prior {p['language']}", []).append((p["queries"], p["prior_auc"]))
                colours[f"its prior {p['language']}"] = colour
        (folder / file).write_text(model_card.line_svg(
            series, x_label="pointwise training queries per fold (log scale)", y_label="AUC exact vs irrelevant",
            colours=colours, dashed=tuple(n for n in series if n.startswith("its prior"))))
        where = pts[[p["model"] for p in pts].index(family)]["folds"]
        figures.append(f"![{family} learning curve]({file})\n\n" + (
            f"The feature prior alone (prior-only runs), test folds: {where}." if family == "prior" else
            f"The {labels[family]} (solid) and its own prior (dashed: the same run's epoch 0), test folds: {where}."))
    rows = [{"model": p["model"], "language": p["language"], "training queries": p["queries"], "test folds": p["folds"],
             "AUC": figure(p["auc"]), "accuracy": figure(p["accuracy"]),
             "its prior: AUC": figure(p.get("prior_auc")), "its prior: accuracy": figure(p.get("prior_accuracy")),
             "p (Holm) acc vs prior": p_value(p.get("p_acc")), "p (Holm) AUC vs prior": p_value(p.get("p_auc"))}
            for p in pts]
    return ("### Learning curve\n\nAUC: mean over the test folds of each fold's AUC; accuracy pooled over them. "
            "Each family is read on the test folds all its runs cover. \"Its prior\": the run's epoch 0 "
            "(the feature prior fitted on the same training pairs), with paired-bootstrap p-values over queries, "
            "Holm-corrected over the table's rows that have one. Model `biencoder`: the committed teacher's kind (the "
            "prior + the fine-tuned e5 cosine); `teacher`: the cross-encoder.\n\n" + "\n\n".join(figures) + "\n\n"
            + model_card.table(rows, list(rows[0])))


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
        kept = [(who, kept_share(runs, scores, family)) for who, family in (
            ("teacher", "teacher"), ("feature prior", "prior"), ("prior + fine-tuned e5 cosine", "biencoder"))]
        parts.append("### Unseen languages: trained on → tested on\n\nAUC of the cross-validated and single-training "
                     "runs: the mean over the test folds of each fold's AUC (a single training scored on the same "
                     "subsets), since pooling four folds' scores mixes four models' calibrations; accuracy pooled."
                     "\n\n" + unseen_table(runs, baselines, scores) + "".join(
            f"\n\nThe English-only {who} keeps " + ", ".join(f"{v:.1%} on {k}" for k, v in share.items())
            + f" of the all-language {who}'s AUC." for who, share in kept if share))
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
