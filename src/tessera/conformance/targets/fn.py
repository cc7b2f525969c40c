"""Conformance target `fn`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from tessera.conformance.harness import Invoke, http_invoke, served, up_when


@contextlib.contextmanager
def target(fn: Path, work: Path) -> Iterator[Invoke]:
    """The Fn function folder served by the real FDK, called through the agent stand-in."""
    from tessera.platforms.fn import build

    with serve(build(fn, work / "fn"), work, fn.name) as invoke:
        yield invoke


@contextlib.contextmanager
def serve(out: Path, work: Path, name: str) -> Iterator[Invoke]:
    """The FDK serving func.py, called through the Fn-agent front door."""
    cmd = [sys.executable, "-m", "tessera.platforms.fn.server", "--dir", str(out)]
    with served([*cmd, "--app", "conformance"], up_when("/version", 200), work / "fn.log") as c:
        yield http_invoke(c, f"/t/conformance/{name}")
