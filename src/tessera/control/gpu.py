"""The GPU control loop: the wall-clock driver of a `GpuPolicy` in front of one `GpuWorker`.

Why it exists: GPU policies (`tessera.scheduling.gpu`) are pure functions of a
`GpuSnapshot`. `tessera.sim.gpu_cluster` drives them in simulated time; this
module drives the *same policy objects* over a real worker (one process, one
GPU - a `CudaDevice`, or the `SimulatedDevice` on the wall clock) and reports
the same metrics through `summarize`, so simulated and real runs compare.
It follows the simulator's model (its module docstring) wherever a GPU allows:

- Control: every `interval_s` the policy gets a snapshot - GPU `gpu_id`
  (listed while it holds an instance; SM steps of the device's granularity),
  each function's instances (STARTING while the worker loads it, READY,
  DRAINING until removed), the request rate of the last `history_buckets`
  complete `bucket_s` buckets, its own state and `extra["latency_ms"]`.
  A plan naming a live instance keeps it, resized in place
  (`GpuWorker.resize`: SM partition and quota while it serves; a new batch
  size from its next batch); a plan without one starts a new instance
  (`add_instance`: the cold start is loading weights and capturing graphs);
  instances left out drain (finish the batch in flight, then `remove`).
  `new:<k>` means the one GPU when the snapshot showed it holding nothing
  (equal k, same GPU); any other GPU is rejected, counted and logged. With
  `warm_start` the first decision (t=0) is applied before the clock starts.
- Actuation runs off the control thread, in one actuator thread, in decision
  order: drains, shrinking resizes, growing ones, new instances - so a cold
  start never delays the next decision, and SMs a drain frees are free for
  what follows. What the worker refuses is rejected, counted and logged, and
  the snapshot shows what the worker really holds.
- Rows: instances a decision stacks in time on the same sub-GPU SMs (the same
  planned `sm_pct` and, where both plans give one, the same `sm_offset_pct`:
  HAS-GPU's `_Gpu.row`, a MaxRects column) share one partition on the
  worker: a new one starts with `share=` a live instance of its row (any
  function's) whose partition has time left for its quota, else on a
  partition of its own. A kept instance whose plan changes its SM share or
  takes it off its partners' row moves (`GpuWorker.resize`) next to a live
  instance of its new row with time left, else onto a partition of its own;
  a quota cut is applied before such a move, a raise after it. If the worker
  refuses a share (the row's time is still held, e.g. by a quota cut that
  takes effect only at the next window) the instance gets a partition of its
  own, as without rows. Instances at 100% SMs time-share the GPU anyway.
- SM shares are granted with `tessera.gpu.host.grant_sm_pct`: the smallest
  partition with at least the planned share (whole chunks of the device's
  split, or the whole GPU above the largest partition). A policy built with
  `sm_step_pct` = the device's step (100 x 8 / 132 on an H200) plans exact
  partitions; otherwise plans are rounded up - never fewer SMs than the SLO
  was checked with, but the charged area grows and a layout may no longer
  fit (the worker refuses; counted). A warning says so once.
- Service: one FIFO queue per function; each ready instance has a serving
  thread that takes up to `batch` queued requests and runs them as one batch
  (`GpuWorker.infer`, behind the instance's quota: request = limit, no
  borrowing, as the simulator's quota). A request that would start more than
  `timeout_s` after it arrived is dropped. Batch sizes 1..8 (then powers of
  two and the batch itself) are captured at the cold start; a partial batch
  runs at the next captured size.
- Accounting, as the simulator: `cost_gpu_s` = integral of the summed
  sm x quota / 10^4 of starting, ready and draining instances (from the
  decision that creates one to its removal; a refused start is not charged),
  `gpu_s_held` = time the GPU holds at least one instance, both over
  [0, horizon). Work queued at the horizon is served (at most `drain_s`
  longer, uncharged) so every request gets an outcome.

The clock is the worker's device clock and must advance by itself (a
`WallClock`): threads wait on it.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import queue
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tessera.core.errors import InputError, require
from tessera.core.gpu_policy import (
    GpuDecision,
    GpuFunctionView,
    GpuInstancePlan,
    GpuInstanceView,
    GpuPolicy,
    GpuSnapshot,
    GpuView,
    LatencyModel,
    is_new_gpu,
)
from tessera.core.gpu_run import GpuClusterResult, GpuFunction, summarize
from tessera.core.policy import InstanceState
from tessera.gpu.gate import Quota
from tessera.gpu.host import grant_sm_pct
from tessera.gpu.latency import h200_latency_ms, known_models
from tessera.gpu.worker import GpuWorker

__all__ = [
    "Action",
    "DecisionRecord",
    "GpuControlLoop",
    "GpuLoopConfig",
    "GpuLoopResult",
    "Rejection",
    "replay",
    "run_trace",
]

log = logging.getLogger("tessera.control.gpu")
_EPS = 1e-9
_ROW_EPS = 1e-6  # plans in one SM row repeat the policy's own numbers


@dataclass(frozen=True, slots=True)
class GpuLoopConfig:
    """Timing and limits of the loop (defaults as the simulator's `ClusterConfig`)."""

    interval_s: float = 2.0  # HAS-GPU's prediction period
    bucket_s: float = 1.0
    history_buckets: int = 60  # KPA's stable window at 1-s buckets
    timeout_s: float = 30.0  # a request not started this long after arriving is dropped
    drain_s: float = 30.0  # at the horizon, how long queued work may still take
    warm_start: bool = True  # the first decision's instances are up before t=0
    gpu_id: str = "gpu0"
    gpu_type: str = "h200"
    instance_mem_mib: int = 0  # each instance's own memory budget (weights are counted once)

    def __post_init__(self) -> None:
        require(self.interval_s > 0, "interval_s", self.interval_s, "seconds > 0")
        require(self.bucket_s > 0, "bucket_s", self.bucket_s, "seconds > 0")
        require(self.history_buckets >= 1, "history_buckets", self.history_buckets, ">= 1")
        require(self.timeout_s > 0, "timeout_s", self.timeout_s, "seconds > 0")
        require(self.drain_s >= 0, "drain_s", self.drain_s, "seconds >= 0")
        require(self.instance_mem_mib >= 0, "instance_mem_mib", self.instance_mem_mib, ">= 0")


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One function's decision at `t_s` (seconds since the start), with the policy's reason."""

    t_s: float
    function: str
    reason: str
    plans: tuple[GpuInstancePlan, ...]


@dataclass(frozen=True, slots=True)
class Action:
    """What the actuator did to the worker: add / resize / remove, and how long it took."""

    t_s: float
    instance: str
    kind: str
    detail: str
    took_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Rejection:
    """A plan or a change that could not be applied, and why.

    `kind`: "gpu" (a GPU other than the one), "function" (unknown), "worker" (refused by it).
    """

    t_s: float
    function: str
    kind: str
    reason: str


@dataclass
class GpuLoopResult:
    """Per-request records and metrics (as the simulator's), plus what the loop decided and did."""

    result: GpuClusterResult
    decisions: list[DecisionRecord]
    actions: list[Action]
    rejections: list[Rejection]
    errors: list[str]
    info: dict[str, float] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, float]:
        return self.result.metrics


class _Req:
    __slots__ = ("arrival_s", "end_s", "start_s")

    def __init__(self, arrival_s: float) -> None:
        self.arrival_s, self.start_s, self.end_s = arrival_s, math.nan, math.nan


class _Queue:
    """One function's FIFO; `cond` also wakes its serving threads to stop."""

    __slots__ = ("busy", "cond", "items")

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.items: deque[_Req] = deque()
        self.busy = 0


class _Inst:
    """One instance: its target slice (what snapshots show) and what the worker holds."""

    __slots__ = (
        "added", "batch", "draining", "failed", "fn", "id", "live", "name", "obs", "plan_sm",
        "q_off", "quota", "segments", "sm", "sm_off", "stop", "t_end", "thread",
    )  # fmt: skip

    def __init__(self, iid: int, fn: str, p: GpuInstancePlan, sm: float, t_s: float) -> None:
        self.id, self.fn, self.name = iid, fn, f"{fn}-{iid}"
        self.sm, self.quota, self.batch = sm, p.quota_pct, p.batch
        self.plan_sm = p.sm_pct  # as planned: rows are told apart by it (`sm` is granted)
        self.sm_off, self.q_off = p.sm_offset_pct, p.quota_offset_pct
        self.live: tuple[float, float] | None = None  # (sm %, quota %) on the worker
        self.added = self.draining = self.failed = self.stop = False
        self.thread: threading.Thread | None = None
        self.segments: list[tuple[float, float]] = [(t_s, self.area)]  # (since, area)
        self.t_end = math.inf
        # batch size -> [seconds, batches] since the last snapshot (under its queue's lock)
        self.obs: dict[int, list[float]] = {}

    @property
    def area(self) -> float:
        return self.sm * self.quota / 10_000.0

    def same_row(self, other: _Inst) -> bool:
        return _one_row(self.plan_sm, self.sm_off, other.plan_sm, other.sm_off)


def _one_row(sm_a: float, off_a: float | None, sm_b: float, off_b: float | None) -> bool:
    """Whether two plans put their slices on one SM row: the same width, at the same offset if given."""
    if abs(sm_a - sm_b) > _ROW_EPS:
        return False
    return off_a is None or off_b is None or abs(off_a - off_b) < _ROW_EPS


@dataclass(slots=True)
class _Step:
    drains: list[_Inst]
    resizes: list[_Inst]
    adds: list[_Inst]


def _as_functions(functions: Sequence[Any]) -> list[GpuFunction]:
    out: list[GpuFunction] = []
    for k, f in enumerate(functions):
        if isinstance(f, GpuFunction):
            out.append(f)
            continue
        require(
            isinstance(f, tuple | list) and len(f) in (3, 4),
            f"functions[{k}]",
            f,
            "a GpuFunction or a (name, model, slo_ms[, arrivals_s]) tuple",
        )
        arr = np.asarray(f[3] if len(f) == 4 else (), dtype=float)
        out.append(GpuFunction(str(f[0]), str(f[1]), float(f[2]), arr))
    require(len(out) > 0, "functions", len(out), "at least one function")
    names = [f.name for f in out]
    require(len(set(names)) == len(names), "functions", names, "unique names")
    return out


def _batch_sizes(batch: int) -> tuple[int, ...]:
    """Batch sizes captured at a cold start: 1..8, then powers of two, and `batch` itself."""
    sizes = {b for b in range(1, min(batch, 8) + 1)}
    sizes |= {2**k for k in range(4, 12) if 2**k < batch} | {batch}
    return tuple(sorted(sizes))


class GpuControlLoop:
    """Drives `policy` over `worker`'s one GPU on the wall clock (see the module docstring).

    `start()`, then `submit(function)` per request (any thread), then
    `close()` for the result; or `replay`/`run_trace` for a trace.
    """

    def __init__(
        self,
        policy: GpuPolicy,
        worker: GpuWorker,
        functions: Sequence[Any],
        *,
        latency_ms: LatencyModel | None = None,
        config: GpuLoopConfig | None = None,
    ) -> None:
        require(
            callable(getattr(policy, "decide", None)),
            "policy",
            policy,
            "a GpuPolicy (an object with decide(snapshot))",
        )
        self.policy, self.worker = policy, worker
        self.cfg = config or GpuLoopConfig()
        self.functions = {f.name: f for f in _as_functions(functions)}
        lat = latency_ms or h200_latency_ms
        for k, f in enumerate(self.functions.values()):
            try:
                lat(f.model, 1, 100.0, 100.0)
            except Exception as e:
                known = f" (the built-in table: {known_models()})" if latency_ms is None else ""
                raise InputError(
                    f"functions[{k}].model", f.model, f"a model the latency model knows{known}"
                ) from e
        self.latency: LatencyModel = functools.lru_cache(maxsize=None)(lat)
        info = worker.device.info
        self.clock = worker.device.clock
        self.total_sms = info.total_sms
        step = 100.0 * info.sm_granularity / info.total_sms
        self._gpu = GpuView(self.cfg.gpu_id, self.cfg.gpu_type, info.total_sms, step)
        p_step = getattr(policy, "sm_step_pct", None)
        if isinstance(p_step, int | float) and abs(p_step - step) > 1e-6:
            log.warning(
                "policy %s plans SM shares in steps of %g%%, the device in %.4f%%: "
                "shares are rounded up to whole partitions",
                getattr(policy, "name", policy),
                p_step,
                step,
            )
        self._lock = threading.RLock()
        self._queues = {n: _Queue() for n in self.functions}
        self._reqs: dict[str, list[_Req]] = {n: [] for n in self.functions}
        self._counts: dict[str, list[int]] = {n: [] for n in self.functions}
        self._active: dict[str, list[_Inst]] = {n: [] for n in self.functions}
        self._draining: list[_Inst] = []
        self._all: list[_Inst] = []
        self._next_id = 0
        self._state: Any = None
        self._jobs: queue.Queue[_Step | None] = queue.Queue()
        self._stop = threading.Event()
        self._t0 = 0.0
        self._until: float | None = None
        self._started = self._closed = False
        self._control: threading.Thread | None = None
        self._actuator: threading.Thread | None = None
        self.decisions: list[DecisionRecord] = []
        self.actions: list[Action] = []
        self.rejections: list[Rejection] = []
        self.errors: list[str] = []
        self._timeline: list[tuple[float, float, float]] = []
        self._n_decisions = 0
        self._cold_s: list[float] = []
        self._late_s = 0.0

    # -- time ---------------------------------------------------------------------------

    def now_s(self) -> float:
        """Seconds since the start (t=0: after the warm deployment)."""
        return self.clock.now_s() - self._t0

    def sleep_until(self, t_s: float) -> bool:
        """Wait until `t_s` (loop time) or `close`; True if closing."""
        return self._stop.wait(max(0.0, t_s - self.now_s()))

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, horizon_s: float | None = None) -> None:
        """Deploy (the first decision, with `warm_start`), then decide every `interval_s`.

        No decision is taken at or after `horizon_s` (a trace's end), if given.
        """
        require(not self._started, "start", "again", "one start per loop")
        require(horizon_s is None or horizon_s > 0, "horizon_s", horizon_s, "seconds > 0")
        self._started, self._until = True, horizon_s
        self._t0 = self.clock.now_s()
        self._actuator = threading.Thread(target=self._actuate_main, name="gpu-actuator")
        self._actuator.daemon = True
        self._actuator.start()
        first = 0
        if self.cfg.warm_start:
            try:
                self._tick(0.0)
                self._jobs.join()
            except BaseException:  # nothing may outlive a failed start
                self._jobs.put(None)
                self._actuator.join()
                self._closed = True
                raise
            self._t0 = self.clock.now_s()
            with self._lock:
                for inst in self._all:
                    inst.segments = [(0.0, inst.area)]
            first = 1
        self._control = threading.Thread(
            target=self._control_main, args=(first,), name="gpu-control"
        )
        self._control.daemon = True
        self._control.start()

    def submit(self, function: str) -> None:
        """One request for `function`, arriving now (thread-safe)."""
        q = self._queues.get(function)
        if q is None:
            raise InputError("function", function, f"one of {sorted(self._queues)}")
        req = _Req(self.now_s())
        k = int(req.arrival_s / self.cfg.bucket_s)
        with self._lock:
            counts = self._counts[function]
            if len(counts) <= k:
                counts.extend([0] * (k + 1 - len(counts)))
            counts[k] += 1
            self._reqs[function].append(req)
        with q.cond:
            q.items.append(req)
            q.cond.notify()

    def __enter__(self) -> GpuControlLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started and not self._closed:
            self.close()

    # -- deciding -----------------------------------------------------------------------

    def _control_main(self, s: int) -> None:
        while True:
            t = s * self.cfg.interval_s
            if self._until is not None and t >= self._until - _EPS:
                return
            if self.sleep_until(t):
                return
            now = self.now_s()
            self._late_s = max(self._late_s, now - t)
            try:
                self._tick(now)
            except Exception as e:  # a bad decision must not stop the loop
                log.exception("GPU control step at t=%.2fs failed", now)
                self.errors.append(f"t={now:.2f}s: {type(e).__name__}: {e}")
            s += 1

    def _tick(self, now: float) -> None:
        with self._lock:
            snap = self._snapshot(now)
        res = self.policy.decide(snap)
        with self._lock:
            self._state = res.state
            self._n_decisions += 1
            for d in res.decisions:
                self.decisions.append(DecisionRecord(now, d.function, d.reason, d.instances))
            step = self._apply(res.decisions, now, bool(snap.gpus))
            live = [i for insts in self._active.values() for i in insts] + self._draining
            self._timeline.append((now, sum(i.area for i in live), 1.0 if live else 0.0))
        self._jobs.put(step)

    def _snapshot(self, now: float) -> GpuSnapshot:
        cfg = self.cfg
        k = int(now / cfg.bucket_s + 1e-9)
        lo = max(0, k - cfg.history_buckets)
        held = any(self._active.values()) or bool(self._draining)
        fns = {}
        for name, f in self.functions.items():
            with self._queues[name].cond:  # the batches each ran since the last snapshot
                seen = {i.id: i.obs for i in self._active[name]}
                for i in self._active[name]:
                    i.obs = {}
            views = [self._view(i, seen[i.id]) for i in self._active[name]]
            views += [self._view(i) for i in self._draining if i.fn == name]
            c = self._counts[name]
            window = tuple((c[j] if j < len(c) else 0) / cfg.bucket_s for j in range(lo, k))
            fns[name] = GpuFunctionView(
                name, f.model, f.slo_ms, tuple(views), window, (), cfg.bucket_s
            )
        gpus = {self._gpu.id: self._gpu} if held else {}
        return GpuSnapshot(now, gpus, fns, self._state, {"latency_ms": self.latency})

    def _view(self, i: _Inst, obs: dict[int, list[float]] | None = None) -> GpuInstanceView:
        st = (
            InstanceState.DRAINING
            if i.draining
            else (InstanceState.READY if i.added else InstanceState.STARTING)
        )
        seen = tuple((b, 1000.0 * s / n) for b, (s, n) in sorted((obs or {}).items()) if s > 0)
        return GpuInstanceView(
            i.id, self._gpu.id, i.sm, i.quota, i.batch, st, i.sm_off, i.q_off, seen
        )

    def _apply(self, decisions: Sequence[GpuDecision], now: float, held: bool) -> _Step:
        """Turn target sets into worker changes (the simulator's `apply`, on one GPU)."""
        step = _Step([], [], [])
        new_map: dict[str, str] = {}
        for d in decisions:
            if d.function not in self._active:
                for _ in d.instances:
                    self._reject(now, d.function, "function", "unknown function")
                continue
            current = {i.id: i for i in self._active[d.function]}
            kept: list[_Inst] = []
            for p in d.instances:
                inst = current.pop(p.instance_id, None) if p.instance_id is not None else None
                sm = grant_sm_pct(self.worker.device.info, p.sm_pct)
                if inst is not None and p.gpu_id == self._gpu.id:
                    row = _one_row(inst.plan_sm, inst.sm_off, p.sm_pct, p.sm_offset_pct)
                    if (inst.sm, inst.quota) != (sm, p.quota_pct) or not row:
                        inst.sm, inst.quota = sm, p.quota_pct
                        step.resizes.append(inst)
                    inst.batch, inst.plan_sm = p.batch, p.sm_pct
                    inst.sm_off, inst.q_off = p.sm_offset_pct, p.quota_offset_pct
                    kept.append(inst)
                    continue
                if inst is not None:  # moved to another GPU: drain here, start there
                    self._drain(inst, step)
                if not self._resolve(p.gpu_id, new_map, held or bool(kept)):
                    self._reject(
                        now,
                        d.function,
                        "gpu",
                        f"plan on GPU {p.gpu_id!r} ({p.sm_pct:g}% SMs x {p.quota_pct:g}%): "
                        f"this loop drives one GPU, {self._gpu.id!r}, which is held",
                    )
                    continue
                new = _Inst(self._next_id, d.function, p, sm, now)
                self._next_id += 1
                self._all.append(new)
                step.adds.append(new)
                kept.append(new)
            for inst in current.values():
                self._drain(inst, step)
            self._active[d.function] = kept
        return step

    def _resolve(self, gpu_id: str, new_map: dict[str, str], held: bool) -> bool:
        if not is_new_gpu(gpu_id):
            return gpu_id == self._gpu.id
        if gpu_id not in new_map:
            if held or new_map:
                return False
            new_map[gpu_id] = self._gpu.id
        return True

    def _drain(self, inst: _Inst, step: _Step) -> None:
        inst.draining = True
        self._draining.append(inst)
        step.drains.append(inst)
        q = self._queues[inst.fn]
        with q.cond:
            inst.stop = True
            q.cond.notify_all()

    def _reject(self, now: float, fn: str, kind: str, reason: str) -> None:
        self.rejections.append(Rejection(now, fn, kind, reason))
        log.warning("t=%.2fs %s: rejected: %s", now, fn, reason)

    # -- acting on the worker (the actuator thread) ---------------------------------------

    def _actuate_main(self) -> None:
        while True:
            step = self._jobs.get()
            try:
                if step is None:
                    return
                for inst in step.drains:
                    self._remove(inst)
                order = sorted(step.resizes, key=self._growth)
                for inst in order:
                    self._resize(inst)
                for inst in step.adds:
                    self._add(inst)
            except Exception as e:
                log.exception("GPU actuation failed")
                self.errors.append(f"actuator: {type(e).__name__}: {e}")
            finally:
                self._jobs.task_done()

    @staticmethod
    def _growth(inst: _Inst) -> tuple[float, float]:
        live = inst.live or (inst.sm, inst.quota)
        return (inst.sm - live[0], inst.quota - live[1])

    def _add(self, inst: _Inst) -> None:
        with self._lock:
            sm, quota, batch = inst.sm, inst.quota, inst.batch
            mate = self._row_mate(inst, sm, quota)
        t = self.clock.now_s()
        try:
            shared = self._start(inst, sm, quota, batch, mate)
        except Exception as e:
            with self._lock:
                inst.failed = True
                if inst in self._active[inst.fn]:
                    self._active[inst.fn].remove(inst)
                if inst in self._draining:
                    self._draining.remove(inst)
                self._reject(
                    self.now_s(), inst.fn, "worker", f"worker refused to start {inst.name}: {e}"
                )
            return
        took = self.clock.now_s() - t
        now = self.now_s()
        with self._lock:
            inst.live, inst.added = (sm, quota), True
            self._cold_s.append(took)
            self.actions.append(
                Action(
                    now,
                    inst.name,
                    "add",
                    f"sm {sm:.4g}% x quota {quota:g}% x b{batch}"
                    + (f", sharing the partition of {shared}" if shared else ""),
                    took,
                )
            )
            if not inst.draining:
                inst.thread = threading.Thread(
                    target=self._serve, args=(inst,), name=f"gpu-serve-{inst.name}"
                )
                inst.thread.daemon = True
                inst.thread.start()
            changed = (inst.sm, inst.quota) != (sm, quota)
        if changed:  # re-planned while it started
            self._resize(inst)

    def _on_worker(self) -> dict[str, _Inst]:
        """Instances the worker holds, by name (draining ones until removed)."""
        on = [i for v in self._active.values() for i in v] + self._draining
        return {i.name: i for i in on if i.added and i.live is not None}

    def _row_mate(
        self, inst: _Inst, sm: float, quota: float, skip: Sequence[str] = ()
    ) -> str | None:
        """A live instance of `inst`'s SM row whose partition has `quota`% left, if any."""
        if sm >= 100.0 - _EPS:
            return None
        by_name = self._on_worker()
        for other in sorted(by_name.values(), key=lambda i: i.id):
            if other is inst or other.draining or other.live is None or other.name in skip:
                continue
            if abs(other.live[0] - sm) > _EPS or not inst.same_row(other):
                continue
            try:
                names = self.worker.sharing(other.name)
            except InputError:
                continue
            mates = [by_name[n] for n in names if n in by_name]
            held = sum(max(m.quota, (m.live or (0.0, 0.0))[1]) for m in mates)
            if held + quota <= 100.0 + _EPS:
                return other.name
        return None

    def _start(
        self, inst: _Inst, sm: float, quota: float, batch: int, mate: str | None
    ) -> str | None:
        """Add `inst` to the worker, on `mate`'s partition if given; returns whom it shares with."""
        add = functools.partial(
            self.worker.add_instance,
            inst.name,
            self.functions[inst.fn].model,
            sm_pct=sm,
            quota_request=quota / 100.0,
            mem_mib=self.cfg.instance_mem_mib,
            batches=_batch_sizes(batch),
        )
        if mate is not None:
            try:
                add(share=mate)
                return mate
            except InputError as e:  # the row's time is still held: a partition of its own
                if e.field not in ("quota_request", "share"):
                    raise
                log.info("%s: not sharing %s's partition (%s)", inst.name, mate, e)
        add()
        return None

    def _destination(self, inst: _Inst, sm: float, quota: float) -> tuple[str | None, bool]:
        """(a row mate to move next to, whether `inst` must leave its partners' partition)."""
        if sm >= 100.0 - _EPS or inst.live is None:
            return None, False
        try:
            partners = [n for n in self.worker.sharing(inst.name) if n != inst.name]
        except InputError:
            return None, False
        by_name = self._on_worker()
        leave = any(
            n in by_name and not by_name[n].draining and not inst.same_row(by_name[n])
            for n in partners
        )
        if not leave and abs(sm - inst.live[0]) <= _EPS:
            return None, False
        return self._row_mate(inst, sm, quota, partners), leave

    def _move(self, inst: _Inst, sm: float, mate: str | None, leave: bool) -> str:
        """Resize `inst` to `sm`, onto `mate`'s partition if given; says where it went."""
        if mate is not None:
            try:
                self.worker.resize(inst.name, sm_pct=sm, share=mate)
                return f", sharing the partition of {mate}"
            except InputError as e:  # the row's time is still held: a partition of its own
                if e.field not in ("quota_request", "share", "sm_pct"):
                    raise
                log.info("%s: not moving onto %s's partition (%s)", inst.name, mate, e)
        if leave:
            self.worker.resize(inst.name, sm_pct=sm, alone=True)
            return ", off its row's partition onto one of its own"
        self.worker.resize(inst.name, sm_pct=sm)
        return ""

    def _resize(self, inst: _Inst) -> None:
        with self._lock:
            if inst.draining or inst.live is None:
                return
            target, live = (inst.sm, inst.quota), inst.live
            mate, leave = self._destination(inst, target[0], max(target[1], live[1]))
        done = live
        # a quota cut first (room where it goes), a raise after a move (room where it lands)
        for axis in ("quota", "sm") if target[1] < live[1] else ("sm", "quota"):
            t = self.clock.now_s()
            where = ""
            try:
                if axis == "quota" and target[1] != live[1]:
                    self.worker.resize(inst.name, quota=Quota.of(target[1] / 100.0))
                    done = (done[0], target[1])
                elif axis == "sm" and (target[0] != live[0] or leave):
                    where = self._move(inst, target[0], mate, leave)
                    done = (target[0], done[1])
                else:
                    continue
            except Exception as e:
                with self._lock:
                    self._reject(
                        self.now_s(),
                        inst.fn,
                        "worker",
                        f"worker refused to resize {inst.name}: {e}",
                    )
                continue
            with self._lock:
                self.actions.append(
                    Action(
                        self.now_s(),
                        inst.name,
                        "resize",
                        f"sm {done[0]:.4g}% x quota {done[1]:g}%{where}",
                        self.clock.now_s() - t,
                    )
                )
        with self._lock:
            inst.live = done
            if (inst.sm, inst.quota) == target:  # not re-planned meanwhile: show what holds
                inst.sm, inst.quota = done
            if done != live:
                inst.segments.append((max(0.0, self.now_s()), done[0] * done[1] / 10_000.0))

    def _remove(self, inst: _Inst) -> None:
        if inst.thread is not None:
            inst.thread.join()
        t = self.clock.now_s()
        if inst.added:
            try:
                self.worker.remove(inst.name)
            except Exception as e:
                log.exception("removing %s failed", inst.name)
                self.errors.append(f"remove {inst.name}: {type(e).__name__}: {e}")
        with self._lock:
            inst.t_end = self.now_s()
            if inst in self._draining:
                self._draining.remove(inst)
            if inst.added:
                self.actions.append(
                    Action(inst.t_end, inst.name, "remove", "drained", self.clock.now_s() - t)
                )

    # -- serving (one thread per ready instance) ------------------------------------------

    def _serve(self, inst: _Inst) -> None:
        q = self._queues[inst.fn]
        timeout = self.cfg.timeout_s
        captured = _batch_sizes(inst.batch)
        while True:
            with q.cond:
                while not inst.stop and not q.items:
                    q.cond.wait(0.5)
                if inst.stop:
                    return
                now = self.now_s()
                while q.items and now - q.items[0].arrival_s > timeout:
                    q.items.popleft()  # dropped: start and end stay NaN
                if not q.items:
                    continue
                b = inst.batch
                take = [q.items.popleft() for _ in range(min(b, len(q.items)))]
                q.busy += 1
            if b != captured[-1]:
                captured = _batch_sizes(b)
            size = next(s for s in captured if s >= len(take))
            for r in take:
                r.start_s = now
            try:
                self.worker.infer(inst.name, size)
                end = self.now_s()
            except Exception as e:  # the requests fail (NaN end); the instance stops serving
                log.exception("%s: batch failed", inst.name)
                self.errors.append(f"infer {inst.name}: {type(e).__name__}: {e}")
                end, inst.stop = math.nan, True
            for r in take:
                r.end_s = end
            with q.cond:
                q.busy -= 1
                if math.isfinite(end):  # what the batch took, for the next snapshot
                    o = inst.obs.setdefault(size, [0.0, 0.0])
                    o[0] += end - now
                    o[1] += 1.0
                q.cond.notify_all()

    # -- closing ------------------------------------------------------------------------

    def close(self, horizon_s: float | None = None) -> GpuLoopResult:
        """Stop deciding, serve what is queued (at most `drain_s`), remove every instance.

        Metrics cover [0, `horizon_s`) (default: now).
        """
        require(self._started and not self._closed, "close", "now", "once, after start()")
        horizon = self.now_s() if horizon_s is None else horizon_s
        require(horizon > 0, "horizon_s", horizon_s, "seconds > 0")
        self._closed = True
        self._stop.set()
        if self._control is not None:
            self._control.join()
        self._jobs.join()
        with self._lock:
            serving = {n: any(i.added and not i.stop for i in v) for n, v in self._active.items()}
        deadline = self.clock.now_s() + self.cfg.drain_s
        for name, q in self._queues.items():
            with q.cond:
                while (q.items or q.busy) and serving[name]:
                    left = deadline - self.clock.now_s()
                    if left <= 0:
                        break
                    q.cond.wait(min(left, 0.5))
        with self._lock:
            rest = [i for v in self._active.values() for i in v]
            for v in self._active.values():
                v.clear()
            for inst in rest:
                inst.draining = True
            self._draining.extend(rest)
        for inst in rest:
            q = self._queues[inst.fn]
            with q.cond:
                inst.stop = True
                q.cond.notify_all()
        for inst in rest:
            self._remove(inst)
        self._jobs.put(None)
        if self._actuator is not None:
            self._actuator.join()
        return self._result(horizon)

    def _result(self, horizon: float) -> GpuLoopResult:
        cost = 0.0
        spans = []
        for inst in self._all:
            if inst.failed:
                continue
            marks = [*inst.segments, (inst.t_end, 0.0)]
            for (t0, area), (t1, _) in itertools.pairwise(marks):
                lo, hi = max(0.0, t0), min(horizon, t1)
                if hi > lo:
                    cost += area * (hi - lo)
            spans.append((max(0.0, marks[0][0]), min(horizon, inst.t_end)))
        held, reach = 0.0, 0.0
        for lo, hi in sorted(spans):
            lo = max(lo, reach)
            if hi > lo:
                held += hi - lo
                reach = hi
        a_d, s_d, e_d = {}, {}, {}
        for name, reqs in self._reqs.items():
            kept = [r for r in reqs if r.arrival_s < horizon]
            a_d[name] = np.array([r.arrival_s for r in kept], dtype=float)
            s_d[name] = np.array([r.start_s for r in kept], dtype=float)
            e_d[name] = np.array([r.end_s for r in kept], dtype=float)
        line = np.array(self._timeline, dtype=float).reshape(-1, 3)
        reasons: dict[str, list[str]] = {n: [] for n in self.functions}
        for d in self.decisions:
            if d.function in reasons and len(reasons[d.function]) < 50:
                reasons[d.function].append(f"t={d.t_s:.2f}s: {d.reason}")
        out = GpuClusterResult(
            a_d, s_d, e_d, {n: f.slo_ms for n, f in self.functions.items()},
            line[:, 0], line[:, 1], line[:, 2], reasons=reasons,
        )  # fmt: skip
        models = {n: f.model for n, f in self.functions.items()}
        out.metrics = summarize(out, models, self.latency, self.total_sms, horizon, cost, held)
        out.metrics["decisions"] = float(self._n_decisions)
        out.metrics["rejected_plans"] = float(len(self.rejections))
        cold = self._cold_s
        info = {
            "cold_starts": float(len(cold)),
            "cold_start_mean_s": float(np.mean(cold)) if cold else math.nan,
            "resizes": float(sum(a.kind == "resize" for a in self.actions)),
            "rejected_no_gpu": float(sum(r.kind == "gpu" for r in self.rejections)),
            "refused_by_worker": float(sum(r.kind == "worker" for r in self.rejections)),
            "control_late_max_s": self._late_s,
            "errors": float(len(self.errors)),
        }
        return GpuLoopResult(
            out, list(self.decisions), list(self.actions), list(self.rejections),
            list(self.errors), info,
        )  # fmt: skip


def replay(
    policy: GpuPolicy,
    worker: GpuWorker,
    functions: Sequence[Any],
    horizon_s: float,
    interval_s: float = 2.0,
    *,
    latency_ms: LatencyModel | None = None,
    config: GpuLoopConfig | None = None,
) -> GpuLoopResult:
    """Replay each function's arrivals (seconds from 0) on the wall clock through the loop.

    Arrivals at or after `horizon_s` are ignored. The calling thread submits
    each request at its time; everything is stopped and joined before return.
    """
    require(horizon_s > 0, "horizon_s", horizon_s, "seconds > 0")
    cfg = replace(config or GpuLoopConfig(), interval_s=interval_s)
    loop = GpuControlLoop(policy, worker, functions, latency_ms=latency_ms, config=cfg)
    names = list(loop.functions)
    arrs = [loop.functions[n].arrivals_s for n in names]
    times = np.concatenate([a[a < horizon_s] for a in arrs])
    which = np.concatenate([np.full(int((a < horizon_s).sum()), k) for k, a in enumerate(arrs)])
    order = np.argsort(times, kind="stable")
    times, which = times[order], which[order]
    lags: list[float] = []
    loop.start(horizon_s)
    try:
        i, n = 0, len(times)
        while i < n:
            if loop.sleep_until(float(times[i])):
                break
            now = loop.now_s()
            j = max(i + 1, int(np.searchsorted(times, now, side="right")))
            for k in range(i, j):
                loop.submit(names[which[k]])
                lags.append(now - float(times[k]))
            i = j
        loop.sleep_until(horizon_s)
    finally:
        out = loop.close(horizon_s)
    if lags:
        out.info["dispatch_lag_p99_ms"] = float(np.percentile(lags, 99)) * 1000.0
    return out


def run_trace(
    policy: GpuPolicy,
    worker: GpuWorker,
    functions: Sequence[Any],
    horizon_s: float,
    interval_s: float = 2.0,
    *,
    latency_ms: LatencyModel | None = None,
    config: GpuLoopConfig | None = None,
) -> tuple[dict[str, float], list[DecisionRecord]]:
    """`replay`, returning just the metrics (the simulator's keys) and every decision."""
    out = replay(
        policy, worker, functions, horizon_s, interval_s, latency_ms=latency_ms, config=config
    )
    return out.metrics, out.decisions
