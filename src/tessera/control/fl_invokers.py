"""How the FL controller reaches its client function: one `invoke` per mechanism.

`tessera.control.fl.FlController` decides whom to invoke with what event;
an `Invoker` only carries the event to the packaged client handler and the
answer back, with the cold flag that makes the invocation log meaningful:

- `HttpInvoker` (default): `POST /function/NAME` on a platform's gateway (the
  local platform, or any that serves that route); cold when the response
  carries the local platform's `x-tessera-cold-start-ms` header.
- `RayInvoker`: for many clients on a Ray cluster. Each invocation is a Ray
  task (`num_cpus` each) that loads the handler from the function folder as
  the platform adapters do (`load_for_adapter`: preloads, `start` hook) once
  per worker process and calls its `handle(event, context)`; cold when that
  task was the one that loaded it. Ray is imported only here, when a
  `RayInvoker` is made, so the package imports without it.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import httpx

import tessera.fl
from tessera.core.errors import InputError, require
from tessera.functions.contract import Context
from tessera.functions.invoke import adapter_logger, load_for_adapter
from tessera.functions.loader import Handler
from tessera.functions.manifest import read_manifest

CLIENT_FUNCTION_DIR = Path(tessera.fl.__file__).parent / "functions" / "client"
"""The packaged client function folder (function.yaml + handler.py); deploy it as is."""

COLD_HEADER = "x-tessera-cold-start-ms"


@dataclass(frozen=True, slots=True)
class Reply:
    """What one invocation gave back: the handler's answer (None if it failed, then
    `error` says why) and whether it was a cold start."""

    body: dict[str, Any] | None
    cold: bool
    error: str = ""


@runtime_checkable
class Invoker(Protocol):
    """Runs the client function on one event; never raises for a failed invocation."""

    @property
    def name(self) -> str:
        """Where invocations run (the log's `hardware` column)."""
        ...

    async def invoke(self, event: dict[str, Any], timeout_s: float) -> Reply: ...


class HttpInvoker:
    """`POST /function/{function}` with `http`, whose base URL is the platform's gateway."""

    def __init__(self, http: httpx.AsyncClient, function: str = "fl-client") -> None:
        require(bool(function), "function", function, "a function name")
        self.http = http
        self.function = function
        self.name = function

    async def invoke(self, event: dict[str, Any], timeout_s: float) -> Reply:
        try:
            r = await self.http.post(f"/function/{self.function}", json=event, timeout=timeout_s)
        except httpx.HTTPError as e:
            return Reply(None, False, f"{type(e).__name__}: {e}")
        cold = COLD_HEADER in r.headers
        if r.status_code != 200:
            return Reply(None, cold, f"HTTP {r.status_code}: {r.text[:200]}")
        try:
            body = r.json()
        except ValueError as e:
            return Reply(None, cold, f"answer is not JSON: {e}")
        if not isinstance(body, dict):
            return Reply(None, cold, f"answer is a {type(body).__name__}, not a JSON object")
        return Reply(body, cold)


_LOADED: dict[tuple[str, str], Handler] = {}
"""Handlers loaded in this (Ray worker) process, by (function folder, handler)."""


def _ray_call(
    code_dir: str, handler: str, preload: list[str], function: str, event: Any, deadline_s: float
) -> tuple[Any, bool, str]:
    """The Ray task body: (answer, cold, error); cold when this call loaded the handler."""
    key = (code_dir, handler)
    cold = key not in _LOADED
    try:
        if cold:
            _LOADED[key] = load_for_adapter(Path(code_dir), handler, preload)
        ctx = Context(
            function=function,
            invocation_id=uuid.uuid4().hex,
            deadline_s=deadline_s,
            logger=adapter_logger(function),
        )
        return _LOADED[key].handle(event, ctx), cold, ""
    except Exception as e:  # the function's failure is an answer, as on a platform (HTTP 500)
        return None, cold, f"{type(e).__name__}: {e}"


class RayInvoker:
    """Each invocation a Ray task of `num_cpus` CPUs running the function in `function_dir`.

    Uses the Ray instance this process is connected to (call `ray.init` first to
    size one or join a cluster); if there is none, joins `address` or starts a
    local one (`tessera.platforms.ray.runtime.start_ray`). The function folder must
    be readable at the same path on every node (the package's own is).
    """

    def __init__(
        self,
        num_cpus: float = 1.0,
        function_dir: Path = CLIENT_FUNCTION_DIR,
        address: str | None = None,
    ) -> None:
        require(
            isinstance(num_cpus, int | float) and math.isfinite(num_cpus) and num_cpus > 0,
            "ray.num_cpus",
            num_cpus,
            "CPUs per invocation, a number > 0",
        )
        m = read_manifest(function_dir)  # InputError for a folder without function.yaml
        try:
            import ray
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise InputError(
                "invoker", "ray", "an installed Ray: pip install 'tessera[platforms]'"
            ) from e
        from tessera.platforms.ray.runtime import start_ray

        start_ray(address)  # no-op when Ray is already initialised
        self._ray: Any = ray
        self._task: Any = ray.remote(num_cpus=num_cpus, max_retries=0)(_ray_call)
        self._args = (str(Path(function_dir).resolve()), m.handler, list(m.preload), m.name)
        self.num_cpus = num_cpus
        self.name = "ray"

    async def invoke(self, event: dict[str, Any], timeout_s: float) -> Reply:
        ray = self._ray
        ref = self._task.remote(*self._args, event, time.time() + timeout_s)
        try:
            body, cold, error = await asyncio.wait_for(ref, timeout_s)
        except TimeoutError:
            ray.cancel(ref, force=True)
            return Reply(None, False, f"timed out after {timeout_s:g}s; task cancelled")
        except asyncio.CancelledError:
            ray.cancel(ref, force=True)
            raise
        except ray.exceptions.RayError as e:
            return Reply(None, False, f"{type(e).__name__}: {str(e)[:200]}")
        if error:
            return Reply(None, bool(cold), error)
        if not isinstance(body, dict):
            return Reply(None, bool(cold), f"answer is a {type(body).__name__}, not a dict")
        return Reply(body, bool(cold))
