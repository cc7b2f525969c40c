"""Conformance target `knative`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from tessera.conformance.harness import Invoke, http_invoke, served, up_when


@contextlib.contextmanager
def target(fn: Path, work: Path) -> Iterator[Invoke]:
    """The Knative Functions project served by func-python; ready once readiness answers 200."""
    from tessera.platforms.knative import build

    with serve(build(fn, work / "knative"), work, fn.name) as invoke:
        yield invoke


@contextlib.contextmanager
def serve(out: Path, work: Path, name: str) -> Iterator[Invoke]:
    """func-python serving the project; ready once readiness answers 200."""
    from tessera.platforms.knative import HEALTH

    cmd = [sys.executable, "-m", "tessera.platforms.knative.server", "--dir", str(out)]
    with served(cmd, up_when(HEALTH["readiness"], 200), work / "knative.log") as c:
        yield http_invoke(c, "/")
