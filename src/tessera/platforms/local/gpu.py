"""GPU functions on the local platform: the GPU host process and each function's placements.

Why here: the platform owns process lifetimes. `GpuHostProcess` starts
`tessera.gpu.host` on the first GPU function, talks to it through
`tessera.gpu.client.HostClient` (off the event loop) and stops it on close;
the host exits by itself when its stdin closes, so it cannot outlive the
platform. `GpuPlacement` is one function version's share: before an instance
starts the pool asks it to `place` an instance on the host (a refusal - no
free SMs, no memory, a quota that does not fit - is a `StartFailed` with the
host's reason, so the request that needed the instance gets 503 with it);
when the instance stops, crashes or is scaled down the pool `remove`s it;
`resize` changes the share of every live instance (vertical scaling) and of
those started later. A resize is not written to the manifest: a restart or
redeploy goes back to `resources.gpu` as deployed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tessera.core.errors import require
from tessera.gpu.client import (
    ADMIN_TOKEN_ENV,
    DEVICE_ENV,
    INSTANCE_ENV,
    SOCKET_ENV,
    TOKEN_ENV,
    GpuHostError,
    HostClient,
)
from tessera.gpu.host import DEVICES
from tessera.platforms.local.instances import StartFailed

log = logging.getLogger("tessera.platform")

HOST_START_S = 180.0
"""How long the host may take to come up (CUDA and torch start in tens of seconds at worst)."""
SOCKET_MAX = 100
"""A Unix socket path longer than this (the OS limit is ~107 bytes) goes to the temp dir."""


@dataclass(frozen=True, slots=True)
class GpuShareSpec:
    """One function's GPU share as the host is asked for it (percentages, as in function.yaml)."""

    model: str
    sm_pct: float
    quota_pct: float
    quota_limit_pct: float
    mem_mib: int

    def host_args(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "sm_pct": self.sm_pct,
            "quota_request": self.quota_pct / 100.0,
            "quota_limit": self.quota_limit_pct / 100.0,
            "mem_mib": self.mem_mib,
        }

    def resized(self, changes: Mapping[str, Any]) -> GpuShareSpec:
        """This share with `changes` (sm_pct, quota_pct, quota_limit_pct), checked; the limit
        follows quota_pct unless given."""
        allowed = ("sm_pct", "quota_pct", "quota_limit_pct")
        unknown = sorted(set(changes) - set(allowed))
        require(not unknown, "gpu", unknown, "keys " + ", ".join(allowed))
        require(bool(changes), "gpu", dict(changes), "at least one of " + ", ".join(allowed))
        for k, v in changes.items():
            ok = isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 100
            require(ok, k, v, "a percentage in (0, 100]")
        quota = float(changes.get("quota_pct", self.quota_pct))
        default_limit = quota if "quota_pct" in changes else self.quota_limit_pct
        limit = float(changes.get("quota_limit_pct", default_limit))
        require(limit >= quota, "quota_limit_pct", limit, f"a percentage in [{quota:g}, 100]")
        return replace(
            self,
            sm_pct=float(changes.get("sm_pct", self.sm_pct)),
            quota_pct=quota,
            quota_limit_pct=limit,
        )


def socket_path(home: Path) -> Path | None:
    """`HOME/gpu/host.sock`, or None when that path is too long for a unix socket. The
    socket has a folder of its own: sandboxes show that folder (so a restarted host's new
    socket is there too), and nothing else of HOME."""
    p = home.resolve() / "gpu" / "host.sock"
    return p if len(str(p)) <= SOCKET_MAX else None


class GpuHostProcess:
    """The platform's GPU host: started on first use, restarted if it died, stopped on close."""

    def __init__(self, home: Path, device: str | None = None) -> None:
        self.home = home
        self.device = device or os.environ.get(DEVICE_ENV, "auto")
        require(self.device in DEVICES, DEVICE_ENV, self.device, "one of " + ", ".join(DEVICES))
        # a home too deep for a socket path: a private (0700) folder of our own instead,
        # never a guessable name in the shared temp folder
        path = socket_path(home)
        self._private: str | None = None
        if path is None:
            self._private = tempfile.mkdtemp(prefix="tessera-gpu-")
            path = Path(self._private) / "gpu.sock"
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.socket_path = path
        self.log_path = home / "logs" / "gpu-host.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: HostClient | None = None
        self.info: dict[str, Any] = {}
        self.closed = False
        self._lock = asyncio.Lock()
        self._admin_token = secrets.token_hex(16)  # the host obeys add/remove/resize from us only

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def ensure(self) -> HostClient:
        """The client of a running host, starting the host first if needed."""
        async with self._lock:
            if self.closed:
                raise StartFailed("the platform is shutting down")
            if self.alive() and self.client is not None:
                return self.client
            if self.proc is not None:
                log.error("GPU host exited (%s); starting a new one", self.proc.returncode)
                self._stop_now()
            return await self._start()

    async def _start(self) -> HostClient:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        src = str(Path(__file__).resolve().parents[3])
        env = {**os.environ, "PYTHONUNBUFFERED": "1", ADMIN_TOKEN_ENV: self._admin_token}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        cmd = [sys.executable, "-m", "tessera.gpu.host", "--socket", str(self.socket_path)]
        cmd += ["--device", self.device, "--owner", str(self.home.resolve())]
        with open(self.log_path, "ab") as errs:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errs,
                env=env,
                start_new_session=True,
            )
        self.proc = proc
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), HOST_START_S)
        except TimeoutError:
            line = b""
        try:
            ready = json.loads(line) if line else {}
        except ValueError:
            ready = {}
        if not ready.get("ready"):
            self._stop_now()
            raise StartFailed(f"GPU host did not start: {_tail(self.log_path)}")
        self.info = ready.get("device") or {}
        self.client = HostClient(self.socket_path, token=self._admin_token)
        log.info("GPU host %d up on %s", proc.pid, self.info.get("name"))
        return self.client

    async def call(self, op: str, **args: Any) -> Any:
        """One request to the host (started if needed); `GpuHostError` carries its refusal."""
        client = await self.ensure()
        return await asyncio.to_thread(client.call, op, **args)

    async def metrics(self) -> dict[str, Any]:
        """The host's view (device, free SMs, memory, instances), or `running: false`."""
        if not self.alive() or self.client is None:
            return {"running": False}
        out: dict[str, Any] = await asyncio.to_thread(self.client.call, "metrics")
        return {"running": True, "pid": self.proc.pid if self.proc else None, **out}

    def _stop_now(self) -> None:
        """Close its stdin (it then frees its partitions and exits); kill it if it lingers."""
        proc, self.proc = self.proc, None
        if self.client is not None:
            self.client.close()
            self.client = None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        threading.Thread(target=_reap, args=(proc,), daemon=True).start()

    async def close(self) -> None:
        """Stop the host and wait until it has exited."""
        async with self._lock:
            self.closed = True
            proc = self.proc
            self._stop_now()
        if proc is not None:
            await asyncio.to_thread(_reap, proc)
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)


def _reap(proc: subprocess.Popen[bytes], grace_s: float = 8.0) -> None:
    """Wait for the host to exit (killing it after `grace_s`), then close its stdout (only
    then: a thread may still be blocked reading its ready line)."""
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        with contextlib.suppress(OSError):
            proc.stdout.close()


def _tail(path: Path, n: int = 2) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(lines[-n:]) or "(no output)"


class GpuPlacement:
    """One function version's GPU share and its live instances on the host."""

    def __init__(self, host: GpuHostProcess, function: str, version: int, share: GpuShareSpec):
        self.host = host
        self.function = function
        self.version = version
        self.share = share
        self.instances: set[str] = set()
        self._seq = itertools.count(1)
        self._lock = asyncio.Lock()  # place/remove/resize one at a time: a resize sees them all
        self._undoing: set[asyncio.Task[None]] = set()

    async def place(self) -> tuple[str, dict[str, str]]:
        """Add an instance with this function's share; returns its name and the worker's env."""
        name = f"{self.function}/v{self.version}/{next(self._seq)}"
        async with self._lock:
            add = asyncio.ensure_future(
                self.host.call("add", instance=name, **self.share.host_args())
            )
            try:
                added = await asyncio.shield(add)
            except GpuHostError as e:
                raise StartFailed(f"GPU share refused: {e}") from None
            except asyncio.CancelledError:  # the pool closed meanwhile: undo the add when it lands
                add.add_done_callback(lambda f: self._undo(f, name))
                raise
            self.instances.add(name)
        env = {SOCKET_ENV: str(self.host.socket_path), INSTANCE_ENV: name}
        return name, {**env, TOKEN_ENV: str(added.get("token", ""))}

    def _undo(self, add: asyncio.Future[Any], name: str) -> None:
        if add.cancelled() or add.exception() is not None:
            return
        self.instances.add(name)
        task = asyncio.get_running_loop().create_task(self.remove(name))
        self._undoing.add(task)
        task.add_done_callback(self._undoing.discard)

    async def remove(self, name: str) -> None:
        async with self._lock:
            if name not in self.instances:
                return
            self.instances.discard(name)
            if not self.host.alive():
                return  # its instances went with it
            try:
                await self.host.call("remove", instance=name)
            except (GpuHostError, StartFailed) as e:
                log.warning("GPU instance %s not removed: %s", name, e)

    async def resize(self, changes: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Give every live instance (and later ones) the share `changes` make; all or nothing.

        Raises `InputError` for a bad change and `GpuHostError` when the host refuses one
        instance (those already resized are put back to the old share, best effort).
        """
        async with self._lock:
            new = self.share.resized(changes)
            done: list[str] = []
            out: list[dict[str, Any]] = []
            for name in sorted(self.instances):
                try:
                    out.append(await self.host.call("resize", instance=name, **_resize_args(new)))
                except GpuHostError as e:
                    for back in done:
                        with contextlib.suppress(GpuHostError):
                            await self.host.call(
                                "resize", instance=back, **_resize_args(self.share)
                            )
                    raise GpuHostError(f"{name}: {e}", e.field) from None
                done.append(name)
            self.share = new
            return out

    def describe(self) -> dict[str, Any]:
        return {"share": asdict(self.share), "instances": sorted(self.instances)}


def _resize_args(s: GpuShareSpec) -> dict[str, Any]:
    return {
        "sm_pct": s.sm_pct,
        "quota_request": s.quota_pct / 100.0,
        "quota_limit": s.quota_limit_pct / 100.0,
    }
