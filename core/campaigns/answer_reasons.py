"""Reasons given with side-by-side answers: the short list the Compare page offers (keys 1–4) and how often each
was given for each outcome.

A reason is optional and stored as its text in ``comparisons.reason`` (``submit_comparison(..., reason=...)``);
answers in force only (an undone answer is left out), each counted once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import select

from core.campaigns.admin import campaign_row
from core.errors import InvalidInputError
from core.store.session import session_scope
from db.models import Comparison, Task

COMPARE_REASONS = ("more relevant top results", "better language match", "fewer irrelevant items", "other")
COLUMNS = ["campaign", "outcome", "reason", "n", "share"]


def side_by_side_reasons(campaign: str | int, url: str | None = None) -> pd.DataFrame:
    """How often each reason came with each outcome in a side-by-side campaign.

    Returns:
        Columns campaign, outcome (``<model> better``, named after the campaign's models, or ``tie``), reason
        (``(none)`` when the rater gave none), n, share (of that outcome's answers). Empty without answers.
    """
    with session_scope(url) as s:
        c = campaign_row(s, campaign)
        if c.kind != "side_by_side":
            raise InvalidInputError(f"campaign {c.name!r} is a {c.kind} campaign; reasons come with side_by_side ones")
        rows = s.execute(select(Comparison.id, Comparison.supersedes_id, Comparison.retracted, Comparison.answer,
                                Comparison.model_a, Comparison.model_b, Comparison.reason)
                         .join(Task, Task.id == Comparison.task_id).where(Task.campaign_id == c.id)).all()
        name = c.name
    df = pd.DataFrame(rows, columns=["id", "supersedes_id", "retracted", "answer", "model_a", "model_b", "reason"])
    df = df[~df["id"].isin(set(df["supersedes_id"].dropna().astype(int))) & ~df["retracted"].astype(bool)]
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    winner = np.where(df["answer"] == "A", df["model_a"], np.where(df["answer"] == "B", df["model_b"], ""))
    df["outcome"] = [f"{w} better" if w else "tie" for w in winner]
    df["reason"] = df["reason"].fillna("(none)")
    out = df.groupby(["outcome", "reason"]).size().rename("n").reset_index()
    out["share"] = out["n"] / out.groupby("outcome")["n"].transform("sum")
    return out.assign(campaign=name)[COLUMNS].sort_values(["outcome", "n"], ascending=[True, False],
                                                           ignore_index=True)
