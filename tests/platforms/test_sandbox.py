"""Hostile functions in the bubblewrap sandbox: each attack contained, the platform still serving.

Each hostile handler tries one thing and reports what happened (or dies trying); a benign
function is invoked after every attack and must still answer quickly. Runs only where
bubblewrap can create namespaces (CI installs it); elsewhere the module is skipped with
the reason `tessera up` would print.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx
import pytest

from tessera.platforms.local.sandbox import Limits, pids_root, probe
from tests.platforms.helpers import async_test, deploy, platform, write_function

pytestmark = pytest.mark.skipif(probe() is not None, reason=str(probe()))

ATTACKS = """
import os, socket

def _try(fn):
    try:
        fn()
        return "done"
    except Exception as e:
        return type(e).__name__

def _read(path):
    with open(path, "rb") as f:
        f.read(16)

def _write(path):
    with open(path, "w") as f:
        f.write("x")

def _connect(port):
    socket.create_connection(("127.0.0.1", port), timeout=2).close()

def handle(event, context):
    home, port = event["home"], event["port"]
    return {
        "shadow": _try(lambda: _read("/etc/shadow")),
        "other_code": _try(lambda: _read(event["victim"])),
        "state_db": _try(lambda: _read(os.path.join(home, "state.db"))),
        "admin_token": _try(lambda: _read(os.path.join(home, "admin.token"))),
        "write_code": _try(lambda: _write(os.path.join(os.getcwd(), "evil.py"))),
        "write_usr": _try(lambda: _write("/usr/evil")),
        "write_tmp": _try(lambda: _write("/tmp/ok")),
        "gateway_socket": _try(lambda: _connect(port)),
        "proc": _try(lambda: os.listdir("/proc")),
        "root_home": _try(lambda: _read("/root/.profile")),
        "signal_platform": _try(lambda: os.kill(event["platform_pid"], 0)),
    }
"""

BALLOON = """
def handle(event, context):
    blocks = []
    try:
        for _ in range(64):
            blocks.append(bytearray(256 * 1024 * 1024))  # up to 16 GiB
    except MemoryError:
        return {"stopped_at_mib": 256 * len(blocks)}
    return {"stopped_at_mib": None}
"""

SPIN = """
def handle(event, context):
    while True:
        pass
"""

BENIGN = """
def handle(event, context):
    return {"ok": True}
"""


async def _benign_answers(c: httpx.AsyncClient) -> float:
    t0 = time.perf_counter()
    r = await c.post("/function/benign", json={})
    assert r.status_code == 200 and r.json() == {"ok": True}
    return time.perf_counter() - t0


@async_test(180)
async def test_hostile_functions_are_contained(home: Path, src: Path) -> None:
    fns = [
        write_function(src, "attacker", ATTACKS),
        write_function(src, "netter", ATTACKS, network=True),
        write_function(src, "victim", BENIGN),
        write_function(src, "benign", BENIGN),
        write_function(src, "balloon", BALLOON, resources={"memory_mib": 128}),
        write_function(src, "spin", SPIN, timeout_s=2),
    ]
    async with platform(home, sandbox="bwrap") as (_p, c):
        for fn in fns:
            await deploy(c, fn)
        port = int(str(c.base_url).rsplit(":", 1)[1].strip("/"))
        victim = next((home / "functions" / "victim").glob("v*/main.py"))
        event = {"home": str(home.resolve()), "port": port, "victim": str(victim),
                 "platform_pid": os.getpid()}  # fmt: skip
        got = (await c.post("/function/attacker", json=event)).json()
        assert got["shadow"] in ("FileNotFoundError", "PermissionError"), got
        for key in ("other_code", "state_db", "admin_token", "root_home", "proc"):
            assert got[key] == "FileNotFoundError", (key, got)
        assert got["write_code"] in ("OSError", "PermissionError"), got  # read-only code
        assert got["write_usr"] in ("OSError", "PermissionError"), got
        assert got["write_tmp"] == "done", got  # a private /tmp is writable
        assert got["signal_platform"] == "ProcessLookupError", got  # own PID namespace
        assert got["gateway_socket"] in ("ConnectionRefusedError", "OSError"), got  # no network
        assert await _benign_answers(c) < 1.0

        net = (await c.post("/function/netter", json=event)).json()
        assert net["gateway_socket"] == "done", net  # `network: true` reaches the host
        assert net["state_db"] == "FileNotFoundError", net  # but still no platform files

        balloon = await c.post("/function/balloon", json={})
        assert balloon.status_code == 200, balloon.text
        stopped = balloon.json()["stopped_at_mib"]
        assert stopped is not None and stopped <= 1024, stopped  # 128 MiB + runtime allowance
        assert await _benign_answers(c) < 1.0

        t0 = time.perf_counter()
        spin = await c.post("/function/spin", json={})
        assert spin.status_code == 504 and time.perf_counter() - t0 < 10
        assert await _benign_answers(c) < 1.0


FORK_BOMB = """
import os, signal, time

def handle(event, context):
    kids, blocked = [], None
    try:
        for _ in range(event["max"]):
            pid = os.fork()
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            kids.append(pid)
    except OSError as e:
        blocked = type(e).__name__
    for k in kids:
        os.kill(k, signal.SIGKILL)
    for k in kids:
        os.waitpid(k, 0)
    return {"forked": len(kids), "blocked": blocked}
"""


@pytest.mark.skipif(pids_root() is None, reason="no writable pids cgroup on this host")
@async_test(180)
async def test_fork_bomb_stops_at_the_task_cap(home: Path, src: Path) -> None:
    cap = Limits().processes
    async with platform(home, sandbox="bwrap") as (_p, c):
        await deploy(c, write_function(src, "bomb", FORK_BOMB, timeout_s=60))
        await deploy(c, write_function(src, "benign", BENIGN))
        r = await c.post("/function/bomb", json={"max": 4 * cap})
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["blocked"] == "BlockingIOError", got  # fork failed with EAGAIN
        assert 0 < got["forked"] < cap, got
        assert await _benign_answers(c) < 1.0


def test_tessera_up_refuses_to_run_unsandboxed_unless_told(tmp_path: Path) -> None:
    """Without bubblewrap on PATH: one clear line and exit 2; --insecure-no-sandbox starts."""
    import subprocess
    import sys

    env = {"PATH": str(tmp_path), "TESSERA_HOME": str(tmp_path / "home")}  # no bwrap there
    cmd = [sys.executable, "-c",
           "from tessera.platforms.local import sandbox; sandbox.probe.cache_clear(); "
           "from tessera.cli.main import main; main(['up', '--port', '0'])"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "bubblewrap is not installed" in proc.stderr
    assert "--insecure-no-sandbox" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


ABSTRACT = """
import os, socket

HELD = []

def handle(event, context):
    with socket.create_server(("127.0.0.1", 0)) as srv:  # its own loopback works
        socket.create_connection(srv.getsockname(), timeout=2).close()
    if not HELD:  # an abstract unix socket name is per network namespace
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind("\\0tessera-sandbox-probe")
            HELD.append(s)
        except OSError as e:
            return {"pid": os.getpid(), "bound": type(e).__name__}
    return {"pid": os.getpid(), "bound": "yes"}
"""


@async_test(120)
async def test_instances_of_one_function_get_their_own_network(home: Path, src: Path) -> None:
    fn = write_function(src, "peek", ABSTRACT, scale={"min": 2, "max": 2}, concurrency=1)
    async with platform(home, sandbox="bwrap") as (_p, c):
        await deploy(c, fn)
        seen: dict[int, str] = {}
        for _ in range(40):
            if len(seen) >= 2:
                break
            rs = await asyncio.gather(*(c.post("/function/peek", json={}) for _ in range(4)))
            for r in rs:
                assert r.status_code == 200, r.text
                seen[r.json()["pid"]] = r.json()["bound"]
        assert len(seen) >= 2, seen  # two instances served
        assert set(seen.values()) == {"yes"}, seen  # the same name bound in each: separate
