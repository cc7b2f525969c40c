"""The Nuclio adapter: its function folder, the real nuclio_sdk types, and the processor stand-in."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import nuclio_sdk
import yaml

from tessera.platforms import builder
from tessera.platforms.nuclio import HANDLER, build
from tessera.platforms.nuclio.runtime import raw_body
from tessera.platforms.nuclio.server import Processor
from tests.platforms.helpers import write_function

CODE = """
import time

from tessera.functions import Response

STARTED = []


def start(config):
    STARTED.append(config)


def handle(event, context):
    if isinstance(event, bytes):
        return event[::-1]
    if isinstance(event, dict) and "sleep" in event:
        time.sleep(event["sleep"])
    if isinstance(event, dict) and "status" in event:
        return Response({"s": event["status"]}, status=event["status"], headers={"x-n": "1"})
    return {
        "echo": event,
        "id": context.invocation_id,
        "agent": context.headers.get("user-agent"),
        "starts": len(STARTED),
    }
"""


def _files(out: Path) -> str:
    return "".join(p.read_text() for p in sorted(out.rglob("*")) if p.is_file())


def test_build_writes_handler_module_and_nuclio_function_yaml(tmp_path: Path) -> None:
    fn = write_function(
        tmp_path / "src",
        "echo",
        CODE,
        env={"API_KEY": "s3cret"},
        scale={"min": 1, "max": 4},
        concurrency=3,
        timeout_s=7.5,
        resources={"cpu": 0.5, "memory_mib": 512},
    )
    out = builder("nuclio")(fn, tmp_path / "out")
    assert (out / "function" / "main.py").read_text() == (fn / "main.py").read_text()
    entry = (out / "tessera_nuclio.py").read_text()
    assert "handler = make_handler(" in entry and "init_context = handler.init_context" in entry
    config = yaml.safe_load((out / "function.yaml").read_text())
    assert config["apiVersion"] == "nuclio.io/v1" and config["kind"] == "NuclioFunction"
    assert config["metadata"]["name"] == "echo"
    spec = config["spec"]
    assert spec["runtime"] == "python:3.11" and spec["handler"] == HANDLER
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 4)
    assert spec["eventTimeout"] == "7.5s"
    assert spec["resources"]["limits"] == {"cpu": "0.5", "memory": "512Mi"}
    assert spec["triggers"]["http"]["kind"] == "http"
    assert spec["triggers"]["http"]["maxWorkers"] == 3
    assert spec["env"] == [
        {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "echo-env", "key": "API_KEY"}}}
    ]
    assert "s3cret" not in _files(out)  # references only, in every artifact


def test_generated_handler_speaks_nuclio_sdk_types(tmp_path: Path) -> None:
    fn = write_function(tmp_path / "src", "echo", CODE)
    processor = Processor(build(fn, tmp_path / "out"))
    # the wrapper's decoding: JSON bodies arrive parsed, the event id is the invocation id
    event = processor.event(
        "POST", "/x?q=1", {"Content-Type": "application/json", "User-Agent": "t"}, b'{"a": 1}'
    )
    assert isinstance(event, nuclio_sdk.Event) and event.body == {"a": 1}
    assert event.fields == {"q": "1"} and event.path == "/x"
    ctx = processor.workers.get()
    assert ctx.user_data.tessera_function == "echo"  # init_context ran for this worker
    res = processor.handler(ctx, event)
    processor.workers.put(ctx)
    assert isinstance(res, nuclio_sdk.Response) and res.status_code == 200
    assert res.content_type == "application/json"
    assert res.body == (b'{"echo":{"a":1},"id":"%s","agent":"t","starts":1}' % event.id.encode())
    # through the processor: bytes stay bytes, status and headers survive
    status, headers, body = processor.call(
        processor.event("POST", "/", {"Content-Type": "application/octet-stream"}, b"\x00ab\xff")
    )
    assert (status, body) == (200, b"\xffba\x00")
    assert ("Content-Type", "application/octet-stream") in headers
    status, headers, body = processor.call(
        processor.event("POST", "/", {"Content-Type": "application/json"}, b'{"status": 418}')
    )
    assert (status, body) == (418, b'{"s":418}') and ("x-n", "1") in headers


def test_raw_body_undoes_the_wrappers_decoding() -> None:
    assert raw_body(None) == b""
    assert raw_body(b"\x00") == b"\x00" and raw_body("é") == "é".encode()
    assert raw_body({"a": [1]}) == b'{"a": [1]}'


def test_a_request_without_a_free_worker_gets_503(tmp_path: Path) -> None:
    fn = write_function(tmp_path / "src", "echo", CODE, concurrency=1)
    out = build(fn, tmp_path / "out")
    config = yaml.safe_load((out / "function.yaml").read_text())
    config["spec"]["triggers"]["http"]["workerAvailabilityTimeoutMilliseconds"] = 50
    (out / "function.yaml").write_text(yaml.safe_dump(config))
    processor = Processor(out)
    ct = {"Content-Type": "application/json"}
    busy: list[Any] = []
    t = threading.Thread(
        target=lambda: busy.append(
            processor.call(processor.event("POST", "/", ct, b'{"sleep": 1}'))
        )
    )
    t.start()
    while processor.workers.qsize():  # wait until the only worker is taken
        time.sleep(0.01)
    status, _, body = processor.call(processor.event("POST", "/", ct, b"{}"))
    t.join()
    assert (status, body) == (503, b"no worker available")
    assert busy[0][0] == 200
