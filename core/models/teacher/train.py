"""Teacher training: LoRA fine-tuning with a query-level dev split, early stopping, checkpoints and resume.

``train_teacher`` splits the labels and drives a ``_Training`` (model, optimizer, state) epoch by epoch;
``batches`` forms the steps (one query's products per batch when the listwise loss is on),
``pairwise_rank_loss`` is that loss and ``dev_metrics`` what early stopping reads.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.catalog import Catalog
from core.errors import InvalidInputError
from core.models.teacher.backbones import get_backbone, load_base
from core.models.teacher.config import ARTIFACT_FORMAT, SELECTIONS, TRAINED_FILES, TeacherConfig, split_queries
from core.models.teacher.encoding import PairEncoder
from core.models.teacher.layer_cache import LayerCache, lora_targets
from core.models.teacher.priors import make_prior

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What ``train_teacher`` made: the artifact folder, the per-epoch dev metrics, the dev pairs (and each
    epoch's dev probabilities when asked for), and the layer cache a further run can reuse."""

    out: Path
    metrics: dict = field(default_factory=dict)
    dev: pd.DataFrame | None = None
    dev_probs: dict[int, np.ndarray] = field(default_factory=dict)
    layer_cache: LayerCache | None = None


def dev_metrics(probs: np.ndarray, dev: pd.DataFrame) -> dict:
    """nDCG@20 (esci) over the dev queries with ``LISTWISE_MIN`` or more judged products; 5-class accuracy
    and macro-F1 over all dev pairs; over the pointwise ones (fewer products per query) their accuracy and
    the AUC of the expected level separating exact (5) from irrelevant (1–2) pairs, also per language."""
    from core import metrics
    from core.metrics.pointwise import listwise_pairs

    exp = probs @ np.arange(1, 6)
    listwise = listwise_pairs(dev)
    run, qrels = {}, {}
    for (q, p, lv, s) in zip(dev["query_id"][listwise], dev["product_id"][listwise], dev["level"][listwise],
                             exp[listwise]):
        run.setdefault(q, {})[p] = float(s)
        qrels.setdefault(q, {})[p] = int(lv)
    ndcg = metrics.summarize(metrics.ndcg_per_query(qrels, run, 20, "esci"))
    pred = probs.argmax(1) + 1
    cls = metrics.classification_scores(dev["level"].tolist(), pred.tolist())
    out = {"ndcg@20_esci": ndcg["mean"], "ndcg@20_esci_ci": [ndcg["ci_low"], ndcg["ci_high"]],
           "accuracy": cls["accuracy"], "macro_f1": cls["macro_f1"], "dev_queries": ndcg["n_queries"]}
    point = ~listwise
    if point.any():
        langs = dev["language"].to_numpy() if "language" in dev else np.full(len(dev), "all")
        for lang in ["all", *sorted(set(langs[point]))]:
            sel = point & ((langs == lang) if lang != "all" else True)
            lv = dev["level"].to_numpy()[sel]
            suffix = "" if lang == "all" else f"_{lang}"
            out[f"pointwise_accuracy{suffix}"] = float((pred[sel] == lv).mean())
            out[f"pointwise_auc{suffix}"] = metrics.exact_vs_irrelevant_auc(lv, exp[sel])
            out[f"pointwise_pairs{suffix}"] = int(sel.sum())
    return out


def selection_score(m: dict, select: str) -> float:
    """The figure early stopping maximises (``TeacherConfig.select``); ``last`` always prefers the newer."""
    if select == "last":
        return float(m["epoch"])
    if select == "ndcg" and m["dev_queries"]:
        return m["ndcg@20_esci"]
    return m["accuracy"]


def train_teacher(labels: pd.DataFrame, catalog: Catalog, out: str | Path, cfg: TeacherConfig = TeacherConfig(),
                  *, resume: bool = True, progress: bool = True, name: str = "teacher",
                  dev_query_ids: Collection[str] | None = None, layer_cache: LayerCache | None = None,
                  keep_dev_predictions: bool = False) -> TrainResult:
    """Fine-tune ``cfg.backbone`` on human labels (query_id, query, product_id, level; optional language).

    Writes ``out``: the kept adapter (``cfg.select``), ``teacher.json``, ``metrics.json``;
    ``out/checkpoint`` holds the last state for ``resume``.

    Args:
        dev_query_ids: the dev queries (default: a seeded ``cfg.dev_fraction`` of the queries).
        layer_cache: a ``LayerCache`` of an earlier run with the same backbone and ``freeze_layers`` whose
            kept states this run reuses and extends (cross-validation folds share one).
        keep_dev_predictions: also return each epoch's dev probabilities (``result.dev_probs``).
    """
    import torch

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    if cfg.select not in SELECTIONS:
        raise InvalidInputError(f"select must be one of {', '.join(SELECTIONS)}; got {cfg.select!r}")
    labels = labels[labels["product_id"].isin(catalog.ids)].reset_index(drop=True)
    dev_q = (set(dev_query_ids) & set(labels["query_id"]) if dev_query_ids is not None
             else split_queries(labels["query_id"], cfg.dev_fraction, cfg.seed))
    dev = labels[labels["query_id"].isin(dev_q)].reset_index(drop=True)
    train = labels[~labels["query_id"].isin(dev_q)].sample(frac=1.0, random_state=cfg.seed).reset_index(drop=True)
    if cfg.max_train_pairs:
        train = train.iloc[:cfg.max_train_pairs]
    if train.empty or dev.empty:
        raise InvalidInputError(f"need labelled pairs on both sides of the query split; got {len(train)} train and "
                                f"{len(dev)} dev pairs from {labels['query_id'].nunique()} queries")
    run = _Training(cfg, catalog, train, out, layer_cache)
    if resume:
        run.resume()
    dev_probs = run.fit(dev, progress=progress, keep_dev_predictions=keep_dev_predictions)
    state = run.state
    best = max(state["history"], key=lambda h: selection_score(h, cfg.select))
    meta = {"format": ARTIFACT_FORMAT, "name": name, "config": asdict(cfg), "backbone_source": run.backbone.source,
            "reads": run.backbone.reads, "train_pairs": len(train), "train_queries": int(train["query_id"].nunique()),
            "dev_pairs": len(dev), "dev_queries": int(dev["query_id"].nunique()),
            "dev_query_ids": sorted(dev_q), "train_query_ids": sorted(set(train["query_id"])),
            "best_epoch": best["epoch"], "prior": state.get("best_prior")}
    (out / "teacher.json").write_text(json.dumps(meta, indent=1) + "\n")
    for stale in TRAINED_FILES["biencoder"]:  # a bi-encoder teacher's layers of an earlier run
        (out / stale).unlink(missing_ok=True)
    return TrainResult(out, {"best": best, "history": state["history"]}, dev=dev, dev_probs=dev_probs,
                       layer_cache=run.cache)


class _Training:
    """One training run's model, optimizer and state; ``train_teacher`` drives it epoch by epoch."""

    def __init__(self, cfg: TeacherConfig, catalog: Catalog, train: pd.DataFrame, out: Path,
                 layer_cache: LayerCache | None):
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import get_linear_schedule_with_warmup

        self.cfg, self.train, self.out, self.ckpt = cfg, train, out, out / "checkpoint"
        self.backbone = backbone = get_backbone(cfg.backbone)
        model, tok = load_base(backbone, for_training=True)
        targets = list(backbone.lora_targets) if isinstance(backbone.lora_targets, tuple) else backbone.lora_targets
        if cfg.freeze_layers:
            targets = lora_targets(model, backbone.lora_targets, cfg.freeze_layers)
        lora = LoraConfig(task_type="SEQ_CLS", r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                          target_modules=targets, modules_to_save=list(backbone.modules_to_save))
        self.model = model = get_peft_model(model, lora)
        self.enc = PairEncoder(tok, backbone, cfg.max_length, cfg.query_max_tokens)
        self.products = {p: r for p, r in zip(catalog.ids, catalog.products.to_dict("records"))}
        self.device = next(model.parameters()).device
        self.cache = None
        if cfg.freeze_layers:
            self.cache = layer_cache.attach(model) if layer_cache is not None else LayerCache(model, cfg.freeze_layers)
        self.prior = prior = make_prior(cfg.prior, catalog)
        if prior is not None:
            prior.fit(train["query"].tolist(), [self.products[p] for p in train["product_id"]], train["level"].tolist())
            prior.head.to(self.device)
        self.steps_per_epoch = len(batches(train, cfg, 0))
        trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        head = [p for n, p in trainable if "modules_to_save" in n]
        groups = [{"params": [p for n, p in trainable if "modules_to_save" not in n], "lr": cfg.lr},
                  {"params": head, "lr": cfg.head_lr if cfg.head_lr is not None else cfg.lr}]
        prior_lr = cfg.lr if cfg.prior_lr is None else cfg.prior_lr
        if prior is not None:
            prior.head.requires_grad_(prior_lr > 0)
            if prior_lr > 0:
                groups.append({"params": list(prior.head.parameters()), "lr": prior_lr})
        self.opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.sched = get_linear_schedule_with_warmup(self.opt, int(cfg.warmup_ratio * self.steps_per_epoch * cfg.epochs),
                                                     self.steps_per_epoch * cfg.epochs)
        weights = None
        if cfg.balanced:
            counts = np.bincount(train["level"].to_numpy() - 1, minlength=5).astype(float)
            weights = torch.tensor(np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / (counts > 0).sum(), 0.0),
                                   dtype=torch.float32, device=self.device)
        self.loss_fn = torch.nn.CrossEntropyLoss(weight=weights, label_smoothing=cfg.label_smoothing)
        self.state = {"epoch": 0, "step": 0, "best": -1.0, "bad_epochs": 0, "history": []}

    def resume(self) -> None:
        """Continue from ``out/checkpoint`` when it holds a saved state."""
        import torch
        from peft import set_peft_model_state_dict

        if not (self.ckpt / "state.pt").exists():
            return
        try:  # weights_only: tensors and plain containers; a planted pickle cannot run code
            saved = torch.load(self.ckpt / "state.pt", weights_only=True)
        except Exception as exc:  # torch raises UnpicklingError (or RuntimeError) for anything else
            raise InvalidInputError(f"{self.ckpt / 'state.pt'} is not a checkpoint of plain weights, so it was not "
                                    f"loaded ({type(exc).__name__}); delete it or train with --no-resume") from None
        set_peft_model_state_dict(self.model, saved["adapter"])
        if self.prior is not None and saved.get("prior"):
            self.prior.load(saved["prior"])  # in place: the optimizer holds these very parameters
        self.opt.load_state_dict(saved["opt"])
        self.sched.load_state_dict(saved["sched"])
        self.state = saved["state"]
        log.info("resumed from epoch %d step %d", self.state["epoch"], self.state["step"])

    def forward(self, queries: list[str], prods: list[Mapping]):
        """The model's logits for the pairs, through the layer cache when the bottom is frozen."""
        batch = self.enc.encode(queries, prods)
        if self.cache is None:
            return self.model(**{k: v.to(self.device) for k, v in batch.items()}).logits
        keys = [(q, p["product_id"]) for q, p in zip(queries, prods)]
        todo = [i for i, k in enumerate(keys) if k not in self.cache]
        if todo:  # usually the whole batch (each pair once per epoch): then its encoding serves as it is
            new = batch if len(todo) == len(keys) else self.enc.encode([queries[i] for i in todo],
                                                                       [prods[i] for i in todo])
            self.cache.fill([keys[i] for i in todo], new)
        with self.cache.replay(keys, batch):
            return self.model(**{k: v.to(self.device) for k, v in batch.items()}).logits

    def save_checkpoint(self) -> None:
        import torch
        from peft import get_peft_model_state_dict

        self.ckpt.mkdir(exist_ok=True)
        tmp = self.ckpt / "state.pt.tmp"
        torch.save({"adapter": get_peft_model_state_dict(self.model), "opt": self.opt.state_dict(),
                    "sched": self.sched.state_dict(), "state": self.state,
                    "prior": self.prior.state() if self.prior is not None else None}, tmp)
        tmp.replace(self.ckpt / "state.pt")

    def predict(self, frame_products, queries) -> np.ndarray:
        import torch

        self.model.eval()
        probs = np.zeros((len(queries), 5), dtype=np.float32)
        with torch.inference_mode():
            for i in range(0, len(queries), 64):
                logits = self.forward(queries[i:i + 64], frame_products[i:i + 64]).float()
                if self.prior is not None:
                    logits = logits + self.prior.logits(queries[i:i + 64], frame_products[i:i + 64]).to(self.device)
                probs[i:i + 64] = torch.softmax(logits, -1).cpu().numpy()
        self.model.train()
        return probs

    def step(self, rows: pd.DataFrame) -> float:
        """One optimizer step on ``rows``; returns the loss."""
        import torch

        cfg, prods = self.cfg, [self.products[p] for p in rows["product_id"]]
        target = torch.tensor(rows["level"].to_numpy() - 1, device=self.device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            logits = self.forward(rows["query"].tolist(), prods)
        logits = logits.float()
        if self.prior is not None:
            logits = logits + self.prior.logits(rows["query"].tolist(), prods).to(self.device)
        loss = self.loss_fn(logits, target)
        if cfg.listwise > 0:
            loss = loss + cfg.listwise * pairwise_rank_loss(logits, target, rows["query_id"].tolist())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)
        return loss.item()

    def evaluate(self, dev: pd.DataFrame, dev_products: list, epoch: int, dev_probs: dict | None) -> dict:
        """Dev metrics of the model now, recorded in the history as ``epoch``."""
        probs = self.predict(dev_products, dev["query"].tolist())
        m = dev_metrics(probs, dev)
        m["epoch"] = epoch
        if dev_probs is not None:
            dev_probs[epoch] = probs
        self.state["history"].append(m)
        return m

    def keep(self) -> None:
        """Save the adapter (and the prior's state) as the kept one."""
        save_adapter(self.model, self.out)
        self.state["best_prior"] = self.prior.state() if self.prior is not None else None

    def fit(self, dev: pd.DataFrame, *, progress: bool, keep_dev_predictions: bool) -> dict[int, np.ndarray]:
        """Run the epochs left (early stopping per ``cfg.select``); returns the kept dev probabilities."""
        from tqdm.auto import tqdm

        cfg, state = self.cfg, self.state
        dev_products = [self.products[p] for p in dev["product_id"]]
        dev_probs: dict[int, np.ndarray] | None = {} if keep_dev_predictions else None
        if self.prior is not None and not state["history"]:
            # epoch 0: the warm-started prior with the untrained head, so the card shows what training adds
            m = self.evaluate(dev, dev_products, 0, dev_probs)
            state["best"] = selection_score(m, cfg.select)
            self.keep()
            log.info("epoch 0 (prior only): dev nDCG@20 %.4f, accuracy %.3f, pointwise AUC %s", m["ndcg@20_esci"],
                     m["accuracy"], m.get("pointwise_auc"))
        self.model.train()
        while state["epoch"] < cfg.epochs and (state["bad_epochs"] <= cfg.patience or cfg.select == "last"):
            epoch = state["epoch"]
            steps = batches(self.train, cfg, epoch)
            bar = tqdm(range(state["step"], self.steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}",
                       disable=not progress)
            for step in bar:
                bar.set_postfix(loss=f"{self.step(self.train.loc[steps[step]]):.3f}")
                state["step"] = step + 1
                if cfg.checkpoint_every and state["step"] % cfg.checkpoint_every == 0:
                    self.save_checkpoint()
            m = self.evaluate(dev, dev_products, epoch + 1, dev_probs)
            log.info("epoch %d: dev nDCG@20 %.4f, accuracy %.3f, pointwise AUC %s", epoch + 1, m["ndcg@20_esci"],
                     m["accuracy"], m.get("pointwise_auc"))
            if selection_score(m, cfg.select) > state["best"]:
                state["best"], state["bad_epochs"] = selection_score(m, cfg.select), 0
                self.keep()
            else:
                state["bad_epochs"] += 1
            state["epoch"], state["step"] = epoch + 1, 0
            self.save_checkpoint()
        return dev_probs or {}


def batches(train: pd.DataFrame, cfg: TeacherConfig, epoch: int) -> list[np.ndarray]:
    """Row indices of each training step of ``epoch``: a seeded shuffle cut into ``batch_size`` pieces, or,
    with ``cfg.listwise``, each listwise query's products (a query with ``LISTWISE_MIN`` or more judged
    products) shuffled and cut into pieces, the pairs of pointwise queries pooled, shuffled and cut into
    pieces of their own (the ranking loss has nothing to compare there), all pieces shuffled."""
    from core.metrics import LISTWISE_MIN

    rng = np.random.default_rng(cfg.seed + epoch)
    index = train.index.to_numpy()

    def cut(idx: np.ndarray) -> list[np.ndarray]:
        idx = idx[rng.permutation(len(idx))]
        return [idx[i:i + cfg.batch_size] for i in range(0, len(idx), cfg.batch_size)]

    if cfg.listwise <= 0:
        return cut(index)
    pieces, pooled = [], []
    for _, idx in sorted(train.groupby("query_id").indices.items()):
        if len(idx) >= LISTWISE_MIN:
            pieces += cut(index[idx])
        else:
            pooled.append(index[idx])
    if pooled:
        pieces += cut(np.concatenate(pooled))
    return [pieces[i] for i in rng.permutation(len(pieces))]


def pairwise_rank_loss(logits, target, groups: Sequence[Hashable] | None = None):
    """RankNet loss on the expected level of one query's products: mean over pairs (i, j) of the same
    query (``groups``: each row's query; None: one query) with level_i > level_j of
    ``softplus(-(s_i - s_j))``, weighted by the esci gain difference (so exact against the rest counts
    most); 0 when no such pair is in the batch."""
    import torch

    from core.metrics import gain

    s = torch.softmax(logits, -1) @ torch.arange(1, 6, dtype=logits.dtype, device=logits.device)
    g = torch.tensor([gain(int(t) + 1, "esci") for t in target.tolist()], dtype=logits.dtype, device=logits.device)
    w = (g[:, None] - g[None, :]).clamp(min=0)
    if groups is not None:
        codes = torch.tensor(pd.factorize(pd.Series(list(groups)))[0], device=logits.device)
        w = w * (codes[:, None] == codes[None, :])
    if not bool((w > 0).any()):
        return logits.sum() * 0.0
    return (w * torch.nn.functional.softplus(-2.0 * (s[:, None] - s[None, :]))).sum() / w.sum()


def save_adapter(model, out: Path) -> None:
    """Save the trained tensors only, in fp16 (a few MB)."""
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    model.save_pretrained(out)  # adapter_config.json (+ fp32 weights, replaced below)
    (out / "README.md").unlink(missing_ok=True)  # peft's template; the project writes model_card.md
    sd = {k: v.detach().to(torch.float16).contiguous().cpu() for k, v in get_peft_model_state_dict(model).items()}
    save_file(sd, str(out / "adapter_model.safetensors"))
