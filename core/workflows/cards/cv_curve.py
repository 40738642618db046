"""The teacher card's learning curves (``cv_report``): AUC and accuracy against the number of pointwise training
queries, from cross-validation runs at several ``--max-train-queries``, each against its own prior."""

from __future__ import annotations

from pathlib import Path

from core.workflows.cards import common as model_card
from core.workflows.cards.common import figure, p_value
from core.workflows.cards.cv_runs import LANGS, folds_text, last_epoch_number, over_folds, run_family, same_recipe

def _curve_runs(runs: dict[str, dict], family: str) -> list[str]:
    """The runs of one learning curve: ``teacher`` (the cross-encoder's ``all``, ``lc<N>``), ``prior`` (``prior-all``,
    ``prior-lc<N>``) or ``biencoder`` (the all-language runs of the bi-encoder recipe run at most sizes)."""
    if family == "biencoder":
        every = [n for n, doc in runs.items() if doc.get("kind") == "biencoder" and not doc.get("train_languages")]
        curves = [[m for m in every if same_recipe(runs[m], runs[n])] for n in every]
        return max((c for c in curves if len({runs[n].get("max_train_queries") for n in c}) > 1), key=len, default=[])
    return [n for n, doc in runs.items() if doc.get("kind") != "biencoder" and run_family(n)[0] == family
            and not doc.get("unseen") and (run_family(n)[1] == "all" or run_family(n)[1].startswith("lc"))]


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
            where = folds_text(doc, folds)
            p = {}
            if family != "prior":
                preds = pd.read_parquet(folder / f"{name}.parquet")
                preds = preds[preds["fold"].isin(common) & preds["epoch"].isin({0, last_epoch_number(doc)})]
                p = {r["language"]: r for r in pooled_rows(preds) if r["model"] != "epoch 0"}
            for lang in LANGS:
                got = over_folds(scores, name, lang, last_epoch_number(doc), common)
                if got is None:
                    continue
                pt = {"model": family, "language": lang, "folds": where, "auc": got[0], "accuracy": got[1],
                      "queries": round(sum(f["train_pointwise_queries"] for f in folds) / len(folds))}
                if family != "prior":
                    pt["prior_auc"], pt["prior_accuracy"] = over_folds(scores, name, lang, 0, common)
                    pt["p_acc"] = p.get(lang, {}).get("p_value_vs_first")
                    pt["p_auc"] = p.get(lang, {}).get("p_value_auc_vs_first")
                pts.append(pt)
    for key in ("p_acc", "p_auc"):
        have = [pt for pt in pts if pt.get(key) is not None]
        for pt, adjusted in zip(have, holm([pt[key] for pt in have])):
            pt[key] = adjusted
    return sorted(pts, key=lambda p: (p["model"], LANGS.index(p["language"]), p["queries"]))


def curve_section(folder: Path, pts: list[dict]) -> str:
    """The learning-curve table and its SVGs, each drawn when its family has two or more sizes: the cross-encoder
    and the bi-encoder teacher against their own prior (solid / dashed, one colour per language), and the
    prior-only runs' curve."""
    figures = []
    labels = {"teacher": "cross-encoder", "prior": "prior", "biencoder": "teacher"}  # the figure's legend
    names = {"teacher": "cross-encoder", "biencoder": "bi-encoder teacher (the prior + the fine-tuned e5 cosine)"}
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
            f"The {names[family]} (solid) and its own prior (dashed: the same run's epoch 0), test folds: {where}."))
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
