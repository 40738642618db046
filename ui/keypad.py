"""The rater's keyboard: one page-level key handler (a ``st.components.v2`` component) for Rate and Compare.

Why not ``st.button(shortcut=...)``: Streamlit ignores shortcuts while focus is in any ``<input>`` (a toggle
is a checkbox input, the campaign box a combobox input), so keys stopped after a click on either; and a
key pressed while the next item was on its way was clicked through to whatever task the server held by
then. Here:

- every key press names the task the browser shows (``{"key", "task", "seq"}``); the server answers it only
  when that is the task in view (``ui.rating.press``), so a grade never lands on an item not yet seen;
- on Rate the component draws the item itself (``item``: HTML made on the server by
  ``ui.components.item_html``, so item text is escaped exactly as for ``st.markdown``) and holds the next
  one, already leased (``next``). A grade or skip shows that next item at once, in the browser, while the
  server saves the answer; the server's answer then confirms the item shown (``handled`` reaches the key's
  sequence number) or, when it holds another task (a lease ran out, the campaign was paused), replaces it
  with the truth and its message. Until the answer is confirmed one more key is queued (sent the moment it
  is) and any further key is refused, visibly ("… not saved — press again"), never sent;
- without an item to draw (Compare) a key waits for the server's next item: a key pressed meanwhile is
  refused the same way;
- keys work whatever has focus except a field the rater is typing in (a text box, an open select box);
  the widget that had focus is blurred;
- the browser measures key → next item on screen (two animation frames after it is drawn) and key → answer
  confirmed, and shows them; ``window.__rsKeys.timings`` keeps the figures (``bench/keypress.py`` reads them);
  a key that keeps the item in view (F opens the flag form, Compare's 1–4 pick a reason) waits for its answer
  the same way but is not timed;
- a new task scrolls the page to the top (Compare's lists are long).
"""

from __future__ import annotations

import streamlit as st

_JS = r"""
const S = (window.__rsKeys ||= {seq: 0, pending: null, queued: null, timings: [], refused: 0, data: null,
                                lastTask: undefined});
const TASK = /^task (\d+) · keys/;

function visibleTask() {
  // the task id on screen; null when none; undefined while it is not known (a rerun shows two captions)
  const d = S.data;
  if (d && d.item) {  // drawn by this component
    const el = S.root && S.root.querySelector('.rs-item');
    return el && el.isConnected ? (el.dataset.task ? Number(el.dataset.task) : null) : undefined;
  }
  // textContent, not innerText: reading it forces no layout (this runs on every key and animation frame)
  const ps = [...document.querySelectorAll('p')].filter(p => TASK.test(p.textContent));
  if (ps.length > 1) return undefined;
  return ps.length ? Number(TASK.exec(ps[0].textContent)[1]) : null;
}

function say(text, cls) {
  const el = S.root && S.root.querySelector('.rs-keys-status');
  if (el) { el.textContent = text; el.className = 'rs-keys-status ' + (cls || ''); }
}

function toTop() {
  for (const el of [document.scrollingElement, ...document.querySelectorAll(
         '[data-testid="stMain"], [data-testid="stAppViewContainer"], section.main')]) {
    if (el && el.scrollTop) el.scrollTop = 0;
  }
}

function show(view) {
  // draw ``view`` ({task, html}, or null: no item) unless it is on screen already; true when it was drawn
  let el = S.root.querySelector('.rs-item');
  if (!el) { el = document.createElement('div'); el.className = 'rs-item'; S.root.prepend(el); }
  const id = view ? String(view.task) : '';
  S.view = view;
  if (el.dataset.task === id && el.isConnected) return false;
  const first = el.dataset.task === undefined;
  el.innerHTML = view ? view.html : '';
  el.dataset.task = id;
  if (view && !first) toTop();
  return true;
}

function typing(t) {
  if (!t || !t.tagName) return false;
  if (t.isContentEditable || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT') return true;
  if (t.tagName !== 'INPUT') return false;
  if (['checkbox', 'radio', 'range', 'button', 'submit', 'reset', 'file', 'color'].includes(t.type)) return false;
  if (t.getAttribute('role') === 'combobox') return t.getAttribute('aria-expanded') === 'true';
  return true;
}

function refuse(why) {
  S.refused += 1;
  if (S.pending) S.pending.refused = (S.pending.refused || 0) + 1;
  say(why || 'Too fast — the next item is not on screen yet; nothing was saved. Press again.', 'rs-keys-refused');
}

function timed(p, to) {
  // key → ``to`` on screen, measured at the second animation frame (the first one paints it)
  requestAnimationFrame(() => requestAnimationFrame(() => {
    if (p.wrong) return;  // the server held another item: this one was not the next after all
    p.timing = {ms: performance.now() - p.t0, ack: p.ack, key: p.key, from: p.task, to: to};
    S.timings.push(p.timing);
    if (S.timings.length > 2000) S.timings.splice(0, 1000);  // a long session keeps the last ones
    if (S.pending === p) say(`Next item on screen in ${Math.round(p.timing.ms)} ms · saving…`, 'rs-keys-wait');
  }));
}

function send(key, t0) {
  const d = S.data;
  S.seq += 1;
  const p = S.pending = {seq: S.seq, key: key, task: d.task, t0: t0, to: null};
  S.send('press', {key: key, task: d.task, seq: S.seq});
  if (d.item && d.advance.includes(key) && d.next && d.view && visibleTask() === d.task) {
    show(d.next);  // the next item is already leased: show it now, the server confirms it
    p.to = d.next.task;
    timed(p, p.to);
  } else if (!d.item) {
    requestAnimationFrame(watch);
  }
  say('Saving…', 'rs-keys-wait');
}

function confirmed(d) {
  // Rate: the server's answer to the pending key has arrived (its run drew ``d``)
  const p = S.pending, q = S.queued;
  S.pending = S.queued = null;
  p.ack = performance.now() - p.t0;
  if (p.timing) p.timing.ack = p.ack;
  let lost = p.refused || 0;
  if (p.to !== null && p.to !== d.task) {  // the server holds another task: the truth replaces the guess
    p.wrong = true;
    const i = p.timing ? S.timings.indexOf(p.timing) : -1;
    if (i >= 0) S.timings.splice(i, 1);
    show(d.view);
  } else if (show(d.view) && d.task !== null && d.task !== p.task) {
    timed(p, d.task);
  }
  if (q && d.task === q.task && d.keys.includes(q.key)) {
    send(q.key, q.t0);
  } else if (q) {
    lost += 1;
    S.refused += 1;
  }
  if (d.failed === p.seq) say('That answer was not saved — the message on the page says why.', 'rs-keys-refused');
  else if (lost) say(`${lost} key(s) pressed meanwhile were not saved — press again.`, 'rs-keys-refused');
  else if (!S.pending) say(`Saved (${Math.round(p.ack)} ms) · keys ready`, 'rs-keys-ready');
}

function arrived(p, d) {
  return d && d.handled >= p.seq && visibleTask() === d.task;
}

function finish(p, d) {
  // Compare: the next item is on screen: the pending key is done (a key pressed now is for this item)
  if (S.pending !== p) return;
  const ms = performance.now() - p.t0;
  S.pending = null;
  if (p.task === d.task) {  // a key that keeps the item (F flag, Compare's reasons): not a key → next item time
    say(p.refused ? `${p.refused} key(s) pressed meanwhile were not saved — press again.` : 'Keys ready',
        p.refused ? 'rs-keys-refused' : 'rs-keys-ready');
    return;
  }
  S.timings.push({ms: ms, ack: ms, key: p.key, from: p.task, to: d.task});
  if (p.refused) {  // keep the refusal visible: the rater must know that key was not saved
    say(`Next item on screen after ${Math.round(ms)} ms; ${p.refused} key(s) pressed before it were not saved — ` +
        'press again.', 'rs-keys-refused');
  } else {
    say(`Key → next item on screen in ${Math.round(ms)} ms (measured in this browser)`, 'rs-keys-ready');
  }
}

function watch() {
  const p = S.pending, d = S.data;
  if (!p || p.measuring || (d && d.item)) return;
  if (arrived(p, d)) {
    p.measuring = true;
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
  const t0 = performance.now();
  const active = document.activeElement;
  if (active && active !== document.body && active.blur) active.blur();
  const p = S.pending;
  if (p && !d.item && arrived(p, d)) finish(p, d);
  if (S.pending) {
    // Rate, the next item already on screen: keep one key for it, sent when the server confirms the item
    if (d.item && p.to !== null && !S.queued && d.advance.includes(key) && visibleTask() === p.to) {
      S.queued = {key: key, task: p.to, t0: t0};
      say('Saving… your next answer is queued', 'rs-keys-wait');
    } else {
      refuse(d.item ? 'Still saving the answers before — that key was not saved. Press it again.' : undefined);
    }
    return;
  }
  if (visibleTask() !== d.task || (d.task === null && key !== 'u')) { refuse(); return; }
  send(key, t0);
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
  if (data.item) {
    if (S.pending && data.handled >= S.pending.seq) confirmed(data);
    else show(S.pending ? S.view : data.view);  // a key not yet answered keeps the item it showed
  } else {
    const el = S.root.querySelector('.rs-item');
    if (el) el.remove();
    if (data.task !== S.lastTask && S.lastTask !== undefined && data.task !== null) toTop();
    if (S.pending) requestAnimationFrame(watch);
  }
  S.lastTask = data.task;
  if (!S.pending && !S.root.querySelector('.rs-keys-ready, .rs-keys-refused')) {
    say('Keys ready: ' + data.keys.join(' ').toUpperCase(), 'rs-keys-ready');
  }
  return () => { if (S.data === data) S.data = null; };
}
"""

_CSS = """
.rs-keys-status {font-size: .8rem; color: #5f6470; min-height: 1.1rem; margin: 0;}
.rs-keys-refused {color: #a33a00; font-weight: 600;}
"""

_keypad = st.components.v2.component(
    "relevance_keypad", html='<div class="rs-item"></div><p class="rs-keys-status">Keyboard loading…</p>', css=_CSS,
    js=_JS, isolate_styles=False)


def keypad(prefix: str, task_id: int | None, keys: str, handled: int, buttons: list[str], on_press, *,
           item: tuple[dict | None, dict | None] | None = None, advance: str = "", failed: int = 0) -> None:
    """Mount the key handler for one page: ``keys`` (e.g. ``"12345su"``), the task in view, the last key
    sequence number the server handled, the keys of the answer buttons (mouse clicks on them while the next
    item is on its way are refused too) and the callback that answers a press.

    ``item``: (the task in view, the task leased next), each ``{"task": id, "html": ...}`` or None: the
    component draws the item, and a key of ``advance`` shows the next one at once (see the module doc); ``failed``:
    the sequence number of the last key whose answer the server refused (its page says why)."""
    data = {"task": task_id, "keys": list(keys), "handled": handled, "buttons": ", ".join(f".st-key-{b}" for b in buttons),
            "item": item is not None, "advance": list(advance), "failed": failed}
    if item is not None:
        data["view"], data["next"] = item
    _keypad(key=f"{prefix}_keys", data=data, on_press_change=on_press, width="stretch", height="content")


def pressed(prefix: str) -> dict | None:
    """The key press being answered (inside the callback): ``{"key", "task", "seq"}``, or None."""
    value = st.session_state.get(f"{prefix}_keys")
    event = value.get("press") if hasattr(value, "get") else None
    return event if isinstance(event, dict) else None
