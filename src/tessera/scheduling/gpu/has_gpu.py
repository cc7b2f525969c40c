"""HAS-GPU: hybrid GPU autoscaling, vertical (quota) first, then horizontal.

Every `predict_interval_s` (2 s) HAS-GPU's scalar Kalman filter (random-walk
model: process noise `process_var` 1, measurement noise `measurement_var` 10,
starting at 0 rps with variance 1) updates its estimate of each function's
request rate from the rate measured over the last `measure_window_s` (10 s,
their Prometheus `rate[10s]`), then adds `offset_sigmas` (1) x the filter's
standard deviation to the estimate and keeps it at least `min_buffer_rps` (5)
above the measurement: a deliberate over-estimate (about +6 rps at a steady
rate) that is the policy's headroom. The estimate, offset included, and its
variance live in the returned policy state (as in their code, the offset
carries into the next update).

Capacity is the summed throughput of the function's ready and starting
instances (from the latency model). When the predicted rate exceeds
`up_threshold` (0.9) x capacity the policy scales up until prediction <=
0.9 x capacity: first vertically, raising an instance's quota in
`quota_step_pct` (10%) steps while its SM row has time left; then
horizontally, adding the highest-throughput configuration meeting the SLO
that fits on the least-occupied GPU (for a function's first instance:
the most efficient one) (into a row's free time, or as a new row
while the GPU has fewer than `max_rows` (2) SM rows and free SMs), else the
most resource-efficient configuration on a new GPU. Below `down_threshold`
(0.3) x capacity, and only once `cooldown_s` (10 s) passed since the last
scale-down that changed something, it scales down to the same target: removing
whole instances (lowest throughput first), then lowering quotas in steps while
the SLO still holds. It never goes below one instance. Scale-up is not delayed
by the cooldown.

Where this differs from their public controller (KontonGu/HAS-GPU,
internal/controller), on purpose: their configurations carry no SLO (any
predicted throughput counts; on the V100 grid their rule picks batch-8 slices
whose batch-1 latency is twice our 5x SLO), here every configuration must meet
the function's SLO; the batch is one knob (`batch`, default 1) where theirs is
inherited from the first pod's profile; their scale-down lowers quotas first
(overshooting the target) and then removes pods, ours removes whole instances
first; their capacity is 1000/(L + 70 ms) x (b + 1)/2 for a batch latency L
(a serving-path allowance), ours b x 1000 / the batch's sustained period
(`tessera.core.gpu_run.busy_ms`: L, or the whole-time latency / quota if
longer - where a lone request's low-quota latency is near the whole-time one,
their rule counts capacity the quota does not grant); their
controller keeps one rate filter for all functions (their runs deploy one),
ours one per function; they add or remove the gap between the prediction and
0.9 x capacity (a target of prediction + 0.1 x capacity), ours scales to
prediction / 0.9.

Rows: the instances on one GPU sharing an SM partition (same SM offset and
width) time-share it, so their quotas add up to at most 100%; a GPU holds at
most `max_rows` partitions side by side. Cost is proportional to
Σ sm x quota x dt over instances (`GpuDecision.area` is the rate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tessera.core.errors import require
from tessera.core.gpu_policy import (
    GpuDecision,
    GpuFunctionView,
    GpuInstancePlan,
    GpuPolicyResult,
    GpuSnapshot,
    LatencyModel,
    new_gpu_id,
)
from tessera.scheduling.gpu.base import (
    GPU_POLICIES,
    Config,
    config,
    efficiency_key,
    grid,
    latency_model,
    most_efficient,
    profile,
    recent_rate,
)

_EPS = 1e-6
_MAX_STEPS = 1000


@dataclass(frozen=True, slots=True)
class KalmanState:
    """Per-function filter and scaling memory."""

    rate_rps: float
    var: float
    updated_s: float
    last_scale_s: float = -math.inf  # has-gpu: the last scale-down that changed something


def has_gpu_step(
    st: KalmanState | None,
    z: float,
    now_s: float,
    q: float,
    r: float,
    offset_sigmas: float,
    min_buffer_rps: float,
    initial_rps: float | None = 0.0,
) -> KalmanState:
    """HAS-GPU's update: a Kalman step (the first from `initial_rps`, None: from `z`, with
    variance 1), then the estimate raised by `offset_sigmas` standard deviations and to at
    least `min_buffer_rps` above `z`."""
    if st is None:
        x, var, last = (z if initial_rps is None else initial_rps), 1.0, -math.inf
    else:
        x, var, last = st.rate_rps, st.var, st.last_scale_s
    x, var = _kalman_update(x, var, z, q, r)
    x = max(x + offset_sigmas * math.sqrt(var), z + min_buffer_rps)
    return KalmanState(x, var, now_s, last)


def _kalman_update(x: float, var: float, z: float, q: float, r: float) -> tuple[float, float]:
    """One random-walk Kalman step: (estimate, variance) after measuring `z`."""
    p_prior = var + q
    gain = p_prior / (p_prior + r)
    return x + gain * (z - x), (1 - gain) * p_prior


def kalman_step(st: KalmanState | None, z: float, now_s: float, q: float, r: float) -> KalmanState:
    """One scalar Kalman update of the rate estimate with measurement `z` (rps)."""
    if st is None:
        return KalmanState(z, r, now_s)
    x, var = _kalman_update(st.rate_rps, st.var, z, q, r)
    return KalmanState(x, var, now_s, st.last_scale_s)


@dataclass(slots=True)
class _Row:
    sm_offset: float
    sm_pct: float
    used_quota: float = 0.0


@dataclass(slots=True)
class _Gpu:
    id: str
    rows: list[_Row] = field(default_factory=list)

    @property
    def free_sm(self) -> float:
        return 100.0 - sum(r.sm_pct for r in self.rows)

    @property
    def occupancy(self) -> float:
        return sum(r.sm_pct * r.used_quota for r in self.rows)

    def row(self, sm_offset: float | None, sm_pct: float) -> _Row:
        """The row an existing instance is in (rows without offsets are told apart by width)."""
        for r in self.rows:
            if abs(r.sm_pct - sm_pct) < _EPS and (
                sm_offset is None or abs(r.sm_offset - sm_offset) < _EPS
            ):
                return r
        return self.new_row(sm_pct, sm_offset)

    def new_row(self, sm_pct: float, sm_offset: float | None = None) -> _Row:
        """A row `sm_pct` wide at `sm_offset`, or at the lowest SM gap it fits in."""
        if sm_offset is None:
            sm_offset = 0.0
            for r in sorted(self.rows, key=lambda r: r.sm_offset):
                if r.sm_offset - sm_offset >= sm_pct - _EPS:
                    break
                sm_offset = max(sm_offset, r.sm_offset + r.sm_pct)
        r = _Row(sm_offset, sm_pct)
        self.rows.append(r)
        return r


@dataclass(slots=True)
class _Inst:
    gpu: _Gpu
    row: _Row
    quota: float
    batch: int
    id: int | None
    cfg: Config


@GPU_POLICIES.register("has-gpu")
class HasGpu:
    """HAS-GPU's hybrid autoscaler (Kalman-predicted rate, vertical then horizontal)."""

    name = "has-gpu"

    def __init__(
        self,
        predict_interval_s: float = 2.0,
        up_threshold: float = 0.9,
        down_threshold: float = 0.3,
        cooldown_s: float = 10.0,
        quota_step_pct: float = 10.0,
        sm_step_pct: float = 10.0,
        max_rows: int = 2,
        batch: int = 1,
        process_var: float = 1.0,
        measurement_var: float = 10.0,
        measure_window_s: float = 10.0,
        offset_sigmas: float = 1.0,
        min_buffer_rps: float = 5.0,
        initial_rps: float | None = 0.0,
        latency_ms: LatencyModel | None = None,
    ) -> None:
        require(predict_interval_s > 0, "has-gpu.predict_interval_s", predict_interval_s, "> 0")
        require(measure_window_s > 0, "has-gpu.measure_window_s", measure_window_s, "> 0")
        require(offset_sigmas >= 0, "has-gpu.offset_sigmas", offset_sigmas, ">= 0")
        require(min_buffer_rps >= 0, "has-gpu.min_buffer_rps", min_buffer_rps, "rps >= 0")
        require(
            initial_rps is None or initial_rps >= 0,
            "has-gpu.initial_rps",
            initial_rps,
            "None (the first measurement) or rps >= 0",
        )
        require(
            0 < down_threshold < up_threshold <= 1,
            "has-gpu.thresholds",
            (down_threshold, up_threshold),
            "0 < down_threshold < up_threshold <= 1",
        )
        require(cooldown_s >= 0, "has-gpu.cooldown_s", cooldown_s, "seconds >= 0")
        require(0 < quota_step_pct <= 100, "has-gpu.quota_step_pct", quota_step_pct, "(0, 100]")
        require(0 < sm_step_pct <= 100, "has-gpu.sm_step_pct", sm_step_pct, "(0, 100]")
        require(max_rows >= 1, "has-gpu.max_rows", max_rows, "an integer >= 1")
        require(batch >= 1, "has-gpu.batch", batch, "an integer >= 1")
        require(process_var > 0, "has-gpu.process_var", process_var, "> 0")
        require(measurement_var > 0, "has-gpu.measurement_var", measurement_var, "> 0")
        self.predict_interval_s = predict_interval_s
        self.up_threshold = up_threshold
        self.down_threshold = down_threshold
        self.cooldown_s = cooldown_s
        self.quota_step_pct = quota_step_pct
        self.sm_step_pct = sm_step_pct
        self.max_rows = max_rows
        self.batch = batch
        self.process_var = process_var
        self.measurement_var = measurement_var
        self.measure_window_s = measure_window_s
        self.offset_sigmas = offset_sigmas
        self.min_buffer_rps = min_buffer_rps
        self.initial_rps = initial_rps
        self.latency_ms = latency_ms

    def decide(self, snapshot: GpuSnapshot) -> GpuPolicyResult:
        latency = latency_model(self.latency_ms, snapshot)
        prev: dict[str, KalmanState] = dict(snapshot.state or {})
        gpus = self._gpus(snapshot)
        insts = self._instances(snapshot, gpus, latency)
        opened: list[_Gpu] = []
        states: dict[str, KalmanState] = {}
        out = []
        for name in sorted(snapshot.functions):
            fv = snapshot.functions[name]
            st = prev.get(name)
            if st is None or snapshot.now_s - st.updated_s >= self.predict_interval_s - _EPS:
                z = recent_rate(fv, self.measure_window_s)
                st = has_gpu_step(
                    st, z, snapshot.now_s, self.process_var, self.measurement_var,
                    self.offset_sigmas, self.min_buffer_rps, self.initial_rps,
                )  # fmt: skip
            mine = insts[name]
            steps, down = self._scale(snapshot.now_s, fv, st, mine, gpus, opened, latency)
            if down:  # the cooldown runs from the last scale-down that changed something
                st = KalmanState(st.rate_rps, st.var, st.updated_s, snapshot.now_s)
            states[name] = st
            plans = tuple(
                GpuInstancePlan(i.gpu.id, i.row.sm_pct, i.quota, i.batch, i.id, i.row.sm_offset)
                for i in mine
            )
            out.append(GpuDecision(name, plans, steps))
        return GpuPolicyResult(tuple(out), states)

    # -- the current layout -------------------------------------------------------------

    @staticmethod
    def _gpus(snapshot: GpuSnapshot) -> dict[str, _Gpu]:
        gpus = {g: _Gpu(g) for g in sorted(snapshot.gpus)}
        for name in sorted(snapshot.functions):
            for i in sorted(snapshot.functions[name].active, key=lambda i: i.id):
                gpus.setdefault(i.gpu_id, _Gpu(i.gpu_id))
        return gpus

    def _instances(
        self, snapshot: GpuSnapshot, gpus: dict[str, _Gpu], latency: LatencyModel
    ) -> dict[str, list[_Inst]]:
        out: dict[str, list[_Inst]] = {name: [] for name in sorted(snapshot.functions)}
        # placed rows first, so unplaced instances fill around them
        pairs = sorted(
            ((n, i) for n, fv in snapshot.functions.items() for i in fv.active),
            key=lambda p: (p[1].sm_offset_pct is None, -p[1].sm_pct, p[0], p[1].id),
        )
        for name, i in pairs:
            g = gpus[i.gpu_id]
            row = g.row(i.sm_offset_pct, i.sm_pct)
            row.used_quota += i.quota_pct
            cfg = config(latency, snapshot.functions[name].model, i.sm_pct, i.quota_pct, i.batch)
            out[name].append(_Inst(g, row, i.quota_pct, i.batch, i.id, cfg))
        for insts in out.values():
            insts.sort(key=lambda i: i.id if i.id is not None else -1)
        return out

    # -- scaling ------------------------------------------------------------------------

    def _scale(
        self,
        now_s: float,
        fv: GpuFunctionView,
        st: KalmanState,
        mine: list[_Inst],
        gpus: dict[str, _Gpu],
        opened: list[_Gpu],
        latency: LatencyModel,
    ) -> tuple[str, bool]:
        """Scale toward the predicted rate; returns why, and whether it scaled down."""
        pred = st.rate_rps
        cap = sum(i.cfg.rps for i in mine)
        head = f"rate {pred:.1f} rps predicted"
        target = pred / self.up_threshold
        if not mine or pred > self.up_threshold * cap + _EPS:
            why = f"{head} > {self.up_threshold:g} x capacity {cap:.1f}"
            if not mine:
                why = f"{head}, no instance (never zero)"
            steps = self._up(fv, target, mine, gpus, opened, latency)
            cap2 = sum(i.cfg.rps for i in mine)
            return f"{why}: {'; '.join(steps)} (capacity {cap2:.1f})", False
        if pred < self.down_threshold * cap - _EPS:
            why = f"{head} < {self.down_threshold:g} x capacity {cap:.1f}"
            wait = st.last_scale_s + self.cooldown_s - now_s
            if wait > _EPS:
                return f"{why}: holding, cooldown {wait:.1f}s left", False
            steps = self._down(fv, target, mine, latency)
            if not steps:
                return f"{why}: already at the smallest set meeting the SLO", False
            cap2 = sum(i.cfg.rps for i in mine)
            return f"{why}: {'; '.join(steps)} (capacity {cap2:.1f})", True
        return (
            f"{head} within [{self.down_threshold:g}, {self.up_threshold:g}] x capacity "
            f"{cap:.1f}: no change"
        ), False

    def _up(
        self,
        fv: GpuFunctionView,
        target: float,
        mine: list[_Inst],
        gpus: dict[str, _Gpu],
        opened: list[_Gpu],
        latency: LatencyModel,
    ) -> list[str]:
        steps: list[str] = []
        step = self.quota_step_pct
        for _ in range(_MAX_STEPS):
            if mine and sum(i.cfg.rps for i in mine) >= target - _EPS:
                break
            grow = [
                i
                for i in mine
                if i.quota + step <= 100 + _EPS and i.row.used_quota + step <= 100 + _EPS
            ]
            if grow:
                i = min(grow, key=lambda i: (i.quota, i.id if i.id is not None else math.inf))
                old = i.quota
                i.quota = min(100.0, i.quota + step)
                i.row.used_quota += i.quota - old
                i.cfg = config(latency, fv.model, i.row.sm_pct, i.quota, i.batch)
                steps.append(f"quota {old:g}% -> {i.quota:g}% on {i.gpu.id}")
                continue
            steps.append(self._add(fv, mine, gpus, opened, latency))
        return steps

    def _add(
        self,
        fv: GpuFunctionView,
        mine: list[_Inst],
        gpus: dict[str, _Gpu],
        opened: list[_Gpu],
        latency: LatencyModel,
    ) -> str:
        quotas = grid(self.quota_step_pct)

        def meeting_slo(sms: list[float], qs: list[float]) -> list[Config]:
            return profile(latency, fv.model, fv.slo_ms, sms, qs, (self.batch,))

        options: list[tuple[float, float, float, int, _Gpu, _Row | None, Config]] = []
        for order, g in enumerate([*gpus.values(), *opened]):
            found: list[tuple[_Row | None, Config]] = []
            for row in g.rows:
                qs = [q for q in quotas if q <= 100 - row.used_quota + _EPS]
                found += [(row, c) for c in meeting_slo([row.sm_pct], qs)]
            if len(g.rows) < self.max_rows and g.free_sm >= self.sm_step_pct - _EPS:
                sms = [s for s in grid(self.sm_step_pct) if s <= g.free_sm + _EPS]
                found += [(None, c) for c in meeting_slo(sms, list(quotas))]
            for where_row, c in found:
                # a function's first instance gets the most efficient config, later ones the
                # highest-throughput one (HAS-GPU's horizontal step)
                score = efficiency_key(c)[0] if not mine else -c.rps
                options.append((g.occupancy, score, c.area, order, g, where_row, c))
        r: _Row | None
        if options:
            occ, _, _, _, g, r, c = min(options, key=lambda o: o[:4])
            where = f"least-occupied {g.id} ({occ / 10_000:.0%} used)"
        else:
            full = meeting_slo(list(grid(self.sm_step_pct)), list(quotas))
            best = most_efficient(full) or config(latency, fv.model, 100.0, 100.0, self.batch)
            g, r, c = _Gpu(new_gpu_id(len(opened))), None, best
            opened.append(g)
            where = f"new GPU {g.id} (no room on held GPUs)"
        row = r if r is not None else g.new_row(c.sm_pct)
        row.used_quota += c.quota_pct
        mine.append(_Inst(g, row, c.quota_pct, c.batch, None, c))
        return f"add {c.label()} ({c.rps:.1f} rps) on {where}"

    def _down(
        self, fv: GpuFunctionView, target: float, mine: list[_Inst], latency: LatencyModel
    ) -> list[str]:
        steps: list[str] = []
        for i in sorted(mine, key=lambda i: (i.cfg.rps, -(i.id if i.id is not None else -1))):
            cap = sum(j.cfg.rps for j in mine)
            if len(mine) > 1 and cap - i.cfg.rps >= target - _EPS:
                mine.remove(i)
                i.row.used_quota -= i.quota
                steps.append(f"remove {i.cfg.label()} on {i.gpu.id}")
        step = self.quota_step_pct
        for i in sorted(mine, key=lambda i: (-i.quota, i.id if i.id is not None else math.inf)):
            while i.quota - step >= step - _EPS:
                c = config(latency, fv.model, i.row.sm_pct, i.quota - step, i.batch)
                cap = sum(j.cfg.rps for j in mine)
                if c.latency_ms > fv.slo_ms or cap - i.cfg.rps + c.rps < target - _EPS:
                    break
                steps.append(f"quota {i.quota:g}% -> {c.quota_pct:g}% on {i.gpu.id}")
                i.row.used_quota -= step
                i.quota, i.cfg = c.quota_pct, c
        return steps
