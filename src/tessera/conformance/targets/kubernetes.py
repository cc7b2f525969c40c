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

from tessera.conformance.harness import Invoke, http_invoke, served


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
    cmd[cmd.index("--host") + 1] = "127.0.0.1"
    at = cmd.index("--port")
    del cmd[at : at + 2]  # `served` picks a free port
    cmd = [sys.executable, "-m", "tessera.cli.main", *cmd[1:]]

    def ready(url: str) -> bool:
        # the function is deployed before the gateway answers: one function = servable
        r = httpx.get(f"{url}/healthz", timeout=1)
        return r.status_code == 200 and r.json().get("functions") == 1

    with served(cmd, ready, work / "kubernetes.log") as c:
        yield http_invoke(c, f"/function/{m.name}")
