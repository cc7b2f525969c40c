"""What runs inside Cloud Functions: a Flask request in, the generic handler called, a response out.

The same mapping as the local gateway (`decode_event`, `encode_result`): the
body is the event (JSON parsed), the return value (or a `Response`) is the
HTTP response, an exception is a 500 with "Type: message". `start(config)`
runs once per instance, as Knative's lifecycle has it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tessera.functions.contract import Context
from tessera.functions.invoke import adapter_logger, call_with_deadline, load_for_adapter


def make_entry(
    code_dir: Path, handler: str, function: str, timeout_s: float, preload: list[str] | None = None
) -> Callable[[Any], Any]:
    """A functions-framework HTTP function that calls the generic `handler`."""
    import flask

    h = load_for_adapter(code_dir, handler, preload or [])
    log = adapter_logger(function)

    def entry(request: Any) -> Any:
        inv_id = request.headers.get("Function-Execution-Id") or uuid.uuid4().hex
        ctx = Context(
            function=function,
            invocation_id=inv_id,
            deadline_s=time.time() + timeout_s,
            logger=log,
            headers={k.lower(): v for k, v in request.headers.items()},
        )
        status, headers, body, _ = call_with_deadline(
            h, ctx, request.get_data(), request.content_type
        )
        return flask.Response(body, status=status, headers=headers)

    return entry
