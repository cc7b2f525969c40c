"""Tessera's own GPU policy: resize SM share and quota in place, batch, pack, scale to zero.

Our sharing mechanism can resize an instance's SM partition at runtime (HAS-GPU
can only change the time quota), so one instance can follow the load in both
dimensions before a second (cold) instance is needed. Per function, every
decision:

1. Predicts the rate: HAS-GPU's scalar Kalman filter (updated every
   `predict_interval_s`), but never below the last interval's measured rate
   (bursts are not smoothed away), times `headroom` (1.2).
2. Profiles the SM % x quota % x batch grid with the latency model, keeping the
   configurations whose batch latency plus busy time is at most 2 x
   `slo_fraction` (0.45) x SLO: a request that arrives while a batch runs
   waits for it and then runs in the next, so both must fit, with a margin for
   co-location slowdown. A batch's latency is its worst partial batch, its
   busy time the longest it holds the slice back to back (its latency, or its
   whole-time latency / quota if longer: `base.config`). If none meets it,
   those meeting the SLO itself; if none does, the whole GPU at batch 1.
   The latency model is first stretched by the co-location slowdown expected
   on the held GPUs, per slice: co-tenants hold the area reserved per held
   GPU, but never more than the slice leaves (a whole GPU has none;
   `slowed`, `Planned`).
3. Targets the instance count n and configuration that reserve the least
   area in total while n instances cover the predicted rate at
   `max_utilization` (0.5) of their throughput (n x rps x 0.5 >= rate:
   queueing stays short at batch 1, and a batching server has room to absorb
   a burst); fewer instances on ties, at most 64. With `tail` (e.g. 0.01)
   the count must also keep P(wait > SLO - service) <= tail in an M/M/n
   queue (`serves`): tighter at one instance, looser when many pool a queue
   (has-gpu experiment: cheaper under heavy load, dearer under light load,
   so it is off by default). Against flapping between shapes (one large
   batched slice vs many small ones: each switch reshapes every instance),
   the shape the function runs now is kept while its total area is within
   (1 + `hysteresis`) (0.25) x the least and it needs no more instances
   than the cheapest plan or than run now off a GPU being emptied (keeping a
   shape never costs a cold start a resize would spare); when the cooldown
   raises the count it is compared again at that count. Instances are
   only removed once `cooldown_s` passed since the count last grew (resizing
   is free: no cold start).
4. Keeps existing instances (ready first, largest first) and resizes each in place
   to the target configuration, or to the cheapest other candidate that still
   fits on its GPU; an instance no candidate fits keeps its slice. While
   instances of the function start (cold), a ready one is not shrunk below
   the throughput it has now: it carries the load until they are ready (a
   slice off the profile, e.g. past the latency budget, moves to the cheapest
   profile slice at least as fast that fits, else the fastest). Slices
   are planned on the grid; one a driver reports off it by a rounding (an
   H200's 24/132 SMs) is the grid's, and handed back as the driver has it. New
   instances are packed with MaxRects onto held GPUs (the fullest first, so
   the fewest GPUs stay held) before a new GPU is asked for.
5. Scales to zero after `idle_s` (30 s) without a request when `min_replicas`
   is 0, and back to one instance on the first request (the driver models its
   cold start).
6. Consolidates: when no GPU is being emptied, the least-used held GPU whose
   reserved area is below `consolidate_below` (0.5) is emptied if every
   instance on it fits on the other held GPUs: copies start there while the
   old instances keep serving, and the old ones are dropped (without waiting
   for the cooldown) once every kept instance is ready. Generally, a ready
   instance is never dropped while a kept one is still starting.

With `calibrate` (off by default; for latency models that are predictions, not
measurements of the model), step 2 plans with the latency model corrected by
what the function's batches took: the drivers report, per instance, each batch
size's mean latency since the last snapshot (`GpuInstanceView.observed`); each
is compared with the model at that slice and size times the slowdown of its
GPU's other instances, and the log of the ratio is smoothed (halfway per
decision) per slice and size run and over all of them; a slice and size the
function ran is planned at its own ratio, any other at the mean one (within
1/4..4, in 5% steps; `Calibrated`). In the has-gpu experiment's
predicted-grid runs (`predicted_planning`) it took tessera's violations from
2.86% to 1.24% (5-15 rps), 5.82% to 2.46% (dense) and 3.41% to 1.68% (heavy);
0.52%, 1.65%, 1.04% with the measured grid. Known bias: the slowdown is that of
the co-tenants in this snapshot, not of those present while the batches ran
(an instance that became ready or left since skews the ratio), and a first
observation of a slice is taken whole.

Every decision says why. The policy is a pure function of the snapshot and
its own state (`_State`: `_FnState` per function, the GPU being emptied).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tessera.core.errors import require
from tessera.core.gpu_policy import (
    GpuDecision,
    GpuFunctionView,
    GpuInstancePlan,
    GpuInstanceView,
    GpuPolicyResult,
    GpuSnapshot,
    LatencyModel,
    new_gpu_id,
)
from tessera.core.policy import InstanceState
from tessera.scheduling.gpu.base import (
    GPU_POLICIES,
    ChoiceMemo,
    Config,
    config,
    efficiency_key,
    grid,
    latency_model,
    profile,
    recent_rate,
)
from tessera.scheduling.gpu.has_gpu import KalmanState, kalman_step
from tessera.scheduling.gpu.maxrects import MaxRects, Rect

_EPS = 1e-9
_MAX_INSTANCES = 256
_MAX_COUNT = 64  # instances of one function a decision may target


def wait_beyond(n: int, rate: float, mu: float, t_s: float) -> float:
    """P(wait > t_s) in an M/M/n queue with arrival `rate` and service rate `mu` per server
    (Erlang C times the exponential tail); 1 when the queue is unstable."""
    a = rate / mu
    if a >= n:
        return 1.0
    b = 1.0  # Erlang B, by the stable recurrence
    for k in range(1, n + 1):
        b = a * b / (k + a * b)
    c = b / (1.0 - (a / n) * (1.0 - b))
    return min(1.0, c * math.exp(-(n * mu - rate) * t_s))


@dataclass(frozen=True, eq=False)
class Planned:
    """The latency model a decision plans with: `raw`, each slice stretched by the co-location
    slowdown it expects, 1 + `interference` x the others' area, where the others hold the
    area reserved per held GPU (`crowd`) but never more than the slice leaves (1 - its own
    area: a whole GPU has no co-tenant). Build configurations with `config`, which stretches
    a slice's latency and its busy period alike (as the simulator does)."""

    raw: LatencyModel
    crowd: float = 0.0
    interference: float = 0.0

    def factor(self, sm: float, quota: float) -> float:
        others = min(self.crowd, max(0.0, 1.0 - sm * quota / 10_000.0))
        return 1.0 + self.interference * others

    def __call__(self, model: str, batch: int, sm: float, quota: float) -> float:
        """The stretched latency of one slice (not for `base.config` or `busy_ms`: they call
        the model at quota 100 too, which would take another slice's factor)."""
        return self.factor(sm, quota) * float(self.raw(model, batch, sm, quota))

    def config(self, model: str, sm: float, quota: float, batch: int) -> Config:
        return config(self.raw, model, sm, quota, batch, self.factor(sm, quota))


_CAL_STEP = math.log(1.05)


def _step(log_ratio: float) -> float:
    """A calibration ratio in steps of 5% (so plans, and the profiles behind them, repeat)."""
    return round(math.exp(_CAL_STEP * round(log_ratio / _CAL_STEP)), 6)


class Calibrated:
    """A latency model corrected by what a function's batches took: at a (SM %, quota %,
    batch) it ran, times the ratio observed there; elsewhere times the mean ratio. Equal
    (and hashed) by its parts, so plans built on it are memoised; `memo` shares the base
    model's answers between the corrected models of one policy."""

    __slots__ = ("_ratio", "base", "factor", "memo", "seen")

    def __init__(
        self,
        base: LatencyModel,
        factor: float,
        seen: tuple[tuple[tuple[float, float, int], float], ...] = (),
        memo: dict[tuple[str, int, float, float], float] | None = None,
    ) -> None:
        self.base, self.factor, self.seen = base, factor, seen
        """((sm %, quota %, batch), observed / planned) pairs, sorted."""
        self.memo = memo if memo is not None else {}
        self._ratio = dict(seen)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Calibrated) and (self.base, self.factor, self.seen) == (
            other.base,
            other.factor,
            other.seen,
        )

    def __hash__(self) -> int:
        return hash((self.base, self.factor, self.seen))

    def __call__(self, model: str, batch: int, sm: float, quota: float = 100.0) -> float:
        key = (model, batch, sm, quota)
        ms = self.memo.get(key)
        if ms is None:
            ms = self.memo[key] = float(self.base(model, batch, sm, quota))
        return self._ratio.get((round(sm, 6), round(quota, 6), batch), self.factor) * ms


@dataclass(frozen=True, slots=True)
class _FnState:
    """Per-function memory: the rate filter, the last request seen, the last scale-out, and
    the log of the calibration factor (observed / planned batch latency, smoothed)."""

    kalman: KalmanState | None
    last_active_s: float
    last_grow_s: float = -math.inf
    log_scale: float = 0.0
    seen: tuple[tuple[tuple[float, float, int], float], ...] = ()
    """Per (SM %, quota %, batch) run: the smoothed log of observed / planned latency."""


@dataclass(frozen=True, slots=True)
class Profile:
    """A model's configurations meeting the latency budget, ordered once for `decide`:
    cheapest first (area, then area per rps), and the throughput/area frontier."""

    configs: tuple[Config, ...]
    why: str
    by_area: tuple[Config, ...] = ()
    frontier: tuple[Config, ...] = ()

    @classmethod
    def of(cls, configs: tuple[Config, ...], why: str) -> Profile:
        by_area = tuple(sorted(configs, key=lambda c: (round(c.area, 9), efficiency_key(c))))
        frontier: list[Config] = []
        for c in sorted(configs, key=lambda c: (-c.rps, c.area)):
            if not frontier or c.area < frontier[-1].area - 1e-12:
                frontier.append(c)
        return cls(configs, why, by_area, tuple(frontier))


@dataclass(frozen=True, slots=True)
class _State:
    """The policy's memory: per-function state, and the GPU being emptied (if any)."""

    fns: dict[str, _FnState]
    evacuating: tuple[str, ...] = ()


@dataclass(slots=True)
class _Item:
    """One planned instance: the slice it takes on its GPU."""

    instance_id: int | None
    sm: float
    quota: float
    batch: int


def _same(a: tuple[float, float, int], b: tuple[float, float, int]) -> bool:
    """Whether two (sm %, quota %, batch) slices are one: shares compared to 1e-6 %, as a
    driver reports a granted share computed another way than the grid's."""
    return abs(a[0] - b[0]) <= 1e-6 and abs(a[1] - b[1]) <= 1e-6 and a[2] == b[2]


def _size(c: Config) -> tuple[float, float, int]:
    return (c.sm_pct, c.quota_pct, c.batch)


def _snap(x: float, values: tuple[float, ...]) -> float:
    """`x`, or the grid value within 1e-6 of it."""
    return next((v for v in values if abs(v - x) <= 1e-6), x)


def _fits(items: list[_Item], item: _Item, c: Config) -> bool:
    """Whether `item` (one of `items`, one GPU's) packs there resized to `c`; unchanged."""
    old = (item.sm, item.quota, item.batch)
    item.sm, item.quota, item.batch = _size(c)
    ok = _pack(items) is not None
    item.sm, item.quota, item.batch = old
    return ok


def _pack(items: list[_Item]) -> dict[int, Rect] | None:
    """Lay the items out on one GPU (largest first), keyed by list index; None if they don't fit."""
    packer = MaxRects()
    where: dict[int, Rect] = {}
    order = sorted(range(len(items)), key=lambda k: (-items[k].sm * items[k].quota, k))
    for k in order:
        placed = packer.place(items[k].sm, items[k].quota)
        if placed is None:
            return None
        packer, where[k] = placed
    return where


@GPU_POLICIES.register("tessera")
class TesseraPolicy:
    """Hybrid SM + quota resizing with batching, MaxRects packing and scale to zero."""

    name = "tessera"
    scales_to_zero = True

    def __init__(
        self,
        predict_interval_s: float = 2.0,
        headroom: float = 1.2,
        slo_fraction: float = 0.45,
        cooldown_s: float = 10.0,
        idle_s: float = 30.0,
        min_replicas: int = 0,
        sm_step_pct: float = 10.0,
        quota_step_pct: float = 10.0,
        batches: tuple[int, ...] = (1, 2, 4, 8),
        process_var: float = 1.0,
        measurement_var: float = 4.0,
        interference: float = 0.376,
        max_utilization: float = 0.5,
        consolidate_below: float = 0.5,
        tail: float | None = None,
        hysteresis: float = 0.25,
        calibrate: bool = False,
        latency_ms: LatencyModel | None = None,
    ) -> None:
        require(tail is None or 0 < tail < 1, "tessera.tail", tail, "None or a probability")
        require(
            0 <= consolidate_below <= 1, "tessera.consolidate_below", consolidate_below, "in [0, 1]"
        )
        require(hysteresis >= 0, "tessera.hysteresis", hysteresis, ">= 0")
        require(0 < max_utilization <= 1, "tessera.max_utilization", max_utilization, "in (0, 1]")
        require(predict_interval_s > 0, "tessera.predict_interval_s", predict_interval_s, "> 0")
        require(interference >= 0, "tessera.interference", interference, ">= 0")
        require(headroom >= 1, "tessera.headroom", headroom, ">= 1")
        require(0 < slo_fraction <= 1, "tessera.slo_fraction", slo_fraction, "in (0, 1]")
        require(cooldown_s >= 0, "tessera.cooldown_s", cooldown_s, "seconds >= 0")
        require(idle_s > 0, "tessera.idle_s", idle_s, "seconds > 0")
        require(min_replicas >= 0, "tessera.min_replicas", min_replicas, "an integer >= 0")
        require(0 < sm_step_pct <= 100, "tessera.sm_step_pct", sm_step_pct, "(0, 100]")
        require(0 < quota_step_pct <= 100, "tessera.quota_step_pct", quota_step_pct, "(0, 100]")
        require(
            len(batches) > 0 and all(b >= 1 for b in batches),
            "tessera.batches",
            batches,
            "a non-empty tuple of integers >= 1",
        )
        require(process_var > 0, "tessera.process_var", process_var, "> 0")
        require(measurement_var > 0, "tessera.measurement_var", measurement_var, "> 0")
        self.predict_interval_s = predict_interval_s
        self.headroom = headroom
        self.slo_fraction = slo_fraction
        self.cooldown_s = cooldown_s
        self.idle_s = idle_s
        self.min_replicas = min_replicas
        self.sm_step_pct = sm_step_pct
        self.quota_step_pct = quota_step_pct
        self.batches = tuple(batches)
        self.process_var = process_var
        self.measurement_var = measurement_var
        self.interference = interference
        self.max_utilization = max_utilization
        self.consolidate_below = consolidate_below
        self.tail = tail
        self.hysteresis = hysteresis
        self.calibrate = calibrate
        self.latency_ms = latency_ms
        self._slowed: dict[tuple[object, float, float], Planned] = {}
        self._configs: ChoiceMemo[Profile] = ChoiceMemo()
        self._base_memo: dict[tuple[str, int, float, float], float] = {}
        self._memo_for: LatencyModel | None = None  # the model `_base_memo` holds answers of

    # -- profiling ----------------------------------------------------------------------

    def configs(self, latency: LatencyModel, fv: GpuFunctionView) -> Profile:
        """Configurations whose latency plus wait for the batch before fit 2 x `slo_fraction` x
        SLO (else those meeting the SLO; else the whole GPU)."""
        planned = latency if isinstance(latency, Planned) else self._planned(latency, 0.0)
        return self._configs.get(planned, fv, self._profile)

    def _profile(self, latency: LatencyModel, fv: GpuFunctionView) -> Profile:
        planned = latency if isinstance(latency, Planned) else Planned(latency)
        sms, qs = grid(self.sm_step_pct), grid(self.quota_step_pct)
        budget = self.slo_fraction * fv.slo_ms
        found = profile(planned.raw, fv.model, fv.slo_ms, sms, qs, self.batches, planned.factor)
        roomy = [c for c in found if c.latency_ms + c.wait_ms <= 2 * budget + _EPS]
        if roomy:
            return Profile.of(
                tuple(roomy),
                f"latency + wait for the batch before <= {2 * budget:g} ms "
                f"(2 x {self.slo_fraction:g} x SLO)",
            )
        if found:
            return Profile.of(tuple(found), f"no headroom config; latency <= SLO {fv.slo_ms:g} ms")
        c = planned.config(fv.model, 100.0, 100.0, min(self.batches))
        return Profile.of(
            (c,), f"no slice meets SLO {fv.slo_ms:g} ms; whole GPU ({c.latency_ms:.1f} ms)"
        )

    def slowed(self, latency: LatencyModel, snapshot: GpuSnapshot) -> tuple[Planned, str]:
        """The latency model with the co-location slowdown expected on the held GPUs.

        A batch on a GPU whose other tenants hold area A runs 1 + interference x A
        times slower (the H200 co-location data: 0.78x speed at four quarter
        tenants). Expected A: the area all instances reserve now per held GPU,
        at most 1, rounded up to 0.1 so a few models cover every decision, and
        never more than the slice leaves to others (`Planned`).
        """
        held = {i.gpu_id for fv in snapshot.functions.values() for i in fv.active}
        area = sum(i.area for fv in snapshot.functions.values() for i in fv.active)
        crowd = min(1.0, math.ceil(10 * area / max(1, len(held)) - 1e-9) / 10)
        factor = round(1.0 + self.interference * crowd, 6)
        if factor == 1.0:
            return self._planned(latency, 0.0), ""
        return self._planned(latency, crowd), (
            f"; co-location slowdown up to x{factor:g} (area {crowd:g} per GPU)"
        )

    def _planned(self, latency: LatencyModel, crowd: float) -> Planned:
        """One `Planned` per (model, crowd), so the profile memo sees the same key again."""
        key = (latency, crowd, self.interference)
        got = self._slowed.get(key)
        if got is None:
            if len(self._slowed) > 64:
                self._slowed.clear()
            got = self._slowed[key] = Planned(latency, crowd, self.interference if crowd else 0.0)
        return got

    def serves(self, c: Config, n: int, rate: float, slo_ms: float) -> bool:
        """Whether n instances of `c` (one FIFO queue) keep the SLO at `rate`.

        Always: utilisation at most `max_utilization`. With `tail` set, also the
        tail: a request's time is its wait plus the batch latency (plus the batch
        before it when batching: it may wait for the one being formed), the wait taken from
        the M/M/n queue (Erlang C, conservative for the near-constant service
        times of a slice): P(wait > SLO - service) <= `tail`.
        """
        if rate <= 0:
            return True
        if c.rps * n * self.max_utilization < rate - _EPS:
            return False
        if self.tail is None:
            return True
        service_ms = c.latency_ms + (c.wait_ms if c.batch > 1 else 0.0)
        slack_s = (slo_ms - service_ms) / 1000.0
        if slack_s <= 0:
            return False
        return wait_beyond(n, rate, c.rps, slack_s) <= self.tail

    def _smallest(self, c: Config, rate: float, slo_ms: float) -> int | None:
        """The fewest instances of `c` that serve `rate`, or None past `_MAX_COUNT`."""
        n = max(1, self.min_replicas, math.ceil(rate / c.rps - _EPS) if c.rps > 0 else 1)
        while n <= _MAX_COUNT and not self.serves(c, n, rate, slo_ms):
            n += 1
        return n if n <= _MAX_COUNT else None

    def count(
        self,
        prof: Profile,
        rate: float,
        slo_ms: float,
        current: Config | None = None,
        running: int = 0,
    ) -> tuple[int, Config | None]:
        """Instances to run: those of the configuration whose smallest count that `serves`
        the rate reserves the least area in total (fewer instances on ties). With
        `hysteresis` h and the `current` shape (a config of the profile) of `running`
        instances, that shape is kept while its total area is within (1 + h) x the least
        and it needs no more instances than the cheapest plan or those running (keeping a
        shape never costs a cold start a resize would spare); returns the count and the
        shape kept (None: the cheapest, or the current shape is the cheapest anyway)."""
        best: tuple[float, int] | None = None
        best_c: Config | None = None
        for c in prof.frontier:
            n = self._smallest(c, rate, slo_ms)
            if n is None:
                continue
            key = (round(n * c.area, 6), n)  # (the grid's 6-decimal shares: ties stay ties)
            if best is None or key < best:
                best, best_c = key, c
        if best is None:  # not even _MAX_COUNT of the fastest serve it: as many as allowed
            return _MAX_COUNT, None
        if current is not None and self.hysteresis > 0 and current != best_c:
            n_cur = self._smallest(current, rate, slo_ms)
            if (
                n_cur is not None
                and n_cur <= max(best[1], running)
                and n_cur * current.area <= best[0] * (1 + self.hysteresis)
            ):
                return n_cur, current
        return best[1], None

    def candidates(self, prof: Profile, n: int, rate: float, slo_ms: float) -> list[Config]:
        """Configs whose n instances serve `rate` (`serves`), cheapest (area, then area
        per rps) first."""
        return [c for c in prof.by_area if self.serves(c, n, rate, slo_ms)]

    @staticmethod
    def _shape(prof: Profile, active: list[GpuInstanceView]) -> Config | None:
        """The profile's config of the first (largest ready) active instance, if any."""
        if not active:
            return None
        i = active[0]
        for c in prof.configs:
            if _same(_size(c), (i.sm_pct, i.quota_pct, i.batch)):
                return c
        return None

    # -- deciding -----------------------------------------------------------------------

    def decide(self, snapshot: GpuSnapshot) -> GpuPolicyResult:
        latency = latency_model(self.latency_ms, snapshot)
        old_state = snapshot.state if isinstance(snapshot.state, _State) else _State({})
        prev = old_state.fns
        now = snapshot.now_s
        names = sorted(snapshot.functions)
        planned, slow_why = self.slowed(latency, snapshot)
        in_use = {i.gpu_id for fv in snapshot.functions.values() for i in fv.active}
        evac = {g for g in old_state.evacuating if g in in_use}
        # phase 1: per function, the rate, the target count and the instances kept
        states: dict[str, _FnState] = {}
        targets: dict[str, tuple[int, float, list[Config], list[GpuInstanceView], str]] = {}
        prof_of: dict[str, Profile] = {}
        planned_of: dict[str, Planned] = {}
        area_on: dict[str, float] = {}  # per GPU, the area its serving instances hold
        for fv in snapshot.functions.values() if self.calibrate else ():
            for i in fv.instances:
                if i.state is not InstanceState.STARTING:
                    area_on[i.gpu_id] = area_on.get(i.gpu_id, 0.0) + i.area
        for name in names:
            fv = snapshot.functions[name]
            st, rate, why = self._predict(fv, prev.get(name), now)
            fn_planned = planned
            if self.calibrate:
                st = self._calibrated(latency, fv, st, area_on)
                fn_planned, cal_why = self._corrected(latency, planned, st)
                why += cal_why
            planned_of[name] = fn_planned
            prof = prof_of[name] = self.configs(fn_planned, fv)
            # keep those off a GPU being emptied first, then the ready ones, the largest
            # first: a scale-in keeps capacity
            active = sorted(
                fv.active,
                key=lambda i: (i.gpu_id in evac, i.state is not InstanceState.READY, -i.area, i.id),
            )
            idle_for = now - st.last_active_s
            keep_shape, n_counted = None, 0
            if idle_for >= self.idle_s - _EPS and self.min_replicas == 0:
                n = 0
                why += f"; idle {idle_for:.0f}s >= {self.idle_s:g}s: scale to zero"
            else:
                shape = self._shape(prof, active)
                staying = sum(1 for i in active if i.gpu_id not in evac)
                n, keep_shape = self.count(prof, rate, fv.slo_ms, shape, staying)
                n_counted = n
                if not active:
                    why += f"; from zero: start {n} (cold start)"
                elif n < len(active):
                    kept, dropped = active[:n], active[n:]
                    starting = any(i.state is not InstanceState.READY for i in kept)
                    if starting and any(i.state is InstanceState.READY for i in dropped):
                        why += f"; {n} would do, keeping {len(active)} until the new are ready"
                        n = len(active)
                    elif now - st.last_grow_s < self.cooldown_s - _EPS and not all(
                        i.gpu_id in evac for i in dropped
                    ):
                        why += f"; {n} would do, keeping {len(active)} (cooldown)"
                        n = len(active)
            if n > len(active):
                st = _FnState(st.kalman, st.last_active_s, now, st.log_scale, st.seen)
            states[name] = st
            cands = self.candidates(prof, max(n, 1), rate, fv.slo_ms)
            if (
                keep_shape is not None
                and keep_shape in cands
                # a count raised since (cooldown, new ones starting): compared again there
                and (n == n_counted or keep_shape.area <= (1 + self.hysteresis) * cands[0].area)
            ):
                cands.remove(keep_shape)
                cands.insert(0, keep_shape)
                why += f"; keeping its shape (area within {1 + self.hysteresis:g} x the least)"
            if not cands:  # rate above what n of the best cover cannot happen; be safe
                cands = sorted(prof.configs, key=lambda c: -c.rps)[:1]
            why += f"; {n} instance(s) of {cands[0].label()} ({cands[0].rps:.1f} rps), {prof.why}{slow_why}"
            targets[name] = (n, rate if n else 0.0, cands, active[:n], why)
        # phase 2: the kept instances at their current size, per GPU
        on_gpu: dict[str, list[_Item]] = {g: [] for g in sorted(snapshot.gpus)}
        mine: dict[tuple[str, int], _Item] = {}
        reported: dict[int, tuple[float, float, int]] = {}
        sm_grid, q_grid = grid(self.sm_step_pct), grid(self.quota_step_pct)
        for name in names:
            for i in targets[name][3]:
                # packed at the grid's values (a driver's share differs by a rounding)
                sm, quota = _snap(i.sm_pct, sm_grid), _snap(i.quota_pct, q_grid)
                item = mine[(name, i.id)] = _Item(i.id, sm, quota, i.batch)
                reported[id(item)] = (i.sm_pct, i.quota_pct, i.batch)
                on_gpu.setdefault(i.gpu_id, []).append(item)
        opened: list[list[_Item]] = []
        plans: dict[str, list[tuple[str, _Item]]] = {n: [] for n in names}
        notes: dict[str, list[str]] = {n: [] for n in names}
        for name in names:
            n, rate, cands, kept, _ = targets[name]
            fv = snapshot.functions[name]
            cap = 0.0
            # while instances start, a ready one is not shrunk below what it serves now
            starting = n > len(kept) or any(k.state is not InstanceState.READY for k in kept)
            for inst in kept:
                items, item = on_gpu[inst.gpu_id], mine[(name, inst.id)]
                old = (item.sm, item.quota, item.batch)
                fits, own = cands, None
                hold = starting and inst.state is InstanceState.READY
                if hold:
                    prof = prof_of[name]
                    own = next((c for c in prof.configs if _same(_size(c), old)), None)
                    if own is None:  # off the profile (over the budget, or off the grid):
                        # a profile slice at least as fast, cheapest first, else the fastest
                        now_rps = planned_of[name].config(fv.model, *old).rps * (1 - 1e-6)
                        fits = [
                            *(c for c in cands if c.rps >= now_rps),
                            *(c for c in prof.by_area if c.rps >= now_rps),
                            *sorted(prof.configs, key=lambda c: -c.rps),
                        ]
                    else:
                        fits = [c for c in cands if c.rps >= own.rps * (1 - 1e-6) or c == own]
                        if cands[0] not in fits and _fits(items, item, cands[0]):
                            notes[name].append(
                                f"#{inst.id} not shrunk below {own.rps:.1f} rps while "
                                "instances start"
                            )
                for c in fits:
                    if _fits(items, item, c):
                        item.sm, item.quota, item.batch = _size(c)
                        if hold and own is None:
                            notes[name].append(f"#{inst.id} into the profile while instances start")
                        break
                if not _same((item.sm, item.quota, item.batch), old):
                    notes[name].append(
                        f"resize #{inst.id} sm {old[0]:g}%->{item.sm:g}%, "
                        f"quota {old[1]:g}%->{item.quota:g}%, batch {old[2]}->{item.batch}"
                    )
                cfg = planned_of[name].config(fv.model, item.sm, item.quota, item.batch)
                cap += cfg.rps * self.max_utilization
                plans[name].append((inst.gpu_id, item))
            added = 0
            while (cap < rate - _EPS or len(plans[name]) < n) and added < _MAX_INSTANCES:
                c = cands[0]
                slot = self._place(on_gpu, opened, c, evac)
                plans[name].append(slot)
                cap += c.rps * self.max_utilization
                added += 1
                notes[name].append(f"add {c.label()} on {slot[0]}")
        # phase 3: empty the least-used GPU onto the others when everything on it fits there
        evacuating = tuple(sorted(evac))
        if self.consolidate_below > 0 and not evac:
            moved = self._consolidate(on_gpu, plans)
            if moved is not None:
                evacuating = (moved[0],)
                for name, note in moved[1]:
                    notes[name].append(note)
        # phase 4: offsets from each GPU's final layout
        where: dict[int, Rect] = {}
        for items in [*on_gpu.values(), *opened]:
            laid = _pack(items)
            if laid is not None:
                for k, r in laid.items():
                    where[id(items[k])] = r
        out = []
        for name in names:
            ps = []
            for gpu, item in plans[name]:
                at = where.get(id(item))
                size = (item.sm, item.quota, item.batch)
                was = reported.get(id(item))
                if was is not None and _same(size, was):  # unchanged: as the driver has it
                    size = was
                ps.append(
                    GpuInstancePlan(
                        gpu,
                        size[0],
                        size[1],
                        size[2],
                        item.instance_id,
                        None if at is None else at.x,
                        None if at is None else at.y,
                    )
                )
            why = targets[name][4]
            if notes[name]:
                why += "; " + "; ".join(notes[name])
            out.append(GpuDecision(name, tuple(ps), why))
        return GpuPolicyResult(tuple(out), _State(states, evacuating))

    def _consolidate(
        self, on_gpu: dict[str, list[_Item]], plans: dict[str, list[tuple[str, _Item]]]
    ) -> tuple[str, list[tuple[str, str]]] | None:
        """Start moving every instance off the least-used held GPU (area below
        `consolidate_below`) if all of them fit on the other held GPUs; the old
        instances keep serving until the new ones are ready (make before break)."""

        def used(items: list[_Item]) -> float:
            return sum(x.sm * x.quota for x in items) / 10_000.0

        held = [g for g in on_gpu if on_gpu[g]]
        owner = {id(item): name for name, ps in plans.items() for _, item in ps}
        for g in sorted(held, key=lambda g: (used(on_gpu[g]), g)):
            if used(on_gpu[g]) > self.consolidate_below + _EPS:
                break
            others = {h: list(on_gpu[h]) for h in held if h != g}
            moves: list[tuple[_Item, str]] = []
            for item in sorted(on_gpu[g], key=lambda x: -x.sm * x.quota):
                copy = _Item(None, item.sm, item.quota, item.batch)
                for h in sorted(others, key=lambda h: (-used(others[h]), h)):
                    others[h].append(copy)
                    if _pack(others[h]) is not None:
                        moves.append((copy, h))
                        break
                    others[h].pop()
                else:
                    break
            if len(moves) < len(on_gpu[g]) or not moves:
                continue
            notes: list[tuple[str, str]] = []
            for (copy, h), item in zip(
                moves, sorted(on_gpu[g], key=lambda x: -x.sm * x.quota), strict=True
            ):
                name = owner[id(item)]
                on_gpu[h].append(copy)
                plans[name].append((h, copy))
                notes.append(
                    (name, f"consolidate: start a copy of #{item.instance_id} on {h} to empty {g}")
                )
            return g, notes
        return None

    def _corrected(
        self, latency: LatencyModel, planned: Planned, st: _FnState
    ) -> tuple[Planned, str]:
        """`planned` with the latencies corrected by the state's calibration (unchanged while
        every ratio is 1), and why."""
        scale = _step(st.log_scale)
        seen = tuple((k, r) for k, r in ((k, _step(v)) for k, v in st.seen) if r != scale)
        if scale == 1.0 and not seen:
            return planned, ""
        if self._memo_for is not latency or len(self._base_memo) > 1 << 20:
            self._memo_for, self._base_memo = latency, {}  # start over
        cal = Calibrated(latency, scale, seen, self._base_memo)
        why = f"; latencies x{scale:g} (observed / planned; {len(seen)} slices seen)"
        return self._planned(cal, planned.crowd), why

    def _calibrated(
        self,
        latency: LatencyModel,
        fv: GpuFunctionView,
        st: _FnState,
        area_on: dict[str, float],
    ) -> _FnState:
        """The state with the calibration factor moved halfway (in logs) towards the mean
        log of observed / planned latency of the batches the function's instances ran since
        the last snapshot (planned: the raw model at the instance's slice and batch size,
        times the slowdown of the area its GPU's other instances hold); within 1/4..4."""
        logs = []
        bound = math.log(4.0)
        seen = dict(st.seen)
        for i in fv.instances:
            others = max(0.0, area_on.get(i.gpu_id, 0.0) - i.area)
            slow = 1.0 + self.interference * min(1.0, others)
            for b, ms in i.observed:
                want = float(latency(fv.model, b, i.sm_pct, i.quota_pct)) * slow
                if want > 0:
                    lg = min(bound, max(-bound, math.log(ms / want)))
                    logs.append(lg)
                    key = (round(i.sm_pct, 6), round(i.quota_pct, 6), b)
                    seen[key] = 0.5 * seen[key] + 0.5 * lg if key in seen else lg
        if not logs:
            return st
        mixed = 0.5 * st.log_scale + 0.5 * sum(logs) / len(logs)
        return _FnState(
            st.kalman, st.last_active_s, st.last_grow_s, mixed, tuple(sorted(seen.items()))
        )

    def _predict(
        self, fv: GpuFunctionView, st: _FnState | None, now: float
    ) -> tuple[_FnState, float, str]:
        """Update the filter and the last-request time; the rate to provision for, and why."""
        measured = recent_rate(fv, self.predict_interval_s)
        kal = st.kalman if st is not None else None
        if kal is None or now - kal.updated_s >= self.predict_interval_s - 1e-6:
            kal = kalman_step(kal, measured, now, self.process_var, self.measurement_var)
        last = st.last_active_s if st is not None else -math.inf
        seen = [k for k, r in enumerate(fv.rps_window) if r > 0]
        if seen:
            last = max(last, now - (len(fv.rps_window) - 1 - seen[-1]) * fv.bucket_s)
        elif st is None:
            last = now - len(fv.rps_window) * fv.bucket_s if fv.rps_window else now
        grow = st.last_grow_s if st is not None else -math.inf
        rate = self.headroom * max(kal.rate_rps, measured, 0.0)
        why = (
            f"rate {rate:.1f} rps to provision ({self.headroom:g} x max(predicted "
            f"{kal.rate_rps:.1f}, measured {measured:.1f}))"
        )
        if st is None:
            return _FnState(kal, last, grow), rate, why
        return _FnState(kal, last, grow, st.log_scale, st.seen), rate, why

    @staticmethod
    def _place(
        on_gpu: dict[str, list[_Item]],
        opened: list[list[_Item]],
        c: Config,
        avoid: set[str] | frozenset[str] = frozenset(),
    ) -> tuple[str, _Item]:
        """Onto the fullest held GPU it fits on (not one being emptied), then GPUs opened by
        this decision, else a new one."""
        item = _Item(None, c.sm_pct, c.quota_pct, c.batch)

        def used(items: list[_Item]) -> float:
            return sum(x.sm * x.quota for x in items)

        held = sorted((g for g in on_gpu if g not in avoid), key=lambda g: (-used(on_gpu[g]), g))
        for g in held:
            on_gpu[g].append(item)
            if _pack(on_gpu[g]) is not None:
                return g, item
            on_gpu[g].pop()
        for k, items in enumerate(opened):
            items.append(item)
            if _pack(items) is not None:
                return new_gpu_id(k), item
            items.pop()
        opened.append([item])
        return new_gpu_id(len(opened) - 1), item
