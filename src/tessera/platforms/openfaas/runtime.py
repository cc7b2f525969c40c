"""Inside the OpenFaaS function: the python3-http `event` in, the generic handler, a dict out.

The template hands `handle(event, context)` an event with `.body` (bytes),
`.headers`, `.method`, `.query`, `.path`, and expects `{"statusCode",
"body", "headers"}` back; this maps both ways with the shared contract.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tessera.functions.contract import Context
from tessera.functions.invoke import adapter_logger, call_with_deadline, load_for_adapter


def make_handle(
    code_dir: Path, handler: str, function: str, timeout_s: float
) -> Callable[[Any, Any], dict[str, Any]]:
    h = load_for_adapter(code_dir, handler)
    log = adapter_logger(function)

    def handle(event: Any, _context: Any) -> dict[str, Any]:
        headers = {str(k).lower(): str(v) for k, v in dict(event.headers).items()}
        ctx = Context(
            function=function,
            invocation_id=headers.get("x-call-id") or uuid.uuid4().hex,
            deadline_s=time.time() + timeout_s,
            logger=log,
            headers=headers,
        )
        body = event.body if isinstance(event.body, bytes) else str(event.body).encode()
        status, out_headers, out, _ = call_with_deadline(h, ctx, body, headers.get("content-type"))
        return {"statusCode": status, "body": out, "headers": out_headers}

    return handle
