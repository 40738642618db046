"""The teacher's model card: dev metrics against the cheap baselines on the same dev queries."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from core.models.teacher import Teacher
from core.workflows.cards import common as model_card
from core.workflows.evaluate import Judged, evaluate

BASELINES = ("bm25", "e5-cosine", "random")
PRIOR_TEXT = {
    "features": (" The head's logits are added to a feature prior: a 5-way linear layer over the pair's "
                 "standardised dense student features (e5 cosine, BM25, title/brand/colour overlap, numbers and "
                 "units, negation cues, engagement, language; core/models/features.py), warm-started by a multinomial "
                 "logistic regression on the training pairs and then {prior_training}. Epoch 0 in the table below "
                 "is that warm start alone, so the gain of the cross-encoder is visible."),
    "e5-cosine": (" The head's logits are added to a learned 5-way linear term on the standardised "
                  "multilingual-e5-small cosine of query and product (title, brand)."),
}


def dev_report(out: Path, labels: pd.DataFrame, url: str | None = None) -> dict:
    """Evaluate the trained teacher and the baselines on the teacher's dev queries (nDCG@20 and @all)."""
    from core.cache import get_catalog

    meta = json.loads((out / "teacher.json").read_text())
    dev = labels[labels["query_id"].isin(set(meta["dev_query_ids"]))]
    pairs = dev[["query_id", "query", "language", "product_id", "level"]].reset_index(drop=True)
    teacher = Teacher(out, get_catalog(url))
    return evaluate(Judged("dev split", pairs), ["teacher", *BASELINES], ks=[20, None], gains=["esci", "linear"],
                    url=url, progress=False, scorers={"teacher": teacher})


def write_teacher_card(out: Path, result, labels: pd.DataFrame, *, url: str | None, minutes: float,
                       command: str, extra_sections: dict[str, str] | None = None) -> str:
    meta = json.loads((out / "teacher.json").read_text())
    report = dev_report(out, labels, url)
    rows = [r for r in report["rows"] if r["language"] == "all"]
    summary_rows = [{"model": r["model"], "gains": r["gains"], "k": r["k"], "nDCG": r["ndcg"],
                     "95% CI": f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]",
                     "accuracy": "—" if r["accuracy"] is None else f"{r['accuracy']:.3f}",
                     "p (Holm) vs teacher": "—" if r["p_holm"] is None else f"{r['p_holm']:.3g}"} for r in rows]
    cfg = meta["config"]
    history = model_card.table([{k: (round(v, 4) if isinstance(v, float) else v) for k, v in h.items()
                                 if k != "ndcg@20_esci_ci"} for h in result.metrics["history"]],
                               ["epoch", "ndcg@20_esci", "accuracy", "macro_f1", "dev_queries"])
    sections = {
        "Model": (f"Backbone `{cfg['backbone']}` ({meta['backbone_source']}), reads the {meta['reads']} into a "
                  f"5-way head. LoRA r={cfg['lora_r']}, alpha={cfg['lora_alpha']}, dropout={cfg['lora_dropout']} "
                  f"on attention and feed-forward layers"
                  + (f" of layers {cfg['freeze_layers']} and up (the frozen bottom was computed once per pair and "
                     f"replayed every epoch)" if cfg.get("freeze_layers") else "")
                  + f", head trained in full; only the adapter and head are "
                  f"stored (fp16). Input: query (≤ {cfg['query_max_tokens']} tokens) [SEP] pin text, "
                  f"{cfg['max_length']} tokens in all (see core/text/pin.py for the field order)."
                  + PRIOR_TEXT.get(cfg.get("prior") or "none", "").format(prior_training=(
                      "kept frozen (`--prior-lr 0`)" if cfg.get("prior_lr") == 0 else "trained jointly with the adapter"))
                  + (f" Loss: 5-class cross-entropy + {cfg['listwise']} × a pairwise ranking loss (RankNet on the "
                     f"expected level within a query)." if cfg.get("listwise") else "")),
        "Data": (f"{meta['train_pairs']} human-labelled pairs over {meta['train_queries']} queries for training, "
                 f"{meta['dev_pairs']} pairs over {meta['dev_queries']} queries for dev (a seeded query-level split: "
                 f"no query on both sides). Labels: the store's labels in force (imported judgments and "
                 f"rater consensus)."),
        "Training": (f"{cfg['epochs']} epoch(s) max, batch {cfg['batch_size']}, AdamW lr {cfg['lr']}, linear "
                     f"warm-up/decay, label smoothing {cfg['label_smoothing']}, class-balanced loss: "
                     f"{cfg['balanced']}, early stopping on dev nDCG@20 (esci) with patience {cfg['patience']}; "
                     f"best epoch {meta['best_epoch']}; {minutes:.1f} minutes.\n\n" + history),
        "Dev results against the cheap baselines": model_card.table(
            summary_rows, ["model", "gains", "k", "nDCG", "95% CI", "accuracy", "p (Holm) vs teacher"]),
    }
    sections.update(extra_sections or {})
    for title, name in (("Bake-off", "bakeoff.md"), ("Cross-validation on esci_multilingual", "cv/cv.md"),
                        ("Cross-lingual probe", "probe.md")):
        if (out / name).exists():  # hand-kept records of runs that are not this one (see the files)
            sections.setdefault(title, (out / name).read_text().strip())
    summary = "The cross-encoder teacher of Relevance Studio."
    if (out / "status.md").exists():  # the honest one-paragraph verdict, kept by hand next to the artifact
        summary = (out / "status.md").read_text().strip() + "\n\n" + summary
    model_card.write(out, title=f"Teacher: {cfg['backbone']}", summary=summary,
                     sections=sections, metrics={"dev": report["rows"], "history": result.metrics["history"]},
                     command=command)
    return (out / "model_card.md").read_text()
