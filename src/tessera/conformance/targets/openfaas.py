"""Conformance target `openfaas`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from tessera.conformance.harness import Invoke, http_invoke, served, up_when


@contextlib.contextmanager
def target(fn: Path, work: Path) -> Iterator[Invoke]:
    """The python3-http function folder behind its upstream server (of-watchdog's target)."""
    from tessera.platforms.openfaas import build

    with serve(build(fn, work / "openfaas"), work, fn.name) as invoke:
        yield invoke


@contextlib.contextmanager
def serve(out: Path, work: Path, name: str) -> Iterator[Invoke]:
    """The python3-http folder behind its upstream server."""
    cmd = [sys.executable, "-m", "tessera.platforms.openfaas.server", "--dir", str(out / name)]
    with served(cmd, up_when("/"), work / "openfaas.log") as c:
        yield http_invoke(c, "/")
