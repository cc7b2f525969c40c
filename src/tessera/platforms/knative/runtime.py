"""Inside the Knative function: func-python's ASGI request in, the generic handler, a response out.

`make_new` gives the `new()` that func-python's `serve` calls once per
instance. The instance it returns loads the handler in `start(cfg)` (the
middleware calls it on ASGI lifespan startup, before the first request), is
`ready()` only once loaded (and the handler's own `ready` hook agrees), and
maps each request with the shared contract: the body is the event, the
return value (or a `Response`) the HTTP answer, an exception a 500 with
"Type: message", a handler past the timeout a 504.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

from tessera.functions.contract import Context
from tessera.functions.invoke import adapter_logger, call_with_deadline, load_for_adapter
from tessera.functions.loader import Handler
from tessera.platforms.asgi import Receive, Send, read_body

Scope = MutableMapping[str, Any]


class Function:
    """What `new()` returns: the object func-python's middleware wraps."""

    def __init__(
        self, code_dir: Path, handler: str, function: str, timeout_s: float, preload: list[str]
    ) -> None:
        self.code_dir = code_dir
        self.handler = handler
        self.function = function
        self.timeout_s = timeout_s
        self.preload = preload
        self.log = adapter_logger(function)
        self.h: Handler | None = None

    def start(self, cfg: dict[str, str]) -> None:
        """Load the handler and run its `start` hook, once per instance (`cfg` is the
        container's environment, which the generic contract does not hand to the function)."""
        if self.h is None:
            self.h = load_for_adapter(self.code_dir, self.handler, self.preload)

    def stop(self) -> None:
        if self.h is not None and self.h.stop is not None:
            self.h.stop()

    def alive(self) -> bool:
        return True

    def ready(self) -> tuple[bool, str]:
        if self.h is None:
            return False, "not started"
        if self.h.ready is not None and self.h.ready() is False:
            return False, "the handler's ready() returned False"
        return True, "OK"

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        h = self.h
        body = await read_body(receive)
        headers: dict[str, str] = {}
        for k, v in scope.get("headers") or []:
            key = k.decode("latin-1").lower()
            value = v.decode("latin-1")
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        if h is None:
            status, out_headers, out = 503, {"content-type": "text/plain"}, b"not started"
        else:
            ctx = Context(
                function=self.function,
                invocation_id=headers.get("ce-id")
                or headers.get("x-request-id")
                or uuid.uuid4().hex,
                deadline_s=time.time() + self.timeout_s,
                logger=self.log,
                headers=headers,
            )
            # the handler blocks: off the event loop, so other requests go on meanwhile
            status, out_headers, out, _ = await asyncio.to_thread(
                call_with_deadline, h, ctx, body, headers.get("content-type")
            )
        raw_headers = [
            (k.encode("latin-1"), str(v).encode("latin-1")) for k, v in out_headers.items()
        ]
        raw_headers.append((b"content-length", str(len(out)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": out})


def make_new(
    code_dir: Path, handler: str, function: str, timeout_s: float, preload: list[str] | None = None
) -> Callable[[], Function]:
    """The `new()` func-python expects (it dispatches on the name `new`)."""

    def new() -> Function:
        return Function(code_dir, handler, function, timeout_s, list(preload or []))

    return new
