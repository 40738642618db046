"""Model cards of the students and of the teacher labels, with the amplification curve as an SVG."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from core import config
from core.metrics import LISTWISE_MIN
from core.workflows.cards import common as model_card
from core.workflows.evaluate import evaluate

MODELS = ("student", "teacher", "student-human", "student-mixed", "bm25")


def dev_report(judged, students: dict[str, Path], features, teacher=None, teacher_dir=None, url=None) -> dict:
    """Students, teacher and BM25 on the teacher's dev queries, per language: ``rows``, nDCG@20 and @all over the
    listwise queries; ``pointwise_rows``, accuracy and exact-vs-irrelevant AUC over the pointwise ones
    (``Judged.by_mode``; empty lists where there are none)."""
    from core.cache import get_catalog
    from core.models.student import Student
    from core.models.teacher import load_teacher

    scorers = {k: Student(p, features.catalog, features) for k, p in students.items()}
    scorers["teacher"] = teacher or load_teacher(teacher_dir, get_catalog(url))
    parts = judged.by_mode()
    return {"rows": evaluate(parts["listwise"], list(MODELS), ks=[20, None], gains=["esci", "linear"], by_language=True,
                             url=url, progress=False, scorers=scorers, mode="listwise")["rows"]
            if "listwise" in parts else [],
            "pointwise_rows": evaluate(parts["pointwise"], list(MODELS), by_language=True, url=url, progress=False,
                                       scorers=scorers, mode="pointwise")["rows"] if "pointwise" in parts else []}


def language_tables(report: dict, gains: str = "esci") -> str:
    """One markdown table per language: model × (nDCG@20, nDCG@all, accuracy, queries, pairs, p vs first)."""
    if not report["rows"]:
        return f"No listwise dev queries ({LISTWISE_MIN} or more judged products)."
    df = pd.DataFrame(report["rows"])
    df = df[df["gains"] == gains]
    parts = []
    for lang in ["all"] + sorted(x for x in df["language"].unique() if x != "all"):
        g = df[df["language"] == lang]
        rows = []
        for m in dict.fromkeys(g["model"]):
            r20 = g[(g["model"] == m) & (g["k"] == "20")].iloc[0]
            rall = g[(g["model"] == m) & (g["k"] == "all")].iloc[0]
            rows.append({"model": m, "nDCG@20": r20["ndcg"], "95% CI": f"[{r20['ci_low']:.3f}, {r20['ci_high']:.3f}]",
                         "nDCG@all": rall["ndcg"],
                         "accuracy": "—" if pd.isna(r20["accuracy"]) else f"{r20['accuracy']:.3f}",
                         "p (Holm) vs student": "—" if pd.isna(r20["p_holm"]) else f"{r20['p_holm']:.3g}",
                         "queries": int(r20["n_queries"]), "pairs": int(r20["n_pairs"])})
        parts.append(f"**{lang}**\n\n" + model_card.table(rows, list(rows[0])))
    return "\n\n".join(parts)


def curve_svg(points: list[dict], refs: dict[str, float], width: int = 560, height: int = 320,
              key: str = "ndcg") -> str:
    """Dev nDCG@20 (``key`` ``ndcg``) or pointwise AUC (``auc``) against teacher-labelled pairs (log x), with dashed
    reference lines; a standalone SVG."""
    label = {"ndcg": "dev nDCG@20 (esci)", "auc": "dev AUC, exact vs irrelevant (pointwise)"}[key]
    points = [p for p in points if p.get(key) is not None]
    return model_card.line_svg(
        {"student": [(p["teacher_pairs"], p[key]) for p in points]}, refs=refs,
        tips={"student": [f"{p['teacher_pairs']} pairs ({p['amplification']}×): {p[key]:.4f}" for p in points]},
        x_label="teacher-labelled pairs (log scale)", y_label=label, width=width, height=height)


def _ndcg(report: dict, model: str, lang: str = "all", k: str = "20", gains: str = "esci") -> float:
    for r in report["rows"]:
        if (r["model"], r["language"], r["k"], r["gains"]) == (model, lang, k, gains):
            return r["ndcg"]
    return float("nan")


def _auc(report: dict, model: str, lang: str = "all") -> float:
    """The model's pointwise AUC in ``lang``; NaN when there is none (a group without exact or irrelevant pairs)."""
    for r in report["pointwise_rows"]:
        if (r["model"], r["language"]) == (model, lang):
            return float("nan") if r["auc"] is None else r["auc"]
    return float("nan")


def _significant(rows: list[dict], key: str) -> str:
    """The models whose Holm p (``key``) against the student is below 0.05, or "none"."""
    hits = [f"{r['model']} (p = {r[key]:.2g})" for r in rows if r.get(key) is not None and r[key] < 0.05]
    return ", ".join(hits) or "none"


def verdict(report: dict, summary: dict) -> str:
    """The card's summary, from the figures: student against teacher, student-human and BM25 on the listwise and
    the pointwise dev queries, which differences the paired tests establish, and the curve's range."""
    parts = []
    if report["rows"]:
        s, t = _ndcg(report, "student"), _ndcg(report, "teacher")
        head = [r for r in report["rows"] if (r["language"], r["k"], r["gains"]) == ("all", "20", "esci")]
        parts.append(
            f"On the teacher's {head[0]['n_queries']} listwise dev queries the distilled student reaches nDCG@20 "
            f"(esci) {s:.4f} against the teacher's {t:.4f} ({(s - t) / t * 100:+.1f}%), student-mixed "
            f"{_ndcg(report, 'student-mixed'):.4f}, student-human {_ndcg(report, 'student-human'):.4f} and BM25 "
            f"{_ndcg(report, 'bm25'):.4f}; differences the paired tests against the student establish (Holm p < "
            f"0.05): {_significant(head, 'p_holm')}.")
    if report["pointwise_rows"]:
        langs = [r["language"] for r in report["pointwise_rows"] if r["model"] == "student" and r["language"] != "all"]
        head = [r for r in report["pointwise_rows"] if r["language"] == "all"]
        def auc(model: str, lang: str = "all") -> str:
            return model_card.figure(_auc(report, model, lang))
        parts.append(
            f"On its {head[0]['n_pairs']} pointwise dev pairs the student's exact-vs-irrelevant AUC is "
            f"{auc('student')} against the teacher's {auc('teacher')} (per language: "
            + ", ".join(f"{lang} {auc('student', lang)} vs {auc('teacher', lang)}" for lang in langs)
            + f"), student-human {auc('student-human')}, BM25 {auc('bm25')}; established "
            f"differences (Holm p < 0.05): {_significant(head, 'p_holm_auc')}.")
    key = "ndcg" if report["rows"] else "auc"
    pts = [p for p in summary["curve"] if p.get(key) is not None]
    if pts:
        values = [p[key] for p in pts]
        parts.append(f"Along the amplification curve the dev {'nDCG@20' if key == 'ndcg' else 'AUC'} goes from "
                     f"{values[0]:.3f} ({pts[0]['teacher_pairs']} teacher-labelled pairs) to {values[-1]:.3f} "
                     f"({pts[-1]['teacher_pairs']}), within {min(values):.3f}–{max(values):.3f}.")
    return " ".join(parts)


def _encoder_section(encoder: str) -> str:
    """The two measurements behind the encoder: cosine rankers (bench/encoders.py) and students
    (bench/student_encoders.py), as recorded in artifacts/distill."""
    folder = config.path("artifacts_dir") / "distill"
    parts = []
    f = folder / "encoders.json"
    if f.exists():
        doc = json.loads(f.read_text())
        rows = [{"encoder": r["encoder"], "dim": r["dim"], "cosine nDCG@20 (120 judged queries)": r["ndcg20_esci"],
                 "95% CI": f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]", "queries/s": f"{r['queries_per_s']:g}",
                 "products/s": f"{r['products_per_s']:g}", "imports transformers": r["imports_transformers"]}
                for r in doc["encoders"]]
        parts.append(f"1. Cosine rankers (`bench/encoders.py`, {doc['date']}, {doc['machine']}), {doc['judgments']}:"
                     f"\n\n" + model_card.table(rows, list(rows[0])) + f"\n\n{doc['reason']}")
    f = folder / "student_encoders.json"
    if f.exists():
        doc = json.loads(f.read_text())
        rows = [{"student encoder": r["encoder"], "dev nDCG@20": r["ndcg20_esci"],
                 "95% CI": f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]",
                 "p (Holm) vs use": "—" if r.get("p_holm_vs_use") is None else f"{r['p_holm_vs_use']:.3g}",
                 "val KL to teacher": f"{r['best_val_kl']:.4f}", "pairs/s": f"{r['student_pairs_per_s']:g}",
                 "× teacher": f"{r['ratio']:g}", "p50 / p99 ms (1,000)": f"{r['p50_ms_1000']} / {r['p99_ms_1000']}"}
                for r in doc["students"]]
        parts.append(f"2. The same `student` trained with each encoder on the same {doc['teacher_pairs']} teacher "
                     f"labels (`bench/student_encoders.py`, {doc['date']}), on the teacher's {doc['dev_queries']} dev "
                     f"queries (teacher {doc['teacher_ndcg20_esci']:.4f}, BM25 {doc['bm25_ndcg20_esci']:.4f}; "
                     f"teacher {doc['teacher_pairs_per_s']} pairs/s):\n\n" + model_card.table(rows, list(rows[0])))
    if not parts:
        return f"Encoder `{encoder}`; no measurement recorded (run `bench/encoders.py`, `bench/student_encoders.py`)."
    parts.append(f"This student uses **{encoder}**. " + (
        "Only the USE student meets the speed goals (≥ 1000× the teacher's pairs/s, p99 ≤ 20 ms for 1,000 "
        "candidates on 2 cores); the quality figures above were measured on the teacher labels of their date, "
        "and `relevance distill --no-label --encoder e5` builds the e5 students from the current labels."
        if encoder == "use" else "Chosen for quality; see the speed figures above."))
    return "\n\n".join(parts)


def write_cards(summary: dict, judged, students: dict[str, Path], features, *, teacher_dir, teacher=None,
                url=None, out: Path, command: str) -> dict:
    """Evaluate and write ``model_card.md`` + ``metrics.json`` of each student, the curve and the labels card."""
    report = dev_report(judged, students, features, teacher=teacher, teacher_dir=teacher_dir, url=url)
    key = "ndcg" if report["rows"] else "auc"
    value = _ndcg if key == "ndcg" else _auc
    refs = {m: value(report, m) for m in ("teacher", "student-human", "bm25")}
    (out / "amplification.svg").write_text(curve_svg(summary["curve"], refs, key=key))
    curve_rows = [{"teacher-labelled pairs": p["teacher_pairs"], "amplification": f"{p['amplification']:.2f}×",
                   "dev nDCG@20 (esci)": model_card.figure(p.get("ndcg"), p.get("ci_low"), p.get("ci_high")),
                   "pointwise AUC": model_card.figure(p.get("auc"), p.get("auc_ci_low"), p.get("auc_ci_high"))}
                  for p in summary["curve"]]
    wanted = max(summary["config"]["curve"]) if summary["config"]["curve"] else 0
    reached = summary["amplification"]
    cfg = json.loads((students["student"] / "student.json").read_text())
    schema, scfg = cfg["schema"], cfg["config"]
    lab = summary["labelling"]
    speed = f" at {lab['pairs_per_s']} pairs/s" if lab.get("pairs_per_s") else ""
    sections = {
        "Summary": verdict(report, summary) + (" The teacher is below BM25 on dev, so distilling it has a weak target."
                                               if refs["teacher"] < refs["bm25"] else ""),
        "Model": (f"MLP {schema['n_features']} → {' → '.join(map(str, scfg['hidden']))} → 5 (ReLU, dropout "
                  f"{scfg['dropout']}), inputs standardised. Inference is numpy only (no torch, no transformers): "
                  f"`student.npz` holds the weights, `student.json` the feature schema and version. Score = "
                  f"expected level Σ level·p."),
        "Features": (f"Encoder `{schema['config']['encoder']}` ({schema['encoder_version']}, {schema['dim']}-d) on "
                     f"product fields {', '.join(schema['config']['product_fields'])}; blocks "
                     f"{', '.join(schema['config']['embedding_blocks'])} after {len(schema['dense'])} dense "
                     f"features: {', '.join(schema['dense'])}. Feature version {schema['feature_version']}."),
        "Encoder choice": _encoder_section(schema["config"]["encoder"]),
        "Data": (f"Unlabeled pool: {summary['pool_pairs']} pairs over {summary['pool_queries']} queries (stored "
                 f"judged queries and the imported query log, each × BM25 top-{summary['k_bm25']} ∪ "
                 f"{summary['retrieval_encoder']}-embedding top-{summary['k_embed']}), human-labelled pairs and the "
                 f"teacher's "
                 f"{summary['dev_queries']} dev queries left out. Teacher-labelled: {summary['teacher_pairs']} pairs"
                 f"{speed}; human training pairs (teacher's training queries): {summary['human_pairs']}; "
                 f"amplification {reached:.2f}×" + (f" (the {wanted:g}× point of the curve needs "
                                                     f"{int(wanted * summary['human_pairs'])} teacher-labelled pairs:"
                                                     f" not labelled within the CPU budget)" if reached < wanted
                                                     else "") + "."),
        "Training": (f"student: KL to the teacher's probabilities at T={scfg['temperature']} (×T²); student-human: "
                     f"cross-entropy on human levels; student-mixed: both (weights {scfg['soft_weight']} / "
                     f"{scfg['hard_weight']}). AdamW lr {scfg['lr']}, weight decay {scfg['weight_decay']}, batch "
                     f"{scfg['batch_size']}, up to {scfg['epochs']} epochs with early stopping (patience "
                     f"{scfg['patience']}) on a {scfg['val_fraction']:.0%} query-level hold-out of the training "
                     f"queries; seed {scfg['seed']}."),
        "Dev results (teacher's dev queries, esci gains)": language_tables(report, "esci"),
        "Dev results (linear gains)": language_tables(report, "linear"),
        "Dev results, pointwise queries": (model_card.POINTWISE_CAPTION.format(reference="the student") + "\n\n"
                                           + model_card.pointwise_table(report["pointwise_rows"], "student")
                                           if report["pointwise_rows"] else "No pointwise dev queries."),
        "Amplification curve": ("`student` trained on seeded samples of the teacher-labelled pairs; dev nDCG@20 "
                                "(esci) over the listwise dev queries and exact-vs-irrelevant AUC over the pointwise "
                                "ones, with 95% CIs. Plot (" + ("nDCG" if key == "ndcg" else "AUC") + "): "
                                "`artifacts/distill/amplification.svg`.\n\n"
                                + model_card.table(curve_rows, list(curve_rows[0]))),
        "Reproduce": "`make train` (teacher, then `relevance distill`); evaluate with `relevance evaluate "
                     "--judgments artifacts/distill/dev_judgments_listwise.csv --models "
                     "teacher,student,student-human,bm25` (nDCG) and the same on `dev_judgments_pointwise.csv` "
                     "(accuracy and AUC per language).",
    }
    metrics = {"dev": report["rows"], "dev_pointwise": report["pointwise_rows"], "curve": summary["curve"],
               "amplification": reached, "teacher_pairs": summary["teacher_pairs"], "human_pairs": summary["human_pairs"]}
    for kind, path in students.items():
        meta = json.loads((path / "student.json").read_text())
        model_card.write(path, title=f"Student: {kind}", summary=f"{meta.get('kind', kind)}: MLP ranker trained on "
                         + {"student": "the teacher's soft labels (the default student).",
                            "student-human": "human labels only (the baseline distillation must beat).",
                            "student-mixed": "teacher soft labels plus human labels."}[kind],
                         sections=sections, metrics={**metrics, "history": meta.get("history", [])}, command=command)
    _labels_card(out, summary, command)
    return report


def _labels_card(out: Path, summary: dict, command: str) -> None:
    lab = json.loads((out / "teacher_labels.json").read_text()) if (out / "teacher_labels.json").exists() else {}
    runs = model_card.table([{"precision": "fp32", **r} for r in lab["runs"]],
                            ["pairs_scored_now", "seconds", "pairs_per_s", "precision"]) if lab.get("runs") else "—"
    model_card.write(out, title="Teacher labels for distillation",
                     summary="`teacher_labels.parquet`: the teacher's level probabilities (p1…p5, expected, argmax) "
                             "on unlabeled (query, product) pairs; the students' training data.",
                     sections={"How it was made": (
                         f"Pool: stored queries (judged + imported query log) × BM25 top-{summary['k_bm25']}"
                         f" ∪ {summary['retrieval_encoder']}-embedding top-{summary['k_embed']}, deduplicated; pairs "
                         f"with a human label "
                         f"and "
                         f"the teacher's {summary['dev_queries']} dev queries excluded; shuffled with seed "
                         f"{summary['config']['seed']}, so the labelled prefix is a uniform sample of the "
                         f"{summary['pool_pairs']}-pair pool. Labelled: {summary['labelled_pairs']} pairs by teacher "
                         f"{summary['teacher']} (SHA-1 of its adapter and config), resumable in Parquet parts. "
                         f"Retrieval source of the labelled pairs: {summary['source_counts']}."),
                         "Labelling runs": runs,
                         "Files": "`teacher_labels.parquet` (zstd), `teacher_labels.json` (teacher fingerprint, runs), "
                                  "`distill.json` (summary, curve), `dev_judgments.csv` (the teacher's dev queries' "
                                  "human labels; `_listwise` and `_pointwise` hold its two kinds of query), "
                                  "`amplification.svg`."},
                     metrics={k: summary[k] for k in ("labelled_pairs", "pool_pairs", "amplification", "curve")},
                     command=command)
