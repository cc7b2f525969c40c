"""Conformance target `knative`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from tessera.conformance.harness import Invoke, free_port, http_invoke, process


@contextlib.contextmanager
def target(fn: Path, work: Path) -> Iterator[Invoke]:
    """The Knative Functions project served by func-python; ready once readiness answers 200."""
    from tessera.platforms.knative import build

    with serve(build(fn, work / "knative"), work, fn.name) as invoke:
        yield invoke


@contextlib.contextmanager
def serve(out: Path, work: Path, name: str) -> Iterator[Invoke]:
    """Serve the build output `out` (of function `name`) for real on loopback."""
    from tessera.platforms.knative import HEALTH

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-m",
        "tessera.platforms.knative.server",
        "--dir",
        str(out),
        "--port",
        str(port),
    ]
    with (
        process(
            cmd,
            lambda: httpx.get(url + HEALTH["readiness"], timeout=1).status_code == 200,
            work / "knative.log",
        ),
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        yield http_invoke(c, "/")
