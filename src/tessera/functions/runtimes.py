"""The languages a function may be written in, and where each keeps its handler and SDK.

One contract, several languages: every runtime reads the same `function.yaml` and
names its handler `module.export` (`main.handle`). Only the module's file differs:
`main.py` (Python), `main.js` (Node.js, CommonJS), `main.wasm` (C or any language
compiled to a WASI reactor module). The SDK files a non-Python function builds
against ship inside this package: `tessera.h` for C, the `tessera` module for JS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SDK_DIR = Path(__file__).resolve().parent / "sdk"
C_INCLUDE_DIR = SDK_DIR  # holds tessera.h
NODE_PATH_DIR = SDK_DIR / "node"  # holds tessera.js: `require("tessera")`

_PYTHON = re.compile(r"^python3(\.\d+)?$")


@dataclass(frozen=True, slots=True)
class Runtime:
    """A language family: `kind` selects the worker, `suffix` the handler's module file."""

    kind: str  # "python" | "nodejs" | "wasi"
    suffix: str  # the module file's extension
    max_concurrency: int | None = None  # None: as the manifest says


NODEJS20 = Runtime("nodejs", ".js")
# one module instance per worker runs one call at a time, so a worker takes one request
WASI = Runtime("wasi", ".wasm", max_concurrency=1)
PYTHON = Runtime("python", ".py")
ACCEPTED = "python3 (or python3.N), nodejs20, wasi"


def runtime_of(name: str) -> Runtime | None:
    """The runtime a manifest's `runtime` names, or None when it names none we run."""
    if _PYTHON.match(name):
        return PYTHON
    return {"nodejs20": NODEJS20, "wasi": WASI}.get(name)


def module_file(runtime: Runtime, handler: str) -> Path:
    """The file (relative to the function folder) holding `handler`'s module."""
    module = handler.rsplit(".", 1)[0]
    return Path(*module.split(".")).with_suffix(runtime.suffix)
