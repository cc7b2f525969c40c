"""Federated learning in wall time: the controller that invokes real client functions.

The wall-clock twin of `tessera.sim.fl.FlSimulation`, driving the same
strategy objects with the same rules (stated in that module's docstring):
synchronous strategies start a round with `select` and aggregate when
`aggregate` says go, asked at every arrival and at the round deadline
(`deadline_passed=True`); asynchronous ones keep `clients_per_round`
invocations in flight and end a round at each aggregation. What differs is
only who does the work and whose clock counts:

- Client training is the `fl-client` Tessera function (`CLIENT_FUNCTION_DIR`),
  invoked concurrently (asyncio) by an `Invoker` (`tessera.control.fl_invokers`):
  over HTTP on a platform where it is deployed (the local one by default), or
  as Ray tasks for many clients. It reads the global model and its index array
  from the `ParamStore` at `store_url` and writes its new parameters back
  there; the controller only passes keys.
- Times are seconds on the controller's monotonic clock since the run began.
  An invocation's record spans request sent to response received (what a
  caller is billed for, cold start included); `cold` is the invoker's (over
  HTTP the local platform's `x-tessera-cold-start-ms` header; on Ray the task
  that loaded the handler in its worker); `train_time_s` is what the function
  measured around training; cost is `gcf_gen1_cost_usd` at the function's
  memory size.
- SCAFFOLD's control variates live in the store too: the server's c under a
  key per global model version, each client's c_i under a key of its own. A
  plan with `scaffold` passes those keys; the function trains with c - c_i,
  writes c_i' and stores c_i' - c_i under a key it answers with. At each
  aggregation c moves by |S|/N x the mean of the aggregated results' c_i' - c_i,
  as in `tessera.sim.fl`.
- After the last aggregation the controller waits (up to `drain_s`) for the
  invocations still in flight so their cost is logged too (not aggregated).
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

import tessera.fl.strategies  # noqa: F401  (registers the strategies with `create`)
from tessera.carbon.accounting import Usage, account
from tessera.control.fl_invokers import CLIENT_FUNCTION_DIR, HttpInvoker, Invoker
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

__all__ = ["CLIENT_FUNCTION_DIR", "FlControlConfig", "FlController", "run_fl"]


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
    """The deployed function's name (for an `httpx.AsyncClient` given as the invoker)."""
    memory_mib: int | None = None
    """Billed memory; None: the packaged function.yaml's `resources.memory_mib`."""
    gco2_per_kwh: float = 400.0
    """Grid intensity each invocation's energy is charged at (gCO2e/kWh)."""
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
        require(self.gco2_per_kwh >= 0, "control.gco2_per_kwh", self.gco2_per_kwh, ">= 0")


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
    c_delta_key: str | None
    error: str = ""


@dataclass(frozen=True, slots=True)
class _Pending:
    key: str
    client: str
    round_started: int
    n_samples: int
    train_time_s: float
    result_key: str
    c_delta_key: str | None


class FlController:
    """One strategy over clients that are invocations of a deployed client function.

    `strategy`: a `Strategy` or its config `{kind: NAME, **params}`; `invoker`: an
    `Invoker` (`HttpInvoker`, `RayInvoker`), or an `httpx.AsyncClient` whose base
    URL is a platform's gateway, short for `HttpInvoker(http, config.function)`;
    `store_url`: a `ParamStore` URL the function's instances can open too (e.g.
    `sqlite:////ABS/PATH`); `data`: the data set (the function loads the same
    one by `data.name`), used here to evaluate; `clients`: client id -> indices
    into `data.X_train`. `c_server` is SCAFFOLD's server control variate.
    """

    def __init__(
        self,
        strategy: Strategy | Mapping[str, Any],
        invoker: Invoker | httpx.AsyncClient,
        store_url: str,
        data: Dataset,
        model_name: str,
        clients: Mapping[str, np.ndarray],
        config: FlControlConfig | None = None,
        log: InvocationLog | None = None,
    ) -> None:
        self.strategy: Strategy = strategy if isinstance(strategy, Strategy) else create(strategy)
        if not isinstance(invoker, httpx.AsyncClient) and not isinstance(invoker, Invoker):
            raise InputError("invoker", type(invoker).__name__, "an Invoker or httpx.AsyncClient")
        require(len(clients) > 0, "clients", len(clients), "at least one client")
        require(data.name in NAMES, "data.name", data.name, ", ".join(NAMES))
        self.cfg = config or FlControlConfig()
        self.model = make_model(model_name, data.n_features, data.n_classes)
        self.model_name = model_name
        self.store_url = store_url
        self.store: ParamStore = open_store(store_url)  # InputError on a bad URL
        self.invoker: Invoker = (
            HttpInvoker(invoker, self.cfg.function)
            if isinstance(invoker, httpx.AsyncClient)
            else invoker
        )
        self.data = data
        self.clients = {cid: np.asarray(ix, dtype=np.int64) for cid, ix in clients.items()}
        resources = read_manifest(CLIENT_FUNCTION_DIR).resources
        self.memory_mib = self.cfg.memory_mib or resources.memory_mib
        self.cpu = resources.cpu
        self.log = log or InvocationLog()
        self.run_id = uuid.uuid4().hex[:12]
        self.hist = {cid: ClientHistory() for cid in self.clients}
        self.params = self.model.init(np.random.default_rng((self.cfg.seed, 1)))
        self.c_server = np.zeros_like(self.params)
        self._c_stored: int | None = None  # the version whose c is in the store
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
        if plan.scaffold:
            c_key = self._key("c", f"{self.version:05d}")
            if self._c_stored != self.version:
                self.store.put(c_key, self.c_server)
                self._c_stored = self.version
            event.update(
                c_key=c_key, ci_key=self._key("ci", plan.client),
                c_delta_key=self._key("c_delta", key),
            )  # fmt: skip
        task = asyncio.create_task(self._call(key, plan.client, self.round, event))
        self.tasks.add(task)

    async def _call(self, key: str, client: str, round_: int, event: dict[str, Any]) -> _Outcome:
        start = self.now()
        reply = await self.invoker.invoke(event, self.cfg.request_timeout_s)
        end = max(self.now(), start)
        ok, n, train_s, delta, err = False, 0, 0.0, None, reply.error
        if reply.body is not None:
            try:
                n, train_s = int(reply.body["n_samples"]), float(reply.body["train_time_s"])
                delta = None if "c_delta_key" not in reply.body else str(reply.body["c_delta_key"])
                ok = True
            except (ValueError, KeyError, TypeError) as e:
                err = f"bad answer {reply.body!r:.200}: {type(e).__name__}: {e}"
        return _Outcome(
            key, client, round_, start, end, ok, reply.cold, n, max(0.0, train_s),
            str(event["result_key"]), delta, err,
        )  # fmt: skip

    def _forget(self, p: _Pending | _Outcome) -> None:
        """Delete a result (and its control-variate delta) from the store."""
        self.store.delete(p.result_key)
        if p.c_delta_key is not None:
            self.store.delete(p.c_delta_key)

    def _end(self, o: _Outcome) -> None:
        self.hist[o.client].ended(o.end_s, o.round_started, o.train_time_s if o.ok else None)
        if o.ok:
            self.pending[o.key] = _Pending(
                o.key, o.client, o.round_started, o.n_samples, o.train_time_s, o.result_key,
                o.c_delta_key,
            )  # fmt: skip
        else:
            self._note(f"{o.key} failed: {o.error}")
        duration = o.end_s - o.start_s
        usage = Usage(duration, self.cpu, 1.0, self.memory_mib / 1024)
        carbon = account(usage, self.cfg.gco2_per_kwh)
        self.log.append(
            InvocationRecord(
                o.key, o.client, o.round_started, o.start_s, o.end_s, o.train_time_s, o.cold,
                o.ok, self.memory_mib, gcf_gen1_cost_usd(duration, self.memory_mib),
                None, self.invoker.name, carbon.operational_g, carbon.embodied_g,
            )
        )  # fmt: skip

    # -- aggregation and rounds ---------------------------------------------------------

    def _aggregate(self, deadline_passed: bool = False) -> bool:
        agg: Aggregation = self.strategy.aggregate(self.snapshot(deadline_passed))
        self.state = agg.state
        dropped, used = settle(agg, self.pending, self.hist)
        for p in dropped:
            self._forget(p)
        if not agg.go:
            return False
        self.params = combine(
            self.params, {k: self.store.get(p.result_key) for k, p in used.items()}, agg
        )
        deltas = [self.store.get(p.c_delta_key) for p in used.values() if p.c_delta_key]
        if deltas:
            self.c_server = self.c_server + len(deltas) / len(self.clients) * np.mean(
                deltas, axis=0
            )
        self.version += 1
        self.store.put(self.global_key, self.params)
        for p in used.values():
            self._forget(p)
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
                self._forget(o)


async def run_fl(
    strategy: Strategy | Mapping[str, Any],
    invoker: Invoker | httpx.AsyncClient,
    store_url: str,
    data: Dataset,
    model_name: str,
    clients: Mapping[str, np.ndarray],
    config: FlControlConfig | None = None,
) -> FlRunResult:
    """Run `strategy` over the client function (see `FlController`)."""
    ctl = FlController(strategy, invoker, store_url, data, model_name, clients, config)
    return await ctl.run()
