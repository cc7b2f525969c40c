"""Gateway-side handles on worker processes: the template client and one connection per worker.

`Template` starts a function version's zygote and asks it for workers
(`spawn()` -> connected `Worker` after its `ready`). `spawn_plain()` starts
a fresh process instead: for Python the baseline for cold-start measurements
and the fallback where fork is unavailable; for the other runtimes the only
way (`runtimes/node_worker.js` under Node.js, `wasi_worker` hosting a WASI
module). Every worker kind speaks the same frames (`protocol.py`). A `Worker` multiplexes requests over
its socket (an asyncio Protocol), matching replies to futures by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera.functions.manifest import resolve_env
from tessera.functions.runtimes import NODE_PATH_DIR, NODEJS20, PYTHON, WASI, runtime_of
from tessera.platforms.local import sandbox
from tessera.platforms.local.protocol import HEADER, FrameParser, pack
from tessera.platforms.local.sandbox import Limits, PidsGroup

NODE_WORKER = Path(__file__).resolve().parent / "runtimes" / "node_worker.js"


class WorkerGone(Exception):
    """The worker process exited or closed its socket."""


class StartFailed(Exception):
    """The template or worker could not start (import error, start() raised, ...)."""


PLATFORM_ONLY_ENV = ("TESSERA_TOKEN",)
SANDBOX_ENV = ("PATH", "LANG", "TZ", "PYTHONPATH", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "MKL_NUM_THREADS", "TESSERA_GPU")  # fmt: skip
"""The platform's variables a sandboxed function still gets (plus LC_*); the rest of the
platform's environment (cloud keys, tokens) stays outside."""


@dataclass
class Launch:
    """How to start a function version's processes."""

    function: str
    version: int
    code_dir: Path
    handler: str
    concurrency: int = 1
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    config: dict[str, Any] = field(default_factory=dict)
    preload: list[str] = field(default_factory=list)
    runtime: str = "python3"
    secret_env: dict[str, str] = field(default_factory=dict, repr=False)
    """SECRET_<NAME> variables (values from the platform's secret store); never printed."""
    sandbox: str = "off"
    """"bwrap": every process of this launch runs in tessera.platforms.local.sandbox."""
    limits: Limits = field(default_factory=Limits)
    network: bool = False
    extra_ro: tuple[Path, ...] = ()
    """Paths the sandbox also shows, read-only (the folder of the GPU host's socket)."""
    pids: PidsGroup | None = None
    """The pids cgroup every process of this launch joins (sandboxed launches only)."""

    @property
    def forkable(self) -> bool:
        """Python workers can be forked from a template; the other runtimes are spawned."""
        return runtime_of(self.runtime) is PYTHON

    def program(self) -> list[str]:
        """The command (before its arguments) that starts one plain worker."""
        runtime = runtime_of(self.runtime)
        if runtime is NODEJS20:
            node = shutil.which("node")
            if node is None:
                raise StartFailed(f"runtime {self.runtime} needs Node.js 20 (`node`) on PATH")
            return [node, str(NODE_WORKER)]
        if runtime is WASI:
            return [sys.executable, "-m", "tessera.platforms.local.wasi_worker"]
        return [sys.executable, "-m", "tessera.platforms.local.worker"]

    def args(self) -> list[str]:
        return [
            *(["--preload", ",".join(self.preload)] if self.preload else []),
            "--code",
            str(self.code_dir),
            "--handler",
            self.handler,
            "--function",
            self.function,
            "--version",
            str(self.version),
            "--concurrency",
            str(self.concurrency),
            "--config",
            json.dumps(self.config),
        ]

    def environ(self) -> dict[str, str]:
        # the platform's credentials are not the function's: neither inherited nor reachable
        # through a ${NAME} reference in function.yaml
        # nor another function's secrets (a container platform hands them over as SECRET_*)
        base = {
            k: v
            for k, v in os.environ.items()
            if k not in PLATFORM_ONLY_ENV and not k.startswith("SECRET_")
        }
        if self.sandbox == "bwrap":  # a sandboxed function starts from a minimal environment
            base = {k: v for k, v in base.items() if k in SANDBOX_ENV or k.startswith("LC_")}
        env = {**base, **resolve_env(self.env, base), **self.secret_env}
        src = str(Path(__file__).resolve().parents[3])  # make `tessera` importable
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        env.setdefault("PYTHONUNBUFFERED", "1")
        # One BLAS/OpenMP thread unless the function asks otherwise: thread pools and fork()
        # do not mix well, and instances scale out by processes anyway.
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            if var not in self.env:
                env[var] = "1"
        if runtime_of(self.runtime) is NODEJS20:  # `require("tessera")` finds the JS SDK
            paths = (str(NODE_PATH_DIR), env.get("NODE_PATH"))
            env["NODE_PATH"] = os.pathsep.join(p for p in paths if p)
        return env


def _log_file(launch: Launch) -> Any:
    if launch.log_path is None:
        return subprocess.DEVNULL
    launch.log_path.parent.mkdir(parents=True, exist_ok=True)
    return open(launch.log_path, "ab")


class _WorkerProtocol(asyncio.Protocol):
    def __init__(self, worker: Worker) -> None:
        self.w = worker
        self.parser = FrameParser()

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.parser.feed(data)
        except Exception as e:  # corrupt stream: treat as a dead worker
            self.w._lost(f"protocol error: {e}")
            return
        for meta, body in frames:
            self.w._frame(meta, body)

    def connection_lost(self, exc: Exception | None) -> None:
        self.w._lost("worker closed its connection" if exc is None else str(exc))


class Worker:
    """One live worker process and its socket."""

    def __init__(self, pid: int, spawn_s: float) -> None:
        self.pid = pid
        self.spawn_s = spawn_s  # when the cold start began (UNIX s)
        self.ready_s = 0.0
        self.transport: asyncio.Transport | None = None
        self._waiting: dict[str, asyncio.Future[tuple[dict[str, Any], bytes]]] = {}
        # the loop it serves on, kept: asyncio.get_running_loop() costs a getpid() syscall
        # per call on Python < 3.12, and `call` runs once per invocation
        self._loop = asyncio.get_running_loop()
        self._ready: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self.gone: str | None = None
        self.busy = 0
        self.served = 0
        self.idle_since_s = spawn_s
        self.draining = False
        self.proc: subprocess.Popen[bytes] | None = None  # set for plain-spawned workers
        self.on_gone: Callable[[Worker], None] | None = None
        self.gpu_instance: str | None = None  # its instance on the GPU host, if placed there

    @property
    def pending(self) -> int:
        """Requests sent and not answered (still running in the process, even if abandoned)."""
        return len(self._waiting)

    @property
    def cold_start_s(self) -> float:
        return self.ready_s - self.spawn_s

    async def connect(self, sock: socket.socket, timeout_s: float) -> None:
        """Wait for the worker's `ready`; if this is cancelled or times out, the process is
        killed (an open transport would otherwise keep it alive with nobody to serve)."""
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.connect_accepted_socket(lambda: _WorkerProtocol(self), sock)
        except BaseException:
            sock.close()
            self.kill()
            raise
        self.transport = transport
        try:
            meta = await asyncio.wait_for(asyncio.shield(self._ready), timeout_s)
        except TimeoutError:
            self.kill()
            raise StartFailed(f"worker {self.pid} not ready after {timeout_s:g}s") from None
        except WorkerGone as e:
            raise StartFailed(f"worker {self.pid} died while starting: {e}") from None
        except asyncio.CancelledError:
            self.kill()
            raise
        if meta.get("type") != "ready":
            self.close()
            raise StartFailed(str(meta.get("error", "worker failed to start")))
        self.ready_s = time.time()
        self.idle_since_s = self.ready_s

    def _frame(self, meta: dict[str, Any], body: bytes) -> None:
        if "type" in meta and not self._ready.done():
            self._ready.set_result(meta)
            return
        fut = self._waiting.pop(str(meta.get("id")), None)
        if fut is not None and not fut.done():
            fut.set_result((meta, body))

    def _lost(self, why: str) -> None:
        first = self.gone is None
        if first:
            self.gone = why
        if not self._ready.done():
            self._ready.set_exception(WorkerGone(why))
            self._ready.exception()  # mark retrieved
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(WorkerGone(why))
        self._waiting.clear()
        if self.transport is not None:
            self.transport.close()
        if first and why != "closed" and self.on_gone is not None:
            self.on_gone(self)

    async def call(
        self, inv_id: str, meta: dict[str, Any], body: bytes, timeout_s: float
    ) -> tuple[dict[str, Any], bytes]:
        """Send one request; raise TimeoutError (and kill the worker) past `timeout_s`."""
        if self.gone is not None or self.transport is None:
            raise WorkerGone(self.gone or "not connected")
        loop = self._loop
        fut: asyncio.Future[tuple[dict[str, Any], bytes]] = loop.create_future()
        self._waiting[inv_id] = fut
        self.transport.write(pack(meta, body))
        # a timer, not asyncio.wait_for: no extra task per request on the hot path
        timer = loop.call_later(timeout_s, _expire, fut)
        try:
            return await fut
        except TimeoutError:
            self._waiting.pop(inv_id, None)
            self.kill()
            raise
        finally:
            timer.cancel()

    def kill(self) -> None:
        """SIGKILL the process (a hung handler cannot be interrupted otherwise)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self._lost("killed")
        if self.proc is not None:
            threading.Thread(target=_reap_later, args=(self.proc,), daemon=True).start()

    def close(self) -> None:
        """Graceful stop: closing the socket makes the worker run stop() and exit."""
        if self.transport is not None:
            self.transport.close()
        if self.gone is None:
            self.gone = "closed"
        if self.proc is not None:
            threading.Thread(target=_reap_later, args=(self.proc,), daemon=True).start()


HEADER_SIZE = HEADER.size


def _reap_later(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _expire(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _start(
    launch: Launch, program: list[str], fd_flag: str, env: dict[str, str] | None = None
) -> tuple[socket.socket, Any]:
    """Start `program` with one end of a new socket pair; return the other and the process.
    `env` is added to the launch's environment (one instance's own variables)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    log = _log_file(launch)
    cmd = [*program, fd_flag, str(theirs.fileno()), *launch.args()]
    info_r = info_w = -1
    if launch.sandbox == "bwrap":  # bwrap reports its child's pid: the worker's own
        info_r, info_w = os.pipe()
        cmd = sandbox.command(cmd, launch.code_dir, launch.limits, launch.extra_ro, launch.network)
        cmd[1:1] = ["--info-fd", str(info_w)]
        if launch.pids is not None:
            cmd = launch.pids.wrap(cmd)
    try:
        proc = subprocess.Popen(
            cmd,
            pass_fds=(theirs.fileno(), *((info_w,) if info_w >= 0 else ())),
            env={**launch.environ(), **(env or {})},
            cwd=str(launch.code_dir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
        if log is not subprocess.DEVNULL:
            log.close()
        if info_w >= 0:
            os.close(info_w)
    if info_r >= 0:
        proc.child_pid = sandbox.child_pid(info_r)  # type: ignore[attr-defined]
    return ours, proc


class Template:
    """The zygote process of one function version and its control socket."""

    def __init__(self, launch: Launch) -> None:
        self.launch = launch
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self._lock = asyncio.Lock()
        self._waiter: asyncio.Future[None] | None = None  # a pending read on the control socket
        self.stopped = False

    async def start(self, timeout_s: float = 60.0) -> None:
        """Start the template process and wait until it has imported the handler."""
        async with self._lock:
            await self._boot(timeout_s)

    async def _boot(self, timeout_s: float) -> None:
        """(Re)start the process; the caller holds `_lock`, so only one boot runs at a time."""
        if self.stopped:
            raise StartFailed("template stopped")
        self._halt()
        zygote = [sys.executable, "-m", "tessera.platforms.local.zygote"]
        ours, self.proc = _start(self.launch, zygote, "--control-fd")
        ours.setblocking(False)
        self.sock = ours
        try:
            meta, _ = await asyncio.wait_for(self._recv(), timeout_s)
        except TimeoutError:
            self._halt(kill=True)  # still importing (a hang): no instance forked yet
            raise StartFailed(
                f"{self.launch.function} did not load its handler within {timeout_s:g}s"
            ) from None
        except WorkerGone as e:
            self._halt(kill=True)
            raise StartFailed(f"template of {self.launch.function} did not start: {e}") from None
        if meta.get("type") != "ready":
            self._halt(kill=True)
            raise StartFailed(str(meta.get("error", "template failed")))

    async def _recv(self) -> tuple[dict[str, Any], list[int]]:
        """One frame from the control socket, with any file descriptors sent alongside."""
        if self.sock is None:
            raise WorkerGone("template stopped")
        loop = asyncio.get_running_loop()
        data = bytearray()
        fds: list[int] = []
        while True:
            if len(data) >= HEADER_SIZE:
                ml, bl = HEADER.unpack_from(data)
                if len(data) >= HEADER_SIZE + ml + bl:
                    return json.loads(bytes(data[HEADER_SIZE : HEADER_SIZE + ml])), fds
            if self.sock is None:
                raise WorkerGone("template stopped")
            fut: asyncio.Future[None] = loop.create_future()
            fd = self.sock.fileno()
            loop.add_reader(fd, _wake, fut)
            self._waiter = fut
            try:
                await fut
            finally:
                self._waiter = None
                loop.remove_reader(fd)
            if self.sock is None:
                raise WorkerGone("template stopped")
            try:
                msg, got, _flags, _addr = socket.recv_fds(self.sock, 65536, 4)
            except BlockingIOError:
                continue
            if not msg and not got:
                raise WorkerGone("template exited")
            data += msg
            fds += got

    async def spawn(self, timeout_s: float = 30.0, env: dict[str, str] | None = None) -> Worker:
        """Fork a worker from the template (restarting a dead template first) and wait until
        the worker is ready; `env` is set in the child's environment before it starts."""
        spawn_s = time.time()
        async with self._lock:
            if self.stopped:
                raise StartFailed("template stopped")
            if not self.alive() or self.sock is None:
                await self._boot(timeout_s)
            assert self.sock is not None
            self.sock.send(pack({"type": "spawn", "env": env or {}}))
            try:
                meta, fds = await asyncio.wait_for(self._recv(), timeout_s)
            except TimeoutError:
                self._halt()  # a late answer would be read as the next spawn's: start afresh
                raise StartFailed(f"template did not fork within {timeout_s:g}s") from None
        if meta.get("type") != "spawned" or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise StartFailed(f"template answered {meta}")
        sock = socket.socket(fileno=fds[0])
        pid = int(meta["pid"])
        if self.launch.sandbox == "bwrap":  # meta's pid is the sandbox's own; ask the instance
            try:
                # it announces after isolating itself (forks, mounts): off the event loop
                pid = await asyncio.to_thread(sandbox.announced_pid, sock)
            except OSError as e:
                sock.close()
                raise StartFailed(f"sandboxed instance did not announce its pid: {e}") from None
        worker = Worker(pid, spawn_s)
        await worker.connect(sock, timeout_s)
        return worker

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Stop the template for good (never blocks the event loop); workers stop separately."""
        self.stopped = True
        self._halt()

    def _halt(self, kill: bool = False) -> None:
        """Close the control socket and end the process; `kill`: at once, sandbox and all
        (only while no instance has been forked from it)."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(WorkerGone("template stopped"))
        if self.sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        proc = self.proc
        if proc is not None and proc.poll() is None:
            if kill:
                proc.kill()
                threading.Thread(target=proc.wait, daemon=True).start()
            elif self.launch.sandbox == "bwrap":
                # the closed socket ends the template; its PID namespace (and bwrap) last
                # until the instances the pool is draining have exited: killing bwrap now
                # would kill them mid-request
                threading.Thread(target=proc.wait, daemon=True).start()
            else:
                proc.terminate()
                threading.Thread(target=_reap_later, args=(proc,), daemon=True).start()


async def spawn_plain(
    launch: Launch, timeout_s: float = 60.0, env: dict[str, str] | None = None
) -> Worker:
    """Start a worker as a fresh process (no template): for Python the slow path cold starts
    avoid, for the other runtimes the way every instance starts. `env` is added to its
    environment."""
    spawn_s = time.time()
    ours, proc = _start(launch, launch.program(), "--fd", env)
    worker = Worker(getattr(proc, "child_pid", None) or proc.pid, spawn_s)
    worker.proc = proc
    await worker.connect(ours, timeout_s)
    return worker
