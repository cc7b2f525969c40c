"""Conformance target `ray`: the function in a pool of Ray actors on a local Ray instance."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from tessera.conformance.harness import Invoke, free_port, http_invoke, process


@contextlib.contextmanager
def target(fn: Path, work: Path) -> Iterator[Invoke]:
    from tessera.platforms.ray import build

    with serve(build(fn, work / "ray"), work, fn.name) as invoke:
        yield invoke


@contextlib.contextmanager
def serve(out: Path, work: Path, name: str) -> Iterator[Invoke]:
    """`python ray_app.py`, as the build output says, on a free loopback port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, str(out / "ray_app.py"), "--port", str(port)]
    with (
        process(
            cmd, lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200, work / "ray.log"
        ),
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        yield http_invoke(c, "/")
