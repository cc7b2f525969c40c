"""Federated learning in wall time: the controller that invokes real client functions.

The wall-clock twin of `tessera.sim.fl.FlSimulation`, driving the same
strategy objects with the same rules (stated in that module's docstring):
synchronous strategies start a round with `select` and aggregate when
`aggregate` says go, asked at every arrival and at the round deadline
(`deadline_passed=True`); asynchronous ones keep `clients_per_round`
invocations in flight and end a round at each aggregation. What differs is
only who does the work and whose clock counts:

- Client training is the `fl-client` Tessera function (`CLIENT_FUNCTION_DIR`,
  deployed on any platform; the local one by default), invoked over HTTP,
  concurrently (asyncio). It reads the global model and its index array from
  the `ParamStore` at `store_url` and writes its new parameters back there;
  the controller only passes keys.
- Times are seconds on the controller's monotonic clock since the run began.
  An invocation's record spans request sent to response received (what a
  caller is billed for, cold start included); `cold` comes from the local
  platform's `x-tessera-cold-start-ms` response header (absent: warm);
  `train_time_s` is what the function measured around training; cost is
  `gcf_gen1_cost_usd` at the function's memory size.
- After the last aggregation the controller waits (up to `drain_s`) for the
  invocations still in flight so their cost is logged too (not aggregated).

SCAFFOLD is not supported (the function does not carry control variates): a
strategy that asks for it is refused.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import tessera.fl
import tessera.fl.strategies
from tessera.core.errors import InputError, require
from tessera.fl.data import NAMES, Dataset
from tessera.fl.driver import ClientHistory, FlRunResult, admit, client_view, settle
from tessera.fl.log import InvocationLog, InvocationRecord, gcf_gen1_cost_usd
from tessera.fl.models import make_model
from tessera.fl.store import ParamStore, open_store
from tessera.fl.strategy import (
    Aggregation,
    ClientPlan,
    FlConfig,
    FlSnapshot,
    ResultView,
    Strategy,
    combine,
    create,
)
from tessera.functions.manifest import read_manifest

CLIENT_FUNCTION_DIR = Path(tessera.fl.__file__).parent / "functions" / "client"
"""The packaged client function folder (function.yaml + handler.py); deploy it as is."""

COLD_HEADER = "x-tessera-cold-start-ms"


@dataclass(frozen=True, slots=True)
class FlControlConfig:
    """The run (units in the names); `fl`, `rounds`, `round_timeout_s`, `lr`, `seed` mean what
    they mean in `tessera.sim.fl.FlSimConfig`."""

    fl: FlConfig = field(default_factory=FlConfig)
    rounds: int = 10
    time_limit_s: float = math.inf
    round_timeout_s: float = 120.0
    lr: float = 0.1
    seed: int = 0
    function: str = "fl-client"
    memory_mib: int | None = None
    """Billed memory; None: the packaged function.yaml's `resources.memory_mib`."""
    request_timeout_s: float = 600.0
    drain_s: float = 60.0
    """How long to wait, after the last aggregation, for invocations still running."""
    dataset_limit: int | None = None
    """Passed to the function's `tessera.fl.data.load` (must match how `data` was loaded)."""

    def __post_init__(self) -> None:
        require(self.rounds >= 1, "control.rounds", self.rounds, "an integer >= 1")
        require(self.time_limit_s > 0, "control.time_limit_s", self.time_limit_s, "seconds > 0")
        require(self.round_timeout_s > 0, "control.round_timeout_s", self.round_timeout_s, "> 0")
        require(self.lr > 0, "control.lr", self.lr, "> 0")
        require(bool(self.function), "control.function", self.function, "a function name")
        require(
            self.request_timeout_s > 0, "control.request_timeout_s", self.request_timeout_s, "> 0"
        )
        require(self.drain_s >= 0, "control.drain_s", self.drain_s, "seconds >= 0")


@dataclass(frozen=True, slots=True)
class _Outcome:
    key: str
    client: str
    round_started: int
    start_s: float
    end_s: float
    ok: bool
    cold: bool
    n_samples: int
    train_time_s: float
    result_key: str
    error: str = ""


@dataclass(frozen=True, slots=True)
class _Pending:
    key: str
    client: str
    round_started: int
    n_samples: int
    train_time_s: float
    result_key: str


class FlController:
    """One strategy over clients that are invocations of a deployed client function.

    `strategy`: a `Strategy` or its config `{kind: NAME, **params}`; `http`: an
    `httpx.AsyncClient` whose base URL is the platform's gateway (it serves
    `POST /function/NAME`); `store_url`: a `ParamStore` URL the function's
    instances can open too (e.g. `sqlite:////ABS/PATH`); `data`: the data set
    (the function loads the same one by `data.name`), used here to evaluate;
    `clients`: client id -> indices into `data.X_train`.
    """

    def __init__(
        self,
        strategy: Strategy | Mapping[str, Any],
        http: httpx.AsyncClient,
        store_url: str,
        data: Dataset,
        model_name: str,
        clients: Mapping[str, np.ndarray],
        config: FlControlConfig | None = None,
        log: InvocationLog | None = None,
    ) -> None:
        self.strategy: Strategy = strategy if isinstance(strategy, Strategy) else create(strategy)
        if getattr(self.strategy, "name", "") == "scaffold":
            raise InputError("strategy", "scaffold", "a strategy without SCAFFOLD control variates")
        require(len(clients) > 0, "clients", len(clients), "at least one client")
        require(data.name in NAMES, "data.name", data.name, ", ".join(NAMES))
        self.cfg = config or FlControlConfig()
        self.model = make_model(model_name, data.n_features, data.n_classes)
        self.model_name = model_name
        self.store_url = store_url
        self.store: ParamStore = open_store(store_url)  # InputError on a bad URL
        self.http = http
        self.data = data
        self.clients = {cid: np.asarray(ix, dtype=np.int64) for cid, ix in clients.items()}
        self.memory_mib = (
            self.cfg.memory_mib or read_manifest(CLIENT_FUNCTION_DIR).resources.memory_mib
        )
        self.log = log or InvocationLog()
        self.run_id = uuid.uuid4().hex[:12]
        self.hist = {cid: ClientHistory() for cid in self.clients}
        self.params = self.model.init(np.random.default_rng((self.cfg.seed, 1)))
        self.version = 0
        self.round = 0
        self.round_selected: list[str] = []
        self.pending: dict[str, _Pending] = {}
        self.state: Any = None
        self.tasks: set[asyncio.Task[_Outcome]] = set()
        self.deadline_s = math.inf
        self.timeline: list[tuple[float, float]] = []
        self.reasons: list[str] = []
        self._n_inv = 0
        self._t0 = time.monotonic()

    # -- clock, keys, snapshots ---------------------------------------------------------

    def now(self) -> float:
        return time.monotonic() - self._t0

    def _key(self, kind: str, name: str) -> str:
        return f"fl/{self.run_id}/{kind}/{name}"

    @property
    def global_key(self) -> str:
        return self._key("global", f"{self.version:05d}")

    def snapshot(self, deadline_passed: bool = False) -> FlSnapshot:
        results = tuple(
            ResultView(p.key, p.client, p.round_started, p.n_samples, p.train_time_s)
            for p in sorted(self.pending.values(), key=lambda p: p.key)
        )
        views = {c: client_view(c, len(ix), self.hist[c]) for c, ix in self.clients.items()}
        return FlSnapshot(
            self.round, self.now(), views, self.cfg.fl, self.cfg.seed,
            tuple(self.round_selected), results, self.state, deadline_passed,
        )  # fmt: skip

    def _note(self, text: str) -> None:
        if len(self.reasons) < 200:
            self.reasons.append(f"round {self.round} t={self.now():.2f}s: {text}")

    # -- invocations --------------------------------------------------------------------

    def _select(self) -> None:
        sel = self.strategy.select(self.snapshot())
        self.state = sel.state
        plans = admit(
            sel, self.hist, self.round_selected, self.strategy.synchronous,
            self.cfg.fl.clients_per_round,
        )  # fmt: skip
        for plan in plans:
            self._invoke(plan)
        picked = len(plans)
        if picked:
            self._note(sel.reason)

    def _invoke(self, plan: ClientPlan) -> None:
        if plan.scaffold:
            raise InputError("plan.scaffold", True, "False (the client function has no SCAFFOLD)")
        key = f"r{self.round:05d}-{plan.client}-{self._n_inv}"
        seed = int(np.random.default_rng((self.cfg.seed, 2, self._n_inv)).integers(2**31))
        self._n_inv += 1
        h = self.hist[plan.client]
        h.busy, h.invocations, h.last_selected_round = True, h.invocations + 1, self.round
        self.round_selected.append(plan.client)
        fl = self.cfg.fl
        event = {
            "store": self.store_url, "global_key": self.global_key, "client": plan.client,
            "indices_key": self._key("indices", plan.client), "dataset": self.data.name,
            "dataset_limit": self.cfg.dataset_limit, "model": self.model_name,
            "epochs": fl.epochs, "batch_size": fl.batch_size, "lr": self.cfg.lr, "seed": seed,
            "prox_mu": plan.prox_mu, "result_key": self._key("result", key),
        }  # fmt: skip
        task = asyncio.create_task(self._call(key, plan.client, self.round, event))
        self.tasks.add(task)

    async def _call(self, key: str, client: str, round_: int, event: dict[str, Any]) -> _Outcome:
        start = self.now()
        ok, cold, n, train_s, err = False, False, 0, 0.0, ""
        try:
            r = await self.http.post(
                f"/function/{self.cfg.function}", json=event, timeout=self.cfg.request_timeout_s
            )
            cold = COLD_HEADER in r.headers
            if r.status_code == 200:
                body = r.json()
                n, train_s, ok = int(body["n_samples"]), float(body["train_time_s"]), True
            else:
                err = f"HTTP {r.status_code}: {r.text[:200]}"
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as e:
            err = f"{type(e).__name__}: {e}"
        end = max(self.now(), start)
        return _Outcome(
            key, client, round_, start, end, ok, cold, n, max(0.0, train_s),
            str(event["result_key"]), err,
        )  # fmt: skip

    def _end(self, o: _Outcome) -> None:
        self.hist[o.client].ended(o.end_s, o.round_started, o.train_time_s if o.ok else None)
        if o.ok:
            self.pending[o.key] = _Pending(
                o.key, o.client, o.round_started, o.n_samples, o.train_time_s, o.result_key
            )
        else:
            self._note(f"{o.key} failed: {o.error}")
        self.log.append(
            InvocationRecord(
                o.key, o.client, o.round_started, o.start_s, o.end_s, o.train_time_s, o.cold,
                o.ok, self.memory_mib, gcf_gen1_cost_usd(o.end_s - o.start_s, self.memory_mib),
                None, self.cfg.function,
            )
        )  # fmt: skip

    # -- aggregation and rounds ---------------------------------------------------------

    def _aggregate(self, deadline_passed: bool = False) -> bool:
        agg: Aggregation = self.strategy.aggregate(self.snapshot(deadline_passed))
        self.state = agg.state
        dropped, used = settle(agg, self.pending, self.hist)
        for p in dropped:
            self.store.delete(p.result_key)
        if not agg.go:
            return False
        self.params = combine(
            self.params, {k: self.store.get(p.result_key) for k, p in used.items()}, agg
        )
        self.version += 1
        self.store.put(self.global_key, self.params)
        for p in used.values():
            self.store.delete(p.result_key)
        self.log.mark_aggregated(list(used), self.round)
        acc, _ = self.model.evaluate(self.params, self.data.X_test, self.data.y_test)
        self.timeline.append((self.now(), acc))
        self._note(agg.reason)
        self.round += 1
        self.round_selected = []
        return True

    def _next_round(self) -> None:
        self._select()
        self.deadline_s = self.now() + self.cfg.round_timeout_s

    def _on_deadline(self) -> None:
        if self._aggregate(deadline_passed=True):
            if self.round < self.cfg.rounds:
                self._next_round()
            return
        busy = any(h.busy for h in self.hist.values())
        if self.strategy.synchronous:  # nothing to aggregate by the deadline: give up the round
            self._note("deadline, nothing aggregated")
            self.round += 1
            self.round_selected = []
            self._next_round()
        elif busy or self.pending:
            self._next_round()
        else:
            self.deadline_s = math.inf

    def _on_end(self, o: _Outcome) -> None:
        self._end(o)
        if self.round >= self.cfg.rounds:
            return
        if self._aggregate():
            if self.round < self.cfg.rounds:
                self._next_round()
        elif not self.strategy.synchronous:
            self._select()  # keep clients_per_round in flight

    async def run(self) -> FlRunResult:
        """Run until `rounds` aggregations, the time limit, or nothing left to wait for."""
        cfg = self.cfg
        self._t0 = time.monotonic()
        try:
            self.store.put(self.global_key, self.params)
            for cid, ix in self.clients.items():
                self.store.put(self._key("indices", cid), ix.astype(np.float64))
            self._next_round()
            while self.round < cfg.rounds and (self.tasks or self.deadline_s < math.inf):
                wait_s = min(self.deadline_s, cfg.time_limit_s) - self.now()
                done: set[asyncio.Task[_Outcome]] = set()
                if self.tasks:
                    done, _ = await asyncio.wait(
                        self.tasks, timeout=max(0.0, wait_s), return_when=asyncio.FIRST_COMPLETED
                    )
                elif wait_s > 0:
                    await asyncio.sleep(wait_s)
                if not done:
                    if self.now() >= cfg.time_limit_s:
                        break
                    if self.now() >= self.deadline_s:
                        self._on_deadline()
                    continue
                for task in sorted(done, key=lambda t: t.result().end_s):
                    self.tasks.discard(task)
                    self._on_end(task.result())
            await self._drain()
        finally:
            for task in self.tasks:
                task.cancel()
            self.store.close()
        return FlRunResult(
            getattr(self.strategy, "name", type(self.strategy).__name__),
            self.log.records(), self.timeline, sorted(self.clients), self.reasons, self.params,
        )  # fmt: skip

    async def _drain(self) -> None:
        """Log the invocations still in flight (their results are not aggregated)."""
        if not self.tasks:
            return
        done, _ = await asyncio.wait(self.tasks, timeout=self.cfg.drain_s)
        for task in sorted(done, key=lambda t: t.result().end_s):
            self.tasks.discard(task)
            o = task.result()
            self._end(o)
            if o.ok:
                self.pending.pop(o.key, None)
                self.store.delete(o.result_key)


async def run_fl(
    strategy: Strategy | Mapping[str, Any],
    http: httpx.AsyncClient,
    store_url: str,
    data: Dataset,
    model_name: str,
    clients: Mapping[str, np.ndarray],
    config: FlControlConfig | None = None,
) -> FlRunResult:
    """Run `strategy` over the client function (see `FlController`)."""
    return await FlController(strategy, http, store_url, data, model_name, clients, config).run()
