"""Exclusive whole GPUs with dynamic batching: the strong baseline a careful engineer would run.

One model per GPU (SM 100%, quota 100%), served with dynamic batching (and
CUDA graphs, which the latency model's whole-GPU batch latencies stand for).
For each function the policy picks, from a configurable tuple of batch sizes,
the one with the highest throughput whose predicted batch latency on a whole
GPU still meets the SLO (the smallest batch when none does), and runs
ceil(recent rate / (that throughput x target utilisation)) replicas, at least
`min_replicas`. Whole-GPU instances already running are kept on the GPUs they
hold (their batch is updated; slices are replaced); new replicas go to held
GPUs nobody keeps, else to new GPUs.
"""

from __future__ import annotations

import math

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
from tessera.scheduling.gpu.base import (
    GPU_POLICIES,
    Choice,
    ChoiceMemo,
    Config,
    Want,
    config,
    latency_model,
    recent_rate,
)

DEFAULT_BATCHES: tuple[int, ...] = (1, 2, 4, 8, 16, 32)


@GPU_POLICIES.register("exclusive-batched")
class ExclusiveBatched:
    """Whole-GPU replicas at the highest-throughput batch meeting the SLO, scaled on rate."""

    name = "exclusive-batched"

    def __init__(
        self,
        batches: tuple[int, ...] = DEFAULT_BATCHES,
        target_utilization: float = 0.8,
        rate_window_s: float = 10.0,
        min_replicas: int = 1,
        latency_ms: LatencyModel | None = None,
    ) -> None:
        require(
            len(batches) > 0 and all(int(b) == b and b >= 1 for b in batches),
            "exclusive-batched.batches",
            batches,
            "a non-empty tuple of integers >= 1",
        )
        require(
            0 < target_utilization <= 1,
            "exclusive-batched.target_utilization",
            target_utilization,
            "(0, 1]",
        )
        require(rate_window_s > 0, "exclusive-batched.rate_window_s", rate_window_s, "seconds > 0")
        require(
            min_replicas >= 1, "exclusive-batched.min_replicas", min_replicas, "an integer >= 1"
        )
        self.batches = tuple(sorted(set(int(b) for b in batches)))
        self.target_utilization = target_utilization
        self.rate_window_s = rate_window_s
        self.min_replicas = min_replicas
        self.latency_ms = latency_ms
        self._chosen: ChoiceMemo[Choice] = ChoiceMemo()

    def choose(self, latency: LatencyModel, fv: GpuFunctionView) -> tuple[Config, str]:
        """The whole-GPU batch with the highest throughput meeting the SLO (smallest if none)."""
        return self._chosen.get(latency, fv, self._choose)

    def _choose(self, latency: LatencyModel, fv: GpuFunctionView) -> tuple[Config, str]:
        configs = [config(latency, fv.model, 100.0, 100.0, b) for b in self.batches]
        feasible = [c for c in configs if c.latency_ms <= fv.slo_ms]
        if not feasible:
            c = configs[0]
            return c, (
                f"no batch meets SLO {fv.slo_ms:g} ms on a whole GPU; batch {c.batch} "
                f"({c.latency_ms:.1f} ms, {c.rps:.1f} rps)"
            )
        # highest throughput; on a tie the smaller batch (lower latency)
        best = min(feasible, key=lambda c: (-float(f"{c.rps:.9g}"), c.batch))
        return best, (
            f"batch {best.batch} is the highest-throughput batch meeting SLO {fv.slo_ms:g} ms "
            f"({best.latency_ms:.1f} ms, {best.rps:.1f} rps; {len(feasible)} of "
            f"{len(configs)} batches meet it)"
        )

    def decide(self, snapshot: GpuSnapshot) -> GpuPolicyResult:
        latency = latency_model(self.latency_ms, snapshot)
        claimed: set[str] = set()
        wants = []
        for name in sorted(snapshot.functions):
            w = self._want(latency, snapshot.functions[name], claimed)
            claimed.update(i.gpu_id for i in w.keep)
            wants.append(w)
        free_gpus = [g for g in sorted(snapshot.gpus) if g not in claimed]
        n_new = 0
        out = []
        for w in wants:
            b = w.cfg.batch
            plans = [GpuInstancePlan(i.gpu_id, 100.0, 100.0, b, instance_id=i.id) for i in w.keep]
            placed: list[str] = []
            while len(plans) < w.replicas:
                if free_gpus:
                    gpu = free_gpus.pop(0)
                else:
                    gpu, n_new = new_gpu_id(n_new), n_new + 1
                placed.append(gpu)
                plans.append(GpuInstancePlan(gpu, 100.0, 100.0, b))
            why = w.why
            if w.keep:
                why += f"; keep {len(w.keep)} on {', '.join(i.gpu_id for i in w.keep)}"
            if placed:
                why += f"; {len(placed)} new on {', '.join(placed)}"
            out.append(GpuDecision(w.fv.name, tuple(plans), why))
        return GpuPolicyResult(tuple(out), snapshot.state)

    def _want(self, latency: LatencyModel, fv: GpuFunctionView, claimed: set[str]) -> Want:
        cfg, chose = self.choose(latency, fv)
        rate = recent_rate(fv, self.rate_window_s)
        per = cfg.rps * self.target_utilization
        raw = math.ceil(rate / per - 1e-9) if per > 0 else 0
        replicas = max(self.min_replicas, raw)
        keep: list[GpuInstanceView] = []
        gpus = set(claimed)
        whole = (i for i in fv.active if i.sm_pct >= 100.0 and i.quota_pct >= 100.0)
        for i in sorted(whole, key=lambda i: i.id):
            if len(keep) < replicas and i.gpu_id not in gpus:
                keep.append(i)
                gpus.add(i.gpu_id)
        why = (
            f"rate {rate:.1f} rps / ({cfg.rps:.1f} rps x {self.target_utilization:g}) "
            f"-> {replicas} whole GPU(s)"
        )
        if replicas != raw:
            why += f" (min {self.min_replicas})"
        return Want(fv, cfg, replicas, tuple(keep), f"{why}; {chose}")
