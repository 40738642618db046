"""A small store for the app tests (AppTest and the browser): the demo catalog, judgments of four demo
queries (tagged en, en, es, de), users of every role and two campaigns; ``add_pointwise`` adds a second,
pointwise data set (one judged product per query, in en, es and ja) from the bundled esci_multilingual."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DEMO = Path(__file__).resolve().parent.parent / "data" / "esci_us"
MULTILINGUAL = DEMO.parent / "esci_multilingual"
POINTWISE = "small_ml"
# name -> (role, password)
USERS = {"ada": ("admin", "ada-password"), "rita": ("rater", "rita-password"), "rex": ("researcher", "rex-password"),
         "vic": ("viewer", "vic-password")}
LANGUAGES = ("en", "en", "es", "de")
GRADE, SBS = "grade-1", "sbs-1"


def small_judgments(out: Path) -> Path:
    j = pd.read_csv(DEMO / "judgments.csv")
    queries = j["query_id"].drop_duplicates().tolist()[:len(LANGUAGES)]
    j = j[j["query_id"].isin(queries)].copy()
    j["language"] = j["query_id"].map(dict(zip(queries, LANGUAGES)))
    j.to_csv(out, index=False)
    return out


def add_pointwise(url: str, workdir: Path, per_language: tuple[int, int] = (5, 3)) -> str:
    """Import a pointwise data set ``small_ml``: per language (en, es, ja) the first ``per_language[0]`` exact
    and ``per_language[1]`` irrelevant pairs of esci_multilingual, with their products (which carry a language)."""
    from core.ingest import import_judgments, import_products

    j = pd.read_csv(MULTILINGUAL / "judgments.csv")
    exact, irrelevant = per_language
    j = pd.concat([g[g["esci_label"] == "E"].head(exact) for _, g in j.groupby("language")]
                  + [g[g["esci_label"] == "I"].head(irrelevant) for _, g in j.groupby("language")])
    products = pd.read_json(MULTILINGUAL / "products.jsonl.gz", lines=True)
    products[products["product_id"].isin(set(j["product_id"]))].to_json(workdir / "ml_products.jsonl",
                                                                         orient="records", lines=True)
    j.to_csv(workdir / "ml_judgments.csv", index=False)
    import_products(workdir / "ml_products.jsonl", name=POINTWISE, url=url)
    import_judgments(workdir / "ml_judgments.csv", name=POINTWISE, url=url)
    return url


def prepare(url: str, workdir: Path, *, campaigns: bool = True, users: dict = USERS) -> str:
    """Fill a store that holds the demo catalog: judgments, users and (optionally) the two campaigns."""
    from core.campaigns import CampaignSpec, create_campaign
    from core.ingest import import_judgments
    from core.store.users import add_user

    import_judgments(small_judgments(workdir / "judgments.csv"), name="small", url=url)
    for name, (role, password) in users.items():
        add_user(name, role, password, url=url)
    if campaigns:
        create_campaign(CampaignSpec(name=GRADE, n_tasks=15, raters=("rita", "rex", "ada"), candidates="store"),
                        url=url)
        create_campaign(CampaignSpec(name=SBS, kind="side_by_side", n_tasks=3, raters=("rita", "rex", "ada"),
                                     models=("bm25", "random"), sbs_k=5), url=url)
    return url


def write_predictions(url: str, artifacts: Path, models=("teacher", "student"), seed: int = 0) -> dict[str, Path]:
    """Parquet predictions (as ``relevance score MODEL --judged`` writes them) for every labelled pair."""
    from core.workflows.analytics import labels_frame

    labels = labels_frame(url)
    rng = np.random.default_rng(seed)
    out = {}
    for model in models:
        probs = rng.dirichlet(np.ones(5), size=len(labels))
        df = labels[["query_id", "query", "product_id"]].reset_index(drop=True)
        df[["p1", "p2", "p3", "p4", "p5"]] = probs
        df["expected"] = probs @ np.arange(1, 6)
        df["argmax"] = probs.argmax(1) + 1
        path = artifacts / model / "predictions" / "judged.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        df.to_parquet(path, index=False)
        out[model] = path
    return out
