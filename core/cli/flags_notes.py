"""Subcommands for raters' flags and researchers' query notes (plugged into ``core.cli``).

```
relevance flags list [--campaign NAME] [--all] [--json]      open flags, oldest first (resolved ones too with --all)
relevance flags resolve FLAG_ID --by USER [--note TEXT]      the flag's pair votes again
relevance notes show QUERY_ID                                the note in force, who wrote it and when
relevance notes set QUERY_ID (--text TEXT | --file PATH | --clear) --by USER
```

Writes name the acting user (``--by``), checked by core in the write's transaction: an active researcher or
admin (``core.campaigns.lifecycle.acting_staff``). A refused write leaves the store as it was.
"""

from __future__ import annotations

import json

import pandas as pd

from core.cli.campaigns import read_text
from core.errors import InvalidInputError
from core.jsonable import jsonable

TIMES = ("created_at", "resolved_at")
TABLE = ["flag_id", "campaign", "kind", "query_id", "query", "product_id", "rater", "reason", "comment",
         "created_at"]
RESOLVED = ["resolved_at", "resolved_by", "resolution"]
CUT = 40  # characters of a text column in the table (--json has them whole)


def _utc(value) -> pd.Timestamp:
    t = pd.Timestamp(value)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")  # SQLite gives naive UTC times


def _records(df: pd.DataFrame) -> list[dict]:
    """The flags as plain JSON values: times in ISO 8601 UTC, nothing missing but None."""
    out = []
    for row in df.to_dict("records"):
        rec = {}
        for col, v in row.items():
            if v is None or (not isinstance(v, str) and pd.isna(v)):
                rec[col] = None
            else:
                rec[col] = _utc(v).isoformat() if col in TIMES else jsonable(v)
        out.append(rec)
    return out


def _cell(col: str, v) -> str:
    if v is None:
        return "—"
    if col in TIMES:
        return f"{_utc(v):%Y-%m-%d %H:%M}"
    text = " ".join(str(v).split())
    return text if len(text) <= CUT else text[:CUT - 1] + "…"


def _cmd_flags_list(args) -> int:
    from core.campaigns.flags import list_flags

    flags = _records(list_flags(args.db, campaign=args.campaign, include_resolved=args.all))
    if args.json:
        print(json.dumps(flags, ensure_ascii=False, indent=2))
        return 0
    if not flags:
        where = f" in campaign {args.campaign!r}" if args.campaign else ""
        print(f"no flags{where}" if args.all else
              f"no open flags{where} (`relevance flags list --all` lists resolved ones too)")
        return 0
    columns = TABLE + (RESOLVED if args.all else [])
    print(pd.DataFrame([{c: _cell(c, f[c]) for c in columns} for f in flags]).to_string(index=False))
    return 0


def _cmd_flags_resolve(args) -> int:
    from core.campaigns.flags import resolve_flag

    resolve_flag(args.flag_id, args.note, actor=args.by, url=args.db)
    print(f"flag {args.flag_id} resolved by {args.by}; its pair votes again")
    return 0


def _cmd_notes_show(args) -> int:
    from core.campaigns.query_notes import note_history

    history = note_history(args.query_id, url=args.db)
    if not history or not history[0]["note"]:
        print(f"query {args.query_id!r} has no note")
        return 0
    latest = history[0]
    by = latest["author"] or "the shell"
    print(f"query {args.query_id!r}: note by {by}, {_utc(latest['created_at']):%Y-%m-%d %H:%M} UTC")
    print(latest["note"])
    return 0


def _cmd_notes_set(args) -> int:
    from core.campaigns.query_notes import set_query_note

    text = "" if args.clear else args.text if args.file is None else read_text(args.file, "a query note is a text file")
    if not args.clear and not text.strip():
        raise InvalidInputError("the note is empty; `--clear` removes a query's note")
    note = set_query_note(args.query_id, text, actor=args.by, url=args.db)
    print(f"query {args.query_id!r}: " + (f"note set by {args.by} ({len(note):,} characters)" if note else
                                         f"note removed by {args.by}"))
    return 0


def add_commands(sub) -> None:
    """Register ``flags`` and ``notes`` on the ``relevance`` parser."""
    flags = sub.add_parser("flags", help="raters' flags on tasks: list them, resolve one")
    fsub = flags.add_subparsers(dest="action", required=True)
    sp = fsub.add_parser("list", help="open flags, oldest first (an open flag keeps its pair out of the consensus)")
    sp.add_argument("--campaign", help="one campaign's flags only")
    sp.add_argument("--all", action="store_true", help="resolved flags too")
    sp.add_argument("--json", action="store_true", help="print the flags as a JSON list (every field, whole texts)")
    sp.set_defaults(func=_cmd_flags_list)
    sp = fsub.add_parser("resolve", help="resolve an open flag: its pair votes again")
    sp.add_argument("flag_id", type=int, metavar="FLAG_ID", help="from `relevance flags list`")
    sp.add_argument("--by", required=True, metavar="USER", help="the researcher or admin resolving it")
    sp.add_argument("--note", help="the resolution (what was found or done)")
    sp.set_defaults(func=_cmd_flags_resolve)

    notes = sub.add_parser("notes", help="query notes (what a query means), shown to raters with its items")
    nsub = notes.add_subparsers(dest="action", required=True)
    sp = nsub.add_parser("show", help="the note in force of a query")
    sp.add_argument("query_id")
    sp.set_defaults(func=_cmd_notes_show)
    sp = nsub.add_parser("set", help="write (or remove) the note of a query")
    sp.add_argument("query_id")
    text = sp.add_mutually_exclusive_group(required=True)
    text.add_argument("--text", help="the note (plain text)")
    text.add_argument("--file", help="a text file holding the note; '-' reads stdin")
    text.add_argument("--clear", action="store_true", help="remove the note")
    sp.add_argument("--by", required=True, metavar="USER", help="the researcher or admin writing it")
    sp.set_defaults(func=_cmd_notes_set)
