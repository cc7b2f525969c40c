"""One GPU, several function instances: SM partitions x time quotas, resized at runtime.

Why this module: it is the mechanism behind a `GpuShare` (FaST-GShare's
spatio-temporal sharing, HAS-GPU's vertical scaling). A policy decides an
instance's `sm_pct` and quota; the worker makes it so on one device, from
Python, without a daemon or root:

- space: each partition below 100% SMs owns a disjoint set of chunks of the
  device's single SM split (a green context on a real GPU). An instance gets
  a partition of its own, or joins an existing instance's with
  `add_instance(..., share=other)`: the instances of one partition (a *row*
  of the SM x time plane, as FaST-GShare's and HAS-GPU's plans stack them)
  time-share its SMs. Instances at 100% share the whole GPU, time-sliced;
- time: a `TokenGate` (request/limit quotas per 40 ms window) is consulted
  before every launch and charged with the launch's measured GPU time. Each
  partition is one sharing domain of the gate (the whole GPU is one more), so
  the requests of the instances sharing it add up to at most one window;
- weights are loaded once per model key and shared by every instance of it;
- memory is accounted per instance (its `mem_mib` budget) plus one copy of
  each model's weights, and an instance that would exceed the GPU's budget is
  refused with the numbers;
- `resize` changes either axis while the instance serves: a new partition is
  opened and the graphs captured there first, then the instance switches
  between two launches and leaves the old partition, which is drained and
  closed when its last instance has left. A quota change takes effect at the
  next window.

`time_slice="exclusive"` (default) lets one instance of a sharing domain run
at a time, as a time-sliced GPU does, so each launch's measured GPU time is
its own; "concurrent" lets whole-GPU instances overlap on separate streams
(more throughput, but CUDA-event times then include waiting for SMs, so the
quota charges more than each instance's own share). The instances of one
sub-GPU partition launch on its one stream, so they always take turns.
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


@dataclass(slots=True, eq=False)
class _Group:
    """One open partition and the instances on it (time-sharing it when there are several)."""

    gid: str
    partition: Partition
    domain: str
    """The gate's sharing domain: "gpu" for the whole GPU, else this partition's own."""
    lock: threading.Lock
    """Held during a launch (and a capture) on the partition: its instances take turns."""
    members: list[str] = field(default_factory=list)
    joining: int = 0
    """Instances being moved onto it (capturing there): it stays open for them."""
    retiring: bool = False
    """Its last instance is leaving (removed, or resized onto some of its chunks): none may join."""


@dataclass(frozen=True, slots=True)
class _Move:
    """Where a resize takes an instance: onto `target`, or onto `chunks` reserved as `gid`."""

    old: _Group
    target: _Group | None
    gid: str = ""
    chunks: tuple[int, ...] | None = None
    reused: bool = False
    """`chunks` include some of `old`'s (its only instance shrinks or grows in place)."""


@dataclass(slots=True)
class _Instance:
    name: str
    model: LoadedModel
    mem_mib: int
    group: _Group
    exes: dict[int, Executable]
    asked: Quota
    """The latest quota set (the gate's takes effect at the next window)."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    """Held during a launch: one batch at a time per instance."""
    cond: threading.Condition = field(default_factory=threading.Condition)
    """Guards `group`, `exes` and `inflight` (short holds only, so a resize never starves)."""
    inflight: dict[int, int] = field(default_factory=dict)
    requests: int = 0
    recent: deque[InferResult] = field(default_factory=lambda: deque(maxlen=RECENT))

    @property
    def partition(self) -> Partition:
        return self.group.partition


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
        self._owner: dict[int, str] = {}  # chunk -> partition group id
        self._gpu_lock = threading.Lock()  # the whole GPU's turn (time_slice="exclusive")
        self._groups_made = 0
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

    def _new_gid(self) -> str:
        self._groups_made += 1
        return f"p{self._groups_made}"

    def _group(self, gid: str, part: Partition) -> _Group:
        if part.whole:
            return _Group(gid, part, "gpu", self._gpu_lock)
        return _Group(gid, part, f"sm:{gid}", threading.Lock())

    def _set_owner(self, gid: str, chunks: Iterable[int] | None) -> None:
        for c in chunks or ():
            self._owner[c] = gid

    def _drop_owner(self, gid: str) -> None:
        for c in [c for c, o in self._owner.items() if o == gid]:
            del self._owner[c]

    def _pick_chunks(self, sms: int, reuse: _Group | None) -> tuple[int, ...] | None:
        """Chunks for a partition of `sms` SMs: free ones first, then those of `reuse`."""
        info = self.device.info
        if sms == info.total_sms:
            return None
        n = sms // info.sm_granularity
        free = [c for c in range(info.chunks) if c not in self._owner]
        own = [] if reuse is None else sorted(c for c, o in self._owner.items() if o == reuse.gid)
        if n > len(free) + len(own):
            raise InputError(
                "sm_pct",
                round(info.sm_pct(sms), 4),
                f"at most {(len(free) + len(own)) * info.sm_granularity} SMs: "
                f"{len(self._owner) * info.sm_granularity} of {info.chunks * info.sm_granularity} "
                "partitionable SMs are held by other instances (or 100 for the whole GPU, time-sliced)",
            )
        return tuple(sorted((free + own)[:n]))

    def _joinable(self, share: str, sms: int, sm_pct: float) -> _Group | None:
        """The partition `share` is on, for a new instance of `sms` SMs (None: the whole GPU)."""
        host = self._instances.get(share)
        if host is None:
            raise InputError(
                "share",
                share,
                f"one of the worker's instances {sorted(self._instances)} (whose partition to join)",
            )
        group = host.group
        if group.partition.sms != sms:
            have = group.partition.sms
            raise InputError(
                "sm_pct",
                sm_pct,
                f"{self.device.info.sm_pct(have):.4f} ({have} SMs), the partition of "
                f"share={share!r}; or no share, for a partition of its own",
            )
        if group.partition.whole:  # every whole-GPU instance time-shares the GPU already
            return None
        require(
            not group.retiring,
            "share",
            share,
            "an instance whose partition stays open (this one's is being resized away or removed)",
        )
        return group

    def _capture(self, group: _Group, model: LoadedModel, batch: int) -> Executable:
        """Capture on `group`'s partition; on a sub-GPU one between its instances' launches (one stream)."""
        if group.partition.whole:
            return self.device.capture(group.partition, model, batch)
        with group.lock:
            return self.device.capture(group.partition, model, batch)

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
        share: str | None = None,
    ) -> None:
        """Start instance `name` of `model_key` on `sm_pct`% of the SMs with a time quota.

        `sm_pct` must be 100 (whole GPU, time-sliced) or name a multiple of the
        device's SM granularity; `quota_limit` defaults to `quota_request`.
        `mem_mib` is the instance's own budget (activations, graphs); the
        model's weights are counted once per model key. CUDA graphs are
        captured now for `batches`, later for other batch sizes on first use.

        `share` names an existing instance whose partition this one joins
        instead of getting chunks of its own: `sm_pct` must equal that
        instance's, the two (and any others there) take turns on its SMs, and
        their quota requests must fit one window together. The partition
        stays open while any of its instances does. At 100% every instance
        time-shares the GPU anyway, so `share` then only checks the name.
        """
        require(isinstance(name, str) and bool(name), "name", name, "a non-empty instance name")
        require(
            isinstance(mem_mib, int) and mem_mib >= 0, "mem_mib", mem_mib, "an integer >= 0 (MiB)"
        )
        require(share is None or isinstance(share, str), "share", share, "an instance name or None")
        quota = Quota.of(quota_request, quota_limit)
        batch_list = sorted(set(batches))
        for b in batch_list:
            require(isinstance(b, int) and b >= 1, "batches", list(batches), "integers >= 1")
        with self._lock:
            require(name not in self._instances, "name", name, "a name not already in use")
            sms = self.device.info.sms_for_pct(sm_pct)
            joined = None if share is None else self._joinable(share, sms, sm_pct)
            chunks = None if joined is not None else self._pick_chunks(sms, None)
            model = self._acquire_weights(model_key, mem_mib)
            group = joined
            try:
                if group is None:
                    group = self._group(self._new_gid(), self.device.open_partition(chunks))
                self._admit(name, quota, group, share if joined is not None else None)
                try:
                    exes = {b: self._capture(group, model, b) for b in batch_list}
                except BaseException:
                    self.gate.remove(name)
                    raise
            except BaseException:
                if group is not None and joined is None:
                    self.device.close_partition(group.partition)
                self._release_weights(model_key)
                raise
            if joined is None:
                self._set_owner(group.gid, chunks)
            group.members.append(name)
            self._instances[name] = _Instance(name, model, mem_mib, group, exes, quota)

    def _admit(self, name: str, quota: Quota, group: _Group, share: str | None) -> None:
        """Enter `group`'s sharing domain in the gate (refused when the requests exceed a window)."""
        try:
            self.gate.add(name, quota, self.device.clock.now_s(), group.domain)
        except InputError as e:
            if share is None or e.field != "quota_request":
                raise
            raise InputError(
                "quota_request",
                quota.request,
                f"{e.accepted}: share={share!r} joins the partition (chunks "
                f"{list(group.partition.chunks or ())}) time-shared by {sorted(group.members)}, "
                "whose requests add up to at most one window",
            ) from None

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
        """Stop `name`: wait for its launch in flight, free its graphs and memory.

        Its partition is drained and closed (its chunks freed) unless other
        instances share it, which keep it.
        """
        with self._lock:
            inst = self._get(name)
            del self._instances[name]
            group = inst.group
            group.members.remove(name)
            last = not group.members and not group.joining
            if last:
                group.retiring = True
                self._drop_owner(group.gid)
            self.gate.remove(name)
        with inst.lock:
            for exe in inst.exes.values():
                self.device.release(exe)
            if last:
                self.device.close_partition(group.partition)
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
        *,
        share: str | None = None,
        alone: bool = False,
    ) -> ResizeReport | None:
        """Change `name`'s SM partition and/or quota while it serves.

        A quota (a `Quota`, a fraction used as request and limit, or a
        (request, limit) pair) takes effect at the next window, in the same
        sharing domain. An SM change moves `name` alone to a new partition
        (the others on its old one stay there); `share=other` moves it onto
        `other`'s partition instead (`sm_pct`, if given, must be that one's);
        `alone=True` gives it a partition of its own even at the same size.
        A move captures on the new partition before switching, then drains
        the old one, closed once its last instance has left; its timings are
        returned (None when nothing moved).
        """
        new_quota = None if quota is None else _as_quota(quota)
        require(
            share is None or not alone,
            "alone",
            alone,
            "False when share is given (join that partition, or get one's own)",
        )
        with self._lock:
            inst = self._get(name)
            if new_quota is not None:
                self.gate.set_quota(name, new_quota)
                inst.asked = new_quota
            move = self._plan_move(inst, sm_pct, share, alone)
        return None if move is None else self._move(inst, move)

    def _plan_move(
        self,
        inst: _Instance,
        sm_pct: float | None,
        share: str | None,
        alone: bool,
    ) -> _Move | None:
        """Where a resize takes `inst`: onto an existing group, or onto chunks reserved now."""
        old = inst.group
        info = self.device.info
        if share is not None:
            require(share != inst.name, "share", share, "another instance's name")
            mate = self._instances.get(share)
            have = mate.partition.sms if mate is not None else old.partition.sms
            sms = have if sm_pct is None else info.sms_for_pct(sm_pct)
            target = self._joinable(share, sms, info.sm_pct(have) if sm_pct is None else sm_pct)
            if target is old:
                return None
            if target is not None:
                self._check_room(inst.asked.request, target, share)
                target.joining += 1
                return _Move(old, target)
        else:
            sms = old.partition.sms if sm_pct is None else info.sms_for_pct(sm_pct)
        if sms == old.partition.sms and (
            old.partition.whole or not alone or old.members == [inst.name]
        ):
            return None
        sole = old.members == [inst.name] and not old.joining
        chunks = self._pick_chunks(sms, old if sole else None)
        gid = self._new_gid()
        self._set_owner(gid, chunks)  # reserve now; the old ones are freed after the drain
        reused = sole and bool(set(chunks or ()) & set(old.partition.chunks or ()))
        old.retiring = old.retiring or reused
        return _Move(old, None, gid, chunks, reused)

    def _check_room(self, request: float, target: _Group, share: str) -> None:
        """Refuse early (before capturing) a move whose quota the shared partition has no room for."""
        held = sum(  # as the gate counts them: a pending change holds the larger request
            max(self.gate.quota(m).request, self._instances[m].asked.request)
            for m in target.members
        )
        if held + request > 1.0 + 1e-9:
            raise InputError(
                "quota_request",
                request,
                f"at most {max(0.0, 1.0 - held):.3f}: share={share!r} joins the partition (chunks "
                f"{list(target.partition.chunks or ())}) time-shared by {sorted(target.members)}, "
                f"whose requests hold {held:.3f} of the window",
            )

    def _move(self, inst: _Instance, mv: _Move) -> ResizeReport:
        """Open (or join) the new partition, capture there, switch, drain and leave the old one."""
        old = mv.old
        clock = self.device.clock
        t0 = clock.now_s()
        if mv.target is None:
            try:
                group = self._group(mv.gid, self.device.open_partition(mv.chunks))
            except BaseException:
                self._abort_move(mv, None)
                raise
        else:
            group = mv.target
        t1 = clock.now_s()
        try:
            with self._lock:
                batches = sorted(inst.exes)
            exes = {b: self._capture(group, inst.model, b) for b in batches}
        except BaseException:
            self._abort_move(mv, group)
            raise
        t2 = clock.now_s()
        try:
            with self._lock, inst.cond:  # between two launches: the next one uses the new partition
                # first, as it may refuse (the quota does not fit the new sharing domain)
                require(self._instances.get(inst.name) is inst, "name", inst.name, "not removed")
                self.gate.set_domain(inst.name, group.domain)
                old_exes, inst.exes, inst.group = inst.exes, exes, group
                group.members.append(inst.name)
                if mv.target is not None:
                    group.joining -= 1
                old.members.remove(inst.name)
                last = not old.members and not old.joining
                old.retiring = old.retiring or last
        except BaseException:
            for exe in exes.values():
                self.device.release(exe)
            self._abort_move(mv, group)
            raise
        t3 = clock.now_s()
        with inst.cond:  # drain: the launch still running on the old partition ends
            inst.cond.wait_for(lambda: inst.inflight.get(old.partition.id, 0) == 0)
        for exe in old_exes.values():
            self.device.release(exe)
        if last:
            self.device.close_partition(old.partition)
        t4 = clock.now_s()
        if last:
            with self._lock:
                self._drop_owner(old.gid)
        ms = 1000.0
        return ResizeReport(
            inst.name,
            old.partition.sms,
            group.partition.sms,
            (t1 - t0) * ms,
            (t2 - t1) * ms,
            (t3 - t2) * ms,
            (t4 - t3) * ms,
        )

    def _abort_move(self, mv: _Move, group: _Group | None) -> None:
        """Undo a move that failed before switching: the instance stays where it was."""
        if mv.target is None:
            if group is not None:
                self.device.close_partition(group.partition)
            with self._lock:
                self._drop_owner(mv.gid)
                if mv.old.members:
                    self._set_owner(mv.old.gid, mv.old.partition.chunks)
                if mv.reused:
                    mv.old.retiring = False
            return
        with self._lock:  # a join: the partition may have lost its last member meanwhile
            target = mv.target
            target.joining -= 1
            last = not target.members and not target.joining
            if last:
                target.retiring = True
                self._drop_owner(target.gid)
        if last:
            self.device.close_partition(target.partition)

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
                group = inst.group
                part = group.partition
                exe = inst.exes.get(batch)
                inst.inflight[part.id] = inst.inflight.get(part.id, 0) + 1
            try:
                fresh = exe is None
                if exe is None:
                    require(
                        isinstance(batch, int) and batch >= 1, "batch", batch, "an integer >= 1"
                    )
                    exe = self._capture(group, inst.model, batch)
                if self.time_slice == "exclusive" or not part.whole:
                    with group.lock:
                        gpu_ms = self.device.run(exe)
                else:
                    gpu_ms = self.device.run(exe)
            finally:
                with inst.cond:
                    inst.inflight[part.id] -= 1
                    if fresh and exe is not None:
                        kept = inst.group is group and inst.exes.setdefault(batch, exe) is exe
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

    def sharing(self, name: str) -> tuple[str, ...]:
        """The instances on `name`'s partition, itself included, sorted.

        Whole-GPU instances each have a partition of their own (and all
        time-share the GPU through the gate's "gpu" domain).
        """
        with self._lock:
            return tuple(sorted(self._get(name).group.members))

    def weights(self) -> dict[str, tuple[int, int]]:
        """model key -> (MiB of its one copy, instances sharing it)."""
        with self._lock:
            return {k: (m.mem_mib, n) for k, (m, n) in self._weights.items()}
