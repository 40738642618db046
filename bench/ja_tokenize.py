"""Japanese BM25 tokenization (issue 12): which tokenizer lets BM25 match Japanese queries.

Run from the project root::

    .venv/bin/python bench/ja_tokenize.py [--append] [--reps 1000] [--only regex,bigram]

Data: ``data/esci_multilingual`` (judged pairs in en, es, ja; one product text per id).
BM25 is the project's (bm25s.BM25 defaults: Lucene, k1=1.5, b=0.75) over **all** products of the data
set, every language (IDF and average length over the whole catalog, as ``core.models.rankers.BM25Ranker``),
text = title, brand, bullet points, description joined; query = ``clean_query(query)``, tokens missing
from the index dropped, no known token = score 0 for every product. English stop words removed for
every candidate. Per judged pair, the BM25 score of its product for its query; then per language:

- ``auc_ei``  ROC-AUC (sklearn) of the score separating E pairs from I pairs;
- ``auc_esci`` ROC-AUC separating E from S, C and I together;
- ``share``   share of pairs whose query and product share at least one BM25 token;
- ``en_only_index``  control: English pairs against an index of the English products alone (over the
  whole catalog a CJK tokenizer moves the average document length, so English scores move slightly);
- 95% stratified bootstrap CIs (pairs resampled within each label) and, on the same resamples, the
  paired difference of each candidate against ``regex`` and against ``bigram``.

Speed: tokens of every product text (chars/s, best of 3 passes, ja and en texts separately) and
``load_s`` (imports + dictionary load + first call, in a fresh subprocess per candidate) and the peak RSS
of that process just after it (Python, numpy and bm25s's stop-word list included).

Candidates (all share the same non-CJK handling, so only the CJK segmentation differs, except regex):

- ``regex``          bm25s's default, ``\\b\\w\\w+\\b`` on lower-cased text (the current ranker; checked
                     equal to ``bm25s.tokenize``);
- ``bigram``         ``core.text.tokenize.bm25_words``: NFKC + casefold, ``\\w+`` runs, CJK runs → char bigrams;
- ``bigram-nonfkc``  the same without NFKC (lower-case only);
- ``sudachi-A`` / ``sudachi-C``  SudachiPy + sudachidict-core, split mode A / C, surface forms of each
                     CJK run (after the same NFKC + casefold); ``sudachi-A-norm``: Sudachi's normalised form;
- ``janome``         Janome (pure Python, its bundled IPADIC), surface forms;
- ``mecab-unidic``   fugashi (MeCab) + unidic-lite, surface forms.

The analysers are measurement-only (``pip install sudachipy sudachidict-core janome fugashi
unidic-lite``); a candidate whose package is missing is skipped. Prints one JSON line per tokenizer
and a table; ``--append`` adds a section to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = Path(__file__).resolve().parent.parent / "data" / "esci_multilingual"
FIELDS = ("title", "brand", "bullet_points", "description")
CANDIDATES = ("regex", "bigram", "bigram-nonfkc", "sudachi-A", "sudachi-C", "sudachi-A-norm", "janome",
              "mecab-unidic")
LANGS = ("ja", "en", "es")
PACKAGES = {"sudachi": ("sudachipy", "sudachidict-core"), "janome": ("janome",),
            "mecab": ("fugashi", "unidic-lite")}
_CHUNK = 4000  # characters per analyser call (Sudachi refuses inputs over ~49 kB)


# ------------------------------------------------------------------------------------------ data

def load() -> tuple[list[dict], dict[str, dict]]:
    with open(DATA / "judgments.csv", encoding="utf-8", newline="") as f:
        pairs = list(csv.DictReader(f))
    with gzip.open(DATA / "products.jsonl.gz", "rt", encoding="utf-8") as f:
        products = {p["product_id"]: p for p in map(json.loads, f)}
    return pairs, products


def product_text(p: dict) -> str:
    """As ``core.models.rankers.product_text``: the non-blank fields joined by spaces."""
    return " ".join(str(p[f]) for f in FIELDS if p.get(f) is not None and str(p[f]).strip())


# ------------------------------------------------------------------------------------------ candidates
# Each factory returns tok(text) -> BM25 tokens (stop words and one-letter non-CJK tokens removed).

def _stop() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN
    return frozenset(STOPWORDS_EN)


def _regex():
    stop, pat = _stop(), re.compile(r"(?u)\b\w\w+\b")
    return lambda text: [t for t in pat.findall(text.lower()) if t not in stop]


def _bigram():
    from core.text.tokenize import bm25_words
    stop = _stop()
    return lambda text: bm25_words(text, stop)


def _bigram_nonfkc():
    from core.text import tokenize as T
    stop = _stop()

    def tok(text):
        out = []
        text = text.lower()
        if not T.has_cjk(text):
            return [t for t in T._WORD.findall(text) if t not in stop and len(t) > 1]
        for m in T._RUN.finditer(text):
            out.extend([m.group()] if m.group(1) is None else T._bigrams(m.group(1)))
        return [t for t in out if t not in stop and (len(t) > 1 or T._HAS_CJK.match(t))]
    return tok


def _analysed(segment):
    """tok(text) that runs ``segment(run) -> surface strings`` on each CJK run of the normalised text."""
    from core.text import tokenize as T
    stop = _stop()

    def tok(text):
        out = []
        text = T.normalize(text)
        if not T.has_cjk(text):
            return [t for t in T._WORD.findall(text) if t not in stop and len(t) > 1]
        for m in T._RUN.finditer(text):
            if m.group(1) is None:
                out.append(m.group())
                continue
            run = m.group(1)
            for i in range(0, len(run), _CHUNK):
                out.extend(s.casefold() for s in segment(run[i:i + _CHUNK]) if s.strip())
        return [t for t in out if t not in stop and (len(t) > 1 or T._HAS_CJK.match(t))]
    return tok


def _sudachi(mode: str, norm: bool = False):
    from sudachipy import Dictionary
    tk = Dictionary(dict="core").tokenizer(mode=mode)
    if norm:
        return _analysed(lambda s: [m.normalized_form() for m in tk.tokenize(s)])
    return _analysed(lambda s: [m.surface() for m in tk.tokenize(s)])


def _janome():
    from janome.tokenizer import Tokenizer
    tk = Tokenizer(wakati=True)
    return _analysed(lambda s: list(tk.tokenize(s)))


def _mecab():
    import fugashi
    tagger = fugashi.Tagger()
    return _analysed(lambda s: [w.surface for w in tagger(s)])


FACTORIES = {"regex": _regex, "bigram": _bigram, "bigram-nonfkc": _bigram_nonfkc,
             "sudachi-A": lambda: _sudachi("A"), "sudachi-C": lambda: _sudachi("C"),
             "sudachi-A-norm": lambda: _sudachi("A", norm=True), "janome": _janome, "mecab-unidic": _mecab}


def _versions(name: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version
    key = name.split("-")[0]
    out = {}
    for pkg in PACKAGES.get(key, ()):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


# ------------------------------------------------------------------------------------------ one candidate

def run_one(name: str) -> dict:
    """In a fresh process: load, tokenize the catalog, BM25-score every judged pair."""
    t0 = time.perf_counter()
    tok = FACTORIES[name]()
    tok("取っ手なしフライパン")
    load_s = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    import bm25s
    from core.text.queries import clean_query
    import logging
    logging.getLogger("bm25s").setLevel(logging.WARNING)

    pairs, products = load()
    ids = list(products)
    texts = [product_text(products[p]) for p in ids]
    if name == "regex":  # the baseline is exactly what the ranker does today
        sample = texts[:300]
        assert bm25s.tokenize(sample, stopwords="en", return_ids=False, show_progress=False) == \
            [tok(t) for t in sample], "regex candidate differs from bm25s.tokenize"

    speed = {}
    for lang in ("ja", "en"):
        sub = [t for p, t in zip(ids, texts) if products[p].get("language") == lang]
        chars = sum(map(len, sub))
        best = min(_timed(tok, sub) for _ in range(3))
        speed[lang] = round(chars / best)
    docs = [tok(t) for t in texts]
    retriever = bm25s.BM25()
    retriever.index(docs, show_progress=False)
    vocab = retriever.vocab_dict
    pos = {p: i for i, p in enumerate(ids)}
    doc_sets = [set(d) for d in docs]

    cache: dict[str, np.ndarray] = {}
    scores, shared, q_known = [], [], []
    for r in pairs:
        q = clean_query(r["query"])
        q_tok = tok(q)
        known = [t for t in q_tok if t in vocab]
        if q not in cache:
            cache[q] = retriever.get_scores(known) if known else np.zeros(len(ids), np.float32)
        i = pos[r["product_id"]]
        scores.append(float(cache[q][i]))
        shared.append(bool(set(q_tok) & doc_sets[i]))
        q_known.append(bool(known))
    # Control: English pairs against an index of the English products only, where the CJK tokenizer
    # cannot move the average document length (over the whole catalog it does, slightly).
    en_ids = [p for p in ids if products[p].get("language") == "en"]
    en_pos = {p: i for i, p in enumerate(en_ids)}
    en_ret = bm25s.BM25()
    en_ret.index([docs[pos[p]] for p in en_ids], show_progress=False)
    en_scores, en_labels = [], []
    for r in pairs:
        if r["language"] == "en" and r["product_id"] in en_pos:
            known = [t for t in tok(clean_query(r["query"])) if t in en_ret.vocab_dict]
            en_scores.append(float(en_ret.get_scores(known)[en_pos[r["product_id"]]]) if known else 0.0)
            en_labels.append(r["esci_label"])
    from sklearn.metrics import roc_auc_score
    s, lab = np.array(en_scores), np.array(en_labels)
    ei = lab != "S"
    ei &= lab != "C"
    en_only = {"auc_ei": round(float(roc_auc_score(lab[ei] == "E", s[ei])), 4),
               "auc_esci": round(float(roc_auc_score(lab == "E", s)), 4), "n": len(s)}
    return {"tokenizer": name, "versions": _versions(name), "load_s": round(load_s, 3),
            "chars_per_s": speed, "vocab": len(vocab), "en_only_index": en_only,
            "peak_rss_mb": round(rss_mb),
            "scores": scores, "shared": shared, "q_known": q_known}


def _timed(tok, texts) -> float:
    t0 = time.perf_counter()
    for t in texts:
        tok(t)
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------------------ statistics

def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Mann-Whitney AUC with ties counted one half (equal to sklearn's roc_auc_score)."""
    from scipy.stats import rankdata
    ranks = rankdata(np.concatenate([pos, neg]))
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def evaluate(results: list[dict], pairs: list[dict], reps: int, seed: int = 0) -> dict:
    from sklearn.metrics import roc_auc_score
    labels = np.array([r["esci_label"] for r in pairs])
    langs = np.array([r["language"] for r in pairs])
    rng = np.random.default_rng(seed)
    out = {r["tokenizer"]: {} for r in results}
    for lang in LANGS:
        m = langs == lang
        idx = {lab: np.flatnonzero(m & (labels == lab)) for lab in "ESCI"}
        boot = [{lab: rng.choice(ix, len(ix)) for lab, ix in idx.items()} for _ in range(reps)]
        dist = {}
        for res in results:
            s = np.asarray(res["scores"], dtype=np.float64)
            e, i = s[idx["E"]], s[idx["I"]]
            sci = s[np.concatenate([idx["S"], idx["C"], idx["I"]])]
            y_ei = np.r_[np.ones(len(e)), np.zeros(len(i))]
            y_es = np.r_[np.ones(len(e)), np.zeros(len(sci))]
            auc_ei = roc_auc_score(y_ei, np.r_[e, i])
            auc_es = roc_auc_score(y_es, np.r_[e, sci])
            assert abs(auc_ei - _auc(e, i)) < 1e-9
            b_ei = np.array([_auc(s[b["E"]], s[b["I"]]) for b in boot])
            b_es = np.array([_auc(s[b["E"]], s[np.concatenate([b["S"], b["C"], b["I"]])]) for b in boot])
            dist[res["tokenizer"]] = (b_ei, b_es)
            sh = np.asarray(res["shared"])[m]
            qk = np.asarray(res["q_known"])[m]
            out[res["tokenizer"]][lang] = {
                "n": int(m.sum()), "n_E": len(e), "n_I": len(i),
                "auc_ei": round(auc_ei, 4), "auc_ei_ci": _ci(b_ei),
                "auc_esci": round(auc_es, 4), "auc_esci_ci": _ci(b_es),
                "share": round(float(sh.mean()), 4), "query_known": round(float(qk.mean()), 4)}
        for name in dist:
            for ref in ("regex", "bigram"):
                if ref in dist and ref != name:
                    d_ei, d_es = dist[name][0] - dist[ref][0], dist[name][1] - dist[ref][1]
                    r = out[name][lang]
                    r[f"d_ei_vs_{ref}"] = round(r["auc_ei"] - out[ref][lang]["auc_ei"], 4)
                    r[f"d_ei_vs_{ref}_ci"] = _ci(d_ei)
                    r[f"d_esci_vs_{ref}"] = round(r["auc_esci"] - out[ref][lang]["auc_esci"], 4)
                    r[f"d_esci_vs_{ref}_ci"] = _ci(d_es)
    return out


def _ci(x: np.ndarray) -> list[float]:
    return [round(float(np.percentile(x, 2.5)), 4), round(float(np.percentile(x, 97.5)), 4)]


# ------------------------------------------------------------------------------------------ report

def _available(name: str) -> bool:
    from importlib.util import find_spec
    need = {"sudachi": ("sudachipy", "sudachidict_core"), "janome": ("janome",),
            "mecab": ("fugashi", "unidic_lite")}.get(name.split("-")[0], ())
    return all(find_spec(m) is not None for m in need)


def table(rows: list[dict]) -> str:
    head = ("| tokenizer | ja AUC E/I [95% CI] | ja AUC E/SCI | ja share | ja Δ E/I vs bigram [CI] | "
            "en AUC E/I | en AUC E/SCI | en share | en-only index E/I, E/SCI | es AUC E/I | es AUC E/SCI | "
            "ja chars/s | en chars/s | load s | RSS MB |\n" + "|---" * 15 + "|")
    lines = [head]
    for r in rows:
        ja, en, es = r["ja"], r["en"], r["es"]
        d = (f"{ja['d_ei_vs_bigram']:+.4f} [{ja['d_ei_vs_bigram_ci'][0]:+.3f}, {ja['d_ei_vs_bigram_ci'][1]:+.3f}]"
             if "d_ei_vs_bigram" in ja else "—")
        lines.append(
            f"| {r['tokenizer']} | {ja['auc_ei']:.4f} [{ja['auc_ei_ci'][0]:.3f}, {ja['auc_ei_ci'][1]:.3f}] | "
            f"{ja['auc_esci']:.4f} | {ja['share']:.3f} | {d} | {en['auc_ei']:.4f} | {en['auc_esci']:.4f} | "
            f"{en['share']:.3f} | {r['en_only_index']['auc_ei']:.4f}, {r['en_only_index']['auc_esci']:.4f} | "
            f"{es['auc_ei']:.4f} | {es['auc_esci']:.4f} | {r['chars_per_s']['ja']:,} | "
            f"{r['chars_per_s']['en']:,} | {r['load_s']:.3f} | {r['peak_rss_mb']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--only", default=",".join(CANDIDATES), help="comma-separated candidates")
    ap.add_argument("--reps", type=int, default=1000, help="bootstrap resamples")
    ap.add_argument("--append", action="store_true", help="append a section to bench/RESULTS.md")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one)))
        return

    names = [n for n in args.only.split(",") if n]
    results, skipped = [], []
    for name in names:  # one after the other: each in its own process for its own load time and RSS
        if not _available(name):
            skipped.append(name)
            print(f"skip {name}: package missing", file=sys.stderr)
            continue
        proc = subprocess.run([sys.executable, __file__, "--one", name], capture_output=True, text=True,
                              cwd=ROOT, check=False)
        if proc.returncode:
            print(proc.stderr, file=sys.stderr)
            raise SystemExit(f"{name} failed")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    pairs, products = load()
    stats = evaluate(results, pairs, args.reps)
    rows = []
    for res in results:
        row = {k: v for k, v in res.items() if k not in ("scores", "shared", "q_known")}
        row.update(stats[res["tokenizer"]])
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False))
    print(table(rows))
    print(decision(rows))
    if args.append:
        append_section(rows, skipped, args, len(products))


def _d(r: dict, key: str, ref: str) -> str:
    lo, hi = r[f"d_{key}_vs_{ref}_ci"]
    return f"{r[f'd_{key}_vs_{ref}']:+.4f} [{lo:+.3f}, {hi:+.3f}]"


def decision(rows: list[dict]) -> str:
    """Bigrams unless an analyser beats them on Japanese with a paired 95% CI above zero."""
    by = {r["tokenizer"]: r for r in rows}
    if "bigram" not in by:
        return "Decision: needs the bigram candidate."
    wins = [r for r in rows if "d_ei_vs_bigram" in r["ja"] and r["tokenizer"] not in ("regex", "bigram-nonfkc")
            and (r["ja"]["d_ei_vs_bigram_ci"][0] > 0 or r["ja"]["d_esci_vs_bigram_ci"][0] > 0)]
    if wins:
        best = max(wins, key=lambda r: r["ja"]["auc_ei"])
        return (f"Decision: {best['tokenizer']} beats character bigrams on Japanese beyond noise (E/I "
                f"{_d(best['ja'], 'ei', 'bigram')}, E/SCI {_d(best['ja'], 'esci', 'bigram')}).")
    others = [r for r in rows if r["tokenizer"] not in ("regex", "bigram", "bigram-nonfkc")]
    vs = "; ".join(f"{r['tokenizer']} E/I {_d(r['ja'], 'ei', 'bigram')}, E/SCI {_d(r['ja'], 'esci', 'bigram')}"
                   for r in others)
    b = by["bigram"]
    return (f"Decision: character bigrams of CJK runs (core/text/tokenize.py). No analyser beats them on Japanese "
            f"(analyser − bigram: {vs or 'none measured'}). Against today's regex, bigrams gain ja AUC E/I "
            f"{_d(b['ja'], 'ei', 'regex')} and E/SCI {_d(b['ja'], 'esci', 'regex')}; English moves "
            f"{b['en']['d_ei_vs_regex']:+.4f} E/I and {b['en']['d_esci_vs_regex']:+.4f} E/SCI over the mixed "
            f"catalog (CJK products get more tokens, so BM25's average document length grows) and "
            f"{b['en_only_index']['auc_ei'] - by.get('regex', b)['en_only_index']['auc_ei']:+.4f} / "
            f"{b['en_only_index']['auc_esci'] - by.get('regex', b)['en_only_index']['auc_esci']:+.4f} "
            f"on an English-only index. No dictionary, no extra package.")


def append_section(rows: list[dict], skipped: list[str], args, n_products: int) -> None:
    from bench.results import append, utc_now
    from core.workflows.cards.common import machine
    import bm25s
    n = {lang: rows[0][lang] for lang in LANGS}
    versions = "; ".join(f"{k} {v}" for k, v in {k: v for r in rows for k, v in r["versions"].items()}.items())
    cmd = "`.venv/bin/python bench/ja_tokenize.py --append`" + (
        f" (`--only {args.only}`)" if args.only != ",".join(CANDIDATES) else "")
    vs_regex = "\n".join(
        f"- {r['tokenizer']}: ja AUC E/I {_d(r['ja'], 'ei', 'regex')}, E/SCI {_d(r['ja'], 'esci', 'regex')}; "
        f"en E/I {_d(r['en'], 'ei', 'regex')}, E/SCI {_d(r['en'], 'esci', 'regex')}"
        for r in rows if "d_ei_vs_regex" in r["ja"])
    append(
        f"\n## Japanese BM25 tokenization (issue 12, bench/ja_tokenize.py)\n\n"
        f"Run {cmd} on {utc_now()} on {machine()}; bm25s {bm25s.__version__}; {versions}"
        f"{'; skipped (not installed): ' + ', '.join(skipped) if skipped else ''} (the analysers installed "
        f"for this measurement only). Data: `data/esci_multilingual`, BM25 (bm25s defaults) "
        f"index over all {n_products:,} products (en, es, ja together; IDF over the whole catalog), text = "
        f"title, brand, bullet points, description; English stop words removed for every tokenizer. Judged "
        f"pairs: ja {n['ja']['n']} (E {n['ja']['n_E']}, I {n['ja']['n_I']}), en {n['en']['n']} (E "
        f"{n['en']['n_E']}, I {n['en']['n_I']}), es {n['es']['n']} (E {n['es']['n_E']}, I {n['es']['n_I']}). "
        f"AUC E/I = ROC-AUC of the pair's BM25 score, E against I; E/SCI = E against S, C and I; share = "
        f"pairs whose query and product share a BM25 token; 95% CIs from {args.reps} stratified bootstrap "
        f"resamples of the pairs, Δ paired on the same resamples. chars/s: tokenizing every ja / en product "
        f"text (best of 3); load s: imports + dictionary + first call in a fresh process, RSS = that "
        f"process's peak right after (Python, numpy and bm25s included). en-only index: the English pairs "
        f"whose product is English "
        f"({rows[0]['en_only_index']['n']}) against an index of the English products alone, where the CJK "
        f"tokenizer cannot change BM25's average document length. Analysers run on the CJK runs only (after "
        f"the same NFKC + casefold), so every candidate but regex treats non-CJK text identically.\n\n"
        f"{table(rows)}\n\nPaired differences against the current tokenizer (regex):\n\n{vs_regex}\n\n"
        f"{decision(rows)}\n\nJSON lines:\n\n```\n"
        + "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n```\n")


if __name__ == "__main__":
    main()
