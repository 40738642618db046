"""Flags and query notes on screen: the rater's flag form (key F) and the query's note on Rate and Compare; the
researchers' list of open flags with a Resolve action and the query-note editor (Data and campaigns, Failures).

Writes go through ``core.campaigns.flags`` and ``core.campaigns.query_notes`` with the signed-in user as the actor,
checked there in the write's transaction. The rater's side costs no store query per key press: the note comes
with the task (``TaskView.note``) and F only opens the form.
"""

from __future__ import annotations

import streamlit as st

from core import campaigns as camp
from core.campaigns import flags as core_flags
from core.campaigns.query_notes import MAX_NOTE, query_note, set_query_note
from core.store.pairs import query_texts
from ui import auth as ui_auth, rating
from ui.components import as_text, query_banner, table

BREAK = "  \n"  # a Markdown line break


def item_header(f: rating.Flow, prefix: str, rater: str) -> None:
    """Above the item on Rate and Compare: the query, its note (if a researcher wrote one), the open flag form."""
    query_banner(f.task.query, f.task.language)
    query_note_banner(f.task)
    flag_form(f, prefix, rater)


def query_note_banner(task) -> None:
    """What the query means, as a researcher wrote it (nothing when there is no note)."""
    if task is not None and task.note:
        st.info("**What this query means:** " + as_text(task.note, newlines=BREAK), icon=":material/lightbulb:")


def flag_form(f: rating.Flow, prefix: str, rater: str) -> None:
    """The flag form of the task in view, while it is open (key F opens and closes it)."""
    if f.task is None or f.flagging != f.task.task_id:
        return
    tid = f.task.task_id
    # a form: the reason and the comment reach the server with the Save click, in one message (as separate
    # widgets, a comment typed just after picking a reason could arrive after the click and be lost)
    with st.form(key=f"{prefix}_flag_box", enter_to_submit=False):
        st.markdown("**Flag this item** — a researcher will look at it; until then it does not count towards "
                    "the consensus. Press **F** again to close.")
        st.radio("Reason", core_flags.REASONS, format_func=core_flags.REASON_NAMES.get, horizontal=True,
                 key=f"{prefix}_flag_reason_{tid}")
        st.text_input("Comment (optional)", max_chars=core_flags.MAX_COMMENT, key=f"{prefix}_flag_comment_{tid}",
                      placeholder="What is wrong or unclear?")
        a, b = st.columns(2)
        a.form_submit_button("Save flag", key=f"{prefix}_flag_save", type="primary", icon=":material/flag:",
                             on_click=save_flag, args=(prefix, rater, tid), width="stretch")
        b.form_submit_button("Cancel", key=f"{prefix}_flag_cancel", on_click=rating.toggle_flag,
                             args=(prefix, rater, tid), width="stretch")


def save_flag(prefix: str, rater: str, task_id: int) -> None:
    """The form's callback: store the flag of the task in view; the item stays (grade it, or skip with S)."""
    f = rating.flow(prefix)
    if ui_auth.check_session() is None or f.task is None or f.task.task_id != task_id:
        return
    reason = st.session_state.get(f"{prefix}_flag_reason_{task_id}") or "other"
    comment = st.session_state.get(f"{prefix}_flag_comment_{task_id}") or ""
    try:
        core_flags.flag_task(f.task.assignment_id, rater, reason, comment)
    except camp.CampaignError as exc:
        f.flash = ("warning", str(exc))
        return
    f.flagging = None
    f.flash = ("info", f"Flagged as *{core_flags.REASON_NAMES[reason]}* — thank you. Answer it if you can, or skip "
                       f"it with S.")


# ------------------------------------------------------------------------------------------ researchers

def flags_panel() -> None:
    """Open flags (all campaigns), a Resolve action with a note, the flagged query's note; resolved ones on demand."""
    if msg := st.session_state.pop("flags_flash", None):
        st.success(msg)
    flags = core_flags.open_flags()
    if flags.empty:
        st.info("No open flags. Raters flag an item with **F** on Rate and Compare.", icon=":material/flag:")
    else:
        shown = flags.assign(reason=flags["reason"].map(core_flags.REASON_NAMES))
        st.caption(f"{len(flags)} open flag(s), oldest first. A flagged pair is left out of the raters' consensus "
                   f"until its flag is resolved.")
        table(shown.drop(columns=["resolved_at", "resolved_by", "resolution"]), "flags_open", "flags.csv")
        by_id = {int(r.flag_id): r for r in flags.itertuples()}
        fid = st.selectbox("Flag to resolve", list(by_id), key="flags_pick", format_func=lambda i: (
            f"#{i} · {by_id[i].campaign} · {by_id[i].query} · {core_flags.REASON_NAMES[by_id[i].reason]} "
            f"({by_id[i].rater})"))
        if fid is not None:
            row = by_id[fid]
            with st.form("flags_resolve", border=True):
                st.markdown(f"**{as_text(row.query)}** → {as_text(row.product_id or '(side-by-side lists)')}: "
                            f"{as_text(row.comment or 'no comment')}")
                note = st.text_input("Resolution note (optional)", key="flags_resolution")
                if st.form_submit_button("Resolve", type="primary", icon=":material/check:"):
                    _resolve(fid, note)
            note_editor(row.query_id, row.query, key=f"flags_note_{fid}")
    if st.toggle("Show resolved flags", key="flags_show_resolved"):
        done = core_flags.list_flags(include_resolved=True)
        done = done[done["resolved_at"].notna()]
        table(done.assign(reason=done["reason"].map(core_flags.REASON_NAMES)), "flags_resolved",
              "resolved_flags.csv")


def _resolve(flag_id: int, note: str) -> None:
    actor = ui_auth.check_session()
    if actor is None:
        return
    try:
        core_flags.resolve_flag(flag_id, note, actor=actor)
    except (camp.CampaignError, PermissionError) as exc:
        st.error(str(exc))
        return
    st.session_state["flags_flash"] = f"Resolved flag #{flag_id}: its pair votes again."
    st.rerun()


def note_editor(query_id: str, query: str, *, key: str) -> None:
    """Edit what a query means; raters see it above the item on Rate and Compare."""
    current = query_note(query_id)
    with st.form(key, border=True):
        st.markdown(f"**Query note** for *{as_text(query)}* — what the query means (its information need); raters "
                    f"see it above the item.")
        text = st.text_area("What this query means", value=current, max_chars=MAX_NOTE, key=f"{key}_text",
                            height=90)
        if st.form_submit_button("Save note", icon=":material/save:"):
            actor = ui_auth.check_session()
            if actor is None:
                return
            try:
                set_query_note(query_id, text, actor=actor)
            except (camp.CampaignError, PermissionError) as exc:
                st.error(str(exc))
                return
            st.success("Saved: raters see it with the query's next items." if text.strip() else "Note removed.")


def notes_panel() -> None:
    """Pick any stored query (type to search) and edit its note."""
    queries = query_texts().sort_values("query", ignore_index=True)
    if queries.empty:
        st.info("No queries yet: import judgments or a query log first.", icon=":material/inbox:")
        return
    texts = dict(zip(queries["query_id"], queries["query"]))
    qid = st.selectbox("Query", list(texts), index=None, format_func=lambda q: f"{texts[q]} ({q})",
                       key="notes_query", placeholder="Type to search the queries")
    if qid is not None:
        note_editor(qid, texts[qid], key=f"notes_edit_{qid}")
