"""The rater's keyboard: one page-level key handler (a ``st.components.v2`` component) for Rate and Compare.

Why not ``st.button(shortcut=...)``: Streamlit ignores shortcuts while focus is in any ``<input>`` (a toggle
is a checkbox input, the campaign box a combobox input), so keys stopped after a click on either; and a
key pressed while the next item was on its way was clicked through to whatever task the server held by
then. Here:

- every key press names the task the browser shows (``{"key", "task", "seq"}``); the server answers it only
  when that is the task in view (``ui.rating.press``), so a grade never lands on an item not yet seen;
- a key pressed before the next item is on screen is refused in the browser, visibly ("Too fast — …
  press again"), and never sent;
- keys work whatever has focus except a field the rater is typing in (a text box, an open select box);
  the widget that had focus is blurred;
- the browser measures key → next item on screen (two animation frames after the new task's caption
  appears) and shows it; ``window.__rsKeys.timings`` keeps the figures (``bench/keypress.py`` reads them); a key
  that keeps the item in view (F opens the flag form, Compare's 1–4 pick a reason) waits for its answer the same
  way but is not timed;
- a new task scrolls the page to the top (Compare's lists are long).
"""

from __future__ import annotations

import streamlit as st

_JS = r"""
const S = (window.__rsKeys ||= {seq: 0, pending: null, timings: [], refused: 0, data: null, lastTask: undefined});
const TASK = /^task (\d+) · keys/;

function visibleTask() {
  // the task id of the one "task N · keys" caption; null when none; undefined while a rerun shows two
  const ps = [...document.querySelectorAll('p')].filter(p => TASK.test(p.innerText));
  if (ps.length > 1) return undefined;
  return ps.length ? Number(TASK.exec(ps[0].innerText)[1]) : null;
}

function say(text, cls) {
  const el = S.root && S.root.querySelector('.rs-keys-status');
  if (el) { el.textContent = text; el.className = 'rs-keys-status ' + (cls || ''); }
}

function typing(t) {
  if (!t || !t.tagName) return false;
  if (t.isContentEditable || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT') return true;
  if (t.tagName !== 'INPUT') return false;
  if (['checkbox', 'radio', 'range', 'button', 'submit', 'reset', 'file', 'color'].includes(t.type)) return false;
  if (t.getAttribute('role') === 'combobox') return t.getAttribute('aria-expanded') === 'true';
  return true;
}

function ready(d) {
  return !S.pending && visibleTask() === d.task;
}

function refuse() {
  S.refused += 1;
  if (S.pending) S.pending.refused = (S.pending.refused || 0) + 1;
  say('Too fast — the next item is not on screen yet; nothing was saved. Press again.', 'rs-keys-refused');
}

function arrived(p, d) {
  return d && d.handled >= p.seq && visibleTask() === d.task;
}

function finish(p, d) {
  // the next item is on screen: the pending key is done (a key pressed now is for this item, never refused)
  if (S.pending !== p) return;
  const ms = performance.now() - p.t0;
  S.pending = null;
  if (p.task === d.task) {  // a key that keeps the item (F flag, Compare's reasons): not a key → next item time
    say(p.refused ? `${p.refused} key(s) pressed meanwhile were not saved — press again.` : 'Keys ready',
        p.refused ? 'rs-keys-refused' : 'rs-keys-ready');
    return;
  }
  S.timings.push({ms: ms, key: p.key, from: p.task, to: d.task});
  if (p.refused) {  // keep the refusal visible: the rater must know that key was not saved
    say(`Next item on screen after ${Math.round(ms)} ms; ${p.refused} key(s) pressed before it were not saved — ` +
        'press again.', 'rs-keys-refused');
  } else {
    say(`Key → next item on screen in ${Math.round(ms)} ms (measured in this browser)`, 'rs-keys-ready');
  }
}

function watch() {
  const p = S.pending, d = S.data;
  if (!p || p.measuring) return;
  if (arrived(p, d)) {
    p.measuring = true;
    // drawn: measure at the second frame (the first one paints it), unless the next key comes first
    requestAnimationFrame(() => requestAnimationFrame(() => finish(p, S.data)));
    return;
  }
  requestAnimationFrame(watch);
}

function onKey(e) {
  const d = S.data;
  if (!d || e.ctrlKey || e.metaKey || e.altKey || typeof e.key !== 'string' || e.key.length !== 1) return;
  const key = e.key.toLowerCase();
  if (!d.keys.includes(key) || typing(e.target)) return;
  e.preventDefault();
  e.stopPropagation();
  const active = document.activeElement;
  if (active && active !== document.body && active.blur) active.blur();
  if (S.pending && arrived(S.pending, d)) finish(S.pending, d);
  if (!ready(d) || (d.task === null && key !== 'u')) { refuse(); return; }
  S.seq += 1;
  S.pending = {seq: S.seq, key: key, task: d.task, t0: performance.now()};
  say('Saving…', 'rs-keys-wait');
  S.send('press', {key: key, task: d.task, seq: S.seq});
  requestAnimationFrame(watch);
}

function onClick(e) {
  // a mouse answer while the next item is on its way is refused like a key
  const d = S.data, t = e.target;
  if (!d || !t || !t.closest) return;
  if (t.closest(d.buttons) && (S.pending || visibleTask() !== d.task)) {
    e.preventDefault();
    e.stopPropagation();
    refuse();
  }
}

export default function (component) {
  const { data, setTriggerValue, parentElement } = component;
  S.data = data;
  S.send = setTriggerValue;
  S.root = parentElement;
  if (!S.installed) {
    window.addEventListener('keydown', onKey, true);
    document.addEventListener('click', onClick, true);
    S.installed = true;
  }
  if (data.task !== S.lastTask) {
    if (S.lastTask !== undefined && data.task !== null) {
      for (const el of [document.scrollingElement, ...document.querySelectorAll(
             '[data-testid="stMain"], [data-testid="stAppViewContainer"], section.main')]) {
        if (el && el.scrollTop) el.scrollTop = 0;
      }
    }
    S.lastTask = data.task;
  }
  if (S.pending) requestAnimationFrame(watch);
  else if (!S.root.querySelector('.rs-keys-ready, .rs-keys-refused')) say('Keys ready: ' + data.keys.join(' ').toUpperCase(), 'rs-keys-ready');
  return () => { if (S.data === data) S.data = null; };
}
"""

_CSS = """
.rs-keys-status {font-size: .8rem; color: #5f6470; min-height: 1.1rem; margin: 0;}
.rs-keys-refused {color: #a33a00; font-weight: 600;}
"""

_keypad = st.components.v2.component("relevance_keypad", html='<p class="rs-keys-status">Keyboard loading…</p>', css=_CSS, js=_JS,
                                      isolate_styles=False)


def keypad(prefix: str, task_id: int | None, keys: str, handled: int, buttons: list[str], on_press) -> None:
    """Mount the key handler for one page: ``keys`` (e.g. ``"12345su"``), the task in view, the last key
    sequence number the server handled, the keys of the answer buttons (mouse clicks on them while the next
    item is on its way are refused too) and the callback that answers a press."""
    _keypad(key=f"{prefix}_keys", data={"task": task_id, "keys": list(keys), "handled": handled,
                                        "buttons": ", ".join(f".st-key-{b}" for b in buttons)},
            on_press_change=on_press, width="stretch", height="content")


def pressed(prefix: str) -> dict | None:
    """The key press being answered (inside the callback): ``{"key", "task", "seq"}``, or None."""
    value = st.session_state.get(f"{prefix}_keys")
    event = value.get("press") if hasattr(value, "get") else None
    return event if isinstance(event, dict) else None
