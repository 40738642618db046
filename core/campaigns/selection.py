"""A grade campaign over pairs picked by hand (the failure explorer's "send to a campaign").

``core.campaigns.create_campaign`` samples its pairs (``core.campaigns.sampling``); this writes a campaign whose
tasks are exactly the given pairs, in the given order, with the same tables and rules, so
``core.campaigns`` serves, answers and reports it like any other (strategy ``selection``).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import insert, select

from core.campaigns.admin import CampaignInfo, get_campaign
from core.errors import CampaignError
from core.store.session import session_scope
from db.models import Campaign, CampaignRater, Task, User

STRATEGY = "selection"


def create_selection_campaign(name: str, pairs: pd.DataFrame, raters: Sequence[str] = (), *, overlap_k: int = 1,
                              lease_seconds: int = 900, created_by: str | None = None,
                              note: str = "", url: str | None = None) -> CampaignInfo:
    """Create a grade campaign with one task per row of ``pairs`` (columns query_pk, product_pk).

    Every task needs ``overlap_k`` ratings from different raters. Duplicated pairs are kept once.

    Raises:
        CampaignError: empty name or selection, a name in use, unknown users or users who cannot rate.
    """
    from core.store.users import RATER_ROLES

    name = (name or "").strip()
    if not name or len(name) > 200:
        raise CampaignError(f"name must be 1–200 characters; got {name!r}")
    if pairs is None or pairs.empty:
        raise CampaignError("the selection is empty; select some pairs first")
    if overlap_k < 1 or (raters and overlap_k > len(raters)):
        raise CampaignError(f"overlap_k={overlap_k} needs at least that many raters; got {len(raters)} raters")
    pairs = pairs[["query_pk", "product_pk"]].astype("int64").drop_duplicates(ignore_index=True)
    with session_scope(url, immediate=True) as s:
        if s.scalar(select(Campaign.id).where(Campaign.name == name)) is not None:
            raise CampaignError(f"campaign {name!r} exists already; pick another name")
        found = {n: (i, role, active) for n, i, role, active in
                 s.execute(select(User.name, User.id, User.role, User.active).where(User.name.in_(list(raters))))}
        for r in raters:
            if r not in found or found[r][1] not in RATER_ROLES or not found[r][2]:
                raise CampaignError(f"user {r!r} cannot rate; raters need an active account with role "
                                    f"{', '.join(RATER_ROLES)}")
        c = Campaign(name=name, kind="grade", strategy=STRATEGY, languages=None, overlap_k=overlap_k,
                     overlap_share=1.0, gold_ratio=0.0, lease_seconds=lease_seconds,
                     config={"n_tasks": len(pairs), "note": note, "models": []}, created_by=created_by)
        s.add(c)
        s.flush()
        s.execute(insert(Task), [dict(campaign_id=c.id, kind="grade", query_pk=int(q), product_pk=int(p),
                                      position=i, required_ratings=overlap_k, ratings_done=0, is_gold=False,
                                      gold_level=None, payload={})
                                 for i, (q, p) in enumerate(zip(pairs["query_pk"], pairs["product_pk"]))])
        for r in dict.fromkeys(raters):
            s.add(CampaignRater(campaign_id=c.id, user_id=found[r][0]))
    return get_campaign(name, url=url)
