"""HTTP in front of a `RayFunction`: POST any path -> the function (raw ASGI, on uvicorn).

    python -m tessera.platforms.ray.server --dir OUT/function --port 8000 [--address auto]

Stops cleanly on SIGTERM/Ctrl-C: the HTTP server drains, then the actors and
(when this process started it) the local Ray instance are shut down.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tessera.platforms.asgi import read_body, respond
from tessera.platforms.ray.runtime import RayFunction, start_ray

Send = Callable[[dict[str, Any]], Awaitable[None]]


class App:
    def __init__(self, fn: RayFunction) -> None:
        self.fn = fn

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Send) -> None:
        if scope["type"] != "http":
            return
        data = await read_body(receive)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["path"] == "/healthz":
            status, out_headers, body = 200, {"content-type": "text/plain"}, b"ok"
        else:
            status, out_headers, body, _ = await self.fn.invoke(
                data, headers.get("content-type"), headers
            )
        await respond(send, status, out_headers, body)


def main(argv: list[str] | None = None, code_dir: Path | None = None) -> None:
    import ray
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dir", type=Path, default=code_dir, required=code_dir is None)
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--address", default=None, help="a Ray cluster to join (default: start one)")
    a = p.parse_args(argv)
    start_ray(a.address)
    fn = RayFunction(a.dir)
    try:
        uvicorn.run(App(fn), host=a.host, port=a.port, log_level="warning", lifespan="off")
    finally:
        fn.close()
        ray.shutdown()


if __name__ == "__main__":
    main()
