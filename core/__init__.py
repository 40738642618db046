"""Relevance Studio's scoring library: imports, metrics, rankers, evaluation.

Usable without the app::

    from core import evaluate_file
    report = evaluate_file("data/esci_us/judgments.csv", models=["bm25", "random"], by_language=True)
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
