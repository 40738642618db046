"""Forms of the admin and researcher pages: imports and campaigns (the Users page has ui.users)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from core import config, ingest as imports
from core.errors import ImportValidationError
from core.safe_csv import to_csv
from core.scale import SCALES
from core.store import users

IMPORTERS = {"products": imports.import_products, "judgments": imports.import_judgments,
             "queries": imports.import_queries}


def import_form() -> None:
    """Upload a products / judgments / query-log file; a failed validation is shown as a table of bad rows."""
    kind = st.segmented_control("What", list(IMPORTERS), default="judgments", key="data_import_kind")
    upload = st.file_uploader("File (CSV, JSONL(.gz) or Parquet)", type=["csv", "jsonl", "gz", "parquet", "json"],
                              key="data_import_file")
    c1, c2, c3 = st.columns(3)
    name = c1.text_input("Import name (labels get source import:NAME)", key="data_import_name",
                         placeholder="default: the file name")
    scale = c2.selectbox("Scale (judgments)", ["auto", *SCALES], key="data_import_scale",
                         disabled=kind != "judgments", help="auto: from the column (level, esci_label)")
    skip_bad = c3.checkbox("Import the valid rows, skip bad ones", key="data_import_skip")
    if not st.button("Import", key="data_import_go", type="primary", disabled=upload is None or kind is None):
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(upload.name).name
        path.write_bytes(upload.getvalue())
        kwargs = dict(name=name.strip() or None, skip_bad_rows=skip_bad)
        if kind == "judgments" and scale != "auto":
            kwargs["scale"] = scale
        try:
            with st.spinner(f"Validating and importing {upload.name}…"):
                report = IMPORTERS[kind](path, **kwargs)
        except ImportValidationError as exc:
            st.error(f"{exc.file_name}: {len(exc.errors)} bad row(s); nothing was imported.")
            validation_table(exc)
            return
        except ValueError as exc:
            st.error(str(exc))
            return
    st.success(report.summary())
    if report.skipped:
        st.dataframe(pd.DataFrame([e.__dict__ for e in report.skipped]), hide_index=True, width="stretch")


def validation_table(exc: ImportValidationError) -> None:
    df = pd.DataFrame([{"row": e.row or "file", "column": e.column, "problem": e.message} for e in exc.errors])
    st.dataframe(df, hide_index=True, width="stretch", height=min(400, 40 + 35 * len(df)))
    st.download_button("Download the validation report (CSV)", to_csv(df),
                       f"{Path(exc.file_name).stem}_errors.csv", "text/csv", key="data_import_errors_csv",
                       on_click="ignore")


def trained(model: str) -> bool:
    """Whether ``artifacts/<model>`` holds a trained model (its JSON metadata), not just a checkpoint."""
    folder = config.path("artifacts_dir") / model
    return folder.is_dir() and any(folder.glob("*.json"))


def rater_names() -> list[str]:
    from core.store.users import RATER_ROLES
    return [u.name for u in users.list_users() if u.role in RATER_ROLES and u.active]


LANGUAGE_NAMES = {"en": "English", "es": "Spanish", "de": "German", "fr": "French", "it": "Italian",
                  "pt": "Portuguese", "nl": "Dutch", "ja": "Japanese", "zh": "Chinese", "ko": "Korean",
                  "pl": "Polish", "tr": "Turkish", "sv": "Swedish"}


def stored_languages() -> dict[str, int]:
    """The languages of the stored queries (whatever they are, not a fixed list) -> number of queries."""
    from core.store.datasets import query_languages

    return query_languages()


def language_label(code: str, counts: dict[str, int]) -> str:
    name, n = LANGUAGE_NAMES.get(code), counts.get(code, 0)
    return f"{code}{f' ({name})' if name else ''}: {n:,} quer{'y' if n == 1 else 'ies'}"


def dataset_options() -> dict[str | None, str]:
    """None (every query) and each data set with labels -> its label in the campaign form."""
    from core.store.datasets import datasets

    sets = datasets()
    options: dict[str | None, str] = {None: "all stored queries"}
    for r in sets.itertuples():
        options[r.dataset] = f"{r.dataset}: {r.queries:,} quer{'y' if r.queries == 1 else 'ies'} ({r.languages or '?'})"
    return options


CHEAP_MODELS = {"bm25", "random"}  # rank a query's candidates in milliseconds: fine inside the web server


def _start_campaign_job(spec) -> None:
    """``relevance campaign create`` for ``spec`` as a background job (progress, stop and log under the form)."""
    from core.campaigns.admin import check_new
    from core.cli.campaigns import create_args
    from core.workflows import jobs

    check_new(spec)  # a taken name or an unknown rater is said now, not in the job's log
    instructions = Path(tempfile.mkdtemp(prefix="campaign-")) / "instructions.md" if spec.instructions else None
    jobs.start(jobs.relevance_argv(*create_args(spec, instructions)), f"campaign {spec.name}")
    st.session_state["data_campaign_created"] = True
    st.session_state["data_flash"] = (f"Creating {spec.kind} campaign **{spec.name}** in the background: "
                                      f"{', '.join(spec.models[:2])} rank each query's candidates. Its progress "
                                      f"is under **Campaign jobs** below; the campaign appears when it is done.")
    st.rerun()


def gold_source_options() -> dict[str, str]:
    """Label sources usable as gold -> their label in the form, e.g. ``esci_us (import): 5,368 pairs``."""
    from core.store.datasets import IMPORT_PREFIX, gold_sources

    return {src: (f"{src[len(IMPORT_PREFIX):]} (import)" if src.startswith(IMPORT_PREFIX) else src)
            + f": {n:,} pair{'s' if n != 1 else ''}" for src, n in gold_sources().items()}


def campaign_form(created_by: str) -> None:
    """Create a campaign (``core.campaigns.create_campaign``); errors say what to change."""
    from core.campaigns import CampaignError, CampaignSpec, create_campaign
    from core.models.registry import available
    from core.campaigns.spec import CANDIDATES, STRATEGIES

    if st.session_state.pop("data_campaign_created", False):  # a fresh name field after a campaign was made
        st.session_state["data_campaign_name"] = ""
    with st.form("data_campaign_form"):
        c1, c2, c3 = st.columns(3)
        name = c1.text_input("Name", key="data_campaign_name")
        kind = c2.selectbox("Kind", ["grade", "side_by_side"], key="data_campaign_kind")
        strategy = c3.selectbox("Sampling", STRATEGIES, key="data_campaign_strategy",
                                help="side_by_side: random or language-stratified")
        c1, c2, c3, c4 = st.columns(4)
        n_tasks = c1.number_input("Tasks (pairs; queries for side_by_side)", 1, 100_000, 50, key="data_campaign_n")
        counts, sets = stored_languages(), dataset_options()
        languages = c2.multiselect("Languages (empty: all)", list(counts), key="data_campaign_languages",
                                   format_func=lambda c: language_label(c, counts),
                                   help="The query languages in the store. Random and BM25 candidates pair a "
                                        "query with products of its language when the catalog has any.")
        dataset = c3.selectbox("Data set", list(sets), format_func=sets.get, key="data_campaign_dataset",
                               help="Sample only the queries labelled in this data set (an import, or the "
                                    "raters' labels)")
        raters = c4.multiselect("Raters", rater_names(), key="data_campaign_raters")
        c1, c2, c3, c4 = st.columns(4)
        overlap_k = c1.number_input("Ratings per overlapping task", 1, 10, 1, key="data_campaign_overlap_k")
        overlap_share = c2.slider("Share of tasks overlapping", 0.0, 1.0, 1.0, key="data_campaign_overlap_share")
        gold_ratio = c3.slider("Gold share", 0.0, 0.5, 0.0, key="data_campaign_gold",
                               help="Share of each rater's tasks drawn from pairs with trusted levels; their answers "
                                    "measure rater accuracy")
        candidates = c4.selectbox("Candidates", CANDIDATES, key="data_campaign_candidates")
        golds = gold_source_options()
        gold_from = st.multiselect("Gold from (labels with trusted levels)", list(golds), format_func=golds.get,
                                   default=[g for g in ("gold",) if g in golds], key="data_campaign_gold_from",
                                   help="Imports (`relevance import judgments FILE --name trusted`) or labels of "
                                        "source `gold`; used only when the gold share is above 0")
        ready = [m for m in ("teacher", "student") if m in available() and trained(m)]
        models = st.multiselect("Models (side_by_side, disagreement, uncertainty, pool: first vs second)",
                                available(), default=ready if len(ready) == 2 else ["bm25", "random"],
                                key="data_campaign_models")
        go = st.form_submit_button("Create campaign", type="primary")
    if not go:
        return
    if gold_ratio > 0 and not gold_from:
        st.error("Campaign not created: a gold share needs trusted labels. Pick them under **Gold from** "
                 + ("(the store has none yet: import a judgments file of trusted levels first)." if not golds else
                    "."))
        return
    try:
        spec = CampaignSpec(name=name, kind=kind, strategy=strategy, n_tasks=int(n_tasks), languages=tuple(languages),
                            raters=tuple(raters), overlap_k=int(overlap_k), overlap_share=float(overlap_share),
                            gold_ratio=float(gold_ratio), gold_sources=tuple(gold_from) or ("gold",),
                            models=tuple(models), candidates=candidates,
                            created_by=created_by, dataset=dataset)
        if spec.scores_live and not set(spec.models[:2]) <= CHEAP_MODELS:
            _start_campaign_job(spec)  # a model scores every candidate list: not in the web server
            return
        with st.spinner("Sampling tasks…"):
            info = create_campaign(spec)
    except (CampaignError, ValueError, FileNotFoundError, RuntimeError) as exc:  # untrained model, bad spec
        st.error(f"Campaign not created: {exc}")
        return
    st.session_state["data_flash"] = (f"Created {info.kind} campaign **{info.name}**: {info.n_tasks} tasks, "
                                      f"{info.n_gold} gold; raters: {', '.join(info.raters) or 'none yet'}.")
    st.session_state["data_campaign_created"] = True
    st.rerun()


def campaigns_table(infos=None) -> pd.DataFrame:
    """One row per campaign of ``infos`` (default: ``list_campaigns()``, archived ones left out) with its progress."""
    from core.campaigns import list_campaigns, progress

    rows = []
    for c in list_campaigns() if infos is None else infos:
        p = progress(c.id)
        rows.append({"name": c.name, "kind": c.kind, "strategy": c.strategy,
                     "languages": ",".join(c.languages) or "all", "data set": c.config.get("dataset") or "all",
                     "tasks": c.n_tasks, "gold": c.n_gold,
                     "done": p.ratings_done, "required": p.ratings_required, "progress": p.fraction,
                     "raters": ", ".join(c.raters) or "none yet", "status": c.status,
                     "created by": c.created_by or "CLI / script"})
    return pd.DataFrame(rows)


def add_raters_form(names: list[str]) -> None:
    from core.campaigns import CampaignError, add_raters

    with st.form("data_add_raters"):
        c1, c2 = st.columns(2)
        campaign = c1.selectbox("Campaign", names, key="data_add_raters_campaign")
        who = c2.multiselect("Raters to add", rater_names(), key="data_add_raters_who")
        if st.form_submit_button("Add raters") and campaign and who:
            try:
                st.success(f"Raters of {campaign}: {', '.join(add_raters(campaign, who))}")
            except CampaignError as exc:
                st.error(str(exc))
