"""Conformance target `gcf`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from tessera.conformance.harness import Invoke, free_port, http_invoke, process


@contextlib.contextmanager
def target(fn: Path, work: Path) -> Iterator[Invoke]:
    from tessera.platforms.gcf import build

    with serve(build(fn, work / "gcf"), work, fn.name) as invoke:
        yield invoke


@contextlib.contextmanager
def serve(out: Path, work: Path, name: str) -> Iterator[Invoke]:
    """Serve the build output `out` (of function `name`) for real on loopback."""
    from tessera.platforms.gcf import ENTRY_POINT

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    ff = str(Path(sys.executable).parent / "functions-framework")
    cmd = [
        ff,
        "--target",
        ENTRY_POINT,
        "--source",
        str(out / "main.py"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with (
        process(cmd, lambda: httpx.get(url, timeout=1).status_code < 600, work / "gcf.log"),
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        yield http_invoke(c, "/")
