"""Hostile functions in the bubblewrap sandbox: each attack contained, the platform still serving.

Each hostile handler tries one thing and reports what happened (or dies trying); a benign
function is invoked after every attack and must still answer quickly. Runs only where
bubblewrap can create namespaces (CI installs it); elsewhere the module is skipped with
the reason `tessera up` would print.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tessera.platforms.local.sandbox import Limits, pids_root, probe
from tests.platforms.helpers import (
    ECHO,
    async_test,
    deploy,
    invoke,
    platform,
    record_of,
    wait_for,
    write_function,
)

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
        "write_dev": _try(lambda: _write("/dev/evil")),
        "write_shm": _try(lambda: _write("/dev/shm/ok")),
        "remount_code": _errno_of(lambda: _remount(os.getcwd())),
        "remount_usr": _errno_of(lambda: _remount("/usr")),
        "new_userns": _in_child(_userns_attack),
        "template_userns": TEMPLATE_USERNS,
        "capabilities": _capabilities(),
    }

import ctypes, errno, struct

_libc = ctypes.CDLL(None, use_errno=True)
MS_REMOUNT, MS_BIND = 0x20, 0x1000

def _errno_of(fn):
    try:
        fn()
        return "done"
    except OSError as e:
        return errno.errorcode.get(e.errno, type(e).__name__)

def _remount(path):
    # with CAP_SYS_ADMIN in its namespace a process may drop a bind's read-only flag
    if _libc.mount(None, path.encode(), None, ctypes.c_ulong(MS_REMOUNT | MS_BIND), None):
        raise OSError(ctypes.get_errno(), "remount")
    _write(os.path.join(path, "evil.py"))

def _userns_attack():
    # a user namespace of its own gives capabilities there; the inherited mounts stay locked
    if _libc.unshare(0x10000000 | 0x00020000):
        return "unshare:" + errno.errorcode.get(ctypes.get_errno(), "?")
    gained = any(_capabilities())
    return f"caps={gained} remount={_errno_of(lambda: _remount(os.getcwd()))}"

def _in_child(fn):
    # unshare needs a single-threaded process: a forked child
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out = fn()
        except BaseException as e:
            out = repr(e)
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    out = os.read(r, 1000).decode()
    os.close(r)
    os.waitpid(pid, 0)
    return out

def _capabilities():
    header = ctypes.create_string_buffer(struct.pack("Ii", 0x20080522, 0))
    data = ctypes.create_string_buffer(24)
    _libc.capget(header, data)
    return list(struct.unpack("6I", data.raw))  # effective, permitted, inheritable x 2 words

# at import, in the template (whose uid is mapped, so it may create a user namespace)
TEMPLATE_USERNS = _in_child(_userns_attack)
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
        assert got["capabilities"] == [0] * 6, got  # none, also when the platform is root
        assert got["remount_code"] == got["remount_usr"] == "EPERM", got  # binds stay read-only
        # capabilities in a user namespace of its own do not unlock the inherited mounts
        assert got["template_userns"] == "caps=True remount=EPERM", got
        # an instance's uid is unmapped in its namespace: it cannot even create one
        assert got["new_userns"] in ("caps=True remount=EPERM", "unshare:EPERM"), got
        assert not list((home / "functions" / "attacker").glob("v*/evil.py"))
        assert got["write_dev"] in ("OSError", "PermissionError"), got  # /dev is read-only
        assert got["write_shm"] == "done", got  # but its own /dev/shm is writable
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
    cap, small = Limits().processes, 48
    async with platform(home, sandbox="bwrap") as (_p, c):
        await deploy(c, write_function(src, "bomb", FORK_BOMB, timeout_s=60))
        limited = {"memory_mib": 256, "processes": small}
        await deploy(c, write_function(src, "small", FORK_BOMB, timeout_s=60, resources=limited))
        await deploy(c, write_function(src, "benign", BENIGN))
        for name, limit in (("bomb", cap), ("small", small)):  # the default, function.yaml's
            r = await c.post(f"/function/{name}", json={"max": 4 * cap})
            assert r.status_code == 200, r.text
            got = r.json()
            assert got["blocked"] == "BlockingIOError", got  # fork failed with EAGAIN
            assert limit // 2 < got["forked"] < limit, (name, got)
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
ME = []  # a name per instance (each instance is PID 2 of its own namespace)

def _me():
    if not ME:
        ME.append(os.urandom(6).hex())
    return ME[0]

def handle(event, context):
    with socket.create_server(("127.0.0.1", 0)) as srv:  # its own loopback works
        socket.create_connection(srv.getsockname(), timeout=2).close()
    if not HELD:  # an abstract unix socket name is per network namespace
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind("\\0tessera-sandbox-probe")
            HELD.append(s)
        except OSError as e:
            return {"pid": _me(), "bound": type(e).__name__}
    return {"pid": _me(), "bound": "yes"}
"""


async def _two_instances(c: httpx.AsyncClient, name: str) -> tuple[dict[str, Any], str]:
    """Call `name` in parallel until two instances answered: each one's last answer by the
    `pid` it reports, and the last invocation id."""
    seen: dict[str, Any] = {}
    last = ""
    deadline = time.monotonic() + 60  # a loaded host may take long to start the second one
    while len(seen) < 2 and time.monotonic() < deadline:
        rs = await asyncio.gather(*(c.post(f"/function/{name}", json={}) for _ in range(4)))
        for r in rs:
            assert r.status_code == 200, r.text
            seen[r.json()["pid"]] = r.json()
            last = r.headers["x-tessera-invocation"]
        await asyncio.sleep(0.05)
    assert len(seen) >= 2, seen  # two instances served
    return seen, last


@async_test(120)
async def test_instances_of_one_function_get_their_own_network(home: Path, src: Path) -> None:
    fn = write_function(src, "peek", ABSTRACT, scale={"min": 2, "max": 2}, concurrency=1)
    async with platform(home, sandbox="bwrap") as (_p, c):
        await deploy(c, fn)
        seen, _ = await _two_instances(c, "peek")
        bound = {k: v["bound"] for k, v in seen.items()}
        assert set(bound.values()) == {"yes"}, bound  # the same name bound in each: separate


OWN_TMP = """
import os

ME = []  # a name per instance (each instance is PID 2 of its own namespace)

def _visible():
    out = []
    for pid in range(1, 300):
        try:
            os.kill(pid, 0)
            out.append(pid)
        except OSError:
            pass
    return out

def handle(event, context):
    if not ME:
        ME.append(os.urandom(6).hex())
        for d in ("/tmp", "/dev/shm"):
            with open(f"{d}/instance-{ME[0]}", "w") as f:
                f.write("x")
    return {"pid": ME[0], "tmp": sorted(os.listdir("/tmp")), "cwd": os.getcwd(),
            "shm": sorted(os.listdir("/dev/shm")),
            "code": os.path.exists("main.py"), "me": os.getpid(), "visible": _visible()}
"""


@async_test(120)
async def test_instances_of_one_function_get_their_own_tmp(home: Path, src: Path) -> None:
    fn = write_function(src, "tmps", OWN_TMP, scale={"min": 2, "max": 2}, concurrency=1)
    async with platform(home, sandbox="bwrap") as (_p, c):
        await deploy(c, fn)
        seen, last = await _two_instances(c, "tmps")
        # the platform supervises the instance by its host pid, which is 2 in its namespace
        host_pid = (await record_of(c, last, "tmps"))["instance"]
        status = Path(f"/proc/{host_pid}/status").read_text()
        assert next(ln for ln in status.splitlines() if ln.startswith("NSpid:")).endswith("\t2")
        for name, got in seen.items():
            assert got["code"], got  # its code is still where it was (even under /tmp)
            for d in ("tmp", "shm"):  # the other instance's files are not there
                assert [n for n in got[d] if n.startswith("instance-")] == [f"instance-{name}"]
            # its own PID namespace: itself and the namespace's init, no sibling to signal
            assert got["me"] == 2 and got["visible"] == [1, 2], got


PROBE = """
import ctypes, os, struct

_libc = ctypes.CDLL(None, use_errno=True)

def _remount_code():
    if _libc.mount(None, os.getcwd().encode(), None, ctypes.c_ulong(0x1020), None):
        return "refused"
    return "remounted"

ME = []  # a name per instance (each instance is PID 2 of its own namespace)

def handle(event, context):
    header = ctypes.create_string_buffer(struct.pack("Ii", 0x20080522, 0))
    data = ctypes.create_string_buffer(24)
    _libc.capget(header, data)
    if not ME:
        ME.append(os.urandom(6).hex())
        with open(f"/tmp/instance-{ME[0]}", "w") as f:
            f.write("x")
    return {"pid": ME[0], "me": os.getpid(), "caps": struct.unpack("6I", data.raw)[0],
            "tmp": sorted(n for n in os.listdir("/tmp") if n.startswith("instance-")),
            "remount": _remount_code()}
"""

AS_USER = """
import asyncio, json, sys
from pathlib import Path

import httpx

from tessera.control.serve import running

async def main(home, fn):
    fixed = {"kind": "fixed", "replicas": 2}
    async with running(Path(home), functions=[Path(fn)], sandbox="bwrap", autoscaler=fixed,
                       interval_s=0.25) as (p, url):
        auth = {"Authorization": f"Bearer {p.platform.admin_token}"}
        async with httpx.AsyncClient(base_url=url, timeout=30, headers=auth) as c:
            seen = {}
            for _ in range(30):
                rs = await asyncio.gather(*(c.post("/function/probe", json={}) for _ in range(4)))
                for r in rs:
                    r.raise_for_status()
                    seen[r.json()["pid"]] = r.json()
                if len(seen) >= 2:
                    break
            print(json.dumps(list(seen.values())))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def _readable_python(cmd: list[str], stash: Path) -> list[str]:
    """`cmd`, run where another user can read this Python, its venv and this checkout: in a
    private mount namespace, a folder others cannot enter on the way (pyenv under /root) is
    covered by a tmpfs that shows just the needed paths, bound from the original."""
    import shlex
    import sys

    needed = [Path(os.path.realpath(sys.executable)).parent, Path(sys.base_prefix),
              Path(sys.prefix), Path(__file__).resolve().parents[2]]  # fmt: skip
    closed: dict[Path, list[Path]] = {}
    for path in needed:
        for anc in [*reversed(path.parents), path]:
            if not os.stat(anc).st_mode & 0o001:  # others cannot pass
                closed.setdefault(anc, []).append(path)
                break
    if not closed:
        return cmd
    lines = ["set -e"]
    for k, (anc, paths) in enumerate(closed.items()):
        keep = stash / str(k)
        keep.mkdir(parents=True)
        lines += [f"mount --bind {shlex.quote(str(anc))} {keep}",
                  f"mount -t tmpfs -o mode=755 tmpfs {shlex.quote(str(anc))}"]  # fmt: skip
        for path in paths:
            inner = shlex.quote(str(keep / path.relative_to(anc)))
            lines += [f"mkdir -p {shlex.quote(str(path))}",
                      f"mount --bind {inner} {shlex.quote(str(path))}"]  # fmt: skip
    lines.append('exec "$@"')
    script = "\n".join(lines)
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *cmd]


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or shutil.which("unshare") is None,
    reason="runs the platform as another user (needs root and setpriv); as a normal user "
    "every sandbox test here already takes the unprivileged path",
)
def test_the_sandbox_holds_when_the_platform_is_not_root(tmp_path: Path) -> None:
    """The whole platform as an unprivileged uid: bwrap without privileges, instances
    isolating through a nested user namespace; the same guarantees hold."""
    import subprocess
    import sys
    import tempfile

    uid = 4242  # no passwd entry needed
    base = Path(tempfile.mkdtemp(prefix="tessera-unpriv-"))
    try:
        fn = write_function(base / "src", "probe", PROBE, concurrency=1)
        (base / "as_user.py").write_text(AS_USER)
        subprocess.run(["chown", "-R", f"{uid}:{uid}", str(base)], check=True)
        base.chmod(0o755)
        env = {"PATH": os.environ["PATH"], "HOME": str(base), "TESSERA_HOME": str(base / "home"),
               "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}  # fmt: skip
        cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
               sys.executable, str(base / "as_user.py"), str(base / "home"), str(fn)]  # fmt: skip
        cmd = _readable_python(cmd, base / "stash")
        proc = subprocess.run(cmd, env=env, cwd=base, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
        seen = json.loads(proc.stdout.strip().splitlines()[-1])
        assert len(seen) >= 2, seen
        for got in seen:
            assert got["caps"] == 0 and got["remount"] == "refused", got
            assert got["me"] == 2, got  # PID 2 of its own namespace
            assert got["tmp"] == [f"instance-{got['pid']}"], got  # its own /tmp
    finally:
        shutil.rmtree(base, ignore_errors=True)


@async_test(90)
async def test_requests_in_flight_finish_when_the_version_is_replaced_or_deleted(
    home: Path, src: Path
) -> None:
    """A sandboxed template is the main process of its PID namespace: when it exited as soon
    as its version was retired, the namespace's end killed the instances still serving
    (502 "worker closed its connection" on the request a redeploy or delete should let
    finish)."""
    fn = write_function(src, "echo", ECHO)
    async with platform(home, sandbox="bwrap") as (p, c):
        await deploy(c, fn)
        assert (await invoke(c, "echo", {})).status_code == 200
        old = p.platform.pools["echo"].template
        assert old is not None and old.proc is not None
        slow = asyncio.create_task(invoke(c, "echo", {"sleep": 2.0}))
        await asyncio.sleep(0.3)
        assert (await deploy(c, fn))["version"] == 2
        r = await slow
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 1
        assert (await invoke(c, "echo", {})).json()["version"] == 2
        # the retired version's sandbox still ends once its instance has drained
        await wait_for(lambda: _exited(old.proc), bool, 30, "the v1 sandbox to exit")

        slow = asyncio.create_task(invoke(c, "echo", {"sleep": 2.0}))
        await asyncio.sleep(0.3)
        assert (await c.delete("/system/functions/echo")).status_code == 200
        r = await slow
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 2


async def _exited(proc: Any) -> bool:
    return bool(proc.poll() is not None)
