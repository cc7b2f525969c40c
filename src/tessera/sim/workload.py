"""Arrival processes: Poisson, deterministic, diurnal, and replay of per-minute trace counts.

Each workload yields absolute arrival times in seconds, lazily, so a 14-day
trace costs no more memory than the invocations in flight. Trace replay
spreads each minute's count uniformly at random within that minute (the usual
way to replay the Azure Functions trace, which has only per-minute counts).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from tessera.core.errors import InputError
from tessera.sim.random import BLOCK


def poisson(rng: np.random.Generator, rate_per_s: float, start_s: float = 0.0) -> Iterator[float]:
    """Arrivals of a Poisson process of `rate_per_s` from `start_s` on."""
    t = start_s
    mean = 1.0 / rate_per_s
    while True:
        for gap in np.cumsum(rng.exponential(mean, BLOCK)).tolist():
            yield t + gap
        t += gap


def deterministic(interval_s: float, start_s: float = 0.0) -> Iterator[float]:
    """One arrival every `interval_s`, the first at `start_s + interval_s`."""
    k = 1
    while True:
        yield start_s + k * interval_s
        k += 1


def diurnal(
    rng: np.random.Generator, mean_rate_per_s: float, amplitude: float, period_s: float = 86_400.0
) -> Iterator[float]:
    """Non-homogeneous Poisson with rate mean x (1 + amplitude x sin(2 pi t / period)), by thinning."""
    peak = mean_rate_per_s * (1 + amplitude)
    for t in poisson(rng, peak):
        rate = mean_rate_per_s * (1 + amplitude * math.sin(2 * math.pi * t / period_s))
        if rng.random() * peak < rate:
            yield t


MAX_PER_MINUTE = 10_000_000
"""Most invocations a trace may replay in one minute, after `scale`."""
_MAX_COUNT = 2.0**53
"""Largest count a CSV cell may hold (integers up to here are exact in a float)."""


def read_minute_counts(path: str | Path, column: str | None = None) -> np.ndarray:
    """Per-minute invocation counts from a CSV (first integer column unless `column` is named)."""
    p = Path(path)
    if not p.is_file():
        raise InputError("workload.path", str(path), "an existing CSV file of per-minute counts")
    try:
        with p.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields: Sequence[str] = reader.fieldnames or []
            rows = list(reader)
    except UnicodeDecodeError as e:
        raise InputError(
            "workload.path",
            str(path),
            f"a UTF-8 CSV file (not UTF-8 text: byte 0x{e.object[e.start]:02x})",
        ) from None
    if not rows:
        raise InputError("workload.path", str(path), "a CSV with a header and at least one row")
    if column is None:
        column = next((c for c in fields if _is_int(rows[0].get(c))), None)
        if column is None:
            raise InputError(
                "workload.column", None, f"one of the integer columns; header: {fields}"
            )
    elif column not in fields:
        raise InputError("workload.column", column, f"one of {list(fields)}")
    accepted = "a column of non-negative integers (each at most 2^53)"
    try:
        values = [float(r[column]) for r in rows]
    except (TypeError, ValueError):
        raise InputError("workload.column", column, accepted) from None
    for row, v in enumerate(values, start=2):  # line 1 is the header
        if not 0 <= v <= _MAX_COUNT:  # also refuses nan and inf
            raise InputError("workload.column", column, f"{accepted}; line {row} has {v:g}")
    return np.array([int(v) for v in values], dtype=np.int64)


def check_counts(counts: np.ndarray, scale: float, path: str | Path) -> None:
    """Refuse a replay of more than `MAX_PER_MINUTE` invocations in any minute."""
    if not len(counts):
        return
    busiest = int(np.argmax(counts))
    if float(counts[busiest]) * scale > MAX_PER_MINUTE:
        field, value = ("workload.scale", scale) if scale != 1 else ("workload.path", str(path))
        raise InputError(
            field,
            value,
            f"at most {MAX_PER_MINUTE:,} invocations per minute after scaling: replayed minute "
            f"{busiest} has {int(counts[busiest]):,} x scale {scale:g}",
        )


def _is_int(s: str | None) -> bool:
    try:
        return s is not None and float(s) == int(float(s))
    except (ValueError, OverflowError):
        return False


def replay_counts(
    rng: np.random.Generator, counts_per_min: np.ndarray, scale: float = 1.0
) -> Iterator[float]:
    """Arrivals that reproduce per-minute counts (x `scale`, stochastically rounded)."""
    scaled = counts_per_min.astype(float) * scale
    base = np.floor(scaled)
    counts = (base + (rng.random(len(scaled)) < scaled - base)).astype(np.int64)
    for minute, n in enumerate(counts.tolist()):
        if n:
            yield from np.sort(rng.uniform(60.0 * minute, 60.0 * (minute + 1), n)).tolist()
