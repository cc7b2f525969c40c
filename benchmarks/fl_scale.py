"""FL simulator scale: 200 clients x 100 rounds of each strategy on this machine, twice.

The issue's goal: 200 clients x 100 rounds simulate on a 2-core machine, and the same
seed gives the same metrics. Prints seconds per strategy and whether the rerun matched.

    python benchmarks/fl_scale.py [--clients 200] [--rounds 100] [--strategies fedavg,apodotiko]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import tessera.fl.strategies  # noqa: F401  (registers the strategies)
from tessera.fl.data import load, partition
from tessera.fl.models import make_model
from tessera.fl.strategy import FlConfig, create
from tessera.sim.fl import FlSimConfig, population, simulate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--per-round", type=int, default=20)
    ap.add_argument("--strategies", default="fedavg,fedbuff,apodotiko,tessera")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    data = load("digits")
    rng = np.random.default_rng(args.seed)
    parts = partition(data.y_train, args.clients, "dirichlet", alpha=0.5, rng=rng)
    clients = population(args.clients, parts, {"cpu1": 0.4, "cpu2": 0.4, "gpu": 0.2}, rng)
    model = make_model("softmax", data.X_train.shape[1], data.n_classes)
    cfg = FlSimConfig(
        fl=FlConfig(clients_per_round=args.per_round, epochs=2), rounds=args.rounds,
        seed=args.seed, lr=0.05,
    )  # fmt: skip
    out = {}
    for name in args.strategies.split(","):
        t0 = time.perf_counter()
        a = simulate(create({"kind": name}), model, data, clients, cfg)
        dt = time.perf_counter() - t0
        b = simulate(create({"kind": name}), model, data, clients, cfg)
        same = a.metrics(0.8) == b.metrics(0.8)
        out[name] = {
            "seconds": round(dt, 2),
            "aggregations": len(a.timeline),
            "invocations": len(a.records),
            "final_accuracy": round(a.final_accuracy, 4),
            "same_seed_same_metrics": same,
        }
        print(name, out[name], flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
