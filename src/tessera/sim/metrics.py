"""Metrics derived from per-invocation records: latency, queue delay, cold starts, cost, carbon.

Cost charges provisioned memory over each instance's lifetime (GiB-seconds,
as a platform that keeps instances warm pays), and energy adds idle power over
instance lifetimes to busy power over execution time. Nothing is counted on
the side: change the records and every number follows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tessera.core.stats import summarize


def embodied_g_per_s(energy: Any, memory_mib: int) -> float:
    """Embodied gCO2e per instance-second: the configured rate, or one vCPU plus the
    function's memory on the GreenSKU server model (`tessera.carbon.accounting`)."""
    if energy.embodied_g_per_s is not None:
        return float(energy.embodied_g_per_s)
    from tessera.carbon.accounting import Usage, account

    usage = Usage(duration_s=1.0, cpu_cores=1.0, cpu_util=0.0, mem_gib=memory_mib / 1024)
    return account(usage, 0.0).embodied_g


if TYPE_CHECKING:
    from tessera.sim.engine import FunctionResult
    from tessera.sim.scenario import Scenario


def function_metrics(fr: FunctionResult, scenario: Scenario) -> dict[str, Any]:
    done = fr.end_s >= 0
    measured = done & (fr.arrival_s >= scenario.warmup_s)
    arr = fr.arrival_s[measured]
    start = fr.start_s[measured]
    end = fr.end_s[measured]
    e = scenario.energy
    instance_s = float(np.sum(fr.instance_gone_s - fr.instance_born_s))
    busy_s = float(np.sum(fr.end_s[done] - fr.start_s[done])) / fr.concurrency
    energy_j = e.idle_w * instance_s + (e.busy_w - e.idle_w) * busy_s
    carbon_g = energy_j / 3.6e6 * e.pue * e.gco2_per_kwh
    n = int(measured.sum())
    return {
        "invocations": n,
        "unfinished": int((~done).sum()),
        "queue_delay_s": summarize(start - arr),
        "latency_s": summarize(end - arr),
        "cold_starts": int(fr.cold[measured].sum()),
        "cold_start_pct": 100.0 * float(fr.cold[measured].mean()) if n else 0.0,
        "instances_started": len(fr.instance_born_s),
        "instance_s": instance_s,
        "utilization": busy_s / instance_s if instance_s > 0 else 0.0,
        "cost_usd": instance_s * fr.memory_mib / 1024 * e.usd_per_gib_s,
        "energy_kwh": energy_j / 3.6e6,
        "carbon_g": carbon_g,
        "embodied_g": instance_s * embodied_g_per_s(e, fr.memory_mib),
    }
