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


WINDOW_MS = 40.0  # FaST-GShare's token window


def busy_ms(
    latency: LatencyModel,
    model: str,
    sm: float,
    quota: float,
    batch: int,
    window_ms: float = WINDOW_MS,
) -> float:
    """How long a batch keeps its slice busy back to back, from its latency L_q at quota q
    measured one request at a time (the V100 RaPP grid) and its whole-time latency L_100.

    A quota grants q x `window_ms` of GPU time per window. A batch that needed several
    windows was throttled as it would be back to back, so L_q is its period. One that
    finished within a window's budget used g <= q x window of GPU time, and g <= L_100, but
    back to back it still gets only q of the time: g / q <= min(L_100 / q, window). So the
    period is max(L_q, min(L_100 / q, window)) - the most a slice sustains, where a lone
    request's latency near L_100 would say it sustains 1 / q times more than its quota.
    For a latency model that stretches by 100 / q (a fluid time slice) it is L_q.
    """
    ms = float(latency(model, batch, sm, quota))
    if quota < 100.0:
        whole = float(latency(model, batch, sm, 100.0))
        ms = max(ms, min(whole * 100.0 / quota, window_ms))
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
