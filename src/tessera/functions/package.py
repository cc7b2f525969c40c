"""A function folder as the .tar.gz the gateway's deploy endpoint takes."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from tessera.functions.manifest import load_function_dir, read_manifest
from tessera.functions.runtimes import WASI, runtime_of

SKIP = ("__pycache__", ".git", ".venv")


def prepare(path: Path) -> None:
    """Build what a function folder needs before it ships (a C function's `main.wasm`, when
    missing or older than its sources), then validate it."""
    m = read_manifest(path)
    if runtime_of(m.runtime) is WASI:
        from tessera.functions.wasm_build import build_wasm, is_stale

        if is_stale(path, m.handler):
            build_wasm(path, m.handler)
    load_function_dir(path)


def pack_dir(path: Path) -> bytes:
    """Validate `path/function.yaml` (errors come early, on the client) and pack the folder.

    A C function's module is (re)built first when it is missing or older than its sources.
    """
    prepare(path)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for p in sorted(path.rglob("*")):
            rel = p.relative_to(path)
            if any(part in SKIP for part in rel.parts):
                continue
            tar.add(p, arcname=str(rel), recursive=False)
    return buf.getvalue()
