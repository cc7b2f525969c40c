"""Conformance target `ray`: the function in a pool of Ray actors on a local Ray instance."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from tessera.conformance.harness import Invoke, http_invoke, served, up_when


@contextlib.contextmanager
def target(fn: Path, work: Path) -> Iterator[Invoke]:
    from tessera.platforms.ray import build

    with serve(build(fn, work / "ray"), work, fn.name) as invoke:
        yield invoke


@contextlib.contextmanager
def serve(out: Path, work: Path, name: str) -> Iterator[Invoke]:
    """`python ray_app.py`, as the build output says."""
    cmd = [sys.executable, str(out / "ray_app.py")]
    with served(cmd, up_when("/healthz", 200), work / "ray.log") as c:
        yield http_invoke(c, "/")
