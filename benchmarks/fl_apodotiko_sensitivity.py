"""Does Apodotiko lead FedBuff when training, not cold starts, fills an invocation?

`tessera experiment apodotiko` trains on digits, where a one-vCPU client's invocation is
~0.1 s of training against 5-12 s of cold start, so hardware speed, which Apodotiko's score
measures, hardly matters. This sweep reruns the experiment's setup (`_run_seed`: same
population, partition, budget rule) with training made 1x, 20x and 100x costlier per
sample, and with more clients in flight, and reports per cell the median over seeds of
FedBuff's time to target over Apodotiko's (> 1: Apodotiko faster), Apodotiko's
`coverage_s` (its first sweep over never-invoked clients, before the score acts) as a
share of its own time to target, how many more aggregations Apodotiko makes in the same
budget, each strategy's accuracy after its 40th aggregation (what one is worth) and the
GPU clients' share of its aggregated updates.

    python benchmarks/fl_apodotiko_sensitivity.py [--clients 50] [--per-round 10,25]
        [--cost 1,20,100] [--seeds 3] [--out benchmarks/results/fl_apodotiko_sensitivity.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from harness import positive, positive_list, write_json
from tessera.experiments.apodotiko import TARGET_SHARE, _run_seed
from tessera.fl.data import load
from tessera.fl.log import InvocationRecord

STRATEGIES = ("fedavg", "fedbuff", "apodotiko", "tessera")
AT = 40
"""Aggregations after which FedBuff's and Apodotiko's accuracy is compared."""


def _gpu_share(records: list[InvocationRecord]) -> float:
    """Share of the aggregated updates that came from GPU clients."""
    used = [r for r in records if r.round_aggregated is not None]
    return sum(r.hardware == "gpu" for r in used) / len(used) if used else float("nan")


def _accuracy_after(timeline: list[tuple[float, float]], k: int) -> float:
    """Accuracy after the `k`-th aggregation (the last one if there were fewer)."""
    return timeline[min(k, len(timeline)) - 1][1] if timeline else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=positive(int), default=50)
    ap.add_argument(
        "--per-round", type=positive_list(int), default=[10, 25], help="clients in flight: 10,25"
    )
    ap.add_argument(
        "--cost", type=positive_list(float), default=[1.0, 20.0, 100.0],
        help="x 10 ms per sample-epoch on one vCPU: 1,20,100",
    )  # fmt: skip
    ap.add_argument(
        "--rounds", type=positive(int), default=25, help="FedAvg rounds (sets the budget)"
    )
    ap.add_argument("--seeds", type=positive(int), default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    data = load("digits")
    cells = []
    for per in args.per_round:
        for cost in args.cost:
            t0 = time.perf_counter()
            seeds = []
            for seed in range(args.seeds):
                runs = _run_seed(
                    data, args.clients, per, args.rounds, seed,
                    strategies=STRATEGIES, base_s_per_sample=0.01 * cost,
                )  # fmt: skip
                target = TARGET_SHARE * runs["fedavg"].final_accuracy
                m = {name: r.metrics(target) for name, r in runs.items()}
                seeds.append(
                    {
                        "fedbuff_over_apodotiko": m["fedbuff"]["tta_s"] / m["apodotiko"]["tta_s"],
                        "fedbuff_over_tessera": m["fedbuff"]["tta_s"] / m["tessera"]["tta_s"],
                        "fedavg_over_apodotiko": m["fedavg"]["tta_s"] / m["apodotiko"]["tta_s"],
                        "apodotiko_coverage_share": m["apodotiko"]["coverage_s"]
                        / m["apodotiko"]["tta_s"],
                        # aggregations over the same budget: how much faster updates arrive
                        "apodotiko_over_fedbuff_aggregations": len(runs["apodotiko"].timeline)
                        / len(runs["fedbuff"].timeline),
                        # and what each is worth: accuracy after the same number of them
                        **{
                            f"{name}_accuracy_at_{AT}": _accuracy_after(runs[name].timeline, AT)
                            for name in ("fedbuff", "apodotiko")
                        },
                        # and whose: the GPU clients' (20% of them) share of aggregated updates
                        **{
                            f"{name}_gpu_share": _gpu_share(runs[name].records)
                            for name in ("fedbuff", "apodotiko")
                        },
                    }
                )
            cell = {
                "clients": args.clients,
                "per_round": per,
                "cost_x": cost,
                **{k: round(statistics.median(s[k] for s in seeds), 3) for k in seeds[0]},
                "per_seed_fedbuff_over_apodotiko": [
                    round(s["fedbuff_over_apodotiko"], 3) for s in seeds
                ],
                "seconds": round(time.perf_counter() - t0, 1),
            }
            cells.append(cell)
            print(json.dumps(cell), flush=True)
    result = {"benchmark": "fl_apodotiko_sensitivity", "seeds": args.seeds, "cells": cells}
    if args.out:
        write_json(args.out, result)


if __name__ == "__main__":
    main()
