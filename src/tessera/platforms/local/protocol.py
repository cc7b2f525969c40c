"""The gateway <-> worker wire format: length-prefixed frames over a Unix socket pair.

A frame is `!II` (meta length, body length), a small JSON meta object, then
the raw body. Bodies are never re-encoded, so a 1 MB payload costs one copy
each way. Workers read frames from their blocking socket with `FrameReader`;
the gateway parses them incrementally in its asyncio protocol (`FrameParser`).
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Callable
from typing import Any

HEADER = struct.Struct("!II")
MAX_META = 1 << 20
MAX_BODY = 64 << 20  # a request or response body above 64 MiB is refused


class ProtocolError(Exception):
    pass


def _json_encoder() -> Callable[[Any], str]:
    """Compact JSON of a frame's meta: the C encoder built once (json.dumps builds one per
    call, a third of its cost for these small objects), or the json module's where the
    interpreter has no C encoder."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.JSONEncoder(separators=(",", ":")).encode

    def default(o: Any) -> Any:
        raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")

    c = make(
        None, default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True
    )
    return lambda obj: "".join(c(obj, 0))


_encode = _json_encoder()
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def decode_meta(raw: bytes | bytearray) -> dict[str, Any]:
    """A frame's meta object; ProtocolError for anything but one JSON object."""
    try:
        text = raw.decode()
        try:
            obj, end = _scan(text, 0)  # the C scanner, without json.loads' per-call detours
        except StopIteration:  # no JSON value starts at 0 (whitespace, or not JSON at all)
            end = -1
        if end != len(text):
            obj = json.loads(text)  # surrounding whitespace is fine; anything else raises
    except ValueError as e:  # UnicodeDecodeError and JSONDecodeError too
        raise ProtocolError(f"frame meta is not JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"frame meta is a JSON {type(obj).__name__}, not an object")
    return obj


def pack(meta: dict[str, Any], body: bytes = b"") -> bytes:
    m = _encode(meta).encode()
    return HEADER.pack(len(m), len(body)) + m + body


def _frame_size(ml: int, bl: int) -> int:
    if ml > MAX_META or bl > MAX_BODY:
        raise ProtocolError(f"frame too large: meta {ml} B, body {bl} B")
    return HEADER.size + ml + bl


def _fill(sock: socket.socket, buf: bytearray, got: int = 0) -> bool:
    """Receive into `buf` from index `got` until it is full; False at end of stream."""
    view = memoryview(buf)
    while got < len(buf):
        k = sock.recv_into(view[got:], len(buf) - got)
        if k == 0:
            return False
        got += k
    return True


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray(n)
    return bytes(buf) if _fill(sock, buf) else None


def recv_frame(sock: socket.socket) -> tuple[dict[str, Any], bytes] | None:
    """One frame from a blocking socket, or None at end of stream; reads nothing past it
    (the template's control socket, which forked children share)."""
    head = _recv_exact(sock, HEADER.size)
    if head is None:
        return None
    ml, bl = HEADER.unpack(head)
    _frame_size(ml, bl)
    rest = _recv_exact(sock, ml + bl) if ml + bl else b""
    if rest is None:
        return None
    return decode_meta(rest[:ml]), rest[ml:]


class FrameReader:
    """Frames from a blocking socket that one reader owns, read ahead: a small frame costs
    one recv (recv_frame needs two), a large one is received in place."""

    __slots__ = ("_buf", "_sock")

    CHUNK = 1 << 16

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = bytearray()

    def next(self) -> tuple[dict[str, Any], bytes] | None:
        """The next frame, or None at end of stream."""
        buf = self._buf
        while True:
            have = len(buf)
            if have >= HEADER.size:
                ml, bl = HEADER.unpack_from(buf)
                end = _frame_size(ml, bl)
                if have >= end:
                    meta = decode_meta(buf[HEADER.size : HEADER.size + ml])
                    body = bytes(buf[HEADER.size + ml : end])
                    del buf[:end]
                    return meta, body
                if end - have > self.CHUNK:
                    return self._large(buf, ml, end)
            chunk = self._sock.recv(self.CHUNK)
            if not chunk:
                return None
            buf += chunk

    def _large(self, buf: bytearray, ml: int, end: int) -> tuple[dict[str, Any], bytes] | None:
        """The rest of a large frame received in place: one copy of the body besides the
        kernel's (nothing past the frame is read)."""
        whole = bytearray(end)
        have = len(buf)
        whole[:have] = buf
        del buf[:]
        if not _fill(self._sock, whole, have):
            return None
        body = memoryview(whole)[HEADER.size + ml :].tobytes()
        return decode_meta(whole[HEADER.size : HEADER.size + ml]), body


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
            end = pos + _frame_size(ml, bl)
            if end > n:
                break
            m0 = pos + HEADER.size
            out.append((decode_meta(buf[m0 : m0 + ml]), bytes(buf[m0 + ml : end])))
            pos = end
        if pos:
            del buf[:pos]
        return out
