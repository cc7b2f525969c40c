"""GPU latency profiles: one CSV schema for every measured profile, loaded into numpy columns.

Every profile (the H200 green-context sweep, the public V100 RaPP dataset, a user's own
measurements) shares one schema, ``gpu, model, batch, sm_pct, quota_pct, latency_ms``, so one
predictor learns from all of them. A query file is the same schema without ``latency_ms``.
Rows live in a `ProfileTable` (parallel numpy columns) because the predictor works on whole
columns; `ProfileRow` is the one-row view for callers that think in rows. Files may be gzipped.
Bad input raises `InputError` naming the file, line and column, and nothing is half-loaded:
every row must have as many fields as the header, each header name appears once, and
``batch`` is an integer in 1..`MAX_BATCH` (65,536: far past any batch a GPU holds, and small
enough that no arithmetic on it overflows).
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tessera.core.errors import InputError

QUERY_COLUMNS: tuple[str, ...] = ("gpu", "model", "batch", "sm_pct", "quota_pct")
PROFILE_COLUMNS: tuple[str, ...] = (*QUERY_COLUMNS, "latency_ms")
MAX_BATCH = 65_536
"""Largest ``batch`` a profile or query row may hold (and `tessera gpu profile --batches`)."""

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
    if not (1 <= batch <= MAX_BATCH):
        raise InputError(f"{where}: batch", batch, f"an integer in 1..{MAX_BATCH}")
    if not (0.0 < sm <= 100.0):
        raise InputError(f"{where}: sm_pct", sm, "a number in (0, 100]")
    if not (0.0 < quota <= 100.0):
        raise InputError(f"{where}: quota_pct", quota, "a number in (0, 100]")
    if lat is not None and not (lat > 0.0 and np.isfinite(lat)):
        raise InputError(f"{where}: latency_ms", lat, "a finite number > 0")


def open_text(path: Path, *, option: str | None = None) -> io.TextIOBase:
    """The file as text, gunzipped when it starts with the gzip magic bytes.

    ``option`` names how the user gave the path (``--queries``) in errors; default ``file``.
    """
    field = option or "file"
    if not path.exists():
        raise InputError(field, str(path), "an existing CSV file (optionally .gz)")
    if path.is_dir():
        raise InputError(field, str(path), "a CSV file, not a directory")
    try:
        with path.open("rb") as fh:
            magic = fh.read(2)
        if magic == b"\x1f\x8b":  # utf-8-sig: a byte-order mark (spreadsheet exports) is no text
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
        return path.open("r", encoding="utf-8-sig", newline="")
    except OSError as e:
        raise InputError(field, str(path), f"a readable CSV file ({e.strerror or e})") from None


@dataclass(frozen=True, slots=True)
class CsvRecords:
    """A CSV file's header and non-blank records, each with its line number, checked for shape.

    ``label`` names the file in errors: its path, after the option that gave it if any.
    """

    label: str
    header: list[str]
    rows: list[tuple[int, list[str]]]

    @property
    def names(self) -> list[str]:
        """The header's column names, stripped."""
        return [h.strip() for h in self.header]


def read_csv(path: str | Path, *, option: str | None = None) -> CsvRecords:
    """Read a CSV file (gzip allowed) whole; raise `InputError` on bad input.

    The file must be UTF-8 (or a gzip of such), start with a header whose names each appear
    once, and every non-blank record must have exactly as many fields as the header. An
    empty file reads as no columns and no rows.
    """
    p = Path(path)
    label = f"{option} {p}" if option else str(p)
    rows: list[tuple[int, list[str]]] = []
    try:
        with open_text(p, option=option) as fh:
            reader = csv.reader(fh)
            header = next(reader, [])  # an empty file: no columns, reported by the caller
            names = [h.strip() for h in header]
            dup = sorted({n for n in names if n and names.count(n) > 1})
            if dup:
                raise InputError(
                    f"{label}: line 1: header",
                    ",".join(names),
                    "each column name once (repeated: " + ", ".join(dup) + ")",
                )
            for line_no, rec in enumerate(reader, start=2):
                if not rec or all(not x.strip() for x in rec):
                    continue
                if header and len(rec) != len(names):  # no header: the caller reports it
                    raise InputError(
                        f"{label}: line {line_no}: row",
                        ",".join(rec),
                        f"{len(names)} fields, as in the header (this row has {len(rec)})",
                    )
                rows.append((line_no, rec))
    except UnicodeDecodeError:
        raise InputError(
            f"{label}: contents", "bytes that are not UTF-8", "a UTF-8 CSV file (optionally .gz)"
        ) from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise InputError(
            f"{label}: contents",
            f"corrupt or truncated gzip data ({e or type(e).__name__})",
            "a CSV file or a whole gzip of one",
        ) from None
    except csv.Error as e:
        raise InputError(f"{label}: contents", f"malformed CSV ({e})", "a UTF-8 CSV file") from None
    except OSError as e:
        raise InputError(
            option or "file", str(p), f"a readable CSV file ({e.strerror or e})"
        ) from None
    return CsvRecords(label, header, rows)


def table_from_csv(data: CsvRecords, *, with_latency: bool = True) -> ProfileTable:
    """The rows of a read CSV as a profile table (``with_latency``) or query table.

    The header must hold the schema's columns (any order; extra columns are ignored).
    """
    label = data.label
    want = PROFILE_COLUMNS if with_latency else QUERY_COLUMNS
    names = data.names
    missing = [c for c in want if c not in names]
    if missing:
        raise InputError(f"{label}: line 1: header", ",".join(names), ",".join(want))
    col = {c: names.index(c) for c in want}
    gpu: list[str] = []
    model: list[str] = []
    batch: list[int] = []
    sm: list[float] = []
    quota: list[float] = []
    lat: list[float] = []
    for line_no, rec in data.rows:
        where = f"{label}: line {line_no}"
        vals = {c: rec[i].strip() for c, i in col.items()}
        for c in ("gpu", "model"):
            if not vals[c]:
                raise InputError(f"{where}: column {c}", vals[c], "a non-empty name")
        b = _parse_int(where, "batch", vals["batch"], MAX_BATCH)
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
    return ProfileTable(
        np.array(gpu, dtype=np.str_),
        np.array(model, dtype=np.str_),
        np.array(batch, dtype=np.int64),
        np.array(sm, dtype=np.float64),
        np.array(quota, dtype=np.float64),
        np.array(lat, dtype=np.float64) if with_latency else None,
    )


def read_table(
    path: str | Path, *, with_latency: bool = True, option: str | None = None
) -> ProfileTable:
    """Load one profile CSV (``with_latency``) or query CSV; raise `InputError` on bad input.

    The header must hold the schema's columns (any order; extra columns are ignored).
    ``option`` names how the user gave the path (``--profiles``), for the errors.
    """
    return table_from_csv(read_csv(path, option=option), with_latency=with_latency)


def _parse_int(where: str, column: str, text: str, high: int) -> int:
    try:
        f = float(text)
    except ValueError:
        f = float("nan")
    if not (np.isfinite(f) and f.is_integer() and 1 <= f <= high):
        raise InputError(f"{where}: column {column}", text, f"an integer in 1..{high}")
    return int(f)


def _parse_float(where: str, column: str, text: str) -> float:
    try:
        f = float(text)
    except ValueError:
        raise InputError(f"{where}: column {column}", text, "a number") from None
    if not np.isfinite(f):
        raise InputError(f"{where}: column {column}", text, "a finite number")
    return f


def load_profiles(*paths: str | Path, option: str | None = None) -> ProfileTable:
    """All rows of one or more profile CSV files (gzip allowed), in file order."""
    if not paths:
        raise InputError(option or "profiles", [], "at least one profile CSV file")
    return ProfileTable.concat([read_table(p, with_latency=True, option=option) for p in paths])


def load_queries(path: str | Path, *, option: str | None = None) -> ProfileTable:
    """Query rows (the profile schema without ``latency_ms``) in file order."""
    return read_table(path, with_latency=False, option=option)
