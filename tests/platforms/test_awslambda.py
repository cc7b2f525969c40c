"""The AWS Lambda adapter: package and SAM template, the handler, the Runtime API, a real service."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib.util
import json
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tessera.conformance.harness import free_port, process
from tessera.platforms.awslambda import HANDLER, build
from tessera.platforms.awslambda.runtime_api import PREFIX, Invocation, RuntimeAPI
from tests.platforms.helpers import pid_alive, write_function

FUNCTION = """
import os
import time


def handle(event, context):
    if isinstance(event, bytes):
        return event[::-1]
    if isinstance(event, dict):
        if "sleep" in event:
            time.sleep(event["sleep"])
        if "exit" in event:
            os._exit(event["exit"])
        if "fail" in event:
            raise ValueError("asked to fail")
    return {"echo": event, "pid": os.getpid(), "invocation": context.invocation_id}
"""

# plain Lambda handlers (no Tessera), to drive awslambdaric's own error paths
RAW = """
def handler(event, context):
    raise KeyError("nope")
"""
BROKEN = """
raise RuntimeError("cannot initialize")
"""


@pytest.fixture
def fresh_main() -> Iterator[None]:
    """In-process tests import the user's `main`: start and leave without one cached."""
    saved = list(sys.path)
    sys.modules.pop("main", None)
    yield
    sys.modules.pop("main", None)
    sys.path[:] = saved


def test_build_writes_zip_and_sam_template_without_env_values(tmp_path: Path) -> None:
    fn = write_function(
        tmp_path / "src",
        "echo",
        FUNCTION,
        env={"API_KEY": "s3cret"},
        scale={"min": 2, "max": 6},
        timeout_s=7.5,
        resources={"memory_mib": 64},
    )
    out = build(fn, tmp_path / "out")
    with zipfile.ZipFile(out / "echo.zip") as z:
        names = set(z.namelist())
        contents = b"".join(z.read(n) for n in names)
    assert {"tessera_lambda.py", "function/main.py", "requirements.txt"} <= names
    assert b"s3cret" not in contents
    for p in out.rglob("*"):
        assert not p.is_file() or b"s3cret" not in p.read_bytes(), p

    doc = yaml.safe_load((out / "template.yaml").read_text())
    assert doc["Transform"] == "AWS::Serverless-2016-10-31"
    (fn_res,) = doc["Resources"].values()
    assert fn_res["Type"] == "AWS::Serverless::Function"
    props = fn_res["Properties"]
    assert (props["Runtime"], props["Handler"]) == ("python3.11", HANDLER)
    assert (props["MemorySize"], props["Timeout"]) == (128, 8)  # Lambda's minimum, whole seconds
    assert props["Events"]["Http"]["Type"] == "HttpApi"
    assert props["Environment"]["Variables"] == {"API_KEY": {"Ref": "EnvApiKey"}}
    assert doc["Parameters"]["EnvApiKey"]["NoEcho"] is True
    assert props["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}
    assert props["ReservedConcurrentExecutions"] == 6

    fn0 = write_function(tmp_path / "src0", "zero", FUNCTION, scale={"min": 0, "max": 1})
    props0 = next(
        iter(
            yaml.safe_load((build(fn0, tmp_path / "o0") / "template.yaml").read_text())[
                "Resources"
            ].values()
        )
    )["Properties"]
    assert "ProvisionedConcurrencyConfig" not in props0 and "Environment" not in props0


class _LambdaContext:
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 5000


def test_generated_handler_maps_http_api_events(tmp_path: Path, fresh_main: None) -> None:
    fn = write_function(tmp_path / "src", "echo", FUNCTION)
    entry = build(fn, tmp_path / "out") / "code" / "tessera_lambda.py"
    spec = importlib.util.spec_from_file_location("tessera_lambda_test", entry)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ctx = _LambdaContext()

    def event(body: str, ct: str, b64: bool = False) -> dict[str, Any]:
        return {
            "version": "2.0",
            "headers": {"content-type": ct},
            "requestContext": {"http": {"method": "POST"}},
            "body": body,
            "isBase64Encoded": b64,
        }

    res = module.handler(event('{"a": 1}', "application/json"), ctx)
    assert res["statusCode"] == 200 and res["isBase64Encoded"] is False
    assert json.loads(res["body"])["echo"] == {"a": 1}
    assert json.loads(res["body"])["invocation"] == "req-1"
    raw = base64.b64encode(b"\x00ab\xff").decode()
    res = module.handler(event(raw, "application/octet-stream", True), ctx)
    assert res["isBase64Encoded"] and base64.b64decode(res["body"]) == b"\xffba\x00"
    res = module.handler(event('{"fail": 1}', "application/json"), ctx)
    assert (res["statusCode"], res["body"]) == (500, "ValueError: asked to fail")
    res = module.handler({"direct": True}, ctx)  # a plain Invoke: the event is the JSON body
    assert json.loads(res["body"])["echo"] == {"direct": True}


def test_runtime_api_protocol_response_error_timeout_and_init_error() -> None:
    async def scenario() -> None:
        queue: asyncio.Queue[Invocation] = asyncio.Queue()
        killed: list[bool] = []
        api = RuntimeAPI(queue, 0.3, "arn:aws:lambda:x:0:function:f", lambda: killed.append(True))
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://rapid") as c:
            ok = Invocation("id-1", b'{"n": 1}')
            await queue.put(ok)
            r = await c.get(f"{PREFIX}/invocation/next")
            assert r.status_code == 200 and r.json() == {"n": 1}
            assert r.headers["lambda-runtime-aws-request-id"] == "id-1"
            assert r.headers["lambda-runtime-invoked-function-arn"].endswith(":function:f")
            assert int(r.headers["lambda-runtime-deadline-ms"]) > 0
            r = await c.post(f"{PREFIX}/invocation/nope/response", content=b"{}")
            assert r.status_code == 400  # not the invocation in flight
            r = await c.post(f"{PREFIX}/invocation/id-1/response", content=b'{"ok": 1}')
            assert r.status_code == 202 and ok.outcome.result() == b'{"ok": 1}'

            err = Invocation("id-2", b"{}")
            await queue.put(err)
            await c.get(f"{PREFIX}/invocation/next")
            doc = {"errorType": "KeyError", "errorMessage": "'k'", "stackTrace": []}
            r = await c.post(f"{PREFIX}/invocation/id-2/error", json=doc)
            assert r.status_code == 202
            assert err.outcome.result() == (
                500,
                {"content-type": "text/plain; charset=utf-8"},
                b"KeyError: 'k'",
            )

            slow = Invocation("id-3", b"{}")
            await queue.put(slow)
            await c.get(f"{PREFIX}/invocation/next")
            status, _, body = await asyncio.wait_for(slow.outcome, 5)
            assert status == 504 and killed == [True] and b"timed out" in body
            r = await c.post(f"{PREFIX}/invocation/id-3/response", content=b"{}")
            assert r.status_code == 400  # too late: the answer was the 504

            doc = {"errorType": "Runtime.ImportModuleError", "errorMessage": "no module"}
            r = await c.post(f"{PREFIX}/init/error", json=doc)
            assert r.status_code == 202
            assert api.init_error == "Runtime.ImportModuleError: no module"

    asyncio.run(scenario())


@contextlib.contextmanager
def service(code: Path, handler: str, log: Path, timeout_s: float = 1.0) -> Iterator[httpx.Client]:
    """The local Lambda service with one execution environment; stopped (SIGTERM) on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "tessera.platforms.awslambda.server", "--code", str(code)]
    cmd += ["--handler", handler, "--timeout-s", str(timeout_s), "--environments", "1"]
    cmd += ["--port", str(port)]
    with (
        process(cmd, lambda: httpx.get(url, timeout=10).status_code < 600, log),
        httpx.Client(base_url=url, timeout=30) as c,
    ):
        yield c


def test_timeout_and_crash_replace_the_runtime_process(tmp_path: Path) -> None:
    fn = write_function(tmp_path / "src", "echo", FUNCTION)
    out = build(fn, tmp_path / "out")
    pids = []
    with service(out / "echo.zip", HANDLER, tmp_path / "log") as c:
        r = c.post("/", json={"x": 1})
        assert r.status_code == 200 and r.json()["echo"] == {"x": 1}
        pids.append(r.json()["pid"])
        r = c.post("/", json={"sleep": 5})
        assert r.status_code == 504 and "timed out" in r.text
        r = c.post("/", json={"x": 2})
        assert r.status_code == 200
        pids.append(r.json()["pid"])
        assert not pid_alive(pids[0])  # the timed-out runtime was killed, a fresh one serves
        r = c.post("/", json={"exit": 3})
        assert r.status_code == 502 and "exit status 3" in r.text
        r = c.post("/", content=b"abc", headers={"content-type": "application/octet-stream"})
        assert (r.status_code, r.content) == (200, b"cba")
        r = c.post("/", json={"x": 3})
        pids.append(r.json()["pid"])
        assert len(set(pids)) == 3
    assert not any(pid_alive(p) for p in pids)  # stopping the service stops its runtimes


def test_errors_posted_by_awslambdaric_become_500_and_init_errors_503(tmp_path: Path) -> None:
    code = tmp_path / "task"
    code.mkdir()
    (code / "raw.py").write_text(RAW)
    (code / "broken.py").write_text(BROKEN)
    with service(code, "raw.handler", tmp_path / "raw.log") as c:
        r = c.post("/", json={})
        assert (r.status_code, r.text) == (500, "KeyError: 'nope'")
    with service(code, "broken.handler", tmp_path / "broken.log") as c:
        r = c.post("/", json={})
        assert r.status_code == 503
        assert r.text == "function could not start: RuntimeError: cannot initialize"
