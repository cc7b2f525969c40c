"""Conformance target `nuclio`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from tessera.conformance.harness import Invoke, http_invoke, served, up_when


@contextlib.contextmanager
def target(fn: Path, work: Path) -> Iterator[Invoke]:
    """The Nuclio function folder behind the processor stand-in's HTTP trigger."""
    from tessera.platforms.nuclio import build

    with serve(build(fn, work / "nuclio"), work, fn.name) as invoke:
        yield invoke


@contextlib.contextmanager
def serve(out: Path, work: Path, name: str) -> Iterator[Invoke]:
    """The function folder behind the processor stand-in's HTTP trigger."""
    cmd = [sys.executable, "-m", "tessera.platforms.nuclio.server", "--dir", str(out)]
    with served(cmd, up_when("/"), work / "nuclio.log") as c:
        yield http_invoke(c, "/")
