"""What a handler sees (event, `Context`) and what it may return (`Response` or plain values).

Kept free of any server so that every adapter (local gateway, functions-framework,
Lambda runtime, ...) maps its native request onto the same two calls:
`decode_event(body, content_type)` and `encode_result(value)`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

JSON = "application/json"
_encode = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(frozen=True, slots=True)
class Response:
    """A full HTTP response from a handler: body (str/bytes/JSON-able), status and headers."""

    body: Any = b""
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


class GpuAccess(Protocol):
    """`context.gpu` of a function with a GPU share: its model on its own SM partition and quota.

    The local platform provides it (`tessera.gpu.client.InstanceClient`). Inputs are the
    model's synthetic input at the batch size asked for; tensors are not passed in or out yet.
    """

    def infer(self, batch: int = 1) -> dict[str, Any]:
        """Run one batch; returns latency_ms, gpu_ms, queued_ms, sms, quota, ..."""
        ...

    def info(self) -> dict[str, Any]:
        """The instance's model, SMs, quota, memory and achieved share."""
        ...


@dataclass(frozen=True, slots=True)
class Context:
    """Per-invocation facts: which function, which invocation, until when, and where to log."""

    function: str
    invocation_id: str
    deadline_s: float  # UNIX time after which the platform kills the invocation
    logger: logging.Logger
    version: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)
    gpu: GpuAccess | None = None  # set for a function with `resources.gpu` (local platform)

    def remaining_s(self) -> float:
        """Seconds left before the deadline."""
        return self.deadline_s - time.time()


def decode_event(body: bytes, content_type: str | None) -> Any:
    """The handler's `event`: parsed JSON when the body is JSON, else the raw bytes."""
    if not body:
        return None
    ct = (content_type or "").split(";", 1)[0].strip().lower()
    if ct == JSON or ct.endswith("+json") or (not ct and body[:1] in b"{["):
        try:
            return json.loads(body)
        except ValueError:
            return body
    return body


def encode_result(value: Any) -> tuple[int, dict[str, str], bytes]:
    """Turn a handler's return value into (status, headers, body bytes)."""
    status, headers = 200, {}
    if isinstance(value, Response):
        status, headers = value.status, dict(value.headers)
        value = value.body
    if isinstance(value, bytes | bytearray | memoryview):
        headers.setdefault("content-type", "application/octet-stream")
        return status, headers, bytes(value)
    if isinstance(value, str):
        headers.setdefault("content-type", "text/plain; charset=utf-8")
        return status, headers, value.encode()
    if value is None:
        return (204 if status == 200 else status), headers, b""
    headers.setdefault("content-type", JSON)
    return status, headers, _encode(value).encode()
