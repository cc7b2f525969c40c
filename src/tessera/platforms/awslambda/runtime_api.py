"""The Lambda Runtime API of one execution environment, for real, on a loopback port.

What `awslambdaric` (or any custom runtime) talks to: it long-polls
`GET /2018-06-01/runtime/invocation/next` for an event (headers
`Lambda-Runtime-Aws-Request-Id`, `-Deadline-Ms`, `-Invoked-Function-Arn`),
answers with `POST .../invocation/{id}/response` or `.../error`, and reports a
failed init with `POST .../runtime/init/error`. One invocation at a time; the
deadline is enforced here: at `timeout_s` the caller is answered 504 and
`on_timeout` is called (the service kills the runtime process, as Lambda does).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tessera.platforms.asgi import Receive, Send, read_body, respond

T = TypeVar("T")
Scope = MutableMapping[str, Any]
Answer = tuple[int, dict[str, str], bytes]
TEXT = {"content-type": "text/plain; charset=utf-8"}
PREFIX = "/2018-06-01/runtime"


def plain(status: int, message: str) -> Answer:
    return status, dict(TEXT), message.encode()


@dataclass
class Invocation:
    """One event on its way through an execution environment.

    `outcome` resolves to the function's response payload (bytes, what the
    runtime posted) or to the service's own answer (timeout, error, crash).
    """

    request_id: str
    event: bytes
    outcome: asyncio.Future[bytes | Answer] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    cancelled: bool = False  # the caller went away before a runtime took it

    def settle(self, value: bytes | Answer) -> bool:
        if self.outcome.done():
            return False
        self.outcome.set_result(value)
        return True


class RuntimeAPI:
    """The endpoints one runtime process polls; invocations come from the shared `queue`."""

    def __init__(
        self,
        queue: asyncio.Queue[Invocation],
        timeout_s: float,
        function_arn: str,
        on_timeout: Callable[[], None],
    ) -> None:
        self.queue = queue
        self.timeout_s = timeout_s
        self.function_arn = function_arn
        self.on_timeout = on_timeout
        self.current: Invocation | None = None
        self.init_error: str | None = None
        self.polled = False  # the runtime initialized and asked for work at least once
        self.deadline_s = 0.0  # UNIX time at which the invocation in flight times out
        self._timer: asyncio.TimerHandle | None = None

    def reset(self) -> None:
        """A fresh runtime process is starting: no init error, nothing in flight."""
        self.init_error = None
        self.polled = False
        self._finish()

    def runtime_exited(self, returncode: int) -> None:
        """The runtime process is gone: what it was running is answered 502."""
        inv = self._finish()
        if inv is not None:
            inv.settle(plain(502, f"instance crashed: Runtime.ExitError: exit status {returncode}"))

    def _finish(self) -> Invocation | None:
        inv, self.current = self.current, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return inv

    def _expire(self, inv: Invocation) -> None:
        if self.current is inv and inv.settle(
            plain(504, f"handler timed out after {self.timeout_s:g}s; instance killed")
        ):
            self._finish()
            self.on_timeout()

    async def next(self, receive: Receive) -> tuple[int, dict[str, str], bytes]:
        stale = self._finish()
        if stale is not None:
            stale.settle(plain(502, "Runtime.NoResponse: the runtime asked for more work"))
        self.polled = True
        while True:
            inv = await until_disconnect(self.queue.get(), receive)
            if inv is None:
                return plain(499, "the runtime went away")  # nobody reads this
            if not inv.cancelled:
                break
        self.current = inv
        deadline_ms = int((time.time() + self.timeout_s) * 1000)
        self.deadline_s = deadline_ms / 1000
        delay_s = self.deadline_s - time.time()
        self._timer = asyncio.get_running_loop().call_later(delay_s, self._expire, inv)
        headers = {
            "content-type": "application/json",
            "lambda-runtime-aws-request-id": inv.request_id,
            "lambda-runtime-deadline-ms": str(deadline_ms),
            "lambda-runtime-invoked-function-arn": self.function_arn,
            "lambda-runtime-trace-id": f"Root=1-{deadline_ms // 1000:08x}-{inv.request_id[:24]}",
        }
        return 200, headers, inv.event

    def post(self, path: str, body: bytes, error_type: str) -> Answer:
        if path == "/init/error":
            self.init_error = _error_text(body, error_type)
            return _accepted()
        parts = path.strip("/").split("/")  # invocation/{id}/response|error
        if len(parts) != 3 or parts[0] != "invocation" or parts[2] not in ("response", "error"):
            return _status(404, "UnknownPath", f"no route POST {PREFIX}{path}")
        inv = self.current
        if inv is None or inv.request_id != parts[1]:
            return _status(400, "InvalidRequestID", f"{parts[1]} is not the invocation in flight")
        if time.time() >= self.deadline_s:  # too late: Lambda has stopped the invocation
            self._expire(inv)
            return _status(410, "InvocationTimedOut", f"{parts[1]} passed its deadline")
        self._finish()
        if parts[2] == "response":
            inv.settle(body)
        else:
            inv.settle(plain(500, _error_text(body, error_type)))
        return _accepted()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = str(scope["path"]), scope["method"]
        if not path.startswith(PREFIX + "/"):
            answer = _status(404, "UnknownPath", f"no route {method} {path}")
        elif method == "GET" and path == f"{PREFIX}/invocation/next":
            await read_body(receive)
            answer = await self.next(receive)
        elif method == "POST":
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
            error_type = headers.get("lambda-runtime-function-error-type", "")
            answer = self.post(path[len(PREFIX) :], await read_body(receive), error_type)
        else:
            answer = _status(405, "MethodNotAllowed", f"{method} {path}")
        await respond(send, *answer)


def _error_text(body: bytes, error_type: str) -> str:
    """The runtime's error document as "Type: message" (the suite's error mapping)."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    kind = doc.get("errorType") or error_type or "Unhandled"
    return f"{kind}: {doc.get('errorMessage', '')}"


def _accepted() -> Answer:
    return 202, {"content-type": "application/json"}, b'{"status":"OK"}'


def _status(status: int, kind: str, message: str) -> Answer:
    body = json.dumps({"errorType": kind, "errorMessage": message}).encode()
    return status, {"content-type": "application/json"}, body


async def until_disconnect(work: Awaitable[T], receive: Receive) -> T | None:
    """`work`'s result, or None (and `work` cancelled) if the client disconnects first."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if task.done():
        return task.result()
    task.cancel()
    return None


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
