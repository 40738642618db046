"""What a new campaign asks for (``CampaignSpec``, checked on creation) and the choices it offers."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core.errors import CampaignError


log = logging.getLogger(__name__)

KINDS = ("grade", "side_by_side")
STRATEGIES = ("random", "language-stratified", "disagreement", "uncertainty", "pool")
MEASURES = ("expected", "js")
CANDIDATES = ("auto", "store", "bm25")
MAX_INSTRUCTIONS = 20_000  # characters of a campaign's instructions (Markdown)


@dataclass(frozen=True)
class CampaignSpec:
    """Settings of a new campaign (see ``core.campaigns.sampling`` for the strategies and candidates).

    ``overlap_share`` of the sampled tasks need ``overlap_k`` ratings (from different raters), the rest one.
    ``gold_ratio`` is the share of each rater's tasks drawn from gold pairs (labels of ``gold_sources``);
    ``n_gold`` gold tasks are created (default: enough for one rater doing every task). ``instructions``
    (Markdown) are shown to the raters on Rate and Compare (``core.campaigns.lifecycle``).
    """

    name: str
    kind: str = "grade"
    strategy: str = "random"
    n_tasks: int = 100
    languages: tuple[str, ...] = ()
    raters: tuple[str, ...] = ()
    overlap_k: int = 1
    overlap_share: float = 1.0
    gold_ratio: float = 0.0
    gold_sources: tuple[str, ...] = ("gold",)
    n_gold: int | None = None
    lease_seconds: int = 900
    models: tuple[str, ...] = ("teacher", "student")
    measure: str = "expected"
    candidates: str = "auto"
    bm25_k: int = 20
    rerank_depth: int = 100
    pool_depth: int = 10
    sbs_k: int = 10
    unlabelled_only: bool = False
    seed: int = 0
    created_by: str | None = None
    dataset: str | None = None
    instructions: str = ""

    def __post_init__(self):
        for name in ("languages", "raters", "gold_sources", "models"):
            value = getattr(self, name)
            object.__setattr__(self, name, tuple(x.strip() for x in ([value] if isinstance(value, str) else value)
                                                 if x and x.strip()))
        object.__setattr__(self, "dataset", (self.dataset or "").strip() or None)
        object.__setattr__(self, "instructions", (self.instructions or "").strip())
        checks = [
            (bool(self.name and self.name.strip()) and len(self.name) <= 200, "name must be 1–200 characters",
             self.name),
            (self.kind in KINDS, f"kind must be one of {', '.join(KINDS)}", self.kind),
            (self.strategy in STRATEGIES, f"strategy must be one of {', '.join(STRATEGIES)}", self.strategy),
            (self.kind == "grade" or self.strategy in ("random", "language-stratified"),
             "side-by-side campaigns sample queries: strategy must be random or language-stratified", self.strategy),
            (self.n_tasks >= 1, "n_tasks must be at least 1", self.n_tasks),
            (self.overlap_k >= 1, "overlap_k must be at least 1", self.overlap_k),
            (0 <= self.overlap_share <= 1, "overlap_share must be within [0, 1]", self.overlap_share),
            (0 <= self.gold_ratio < 1, "gold_ratio must be within [0, 1)", self.gold_ratio),
            (self.kind == "grade" or self.gold_ratio == 0, "gold items apply to grade campaigns only; set gold_ratio=0",
             self.gold_ratio),
            (self.lease_seconds > 0, "lease_seconds must be positive", self.lease_seconds),
            (self.measure in MEASURES, f"measure must be one of {', '.join(MEASURES)}", self.measure),
            (self.candidates in CANDIDATES, f"candidates must be one of {', '.join(CANDIDATES)}", self.candidates),
            (len(self.models) >= (2 if self.kind == "side_by_side" or self.strategy == "disagreement" else 1),
             "this campaign compares two models: give models=(first, second)", self.models),
            (not self.raters or self.overlap_k <= len(self.raters),
             f"overlap_k={self.overlap_k} needs at least that many raters; add raters or lower overlap_k",
             f"{len(self.raters)} raters"),
            (len(self.instructions) <= MAX_INSTRUCTIONS, f"instructions must be at most {MAX_INSTRUCTIONS:,} characters",
             f"{len(self.instructions):,} characters"),
        ]
        for ok, expected, got in checks:
            if not ok:
                raise CampaignError(f"{expected}; got {got!r}")

    @property
    def scores_live(self) -> bool:
        """Whether sampling runs the models over candidate lists (side-by-side lists, the pool strategy); the other
        model-based strategies read stored predictions."""
        return self.kind == "side_by_side" or self.strategy == "pool"

    def config(self) -> dict:
        """The sampling settings (and the raters' instructions, when given) kept in ``campaigns.config``."""
        out = {k: getattr(self, k) for k in ("n_tasks", "models", "measure", "candidates", "bm25_k", "rerank_depth",
                                             "pool_depth", "sbs_k", "gold_sources", "n_gold", "unlabelled_only",
                                             "seed", "dataset")}
        return out | ({"instructions": self.instructions} if self.instructions else {})
