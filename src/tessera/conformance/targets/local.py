"""Conformance target `local`: the embedded platform (`tessera up`), the function deployed to it."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from tessera.conformance.harness import Invoke, http_invoke, served, up_when
from tessera.platforms.local.sandbox import probe as sandbox_probe


@contextlib.contextmanager
def target(fn: Path, work: Path) -> Iterator[Invoke]:
    from tessera.functions.package import pack_dir

    cmd = [sys.executable, "-m", "tessera.cli.main", "up", "--home", str(work / "home")]
    cmd += ["--autoscaler", '{"kind": "fixed", "replicas": 2}']
    if sandbox_probe() is not None:  # no bubblewrap here: conform without isolation
        cmd.append("--insecure-no-sandbox")
    with served(cmd, up_when("/healthz", 200), work / "local.log") as c:
        token = (work / "home" / "admin.token").read_text(encoding="utf-8").strip()
        c.headers["Authorization"] = f"Bearer {token}"  # /system needs the admin token
        c.post("/system/functions", content=pack_dir(fn)).raise_for_status()
        yield http_invoke(c, f"/function/{fn.name}")
