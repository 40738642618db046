"""Which queries a model was trained on: the dashboard's held-out default and its captions.

A model artifact says what it saw in its metadata (``artifacts/<model>/teacher.json`` or ``student.json``):
``train_query_ids`` and ``dev_query_ids`` when listed. The committed teacher lists only its dev queries (its
training queries are the rest of the labels it was given, which the metadata does not name), so only its dev
queries are known not to be trained on. Students list neither; ``relevance distill`` leaves every dev query of
its teacher out of their training (``core.workflows.distill``), so a student made by the teacher now in
``artifacts/teacher`` (same fingerprint) inherits that teacher's dev queries. Cheap baselines (bm25, random)
are not trained.

Each query of a selection is then one of:

- ``training``: trained on by a model shown, or not known to be held out by a model whose metadata lists only
  its dev queries (it may have been trained on);
- ``dev``: in the dev split of the trained models shown (not trained on; used to pick the epoch);
- ``held out``: not used by any model shown (no trained model among them, or outside every known list).

``rater-labelled`` is orthogonal: a query with a rater's label in force.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core import config
from core.models.teacher.config import teacher_fingerprint

UNTRAINED = ("bm25", "random")
SCOPES = ("held out", "all")


@dataclass(frozen=True)
class ModelQueries:
    """What a model's metadata says about its queries; None where it says nothing."""

    model: str
    trained: bool
    train: frozenset[str] | None = None
    dev: frozenset[str] | None = None
    source: str = ""

    def known_held_out(self, query_ids: Iterable[str]) -> set[str]:
        """The ``query_ids`` known not to be trained on; all of them when the model lists nothing (see ``note``)."""
        q = set(query_ids)
        if not self.trained or (self.train is None and self.dev is None):
            return q
        if self.train is not None:
            return q - self.train
        return q & self.dev

    @property
    def note(self) -> str | None:
        """A caption when the metadata cannot separate training from held-out queries, else None."""
        if not self.trained or self.train is not None:
            return None
        if self.dev is not None:
            return (f"`{self.model}`: its metadata ({self.source}) lists its {len(self.dev)} dev queries but not its "
                    f"training queries, so only its dev queries count as held out")
        return (f"`{self.model}`: its metadata lists no training queries ({self.source or 'no metadata file'}), so "
                f"its figures may include queries it was trained on")


def _ids(meta: dict, key: str) -> frozenset[str] | None:
    v = meta.get(key)
    return frozenset(map(str, v)) if isinstance(v, list) else None


def model_queries(model: str, artifacts_dir: str | Path | None = None) -> ModelQueries:
    """What ``model``'s artifact metadata says about its training and dev queries."""
    if model in UNTRAINED:
        return ModelQueries(model, trained=False)
    root = Path(artifacts_dir) if artifacts_dir else config.path("artifacts_dir")
    folder = root / model
    for name in ("teacher.json", "student.json"):
        meta_file = folder / name
        if meta_file.exists():
            break
    else:
        return ModelQueries(model, trained=True, source=f"no {model}/teacher.json or student.json")
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError):
        return ModelQueries(model, trained=True, source=f"{model}/{meta_file.name} unreadable")
    source = f"{model}/{meta_file.name}"
    train, dev = _ids(meta, "train_query_ids"), _ids(meta, "dev_query_ids")
    teacher_meta = root / "teacher" / "teacher.json"
    if dev is None and meta.get("teacher") and teacher_meta.exists() \
            and meta["teacher"] == teacher_fingerprint(teacher_meta.parent):
        dev = _ids(json.loads(teacher_meta.read_text()), "dev_query_ids")  # distill leaves them out
        source += " (dev queries: its teacher's)"
    return ModelQueries(model, trained=True, train=train, dev=dev, source=source)


def classify(query_ids: Iterable[str], models: Sequence[ModelQueries]) -> dict[str, str]:
    """query_id -> ``training``, ``dev`` or ``held out`` for the ``models`` shown (see the module's docstring)."""
    out = {}
    trained = [m for m in models if m.trained and (m.train is not None or m.dev is not None)]
    for q in set(query_ids):
        if any(m.train is not None and q in m.train for m in trained) \
                or any(m.train is None and q not in m.dev for m in trained):
            out[q] = "training"
        elif any(m.dev is not None and q in m.dev for m in trained):
            out[q] = "dev"
        else:
            out[q] = "held out"
    return out


def held_out(query_ids: Iterable[str], models: Sequence[ModelQueries]) -> set[str]:
    """The queries not trained on by any of ``models`` (dev and held-out queries)."""
    return {q for q, c in classify(query_ids, models).items() if c != "training"}


def coverage_caption(counts: dict[str, int], rater_labelled: int, scope: str) -> str:
    """E.g. "Covers 34 queries: 34 dev, 0 held out, 0 training; 3 rater-labelled (held-out queries only)"."""
    n = sum(counts.values())
    parts = ", ".join(f"{counts.get(c, 0)} {c}" for c in ("held out", "dev", "training"))
    how = ("held-out queries only: not used to train the models shown" if scope == "held out"
           else "training queries included")
    return f"Covers {n} queries ({parts}; {rater_labelled} rater-labelled) — {how}."
