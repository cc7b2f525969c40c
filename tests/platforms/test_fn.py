"""The Fn adapter: its function folder, the real FDK's protocol on a unix socket, the agent stand-in."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tessera.conformance.harness import env, free_port, ok
from tessera.platforms import builder
from tessera.platforms.fn import ENTRYPOINT, build
from tessera.platforms.fn.runtime import deadline_s
from tessera.platforms.fn.server import Agent
from tests.platforms.helpers import kill_pid, pid_alive, write_function

CODE = """
import time


def handle(event, context):
    if isinstance(event, dict) and "fail" in event:
        raise ValueError(event["fail"])
    if isinstance(event, dict) and "sleep" in event:
        time.sleep(event["sleep"])
    return {
        "id": context.invocation_id,
        "custom": context.headers.get("x-custom"),
        "left_s": context.remaining_s(),
        "token": __import__("os").environ.get("TOKEN"),
    }
"""


def _files(out: Path) -> str:
    return "".join(p.read_text() for p in sorted(out.rglob("*")) if p.is_file())


def test_build_writes_func_py_func_yaml_and_requirements(tmp_path: Path) -> None:
    fn = write_function(
        tmp_path / "src",
        "echo",
        CODE,
        env={"TOKEN": "s3cret"},
        timeout_s=7.5,
        resources={"memory_mib": 512},
    )
    out = builder("fn")(fn, tmp_path / "out")
    assert (out / "function" / "main.py").read_text() == (fn / "main.py").read_text()
    func = (out / "func.py").read_text()
    assert "handler = make_handler(" in func and "serve(handler)" in func
    doc = yaml.safe_load((out / "func.yaml").read_text())
    assert doc["schema_version"] == 20180708 and doc["name"] == "echo"
    assert doc["runtime"] == "python" and doc["entrypoint"] == ENTRYPOINT
    assert (doc["memory"], doc["timeout"]) == (512, 8)  # Fn takes whole seconds
    assert doc["config"] == {"TOKEN": "${TOKEN}"}
    assert doc["triggers"] == [{"name": "echo", "type": "http", "source": "/echo"}]
    reqs = (out / "requirements.txt").read_text().split()
    assert any(r.startswith("fdk") for r in reqs) and any(r.startswith("tessera") for r in reqs)
    assert "s3cret" not in _files(out)  # references only, in every artifact


def test_deadline_is_the_earlier_of_fn_deadline_and_the_timeout() -> None:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    assert deadline_s(soon.isoformat(), 30) == pytest.approx(soon.timestamp(), abs=1e-3)
    assert deadline_s(soon.isoformat(), 0.5) < soon.timestamp()
    assert deadline_s("not a time", 30) > time.time() + 29


@pytest.mark.xdist_group("adapter-servers")
def test_fdk_serves_the_handler_over_its_unix_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKEN", "from-deployer")  # the reference in config resolves here
    fn = write_function(tmp_path / "src", "echo", CODE, env={"TOKEN": "x"}, timeout_s=30)
    agent = Agent(build(fn, tmp_path / "out"), app="app")
    agent.start()
    try:
        assert agent.client is not None
        soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
        gateway = {
            "Fn-Call-Id": "call-42",
            "Fn-Deadline": soon.isoformat(),
            "Fn-Intent": "httprequest",
            "Fn-Http-Method": "POST",
            "Fn-Http-Request-Url": "http://localhost/t/app/echo",
            "Fn-Http-H-X-Custom": "yes",
            "Fn-Http-H-Content-Type": "application/json",
            "Content-Type": "application/json",
        }
        r = agent.client.post("/call", content=b"{}", headers=gateway)
        assert r.status_code == 200 and r.headers["fn-http-status"] == "200"
        assert r.headers["content-type"] == "application/json"
        body = json.loads(r.content)
        assert body["id"] == "call-42" and body["custom"] == "yes"
        assert body["token"] == "from-deployer"
        assert 0 < body["left_s"] <= 5  # Fn-Deadline bounds the call, not the 30 s timeout
        # an exception: the FDK answers 200 on the socket, the function's 500 in Fn-Http-Status
        r = agent.client.post("/call", content=b'{"fail": "no"}', headers=gateway)
        assert (r.status_code, r.headers["fn-http-status"]) == (200, "500")
        assert r.content == b"ValueError: no"
        # past Fn-Deadline: 504 on the socket itself (one of the FDK's enforced codes)
        near = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.3)
        r = agent.client.post(
            "/call", content=b'{"sleep": 2}', headers={**gateway, "Fn-Deadline": near.isoformat()}
        )
        assert (r.status_code, r.headers["fn-http-status"]) == (504, "504")
        # through the agent: Fn-Call-Id comes back and is what the function saw
        status, headers, out = agent.call(
            "POST", "http://localhost/t/app/echo", [("Content-Type", "application/json")], b"{}"
        )
        call_id = dict(headers)["Fn-Call-Id"]
        assert status == 200 and json.loads(out)["id"] == call_id
    finally:
        agent.stop()
    assert agent.proc is not None and agent.proc.poll() is not None
    assert not Path(agent.dir).exists()


@pytest.mark.xdist_group("adapter-servers")
def test_front_door_routes_the_trigger_and_stops_the_fdk_with_it(tmp_path: Path) -> None:
    fn = write_function(tmp_path / "src", "echo", CODE)
    out = build(fn, tmp_path / "out")
    port = free_port()
    cmd = [sys.executable, "-m", "tessera.platforms.fn.server", "--dir", str(out)]
    proc = subprocess.Popen([*cmd, "--app", "app", "--port", str(port)], env=env())
    fdk: list[int] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            deadline = time.monotonic() + 60
            while not ok(lambda: c.get("/version").status_code == 200):
                assert proc.poll() is None and time.monotonic() < deadline, "no front door"
                time.sleep(0.1)
            fdk = children(proc.pid)
            assert len(fdk) == 1  # the FDK process, serving func.py
            assert c.post("/t/app/other", json={}).status_code == 404
            r = c.post("/t/app/echo", json={}, headers={"x-custom": "hi"})
            assert r.status_code == 200 and r.json()["custom"] == "hi"
            assert r.json()["id"] == r.headers["fn-call-id"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        left = [pid for pid in fdk if pid_alive(pid)]
        for pid in left:
            kill_pid(pid)
    assert not left  # SIGTERM to the agent stops its FDK too


def children(pid: int) -> list[int]:
    return [
        int(c)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for c in (task / "children").read_text().split()
    ]
