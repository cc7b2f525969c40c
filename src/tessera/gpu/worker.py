"""One GPU, several function instances: SM partitions x time quotas, resized at runtime.

Why this module: it is the mechanism behind a `GpuShare` (FaST-GShare's
spatio-temporal sharing, HAS-GPU's vertical scaling). A policy decides an
instance's `sm_pct` and quota; the worker makes it so on one device, from
Python, without a daemon or root:

- space: each instance below 100% SMs owns a disjoint set of chunks of the
  device's single SM split (a green context on a real GPU); instances at
  100% share the whole GPU, time-sliced;
- time: a `TokenGate` (request/limit quotas per 40 ms window) is consulted
  before every launch and charged with the launch's measured GPU time;
- weights are loaded once per model key and shared by every instance of it;
- memory is accounted per instance (its `mem_mib` budget) plus one copy of
  each model's weights, and an instance that would exceed the GPU's budget is
  refused with the numbers;
- `resize` changes either axis while the instance serves: a new partition is
  opened and the graphs captured there first, then the instance switches
  between two launches and the old partition is drained and closed. A quota
  change takes effect at the next window.

`time_slice="exclusive"` (default) lets one instance of a sharing domain run
at a time, as a time-sliced GPU does, so each launch's measured GPU time is
its own; "concurrent" lets whole-GPU instances overlap on separate streams
(more throughput, but CUDA-event times then include waiting for SMs, so the
quota charges more than each instance's own share).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from tessera.core.errors import InputError, require
from tessera.gpu.device import Device, Executable, LoadedModel, Partition
from tessera.gpu.gate import DEFAULT_WINDOW_MS, Quota, TokenGate, wait_turn
from tessera.gpu.records import InferResult, InstanceMetrics, ResizeReport, achieved_share, summary

__all__ = ["GpuWorker", "InferResult", "InstanceMetrics", "ResizeReport", "achieved_share"]

RECENT = 4096
"""Launches kept per instance for metrics."""


@dataclass(slots=True)
class _Instance:
    name: str
    model: LoadedModel
    mem_mib: int
    partition: Partition
    exes: dict[int, Executable]
    lock: threading.Lock = field(default_factory=threading.Lock)
    """Held during a launch: one batch at a time per instance."""
    cond: threading.Condition = field(default_factory=threading.Condition)
    """Guards `partition`, `exes` and `inflight` (short holds only, so a resize never starves)."""
    inflight: dict[int, int] = field(default_factory=dict)
    requests: int = 0
    recent: deque[InferResult] = field(default_factory=lambda: deque(maxlen=RECENT))


def _as_quota(quota: Quota | float | tuple[float, float]) -> Quota:
    if isinstance(quota, Quota):
        return quota
    if isinstance(quota, tuple):
        return Quota(*quota)
    return Quota.of(quota)


class GpuWorker:
    """Hosts function instances on one `Device` (see the module docstring)."""

    def __init__(
        self,
        device: Device,
        *,
        window_ms: float = DEFAULT_WINDOW_MS,
        mem_budget_mib: int | None = None,
        time_slice: Literal["exclusive", "concurrent"] = "exclusive",
    ) -> None:
        require(
            time_slice in ("exclusive", "concurrent"),
            "time_slice",
            time_slice,
            "'exclusive' or 'concurrent'",
        )
        self.device = device
        self.gate = TokenGate(window_ms)
        info = device.info
        self.mem_budget_mib = info.mem_mib if mem_budget_mib is None else int(mem_budget_mib)
        require(
            0 < self.mem_budget_mib <= info.mem_mib,
            "mem_budget_mib",
            mem_budget_mib,
            f"1..{info.mem_mib} (the device's memory, MiB)",
        )
        self.time_slice = time_slice
        self._instances: dict[str, _Instance] = {}
        self._weights: dict[str, tuple[LoadedModel, int]] = {}  # key -> (model, refcount)
        self._owner: dict[int, str] = {}  # chunk -> instance
        self._domain_locks: dict[str, threading.Lock] = {}
        self._lock = threading.RLock()

    # -- bookkeeping ------------------------------------------------------------
    def _get(self, name: str) -> _Instance:
        inst = self._instances.get(name)
        if inst is None:
            raise InputError(
                "name", name, f"one of the worker's instances {sorted(self._instances)}"
            )
        return inst

    def names(self) -> list[str]:
        return sorted(self._instances)

    @property
    def mem_used_mib(self) -> int:
        with self._lock:
            inst = sum(i.mem_mib for i in self._instances.values())
            return inst + sum(m.mem_mib for m, _ in self._weights.values())

    def free_sms(self) -> int:
        """SMs not yet owned by a partition (whole-GPU instances own none)."""
        info = self.device.info
        return (info.chunks - len(self._owner)) * info.sm_granularity

    @staticmethod
    def _domain(part: Partition, name: str) -> str:
        return "gpu" if part.whole else f"sm:{name}"

    def _domain_lock(self, domain: str) -> threading.Lock:
        with self._lock:
            return self._domain_locks.setdefault(domain, threading.Lock())

    def _pick_chunks(self, name: str, sms: int) -> tuple[int, ...] | None:
        """Chunks for a partition of `sms` SMs: free ones first, then `name`'s own."""
        info = self.device.info
        if sms == info.total_sms:
            return None
        n = sms // info.sm_granularity
        free = [c for c in range(info.chunks) if c not in self._owner]
        own = [c for c, o in self._owner.items() if o == name]
        if n > len(free) + len(own):
            raise InputError(
                "sm_pct",
                round(info.sm_pct(sms), 4),
                f"at most {(len(free) + len(own)) * info.sm_granularity} SMs: "
                f"{len(self._owner) * info.sm_granularity} of {info.chunks * info.sm_granularity} "
                "partitionable SMs are held by other instances (or 100 for the whole GPU, time-sliced)",
            )
        return tuple(sorted((free + sorted(own))[:n]))

    # -- lifecycle --------------------------------------------------------------
    def add_instance(
        self,
        name: str,
        model_key: str,
        sm_pct: float = 100.0,
        quota_request: float = 1.0,
        quota_limit: float | None = None,
        mem_mib: int = 0,
        *,
        batches: Iterable[int] = (1,),
    ) -> None:
        """Start instance `name` of `model_key` on `sm_pct`% of the SMs with a time quota.

        `sm_pct` must be 100 (whole GPU, time-sliced) or name a multiple of the
        device's SM granularity; `quota_limit` defaults to `quota_request`.
        `mem_mib` is the instance's own budget (activations, graphs); the
        model's weights are counted once per model key. CUDA graphs are
        captured now for `batches`, later for other batch sizes on first use.
        """
        require(isinstance(name, str) and bool(name), "name", name, "a non-empty instance name")
        require(
            isinstance(mem_mib, int) and mem_mib >= 0, "mem_mib", mem_mib, "an integer >= 0 (MiB)"
        )
        quota = Quota.of(quota_request, quota_limit)
        batch_list = sorted(set(batches))
        for b in batch_list:
            require(isinstance(b, int) and b >= 1, "batches", list(batches), "integers >= 1")
        with self._lock:
            require(name not in self._instances, "name", name, "a name not already in use")
            sms = self.device.info.sms_for_pct(sm_pct)
            chunks = self._pick_chunks(name, sms)
            model = self._acquire_weights(model_key, mem_mib)
            part: Partition | None = None
            try:
                part = self.device.open_partition(chunks)
                self.gate.add(name, quota, self.device.clock.now_s(), self._domain(part, name))
                try:
                    exes = {b: self.device.capture(part, model, b) for b in batch_list}
                except BaseException:
                    self.gate.remove(name)
                    raise
            except BaseException:
                if part is not None:
                    self.device.close_partition(part)
                self._release_weights(model_key)
                raise
            for c in chunks or ():
                self._owner[c] = name
            self._instances[name] = _Instance(name, model, mem_mib, part, exes)

    def _acquire_weights(self, key: str, mem_mib: int) -> LoadedModel:
        held = self._weights.get(key)
        new_weights = 0
        model: LoadedModel | None = None
        if held is None:
            model = self.device.load_model(key)
            new_weights = model.mem_mib
        need = mem_mib + new_weights
        used = self.mem_used_mib
        if used + need > self.mem_budget_mib:
            if model is not None:
                self.device.unload_model(model)
            extra = f" + {new_weights} MiB for the weights of {key!r}" if new_weights else ""
            raise InputError(
                "mem_mib",
                mem_mib,
                f"at most {max(0, self.mem_budget_mib - used - new_weights)} MiB: the GPU budget is "
                f"{self.mem_budget_mib} MiB and {used} MiB are held by {len(self._instances)} "
                f"instance(s) and shared weights{extra}",
            )
        if held is None:
            assert model is not None
            self._weights[key] = (model, 1)
            return model
        self._weights[key] = (held[0], held[1] + 1)
        return held[0]

    def _release_weights(self, key: str) -> None:
        model, refs = self._weights[key]
        if refs > 1:
            self._weights[key] = (model, refs - 1)
        else:
            del self._weights[key]
            self.device.unload_model(model)

    def remove(self, name: str) -> None:
        """Stop `name`: wait for its launch in flight, drain and free its partition and memory."""
        with self._lock:
            inst = self._get(name)
            del self._instances[name]
            for c in [c for c, o in self._owner.items() if o == name]:
                del self._owner[c]
            self.gate.remove(name)
        with inst.lock:
            for exe in inst.exes.values():
                self.device.release(exe)
            self.device.close_partition(inst.partition)
        with self._lock:
            self._release_weights(inst.model.key)

    def close(self) -> None:
        for name in self.names():
            self.remove(name)

    def resize(
        self,
        name: str,
        sm_pct: float | None = None,
        quota: Quota | float | tuple[float, float] | None = None,
    ) -> ResizeReport | None:
        """Change `name`'s SM partition and/or quota while it serves.

        A quota (a `Quota`, a fraction used as request and limit, or a
        (request, limit) pair) takes effect at the next window. An SM change
        opens the new partition and captures there before switching, then
        drains and closes the old one; its timings are returned.
        """
        new_quota = None if quota is None else _as_quota(quota)
        with self._lock:
            inst = self._get(name)
            if new_quota is not None:
                self.gate.set_quota(name, new_quota)
            if sm_pct is None:
                return None
            info = self.device.info
            sms = info.sms_for_pct(sm_pct)
            old = inst.partition
            if sms == old.sms:
                return None
            chunks = self._pick_chunks(name, sms)
            for c in chunks or ():
                self._owner[c] = name  # reserve now; the old ones are freed after the drain
        clock = self.device.clock
        t0 = clock.now_s()
        try:
            part = self.device.open_partition(chunks)
        except BaseException:
            with self._lock:
                self._restore_owner(name, old)
            raise
        t1 = clock.now_s()
        try:
            with self._lock:
                batches = sorted(inst.exes)
            exes = {b: self.device.capture(part, inst.model, b) for b in batches}
        except BaseException:
            self.device.close_partition(part)
            with self._lock:
                self._restore_owner(name, old)
            raise
        t2 = clock.now_s()
        try:
            with inst.cond:  # between two launches: the next one uses the new partition
                # first, as it may refuse (the quota does not fit the new sharing domain)
                self.gate.set_domain(name, self._domain(part, name))
                old_exes, inst.exes, inst.partition = inst.exes, exes, part
        except BaseException:
            for exe in exes.values():
                self.device.release(exe)
            self.device.close_partition(part)
            with self._lock:
                self._restore_owner(name, old)
            raise
        t3 = clock.now_s()
        with inst.cond:  # drain: the launch still running on the old partition ends
            inst.cond.wait_for(lambda: inst.inflight.get(old.id, 0) == 0)
        for exe in old_exes.values():
            self.device.release(exe)
        self.device.close_partition(old)
        t4 = clock.now_s()
        with self._lock:
            self._restore_owner(name, part)
        ms = 1000.0
        return ResizeReport(
            name, old.sms, part.sms, (t1 - t0) * ms, (t2 - t1) * ms, (t3 - t2) * ms, (t4 - t3) * ms
        )

    def _restore_owner(self, name: str, part: Partition) -> None:
        for c in [c for c, o in self._owner.items() if o == name]:
            del self._owner[c]
        for c in part.chunks or ():
            self._owner[c] = name

    # -- serving ----------------------------------------------------------------
    def infer(self, name: str, batch: int) -> InferResult:
        """Run one batch on `name`: wait for GPU time, launch, charge the measured time."""
        inst = self._get(name)
        clock = self.device.clock
        t0 = clock.now_s()
        wait_turn(self.gate, name, clock)
        t_admit = clock.now_s()
        with inst.lock:
            with inst.cond:
                part = inst.partition
                exe = inst.exes.get(batch)
                inst.inflight[part.id] = inst.inflight.get(part.id, 0) + 1
            try:
                fresh = exe is None
                if exe is None:
                    require(
                        isinstance(batch, int) and batch >= 1, "batch", batch, "an integer >= 1"
                    )
                    exe = self.device.capture(part, inst.model, batch)
                if self.time_slice == "exclusive":
                    with self._domain_lock(self._domain(part, name)):
                        gpu_ms = self.device.run(exe)
                else:
                    gpu_ms = self.device.run(exe)
            finally:
                with inst.cond:
                    inst.inflight[part.id] -= 1
                    if fresh and exe is not None:
                        kept = inst.partition is part and inst.exes.setdefault(batch, exe) is exe
                        if not kept:  # resized meanwhile, or another thread captured it too
                            self.device.release(exe)
                    inst.cond.notify_all()
            t1 = clock.now_s()
            self.gate.charge(name, gpu_ms, t1)
            res = InferResult(name, batch, (t1 - t0) * 1000.0, gpu_ms, (t_admit - t0) * 1000.0, t1)
            inst.requests += 1
            inst.recent.append(res)
        return res

    def run_for(self, name: str, batch: int, seconds: float) -> list[InferResult]:
        """Closed loop: infer back to back for `seconds` of the device's clock."""
        clock = self.device.clock
        end = clock.now_s() + seconds
        out = []
        while clock.now_s() < end:
            out.append(self.infer(name, batch))
        return out

    # -- metrics ----------------------------------------------------------------
    def metrics(self, name: str) -> InstanceMetrics:
        with self._lock:
            inst = self._get(name)
            recent = list(inst.recent)
            info = self.device.info
            return InstanceMetrics(
                name=name,
                model_key=inst.model.key,
                sms=inst.partition.sms,
                sm_pct=info.sm_pct(inst.partition.sms),
                quota=self.gate.quota(name),
                mem_mib=inst.mem_mib,
                requests=inst.requests,
                latency_ms=summary(r.latency_ms for r in recent),
                gpu_ms=summary(r.gpu_ms for r in recent),
                window_shares=[w.share for w in self.gate.history(name)],
            )

    def chunks(self, name: str) -> tuple[int, ...] | None:
        """The SM chunks `name`'s partition owns (None: the whole GPU, time-sliced)."""
        with self._lock:
            return self._get(name).partition.chunks

    def weights(self) -> dict[str, tuple[int, int]]:
        """model key -> (MiB of its one copy, instances sharing it)."""
        with self._lock:
            return {k: (m.mem_mib, n) for k, (m, n) in self._weights.items()}
