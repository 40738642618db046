"""The ``relevance`` command line (also ``python -m core``); see DESIGN.md "CLI"."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from pathlib import Path

from sqlalchemy.exc import OperationalError, ProgrammingError

from core.cli import campaigns as cli_campaigns, flags_notes as cli_flags_notes, models as cli_models
from core.errors import InvalidInputError, RelevanceError

log = logging.getLogger("relevance")
ROLE_NAMES = ("rater", "researcher", "viewer", "admin")
USER_ERRORS = (RelevanceError, FileNotFoundError)  # a person's mistake: one line on stderr, exit 2


def _cmd_init(args) -> int:
    from core.workflows.init import init

    print(init(args.db).summary())
    return 0


def _cmd_import(args) -> int:
    from core import ingest as imports

    fn = {"products": imports.import_products, "judgments": imports.import_judgments,
          "queries": imports.import_queries}[args.kind]
    kwargs = dict(name=args.name, url=args.db, skip_bad_rows=args.skip_bad_rows)
    if args.kind == "judgments":
        kwargs["scale"] = args.scale
    elif args.scale:
        raise InvalidInputError("--scale applies to judgments only")
    report = fn(args.file, **kwargs)
    print(report.summary())
    for e in report.skipped:
        print(f"  skipped {e}")
    return 0


def _cmd_evaluate(args) -> int:
    from core import metrics
    from core.workflows.evaluate import evaluate, format_table, left_out_note, load_judged, write_json

    ks = metrics.parse_ks(args.k)
    if args.json and Path(args.json).is_dir():  # say so before the work, not in a traceback after the table
        raise InvalidInputError(f"--json {args.json} is a folder; give a file name such as {Path(args.json) / 'report.json'}")
    gains = [g.strip() for g in args.gains.split(",") if g.strip()]
    for g in gains:
        metrics.gain(5, g)  # validates the scheme name before any work
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    judged = load_judged(args.judgments, scale=args.scale, url=args.db)
    report = evaluate(judged, models, ks=ks, gains=gains, url=args.db, seed=args.seed,
                      by_language=None if args.by is None else args.by == "language",
                      progress=sys.stderr.isatty(), mode=args.mode)
    head = f"{judged.name}: {judged.pairs['query_id'].nunique()} queries, {len(judged.pairs)} judged pairs; "
    if report["mode"] == "pointwise":
        print(head + "pointwise (about one judged product per query): 5-class accuracy and macro-F1 of the "
              "predicted level, AUC of the score separating exact from irrelevant pairs; 95% bootstrap CIs over "
              f"queries; paired bootstrap test vs {models[0]}, Holm-corrected")
    else:
        print(head + f"gains {', '.join(gains)}; 95% bootstrap CIs over queries; paired randomization test vs "
              f"{models[0]}, Holm-corrected")
    print(format_table(report))
    if note := left_out_note(report):
        print(note)
    if args.json:
        write_json(report, args.json)
        print(f"wrote {args.json}")
    return 0


def _cmd_export(args) -> int:
    from core.workflows import export
    from core.workflows.evaluate import load_judged, run_models

    if args.kind == "labels":
        from core.campaigns.consensus import export_labels
        n = export_labels(args.out, args.db)
        print(f"wrote {n} labels (one per pair: level, rater count, agreement) to {args.out}")
        return 0
    if not args.judgments:
        raise InvalidInputError("export needs --judgments FILE (the pairs to export)")
    judged = load_judged(args.judgments, scale=args.scale, url=args.db)
    if args.kind == "qrels":
        n = export.write_qrels(judged.qrels(), args.out, gains=args.gains)
    else:
        if not args.model:
            raise InvalidInputError("export run needs --model NAME")
        runs, _ = run_models(judged, [args.model], args.db, progress=sys.stderr.isatty())
        n = export.write_run(runs[args.model], args.out, args.model)
    print(f"wrote {n} lines to {args.out}")
    return 0


def _cmd_users(args) -> int:
    from core.store import users

    if args.action == "list":
        for u in users.list_users(args.db):
            print(f"{u.name}\t{u.role}\t{'active' if u.active else 'inactive'}")
        return 0
    if not args.name:
        raise InvalidInputError(f"users {args.action} needs a NAME")
    if args.action in ("deactivate", "reactivate"):
        u = users.set_active(args.name, args.action == "reactivate", url=args.db)
        print(f"{u.name} {'reactivated' if u.active else 'deactivated'}; their open sessions end at their next click")
        return 0
    if args.action == "role":
        if not args.new_role:
            raise InvalidInputError(f"users role needs NAME ROLE; roles: {', '.join(ROLE_NAMES)}")
        u = users.set_role(args.name, args.new_role, url=args.db)
        print(f"{u.name} is now a {u.role}; their open sessions end at their next click")
        return 0
    if args.action == "add":
        if not args.role:
            raise InvalidInputError("users add needs --role rater|researcher|viewer|admin")
        args.name = users.check_name(args.name)  # refuse a bad name before asking for a password
    one_time = not args.password_stdin and not sys.stdin.isatty()
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif not one_time:
        password = getpass.getpass(f"password for {args.name}: ")
    else:
        password = users.generate_password()
    if args.action == "add":
        users.add_user(args.name, args.role, password, must_change=one_time, url=args.db)
        print(f"added {args.role} {args.name}")
    else:
        users.set_password(args.name, password, must_change=one_time, reset=one_time, url=args.db)
        print(f"password of {args.name} changed; their open sessions end at their next click")
    if one_time:
        print(f"one-time password for {args.name}: {password} (they must change it at first sign-in)")
    return 0


def _cmd_backup(args) -> int:
    from core.store.backup import backup

    print(backup(args.file, args.db, force=args.force).summary())
    return 0


def _cmd_restore(args) -> int:
    from core.store.backup import restore

    print(restore(args.file, args.db, force=args.force).summary())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="relevance", description="Relevance Studio: teacher, student, raters, metrics.")
    p.add_argument("--db", default=None, help="SQLAlchemy URL of the store (default: RELEVANCE_DB_URL or data/relevance.db)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    sp = sub.add_parser("init", help="create / migrate the database, import bundled demo data if empty")
    sp.set_defaults(func=_cmd_init)

    sp = sub.add_parser("import", help="import products, judgments or a query log (validated, all or nothing)")
    sp.add_argument("kind", choices=["products", "judgments", "queries"])
    sp.add_argument("file")
    sp.add_argument("--scale", help="judgments: esci | 0-3 | 5pt | a mapping such as 'bad=1,ok=3,great=5'")
    sp.add_argument("--name", help="name of this import (labels get source import:NAME); default: file stem")
    sp.add_argument("--skip-bad-rows", action="store_true",
                    help="import the valid rows and report the bad ones instead of refusing the file")
    sp.set_defaults(func=_cmd_import)

    sp = sub.add_parser("evaluate", help="rerank judged products with each model; nDCG per language with CIs")
    sp.add_argument("--judgments", required=True)
    sp.add_argument("--models", default="bm25,random")
    sp.add_argument("--k", default="20", help="cut-offs, e.g. 20,all (all = whole judged list, ESCI protocol)")
    sp.add_argument("--gains", default="esci,linear", help="gain schemes: esci, linear, exp")
    sp.add_argument("--by", choices=["language", "none"], default=None,
                    help="per-language rows (default: by language for a pointwise file, else none)")
    sp.add_argument("--mode", choices=["listwise", "pointwise"], default=None,
                    help="listwise (nDCG) or pointwise (accuracy, macro-F1, AUC); default: pointwise when the "
                         "median query has fewer than 3 judged products")
    sp.add_argument("--scale", help="scale of a 'grade' column")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--json", help="write the report as JSON (DESIGN.md schema)")
    sp.set_defaults(func=_cmd_evaluate)

    sp = sub.add_parser("export", help="export training labels (Parquet/CSV) or qrels / a model's run (TREC)")
    sp.add_argument("kind", choices=["labels", "qrels", "run"])
    sp.add_argument("--judgments", help="judgments file whose pairs are exported")
    sp.add_argument("--model", help="model for `export run`")
    sp.add_argument("--gains", default="linear", help="qrels relevance values: linear (0-4), esci (100/10/1/0), exp")
    sp.add_argument("--scale")
    sp.add_argument("--out", required=True)
    sp.set_defaults(func=_cmd_export)

    for module in (cli_models, cli_campaigns, cli_flags_notes):  # modules that add their own subcommands
        module.add_commands(sub)

    sp = sub.add_parser("users", help="add, list users, change a password or role, deactivate or reactivate",
                        description="users add NAME --role ROLE | list | passwd NAME | role NAME ROLE | "
                                    "deactivate NAME | reactivate NAME. Names ignore case. A change of password, "
                                    "role or status ends the user's open sessions at their next click.")
    sp.add_argument("action", choices=["add", "list", "passwd", "role", "deactivate", "reactivate"])
    sp.add_argument("name", nargs="?")
    sp.add_argument("new_role", nargs="?", choices=ROLE_NAMES, metavar="ROLE", help="for `users role NAME ROLE`")
    sp.add_argument("--role", choices=["rater", "researcher", "viewer", "admin"])
    sp.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    sp.set_defaults(func=_cmd_users)

    for name, func, help_, description, force in (
            ("backup", _cmd_backup, "write a consistent copy of the store (labels, users, campaigns...) to FILE",
             "SQLite: the online backup API, safe while the app writes; PostgreSQL: pg_dump -Fc (the password "
             "goes through PGPASSWORD). Prints what was saved.", "replace FILE when it exists"),
            ("restore", _cmd_restore, "replace the store by a backup FILE, all or nothing",
             "Restores a file written by `relevance backup` from a store of the same kind; an older schema is "
             "migrated to this version's, a newer one is refused.", "replace a store that holds data")):
        sp = sub.add_parser(name, help=help_, description=description)
        sp.add_argument("file")
        sp.add_argument("--force", action="store_true", help=force)
        sp.set_defaults(func=func)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OperationalError, ProgrammingError) as exc:  # no tables yet, server down, wrong password
        from core.store.session import explain_db_error
        print(f"error: {explain_db_error(exc, getattr(args, 'db', None))}", file=sys.stderr)
        return 2
