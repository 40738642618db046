"""Relevance Studio's scoring library: imports, metrics, models, evaluation; usable without the app.

The public surface is the handful of names the README shows::

    from core import evaluate, load_judged, format_table
    judged = load_judged("data/esci_us/judgments.csv")
    report = evaluate(judged, ["bm25", "random"], ks=[20, None], gains=["esci"])
    print(format_table(report))

plus ``rank`` (real-time ranking with the student) and ``get_scorer`` (any registered model, loaded
once per process). They are imported on first use, so ``import core`` stays cheap.
"""

__version__ = "0.1.0"
__all__ = ["__version__", "evaluate", "format_table", "get_scorer", "load_judged", "rank", "ranked"]


def __getattr__(name: str):
    if name in ("evaluate", "format_table", "load_judged"):
        from core.workflows import evaluate as _evaluate
        return getattr(_evaluate, name)
    if name in ("rank", "ranked"):
        from core import serve
        return getattr(serve, name)
    if name == "get_scorer":
        from core.cache import get_scorer
        return get_scorer
    raise AttributeError(f"module 'core' has no attribute {name!r}")
