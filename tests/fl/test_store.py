"""ParamStore contract: SQLite and a real Redis server pass the same tests."""

from __future__ import annotations

import builtins
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tessera.core.errors import InputError
from tessera.fl.store import ParamStore, RedisStore, SqliteStore, open_store

Factory = Callable[[], ParamStore]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pings(port: int) -> bool:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.exceptions.ConnectionError:
        return False
    finally:
        client.close()


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server on a free loopback port, no persistence; stopped by its pid."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server binary not found (apt-get install redis-server)")
    work = tmp_path_factory.mktemp("redis")
    for _attempt in range(3):  # the free port may be taken between probe and bind
        port = _free_port()
        log = (work / f"redis-{port}.log").open("wb")
        args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(work)]
        args += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=work,
        )
        deadline = time.monotonic() + 10.0
        while proc.poll() is None and time.monotonic() < deadline and not _pings(port):
            time.sleep(0.02)
        if proc.poll() is None and _pings(port):
            break
        proc.kill()
        proc.wait()
        log.close()
    else:
        pytest.fail(f"redis-server did not start; see {work}")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(params=["sqlite-memory", "sqlite-file", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    """Opens handles on one fresh store; handles after the first share its data
    (same file, same Redis namespace), except in memory where it is the same handle."""
    opened: list[ParamStore] = []
    if request.param == "sqlite-memory":
        shared = SqliteStore()
        opened.append(shared)

        def make() -> ParamStore:
            return shared

    elif request.param == "sqlite-file":
        path = tmp_path / "params.db"

        def make() -> ParamStore:
            opened.append(SqliteStore(path))
            return opened[-1]

    else:
        url = request.getfixturevalue("redis_url")
        ns = f"test:{uuid.uuid4().hex}"

        def make() -> ParamStore:
            opened.append(RedisStore(url, namespace=ns))
            return opened[-1]

    yield make
    for s in opened:
        s.close()


def test_roundtrip_is_exact_bytes(make_store: Factory) -> None:
    s = make_store()
    v = np.array([0.0, -0.0, 1 / 3, np.pi, 5e-324, 1.7976931348623157e308, np.inf, -np.inf, np.nan])
    s.put("w", v)
    got = s.get("w")
    assert got.dtype == np.float64 and got.shape == v.shape
    assert got.tobytes() == v.tobytes()
    got[0] = 42.0  # a fresh, writable copy: the store is unchanged
    assert s.get("w")[0] == 0.0


def test_integers_are_stored_as_float64(make_store: Factory) -> None:
    s = make_store()
    s.put("ints", np.array([1, 2, 3], dtype=np.int32))
    got = s.get("ints")
    assert got.dtype == np.float64
    assert got.tolist() == [1.0, 2.0, 3.0]


def test_overwrite_replaces_whole_vector(make_store: Factory) -> None:
    s = make_store()
    s.put("g", np.arange(10.0))
    s.put("g", np.array([7.0, 8.0]))
    assert s.get("g").tolist() == [7.0, 8.0]
    s.put("g", np.array([]))
    assert s.get("g").shape == (0,)


def test_missing_key_raises_keyerror_naming_it(make_store: Factory) -> None:
    s = make_store()
    with pytest.raises(KeyError, match="round/3/client-7"):
        s.get("round/3/client-7")


def test_delete(make_store: Factory) -> None:
    s = make_store()
    s.put("a", np.ones(3))
    s.put("b", np.ones(3))
    s.delete("a")
    with pytest.raises(KeyError):
        s.get("a")
    s.delete("a")  # absent: no error
    assert s.keys() == ["b"]


def test_keys_with_prefix_sorted_and_literal(make_store: Factory) -> None:
    s = make_store()
    names = ["round/1/b", "round/1/a", "round/10/a", "global", "a*b", "abc", "x[1]", "x1", "ü/é"]
    for k in names:
        s.put(k, np.zeros(1))
    assert s.keys() == sorted(names)
    assert s.keys("round/1/") == ["round/1/a", "round/1/b"]
    assert s.keys("round/1") == ["round/1/a", "round/1/b", "round/10/a"]
    assert s.keys("a*") == ["a*b"]  # '*' is a literal, not a glob
    assert s.keys("x[") == ["x[1]"]
    assert s.keys("ü") == ["ü/é"]
    assert s.keys("nothing") == []


def test_other_handles_see_writes(make_store: Factory) -> None:
    a, b = make_store(), make_store()
    a.put("k", np.arange(4.0))
    assert b.get("k").tolist() == [0.0, 1.0, 2.0, 3.0]
    b.delete("k")
    assert a.keys() == []


def test_concurrent_writers_never_tear_a_read(make_store: Factory) -> None:
    """Writer i puts constant vectors of value i and length 100*(i+1); readers on other
    handles must always see one whole vector: all values equal and the matching length.
    (A store that writes a vector in two steps fails this in every run.)"""
    writers = [make_store() for _ in range(3)]
    readers = [make_store() for _ in range(2)]
    writers[0].put("shared", np.zeros(100))
    errors: list[str] = []
    reads = [0, 0]
    stop = threading.Event()

    def write(i: int, s: ParamStore) -> None:
        for _ in range(100):
            s.put("shared", np.full(100 * (i + 1), float(i)))
            time.sleep(0)  # let the other threads in between writes

    def read(j: int, s: ParamStore) -> None:
        while not stop.is_set():
            v = s.get("shared")
            reads[j] += 1
            if not (np.all(v == v[0]) and len(v) == 100 * (int(v[0]) + 1)):
                errors.append(f"torn read: len {len(v)}, values {np.unique(v)[:5]}")
            time.sleep(0)

    threads = [threading.Thread(target=read, args=(j, s)) for j, s in enumerate(readers)]
    threads += [threading.Thread(target=write, args=(i, s)) for i, s in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads[2:]:
        t.join()
    stop.set()
    for t in threads[:2]:
        t.join()
    assert errors == []
    assert min(reads) > 0
    assert np.all(readers[0].get("shared") == readers[0].get("shared")[0])


def test_large_vector(make_store: Factory) -> None:
    s = make_store()
    v = np.random.default_rng(0).standard_normal(1_000_000)
    s.put("big", v)
    assert np.array_equal(s.get("big"), v)


@pytest.mark.parametrize(
    ("key", "params", "field"),
    [
        ("", np.zeros(2), "key"),
        ("m", np.zeros((2, 2)), "params"),
        ("m", np.float64(1.0), "params"),
        ("m", np.array(["a", "b"]), "params"),
        ("m", np.array([1 + 2j]), "params"),
    ],
)
def test_put_rejects_bad_input(make_store: Factory, key: str, params: Any, field: str) -> None:
    s = make_store()
    with pytest.raises(InputError) as e:
        s.put(key, params)
    assert e.value.field == field
    assert s.keys() == []


def test_both_stores_satisfy_the_protocol(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "p.db") as s:
        assert isinstance(s, ParamStore)


def test_sqlite_file_survives_reopen_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with SqliteStore(path) as s:
        s.put("g", np.arange(3.0))
        mode = s._conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    with SqliteStore(path) as s:
        assert s.get("g").tolist() == [0.0, 1.0, 2.0]


# --- open_store ---------------------------------------------------------------------


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_open_store_memory(url: str) -> None:
    s = open_store(url)
    assert isinstance(s, SqliteStore) and s.path == ":memory:"
    s.close()


def test_open_store_relative_and_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s = open_store("sqlite:///rel.db")
    s.put("k", np.ones(1))
    s.close()
    assert (tmp_path / "rel.db").exists()
    absolute = tmp_path / "sub" / "abs.db"
    absolute.parent.mkdir()
    s = open_store("sqlite:///" + str(absolute))  # four slashes: sqlite:////tmp/...
    s.put("k", np.ones(1))
    s.close()
    assert absolute.exists()


def test_open_store_redis(redis_url: str) -> None:
    ns = f"test:{uuid.uuid4().hex}"
    s = open_store(redis_url, namespace=ns)
    try:
        assert isinstance(s, RedisStore) and s.namespace == ns
        s.put("k", np.ones(2))
        assert s.keys() == ["k"]
    finally:
        s.delete("k")
        s.close()


@pytest.mark.parametrize(
    "url", ["", "mongodb://localhost:27017", "sqlite:/x.db", "sqlite:///", "http://x", "redis:/x"]
)
def test_open_store_rejects_unknown_urls(url: str) -> None:
    with pytest.raises(InputError) as e:
        open_store(url)
    assert e.value.field == "store url"
    assert e.value.value == url
    assert "sqlite://" in e.value.accepted and "redis://" in e.value.accepted


def test_redis_unreachable_is_a_clear_error() -> None:
    port = _free_port()  # nothing listens there
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}"):
        RedisStore(f"redis://127.0.0.1:{port}/0")


def test_missing_redis_client_names_the_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_redis(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "redis" or name.startswith("redis."):
            raise ImportError("No module named 'redis'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_redis)
    with pytest.raises(InputError, match="pip install redis"):
        open_store("redis://127.0.0.1:6379/0")
