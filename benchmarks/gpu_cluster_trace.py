"""How fast the GPU cluster model simulates the 14-day Azure per-minute trace.

Replays `traces/azure2019_one_function_per_minute.csv` (20,160 minutes; a
synthetic diurnal trace at its mean without the shared data) scaled to a mean
of `--rps` requests/s for one resnet50 function, under one GPU policy with
2-s decisions, and prints the wall time and requests simulated per second.
The issue's goal: one policy over 14 days in under 2 minutes.

    python benchmarks/gpu_cluster_trace.py [--policy has-gpu] [--rps 10] [--days 14]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tessera.core.data import find
from tessera.gpu.latency import h200_latency_ms
from tessera.scheduling.gpu import create
from tessera.sim.gpu_cluster import GpuFunction, minute_replay, simulate
from tessera.sim.workload import read_minute_counts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy", default="has-gpu")
    ap.add_argument("--rps", type=float, default=10.0)
    ap.add_argument("--days", type=float, default=14.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    minutes = int(args.days * 1440)
    path = find("traces/azure2019_one_function_per_minute.csv")
    if path is not None:
        counts = read_minute_counts(path)[:minutes].astype(float)
    else:
        m = np.arange(minutes)
        counts = 8.75 * (1 + 0.6 * np.sin(2 * np.pi * m / 1440))
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    arr = minute_replay(rng, counts, args.rps * 60.0 / counts.mean())
    fn = GpuFunction("fn", "resnet50", 5 * h200_latency_ms("resnet50", 1, 100.0), arr)
    policy = create({"kind": args.policy})  # latency: the snapshot's (cached) model
    t1 = time.perf_counter()
    res = simulate(policy, [fn], h200_latency_ms, len(counts) * 60.0)
    t2 = time.perf_counter()
    print(f"trace: {'azure' if path else 'synthetic'}, {len(counts)} minutes, {len(arr)} requests")
    print(
        f"policy {args.policy}: simulate {t2 - t1:.1f} s ({len(arr) / (t2 - t1):,.0f} req/s), "
        f"arrivals {t1 - t0:.1f} s"
    )
    print({k: round(v, 4) for k, v in res.metrics.items()})


if __name__ == "__main__":
    main()
