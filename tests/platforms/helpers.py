"""Shared helpers for the local-platform tests: async runner, function folders, HTTP calls.

pytest-asyncio is not used: `async_test(timeout_s)` turns an `async def` test into a sync one
that runs it with `asyncio.run` under a hard `asyncio.wait_for` bound, so a hang fails the test
instead of stalling the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import os
import signal
import tarfile
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import httpx
import yaml

from tessera.carbon.footprint import Footprinter
from tessera.control.serve import Platform, running
from tessera.functions.package import pack_dir

P = ParamSpec("P")
T = TypeVar("T")

LOCAL = "127.0.0.1"


def async_test(
    timeout_s: float = 60.0,
) -> Callable[[Callable[P, Coroutine[Any, Any, None]]], Callable[P, None]]:
    """Run an `async def` test with `asyncio.run`, bounded by `timeout_s`."""

    def deco(fn: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
            async def bounded() -> None:
                await asyncio.wait_for(fn(*args, **kwargs), timeout_s)

            asyncio.run(bounded())

        return wrapper

    return deco


@contextlib.asynccontextmanager
async def platform(
    home: Path,
    autoscaler: dict[str, Any] | None = None,
    interval_s: float = 0.25,
    timeout_s: float = 30.0,
    max_connections: int = 100,
    sandbox: str = os.environ.get("TESSERA_TEST_SANDBOX", "off"),
    footprint: Footprinter | None = None,
) -> AsyncIterator[tuple[Platform, httpx.AsyncClient]]:
    """The platform on a loopback port of its own, and a client bound to its gateway."""
    async with running(
        home, port=0, autoscaler=autoscaler or {"kind": "kpa"}, interval_s=interval_s,
        host=LOCAL, sandbox=sandbox, footprint=footprint,
    ) as (p, url):  # fmt: skip
        assert url.startswith(f"http://{LOCAL}:")
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=64)
        auth = {"Authorization": f"Bearer {p.platform.admin_token}"}
        async with httpx.AsyncClient(
            base_url=url, timeout=timeout_s, limits=limits, headers=auth
        ) as client:
            yield p, client


def write_function(
    parent: Path, name: str, code: str, folder: str | None = None, **manifest: Any
) -> Path:
    """A function folder `parent/folder` with function.yaml (name + `manifest`) and main.py."""
    d = parent / (folder or name)
    d.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"name": name, "runtime": "python3", "handler": "main.handle"}
    data.update(manifest)
    (d / "function.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (d / "main.py").write_text(textwrap.dedent(code).lstrip())
    return d


def tar_files(files: dict[str, str | bytes]) -> bytes:
    """A .tar.gz holding `files` (name -> content), without any validation (for bad deploys)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


async def deploy(client: httpx.AsyncClient, folder: Path) -> dict[str, Any]:
    """Deploy `folder`; assert it was accepted; returns {"name", "version"}."""
    r = await client.post(
        "/system/functions", content=pack_dir(folder), headers={"content-type": "application/gzip"}
    )
    assert r.status_code == 201, f"deploy of {folder} refused: {r.status_code} {r.text}"
    body: dict[str, Any] = r.json()
    return body


async def deploy_raw(client: httpx.AsyncClient, archive: bytes) -> httpx.Response:
    return await client.post(
        "/system/functions", content=archive, headers={"content-type": "application/gzip"}
    )


async def invoke(client: httpx.AsyncClient, name: str, event: Any = None) -> httpx.Response:
    return await client.post(f"/function/{name}", json=event)


async def describe(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    r = await client.get(f"/system/functions/{name}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def records(
    client: httpx.AsyncClient, function: str | None = None, limit: int = 100_000
) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"limit": limit}
    if function is not None:
        params["function"] = function
    r = await client.get("/system/invocations", params=params)
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()
    return rows


async def record_of(client: httpx.AsyncClient, inv_id: str, function: str) -> dict[str, Any]:
    rows = [r for r in await records(client, function) if r["id"] == inv_id]
    assert len(rows) == 1, f"expected exactly one record {inv_id}, found {rows}"
    return rows[0]


async def wait_for(
    probe: Callable[[], Awaitable[T]],
    ok: Callable[[T], bool],
    timeout_s: float,
    what: str,
    every_s: float = 0.05,
) -> T:
    """Poll `probe()` until `ok(value)`; raise AssertionError with the last value on timeout."""
    deadline = time.monotonic() + timeout_s
    value = await probe()
    while not ok(value):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout_s:g}s waiting for {what}; last: {value}"
            )
        await asyncio.sleep(every_s)
        value = await probe()
    return value


async def wait_async_done(
    client: httpx.AsyncClient, inv_id: str, timeout_s: float = 30.0
) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        r = await client.get(f"/system/async/{inv_id}")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    return await wait_for(probe, lambda s: s["status"] == "done", timeout_s, f"async {inv_id}")


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def platform_pids(marker: str) -> list[int]:
    """Live worker/zygote processes whose command line mentions `marker` (a test's home)."""
    out = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "tessera" in cmd and marker in cmd and pid_alive(int(entry.name)):
            out.append(int(entry.name))
    return sorted(out)


def kill_pid(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# A handler whose behaviour the event selects, so one function covers ok/error/timeout/crash.
ECHO = """
import os
import time

from tessera.functions.contract import Response


def handle(event, context):
    if isinstance(event, bytes):
        return event[::-1]
    if isinstance(event, dict):
        if "print" in event:
            print(event["print"], flush=True)
            context.logger.info("logger says %s", event["print"])
        if "sleep" in event:
            time.sleep(event["sleep"])
        if "raise" in event:
            raise ValueError(event["raise"])
        if "exit" in event:
            os._exit(event["exit"])
        if "none" in event:
            return None
        if "respond" in event:
            r = event["respond"]
            return Response(r["body"], r["status"], r["headers"])
    return {
        "echo": event,
        "pid": os.getpid(),
        "function": context.function,
        "version": context.version,
        "invocation": context.invocation_id,
    }
"""


async def settle(client: httpx.AsyncClient, name: str, timeout_s: float = 15.0) -> None:
    """Wait until no instance of `name` is starting.

    Tests that are not about start-up races call this before deleting, redeploying or stopping,
    so they do not depend on how the platform handles a template stopped while instances start;
    that race has its own test (test_delete_while_instances_start_then_redeploy).
    """

    async def starting() -> int:
        return int((await describe(client, name))["starting"])

    await wait_for(starting, lambda n: n == 0, timeout_s, f"{name} to finish starting instances")
