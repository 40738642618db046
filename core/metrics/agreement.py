r"""Inter-rater agreement over plain data (DESIGN.md, ``relevance agreement``).

Input is a table of ratings with columns ``item`` (a pair key), ``rater`` and ``level``, and optionally
``seconds`` (time spent) and ``gold_level`` (the trusted level of a gold item). Levels live on an
ordered domain (``levels``, by default the 5-point scale 1…5); "within one" and the quadratic weights
count steps along that domain, so a file on the ESCI scale (I, C, S, E mapped to 1, 3, 4, 5) has C and S
one step apart. Nothing here touches the store: ``core.campaigns.consensus`` reads labels and calls these.

Figures:

- Krippendorff's α, ordinal (``krippendorff`` package), over items with ≥ 2 ratings;
- mean pairwise Cohen's κ with quadratic weights (scikit-learn), over rater pairs sharing ≥ ``min_shared``
  items;
- exact and within-one agreement: the share of agreeing rater pairs, pooled over items;
- per rater: count, median seconds, agreement with the others' consensus, gold accuracy, level
  distribution against everyone's (total variation distance), and flags under ``Thresholds``.

References:
    Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability. Annenberg School for
    Communication, University of Pennsylvania. Cohen, J. (1968). Weighted kappa. Psychological
    Bulletin 70(4).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from core.errors import InvalidInputError
from core.jsonable import jsonable
from core.scale import LEVELS

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Thresholds:
    """When a rater is flagged. A gold or consensus figure counts only from ``min_items`` items on."""

    min_gold_accuracy: float = 0.5
    min_consensus_agreement: float = 0.4
    max_level_tvd: float = 0.5
    min_items: int = 5


@dataclass(frozen=True)
class AgreementReport:
    """The figures of ``agreement``; ``to_dict()`` is the ``--json`` object (NaN becomes null)."""

    alpha_ordinal: float
    kappa_quadratic: float
    exact: float
    within_one: float
    n_items_multi: int
    raters: pd.DataFrame = field(repr=False)
    n_items: int = 0
    n_labels: int = 0
    kappa_pairs: int = 0
    min_shared: int = 0
    levels: tuple = LEVELS

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "raters"}
        d["levels"] = list(self.levels)
        d["raters"] = self.raters.to_dict("records")
        return jsonable(d)

    @property
    def flagged(self) -> list[str]:
        return self.raters.loc[self.raters["flagged"], "rater"].tolist()


def agreement(ratings: pd.DataFrame, *, levels: Sequence = LEVELS, min_shared: int = 5,
              thresholds: Thresholds = Thresholds()) -> AgreementReport:
    """All agreement figures of a ratings table (see the module docstring).

    Args:
        ratings: columns item, rater, level (+ optional seconds, gold_level); one rating per (item, rater).
        levels: the ordered level domain.
        min_shared: a rater pair enters the mean κ only when it shares at least this many items.
        thresholds: when ``rater_report`` flags a rater.

    Returns:
        An ``AgreementReport``. Undefined figures (no item with two ratings, a single level used) are NaN.
    """
    df = check_ratings(ratings, levels)
    exact, within, n_multi = pairwise_agreement(df, levels)
    kappa, n_pairs = mean_pairwise_kappa(df, levels, min_shared)
    return AgreementReport(alpha_ordinal=krippendorff_alpha(df, levels), kappa_quadratic=kappa, exact=exact,
                           within_one=within, n_items_multi=n_multi, raters=rater_report(df, levels, thresholds),
                           n_items=int(df["item"].nunique()), n_labels=len(df), kappa_pairs=n_pairs,
                           min_shared=min_shared, levels=tuple(levels))


def check_ratings(ratings: pd.DataFrame, levels: Sequence = LEVELS) -> pd.DataFrame:
    """Validate a ratings table; return it with a clean index. Raises ValueError saying what is wrong."""
    missing = [c for c in ("item", "rater", "level") if c not in ratings.columns]
    if missing:
        raise InvalidInputError(f"ratings need the columns item, rater, level; missing {', '.join(missing)} "
                         f"(got {', '.join(map(str, ratings.columns))})")
    df = ratings.reset_index(drop=True)
    bad = ~df["level"].isin(list(levels))
    if bad.any():
        got = sorted(set(df.loc[bad, "level"].tolist()), key=str)[:10]
        raise InvalidInputError(f"levels must be one of {list(levels)}; got {got}")
    dup = df.duplicated(["item", "rater"])
    if dup.any():
        first = df.loc[dup].iloc[0]
        raise InvalidInputError(f"{int(dup.sum())} repeated (item, rater) ratings, e.g. rater {first['rater']!r} on item "
                         f"{first['item']!r}; keep one rating per rater and item (the latest)")
    return df


def krippendorff_alpha(ratings: pd.DataFrame, levels: Sequence = LEVELS) -> float:
    r"""Krippendorff's α with the ordinal metric, by the ``krippendorff`` package.

    $$
    \alpha = 1 - \frac{D_o}{D_e},\quad
    D_o = \frac1n \sum_{c,k} o_{ck}\,\delta^2_{ck},\quad
    D_e = \frac{1}{n(n-1)} \sum_{c,k} n_c n_k\,\delta^2_{ck},\quad
    \delta^2_{ck} = \Big(\sum_{g=c}^{k} n_g - \frac{n_c + n_k}{2}\Big)^2
    $$

    where $o_{ck}$ counts ordered pairs of values $(c, k)$ within items (each item weighted by
    $1/(m_u - 1)$ for its $m_u$ ratings), $n_c$ is how often value $c$ is pairable and $n$ the number
    of pairable values. Items with one rating are not pairable. Returns NaN when fewer than two distinct
    levels are pairable (D_e = 0).
    """
    import krippendorff

    multi = ratings[ratings.groupby("item")["item"].transform("size") >= 2]
    if multi["level"].nunique() < 2:
        return math.nan
    counts = pd.crosstab(multi["item"], multi["level"]).reindex(columns=list(levels), fill_value=0)
    return float(krippendorff.alpha(value_counts=counts.to_numpy(), value_domain=list(levels),
                                    level_of_measurement="ordinal"))


def mean_pairwise_kappa(ratings: pd.DataFrame, levels: Sequence = LEVELS, min_shared: int = 5) -> tuple[float, int]:
    r"""Mean over rater pairs of Cohen's κ with quadratic weights (scikit-learn ``cohen_kappa_score``).

    $$
    \kappa_w = 1 - \frac{\sum_{ij} w_{ij} O_{ij}}{\sum_{ij} w_{ij} E_{ij}},\qquad
    w_{ij} = (i - j)^2,\qquad E_{ij} = \frac{O_{i\cdot}\,O_{\cdot j}}{n}
    $$

    over the $n$ items both raters rated, $i, j$ being positions in ``levels``. Pairs sharing fewer
    than ``min_shared`` items are left out, and so are pairs whose κ is undefined (both raters gave one
    and the same level throughout). Returns (mean κ or NaN, number of pairs averaged).
    """
    from sklearn.metrics import cohen_kappa_score

    wide = ratings.pivot(index="item", columns="rater", values="level")
    present = wide.notna().to_numpy()
    values = wide.to_numpy()
    kappas = []
    for a, b in itertools.combinations(range(wide.shape[1]), 2):
        both = present[:, a] & present[:, b]
        if both.sum() < max(min_shared, 1):
            continue
        x, y = values[both, a], values[both, b]
        if len(set(x.tolist()) | set(y.tolist())) < 2:
            continue
        kappas.append(cohen_kappa_score(x.astype(int), y.astype(int), labels=list(levels), weights="quadratic"))
    kappas = [k for k in kappas if not math.isnan(k)]
    return (float(np.mean(kappas)) if kappas else math.nan), len(kappas)


def pairwise_agreement(ratings: pd.DataFrame, levels: Sequence = LEVELS) -> tuple[float, float, int]:
    r"""Exact and within-one agreement of rater pairs, pooled over items with ≥ 2 ratings.

    $$
    \text{exact} = \frac{\sum_u \sum_c \binom{n_{uc}}{2}}{\sum_u \binom{m_u}{2}},\qquad
    \text{within-one} = \frac{\sum_u \big[\sum_c \binom{n_{uc}}{2} + \sum_c n_{uc}\,n_{u,c+1}\big]}
                             {\sum_u \binom{m_u}{2}}
    $$

    with $n_{uc}$ the ratings of item $u$ at level $c$, $c+1$ the next level of the domain and $m_u$ the
    item's number of ratings. Returns (exact, within_one, number of items with ≥ 2 ratings).
    """
    counts = pd.crosstab(ratings["item"], ratings["level"]).reindex(columns=list(levels), fill_value=0).to_numpy()
    m = counts.sum(axis=1)
    counts = counts[m >= 2]
    m = m[m >= 2]
    if len(m) == 0:
        return math.nan, math.nan, 0
    pairs = (m * (m - 1) / 2).sum()
    same = (counts * (counts - 1) / 2).sum()
    adjacent = (counts[:, :-1] * counts[:, 1:]).sum()
    return float(same / pairs), float((same + adjacent) / pairs), int(len(m))


def lower_median(values: Sequence) -> int:
    """The lower median: the ⌈n/2⌉-th smallest value (of 3 and 4, 3)."""
    v = np.sort(np.asarray(values))
    return v[(len(v) - 1) // 2].item()


def rater_report(ratings: pd.DataFrame, levels: Sequence = LEVELS,
                 thresholds: Thresholds = Thresholds()) -> pd.DataFrame:
    r"""Per-rater figures and flags, one row per rater (sorted by name).

    Columns: rater, n_labels, median_seconds, consensus_agreement (share of the rater's ratings equal to
    the lower median of the *other* raters of the same item, over items with ≥ 2 ratings), n_consensus,
    gold_accuracy and gold_within_one (against ``gold_level``), n_gold, level_shares (level -> share),
    level_tvd (total variation distance $\frac12\sum_l |p_{r,l} - p_l|$ to everyone's distribution),
    flags (reasons) and flagged.
    """
    rank = {lv: i for i, lv in enumerate(levels)}
    overall = ratings["level"].value_counts(normalize=True).reindex(list(levels), fill_value=0.0)
    loo = _leave_one_out_match(ratings)
    rows = []
    for rater, df in ratings.groupby("rater", sort=True):
        shares = df["level"].value_counts(normalize=True).reindex(list(levels), fill_value=0.0)
        row = {"rater": rater, "n_labels": len(df),
               "median_seconds": float(df["seconds"].median()) if "seconds" in df and df["seconds"].notna().any()
               else math.nan}
        matches = loo[loo["rater"] == rater]["match"]
        row["consensus_agreement"] = float(matches.mean()) if len(matches) else math.nan
        row["n_consensus"] = int(len(matches))
        gold = df[df["gold_level"].notna()] if "gold_level" in df else df.iloc[:0]
        ranks = gold["level"].map(rank).to_numpy(dtype=float)
        gold_ranks = gold["gold_level"].map(rank).to_numpy(dtype=float) if len(gold) else ranks
        row["gold_accuracy"] = float((ranks == gold_ranks).mean()) if len(gold) else math.nan
        row["gold_within_one"] = float((np.abs(ranks - gold_ranks) <= 1).mean()) if len(gold) else math.nan
        row["n_gold"] = int(len(gold))
        row["level_shares"] = {int(k) if isinstance(k, (int, np.integer)) else k: round(float(v), 4)
                               for k, v in shares.items()}
        row["level_tvd"] = float(0.5 * np.abs(shares.to_numpy() - overall.to_numpy()).sum())
        row["flags"] = _flags(row, thresholds)
        row["flagged"] = bool(row["flags"])
        rows.append(row)
    columns = ["rater", "n_labels", "median_seconds", "consensus_agreement", "n_consensus", "gold_accuracy",
               "gold_within_one", "n_gold", "level_shares", "level_tvd", "flags", "flagged"]
    return pd.DataFrame(rows, columns=columns)


def agreement_with_others(ratings: pd.DataFrame) -> pd.DataFrame:
    """Per rating, the lower median of the *other* ratings of its item (``others``) and whether the rating equals
    it (``match``); both empty (NaN / NA) for an item rated once. Same index as ``ratings`` (columns item, level),
    so figures over any slice of the ratings (a week, one rater) compare with the item's other raters whenever
    they rated it."""
    others = pd.Series(np.nan, index=ratings.index, dtype=float)
    multi = ratings[ratings.groupby("item")["item"].transform("size") >= 2]
    for _, df in multi.groupby("item", sort=False):
        lv = df["level"].to_numpy()
        others.loc[df.index] = [lower_median(np.delete(lv, i)) for i in range(len(lv))]
    match = (ratings["level"] == others).astype("boolean").where(others.notna())
    return pd.DataFrame({"others": others, "match": match})


def _leave_one_out_match(ratings: pd.DataFrame) -> pd.DataFrame:
    """(rater, match) for each rating of an item with ≥ 2 ratings: does it equal the others' lower median?"""
    multi = ratings[ratings.groupby("item")["item"].transform("size") >= 2]
    out = []
    for _, df in multi.groupby("item", sort=False):
        lv = df["level"].to_numpy()
        for i, rater in enumerate(df["rater"].to_numpy()):
            out.append((rater, lv[i] == lower_median(np.delete(lv, i))))
    return pd.DataFrame(out, columns=["rater", "match"])


def _flags(row: dict, t: Thresholds) -> list[str]:
    flags = []
    if row["n_gold"] >= t.min_items and row["gold_accuracy"] < t.min_gold_accuracy:
        flags.append(f"gold accuracy {row['gold_accuracy']:.2f} < {t.min_gold_accuracy:.2f} "
                     f"on {row['n_gold']} gold items")
    if row["n_consensus"] >= t.min_items and row["consensus_agreement"] < t.min_consensus_agreement:
        flags.append(f"agreement with consensus {row['consensus_agreement']:.2f} < {t.min_consensus_agreement:.2f} "
                     f"on {row['n_consensus']} shared items")
    if row["n_labels"] >= t.min_items and row["level_tvd"] > t.max_level_tvd:
        flags.append(f"level distribution differs from everyone's (TVD {row['level_tvd']:.2f} > {t.max_level_tvd:.2f})")
    return flags


def wilson_interval(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    r"""Wilson score interval of a proportion $\hat p = x/n$ (Wilson, 1927).

    $$
    \frac{\hat p + \frac{z^2}{2n} \pm z\sqrt{\frac{\hat p(1-\hat p)}{n} + \frac{z^2}{4n^2}}}{1 + \frac{z^2}{n}}
    $$

    Returns (NaN, NaN) when n is 0.
    """
    if n <= 0:
        return math.nan, math.nan
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)
