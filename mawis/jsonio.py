"""JSON that other tools can read: NaN and infinity (not valid JSON) become null, numpy
scalars become Python numbers."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd


def json_safe(value):
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def is_missing(value) -> bool:
    """None, NaN, pandas NA: a cell with no value (anything that cannot be tested is present)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array: present
        return False


def dumps(value) -> str:
    return json.dumps(json_safe(value), indent=2, default=str)
