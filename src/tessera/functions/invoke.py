"""Calling a generic handler: the one request -> event -> handler -> response path every
runtime shares (local workers and each platform adapter's entry point).
"""

from __future__ import annotations

import importlib
import logging
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path

from tessera.functions.contract import Context, decode_event, encode_result
from tessera.functions.loader import Handler, load_handler


def call_handler(
    h: Handler, ctx: Context, body: bytes, content_type: str | None
) -> tuple[int, dict[str, str], bytes, str]:
    """(status, headers, body, error): a raised exception is a 500 with "Type: message"."""
    try:
        status, headers, out = encode_result(h.handle(decode_event(body, content_type), ctx))
        return status, headers, out, ""
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
        ctx.logger.error("invocation %s failed:\n%s", ctx.invocation_id, traceback.format_exc())
        return 500, {"content-type": "text/plain; charset=utf-8"}, error.encode(), error


def load_for_adapter(code_dir: Path, handler: str, preload: Iterable[str] = ()) -> Handler:
    """Load a handler inside a platform's runtime and run its `start` hook once.

    Platforms import their own entry file as `main` (functions-framework, the OpenFaaS
    template), and user modules are often `main` too: the user's module is imported with
    the name freed, then the platform's module gets it back.
    """
    top = handler.split(".", 1)[0]
    shadow = sys.modules.pop(top, None)
    try:
        h = load_handler(code_dir, handler)
    finally:
        if shadow is not None:
            sys.modules[top] = shadow
    for module in preload:
        importlib.import_module(module)
    if h.start is not None:
        h.start({})
    return h


def adapter_logger(function: str) -> logging.Logger:
    return logging.getLogger(f"tessera.fn.{function}")
