"""``relevance distill``: teacher-label unlabeled pairs and train the three students.

1. **Pairs.** Stored queries (judged ones and the imported query log) plus an optional query-log file,
   each × its BM25 top-``k_bm25`` and embedding top-``k_embed`` catalog products, deduplicated. Pairs
   with a human label are left out (they are the human training set), and so is every query of the
   teacher's dev split (``teacher.json`` ``dev_query_ids``), so the students' dev evaluation is honest.
   The pool is shuffled with a seed, so any prefix is a uniform sample and ``max_pairs`` caps the
   teacher's budget.
2. **Teacher labels.** Scored with the teacher through ``core.workflows.scoring.score_resumable`` (Parquet parts,
   progress bar; a rerun resumes), appended to ``<out>/teacher_labels.parquet``; pairs already labelled
   by the same teacher (same adapter fingerprint) are never scored twice.
3. **Students.** ``student-human`` (human labels of the teacher's training queries), ``student``
   (teacher soft labels) and ``student-mixed`` (both), plus the amplification curve: students on
   growing samples of the teacher-labelled pairs, amplification = teacher-labelled pairs / human
   training pairs. Everything is evaluated on the teacher's dev queries.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from core import config
from core.catalog import Catalog
from core.errors import InvalidInputError
from core.models.features import FeatureBuilder, FeatureConfig
from core.models.student import Student, StudentConfig, fit, save
from core.models.teacher.config import read_teacher_meta, teacher_fingerprint
from core.scale import PROB_COLS
from core.text.queries import query_id_for, query_key
from core.workflows.scoring import score_frame, score_resumable

log = logging.getLogger(__name__)
LABELS_FILE = "teacher_labels.parquet"


@dataclass(frozen=True)
class DistillConfig:
    """Options of ``relevance distill`` (saved in ``<out>/distill.json``)."""

    k_bm25: int = 60
    k_embed: int = 60
    max_pairs: int | None = 20_000
    amplify: float | None = None
    curve: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
    teacher_batch_size: int = 32
    int8: bool = False
    seed: int = 0

    def budget(self, pool: int, human_train: int) -> int:
        """Pairs to teacher-label: the pool, capped by ``max_pairs`` and by ``amplify`` × human training pairs."""
        n = pool if not self.max_pairs else min(pool, self.max_pairs)
        return n if not self.amplify else min(n, int(round(self.amplify * human_train)))


def default_out() -> Path:
    return config.path("artifacts_dir") / "distill"


def dev_query_ids(teacher_dir: str | Path) -> set[str]:
    ids = read_teacher_meta(teacher_dir).get("dev_query_ids")
    if not ids:
        raise InvalidInputError(f"{Path(teacher_dir) / 'teacher.json'} lists no dev_query_ids; retrain the teacher "
                                f"with this version")
    return set(ids)


def pool_queries(url: str | None = None, query_log: str | Path | None = None) -> pd.DataFrame:
    """Queries of the store (judged and logged), plus those of a query-log CSV: query_id, query."""
    from core.store.pairs import query_texts

    df = query_texts(url)
    if query_log:
        log_df = pd.read_csv(query_log)
        texts = [" ".join(str(t).split()) for t in log_df["query"].dropna()]
        extra = pd.DataFrame({"query": [t for t in texts if t]})
        extra.insert(0, "query_id", [query_id_for(t) for t in extra["query"]])
        df = pd.concat([df, extra], ignore_index=True)
    # one row per query: a stored query keeps its id (older stores hold 40-bit ids) when the log repeats its text
    keys = df["query"].map(query_key)
    df = df[~keys.duplicated()]
    return df.drop_duplicates("query_id").sort_values("query_id", ignore_index=True)


def candidate_pool(queries: pd.DataFrame, features: FeatureBuilder, *, k_bm25: int, k_embed: int,
                   exclude_pairs: set[tuple[str, str]], exclude_queries: set[str], seed: int = 0,
                   progress: bool = False) -> pd.DataFrame:
    """Unlabeled pairs: each query × its BM25 and embedding top-k, deduplicated, exclusions removed, shuffled.

    Returns columns query_id, query, product_id, source (``bm25``, ``embed`` or ``both``).
    """
    from tqdm.auto import tqdm

    cat = features.catalog
    ids = cat.ids.to_numpy()
    features.warm(progress=progress)
    P = features.embeddings(np.arange(len(cat)))
    keep = queries[~queries["query_id"].isin(exclude_queries)]
    rows = []
    for qid, text in tqdm(zip(keep["query_id"], keep["query"]), total=len(keep), desc="candidates",
                          disable=not progress, leave=False):
        bm = np.asarray(features.bm25.score_all(text))
        top_bm = [i for i in np.argsort(-bm, kind="stable")[:k_bm25] if bm[i] > 0]
        cos = P @ features.encoder.encode_queries([text])[0]
        top_em = np.argsort(-cos, kind="stable")[:k_embed].tolist()
        src = dict.fromkeys(top_bm, "bm25")
        for i in top_em:
            src[i] = "both" if i in src else "embed"
        rows += [(qid, text, ids[i], s) for i, s in src.items() if (qid, ids[i]) not in exclude_pairs]
    pool = pd.DataFrame(rows, columns=["query_id", "query", "product_id", "source"])
    return pool.sample(frac=1.0, random_state=seed, ignore_index=True)


def teacher_label(pool: pd.DataFrame, teacher, catalog: Catalog, out_dir: Path, *, fingerprint: str,
                  batch_size: int = 32, progress: bool = False, precision: str = "fp32") -> tuple[pd.DataFrame, dict]:
    """Teacher probabilities for every pair of ``pool``, reusing ``out_dir/teacher_labels.parquet``.

    Returns the labels of ``pool``'s pairs (columns of the pool + p1…p5, expected, argmax) and a
    summary (pairs scored now, seconds, pairs/s).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    labels_file, meta_file = out_dir / LABELS_FILE, out_dir / "teacher_labels.json"
    old = pd.DataFrame(columns=["query_id", "query", "product_id", "source", *PROB_COLS, "expected", "argmax"])
    meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
    if labels_file.exists():
        if meta.get("teacher") == fingerprint:
            old = pd.read_parquet(labels_file)
        else:
            log.warning("%s was labelled by another teacher (%s, now %s): labelling again", labels_file,
                        meta.get("teacher"), fingerprint)
            meta = {}
    done = set(zip(old["query_id"], old["product_id"]))
    todo = pool[[(q, p) not in done for q, p in zip(pool["query_id"], pool["product_id"])]].reset_index(drop=True)
    t0 = time.perf_counter()
    if len(todo):
        log.info("teacher-labelling %d pairs (%d already labelled)", len(todo), len(pool) - len(todo))
        new = score_resumable(lambda chunk, advance: score_frame(teacher, chunk, catalog, batch_size, advance)
                              .assign(source=chunk["source"].to_numpy()),
                              todo, out_dir / "new_labels.parquet", progress=progress, part_pairs=1_000)
        (out_dir / "new_labels.parquet").unlink(missing_ok=True)
        probs = new[PROB_COLS].to_numpy(np.float32)
        new[PROB_COLS] = probs
        new["expected"] = new["expected"].astype(np.float32)
        both = pd.concat([old, new], ignore_index=True) if len(old) else new
        cols = ["query_id", "query", "product_id", "source", *PROB_COLS, "expected", "argmax"]
        tmp = labels_file.with_suffix(".tmp")
        both[cols].to_parquet(tmp, index=False, compression="zstd")
        tmp.replace(labels_file)
        old = both
    seconds = time.perf_counter() - t0
    scored = {"pairs_scored_now": len(todo), "seconds": round(seconds, 1),
              "pairs_per_s": round(len(todo) / seconds, 2) if len(todo) and seconds > 0 else None,
              "precision": precision}
    runs = meta.get("runs", []) + ([scored] if len(todo) else [])
    meta = {"teacher": fingerprint, "pairs": len(old), "runs": runs}
    meta_file.write_text(json.dumps(meta, indent=1) + "\n")
    key = pool[["query_id", "product_id"]]
    return key.merge(old, on=["query_id", "product_id"], how="inner"), scored


@dataclass
class TrainingData:
    """Features and labels of the students' training pairs (teacher dev queries excluded)."""

    X_teacher: np.ndarray
    teacher: pd.DataFrame  # query_id, query, product_id, p1..p5
    X_human: np.ndarray
    human: pd.DataFrame  # query_id, query, product_id, level

    @property
    def amplification(self) -> float:
        return len(self.teacher) / max(len(self.human), 1)


def build_training_data(teacher_labels: pd.DataFrame, human: pd.DataFrame, features: FeatureBuilder,
                        dev_queries: set[str], progress: bool = False) -> TrainingData:
    t = teacher_labels[~teacher_labels["query_id"].isin(dev_queries)].reset_index(drop=True)
    h = human[~human["query_id"].isin(dev_queries) & human["product_id"].isin(features.catalog.ids)]
    h = h.reset_index(drop=True)
    return TrainingData(features.pairs(t, progress=progress), t, features.pairs(h, progress=progress), h)


def train_kind(kind: str, data: TrainingData, cfg: StudentConfig, n_teacher: int | None = None, seed: int = 0,
               progress: bool = False):
    """Fit one student: ``student`` (soft), ``student-human`` (hard) or ``student-mixed`` (both)."""
    t = data.teacher
    idx = np.arange(len(t)) if n_teacher is None else \
        np.random.default_rng(seed).permutation(len(t))[:n_teacher]
    Xt, St, gt = data.X_teacher[idx], t[PROB_COLS].to_numpy(np.float32)[idx], t["query_id"].to_numpy()[idx]
    Xh, Hh, gh = data.X_human, data.human["level"].to_numpy(), data.human["query_id"].to_numpy()
    if kind == "student":
        return fit(Xt, St, None, gt, replace(cfg, hard_weight=0.0), progress)
    if kind == "student-human":
        return fit(Xh, None, Hh, gh, replace(cfg, soft_weight=0.0), progress)
    if kind == "student-mixed":
        X = np.concatenate([Xt, Xh])
        soft = np.concatenate([St, np.full((len(Xh), 5), np.nan, np.float32)])
        hard = np.concatenate([np.zeros(len(Xt), np.int64), Hh])
        return fit(X, soft, hard, np.concatenate([gt, gh]), cfg, progress)
    raise InvalidInputError(f"unknown student kind {kind!r}; expected student, student-human or student-mixed")


def dev_judged(human: pd.DataFrame, dev_queries: set[str], catalog: Catalog):
    from core.workflows.evaluate import Judged

    dev = human[human["query_id"].isin(dev_queries) & human["product_id"].isin(catalog.ids)]
    if "language" not in dev.columns or dev["language"].isna().any():
        from core.text.language import detect_languages
        dev = dev.assign(language=detect_languages(dev["query"].tolist()))
    return Judged("teacher dev split", dev[["query_id", "query", "language", "product_id", "level"]]
                  .reset_index(drop=True))


def amplification_curve(data: TrainingData, features: FeatureBuilder, judged, cfg: StudentConfig,
                        amplify, seed: int = 0, progress: bool = False) -> list[dict]:
    """``student`` trained on growing samples of the teacher-labelled pairs: per sample its dev nDCG@20 (esci) over
    the listwise dev queries and its exact-vs-irrelevant AUC over the pointwise ones (None where there are none)."""
    from core.workflows.evaluate import evaluate

    n_h = len(data.human)
    sizes = sorted({min(int(round(a * n_h)), len(data.teacher)) for a in amplify} | {len(data.teacher)})
    parts = judged.by_mode()
    points = []
    for n in [s for s in sizes if s > 0]:
        w = train_kind("student", data, cfg, n_teacher=n, seed=seed, progress=False)
        name = f"student@{n}"
        scorers = {name: Student.from_weights(w, features, name)}
        point = {"teacher_pairs": n, "amplification": round(n / n_h, 3), "ndcg": None, "ci_low": None,
                 "ci_high": None, "auc": None, "auc_ci_low": None, "auc_ci_high": None}
        if "listwise" in parts:
            r = evaluate(parts["listwise"], [name], ks=[20], gains=["esci"], progress=False, scorers=scorers,
                         mode="listwise")["rows"][0]
            point.update(ndcg=r["ndcg"], ci_low=r["ci_low"], ci_high=r["ci_high"])
        if "pointwise" in parts:
            r = evaluate(parts["pointwise"], [name], progress=False, scorers=scorers, mode="pointwise")["rows"][0]
            point.update(auc=r["auc"], auc_ci_low=r["auc_ci_low"], auc_ci_high=r["auc_ci_high"])
        points.append(point)
        log.info("amplification %.2f (%d pairs): dev nDCG@20 %s, pointwise AUC %s", n / n_h, n, point["ndcg"],
                 point["auc"])
    return points


def run(*, url: str | None, human: pd.DataFrame, teacher_dir: Path, out: Path, artifacts: Path,
        cfg: DistillConfig = DistillConfig(), student_cfg: StudentConfig = StudentConfig(),
        fcfg: FeatureConfig = FeatureConfig(), query_log: str | None = None, label: bool = True,
        progress: bool = False, command: str = "relevance distill", teacher=None) -> dict:
    """The whole pipeline; returns the summary written into the cards.

    ``teacher`` (anything with the teacher's ``predict_pairs``) defaults to ``load_teacher(teacher_dir)``.
    """
    from core.cache import get_catalog, get_scorer
    from core.workflows.cards.student import write_cards
    from core.models.teacher import load_teacher

    catalog = get_catalog(url)
    dev_q = dev_query_ids(teacher_dir)
    features = FeatureBuilder(catalog, fcfg, bm25=get_scorer("bm25", url))
    human = human[human["product_id"].isin(catalog.ids)].reset_index(drop=True)
    fingerprint = teacher_fingerprint(teacher_dir)
    if label:
        pool = candidate_pool(pool_queries(url, query_log), features, k_bm25=cfg.k_bm25, k_embed=cfg.k_embed,
                              exclude_pairs=set(zip(human["query_id"], human["product_id"])), exclude_queries=dev_q,
                              seed=cfg.seed, progress=progress)
        pool_stats = {"pool_pairs": len(pool), "pool_queries": int(pool["query_id"].nunique()),
                      "k_bm25": cfg.k_bm25, "k_embed": cfg.k_embed, "retrieval_encoder": fcfg.encoder}
        human_train = int((~human["query_id"].isin(dev_q)).sum())
        teacher = teacher or load_teacher(teacher_dir, catalog, batch_size=cfg.teacher_batch_size, int8=cfg.int8)
        labels, scored = teacher_label(pool.iloc[:cfg.budget(len(pool), human_train)], teacher, catalog, out,
                                       fingerprint=fingerprint, batch_size=cfg.teacher_batch_size, progress=progress,
                                       precision="int8" if cfg.int8 else "fp32")
    else:  # train on the saved labels; the pool is described as it was when they were made
        if not (out / LABELS_FILE).exists():
            raise FileNotFoundError(f"no teacher labels at {out / LABELS_FILE}; run `relevance distill` without "
                                    f"--no-label first")
        labels = pd.read_parquet(out / LABELS_FILE)
        made_by = json.loads((out / "teacher_labels.json").read_text()).get("teacher") \
            if (out / "teacher_labels.json").exists() else None
        if made_by != fingerprint:
            log.warning("%s was made by teacher %s, the teacher now is %s: relabel with `relevance distill`",
                        out / LABELS_FILE, made_by, fingerprint)
        prev = json.loads((out / "distill.json").read_text()) if (out / "distill.json").exists() else {}
        pool_stats = {"pool_pairs": prev.get("pool_pairs"), "pool_queries": prev.get("pool_queries"),
                      "k_bm25": prev.get("k_bm25", prev.get("config", {}).get("k_bm25")),
                      "k_embed": prev.get("k_embed", prev.get("config", {}).get("k_embed")),
                      "retrieval_encoder": prev.get("retrieval_encoder", "use"),
                      "labelling": prev.get("labelling", {})}
        scored = pool_stats.pop("labelling") or {"pairs_scored_now": 0}
    data = build_training_data(labels, human, features, dev_q, progress=progress)
    log.info("training pairs: %d teacher-labelled, %d human (amplification %.2f)", len(data.teacher),
             len(data.human), data.amplification)
    judged = dev_judged(human, dev_q, catalog)
    students = {}
    for kind in ("student", "student-human", "student-mixed"):
        w = train_kind(kind, data, student_cfg, seed=cfg.seed, progress=progress)
        extra = {"kind": kind, "teacher": fingerprint, "teacher_pairs": len(data.teacher) if kind != "student-human"
                 else 0, "human_pairs": len(data.human) if kind != "student" else 0,
                 "amplification": round(data.amplification, 3) if kind != "student-human" else 0.0,
                 "dev_query_ids": sorted(dev_q),  # what the dashboard may call held out (core.workflows.query_scope)
                 "train_query_ids": sorted(set(data.human["query_id"]) if kind == "student-human" else
                                           set(data.teacher["query_id"]) | (set(data.human["query_id"])
                                                                           if kind != "student" else set()))}
        students[kind] = save(artifacts / kind, w, features.schema, student_cfg, name=kind, extra=extra)
    curve = amplification_curve(data, features, judged, student_cfg, cfg.curve, seed=cfg.seed, progress=progress)
    summary = {"config": asdict(cfg), **pool_stats, "labelled_pairs": len(labels), "teacher_pairs": len(data.teacher), "human_pairs": len(data.human),
               "amplification": data.amplification, "labelling": scored, "curve": curve, "teacher": fingerprint,
               "dev_queries": len(dev_q), "source_counts": labels["source"].value_counts().to_dict()}
    (out / "distill.json").write_text(json.dumps(summary, indent=1, default=float) + "\n")
    judged.pairs.to_csv(out / "dev_judgments.csv", index=False)
    parts = judged.by_mode()
    for mode in ("listwise", "pointwise"):  # `relevance evaluate` reads each in its own mode
        if mode in parts:
            parts[mode].pairs.to_csv(out / f"dev_judgments_{mode}.csv", index=False)
        else:  # an earlier run's file would describe another dev split
            (out / f"dev_judgments_{mode}.csv").unlink(missing_ok=True)
    write_cards(summary, judged, students, features, teacher_dir=teacher_dir, teacher=teacher, url=url,
                out=out, command=command)
    return summary


def retrain(kind: str, *, url: str | None, human: pd.DataFrame, teacher_dir: Path, labels_path: Path,
            cfg: StudentConfig, encoder: str = "use", out: Path | None = None) -> tuple[Path, TrainingData]:
    """Retrain one student (``kind``) from saved teacher labels; returns its folder and training data."""
    from core.cache import get_catalog, get_scorer

    if not labels_path.exists():
        raise FileNotFoundError(f"no teacher labels at {labels_path}; run `relevance distill` first")
    catalog = get_catalog(url)
    dev_q = dev_query_ids(teacher_dir)
    features = FeatureBuilder(catalog, FeatureConfig(encoder=encoder), bm25=get_scorer("bm25", url))
    data = build_training_data(pd.read_parquet(labels_path), human, features, dev_q)
    w = train_kind(kind, data, cfg)
    out = out or config.path("artifacts_dir") / kind
    save(out, w, features.schema, cfg, name=kind, extra={"kind": kind, "teacher": teacher_fingerprint(teacher_dir),
                                                         "amplification": round(data.amplification, 3)})
    return out, data
