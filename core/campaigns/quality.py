r"""Rater quality over time: per rater, and per rater and week, how fast and how well they grade.

Figures (grade campaigns; ratings of source ``human``):

- ``n_labels``: grades submitted (first grades, undone ones included: the time was spent; a change on My labels
  is not a new look at an item and is not counted);
- ``labels_per_hour``: grades per hour of rating time, $n / (\sum_i s_i / 3600)$ with $s_i$ the seconds item
  $i$ was on screen before its grade;
- ``median_seconds`` per item, ``too_fast_share`` (share of grades under the ``too_fast_seconds`` setting) and the
  ``too_fast`` flag: the median under that setting;
- ``gold_accuracy`` over the rater's labels in force on gold tasks (``n_gold``);
- ``consensus_agreement``: share of the rater's labels in force (regular tasks) equal to the lower median of the
  *other* raters of the item, whenever they rated it (``core.metrics.agreement.agreement_with_others``), over
  ``n_consensus`` items; ``kappa_quadratic``: Cohen's κ with quadratic weights (scikit-learn) between the
  rater's levels and that consensus.

A week starts on Monday 00:00 UTC; a grade counts in the week it was submitted, a label in force in the week it
was given (a change counts in the week of the change). ``team`` gives Krippendorff's α (ordinal) of each week's
labels in force on items rated twice or more that week.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import select

from core import config
from core.errors import ConfigError
from core.metrics import agreement as agr
from core.scale import LEVELS
from core.store.session import session_scope
from db.models import Label, Task

FIGURES = ["n_labels", "labels_per_hour", "median_seconds", "too_fast_share", "too_fast", "gold_accuracy", "n_gold",
           "consensus_agreement", "kappa_quadratic", "n_consensus"]
RATER_COLUMNS = ["rater"] + FIGURES
WEEKLY_COLUMNS = ["rater", "week"] + FIGURES
TEAM_COLUMNS = ["week", "n_labels", "n_items_multi", "alpha_ordinal"]


@dataclass(frozen=True)
class RaterQuality:
    """``raters``: one row per rater (``RATER_COLUMNS``); ``weekly``: per rater and week (``WEEKLY_COLUMNS``,
    ``week`` the Monday as a date); ``team``: per week (``TEAM_COLUMNS``); ``too_fast_seconds``: the threshold."""

    raters: pd.DataFrame
    weekly: pd.DataFrame
    team: pd.DataFrame
    too_fast_seconds: float

    @property
    def empty(self) -> bool:
        return self.raters.empty


def too_fast_seconds() -> float:
    """The ``too_fast_seconds`` setting as a number ≥ 0."""
    raw = config.get("too_fast_seconds")
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not value >= 0 or math.isinf(value):
        raise ConfigError(f"RELEVANCE_TOO_FAST_SECONDS must be a number of seconds ≥ 0, e.g. 2; got {raw!r}")
    return value


def rater_quality(url: str | None = None, *, rater: str | None = None, campaign: str | int | None = None,
                  too_fast: float | None = None) -> RaterQuality:
    """The figures of the module docstring for every rater (or one: ``rater``), over all campaigns or one.

    Agreement always compares with every other rater of the item, so one rater's figures are the same alone as
    in the staff's table. ``too_fast`` overrides the setting.
    """
    threshold = too_fast_seconds() if too_fast is None else float(too_fast)
    rows = _label_rows(url, campaign)
    grades = rows[rows["supersedes_id"].isna() & rows["level"].notna()].copy()
    force = rows[~rows["id"].isin(set(rows["supersedes_id"].dropna().astype(int))) & rows["level"].notna()]
    force = force.sort_values("id").drop_duplicates(["task_id", "rater"], keep="last").copy()
    force["item"] = force["query_pk"].astype(str) + ":" + force["product_pk"].astype(str)
    force["level"] = force["level"].astype(int)
    # a pair rated in two campaigns votes once per rater (the latest); gold tasks measure, they do not vote
    regular = force[~force["is_gold"]].drop_duplicates(["item", "rater"], keep="last")
    others = agr.agreement_with_others(regular)
    force["match"], force["others"] = others["match"].reindex(force.index), others["others"].reindex(force.index)
    team = _team(regular)
    if rater is not None:
        grades, force = grades[grades["rater"] == rater], force[force["rater"] == rater]
    raters = _figures(grades, force, ["rater"], threshold)
    weekly = _figures(grades, force, ["rater", "week"], threshold)
    return RaterQuality(raters[RATER_COLUMNS], weekly[WEEKLY_COLUMNS], team, threshold)


def _label_rows(url: str | None, campaign: str | int | None) -> pd.DataFrame:
    stmt = (select(Label.id, Label.supersedes_id, Label.task_id, Label.query_pk, Label.product_pk, Label.rater, Label.level,
                   Label.seconds_spent, Label.created_at, Task.is_gold, Task.gold_level, Task.campaign_id)
            .join(Task, Task.id == Label.task_id).where(Label.source == "human"))
    cols = ["id", "supersedes_id", "task_id", "query_pk", "product_pk", "rater", "level", "seconds", "created_at", "is_gold",
            "gold_level", "campaign_id"]
    with session_scope(url) as s:
        if campaign is not None:
            from core.campaigns.admin import campaign_row
            stmt = stmt.where(Task.campaign_id == campaign_row(s, campaign).id)
        df = pd.DataFrame(s.execute(stmt).all(), columns=cols)
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True)
    day = df["created_at"].dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()
    df["week"] = (day - pd.to_timedelta(day.dt.weekday, unit="D")).dt.date
    df["is_gold"] = df["is_gold"].astype(bool)
    df["seconds"] = df["seconds"].astype(float)
    return df


def _figures(grades: pd.DataFrame, force: pd.DataFrame, keys: list[str], threshold: float) -> pd.DataFrame:
    """The figures per group of ``keys`` (rater, or rater and week)."""
    out = []
    groups = sorted(set(map(tuple, grades[keys].to_numpy())) | set(map(tuple, force[keys].to_numpy())))
    g_by = {k if isinstance(k, tuple) else (k,): v for k, v in grades.groupby(keys)} if len(grades) else {}
    f_by = {k if isinstance(k, tuple) else (k,): v for k, v in force.groupby(keys)} if len(force) else {}
    for key in groups:
        g, f = g_by.get(key, grades.iloc[:0]), f_by.get(key, force.iloc[:0])
        seconds = g["seconds"].dropna()
        total = seconds.sum()
        median = float(seconds.median()) if len(seconds) else math.nan
        gold = f[f["is_gold"] & f["gold_level"].notna()]
        shared = f[f["match"].notna()]
        out.append(dict(zip(keys, key)) | {
            "n_labels": len(g), "labels_per_hour": 3600 * len(seconds) / total if total > 0 else math.nan,
            "median_seconds": median,
            "too_fast_share": float((seconds < threshold).mean()) if len(seconds) else math.nan,
            "too_fast": bool(median < threshold) if len(seconds) else False,
            "gold_accuracy": float((gold["level"] == gold["gold_level"]).mean()) if len(gold) else math.nan,
            "n_gold": len(gold),
            "consensus_agreement": float(shared["match"].astype(bool).mean()) if len(shared) else math.nan,
            "kappa_quadratic": _kappa(shared["level"], shared["others"]), "n_consensus": len(shared)})
    return pd.DataFrame(out, columns=keys + FIGURES)


def _kappa(levels: pd.Series, others: pd.Series) -> float:
    """Quadratic-weighted Cohen's κ of a rater against the others' consensus; NaN when undefined."""
    from sklearn.metrics import cohen_kappa_score

    if len(levels) < 2 or len(set(levels) | set(others.astype(int))) < 2:
        return math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        k = cohen_kappa_score(levels.astype(int), others.astype(int), labels=list(LEVELS), weights="quadratic")
    return float(k) if np.isfinite(k) else math.nan


def _team(regular: pd.DataFrame) -> pd.DataFrame:
    """Krippendorff's α (ordinal) per week over the labels in force given that week."""
    out = []
    for week, part in regular.groupby("week", sort=True):
        multi = part[part.groupby("item")["item"].transform("size") >= 2]
        alpha = agr.krippendorff_alpha(multi[["item", "rater", "level"]]) if multi["item"].nunique() >= 2 else math.nan
        out.append({"week": week, "n_labels": len(part), "n_items_multi": int(multi["item"].nunique()),
                    "alpha_ordinal": alpha})
    return pd.DataFrame(out, columns=TEAM_COLUMNS)
