"""The gateway's HTTP/1.1 protocol: uvicorn's httptools protocol, each response in one write.

uvicorn writes a response's status line and headers as soon as the app sends
`http.response.start`, then the body as a second write: two syscalls and two TCP
segments for every small response, the largest single cost of a warm invocation
after the handler hand-off (`benchmarks/platform_throughput.py`, profiled). Here the
transport the protocol sees gathers what is written and hands it to the real transport
as one vectored write (`writelines`: no copy of the body) when the response is complete,
or at the next turn of the event loop for a response still streaming. Order is kept; closing sends what is gathered
first; an abort drops it, as the real transport would.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class GatheringTransport:
    """Wraps a transport: `write` gathers, the next loop turn sends it all at once.

    Everything else (pause_reading, get_extra_info, is_closing, ...) is the real
    transport's. Data written after the transport started closing goes straight to it.
    """

    __slots__ = ("_loop", "_pending", "_size", "_transport")

    LIMIT = 1 << 16
    """Past this many bytes gathered, they go at once: the real transport's buffer limits
    (pause_writing, so uvicorn's drain) see a large or fast-streamed response as before."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> None:
        if self._transport.is_closing():
            self._transport.write(data)
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        # a copy of a bytearray or memoryview: the app may reuse it once send() returns
        self._pending.append(data if type(data) is bytes else bytes(data))
        self._size += len(data)
        if self._size > self.LIMIT:
            self.flush()

    def writelines(self, chunks: Any) -> None:
        for data in chunks:
            self.write(data)

    def flush(self) -> None:
        """Send what was gathered (nothing happens when there is nothing)."""
        pending = self._pending
        if not pending:
            return
        self._pending, self._size = [], 0
        if self._transport.is_closing():
            return  # the connection went away meanwhile: nobody to send it to
        if len(pending) == 1:
            self._transport.write(pending[0])
        else:
            self._transport.writelines(pending)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending, self._size = [], 0
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._size

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a `GatheringTransport` (pass as `http=` to
    uvicorn.Config)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._gathering = GatheringTransport(transport, self.loop)
        super().connection_made(self._gathering)  # type: ignore[arg-type]

    def on_response_complete(self) -> None:
        self._gathering.flush()  # the whole response is written: send it now, not a turn later
        super().on_response_complete()
