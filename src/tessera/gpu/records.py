"""What the GPU worker reports: one launch, one resize, one instance's metrics.

Plain frozen records, apart from the worker so a report or a policy can read
them without the mechanism; `achieved_share` turns launch records into the
GPU-time share of a span, the number quotas are judged by.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tessera.gpu.gate import Quota


@dataclass(frozen=True, slots=True)
class InferResult:
    name: str
    batch: int
    latency_ms: float
    gpu_ms: float
    waited_ms: float
    end_s: float


@dataclass(frozen=True, slots=True)
class ResizeReport:
    """Where the time of one resize went, in ms (SM changes only; a quota change is free)."""

    name: str
    old_sms: int
    new_sms: int
    partition_ms: float
    capture_ms: float
    switch_ms: float
    drain_ms: float


@dataclass(frozen=True, slots=True)
class InstanceMetrics:
    name: str
    model_key: str
    sms: int
    sm_pct: float
    quota: Quota
    mem_mib: int
    requests: int
    latency_ms: dict[str, float]
    gpu_ms: dict[str, float]
    window_shares: list[float]
    """Achieved GPU-time share of each closed window, oldest first."""

    @property
    def mean_share(self) -> float:
        ws = self.window_shares
        return sum(ws) / len(ws) if ws else float("nan")


def summary(values: Iterable[float]) -> dict[str, float]:
    v = sorted(values)
    if not v:
        nan = float("nan")
        return {"n": 0, "mean": nan, "p50": nan, "p95": nan, "p99": nan}

    def q(p: float) -> float:
        return v[min(len(v) - 1, int(p * len(v)))]

    return {"n": len(v), "mean": sum(v) / len(v), "p50": q(0.5), "p95": q(0.95), "p99": q(0.99)}


def achieved_share(results: Iterable[InferResult], t0_s: float, t1_s: float) -> float:
    """GPU time of the launches that ended in [t0_s, t1_s), as a share of that span."""
    span = t1_s - t0_s
    if span <= 0:
        return float("nan")
    return sum(r.gpu_ms for r in results if t0_s <= r.end_s < t1_s) / 1000.0 / span
