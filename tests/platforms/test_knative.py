"""The Knative Functions adapter: the generated project, func-python's middleware, a real server."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tessera.conformance.harness import free_port, process
from tessera.platforms.knative import HEALTH, build
from tests.platforms.helpers import write_function

HANDLER = """
import os
from pathlib import Path

from tessera.functions import Response

STATE = {"started": False}


def start(config):
    STATE["started"] = True


def stop():
    Path(os.environ["STOP_MARK"]).write_text("stopped")


def handle(event, context):
    if isinstance(event, dict) and event.get("fail"):
        raise ValueError("asked to fail")
    if isinstance(event, dict) and event.get("status"):
        return Response({"teapot": True}, status=event["status"], headers={"x-custom": "1"})
    if isinstance(event, bytes):
        return event[::-1]
    return {"echo": event, "function": context.function, "started": STATE["started"]}
"""


def _load_new(out: Path) -> Any:
    """The generated `function/func.py`, imported under a name of its own."""
    spec = importlib.util.spec_from_file_location(f"kn_{out.parent.name}", out / "function/func.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.new


async def _asgi(app: Any, path: str, body: bytes = b"", ct: str = "application/json") -> Any:
    """One HTTP request through an ASGI callable: (status, headers, body)."""
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(b"content-type", ct.encode())],
    }
    await app(scope, receive, send)
    headers = {k.decode(): v.decode() for k, v in sent[0].get("headers", [])}
    return sent[0]["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


def test_build_writes_the_func_project_service_and_no_env_value(tmp_path: Path) -> None:
    fn = write_function(
        tmp_path / "src",
        "echo",
        HANDLER,
        env={"API_KEY": "s3cret"},
        scale={"min": 1, "max": 5, "target": 3},
        concurrency=4,
        timeout_s=7.5,
        resources={"cpu": 0.5, "memory_mib": 512},
    )
    out = build(fn, tmp_path / "out")
    assert (out / "function/user/main.py").read_text() == (fn / "main.py").read_text()
    assert "new = make_new(" in (out / "function/func.py").read_text()
    assert "from .func import new" in (out / "function/__init__.py").read_text()
    assert "func-python" in (out / "pyproject.toml").read_text()

    func = yaml.safe_load((out / "func.yaml").read_text())
    assert (func["name"], func["runtime"], func["invoke"]) == ("echo", "python", "http")
    assert func["run"]["envs"] == [{"name": "API_KEY", "value": "{{ env:API_KEY }}"}]
    scale = func["deploy"]["options"]["scale"]
    assert (scale["min"], scale["max"], scale["target"]) == (1, 5, 3)
    assert func["deploy"]["healthEndpoints"] == HEALTH

    svc = yaml.safe_load((out / "service.yaml").read_text())
    assert (svc["apiVersion"], svc["kind"]) == ("serving.knative.dev/v1", "Service")
    notes = svc["spec"]["template"]["metadata"]["annotations"]
    assert notes["autoscaling.knative.dev/min-scale"] == "1"
    assert notes["autoscaling.knative.dev/max-scale"] == "5"
    assert notes["autoscaling.knative.dev/target"] == "3"
    spec = svc["spec"]["template"]["spec"]
    assert (spec["containerConcurrency"], spec["timeoutSeconds"]) == (4, 8)
    container = spec["containers"][0]
    assert container["resources"]["limits"] == {"memory": "512Mi", "cpu": "0.5"}
    assert container["readinessProbe"]["httpGet"]["path"] == HEALTH["readiness"]
    ref = {"secretKeyRef": {"name": "echo-env", "key": "API_KEY"}}
    assert {"name": "API_KEY", "valueFrom": ref} in container["env"]
    for p in out.rglob("*"):  # references only: the value is in no artifact
        assert not p.is_file() or b"s3cret" not in p.read_bytes(), p


@pytest.fixture
def fresh_main() -> Iterator[None]:
    """In-process tests import the user's `main`: start and leave without one cached."""
    saved = list(sys.path)
    sys.modules.pop("main", None)
    yield
    sys.modules.pop("main", None)
    sys.path[:] = saved


def test_new_serves_asgi_behind_func_python_middleware(tmp_path: Path, fresh_main: None) -> None:
    from func_python.http import ASGIApplication

    fn = write_function(tmp_path / "src", "echo", HANDLER)
    f = _load_new(build(fn, tmp_path / "out"))()
    app = ASGIApplication(f)

    async def scenario() -> None:
        assert (await _asgi(app, HEALTH["readiness"]))[0] == 500  # not started yet
        assert (await _asgi(app, HEALTH["liveness"]))[0] == 200
        await app.on_start()  # what the lifespan startup event runs: f.start(env)
        assert (await _asgi(app, HEALTH["readiness"]))[:3:2] == (200, b"OK")
        status, _, body = await _asgi(app, "/", b'{"a": [1, 2]}')
        assert status == 200
        assert json.loads(body) == {"echo": {"a": [1, 2]}, "function": "echo", "started": True}
        ans = await _asgi(app, "/", b"abc", "application/octet-stream")
        assert ans[2] == b"cba" and ans[1]["content-type"] == "application/octet-stream"
        status, headers, body = await _asgi(app, "/", b'{"status": 418}')
        assert (status, headers["x-custom"], json.loads(body)) == (418, "1", {"teapot": True})
        assert (await _asgi(app, "/", b'{"fail": true}'))[::2] == (
            500,
            b"ValueError: asked to fail",
        )

    asyncio.run(scenario())


def test_server_is_ready_only_after_start_and_calls_stop_on_sigterm(tmp_path: Path) -> None:
    fn = write_function(tmp_path / "src", "echo", HANDLER)
    out = build(fn, tmp_path / "out")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mark = tmp_path / "stopped"
    cmd = [sys.executable, "-m", "tessera.platforms.knative.server", "--dir", str(out)]
    cmd += ["--port", str(port)]
    ready = url + HEALTH["readiness"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STOP_MARK", str(mark))
        with process(cmd, lambda: httpx.get(ready, timeout=1).status_code == 200, tmp_path / "log"):
            r = httpx.post(url, json={"x": 1}, timeout=10)
            assert r.json() == {"echo": {"x": 1}, "function": "echo", "started": True}
    # process() sent SIGTERM and waited: hypercorn ran the lifespan shutdown -> stop()
    assert mark.read_text() == "stopped", (tmp_path / "log").read_text()


def test_cli_builds_the_stats_example(tmp_path: Path) -> None:
    from tessera.cli.main import main

    stats = Path(__file__).resolve().parents[2] / "src/tessera/functions/examples/stats"
    with pytest.raises(SystemExit) as e:
        main(["fn", "build", str(stats), "--platform", "knative", "--out", str(tmp_path / "o")])
    assert e.value.code == 0
    svc = yaml.safe_load((tmp_path / "o/service.yaml").read_text())
    assert (
        svc["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/max-scale"]
        == "8"
    )
    assert "preload=['numpy.ma']" in (tmp_path / "o/function/func.py").read_text()
