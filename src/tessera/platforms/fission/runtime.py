"""Inside Fission's Python environment: `main()` reads the Flask request, calls the handler."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tessera.functions.contract import Context
from tessera.functions.invoke import adapter_logger, call_with_deadline, load_for_adapter


def make_main(code_dir: Path, handler: str, function: str, timeout_s: float) -> Callable[[], Any]:
    import flask

    h = load_for_adapter(code_dir, handler)
    log = adapter_logger(function)

    def main() -> Any:
        req = flask.request
        headers = {k.lower(): v for k, v in req.headers.items()}
        ctx = Context(
            function=function,
            invocation_id=headers.get("x-fission-function-uid") or uuid.uuid4().hex,
            deadline_s=time.time() + timeout_s,
            logger=log,
            headers=headers,
        )
        status, out_headers, body, _ = call_with_deadline(h, ctx, req.get_data(), req.content_type)
        return flask.Response(body, status=status, headers=out_headers)

    return main
