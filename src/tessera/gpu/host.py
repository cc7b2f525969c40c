"""The GPU host: one process per GPU that owns its `GpuWorker`, serving requests on a Unix socket.

Why a process of its own: green contexts, CUDA graphs and the token gate
live in one CUDA context, so every function instance on a GPU must reach the
same worker; function instances are separate (forked) processes, and a
forked child cannot use its parent's CUDA context anyway. The local platform
starts this process on the first GPU function and stops it on close; the
platform places instances here (`add`/`remove`/`resize`) and each instance's
worker process runs its batches here (`infer`), over `tessera.gpu.client`'s
JSON-lines protocol.

    python -m tessera.gpu.host --socket PATH [--device sim|cuda|auto]

The device is `CudaDevice` when CUDA is usable (`auto`, the default, or
`cuda`, which fails instead of falling back), else `SimulatedDevice` on the
wall clock with the built-in H200 latencies (`sim`). Once listening it prints
one JSON line `{"ready": true, "device": {...}}` on stdout. It exits when its
stdin reaches end of file, so it never outlives the platform that started it,
even one that was killed.

An `add` asks for *at least* `sm_pct`: the share is rounded up to whole
chunks of the device's SM split (8 SMs on an H200), or to the whole GPU
(time-sliced) above the largest partition; the reply says what was granted.
With `share: NAME` the instance joins NAME's partition instead of getting one
of its own (the granted `sm_pct` must be NAME's; their quota requests must
fit one window together); `shared_with` in a description lists the others on
an instance's partition.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import secrets
import signal
import socketserver
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tessera.core.errors import InputError, require
from tessera.gpu.client import ADMIN_TOKEN_ENV, DEVICE_ENV, MAX_LINE
from tessera.gpu.device import Device, DeviceInfo, SimulatedDevice
from tessera.gpu.gate import Quota
from tessera.gpu.worker import GpuWorker

DEVICES = ("sim", "cuda", "auto")
RECENT_WINDOWS = 25
"""Closed quota windows behind `achieved_share` (1 s at the default 40 ms)."""


def make_device(kind: str) -> tuple[Device, str]:
    """(device, "cuda" or "simulated") for `kind` in DEVICES; `auto` falls back to simulated."""
    require(kind in DEVICES, DEVICE_ENV, kind, "one of " + ", ".join(DEVICES))
    if kind in ("cuda", "auto") and (kind == "cuda" or Path("/dev/nvidiactl").exists()):
        try:
            from tessera.gpu.cuda_device import CudaDevice

            return CudaDevice(), "cuda"
        except Exception as e:
            if kind == "cuda":
                raise
            print(f"gpu host: no usable CUDA device ({e}); simulating", file=sys.stderr)
    return SimulatedDevice(), "simulated"


def grant_sm_pct(info: DeviceInfo, sm_pct: float) -> float:
    """The smallest partition with at least `sm_pct`% of the SMs, as a percentage (100: whole GPU)."""
    require(
        isinstance(sm_pct, int | float) and 0 < sm_pct <= 100,
        "sm_pct",
        sm_pct,
        "a percentage in (0, 100]",
    )
    # (1e-5 of a chunk: a share rounded up to 4 decimals still names its partition)
    n = math.ceil(sm_pct * info.total_sms / 100.0 / info.sm_granularity - 1e-5)
    return 100.0 if n > info.chunks else info.sm_pct(n * info.sm_granularity)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _quota(current: Quota | None, request: float | None, limit: float | None) -> Quota | None:
    """The quota a request names: `limit` defaults to `request`, `request` to the current one."""
    if request is None and limit is None:
        return None
    if request is None:
        require(current is not None, "quota_request", None, "a fraction in (0, 1]")
        assert current is not None
        request = current.request
    return Quota.of(request, limit)


class GpuHost:
    """The host's requests on one worker, without a transport: `handle(request) -> reply`."""

    def __init__(
        self, worker: GpuWorker, kind: str = "simulated", admin_token: str | None = None
    ) -> None:
        self.worker = worker
        self.kind = kind
        # With an admin token, only its holder (the platform) may add, remove, resize or read
        # every instance's metrics; a function's worker holds its own instance's token, good
        # for `infer` and `metrics` of that instance only. Without one (in-process use, tests)
        # every request is allowed.
        self.admin_token = admin_token
        self._tokens: dict[str, str] = {}
        self._asked: dict[str, Quota] = {}
        """The latest quota asked per instance (the gate's takes effect at the next window)."""
        self._ops: dict[str, Callable[..., Any]] = {
            "add": self.add,
            "remove": self.remove,
            "resize": self.resize,
            "infer": self.infer,
            "metrics": self.metrics,
        }

    def handle(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict) or request.get("op") not in self._ops:
            got = request.get("op") if isinstance(request, dict) else request
            return {"ok": False, "error": f"op: got {got!r}; accepted: {sorted(self._ops)}"}
        args = {k: v for k, v in request.items() if k not in ("op", "token")}
        denied = self._denied(request["op"], args.get("instance"), request.get("token"))
        if denied:
            return {"ok": False, "error": denied, "field": "token"}
        try:
            return {"ok": True, "result": self._ops[request["op"]](**args)}
        except InputError as e:
            return {"ok": False, "error": str(e), "field": e.field}
        except TypeError as e:  # unknown or missing arguments
            return {"ok": False, "error": f"{request['op']}: {e}"}
        except Exception as e:
            return {"ok": False, "error": f"{type(e).__name__}: {e}"}

    def _denied(self, op: str, instance: Any, token: Any) -> str | None:
        if self.admin_token is None or secrets.compare_digest(str(token), self.admin_token):
            return None
        if op in ("infer", "metrics") and isinstance(instance, str):
            own = self._tokens.get(instance)
            if own is not None and secrets.compare_digest(str(token), own):
                return None
            return f"{op}: not allowed for instance {instance!r} with this token"
        return f"{op}: only the platform may do this"

    # -- the operations -----------------------------------------------------------------
    def device(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self.worker.device.info)}

    def add(
        self,
        instance: str,
        model: str,
        sm_pct: float = 100.0,
        quota_request: float = 1.0,
        quota_limit: float | None = None,
        mem_mib: int = 0,
        batches: list[int] | None = None,
        share: str | None = None,
    ) -> dict[str, Any]:
        """Start `instance`; with `share`, on that instance's partition (`GpuWorker.add_instance`)."""
        info = self.worker.device.info
        granted = grant_sm_pct(info, sm_pct)
        try:
            self.worker.add_instance(
                instance,
                model,
                granted,
                quota_request,
                quota_limit,
                mem_mib,
                batches=batches or (1,),
                share=share,
            )
        except InputError as e:
            if e.field != "sm_pct":
                raise
            sms = info.sms_for_pct(granted)
            asked = f"{sm_pct:g}% ({sms} of {info.total_sms} SMs)"
            raise InputError("sm_pct", asked, e.accepted) from None
        self._asked[instance] = self.worker.metrics(instance).quota
        self._tokens[instance] = token = secrets.token_hex(16)
        return {**self.describe(instance), "requested_sm_pct": sm_pct, "token": token}

    def remove(self, instance: str) -> dict[str, Any]:
        """Remove `instance`; removing one that is not there is not an error (retries, races)."""
        if instance not in self.worker.names():
            return {"instance": instance, "removed": False}
        self.worker.remove(instance)
        self._asked.pop(instance, None)
        self._tokens.pop(instance, None)
        return {"instance": instance, "removed": True}

    def resize(
        self,
        instance: str,
        sm_pct: float | None = None,
        quota_request: float | None = None,
        quota_limit: float | None = None,
    ) -> dict[str, Any]:
        """Change SMs now (after a switch between two launches) and the quota from the next window."""
        current = self._asked.get(instance) or self.worker.metrics(instance).quota
        quota = _quota(current, quota_request, quota_limit)
        granted = None if sm_pct is None else grant_sm_pct(self.worker.device.info, sm_pct)
        if quota is not None:
            self.worker.resize(instance, quota=quota)
        try:  # all or nothing: a refused SM change puts the quota back
            report = None if granted is None else self.worker.resize(instance, granted)
        except Exception:
            if quota is not None:
                self.worker.resize(instance, quota=current)
            raise
        if quota is not None:
            self._asked[instance] = quota
        out = self.describe(instance)
        if quota is not None:  # in force from the next window; report what was asked
            out.update(quota_request=quota.request, quota_limit=quota.limit)
        return {**out, "report": None if report is None else asdict(report)}

    def infer(self, instance: str, batch: int = 1) -> dict[str, Any]:
        require(isinstance(batch, int) and batch >= 1, "batch", batch, "an integer >= 1")
        r = self.worker.infer(instance, batch)
        m = self.worker.metrics(instance)
        return {
            "instance": instance,
            "model": m.model_key,
            "batch": r.batch,
            "latency_ms": r.latency_ms,
            "gpu_ms": r.gpu_ms,
            "queued_ms": r.waited_ms,
            "sms": m.sms,
            "sm_pct": m.sm_pct,
            "quota_request": m.quota.request,
            "quota_limit": m.quota.limit,
            "device": self.kind,
            "inputs": "synthetic",
        }

    def describe(self, instance: str) -> dict[str, Any]:
        m = self.worker.metrics(instance)
        chunks = self.worker.chunks(instance)
        recent = m.window_shares[-RECENT_WINDOWS:]
        return {
            "instance": instance,
            "model": m.model_key,
            "sms": m.sms,
            "sm_pct": m.sm_pct,
            "chunks": None if chunks is None else list(chunks),
            "shared_with": [n for n in self.worker.sharing(instance) if n != instance],
            "quota_request": m.quota.request,
            "quota_limit": m.quota.limit,
            "mem_mib": m.mem_mib,
            "requests": m.requests,
            "latency_ms": {k: _finite(v) for k, v in m.latency_ms.items()},
            "gpu_ms": {k: _finite(v) for k, v in m.gpu_ms.items()},
            "achieved_share": sum(recent) / len(recent) if recent else None,
        }

    def metrics(self, instance: str | None = None) -> dict[str, Any]:
        """One instance's description, or the whole GPU: device, free SMs, memory, instances."""
        if instance is not None:
            return self.describe(instance)
        w = self.worker
        return {
            "device": self.device(),
            "free_sms": w.free_sms(),
            "mem_budget_mib": w.mem_budget_mib,
            "mem_used_mib": w.mem_used_mib,
            "weights_mib": {k: mib for k, (mib, _n) in w.weights().items()},
            "instances": [self.describe(n) for n in w.names()],
        }


# -- the process ---------------------------------------------------------------------------
class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        while line := self.rfile.readline(MAX_LINE):
            try:
                request = json.loads(line)
            except ValueError as e:
                reply: dict[str, Any] = {"ok": False, "error": f"request: not JSON ({e})"}
            else:
                reply = self.server.host.handle(request)
            self.wfile.write(json.dumps(reply, separators=(",", ":")).encode() + b"\n")
            self.wfile.flush()


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    host: GpuHost


def serve(path: str, host: GpuHost) -> _Server:
    """Listen on `path` (a stale socket file is replaced) in a background thread."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    old = os.umask(0o177)  # the socket is born 0600: no window at wider permissions
    try:
        server = _Server(path, _Handler)
    finally:
        os.umask(old)
    server.host = host
    threading.Thread(target=server.serve_forever, name="gpu-host", daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--socket", required=True)
    p.add_argument("--device", default=os.environ.get(DEVICE_ENV, "auto"), choices=DEVICES)
    p.add_argument("--mem-budget-mib", type=int, default=None)
    p.add_argument("--owner", default="", help="who started it (shown by ps; not used)")
    args = p.parse_args(argv)
    try:
        device, kind = make_device(args.device)
    except Exception as e:  # one line for the platform to show (it reads the log's tail)
        print(f"gpu host: no {args.device} device: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    worker = GpuWorker(device, mem_budget_mib=args.mem_budget_mib)
    host = GpuHost(worker, kind, os.environ.pop(ADMIN_TOKEN_ENV, None) or None)
    server = serve(args.socket, host)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())

    def watch_stdin() -> None:  # end of file: the platform closed the pipe or died
        with contextlib.suppress(OSError, ValueError):
            while sys.stdin.buffer.read(4096):
                pass
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(json.dumps({"ready": True, "device": host.device()}), flush=True)
    while not done.wait(0.5):
        pass
    server.shutdown()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(args.socket)
    closer = threading.Thread(target=worker.close, daemon=True)  # frees partitions and graphs
    closer.start()
    closer.join(5.0)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
