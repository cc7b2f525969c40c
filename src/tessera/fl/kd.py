"""Federated knowledge distillation across model architectures: FedMD and FedDF as step workflows.

Clients on different hardware train different architectures (`ZOO`), so
their parameters cannot be averaged; they share what their models *say* on a
public data set instead. Both methods are written as workflows of stateless
steps (`STEPS`: ``train``, ``scores``, ``distil``, ``evaluate``), each a
function of one JSON-able event that reads its inputs from a `ParamStore`
and writes its outputs there, as a serverless function would; a run's keys
live under ``kd/RUN/`` and each round's are deleted when the round ends.

FedMD (Li & Wang 2019), per round: every client computes class scores on a
random alignment subset of the public set (communicate) -> the driver
averages them into a consensus (aggregate) -> every client trains toward the
consensus's softmax (digest) -> a few epochs on its private data (revisit).
Before the rounds every client is pre-trained on the labelled public set,
then on its private data (transfer learning). The consensus is matched with
the cross-entropy to its softmax (the original regresses on scores).

FedDF (Lin et al. 2020), per round: every client trains its architecture's
current model on its private data; then, per architecture, an aggregator
starts from the sample-weighted average of that architecture's updates and
distils it on the unlabelled public set toward the ensemble: the softmax of
the mean of *all* received models' scores (every architecture's), keeping
the best of the checks on a small labelled validation set (early stopping
after `patience` checks without improvement). Every client of that
architecture continues from the result.

What the SAC'24 serverless versions parallelise, and `mode` switches:
FedMD's public pre-training (``sequential``: one client after another, as
on the platform's single trainer; ``parallel``: fanned out over the
executor's workers) and FedDF's distillation (one aggregator for all
architectures in turn vs one per architecture at once). Every other fan-out
(client training, scores) uses the executor in both modes.

Time is counted twice: wall-clock (what the executor's worker processes
really took) and on a virtual serverless clock where every invocation of a
fan-out runs at once on its own vCPU (a fan-out takes its slowest member; a
sequential step the sum). A step's duration on that clock is the CPU time
its process spent in it (compute pinned to one thread), so that steps
sharing this machine's cores do not inflate each other. Each step
invocation is one `InvocationRecord` (that duration, GCF gen-1 cost at
`MEMORY_MIB`).
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from tessera.core.errors import require
from tessera.fl.data import Dataset, load
from tessera.fl.log import InvocationRecord, gcf_gen1_cost_usd
from tessera.fl.models import Model, make_model
from tessera.fl.store import ParamStore, open_store

ZOO: dict[str, tuple[str, dict[str, int]]] = {
    "softmax": ("softmax", {}),
    "mlp-16": ("mlp", {"hidden": 16}),
    "mlp-32": ("mlp", {"hidden": 32}),
    "mlp-64": ("mlp", {"hidden": 64}),
    "mlp-128": ("mlp", {"hidden": 128}),
    "mlp-256": ("mlp", {"hidden": 256}),
    "cnn-32": ("cnn", {"hidden": 32}),
    "cnn-128": ("cnn", {"hidden": 128}),
    "gru-32": ("gru", {"hidden": 32}),
    "gru-64": ("gru", {"hidden": 64}),
    "gru-128": ("gru", {"hidden": 128}),
}
"""Architecture name -> (`make_model` kind, options). numpy: softmax and the MLPs; torch: the
CNNs (images) and GRUs (Shakespeare's character windows)."""

MEMORY_MIB = 2048
MODES = ("sequential", "parallel")
METHODS = ("fedmd", "feddf", "local")


def build(arch: str, data: Dataset) -> Model:
    require(arch in ZOO, "architecture", arch, ", ".join(ZOO))
    kind, options = ZOO[arch]
    return make_model(kind, data.n_features, data.n_classes, **options)


# --- the steps (run in worker processes; every input and output in the store) ---------

_DATA: dict[tuple[str, int | None], Dataset] = {}
_STORES: dict[str, ParamStore] = {}


def _ctx(event: Mapping[str, Any]) -> tuple[Dataset, ParamStore, Model]:
    key = (str(event["dataset"]), event.get("dataset_limit"))
    if key not in _DATA:
        _DATA[key] = load(key[0], limit=key[1])
    url = str(event["store"])
    if url not in _STORES:
        _STORES[url] = open_store(url)
    return _DATA[key], _STORES[url], build(str(event["arch"]), _DATA[key])


def step_train(event: Mapping[str, Any]) -> dict[str, Any]:
    """SGD from `params` (or a fresh init from `seed`) on the rows `idx` of the training set,
    toward their labels, or toward the soft targets stored under `targets`; -> `out`."""
    data, store, model = _ctx(event)
    idx = store.get(event["idx"]).astype(np.int64)
    rng = np.random.default_rng(int(event["seed"]))
    p = store.get(event["params"]) if event.get("params") else model.init(rng)
    y: np.ndarray = data.y_train[idx]
    if event.get("targets"):
        y = store.get(event["targets"]).reshape(len(idx), data.n_classes)
    t0 = time.process_time()
    new = model.train(
        p, data.X_train[idx], y, epochs=int(event["epochs"]), batch_size=int(event["batch_size"]),
        lr=float(event["lr"]), rng=rng,
    )  # fmt: skip
    seconds = time.process_time() - t0
    store.put(event["out"], new)
    return {"seconds": seconds, "n": len(idx)}


def step_scores(event: Mapping[str, Any]) -> dict[str, Any]:
    """Class scores of `params` on the rows `idx` (flattened n x k) -> `out`."""
    data, store, model = _ctx(event)
    idx = store.get(event["idx"]).astype(np.int64)
    t0 = time.process_time()
    scores = model.logits(store.get(event["params"]), data.X_train[idx])
    seconds = time.process_time() - t0
    store.put(event["out"], scores.ravel())
    return {"seconds": seconds}


def softmax(scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = scores / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def step_distil(event: Mapping[str, Any]) -> dict[str, Any]:
    """FedDF's aggregator for one architecture: the `weights`-average of `updates`, distilled
    on the rows `public` toward softmax(mean of the `teachers` score arrays / temperature),
    `checks` rounds of `epochs_per_check` epochs, keeping the best validation accuracy on the
    labelled rows `val` (stop after `patience` checks without improvement) -> `out`."""
    data, store, model = _ctx(event)
    w = np.asarray(event["weights"], dtype=float)
    start = sum(wi * store.get(k) for wi, k in zip(w / w.sum(), event["updates"], strict=True))
    pub = store.get(event["public"]).astype(np.int64)
    val = store.get(event["val"]).astype(np.int64)
    k = data.n_classes
    teacher = np.mean([store.get(t).reshape(len(pub), k) for t in event["teachers"]], axis=0)
    targets = softmax(teacher, float(event.get("temperature", 1.0)))
    rng = np.random.default_rng(int(event["seed"]))
    t0 = time.process_time()
    Xp, Xv, yv = data.X_train[pub], data.X_train[val], data.y_train[val]
    best, best_acc = start, model.evaluate(start, Xv, yv)[0]
    current, stale, checks = start, 0, 0
    for _ in range(int(event["checks"])):
        current = model.train(
            current, Xp, targets, epochs=int(event["epochs_per_check"]),
            batch_size=int(event["batch_size"]), lr=float(event["lr"]), rng=rng,
        )  # fmt: skip
        checks += 1
        acc = model.evaluate(current, Xv, yv)[0]
        if acc > best_acc:
            best, best_acc, stale = current, acc, 0
        else:
            stale += 1
            if stale >= int(event["patience"]):
                break
    seconds = time.process_time() - t0
    store.put(event["out"], np.asarray(best))
    return {"seconds": seconds, "checks": checks, "val_accuracy": best_acc}


def step_evaluate(event: Mapping[str, Any]) -> dict[str, Any]:
    """Test accuracy of `params`."""
    data, store, model = _ctx(event)
    n = event.get("test_limit") or len(data.y_test)
    t0 = time.process_time()
    acc, _ = model.evaluate(store.get(event["params"]), data.X_test[:n], data.y_test[:n])
    return {"seconds": time.process_time() - t0, "accuracy": acc}


STEPS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "train": step_train,
    "scores": step_scores,
    "distil": step_distil,
    "evaluate": step_evaluate,
}


def handle(event: Any, context: Any = None) -> dict[str, Any]:
    """One step (`event["step"]`, one of `STEPS`): the function every worker runs."""
    require(isinstance(event, dict), "event", type(event).__name__, "a JSON object")
    require(event.get("step") in STEPS, "event.step", event.get("step"), ", ".join(STEPS))
    return STEPS[event["step"]](event)


# --- executors ------------------------------------------------------------------------

_PIN = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextmanager
def _pinned_env() -> Iterator[None]:
    before = {k: os.environ.get(k) for k in _PIN}
    os.environ.update(_PIN)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _warm(_: int) -> int:
    import tessera.fl.models  # noqa: F401

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - depends on the environment
        pass
    return os.getpid()


class StepExecutor(Protocol):
    """Runs a batch of step events and returns their answers in order; `workers`: how many
    at once (0: in the caller, one after another)."""

    workers: int

    def map(self, events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]: ...


class Executor:
    """Runs batches of step events: in this process (`workers=0`) or on `workers` spawned
    processes with BLAS and torch pinned to one thread each. `map` keeps the order."""

    def __init__(self, workers: int = 0) -> None:
        require(isinstance(workers, int) and workers >= 0, "workers", workers, "an integer >= 0")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        if workers:
            import multiprocessing as mp

            with _pinned_env():
                self._pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
                list(self._pool.map(_warm, range(4 * workers)))  # start and import before timing

    def map(self, events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        if self._pool is None:
            return [handle(e) for e in events]
        return list(self._pool.map(handle, events))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the driver -----------------------------------------------------------------------


@dataclass(frozen=True)
class KdSetup:
    """Who holds what: `clients` name -> (architecture, private training-set rows);
    `public` (alignment / distillation rows, disjoint from the private ones), `val`
    (FedDF's labelled validation rows)."""

    dataset: str
    clients: Mapping[str, tuple[str, np.ndarray]]
    public: np.ndarray
    val: np.ndarray
    dataset_limit: int | None = None
    test_limit: int | None = None
    """Evaluate on the first `test_limit` test samples only (None: all)."""


@dataclass(frozen=True)
class KdConfig:
    """Epochs, rates and sizes (the issue's defaults are FedMD's and FedDF's shapes, scaled)."""

    rounds: int = 5
    batch_size: int = 32
    lr: float = 0.05
    private_epochs: int = 2
    public_epochs: int = 5
    align_size: int = 500
    digest_epochs: int = 1
    distil_checks: int = 10
    distil_epochs_per_check: int = 1
    distil_lr: float = 0.05
    patience: int = 3
    temperature: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.rounds >= 1, "kd.rounds", self.rounds, "an integer >= 1")
        require(self.lr > 0 and self.distil_lr > 0, "kd.lr", self.lr, "a number > 0")
        require(self.align_size >= 1, "kd.align_size", self.align_size, "an integer >= 1")


@dataclass
class KdResult:
    method: str
    mode: str
    accuracy: dict[str, float]
    """Client -> final test accuracy of its model."""
    rounds_wall_s: list[float]
    optimised_wall_s: float
    """Wall time of the step the mode changes (FedMD pre-training, FedDF distillation)."""
    optimised_virtual_s: float
    virtual_s: float
    records: list[InvocationRecord] = field(default_factory=list)
    curve: list[float] = field(default_factory=list)
    """Mean client accuracy after each round."""
    params: dict[str, np.ndarray] = field(default_factory=dict)
    """Client -> its final model's parameters (FedDF: its architecture's global model)."""

    @property
    def mean_client_accuracy(self) -> float:
        return float(np.mean(list(self.accuracy.values())))

    @property
    def cost_usd(self) -> float:
        return float(sum(r.cost_usd for r in self.records))


class KdRun:
    """One method in one mode over one setup (see the module docstring)."""

    def __init__(
        self, method: str, mode: str, setup: KdSetup, config: KdConfig, executor: StepExecutor,
        store_url: str,
    ) -> None:  # fmt: skip
        require(method in METHODS, "method", method, ", ".join(METHODS))
        require(mode in MODES, "mode", mode, ", ".join(MODES))
        self.method, self.mode, self.setup = method, mode, setup
        self.cfg, self.ex = config, executor
        self.store_url = store_url
        self.store = open_store(store_url)
        self.prefix = f"kd/{uuid.uuid4().hex[:10]}"
        self.records: list[InvocationRecord] = []
        self.virtual_s = 0.0
        self.round = -1
        self.rng = np.random.default_rng(config.seed)
        self.archs = sorted({a for a, _ in setup.clients.values()})
        self.store.put(self._k("idx/public"), setup.public.astype(np.float64))
        self.store.put(self._k("idx/val"), setup.val.astype(np.float64))
        for c, (_, ix) in setup.clients.items():
            self.store.put(self._k(f"idx/{c}"), ix.astype(np.float64))

    def _k(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def _event(self, step: str, arch: str, **kw: Any) -> dict[str, Any]:
        return {"step": step, "arch": arch, "store": self.store_url,
                "dataset": self.setup.dataset, "dataset_limit": self.setup.dataset_limit, **kw}  # fmt: skip

    def _fan(self, name: str, events: list[dict[str, Any]], who: list[str],
             sequential: bool = False) -> tuple[list[dict[str, Any]], float]:  # fmt: skip
        """Run a fan-out; log each invocation; advance the virtual clock; -> (answers, wall)."""
        t0 = time.perf_counter()
        if sequential and self.ex.workers:  # one at a time on the workers: a single trainer
            out = [a for e in events for a in self.ex.map([e])]
        else:
            out = self.ex.map(events)
        wall = time.perf_counter() - t0
        secs = [float(a["seconds"]) for a in out]
        start = self.virtual_s
        at = start
        for w, s in zip(who, secs, strict=True):
            begin = at if sequential else start
            key = f"{name}-{w}" if self.round < 0 else f"{name}-{self.round}-{w}"
            self.records.append(InvocationRecord(
                key, w, max(self.round, 0), begin, begin + s, s, False, True,
                MEMORY_MIB, gcf_gen1_cost_usd(s, MEMORY_MIB), max(self.round, 0), name,
            ))  # fmt: skip
            at += s
        self.virtual_s = at if sequential else start + max(secs, default=0.0)
        return out, wall

    def _clean(self, keep: Sequence[str]) -> None:
        keep_set = set(keep)
        for key in self.store.keys(self._k("r/")):
            if key not in keep_set:
                self.store.delete(key)

    # -- methods ----------------------------------------------------------------------
    def run(self) -> KdResult:
        cfg, clients = self.cfg, self.setup.clients
        names = sorted(clients)
        model_of = {c: self._k(f"r/init/{c}") for c in names}
        optimised_wall = optimised_virtual = 0.0
        if self.method == "fedmd":  # transfer learning: public labelled, then private
            v0 = self.virtual_s
            _, optimised_wall = self._fan("pretrain", [
                self._event("train", clients[c][0], idx=self._k("idx/public"), params="",
                            seed=cfg.seed * 1000 + i, epochs=cfg.public_epochs,
                            batch_size=cfg.batch_size, lr=cfg.lr, out=model_of[c])
                for i, c in enumerate(names)
            ], names, sequential=self.mode == "sequential")  # fmt: skip
            optimised_virtual = self.virtual_s - v0
        elif self.method == "feddf":  # one fresh model per architecture, shared by its clients
            for a in self.archs:
                self.store.put(self._k(f"r/init/{a}"), build(a, self._data()).init(self.rng))
            model_of = {c: self._k(f"r/init/{clients[c][0]}") for c in names}
        first = self.method != "feddf"
        rounds_wall: list[float] = []
        curve: list[float] = []
        for r in range(cfg.rounds):
            self.round = r
            t0 = time.perf_counter()
            if self.method == "fedmd":
                model_of = self._fedmd_round(names, model_of)
            elif self.method == "feddf":
                model_of, w, v = self._feddf_round(names, model_of)
                optimised_wall += w
                optimised_virtual += v
            else:
                model_of = self._private(names, model_of, scratch=first)
            first = False
            rounds_wall.append(time.perf_counter() - t0)
            acc = self._evaluate(names, model_of)
            curve.append(float(np.mean(list(acc.values()))))
            self._clean(list(model_of.values()))
        params = {c: self.store.get(model_of[c]) for c in names}
        for key in self.store.keys(self.prefix + "/"):
            self.store.delete(key)
        return KdResult(self.method, self.mode, acc, rounds_wall, optimised_wall,
                        optimised_virtual, self.virtual_s, self.records, curve, params)  # fmt: skip

    def _data(self) -> Dataset:
        return _ctx(self._event("evaluate", self.archs[0]))[0]

    def _private(self, names: list[str], model_of: dict[str, str], scratch: bool = False,
                 epochs: int | None = None) -> dict[str, str]:  # fmt: skip
        cfg, clients = self.cfg, self.setup.clients
        out = {c: self._k(f"r/{self.round}/private/{c}") for c in names}
        self._fan("private", [
            self._event("train", clients[c][0], idx=self._k(f"idx/{c}"),
                        params="" if scratch else model_of[c],
                        seed=cfg.seed * 7919 + self.round * 100 + i,
                        epochs=epochs or cfg.private_epochs, batch_size=cfg.batch_size,
                        lr=cfg.lr, out=out[c])
            for i, c in enumerate(names)
        ], names)  # fmt: skip
        return out

    def _fedmd_round(self, names: list[str], model_of: dict[str, str]) -> dict[str, str]:
        cfg, clients = self.cfg, self.setup.clients
        if self.round == 0:  # the transfer step's private part
            model_of = self._private(names, model_of)
        pub = self.setup.public
        align = np.sort(self.rng.choice(pub, size=min(cfg.align_size, len(pub)), replace=False))
        akey = self._k(f"r/{self.round}/align")
        self.store.put(akey, align.astype(np.float64))
        skeys = {c: self._k(f"r/{self.round}/scores/{c}") for c in names}
        self._fan("communicate", [
            self._event("scores", clients[c][0], idx=akey, params=model_of[c], out=skeys[c])
            for c in names
        ], names)  # fmt: skip
        k = self._data().n_classes
        consensus = np.mean([self.store.get(skeys[c]).reshape(-1, k) for c in names], axis=0)
        tkey = self._k(f"r/{self.round}/consensus")
        self.store.put(tkey, softmax(consensus, cfg.temperature).ravel())
        digested = {c: self._k(f"r/{self.round}/digest/{c}") for c in names}
        self._fan("digest", [
            self._event("train", clients[c][0], idx=akey, params=model_of[c], targets=tkey,
                        seed=cfg.seed * 31 + self.round * 100 + i, epochs=cfg.digest_epochs,
                        batch_size=cfg.batch_size, lr=cfg.lr, out=digested[c])
            for i, c in enumerate(names)
        ], names)  # fmt: skip
        return self._private(names, digested, epochs=cfg.private_epochs)

    def _feddf_round(
        self, names: list[str], model_of: dict[str, str]
    ) -> tuple[dict[str, str], float, float]:
        cfg, clients = self.cfg, self.setup.clients
        trained = self._private(names, model_of)
        pkey = self._k("idx/public")
        skeys = {c: self._k(f"r/{self.round}/teacher/{c}") for c in names}
        self._fan("teacher", [
            self._event("scores", clients[c][0], idx=pkey, params=trained[c], out=skeys[c])
            for c in names
        ], names)  # fmt: skip
        out = {a: self._k(f"r/{self.round}/global/{a}") for a in self.archs}
        events = []
        for i, a in enumerate(self.archs):
            mine = [c for c in names if clients[c][0] == a]
            events.append(self._event(
                "distil", a, updates=[trained[c] for c in mine],
                weights=[len(clients[c][1]) for c in mine], teachers=[skeys[c] for c in names],
                public=pkey, val=self._k("idx/val"), checks=cfg.distil_checks,
                epochs_per_check=cfg.distil_epochs_per_check, batch_size=cfg.batch_size,
                lr=cfg.distil_lr, patience=cfg.patience, temperature=cfg.temperature,
                seed=cfg.seed * 17 + self.round * 100 + i, out=out[a],
            ))  # fmt: skip
        v0 = self.virtual_s
        _, wall = self._fan("distil", events, self.archs, sequential=self.mode == "sequential")
        return {c: out[clients[c][0]] for c in names}, wall, self.virtual_s - v0

    def _evaluate(self, names: list[str], model_of: dict[str, str]) -> dict[str, float]:
        clients = self.setup.clients
        unique = sorted(set(model_of.values()))
        arch_of = {model_of[c]: clients[c][0] for c in names}
        limit = self.setup.test_limit
        answers = self.ex.map(
            [self._event("evaluate", arch_of[k], params=k, test_limit=limit) for k in unique]
        )
        acc = {k: float(a["accuracy"]) for k, a in zip(unique, answers, strict=True)}
        return {c: acc[model_of[c]] for c in names}


def split(
    data: Dataset,
    archs: Sequence[str],
    clients_per_arch: int,
    alpha: float,
    public: int,
    val: int,
    rng: np.random.Generator,
    private_limit: int | None = None,
) -> KdSetup:
    """Public, validation and private rows (disjoint), the private ones Dirichlet(`alpha`)
    over ``len(archs) * clients_per_arch`` clients, architectures dealt round-robin."""
    from tessera.fl.data import partition

    n = len(archs) * clients_per_arch
    order = rng.permutation(len(data.y_train))
    pub, vl, rest = order[:public], order[public : public + val], order[public + val :]
    if private_limit is not None:
        rest = rest[:private_limit]
    require(len(rest) >= n, "kd.private", len(rest), f"at least {n} private samples")
    parts = partition(data.y_train[rest], n, "dirichlet", alpha=alpha, rng=rng)
    clients = {f"c{i:02d}": (archs[i % len(archs)], np.sort(rest[p])) for i, p in enumerate(parts)}
    return KdSetup(data.name, clients, np.sort(pub), np.sort(vl))


def split_natural(
    data: Dataset,
    archs: Sequence[str],
    clients_per_arch: int,
    public: int,
    val: int,
    rng: np.random.Generator,
    stride: int = 1,
    test_limit: int | None = None,
) -> KdSetup:
    """For data sets with their own clients (Shakespeare's roles): ``len(archs) *
    clients_per_arch`` of them drawn at random hold the private data (every `stride`-th of
    their samples); the public and validation samples come from the other clients."""
    n = len(archs) * clients_per_arch
    require(len(data.clients) > n, "kd.clients", n, f"fewer than the {len(data.clients)} clients")
    order = rng.permutation(len(data.clients))
    chosen = [data.clients[i] for i in order[:n]]
    others = np.concatenate([data.clients[i][1] for i in order[n:]])
    pool = rng.choice(others, size=min(public + val, len(others)), replace=False)
    clients = {
        f"c{i:02d}": (archs[i % len(archs)], ix[::stride]) for i, (_, ix) in enumerate(chosen)
    }
    return KdSetup(
        data.name, clients, np.sort(pool[:public]), np.sort(pool[public:]), test_limit=test_limit
    )


def speedup(sequential_s: float, parallel_s: float) -> float:
    return sequential_s / parallel_s if parallel_s > 0 else math.inf
