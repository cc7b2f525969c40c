"""The local platform's engine: deployed functions, invocations, records, async queue.

It owns one `FunctionPool` per live function version, writes one record per
invocation (through `RecordWriter`), persists async invocations before they
are acknowledged and runs them from the SQLite queue, and exposes what the
control loop needs (`views`, `apply`, `close_buckets`) — the same snapshot
and decision types the simulator uses. Functions with `resources.gpu` get
their instances placed on one GPU host process (`gpu.py`), started with the
first of them and stopped on close.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import logging
import os
import resource
import shutil
import tarfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tessera.carbon.footprint import Charge, Footprinter
from tessera.carbon.sources import Reading
from tessera.core.errors import InputError
from tessera.core.model import check_name
from tessera.core.policy import Decision, FunctionView
from tessera.functions.manifest import (
    FunctionManifest,
    load_function_dir,
    parse_manifest,
    secret_var,
)
from tessera.platforms.local.auth import ensure_admin_token
from tessera.platforms.local.gpu import GpuHostProcess, GpuPlacement, GpuShareSpec
from tessera.platforms.local.instances import Launch, StartFailed, WorkerGone
from tessera.platforms.local.pool import FunctionPool
from tessera.platforms.local.sandbox import Limits, PidsGroup, pids_root
from tessera.platforms.local.sandbox import resolve as resolve_sandbox
from tessera.platforms.local.store import AsyncRow, FunctionRow, RecordRow, Store
from tessera.platforms.local.writer import RecordWriter

log = logging.getLogger("tessera.platform")
MAX_ASYNC_IN_FLIGHT = 256  # async invocations claimed from the queue at once
MAX_UNPACKED_BYTES = 512 << 20  # a deploy archive may unpack to at most this much
MAX_MEMBERS = 20_000


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    record: RecordRow | None = None


def _text(status: int, message: str) -> Reply:
    return Reply(status, {"content-type": "text/plain; charset=utf-8"}, message.encode())


def _unpack(archive: bytes, into: Path) -> None:
    """Extract a deploy archive safely: tarfile's 'data' filter (no absolute paths, links
    out of the folder or devices) plus caps on member count and unpacked size."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            members = tar.getmembers()
            total = sum(m.size for m in members)
            if len(members) > MAX_MEMBERS or total > MAX_UNPACKED_BYTES:
                raise InputError(
                    "archive",
                    f"{len(members)} files, {total} bytes unpacked",
                    f"at most {MAX_MEMBERS} files and {MAX_UNPACKED_BYTES >> 20} MiB",
                )
            tar.extractall(into, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise InputError("archive", f"{len(archive)} bytes", f"a .tar.gz ({e})") from None


class _Attempt:
    """One invocation as it goes: what its record will say, filled in step by step."""

    __slots__ = (
        "arrival_s",
        "cold",
        "cold_start_s",
        "id",
        "kind",
        "pid",
        "platform",
        "pool",
        "start_s",
    )

    def __init__(self, platform: LocalPlatform, pool: FunctionPool, inv_id: str, kind: str) -> None:
        self.platform, self.pool, self.id, self.kind = platform, pool, inv_id, kind
        self.arrival_s = self.start_s = time.time()
        self.pid = -1
        self.cold = False
        self.cold_start_s = 0.0

    def record(self, status: str, http: int, error: str, cpu_s: float | None = None) -> RecordRow:
        end_s = time.time()
        energy, emb, op, g, r = self.footprint(end_s, cpu_s)
        name = self.pool.name
        g_source = None if r is None else r.source + (" (stale)" if r.stale else "")
        rec = RecordRow(
            self.id, name, self.pool.version, self.kind, self.arrival_s, self.start_s, end_s,
            self.cold, self.cold_start_s, self.pid, status, http, error, "local", cpu_s,
            self.platform.footprint.region, energy, op, emb, g, g_source,
            None if r is None else r.at_s,
        )  # fmt: skip
        self.platform.writer.put(rec)
        self.platform.counts[(name, status)] += 1
        if energy is not None and emb is not None:
            totals = self.platform.footprint_totals.get(name)
            if totals is None:
                totals = self.platform.footprint_totals[name] = [0.0, 0.0, 0.0, 0]
            totals[0] += energy
            totals[1] += emb
            if op is not None:
                totals[2] += op
                totals[3] += 1
        return rec

    def footprint(
        self, end_s: float, cpu_s: float | None
    ) -> tuple[float | None, float | None, float | None, float | None, Reading | None]:
        """(J, embodied g, operational g, g/kWh, the reading) of what it used: its slot of the
        instance while it ran and the part of a new instance's cold start it waited for
        (tessera.carbon.footprint); all None (unknown) when the function's allocation does
        not fit the server model. Never raises: a record is always written."""
        charge = self.platform.charger(self.pool)
        if charge is None:
            return None, None, None, None, None
        if self.pid == -1:  # it never reached an instance: it held nothing
            return charge(0.0, None, 0.0, end_s)
        waited = max(0.0, self.start_s - self.arrival_s)  # it may have come as the start ended
        cold_s = min(self.cold_start_s, waited) if self.cold else 0.0
        return charge(end_s - self.start_s, cpu_s, cold_s, end_s)

    def fail(self, status: str, http: int, error: str) -> Reply:
        rec = self.record(status, http, error)
        reply = _text(http, error)
        reply.headers["x-tessera-invocation"] = self.id
        return Reply(reply.status, reply.headers, reply.body, rec)


HOME_LOCK = "platform.lock"


def _claim_home(home: Path) -> int:
    """Hold `home` for this platform until it closes: two platforms on one state folder
    would each run their own instances and dispatcher over one store and drift apart.
    An exclusive `flock` on HOME/platform.lock (released by the kernel if the process dies,
    so a crash leaves no stale claim); the file names the holder's pid."""
    fd = os.open(home / HOME_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise InputError(
            "home", str(home), f"a state folder no other running platform uses (pid {holder} does)"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


class LocalPlatform:
    """All state lives under `home`: state.db, functions/NAME/VERSION/, logs/NAME.log."""

    def __init__(
        self,
        home: Path,
        use_template: bool = True,
        bucket_s: float = 2.0,
        reactive: bool = False,
        gpu_device: str | None = None,
        sandbox: str = "off",
        footprint: Footprinter | None = None,
        secrets_from_env: bool = False,
    ) -> None:
        """`secrets_from_env`: a secret missing from the store is read from the variable
        SECRET_<NAME> of this process's environment (how `tessera up` in a container gets the
        values a Kubernetes Secret holds).
        `gpu_device`: what the GPU host drives, sim|cuda|auto (default: $TESSERA_GPU or auto).
        `sandbox`: bwrap|auto|off (tessera.platforms.local.sandbox; `tessera up` uses bwrap).
        `footprint`: energy and carbon of every record (default: no region, so operational
        carbon unknown; `tessera up --region`)."""
        self.footprint = footprint if footprint is not None else Footprinter()
        self.sandbox = resolve_sandbox(sandbox)
        self.pids_root = pids_root() if self.sandbox == "bwrap" else None
        self._pid_groups: list[PidsGroup] = []
        self.home = home
        self.gpu_host = GpuHostProcess(home, gpu_device)
        self.reactive = reactive  # the policy wants a decision whenever a request must queue
        self.use_template = use_template
        self.secrets_from_env = secrets_from_env
        self.start_timeout_s = 60.0  # a deploy whose handler has not loaded by then is refused
        self.bucket_s = bucket_s
        home.mkdir(parents=True, exist_ok=True)
        self._home_lock = _claim_home(home)
        self.store = Store(home / "state.db")
        self.admin_token = ensure_admin_token(home, self.store)
        self.writer = RecordWriter(home / "state.db")
        self.pools: dict[str, FunctionPool] = {}
        self.manifests: dict[str, FunctionManifest] = {}
        self.poke: Callable[[str], None] = lambda _name: None  # set by the control loop
        self.counts: Counter[tuple[str, str]] = Counter()
        # function -> [J, embodied g, operational g, records with operational g] so far
        self.footprint_totals: dict[str, list[float]] = {}
        # (function, version) -> (its GPU share then, the charge of one of its records)
        self._charges: dict[tuple[str, int], tuple[Any, Charge | None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._queue_event = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._async_tasks: set[asyncio.Task[None]] = set()
        self._retiring: set[asyncio.Task[None]] = set()
        self.started_s = time.time()
        self._id_prefix = uuid.uuid4().hex[:12]
        self._seq = 0

    def charger(self, pool: FunctionPool) -> Charge | None:
        """The footprint charge of one record of `pool`'s function (built once per version
        and GPU share: a resized share counts from then on); None, logged once, when its
        allocation does not fit the server model."""
        spec, gpu = pool.spec, pool.gpu
        share = (gpu.share.sm_pct, gpu.share.quota_pct) if gpu is not None else None
        key = (pool.name, pool.version)
        hit = self._charges.get(key)
        if hit is not None and hit[0] == share:
            return hit[1]
        live_gpu = None
        if share is not None and spec.resources.gpu is not None:
            live_gpu = replace(spec.resources.gpu, sm_pct=share[0], quota_pct=share[1])
        charge: Charge | None
        try:
            charge = self.footprint.charger(
                spec.resources, 1.0 / max(1, spec.concurrency), live_gpu
            )
        except InputError as e:
            log.warning("footprint of %s v%d unknown: %s", pool.name, pool.version, e)
            charge = None
        self._charges[key] = (share, charge)
        return charge

    # --- life cycle ----------------------------------------------------------------------
    async def start(self) -> None:
        self.writer.start()
        requeued = self.store.requeue_running()
        if requeued:
            log.warning(
                "%d async invocation(s) interrupted by a restart are queued again", requeued
            )
        for row in self.store.list_functions():
            try:
                await self._activate(row)
            except (StartFailed, InputError, OSError) as e:
                log.error("function %s v%d could not start: %s", row.name, row.version, e)
        self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())

    async def close(self, drain_s: float = 10.0) -> None:
        """Shut down: sync requests in flight get `drain_s`; async ones are interrupted and,
        still "running" in the store, run again at the next start (at least once)."""
        tasks = [t for t in (self._dispatcher, *self._async_tasks) if t is not None]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(self._close_pool(pool, drain_s) for pool in self.pools.values()))
        if self._retiring:
            await asyncio.wait(set(self._retiring), timeout=drain_s + 5)
        await self.gpu_host.close()  # after the pools: they removed their instances
        for _ in range(30):  # pids cgroups go once their last (reaped) process has exited
            self._pid_groups = [g for g in self._pid_groups if not g.remove()]
            if not self._pid_groups:
                break
            await asyncio.sleep(0.1)
        self.writer.close()
        self.store.close()
        os.close(self._home_lock)  # releases the claim (the lock goes with the descriptor)

    def _pid_group(self, name: str, max_tasks: int) -> PidsGroup | None:
        if self.pids_root is None:
            return None
        group = PidsGroup.create(self.pids_root, f"{self._id_prefix}-{name}", max_tasks)
        if group is not None:
            self._pid_groups.append(group)
        return group

    @staticmethod
    async def _close_pool(pool: FunctionPool, drain_s: float = 10.0) -> None:
        await pool.close(drain_s)
        if pool.launch.pids is not None:
            pool.launch.pids.remove()  # stays if a process of the group is still exiting

    def _next_id(self) -> str:
        """Invocation ids: a random per-start prefix and a counter (unique, cheap, sortable)."""
        self._seq += 1
        return f"{self._id_prefix}{self._seq:012x}"

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    def log_path(self, name: str) -> Path:
        return self.home / "logs" / f"{name}.log"

    async def _activate(self, row: FunctionRow) -> FunctionPool:
        m = parse_manifest(row.spec, f"{row.name} v{row.version}")
        values = self.store.secret_values(m.secrets)
        if self.secrets_from_env:  # the container platform's Secret, as SECRET_<NAME>
            for n in m.secrets:
                value = os.environ.get(secret_var(n))
                if n not in values and value is not None:
                    values[n] = value.encode()
        missing = [n for n in m.secrets if n not in values]
        if missing:
            how = "tessera secret set NAME"
            if self.secrets_from_env:
                how += ", or the variable SECRET_<NAME> in the platform's environment"
            raise InputError("secrets", ", ".join(missing), f"secrets set first ({how})")
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if (
            self.sandbox == "bwrap"
            and hard != resource.RLIM_INFINITY
            and m.resources.open_files > hard
        ):
            raise InputError(
                "resources.open_files",
                m.resources.open_files,
                f"at most {hard} (this host's limit)",
            )
        launch = Launch(
            function=m.name,
            version=row.version,
            code_dir=Path(row.code_dir),
            handler=m.handler,
            concurrency=m.concurrency,
            env=dict(m.env),
            log_path=self.log_path(m.name),
            preload=list(m.preload),
            runtime=m.runtime,
            secret_env={secret_var(n): v.decode("utf-8", "replace") for n, v in values.items()},
            sandbox=self.sandbox,
            limits=Limits(
                memory_mib=m.resources.memory_mib,
                open_files=m.resources.open_files,
                processes=m.task_limit,
            ),
            network=m.network,
            extra_ro=(self.gpu_host.socket_path.parent,) if m.resources.gpu is not None else (),
            pids=self._pid_group(f"{m.name}-v{row.version}", m.task_limit),
        )
        gpu = None
        if m.resources.gpu is not None:
            g = m.resources.gpu
            share = GpuShareSpec(g.model, g.sm_pct, g.quota_pct, g.limit_pct, g.mem_mib)
            gpu = GpuPlacement(self.gpu_host, m.name, row.version, share)
        pool = FunctionPool(
            m.spec(),
            launch,
            self.poke,
            use_template=self.use_template,
            reactive=self.reactive,
            gpu=gpu,
        )
        await pool.start(self.start_timeout_s)
        old = self.pools.get(m.name)
        self.pools[m.name] = pool
        self.manifests[m.name] = m
        # an instance started to prove the code loads (runtimes without templates) is kept
        # until the autoscaler decides otherwise
        floor = max(m.scale.min, old.desired if old else 0, len(pool.active()))
        pool.apply(Decision(m.name, floor, "deployed"))
        if old is not None:
            self._retire(old)
        return pool

    def _retire(self, pool: FunctionPool) -> None:
        task = asyncio.get_running_loop().create_task(self._close_pool(pool))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    # --- deploy / delete -----------------------------------------------------------------
    async def deploy(self, archive: bytes) -> FunctionRow:
        """Deploy a gzipped tar of a function folder; the old version serves until this one is up."""
        incoming = self.home / "functions" / f".incoming-{uuid.uuid4().hex}"
        incoming.mkdir(parents=True)
        try:
            await asyncio.to_thread(_unpack, archive, incoming)
            manifest = await asyncio.to_thread(load_function_dir, incoming)
            async with self._lock(manifest.name):
                live = self.store.get_function(manifest.name)
                version = (live.version if live else 0) + 1
                code_dir = self.home / "functions" / manifest.name / f"v{version}"
                if code_dir.exists():
                    shutil.rmtree(code_dir)
                code_dir.parent.mkdir(parents=True, exist_ok=True)
                incoming.rename(code_dir)
                row = FunctionRow(
                    manifest.name, version, manifest.model_dump(), str(code_dir), time.time()
                )
                try:
                    await self._activate(row)  # imports the handler in a fresh template
                except (StartFailed, InputError):
                    shutil.rmtree(code_dir, ignore_errors=True)
                    if live is None:  # a first deploy refused leaves no folder behind
                        with contextlib.suppress(OSError):
                            code_dir.parent.rmdir()
                    raise
                stored = self.store.put_function(
                    manifest.name, manifest.model_dump(), str(code_dir), row.created_s
                )
                if stored != version:
                    log.warning("%s: stored as v%d, started as v%d", manifest.name, stored, version)
                return FunctionRow(manifest.name, stored, row.spec, str(code_dir), row.created_s)
        finally:
            if incoming.exists():
                shutil.rmtree(incoming, ignore_errors=True)

    async def delete(self, name: str) -> bool:
        """Remove a function now; its instances finish their requests in the background."""
        check_name("function", name)  # never let a name reach the file system unchecked
        async with self._lock(name):
            pool = self.pools.pop(name, None)
            self.manifests.pop(name, None)
            found = self.store.delete_function(name)
            if pool is not None:
                self._retire(pool)
            shutil.rmtree(self.home / "functions" / name, ignore_errors=True)
            return found or pool is not None

    # --- invocations ---------------------------------------------------------------------
    async def invoke(
        self,
        name: str,
        body: bytes,
        content_type: str | None,
        kind: str = "sync",
        inv_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        pool = self.pools.get(name)
        if pool is None:
            return _text(404, f"function {name!r} is not deployed")
        att = _Attempt(self, pool, inv_id or self._next_id(), kind)
        timeout_s = pool.spec.timeout_s
        pool.meter.arrive(att.arrival_s)
        worker = None
        try:
            try:
                # an acknowledged async invocation waits as long as it takes for an instance;
                # a sync caller waits at most its timeout
                wait_s = None if kind == "async" else timeout_s
                while True:
                    try:
                        worker, att.cold = await pool.acquire(wait_s)
                        break
                    except StartFailed:
                        successor = self.pools.get(name)
                        if not pool.closed or successor is None or successor is pool:
                            raise
                        # the version it waited for was replaced: queue at the new one
                        pool.meter.depart(time.time())
                        pool = att.pool = successor
                        pool.meter.arrive(time.time())
            except TimeoutError:
                return att.fail("timeout", 504, f"no instance within {timeout_s:g}s")
            except StartFailed as e:
                return att.fail("error", 503, f"function could not start: {e}")
            att.start_s = time.time()
            att.pid = worker.pid
            att.cold_start_s = worker.cold_start_s if att.cold else 0.0
            deadline = att.start_s + timeout_s  # the timeout bounds execution, not queueing
            meta = {
                "id": att.id,
                "deadline": deadline,
                "ct": content_type,
                "headers": headers or {},
            }
            try:
                rmeta, out = await worker.call(att.id, meta, body, timeout_s)
            except TimeoutError:
                return att.fail(
                    "timeout", 504, f"handler timed out after {timeout_s:g}s; instance killed"
                )
            except WorkerGone as e:
                return att.fail("crash", 502, f"instance crashed: {e}")
            status = int(rmeta.get("status", 500))
            err = str(rmeta.get("error") or "")
            cpu = rmeta.get("cpu_s")
            cpu_s = float(cpu) if isinstance(cpu, int | float) and cpu >= 0 else None
            rec = att.record("error" if err else "ok", status, err, cpu_s)
            hdrs = dict(rmeta.get("headers") or {})
            hdrs["x-tessera-invocation"] = att.id
            if att.cold:
                hdrs["x-tessera-cold-start-ms"] = f"{1000 * att.cold_start_s:.2f}"
            return Reply(status, hdrs, out, rec)
        finally:
            if worker is not None:
                pool.release(worker)
            pool.meter.depart(time.time())

    # --- async invocations ---------------------------------------------------------------
    def enqueue(self, name: str, body: bytes, content_type: str, callback: str | None) -> str:
        """Persist an async invocation; once this returns, it will run (at least once)."""
        if name not in self.pools:
            raise KeyError(name)
        inv_id = self._next_id()
        self.store.enqueue(inv_id, name, body, content_type, callback, time.time())
        self._queue_event.set()
        return inv_id

    async def _dispatch(self) -> None:
        while True:
            room = MAX_ASYNC_IN_FLIGHT - len(self._async_tasks)
            rows = self.store.claim(min(64, room)) if room > 0 else []
            if not rows:
                self._queue_event.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._queue_event.wait(), 0.5)
                continue
            for row in rows:
                task = asyncio.get_running_loop().create_task(self._run_async(row))
                self._async_tasks.add(task)
                task.add_done_callback(self._async_done)
            await asyncio.sleep(0)  # let requests in between batches

    def _async_done(self, task: asyncio.Task[None]) -> None:
        self._async_tasks.discard(task)
        self._queue_event.set()  # there is room again

    async def _run_async(self, row: AsyncRow) -> None:
        try:
            if row.function in self.pools:
                reply = await self.invoke(row.function, row.body, row.content_type, "async", row.id)
            else:
                reply = _text(404, f"function {row.function!r} is not deployed")
        except asyncio.CancelledError:
            raise  # shutdown: the row stays "running" and runs again after the restart
        except Exception as e:
            log.exception("async invocation %s failed in the platform", row.id)
            reply = _text(500, f"platform error: {type(e).__name__}: {e}")
        self.store.complete(row.id, reply.status, reply.headers, reply.body, time.time())
        if row.callback_url:
            await self._callback(row.callback_url, row.id, reply)

    async def _callback(self, url: str, inv_id: str, reply: Reply) -> None:
        import httpx

        headers = {
            **reply.headers,
            "x-tessera-invocation": inv_id,
            "x-tessera-status": str(reply.status),
        }
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                await client.post(url, content=reply.body, headers=headers)
        except Exception as e:  # a bad URL or an unreachable receiver must not kill the task
            log.warning("callback %s for %s failed: %s", url, inv_id, e)

    # --- for the control loop ------------------------------------------------------------
    def close_buckets(self, now_s: float) -> None:
        for pool in self.pools.values():
            pool.meter.close_bucket(now_s)

    def views(self, names: list[str] | None = None) -> dict[str, FunctionView]:
        pools = (
            self.pools if names is None else {n: self.pools[n] for n in names if n in self.pools}
        )
        return {n: p.view(self.bucket_s) for n, p in pools.items()}

    def apply(self, d: Decision) -> None:
        pool = self.pools.get(d.function)
        if pool is not None:
            pool.apply(d)

    async def resize_gpu(self, name: str, changes: dict[str, Any]) -> list[dict[str, Any]]:
        """Vertical scaling: give every live instance of `name` (and later ones) a new share.

        Raises KeyError for an unknown function, `InputError` for a bad change or a function
        without a GPU share, and `GpuHostError` with the host's reason when it refuses.
        """
        pool = self.pools[name]
        if pool.gpu is None:
            raise InputError("function", name, "a function with resources.gpu")
        return await pool.gpu.resize(changes)

    async def gpu_status(self) -> dict[str, Any]:
        """The GPU host's view, and which function and worker each instance belongs to."""
        out = await self.gpu_host.metrics()
        out["functions"] = {
            n: {
                **p.gpu.describe(),
                "workers": {w.gpu_instance: w.pid for w in p.workers if w.gpu_instance},
            }
            for n, p in sorted(self.pools.items())
            if p.gpu is not None
        }
        return out

    def describe(self, name: str) -> dict[str, Any]:
        pool = self.pools[name]
        m = self.manifests[name]
        return {
            "name": name,
            "version": pool.version,
            "handler": m.handler,
            "scale": m.scale.model_dump(),
            "concurrency": m.concurrency,
            "timeout_s": m.timeout_s,
            "instances": len(pool.active()),
            "starting": pool.starting,
            "queued": len(pool.waiters),
            "in_flight": pool.meter.in_flight,
            "cold_starts": pool.cold_starts,
            "gpu": pool.gpu.describe() if pool.gpu is not None else None,
        }
