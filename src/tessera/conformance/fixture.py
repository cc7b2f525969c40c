"""The fixture function every platform must serve identically (written to a temp folder)."""

from __future__ import annotations

from pathlib import Path

import yaml

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


def write_fixture(parent: Path, name: str = "conformance") -> Path:
    d = parent / name
    d.mkdir(parents=True, exist_ok=True)
    manifest = {
        "name": name,
        "handler": "main.handle",
        "scale": {"min": 1, "max": 2},
        "timeout_s": 2,
    }
    (d / "function.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    (d / "main.py").write_text(HANDLER.lstrip())
    return d
