"""Calling a generic handler: the one request -> event -> handler -> response path every
runtime shares (local workers and each platform adapter's entry point).
"""

from __future__ import annotations

import importlib
import logging
import os
import queue
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path

from tessera.functions.contract import Context, decode_event, encode_result
from tessera.functions.loader import Handler, load_handler


def call_handler(
    h: Handler, ctx: Context, body: bytes, content_type: str | None
) -> tuple[int, dict[str, str], bytes, str]:
    """(status, headers, body, error): a raised exception is a 500 with "Type: message"."""
    try:
        status, headers, out = encode_result(h.handle(decode_event(body, content_type), ctx))
        return status, headers, out, ""
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
        ctx.logger.error("invocation %s failed:\n%s", ctx.invocation_id, traceback.format_exc())
        return 500, {"content-type": "text/plain; charset=utf-8"}, error.encode(), error


MAX_RUNAWAY = int(os.environ.get("TESSERA_MAX_RUNAWAY", "4"))
"""Handlers still running past their deadline that one process tolerates."""


def _restart_process() -> None:
    """What a platform does with an instance whose handlers do not stop: end it, so the
    platform starts a fresh one (Lambda, OpenWhisk and the local platform kill it at once)."""
    logging.getLogger("tessera.fn").critical(
        "%d handlers are still running past their deadline: exiting so the platform "
        "replaces this instance",
        _RUNNERS.runaway,
    )
    threading.Timer(0.5, os._exit, (70,)).start()  # after the 504 has gone out


class _Runners:
    """Daemon threads that run handlers for adapters, so a caller can stop waiting at the
    deadline; a thread stuck in a runaway handler never blocks the process from exiting.

    Python cannot kill a thread: each runaway handler keeps its thread (and whatever it
    spins on). Past `MAX_RUNAWAY` of them `on_overload` runs, by default ending the process.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._idle = 0
        self._lock = threading.Lock()
        self.runaway = 0
        self.on_overload: Callable[[], None] = _restart_process

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._idle:
                self._idle -= 1
            else:
                threading.Thread(target=self._loop, daemon=True, name="tessera-handler").start()
        self._jobs.put(job)

    def _loop(self) -> None:
        while True:
            self._jobs.get()()
            with self._lock:
                self._idle += 1

    def late(self, done: threading.Event, late: threading.Event) -> bool:
        """At the deadline: False if the handler has just returned after all; else count its
        thread as runaway (until it returns) and call `on_overload` past the limit."""
        with self._lock:
            if done.is_set():
                return False
            late.set()
            self.runaway += 1
            over = self.runaway > MAX_RUNAWAY
        if over:
            self.on_overload()
        return True

    def finished(self, done: threading.Event, late: threading.Event) -> None:
        with self._lock:
            done.set()
            if late.is_set():
                self.runaway -= 1


_RUNNERS = _Runners()


def call_with_deadline(
    h: Handler, ctx: Context, body: bytes, content_type: str | None
) -> tuple[int, dict[str, str], bytes, str]:
    """`call_handler`, answering 504 when the handler is still running at `ctx.deadline_s`.

    What adapters use: their platforms (like the local one, which kills the worker)
    stop an invocation at the function's timeout. Python cannot kill a thread, so a
    runaway handler keeps its thread until it returns; the caller is answered on time.
    """
    done = threading.Event()
    late = threading.Event()
    result: list[tuple[int, dict[str, str], bytes, str]] = []

    def job() -> None:
        result.append(call_handler(h, ctx, body, content_type))
        _RUNNERS.finished(done, late)

    budget = max(0.0, ctx.remaining_s())
    _RUNNERS.submit(job)
    if done.wait(budget) or not _RUNNERS.late(done, late):
        return result[0]
    error = f"handler timed out after {budget:.3g}s"
    ctx.logger.error("invocation %s: %s", ctx.invocation_id, error)
    return 504, {"content-type": "text/plain; charset=utf-8"}, error.encode(), error


def load_for_adapter(code_dir: Path, handler: str, preload: Iterable[str] = ()) -> Handler:
    """Load a handler inside a platform's runtime and run its `start` hook once.

    Platforms import their own entry file as `main` (functions-framework, the OpenFaaS
    template), and user modules are often `main` too: the user's module is imported with
    the name freed, then the platform's module gets it back.
    """
    top = handler.split(".", 1)[0]
    shadow = sys.modules.pop(top, None)
    try:
        h = load_handler(code_dir, handler)
    finally:
        if shadow is not None:
            sys.modules[top] = shadow
    for module in preload:
        importlib.import_module(module)
    if h.start is not None:
        h.start({})
    return h


def adapter_logger(function: str) -> logging.Logger:
    return logging.getLogger(f"tessera.fn.{function}")
