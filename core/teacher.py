"""The LLM/encoder cross-encoder teacher: 5-class LoRA fine-tuning and batched scoring.

Input is ``query [SEP] pin text`` for encoders (the tokenizer's own pair template) and a prompt that
ends with the relevance question for decoders, whose head reads the last non-pad token. Training
fine-tunes LoRA adapters (qLoRA on CUDA for big backbones) plus the head, with a query-level
train/dev split, early stopping on dev nDCG@20 (esci gains), checkpoints and resume. An artifact
folder holds only what was trained (``adapter_model.safetensors`` in fp16, ``adapter_config.json``,
``teacher.json``); the base weights are rebuilt from their package at load time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core import config
from core.backbones import Backbone, device, get_backbone, load_base
from core.catalog import Catalog
from core.layer_cache import LayerCache, lora_targets
from core.queries import clean_query
from core.text import tokenizer_builder
from core.errors import InvalidInputError

log = logging.getLogger(__name__)
ARTIFACT_FORMAT = 1
DECODER_PROMPT = ("Search query: {query}\nProduct: {pin}\n"
                  "How relevant is the product to the query (1 = highly irrelevant, 5 = highly relevant)? Answer:")


@dataclass(frozen=True)
class TeacherConfig:
    """Hyper-parameters of ``relevance train teacher`` (saved in ``teacher.json``).

    ``prior``: ``features``, ``e5-cosine`` or none (see ``FeaturePrior``); ``prior_lr``: learning rate of
    the prior's head (``None``: ``lr``; 0, the default, keeps the warm start frozen, so the cross-encoder learns only what
    the prior misses). ``listwise``: weight of a pairwise ranking loss (RankNet on the expected level,
    pairs of one query with different levels, weighted by their esci gain difference) added to the 5-class
    cross-entropy; when > 0 every batch holds products of a single query. ``freeze_layers``: the bottom
    K transformer layers get no adapter and are computed once per pair, then replayed every epoch
    (``core.layer_cache``), so an epoch costs only the top layers (0: adapt every layer). ``head_lr``:
    learning rate of the new classification head (and pooler) when it should differ from ``lr``.
    ``select``: which epoch is kept: ``ndcg`` (best dev nDCG@20 over the dev queries with several judged
    products), ``accuracy`` (best dev 5-class accuracy) or ``last`` (no early stopping: every epoch runs
    and the last is kept; what cross-validation uses, so no test fold ever picks an epoch).
    """

    backbone: str = "e5-small-ce"
    max_length: int = 128
    query_max_tokens: int = 32
    epochs: int = 3
    batch_size: int = 16
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    label_smoothing: float = 0.05
    balanced: bool = False
    dev_fraction: float = 0.2
    patience: int = 1
    seed: int = 0
    max_train_pairs: int | None = None
    checkpoint_every: int = 100
    threads: int | None = None
    prior: str | None = "features"
    prior_lr: float | None = 0.0
    listwise: float = 1.0
    freeze_layers: int = 0
    head_lr: float | None = None
    select: str = "ndcg"


def split_queries(query_ids: Sequence[str], dev_fraction: float, seed: int) -> set[str]:
    """The dev queries: a stable, seeded hash split, so no query is on both sides and reruns agree."""
    def u(q: str) -> float:
        return int(hashlib.sha1(f"{seed}:{q}".encode()).hexdigest()[:8], 16) / 2**32
    return {q for q in set(query_ids) if u(q) < dev_fraction}


class PairEncoder:
    """Turns (query, product) pairs into model inputs for one backbone and tokenizer."""

    def __init__(self, tokenizer, backbone: Backbone, max_length: int, query_max_tokens: int):
        self.tok, self.backbone, self.max_length = tokenizer, backbone, max_length
        self.query_max_tokens = query_max_tokens
        pin_budget = max_length - query_max_tokens - (40 if backbone.family == "decoder" else 4)
        self.pin = tokenizer_builder(tokenizer, max_tokens=max(16, pin_budget))
        self._pin_cache: dict[str, str] = {}

    def pin_text(self, product: Mapping) -> str:
        pid = product.get("product_id")
        if pid is None:
            return self.pin(product)
        if pid not in self._pin_cache:
            self._pin_cache[pid] = self.pin(product)
        return self._pin_cache[pid]

    def _query(self, query: str) -> str:
        ids = self.tok(query, add_special_tokens=False)["input_ids"]
        return query if len(ids) <= self.query_max_tokens else self.tok.decode(ids[:self.query_max_tokens])

    def encode(self, queries: Sequence[str], products: Sequence[Mapping]):
        qs = [self._query(q) for q in queries]
        pins = [self.pin_text(p) for p in products]
        if self.backbone.family == "decoder":
            texts = [DECODER_PROMPT.format(query=q, pin=p) for q, p in zip(qs, pins)]
            return self.tok(texts, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt")
        return self.tok(qs, pins, truncation="only_second", max_length=self.max_length, padding=True,
                        return_tensors="pt")


class CosinePrior:
    """A bi-encoder prior for the cross-encoder: ``logits += w · z + b`` with ``z`` the standardised cosine
    of multilingual-e5-small embeddings of the query and the product (title, brand), from the frozen
    package weights. ``w`` starts monotone over the levels (−1 … 1), so training starts from the
    bi-encoder's ranking and the cross-encoder learns what the bi-encoder misses.
    """

    def __init__(self, mean: float = 0.0, std: float = 1.0, weight=None, bias=None):
        import torch

        self.mean, self.std = mean, std
        self.head = torch.nn.Linear(1, 5)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor(weight if weight is not None else [[-1.0], [-0.5], [0.0], [0.5], [1.0]]))
            self.head.bias.copy_(torch.tensor(bias if bias is not None else [0.0] * 5))
        self._vecs: dict[str, np.ndarray] = {}

    def _embed(self, keys: list[str], texts: list[str], prefix: str) -> np.ndarray:
        from core import e5

        todo = [i for i, k in enumerate(keys) if prefix + k not in self._vecs]
        if todo:
            fresh = dict(zip((keys[i] for i in todo), (texts[i] for i in todo)))
            vecs = e5.embed(list(fresh.values()), prefix=prefix)
            self._vecs.update({prefix + k: v for k, v in zip(fresh, vecs)})
        return np.stack([self._vecs[prefix + k] for k in keys])

    def cosines(self, queries: Sequence[str], products: Sequence[Mapping]) -> np.ndarray:
        from core.rankers import product_text

        q = self._embed(list(queries), list(queries), "query: ")
        texts = [product_text(p, ("title", "brand")) for p in products]
        keys = [str(p.get("product_id") or t) for p, t in zip(products, texts)]
        return (q * self._embed(keys, texts, "passage: ")).sum(1)

    def fit(self, queries: Sequence[str], products: Sequence[Mapping], levels: Sequence[int] | None = None) -> None:
        """Standardise the cosine on the training pairs; the head keeps its monotone start (levels unused)."""
        cos = self.cosines(queries, products)
        self.mean, self.std = float(cos.mean()), float(cos.std() or 1.0)

    def logits(self, queries: Sequence[str], products: Sequence[Mapping]):
        import torch

        z = (self.cosines(queries, products) - self.mean) / self.std
        return self.head(torch.tensor(z, dtype=torch.float32).unsqueeze(1))

    def load(self, state: dict) -> None:
        import torch

        self.mean, self.std = state["mean"], state["std"]
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor(state["weight"]))
            self.head.bias.copy_(torch.tensor(state["bias"]))

    def state(self) -> dict:
        return {"kind": "e5-cosine", "mean": self.mean, "std": self.std,
                "weight": self.head.weight.detach().cpu().tolist(), "bias": self.head.bias.detach().cpu().tolist()}


FEATURE_CACHE_PAIRS = 200_000  # a training set's pairs are re-read every epoch; ~26 MB at 33 features


class FeaturePrior:
    """A feature prior for the cross-encoder: ``logits += W · z + b`` with ``z`` the standardised dense
    student features of the pair (``core.features``: e5 cosine, BM25, title/brand/colour overlap, numbers
    and units, negation cues, engagement, language; no embedding blocks).

    ``fit`` standardises the features on the training pairs and warm-starts ``W, b`` with a multinomial
    logistic regression on them, so training starts from a ranker that already beats the bi-encoder
    cosine (bake-off in the model card) and the cross-encoder learns what the features miss. The
    features are pure functions of the pair and the catalog, so scores do not depend on the batch.
    """

    kind = "features"

    def __init__(self, catalog: Catalog, state: dict | None = None):
        import torch

        from core.features import FeatureConfig, shared_builder

        if catalog is None:
            raise InvalidInputError("the teacher's feature prior needs the catalog; pass catalog=")
        saved = {**(state or {}).get("feature_config", {}), "encoder": "e5", "embedding_blocks": ()}
        # JSON gave lists back; FeatureConfig is hashable (shared_builder's key) only with tuples
        self.builder = shared_builder(catalog, FeatureConfig(**{k: tuple(v) if isinstance(v, list) else v
                                                               for k, v in saved.items()}))
        self.names = list(self.builder.dense_names)
        d = len(self.names)
        self.mean, self.std = np.zeros(d, np.float32), np.ones(d, np.float32)
        self.head = torch.nn.Linear(d, 5)
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.zero_()
        self._cache: dict[tuple[str, str], np.ndarray] = {}
        if state:
            self.load(state)

    def features(self, queries: Sequence[str], products: Sequence[Mapping]) -> np.ndarray:
        keys = [(clean_query(q), str(p["product_id"])) for q, p in zip(queries, products)]
        if len(self._cache) > FEATURE_CACHE_PAIRS:  # bounded: a scoring process may see millions of pairs
            self._cache.clear()
        todo: dict[str, list[str]] = {}
        for q, pid in keys:
            if (q, pid) not in self._cache:
                todo.setdefault(q, []).append(pid)
        if len(todo) > 1:  # embed every new product in one batch, not one query's products at a time
            self.builder.warm(list(dict.fromkeys(p for pids in todo.values() for p in pids)))
        for q, pids in todo.items():
            pids = list(dict.fromkeys(pids))
            dense, _, _ = self.builder.parts(q, pids)
            self._cache.update({(q, pid): row for pid, row in zip(pids, dense)})
        return np.stack([self._cache[k] for k in keys]) if keys else np.zeros((0, len(self.names)), np.float32)

    def fit(self, queries: Sequence[str], products: Sequence[Mapping], levels: Sequence[int]) -> None:
        import torch
        from sklearn.linear_model import LogisticRegression

        X = self.features(queries, products)
        self.mean, self.std = X.mean(0), X.std(0)
        self.std[self.std < 1e-6] = 1.0
        y = np.asarray(levels) - 1
        lr = LogisticRegression(C=0.1, max_iter=3000).fit((X - self.mean) / self.std, y)
        W, b = np.zeros((5, len(self.names))), np.full(5, -5.0)
        if len(lr.classes_) == 2:  # binary: sklearn keeps one row for the second class
            W[lr.classes_[1]], b[lr.classes_[1]] = lr.coef_[0], lr.intercept_[0]
            b[lr.classes_[0]] = 0.0
        else:
            W[lr.classes_], b[lr.classes_] = lr.coef_, lr.intercept_
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor(W, dtype=torch.float32))
            self.head.bias.copy_(torch.tensor(b, dtype=torch.float32))

    def logits(self, queries: Sequence[str], products: Sequence[Mapping]):
        import torch

        z = (self.features(queries, products) - self.mean) / self.std
        return self.head(torch.tensor(z, dtype=torch.float32))

    def load(self, state: dict) -> None:
        import torch

        if state.get("names") and list(state["names"]) != self.names:
            raise InvalidInputError(f"the teacher's feature prior was trained on features {state['names']}, "
                             f"this version computes {self.names}")
        self.mean = np.asarray(state["mean"], np.float32)
        self.std = np.asarray(state["std"], np.float32)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor(state["weight"]))
            self.head.bias.copy_(torch.tensor(state["bias"]))

    def state(self) -> dict:
        return {"kind": self.kind, "names": self.names, "feature_config": asdict(self.builder.cfg),
                "mean": self.mean.tolist(), "std": self.std.tolist(),
                "weight": self.head.weight.detach().cpu().tolist(), "bias": self.head.bias.detach().cpu().tolist()}


PRIORS = ("features", "e5-cosine")


def make_prior(kind: str | None, catalog: Catalog | None, state: dict | None = None):
    """The prior named ``kind`` (``features``, ``e5-cosine``, or None for none), loaded from ``state``."""
    if not kind or kind == "none":
        return None
    if kind == "features":
        return FeaturePrior(catalog, state)
    if kind == "e5-cosine":
        prior = CosinePrior()
        if state:
            prior.load(state)
        return prior
    raise InvalidInputError(f"unknown prior {kind!r}; use one of {', '.join(PRIORS)} or none")


class Teacher:
    """A trained teacher: ``predict_proba(query, product_ids)`` → (n, 5) level probabilities.

    Loads the base from its package, applies the adapter and merges it (so inference pays no LoRA
    overhead), and scores in length-bucketed batches under ``torch.inference_mode``.
    """

    def __init__(self, artifact: str | Path, catalog: Catalog | None = None, *, batch_size: int = 32,
                 int8: bool = False):
        import torch
        from peft import PeftModel

        self.path = Path(artifact)
        meta_file = self.path / "teacher.json"
        if not meta_file.exists():
            raise FileNotFoundError(f"no trained teacher at {self.path} (teacher.json missing); "
                                    f"train one with `relevance train teacher` or `make train`")
        self.meta = json.loads(meta_file.read_text())
        self.cfg = TeacherConfig(**self.meta["config"])
        self.backbone = get_backbone(self.cfg.backbone)
        self.name = self.meta.get("name", "teacher")
        self.catalog = catalog
        self.batch_size = batch_size
        base, tok = load_base(self.backbone)
        model = PeftModel.from_pretrained(base, self.path).merge_and_unload()
        model.eval()
        if int8 and device() == "cpu":
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        self.model, self.tok = model, tok
        self.encoder = PairEncoder(tok, self.backbone, self.cfg.max_length, self.cfg.query_max_tokens)
        p = self.meta.get("prior")
        self.prior = make_prior(p.get("kind", "e5-cosine"), catalog, p) if p else None
        self._lock = threading.Lock()  # one forward at a time per model object (torch threads do the rest)

    def predict_pairs(self, queries: Sequence[str], products: Sequence[Mapping], batch_size: int | None = None,
                      progress: bool = False) -> np.ndarray:
        """Probabilities of levels 1…5 for each (query, product) pair, shape (n, 5)."""
        import torch
        from tqdm.auto import tqdm

        n = len(queries)
        out = np.zeros((n, 5), dtype=np.float32)
        if n == 0:
            return out
        bs = batch_size or self.batch_size
        # length bucketing: similar lengths share a batch, so padding is small
        lengths = np.array([len(q) + len(self.encoder.pin_text(p)) for q, p in zip(queries, products)])
        order = np.argsort(lengths, kind="stable")
        dev = next(self.model.parameters()).device
        with self._lock, torch.inference_mode():
            for i in tqdm(range(0, n, bs), desc="teacher scoring", disable=not progress, leave=False):
                idx = order[i:i + bs]
                batch = self.encoder.encode([queries[j] for j in idx], [products[j] for j in idx])
                logits = self.model(**{k: v.to(dev) for k, v in batch.items()}).logits.float().cpu()
                if self.prior is not None:
                    logits = logits + self.prior.logits([queries[j] for j in idx], [products[j] for j in idx])
                out[idx] = torch.softmax(logits, -1).numpy()
        return out

    def predict_proba(self, query: str, product_ids: Sequence[str]) -> np.ndarray:
        if self.catalog is None:
            raise InvalidInputError("this Teacher has no catalog; pass catalog= or use predict_pairs with product dicts")
        q = clean_query(query)
        rows = self.catalog.rows(product_ids).to_dict("records")
        return self.predict_pairs([q] * len(rows), rows)

    def score(self, query: str, product_ids: Sequence[str]) -> np.ndarray:
        p = self.predict_proba(query, product_ids)
        return p @ np.arange(1, 6, dtype=np.float32)


def default_artifact() -> Path:
    return config.path("artifacts_dir") / "teacher"


# ------------------------------------------------------------------------------------------ training

@dataclass
class TrainResult:
    """What ``train_teacher`` made: the artifact folder, the per-epoch dev metrics, the dev pairs (and each
    epoch's dev probabilities when asked for), and the layer cache a further run can reuse."""

    out: Path
    metrics: dict = field(default_factory=dict)
    dev: pd.DataFrame | None = None
    dev_probs: dict[int, np.ndarray] = field(default_factory=dict)
    layer_cache: LayerCache | None = None


SELECTIONS = ("ndcg", "accuracy", "last")


def _dev_metrics(probs: np.ndarray, dev: pd.DataFrame) -> dict:
    """nDCG@20 (esci) over the dev queries with ``LISTWISE_MIN`` or more judged products; 5-class accuracy
    and macro-F1 over all dev pairs; over the pointwise ones (fewer products per query) their accuracy and
    the AUC of the expected level separating exact (5) from irrelevant (1–2) pairs, also per language."""
    from core import metrics

    exp = probs @ np.arange(1, 6)
    listwise = (dev.groupby("query_id")["product_id"].transform("size") >= metrics.LISTWISE_MIN).to_numpy()
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


def _selection_score(m: dict, select: str) -> float:
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
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

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
    backbone = get_backbone(cfg.backbone)
    model, tok = load_base(backbone, for_training=True)
    targets = list(backbone.lora_targets) if isinstance(backbone.lora_targets, tuple) else backbone.lora_targets
    if cfg.freeze_layers:
        targets = lora_targets(model, backbone.lora_targets, cfg.freeze_layers)
    lora = LoraConfig(task_type="SEQ_CLS", r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, modules_to_save=list(backbone.modules_to_save))
    model = get_peft_model(model, lora)
    enc = PairEncoder(tok, backbone, cfg.max_length, cfg.query_max_tokens)
    products = {p: r for p, r in zip(catalog.ids, catalog.products.to_dict("records"))}
    dev_products = [products[p] for p in dev["product_id"]]
    dev_dev = next(model.parameters()).device
    cache = None
    if cfg.freeze_layers:
        cache = layer_cache.attach(model) if layer_cache is not None else LayerCache(model, cfg.freeze_layers)

    def forward(queries: list[str], prods: list[Mapping]):
        """The model's logits for the pairs, through the layer cache when the bottom is frozen."""
        batch = enc.encode(queries, prods)
        if cache is None:
            return model(**{k: v.to(dev_dev) for k, v in batch.items()}).logits
        keys = [(q, p["product_id"]) for q, p in zip(queries, prods)]
        todo = [i for i, k in enumerate(keys) if k not in cache]
        if todo:  # usually the whole batch (each pair once per epoch): then its encoding serves as it is
            new = batch if len(todo) == len(keys) else enc.encode([queries[i] for i in todo], [prods[i] for i in todo])
            cache.fill([keys[i] for i in todo], new)
        with cache.replay(keys, batch):
            return model(**{k: v.to(dev_dev) for k, v in batch.items()}).logits

    prior = make_prior(cfg.prior, catalog)
    if prior is not None:
        prior.fit(train["query"].tolist(), [products[p] for p in train["product_id"]], train["level"].tolist())
        prior.head.to(dev_dev)
    batches = _batches(train, cfg, 0)
    steps_per_epoch = len(batches)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    head = [p for n, p in trainable if "modules_to_save" in n]
    groups = [{"params": [p for n, p in trainable if "modules_to_save" not in n], "lr": cfg.lr},
              {"params": head, "lr": cfg.head_lr if cfg.head_lr is not None else cfg.lr}]
    prior_lr = cfg.lr if cfg.prior_lr is None else cfg.prior_lr
    if prior is not None:
        prior.head.requires_grad_(prior_lr > 0)
        if prior_lr > 0:
            groups.append({"params": list(prior.head.parameters()), "lr": prior_lr})
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = get_linear_schedule_with_warmup(opt, int(cfg.warmup_ratio * steps_per_epoch * cfg.epochs),
                                            steps_per_epoch * cfg.epochs)
    weights = None
    if cfg.balanced:
        counts = np.bincount(train["level"].to_numpy() - 1, minlength=5).astype(float)
        weights = torch.tensor(np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / (counts > 0).sum(), 0.0),
                               dtype=torch.float32, device=dev_dev)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights, label_smoothing=cfg.label_smoothing)

    state = {"epoch": 0, "step": 0, "best": -1.0, "bad_epochs": 0, "history": []}
    ckpt = out / "checkpoint"
    if resume and (ckpt / "state.pt").exists():
        saved = torch.load(ckpt / "state.pt", weights_only=True)  # a planted file cannot run code
        set_peft_model_state_dict(model, saved["adapter"])
        if prior is not None and saved.get("prior"):
            prior.load(saved["prior"])  # in place: the optimizer holds these very parameters
        opt.load_state_dict(saved["opt"])
        sched.load_state_dict(saved["sched"])
        state = saved["state"]
        log.info("resumed from epoch %d step %d", state["epoch"], state["step"])

    def save_checkpoint():
        from peft import get_peft_model_state_dict
        ckpt.mkdir(exist_ok=True)
        tmp = ckpt / "state.pt.tmp"
        torch.save({"adapter": get_peft_model_state_dict(model), "opt": opt.state_dict(),
                    "sched": sched.state_dict(), "state": state,
                    "prior": prior.state() if prior is not None else None}, tmp)
        tmp.replace(ckpt / "state.pt")

    def predict(frame_products, queries):
        model.eval()
        probs = np.zeros((len(queries), 5), dtype=np.float32)
        with torch.inference_mode():
            for i in range(0, len(queries), 64):
                logits = forward(queries[i:i + 64], frame_products[i:i + 64]).float()
                if prior is not None:
                    logits = logits + prior.logits(queries[i:i + 64], frame_products[i:i + 64]).to(dev_dev)
                probs[i:i + 64] = torch.softmax(logits, -1).cpu().numpy()
        model.train()
        return probs

    dev_probs: dict[int, np.ndarray] = {}
    if prior is not None and not state["history"]:
        # epoch 0: the warm-started prior with the untrained head, so the card shows what training adds
        probs = predict(dev_products, dev["query"].tolist())
        m = _dev_metrics(probs, dev)
        m["epoch"] = 0
        if keep_dev_predictions:
            dev_probs[0] = probs
        state["history"].append(m)
        state["best"] = _selection_score(m, cfg.select)
        _save_adapter(model, out)
        state["best_prior"] = prior.state()
        log.info("epoch 0 (prior only): dev nDCG@20 %.4f, accuracy %.3f, pointwise AUC %s", m["ndcg@20_esci"],
                 m["accuracy"], m.get("pointwise_auc"))
    model.train()
    while state["epoch"] < cfg.epochs and (state["bad_epochs"] <= cfg.patience or cfg.select == "last"):
        epoch = state["epoch"]
        batches = _batches(train, cfg, epoch)
        bar = tqdm(range(state["step"], steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   disable=not progress)
        for step in bar:
            rows = train.loc[batches[step]]
            target = torch.tensor(rows["level"].to_numpy() - 1, device=dev_dev)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev_dev.type == "cuda"):
                logits = forward(rows["query"].tolist(), [products[p] for p in rows["product_id"]])
            logits = logits.float()
            if prior is not None:
                logits = logits + prior.logits(rows["query"].tolist(), [products[p] for p in rows["product_id"]]).to(dev_dev)
            loss = loss_fn(logits, target)
            if cfg.listwise > 0:
                loss = loss + cfg.listwise * pairwise_rank_loss(logits, target, rows["query_id"].tolist())
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            bar.set_postfix(loss=f"{loss.item():.3f}")
            state["step"] = step + 1
            if cfg.checkpoint_every and state["step"] % cfg.checkpoint_every == 0:
                save_checkpoint()
        probs = predict(dev_products, dev["query"].tolist())
        m = _dev_metrics(probs, dev)
        m["epoch"] = epoch + 1
        if keep_dev_predictions:
            dev_probs[epoch + 1] = probs
        state["history"].append(m)
        log.info("epoch %d: dev nDCG@20 %.4f, accuracy %.3f, pointwise AUC %s", epoch + 1, m["ndcg@20_esci"],
                 m["accuracy"], m.get("pointwise_auc"))
        if _selection_score(m, cfg.select) > state["best"]:
            state["best"], state["bad_epochs"] = _selection_score(m, cfg.select), 0
            _save_adapter(model, out)
            state["best_prior"] = prior.state() if prior is not None else None
        else:
            state["bad_epochs"] += 1
        state["epoch"], state["step"] = epoch + 1, 0
        save_checkpoint()
    best = max(state["history"], key=lambda h: _selection_score(h, cfg.select))
    meta = {"format": ARTIFACT_FORMAT, "name": name, "config": asdict(cfg), "backbone_source": backbone.source,
            "reads": backbone.reads, "train_pairs": len(train), "train_queries": int(train["query_id"].nunique()),
            "dev_pairs": len(dev), "dev_queries": int(dev["query_id"].nunique()),
            "dev_query_ids": sorted(dev_q), "best_epoch": best["epoch"], "prior": state.get("best_prior")}
    (out / "teacher.json").write_text(json.dumps(meta, indent=1) + "\n")
    return TrainResult(out, {"best": best, "history": state["history"]}, dev=dev, dev_probs=dev_probs,
                       layer_cache=cache)


def _batches(train: pd.DataFrame, cfg: TeacherConfig, epoch: int) -> list[np.ndarray]:
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


def _save_adapter(model, out: Path) -> None:
    """Save the trained tensors only, in fp16 (a few MB)."""
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    model.save_pretrained(out)  # adapter_config.json (+ fp32 weights, replaced below)
    (out / "README.md").unlink(missing_ok=True)  # peft's template; the project writes model_card.md
    sd = {k: v.detach().to(torch.float16).contiguous().cpu() for k, v in get_peft_model_state_dict(model).items()}
    save_file(sd, str(out / "adapter_model.safetensors"))
