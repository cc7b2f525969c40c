"""An OpenWhisk action container: the runtime protocol (`POST /init`, `POST /run`) on one port.

`/init` takes `{"value": {"main", "code", "binary", "env"}}` (a base64 action
zip when binary) and loads the action once; `/run` takes `{"value": ARGS, ...}`,
calls `main(ARGS)` and answers its result as JSON. One activation at a time,
as an OpenWhisk container runs by default.

    python -m tessera.platforms.openwhisk.server --port 8080
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import io
import json
import os
import sys
import tempfile
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tessera.platforms.asgi import read_body, respond

Send = Callable[[dict[str, Any]], Awaitable[None]]


class ActionServer:
    def __init__(self) -> None:
        self.main: Callable[[dict[str, Any]], Any] | None = None
        self.dir: str | None = None

    def init(self, value: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.main is not None:
            return 403, {"error": "cannot initialize the action more than once"}
        if not value.get("binary"):
            return 400, {"error": "only zip actions (binary: true) are supported"}
        self.dir = tempfile.mkdtemp(prefix="ow-action-")
        with zipfile.ZipFile(io.BytesIO(base64.b64decode(value["code"]))) as z:
            z.extractall(self.dir)
        os.environ.update({str(k): str(v) for k, v in (value.get("env") or {}).items()})
        entry = Path(self.dir) / "__main__.py"
        spec = importlib.util.spec_from_file_location("__ow_action__", entry)
        if spec is None or spec.loader is None:
            return 502, {"error": "the zip has no __main__.py"}
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, self.dir)
        try:
            spec.loader.exec_module(module)
            self.main = getattr(module, value.get("main") or "main")
        except Exception as e:
            return 502, {"error": f"initialization failed: {type(e).__name__}: {e}"}
        return 200, {"ok": True}

    def run(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.main is None:
            return 403, {"error": "the action is not initialized"}
        if payload.get("activation_id"):
            os.environ["__OW_ACTIVATION_ID"] = str(payload["activation_id"])
        try:
            result = self.main(payload.get("value") or {})
        except Exception as e:
            return 502, {"error": f"{type(e).__name__}: {e}"}
        if not isinstance(result, dict):
            return 502, {"error": "the action did not return a dictionary"}
        return 200, result

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        path = scope["path"]
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            status, out = 400, {"error": "the request body is not JSON"}
        else:
            if path == "/init" and scope["method"] == "POST":
                status, out = self.init(data.get("value") or {})
            elif path == "/run" and scope["method"] == "POST":
                status, out = self.run(data)
            else:
                status, out = 404, {"error": f"no route {path}"}
        await respond(send, status, {"content-type": "application/json"}, json.dumps(out).encode())


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--host", default="127.0.0.1")
    a = p.parse_args(argv)
    uvicorn.run(ActionServer(), host=a.host, port=a.port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()
