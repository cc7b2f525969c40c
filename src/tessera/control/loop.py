"""Every `interval_s`: close metric buckets, snapshot, run the autoscaler, apply decisions.

This is the wall-clock twin of `tessera.sim.engine.Simulation._tick`: both
build a `Snapshot` from `FunctionView`s, call `tessera.autoscaling.evaluate`
(which applies the shared bounds) and apply the decisions. A request that
finds a function with no instances pokes the loop for an immediate decision
(the activator's job in Knative). Every decision that changes a scale is kept
with its reason, for `/system/decisions` and the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any, Protocol

from tessera.autoscaling import evaluate
from tessera.core.policy import Decision, FunctionView, Snapshot
from tessera.core.ports import Autoscaler

log = logging.getLogger("tessera.control")


class ScalablePlatform(Protocol):
    """What a platform offers the control loop."""

    def close_buckets(self, now_s: float) -> None: ...

    def views(self, names: list[str] | None = None) -> dict[str, FunctionView]: ...

    def apply(self, d: Decision) -> None: ...


class ControlLoop:
    def __init__(
        self, platform: ScalablePlatform, autoscaler: Autoscaler, interval_s: float = 2.0
    ) -> None:
        self.platform = platform
        self.autoscaler = autoscaler
        self.interval_s = interval_s
        self.state: Any = None
        self.decisions: deque[tuple[float, str, int, str]] = deque(maxlen=10_000)
        self._poked: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def decide(self, names: list[str] | None = None) -> None:
        """One evaluation (all functions, or `names`), applied at once."""
        views = self.platform.views(names)
        if not views:
            return
        snap = Snapshot(now_s=time.time(), functions=views, state=self.state)
        result = evaluate(self.autoscaler, snap)
        if isinstance(result.state, dict) and isinstance(self.state, dict):
            self.state = {**self.state, **result.state}
        else:
            self.state = result.state
        for d in result.decisions:
            before = views[d.function].replicas
            self.platform.apply(d)
            if d.replicas != before:
                self.decisions.append((snap.now_s, d.function, d.replicas, d.reason))
                log.info("%s: %d -> %d (%s)", d.function, before, d.replicas, d.reason)

    def poke(self, name: str) -> None:
        """A request is waiting at `name` with nothing to serve it: decide now (next loop turn)."""
        if name in self._poked:
            return
        self._poked.add(name)
        asyncio.get_running_loop().call_soon(self._poke_now, name)

    def _poke_now(self, name: str) -> None:
        self._poked.discard(name)
        self.decide([name])

    async def run(self) -> None:
        next_t = time.monotonic()
        while True:
            next_t += self.interval_s
            await asyncio.sleep(max(0.0, next_t - time.monotonic()))
            try:
                self.platform.close_buckets(time.time())
                self.decide()
            except Exception:  # a bad decision must not stop autoscaling for good
                log.exception("control loop iteration failed")

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
