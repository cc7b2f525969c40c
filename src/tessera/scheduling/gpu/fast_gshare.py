"""FaST-GShare: one most-efficient slice per function, horizontal scaling, MaxRects placement.

For each function the policy profiles the grid of SM % x quota % (x batch)
with the latency model, keeps the configurations whose predicted batch
latency meets the SLO, and picks the one with the least resource per request
per second (sm x quota / throughput). It never resizes: it runs
ceil(predicted rate / that configuration's throughput) replicas of it (at
least `min_replicas`). New replicas are packed onto GPUs as rectangles on the
SM x time plane with maximal rectangles (best short side fit), trying the GPUs
already held before asking for a new one. Instances in another configuration
are replaced.
"""

from __future__ import annotations

import math

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
    Choice,
    ChoiceMemo,
    Config,
    Want,
    config,
    grid,
    latency_model,
    layouts,
    most_efficient,
    profile,
    recent_rate,
)
from tessera.scheduling.gpu.maxrects import MaxRects, Rect


@GPU_POLICIES.register("fast-gshare")
class FastGShare:
    """Fixed most-efficient configuration per function, scaled out, packed with MaxRects."""

    name = "fast-gshare"

    def __init__(
        self,
        rate_window_s: float = 10.0,
        sm_step_pct: float = 10.0,
        quota_step_pct: float = 10.0,
        batches: tuple[int, ...] = (1,),
        min_replicas: int = 1,
        latency_ms: LatencyModel | None = None,
    ) -> None:
        require(rate_window_s > 0, "fast-gshare.rate_window_s", rate_window_s, "seconds > 0")
        require(0 < sm_step_pct <= 100, "fast-gshare.sm_step_pct", sm_step_pct, "(0, 100]")
        require(0 < quota_step_pct <= 100, "fast-gshare.quota_step_pct", quota_step_pct, "(0, 100]")
        require(
            len(batches) > 0 and all(b >= 1 for b in batches),
            "fast-gshare.batches",
            batches,
            "a non-empty tuple of integers >= 1",
        )
        require(min_replicas >= 0, "fast-gshare.min_replicas", min_replicas, "an integer >= 0")
        self.rate_window_s = rate_window_s
        self.sm_step_pct = sm_step_pct
        self.quota_step_pct = quota_step_pct
        self.batches = tuple(batches)
        self.min_replicas = min_replicas
        self.latency_ms = latency_ms
        self._chosen: ChoiceMemo[Choice] = ChoiceMemo()

    def choose(self, latency: LatencyModel, fv: GpuFunctionView) -> tuple[Config, str]:
        """The most resource-efficient configuration meeting the SLO (whole GPU if none does)."""
        return self._chosen.get(latency, fv, self._choose)

    def _choose(self, latency: LatencyModel, fv: GpuFunctionView) -> tuple[Config, str]:
        configs = profile(
            latency,
            fv.model,
            fv.slo_ms,
            grid(self.sm_step_pct),
            grid(self.quota_step_pct),
            self.batches,
        )
        best = most_efficient(configs)
        if best is None:
            c = config(latency, fv.model, 100.0, 100.0, min(self.batches))
            return c, f"no slice meets SLO {fv.slo_ms:g} ms; whole GPU ({c.latency_ms:.1f} ms)"
        return best, (
            f"{best.label()} is the cheapest meeting SLO {fv.slo_ms:g} ms "
            f"({best.latency_ms:.1f} ms, {best.rps:.1f} rps, "
            f"{best.area_per_rps:.1f} %^2 per rps, of {len(configs)} configs)"
        )

    def decide(self, snapshot: GpuSnapshot) -> GpuPolicyResult:
        latency = latency_model(self.latency_ms, snapshot)
        wants = [self._want(latency, snapshot.functions[n]) for n in sorted(snapshot.functions)]
        kept = [(w.fv.name, i) for w in wants for i in w.keep]
        free, where = layouts(snapshot.gpus, kept)
        opened: list[MaxRects] = []  # new GPUs opened by this decision, in order
        out = []
        for w in wants:
            plans = []
            for i in w.keep:
                r = where[(w.fv.name, i.id)]
                plans.append(
                    GpuInstancePlan(i.gpu_id, i.sm_pct, i.quota_pct, i.batch, i.id, r.x, r.y)
                )
            placed_on: list[str] = []
            for _ in range(w.replicas - len(w.keep)):
                gpu, r = self._place(free, opened, w.cfg)
                placed_on.append(gpu)
                plans.append(
                    GpuInstancePlan(gpu, w.cfg.sm_pct, w.cfg.quota_pct, w.cfg.batch, None, r.x, r.y)
                )
            why = w.why
            if placed_on:
                why += f"; placed {len(placed_on)} new on {', '.join(placed_on)}"
            out.append(GpuDecision(w.fv.name, tuple(plans), why))
        return GpuPolicyResult(tuple(out), snapshot.state)

    def _want(self, latency: LatencyModel, fv: GpuFunctionView) -> Want:
        cfg, why = self.choose(latency, fv)
        rate = recent_rate(fv, self.rate_window_s)
        replicas = max(self.min_replicas, math.ceil(rate / cfg.rps - 1e-9))
        same = sorted(
            (
                i
                for i in fv.active
                if (i.sm_pct, i.quota_pct, i.batch) == (cfg.sm_pct, cfg.quota_pct, cfg.batch)
            ),
            key=lambda i: i.id,
        )
        keep = tuple(same[:replicas])
        why = f"rate {rate:.1f} rps / {cfg.rps:.1f} rps per replica -> {replicas} replica(s); {why}"
        return Want(fv, cfg, replicas, keep, why)

    @staticmethod
    def _place(free: dict[str, MaxRects], opened: list[MaxRects], cfg: Config) -> tuple[str, Rect]:
        """Best short side fit over the held GPUs and those opened so far; else open one more."""
        best: tuple[float, float, int, str, Rect] | None = None
        candidates = [(g, free[g]) for g in sorted(free)]
        candidates += [(new_gpu_id(k), m) for k, m in enumerate(opened)]
        for order, (gpu, packer) in enumerate(candidates):
            fit = packer.best_fit(cfg.sm_pct, cfg.quota_pct)
            if fit is not None and (best is None or (fit[0], fit[1], order) < best[:3]):
                best = (fit[0], fit[1], order, gpu, fit[2])
        if best is None:
            r = Rect(0.0, 0.0, cfg.sm_pct, cfg.quota_pct)
            opened.append(MaxRects().occupy(r))
            return new_gpu_id(len(opened) - 1), r
        _, _, order, gpu, r = best
        if order < len(free):
            free[gpu] = free[gpu].occupy(r)
        else:
            opened[order - len(free)] = opened[order - len(free)].occupy(r)
        return gpu, r
