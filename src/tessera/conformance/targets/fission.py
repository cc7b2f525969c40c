"""Conformance target `fission`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from tessera.conformance.harness import Invoke, free_port, http_invoke, process


@contextlib.contextmanager
def target(fn: Path, work: Path) -> Iterator[Invoke]:
    """The deploy archive in a Python environment container, specialized like a Fission pod."""
    from tessera.platforms.fission import build

    with serve(build(fn, work / "fission"), work, fn.name) as invoke:
        yield invoke


@contextlib.contextmanager
def serve(out: Path, work: Path, name: str) -> Iterator[Invoke]:
    """Serve the build output `out` (of function `name`) for real on loopback."""
    from tessera.platforms.fission import ENTRYPOINT

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "tessera.platforms.fission.server", "--port", str(port)]
    with (
        process(
            cmd, lambda: httpx.get(f"{url}/", timeout=1).status_code == 500, work / "fission.log"
        ),
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        r = c.post(
            "/v2/specialize",
            json={"filepath": str(out / f"{name}.zip"), "functionName": ENTRYPOINT},
        )
        r.raise_for_status()
        yield http_invoke(c, "/")
