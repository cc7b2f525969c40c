"""The gateway <-> worker frames (tessera.platforms.local.protocol) and the gateway's
one-write HTTP protocol (tessera.platforms.local.http)."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import threading
from typing import Any

import pytest

from tessera.platforms.local.http import GatheringTransport, OneWriteHttpToolsProtocol
from tessera.platforms.local.protocol import (
    HEADER,
    MAX_META,
    FrameParser,
    FrameReader,
    ProtocolError,
    decode_meta,
    pack,
    recv_frame,
)
from tests.platforms.helpers import async_test

META = {
    "id": "abc-1",
    "deadline": 1764512345.123456,
    "ct": "application/json",
    "headers": {"host": "127.0.0.1:8080", "x-naïve": "ünïcode ☃", "quote": 'a"b\\c'},
    "n": [1, 2.5, None, True, False, -0.0],
}


# --- frames --------------------------------------------------------------------------------
def test_pack_writes_the_meta_as_compact_json_and_the_body_raw() -> None:
    frame = pack(META, b"\x00body\xff")
    ml, bl = HEADER.unpack_from(frame)
    raw_meta = frame[HEADER.size : HEADER.size + ml]
    assert raw_meta.decode() == json.dumps(META, separators=(",", ":"))
    assert frame[HEADER.size + ml :] == b"\x00body\xff" and bl == 6
    assert FrameParser().feed(frame) == [(META, b"\x00body\xff")]


def test_pack_refuses_what_json_cannot_encode_and_keeps_non_finite_floats() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        pack({"x": object()})
    meta = decode_meta(pack({"x": math.inf, "y": -math.inf})[HEADER.size :])
    assert meta == {"x": math.inf, "y": -math.inf}


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"[1, 2]", "not an object"),
        (b"42", "not an object"),
        (b"", "not JSON"),
        (b"{", "not JSON"),
        (b'{"a": 1} trailing', "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"nope", "not JSON"),
    ],
)
def test_decode_meta_accepts_one_json_object_only(raw: bytes, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        decode_meta(raw)


def test_decode_meta_allows_whitespace_around_the_object() -> None:
    assert decode_meta(b' \n{"a": [1]} \n') == {"a": [1]}


def test_frame_parser_splits_frames_at_any_byte_boundary() -> None:
    frames = [({"id": str(i)}, bytes([i]) * i) for i in range(5)]
    stream = b"".join(pack(m, b) for m, b in frames)
    for step in (1, 3, 7, len(stream)):
        parser, got = FrameParser(), []
        for i in range(0, len(stream), step):
            got += parser.feed(stream[i : i + step])
        assert got == frames, step


def test_frame_parser_refuses_oversized_frames() -> None:
    with pytest.raises(ProtocolError, match="too large"):
        FrameParser().feed(HEADER.pack(MAX_META + 1, 0))


def _pair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)


def _send_in_thread(sock: socket.socket, data: bytes, close: bool = True) -> threading.Thread:
    def run() -> None:
        sock.sendall(data)
        if close:
            sock.close()

    t = threading.Thread(target=run)
    t.start()
    return t


def test_frame_reader_returns_back_to_back_frames_in_order_then_none() -> None:
    a, b = _pair()
    big = bytes(range(256)) * 4096  # 1 MiB, more than one read ahead holds
    frames = [({"id": "1"}, b"x"), ({"id": "2"}, big), ({"id": "3"}, b""), ({"id": "4"}, b"y")]
    t = _send_in_thread(a, b"".join(pack(m, body) for m, body in frames))
    reader = FrameReader(b)
    got = [reader.next() for _ in frames]
    assert got == frames
    assert reader.next() is None
    t.join()
    b.close()


def test_frame_reader_sees_a_truncated_frame_as_end_of_stream() -> None:
    for cut in (3, HEADER.size + 2, 70_000):  # in the header, in the meta, in a large body
        a, b = _pair()
        t = _send_in_thread(a, pack({"id": "1"}, b"z" * 100_000)[:cut])
        assert FrameReader(b).next() is None, cut
        t.join()
        b.close()


def test_frame_reader_refuses_oversized_and_malformed_frames() -> None:
    for data, why in [
        (HEADER.pack(MAX_META + 1, 0), "too large"),
        (HEADER.pack(2, 0) + b"[]", "not an object"),
    ]:
        a, b = _pair()
        t = _send_in_thread(a, data)
        with pytest.raises(ProtocolError, match=why):
            FrameReader(b).next()
        t.join()
        b.close()


def test_recv_frame_reads_nothing_past_its_frame() -> None:
    a, b = _pair()
    a.sendall(pack({"type": "spawn"}) + b"next")
    assert recv_frame(b) == ({"type": "spawn"}, b"")
    assert b.recv(16) == b"next"  # still in the socket for whoever reads next
    a.close()
    b.close()


# --- one write per response ------------------------------------------------------------------
class RecordingTransport:
    """What the protocol's real transport would have been asked to send."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[bytes]]] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", [bytes(data)]))

    def writelines(self, chunks: Any) -> None:
        self.calls.append(("writelines", [bytes(c) for c in chunks]))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def sent(self) -> bytes:
        return b"".join(b"".join(chunks) for _, chunks in self.calls)


@async_test(10)
async def test_gathering_transport_sends_one_turns_writes_at_once_in_order() -> None:
    real = RecordingTransport()
    t = GatheringTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(b"head ")
    t.write(b"body")
    assert real.calls == [] and t.get_write_buffer_size() == 9
    await asyncio.sleep(0)  # the next turn of the loop
    await asyncio.sleep(0)
    assert real.calls == [("writelines", [b"head ", b"body"])]
    t.write(b"later")
    t.close()  # what is gathered goes out before the close
    assert real.calls[-1] == ("write", [b"later"]) and real.closed
    t.write(b"after close")  # straight to the closing transport, which decides
    assert real.calls[-1] == ("write", [b"after close"])


@async_test(10)
async def test_gathering_transport_sends_at_once_past_its_limit() -> None:
    real = RecordingTransport()
    t = GatheringTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    chunk = b"x" * (GatheringTransport.LIMIT // 4)
    for _ in range(4):
        t.write(chunk)
    assert real.calls == []  # at the limit: still gathered
    t.write(b"y")  # past it: the real transport gets it all now (its buffer limits apply)
    assert real.sent() == chunk * 4 + b"y" and t.get_write_buffer_size() == 0


@async_test(10)
async def test_gathering_transport_keeps_what_was_written_not_a_buffer_reused_after() -> None:
    real = RecordingTransport()
    t = GatheringTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    buf = bytearray(b"AAAA")
    t.write(buf)  # type: ignore[arg-type]
    buf[:] = b"BBBB"  # the app may reuse its buffer once send() returned
    t.write(memoryview(buf))  # type: ignore[arg-type]
    t.flush()
    assert real.sent() == b"AAAABBBB"


def test_the_gateway_serves_with_the_one_write_protocol() -> None:
    from tessera.control.serve import uvicorn_config

    assert uvicorn_config(object(), "127.0.0.1", 0).http is OneWriteHttpToolsProtocol


@async_test(10)
async def test_gathering_transport_abort_drops_what_is_gathered() -> None:
    real = RecordingTransport()
    t = GatheringTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(b"never")
    t.abort()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert real.calls == [] and real.closed


async def _serve_one(
    app: Any, request: bytes, real: RecordingTransport | None = None
) -> RecordingTransport:
    import uvicorn
    from uvicorn.server import ServerState

    config = uvicorn.Config(app, http=OneWriteHttpToolsProtocol, lifespan="off")
    config.load()
    loop = asyncio.get_running_loop()
    proto = OneWriteHttpToolsProtocol(config, ServerState(), {}, _loop=loop)
    real = real or RecordingTransport()
    proto.connection_made(real)  # type: ignore[arg-type]
    proto.data_received(request)
    for _ in range(50):  # let the app's task run to the end of its response
        await asyncio.sleep(0)
    proto.connection_lost(None)
    return real


REQUEST = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"


@async_test(10)
async def test_a_complete_response_leaves_in_one_write_at_once() -> None:
    real = RecordingTransport()
    sent_when_done: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = (await receive())["body"]
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})
        sent_when_done.append(len(real.calls))  # not a loop turn later

    await _serve_one(app, REQUEST, real)
    assert sent_when_done == [1]
    assert len(real.calls) == 1, real.calls  # uvicorn's own protocol makes two
    head, _, body = real.sent().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"content-length: 2" in head
    assert body == b"hi"


@async_test(10)
async def test_a_streamed_response_arrives_whole_and_in_order() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one ", b"two ", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b""})

    real = await _serve_one(app, REQUEST)
    head, _, body = real.sent().partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head
    assert body == b"4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n"
