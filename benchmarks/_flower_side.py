"""The Flower half of `fl_vs_flower.py`: FedAvg through Flower's own simulation runtime.

Run by `fl_vs_flower.py` with the interpreter of a separate virtual
environment that holds ``flwr[simulation]==1.42.0`` (Flower pins versions of
typer, rich, protobuf ... that Tessera's CLI needs otherwise), never imported
by Tessera itself.

What runs here is Flower's: the message-API ``FedAvg`` strategy
(`flwr.serverapp.strategy.FedAvg`: sampling, messages, weighting by
``num-examples``, aggregation), a ``ServerApp`` and ``ClientApp``, and
`flwr.simulation.run_simulation` with its Ray backend. What is shared with the
Tessera side is only the model code (`tessera.fl.models`, numpy only, imported
from ``--src``) and the inputs the benchmark wrote to ``--data``: the data
set, the partition, the initial parameters, and each (round, client) training
RNG state recorded on the Tessera side, so that both sides run the same SGD
steps and any difference comes from how the aggregation sums floats.

    <flower-venv>/bin/python benchmarks/_flower_side.py --data IN.npz --out OUT.npz --src SRC
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

_CACHE: dict[str, dict[str, Any]] = {}


def _inputs(path: str) -> dict[str, Any]:
    """The benchmark's inputs, read once per process (Ray actors each read them once)."""
    if path not in _CACHE:
        with np.load(path) as f:
            d: dict[str, Any] = {k: f[k] for k in f.files}
        d["meta"] = json.loads(str(d["meta"]))
        d["offsets"] = np.asarray(d["offsets"], dtype=np.int64)
        _CACHE[path] = d
    return _CACHE[path]


def _model(d: dict[str, Any]) -> Any:
    from tessera.fl.models import make_model

    m = d["meta"]
    return make_model("softmax", int(m["n_features"]), int(m["n_classes"]))


def _client_indices(d: dict[str, Any], pid: int) -> np.ndarray:
    off = d["offsets"]
    idx: np.ndarray = d["part_indices"][off[pid] : off[pid + 1]]
    return idx


def build_apps() -> tuple[Any, Any, dict[str, Any]]:
    """A (ServerApp, ClientApp, box) pair; the server writes its results into `box`."""
    from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp
    from flwr.serverapp.strategy import FedAvg

    box: dict[str, Any] = {}
    client_app = ClientApp()

    @client_app.train()
    def train(msg: Message, context: Context) -> Message:
        cfg = msg.content["config"]
        d = _inputs(str(cfg["data"]))
        meta = d["meta"]
        pid = int(context.node_config["partition-id"])
        rnd = int(cfg["server-round"])  # Flower counts rounds from 1
        rng = np.random.Generator(np.random.PCG64())
        rng.bit_generator.state = meta["rng_states"][f"{rnd - 1}:{pid}"]
        idx = _client_indices(d, pid)
        (params,) = msg.content["arrays"].to_numpy_ndarrays()
        new = _model(d).train(
            np.asarray(params, dtype=np.float64),
            d["X_train"][idx],
            d["y_train"][idx],
            epochs=int(meta["epochs"]),
            batch_size=int(meta["batch_size"]),
            lr=float(meta["lr"]),
            rng=rng,
        )
        reply = RecordDict(
            {
                "arrays": ArrayRecord([new]),
                "metrics": MetricRecord({"num-examples": len(idx)}),
            }
        )
        return Message(content=reply, reply_to=msg)

    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        d = _inputs(box["data"])
        meta = d["meta"]
        n = int(meta["n_clients"])
        model = _model(d)
        accs: dict[int, float] = {}

        def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
            (w,) = arrays.to_numpy_ndarrays()
            acc, loss = model.evaluate(np.asarray(w, np.float64), d["X_test"], d["y_test"])
            accs[server_round] = acc
            return MetricRecord({"accuracy": acc, "loss": loss})

        class CountingFedAvg(FedAvg):
            """Flower's FedAvg, unchanged, noting how many replies each round aggregates."""

            def aggregate_train(
                self, server_round: int, replies: Iterable[Message]
            ) -> tuple[ArrayRecord | None, MetricRecord | None]:
                got = list(replies)
                box.setdefault("replies", []).append(sum(not m.has_error() for m in got))
                return super().aggregate_train(server_round, got)

        strategy = CountingFedAvg(
            fraction_train=1.0,  # full participation: every client every round
            fraction_evaluate=0.0,  # server-side (centralised) evaluation only
            min_train_nodes=n,
            min_available_nodes=n,
        )
        t0 = time.perf_counter()
        result = strategy.start(
            grid=grid,
            initial_arrays=ArrayRecord([np.asarray(d["init_params"], dtype=np.float64)]),
            num_rounds=int(meta["rounds"]),
            train_config=ConfigRecord({"data": box["data"]}),
            evaluate_fn=evaluate,
        )
        box["rounds_wall_s"] = time.perf_counter() - t0
        box["accuracy"] = [accs[r] for r in range(1, int(meta["rounds"]) + 1)]
        box["initial_accuracy"] = accs[0]
        (final,) = result.arrays.to_numpy_ndarrays()
        box["final_params"] = np.asarray(final, dtype=np.float64)

    return server_app, client_app, box


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="inputs .npz written by fl_vs_flower.py")
    ap.add_argument("--out", required=True, help="results .npz to write")
    ap.add_argument("--src", required=True, help="Tessera's src/ (for tessera.fl.models)")
    ap.add_argument("--cpus", type=int, default=4, help="CPUs Ray may use (default 4)")
    args = ap.parse_args(argv)
    src = str(Path(args.src).resolve())
    sys.path.insert(0, src)
    # Ray actors start fresh interpreters: they find tessera (and this module) on PYTHONPATH.
    here = str(Path(__file__).resolve().parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (src, here, os.environ.get("PYTHONPATH", "")) if p
    )

    import flwr
    from flwr.simulation import run_simulation

    data = str(Path(args.data).resolve())
    meta = _inputs(data)["meta"]
    server_app, client_app, box = build_apps()
    box["data"] = data
    t0 = time.perf_counter()
    run_simulation(
        server_app=server_app,
        client_app=client_app,
        num_supernodes=int(meta["n_clients"]),
        backend_config={
            "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
            "init_args": {"num_cpus": args.cpus, "num_gpus": 0, "include_dashboard": False},
        },
    )
    total_s = time.perf_counter() - t0
    if "accuracy" not in box:
        print("flower side: the ServerApp did not finish (see the log above)", file=sys.stderr)
        return 1
    np.savez(
        args.out,
        accuracy=np.asarray(box["accuracy"], dtype=np.float64),
        initial_accuracy=np.float64(box["initial_accuracy"]),
        final_params=box["final_params"],
        rounds_wall_s=np.float64(box["rounds_wall_s"]),
        total_wall_s=np.float64(total_s),
        replies_per_round=np.asarray(box["replies"], dtype=np.int64),
        flwr_version=np.str_(flwr.__version__),
        numpy_version=np.str_(np.__version__),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
