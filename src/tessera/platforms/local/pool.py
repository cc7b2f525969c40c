"""The instances of one function version: acquire/release, queueing, scaling, crash recovery.

The control loop sets the desired number of instances (`scale_to`); the pool
starts workers from the template, drains surplus ones (idle first), and
replaces any that crash or are killed on timeout while the desired count
stands. For a function with a GPU share each instance is placed on the GPU
host before its process starts and removed from it once the process is gone
(`GpuPlacement`). Requests that find no free slot wait in FIFO order; the first one at
a function with no instances pokes the control loop (the activator's role).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from tessera.core.metering import InFlightMeter
from tessera.core.model import FunctionSpec
from tessera.core.policy import Decision, FunctionView, InstanceState, InstanceView
from tessera.platforms.local.gpu import GpuPlacement
from tessera.platforms.local.instances import (
    Launch,
    StartFailed,
    Template,
    Worker,
    WorkerGone,
    spawn_plain,
)

log = logging.getLogger("tessera.platform")

Grant = tuple[Worker, bool]  # the worker, and whether this request waited for its cold start


def _expire(fut: asyncio.Future[Grant]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


class FunctionPool:
    def __init__(
        self,
        spec: FunctionSpec,
        launch: Launch,
        on_unserved: Callable[[str], None],
        window_len: int = 150,
        use_template: bool = True,
        reactive: bool = False,
        gpu: GpuPlacement | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.version = launch.version
        self.launch = launch
        self.template = Template(launch) if use_template and launch.forkable else None
        self.reactive = reactive
        self._on_unserved = on_unserved
        self.workers: list[Worker] = []
        self.free: list[Worker] = []
        self.waiters: deque[asyncio.Future[Grant]] = deque()
        self.starting = 0
        self.desired = 0
        self.meter = InFlightMeter(time.time(), window_len)
        self.cold_starts = 0
        self.start_failures: deque[str] = deque(maxlen=10)
        self.closed = False
        self.gpu = gpu
        self._tasks: set[asyncio.Task[None]] = set()
        self._unplacing: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None  # see acquire

    async def start(self, timeout_s: float = 60.0) -> None:
        """Prove the code loads before the version takes traffic: the template imports it, or,
        for a runtime without templates, the first instance starts (and is kept); either
        within `timeout_s`."""
        if self.template is not None:
            await self.template.start(timeout_s)
        elif not self.launch.forkable:
            self.starting += 1
            try:
                w = await self._start_worker(timeout_s)
            finally:
                self.starting -= 1
            self._adopt(w)

    async def _start_worker(self, timeout_s: float = 60.0) -> Worker:
        """One new worker process: placed on the GPU host first when the function has a share."""
        placed = await self.gpu.place() if self.gpu is not None else None
        env = placed[1] if placed else None
        try:
            if self.template is not None:
                w = await self.template.spawn(env=env)  # restarts a dead template itself
            else:
                w = await spawn_plain(self.launch, timeout_s, env=env)
        except BaseException:
            if placed is not None:
                self._unplace(placed[0])
            raise
        w.gpu_instance = placed[0] if placed else None
        return w

    def _unplace(self, name: str) -> None:
        """Remove a GPU instance in the background (`close` waits for these)."""
        assert self.gpu is not None
        task = asyncio.get_running_loop().create_task(self.gpu.remove(name))
        self._unplacing.add(task)
        task.add_done_callback(self._unplacing.discard)

    def _forget_gpu(self, w: Worker) -> None:
        if w.gpu_instance is not None and self.gpu is not None:
            name, w.gpu_instance = w.gpu_instance, None
            self._unplace(name)

    # --- requests ------------------------------------------------------------------------
    async def acquire(self, timeout_s: float | None) -> Grant:
        """A worker slot for one request; waits (FIFO) up to `timeout_s` (None: no limit)."""
        if self.closed:
            raise StartFailed("function was removed or replaced")
        if self.free:
            w = self.free[-1]
            w.busy += 1
            if w.busy >= self.spec.concurrency:
                self.free.pop()
            return w, False
        loop = self._loop  # kept: get_running_loop() is a getpid() syscall on Python < 3.12
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        fut: asyncio.Future[Grant] = loop.create_future()
        self.waiters.append(fut)
        if self.reactive or (not self.workers and self.starting == 0):
            self._on_unserved(self.name)  # as the simulator does (Simulation._poke)
        timer = None if timeout_s is None else loop.call_later(timeout_s, _expire, fut)
        try:
            return await fut
        except (TimeoutError, asyncio.CancelledError):
            if fut in self.waiters:
                self.waiters.remove(fut)
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def release(self, w: Worker) -> None:
        w.busy -= 1
        w.served += 1
        if w.gone is not None:
            self._drop(w)
            return
        if w.draining:
            if w.busy == 0:
                self._retire(w)
            return
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                w.busy += 1
                fut.set_result((w, False))
                return
        if w.busy == self.spec.concurrency - 1:
            self.free.append(w)
        if w.busy == 0:
            w.idle_since_s = time.time()

    # --- scaling -------------------------------------------------------------------------
    def active(self) -> list[Worker]:
        return [w for w in self.workers if not w.draining and w.gone is None]

    def apply(self, d: Decision) -> None:
        self.desired = d.replicas
        active = self.active()
        have = len(active) + self.starting
        if have < d.replicas:
            for _ in range(d.replicas - have):
                self._spawn_later()
            return
        surplus = have - d.replicas
        if surplus <= 0:
            return
        named = set(d.release)
        victims = sorted(
            active, key=lambda w: (w.pid not in named, w.busy > 0, w.idle_since_s, -w.pid)
        )[:surplus]
        for w in victims:
            w.draining = True
            if w in self.free:
                self.free.remove(w)
            if w.busy == 0:
                self._retire(w)

    def _spawn_later(self) -> None:
        self.starting += 1
        task = asyncio.get_running_loop().create_task(self._spawn())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _spawn(self) -> None:
        if self.closed:
            self.starting -= 1
            return
        try:
            w = await self._start_worker()
        except (StartFailed, WorkerGone, OSError, TimeoutError) as e:
            self.starting -= 1
            self.start_failures.append(str(e))
            log.error("%s v%d: instance failed to start: %s", self.name, self.version, e)
            self._fail_waiters_if_hopeless(str(e))
            return
        self.starting -= 1
        self._adopt(w)

    def _adopt(self, w: Worker) -> None:
        """A worker that just started becomes an instance: it takes waiting requests first."""
        if self.closed:
            w.close()
            self._forget_gpu(w)
            return
        self.cold_starts += 1
        w.on_gone = self._gone
        self.workers.append(w)
        handed = False
        while self.waiters and w.busy < self.spec.concurrency:
            fut = self.waiters.popleft()
            if not fut.done():
                w.busy += 1
                fut.set_result((w, True))
                handed = True
        if w.busy < self.spec.concurrency:
            self.free.append(w)
        if not handed:
            w.idle_since_s = time.time()

    def _fail_waiters_if_hopeless(self, why: str) -> None:
        if self.active() or self.starting:
            return
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_exception(StartFailed(why))

    def _gone(self, w: Worker) -> None:
        """A worker died (crash, kill): forget it and restore the desired count."""
        self._drop(w)
        if not self.closed and len(self.active()) + self.starting < self.desired:
            self._spawn_later()
        elif self.waiters and not self.active() and not self.starting:
            self._on_unserved(self.name)

    def _drop(self, w: Worker) -> None:
        self._forget_gpu(w)
        if w in self.free:
            self.free.remove(w)
        if w in self.workers:
            self.workers.remove(w)

    def _retire(self, w: Worker) -> None:
        self._drop(w)
        w.close()

    def view(self, bucket_s: float) -> FunctionView:
        now = time.time()
        instances = [
            InstanceView(
                w.pid,
                InstanceState.DRAINING if w.draining else InstanceState.READY,
                w.busy,
                w.idle_since_s if w.busy == 0 else now,
            )
            for w in self.workers
        ]
        instances += [
            InstanceView(-1 - k, InstanceState.STARTING, 0, now) for k in range(self.starting)
        ]
        return FunctionView(
            name=self.name,
            bounds=self.spec.scale,
            concurrency=self.spec.concurrency,
            instances=tuple(instances),
            queued=len(self.waiters),
            in_flight=self.meter.in_flight,
            concurrency_window=tuple(self.meter.window),
            bucket_s=bucket_s,
            rps_window=tuple(self.meter.rps),
        )

    async def close(self, drain_s: float = 10.0) -> None:
        """Stop taking work; in-flight requests get `drain_s` to finish, then are killed.

        Idle workers get a graceful stop (socket closed: they run `stop()` and exit);
        workers still busy after the drain are killed, so nothing outlives the pool.
        """
        self.closed = True
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for fut in self.waiters:
            if not fut.done():
                fut.set_exception(StartFailed("function was removed or replaced"))
        self.waiters.clear()
        if self.template is not None:
            self.template.stop()  # also ends spawns in flight
        t0 = time.time()
        while any(w.busy or w.pending for w in self.workers) and time.time() - t0 < drain_s:
            await asyncio.sleep(0.02)
        for w in list(self.workers):
            if w.busy or w.pending:
                w.kill()
            else:
                w.close()
            self._forget_gpu(w)
        self.workers.clear()
        self.free.clear()
        if self._unplacing:
            await asyncio.gather(*self._unplacing, return_exceptions=True)
