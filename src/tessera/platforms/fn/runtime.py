"""Inside the Fn function: the FDK's `(ctx, data)` in, the generic handler, an `fdk` Response out.

The FDK calls `handler(ctx, data)` on its event loop and awaits it when it is
a coroutine, so the handler runs in a thread and many calls overlap. For HTTP
triggers the agent wraps the request (Fn-Http-H-* headers, Fn-Http-Method);
the FDK unwraps it into `ctx.HTTPHeaders()` and wraps the function's status
and headers back (Fn-Http-Status, Fn-Http-H-*). `Fn-Call-Id` is the
invocation id and `Fn-Deadline` bounds the call with the function's timeout.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tessera.functions.contract import Context
from tessera.functions.invoke import adapter_logger, call_with_deadline, load_for_adapter


def deadline_s(fn_deadline: str | None, timeout_s: float) -> float:
    """UNIX time of the call's end: the agent's Fn-Deadline, never past our own timeout."""
    ours = time.time() + timeout_s
    if not fn_deadline:
        return ours
    try:
        theirs = dt.datetime.fromisoformat(fn_deadline).timestamp()
    except ValueError:
        return ours
    return min(ours, theirs)


def flat(headers: dict[str, Any]) -> dict[str, str]:
    """Lower-case names, one string per header (the FDK keeps repeats as lists)."""
    return {
        str(k).lower(): ", ".join(map(str, v)) if isinstance(v, list) else str(v)
        for k, v in headers.items()
    }


def make_handler(
    code_dir: Path, handler: str, function: str, timeout_s: float, preload: list[str] | None = None
) -> Callable[..., Awaitable[Any]]:
    from fdk import response

    h = load_for_adapter(code_dir, handler, preload or [])
    log = adapter_logger(function)

    async def fdk_handler(ctx: Any, data: io.BytesIO | bytes | None = None) -> Any:
        headers = flat(ctx.HTTPHeaders() or ctx.Headers())
        body = data.getvalue() if isinstance(data, io.BytesIO) else bytes(data or b"")
        context = Context(
            function=function,
            invocation_id=ctx.CallID() or uuid.uuid4().hex,
            deadline_s=deadline_s(ctx.Deadline(), timeout_s),
            logger=log,
            headers=headers,
        )
        ct = headers.get("content-type") or flat(ctx.Headers()).get("content-type")
        status, out_headers, out, _ = await asyncio.to_thread(
            call_with_deadline, h, context, body, ct
        )
        return response.Response(
            ctx, response_data=out, headers=dict(out_headers), status_code=status
        )

    return fdk_handler


def serve(fdk_handler: Callable[..., Awaitable[Any]]) -> None:
    """Serve the already-loaded `fdk_handler` with `fdk.handle` (FN_FORMAT, FN_LISTENER from env).

    Why not the runtime's `fdk func.py handler`: that imports func.py lazily, inside
    the first call (so `start` would eat into its deadline), and `fdk.handle` asks for
    the current event loop, which uvloop's policy (installed by the FDK whenever
    uvloop is importable, as it is wherever tessera is) refuses to create. Here the
    handler is loaded before the socket opens and the loop is set first.
    """
    import fdk
    from fdk import customer_code

    class Loaded(customer_code.Function):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(__file__)  # never imported: handler() is overridden

        def handler(self) -> Callable[..., Awaitable[Any]]:
            return fdk_handler

    asyncio.set_event_loop(asyncio.new_event_loop())
    fdk.handle(Loaded())
