"""A GPU cluster in simulated time: the driver that runs a GPU policy against request streams.

Why a model of its own: `tessera.sim.engine` simulates CPU functions with one
request per instance; GPU policies (`tessera.scheduling.gpu`) place *slices*
(SM % x time quota %) that serve requests in batches, share GPUs and cost
area x time. This module builds `GpuSnapshot`s from the simulation, applies the
policy's `GpuDecision`s and serves every request, fast enough for a 14-day
trace (`benchmarks/gpu_cluster_trace.py`).

The model, stated once (tested in tests/sim/test_gpu_cluster.py):

- Control: every `decide_interval_s` (2 s) the policy gets a snapshot (held
  GPUs, each function's instances with state, the per-`bucket_s` request rate
  of the last `history_buckets` buckets) and returns target instance sets.
  Plans naming an existing instance keep it (resized in place; a move to
  another GPU is a new instance plus a drain); other plans start a new
  instance after `cold_start_s` on the named GPU, or for `new:<k>` on the
  lowest-numbered GPU holding nothing (equal k, same GPU; none left: the plan
  is rejected and counted). A GPU holds at most its whole area (Σ sm x quota
  of its ready and starting instances <= 1, to 1e-6): new instances that
  would overfill one are rejected and counted, the last planned first
  (draining ones do not count: they leave as their batch ends). Instances
  left out drain: they finish the batch they run, take no more work, and are
  charged until then; one left out while still starting is cancelled at once
  (charged, and slowing its co-tenants, only until then).
  With `warm_start` the first decision's instances are ready at once (the
  service was deployed before the run), so every policy starts warm. With
  `warmup_s` > 0 the service has also been under load before the measured
  run: the simulation covers [0, warmup_s + horizon) of the functions'
  clock, and the policy decides and serves all of it, but only requests
  arriving in [warmup_s, warmup_s + horizon) are recorded and only that span
  is charged, timed, counted (decisions, rejected plans) and plotted, on a
  clock shifted to start at 0 (decision reasons during the warm-up are kept,
  with negative times). Without it a policy's first decision sees no history
  and sizes a loaded service for no load.
- Service: each function has one FIFO queue; the instance that frees up
  first takes the next batch: up to its `batch` requests that have arrived by
  then (fewer when the queue is shorter). A request that would start more than
  `timeout_s` after its arrival is dropped.
- Batch time (`service_latency_ms` if given, else the policy's `latency_ms`):
  `latency_ms(model, m, sm_pct, 100)` of GPU time (the solo,
  whole-time latency of the slice), times the interference slowdown
  `1 + interference x A_other`, where `A_other` (capped at 1) is the summed
  area (sm x quota) of the other ready instances on the same GPU and the
  draining ones still running a batch, when the batch starts (recomputed
  wherever that changes inside a control step: an instance becomes ready, a
  draining one ends its last batch).
  The default 0.376 reproduces the H200 co-location data: four tenants on
  disjoint quarter partitions each ran at ~0.78 of solo speed (A_other 0.75).
- Time quota, exactly: windows of `window_ms` (40 ms) on the absolute clock;
  an instance with quota q computes at full speed while it has used less than
  q x window in the current window, else waits for the next window (a fluid
  token window: work is split at window and budget boundaries). Quota 100%
  never waits. Instances are otherwise independent in time (time-sharing
  partners do not block each other beyond their budgets).
  With `quota_model="measured"` the token window is not simulated: a batch
  takes `latency_ms(model, m, sm_pct, quota_pct)` (times the interference
  slowdown) at once, for latency models measured under real time-slicing
  (the V100 RaPP grid, `tessera.gpu.rapp_table`), whose quota columns hold
  what the token server did to a lone request, host-side floor included.
  Such grids are measured one request at a time, so a low quota's latency is
  often near the whole-time one; back to back a slice with quota q still
  computes at most q of the time, so it takes its next batch only
  `busy_ms` = max(latency, whole-time latency / q) (times the slowdown)
  after the last one started; the batch's requests end at its latency.
- Accounting: tenant cost `cost_gpu_s` = ∫ Σ area dt over starting, ready and
  draining instances (whole-GPU-seconds); provider cost `gpu_s_held` = ∫ GPUs
  holding ≥1 instance dt; both exact over [0, horizon). Work queued at the
  horizon is still served (not charged) so every request gets an outcome.
- Packing efficiency: a*(model, SLO) = min over SM counts 1..total_sms and
  batches (1, 2, 4, ..., 64) whose solo latency meets the SLO of
  sm_share x latency_s / batch, i.e. the least GPU-seconds of SM area one
  request needs; `packing_efficiency` = Σ served x a* / `gpu_s_held`,
  `area_efficiency` = Σ served x a* / `cost_gpu_s`.

Per request it records arrival, start and end (NaN when dropped); the event
loop is per batch (no event heap: control steps are fixed, and within a step
each function's queue is served by a small heap of instance free times), which
is exact for this model.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tessera.core.errors import require
from tessera.core.gpu_policy import (
    GpuDecision,
    GpuFunctionView,
    GpuInstanceView,
    GpuPolicy,
    GpuSnapshot,
    GpuView,
    LatencyModel,
    is_new_gpu,
)
from tessera.core.gpu_run import (  # re-exported: the simulator's API since the start
    A_STAR_BATCHES as A_STAR_BATCHES,
)
from tessera.core.gpu_run import GpuClusterResult as GpuClusterResult
from tessera.core.gpu_run import GpuFunction as GpuFunction
from tessera.core.gpu_run import busy_ms
from tessera.core.gpu_run import min_area_per_request_s as min_area_per_request_s
from tessera.core.gpu_run import summarize as summarize
from tessera.core.policy import InstanceState

_EPS = 1e-12


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """The cluster and its control loop (units in the names)."""

    n_gpus: int = 8
    gpu_type: str = "h200"
    total_sms: int = 132
    sm_step_pct: float = 10.0
    decide_interval_s: float = 2.0  # HAS-GPU's prediction period
    bucket_s: float = 1.0
    history_buckets: int = 60  # KPA's stable window at 1-s buckets
    window_ms: float = 40.0  # FaST-GShare's token window
    cold_start_s: float = 2.0  # model load into a new instance
    interference: float = 0.376  # 4 disjoint tenants at 0.78 of solo (H200 data)
    timeout_s: float = 30.0
    quota_model: str = "window"  # or "measured": batch time read at the slice's quota
    a_star_batches: tuple[int, ...] = A_STAR_BATCHES  # batches a* may use (the profiled ones)
    warm_start: bool = True  # the first decision's instances start ready (a deployed service)
    warmup_s: float = 0.0  # load before the measured run (decided and served, not measured)

    def __post_init__(self) -> None:
        require(self.n_gpus >= 1, "cluster.n_gpus", self.n_gpus, "an integer >= 1")
        require(
            self.decide_interval_s > 0, "cluster.decide_interval_s", self.decide_interval_s, "> 0"
        )
        require(self.bucket_s > 0, "cluster.bucket_s", self.bucket_s, "seconds > 0")
        require(self.history_buckets >= 1, "cluster.history_buckets", self.history_buckets, ">= 1")
        require(self.window_ms > 0, "cluster.window_ms", self.window_ms, "ms > 0")
        require(self.cold_start_s >= 0, "cluster.cold_start_s", self.cold_start_s, "seconds >= 0")
        require(self.interference >= 0, "cluster.interference", self.interference, ">= 0")
        require(self.timeout_s > 0, "cluster.timeout_s", self.timeout_s, "seconds > 0")
        steps = self.warmup_s / self.decide_interval_s
        require(
            math.isfinite(steps) and self.warmup_s >= 0 and abs(steps - round(steps)) < 1e-9,
            "cluster.warmup_s",
            self.warmup_s,
            f"seconds >= 0, a whole number of decide intervals ({self.decide_interval_s:g} s)",
        )
        require(
            len(self.a_star_batches) > 0 and all(b >= 1 for b in self.a_star_batches),
            "cluster.a_star_batches",
            self.a_star_batches,
            "a non-empty tuple of integers >= 1",
        )
        require(
            self.quota_model in ("window", "measured"),
            "cluster.quota_model",
            self.quota_model,
            "'window' (simulate token windows) or 'measured' (latency at the quota)",
        )


class _Inst:
    """One instance in the simulation (mutable; the policy sees `GpuInstanceView`s)."""

    __slots__ = (
        "batch", "cache", "done_s", "draining", "fn", "free_s", "gpu", "id", "obs", "q_off",
        "quota", "ready_s", "slow", "sm", "sm_off", "used_s", "view", "win_k",
    )  # fmt: skip

    def __init__(self, iid: int, fn: str, gpu: str, sm: float, quota: float, batch: int) -> None:
        self.id, self.fn, self.gpu = iid, fn, gpu
        self.sm, self.quota, self.batch = sm, quota, batch
        self.ready_s = self.free_s = 0.0
        self.done_s = 0.0  # when the requests of its last batch end (free_s: its next may start)
        self.draining = False
        self.win_k, self.used_s = -1, 0.0
        self.slow = 1.0
        self.cache: dict[int, tuple[float, float]] = {}  # batch -> (latency, busy) s
        self.view: GpuInstanceView | None = None
        self.obs: dict[int, list[float]] = {}  # batch size -> [seconds, batches] since a snapshot
        self.sm_off: float | None = None
        self.q_off: float | None = None

    @property
    def area(self) -> float:
        return self.sm * self.quota / 10_000.0

    def serve(self, t: float, work_s: float, window_s: float) -> float:
        """End time of `work_s` of GPU time started at `t` under the token window."""
        q = self.quota / 100.0
        if q >= 1.0:
            return t + work_s
        budget = q * window_s
        k = math.floor(t / window_s)
        if k != self.win_k:
            self.win_k, self.used_s = k, 0.0
        rem = work_s
        while True:
            avail = budget - self.used_s
            if avail <= _EPS:
                k += 1
                self.win_k, self.used_s = k, 0.0
                t = max(t, k * window_s)
                continue
            run = min(rem, avail, (k + 1) * window_s - t)
            t += run
            self.used_s += run
            rem -= run
            if rem <= _EPS:
                return t
            if t >= (k + 1) * window_s - _EPS:
                k += 1
                self.win_k, self.used_s = k, 0.0
                t = k * window_s


class GpuCluster:
    """Runs one GPU policy over a set of functions on `config.n_gpus` GPUs."""

    def __init__(
        self,
        policy: GpuPolicy,
        functions: Sequence[GpuFunction],
        latency_ms: LatencyModel,
        config: ClusterConfig | None = None,
        service_latency_ms: LatencyModel | None = None,
    ) -> None:
        require(len(functions) > 0, "functions", len(functions), "at least one function")
        names = [f.name for f in functions]
        require(len(set(names)) == len(names), "functions", names, "unique names")
        self.policy = policy
        self.functions = {f.name: f for f in functions}
        self.cfg = config or ClusterConfig()
        self.latency: LatencyModel = functools.lru_cache(maxsize=None)(latency_ms)
        self.service: LatencyModel = (
            self.latency
            if service_latency_ms is None
            else functools.lru_cache(maxsize=None)(service_latency_ms)
        )
        self.gpu_ids = [f"gpu{k}" for k in range(self.cfg.n_gpus)]
        self._views = {
            g: GpuView(g, self.cfg.gpu_type, self.cfg.total_sms, self.cfg.sm_step_pct)
            for g in self.gpu_ids
        }
        self.active: dict[str, list[_Inst]] = {n: [] for n in names}
        self.draining: list[_Inst] = []
        self._next_id = 0
        self.rejected = 0
        self.rejected_warm = self.decisions_warm = 0  # the counters' values after the warm-up
        self._first_new = 0  # the first instance id the decision being applied starts
        self.decisions = 0

    # -- applying decisions ---------------------------------------------------------------

    def _held(self) -> set[str]:
        held = {i.gpu for insts in self.active.values() for i in insts}
        return held | {i.gpu for i in self.draining}

    def _new(self, fn: str, gpu: str, sm: float, q: float, b: int, now: float) -> _Inst:
        inst = _Inst(self._next_id, fn, gpu, sm, q, b)
        self._next_id += 1
        warm = self.cfg.warm_start and self.decisions <= 1
        inst.ready_s = inst.free_s = inst.done_s = now + (0.0 if warm else self.cfg.cold_start_s)
        return inst

    def _drain(self, inst: _Inst, now: float) -> None:
        inst.draining, inst.view = True, None
        if inst.ready_s > now + _EPS:  # still starting: it never served; the start is cancelled
            inst.done_s = inst.ready_s = inst.free_s = now
        inst.done_s = max(inst.done_s, now)
        if inst.done_s > now + _EPS:
            self.draining.append(inst)

    def apply(self, decisions: Sequence[GpuDecision], now: float) -> None:
        """Make each decided function's instances its target set (see the module docstring)."""
        self._first_new = self._next_id
        new_map: dict[str, str] = {}
        for d in decisions:
            if d.function not in self.active:
                self.rejected += len(d.instances)
                continue
            current = {i.id: i for i in self.active[d.function]}
            kept: list[_Inst] = []
            for p in d.instances:
                inst = current.pop(p.instance_id, None) if p.instance_id is not None else None
                if inst is not None and inst.gpu == p.gpu_id:
                    if (inst.sm, inst.quota, inst.batch) != (p.sm_pct, p.quota_pct, p.batch):
                        inst.sm, inst.quota, inst.batch = p.sm_pct, p.quota_pct, p.batch
                        inst.win_k, inst.cache = -1, {}
                    inst.view, inst.sm_off, inst.q_off = None, p.sm_offset_pct, p.quota_offset_pct
                    kept.append(inst)
                    continue
                if inst is not None:  # moved to another GPU: drain here, start there
                    self._drain(inst, now)
                gpu = self._resolve(p.gpu_id, new_map, kept)
                if gpu is None:
                    self.rejected += 1
                    continue
                new = self._new(d.function, gpu, p.sm_pct, p.quota_pct, p.batch, now)
                new.sm_off, new.q_off = p.sm_offset_pct, p.quota_offset_pct
                kept.append(new)
            for inst in current.values():
                self._drain(inst, now)
            self.active[d.function] = kept
        self._reject_overfill(now)

    def _reject_overfill(self, now: float) -> None:
        """Drop the instances started by this decision (the last first) from any GPU whose
        active area now exceeds 1; a GPU overfilled by resizes alone stays (nothing new to
        drop) - no policy here does that, and the slowdown caps others' area at 1."""
        if self._next_id == self._first_new:  # nothing started: nothing to drop
            return
        area: dict[str, float] = {}
        for insts in self.active.values():
            for i in insts:
                area[i.gpu] = area.get(i.gpu, 0.0) + i.area
        for gpu, total in area.items():
            if total <= 1.0 + 1e-6:
                continue
            fresh = sorted(
                (i for insts in self.active.values() for i in insts
                 if i.gpu == gpu and i.id >= self._first_new),
                key=lambda i: -i.id,
            )  # fmt: skip
            for i in fresh:
                if total <= 1.0 + 1e-6:
                    break
                self.active[i.fn].remove(i)
                total -= i.area
                self.rejected += 1

    def _resolve(self, gpu_id: str, new_map: dict[str, str], kept: list[_Inst]) -> str | None:
        if not is_new_gpu(gpu_id):
            return gpu_id if gpu_id in self._views else None
        if gpu_id not in new_map:
            taken = self._held() | set(new_map.values()) | {i.gpu for i in kept}
            free = [g for g in self.gpu_ids if g not in taken]
            if not free:
                return None
            new_map[gpu_id] = free[0]
        return new_map[gpu_id]

    # -- snapshots ------------------------------------------------------------------------

    def snapshot(self, now: float, state: Any, rates: Mapping[str, np.ndarray]) -> GpuSnapshot:
        held = sorted(self._held())
        k = int(now / self.cfg.bucket_s + 1e-9)
        lo = max(0, k - self.cfg.history_buckets)
        fns = {}
        for name, f in self.functions.items():
            views = []
            for i in self.active[name]:
                st = InstanceState.READY if i.ready_s <= now + _EPS else InstanceState.STARTING
                if i.obs:  # what it ran since the last snapshot: a view of its own
                    seen = tuple((m, 1000.0 * s / n) for m, (s, n) in sorted(i.obs.items()))
                    i.obs = {}
                    views.append(GpuInstanceView(
                        i.id, i.gpu, i.sm, i.quota, i.batch, st, i.sm_off, i.q_off, seen
                    ))  # fmt: skip
                    continue
                if i.view is None or i.view.state is not st:
                    i.view = GpuInstanceView(
                        i.id, i.gpu, i.sm, i.quota, i.batch, st, i.sm_off, i.q_off
                    )
                views.append(i.view)
            for i in self.draining:
                if i.fn == name:
                    views.append(
                        GpuInstanceView(
                            i.id,
                            i.gpu,
                            i.sm,
                            i.quota,
                            i.batch,
                            InstanceState.DRAINING,
                            i.sm_off,
                            i.q_off,
                        )
                    )
            r = rates[name]
            window = tuple(r[lo:k].tolist()) if k <= len(r) else tuple(r[lo:].tolist())
            fns[name] = GpuFunctionView(
                name, f.model, f.slo_ms, tuple(views), window, (), self.cfg.bucket_s
            )
        return GpuSnapshot(
            now, {g: self._views[g] for g in held}, fns, state, {"latency_ms": self.latency}
        )

    # -- serving --------------------------------------------------------------------------

    def _members(self) -> list[_Inst]:
        return [i for insts in self.active.values() for i in insts] + self.draining

    def _cuts(self, now: float, t_end: float) -> list[float]:
        """Times inside (now, t_end) where a GPU's co-tenants change: an instance becomes
        ready, or a draining one ends its last batch."""
        at = {i.done_s if i.draining else i.ready_s for i in self._members()}
        return sorted(t for t in at if now + _EPS < t < t_end - _EPS)

    def _slowdowns(self, now: float) -> None:
        """Each instance's slowdown for batches starting from `now`: co-tenants are the ready
        instances and the draining ones still running a batch."""
        area: dict[str, float] = {}
        members = self._members()
        present = {
            i.id
            for i in members
            if (i.done_s > now + _EPS if i.draining else i.ready_s <= now + _EPS)
        }
        for i in members:
            if i.id in present:
                area[i.gpu] = area.get(i.gpu, 0.0) + i.area
        for i in members:
            own = i.area if i.id in present else 0.0
            other = min(1.0, max(0.0, area.get(i.gpu, 0.0) - own))
            slow = 1.0 + self.cfg.interference * other
            if slow != i.slow:
                i.slow, i.cache = slow, {}

    def _serve(
        self,
        insts: list[_Inst],
        arr: list[float],
        idx: int,
        t_end: float,
        model: str,
        starts: list[float],
        ends: list[float],
    ) -> int:
        """Serve `arr[idx:]` with `insts` for batches starting before `t_end`; next index."""
        n = len(arr)
        if not insts or idx >= n:
            return idx
        timeout = self.cfg.timeout_s
        window_s = self.cfg.window_ms / 1000.0
        measured = self.cfg.quota_model == "measured"
        lat = self.service
        heap = [(i.free_s, i.id, i) for i in insts]
        heapq.heapify(heap)
        nan = math.nan
        while idx < n:
            free, iid, inst = heap[0]
            a = arr[idx]
            t = free if free > a else a
            if t >= t_end:
                break
            if t - a > timeout:  # drop every request too old to start now
                j = bisect.bisect_left(arr, t - timeout, idx)
                starts.extend([nan] * (j - idx))
                ends.extend([nan] * (j - idx))
                idx = j
                continue
            b = inst.batch
            k = idx + 1 if b == 1 else bisect.bisect_right(arr, t, idx, min(n, idx + b))
            m = k - idx
            cached = inst.cache.get(m)
            if cached is None:
                if measured:  # the batch's latency; the slice busy max(it, latency(100) / q)
                    work = lat(model, m, inst.sm, inst.quota) * inst.slow / 1000.0
                    busy = busy_ms(lat, model, inst.sm, inst.quota, m) * inst.slow / 1000.0
                else:
                    work = busy = lat(model, m, inst.sm, 100.0) * inst.slow / 1000.0
                cached = inst.cache[m] = (work, busy)
            work, busy = cached
            if measured:
                e, free = t + work, t + busy
            else:
                e = free = inst.serve(t, work, window_s)
            if m == 1:
                starts.append(t)
                ends.append(e)
            else:
                starts.extend([t] * m)
                ends.extend([e] * m)
            o = inst.obs.get(m)
            if o is None:
                inst.obs[m] = [e - t, 1.0]
            else:
                o[0] += e - t
                o[1] += 1.0
            idx = k
            inst.free_s, inst.done_s = free, e
            heapq.heapreplace(heap, (free, iid, inst))
        return idx

    # -- the run --------------------------------------------------------------------------

    def run(self, horizon_s: float) -> GpuClusterResult:
        """Simulate `cfg.warmup_s` + `horizon_s` seconds; measure the last `horizon_s`."""
        require(horizon_s > 0, "horizon_s", horizon_s, "seconds > 0")
        cfg = self.cfg
        warm_steps = round(cfg.warmup_s / cfg.decide_interval_s)
        span_s = cfg.warmup_s + horizon_s
        nb = math.ceil(span_s / cfg.bucket_s) + 1
        rates: dict[str, np.ndarray] = {}
        arrs: dict[str, list[float]] = {}
        for name, f in self.functions.items():
            a = f.arrivals_s[f.arrivals_s < span_s]
            arrs[name] = a.tolist()
            counts = np.bincount((a / cfg.bucket_s).astype(np.int64), minlength=nb)
            rates[name] = counts / cfg.bucket_s
        idx = dict.fromkeys(self.functions, 0)
        starts: dict[str, list[float]] = {n: [] for n in self.functions}
        ends: dict[str, list[float]] = {n: [] for n in self.functions}
        reasons: dict[str, list[str]] = {n: [] for n in self.functions}
        steps = warm_steps + math.ceil(horizon_s / cfg.decide_interval_s - 1e-9)
        t_line = np.zeros(steps - warm_steps)
        area_line = np.zeros(steps - warm_steps)
        held_line = np.zeros(steps - warm_steps)
        cost = held_s = 0.0
        state: Any = None
        for s in range(steps):
            now = s * cfg.decide_interval_s
            t_end = min(span_s, now + cfg.decide_interval_s)
            if s == warm_steps:  # the measured run's counters start here
                self.decisions_warm, self.rejected_warm = self.decisions, self.rejected
            res = self.policy.decide(self.snapshot(now, state, rates))
            state = res.state
            self.decisions += 1
            for d in res.decisions:
                if d.function in reasons and len(reasons[d.function]) < 50:
                    reasons[d.function].append(f"t={now - cfg.warmup_s:g}s: {d.reason}")
            self.apply(res.decisions, now)
            # the slowdown is set per batch start: recomputed wherever co-tenants change
            bounds = [now, *self._cuts(now, t_end), t_end]
            for t0, t1 in itertools.pairwise(bounds):
                self._slowdowns(t0)
                for name, f in self.functions.items():
                    idx[name] = self._serve(
                        self.active[name], arrs[name], idx[name], t1, f.model,
                        starts[name], ends[name],
                    )  # fmt: skip
            if s < warm_steps:  # the warm-up: served, not charged
                self.draining = [i for i in self.draining if i.done_s > t_end + _EPS]
                continue
            # accounting over [now, t_end)
            dt = t_end - now
            gpu_time: dict[str, float] = {}
            area = 0.0
            for insts in self.active.values():
                for i in insts:
                    cost += i.area * dt
                    area += i.area
                    gpu_time[i.gpu] = dt
            alive = []
            for i in self.draining:
                stay = min(i.done_s, t_end) - now
                cost += i.area * stay
                area += i.area
                gpu_time[i.gpu] = max(gpu_time.get(i.gpu, 0.0), stay)
                if i.done_s > t_end + _EPS:
                    alive.append(i)
            self.draining = alive
            held_s += sum(gpu_time.values())
            k = s - warm_steps
            t_line[k], area_line[k], held_line[k] = now - cfg.warmup_s, area, len(gpu_time)
        for name, f in self.functions.items():  # serve what is queued at the horizon
            idx[name] = self._serve(
                self.active[name], arrs[name], idx[name], math.inf, f.model,
                starts[name], ends[name],
            )  # fmt: skip
        return self._result(horizon_s, arrs, starts, ends, cost, held_s, reasons,
                            (t_line, area_line, held_line))  # fmt: skip

    def _result(
        self,
        horizon_s: float,
        arrs: dict[str, list[float]],
        starts: dict[str, list[float]],
        ends: dict[str, list[float]],
        cost: float,
        held_s: float,
        reasons: dict[str, list[str]],
        lines: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> GpuClusterResult:
        a_d, s_d, e_d = {}, {}, {}
        w = self.cfg.warmup_s
        for name in self.functions:
            a = np.asarray(arrs[name], dtype=float)
            st = np.full(len(a), np.nan)
            en = np.full(len(a), np.nan)
            st[: len(starts[name])] = starts[name]
            en[: len(ends[name])] = ends[name]
            keep = a >= w  # the warm-up's requests are not measured; the clock starts at 0
            a_d[name], s_d[name], e_d[name] = a[keep] - w, st[keep] - w, en[keep] - w
        out = GpuClusterResult(
            a_d, s_d, e_d, {n: f.slo_ms for n, f in self.functions.items()}, *lines,
            reasons=reasons,
        )  # fmt: skip
        models = {n: f.model for n, f in self.functions.items()}
        out.metrics = summarize(out, models, self.latency, self.cfg.total_sms, horizon_s,
                                cost, held_s, self.cfg.a_star_batches)  # fmt: skip
        out.metrics["decisions"] = float(self.decisions - self.decisions_warm)
        out.metrics["rejected_plans"] = float(self.rejected - self.rejected_warm)
        return out


def simulate(
    policy: GpuPolicy,
    functions: Sequence[GpuFunction],
    latency_ms: LatencyModel,
    horizon_s: float,
    config: ClusterConfig | None = None,
    service_latency_ms: LatencyModel | None = None,
) -> GpuClusterResult:
    """Run `policy` over `functions` for `horizon_s` seconds of simulated time.

    `latency_ms` is what the policy plans with (its snapshot's model) and, by
    default, what a batch takes; `service_latency_ms`, when given, is what a
    batch takes instead (the hardware), so a planning model's error shows up
    as it would on a real GPU. Packing efficiency's a* stays `latency_ms`'s.
    """
    return GpuCluster(policy, functions, latency_ms, config, service_latency_ms).run(horizon_s)


# -- arrival processes (vectorised) ------------------------------------------------------


def piecewise_poisson(
    rng: np.random.Generator, rates_rps: Sequence[float] | np.ndarray, step_s: float
) -> np.ndarray:
    """Poisson arrivals at `rates_rps[k]` during [k step, (k+1) step) (HAS-GPU's stages)."""
    rates = np.asarray(rates_rps, dtype=float)
    require(bool(np.all(rates >= 0)), "rates_rps", rates_rps, "rates >= 0")
    counts = rng.poisson(rates * step_s)
    offsets = np.repeat(np.arange(len(rates)) * step_s, counts)
    out: np.ndarray = np.sort(offsets + rng.uniform(0.0, step_s, int(counts.sum())))
    return out


def even_stages(rates_rps: Sequence[float] | np.ndarray, step_s: float) -> np.ndarray:
    """HAS-GPU's load client: during stage k, round(`rates_rps[k]`) requests in every second,
    evenly spaced within it (their client sends a stage's whole-number rate that way)."""
    rates = np.asarray(rates_rps, dtype=float)
    require(bool(np.all(rates >= 0)), "rates_rps", rates_rps, "rates >= 0")
    out: list[float] = []
    for k, r in enumerate(np.rint(rates).astype(int)):
        t0 = k * step_s
        for sec in range(math.ceil(step_s - 1e-9)):
            start = t0 + sec
            span = min(1.0, t0 + step_s - start)
            out.extend(start + span * i / r for i in range(r) if r > 0)
    return np.asarray(out, dtype=float)


def minute_replay(
    rng: np.random.Generator, counts_per_min: np.ndarray, scale: float = 1.0
) -> np.ndarray:
    """Arrivals reproducing per-minute counts x `scale` (stochastic rounding), uniform in the minute."""
    scaled = np.asarray(counts_per_min, dtype=float) * scale
    base = np.floor(scaled)
    counts = (base + (rng.random(len(scaled)) < scaled - base)).astype(np.int64)
    offsets = np.repeat(np.arange(len(scaled)) * 60.0, counts)
    out: np.ndarray = np.sort(offsets + rng.uniform(0.0, 60.0, int(counts.sum())))
    return out
