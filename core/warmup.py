"""Install-time warm-up: compile ranx's numba kernels into numba's on-disk cache.

ranx JIT-compiles on first use (35–45 s in a fresh venv); running it once here at ``make`` time keeps
that cost off the first ``relevance evaluate`` and off every interactive path.
"""

import time

if __name__ == "__main__":
    t0 = time.perf_counter()
    from core import metrics

    qrels = {"q1": {"a": 5, "b": 3, "c": 1}, "q2": {"a": 4}}
    run = {"q1": {"a": 0.2, "b": 0.9, "c": 0.1}, "q2": {"a": 1.0}}
    for scheme in metrics.GAIN_SCHEMES:
        for k in (20, None):
            metrics.ndcg_per_query(qrels, run, k, scheme)
    print(f"warmed ranx/numba cache in {time.perf_counter() - t0:.1f}s")
