"""GPU latency profiles: one CSV schema for every measured profile, loaded into numpy columns.

Every profile (the H200 green-context sweep, the public V100 RaPP dataset, a user's own
measurements) shares one schema, ``gpu, model, batch, sm_pct, quota_pct, latency_ms``, so one
predictor learns from all of them. A query file is the same schema without ``latency_ms``.
Rows live in a `ProfileTable` (parallel numpy columns) because the predictor works on whole
columns; `ProfileRow` is the one-row view for callers that think in rows. Files may be gzipped.
Bad input raises `InputError` naming the file, line and column, and nothing is half-loaded.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tessera.core.errors import InputError

QUERY_COLUMNS: tuple[str, ...] = ("gpu", "model", "batch", "sm_pct", "quota_pct")
PROFILE_COLUMNS: tuple[str, ...] = (*QUERY_COLUMNS, "latency_ms")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
StrArray = npt.NDArray[np.str_]


@dataclass(frozen=True, slots=True)
class ProfileRow:
    """One measurement: `model` at `batch` on `sm_pct`% of `gpu`'s SMs and `quota_pct`% of time.

    ``sm_pct`` is the share of streaming multiprocessors (MPS active-thread % or green-context
    SMs / total SMs x 100), ``quota_pct`` the share of each time-slicing window the request may
    use (100 = no time limit), ``latency_ms`` the mean or median latency of one batch.
    """

    gpu: str
    model: str
    batch: int
    sm_pct: float
    quota_pct: float
    latency_ms: float


@dataclass(frozen=True, slots=True)
class ProfileTable:
    """Rows as parallel numpy columns; ``latency_ms`` is NaN-free for profiles, None for queries."""

    gpu: StrArray
    model: StrArray
    batch: IntArray
    sm_pct: FloatArray
    quota_pct: FloatArray
    latency_ms: FloatArray | None = None

    def __len__(self) -> int:
        return int(self.batch.shape[0])

    def __iter__(self) -> Iterator[ProfileRow]:
        lat = self.latency_ms
        for i in range(len(self)):
            yield ProfileRow(
                str(self.gpu[i]),
                str(self.model[i]),
                int(self.batch[i]),
                float(self.sm_pct[i]),
                float(self.quota_pct[i]),
                float(lat[i]) if lat is not None else float("nan"),
            )

    def take(self, index: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> ProfileTable:
        """The rows selected by a boolean mask or an index array."""
        lat = self.latency_ms
        return ProfileTable(
            self.gpu[index],
            self.model[index],
            self.batch[index],
            self.sm_pct[index],
            self.quota_pct[index],
            lat[index] if lat is not None else None,
        )

    @staticmethod
    def from_rows(rows: Iterable[ProfileRow]) -> ProfileTable:
        """Columns from row objects (validated like file rows)."""
        rs = list(rows)
        for i, r in enumerate(rs):
            _check_values(f"rows[{i}]", r.batch, r.sm_pct, r.quota_pct, r.latency_ms)
        return ProfileTable(
            np.array([r.gpu for r in rs], dtype=np.str_),
            np.array([r.model for r in rs], dtype=np.str_),
            np.array([r.batch for r in rs], dtype=np.int64),
            np.array([r.sm_pct for r in rs], dtype=np.float64),
            np.array([r.quota_pct for r in rs], dtype=np.float64),
            np.array([r.latency_ms for r in rs], dtype=np.float64),
        )

    @staticmethod
    def concat(tables: Sequence[ProfileTable]) -> ProfileTable:
        """All rows of several tables, in order (latency kept only if every table has it)."""
        if not tables:
            return empty_table()
        lats = [t.latency_ms for t in tables]
        return ProfileTable(
            np.concatenate([t.gpu for t in tables]),
            np.concatenate([t.model for t in tables]),
            np.concatenate([t.batch for t in tables]),
            np.concatenate([t.sm_pct for t in tables]),
            np.concatenate([t.quota_pct for t in tables]),
            None if any(x is None for x in lats) else np.concatenate(lats),  # type: ignore[arg-type]
        )


def empty_table() -> ProfileTable:
    """A table with no rows."""
    return ProfileTable(
        np.array([], dtype=np.str_),
        np.array([], dtype=np.str_),
        np.array([], dtype=np.int64),
        np.array([], dtype=np.float64),
        np.array([], dtype=np.float64),
        np.array([], dtype=np.float64),
    )


def _check_values(where: str, batch: int, sm: float, quota: float, lat: float | None) -> None:
    if batch < 1:
        raise InputError(f"{where}: batch", batch, "an integer >= 1")
    if not (0.0 < sm <= 100.0):
        raise InputError(f"{where}: sm_pct", sm, "a number in (0, 100]")
    if not (0.0 < quota <= 100.0):
        raise InputError(f"{where}: quota_pct", quota, "a number in (0, 100]")
    if lat is not None and not (lat > 0.0 and np.isfinite(lat)):
        raise InputError(f"{where}: latency_ms", lat, "a finite number > 0")


def open_text(path: Path) -> io.TextIOBase:
    """The file as text, gunzipped when it starts with the gzip magic bytes."""
    if not path.exists():
        raise InputError("file", str(path), "an existing CSV file (optionally .gz)")
    if path.is_dir():
        raise InputError("file", str(path), "a CSV file, not a directory")
    with path.open("rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8", newline="")


def read_table(path: str | Path, *, with_latency: bool = True) -> ProfileTable:
    """Load one profile CSV (``with_latency``) or query CSV; raise `InputError` on bad input.

    The header must hold the schema's columns (any order; extra columns are ignored).
    """
    p = Path(path)
    want = PROFILE_COLUMNS if with_latency else QUERY_COLUMNS
    gpu: list[str] = []
    model: list[str] = []
    batch: list[int] = []
    sm: list[float] = []
    quota: list[float] = []
    lat: list[float] = []
    try:
        with open_text(p) as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise InputError(f"{p}: header", "", "a header line: " + ",".join(want))
            names = [h.strip() for h in header]
            missing = [c for c in want if c not in names]
            if missing:
                raise InputError(f"{p}: line 1: header", ",".join(names), ",".join(want))
            col = {c: names.index(c) for c in want}
            for line_no, rec in enumerate(reader, start=2):
                if not rec or all(not x.strip() for x in rec):
                    continue
                where = f"{p}: line {line_no}"
                if len(rec) < len(names):
                    raise InputError(f"{where}: row", ",".join(rec), f"{len(names)} fields")
                vals = {c: rec[i].strip() for c, i in col.items()}
                for c in ("gpu", "model"):
                    if not vals[c]:
                        raise InputError(f"{where}: column {c}", vals[c], "a non-empty name")
                b = _parse_int(where, "batch", vals["batch"])
                s = _parse_float(where, "sm_pct", vals["sm_pct"])
                q = _parse_float(where, "quota_pct", vals["quota_pct"])
                y = _parse_float(where, "latency_ms", vals["latency_ms"]) if with_latency else None
                _check_values(where + ": column", b, s, q, y)
                gpu.append(vals["gpu"].lower())
                model.append(vals["model"])
                batch.append(b)
                sm.append(s)
                quota.append(q)
                if y is not None:
                    lat.append(y)
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, csv.Error) as e:
        raise InputError(f"{p}: contents", type(e).__name__, "a UTF-8 CSV file") from e
    return ProfileTable(
        np.array(gpu, dtype=np.str_),
        np.array(model, dtype=np.str_),
        np.array(batch, dtype=np.int64),
        np.array(sm, dtype=np.float64),
        np.array(quota, dtype=np.float64),
        np.array(lat, dtype=np.float64) if with_latency else None,
    )


def _parse_int(where: str, column: str, text: str) -> int:
    try:
        f = float(text)
    except ValueError:
        f = float("nan")
    if not (np.isfinite(f) and f.is_integer()):
        raise InputError(f"{where}: column {column}", text, "an integer")
    return int(f)


def _parse_float(where: str, column: str, text: str) -> float:
    try:
        f = float(text)
    except ValueError:
        raise InputError(f"{where}: column {column}", text, "a number") from None
    if not np.isfinite(f):
        raise InputError(f"{where}: column {column}", text, "a finite number")
    return f


def load_profiles(*paths: str | Path) -> ProfileTable:
    """All rows of one or more profile CSV files (gzip allowed), in file order."""
    if not paths:
        raise InputError("profiles", [], "at least one profile CSV file")
    return ProfileTable.concat([read_table(p, with_latency=True) for p in paths])


def load_queries(path: str | Path) -> ProfileTable:
    """Query rows (the profile schema without ``latency_ms``) in file order."""
    return read_table(path, with_latency=False)
