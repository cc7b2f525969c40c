"""Conformance target `gcf`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from tessera.conformance.harness import Invoke, http_invoke, served, up_when


@contextlib.contextmanager
def target(fn: Path, work: Path) -> Iterator[Invoke]:
    from tessera.platforms.gcf import build

    with serve(build(fn, work / "gcf"), work, fn.name) as invoke:
        yield invoke


@contextlib.contextmanager
def serve(out: Path, work: Path, name: str) -> Iterator[Invoke]:
    """functions-framework serving the generated entry point."""
    from tessera.platforms.gcf import ENTRY_POINT

    ff = str(Path(sys.executable).parent / "functions-framework")
    cmd = [ff, "--target", ENTRY_POINT, "--source", str(out / "main.py"), "--host", "127.0.0.1"]
    with served(cmd, up_when("/"), work / "gcf.log") as c:
        yield http_invoke(c, "/")
