"""Serve a built Knative Functions project as its container does: `func_python.http.serve(new)`.

The project folder goes first on `sys.path` so `function` is its package;
`LISTEN_ADDRESS` (what func-python binds) is set from `--host`/`--port`.
Liveness and readiness answer on `/health/liveness` and `/health/readiness`.

    python -m tessera.platforms.knative.server --dir build/NAME --port 8080
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--host", default="127.0.0.1")
    a = p.parse_args(argv)
    os.environ["LISTEN_ADDRESS"] = f"{a.host}:{a.port}"
    sys.path.insert(0, str(a.dir.resolve()))
    from func_python.http import serve

    serve(importlib.import_module("function").new)


if __name__ == "__main__":
    main()
