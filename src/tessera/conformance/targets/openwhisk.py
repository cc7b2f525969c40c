"""Conformance target `openwhisk`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from tessera.conformance.harness import Answer, Invoke, served


@contextlib.contextmanager
def target(fn: Path, work: Path) -> Iterator[Invoke]:
    """The action zip in the action-container protocol, invoked as a raw web action."""

    from tessera.platforms.openwhisk import build

    with serve(build(fn, work / "openwhisk"), work, fn.name) as invoke:
        yield invoke


@contextlib.contextmanager
def serve(out: Path, work: Path, name: str) -> Iterator[Invoke]:
    """Serve the build output `out` (of function `name`) for real on loopback."""
    import base64

    from tessera.platforms.openwhisk.runtime import is_text

    cmd = [sys.executable, "-m", "tessera.platforms.openwhisk.server"]

    def ready(url: str) -> bool:  # an uninitialized action container refuses /run with 403
        return httpx.post(f"{url}/run", json={}).status_code == 403

    with served(cmd, ready, work / "openwhisk.log") as c:
        code = base64.b64encode((out / "action.zip").read_bytes()).decode()
        action = {"main": "main", "code": code, "binary": True}
        c.post("/init", json={"value": action}).raise_for_status()

        def invoke(body: bytes, content_type: str) -> Answer:
            raw = body.decode() if is_text(content_type) else base64.b64encode(body).decode()
            value = {
                "__ow_method": "post",
                "__ow_headers": {"content-type": content_type},
                "__ow_body": raw,
                "__ow_path": "",
            }
            r = c.post("/run", json={"value": value, "activation_id": "conformance"})
            if r.status_code != 200:
                return r.status_code, {}, r.content
            res = r.json()
            headers = {k.lower(): str(v) for k, v in (res.get("headers") or {}).items()}
            out_body = res.get("body") or ""
            data = (
                out_body.encode()
                if is_text(headers.get("content-type", ""))
                else base64.b64decode(out_body)
            )
            return int(res.get("statusCode", 200)), headers, data

        yield invoke
