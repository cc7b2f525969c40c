"""Conformance target `kubernetes`: the built container's own command, run here without Docker.

The Deployment's container runs `serve_command` on the copied code; this runs
the very same command (port, home and code folder pointed at loopback and the
build output) and calls the function the way the Service routes to it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from tessera.conformance.harness import Invoke, free_port, http_invoke, process


@contextlib.contextmanager
def target(fn: Path, work: Path) -> Iterator[Invoke]:
    from tessera.platforms.kubernetes import build

    with serve(build(fn, work / "kubernetes"), work, fn.name) as invoke:
        yield invoke


@contextlib.contextmanager
def serve(out: Path, work: Path, name: str) -> Iterator[Invoke]:
    """Run the container's command on the build output `out`, here on loopback."""
    from tessera.functions.manifest import load_function_dir
    from tessera.platforms.kubernetes import serve_command

    m = load_function_dir(out / "function")
    cmd = serve_command(m, code_dir=str(out / "function"), home=str(work / "home"))
    port = free_port()
    cmd[cmd.index("--host") + 1] = "127.0.0.1"
    cmd[cmd.index("--port") + 1] = str(port)
    cmd = [sys.executable, "-m", "tessera.cli.main", *cmd[1:]]
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        # the function is deployed before the control loop starts: listed = servable
        r = httpx.get(f"{url}/system/functions", timeout=1)
        return r.status_code == 200 and any(f["name"] == m.name for f in r.json())

    with (
        process(cmd, ready, work / "kubernetes.log"),
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        yield http_invoke(c, f"/function/{m.name}")
