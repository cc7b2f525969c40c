"""A Nuclio processor stand-in: the HTTP trigger and the Python wrapper around one function.

Loads a built Nuclio function folder (`function.yaml`: `spec.handler` as
`module:function`, the HTTP trigger's `maxWorkers`), runs each worker's
`init_context` once, then for every request builds a `nuclio_sdk.Event` the
way the processor encodes it and the wrapper decodes it (JSON bodies parsed),
calls the handler with a free worker's `nuclio_sdk.Context`, and writes the
result back through the SDK's own `Response.from_entrypoint_output`, as the
wrapper hands it to the processor. A request that finds no free worker within
`workerAvailabilityTimeoutMilliseconds` is answered 503, as the trigger does.

    python -m tessera.platforms.nuclio.server --dir build/NAME --port 8080
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import logging
import queue
import sys
import time
import uuid
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from tessera.platforms.httpserver import Reply, server

Answer = Reply
_SKIP = {"content-type", "content-length", "transfer-encoding", "connection"}


class Processor:
    """One function behind an HTTP trigger with `maxWorkers` workers."""

    def __init__(self, folder: Path) -> None:
        import nuclio_sdk
        import nuclio_sdk.json_encoder

        self.sdk = nuclio_sdk
        config = yaml.safe_load((folder / "function.yaml").read_text())
        spec = config["spec"]
        self.name = str(config["metadata"]["name"])
        module_name, func = str(spec["handler"]).split(":", 1)
        module = _load(folder, module_name)
        self.handler = getattr(module, func)
        http: dict[str, Any] = next(
            (t for t in (spec.get("triggers") or {}).values() if t.get("kind") == "http"), {}
        )
        self.wait_s = float(http.get("workerAvailabilityTimeoutMilliseconds", 10_000)) / 1000
        logger = nuclio_sdk.Logger(logging.INFO, f"nuclio.{self.name}")
        logger.set_handler("default", sys.stderr, nuclio_sdk.logger.HumanReadableFormatter())
        platform = nuclio_sdk.Platform("local", config["metadata"].get("namespace", "default"))
        init = getattr(module, "init_context", None)
        self.workers: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for worker_id in range(max(1, int(http.get("maxWorkers", 1)))):
            ctx = nuclio_sdk.Context(
                logger=logger,
                platform=platform,
                worker_id=worker_id,
                trigger=nuclio_sdk.TriggerInfo("http", "http"),
            )
            if callable(init):
                init(ctx)
            self.workers.put(ctx)
        self.encode = nuclio_sdk.json_encoder.Encoder().encode

    def event(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Any:
        """The event as the processor sends it and the wrapper decodes it."""
        url = urlsplit(target)
        message = {
            "body": body,
            "content_type": headers.get("Content-Type", ""),
            "trigger": {"kind": "http", "name": "http"},
            "fields": dict(parse_qsl(url.query)),
            "headers": headers,
            "id": str(uuid.uuid4()),
            "method": method,
            "path": url.path or "/",
            "size": len(body),
            "timestamp": int(time.time()),
            "url": target,
            "shard_id": 0,
            "num_shards": 0,
            "type": "",
            "type_version": "",
            "version": "",
        }
        return self.sdk.Event.deserialize(message, kind=self.sdk.EventDeserializerKinds.msgpack)

    def call(self, event: Any) -> Answer:
        """Run the handler on a free worker; answer as the processor writes the response."""
        sdk = self.sdk
        try:
            ctx = self.workers.get(timeout=self.wait_s)
        except queue.Empty:
            return 503, [("Content-Type", "text/plain")], b"no worker available"
        try:
            try:
                output = self.handler(ctx, event)
            except sdk.ExceptionWithResponse as e:
                output = sdk.Response(
                    body=e.body, content_type=e.content_type, status_code=e.status_code
                )
            except Exception as e:
                ctx.logger.error_with("handler raised", error=f"{type(e).__name__}: {e}")
                output = sdk.Response(body=f"{type(e).__name__}: {e}", status_code=500)
        finally:
            self.workers.put(ctx)
        r = sdk.Response.from_entrypoint_output(self.encode, output)
        if r["body_encoding"] == "base64":
            body = base64.b64decode(r["body"])
        else:
            body = str(r["body"]).encode()
        headers = [("Content-Type", str(r["content_type"]))]
        headers += [(str(k), str(v)) for k, v in r["headers"].items() if k.lower() not in _SKIP]
        return int(r["status_code"]), headers, body


def _load(folder: Path, module_name: str) -> Any:
    """Import the handler module from the function folder, as the runtime does."""
    path = folder / (module_name.replace(".", "/") + ".py")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"no handler module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(folder))
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def serve(folder: Path, host: str, port: int) -> ThreadingHTTPServer:
    processor = Processor(folder)

    def route(method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> Reply:
        return processor.call(processor.event(method, path, dict(headers), body))

    return server(host, port, route)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--host", default="127.0.0.1")
    a = p.parse_args(argv)
    with serve(a.dir.resolve(), a.host, a.port) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
