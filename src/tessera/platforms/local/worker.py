"""A worker instance: runs one function's handler for requests arriving on a socket.

Started either by forking the function's template (`zygote.py`: imports
already done, a cold start costs a fork) or as a fresh interpreter
(`python -m tessera.platforms.local.worker --fd N ...`, the slow baseline).
It calls the optional `start(config)` hook, announces `ready` with its pid,
then serves frames until the gateway closes the socket. With concurrency > 1
requests run on a thread pool and responses are matched by invocation id.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import resource
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tessera.functions.contract import Context, GpuAccess
from tessera.functions.invoke import call_handler
from tessera.functions.loader import Handler, HandlerError, load_handler
from tessera.gpu.client import INSTANCE_ENV, InstanceClient
from tessera.platforms.local.protocol import FrameReader, pack


def lower_priority() -> None:
    """SCHED_BATCH: a worker woken by a request does not preempt the gateway that sent it.

    Without it the gateway is preempted about twice per request on a busy core, which
    costs more than the request itself (measured by benchmarks/platform_throughput.py).
    """
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_BATCH"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


def function_logger(function: str) -> logging.Logger:
    """`context.logger`: lines go to stderr, which the platform sends to the function's log."""
    log = logging.getLogger(f"tessera.fn.{function}")
    if not log.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(message)s"))
        log.addHandler(h)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


def process_cpu_s() -> float:
    """CPU seconds of this process, its threads and the children it has waited for (an
    `mpi-job` invocation's ranks, a subprocess a handler runs): one invocation at a time is
    charged all of it."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def _run_one(
    handler: Handler,
    function: str,
    version: int,
    log: logging.Logger,
    gpu: GpuAccess | None,
    meta: dict[str, Any],
    body: bytes,
    cpu_clock: Callable[[], float] | None = None,
) -> bytes:
    cpu_clock = cpu_clock or process_cpu_s
    t0 = time.perf_counter()
    c0 = cpu_clock()
    ctx = Context(
        function=function,
        invocation_id=str(meta.get("id", "")),
        deadline_s=float(meta.get("deadline", 0.0)),
        logger=log,
        version=version,
        headers=meta.get("headers") or {},
        gpu=gpu,
    )
    status, headers, out, error = call_handler(handler, ctx, body, meta.get("ct"))
    exec_s = time.perf_counter() - t0
    cpu_s = cpu_clock() - c0
    return pack(
        {
            "id": meta.get("id"),
            "status": status,
            "headers": headers,
            "error": error,
            "exec_s": exec_s,
            "cpu_s": cpu_s,
        },
        out,
    )


def serve(
    sock: socket.socket,
    handler: Handler,
    function: str,
    version: int,
    concurrency: int,
    config: dict[str, Any],
) -> None:
    """Start hooks, announce readiness, then answer requests until the socket closes."""
    log = function_logger(function)
    gpu = gpu_access()
    try:
        if handler.start is not None:
            handler.start(config)
        if handler.ready is not None and handler.ready() is False:
            raise HandlerError("ready() returned False")
    except Exception as e:
        sock.sendall(pack({"type": "failed", "error": f"{type(e).__name__}: {e}"}))
        return
    sock.sendall(pack({"type": "ready", "pid": os.getpid()}))
    frames = FrameReader(sock)
    try:
        if concurrency <= 1:
            while (frame := frames.next()) is not None:
                sock.sendall(_run_one(handler, function, version, log, gpu, *frame))
        else:
            lock = threading.Lock()

            def work(meta: dict[str, Any], body: bytes) -> None:
                # requests share the process: each is charged its own thread's CPU time
                out = _run_one(handler, function, version, log, gpu, meta, body, time.thread_time)
                with lock:
                    sock.sendall(out)

            with ThreadPoolExecutor(concurrency) as pool:
                while (frame := frames.next()) is not None:
                    pool.submit(work, *frame)
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        if handler.stop is not None:
            try:
                handler.stop()
            except Exception:
                log.exception("stop() failed")


def gpu_access() -> GpuAccess | None:
    """`context.gpu` when the platform placed this instance on a GPU host (its environment
    names the host's socket and the instance), else None."""
    if INSTANCE_ENV not in os.environ:
        return None
    return InstanceClient.from_env(os.environ)


def launch_parser(description: str | None, fd_flag: str) -> argparse.ArgumentParser:
    """The command line shared by plain workers and templates (see `Launch.args`)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(fd_flag, type=int, required=True)
    p.add_argument("--code", required=True)
    p.add_argument("--handler", required=True)
    p.add_argument("--function", required=True)
    p.add_argument("--version", type=int, default=0)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--config", default="{}")
    p.add_argument("--preload", default="", help="comma-separated modules to import first")
    return p


def load(args: argparse.Namespace, sock: socket.socket) -> Handler | None:
    """Import the handler and the preload modules; on failure tell the gateway and return None."""
    try:
        handler = load_handler(args.code, args.handler)
        for module in filter(None, args.preload.split(",")):
            importlib.import_module(module)
    except HandlerError as e:
        sock.sendall(pack({"type": "failed", "error": str(e)}))
        return None
    except Exception as e:
        sock.sendall(pack({"type": "failed", "error": f"preload: {type(e).__name__}: {e}"}))
        return None
    return handler


def main(argv: list[str] | None = None) -> None:
    """Plain-spawn entry point (the baseline the template fork is measured against)."""
    a = launch_parser(__doc__, "--fd").parse_args(argv)
    lower_priority()
    sock = socket.socket(fileno=a.fd)
    handler = load(a, sock)
    if handler is not None:
        serve(sock, handler, a.function, a.version, a.concurrency, json.loads(a.config))


if __name__ == "__main__":
    main()
