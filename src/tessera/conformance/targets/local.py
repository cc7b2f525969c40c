"""Conformance target `local`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from tessera.conformance.harness import Invoke, free_port, http_invoke, process


@contextlib.contextmanager
def target(fn: Path, work: Path) -> Iterator[Invoke]:
    from tessera.functions.package import pack_dir

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-m",
        "tessera.cli.main",
        "up",
        "--port",
        str(port),
        "--home",
        str(work / "home"),
        "--autoscaler",
        '{"kind": "fixed", "replicas": 2}',
    ]
    with (
        process(
            cmd,
            lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200,
            work / "local.log",
        ),
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        c.post("/system/functions", content=pack_dir(fn)).raise_for_status()
        yield http_invoke(c, f"/function/{fn.name}")
