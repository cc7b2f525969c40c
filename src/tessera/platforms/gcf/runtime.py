"""What runs inside Cloud Functions: a Flask request in, the generic handler called, a response out.

The same mapping as the local gateway (`decode_event`, `encode_result`): the
body is the event (JSON parsed), the return value (or a `Response`) is the
HTTP response, an exception is a 500 with "Type: message". `start(config)`
runs once per instance, as Knative's lifecycle has it.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tessera.functions.contract import Context, decode_event, encode_result
from tessera.functions.loader import load_handler


def make_entry(
    code_dir: Path, handler: str, function: str, timeout_s: float, preload: list[str] | None = None
) -> Callable[[Any], Any]:
    """A functions-framework HTTP function that calls the generic `handler`."""
    import flask

    # functions-framework imported the generated entry file as `main`; the user's module is
    # often called `main` too. Import the user's under that name, then give the name back.
    top = handler.split(".", 1)[0]
    generated = sys.modules.pop(top, None)
    try:
        h = load_handler(code_dir, handler)
    finally:
        if generated is not None:
            sys.modules[top] = generated
    for module in preload or []:
        importlib.import_module(module)
    if h.start is not None:
        h.start({})
    log = logging.getLogger(f"tessera.fn.{function}")

    def entry(request: Any) -> Any:
        inv_id = request.headers.get("Function-Execution-Id") or uuid.uuid4().hex
        ctx = Context(
            function=function,
            invocation_id=inv_id,
            deadline_s=time.time() + timeout_s,
            logger=log,
            headers={k.lower(): v for k, v in request.headers.items()},
        )
        try:
            event = decode_event(request.get_data(), request.content_type)
            status, headers, body = encode_result(h.handle(event, ctx))
        except Exception as e:
            log.error("invocation %s failed:\n%s", inv_id, traceback.format_exc())
            status, headers = 500, {"content-type": "text/plain; charset=utf-8"}
            body = f"{type(e).__name__}: {e}".encode()
        return flask.Response(body, status=status, headers=headers)

    return entry
