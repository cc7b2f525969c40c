"""Federated distillation on a platform: `tessera.fl.kd`'s steps as invocations of a function.

`tessera.fl.kd.KdRun` asks an executor to run batches of step events. Here
the executor is a deployed ``fl-kd`` function (`KD_FUNCTION_DIR`) reached
through an `Invoker` (a platform gateway over HTTP, or Ray tasks), at most
`workers` invocations in flight, so the workflow's fan-outs become
concurrent function invocations and its sequential steps one invocation at
a time. The run itself is synchronous: call `KdRun.run` in a thread
(`asyncio.to_thread`) while the event loop that owns the invoker keeps
running; `map` hands each batch to that loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tessera.fl
from tessera.control.fl_invokers import Invoker
from tessera.core.errors import require

KD_FUNCTION_DIR = Path(tessera.fl.__file__).parent / "functions" / "kd"
"""The packaged step function folder (function.yaml + handler.py)."""


class StepFailed(RuntimeError):
    """A step invocation came back without an answer."""


class InvokerExecutor:
    """`tessera.fl.kd` executor over `invoker`, `workers` invocations at a time, on `loop`."""

    def __init__(
        self,
        invoker: Invoker,
        loop: asyncio.AbstractEventLoop,
        workers: int = 2,
        timeout_s: float = 600.0,
    ) -> None:
        require(isinstance(workers, int) and workers >= 1, "workers", workers, "an integer >= 1")
        require(timeout_s > 0, "timeout_s", timeout_s, "seconds > 0")
        self.invoker, self.loop, self.workers, self.timeout_s = invoker, loop, workers, timeout_s
        self.cold_starts = 0

    async def _map(self, events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        gate = asyncio.Semaphore(self.workers)

        async def one(event: dict[str, Any]) -> dict[str, Any]:
            async with gate:
                reply = await self.invoker.invoke(event, self.timeout_s)
            self.cold_starts += int(reply.cold)
            if reply.body is None:
                raise StepFailed(f"kd step {event.get('step')!r} failed: {reply.error}")
            return reply.body

        return list(await asyncio.gather(*(one(e) for e in events)))

    def map(self, events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return asyncio.run_coroutine_threadsafe(self._map(events), self.loop).result()

    def close(self) -> None:
        """Nothing to release: the invoker belongs to its caller."""
