"""A Fission Python environment container: specialize once, then serve the function on `/`.

`POST /v2/specialize` takes `{"filepath": DIR_OR_ZIP, "functionName": "module.func"}`
(the function is imported from the deploy archive); after that every request to
`/` calls it within the Flask request context. Before specialization `/` answers
500, as an unspecialized pod would.

    python -m tessera.platforms.fission.server --port 8888
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any


def app() -> Any:
    import flask

    web = flask.Flask("fission-env")
    state: dict[str, Any] = {}

    @web.post("/v2/specialize")
    def specialize() -> Any:
        if "fn" in state:
            return flask.Response("already specialized", status=400)
        req = flask.request.get_json(force=True)
        path = Path(req["filepath"])
        if path.is_file() and zipfile.is_zipfile(path):
            target = Path(tempfile.mkdtemp(prefix="fission-"))
            with zipfile.ZipFile(path) as z:
                z.extractall(target)
            path = target
        module_name, func = str(req["functionName"]).rsplit(".", 1)
        sys.path.insert(0, str(path))
        try:
            state["fn"] = getattr(importlib.import_module(module_name), func)
        except Exception as e:
            return flask.Response(f"specialization failed: {type(e).__name__}: {e}", status=500)
        return flask.Response("ok", status=202)

    @web.route("/", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    def call() -> Any:
        if "fn" not in state:
            return flask.Response("not specialized", status=500)
        return state["fn"]()

    return web


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=8888)
    p.add_argument("--host", default="127.0.0.1")
    a = p.parse_args(argv)
    app().run(host=a.host, port=a.port, threaded=True)


if __name__ == "__main__":
    main()
