"""Measured SM x time-quota latencies of five models on a V100, shipped with the package.

Why: HAS-GPU and FaST-GShare were evaluated on V100s with latencies measured
on the full grid of SM partition (MPS active-thread %) x time quota (token
window of 40 ms) x batch; the public RaPP dataset (KontonGu/RaPP, Apache-2.0,
in `../shared/data/gpu/profiles.csv.gz` as rows with gpu=v100) holds those
measurements. The `has-gpu` experiment needs them without the shared data
folder, so `data/v100_rapp5.json` keeps five models' grids, derived from that
file by `derive()` (rerun: `python -m tessera.gpu.rapp_table [PROFILES]`),
and `v100_latency_ms` answers the latency-model port from it.

The derivation, stated once (tested against the source when present): for
each model, batch in {1, 2, 4, 8}, SM in {5, 10, ..., 100}% and quota in
{10, 20, ..., 100}%, the measured mean latency; a grid point the dataset does
not have (about 5% are held back for predictor tests) is interpolated
linearly in log latency between its measured neighbours
(at an end: the nearest measured one) along the batch axis first (latency
varies least there), then the SM axis, then the quota axis. Values are
measurements, not smoothed: they include the dataset's 10-20 ms host-side
floor and its non-monotonic SM behaviour (some models run slower above 50%).

Between grid points `v100_latency_ms` interpolates bilinearly in (SM, quota)
and linearly in batch; below 5% SMs latency grows as 1/SM, beyond batch 8
linearly in the batch (per-item cost of the 4 -> 8 step).
"""

from __future__ import annotations

import bisect
import csv
import gzip
import json
import math
import os
import sys
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from tessera.core.errors import InputError, require

MODELS = ("vgg16", "resnet101", "wide_resnet50_2", "densenet121", "efficientnet_b0")
SMS = tuple(float(s) for s in range(5, 101, 5))
QUOTAS = tuple(float(q) for q in range(10, 101, 10))
BATCHES = (1, 2, 4, 8)
V100_SMS = 80
SOURCE = "gpu/profiles.csv.gz"


def _fill(line: list[float | None]) -> list[float | None]:
    """Missing points of one axis: log-linear between measured neighbours, nearest at the ends."""
    known = [k for k, v in enumerate(line) if v is not None]
    if not known:
        return line
    out: list[float | None] = []
    for k, v in enumerate(line):
        if v is not None:
            out.append(v)
            continue
        lo = max((j for j in known if j < k), default=None)
        hi = min((j for j in known if j > k), default=None)
        if lo is None or hi is None:
            near = hi if lo is None else lo
            assert near is not None
            out.append(line[near])
            continue
        a, b = math.log(line[lo] or 1.0), math.log(line[hi] or 1.0)
        out.append(math.exp(a + (b - a) * (k - lo) / (hi - lo)))
    return out


def derive(profiles: Path, models: tuple[str, ...] = MODELS) -> dict[str, Any]:
    """The shipped table from a profiles CSV (see the module docstring for the rules)."""
    seen: dict[tuple[str, int, float, float], float] = {}
    opener = gzip.open if profiles.suffix == ".gz" else open
    with opener(profiles, "rt", newline="") as f:
        for row in csv.DictReader(f):
            if row["gpu"] != "v100" or row["model"] not in models:
                continue
            key = (row["model"], int(row["batch"]), float(row["sm_pct"]), float(row["quota_pct"]))
            seen[key] = float(row["latency_ms"])
    table: dict[str, list[list[list[float]]]] = {}
    filled = 0
    nb, ns, nq = len(BATCHES), len(SMS), len(QUOTAS)
    for m in models:
        g = [[[seen.get((m, b, s, q)) for q in QUOTAS] for s in SMS] for b in BATCHES]
        missing = sum(v is None for plane in g for r in plane for v in r)
        require(missing < nb * ns * nq, "model", m, f"a v100 model in {profiles}")
        filled += missing
        for i in range(ns):  # along the batch axis first: latency is smoothest there
            for j in range(nq):
                line = _fill([g[k][i][j] for k in range(nb)])
                for k in range(nb):
                    g[k][i][j] = line[k]
        for k in range(nb):  # then along SMs, then along quotas
            for j in range(nq):
                line = _fill([g[k][i][j] for i in range(ns)])
                for i in range(ns):
                    g[k][i][j] = line[i]
            g[k] = [_fill(r) for r in g[k]]
        table[m] = [[[round(float(v or 0.0), 4) for v in r] for r in plane] for plane in g]
    return {
        "source": "RaPP dataset (KontonGu/RaPP, Apache-2.0) via ../shared/data/" + SOURCE,
        "gpu": "v100",
        "total_sms": V100_SMS,
        "window_ms": 40.0,
        "sm_pct": list(SMS),
        "quota_pct": list(QUOTAS),
        "batch": list(BATCHES),
        "interpolated_points": filled,
        "latency_ms": table,
    }


@cache
def _table() -> dict[str, Any]:
    text = resources.files("tessera.gpu").joinpath("data/v100_rapp5.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def known_models() -> list[str]:
    return sorted(_table()["latency_ms"])


def _bracket(xs: tuple[float, ...], x: float) -> tuple[int, int, float]:
    i = min(max(bisect.bisect_left(xs, x), 1), len(xs) - 1)
    t = (x - xs[i - 1]) / (xs[i] - xs[i - 1])
    return i - 1, i, min(max(t, 0.0), 1.0)


def _at(grid: list[list[float]], sm: float, quota: float) -> float:
    i0, i1, ts = _bracket(SMS, sm)
    j0, j1, tq = _bracket(QUOTAS, quota)
    top = grid[i0][j0] * (1 - tq) + grid[i0][j1] * tq
    bot = grid[i1][j0] * (1 - tq) + grid[i1][j1] * tq
    return top * (1 - ts) + bot * ts


Grid = list[list[list[float]]]
"""One model's latencies (ms) indexed [batch][SM][quota] over `BATCHES` x `SMS` x `QUOTAS`."""


class GridLatency:
    """A latency model over grids on `BATCHES` x `SMS` x `QUOTAS`, read as the shipped table is
    (`v100_latency_ms`: bilinear in SM and quota, linear in batch, 1/SM below 5%, the 4 -> 8
    per-item cost past batch 8) - for grids of other origin, e.g. predicted ones."""

    def __init__(self, grids: dict[str, Grid], label: str = "grid") -> None:
        for m, g in grids.items():
            shape = (len(g), len(g[0]) if g else 0, len(g[0][0]) if g and g[0] else 0)
            require(
                shape == (len(BATCHES), len(SMS), len(QUOTAS)),
                f"{label}.{m}",
                shape,
                f"a [batch][SM][quota] grid of {len(BATCHES)} x {len(SMS)} x {len(QUOTAS)}",
            )
        self.grids = grids
        self.label = label

    def __call__(self, model: str, batch: int, sm_pct: float, quota_pct: float = 100.0) -> float:
        return _grid_ms(self.grids, self.label, model, batch, sm_pct, quota_pct)


def v100_latency_ms(model: str, batch: int, sm_pct: float, quota_pct: float = 100.0) -> float:
    """Measured V100 latency of one batch on an SM x quota slice (see the module docstring)."""
    return _grid_ms(_table()["latency_ms"], "V100 table", model, batch, sm_pct, quota_pct)


def _grid_ms(
    grids: dict[str, Grid], label: str, model: str, batch: int, sm_pct: float, quota_pct: float
) -> float:
    table = grids.get(model)
    if table is None:
        raise InputError("model", model, f"one of the {label}'s models {sorted(grids)}")
    require(isinstance(batch, int) and batch >= 1, "batch", batch, "an integer >= 1")
    require(0 < sm_pct <= 100, "sm_pct", sm_pct, "a percentage in (0, 100]")
    require(0 < quota_pct <= 100, "quota_pct", quota_pct, "a percentage in (0, 100]")
    stretch = SMS[0] / sm_pct if sm_pct < SMS[0] else 1.0
    sm = max(sm_pct, SMS[0])
    q = max(quota_pct, QUOTAS[0])
    qstretch = QUOTAS[0] / quota_pct if quota_pct < QUOTAS[0] else 1.0
    per_b = [_at(table[k], sm, q) for k in range(len(BATCHES))]
    if batch >= BATCHES[-1]:
        per_item = max((per_b[-1] - per_b[-2]) / (BATCHES[-1] - BATCHES[-2]), 0.0)
        ms = per_b[-1] + per_item * (batch - BATCHES[-1])
    else:
        k0, k1, t = _bracket(tuple(float(b) for b in BATCHES), float(batch))
        ms = per_b[k0] * (1 - t) + per_b[k1] * t
    return ms * stretch * qstretch


def write(profiles: Path, out: Path) -> None:
    """Derive the table from `profiles` and write it to `out` atomically."""
    data = derive(profiles)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, separators=(",", ":"))
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    from tessera.core.data import find

    src = Path(sys.argv[1]) if len(sys.argv) > 1 else find(SOURCE)
    if src is None:
        sys.exit(f"error: {SOURCE} not found; pass its path or set TESSERA_DATA")
    write(src, Path(__file__).with_name("data") / "v100_rapp5.json")
