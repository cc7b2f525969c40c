"""Where FL parameter vectors live between invocations: one interface, two backends.

FedLess keeps the global model and every client's result in a database that
the controller and the (stateless) client functions share. Tessera does the
same behind `ParamStore`: a key -> float64 vector map whose writes are atomic
(a reader sees the old vector or the new one, never half of each), so a
client function, the aggregator and the simulator can all use it without
knowing where it is.

- `SqliteStore` (default): one file (or memory), WAL, one table, one
  transaction per write. Right for one machine and for tests.
- `RedisStore`: the multi-node option, for client functions on other nodes.
  redis-py is an optional extra, imported only here.

`open_store(url)` picks one from a URL (`sqlite:///PATH`, `sqlite://`,
`redis://HOST:PORT/DB`), so configs name a store as a string.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np
import numpy.typing as npt

from tessera.core.errors import InputError, require

_DTYPE = np.dtype("<f8")  # little-endian float64: the stored bytes are the same on every host
ACCEPTED_URLS = (
    "sqlite:///RELATIVE/PATH, sqlite:////ABSOLUTE/PATH, sqlite:// (in memory), "
    "redis://HOST:PORT/DB (or rediss://)"
)


@runtime_checkable
class ParamStore(Protocol):
    """A key -> 1-D float64 vector map shared by a FL controller and its clients."""

    def put(self, key: str, params: npt.NDArray[np.float64]) -> None:
        """Store `params` under `key`, replacing any vector there, atomically."""
        ...

    def get(self, key: str) -> npt.NDArray[np.float64]:
        """The vector under `key` (a fresh, writable copy); `KeyError` naming it if absent."""
        ...

    def delete(self, key: str) -> None:
        """Remove `key`; no error if it is absent."""
        ...

    def keys(self, prefix: str = "") -> list[str]:
        """The keys that start with `prefix`, sorted."""
        ...

    def close(self) -> None:
        """Release the connection; the store is unusable afterwards."""
        ...


def _check_key(key: str) -> None:
    require(isinstance(key, str) and key != "", "key", key, "a non-empty string")


def encode(params: npt.ArrayLike) -> bytes:
    """The stored form of a parameter vector: its raw little-endian float64 bytes."""
    arr = np.asarray(params)
    require(arr.ndim == 1, "params", f"array of shape {arr.shape}", "a 1-D vector")
    require(
        arr.dtype.kind in "biuf",
        "params",
        f"array of dtype {arr.dtype}",
        "real numbers (stored as float64)",
    )
    return np.ascontiguousarray(arr, dtype=_DTYPE).tobytes()


def decode(key: str, blob: bytes) -> npt.NDArray[np.float64]:
    """The vector stored as `blob` (a writable copy, native float64)."""
    if len(blob) % _DTYPE.itemsize:
        raise ValueError(f"stored value of {key!r} is {len(blob)} bytes: not float64 data")
    return np.frombuffer(blob, dtype=_DTYPE).astype(np.float64, copy=True)


class Closing:
    """Context-manager support for anything with `close()`: the stores, the invocation log."""

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SqliteStore(Closing):
    """`ParamStore` in one SQLite table (WAL); thread-safe through one locked connection.

    Every write is one transaction, so a crash leaves the previous vector, and
    readers in other processes (WAL) see either the old or the new row. `path`
    is a file path or ":memory:" (private to this object).
    """

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        # The lock serialises use of the one connection across threads.
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            with self._conn:
                self._conn.execute(
                    "CREATE TABLE IF NOT EXISTS params (key TEXT PRIMARY KEY, value BLOB NOT NULL)"
                )

    def put(self, key: str, params: npt.ArrayLike) -> None:
        _check_key(key)
        blob = encode(params)
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO params (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, blob),
            )

    def get(self, key: str) -> npt.NDArray[np.float64]:
        _check_key(key)
        with self._lock:
            row = self._conn.execute("SELECT value FROM params WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return decode(key, bytes(row[0]))

    def delete(self, key: str) -> None:
        _check_key(key)
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM params WHERE key = ?", (key,))

    def keys(self, prefix: str = "") -> list[str]:
        # Keys are compared as UTF-8 bytes (BINARY collation), the same order as
        # Python's str order, so the keys with a prefix are one contiguous run.
        out: list[str] = []
        with self._lock:
            cur = self._conn.execute(
                "SELECT key FROM params WHERE key >= ? ORDER BY key", (prefix,)
            )
            for (key,) in cur:
                if not key.startswith(prefix):
                    break
                out.append(key)
        return out

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"


def _glob_escape(text: str) -> str:
    """`text` as a literal inside a Redis MATCH pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class RedisStore(Closing):
    """`ParamStore` on a Redis server: one string value per key under `namespace:`.

    A SET replaces the whole value in one command, so readers never see half a
    vector. Needs the `redis` package (`pip install redis`); the constructor
    pings the server so a wrong URL fails here, not at the first `put`.
    """

    def __init__(
        self, url: str = "redis://127.0.0.1:6379/0", namespace: str = "tessera:fl"
    ) -> None:
        try:
            import redis
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise InputError(
                "store url", url, "sqlite:// URLs, or install the Redis client: pip install redis"
            ) from e
        require(bool(namespace), "namespace", namespace, "a non-empty string")
        self.url = url
        self.namespace = namespace
        self._prefix = namespace + ":"
        try:
            self._r: Any = redis.Redis.from_url(url)
        except ValueError as e:
            raise InputError("store url", url, ACCEPTED_URLS) from e
        try:
            self._r.ping()
        except redis.exceptions.ConnectionError as e:
            self._r.close()
            raise ConnectionError(f"store url {url!r}: no Redis server answers ({e})") from e

    def put(self, key: str, params: npt.ArrayLike) -> None:
        _check_key(key)
        self._r.set(self._prefix + key, encode(params))

    def get(self, key: str) -> npt.NDArray[np.float64]:
        _check_key(key)
        blob = self._r.get(self._prefix + key)
        if blob is None:
            raise KeyError(key)
        return decode(key, bytes(blob))

    def delete(self, key: str) -> None:
        _check_key(key)
        self._r.delete(self._prefix + key)

    def keys(self, prefix: str = "") -> list[str]:
        pattern = _glob_escape(self._prefix + prefix) + "*"
        n = len(self._prefix)
        found = {bytes(k).decode() for k in self._r.scan_iter(match=pattern, count=1000)}
        return sorted(k[n:] for k in found)

    def close(self) -> None:
        self._r.close()

    def __repr__(self) -> str:
        return f"RedisStore({self.url!r}, namespace={self.namespace!r})"


def open_store(url: str, *, namespace: str = "tessera:fl") -> ParamStore:
    """The store a URL names.

    `sqlite://` (or `sqlite:///:memory:`) is an in-memory SQLite store;
    `sqlite:///PATH` a SQLite file at PATH, relative to the working directory
    (four slashes for an absolute path, as in SQLAlchemy); `redis://HOST:PORT/DB`
    or `rediss://...` a `RedisStore` whose keys live under `namespace:`.
    """
    require(isinstance(url, str), "store url", url, ACCEPTED_URLS)
    if url in ("sqlite://", "sqlite:///:memory:"):
        return SqliteStore(":memory:")
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        require(path != "", "store url", url, ACCEPTED_URLS)
        return SqliteStore(path)
    if url.startswith(("redis://", "rediss://")):
        return RedisStore(url, namespace=namespace)
    raise InputError("store url", url, ACCEPTED_URLS)
