"""A GPU run's records and metrics: what the simulator and the real GPU control loop share.

Both drivers of a GPU policy (`tessera.sim.gpu_cluster` in simulated time,
`tessera.control.gpu` on a real worker) serve `GpuFunction`s, record each
request's arrival, start and end in a `GpuClusterResult` and compute the
run's metrics with `summarize`, so their numbers compare one to one. The
model behind the metrics (cost integrals, packing efficiency and a*) is
stated in `tessera.sim.gpu_cluster`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from tessera.core.errors import require
from tessera.core.gpu_policy import LatencyModel

A_STAR_BATCHES = (1, 2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class GpuFunction:
    """A function served on GPUs: its model, SLO and (sorted) arrival times in seconds."""

    name: str
    model: str
    slo_ms: float
    arrivals_s: np.ndarray

    def __post_init__(self) -> None:
        require(self.slo_ms > 0, "function.slo_ms", self.slo_ms, "milliseconds > 0")
        a = self.arrivals_s
        require(a.ndim == 1, "function.arrivals_s", a.shape, "a 1-D array")
        require(bool(np.all(np.diff(a) >= 0)), "function.arrivals_s", "unsorted", "sorted times")


@dataclass
class GpuClusterResult:
    """Per-request records per function, per-step timeline, and the run's metrics."""

    arrivals_s: dict[str, np.ndarray]
    start_s: dict[str, np.ndarray]
    end_s: dict[str, np.ndarray]
    slo_ms: dict[str, float]
    timeline_s: np.ndarray
    area_timeline: np.ndarray
    held_timeline: np.ndarray
    metrics: dict[str, float] = field(default_factory=dict)
    reasons: dict[str, list[str]] = field(default_factory=dict)

    def latency_ms(self, fn: str) -> np.ndarray:
        out: np.ndarray = (self.end_s[fn] - self.arrivals_s[fn]) * 1000.0
        return out

    def slo_met(self, fn: str) -> np.ndarray:
        lat = self.latency_ms(fn)
        met: np.ndarray = np.isfinite(lat) & (lat <= self.slo_ms[fn] + 1e-9)
        return met


def busy_ms(latency: LatencyModel, model: str, sm: float, quota: float, batch: int) -> float:
    """How long a batch keeps its slice busy back to back: max(L_q, L_100 / q), from its
    latency L_q at quota q and its whole-time latency L_100.

    A time quota q grants q of the GPU's time, so a batch that takes L_100 with the
    whole time cannot be repeated faster than every L_100 / q. Grids measured one request
    at a time (the V100 RaPP grid) often show no throttling at all (vgg16 at 20% SMs,
    batch 8: 64.7 ms at quota 10%, 64.6 ms at 100%), so the lone latency cannot tell how
    much of L_100 the gate charged; all of it is counted - an upper bound on the period
    where part of L_100 is a host-side floor the gate does not charge. For a latency model
    that stretches by 100 / q (a fluid time slice) it is L_q.
    """
    ms = float(latency(model, batch, sm, quota))
    if quota < 100.0:
        ms = max(ms, float(latency(model, batch, sm, 100.0)) * 100.0 / quota)
    return ms


def min_area_per_request_s(
    latency: LatencyModel,
    model: str,
    slo_ms: float,
    total_sms: int = 132,
    batches: Sequence[int] = A_STAR_BATCHES,
) -> float:
    """a*: least GPU-seconds of SM area per request meeting `slo_ms` (solo latency; see module).

    `batches` should stay within what the latency model was measured at: beyond
    it an extrapolation decides a*.
    """
    best = math.inf
    for b in batches:
        for k in range(1, total_sms + 1):
            sm = 100.0 * k / total_sms
            ms = float(latency(model, b, sm, 100.0))
            if ms <= slo_ms:
                best = min(best, (k / total_sms) * ms / 1000.0 / b)
    return best


def packing_bound(
    latency: LatencyModel,
    model: str,
    slo_ms: float,
    slices: Sequence[tuple[float, float]],
    batches: Sequence[int],
    interference: float,
    total_sms: int = 132,
    a_star_batches: Sequence[int] = A_STAR_BATCHES,
) -> float:
    """A yardstick for packing efficiency on one model: GPUs each filled with as many copies of
    one (sm %, quota %) slice of `slices` x batch of `batches` as fit by area, each meeting the
    SLO, busy back to back with full batches (`busy_ms`), each slowed by 1 + `interference` x
    the others' area; the best over the slices of a* / GPU-seconds held per request.

    Optimistic where serving is concerned (no queueing, no partial batches, no cold starts),
    but not a bound on every policy: one slice shape per GPU (mixing slices or models can
    fill the area copies of one leave idle, at the co-tenants' slowdown) and only `batches`
    (a latency model extrapolated past its measured batches can make larger ones cheaper).
    """
    a_star = min_area_per_request_s(latency, model, slo_ms, total_sms, a_star_batches)
    best = 0.0
    for sm, q in slices:
        area = sm * q / 10_000.0
        copies = math.floor(1.0 / area + 1e-9)
        slow = 1.0 + interference * min(1.0, (copies - 1) * area)
        for b in batches:
            if float(latency(model, b, sm, q)) > slo_ms:
                continue
            held_s = busy_ms(latency, model, sm, q, b) * slow / 1000.0 / (copies * b)
            best = max(best, a_star / held_s)
    return best


def per_request_floor(
    latency: LatencyModel,
    model: str,
    slo_ms: float,
    slices: Sequence[tuple[float, float]],
    batches: Sequence[int],
    interference: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The least GPU-seconds one request holds, as a step function of the request rate.

    For each (sm %, quota %) slice and batch b whose latency, slowed as on a full GPU
    (1 + `interference` x (1 - the slice's area): fullest is cheapest per GPU held) and
    added to the time the batch's first request waits for the other b - 1 at rate r
    ((b - 1) / r), meets `slo_ms`: area x `busy_ms` x slowdown / b. Returns (rates, costs):
    from `rates[k]` rps up, `costs[k]` seconds per request is reachable (rates ascending,
    costs falling; `rates[0]` is 0 where batch 1 of some slice meets the SLO).
    """
    cands: list[tuple[float, float]] = []  # (least rate, GPU-s per request)
    for sm, q in slices:
        area = sm * q / 10_000.0
        slow = 1.0 + interference * max(0.0, 1.0 - area)
        for b in batches:
            slack_s = (slo_ms - float(latency(model, b, sm, q)) * slow) / 1000.0
            if slack_s <= 0:
                continue
            least = (b - 1) / slack_s
            cands.append((least, area * busy_ms(latency, model, sm, q, b) * slow / 1000.0 / b))
    cands.sort()
    rates: list[float] = []
    costs: list[float] = []
    for least, cost in cands:
        if not costs or cost < costs[-1] - 1e-15:
            if rates and least == rates[-1]:
                costs[-1] = cost
            else:
                rates.append(least)
                costs.append(cost)
    return np.asarray(rates), np.asarray(costs)


def packing_ceiling(
    latency: LatencyModel,
    functions: Sequence[GpuFunction],
    start_s: float,
    horizon_s: float,
    slices: Sequence[tuple[float, float]],
    batches: Sequence[int],
    interference: float,
    total_sms: int = 132,
    a_star_batches: Sequence[int] = A_STAR_BATCHES,
    bucket_s: float = 1.0,
) -> dict[str, float]:
    """How high packing efficiency can go on these request streams, in a fluid model.

    Per `bucket_s` of [start_s, start_s + horizon_s), each function's requests are served
    at that bucket's rate r in the cheapest way `per_request_floor` allows at r (full
    batches, no queueing, instances on full GPUs, the `slices` x `batches` grid) and the
    GPUs held are that area rounded up to whole GPUs (at least one while any request
    arrives). Returns `packing_ceiling` = Σ requests x a* / Σ GPUs held (what a policy
    serving each second's load with no slack would reach) and `whole_gpus` = the same with
    every request taking only a* (whole GPUs the only loss). A ceiling for policies that
    serve within the SLO, not a proof over every schedule: packing efficiency counts late
    requests as served, so a policy that lets many miss the SLO (e.g. larger batches than
    the rate fills in time) can pass it, and work moved to another second, or batches
    luckier than the mean wait for b - 1 arrivals, could pass it a little.
    """
    require(horizon_s > 0, "horizon_s", horizon_s, "seconds > 0")
    require(bucket_s > 0, "bucket_s", bucket_s, "seconds > 0")
    nb = math.ceil(horizon_s / bucket_s - 1e-9)
    useful = np.zeros(nb)
    needed = np.zeros(nb)
    for f in functions:
        a_star = min_area_per_request_s(latency, f.model, f.slo_ms, total_sms, a_star_batches)
        if not math.isfinite(a_star):  # no slice meets the SLO: nothing useful (as `summarize`)
            continue
        rates, costs = per_request_floor(latency, f.model, f.slo_ms, slices, batches, interference)
        a = f.arrivals_s[(f.arrivals_s >= start_s) & (f.arrivals_s < start_s + horizon_s)]
        counts = np.bincount(((a - start_s) / bucket_s).astype(np.int64), minlength=nb)[:nb]
        r = counts / bucket_s
        if len(costs):
            k = np.searchsorted(rates, r, side="right") - 1
            # below every slice's least rate: the cheapest of all (a ceiling errs high)
            per = np.where(k >= 0, costs[np.maximum(k, 0)], costs[-1])
        else:  # the grid has no slice meeting the SLO: only a* (the ceiling errs high)
            per = np.full(nb, a_star)
        useful += counts * a_star
        needed += counts * per
    held = np.where(needed > 0, np.maximum(1.0, np.ceil(needed / bucket_s - 1e-9)), 0.0)
    whole = np.where(useful > 0, np.maximum(1.0, np.ceil(useful / bucket_s - 1e-9)), 0.0)
    total = float(useful.sum())
    return {
        "packing_ceiling": total / float(held.sum() * bucket_s) if held.any() else math.nan,
        "whole_gpus": total / float(whole.sum() * bucket_s) if whole.any() else math.nan,
    }


def summarize(
    out: GpuClusterResult,
    models: Mapping[str, str],
    latency: LatencyModel,
    total_sms: int,
    horizon_s: float,
    cost_gpu_s: float,
    gpu_s_held: float,
    a_star_batches: Sequence[int] = A_STAR_BATCHES,
) -> dict[str, float]:
    """The run's metrics from per-request records and the two cost integrals (see the module).

    Shared by the simulator and the real GPU control loop, so both report the same numbers.
    """
    total = served = met = 0
    useful = 0.0
    lats = []
    for name, model in models.items():
        lat = out.latency_ms(name)
        ok = np.isfinite(lat)
        total += len(lat)
        served += int(ok.sum())
        met += int(out.slo_met(name).sum())
        lats.append(lat[ok])
        a_star = min_area_per_request_s(latency, model, out.slo_ms[name], total_sms, a_star_batches)
        if math.isfinite(a_star):
            useful += int(ok.sum()) * a_star
    all_lat = np.concatenate(lats) if lats else np.zeros(0)
    return {
        "requests": float(total),
        "served": float(served),
        "dropped": float(total - served),
        "slo_violation_rate": (total - met) / total if total else 0.0,
        "p50_latency_ms": float(np.percentile(all_lat, 50)) if len(all_lat) else math.nan,
        "p99_latency_ms": float(np.percentile(all_lat, 99)) if len(all_lat) else math.nan,
        "cost_gpu_s": cost_gpu_s,
        "gpu_s_held": gpu_s_held,
        "gpus_held_mean": gpu_s_held / horizon_s,
        "packing_efficiency": useful / gpu_s_held if gpu_s_held > 0 else math.nan,
        "area_efficiency": useful / cost_gpu_s if cost_gpu_s > 0 else math.nan,
    }
