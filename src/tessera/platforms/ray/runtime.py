"""A function as a pool of Ray actors: load once per actor, call many times, fan out.

Each actor imports the handler and runs its `start` once (an instance, in
FaaS terms). Calls go to the actor with the fewest in flight. When a call
passes the function's timeout its actor is killed and a fresh one takes its
place, as a platform kills a stuck instance.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from tessera.functions.contract import Context
from tessera.functions.invoke import adapter_logger, call_handler, load_for_adapter
from tessera.functions.manifest import FunctionManifest, load_function_dir

READY_TIMEOUT_S = 120.0
"""How long a call waits for its (replacement) actor to load the handler."""

Answer = tuple[int, dict[str, str], bytes, str]


class Instance:
    """The actor class (wrapped by `ray.remote` at pool start)."""

    def __init__(self, code_dir: str, handler: str, function: str, preload: list[str]) -> None:
        self.h = load_for_adapter(Path(code_dir), handler, preload)
        self.function = function
        self.log = adapter_logger(function)

    def call(
        self, body: bytes, content_type: str | None, headers: dict[str, str], deadline_s: float
    ) -> Answer:
        ctx = Context(
            function=self.function,
            invocation_id=headers.get("x-request-id") or uuid.uuid4().hex,
            deadline_s=deadline_s,
            logger=self.log,
            headers=headers,
        )
        return call_handler(self.h, ctx, body, content_type)


class RayFunction:
    """`replicas` actors serving one function; `invoke` (async) and `map` (fan-out)."""

    def __init__(self, code_dir: Path, replicas: int | None = None) -> None:
        import ray

        self.manifest: FunctionManifest = load_function_dir(code_dir)
        m = self.manifest
        n = replicas or max(1, m.scale.max)
        self._actor: Any = ray.remote(Instance).options(
            max_restarts=0,
            max_task_retries=0,
            max_concurrency=m.concurrency,
            num_cpus=0,  # scheduling is by the pool, not by Ray's CPU accounting
        )
        self._args = (str(code_dir), m.handler, m.name, list(m.preload))
        self.actors: list[Any] = [self._actor.remote(*self._args) for _ in range(n)]
        self.in_flight = [0] * n
        ray.get([a.__ray_ready__.remote() for a in self.actors])

    def _pick(self) -> int:
        return min(range(len(self.actors)), key=self.in_flight.__getitem__)

    async def invoke(
        self, body: bytes, content_type: str | None, headers: dict[str, str] | None = None
    ) -> Answer:
        import ray

        timeout = self.manifest.timeout_s
        i = self._pick()
        self.in_flight[i] += 1
        try:
            # a replacement actor's start-up is its cold start, not the handler's time
            try:
                await asyncio.wait_for(self.actors[i].__ray_ready__.remote(), READY_TIMEOUT_S)
            except TimeoutError:
                error = f"instance did not start within {READY_TIMEOUT_S:g}s"
                return 502, {"content-type": "text/plain; charset=utf-8"}, error.encode(), error
            ref = self.actors[i].call.remote(
                body, content_type, headers or {}, time.time() + timeout
            )
            try:
                result: Answer = await asyncio.wait_for(ref, timeout)
                return result
            except TimeoutError:
                # like a platform killing a stuck instance: a fresh actor takes its place
                # (calls sent to it wait until its handler is loaded)
                ray.kill(self.actors[i], no_restart=True)
                self.actors[i] = self._actor.remote(*self._args)
                error = f"handler timed out after {timeout:g}s; instance killed"
                return 504, {"content-type": "text/plain; charset=utf-8"}, error.encode(), error
            except ray.exceptions.RayActorError as e:
                error = f"instance lost: {e}"
                return 502, {"content-type": "text/plain; charset=utf-8"}, error.encode(), error
        finally:
            self.in_flight[i] -= 1

    def map(self, events: list[bytes], content_type: str = "application/json") -> list[Answer]:
        """Fan `events` out over the actors (round robin) and gather the answers in order.

        The whole fan-out has the function's timeout: calls still running then are answered
        504 and their actors replaced, as `invoke` does for one call.
        """
        import ray

        timeout = self.manifest.timeout_s
        ray.get([a.__ray_ready__.remote() for a in self.actors], timeout=READY_TIMEOUT_S)
        deadline = time.time() + timeout
        slots = [k % len(self.actors) for k in range(len(events))]
        refs = [
            self.actors[i].call.remote(e, content_type, {}, deadline)
            for i, e in zip(slots, events, strict=True)
        ]
        _done, pending = ray.wait(refs, num_returns=len(refs), timeout=timeout)
        late = set(pending)
        for i in sorted({i for i, r in zip(slots, refs, strict=True) if r in late}):
            ray.kill(self.actors[i], no_restart=True)
            self.actors[i] = self._actor.remote(*self._args)
        error = f"handler timed out after {timeout:g}s; instance killed"
        timed_out: Answer = (
            504,
            {"content-type": "text/plain; charset=utf-8"},
            error.encode(),
            error,
        )
        return [timed_out if r in late else ray.get(r) for r in refs]

    def close(self) -> None:
        import ray

        for a in self.actors:
            ray.kill(a, no_restart=True)
        self.actors = []


def start_ray(address: str | None = None) -> None:
    """Join `address` (a cluster) or start a local Ray instance sized to this machine."""
    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(include_dashboard=False, log_to_driver=False)
