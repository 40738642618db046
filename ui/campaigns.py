"""Campaign lifecycle and label exports on the Data and campaigns page, and the instructions Rate and Compare show.

Every change goes through ``core.campaigns.lifecycle`` with the signed-in user as the actor (the role and session
are checked there, in the write's transaction); downloads are built by ``core.workflows.export`` when clicked.
"""

from __future__ import annotations

import streamlit as st

from core import campaigns as camp
from core.campaigns.spec import MAX_INSTRUCTIONS
from core.workflows.export import EXPORTS, FORMATS, export_file_name, export_mime, label_export
from ui import auth as ui_auth

# action -> (button label, icon, what it does)
ACTION_BUTTONS = {"pause": ("Pause", ":material/pause:", "no new tasks until resumed"),
                  "resume": ("Resume", ":material/play_arrow:", "hand out tasks again"),
                  "close": ("Close", ":material/lock:", "labelling is over: no tasks, no answers"),
                  "archive": ("Archive", ":material/archive:", "close and hide from the lists")}
STATUS_NOTES = {"active": "Active: raters get tasks.",
                "paused": "Paused: raters get no new tasks; answers to items already on screen are kept.",
                "closed": "Closed: no tasks are handed out and no answers are taken.",
                "archived": "Archived: closed and hidden from the lists; its labels stay in force."}


def instructions(campaigns: list[camp.RaterCampaign], name: str, key: str) -> None:
    """The campaign's instructions in a collapsed expander (nothing when it has none). Drawn outside the rating
    panel, from the campaign list the page read already: no store query and no redraw per key press."""
    text = next((c.instructions for c in campaigns if c.name == name), "")
    if text:
        with st.expander("Campaign instructions", icon=":material/info:", key=key, on_change="rerun"):
            st.markdown(camp.instructions_markdown(text))


def show_outcome() -> None:
    """The last change's outcome, once: ``data_flash`` (success) or ``data_error``."""
    if flash := st.session_state.pop("data_flash", None):
        st.success(flash)
    if error := st.session_state.pop("data_error", None):
        st.error(error)


def unarchived(infos: list[camp.CampaignInfo]) -> list[camp.CampaignInfo]:
    """The campaigns to list: archived ones only when the "Show archived campaigns" toggle (drawn when there are
    any) is on."""
    n = sum(c.status == "archived" for c in infos)
    if n and st.toggle(f"Show archived campaigns ({n})", key="data_show_archived"):
        return infos
    return [c for c in infos if c.status != "archived"]


def manage_panel(user, infos: list[camp.CampaignInfo]) -> None:
    """Pick a campaign; pause, resume, close, archive or delete it; edit its instructions."""
    by_name = {c.name: c for c in infos}
    name = st.selectbox("Campaign to manage", list(by_name), key="data_manage_campaign")
    if name is None:
        return
    c = by_name[name]
    st.caption(f"**{c.name}** ({c.kind}) · {STATUS_NOTES.get(c.status, c.status)}")
    allowed = [a for a, (_, sources) in camp.ACTIONS.items() if c.status in sources]
    cols = st.columns(len(ACTION_BUTTONS) + 1)
    for col, (action, (label, icon, help_)) in zip(cols, ACTION_BUTTONS.items()):
        col.button(label, key=f"data_manage_{action}", icon=icon, help=help_, disabled=action not in allowed,
                   on_click=_act, args=(user, c.name, action), width="stretch")
    with cols[-1].popover("Delete", icon=":material/delete:", width="stretch"):
        st.caption("Only a campaign without labels or side-by-side answers can be deleted (labels are history); "
                   "close or archive one that has them.")
        sure = st.checkbox(f"Delete {c.name} and its tasks", key=f"data_manage_delete_sure_{c.id}")
        st.button("Delete campaign", key="data_manage_delete", type="primary", disabled=not sure,
                  on_click=_delete, args=(user, c.name))
    if st.session_state.get("data_instructions_of") != (c.id, c.config.get("instructions", "")):
        # another campaign, or its instructions changed elsewhere: the field shows what is stored
        st.session_state["data_instructions_of"] = (c.id, c.config.get("instructions", ""))
        st.session_state["data_instructions"] = c.config.get("instructions", "")
    with st.form("data_instructions_form"):
        st.text_area("Instructions for the raters (Markdown: headings, lists, bold, links; no HTML or images)",
                     height=160, key="data_instructions", max_chars=MAX_INSTRUCTIONS)
        st.form_submit_button("Save instructions", on_click=_save_instructions, args=(user, c.name))
    if c.config.get("instructions"):
        with st.expander("Preview: what raters see"):
            st.markdown(camp.instructions_markdown(c.config["instructions"]))


def _act(user, name: str, action: str) -> None:
    _change(lambda: camp.set_status(name, action, actor=user), None)


def _save_instructions(user, name: str) -> None:
    text = st.session_state.get("data_instructions", "")
    _change(lambda: camp.set_instructions(name, text, actor=user),
            f"Instructions of {name} {'saved' if text.strip() else 'removed'}.")


def _delete(user, name: str) -> None:
    _change(lambda: camp.delete_campaign(name, actor=user), f"Deleted campaign {name} with its tasks.")
    st.session_state.pop("data_manage_campaign", None)


def _change(do, message: str | None) -> None:
    """Run a lifecycle change; its outcome shows once at the top of the tab (``data_flash``/``data_error``).
    The session is checked first (callbacks run before app.py): a session that lost its rights changes nothing."""
    if ui_auth.check_session() is None:
        return
    try:
        info = do()
    except (camp.CampaignError, camp.NotPermittedError) as exc:
        st.session_state["data_error"] = str(exc)
        return
    st.session_state["data_flash"] = message or f"Campaign {info.name} is now {info.status}."


def export_panel(infos: list[camp.CampaignInfo]) -> None:
    """Downloads of the labels in force, the raw labels, the side-by-side answers or qrels (whole store or one
    campaign, archived ones included); the file is built when the button is clicked."""
    scopes = {0: "the whole store", **{c.id: f"campaign {c.name} ({c.kind}, {c.status})" for c in infos}}
    names = {c.id: c.name for c in infos}
    c1, c2, c3 = st.columns([2, 2, 1])
    scope = c1.selectbox("Labels of", list(scopes), format_func=scopes.get, key="data_export_scope")
    kind = c2.selectbox("What to export", list(EXPORTS), format_func=EXPORTS.get, key="data_export_kind")
    fmt = c3.selectbox("Format", FORMATS, key="data_export_format", disabled=kind == "qrels",
                       help="qrels are TREC text")
    campaign = names.get(scope)
    st.caption("Labels in force: one row per pair (for the whole store: gold, then the raters' consensus, then "
               "imports; for one campaign: its raters' consensus). Raw rows keep every label with its rater and "
               "time, undo rows included (`in_force` says which count). CSV text cells that start like a "
               "spreadsheet formula get a leading `'`. Qrels relevance: level − 1.")
    file_name = export_file_name(kind, fmt, campaign)
    st.download_button(f"Download {EXPORTS[kind].split(' (')[0]}",
                       lambda: label_export(kind, fmt, campaign=campaign).data, file_name=file_name,
                       mime=export_mime(kind, fmt), key="data_export_download", icon=":material/download:",
                       type="primary", on_click="ignore")
    st.caption(f"File: `{file_name}` (made from the store when you click)")
