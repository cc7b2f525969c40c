"""The local platform end to end, through its HTTP gateway on a loopback port.

Each test starts the platform in-process (`tessera.control.serve.running`) on a fresh home,
deploys function folders as .tar.gz, and checks what a user sees: status codes, bodies,
headers, invocation records, async results, scaling decisions and persistence across restarts.
The `home` fixture fails a test that leaves a zygote or worker process behind.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tessera.functions.package import pack_dir
from tessera.platforms.local.sandbox import probe
from tests.platforms.helpers import (
    ECHO,
    LOCAL,
    async_test,
    deploy,
    deploy_raw,
    describe,
    invoke,
    kill_pid,
    pid_alive,
    platform,
    platform_pids,
    record_of,
    records,
    settle,
    tar_files,
    wait_async_done,
    wait_for,
    write_function,
)

FIXED_2 = {"kind": "fixed", "replicas": 2}


def _alive_workers(p: Any, name: str) -> list[int]:
    return sorted(w.pid for w in p.platform.pools[name].active())


# --- deploy and sync invocations ----------------------------------------------------------------
@async_test(60)
async def test_deploy_then_sync_invoke_echoes_json(home: Path, src: Path) -> None:
    fn = write_function(src, "echo", ECHO)
    async with platform(home) as (_p, c):
        assert await deploy(c, fn) == {"name": "echo", "version": 1}

        r = await invoke(c, "echo", {"a": [1, 2], "b": "x"})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        assert body["echo"] == {"a": [1, 2], "b": "x"}
        assert body["function"] == "echo" and body["version"] == 1
        inv = r.headers["x-tessera-invocation"]
        assert body["invocation"] == inv  # the handler's context carries the record id

        rec = await record_of(c, inv, "echo")
        assert rec["status"] == "ok" and rec["http_status"] == 200
        assert rec["kind"] == "sync" and rec["version"] == 1 and rec["function"] == "echo"
        assert rec["instance"] == body["pid"]
        assert rec["arrival_s"] <= rec["start_s"] <= rec["end_s"]

        listed = (await c.get("/system/functions")).json()
        assert [f["name"] for f in listed] == ["echo"]
        health = (await c.get("/healthz")).json()
        assert health == {"status": "ok", "functions": 1}


@async_test(60)
async def test_raw_bytes_none_and_response_objects_map_to_http(home: Path, src: Path) -> None:
    fn = write_function(src, "echo", ECHO)
    async with platform(home) as (_p, c):
        await deploy(c, fn)
        r = await c.post(
            "/function/echo", content=b"\x00abc\xff", headers={"content-type": "text/plain"}
        )
        assert r.status_code == 200
        assert r.content == b"\xffcba\x00"
        assert r.headers["content-type"] == "application/octet-stream"

        r = await invoke(c, "echo", {"none": True})
        assert r.status_code == 204 and r.content == b""

        r = await invoke(
            c,
            "echo",
            {"respond": {"body": {"made": True}, "status": 201, "headers": {"x-custom": "yes"}}},
        )
        assert r.status_code == 201
        assert r.headers["x-custom"] == "yes"
        assert r.json() == {"made": True}
        assert "x-tessera-invocation" in r.headers

        r = await c.post("/function/missing", json={})
        assert r.status_code == 404
        r = await c.delete("/function/echo")
        assert r.status_code == 405
        assert (await c.get("/no/such/route")).status_code == 404


@async_test(60)
async def test_lifecycle_hooks_start_ready_stop(home: Path, src: Path, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    code = """
    import json
    import os
    from pathlib import Path

    STATE = {"ready_calls": 0}


    def start(config):
        STATE["config"] = config
        STATE["start_pid"] = os.getpid()


    def ready():
        STATE["ready_calls"] += 1
        return True


    def stop():
        out = Path(os.environ["MARKER_DIR"]) / f"stopped-{os.getpid()}"
        out.write_text(json.dumps(STATE))


    def handle(event, context):
        return {**STATE, "pid": os.getpid()}
    """
    fn = write_function(src, "hooks", code, env={"MARKER_DIR": str(markers)})

    async def stopped(pid: int) -> dict[str, Any]:
        path = markers / f"stopped-{pid}"

        async def probe() -> bool:
            return path.exists() and bool(path.read_text())

        await wait_for(probe, bool, 10, f"stop() of worker {pid}")
        loaded: dict[str, Any] = json.loads(path.read_text())
        return loaded

    async with platform(home) as (_p, c):
        await deploy(c, fn)
        r = await invoke(c, "hooks", {})
        assert r.status_code == 200, r.text
        state = r.json()
        assert state["config"] == {}  # start(config) ran before the first request
        assert state["start_pid"] == state["pid"]  # ... in the worker itself
        assert state["ready_calls"] == 1
        first = state["pid"]
        await settle(c, "hooks")
        assert (await c.delete("/system/functions/hooks")).status_code == 200
        assert (await stopped(first))["ready_calls"] == 1  # stop() ran when it was removed

        await deploy(c, fn)
        r = await invoke(c, "hooks", {})
        assert r.status_code == 200, r.text
        second = r.json()["pid"]
        assert second != first
    await stopped(second)  # ... and when the platform shut down


@async_test(60)
async def test_start_hook_failure_answers_503_with_the_reason(home: Path, src: Path) -> None:
    code = """
    def start(config):
        raise RuntimeError("database unreachable")


    def handle(event, context):
        return "never"
    """
    fn = write_function(src, "badstart", code, timeout_s=10)
    async with platform(home) as (_p, c):
        await deploy(c, fn)  # the module imports fine; start() runs per instance
        r = await invoke(c, "badstart", {})
        assert r.status_code == 503, r.text
        assert "database unreachable" in r.text
        rec = await record_of(c, r.headers["x-tessera-invocation"], "badstart")
        assert rec["status"] == "error" and rec["http_status"] == 503


# --- failures inside an invocation ---------------------------------------------------------------
@async_test(60)
async def test_handler_exception_is_500_and_an_error_record(home: Path, src: Path) -> None:
    fn = write_function(src, "echo", ECHO)
    # one fixed instance: under the KPA the first request asks for two (1 in flight / 0.7
    # target) and the scale back to one may retire the instance that raised, by idleness
    async with platform(home, autoscaler={"kind": "fixed", "replicas": 1}) as (p, c):
        await deploy(c, fn)
        r = await invoke(c, "echo", {"raise": "boom"})
        assert r.status_code == 500
        assert r.text == "ValueError: boom"
        rec = await record_of(c, r.headers["x-tessera-invocation"], "echo")
        assert rec["status"] == "error" and rec["http_status"] == 500
        assert rec["error"] == "ValueError: boom"

        ok = await invoke(c, "echo", {"after": 1})
        assert ok.status_code == 200 and ok.json()["echo"] == {"after": 1}
        after = await record_of(c, ok.headers["x-tessera-invocation"], "echo")
        assert after["instance"] == rec["instance"]  # an exception does not cost the instance
        assert pid_alive(rec["instance"])
        assert rec["instance"] in _alive_workers(p, "echo")


@async_test(60)
async def test_timeout_is_504_kills_the_worker_and_the_function_still_serves(
    home: Path, src: Path
) -> None:
    fn = write_function(src, "echo", ECHO, timeout_s=0.5)
    async with platform(home) as (_p, c):
        await deploy(c, fn)
        warm = await invoke(c, "echo", {"warm": 1})
        assert warm.status_code == 200
        r = await invoke(c, "echo", {"sleep": 3})
        assert r.status_code == 504, r.text
        rec = await record_of(c, r.headers["x-tessera-invocation"], "echo")
        assert rec["status"] == "timeout" and rec["http_status"] == 504
        hung = rec["instance"]
        assert hung > 0

        async def gone() -> bool:
            return not pid_alive(hung)

        await wait_for(gone, bool, 5, f"timed-out worker {hung} to be killed")
        for i in range(3):
            after = await invoke(c, "echo", {"i": i})
            assert after.status_code == 200, after.text
            assert after.json()["pid"] != hung
        assert len(await records(c, "echo")) == 5


@async_test(60)
async def test_worker_exit_mid_request_is_502_crash_and_later_calls_succeed(
    home: Path, src: Path
) -> None:
    fn = write_function(src, "echo", ECHO)
    async with platform(home) as (_p, c):
        await deploy(c, fn)
        r = await invoke(c, "echo", {"exit": 1})
        assert r.status_code == 502, r.text
        rec = await record_of(c, r.headers["x-tessera-invocation"], "echo")
        assert rec["status"] == "crash" and rec["http_status"] == 502
        for i in range(3):
            after = await invoke(c, "echo", {"i": i})
            assert after.status_code == 200, after.text
            assert after.json()["pid"] != rec["instance"]
        rows = await records(c, "echo")
        assert len(rows) == 4
        assert sorted(x["status"] for x in rows) == ["crash", "ok", "ok", "ok"]


@async_test(60)
async def test_sigkilled_idle_worker_is_replaced_up_to_the_desired_count(
    home: Path, src: Path
) -> None:
    fn = write_function(src, "echo", ECHO)
    async with platform(home, autoscaler=FIXED_2) as (p, c):
        await deploy(c, fn)

        async def instances() -> dict[str, Any]:
            return await describe(c, "echo")

        await wait_for(instances, lambda d: d["instances"] == 2, 15, "2 instances")
        before = _alive_workers(p, "echo")
        victim = before[0]
        os.kill(victim, signal.SIGKILL)

        async def replaced() -> list[int]:
            return _alive_workers(p, "echo")

        after = await wait_for(
            replaced, lambda pids: len(pids) == 2 and victim not in pids, 15, "a replacement"
        )
        assert before[1] in after
        d = await describe(c, "echo")
        assert d["instances"] == 2 and d["cold_starts"] == 3
        for i in range(4):
            r = await invoke(c, "echo", {"i": i})
            assert r.status_code == 200 and r.json()["pid"] != victim
        assert not pid_alive(victim)


# --- deploy, redeploy, delete -----------------------------------------------------------------
BAD_DEPLOYS: dict[str, tuple[dict[str, str | bytes] | bytes, str]] = {
    "missing handler file": ({"function.yaml": "name: echo\n"}, "main.py"),
    "bad yaml": ({"function.yaml": "name: [echo\n", "main.py": ECHO}, "YAML"),
    "unknown key": ({"function.yaml": "name: echo\nbogus: 1\n", "main.py": ECHO}, "bogus"),
    "import raises": (
        {"function.yaml": "name: echo\n", "main.py": "raise RuntimeError('import-time failure')\n"},
        "import-time failure",
    ),
    "handler missing": (
        {"function.yaml": "name: echo\n", "main.py": "def other(e, c):\n    return 1\n"},
        "main.handle",
    ),
    "invalid name": ({"function.yaml": "name: Bad_Name\n", "main.py": ECHO}, "name"),
    "scale max < min": (
        {"function.yaml": "name: echo\nscale: {min: 3, max: 2}\n", "main.py": ECHO},
        "scale.max",
    ),
    "not a mapping": ({"function.yaml": "- echo\n", "main.py": ECHO}, "mapping"),
    "not a tar": (b"this is not a gzipped tar", "archive"),
}


@async_test(90)
async def test_bad_deploys_are_refused_and_the_previous_version_keeps_serving(
    home: Path, src: Path
) -> None:
    fn = write_function(src, "echo", ECHO)
    async with platform(home) as (_p, c):
        await deploy(c, fn)
        for case, (files, mentions) in BAD_DEPLOYS.items():
            archive = files if isinstance(files, bytes) else tar_files(files)
            r = await deploy_raw(c, archive)
            assert r.status_code == 400, f"{case}: {r.status_code} {r.text}"
            assert r.text.startswith("deploy refused: "), f"{case}: {r.text}"
            assert mentions in r.text, f"{case}: {r.text!r} should mention {mentions!r}"
            assert (await describe(c, "echo"))["version"] == 1, case
            ok = await invoke(c, "echo", {"case": case})
            assert ok.status_code == 200, f"{case}: {ok.text}"
            assert ok.json()["version"] == 1
        listed = [f["name"] for f in (await c.get("/system/functions")).json()]
        assert listed == ["echo"]
        assert sorted(p.name for p in (home / "functions").iterdir()) == ["echo"]
        assert sorted(p.name for p in (home / "functions" / "echo").iterdir()) == ["v1"]
        assert await deploy(c, fn) == {"name": "echo", "version": 2}  # numbering did not skip


HANGS = "import time\ntime.sleep(3600)\n\ndef handle(event, context):\n    return 1\n"


@pytest.mark.parametrize("sandbox", ["off", "bwrap"])
@async_test(60)
async def test_a_deploy_whose_import_hangs_is_refused_and_its_template_ended(
    home: Path, src: Path, sandbox: str
) -> None:
    """A refusal naming the time allowed (it read "did not start: " with nothing after), no
    process left importing (a sandboxed template was kept until the platform stopped) and
    no folder left for a function that was never deployed."""
    if sandbox == "bwrap" and probe() is not None:
        pytest.skip(str(probe()))
    async with platform(home, sandbox=sandbox) as (p, c):
        p.platform.start_timeout_s = 2.0
        r = await deploy_raw(c, tar_files({"function.yaml": "name: hangs\n", "main.py": HANGS}))
        assert r.status_code == 400, r.text
        assert "hangs did not load its handler within 2s" in r.text, r.text
        marker = str(home / "functions" / "hangs")

        async def left() -> list[int]:
            return platform_pids(marker)

        await wait_for(left, lambda pids: not pids, 10, "the hung template to end")
        assert not (home / "functions" / "hangs").exists()
        assert (await c.get("/system/functions/hangs")).status_code == 404
        assert await deploy(c, write_function(src, "hangs", ECHO)) == {
            "name": "hangs",
            "version": 1,
        }


@async_test(60)
async def test_redeploy_serves_the_new_code_as_version_2(home: Path, src: Path) -> None:
    v1 = write_function(
        src, "app", "import os\ndef handle(e, c):\n    return {'v': 1, 'pid': os.getpid()}\n"
    )
    v2 = write_function(
        src,
        "app",
        "import os\ndef handle(e, c):\n    return {'v': 2, 'pid': os.getpid()}\n",
        folder="app-v2",
    )
    async with platform(home) as (_p, c):
        await deploy(c, v1)
        r = await invoke(c, "app", {})
        assert r.json()["v"] == 1
        old_pid = r.json()["pid"]
        assert await deploy(c, v2) == {"name": "app", "version": 2}
        assert (await describe(c, "app"))["version"] == 2
        for _ in range(3):
            r = await invoke(c, "app", {})
            assert r.status_code == 200 and r.json()["v"] == 2
            rec = await record_of(c, r.headers["x-tessera-invocation"], "app")
            assert rec["version"] == 2

        async def old_gone() -> bool:
            return not pid_alive(old_pid)

        await wait_for(old_gone, bool, 10, "the v1 worker to stop")


@async_test(60)
async def test_request_in_flight_during_redeploy_completes_on_the_old_version(
    home: Path, src: Path
) -> None:
    fn = write_function(src, "echo", ECHO)
    async with platform(home) as (_p, c):
        await deploy(c, fn)
        assert (await invoke(c, "echo", {})).status_code == 200
        slow = asyncio.create_task(invoke(c, "echo", {"sleep": 1.0}))
        await asyncio.sleep(0.2)
        assert (await deploy(c, fn))["version"] == 2
        r = await slow
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 1
        assert (await invoke(c, "echo", {})).json()["version"] == 2


@async_test(60)
async def test_delete_removes_the_function(home: Path, src: Path) -> None:
    fn = write_function(src, "echo", ECHO)
    async with platform(home) as (_p, c):
        await deploy(c, fn)
        assert (await invoke(c, "echo", {})).status_code == 200
        r = await c.delete("/system/functions/echo")
        assert r.status_code == 200 and r.json() == {"deleted": "echo"}
        assert (await invoke(c, "echo", {})).status_code == 404
        assert (await c.get("/system/functions/echo")).status_code == 404
        assert (await c.post("/async-function/echo", json={})).status_code == 404
        assert (await c.delete("/system/functions/echo")).status_code == 404
        assert (await c.get("/system/functions")).json() == []
        assert len(await records(c, "echo")) == 1  # records outlive the function


@async_test(150)
async def test_delete_while_instances_start_then_redeploy(home: Path, src: Path) -> None:
    """Deleting a function while its instances start, then deploying it again.

    The redeploy must succeed promptly and serve; the deleted version's pending instance starts
    must end (not hang) without unhandled exceptions.
    """
    fn = write_function(src, "many", ECHO, scale={"min": 0, "max": 20})
    problems: list[str] = []
    async with platform(home, autoscaler={"kind": "fixed", "replicas": 20}) as (p, c):
        await deploy(c, fn)

        async def now() -> dict[str, Any]:
            return await describe(c, "many")

        await wait_for(
            now, lambda d: d["instances"] >= 1 and d["starting"] > 0, 15, "scale-up", 0.005
        )
        spawns = list(p.platform.pools["many"]._tasks)  # instance starts in flight
        assert (await c.delete("/system/functions/many")).status_code == 200
        try:
            r = await asyncio.wait_for(deploy_raw(c, pack_dir(fn)), 10)
            if r.status_code != 201:
                problems.append(f"redeploy answered {r.status_code}: {r.text}")
            elif (await invoke(c, "many", {"x": 1})).status_code != 200:
                problems.append("the redeployed function does not answer")
        except TimeoutError:
            problems.append("redeploy after delete-during-start did not answer within 10 s")
        await asyncio.wait(spawns, timeout=5)
        stuck = [t.get_name() for t in spawns if not t.done()]
        if stuck:
            problems.append(f"{len(stuck)} of {len(spawns)} instance starts still pending")
        died = {
            repr(t.exception())
            for t in spawns
            if t.done() and not t.cancelled() and t.exception() is not None
        }
        if died:
            problems.append(f"instance starts died with {died}")
    assert not problems, problems


# --- async invocations ---------------------------------------------------------------------------
@async_test(60)
async def test_async_invoke_is_acknowledged_then_polled_to_done(home: Path, src: Path) -> None:
    fn = write_function(src, "echo", ECHO)
    async with platform(home) as (_p, c):
        await deploy(c, fn)
        r = await c.post("/async-function/echo", json={"n": 7})
        assert r.status_code == 202, r.text
        ack = r.json()
        inv = ack["id"]
        assert ack["status_url"] == f"/system/async/{inv}"
        done = await wait_async_done(c, inv)
        assert done["function"] == "echo" and done["attempts"] == 1
        assert done["result_status"] == 200
        result = json.loads(done["result"]["text"])
        assert result["echo"] == {"n": 7} and result["invocation"] == inv
        rec = await record_of(c, inv, "echo")
        assert rec["kind"] == "async" and rec["status"] == "ok"

        r = await c.post("/async-function/echo", json={"raise": "later"})
        failed = await wait_async_done(c, r.json()["id"])
        assert failed["result_status"] == 500
        assert failed["result"] == {"text": "ValueError: later"}

        assert (await c.post("/async-function/nope", json={})).status_code == 404
        assert (await c.get("/system/async/" + uuid.uuid4().hex)).status_code == 404


class _CallbackSink:
    """A one-route HTTP/1.1 server on loopback that keeps every request it receives."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[str, dict[str, str], bytes]] = asyncio.Queue()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> _CallbackSink:
        self.server = await asyncio.start_server(self._serve, LOCAL, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            lines = head.decode("latin-1").split("\r\n")
            target = lines[0].split(" ")[1]
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            body = await asyncio.wait_for(
                reader.readexactly(int(headers.get("content-length", "0"))), 10
            )
            await self.received.put((target, headers, body))
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            await writer.drain()
        finally:
            writer.close()

    async def next(self, timeout_s: float = 15) -> tuple[str, dict[str, str], bytes]:
        return await asyncio.wait_for(self.received.get(), timeout_s)


@async_test(60)
async def test_async_result_is_posted_to_the_callback_url(home: Path, src: Path) -> None:
    fn = write_function(src, "echo", ECHO)
    async with platform(home) as (_p, c), _CallbackSink() as sink:
        await deploy(c, fn)
        url = f"http://{LOCAL}:{sink.port}/hook?x=1"
        r = await c.post("/async-function/echo", json={"n": 1}, headers={"X-Callback-Url": url})
        assert r.status_code == 202
        inv = r.json()["id"]
        target, headers, body = await sink.next()
        assert target == "/hook?x=1"
        assert headers["x-tessera-invocation"] == inv
        assert headers["x-tessera-status"] == "200"
        assert json.loads(body)["echo"] == {"n": 1}

        r = await c.post(
            "/async-function/echo", json={"raise": "cb"}, headers={"X-Callback-Url": url}
        )
        _, headers, body = await sink.next()
        assert headers["x-tessera-invocation"] == r.json()["id"]
        assert headers["x-tessera-status"] == "500"
        assert body == b"ValueError: cb"
        assert (await wait_async_done(c, inv))["result_status"] == 200
        assert sink.received.empty()  # one callback per invocation


# --- cold starts and autoscaling -----------------------------------------------------------------
@async_test(60)
async def test_first_call_of_a_scale_from_zero_function_is_a_flagged_cold_start(
    home: Path, src: Path
) -> None:
    # max 1: the default KPA may start a second instance after the first request, and the
    # second call could then be that instance's (cold) first one
    fn = write_function(src, "echo", ECHO, scale={"min": 0, "max": 1})
    async with platform(home) as (_p, c):
        await deploy(c, fn)
        d = await describe(c, "echo")
        assert d["instances"] == 0 and d["cold_starts"] == 0
        first = await invoke(c, "echo", {})
        assert first.status_code == 200
        assert float(first.headers["x-tessera-cold-start-ms"]) > 0
        rec = await record_of(c, first.headers["x-tessera-invocation"], "echo")
        assert rec["cold"] is True and rec["cold_start_s"] > 0

        second = await invoke(c, "echo", {})
        assert second.status_code == 200
        assert "x-tessera-cold-start-ms" not in second.headers
        rec2 = await record_of(c, second.headers["x-tessera-invocation"], "echo")
        assert rec2["cold"] is False and rec2["cold_start_s"] == 0
        # KPA's 70% target utilisation may wake two instances for one request; either way
        # the second call ran warm.
        assert (await describe(c, "echo"))["cold_starts"] >= 1


@async_test(90)
async def test_kpa_scales_up_under_a_burst_and_back_to_zero_when_idle(
    home: Path, src: Path
) -> None:
    fn = write_function(src, "echo", ECHO, scale={"min": 0, "max": 6}, concurrency=1)
    kpa = {"kind": "kpa", "stable_window_s": 2, "scale_to_zero_grace_s": 0}
    async with platform(home, autoscaler=kpa, interval_s=0.25) as (_p, c):
        await deploy(c, fn)
        peak = 0
        stop = asyncio.Event()

        async def watch() -> None:
            nonlocal peak
            while not stop.is_set():
                d = await describe(c, "echo")
                peak = max(peak, d["instances"])
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch())
        made = 0
        for _wave in range(4):
            rs = await asyncio.gather(*(invoke(c, "echo", {"sleep": 0.3}) for _ in range(12)))
            made += len(rs)
            assert all(r.status_code == 200 for r in rs), [r.text for r in rs]
        stop.set()
        await watcher
        assert peak > 1, "the burst never ran on more than one instance"
        assert (await describe(c, "echo"))["cold_starts"] > 1

        async def now() -> dict[str, Any]:
            return await describe(c, "echo")

        await wait_for(
            now, lambda d: d["instances"] == 0 and d["starting"] == 0, 30, "scale to zero"
        )
        decisions = (await c.get("/system/decisions")).json()
        mine = [d for d in decisions if d["function"] == "echo"]
        assert mine, decisions
        assert all(isinstance(d["reason"], str) and d["reason"] for d in mine)
        assert any(d["replicas"] > 1 for d in mine)
        assert mine[-1]["replicas"] == 0
        assert all(d["reason"].startswith(("stable", "panic")) for d in mine)
        assert [d["t"] for d in mine] == sorted(d["t"] for d in mine)

        rows = await records(c, "echo")
        assert len(rows) == made
        assert {r["status"] for r in rows} == {"ok"}


# --- persistence -----------------------------------------------------------------------------
@async_test(90)
async def test_functions_and_records_survive_a_restart(home: Path, src: Path) -> None:
    fn = write_function(src, "echo", ECHO)
    async with platform(home) as (_p, c):
        await deploy(c, fn)
        first = await invoke(c, "echo", {"before": True})
        assert first.status_code == 200
        await settle(c, "echo")
    async with platform(home) as (_p, c):
        d = await describe(c, "echo")
        assert d["version"] == 1
        r = await invoke(c, "echo", {"after": True})
        assert r.status_code == 200 and r.json()["echo"] == {"after": True}
        ids = {x["id"] for x in await records(c, "echo")}
        assert ids == {first.headers["x-tessera-invocation"], r.headers["x-tessera-invocation"]}
        assert (await deploy(c, fn))["version"] == 2


@async_test(120)
async def test_async_invocations_acknowledged_before_a_restart_complete_once(
    home: Path, src: Path
) -> None:
    fn = write_function(src, "echo", ECHO, scale={"min": 0, "max": 2}, concurrency=1, timeout_s=60)
    ids: list[str] = []
    async with platform(home) as (_p, c):
        await deploy(c, fn)
        for i in range(12):
            r = await c.post("/async-function/echo", json={"sleep": 0.3, "i": i})
            assert r.status_code == 202
            ids.append(r.json()["id"])
    async with platform(home) as (_p, c):
        results = [await wait_async_done(c, inv, 60) for inv in ids]
        assert [s["result_status"] for s in results] == [200] * len(ids), results
        assert [json.loads(s["result"]["text"])["echo"]["i"] for s in results] == list(range(12))
        rows = await records(c, "echo")
        by_id: dict[str, int] = {}
        for row in rows:
            by_id[row["id"]] = by_id.get(row["id"], 0) + 1
        assert by_id == dict.fromkeys(ids, 1)
        assert {row["status"] for row in rows} == {"ok"}


GATEWAY_SCRIPT = """
import asyncio
import sys
from pathlib import Path

from tessera.control.serve import running


async def main() -> None:
    async with running(Path(sys.argv[1]), autoscaler={"kind": "kpa"}, interval_s=0.25) as (_, url):
        print(url, flush=True)
        await asyncio.Event().wait()


asyncio.run(main())
"""


@async_test(120)
async def test_async_invocations_survive_a_killed_gateway(home: Path, src: Path) -> None:
    """SIGKILL the whole gateway process with work claimed; a new one finishes every item."""
    fn = write_function(src, "echo", ECHO, scale={"min": 0, "max": 1}, concurrency=1, timeout_s=60)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", GATEWAY_SCRIPT, str(home), stdout=asyncio.subprocess.PIPE
    )
    ids: list[str] = []
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert url.startswith(f"http://{LOCAL}:"), url
        token = (home / "admin.token").read_text().strip()
        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, timeout=30, headers=auth) as c:
            await deploy(c, fn)
            for i in range(6):
                r = await c.post("/async-function/echo", json={"sleep": 1.0, "i": i})
                assert r.status_code == 202
                ids.append(r.json()["id"])

            async def first_running() -> str:
                return str((await c.get(f"/system/async/{ids[0]}")).json()["status"])

            await wait_for(first_running, lambda s: s in ("running", "done"), 15, "a claim")
    finally:
        kill_pid(proc.pid)
        await asyncio.wait_for(proc.wait(), 15)
    async with platform(home) as (_p, c):
        results = [await wait_async_done(c, inv, 60) for inv in ids]
        assert [s["result_status"] for s in results] == [200] * len(ids), results
        rows = await records(c, "echo")
        assert sorted(r["id"] for r in rows) == sorted(ids)
        assert {r["status"] for r in rows} == {"ok"}


# --- observability -------------------------------------------------------------------------------
@async_test(60)
async def test_metrics_count_invocations_by_outcome(home: Path, src: Path) -> None:
    fn = write_function(src, "echo", ECHO)
    # one instance: the default KPA may start a second one between reading /metrics and the
    # description, and the two counts then differ (seen under parallel test load)
    async with platform(home, autoscaler={"kind": "fixed", "replicas": 1}) as (_p, c):
        await deploy(c, fn)
        for _ in range(3):
            assert (await invoke(c, "echo", {})).status_code == 200
        assert (await invoke(c, "echo", {"raise": "x"})).status_code == 500
        r = await c.get("/metrics")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        lines = r.text.splitlines()
        assert "# TYPE tessera_invocations_total counter" in lines
        assert 'tessera_invocations_total{function="echo",status="ok"} 3' in lines
        assert 'tessera_invocations_total{function="echo",status="error"} 1' in lines
        cold = (await describe(c, "echo"))["cold_starts"]
        assert cold >= 1
        assert f'tessera_cold_starts_total{{function="echo"}} {cold}' in lines
        assert any(line.startswith('tessera_instances{function="echo"} ') for line in lines)


@async_test(60)
async def test_logs_hold_what_the_handler_printed_and_logged(home: Path, src: Path) -> None:
    fn = write_function(src, "echo", ECHO)
    marker = f"marker-{uuid.uuid4().hex}"
    async with platform(home) as (_p, c):
        await deploy(c, fn)
        assert (await invoke(c, "echo", {"print": marker})).status_code == 200
        assert (await invoke(c, "echo", {"raise": "logged-failure"})).status_code == 500

        async def tail() -> str:
            r = await c.get("/system/logs/echo", params={"lines": 200})
            return r.text if r.status_code == 200 else ""

        text = await wait_for(
            tail,
            lambda t: f"{marker}\n" in t and f"logger says {marker}" in t and "logged-failure" in t,
            10,
            "the handler's output in the log",
        )
        assert "Traceback" in text  # the failure is logged with its traceback
        r = await c.get("/system/logs/echo", params={"lines": 1})
        assert r.status_code == 200 and len(r.text.strip().splitlines()) <= 1
        assert (await c.get("/system/logs/nothing")).status_code == 404
        assert (await c.get("/system/logs/echo", params={"lines": "x"})).status_code == 400


@async_test(60)
async def test_async_backlog_beyond_capacity_runs_every_invocation(home: Path, src: Path) -> None:
    """An acknowledged async invocation "will run (at least once)" (LocalPlatform.enqueue).

    Eight 0.3 s invocations on one instance need 2.4 s; each may take 1 s once it runs. Queued
    work must wait in the durable queue rather than time out without ever running.
    """
    fn = write_function(src, "echo", ECHO, scale={"min": 1, "max": 1}, concurrency=1, timeout_s=1.0)
    async with platform(home) as (_p, c):
        await deploy(c, fn)
        ids = []
        for i in range(8):
            r = await c.post("/async-function/echo", json={"sleep": 0.3, "i": i})
            assert r.status_code == 202
            ids.append(r.json()["id"])
        results = [await wait_async_done(c, inv, 30) for inv in ids]
        outcome = {
            inv: (s["result_status"], (s["result"] or {}).get("text"))
            for inv, s in zip(ids, results, strict=True)
        }
        failed = {k: v for k, v in outcome.items() if v[0] != 200}
        assert not failed, (
            f"{len(failed)} of {len(ids)} acknowledged async invocations failed: {failed}"
        )


@async_test(90)
async def test_shutdown_during_a_long_async_invocation_is_clean(
    home: Path, src: Path, tmp_path: Path
) -> None:
    """Stopping the platform while an async invocation runs long: no unhandled exception, no
    process left behind, and the invocation still completes (after the next start)."""
    flags = tmp_path / "flags"
    flags.mkdir()
    code = """
    import os
    import time
    from pathlib import Path


    def handle(event, context):
        first = Path(os.environ["FLAGS"]) / "first-attempt"
        if not first.exists():
            first.write_text(str(os.getpid()))
            time.sleep(300)  # hung, as far as the platform can tell
        return {"attempt": "later", "pid": os.getpid()}
    """
    fn = write_function(
        src, "long", code, scale={"min": 0, "max": 1}, timeout_s=600, env={"FLAGS": str(flags)}
    )
    caught: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: caught.append(ctx))
    problems: list[str] = []
    async with platform(home) as (p, c):
        await deploy(c, fn)
        r = await c.post("/async-function/long", json={})
        assert r.status_code == 202
        inv = r.json()["id"]

        async def started() -> bool:
            return (flags / "first-attempt").exists() and bool(
                (flags / "first-attempt").read_text()
            )

        await wait_for(started, bool, 15, "the first attempt to start")
        hung = int((flags / "first-attempt").read_text())
        runners = list(p.platform._async_tasks)  # the task running the async invocation
    if runners:
        await asyncio.wait(runners, timeout=5)
    gc.collect()
    await asyncio.sleep(0)
    unhandled = [f"{ctx.get('message')}: {ctx.get('exception')!r}" for ctx in caught]
    unhandled += [
        f"async runner {t.get_name()} died: {t.exception()!r}"
        for t in runners
        if t.done() and not t.cancelled() and t.exception() is not None
    ]
    if unhandled:
        problems.append(f"unhandled exceptions during shutdown: {unhandled}")

    async def hung_gone() -> bool:
        return not pid_alive(hung)

    try:
        await wait_for(hung_gone, bool, 5, "the hung worker to end")
    except AssertionError:
        problems.append(f"worker {hung} still running its handler after the platform stopped")
        kill_pid(hung)

    async with platform(home) as (_p, c):
        done = await wait_async_done(c, inv, 30)
        if done["result_status"] != 200:
            problems.append(f"async result after restart: {done}")
        rows = await records(c, "long")
        if [row["id"] for row in rows] != [inv]:
            problems.append(f"records: {rows}")
    assert not problems, problems


@async_test(60)
async def test_request_headers_reach_the_handlers_context(home: Path, src: Path) -> None:
    code = """
def handle(event, context):
    return {"probe": context.headers.get("x-probe"), "ct": context.headers.get("content-type")}
"""
    fn = write_function(src, "hdr", code)
    async with platform(home) as (_p, c):
        await deploy(c, fn)
        r = await c.post(
            "/function/hdr",
            content=b"{}",
            headers={"X-Probe": "p1", "content-type": "application/json"},
        )
        assert r.status_code == 200, r.text
        assert r.json() == {"probe": "p1", "ct": "application/json"}
