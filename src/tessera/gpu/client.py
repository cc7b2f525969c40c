"""Talking to the GPU host (`tessera.gpu.host`): one JSON object per line over a Unix socket.

Why a client of its own, below the platforms: both sides of a GPU function
need it. The platform places and removes instances and resizes them
(`HostClient.call`); a function's worker process runs its model through
`InstanceClient`, which is what a Python handler sees as `context.gpu`.
Standard library only, so a worker that never touches the GPU pays nothing
and one that does pays one import of this module.

Wire format (stated once): a request is `{"op": NAME, ...arguments}` on one
line; the reply is `{"ok": true, "result": ...}` or `{"ok": false, "error":
MESSAGE, "field": NAME-or-null}` on one line. Requests on one connection are
answered in order; open one connection per thread (the clients here do).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Mapping
from typing import Any

SOCKET_ENV = "TESSERA_GPU_SOCKET"
"""Path of the host's Unix socket, in a GPU function's worker environment."""
INSTANCE_ENV = "TESSERA_GPU_INSTANCE"
"""The worker's instance name on the host, in a GPU function's worker environment."""
DEVICE_ENV = "TESSERA_GPU"
TOKEN_ENV = "TESSERA_GPU_TOKEN"
"""The worker's token for its own instance (issued by the host at `add`)."""
ADMIN_TOKEN_ENV = "TESSERA_GPU_ADMIN_TOKEN"
"""The platform's token, in the host process's environment only (never a worker's)."""
"""Which device the host drives: `sim`, `cuda` or `auto` (CUDA when a GPU is usable)."""

MAX_LINE = 1 << 20


class GpuHostError(Exception):
    """The host refused a request (`field` names the bad argument when it is one) or is gone."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class HostClient:
    """Blocking requests to the host; safe to share between threads (a connection per thread)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        timeout_s: float | None = 300.0,
        token: str | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.token = token
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def _conn(self) -> tuple[socket.socket, Any]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout_s)
            try:
                sock.connect(self.path)
            except OSError as e:
                sock.close()
                raise GpuHostError(f"GPU host at {self.path} unreachable: {e}") from None
            conn = (sock, sock.makefile("rb"))
            self._local.conn = conn
            with self._lock:
                self._open.add(sock)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                self._open.discard(conn[0])
            conn[1].close()
            conn[0].close()

    def call(self, op: str, **args: Any) -> Any:
        """Send one request and return its result; raise `GpuHostError` with the host's reason."""
        request = {"op": op, **args, **({"token": self.token} if self.token else {})}
        line = json.dumps(request, separators=(",", ":")).encode() + b"\n"
        sock, reader = self._conn()
        try:
            sock.sendall(line)
            raw = reader.readline(MAX_LINE)
        except OSError as e:
            self._drop()
            raise GpuHostError(f"GPU host connection lost during {op!r}: {e}") from None
        if not raw.endswith(b"\n"):
            self._drop()
            raise GpuHostError(f"GPU host closed the connection during {op!r}")
        reply = json.loads(raw)
        if not reply.get("ok"):
            raise GpuHostError(str(reply.get("error")), reply.get("field"))
        return reply.get("result")

    def close(self) -> None:
        """Close every connection (a thread still using one sees the host as gone)."""
        self._drop()
        with self._lock:
            socks, self._open = list(self._open), set()
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class InstanceClient:
    """`context.gpu`: run this instance's model on its own partition, under its quota.

    Inputs are the model's synthetic input at the batch size asked for (what
    the device check measures); tensors are not passed in or out yet.
    """

    def __init__(self, socket_path: str, instance: str, token: str | None = None) -> None:
        self.instance = instance
        self._client = HostClient(socket_path, token=token)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> InstanceClient | None:
        """The client a worker's environment names, or None for a function without a GPU."""
        path, name = env.get(SOCKET_ENV), env.get(INSTANCE_ENV)
        return cls(path, name, env.get(TOKEN_ENV)) if path and name else None

    def infer(self, batch: int = 1) -> dict[str, Any]:
        """One batch: latency_ms, gpu_ms, queued_ms (waiting for quota), sms, quota, ..."""
        out: dict[str, Any] = self._client.call("infer", instance=self.instance, batch=batch)
        return out

    def info(self) -> dict[str, Any]:
        """This instance's model, SMs, quota, memory and achieved share."""
        out: dict[str, Any] = self._client.call("metrics", instance=self.instance)
        return out

    def close(self) -> None:
        self._client.close()
