"""Persistent state of the local FaaS platform, so deploys, records and queued work survive restarts.

One SQLite file holds the deployed functions (every version kept), the invocation records and
the async invocation queue. Connections run in WAL mode with `synchronous=NORMAL`,
`busy_timeout=5000` ms and foreign keys on; the schema version lives in `PRAGMA user_version`.

Threading model: a `Store` owns ONE connection guarded by a lock, so one `Store` may be shared by
any number of threads (the asyncio gateway thread, a dispatcher, ...); every call is short and
holds the lock for a single statement or a single transaction. Several `Store` objects (threads
or processes) may open the same file: every write runs in `BEGIN IMMEDIATE`, so writers queue on
SQLite's write lock (up to the busy timeout) instead of failing half-way. `RecordWriter` opens
its own `Store` on its own thread, so a flood of records never holds the gateway's lock.

Durability: every method commits before it returns, and every multi-row change is one
transaction, so a process crash loses nothing that was returned from. With `synchronous=NORMAL`
an OS crash or power loss may roll back the last few commits (the file stays consistent).
`RecordWriter` keeps rows in memory until its next batch commits (at most `max_delay_s` plus one
write), so a process crash loses the rows put but not yet committed; `flush()` bounds that.
"""

from __future__ import annotations

import contextlib
import json
import logging
import operator
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SCHEMA_VERSION = 5  # 2: API tokens and secrets; 3: records carry CPU time and footprint;
# 4: footprint columns nullable (unknown), a v3 file's records table rebuilt; 5: records say
# where their grid intensity came from and which time it refers to
BUSY_TIMEOUT_MS = 5000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS functions (
    name TEXT PRIMARY KEY, version INTEGER NOT NULL,
    FOREIGN KEY (name, version) REFERENCES versions (name, version) DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
    version INTEGER NOT NULL CHECK (version >= 1),
    spec TEXT NOT NULL, code_dir TEXT NOT NULL, created_s REAL NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY, function TEXT NOT NULL, version INTEGER NOT NULL, kind TEXT NOT NULL,
    arrival_s REAL NOT NULL, start_s REAL NOT NULL, end_s REAL NOT NULL,
    cold INTEGER NOT NULL, cold_start_s REAL NOT NULL, instance INTEGER NOT NULL,
    status TEXT NOT NULL, http_status INTEGER NOT NULL, error TEXT NOT NULL, node TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_arrival ON records (arrival_s);
CREATE INDEX IF NOT EXISTS records_by_function ON records (function, arrival_s);
CREATE TABLE IF NOT EXISTS async_invocations (
    id TEXT PRIMARY KEY, function TEXT NOT NULL, body BLOB NOT NULL,
    content_type TEXT NOT NULL, callback_url TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done')),
    attempts INTEGER NOT NULL DEFAULT 0, enqueued_s REAL NOT NULL,
    result_status INTEGER, result_headers TEXT, result_body BLOB, finished_s REAL
);
CREATE INDEX IF NOT EXISTS async_by_status ON async_invocations (status, enqueued_s);
CREATE TABLE IF NOT EXISTS secrets (
    name TEXT PRIMARY KEY, value BLOB NOT NULL, updated_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, digest TEXT NOT NULL UNIQUE, scope TEXT NOT NULL,
    label TEXT NOT NULL, created_s REAL NOT NULL
);
"""
_VERSION_COLS = "name, version, spec, code_dir, created_s"

_RECORD_COLUMNS_ADDED = (
    ("cpu_s", "REAL"),
    ("region", "TEXT NOT NULL DEFAULT ''"),
    ("energy_j", "REAL"),
    ("carbon_g", "REAL"),
    ("embodied_g", "REAL"),
    ("g_per_kwh", "REAL"),
    ("g_source", "TEXT"),
    ("g_at_s", "REAL"),
)
"""Columns schemas 3 and 5 added to `records` (after the CREATE TABLE above, also in a new
file, so this is their one declaration), in `RecordRow` order."""


@dataclass(frozen=True, slots=True)
class FunctionRow:
    """One deployed version of a function; `spec` is the parsed function.yaml."""

    name: str
    version: int
    spec: dict[str, Any]
    code_dir: str
    created_s: float


@dataclass(frozen=True, slots=True)
class RecordRow:
    """One invocation record; times are UNIX seconds, `instance` is the worker pid or -1."""

    id: str
    function: str
    version: int
    kind: str  # "sync" | "async"
    arrival_s: float
    start_s: float
    end_s: float
    cold: bool
    cold_start_s: float  # 0.0 when warm
    instance: int
    status: str  # "ok" | "error" | "timeout" | "crash" | "rejected"
    http_status: int
    error: str = ""
    node: str = "local"
    cpu_s: float | None = None  # CPU seconds the worker measured; None: not measured
    region: str = ""  # where it ran ("" when the platform was given no region)
    # energy_j, carbon_g, embodied_g, g_per_kwh: None = unknown (rows of an older platform, an
    # allocation the server model cannot hold, no region for carbon_g and g_per_kwh)
    energy_j: float | None = None  # J at the server's wall (tessera.carbon.footprint)
    carbon_g: float | None = None  # operational gCO2e; None: grid intensity unknown
    embodied_g: float | None = None  # the hardware's, amortised over the time it held it
    g_per_kwh: float | None = None  # the grid intensity it was charged at
    # where g_per_kwh came from (a table, a provider, "... (last good)", "annual mean of ...")
    # with " (stale)" when it was a fallback, and the time the value refers to (its hour in a
    # table, the provider's reading time): None for rows without one
    g_source: str | None = None
    g_at_s: float | None = None


@dataclass(frozen=True, slots=True)
class AsyncRow:
    """One queued async invocation and, once done, its result."""

    id: str
    function: str
    body: bytes
    content_type: str
    callback_url: str | None
    status: str  # "pending" | "running" | "done"
    attempts: int
    enqueued_s: float
    result_status: int | None
    result_headers: dict[str, str] | None
    result_body: bytes | None
    finished_s: float | None


# Column lists follow the dataclass field order, so rows map to tuples positionally.
_RECORD_FIELDS = tuple(f.name for f in fields(RecordRow))
_RECORD_COLS = ", ".join(_RECORD_FIELDS)
_RECORD_MARKS = ", ".join("?" * len(_RECORD_FIELDS))
_ASYNC_COLS = ", ".join(f.name for f in fields(AsyncRow))


def _function_row(r: Sequence[Any]) -> FunctionRow:
    return FunctionRow(r[0], r[1], json.loads(r[2]), r[3], r[4])


def _record_row(r: Sequence[Any]) -> RecordRow:
    values = list(r)
    values[7] = bool(values[7])  # `cold` is stored as 0/1
    return RecordRow(*values)


def _async_row(r: Sequence[Any]) -> AsyncRow:
    values = list(r)
    values[9] = None if r[9] is None else json.loads(r[9])  # result_headers is JSON
    return AsyncRow(*values)


_ROW_VALUES = operator.attrgetter(*_RECORD_FIELDS)  # one C call per row, in field order


_INSERT_CHUNKS = (64, 16, 4, 1)
"""Rows per INSERT statement, largest first: a batch is written as a few multi-row INSERTs
(one SQLite step each) instead of one step per row. Each step releases the GIL and takes
it back, a hand-off with the gateway's event loop thread that cost more than the insert."""
_INSERT_RECORDS = {
    n: f"INSERT OR IGNORE INTO records ({_RECORD_COLS}) VALUES "
    + ", ".join([f"({_RECORD_MARKS})"] * n)
    for n in _INSERT_CHUNKS
}


def _record_chunks(
    rows: Sequence[RecordRow], sizes: Sequence[int] = _INSERT_CHUNKS
) -> Iterator[tuple[str, list[Any]]]:
    """(statement, flat parameters) covering `rows` in order, lazily (a bad row fails inside
    the transaction, mid-batch); `sizes` from largest to 1."""
    i, n = 0, len(rows)
    for size in sizes:
        while n - i >= size:
            yield _INSERT_RECORDS[size], [v for row in rows[i : i + size] for v in _ROW_VALUES(row)]
            i += size


class Store:
    """The platform's SQLite database; one lock-guarded connection, shareable across threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():  # it holds secrets and token digests: owner only
            self.path.touch(mode=0o600)
        with contextlib.suppress(PermissionError):  # an older file keeps no wider mode
            self.path.chmod(0o600)
        self._lock = threading.Lock()
        # isolation_level=None: we issue BEGIN/COMMIT ourselves; check_same_thread=False: the
        # lock, not the creating thread, owns the connection.
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise RuntimeError(f"{self.path}: cannot enable WAL (journal_mode={mode})")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
        self._conn: sqlite3.Connection | None = conn
        # multi-row INSERTs within this build's bound-parameter limit (999 before SQLite 3.32)
        limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self._chunks = tuple(n for n in _INSERT_CHUNKS if n * len(_RECORD_FIELDS) <= limit) or (1,)
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    def _migrate(self) -> None:
        with self._tx() as conn:
            found = conn.execute("PRAGMA user_version").fetchone()[0]
            if found > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path}: schema version {found} is newer than {SCHEMA_VERSION}"
                )
            self._create(conn)
            info = {row[1]: row[3] for row in conn.execute("PRAGMA table_info(records)")}
            if info.get("energy_j") or info.get("embodied_g"):  # v3's NOT NULL DEFAULT 0
                self._rebuild_records(conn)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @staticmethod
    def _create(conn: sqlite3.Connection) -> None:
        """Every table and index that is missing; `records` gains the columns it lacks (rows
        of an older file keep their values, None in the new columns: unknown)."""
        for stmt in _SCHEMA.split(";"):
            if stmt.strip():
                conn.execute(stmt)
        have = {row[1] for row in conn.execute("PRAGMA table_info(records)")}
        for column, decl in _RECORD_COLUMNS_ADDED:
            if column not in have:
                conn.execute(f"ALTER TABLE records ADD COLUMN {column} {decl}")

    @classmethod
    def _rebuild_records(cls, conn: sqlite3.Connection) -> None:
        """A schema-3 file declared energy and embodied carbon NOT NULL DEFAULT 0, so an
        unknown footprint could not be stored: copy its records into a table as declared
        now, turning the zeros its migration gave older rows (no CPU time) into unknown."""
        conn.execute("ALTER TABLE records RENAME TO records_v3")
        for index in ("records_by_arrival", "records_by_function"):
            conn.execute(f"DROP INDEX IF EXISTS {index}")
        cls._create(conn)
        conn.execute(f"INSERT INTO records ({_RECORD_COLS}) SELECT {_RECORD_COLS} FROM records_v3")
        conn.execute(
            "UPDATE records SET energy_j = NULL, embodied_g = NULL "
            "WHERE cpu_s IS NULL AND energy_j = 0 AND embodied_g = 0"
        )
        conn.execute("DROP TABLE records_v3")

    def close(self) -> None:
        """Close the connection; idempotent. Later calls raise RuntimeError."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"Store {self.path} is closed")
        return self._conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it commits, or none of it does."""
        with self._lock:
            conn = self._live()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._live().execute(sql, params).fetchall()

    # -- functions ---------------------------------------------------------------------------

    def put_function(self, name: str, spec: dict[str, Any], code_dir: str, now_s: float) -> int:
        """Deploy a new version (1, 2, ...) and make it live; returns its number.

        Numbering continues from the highest stored version, so a function deployed again
        after `delete_function` starts over at 1.
        """
        spec_json = json.dumps(spec)  # a non-JSON spec fails here, before the transaction
        with self._tx() as conn:
            prev = conn.execute(
                "SELECT COALESCE(MAX(version), 0) FROM versions WHERE name = ?", (name,)
            ).fetchone()[0]
            version = int(prev) + 1
            conn.execute(
                "INSERT INTO functions (name, version) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET version = excluded.version",
                (name, version),
            )
            conn.execute(
                f"INSERT INTO versions ({_VERSION_COLS}) VALUES (?, ?, ?, ?, ?)",
                (name, version, spec_json, code_dir, now_s),
            )
        return version

    def get_function(self, name: str) -> FunctionRow | None:
        """The live version of `name`, or None."""
        rows = self._query(
            "SELECT v.name, v.version, v.spec, v.code_dir, v.created_s FROM functions f "
            "JOIN versions v ON v.name = f.name AND v.version = f.version WHERE f.name = ?",
            (name,),
        )
        return _function_row(rows[0]) if rows else None

    def get_version(self, name: str, version: int) -> FunctionRow | None:
        """A specific (possibly old) version, or None."""
        rows = self._query(
            f"SELECT {_VERSION_COLS} FROM versions WHERE name = ? AND version = ?",
            (name, version),
        )
        return _function_row(rows[0]) if rows else None

    def list_functions(self) -> list[FunctionRow]:
        """The live version of every function, sorted by name."""
        rows = self._query(
            "SELECT v.name, v.version, v.spec, v.code_dir, v.created_s FROM functions f "
            "JOIN versions v ON v.name = f.name AND v.version = f.version ORDER BY f.name"
        )
        return [_function_row(r) for r in rows]

    def delete_function(self, name: str) -> bool:
        """Remove the function and all its versions (records stay); False if it was absent."""
        with self._tx() as conn:
            cur = conn.execute("DELETE FROM functions WHERE name = ?", (name,))
            return cur.rowcount > 0

    # -- API tokens (tessera.platforms.local.auth): only digests are stored ---------------------

    def put_token(self, token_id: str, digest: str, scope: str, label: str) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO tokens (id, digest, scope, label, created_s) VALUES (?, ?, ?, ?, ?)",
                (token_id, digest, scope, label, time.time()),
            )

    def token_scope(self, digest: str) -> str | None:
        """The scope of the token with this SHA-256 digest, or None if there is none."""
        rows = self._query("SELECT scope FROM tokens WHERE digest = ?", (digest,))
        return str(rows[0][0]) if rows else None

    def list_tokens(self) -> list[dict[str, Any]]:
        """Every token's id, scope, label and creation time (never the digest)."""
        rows = self._query("SELECT id, scope, label, created_s FROM tokens ORDER BY created_s")
        return [{"id": r[0], "scope": r[1], "label": r[2], "created_s": r[3]} for r in rows]

    def delete_token(self, token_id: str) -> bool:
        with self._tx() as conn:
            return conn.execute("DELETE FROM tokens WHERE id = ?", (token_id,)).rowcount > 0

    # -- secrets: values only leave through `secret_values` (into a worker's environment) -----

    def put_secret(self, name: str, value: bytes) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO secrets (name, value, updated_s) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value, "
                "updated_s = excluded.updated_s",
                (name, value, time.time()),
            )

    def secret_values(self, names: Sequence[str]) -> dict[str, bytes]:
        """The values of those of `names` that are set."""
        if not names:
            return {}
        marks = ", ".join("?" for _ in names)
        rows = self._query(f"SELECT name, value FROM secrets WHERE name IN ({marks})", names)
        return {str(r[0]): bytes(r[1]) for r in rows}

    def list_secrets(self) -> list[dict[str, Any]]:
        """Names and update times (never values)."""
        rows = self._query("SELECT name, updated_s FROM secrets ORDER BY name")
        return [{"name": r[0], "updated_s": r[1]} for r in rows]

    def delete_secret(self, name: str) -> bool:
        with self._tx() as conn:
            return conn.execute("DELETE FROM secrets WHERE name = ?", (name,)).rowcount > 0

    # -- invocation records ------------------------------------------------------------------

    def add_records(self, rows: Sequence[RecordRow]) -> None:
        """Insert `rows` in one transaction.

        A row whose id is already stored is silently skipped (INSERT OR IGNORE; the first copy
        wins), so re-sending a batch after an uncertain failure is safe. Any other failure
        (e.g. an unbindable field) rolls the whole batch back.
        """
        if not rows:
            return
        with self._tx() as conn:
            for sql, params in _record_chunks(rows, self._chunks):
                conn.execute(sql, params)

    def records(
        self, function: str | None = None, since_s: float | None = None, limit: int = 1000
    ) -> list[RecordRow]:
        """Records newest first by `arrival_s` (ties: latest inserted first).

        `since_s` is inclusive (arrival_s >= since_s); `limit` must be >= 0.
        """
        if limit < 0:
            raise ValueError(f"limit: got {limit}; accepted: >= 0")
        where, params = self._record_filter(function, since_s)
        rows = self._query(
            f"SELECT {_RECORD_COLS} FROM records{where} "
            "ORDER BY arrival_s DESC, rowid DESC LIMIT ?",
            [*params, limit],
        )
        return [_record_row(r) for r in rows]

    def count_records(self, function: str | None = None) -> int:
        """How many records are stored, for one function or all."""
        where, params = self._record_filter(function, None)
        return int(self._query(f"SELECT COUNT(*) FROM records{where}", params)[0][0])

    @staticmethod
    def _record_filter(function: str | None, since_s: float | None) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if function is not None:
            clauses.append("function = ?")
            params.append(function)
        if since_s is not None:
            clauses.append("arrival_s >= ?")
            params.append(since_s)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    # -- async invocations -------------------------------------------------------------------

    def enqueue(
        self,
        id: str,
        function: str,
        body: bytes,
        content_type: str,
        callback_url: str | None,
        now_s: float,
    ) -> None:
        """Persist a pending async invocation; committed when this returns.

        Raises ValueError if `id` is already queued (ids are the gateway's to make unique).
        """
        try:
            with self._tx() as conn:
                conn.execute(
                    "INSERT INTO async_invocations "
                    "(id, function, body, content_type, callback_url, status, attempts, enqueued_s)"
                    " VALUES (?, ?, ?, ?, ?, 'pending', 0, ?)",
                    (id, function, bytes(body), content_type, callback_url, now_s),
                )
        except sqlite3.IntegrityError as e:
            raise ValueError(f"async invocation {id!r} already exists") from e

    def claim(self, limit: int) -> list[AsyncRow]:
        """Take up to `limit` oldest pending invocations: mark them running, attempts += 1.

        One IMMEDIATE transaction, so no row is handed out twice, even to other connections.
        """
        if limit <= 0:
            return []
        with self._tx() as conn:
            rows = conn.execute(
                f"SELECT {_ASYNC_COLS} FROM async_invocations WHERE status = 'pending' "
                "ORDER BY enqueued_s, rowid LIMIT ?",
                (limit,),
            ).fetchall()
            conn.executemany(
                "UPDATE async_invocations SET status = 'running', attempts = attempts + 1 "
                "WHERE id = ?",
                [(r[0],) for r in rows],
            )
        return [replace(_async_row(r), status="running", attempts=r[6] + 1) for r in rows]

    def complete(
        self, id: str, status: int, headers: dict[str, str], body: bytes, now_s: float
    ) -> bool:
        """Store the result of a running invocation and mark it done.

        Only a "running" row changes; a second call (or one for a pending/unknown id) returns
        False and changes nothing.
        """
        headers_json = json.dumps(headers)
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE async_invocations SET status = 'done', result_status = ?, "
                "result_headers = ?, result_body = ?, finished_s = ? "
                "WHERE id = ? AND status = 'running'",
                (status, headers_json, bytes(body), now_s, id),
            )
            return cur.rowcount == 1

    def get_async(self, id: str) -> AsyncRow | None:
        """One async invocation by id, or None."""
        rows = self._query(f"SELECT {_ASYNC_COLS} FROM async_invocations WHERE id = ?", (id,))
        return _async_row(rows[0]) if rows else None

    def requeue_running(self) -> int:
        """At start-up: put rows a crash left "running" back to "pending"; returns how many.

        Attempts are kept, so a caller can give up on a row that keeps crashing its worker.
        """
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE async_invocations SET status = 'pending' WHERE status = 'running'"
            )
            return cur.rowcount

    def pending_count(self) -> int:
        """How many async invocations wait to be claimed."""
        rows = self._query("SELECT COUNT(*) FROM async_invocations WHERE status = 'pending'")
        return int(rows[0][0])
