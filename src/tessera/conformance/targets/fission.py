"""Conformance target `fission`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from tessera.conformance.harness import Invoke, http_invoke, served, up_when


@contextlib.contextmanager
def target(fn: Path, work: Path) -> Iterator[Invoke]:
    """The deploy archive in a Python environment container, specialized like a Fission pod."""
    from tessera.platforms.fission import build

    with serve(build(fn, work / "fission"), work, fn.name) as invoke:
        yield invoke


@contextlib.contextmanager
def serve(out: Path, work: Path, name: str) -> Iterator[Invoke]:
    """A Python environment container, specialized with the deploy archive."""
    from tessera.platforms.fission import ENTRYPOINT

    cmd = [sys.executable, "-m", "tessera.platforms.fission.server"]
    with served(cmd, up_when("/", 500), work / "fission.log") as c:  # 500: not specialized yet
        archive = {"filepath": str(out / f"{name}.zip"), "functionName": ENTRYPOINT}
        c.post("/v2/specialize", json=archive).raise_for_status()
        yield http_invoke(c, "/")
