"""The FL invocation log and every metric the FL experiments report, derived from it.

Each client invocation leaves one `InvocationRecord` (when it started and
ended, in which round, whether it was a cold start, whether it succeeded, its
memory size and cost); when the controller aggregates a result it marks the
record with the round it went into. Nothing else is counted on the side: time
to accuracy, cold-start share, cost, effective update ratio (EUR) and the
fairness of client selection (Gini coefficient of invocations per client) are
all computed here from the records plus the accuracy timeline the driver
measured. The simulator and the real controller write the same log, so their
numbers are comparable.

`InvocationLog` keeps the records in SQLite (memory or a file): appends and
marks are transactions, so a crash leaves whole records or none.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

from tessera.core.errors import InputError, require
from tessera.fl.store import Closing


@dataclass(frozen=True, slots=True)
class InvocationRecord:
    """One client-function invocation of a FL run.

    `key` identifies the invocation (and its result in the `ParamStore`);
    times are seconds on the driver's clock (virtual or wall); `train_time_s`
    is the training part alone (no cold start, no transfers). `cost_usd` is
    what the platform bills for it (e.g. `gcf_gen1_cost_usd`).
    `round_aggregated` is None until the result is aggregated, then the
    round whose global model it went into. `hardware` names where it ran.
    """

    key: str
    client: str
    round_started: int
    start_s: float
    end_s: float
    train_time_s: float
    cold: bool
    ok: bool
    memory_mib: int
    cost_usd: float
    round_aggregated: int | None = None
    hardware: str = ""
    operational_g: float = 0.0
    """gCO2e of the energy the invocation drew (the driver's accounting; 0: not accounted)."""
    embodied_g: float = 0.0
    """gCO2e of the hardware's manufacture amortised over the invocation's share and time."""

    def __post_init__(self) -> None:
        require(self.key != "", "key", self.key, "a non-empty string")
        require(self.round_started >= 0, "round_started", self.round_started, "an integer >= 0")
        require(self.end_s >= self.start_s, "end_s", self.end_s, f">= start_s ({self.start_s})")
        require(self.train_time_s >= 0, "train_time_s", self.train_time_s, "seconds >= 0")
        require(self.memory_mib >= 0, "memory_mib", self.memory_mib, "MiB >= 0")
        require(self.cost_usd >= 0, "cost_usd", self.cost_usd, "USD >= 0")
        require(self.operational_g >= 0, "operational_g", self.operational_g, "gCO2e >= 0")
        require(self.embodied_g >= 0, "embodied_g", self.embodied_g, "gCO2e >= 0")

    @property
    def duration_s(self) -> float:
        """Wall time of the invocation, cold start included (what the platform bills)."""
        return self.end_s - self.start_s


_COLUMNS = tuple(f.name for f in fields(InvocationRecord))
_SCHEMA = """
CREATE TABLE IF NOT EXISTS invocations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    client TEXT NOT NULL,
    round_started INTEGER NOT NULL,
    start_s REAL NOT NULL,
    end_s REAL NOT NULL,
    train_time_s REAL NOT NULL,
    cold INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    memory_mib INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    round_aggregated INTEGER,
    hardware TEXT NOT NULL,
    operational_g REAL NOT NULL DEFAULT 0,
    embodied_g REAL NOT NULL DEFAULT 0
)
"""
_ADDED = {"operational_g": "REAL NOT NULL DEFAULT 0", "embodied_g": "REAL NOT NULL DEFAULT 0"}
"""Columns newer than the first schema: added to a log file written before them."""


def _from_row(row: Sequence[Any]) -> InvocationRecord:
    key, client, rs, start, end, train, cold, ok, mem, cost, ra, hw, op, emb = row
    return InvocationRecord(
        key=str(key),
        client=str(client),
        round_started=int(rs),
        start_s=float(start),
        end_s=float(end),
        train_time_s=float(train),
        cold=bool(cold),
        ok=bool(ok),
        memory_mib=int(mem),
        cost_usd=float(cost),
        round_aggregated=None if ra is None else int(ra),
        hardware=str(hw),
        operational_g=float(op),
        embodied_g=float(emb),
    )


class InvocationLog(Closing):
    """Append-only SQLite log of `InvocationRecord`s; only aggregation marks change a row.

    `path` is a file (records survive the process) or ":memory:". Thread-safe
    (one connection behind a lock). Records come back in the order appended.
    """

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        # Autocommit mode: every transaction is opened explicitly by `_transaction`.
        self._conn = sqlite3.connect(
            self.path, check_same_thread=False, timeout=30.0, isolation_level=None
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        with self._transaction():
            self._conn.execute(_SCHEMA)
            have = {r[1] for r in self._conn.execute("PRAGMA table_info(invocations)")}
            for name, decl in _ADDED.items():
                if name not in have:
                    self._conn.execute(f"ALTER TABLE invocations ADD COLUMN {name} {decl}")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """Hold the lock and one write transaction (BEGIN IMMEDIATE): commit, or roll back."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def append(self, rec: InvocationRecord) -> None:
        """Add one record; its `key` must be new to the log."""
        self.extend((rec,))

    def extend(self, recs: Iterable[InvocationRecord]) -> None:
        """Add several records in one transaction: all of them, or (on any error) none."""
        placeholders = ", ".join("?" * len(_COLUMNS))
        sql = f"INSERT INTO invocations ({', '.join(_COLUMNS)}) VALUES ({placeholders})"
        with self._transaction():
            for rec in recs:
                require(isinstance(rec, InvocationRecord), "record", rec, "an InvocationRecord")
                try:
                    self._conn.execute(sql, astuple(rec))
                except sqlite3.IntegrityError as e:
                    raise InputError("key", rec.key, "a key not yet in the log") from e

    def mark_aggregated(self, keys: Iterable[str], round_: int) -> None:
        """Record that the results `keys` went into the global model of round `round_`.

        One transaction: an unknown key (`KeyError`), a key already aggregated
        into another round (`InputError`) or any other error marks nothing.
        Marking a key again with the same round is a no-op.
        """
        require(round_ >= 0, "round_", round_, "an integer >= 0")
        require(not isinstance(keys, str), "keys", keys, "an iterable of keys, not one string")
        with self._transaction():
            for key in keys:
                row = self._conn.execute(
                    "SELECT round_aggregated FROM invocations WHERE key = ?", (key,)
                ).fetchone()
                if row is None:
                    raise KeyError(key)
                if row[0] is not None and row[0] != round_:
                    raise InputError(
                        "round_",
                        round_,
                        f"the round {key!r} was already aggregated into ({row[0]})",
                    )
                self._conn.execute(
                    "UPDATE invocations SET round_aggregated = ? WHERE key = ?", (round_, key)
                )

    def records(self) -> list[InvocationRecord]:
        """Every record, in the order appended."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM invocations ORDER BY seq"
            ).fetchall()
        return [_from_row(tuple(r)) for r in rows]

    def __len__(self) -> int:
        with self._lock:
            (n,) = self._conn.execute("SELECT COUNT(*) FROM invocations").fetchone()
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


# --- cost ---------------------------------------------------------------------------

#: Google Cloud Functions (1st gen, now "Cloud Run functions (1st gen)") compute-time
#: price per 100 ms, Tier 1 regions, USD, by memory tier (MB) with the CPU that comes
#: with it: 128 MB/200 MHz, 256/400 MHz, 512/800 MHz, 1024/1.4 GHz, 2048/2.4 GHz,
#: 4096/4.8 GHz, 8192/4.8 GHz. Source: https://cloud.google.com/functions/pricing-1stgen
#: ("Compute time" table; the same numbers were on https://cloud.google.com/functions/pricing
#: before 2nd gen). Each equals the published unit rates, $0.0000025 per GB-second plus
#: $0.0000100 per GHz-second, times 0.1 s, rounded to 3 significant digits.
GCF_GEN1_PRICE_PER_100MS_USD: dict[int, float] = {
    128: 0.000000231,
    256: 0.000000463,
    512: 0.000000925,
    1024: 0.000001650,
    2048: 0.000002900,
    4096: 0.000005800,
    8192: 0.000006800,
}
#: CPU clock (GHz) of each memory tier, as published with the prices above.
GCF_GEN1_CPU_GHZ: dict[int, float] = {
    128: 0.2,
    256: 0.4,
    512: 0.8,
    1024: 1.4,
    2048: 2.4,
    4096: 4.8,
    8192: 4.8,
}
#: Price of one invocation: $0.40 per million (beyond the monthly free tier).
GCF_GEN1_PRICE_PER_INVOCATION_USD = 0.40 / 1_000_000


def gcf_gen1_tier_mib(memory_mib: int) -> int:
    """The smallest GCF 1st-gen memory tier that holds `memory_mib` (what would be billed)."""
    require(memory_mib > 0, "memory_mib", memory_mib, "MiB > 0")
    for tier in sorted(GCF_GEN1_PRICE_PER_100MS_USD):
        if memory_mib <= tier:
            return tier
    raise InputError("memory_mib", memory_mib, f"MiB in 1..{max(GCF_GEN1_PRICE_PER_100MS_USD)}")


def gcf_gen1_cost_usd(duration_s: float, memory_mib: int, invocations: int = 1) -> float:
    """What `invocations` GCF 1st-gen invocations of `duration_s` each cost, in USD.

    Compute time is billed in 100 ms increments, rounded up (260 ms bills as
    300 ms; an invocation is billed at least one increment), at the price of
    the memory tier (`memory_mib` not a tier: the next tier up), plus $0.40
    per million invocations. The monthly free tier and network egress are left
    out: an experiment reports the marginal cost of its own invocations.
    Prices (Tier 1 regions): `GCF_GEN1_PRICE_PER_100MS_USD`, from Google's
    "Cloud Run functions (1st gen) pricing" page,
    https://cloud.google.com/functions/pricing-1stgen (Invocations; Compute time).
    """
    require(math.isfinite(duration_s) and duration_s >= 0, "duration_s", duration_s, "seconds >= 0")
    require(invocations >= 0, "invocations", invocations, "an integer >= 0")
    price = GCF_GEN1_PRICE_PER_100MS_USD[gcf_gen1_tier_mib(memory_mib)]
    # round() first, so 1.1 s (11.000000000000002 increments in floating point) bills 11.
    increments = max(1, math.ceil(round(duration_s * 10.0, 9)))
    return invocations * (increments * price + GCF_GEN1_PRICE_PER_INVOCATION_USD)


# --- metrics ------------------------------------------------------------------------


def cold_start_share(records: Sequence[InvocationRecord]) -> float:
    """Share of invocations that were cold starts (0.0 for no invocations)."""
    if not records:
        return 0.0
    return sum(r.cold for r in records) / len(records)


def effective_update_ratio(records: Sequence[InvocationRecord]) -> float:
    """EUR: share of invocations whose update was aggregated (0.0 for no invocations).

    Failed invocations and results that came too late or were dropped count
    in the denominator: they cost an invocation but improved nothing.
    """
    if not records:
        return 0.0
    return sum(r.round_aggregated is not None for r in records) / len(records)


def gini(values: Sequence[float]) -> float:
    """Gini coefficient of non-negative `values`: 0 all equal, (n-1)/n one holds all.

    G = sum_i sum_j |x_i - x_j| / (2 n^2 mean), computed from the sorted values
    as (2 sum_i i x_(i)) / (n sum x) - (n + 1) / n with i = 1..n. 0.0 for no
    values or all zeros.
    """
    xs = sorted(float(v) for v in values)
    n = len(xs)
    if n == 0:
        return 0.0
    require(xs[0] >= 0, "values", xs[0], "non-negative numbers")
    total = math.fsum(xs)
    if total == 0:
        return 0.0
    weighted = math.fsum(i * x for i, x in enumerate(xs, start=1))
    return max(0.0, 2.0 * weighted / (n * total) - (n + 1) / n)


def invocations_per_client(
    records: Sequence[InvocationRecord], clients: Sequence[str]
) -> dict[str, int]:
    """How often each of `clients` was invoked (0 for never); records of others are an error."""
    counts = Counter(r.client for r in records)
    known = set(clients)
    unknown = sorted(c for c in counts if c not in known)
    require(not unknown, "clients", unknown, "a list naming every client that has records")
    return {c: counts.get(c, 0) for c in clients}


def invocations_gini(records: Sequence[InvocationRecord], clients: Sequence[str]) -> float:
    """Gini coefficient of invocations per client; clients never invoked count as 0."""
    return gini(list(invocations_per_client(records, clients).values()))


def time_to_accuracy(timeline: Sequence[tuple[float, float]], target: float) -> float:
    """The earliest time at which the accuracy reached `target`; inf if it never did.

    `timeline` holds (time_s, accuracy) pairs, e.g. one per evaluated round.
    """
    reached = [t for t, acc in timeline if acc >= target]
    return min(reached) if reached else math.inf


def coverage_time(records: Sequence[InvocationRecord], clients: Sequence[str]) -> float:
    """When the last of `clients` was first invoked (its earliest start); inf if one never was.

    Apodotiko invokes every never-invoked client before it samples by score, so
    until then its selection is uniform: a target reached before this time
    cannot show what the score does."""
    first: dict[str, float] = {}
    for r in records:
        if r.start_s < first.get(r.client, math.inf):
            first[r.client] = r.start_s
    if not clients or any(c not in first for c in clients):
        return math.inf if clients else 0.0
    return max(first[c] for c in clients)


def final_accuracy(timeline: Sequence[tuple[float, float]]) -> float:
    """The accuracy of the latest point of the timeline (nan when it is empty)."""
    if not timeline:
        return math.nan
    return max(timeline, key=lambda p: p[0])[1]


def summary(
    records: Sequence[InvocationRecord],
    timeline: Sequence[tuple[float, float]],
    clients: Sequence[str],
    target: float,
) -> dict[str, float]:
    """Every metric of one FL run, keyed as the experiments report them.

    `tta_s` (inf when `target` was never reached), `final_accuracy`,
    `cold_start_share`, `cost_usd` (sum of the records' costs), `eur`,
    `invocations_gini`, `invocations`, `failures` (records not ok),
    `rounds` (distinct rounds that aggregated at least one result),
    `gco2` (operational + embodied, summed over the records) and
    `coverage_s` (`coverage_time`: every client invoked at least once).
    """
    return {
        "tta_s": time_to_accuracy(timeline, target),
        "final_accuracy": final_accuracy(timeline),
        "cold_start_share": cold_start_share(records),
        "cost_usd": math.fsum(r.cost_usd for r in records),
        "eur": effective_update_ratio(records),
        "invocations_gini": invocations_gini(records, clients),
        "invocations": float(len(records)),
        "failures": float(sum(not r.ok for r in records)),
        "rounds": float(len({r.round_aggregated for r in records} - {None})),
        "gco2": math.fsum(r.operational_g + r.embodied_g for r in records),
        "coverage_s": coverage_time(records, clients),
    }
