"""The upstream HTTP server of an OpenFaaS python3-http function (what of-watchdog forwards to).

Loads `FUNCTION_DIR/handler.py`, builds the template's `event`/`context` for
each request and turns the returned `{statusCode, body, headers}` into the
response. Threaded, as the template's server is.

    python -m tessera.platforms.openfaas.server --dir build/NAME --port 5000
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Event:
    body: bytes
    headers: dict[str, str]
    method: str
    query: dict[str, str]
    path: str


@dataclass
class Context:
    hostname: str = "localhost"
    extra: dict[str, Any] = field(default_factory=dict)


def app(function_dir: Path) -> Any:
    import flask

    spec = importlib.util.spec_from_file_location("handler", function_dir / "handler.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"no handler.py in {function_dir}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(function_dir))
    spec.loader.exec_module(module)
    web = flask.Flask("openfaas-function")

    @web.route("/", defaults={"path": ""}, methods=["GET", "PUT", "POST", "PATCH", "DELETE"])
    @web.route("/<path:path>", methods=["GET", "PUT", "POST", "PATCH", "DELETE"])
    def call(path: str) -> Any:
        req = flask.request
        event = Event(req.get_data(), dict(req.headers), req.method, dict(req.args), "/" + path)
        res = module.handle(event, Context())
        if not isinstance(res, dict):
            return flask.Response(str(res), 200)
        body = res.get("body", b"")
        if not isinstance(body, bytes | str):
            body = json.dumps(body)
        return flask.Response(body, status=res.get("statusCode", 200), headers=res.get("headers"))

    return web


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--host", default="127.0.0.1")
    a = p.parse_args(argv)
    app(a.dir).run(host=a.host, port=a.port, threaded=True)


if __name__ == "__main__":
    main()
