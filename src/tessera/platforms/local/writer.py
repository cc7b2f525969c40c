"""Batched, thread-safe writing of invocation records, off the gateway's event loop.

The gateway answers a request before its record is on disk; `RecordWriter`
commits records in batches on its own thread (one SQLite transaction per
batch), so recording costs the hot path one list append.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from tessera.platforms.local.store import RecordRow, Store

log = logging.getLogger(__name__)


class RecordWriter:
    """Batches RecordRows from any thread into Store.add_records on a background thread.

    `put` only appends to an in-memory list under a short lock (no SQLite, no back-pressure:
    the list grows if the disk cannot keep up). The writer thread commits a batch when it
    reaches `max_batch` rows, when `max_delay_s` has passed since its first row, or at once
    when someone flushes or closes. A batch that fails is retried row by row; rows that still
    fail are logged, dropped and counted in `dropped`, so one bad row never blocks the rest.

    The default 10 ms delay is a trade on one core: every commit rewrites the same few
    index pages and wakes this thread, so larger batches cost the gateway less throughput,
    but a batch's commit runs as one stretch that delays the requests in flight (a tail
    latency that grows with the batch). What a hard kill of the process can lose is what
    waits here; readers through the gateway (`/system/invocations`) flush first.
    """

    def __init__(
        self, store_path: str | Path, max_batch: int = 500, max_delay_s: float = 0.010
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch: got {max_batch}; accepted: >= 1")
        self._path = Path(store_path)
        self._max_batch = max_batch
        self._max_delay_s = max(0.0, max_delay_s)
        self._lock = threading.Lock()
        self._has_work = threading.Condition(self._lock)
        self._done = threading.Condition(self._lock)
        self._buf: list[RecordRow] = []
        self._put_n = 0  # rows ever put
        self._processed_n = 0  # rows ever taken from the buffer and written (or dropped)
        self._written_n = 0
        self._dropped_n = 0
        self._flushers = 0
        self._stopping = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None

    @property
    def written(self) -> int:
        """Rows committed so far."""
        with self._lock:
            return self._written_n

    @property
    def dropped(self) -> int:
        """Rows that could not be stored (logged and discarded)."""
        with self._lock:
            return self._dropped_n

    def start(self) -> None:
        """Open the writer's own Store on a new thread; raises what opening it raised."""
        with self._lock:
            if self._closed:
                raise RuntimeError("RecordWriter is closed")
        self._launch()

    def _launch(self) -> None:
        with self._lock:
            thread = self._thread
            if thread is None:
                thread = self._thread = threading.Thread(
                    target=self._run, name="tessera-records", daemon=True
                )
                thread.start()
        self._ready.wait()
        if self._start_error is not None:
            thread.join()
            with self._lock:
                self._closed = True
            raise self._start_error

    def put(self, row: RecordRow) -> None:
        """Queue one row; never touches SQLite. Raises RuntimeError after close()."""
        with self._lock:
            if self._closed or self._stopping:
                raise RuntimeError("RecordWriter is closed")
            self._buf.append(row)
            self._put_n += 1
            if len(self._buf) == 1 or len(self._buf) >= self._max_batch:
                self._has_work.notify()

    def flush(self, timeout_s: float = 5.0) -> None:
        """Return once every row put before this call is committed (or dropped).

        Raises TimeoutError after `timeout_s`, RuntimeError if rows wait but no thread runs.
        """
        with self._lock:
            target = self._put_n
            if self._processed_n >= target:
                return
            if self._thread is None or not self._thread.is_alive():
                raise RuntimeError("RecordWriter is not running; call start()")
            self._flushers += 1
            self._has_work.notify()
            try:
                if not self._done.wait_for(lambda: self._processed_n >= target, timeout_s):
                    raise TimeoutError(f"records not committed within {timeout_s} s")
            finally:
                self._flushers -= 1

    def close(self) -> None:
        """Commit everything put so far, stop the thread and close its Store; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending = bool(self._buf)
            thread = self._thread
        if thread is None and pending:
            self._launch()  # never started: run the thread just to drain the buffer
            thread = self._thread
        with self._lock:
            self._stopping = True
            self._has_work.notify()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        try:
            store = Store(self._path)
        except BaseException as e:
            self._start_error = e
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                batch = self._next_batch()
                if batch is None:
                    return
                ok = self._write(store, batch)
                with self._lock:
                    self._processed_n += len(batch)
                    self._written_n += ok
                    self._dropped_n += len(batch) - ok
                    self._done.notify_all()
        finally:
            store.close()

    def _next_batch(self) -> list[RecordRow] | None:
        """Wait for rows, then up to `max_delay_s` for a fuller batch; None when stopped."""
        with self._lock:
            while not self._buf:
                if self._stopping:
                    return None
                self._has_work.wait()
            deadline = time.monotonic() + self._max_delay_s
            while len(self._buf) < self._max_batch and not self._stopping and not self._flushers:
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0:
                    break
                self._has_work.wait(remaining_s)
            batch = self._buf[: self._max_batch]
            del self._buf[: self._max_batch]
            return batch

    @staticmethod
    def _write(store: Store, batch: list[RecordRow]) -> int:
        """Commit `batch`; returns how many rows were stored (duplicates count as stored)."""
        try:
            store.add_records(batch)
            return len(batch)
        except Exception:
            log.exception("record batch of %d failed; retrying row by row", len(batch))
        ok = 0
        for row in batch:
            try:
                store.add_records([row])
                ok += 1
            except Exception:
                log.exception("dropping record %r", getattr(row, "id", row))
        return ok
