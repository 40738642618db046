"""Subcommands for campaigns, agreement and the training-label export (plugged into ``core.cli``).

```
relevance campaign create NAME [--kind grade|side_by_side] [--strategy ...] [--tasks N] [--languages en,es]
                               [--raters a,b] [--overlap-k K --overlap-share S] [--gold-ratio R --gold-sources gold]
                               [--instructions FILE.md]
relevance campaign list [--all] | progress NAME | add-raters NAME a,b | results NAME [--models teacher,student] [--k 10]
relevance campaign pause|resume|close|archive|delete NAME | instructions NAME FILE.md|-|--clear
relevance agreement [--labels FILE [--scale esci|0-3|5pt|MAP]] [--campaign NAME] [--min-shared N] [--json OUT]
relevance export-labels --out FILE.parquet|.csv [--campaign NAME] [--no-imports] [--method median|weighted]
                        [--raw | --answers]
```
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pandas as pd

from core.errors import InvalidInputError


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(x.strip() for x in (text or "").split(",") if x.strip())


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def read_text(path: str, what: str = "instructions are a Markdown or text file") -> str:
    """A text file's content (``-``: standard input); ``what`` says in the error what the file should be."""
    if path == "-":
        return sys.stdin.read()
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no file {path!r} ({what}; '-' reads stdin)")
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path!r} is not UTF-8 text (byte {exc.start}); {what}") from None


# The option of `campaign create` that sets each CampaignSpec field (the name is the positional argument): the
# command reads a spec through it (spec_from_args) and the web server writes one back (create_args), so a field
# added to the spec needs its option here and in add_commands only. Fields with a tuple default are lists, written
# comma-separated; instructions travel in a file (the option takes FILE).
CREATE_OPTIONS = {"kind": "--kind", "strategy": "--strategy", "n_tasks": "--tasks", "languages": "--languages",
                  "raters": "--raters", "overlap_k": "--overlap-k", "overlap_share": "--overlap-share",
                  "gold_ratio": "--gold-ratio", "gold_sources": "--gold-sources", "n_gold": "--n-gold",
                  "lease_seconds": "--lease-seconds", "models": "--models", "measure": "--measure",
                  "candidates": "--candidates", "bm25_k": "--bm25-k", "rerank_depth": "--rerank-depth",
                  "pool_depth": "--pool-depth", "sbs_k": "--sbs-k", "unlabelled_only": "--unlabelled-only",
                  "seed": "--seed", "dataset": "--dataset", "created_by": "--created-by",
                  "instructions": "--instructions"}


def _spec_fields():
    from dataclasses import fields

    from core.campaigns.spec import CampaignSpec

    return [f for f in fields(CampaignSpec) if f.name != "name"]


def spec_from_args(args):
    """The ``CampaignSpec`` that parsed ``campaign create`` arguments describe (the instructions file is read)."""
    from core.campaigns.spec import CampaignSpec

    values = {}
    for f in _spec_fields():
        if f.name not in CREATE_OPTIONS:  # no option yet: the spec's default (create_args refuses another value)
            continue
        value = getattr(args, CREATE_OPTIONS[f.name].removeprefix("--").replace("-", "_"))
        if f.name == "instructions":
            value = read_text(value) if value else ""
        elif isinstance(f.default, tuple):
            value = _split(value)
        values[f.name] = value
    return CampaignSpec(name=args.name, **values)


def create_args(spec, instructions_file: str | Path | None = None) -> list[str]:
    """The arguments of ``relevance campaign create`` that make ``spec`` (``["campaign", "create", NAME, ...]``),
    the inverse of the command's own reading (``spec_from_args``): how a campaign is started as a background job.

    Lists are written comma-separated, a true flag alone; a value left at an empty default (None, False, 0, "", ())
    is left out. A name that starts with ``-`` goes last, after ``--``.

    Args:
        spec: the ``CampaignSpec``.
        instructions_file: where the spec's instructions are written for ``--instructions FILE`` (needed only
            when it has some).

    Raises:
        InvalidInputError: the spec has instructions and no ``instructions_file`` was given, or a field without an
            option in ``CREATE_OPTIONS`` holds a value.
    """
    out = []
    for f in _spec_fields():
        option, value = CREATE_OPTIONS.get(f.name), getattr(spec, f.name)
        if not value and value == f.default:
            continue
        if option is None:
            raise InvalidInputError(f"`campaign create` has no option for the spec's {f.name}; got {value!r} "
                                    f"(add one to CREATE_OPTIONS and the command's parser)")
        if f.name == "instructions":
            if instructions_file is None:
                raise InvalidInputError("a campaign's instructions go to `campaign create` in a file: give "
                                        "instructions_file, the path to write them to")
            Path(instructions_file).write_text(value, encoding="utf-8")
            value = str(instructions_file)
        elif isinstance(value, bool):  # a store_true flag: it can say True only
            if not value:
                raise InvalidInputError(f"{option} can only turn {f.name} on; got {value!r} against the default "
                                        f"{f.default!r}")
            out.append(option)
            continue
        elif isinstance(value, tuple):
            value = ",".join(value)
        value = str(value)
        out += [f"{option}={value}"] if value.startswith("-") else [option, value]
    if spec.name.startswith("-"):  # else read as an option
        return ["campaign", "create", *out, "--", spec.name]
    return ["campaign", "create", spec.name, *out]


def _cmd_create(args) -> int:
    from core.campaigns import create_campaign

    info = create_campaign(spec_from_args(args), url=args.db)
    print(f"created {info.kind} campaign {info.name!r}: {info.n_tasks} tasks ({info.strategy}), {info.n_gold} gold, "
          f"raters: {', '.join(info.raters) or 'none yet'}")
    return 0


def _cmd_list(args) -> int:
    from core.campaigns import list_campaigns, progress

    rows = []
    for c in list_campaigns(include_archived=args.all, url=args.db):
        p = progress(c.id, url=args.db)
        rows.append({"name": c.name, "kind": c.kind, "strategy": c.strategy,
                     "languages": ",".join(c.languages) or "all",
                     "tasks": c.n_tasks, "gold": c.n_gold, "overlap": f"{c.overlap_k}x{c.overlap_share:g}",
                     "raters": len(c.raters), "done": f"{p.ratings_done}/{p.ratings_required}", "status": c.status})
    print(pd.DataFrame(rows).to_string(index=False) if rows else
          "no campaigns yet (`relevance campaign create NAME`)" if args.all else
          "no campaigns outside the archive (`relevance campaign list --all` lists archived ones too)")
    return 0


def _cmd_status(args) -> int:
    from core.campaigns import set_status

    info = set_status(args.name, args.action, url=args.db)
    print(f"campaign {info.name!r} is {info.status}")
    return 0


def _cmd_delete(args) -> int:
    from core.campaigns import delete_campaign

    print(f"deleted campaign {delete_campaign(args.name, url=args.db)!r} with its tasks")
    return 0


def _cmd_instructions(args) -> int:
    from core.campaigns import set_instructions

    if bool(args.file) == bool(args.clear):
        raise InvalidInputError("give the instructions FILE (Markdown; '-' reads stdin) or --clear")
    info = set_instructions(args.name, "" if args.clear else read_text(args.file), url=args.db)
    text = info.config.get("instructions", "")
    print(f"campaign {info.name!r}: " + (f"instructions set ({len(text):,} characters)" if text else
                                        "instructions removed"))
    return 0


def _cmd_progress(args) -> int:
    from core.campaigns import progress

    p = progress(args.name, url=args.db)
    print(f"{p.campaign} ({p.kind}): {p.ratings_done}/{p.ratings_required} ratings ({p.fraction:.0%}), "
          f"{p.tasks_complete}/{p.tasks} tasks complete; {p.gold_ratings} ratings on {p.gold_tasks} gold tasks")
    if p.raters:
        df = pd.DataFrame([r.__dict__ for r in p.raters])
        print(df.to_string(index=False, formatters={"median_seconds": _fmt}))
    return 0


def _cmd_add_raters(args) -> int:
    from core.campaigns import add_raters

    print(f"raters of {args.name}: {', '.join(add_raters(args.name, _split(args.raters), url=args.db))}")
    return 0


def _cmd_results(args) -> int:
    from core.campaigns import get_campaign
    from core.campaigns.consensus import models_vs_humans, side_by_side_results

    c = get_campaign(args.name, url=args.db)
    if c.kind == "side_by_side":
        df = side_by_side_results(c.id, url=args.db)
        print("win rate of the first model = wins / (wins + losses), 95% Wilson CI; ties reported apart")
    else:
        df = models_vs_humans(args.db, _split(args.models), ks=args.k, campaign=c.id)
        print("models against the raters' consensus; nDCG with 95% bootstrap CIs over queries")
    print(df.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    return 0


def _cmd_agreement(args) -> int:
    from core.metrics import agreement as agr
    from core.campaigns.consensus import store_agreement
    from core.ingest import read_ratings

    if args.labels:
        ratings, levels = read_ratings(args.labels, scale=args.scale)
        report = agr.agreement(ratings, levels=levels, min_shared=args.min_shared)
        where = args.labels
    else:
        if args.scale:
            raise InvalidInputError("--scale applies to --labels FILE only (store labels are on the 5-point scale)")
        report = store_agreement(args.db, args.campaign, min_shared=args.min_shared)
        where = f"campaign {args.campaign}" if args.campaign else "all campaigns"
    print(f"{where}: {report.n_labels} labels, {report.n_items} items, {report.n_items_multi} with ≥ 2 ratings, "
          f"{len(report.raters)} raters")
    print(f"  Krippendorff's alpha (ordinal)       {_fmt(report.alpha_ordinal)}")
    print(f"  Cohen's kappa (quadratic), mean      {_fmt(report.kappa_quadratic)}  "
          f"over {report.kappa_pairs} rater pairs sharing ≥ {report.min_shared} items")
    print(f"  exact agreement                      {_fmt(report.exact)}")
    print(f"  within-one agreement                 {_fmt(report.within_one)}")
    table = report.raters.drop(columns=["level_shares"]).assign(flags=report.raters["flags"].map("; ".join))
    figures = ("median_seconds", "consensus_agreement", "gold_accuracy", "gold_within_one", "level_tvd")
    print(table.to_string(index=False, formatters=dict.fromkeys(figures, _fmt)))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report.to_dict(), f, indent=2)
        print(f"wrote {args.json}")
    return 0


def _cmd_export_labels(args) -> int:
    from core.campaigns.consensus import export_labels

    if args.raw or args.answers:
        from core.workflows.export import write_export

        n = write_export("raw" if args.raw else "answers", args.out, campaign=args.campaign, url=args.db)
        print(f"wrote {n} {'label' if args.raw else 'side-by-side answer'} rows to {args.out}")
        return 0
    n = export_labels(args.out, args.db, include_imports=not args.no_imports, campaign=args.campaign,
                      method=args.method, exclude_flagged=not args.keep_flagged)
    print(f"wrote {n} labelled pairs to {args.out}")
    return 0


def add_commands(sub) -> None:
    """Register ``campaign``, ``agreement`` and ``export-labels`` on the ``relevance`` parser."""
    from core.campaigns.spec import CANDIDATES, KINDS, MEASURES, STRATEGIES

    camp = sub.add_parser("campaign", help="rating campaigns: create, list, progress, add raters, results")
    csub = camp.add_subparsers(dest="action", required=True)
    sp = csub.add_parser("create", help="sample tasks and create a campaign")
    sp.add_argument("name")
    sp.add_argument("--kind", choices=KINDS, default="grade")
    sp.add_argument("--strategy", choices=STRATEGIES, default="random")
    sp.add_argument("--tasks", type=int, default=100, help="grade: pairs; side_by_side: queries")
    sp.add_argument("--languages", help="comma-separated ISO 639-1 codes (default: all)")
    sp.add_argument("--raters", help="comma-separated user names")
    sp.add_argument("--overlap-k", type=int, default=1, help="ratings needed by an overlapping task")
    sp.add_argument("--overlap-share", type=float, default=1.0, help="share of tasks that need --overlap-k ratings")
    sp.add_argument("--gold-ratio", type=float, default=0.0, help="share of each rater's tasks drawn from gold pairs")
    sp.add_argument("--gold-sources", default="gold", help="label sources trusted as gold, e.g. gold,import:trusted")
    sp.add_argument("--n-gold", type=int, default=None)
    sp.add_argument("--lease-seconds", type=int, default=900)
    sp.add_argument("--models", default="teacher,student", help="disagreement/uncertainty/pool/side_by_side models")
    sp.add_argument("--measure", choices=MEASURES, default="expected", help="disagreement: expected-level gap or JS")
    sp.add_argument("--candidates", choices=CANDIDATES, default="auto")
    sp.add_argument("--bm25-k", type=int, default=20)
    sp.add_argument("--rerank-depth", type=int, default=100)
    sp.add_argument("--pool-depth", type=int, default=10)
    sp.add_argument("--sbs-k", type=int, default=10)
    sp.add_argument("--unlabelled-only", action="store_true")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--dataset", help="sample only queries labelled in this data set (an import's name, or raters)")
    sp.add_argument("--created-by", help="the user the campaign is recorded as made by")
    sp.add_argument("--instructions", metavar="FILE", help="the raters' instructions (Markdown; '-' reads stdin), "
                                                            "shown on Rate and Compare")
    sp.set_defaults(func=_cmd_create)
    sp = csub.add_parser("list", help="campaigns with their progress (archived ones with --all)")
    sp.add_argument("--all", action="store_true", help="archived campaigns too")
    sp.set_defaults(func=_cmd_list)
    status_help = {"pause": "hand out no new tasks until resumed (answers to tasks on screen are still taken)",
                   "resume": "make a paused, closed or archived campaign active again",
                   "close": "end the labelling: no task, answer, skip or undo is taken",
                   "archive": "close and hide from the default lists (labels stay in force)"}
    for action, text in status_help.items():
        sp = csub.add_parser(action, help=text)
        sp.add_argument("name")
        sp.set_defaults(func=_cmd_status, action=action)
    sp = csub.add_parser("delete", help="delete a campaign that holds no labels or answers (else close/archive it)")
    sp.add_argument("name")
    sp.set_defaults(func=_cmd_delete)
    sp = csub.add_parser("instructions", help="set the raters' instructions (Markdown) shown on Rate and Compare")
    sp.add_argument("name")
    sp.add_argument("file", nargs="?", help="Markdown or text file; '-' reads stdin")
    sp.add_argument("--clear", action="store_true", help="remove the instructions")
    sp.set_defaults(func=_cmd_instructions)
    sp = csub.add_parser("progress", help="done/total ratings and per-rater counts")
    sp.add_argument("name")
    sp.set_defaults(func=_cmd_progress)
    sp = csub.add_parser("add-raters", help="add users to a campaign's raters")
    sp.add_argument("name")
    sp.add_argument("raters", help="comma-separated user names")
    sp.set_defaults(func=_cmd_add_raters)
    sp = csub.add_parser("results", help="models against the raters (grade) or side-by-side win rates")
    sp.add_argument("name")
    sp.add_argument("--models", default="teacher,student")
    sp.add_argument("--k", default="10")
    sp.set_defaults(func=_cmd_results)

    sp = sub.add_parser("agreement", help="rater agreement: Krippendorff's alpha, kappa, per-rater figures")
    sp.add_argument("--labels", help="multi-rater file (query, product_id or doc_id, rater, a level column)")
    sp.add_argument("--scale", help="scale of the level column: esci | 0-3 | 5pt | a mapping such as 'bad=1,good=5'")
    sp.add_argument("--campaign", help="store labels of this campaign only (default: all campaigns)")
    sp.add_argument("--min-shared", type=int, default=5, help="rater pairs need this many shared items for kappa")
    sp.add_argument("--json", help="write the figures as JSON")
    sp.set_defaults(func=_cmd_agreement)

    sp = sub.add_parser("export-labels", help="write the training labels in force (consensus + imports)")
    sp.add_argument("--out", required=True, help="FILE.parquet or FILE.csv")
    sp.add_argument("--campaign", help="one campaign's raters only")
    sp.add_argument("--no-imports", action="store_true", help="rater consensus only")
    sp.add_argument("--method", choices=["median", "weighted"], default="median")
    sp.add_argument("--keep-flagged", action="store_true", help="let flagged raters vote too")
    raw = sp.add_mutually_exclusive_group()
    raw.add_argument("--raw", action="store_true", help="every label row (undo rows too) with rater and time, "
                                                       "not the labels in force")
    raw.add_argument("--answers", action="store_true", help="every side-by-side answer row with rater and time")
    sp.set_defaults(func=_cmd_export_labels)
