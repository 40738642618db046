"""``jsonable``: numpy scalars as Python numbers and NaN as null, for the reports written as JSON."""

from __future__ import annotations

import math

import numpy as np


def jsonable(v):
    """``v`` with numpy integers, floats and booleans as Python ones and NaN as None, recursing into dicts
    (keys as strings), lists and tuples; anything else is returned as it is.

    Use it on a whole document (``jsonable(doc)``) or as ``json.dumps(..., default=jsonable)``, where it
    only sees what ``json`` cannot write itself (numpy scalars).
    """
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) else float(v)
    return v
