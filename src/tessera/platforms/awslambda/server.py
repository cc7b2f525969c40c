"""A local Lambda service: API Gateway's HTTP API in front, execution environments behind.

The front door turns each HTTP request into an HTTP API event (payload 2.0)
and queues it; each execution environment is one `python -m awslambdaric
HANDLER` process polling a Runtime API of its own (one port each), so it
runs one invocation at a time and a few of them serve calls side by side,
as Lambda scales out. The function's result (`statusCode`, `headers`,
`body`, `isBase64Encoded`) becomes the HTTP answer. A runtime process past
its timeout is killed and a fresh one started (504 to the caller), one that
crashes is replaced (502), one whose init fails answers the queue 503.

    python -m tessera.platforms.awslambda.server --code build/NAME.zip \\
        --handler tessera_lambda.handler --timeout-s 30 --environments 2 --port 9000
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import socket
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qs

from tessera.platforms.asgi import Receive, Send, read_body, respond
from tessera.platforms.awslambda.runtime_api import (
    Answer,
    Invocation,
    RuntimeAPI,
    Scope,
    plain,
    until_disconnect,
)
from tessera.platforms.openwhisk.runtime import is_text

MAX_PAYLOAD = 6 * 1024 * 1024  # Lambda's synchronous invocation payload limit, in bytes
REGION = "us-east-1"
ACCOUNT = "000000000000"


def http_api_event(scope: Scope, body: bytes, request_id: str) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event for one HTTP request."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for k, v in scope.get("headers") or []:
        key, value = k.decode("latin-1").lower(), v.decode("latin-1")
        if key == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    query = scope.get("query_string", b"").decode("latin-1")
    text = is_text(headers.get("content-type", ""))
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": scope["path"],
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "domainName": headers.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": scope["method"],
                "path": scope["path"],
                "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
                "sourceIp": (scope.get("client") or ("127.0.0.1", 0))[0],
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": not text,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in parse_qs(query).items()}
    if body:
        event["body"] = body.decode("utf-8", "replace") if text else base64.b64encode(body).decode()
    return event


def http_answer(payload: bytes) -> Answer:
    """The HTTP answer for a function's result, as the HTTP API maps payload 2.0 responses."""
    try:
        res = json.loads(payload) if payload else None
    except ValueError:
        return 200, {"content-type": "application/json"}, payload
    if not (isinstance(res, dict) and "statusCode" in res):
        # no statusCode: the HTTP API takes the whole result as a JSON body
        return 200, {"content-type": "application/json"}, payload
    headers = {str(k).lower(): str(v) for k, v in (res.get("headers") or {}).items()}
    if res.get("cookies"):
        headers["set-cookie"] = ", ".join(res["cookies"])
    body = res.get("body") or ""
    if not isinstance(body, str):
        body = json.dumps(body)
    raw = base64.b64decode(body) if res.get("isBase64Encoded") else body.encode()
    return int(res["statusCode"]), headers, raw


class Environment:
    """One execution environment: a Runtime API on its own socket and the runtime process."""

    def __init__(self, service: LambdaService, sock: socket.socket) -> None:
        self.service = service
        self.sock = sock
        self.port = int(sock.getsockname()[1])
        self.api = RuntimeAPI(service.queue, service.timeout_s, service.arn, self.kill)
        self.proc: asyncio.subprocess.Process | None = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    async def supervise(self) -> None:
        """Start the runtime process, and a fresh one each time it ends, until the service stops."""
        backoff_s = 0.0
        while not self.service.stopped.is_set():
            self.api.reset()
            env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_MAX_CONCURRENCY"}
            env.update(self.service.runtime_env(self.port))
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "awslambdaric",
                self.service.handler,
                cwd=self.service.task_root,
                env=env,
            )
            if self.service.stopped.is_set():  # stopped while it was being spawned
                self.kill()
            rc = await self.proc.wait()
            self.api.runtime_exited(rc)
            if self.api.init_error is not None:
                self.service.fail_queued(503, f"function could not start: {self.api.init_error}")
            # a runtime that never got as far as polling is retried less and less often
            backoff_s = 0.0 if self.api.polled else min(5.0, max(0.25, backoff_s * 2))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.service.stopped.wait(), backoff_s)


class LambdaService:
    """The ASGI app on every socket: Runtime API on an environment's port, the front door elsewhere."""

    def __init__(
        self, task_root: Path, handler: str, timeout_s: float, function: str, memory_mib: int
    ) -> None:
        self.task_root = task_root
        self.handler = handler
        self.timeout_s = timeout_s
        self.function = function
        self.memory_mib = memory_mib
        self.arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"
        self.queue: asyncio.Queue[Invocation] = asyncio.Queue()
        self.environments: dict[int, Environment] = {}
        self.stopped = asyncio.Event()

    def runtime_env(self, port: int) -> dict[str, str]:
        """The variables Lambda sets in an execution environment."""
        path = os.environ.get("PYTHONPATH")
        return {
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
            "LAMBDA_TASK_ROOT": str(self.task_root),
            "_HANDLER": self.handler,
            "AWS_LAMBDA_FUNCTION_NAME": self.function,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mib),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": f"{self.timeout_s:g}",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "PYTHONPATH": os.pathsep.join(p for p in (str(self.task_root), path) if p),
        }

    def add_environment(self, sock: socket.socket) -> Environment:
        env = Environment(self, sock)
        self.environments[env.port] = env
        return env

    def fail_queued(self, status: int, message: str) -> None:
        while not self.queue.empty():
            self.queue.get_nowait().settle(plain(status, message))

    def stop(self) -> None:
        """Kill every runtime process (their long polls end) and answer whatever waits."""
        self.stopped.set()
        for env in self.environments.values():
            env.kill()
        self.fail_queued(503, "the service is shutting down")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        env = self.environments.get(int((scope.get("server") or ("", 0))[1] or 0))
        if env is not None:
            await env.api(scope, receive, send)
        else:
            await respond(send, *await self.invoke(scope, receive))

    async def invoke(self, scope: Scope, receive: Receive) -> Answer:
        """The front door: one HTTP request, one synchronous invocation."""
        request_id = str(uuid.uuid4())
        event = json.dumps(http_api_event(scope, await read_body(receive), request_id)).encode()
        if len(event) > MAX_PAYLOAD:
            return plain(413, f"RequestEntityTooLargeException: {len(event)} > {MAX_PAYLOAD} bytes")
        if self.stopped.is_set():
            return plain(503, "the service is shutting down")
        inv = Invocation(request_id, event)
        await self.queue.put(inv)
        outcome = await until_disconnect(asyncio.shield(inv.outcome), receive)
        if outcome is None:
            inv.cancelled = True
            return plain(499, "the caller went away")
        return http_answer(outcome) if isinstance(outcome, bytes) else outcome


def _listen(host: str, port: int) -> socket.socket:
    # proto given explicitly: asyncio only sets TCP_NODELAY on IPPROTO_TCP sockets, and without
    # it a runtime's small writes wait out delayed ACKs (~40 ms a call)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(False)
    return sock


async def serve(service: LambdaService, host: str, port: int, environments: int) -> None:
    import uvicorn

    loop = asyncio.get_running_loop()

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # runtime long polls would hold the graceful shutdown open: end them first
            loop.call_soon_threadsafe(service.stop)
            self.should_exit = True

    front = _listen(host, port)
    envs = [service.add_environment(_listen("127.0.0.1", 0)) for _ in range(environments)]
    config = uvicorn.Config(
        service, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=3
    )
    supervisors = [asyncio.create_task(e.supervise()) for e in envs]
    try:
        await Server(config).serve(sockets=[front, *(e.sock for e in envs)])
    finally:
        service.stop()
        # each supervisor ends once its runtime process has exited (killed by stop())
        _, late = await asyncio.wait(supervisors, timeout=10)
        for t in late:
            t.cancel()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--code", type=Path, required=True, help="deployment zip or its folder")
    p.add_argument("--handler", default="tessera_lambda.handler")
    p.add_argument("--timeout-s", type=float, default=3.0, help="Lambda's Timeout (default 3)")
    p.add_argument("--memory-mib", type=int, default=128)
    p.add_argument("--function", default="function")
    p.add_argument("--environments", type=int, default=2, help="execution environments")
    p.add_argument("--port", type=int, default=9000)
    p.add_argument("--host", default="127.0.0.1")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lambda-task-") as tmp:
        root = a.code.resolve()
        if root.is_file():
            with zipfile.ZipFile(root) as z:
                z.extractall(tmp)
            root = Path(tmp)
        service = LambdaService(root, a.handler, a.timeout_s, a.function, a.memory_mib)
        asyncio.run(serve(service, a.host, a.port, max(1, a.environments)))


if __name__ == "__main__":
    main()
