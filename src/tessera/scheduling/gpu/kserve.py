"""KServe on Knative, HAS-GPU's baseline: whole GPUs, KPA concurrency target, 1 to 2 replicas.

Each replica holds a whole GPU (SM 100%, quota 100%). The replica count is
Knative's stable-window rule, ceil(mean in-flight requests / (target x
utilisation)), bounded to [min_replicas, max_replicas] (1 and 2 in the
HAS-GPU evaluation). With no concurrency history the in-flight level is
estimated by Little's law from the recent rate and the whole-GPU latency.
Whole-GPU replicas are kept on the GPUs they hold (slices are replaced); new ones go to GPUs nobody uses,
else to new GPUs.
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
from tessera.scheduling.gpu.base import GPU_POLICIES, config, latency_model, recent_rate


@GPU_POLICIES.register("kserve-kpa")
class KserveKpa:
    """Whole-GPU replicas scaled on concurrency, as KServe's default deployment does."""

    name = "kserve-kpa"

    def __init__(
        self,
        target_concurrency: float = 4.0,
        target_utilization: float = 0.7,
        stable_window_s: float = 60.0,
        min_replicas: int = 1,
        max_replicas: int = 2,
        batch: int = 1,
        latency_ms: LatencyModel | None = None,
    ) -> None:
        require(target_concurrency > 0, "kserve.target_concurrency", target_concurrency, "> 0")
        require(
            0 < target_utilization <= 1, "kserve.target_utilization", target_utilization, "(0, 1]"
        )
        require(stable_window_s > 0, "kserve.stable_window_s", stable_window_s, "seconds > 0")
        require(min_replicas >= 1, "kserve.min_replicas", min_replicas, "an integer >= 1")
        require(
            max_replicas >= min_replicas, "kserve.max_replicas", max_replicas, ">= min_replicas"
        )
        require(batch >= 1, "kserve.batch", batch, "an integer >= 1")
        self.target_concurrency = target_concurrency
        self.target_utilization = target_utilization
        self.stable_window_s = stable_window_s
        self.min_replicas = min_replicas
        self.max_replicas = max_replicas
        self.batch = batch
        self.latency_ms = latency_ms

    def decide(self, snapshot: GpuSnapshot) -> GpuPolicyResult:
        latency = latency_model(self.latency_ms, snapshot)
        wants: dict[str, tuple[int, str, list[GpuInstanceView]]] = {}
        for name in sorted(snapshot.functions):
            fv = snapshot.functions[name]
            want, why = self._replicas(fv, latency)
            whole = [i for i in fv.active if i.sm_pct >= 100.0 and i.quota_pct >= 100.0]
            wants[name] = (want, why, sorted(whole, key=lambda i: i.id)[:want])
        held = {i.gpu_id for _, _, keep in wants.values() for i in keep}
        free_gpus = [g for g in sorted(snapshot.gpus) if g not in held]
        n_new = 0
        out = []
        for name, (want, why, keep) in wants.items():
            plans = [
                GpuInstancePlan(i.gpu_id, 100.0, 100.0, self.batch, instance_id=i.id) for i in keep
            ]
            while len(plans) < want:
                if free_gpus:
                    gpu = free_gpus.pop(0)
                else:
                    gpu, n_new = new_gpu_id(n_new), n_new + 1
                plans.append(GpuInstancePlan(gpu, 100.0, 100.0, self.batch))
            out.append(GpuDecision(name, tuple(plans), f"{why} -> {want} whole GPU(s)"))
        return GpuPolicyResult(tuple(out), snapshot.state)

    def _replicas(self, fv: GpuFunctionView, latency: LatencyModel) -> tuple[int, str]:
        target = self.target_concurrency * self.target_utilization
        n = max(1, round(self.stable_window_s / fv.bucket_s))
        window = fv.concurrency_window[-n:]
        if window:
            level = sum(window) / len(window)
            why = f"{level:.2f} in flight over {len(window) * fv.bucket_s:g}s / target {target:.2f}"
        else:
            rate = recent_rate(fv, self.stable_window_s)
            ms = config(latency, fv.model, 100.0, 100.0, self.batch).latency_ms
            level = rate * ms / 1000.0
            why = f"{rate:.2f} rps x {ms:.2f} ms = {level:.2f} in flight / target {target:.2f}"
        raw = math.ceil(level / target - 1e-9)
        want = min(self.max_replicas, max(self.min_replicas, raw))
        if want != raw:
            why += f" (wants {raw}, bounded to [{self.min_replicas}, {self.max_replicas}])"
        return want, why
