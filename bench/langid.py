"""Language identification on short shopping queries: which detector, which confidence threshold.

Run from the project root::

    .venv/bin/python bench/langid.py

Compares, on the hand-labelled probe ``bench/langid_probe.csv`` (1-5 word e-commerce queries):

- ``lingua-cfg``      lingua restricted to the configured languages (``core.config.languages()``);
- ``core.language``   the shipped detector: lingua restricted + a confidence threshold that falls back
                      to ``default_language``;
- ``lingua-cfg-low``  the same languages in lingua's low-accuracy mode (trigrams only);
- ``lingua-all``      lingua with all 75 languages (high accuracy), and ``lingua-all-low``;
- ``py3langid``       unrestricted, and ``py3langid-cfg`` restricted to the configured languages;
- ``langdetect``      seeded, unrestricted, and ``langdetect-cfg`` keeping only configured languages.

py3langid and langdetect are measurement-only (``pip install py3langid langdetect``); they are skipped
when missing. Every detector runs in its own subprocess so that its load time and peak RSS are its own.
A detector's "no answer" counts as the default language, as it would in the app. ``no-lang`` counts the
strings without language signal (numbers, codes, bare brands) that ended on the default language.

Prints tables and, last, one JSON line.
"""

from __future__ import annotations

import csv
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = ROOT / "bench" / "langid_probe.csv"
# No language signal at all: the right answer is the default language.
NO_LANGUAGE = ("12345", "30", "B07X1Y2Z3", "ps5", "xbox", "iphone 13", "65 4k", "asdfgh", "qwerty 123", "xl")
TOP_THRESHOLDS = (0.0, 0.1, 0.12, 0.14, 0.15, 0.16, 0.18, 0.2, 0.25, 0.3, 0.4, 0.5)
MARGIN_THRESHOLDS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2)
BATCH_REPEAT = 20          # batch timing: the probe repeated this many times (3,200 queries)
CROSSOVER_SIZES = (8, 64, 160, 640)      # batch sizes: one-thread loop vs parallel API
WARM_PASSES = 5            # steady-state timing: passes over the probe after a warm-up pass


def _probe() -> list[tuple[str, str]]:
    with PROBE.open(encoding="utf-8", newline="") as f:
        return [(r["query"], r["language"]) for r in csv.DictReader(f)]


def _cfg() -> tuple[tuple[str, ...], str]:
    sys.path.insert(0, str(ROOT))
    from core import config
    return config.languages(), config.get("default_language").strip().lower()


# ------------------------------------------------------------------------------------------ detectors
# Each factory returns predict(text) -> ISO 639-1 code or None (None = no answer = default language).

def _lingua(langs, low=False, all_langs=False):
    from lingua import IsoCode639_1, LanguageDetectorBuilder
    b = (LanguageDetectorBuilder.from_all_languages() if all_langs
         else LanguageDetectorBuilder.from_iso_codes_639_1(*[getattr(IsoCode639_1, c.upper()) for c in langs]))
    d = (b.with_low_accuracy_mode() if low else b).build()

    def predict(text):
        lang = d.detect_language_of(text)
        return lang.iso_code_639_1.name.lower() if lang is not None else None
    predict.detector = d
    return predict


def _core(langs):
    from core.text.language import detect_language
    return detect_language


def _py3langid(langs, restrict=False):
    import py3langid
    if restrict:
        py3langid.set_languages(list(langs))
    return lambda text: py3langid.classify(text)[0]


def _langdetect(langs, restrict=False):
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException
    DetectorFactory.seed = 0

    def predict(text):
        try:
            ranked = [(p.lang.split("-")[0], p.prob) for p in detect_langs(text)]
        except LangDetectException:
            return None
        if restrict:
            ranked = [r for r in ranked if r[0] in langs]
        return ranked[0][0] if ranked else None
    return predict


DETECTORS = {
    "lingua-cfg": lambda langs: _lingua(langs),
    "core.language": _core,
    "lingua-cfg-low": lambda langs: _lingua(langs, low=True),
    "lingua-all": lambda langs: _lingua(langs, all_langs=True),
    "lingua-all-low": lambda langs: _lingua(langs, low=True, all_langs=True),
    "py3langid": lambda langs: _py3langid(langs),
    "py3langid-cfg": lambda langs: _py3langid(langs, restrict=True),
    "langdetect": lambda langs: _langdetect(langs),
    "langdetect-cfg": lambda langs: _langdetect(langs, restrict=True),
}
NEEDS = {"py3langid": "py3langid", "py3langid-cfg": "py3langid", "langdetect": "langdetect",
         "langdetect-cfg": "langdetect"}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker(name: str) -> dict:
    """Runs in a fresh process: load, first call, warm timing, predictions, peak RSS."""
    langs, default = _cfg()
    probe = _probe()
    base_rss = _rss_mb()
    t0 = time.perf_counter()
    predict = DETECTORS[name](langs)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    predict(probe[0][0])
    first_s = time.perf_counter() - t0
    preds = [predict(q) or default for q, _ in probe]          # warm-up pass (lazy model loading)
    no_lang = [predict(q) or default for q in NO_LANGUAGE]
    times = []
    for _ in range(WARM_PASSES):
        t0 = time.perf_counter()
        for q, _ in probe:
            predict(q)
        times.append((time.perf_counter() - t0) / len(probe) * 1000)
    out = {"name": name, "load_s": load_s, "first_s": first_s, "ms_per_query": statistics.median(times),
           "preds": preds, "no_lang": no_lang, "base_rss_mb": base_rss}
    if name == "lingua-cfg":
        out.update(_lingua_extras(predict.detector, probe))
    if name == "core.language":
        out.update(_core_batch(probe))
    out["rss_mb"] = _rss_mb()
    return out


def _lingua_extras(d, probe) -> dict:
    """Confidence values for the threshold sweep, and one-thread vs parallel batch timing."""
    def top2(text):
        cv = d.compute_language_confidence_values(text)
        return [cv[0].language.iso_code_639_1.name.lower(), cv[0].value, cv[1].value]
    conf = [top2(q) for q, _ in probe]
    conf_no = [top2(q) for q in NO_LANGUAGE]
    texts = [q for q, _ in probe] * BATCH_REPEAT
    timing = {}
    for label, fn in (("loop_detect", lambda: [d.detect_language_of(t) for t in texts]),
                      ("parallel_detect", lambda: d.detect_languages_in_parallel_of(texts)),
                      ("loop_confidence", lambda: [d.compute_language_confidence_values(t) for t in texts]),
                      ("parallel_confidence", lambda: d.compute_language_confidence_values_in_parallel(texts))):
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        timing[label] = best / len(texts) * 1000
    crossover = {}
    for n in CROSSOVER_SIZES:
        chunk = texts[:n]
        loop = min(_timed(lambda: [d.compute_language_confidence_values(t) for t in chunk]) for _ in range(5))
        par = min(_timed(lambda: d.compute_language_confidence_values_in_parallel(chunk)) for _ in range(5))
        crossover[n] = [loop / n * 1000, par / n * 1000]
    return {"conf": conf, "conf_no": conf_no, "batch_ms_per_query": timing, "crossover": crossover}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _core_batch(probe) -> dict:
    from core.text.language import detect_language, detect_languages
    texts = [q for q, _ in probe] * BATCH_REPEAT
    res = {}
    for label, fn in (("single_loop", lambda: [detect_language(t) for t in texts]),
                      ("detect_languages", lambda: detect_languages(texts))):
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        res[label] = best / len(texts) * 1000
    res["batch_equals_single"] = detect_languages(texts[:len(probe)]) == [detect_language(t) for t in texts[:len(probe)]]
    return {"core_batch_ms_per_query": res}


# ------------------------------------------------------------------------------------------ report

def _accuracy(preds, probe):
    per = defaultdict(lambda: [0, 0])
    for p, (_, gold) in zip(preds, probe):
        per[gold][0] += p == gold
        per[gold][1] += 1
    return sum(c for c, _ in per.values()) / len(probe), {k: c / n for k, (c, n) in per.items()}, per


def _sweep(conf, conf_no, probe, default):
    """Accuracy when falling back below a top-confidence or a top-minus-second margin threshold."""
    rows = []
    for kind, ths in (("top", TOP_THRESHOLDS), ("margin", MARGIN_THRESHOLDS)):
        for t in ths:
            def pick(lang, v1, v2):
                score = v1 if kind == "top" else v1 - v2
                return lang if v1 > v2 and score >= t else default
            preds = [pick(*c) for c in conf]
            acc, _, per = _accuracy(preds, probe)
            nonen = sum(1 for p, (_, g) in zip(preds, probe) if p == g and g != default)
            fell = sum(1 for c in conf if pick(*c) == default and c[0] != default)
            rows.append({"kind": kind, "threshold": t, "accuracy": acc, "correct": sum(c for c, _ in per.values()),
                         "non_default_correct": nonen, "fallbacks": fell,
                         "no_lang_default": sum(pick(*c) == default for c in conf_no)})
    return rows


def main() -> None:
    langs, default = _cfg()
    probe = _probe()
    gold_langs = sorted({g for _, g in probe}, key=lambda g: ([x for x in langs] + [g]).index(g))
    results = []
    for name in DETECTORS:
        need = NEEDS.get(name)
        if need and subprocess.run([sys.executable, "-c", f"import {need}"], capture_output=True).returncode:
            print(f"skip {name}: {need} is not installed", file=sys.stderr)
            continue
        proc = subprocess.run([sys.executable, __file__, "--worker", name], capture_output=True, text=True)
        if proc.returncode:
            print(f"{name} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))

    print(f"probe: {len(probe)} queries ({', '.join(f'{g} {sum(x == g for _, x in probe)}' for g in gold_langs)}); "
          f"configured languages: {','.join(langs)}; default: {default}; no-lang strings: {len(NO_LANGUAGE)}\n")
    head = f"{'detector':<15}{'acc':>6} " + "".join(f"{g:>5}" for g in gold_langs) + \
        f"{'no-lang':>8}{'load s':>8}{'1st s':>7}{'ms/q':>7}{'RSS MB':>8}"
    print(head)
    print("-" * len(head))
    summary = {}
    for r in results:
        acc, per, _ = _accuracy(r["preds"], probe)
        nl = sum(p == default for p in r["no_lang"])
        print(f"{r['name']:<15}{acc:>6.3f} " + "".join(f"{per.get(g, 0):>5.2f}" for g in gold_langs) +
              f"{nl:>5}/{len(NO_LANGUAGE):<2}{r['load_s']:>8.2f}{r['first_s']:>7.2f}{r['ms_per_query']:>7.3f}"
              f"{r['rss_mb']:>8.0f}")
        summary[r["name"]] = {"accuracy": round(acc, 4), "per_language": {g: round(per.get(g, 0), 3) for g in gold_langs},
                              "no_lang_default": nl, "load_s": round(r["load_s"], 3), "first_s": round(r["first_s"], 3),
                              "ms_per_query": round(r["ms_per_query"], 4), "peak_rss_mb": round(r["rss_mb"])}
    ref = next((r for r in results if r["name"] == "lingua-cfg"), None)
    if ref:
        print("\npaired against lingua-cfg on the probe (exact two-sided sign test on the discordant queries):")
        for r in results:
            if r is ref:
                continue
            b = sum(p == g != q for p, q, (_, g) in zip(r["preds"], ref["preds"], probe))
            c = sum(q == g != p for p, q, (_, g) in zip(r["preds"], ref["preds"], probe))
            pval = min(1.0, 2 * sum(math.comb(b + c, i) for i in range(min(b, c) + 1)) / 2 ** (b + c)) if b + c else 1.0
            print(f"  {r['name']:<15} only it right {b:>3}, only lingua-cfg right {c:>3}, p = {pval:.3g}")
            summary[r["name"]]["vs_lingua_cfg"] = {"only_this": b, "only_lingua_cfg": c, "p": round(pval, 4)}
    base = next((r["base_rss_mb"] for r in results), 0)
    print(f"(RSS MB = peak of the whole subprocess; Python + imports alone ≈ {base:.0f} MB. "
          f"1st s = first query incl. lazy model loading.)")

    lc = next((r for r in results if r["name"] == "lingua-cfg"), None)
    out = {"probe": len(probe), "languages": list(langs), "default": default, "detectors": summary}
    if lc:
        sweep = _sweep(lc["conf"], lc["conf_no"], probe, default)
        print("\nlingua-cfg + fallback to the default below a threshold "
              "(top = highest confidence value, margin = highest minus second):")
        print(f"{'kind':<8}{'thr':>6}{'acc':>7}{'correct':>9}{'non-' + default + ' ok':>11}{'fell back':>11}{'no-lang':>9}")
        for s in sweep:
            print(f"{s['kind']:<8}{s['threshold']:>6.2f}{s['accuracy']:>7.3f}{s['correct']:>9}{s['non_default_correct']:>11}"
                  f"{s['fallbacks']:>11}{s['no_lang_default']:>6}/{len(NO_LANGUAGE)}")
        print("\nbatch of", len(probe) * BATCH_REPEAT, "queries, ms/query (best of 3):",
              ", ".join(f"{k} {v:.4f}" for k, v in lc["batch_ms_per_query"].items()))
        print("loop vs parallel confidence values, ms/query by batch size:", ", ".join(
            f"{n}: {lp:.3f}/{pp:.3f}" for n, (lp, pp) in lc["crossover"].items()))
        out["crossover_loop_vs_parallel_ms"] = {n: [round(x, 4) for x in v] for n, v in lc["crossover"].items()}
        out["threshold_sweep"] = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in s.items()} for s in sweep]
        out["lingua_batch_ms_per_query"] = {k: round(v, 4) for k, v in lc["batch_ms_per_query"].items()}
    core = next((r for r in results if r["name"] == "core.language"), None)
    if core:
        cb = core["core_batch_ms_per_query"]
        print("core.language ms/query on the same batch:", ", ".join(
            f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in cb.items()))
        out["core_batch_ms_per_query"] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in cb.items()}
        wrong = [(q, g, p) for p, (q, g) in zip(core["preds"], probe) if p != g]
        print(f"core.language errors ({len(wrong)}):", "; ".join(f"{q!r} {g}->{p}" for q, g, p in wrong))
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(sys.argv[2])))
    else:
        main()
