"""A threaded HTTP/1.1 server around one `route(method, path, headers, body)` function.

What the stand-ins for a platform's own front door (Nuclio's HTTP trigger, the Fn
agent) share: keep-alive, the body read by Content-Length, headers and body written
with Nagle off (they go out as two writes), no per-request log lines.
"""

from __future__ import annotations

from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, list[tuple[str, str]], bytes]
Route = Callable[[str, str, list[tuple[str, str]], bytes], Reply]


def handler_class(route: Route) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def _call(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(size) if size else b""
            status, headers, out = route(self.command, self.path, list(self.headers.items()), body)
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _call

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def server(host: str, port: int, route: Route) -> ThreadingHTTPServer:
    s = ThreadingHTTPServer((host, port), handler_class(route))
    s.daemon_threads = True
    return s
