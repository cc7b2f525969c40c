"""Inside the action: OpenWhisk raw web-action arguments in, the generic handler, a web result out.

A raw web action receives `__ow_method`, `__ow_headers`, `__ow_body` (base64
when the content type is binary) and answers `{statusCode, headers, body}`
(body base64 when binary), the mapping documented for OpenWhisk web actions.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tessera.functions.contract import Context
from tessera.functions.invoke import adapter_logger, call_with_deadline, load_for_adapter

_TEXT = ("text/", "application/json", "application/xml", "application/javascript")


def is_text(content_type: str) -> bool:
    ct = content_type.split(";", 1)[0].strip().lower()
    return ct.startswith(_TEXT) or ct.endswith("+json") or ct.endswith("+xml")


def make_main(
    code_dir: Path, handler: str, function: str, timeout_s: float
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    h = load_for_adapter(code_dir, handler)
    log = adapter_logger(function)

    def main(args: dict[str, Any]) -> dict[str, Any]:
        headers = {str(k).lower(): str(v) for k, v in (args.get("__ow_headers") or {}).items()}
        ct = headers.get("content-type", "")
        raw = args.get("__ow_body") or ""
        body = raw.encode() if is_text(ct) else base64.b64decode(raw)
        ctx = Context(
            function=function,
            invocation_id=os.environ.get("__OW_ACTIVATION_ID") or uuid.uuid4().hex,
            deadline_s=time.time() + timeout_s,
            logger=log,
            headers=headers,
        )
        status, out_headers, out, _ = call_with_deadline(h, ctx, body, ct)
        out_ct = out_headers.get("content-type", "")
        text = is_text(out_ct)
        return {
            "statusCode": status,
            "headers": out_headers,
            "body": out.decode() if text else base64.b64encode(out).decode(),
        }

    return main
