"""The fixture function every platform must serve identically (written to a temp folder).

One behaviour, written in each language a function may be written in: Python (below),
JavaScript and C (`fixtures/main.js`, `fixtures/main.c`; the C one is compiled to WASI
when it is written, from a cache keyed by its source hash).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from tessera.core.errors import InputError

SOURCES = Path(__file__).resolve().parent / "fixtures"
LANGUAGES = {"python": "python3", "javascript": "nodejs20", "c-wasi": "wasi"}  # -> runtime
WASM_CACHE = Path(tempfile.gettempdir()) / "tessera-wasm-cache"

HANDLER = """
import time

from tessera.functions import Response

STATE = {"started": False}


def start(config):
    STATE["started"] = True


def handle(event, context):
    if isinstance(event, bytes):
        return event[::-1]
    if not isinstance(event, dict):
        return {"event": event}
    op = event.get("op")
    if op == "fail":
        raise ValueError("asked to fail")
    if op == "status":
        return Response({"status": event["status"]}, status=event["status"],
                        headers={"x-conformance": "yes"})
    if op == "sleep":
        time.sleep(event["s"])
        return {"slept": event["s"]}
    if op == "size":
        return {"n": len(event["blob"])}
    if op == "started":
        return {"started": STATE["started"]}
    return {"echo": event, "function": context.function}
"""


def write_fixture(parent: Path, name: str = "conformance", language: str = "python") -> Path:
    """`parent/name/`: the fixture in `language` (one of LANGUAGES), ready to deploy."""
    if language not in LANGUAGES:
        raise InputError("--language", language, ", ".join(LANGUAGES))
    d = parent / name
    d.mkdir(parents=True, exist_ok=True)
    manifest = {
        "name": name,
        "runtime": LANGUAGES[language],
        "handler": "main.handle",
        "scale": {"min": 1, "max": 2},
        "timeout_s": 2,
    }
    (d / "function.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    if language == "python":
        (d / "main.py").write_text(HANDLER.lstrip())
    elif language == "javascript":
        (d / "main.js").write_text((SOURCES / "main.js").read_text())
    else:
        from tessera.functions.wasm_build import build_wasm

        (d / "main.c").write_text((SOURCES / "main.c").read_text())
        build_wasm(d, "main.handle", cache_dir=WASM_CACHE)
    return d
