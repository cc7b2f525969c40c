"""Inside Lambda: an API Gateway HTTP API event (payload 2.0) in, the generic handler, a result out.

The event's `body` (base64 when `isBase64Encoded`) is the request body and
its `headers` the request headers; the answer is `{"statusCode", "headers",
"body", "isBase64Encoded"}` (body base64 unless its content type is text).
The deadline is Lambda's (`context.get_remaining_time_in_millis()`), so a
handler past it is answered 504, and an exception is a 500 "Type: message".
An event that is not from API Gateway (a direct `Invoke`) is passed as JSON.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tessera.functions.contract import JSON, Context
from tessera.functions.invoke import adapter_logger, call_with_deadline, load_for_adapter
from tessera.platforms.openwhisk.runtime import is_text


def make_handler(
    code_dir: Path, handler: str, function: str, timeout_s: float
) -> Callable[[Any, Any], dict[str, Any]]:
    """The Lambda handler; the generic handler is loaded (and started) at init, once."""
    h = load_for_adapter(code_dir, handler)
    log = adapter_logger(function)

    def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
        if isinstance(event, dict) and isinstance(event.get("requestContext"), dict):
            headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
            raw = event.get("body") or ""
            body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
        else:
            headers = {"content-type": JSON}
            body = json.dumps(event).encode()
        remaining_s = context.get_remaining_time_in_millis() / 1000 if context else timeout_s
        ctx = Context(
            function=function,
            invocation_id=getattr(context, "aws_request_id", "") or "direct",
            deadline_s=time.time() + remaining_s,
            logger=log,
            headers=headers,
        )
        status, out_headers, out, _ = call_with_deadline(h, ctx, body, headers.get("content-type"))
        text = _as_text(out, out_headers.get("content-type", ""))
        return {
            "statusCode": status,
            "headers": out_headers,
            "body": base64.b64encode(out).decode() if text is None else text,
            "isBase64Encoded": text is None,
        }

    return lambda_handler


def _as_text(body: bytes, content_type: str) -> str | None:
    """The body as a string when its content type is text and it decodes, else None (base64)."""
    if not is_text(content_type):
        return None
    try:
        return body.decode()
    except UnicodeDecodeError:
        return None
