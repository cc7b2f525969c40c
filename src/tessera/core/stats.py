"""Summaries of samples (mean and tail percentiles) used by every metric table."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

PERCENTILES = (50, 95, 99)


def summarize(values: npt.ArrayLike) -> dict[str, float]:
    """mean, p50, p95, p99 of `values` (NaN when empty)."""
    a = np.asarray(values, dtype=float)
    if a.size == 0:
        nan = float("nan")
        return {"mean": nan, "p50": nan, "p95": nan, "p99": nan}
    p = np.percentile(a, PERCENTILES)
    return {
        "mean": float(a.mean()),
        "p50": float(p[0]),
        "p95": float(p[1]),
        "p99": float(p[2]),
    }


def json_safe(v: Any, digits: int | None = None) -> Any:
    """`v` with NaN/inf floats as None (JSON has no NaN), optionally rounded, recursively."""
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return None
        return v if digits is None else round(v, digits)
    if isinstance(v, dict):
        return {k: json_safe(x, digits) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [json_safe(x, digits) for x in v]
    return v
