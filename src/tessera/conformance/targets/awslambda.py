"""Conformance target `awslambda`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import yaml

from tessera.conformance.harness import Invoke, free_port, http_invoke, process


@contextlib.contextmanager
def target(fn: Path, work: Path) -> Iterator[Invoke]:
    """The deployment zip run by awslambdaric processes behind a local Runtime API and HTTP API;
    handler, timeout and memory come from the built SAM template."""
    from tessera.platforms.awslambda import build

    with serve(build(fn, work / "awslambda"), work, fn.name) as invoke:
        yield invoke


@contextlib.contextmanager
def serve(out: Path, work: Path, name: str) -> Iterator[Invoke]:
    """Serve the build output `out` (of function `name`) for real on loopback."""
    resources = yaml.safe_load((out / "template.yaml").read_text())["Resources"]
    props = next(iter(resources.values()))["Properties"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-m",
        "tessera.platforms.awslambda.server",
        "--code",
        str(out / f"{name}.zip"),
        "--handler",
        props["Handler"],
        "--timeout-s",
        str(props["Timeout"]),
        "--memory-mib",
        str(props["MemorySize"]),
        "--function",
        props["FunctionName"],
        "--environments",
        str(min(4, props["ReservedConcurrentExecutions"])),
        "--port",
        str(port),
    ]
    with (
        process(cmd, lambda: httpx.get(url, timeout=5).status_code == 200, work / "awslambda.log"),
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        yield http_invoke(c, "/")
