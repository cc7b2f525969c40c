"""The HTTP gateway: a plain ASGI application (no framework on the hot path).

Routes (OpenFaaS-style): `POST /function/{name}` (sync), `POST
/async-function/{name}` (202 + id; optional `X-Callback-Url`),
`/system/functions[/{name}]` (GET list/describe, POST deploy a .tar.gz,
DELETE), `GET /system/async/{id}`, `GET /system/invocations`,
`GET /system/logs/{name}`, `GET /system/decisions`, `GET /healthz`,
`GET /metrics` (Prometheus text format); GPU functions: `POST
/system/functions/{name}/gpu` (`{"sm_pct", "quota_pct", "quota_limit_pct"}`,
any of them: resize every live instance) and `GET /system/gpu` (the GPU
host's instances, free SMs, memory and achieved shares); API tokens:
`GET/POST /system/tokens` (list; create `{"scope", "label"}` -> the token, shown once),
`DELETE /system/tokens/{id}`; secrets: `GET /system/secrets` (names only), `PUT
/system/secrets/{name}` (body: the value), `DELETE /system/secrets/{name}`.

Access (tessera.platforms.local.auth): every /system call needs an admin token; a
function is public unless its function.yaml says `private: true`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs

from tessera.core.errors import InputError
from tessera.core.model import NAME_PATTERN
from tessera.gpu.client import GpuHostError
from tessera.platforms.local.auth import Verdict, bearer, decide, new_token, parse_scope, token_hash
from tessera.platforms.local.instances import StartFailed
from tessera.platforms.local.platform import LocalPlatform
from tessera.platforms.local.protocol import MAX_BODY

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_JSON = [(b"content-type", b"application/json")]
_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
_FRAMING = {"content-length", "transfer-encoding", "connection"}
_SECRET_NAME = re.compile(NAME_PATTERN)
MAX_SECRET = 64 * 1024


def safe_headers(headers: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """A handler's headers minus framing ones (the gateway frames the body) and any that
    could split the response (CR/LF) or cannot be encoded."""
    out = []
    for k, v in headers.items():
        key, val = str(k), str(v)
        both = key + val
        if "\r" in both or "\n" in both or "\0" in both or key.lower() in _FRAMING:
            continue
        try:
            out.append((key.encode("latin-1"), val.encode("latin-1")))
        except UnicodeEncodeError:
            continue
    return out


class TooLarge(Exception):
    pass


async def _body(receive: Receive) -> bytes:
    msg = await receive()
    body = msg.get("body", b"")
    if not msg.get("more_body"):
        return body  # type: ignore[no-any-return]
    parts = [body]
    size = len(body)
    while msg.get("more_body"):
        msg = await receive()
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise TooLarge
        parts.append(chunk)
    return b"".join(parts)


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, status: int, obj: Any) -> None:
    await _send(send, status, _JSON, json.dumps(obj, separators=(",", ":")).encode())


async def _text(send: Send, status: int, text: str) -> None:
    await _send(send, status, _TEXT, (text + "\n").encode())


def _blob(b: bytes | None) -> dict[str, str] | None:
    if b is None:
        return None
    try:
        return {"text": b.decode()}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(b).decode()}


class Gateway:
    """ASGI app over a `LocalPlatform`. `decisions` lists the control loop's scale decisions."""

    def __init__(
        self,
        platform: LocalPlatform,
        decisions: Callable[[], list[tuple[float, str, int, str]]] = list,
        on_startup: list[Callable[[], Awaitable[None]]] | None = None,
        on_shutdown: list[Callable[[], Awaitable[None]]] | None = None,
        admin: bool = True,
    ) -> None:
        self.p = platform
        # serve-only (admin=False): /function/NAME, /healthz and /metrics; the /system API
        # (deploy, delete, logs, resize) and async invocations (callback URLs) are off
        self.admin = admin
        self.decisions = decisions
        self.on_startup = on_startup or []
        self.on_shutdown = on_shutdown or []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    for fn in self.on_startup:
                        await fn()
                except Exception as e:
                    await send({"type": "lifespan.startup.failed", "message": str(e)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                for fn in self.on_shutdown:
                    await fn()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        try:
            body = await _body(receive)
        except TooLarge:
            await _text(send, 413, f"body larger than {MAX_BODY} bytes")
            return
        if path.startswith("/function/"):
            if method not in ("POST", "GET", "PUT"):
                await _text(send, 405, "use POST")
                return
            name = path[10:].rstrip("/")
            verdict = self._allowed(scope, "invoke", name)
            if verdict.status:
                await self._deny(send, verdict)
                return
            await self._invoke(scope, name, body, send)
        elif not self.admin and (path.startswith(("/system/", "/async-function/"))):
            await _text(send, 403, "this gateway serves functions only (the admin API is off)")
        elif path.startswith("/async-function/") and method == "POST":
            name = path[16:].rstrip("/")
            action = "callback" if self._header(scope, b"x-callback-url") else "invoke"
            verdict = self._allowed(scope, action, name)
            if verdict.status:
                await self._deny(send, verdict)
                return
            await self._enqueue(scope, name, body, send)
        elif path.startswith("/system/"):
            verdict = self._allowed(scope, "admin")
            if verdict.status:
                await self._deny(send, verdict)
                return
            await self._system(scope, method, path[8:], body, send)
        elif path == "/healthz":
            await _json(send, 200, {"status": "ok", "functions": len(self.p.pools)})
        elif path == "/metrics":
            await _send(
                send,
                200,
                [(b"content-type", b"text/plain; version=0.0.4")],
                self._metrics().encode(),
            )
        else:
            await _text(send, 404, f"no route for {method} {path}")

    def _allowed(self, scope: Scope, action: str, function: str | None = None) -> Verdict:
        """The auth verdict for this request (see tessera.platforms.local.auth.decide)."""
        m = self.p.manifests.get(function) if function else None
        private = bool(m is not None and m.private)
        if action == "invoke" and not private:
            return decide(None, action, function, private)  # public: no token lookup
        token = bearer(self._header(scope, b"authorization"))
        held = self.p.store.token_scope(token_hash(token)) if token else None
        return decide(held, action, function, private)

    @staticmethod
    async def _deny(send: Send, verdict: Verdict) -> None:
        """Answer a refused request (`verdict.status` 401 or 403) with its reason."""
        headers = [*_TEXT, (b"www-authenticate", b"Bearer")] if verdict.status == 401 else _TEXT
        await _send(send, verdict.status, headers, (verdict.reason + "\n").encode())

    @staticmethod
    def _header(scope: Scope, name: bytes) -> str | None:
        for k, v in scope["headers"]:
            if k == name:
                return v.decode("latin-1")  # type: ignore[no-any-return]
        return None

    async def _invoke(self, scope: Scope, name: str, body: bytes, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        headers.pop("authorization", None)  # the caller's token is not the function's business
        reply = await self.p.invoke(name, body, headers.get("content-type"), headers=headers)
        await _send(send, reply.status, safe_headers(reply.headers), reply.body)

    async def _enqueue(self, scope: Scope, name: str, body: bytes, send: Send) -> None:
        ct = self._header(scope, b"content-type") or ""
        callback = self._header(scope, b"x-callback-url")
        try:
            inv_id = self.p.enqueue(name, body, ct, callback)
        except KeyError:
            await _text(send, 404, f"function {name!r} is not deployed")
            return
        await _json(send, 202, {"id": inv_id, "status_url": f"/system/async/{inv_id}"})

    async def _guard(self, body: bytes, send: Send) -> None:
        """POST /system/guard: shellguard verdicts. Body {"command", "shell"?, "cwd"?} or a list of them."""
        from tessera.shellguard.guard import default_guard
        from tessera.shellguard.levels import check_shell

        try:
            data = json.loads(body or b"null")
            items = data if isinstance(data, list) else [data]
            if not items or len(items) > 1000:
                raise InputError("body", len(items), "1 to 1000 commands")
            reqs: list[tuple[str, str, str | None]] = []
            for i, it in enumerate(items):
                if not isinstance(it, dict) or not isinstance(it.get("command"), str):
                    raise InputError(f"item {i}", it, 'an object with a string "command"')
                cwd = it.get("cwd")
                if cwd is not None and not isinstance(cwd, str):
                    raise InputError(f"item {i} cwd", cwd, "a path string")
                reqs.append((it["command"], check_shell(str(it.get("shell", "bash"))), cwd))
        except (json.JSONDecodeError, InputError, UnicodeDecodeError) as e:
            await _text(send, 400, str(e))
            return
        g = default_guard()

        def judge() -> list[dict[str, Any]]:
            if len(reqs) == 1 or any(cwd for _, _, cwd in reqs):
                return [g.check(c, sh, cwd=cwd).as_json() for c, sh, cwd in reqs]
            return [v.as_json() for v in g.check_many([(c, sh) for c, sh, _ in reqs])]

        out = await asyncio.to_thread(judge)
        await _json(send, 200, out if isinstance(data, list) else out[0])

    async def _system(self, scope: Scope, method: str, rest: str, body: bytes, send: Send) -> None:
        q = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        parts = [p for p in rest.split("/") if p]
        head = parts[0] if parts else ""
        if head == "functions" and len(parts) == 3 and parts[2] == "gpu" and method == "POST":
            await self._resize_gpu(parts[1], body, send)
        elif head == "gpu" and len(parts) == 1 and method == "GET":
            try:
                await _json(send, 200, await self.p.gpu_status())
            except GpuHostError as e:
                await _text(send, 503, f"GPU host: {e}")
        elif head == "functions":
            await self._functions(method, parts[1] if len(parts) > 1 else None, body, send)
        elif head == "secrets":
            await self._secrets(method, parts[1] if len(parts) > 1 else None, body, send)
        elif head == "tokens":
            await self._tokens(method, parts[1] if len(parts) > 1 else None, body, send)
        elif head == "guard" and len(parts) == 1 and method == "POST":
            await self._guard(body, send)
        elif head == "async" and len(parts) == 2 and method == "GET":
            row = self.p.store.get_async(parts[1])
            if row is None:
                await _text(send, 404, f"no async invocation {parts[1]!r}")
                return
            await _json(
                send,
                200,
                {
                    "id": row.id,
                    "function": row.function,
                    "status": row.status,
                    "attempts": row.attempts,
                    "enqueued_s": row.enqueued_s,
                    "finished_s": row.finished_s,
                    "result_status": row.result_status,
                    "result_headers": row.result_headers,
                    "result": _blob(row.result_body),
                },
            )
        elif head == "invocations" and method == "GET":
            try:
                limit = int(q.get("limit", "100"))
                since = float(q["since"]) if "since" in q else None
            except ValueError:
                await _text(send, 400, "limit: an integer; since: UNIX seconds")
                return
            await asyncio.to_thread(self.p.writer.flush)
            rows = self.p.store.records(q.get("function"), since, max(0, min(limit, 100_000)))
            await _json(send, 200, [asdict(r) for r in rows])
        elif head == "logs" and len(parts) == 2 and method == "GET":
            await self._logs(parts[1], q, send)
        elif head == "decisions" and method == "GET":
            await _json(
                send,
                200,
                [
                    {"t": t, "function": f, "replicas": n, "reason": r}
                    for t, f, n, r in self.decisions()
                ],
            )
        else:
            await _text(send, 404, f"no route for {method} /system/{rest}")

    async def _secrets(self, method: str, name: str | None, body: bytes, send: Send) -> None:
        if method == "GET" and name is None:
            await _json(send, 200, self.p.store.list_secrets())
        elif method == "PUT" and name is not None:
            if not _SECRET_NAME.match(name):
                await _text(send, 400, f"secret name {name!r}: lower-case letters, digits, '-'")
                return
            if len(body) > MAX_SECRET:
                await _text(send, 413, f"a secret is at most {MAX_SECRET} bytes")
                return
            try:  # it becomes an environment variable: text, no NUL
                if "\0" in body.decode("utf-8"):
                    raise ValueError
            except ValueError:
                await _text(send, 400, f"secret {name!r}: UTF-8 text without NUL bytes")
                return
            self.p.store.put_secret(name, body)
            await _json(send, 200, {"name": name, "bytes": len(body)})
        elif method == "DELETE" and name is not None:
            if self.p.store.delete_secret(name):
                await _json(send, 200, {"deleted": name})
            else:
                await _text(send, 404, f"no secret {name!r}")
        else:
            await _text(
                send, 405, "secrets: GET, PUT /system/secrets/NAME (body: the value), DELETE"
            )

    async def _tokens(self, method: str, token_id: str | None, body: bytes, send: Send) -> None:
        if method == "GET" and token_id is None:
            await _json(send, 200, self.p.store.list_tokens())
        elif method == "POST" and token_id is None:
            try:
                req = json.loads(body or b"{}")
                if not isinstance(req, dict):
                    raise InputError("body", type(req).__name__, 'a JSON object {"scope": ...}')
                scope = parse_scope(str(req.get("scope", "")))
                label = str(req.get("label", ""))[:200]
            except (ValueError, InputError) as e:
                await _text(send, 400, str(e))
                return
            token, tid = new_token(), uuid.uuid4().hex[:12]
            self.p.store.put_token(tid, token_hash(token), scope, label)
            await _json(send, 201, {"id": tid, "scope": scope, "label": label, "token": token})
        elif method == "DELETE" and token_id is not None:
            if self.p.store.delete_token(token_id):
                await _json(send, 200, {"deleted": token_id})
            else:
                await _text(send, 404, f"no token {token_id!r}")
        else:
            await _text(send, 405, "tokens: GET, POST (create) or DELETE /system/tokens/ID")

    async def _functions(self, method: str, name: str | None, body: bytes, send: Send) -> None:
        if method == "GET" and name is None:
            await _json(send, 200, [self.p.describe(n) for n in sorted(self.p.pools)])
        elif method == "GET":
            if name not in self.p.pools:
                await _text(send, 404, f"function {name!r} is not deployed")
                return
            await _json(send, 200, self.p.describe(name))
        elif method in ("POST", "PUT") and name is None:
            try:
                row = await self.p.deploy(body)
            except InputError as e:
                await _text(send, 400, f"deploy refused: {e}")
                return
            except StartFailed as e:
                await _text(send, 400, f"deploy refused: the handler does not start: {e}")
                return
            await _json(send, 201, {"name": row.name, "version": row.version})
        elif method == "DELETE" and name is not None:
            try:
                found = await self.p.delete(name)
            except InputError as e:
                await _text(send, 400, str(e))
                return
            if found:
                await _json(send, 200, {"deleted": name})
            else:
                await _text(send, 404, f"function {name!r} is not deployed")
        else:
            await _text(send, 405, f"{method} not allowed here")

    async def _resize_gpu(self, name: str, body: bytes, send: Send) -> None:
        if name not in self.p.pools:
            await _text(send, 404, f"function {name!r} is not deployed")
            return
        try:
            changes = json.loads(body or b"{}")
            if not isinstance(changes, dict):
                raise InputError("body", changes, 'a JSON object like {"sm_pct": 50}')
            reports = await self.p.resize_gpu(name, changes)
        except ValueError as e:  # InputError included
            await _text(send, 400, f"resize refused: {e}")
            return
        except GpuHostError as e:
            await _text(send, 409, f"resize refused by the GPU host: {e}")
            return
        await _json(send, 200, {"function": name, "instances": reports})

    async def _logs(self, name: str, q: dict[str, str], send: Send) -> None:
        path = self.p.log_path(name)
        if not path.is_file():
            await _text(send, 404, f"no logs for {name!r}")
            return
        try:
            lines = max(1, min(int(q.get("lines", "100")), 100_000))
        except ValueError:
            await _text(send, 400, "lines: an integer")
            return
        data = await asyncio.to_thread(_tail, path, lines)
        await _send(send, 200, _TEXT, data)

    def _metrics(self) -> str:
        out = [
            "# HELP tessera_invocations_total Invocations by function and outcome.",
            "# TYPE tessera_invocations_total counter",
        ]
        for (fn, status), n in sorted(self.p.counts.items()):
            out.append(f'tessera_invocations_total{{function="{fn}",status="{status}"}} {n}')
        gauges: dict[str, tuple[str, Callable[[Any], int]]] = {
            "tessera_instances": ("Ready instances.", lambda pool: len(pool.active())),
            "tessera_instances_starting": ("Instances in cold start.", lambda pool: pool.starting),
            "tessera_queued_requests": (
                "Requests waiting for an instance.",
                lambda pool: len(pool.waiters),
            ),
            "tessera_in_flight_requests": (
                "Requests queued or executing.",
                lambda pool: pool.meter.in_flight,
            ),
            "tessera_cold_starts_total": ("Instances started.", lambda pool: pool.cold_starts),
        }
        for metric, (help_, fn_) in gauges.items():
            kind = "counter" if metric.endswith("_total") else "gauge"
            out += [f"# HELP {metric} {help_}", f"# TYPE {metric} {kind}"]
            for name, pool in sorted(self.p.pools.items()):
                out.append(f'{metric}{{function="{name}"}} {fn_(pool)}')
        totals = self.p.footprint_totals
        out += [
            "# HELP tessera_energy_joules_total Wall energy of invocations (power model).",
            "# TYPE tessera_energy_joules_total counter",
            *(f'tessera_energy_joules_total{{function="{fn}"}} {t[0]:.6g}'
              for fn, t in sorted(totals.items())),
            "# HELP tessera_carbon_grams_total gCO2e of invocations: operational (grid, only "
            "with a region) and embodied (hardware).",
            "# TYPE tessera_carbon_grams_total counter",
        ]  # fmt: skip
        for fn, t in sorted(totals.items()):
            if t[3]:
                out.append(
                    f'tessera_carbon_grams_total{{function="{fn}",scope="operational"}} {t[2]:.6g}'
                )
            out.append(f'tessera_carbon_grams_total{{function="{fn}",scope="embodied"}} {t[1]:.6g}')
        out += [
            "# HELP tessera_uptime_seconds Seconds since the gateway started.",
            "# TYPE tessera_uptime_seconds gauge",
            f"tessera_uptime_seconds {time.time() - self.p.started_s:.3f}",
        ]
        return "\n".join(out) + "\n"


def _tail(path: Any, lines: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        block = 1 << 16
        data = b""
        pos = size
        while pos > 0 and data.count(b"\n") <= lines:
            step = min(block, pos)
            pos -= step
            f.seek(pos)
            data = f.read(step) + data
    return b"\n".join(data.split(b"\n")[-lines - 1 :])
