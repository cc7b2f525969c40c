"""Conformance target `fn`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from tessera.conformance.harness import Invoke, free_port, http_invoke, process


@contextlib.contextmanager
def target(fn: Path, work: Path) -> Iterator[Invoke]:
    """The Fn function folder served by the real FDK, called through the agent stand-in."""
    from tessera.platforms.fn import build

    with serve(build(fn, work / "fn"), work, fn.name) as invoke:
        yield invoke


@contextlib.contextmanager
def serve(out: Path, work: Path, name: str) -> Iterator[Invoke]:
    """Serve the build output `out` (of function `name`) for real on loopback."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-m",
        "tessera.platforms.fn.server",
        "--dir",
        str(out),
        "--app",
        "conformance",
        "--port",
        str(port),
    ]
    with (
        process(
            cmd, lambda: httpx.get(f"{url}/version", timeout=1).status_code == 200, work / "fn.log"
        ),
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        yield http_invoke(c, f"/t/conformance/{name}")
