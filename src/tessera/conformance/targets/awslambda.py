"""Conformance target `awslambda`: the deployment zip in real Lambda runtime loops."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import yaml

from tessera.conformance.harness import Invoke, http_invoke, served, up_when


@contextlib.contextmanager
def target(fn: Path, work: Path) -> Iterator[Invoke]:
    """The deployment zip run by awslambdaric processes behind a local Runtime API and HTTP API;
    handler, timeout and memory come from the built SAM template."""
    from tessera.platforms.awslambda import build

    with serve(build(fn, work / "awslambda"), work, fn.name) as invoke:
        yield invoke


@contextlib.contextmanager
def serve(out: Path, work: Path, name: str) -> Iterator[Invoke]:
    """awslambdaric processes behind the local Runtime API and HTTP API; handler,
    timeout and memory come from the built SAM template."""
    resources = yaml.safe_load((out / "template.yaml").read_text())["Resources"]
    props = next(iter(resources.values()))["Properties"]
    cmd = [sys.executable, "-m", "tessera.platforms.awslambda.server", "--code"]
    cmd += [str(out / f"{name}.zip"), "--handler", props["Handler"], "--function"]
    cmd += [props["FunctionName"], "--timeout-s", str(props["Timeout"])]
    cmd += ["--memory-mib", str(props["MemorySize"])]
    cmd += ["--environments", str(min(4, props["ReservedConcurrentExecutions"]))]
    with served(cmd, up_when("/", 200), work / "awslambda.log") as c:
        yield http_invoke(c, "/")
