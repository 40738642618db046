"""``relevance train`` and ``relevance score``: model commands plugged into the CLI."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

from core import config
from core.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


def _progress() -> bool:
    return sys.stderr.isatty()


def _human_labels(args) -> "pd.DataFrame":  # noqa: F821
    """``--labels FILE`` or the human labels in force (imports plus rater consensus when campaigns exist)."""
    import pandas as pd

    from core.campaigns.consensus import training_labels

    return pd.read_parquet(args.labels) if args.labels else training_labels(args.db)


def _cmd_train(args) -> int:
    if args.what == "teacher":
        return _train_teacher(args)
    return _train_student(args)


def _train_teacher(args) -> int:
    from core.models import teacher
    from core.cache import get_catalog
    from core.workflows.cards.teacher import write_teacher_card

    overrides = {f.name: getattr(args, f.name) for f in fields(teacher.TeacherConfig)
                 if getattr(args, f.name, None) is not None}
    cfg = teacher.TeacherConfig(**overrides)
    if args.cv_merge:
        from core.workflows.teacher_cv import merge_runs
        folder = Path(args.out) if args.out else config.artifact("teacher") / "cv"
        doc = merge_runs(folder, args.cv_name, [x for x in args.cv_merge.split(",") if x])
        print(f"written: {folder / (args.cv_name + '.json')} (folds {', '.join(str(f['fold']) for f in doc['folds'])})")
        return 0
    if args.cv_report:
        from core.workflows.cards.common import rebase_images, splice_section
        from core.workflows.cards.cv_report import write_report
        folder = Path(args.out) if args.out else config.artifact("teacher") / "cv"
        text = write_report(folder)
        card = folder.parent / "model_card.md"
        if card.exists():  # the card of the teacher beside the runs gets the section and its current status too
            splice_section(card, "Cross-validation on esci_multilingual", rebase_images(text, folder.name),
                           before="Cross-lingual probe")
            from core.workflows.cards.teacher import refresh_status
            refresh_status(folder.parent)
        print(text)
        return 0
    labels = _human_labels(args)
    if args.cv or args.unseen:
        return _cross_validate_teacher(args, cfg, labels)
    out = Path(args.out) if args.out else config.artifact("teacher")
    t0 = time.perf_counter()
    if args.biencoder:
        from core.models.teacher.bienc_train import train_biencoder_teacher
        result = train_biencoder_teacher(labels, get_catalog(args.db), out, _biencoder_config(args),
                                         dev_fraction=cfg.dev_fraction, encoder_listwise=args.all_pairs,
                                         progress=_progress())
    else:
        result = teacher.train_teacher(labels, get_catalog(args.db), out, cfg, resume=not args.no_resume,
                                       progress=_progress())
    minutes = (time.perf_counter() - t0) / 60
    card = write_teacher_card(out, result, labels, url=args.db, minutes=minutes,
                              command="relevance " + " ".join(sys.argv[1:]))
    print(card)
    return 0


def _biencoder_config(args):
    """``BiEncoderConfig`` with the teacher flags that apply to it (``--epochs``, ``--lr``, ``--freeze-layers``,
    ``--batch-size``, ``--seed``, ``--max-length``; ``--backbone``: a local model folder as its base) where given."""
    from core.models.teacher.biencoder import BiEncoderConfig
    given = {k: getattr(args, k) for k in ("epochs", "lr", "freeze_layers", "batch_size", "seed", "max_length")
             if getattr(args, k, None) is not None}
    if args.backbone is not None:
        given["base"] = args.backbone
    return BiEncoderConfig(**given)


def _cross_validate_teacher(args, cfg, labels) -> int:
    from core.cache import get_catalog
    from core.workflows.teacher_cv import cross_validate, cross_validate_prior, split_by_data_set

    listwise, pointwise = split_by_data_set(labels, args.cv_set)
    if pointwise.empty:
        raise SystemExit(f"no labels imported as {args.cv_set!r}; run `relevance init` or "
                         f"`relevance import judgments FILE --name {args.cv_set}`")
    out = Path(args.out) if args.out else config.artifact("teacher") / "cv"
    langs = [x for x in (args.train_languages or "").split(",") if x]
    folds = [int(x) for x in args.folds.split(",")] if args.folds else None
    if args.biencoder:
        from core.workflows.biencoder_cv import cross_validate_biencoder
        doc = cross_validate_biencoder(listwise, pointwise, get_catalog(args.db), out, _biencoder_config(args),
                                       n_folds=args.cv,
                                       folds=folds, name=args.cv_name, teacher_cfg=cfg,
                                       train_languages=langs or None, max_train_queries=args.max_train_queries,
                                       encoder_listwise=args.all_pairs)
    elif args.prior_only:
        doc = cross_validate_prior(listwise, pointwise, get_catalog(args.db), out, cfg, n_folds=args.cv,
                                   train_languages=langs or None, max_train_queries=args.max_train_queries,
                                   name=args.cv_name, unseen=args.unseen, pointwise_only=args.pointwise_only)
    else:
        doc = cross_validate(listwise, pointwise, get_catalog(args.db), out, cfg, n_folds=args.cv,
                             folds=folds, train_languages=langs or None, max_train_queries=args.max_train_queries,
                             progress=_progress(), name=args.cv_name, unseen=args.unseen,
                             pointwise_only=args.pointwise_only)
    import pandas as pd
    rows = pd.DataFrame(doc["rows"])[["model", "language", "accuracy", "macro_f1", "auc", "n_pairs", "p_holm",
                                      "p_holm_auc"]]
    print(rows.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"written: {out / (args.cv_name + '.json')}")
    return 0


def _cmd_score(args) -> int:
    from core.cache import get_catalog, get_scorer
    from core.store.pairs import judged_pairs
    from core.workflows.scoring import candidate_pairs, pairs_from_file, score_frame, score_ray, score_resumable
    from core.store.predictions import store_predictions

    url = args.db
    from core.models.registry import available
    if args.model not in available():  # before any folder is made from the name (``../../x``)
        raise InvalidInputError(f"unknown model {args.model[:80]!r}; available: {', '.join(available())}")
    catalog = get_catalog(url)
    if args.pairs:
        pairs, source = pairs_from_file(args.pairs, set(catalog.ids)), Path(args.pairs).stem
    elif args.candidates:
        pairs, source = candidate_pairs(args.candidates, url), f"candidates{args.candidates}"
    else:
        pairs, source = judged_pairs(url), "judged"
    if pairs.empty:
        raise InvalidInputError("no pairs to score: import judgments, or use --pairs FILE / --candidates K")
    out = Path(args.out) if args.out else config.path("artifacts_dir") / args.model / "predictions" / f"{source}.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.engine == "ray":
        result = score_ray(args.model, pairs, url=url, address=args.ray_address, actors=args.actors,
                           batch_size=args.batch_size)
        result.to_parquet(out, index=False)
    else:
        kwargs = {"int8": True} if args.int8 else {}
        scorer = get_scorer(args.model, url, **kwargs)
        result = score_resumable(lambda chunk, advance: score_frame(scorer, chunk, catalog, args.batch_size, advance),
                                 pairs, out, progress=_progress())
    print(f"scored {len(result)} pairs with {args.model} -> {out}")
    if args.store:
        print(f"stored {store_predictions(result, args.model, url)} predictions in the database")
    return 0


def add_commands(sub) -> None:
    from core.models.teacher import TeacherConfig
    from core.models.teacher.biencoder import BiEncoderConfig

    bienc = {f.name: f.default for f in fields(BiEncoderConfig)}
    sp = sub.add_parser("train", help="train the teacher or the student")
    sp.add_argument("what", choices=["teacher", "student"])
    sp.add_argument("--out", help="artifact folder (default: artifacts/teacher or artifacts/student)")
    sp.add_argument("--labels", help="Parquet of labels (query_id, query, product_id, level); default: the store")
    sp.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint")
    for f in fields(TeacherConfig):
        kind = {"int": int, "float": float, "str": str, "bool": None}.get(str(f.type).split(" ")[0])
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool",):
            sp.add_argument(flag, dest=f.name, action="store_true", default=None)
        else:
            sp.add_argument(flag, dest=f.name, type=kind or _int_or_none, default=None,
                            help=f"teacher: default {f.default}" + (f" (--biencoder: {bienc[f.name]})"
                                                                    if f.name in bienc else ""))
    sp.add_argument("--cv", type=int, default=0, metavar="N",
                    help="teacher: N-fold query-grouped cross-validation over --cv-set instead of one training")
    sp.add_argument("--cv-merge", metavar="RUN,RUN",
                    help="teacher: merge runs of one setting over other folds (e.g. --folds 0,1 and 2,3 on two "
                         "machines) into --cv-name, in --out (default artifacts/teacher/cv)")
    sp.add_argument("--cv-report", action="store_true",
                    help="teacher: write <out>/cv.md and the learning-curve SVGs from the cross-validation runs there")
    sp.add_argument("--prior-only", action="store_true",
                    help="teacher --cv: the feature prior alone on the same folds (seconds per fold, no cross-encoder)")
    sp.add_argument("--biencoder", action="store_true",
                    help="teacher: the bi-encoder teacher (the feature prior + the cosine of e5 fine-tuned as a "
                         "bi-encoder; no cross-encoder), with --cv per fold; pointwise training pairs (see --all-pairs); --epochs, "
                         "--lr, --freeze-layers, --batch-size, --max-length apply to the bi-encoder, --backbone names "
                         "its base (e5-small, the default, or a local model folder)")
    sp.add_argument("--all-pairs", action="store_true",
                    help="teacher --biencoder (and --cv): the bi-encoder also fine-tunes on the listwise training "
                         "queries' pairs (esci_us); the feature prior's regression stays on the pointwise pairs")
    sp.add_argument("--cv-set", default="esci_multilingual", help="teacher: the pointwise data set to fold")
    sp.add_argument("--cv-name", default="cv", help="teacher: name of the results (<out>/<name>.json)")
    sp.add_argument("--folds", help="teacher: run only these folds, e.g. 0,1")
    sp.add_argument("--train-languages", help="teacher --cv: train on pointwise pairs of these languages only")
    sp.add_argument("--pointwise-only", action="store_true",
                    help="teacher --cv/--unseen: train on the pointwise pairs alone (no esci_us training queries; "
                         "its dev queries are still measured)")
    sp.add_argument("--unseen", action="store_true",
                    help="teacher: instead of folds, one training on every pointwise pair of --train-languages, "
                         "tested on every pair of the other languages (the unseen-language test)")
    sp.add_argument("--max-train-queries", type=int, default=None,
                    help="teacher --cv: at most this many pointwise training queries per fold (learning curve)")
    _student_options(sp)
    sp.add_argument("--kind", choices=["student", "student-human", "student-mixed"], default=None,
                    help="student: which student to retrain from the saved teacher labels (default student)")
    sp.add_argument("--teacher-labels", help="student: Parquet of teacher labels (default "
                                             "artifacts/distill/teacher_labels.parquet)")
    sp.set_defaults(func=_cmd_train)

    sp = sub.add_parser("distill", help="teacher-label unlabeled pairs and train student, student-human, "
                                        "student-mixed (see core/workflows/distill.py)")
    sp.add_argument("--labels", help="Parquet of human labels (query_id, query, product_id, level); default: the store")
    sp.add_argument("--query-log", help="a query-log CSV whose queries join the stored ones")
    sp.add_argument("--out", help="folder of the teacher labels and the curve (default artifacts/distill)")
    sp.add_argument("--k-bm25", type=int, default=60, help="BM25 candidates per query (default 60)")
    sp.add_argument("--k-embed", type=int, default=60, help="embedding candidates per query (default 60)")
    sp.add_argument("--max-pairs", type=int, default=20_000,
                    help="teacher budget in pairs (default 20000; 0 = the whole pool)")
    sp.add_argument("--amplify", type=float, default=None,
                    help="label at most this many times the human training pairs (default: as far as the pool "
                         "and --max-pairs allow)")
    sp.add_argument("--curve", default=None, help="amplification points of the curve (default 0.25,0.5,1,2,5,10)")
    sp.add_argument("--batch-size", type=int, default=32, help="teacher batch size")
    sp.add_argument("--int8", action="store_true", help="teacher: dynamic int8 on CPU (bench/teacher_int8.py measures what it costs)")
    sp.add_argument("--no-label", action="store_true", help="train from the saved teacher labels only")
    for flag, typ in (("--epochs", int), ("--lr", float), ("--weight-decay", float), ("--seed", int),
                      ("--threads", int)):
        sp.add_argument(flag, type=typ, default=None, help="student")
    _student_options(sp)
    sp.set_defaults(func=_cmd_distill)

    sp = sub.add_parser("score", help="score pairs with a model; Parquet with 5 probabilities, expected, argmax")
    sp.add_argument("model")
    src = sp.add_mutually_exclusive_group()
    src.add_argument("--pairs", help="CSV/Parquet with query and product_id")
    src.add_argument("--judged", action="store_true", help="every labelled pair in the store (default)")
    src.add_argument("--candidates", type=int, metavar="K", help="stored queries × BM25 top-K products")
    sp.add_argument("--out", help="Parquet output (default: artifacts/<model>/predictions/<source>.parquet)")
    sp.add_argument("--engine", choices=["local", "ray"], default="local")
    sp.add_argument("--ray-address", help="Ray cluster address (default: a local Ray)")
    sp.add_argument("--actors", type=int, default=None, help="Ray actors (one model each; default: CPUs/2 or GPUs)")
    sp.add_argument("--batch-size", type=int, default=32)
    sp.add_argument("--int8", action="store_true", help="dynamic int8 quantisation on CPU (teacher)")
    sp.add_argument("--store", action="store_true", help="also write the predictions into the store")
    sp.set_defaults(func=_cmd_score)


def _student_options(sp) -> None:
    sp.add_argument("--teacher", help="student: teacher artifact folder (default artifacts/teacher)")
    sp.add_argument("--encoder", choices=["use", "e5"], default="use", help="student: sentence encoder")
    sp.add_argument("--temperature", type=float, default=None, help="student: distillation temperature (default 2)")
    sp.add_argument("--hidden", default=None, help="student: hidden sizes, e.g. 128,32")
    sp.add_argument("--dropout", type=float, default=None, help="student: dropout (default 0.2)")


def _student_config(args, skip: tuple[str, ...] = ()):
    """StudentConfig from CLI flags (``--epochs``, ``--lr``, ``--temperature``, ``--hidden 128,32`` …)."""
    from core.models.student import StudentConfig

    over = {}
    names = ("epochs", "batch_size", "lr", "weight_decay", "temperature", "seed", "threads", "dropout")
    for name in (n for n in names if n not in skip):
        v = getattr(args, name, None)
        if v is not None:
            over[name] = v
    hidden = getattr(args, "hidden", None)
    if hidden:
        over["hidden"] = tuple(int(x) for x in str(hidden).split(",") if x.strip())
    return StudentConfig(**over)


def _train_student(args) -> int:
    """``relevance train student``: retrain one student (``--kind``) from the saved teacher labels."""
    from core.workflows import distill

    kind = getattr(args, "kind", None) or "student"
    out, data = distill.retrain(
        kind, url=args.db, human=_human_labels(args), teacher_dir=Path(args.teacher or config.artifact("teacher")),
        labels_path=Path(args.teacher_labels or distill.default_out() / distill.LABELS_FILE),
        cfg=_student_config(args), encoder=args.encoder or "use", out=Path(args.out) if args.out else None)
    print(f"trained {kind} on {len(data.teacher)} teacher-labelled and {len(data.human)} human pairs -> {out}")
    return 0


def _cmd_distill(args) -> int:
    from core.workflows import distill
    from core.models.features import FeatureConfig

    curve = tuple(float(x) for x in args.curve.split(",")) if args.curve else distill.DistillConfig.curve
    cfg = distill.DistillConfig(k_bm25=args.k_bm25, k_embed=args.k_embed,
                                max_pairs=None if args.max_pairs in (None, 0) else args.max_pairs,
                                amplify=args.amplify, curve=curve, teacher_batch_size=args.batch_size,
                                int8=args.int8, seed=args.seed if args.seed is not None else 0)
    summary = distill.run(url=args.db, human=_human_labels(args), teacher_dir=Path(args.teacher or config.artifact("teacher")),
                          out=Path(args.out or distill.default_out()), artifacts=config.path("artifacts_dir"),
                          cfg=cfg, student_cfg=_student_config(args, skip=("batch_size",)),  # --batch-size: teacher's
                          fcfg=FeatureConfig(encoder=args.encoder), query_log=args.query_log,
                          label=not args.no_label, progress=_progress(),
                          command="relevance " + " ".join(sys.argv[1:]))
    print(f"{summary['teacher_pairs']} teacher-labelled and {summary['human_pairs']} human training pairs "
          f"(amplification {summary['amplification']:.2f}); students in {config.path('artifacts_dir')}; "
          f"see artifacts/student/model_card.md")
    return 0


def _int_or_none(v: str):
    return None if v.lower() == "none" else int(v)
