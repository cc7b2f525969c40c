"""The gateway <-> worker wire format: length-prefixed frames over a Unix socket pair.

A frame is `!II` (meta length, body length), a small JSON meta object, then
the raw body. Bodies are never re-encoded, so a 1 MB payload costs one copy
each way. Blocking helpers serve the worker; the gateway parses frames
incrementally in its asyncio protocol (`FrameParser`).
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

HEADER = struct.Struct("!II")
MAX_META = 1 << 20
MAX_BODY = 64 << 20  # a request or response body above 64 MiB is refused


class ProtocolError(Exception):
    pass


_encode = json.JSONEncoder(separators=(",", ":")).encode


def pack(meta: dict[str, Any], body: bytes = b"") -> bytes:
    m = _encode(meta).encode()
    return HEADER.pack(len(m), len(body)) + m + body


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            return None
        got += k
    return bytes(buf)


def recv_frame(sock: socket.socket) -> tuple[dict[str, Any], bytes] | None:
    """One frame from a blocking socket, or None at end of stream."""
    head = _recv_exact(sock, HEADER.size)
    if head is None:
        return None
    ml, bl = HEADER.unpack(head)
    if ml > MAX_META or bl > MAX_BODY:
        raise ProtocolError(f"frame too large: meta {ml} B, body {bl} B")
    rest = _recv_exact(sock, ml + bl) if ml + bl else b""
    if rest is None:
        return None
    return json.loads(rest[:ml]), rest[ml:]


class FrameParser:
    """Incremental parser: feed bytes, get complete (meta, body) frames."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[dict[str, Any], bytes]]:
        buf = self._buf
        buf += data
        out = []
        pos = 0
        n = len(buf)
        while n - pos >= HEADER.size:
            ml, bl = HEADER.unpack_from(buf, pos)
            if ml > MAX_META or bl > MAX_BODY:
                raise ProtocolError(f"frame too large: meta {ml} B, body {bl} B")
            end = pos + HEADER.size + ml + bl
            if end > n:
                break
            m0 = pos + HEADER.size
            out.append((json.loads(bytes(buf[m0 : m0 + ml])), bytes(buf[m0 + ml : end])))
            pos = end
        if pos:
            del buf[:pos]
        return out
