"""Tessera's FedAvg against Flower's FedAvg on the same data, partition and client steps.

The peer is Flower 1.42 (`flwr`), run through its own simulation runtime
(`flwr.simulation.run_simulation`, Ray backend) with its own message-API
``FedAvg`` strategy, in a separate virtual environment: Flower pins versions of
typer, rich, packaging, protobuf and starlette that Tessera's CLI needs
otherwise. The benchmark creates that environment once (``flwr[simulation]``
plus the numpy version running here) under Tessera's cache directory, or uses
``--flower-venv``, and runs `_flower_side.py` with its interpreter.

Sameness, so that per-round accuracies can be compared exactly:

* data and partition: ``digits`` split over ``--clients`` clients by
  Dirichlet(``--alpha``) with ``--seed``, written once to an .npz both read;
* selection: full participation (every client trains every round), so no
  sampling can differ; both weight by the client's number of examples;
* model and local SGD: both train `tessera.fl.models`' softmax regression
  (the Flower side imports it from ``src/``: numpy only), same epochs, batch
  size and learning rate, from the same initial parameters;
* minibatch order: the Tessera run records the state of every training
  generator (one per client and round, as the simulator seeds them), and each
  Flower client restores the state for its (round, partition id).

So the two runs differ only in the order in which floats are summed during
aggregation, and per-round accuracies should agree exactly or within one
test sample. For scale, the output also gives the noise floor: the same
Tessera run with another seed for the initial model and the minibatch order.

    python benchmarks/fl_vs_flower.py [--clients 20] [--rounds 30] [--seed 0] ...

Writes ``benchmarks/results/fl_vs_flower.json`` and prints a table. Exits 2
with one line when the Flower environment cannot be created (offline).
"""

from __future__ import annotations

import os

# One thread for numpy's BLAS pools on both sides, before numpy is imported anywhere.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
RESULT = HERE / "results" / "fl_vs_flower.json"
FLWR_REQUIREMENT = "flwr[simulation]==1.42.0"


class Recording:
    """A `tessera.fl.models.Model` that remembers each training generator's state.

    The simulator calls `train` once per invocation, in invocation order; the
    k-th recorded state belongs to the invocation whose key ends in ``-k``.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.states: list[dict[str, Any]] = []

    @property
    def name(self) -> str:
        return str(self.inner.name)

    @property
    def n_params(self) -> int:
        return int(self.inner.n_params)

    def init(self, rng: Any) -> Any:
        return self.inner.init(rng)

    def train(self, params: Any, X: Any, y: Any, **kw: Any) -> Any:
        self.states.append(copy.deepcopy(kw["rng"].bit_generator.state))
        return self.inner.train(params, X, y, **kw)

    def evaluate(self, params: Any, X: Any, y: Any) -> tuple[float, float]:
        acc, loss = self.inner.evaluate(params, X, y)
        return float(acc), float(loss)


def tessera_run(
    args: argparse.Namespace, data: Any, parts: list[Any], seed: int, model: Any
) -> tuple[Any, float]:
    """One Tessera FedAvg run with full participation; returns (result, wall seconds)."""
    import numpy as np

    import tessera.fl.strategies  # noqa: F401  (registers fedavg)
    from tessera.fl.strategy import FlConfig, create
    from tessera.sim.fl import FlSimConfig, population, simulate

    clients = population(args.clients, parts, {"cpu1": 1.0}, np.random.default_rng((seed, 7)))
    cfg = FlSimConfig(
        fl=FlConfig(clients_per_round=args.clients, epochs=args.epochs, batch_size=args.batch),
        rounds=args.rounds,
        lr=args.lr,
        seed=seed,
        round_timeout_s=1e9,  # never close a round early: every client is aggregated
    )
    strategy = create({"kind": "fedavg", "round_timeout_s": None})
    t0 = time.perf_counter()
    res = simulate(strategy, model, data, clients, cfg)
    return res, time.perf_counter() - t0


def rng_states_by_round(res: Any, rec: Recording, n_clients: int) -> dict[str, Any]:
    """``"round:partition"`` -> the PCG64 state that client's training started from."""
    out: dict[str, Any] = {}
    for r in res.records:
        n_inv = int(r.key.rsplit("-", 1)[1])
        pid = int(r.client.lstrip("c"))
        out[f"{r.round_started}:{pid}"] = rec.states[n_inv]
    want = n_clients * (max(r.round_started for r in res.records) + 1)
    if len(out) != want or len(rec.states) != want:
        raise RuntimeError(f"expected {want} client trainings, got {len(out)} / {len(rec.states)}")
    return out


# --- the Flower environment -------------------------------------------------------------------
def default_venv() -> Path:
    from tessera.fl.data import cache_dir

    return cache_dir() / "flower-1.42.0-venv"


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _works(py: Path, numpy_version: str) -> bool:
    if not py.is_file():
        return False
    probe = (
        "import flwr, numpy, ray, flwr.simulation; "
        f"assert flwr.__version__ == '1.42.0' and numpy.__version__ == '{numpy_version}'"
    )
    return subprocess.run([str(py), "-c", probe], capture_output=True, check=False).returncode == 0


def ensure_flower_venv(venv: Path, numpy_version: str) -> Path:
    """The Flower venv's interpreter, creating the venv (once) if it is missing or broken.

    A venv cannot be moved once built (its scripts hold absolute paths), so it
    is built in place; a half-made one fails the import probe and is rebuilt.
    Raises RuntimeError with one line on failure, removing what it made.
    """
    py = venv_python(venv)
    if _works(py, numpy_version):
        return py
    if venv.exists():
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         FLWR_REQUIREMENT, f"numpy=={numpy_version}"],
    ]  # fmt: skip
    print(f"creating the Flower venv at {venv} ({FLWR_REQUIREMENT}) ...", file=sys.stderr)
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            said = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
            raise RuntimeError(
                f"`{' '.join(cmd[2:5])} ...` failed (offline?): "
                f"{said[-1] if said else 'exit ' + str(proc.returncode)}"
            )
    if not _works(py, numpy_version):
        raise RuntimeError(f"{venv} was created but cannot import flwr 1.42.0, ray and numpy")
    return py


# --- the run ----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Tessera's FedAvg vs Flower 1.42's FedAvg (same data, partition, SGD steps).",
    )
    ap.add_argument("--clients", type=int, default=20, help="clients, all train every round")
    ap.add_argument("--rounds", type=int, default=30, help="FedAvg rounds (default 30)")
    ap.add_argument("--alpha", type=float, default=0.5, help="Dirichlet label skew (0.5)")
    ap.add_argument("--epochs", type=int, default=1, help="local epochs (1)")
    ap.add_argument("--batch", type=int, default=16, help="local minibatch size (16)")
    ap.add_argument("--lr", type=float, default=0.1, help="local SGD learning rate (0.1)")
    ap.add_argument("--seed", type=int, default=0, help="partition, init and minibatch seed")
    ap.add_argument("--cpus", type=int, default=4, help="CPUs for Flower's Ray backend (4)")
    ap.add_argument("--flower-venv", type=Path, default=None,
                    help="virtualenv with flwr 1.42 (default: created under Tessera's cache)")  # fmt: skip
    ap.add_argument("--out", type=Path, default=RESULT, help=f"JSON output ({RESULT.name})")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(SRC))
    import numpy as np

    from tessera.fl.data import label_skew, load, partition
    from tessera.fl.models import make_model

    venv = args.flower_venv or default_venv()
    try:
        flower_py = ensure_flower_venv(venv, np.__version__)
    except RuntimeError as e:
        print(
            f"fl_vs_flower: cannot set up Flower ({FLWR_REQUIREMENT}) in {venv}: {e}",
            file=sys.stderr,
        )
        return 2

    data = load("digits")
    parts = partition(
        data.y_train, args.clients, "dirichlet", alpha=args.alpha,
        rng=np.random.default_rng((args.seed, 0)),
    )  # fmt: skip
    base = make_model("softmax", data.n_features, data.n_classes)

    # Tessera: one recording run (exports the SGD generators), one plain timed run
    rec = Recording(base)
    rec_res, _ = tessera_run(args, data, parts, args.seed, rec)
    t_res, t_wall = tessera_run(args, data, parts, args.seed, base)
    t_acc = np.array([a for _, a in t_res.timeline])
    if not np.array_equal(t_acc, [a for _, a in rec_res.timeline]):
        raise RuntimeError(
            "the recording run and the timed run differ: the simulator is not deterministic"
        )
    # the noise floor: same data and partition, another seed for init and minibatch order
    n_res, _ = tessera_run(args, data, parts, args.seed + 1, base)
    n_acc = np.array([a for _, a in n_res.timeline])
    init = base.init(np.random.default_rng((args.seed, 1)))  # what FlSimulation starts from
    init_acc = base.evaluate(init, data.X_test, data.y_test)[0]

    with tempfile.TemporaryDirectory(prefix="fl_vs_flower-") as tmp:
        inp, outp, log = Path(tmp) / "in.npz", Path(tmp) / "out.npz", Path(tmp) / "flower.log"
        meta = {
            "n_clients": args.clients, "rounds": args.rounds, "epochs": args.epochs,
            "batch_size": args.batch, "lr": args.lr, "n_features": data.n_features,
            "n_classes": data.n_classes,
            "rng_states": rng_states_by_round(rec_res, rec, args.clients),
        }  # fmt: skip
        np.savez(
            inp,
            X_train=data.X_train, y_train=data.y_train, X_test=data.X_test, y_test=data.y_test,
            part_indices=np.concatenate(parts),
            offsets=np.concatenate([[0], np.cumsum([len(p) for p in parts])]),
            init_params=init, meta=np.str_(json.dumps(meta)),
        )  # fmt: skip
        cmd = [str(flower_py), str(HERE / "_flower_side.py"), "--data", str(inp),
               "--out", str(outp), "--src", str(SRC), "--cpus", str(args.cpus)]  # fmt: skip
        t0 = time.perf_counter()
        with log.open("w") as lf:
            proc = subprocess.run(cmd, stdout=lf, stderr=subprocess.STDOUT, check=False)
        f_proc_s = time.perf_counter() - t0
        if proc.returncode != 0 or not outp.is_file():
            tail = log.read_text(errors="replace").splitlines()[-30:]
            print("\n".join(tail), file=sys.stderr)
            print(f"fl_vs_flower: the Flower side failed (exit {proc.returncode})")
            return 1
        with np.load(outp) as f:
            fl = {k: f[k] for k in f.files}

    f_acc = np.asarray(fl["accuracy"], dtype=np.float64)
    replies = fl["replies_per_round"].tolist()
    if replies != [args.clients] * args.rounds:
        print(f"fl_vs_flower: Flower aggregated {replies} clients per round, not {args.clients}")
        return 1
    d_acc = np.abs(f_acc - t_acc)
    d_noise = np.abs(n_acc - t_acc)
    n_test = len(data.y_test)
    param_gap = float(np.max(np.abs(fl["final_params"] - t_res.final_params)))
    out: dict[str, Any] = {
        "benchmark": "fl_vs_flower",
        "peer": f"flwr {fl['flwr_version']} (message-API FedAvg, run_simulation, Ray backend)",
        "setup": {
            "dataset": data.source,
            "partition": f"dirichlet alpha={args.alpha}",
            "label_skew": label_skew(parts, data.y_train),
            "clients": args.clients,
            "clients_per_round": args.clients,
            "rounds": args.rounds,
            "epochs": args.epochs,
            "batch_size": args.batch,
            "lr": args.lr,
            "seed": args.seed,
            "model": "softmax",
            "test_samples": n_test,
            "numpy": np.__version__,
            "flower_numpy": str(fl["numpy_version"]),
            "python": platform.python_version(),
            "sameness": "full participation; same init params; Flower clients restore the "
            "Tessera training-RNG state per (round, client); same tessera.fl.models code",
        },
        "initial_accuracy": {"tessera": init_acc, "flower": float(fl["initial_accuracy"])},
        "accuracy_per_round": {"tessera": t_acc.tolist(), "flower": f_acc.tolist()},
        "abs_diff": {
            "max": float(d_acc.max()),
            "mean": float(d_acc.mean()),
            "max_test_samples": round(float(d_acc.max()) * n_test),
            "rounds_identical": int(np.sum(d_acc == 0)),
        },
        "final_params_max_abs_diff": param_gap,
        "flower_clients_aggregated_per_round": replies,
        "noise_floor": {
            "what": "Tessera, seed+1 (other init and minibatch order) vs seed",
            "accuracy_per_round": n_acc.tolist(),
            "max": float(d_noise.max()),
            "mean": float(d_noise.mean()),
        },
        "final_accuracy": {"tessera": float(t_acc[-1]), "flower": float(f_acc[-1])},
        "wall_s": {
            "tessera_simulate": t_wall,
            "flower_rounds": float(fl["rounds_wall_s"]),
            "flower_run_simulation": float(fl["total_wall_s"]),
            "flower_process": f_proc_s,
        },
        "speedup_rounds_flower_over_tessera": float(fl["rounds_wall_s"]) / t_wall,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=args.out.parent, prefix=args.out.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    os.replace(tmp_name, args.out)

    print(f"FedAvg, digits, {args.clients} clients Dirichlet({args.alpha}), all per round, "
          f"{args.rounds} rounds, E={args.epochs} B={args.batch} lr={args.lr}, seed {args.seed}")  # fmt: skip
    print(f"{'round':>5} {'tessera':>8} {'flower':>8} {'|diff|':>8} {'seed+1':>8}")
    for r in range(args.rounds):
        print(f"{r + 1:>5} {t_acc[r]:8.4f} {f_acc[r]:8.4f} {d_acc[r]:8.4f} {n_acc[r]:8.4f}")
    print(f"max |diff| {d_acc.max():.4f} (mean {d_acc.mean():.4f}); noise floor (seed+1) "
          f"max {d_noise.max():.4f} mean {d_noise.mean():.4f}; "
          f"final params max |diff| {param_gap:.2e}")  # fmt: skip
    print(f"wall: tessera simulate {t_wall:.3f} s; flower rounds {fl['rounds_wall_s']:.2f} s, "
          f"run_simulation {fl['total_wall_s']:.2f} s, process {f_proc_s:.2f} s; "
          f"flower/tessera (rounds) {out['speedup_rounds_flower_over_tessera']:.0f}x")  # fmt: skip
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
