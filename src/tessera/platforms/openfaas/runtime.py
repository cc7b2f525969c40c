"""Inside the OpenFaaS function: the python3-http `event` in, the generic handler, a dict out.

The template hands `handle(event, context)` an event with `.body` (bytes),
`.headers`, `.method`, `.query`, `.path`, and expects `{"statusCode",
"body", "headers"}` back; this maps both ways with the shared contract.
"""

from __future__ import annotations

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


def make_handle(
    code_dir: Path, handler: str, function: str, timeout_s: float
) -> Callable[[Any, Any], dict[str, Any]]:
    top = handler.split(".", 1)[0]
    shadow = sys.modules.pop(top, None)  # the template's own modules must not shadow the user's
    try:
        h = load_handler(code_dir, handler)
    finally:
        if shadow is not None:
            sys.modules[top] = shadow
    if h.start is not None:
        h.start({})
    log = logging.getLogger(f"tessera.fn.{function}")

    def handle(event: Any, _context: Any) -> dict[str, Any]:
        headers = {str(k).lower(): str(v) for k, v in dict(event.headers).items()}
        ctx = Context(
            function=function,
            invocation_id=headers.get("x-call-id") or uuid.uuid4().hex,
            deadline_s=time.time() + timeout_s,
            logger=log,
            headers=headers,
        )
        try:
            body = event.body if isinstance(event.body, bytes) else str(event.body).encode()
            status, out_headers, out = encode_result(
                h.handle(decode_event(body, headers.get("content-type")), ctx)
            )
        except Exception as e:
            log.error("invocation failed:\n%s", traceback.format_exc())
            status, out_headers = 500, {"content-type": "text/plain; charset=utf-8"}
            out = f"{type(e).__name__}: {e}".encode()
        return {"statusCode": status, "body": out, "headers": out_headers}

    return handle
