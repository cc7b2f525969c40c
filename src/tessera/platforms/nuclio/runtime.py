"""Inside Nuclio's Python runtime: a `nuclio_sdk.Event` in, the generic handler, a `Response` out.

Nuclio's wrapper hands `handler(context, event)` an event whose body is bytes,
or already-parsed JSON when the content type is `application/json`; both are
turned back into the body bytes the shared contract decodes. The result goes
back as a `nuclio_sdk.Response` (bytes body, headers, content type, status).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from tessera.functions.contract import Context
from tessera.functions.invoke import adapter_logger, call_with_deadline, load_for_adapter
from tessera.functions.loader import Handler


def raw_body(body: Any) -> bytes:
    """The request body as bytes, whatever form Nuclio's event decoder left it in."""
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()  # JSON the wrapper already parsed


class NuclioEntry:
    """`handler(context, event)` of the generated module, with its `init_context(context)`."""

    def __init__(self, h: Handler, function: str, timeout_s: float) -> None:
        self.h = h
        self.function = function
        self.timeout_s = timeout_s
        self.log = adapter_logger(function)

    def init_context(self, context: Any) -> None:
        """Once per worker, before its first event: the user's `start` already ran at import."""
        context.user_data.tessera_function = self.function
        context.logger.info_with("tessera handler ready", function=self.function)

    def __call__(self, context: Any, event: Any) -> Any:
        import nuclio_sdk

        headers = {str(k).lower(): str(v) for k, v in (event.headers or {}).items()}
        ctx = Context(
            function=self.function,
            invocation_id=str(event.id or uuid.uuid4().hex),
            deadline_s=time.time() + self.timeout_s,
            logger=self.log,
            headers=headers,
        )
        ct = event.content_type or headers.get("content-type")
        status, out_headers, out, _ = call_with_deadline(self.h, ctx, raw_body(event.body), ct)
        rest = {k: v for k, v in out_headers.items() if k.lower() != "content-type"}
        return nuclio_sdk.Response(
            headers=rest,
            body=out,
            content_type=out_headers.get("content-type"),
            status_code=status,
        )


def make_handler(
    code_dir: Path, handler: str, function: str, timeout_s: float, preload: list[str] | None = None
) -> NuclioEntry:
    return NuclioEntry(load_for_adapter(code_dir, handler, preload or []), function, timeout_s)
