"""Label scales and their mapping onto the 5-point scale (DESIGN.md, "The 5-point scale")."""

from __future__ import annotations

import json

from core.errors import InvalidInputError

LEVELS = (1, 2, 3, 4, 5)
# The probability columns of a 5-class prediction, level 1 first (Parquet files, the predictions table).
PROB_COLS = [f"p{level}" for level in LEVELS]
LEVEL_NAMES = {5: "Highly relevant", 4: "Relevant", 3: "Marginally relevant", 2: "Irrelevant", 1: "Highly irrelevant"}
LEVEL_MEANINGS = {
    5: "exactly what the query asks for",
    4: "satisfies the query with small mismatches (a close substitute)",
    3: "related or complementary, not what was asked",
    2: "does not satisfy the query",
    1: "unrelated, offensive or broken",
}
SCALES: dict[str, dict[str, int]] = {
    "esci": {"E": 5, "S": 4, "C": 3, "I": 1},
    "0-3": {"3": 5, "2": 4, "1": 3, "0": 1},
    "5pt": {"5": 5, "4": 4, "3": 3, "2": 2, "1": 1},
}
# The column a judgments file carries decides the default scale.
COLUMN_SCALE = {"level": "5pt", "esci_label": "esci", "grade": None}


def parse_scale(spec: str | dict | None) -> dict[str, int]:
    """A built-in scale name, a JSON object, or ``"a=5,b=3"``; values must be levels 1–5.

    Raises:
        ValueError: unknown name or a mapping onto values outside 1–5.
    """
    if isinstance(spec, dict):
        mapping = {str(k).strip(): v for k, v in spec.items()}
    elif spec in SCALES:
        return dict(SCALES[spec])
    elif isinstance(spec, str) and spec.strip().startswith("{"):
        mapping = {str(k).strip(): v for k, v in json.loads(spec).items()}
    elif isinstance(spec, str) and "=" in spec:
        mapping = {}
        for part in spec.split(","):
            key, _, value = part.partition("=")
            mapping[key.strip()] = value.strip()
    else:
        raise InvalidInputError(f"unknown scale {spec!r}; use one of {', '.join(sorted(SCALES))} "
                         f"or a custom mapping such as 'bad=1,ok=3,great=5'")
    out = {}
    for key, value in mapping.items():
        try:
            level = int(value)
        except (TypeError, ValueError):
            level = 0
        if level not in LEVEL_NAMES or not key:
            raise InvalidInputError(f"custom scale maps {key!r} to {value!r}; every grade must map to a level 1–5")
        out[key] = level
    return out
