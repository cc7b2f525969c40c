"""Where the real data lives: one resolver for `TESSERA_DATA`.

Tests and benchmarks read measured data (GPU profiles, grid carbon, traces)
from `$TESSERA_DATA`, defaulting to `../shared/data` beside the checkout when
present. Callers that can run without it (the demo) ask `find()` and fall
back to defaults they derive themselves, saying so.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "TESSERA_DATA"


def data_dir() -> Path | None:
    """The data folder, or None when there is none."""
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env).expanduser()
        return p if p.is_dir() else None
    here = Path(__file__).resolve()
    candidates = [Path.cwd() / ".." / "shared" / "data"]
    # src/tessera/core/data.py -> repository root is parents[3]
    if len(here.parents) > 3:
        candidates.append(here.parents[3] / ".." / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    return None


def find(relative: str) -> Path | None:
    """Path of a data file (e.g. 'traces/azure2019_one_function_per_minute.csv'), or None."""
    d = data_dir()
    if d is None:
        return None
    p = d / relative
    return p if p.exists() else None
