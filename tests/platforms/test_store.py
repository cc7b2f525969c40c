"""Behaviour of the local platform's SQLite store: durability, atomicity and thread safety."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tessera.platforms.local.store import (
    SCHEMA_VERSION,
    AsyncRow,
    RecordRow,
    Store,
)
from tessera.platforms.local.writer import RecordWriter


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "tessera.db"


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    s = Store(db)
    yield s
    s.close()


def rec(id: str, arrival_s: float = 100.0, function: str = "f", **kw: Any) -> RecordRow:
    fields: dict[str, Any] = {
        "version": 1,
        "kind": "sync",
        "start_s": arrival_s + 0.01,
        "end_s": arrival_s + 0.02,
        "cold": False,
        "cold_start_s": 0.0,
        "instance": 4242,
        "status": "ok",
        "http_status": 200,
    }
    fields.update(kw)
    return RecordRow(id=id, function=function, arrival_s=arrival_s, **fields)


# -- schema and pragmas --------------------------------------------------------------------


def test_schema_is_idempotent_and_survives_restart(db: Path) -> None:
    a = Store(db)  # creates parent dirs + schema
    b = Store(db)  # second open of the same file: no error, same schema
    assert a.put_function("hello", {"runtime": "python"}, "/code/hello", 1.0) == 1
    assert b.get_function("hello") is not None
    a.close()
    b.close()
    a.close()  # close is idempotent

    again = Store(db)  # "restart"
    try:
        row = again.get_function("hello")
        assert row is not None and row.spec == {"runtime": "python"}
        assert again.put_function("hello", {"runtime": "python"}, "/code/hello2", 2.0) == 2
    finally:
        again.close()
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_wal_mode_is_on(store: Store, db: Path) -> None:
    raw = sqlite3.connect(db)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()


def test_newer_schema_is_refused(db: Path) -> None:
    Store(db).close()
    raw = sqlite3.connect(db)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(RuntimeError, match="newer"):
        Store(db)


def test_closed_store_refuses_calls(db: Path) -> None:
    s = Store(db)
    s.close()
    with pytest.raises(RuntimeError, match="closed"):
        s.list_functions()


# -- functions -----------------------------------------------------------------------------


def test_versions_are_numbered_and_kept(store: Store) -> None:
    spec1 = {"name": "resize", "memory_mb": 128, "env": {"A": "1"}, "tags": ["x", "ü"]}
    spec2 = {**spec1, "memory_mb": 256}
    assert store.put_function("resize", spec1, "/code/v1", 10.0) == 1
    assert store.put_function("resize", spec2, "/code/v2", 20.0) == 2
    assert store.put_function("alpha", {"name": "alpha"}, "/code/a", 30.0) == 1

    live = store.get_function("resize")
    assert live is not None
    assert (live.name, live.version, live.spec, live.code_dir, live.created_s) == (
        "resize",
        2,
        spec2,
        "/code/v2",
        20.0,
    )
    old = store.get_version("resize", 1)
    assert old is not None and old.spec == spec1 and old.code_dir == "/code/v1"
    assert store.get_version("resize", 3) is None
    assert store.get_function("nope") is None
    assert [(f.name, f.version) for f in store.list_functions()] == [("alpha", 1), ("resize", 2)]


def test_delete_removes_function_and_versions_but_not_records(store: Store) -> None:
    store.put_function("f", {}, "/c1", 1.0)
    store.put_function("f", {}, "/c2", 2.0)
    store.add_records([rec("r1")])
    assert store.delete_function("f") is True
    assert store.get_function("f") is None
    assert store.get_version("f", 1) is None and store.get_version("f", 2) is None
    assert store.list_functions() == []
    assert store.count_records("f") == 1
    assert store.delete_function("f") is False
    assert store.put_function("f", {}, "/c3", 3.0) == 1  # a fresh function after delete


def test_failed_deploy_changes_nothing(store: Store) -> None:
    store.put_function("f", {"v": 1}, "/c1", 1.0)
    bad_code_dir: Any = object()  # fails on the second statement of the transaction
    with pytest.raises(sqlite3.Error):
        store.put_function("f", {"v": 2}, bad_code_dir, 2.0)
    with pytest.raises(sqlite3.Error):
        store.put_function("g", {"v": 1}, bad_code_dir, 2.0)
    live = store.get_function("f")
    assert live is not None and live.version == 1 and live.spec == {"v": 1}
    assert store.get_function("g") is None
    assert store.put_function("f", {"v": 2}, "/c2", 3.0) == 2


# -- invocation records --------------------------------------------------------------------


def test_records_round_trip_every_field(store: Store, db: Path) -> None:
    row = RecordRow(
        id="r-1",
        function="resize",
        version=3,
        kind="async",
        arrival_s=1_700_000_000.125,
        start_s=1_700_000_000.5,
        end_s=1_700_000_001.75,
        cold=True,
        cold_start_s=0.375,
        instance=-1,
        status="error",
        http_status=500,
        error="Traceback: ZeroDivisionError — división por cero ✗ 零",
        node="edge-1",
    )
    warm = rec("r-2", arrival_s=1.0)
    store.add_records([row, warm])
    store.close()
    reopened = Store(db)
    try:
        got = reopened.records()
        assert got == [row, warm]
        assert got[0].cold is True and got[1].cold is False
        assert got[1].error == "" and got[1].node == "local"
    finally:
        reopened.close()


def test_record_filters_order_and_limit(store: Store) -> None:
    store.add_records(
        [
            rec("a1", 10.0, "a"),
            rec("b1", 20.0, "b"),
            rec("a2", 30.0, "a"),
            rec("a3", 40.0, "a"),
            rec("b2", 50.0, "b"),
        ]
    )
    assert [r.id for r in store.records()] == ["b2", "a3", "a2", "b1", "a1"]
    assert [r.id for r in store.records(function="a")] == ["a3", "a2", "a1"]
    assert [r.id for r in store.records(since_s=30.0)] == ["b2", "a3", "a2"]  # inclusive
    assert [r.id for r in store.records(function="b", since_s=21.0)] == ["b2"]
    assert [r.id for r in store.records(limit=2)] == ["b2", "a3"]
    assert store.records(limit=0) == []
    assert store.records(function="zzz") == []
    assert store.count_records() == 5
    assert store.count_records("a") == 3
    with pytest.raises(ValueError):
        store.records(limit=-1)


def test_duplicate_record_ids_are_ignored(store: Store) -> None:
    store.add_records([rec("x", 1.0), rec("y", 2.0)])
    store.add_records([rec("x", 99.0, status="crash"), rec("z", 3.0), rec("z", 4.0)])
    assert store.count_records() == 3
    got = {r.id: r for r in store.records()}
    assert got["x"].arrival_s == 1.0 and got["x"].status == "ok"  # first copy wins
    assert got["z"].arrival_s == 3.0


def test_failed_batch_leaves_no_partial_rows(store: Store) -> None:
    store.add_records([rec("before")])
    unbindable: Any = object()
    batch = [rec("ok-1"), rec("ok-2"), rec("bad", error=unbindable), rec("ok-3")]
    with pytest.raises(sqlite3.Error):
        store.add_records(batch)
    assert [r.id for r in store.records()] == ["before"]
    store.add_records([rec("after")])  # the connection is usable afterwards
    assert store.count_records() == 2


def test_a_large_batch_is_stored_whole_across_statement_sizes(store: Store) -> None:
    # 150 rows: multi-row INSERTs of 64, 64, 16, 4 and single rows, in order
    batch = [rec(f"r{i:03d}", float(i), error=f"e{i}", cpu_s=i / 1000) for i in range(150)]
    batch[70] = rec("r070", 70.0, error="x", cpu_s=None, cold=True)
    store.add_records(batch)
    assert store.count_records() == 150
    assert sorted(store.records(limit=1000), key=lambda r: r.id) == batch


def test_large_batches_fit_an_older_sqlites_parameter_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_connect = sqlite3.connect

    def connect_999(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real_connect(*args, **kwargs)
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)  # SQLite before 3.32
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect_999)
    old = Store(tmp_path / "old.db")
    old.add_records([rec(f"r{i:03d}", float(i)) for i in range(150)])
    assert old.count_records() == 150
    old.close()


def test_a_bad_row_late_in_a_large_batch_rolls_all_of_it_back(store: Store) -> None:
    unbindable: Any = object()
    batch = [rec(f"r{i:03d}", float(i)) for i in range(149)] + [rec("bad", error=unbindable)]
    with pytest.raises(sqlite3.Error):
        store.add_records(batch)
    assert store.count_records() == 0


# -- async queue ---------------------------------------------------------------------------


def test_enqueue_claim_complete(store: Store) -> None:
    store.enqueue("j1", "f", b"\x00\xffpayload", "application/octet-stream", None, 10.0)
    store.enqueue("j2", "f", b"", "text/plain", "http://cb.example/x", 11.0)
    store.enqueue("j3", "g", b"{}", "application/json", None, 12.0)
    j1 = store.get_async("j1")
    assert j1 == AsyncRow(
        "j1", "f", b"\x00\xffpayload", "application/octet-stream", None,
        "pending", 0, 10.0, None, None, None, None,
    )  # fmt: skip
    assert store.pending_count() == 3
    with pytest.raises(ValueError, match="already exists"):
        store.enqueue("j1", "f", b"", "text/plain", None, 13.0)

    first = store.claim(2)
    assert [r.id for r in first] == ["j1", "j2"]  # oldest first
    assert all(r.status == "running" and r.attempts == 1 for r in first)
    assert first[1].callback_url == "http://cb.example/x" and first[1].body == b""
    assert store.get_async("j1") == first[0]
    assert store.pending_count() == 1
    assert store.complete("j3", 200, {}, b"", 20.0) is False  # still pending: unchanged
    assert store.claim(0) == []

    assert store.complete("j1", 201, {"content-type": "text/plain", "x-ü": "ö"}, b"done", 21.0)
    done = store.get_async("j1")
    assert done is not None
    assert (done.status, done.result_status, done.result_body, done.finished_s) == (
        "done",
        201,
        b"done",
        21.0,
    )
    assert done.result_headers == {"content-type": "text/plain", "x-ü": "ö"}
    # idempotent: a second completion changes nothing
    assert store.complete("j1", 500, {}, b"other", 22.0) is False
    assert store.get_async("j1") == done
    assert store.complete("missing", 200, {}, b"", 22.0) is False
    assert store.get_async("missing") is None
    assert [r.id for r in store.claim(10)] == ["j3"]
    assert store.claim(10) == []


@pytest.mark.parametrize("shared", [True, False], ids=["one-store", "store-per-thread"])
def test_concurrent_claims_never_overlap(db: Path, shared: bool) -> None:
    setup = Store(db)
    ids = [f"job-{i:03d}" for i in range(500)]
    for i, job in enumerate(ids):
        setup.enqueue(job, "f", b"x", "text/plain", None, float(i))
    stores = [setup, setup] if shared else [Store(db), Store(db)]
    claimed: list[list[str]] = [[], []]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker(k: int) -> None:
        try:
            barrier.wait()
            while batch := stores[k].claim(3):
                claimed[k].extend(r.id for r in batch)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in {id(s): s for s in [setup, *stores]}.values():
        s.close()
    assert errors == []
    a, b = set(claimed[0]), set(claimed[1])
    assert len(a) == len(claimed[0]) and len(b) == len(claimed[1])
    assert a.isdisjoint(b)
    assert a | b == set(ids)


def test_requeue_running_after_crash(db: Path) -> None:
    s = Store(db)
    for i in range(5):
        s.enqueue(f"j{i}", "f", b"", "text/plain", None, float(i))
    assert len(s.claim(3)) == 3
    s.close()  # "crash": claimed, never completed

    s = Store(db)
    try:
        assert s.pending_count() == 2
        assert s.requeue_running() == 3
        assert s.pending_count() == 5
        assert s.requeue_running() == 0
        again = s.claim(10)
        assert [r.id for r in again] == [f"j{i}" for i in range(5)]
        assert [r.attempts for r in again] == [2, 2, 2, 1, 1]
    finally:
        s.close()


# -- RecordWriter --------------------------------------------------------------------------


def test_writer_commits_rows_from_many_threads(db: Path) -> None:
    writer = RecordWriter(db)
    writer.start()
    per_thread = 2500

    def produce(k: int) -> None:
        for i in range(per_thread):
            writer.put(rec(f"t{k}-{i}", arrival_s=float(i)))

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.flush()
    assert writer.written == 10_000
    reader = Store(db)  # another connection sees the rows once flush returns
    try:
        assert reader.count_records() == 10_000
        ids = [r.id for r in reader.records(limit=20_000)]
        assert len(ids) == len(set(ids)) == 10_000
    finally:
        reader.close()
    writer.close()
    writer.close()


def test_writer_close_commits_everything_and_is_idempotent(db: Path) -> None:
    writer = RecordWriter(db, max_batch=7, max_delay_s=60.0)  # a long delay: close must not wait
    writer.start()
    for i in range(100):
        writer.put(rec(f"r{i}"))
    writer.close()
    writer.close()
    assert writer.written == 100
    with pytest.raises(RuntimeError):
        writer.put(rec("late"))
    s = Store(db)
    try:
        assert s.count_records() == 100
    finally:
        s.close()


def test_flush_does_not_wait_for_the_batch_delay(db: Path) -> None:
    writer = RecordWriter(db, max_delay_s=3600.0)
    writer.start()
    try:
        writer.put(rec("only"))
        writer.flush(timeout_s=30.0)  # would time out if flush waited out max_delay_s
        assert writer.written == 1
        writer.flush()  # nothing pending: returns at once
    finally:
        writer.close()


def test_writer_never_started_still_drains_on_close(db: Path) -> None:
    writer = RecordWriter(db)
    writer.put(rec("a"))
    writer.close()
    s = Store(db)
    try:
        assert s.count_records() == 1
    finally:
        s.close()


def test_writer_drops_only_bad_rows(db: Path) -> None:
    writer = RecordWriter(db)
    writer.start()
    unbindable: Any = object()
    try:
        writer.put(rec("good-1"))
        writer.put(rec("bad", error=unbindable))
        writer.put(rec("good-2"))
        writer.flush()
        assert (writer.written, writer.dropped) == (2, 1)
    finally:
        writer.close()


def test_writer_and_queue_share_the_file_without_lock_errors(db: Path) -> None:
    gateway = Store(db)
    writer = RecordWriter(db, max_batch=50)
    writer.start()
    try:
        for i in range(300):  # the gateway writes while the writer thread commits batches
            writer.put(rec(f"r{i}"))
            gateway.enqueue(f"j{i}", "f", b"", "text/plain", None, float(i))
            if i % 3 == 0:
                assert len(gateway.claim(1)) == 1
        writer.flush()
        assert gateway.count_records() == 300
        assert gateway.pending_count() == 200
    finally:
        writer.close()
        gateway.close()


def test_writer_start_reports_open_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    writer = RecordWriter(blocker / "db.sqlite")
    with pytest.raises(OSError):
        writer.start()
    writer.close()
