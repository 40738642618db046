"""CSV that a spreadsheet opens as data: text cells that start like a formula are neutralised.

Excel, LibreOffice and Google Sheets run a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (``=HYPERLINK(…)``, ``@SUM(A1:A9)``). Query and product text come from import files, so every
CSV the project writes (``relevance export-labels``, the app's downloads) goes through ``to_csv``: such a text
cell gets a leading ``'`` (the OWASP advice), which spreadsheets show as text. Numbers stay numbers.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def neutralise(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells cannot start a spreadsheet formula."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(_cell)
    return out


def to_csv(df: pd.DataFrame, path: str | Path | None = None) -> bytes | None:
    """``df`` as formula-safe CSV (UTF-8, no index): written to ``path``, or returned as bytes."""
    text = neutralise(df).to_csv(index=False)
    if path is None:
        return text.encode("utf-8")
    Path(path).write_text(text, encoding="utf-8")
    return None
