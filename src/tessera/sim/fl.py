"""Federated learning in virtual time: a client population driven by an FL strategy.

The driver half of `tessera.fl.strategy`: it keeps the global model, invokes
clients the strategy selects, trains them for real (numpy models of
`tessera.fl.models` on their data partition), and decides *when* each result
arrives from the client's hardware profile — so a 200-client x 100-round run
takes seconds, and the same seed gives the same run.

The model, stated once (tested in tests/sim/test_fl.py):

- A client has a hardware profile: `speed` (relative to one vCPU), memory
  (for the price), `cold_start_s`, and log-normal jitter `jitter_sigma` on
  each training time. Training takes `n_samples x epochs x base_s_per_sample
  / speed x jitter` seconds; an invocation is *cold* if the client never ran
  or last finished `keep_alive_s` or longer before (then `cold_start_s` is
  added). Faults: with probability `fail_p` an invocation fails (it ends,
  without a result, after its would-be duration); with `delay_p` it takes
  `delay_s` longer.
- Synchronous strategies (`Strategy.synchronous`): a round starts by
  `select`; the round aggregates when `aggregate` says go (asked at every
  arrival and at the round deadline `round_timeout_s`); then the next round
  starts. Asynchronous strategies: `clients_per_round` invocations are kept
  in flight (`select` refills at every arrival); each aggregation ends a
  round.
- Every aggregation evaluates the global model on the test set (the
  accuracy timeline). The run ends after `rounds` aggregations or at
  `time_limit_s`.
- Every invocation becomes an `InvocationRecord` (start, end, round
  started, round aggregated, cold, ok, cost at GCF gen-1 prices, and its
  operational and embodied gCO2e from `tessera.carbon.accounting`: the
  profile's vCPUs and memory for the invocation's duration, at
  `gco2_per_kwh`) in the `InvocationLog`; every metric is derived from the
  log and the timeline.
- SCAFFOLD: the driver keeps the server control variate c and each client's
  c_i; a client asked for it trains with correction c - c_i and returns
  c_i' = c_i - c + (x - y) / (K lr) (K local steps); at aggregation c moves
  by |S|/N x the mean of the aggregated clients' c_i' - c_i.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tessera.carbon.accounting import Usage, account
from tessera.core.errors import require
from tessera.fl.data import Dataset
from tessera.fl.driver import ClientHistory as _History
from tessera.fl.driver import FlRunResult as FlRunResult
from tessera.fl.driver import admit, client_view, settle
from tessera.fl.log import InvocationLog, InvocationRecord, gcf_gen1_cost_usd
from tessera.fl.models import Model
from tessera.fl.strategy import (
    Aggregation,
    ClientPlan,
    ClientView,
    FlConfig,
    FlSnapshot,
    ResultView,
    Strategy,
    combine,
)


@dataclass(frozen=True, slots=True)
class HardwareProfile:
    """How fast a client trains and what it costs (see the module docstring)."""

    name: str
    speed: float = 1.0
    memory_mib: int = 2048
    cold_start_s: float = 5.0
    jitter_sigma: float = 0.2
    vcpus: float = 1.0
    """CPU cores the function holds (its energy and embodied share; GPU power not modelled)."""

    def __post_init__(self) -> None:
        require(self.speed > 0, "profile.speed", self.speed, "> 0")
        require(self.vcpus > 0, "profile.vcpus", self.vcpus, "cores > 0")
        require(self.memory_mib > 0, "profile.memory_mib", self.memory_mib, "MiB > 0")
        require(self.cold_start_s >= 0, "profile.cold_start_s", self.cold_start_s, ">= 0")
        require(self.jitter_sigma >= 0, "profile.jitter_sigma", self.jitter_sigma, ">= 0")


PROFILES: dict[str, HardwareProfile] = {
    "cpu1": HardwareProfile("cpu1", 1.0, 2048, 6.0),
    "cpu2": HardwareProfile("cpu2", 2.0, 4096, 5.0, vcpus=2.0),
    "gpu": HardwareProfile("gpu", 15.0, 8192, 12.0),
}
"""Defaults: 1 vCPU, 2 vCPUs (2x), a GPU function (15x; `population` draws 10-20x)."""


@dataclass(frozen=True, slots=True)
class Faults:
    fail_p: float = 0.0
    delay_p: float = 0.0
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        require(0 <= self.fail_p < 1, "faults.fail_p", self.fail_p, "a probability in [0, 1)")
        require(0 <= self.delay_p <= 1, "faults.delay_p", self.delay_p, "a probability in [0, 1]")
        require(self.delay_s >= 0, "faults.delay_s", self.delay_s, "seconds >= 0")


@dataclass(frozen=True)
class ClientSpec:
    """One client: its data (indices into the training set), hardware and faults."""

    id: str
    indices: np.ndarray
    profile: HardwareProfile
    faults: Faults = field(default_factory=Faults)


def population(
    n_clients: int,
    partitions: Sequence[np.ndarray],
    mix: Mapping[str, float],
    rng: np.random.Generator,
    *,
    gpu_speed: tuple[float, float] = (10.0, 20.0),
    faults: Faults | None = None,
) -> list[ClientSpec]:
    """`n_clients` clients over `partitions`, hardware drawn by the shares in `mix`
    (names of `PROFILES`); GPU clients get a speed uniform in `gpu_speed`."""
    require(
        len(partitions) == n_clients, "partitions", len(partitions), f"{n_clients} index arrays"
    )
    require(
        bool(mix) and all(k in PROFILES for k in mix),
        "mix",
        dict(mix),
        f"shares of {sorted(PROFILES)}",
    )
    names = sorted(mix)
    p = np.array([mix[k] for k in names], dtype=float)
    require(bool(np.all(p >= 0)) and p.sum() > 0, "mix", dict(mix), "shares >= 0, not all 0")
    # exact counts by largest remainder, then shuffled: the mix holds for small populations too
    want = p / p.sum() * n_clients
    counts = np.floor(want).astype(int)
    for k in np.argsort(-(want - counts))[: n_clients - counts.sum()]:
        counts[k] += 1
    kinds = rng.permutation(np.repeat(np.arange(len(names)), counts))
    out = []
    for i in range(n_clients):
        prof = PROFILES[names[kinds[i]]]
        if prof.name == "gpu":
            prof = HardwareProfile(
                "gpu", float(rng.uniform(*gpu_speed)), prof.memory_mib, prof.cold_start_s,
                prof.jitter_sigma, prof.vcpus,
            )  # fmt: skip
        out.append(ClientSpec(f"c{i:04d}", partitions[i], prof, faults or Faults()))
    return out


@dataclass(frozen=True, slots=True)
class FlSimConfig:
    """The run (units in the names)."""

    fl: FlConfig = field(default_factory=FlConfig)
    rounds: int = 50
    time_limit_s: float = math.inf
    round_timeout_s: float = 600.0
    keep_alive_s: float = 600.0
    base_s_per_sample: float = 0.01  # per sample and epoch on one vCPU
    lr: float = 0.1
    seed: int = 0
    gco2_per_kwh: float = 400.0
    """Grid intensity every invocation's energy is charged at (gCO2e/kWh)."""

    def __post_init__(self) -> None:
        require(self.rounds >= 1, "sim.rounds", self.rounds, "an integer >= 1")
        require(self.gco2_per_kwh >= 0, "sim.gco2_per_kwh", self.gco2_per_kwh, ">= 0")
        require(self.time_limit_s > 0, "sim.time_limit_s", self.time_limit_s, "seconds > 0")
        require(self.round_timeout_s > 0, "sim.round_timeout_s", self.round_timeout_s, "> 0")
        require(self.keep_alive_s >= 0, "sim.keep_alive_s", self.keep_alive_s, ">= 0")
        require(self.base_s_per_sample > 0, "sim.base_s_per_sample", self.base_s_per_sample, "> 0")
        require(self.lr > 0, "sim.lr", self.lr, "> 0")


@dataclass
class _Pending:
    key: str
    client: str
    round_started: int
    n_samples: int
    train_time_s: float
    params: np.ndarray
    c_delta: np.ndarray | None


class FlSimulation:
    """One strategy over one client population (see the module docstring)."""

    def __init__(
        self,
        strategy: Strategy,
        model: Model,
        data: Dataset,
        clients: Sequence[ClientSpec],
        config: FlSimConfig | None = None,
        log: InvocationLog | None = None,
    ) -> None:
        require(len(clients) > 0, "clients", len(clients), "at least one client")
        ids = [c.id for c in clients]
        require(len(set(ids)) == len(ids), "clients", "duplicate ids", "unique client ids")
        self.strategy = strategy
        self.model = model
        self.data = data
        self.clients = {c.id: c for c in clients}
        self.cfg = config or FlSimConfig()
        self.log = log or InvocationLog()
        self.rng = np.random.default_rng(self.cfg.seed)
        self.hist = {c: _History() for c in self.clients}
        self.params = model.init(np.random.default_rng((self.cfg.seed, 1)))
        self.c_server = np.zeros_like(self.params)
        self.c_client: dict[str, np.ndarray] = {}
        self.round = 0
        self.round_selected: list[str] = []
        self.pending: dict[str, _Pending] = {}
        self.state: Any = None
        self.events: list[tuple[float, int, str, Any]] = []
        self._seq = 0
        self.now = 0.0
        self.timeline: list[tuple[float, float]] = []
        self.reasons: list[str] = []
        self._n_inv = 0
        self._view_cache: dict[str, ClientView] = {}
        self._dirty: set[str] = set(self.clients)

    # -- snapshots ----------------------------------------------------------------------

    def _views(self) -> dict[str, ClientView]:
        """Client views, rebuilt only for clients whose history changed since the last call."""
        for cid in self._dirty:
            self._view_cache[cid] = client_view(cid, len(self.clients[cid].indices), self.hist[cid])
        self._dirty.clear()
        return dict(self._view_cache)

    def snapshot(self, deadline_passed: bool = False) -> FlSnapshot:
        results = tuple(
            ResultView(p.key, p.client, p.round_started, p.n_samples, p.train_time_s)
            for p in sorted(self.pending.values(), key=lambda p: p.key)
        )
        return FlSnapshot(
            self.round, self.now, self._views(), self.cfg.fl, self.cfg.seed,
            tuple(self.round_selected), results, self.state, deadline_passed,
        )  # fmt: skip

    # -- events -------------------------------------------------------------------------

    def _push(self, t: float, kind: str, payload: Any) -> None:
        heapq.heappush(self.events, (t, self._seq, kind, payload))
        self._seq += 1

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
        if picked and len(self.reasons) < 200:
            self.reasons.append(f"round {self.round} t={self.now:.1f}s: {sel.reason}")

    def _invoke(self, plan: ClientPlan) -> None:
        spec = self.clients[plan.client]
        h = self.hist[plan.client]
        rng = np.random.default_rng((self.cfg.seed, 2, self._n_inv))
        key = f"r{self.round:05d}-{plan.client}-{self._n_inv}"
        self._n_inv += 1
        cold = self.now - h.last_end_s >= self.cfg.keep_alive_s
        n = len(spec.indices)
        fl = self.cfg.fl
        jitter = float(rng.lognormal(0.0, spec.profile.jitter_sigma))
        train_s = n * fl.epochs * self.cfg.base_s_per_sample / spec.profile.speed * jitter
        if rng.random() < spec.faults.delay_p:
            train_s += spec.faults.delay_s
        failed = bool(rng.random() < spec.faults.fail_p)
        duration = (spec.profile.cold_start_s if cold else 0.0) + train_s
        h.busy, h.invocations, h.last_selected_round = True, h.invocations + 1, self.round
        self._dirty.add(plan.client)
        self.round_selected.append(plan.client)
        result: _Pending | None = None
        if not failed and n > 0:
            X, y = self.data.X_train[spec.indices], self.data.y_train[spec.indices]
            start = self.params
            correction = None
            if plan.scaffold:
                ci = self.c_client.get(plan.client, np.zeros_like(start))
                correction = self.c_server - ci
            new = self.model.train(
                start, X, y, epochs=fl.epochs, batch_size=fl.batch_size, lr=self.cfg.lr,
                rng=rng, prox_mu=plan.prox_mu, anchor=start, correction=correction,
            )  # fmt: skip
            c_delta = None
            if plan.scaffold and correction is not None:
                steps = fl.epochs * math.ceil(n / fl.batch_size)
                ci = self.c_client.get(plan.client, np.zeros_like(start))
                ci_new = ci - self.c_server + (start - new) / (steps * self.cfg.lr)
                c_delta = ci_new - ci
                self.c_client[plan.client] = ci_new
            result = _Pending(key, plan.client, self.round, n, train_s, new, c_delta)
        self._push(
            self.now + duration,
            "end",
            (key, plan.client, self.round, self.now, train_s, cold, result),
        )

    def _end(self, payload: Any) -> None:
        key, cid, round_started, start_s, train_s, cold, result = payload
        spec = self.clients[cid]
        self.hist[cid].ended(self.now, round_started, train_s if result is not None else None)
        self._dirty.add(cid)
        ok = result is not None
        if result is not None:
            self.pending[key] = result
        prof = spec.profile
        cost = gcf_gen1_cost_usd(self.now - start_s, prof.memory_mib)
        usage = Usage(self.now - start_s, prof.vcpus, 1.0, prof.memory_mib / 1024)
        carbon = account(usage, self.cfg.gco2_per_kwh)
        self.log.append(
            InvocationRecord(
                key, cid, round_started, start_s, self.now, train_s, cold, ok,
                prof.memory_mib, cost, None, prof.name, carbon.operational_g, carbon.embodied_g,
            )
        )  # fmt: skip

    def _aggregate(self, deadline_passed: bool = False) -> bool:
        agg: Aggregation = self.strategy.aggregate(self.snapshot(deadline_passed))
        self.state = agg.state
        dropped, used = settle(agg, self.pending, self.hist)
        self._dirty.update(p.client for p in dropped)
        if not agg.go:
            return False
        self.params = combine(self.params, {k: p.params for k, p in used.items()}, agg)
        deltas = [p.c_delta for p in used.values() if p.c_delta is not None]
        if deltas:
            self.c_server = self.c_server + len(deltas) / len(self.clients) * np.mean(
                deltas, axis=0
            )
        self.log.mark_aggregated(list(used), self.round)
        acc, _ = self.model.evaluate(self.params, self.data.X_test, self.data.y_test)
        self.timeline.append((self.now, acc))
        if len(self.reasons) < 200:
            self.reasons.append(f"round {self.round} t={self.now:.1f}s: {agg.reason}")
        self.round += 1
        self.round_selected = []
        return True

    def _next_round(self) -> None:
        self._select()
        self._push(self.now + self.cfg.round_timeout_s, "deadline", self.round)

    def run(self) -> FlRunResult:
        cfg = self.cfg
        self._next_round()
        budget = 1000 + 100 * cfg.rounds * cfg.fl.clients_per_round  # events; a safety net
        while self.round < cfg.rounds and self.events and budget > 0:
            budget -= 1
            t, _, kind, payload = heapq.heappop(self.events)
            if t > cfg.time_limit_s:
                break
            self.now = t
            if kind == "deadline" and payload != self.round:
                continue  # that round already aggregated
            if kind == "end":
                self._end(payload)
            if self._aggregate(deadline_passed=kind == "deadline"):
                if self.round < cfg.rounds:
                    self._next_round()
            elif kind == "deadline":
                busy = any(h.busy for h in self.hist.values())
                if self.strategy.synchronous:  # nothing to aggregate by the deadline: give up
                    if len(self.reasons) < 200:
                        self.reasons.append(f"round {self.round}: deadline, nothing aggregated")
                    self.round += 1
                    self.round_selected = []
                    self._next_round()
                elif busy or self.pending:
                    self._next_round()
            elif not self.strategy.synchronous:
                self._select()  # keep clients_per_round in flight
        return FlRunResult(
            getattr(self.strategy, "name", type(self.strategy).__name__),
            self.log.records(), self.timeline, sorted(self.clients), self.reasons, self.params,
        )  # fmt: skip


def simulate(
    strategy: Strategy,
    model: Model,
    data: Dataset,
    clients: Sequence[ClientSpec],
    config: FlSimConfig | None = None,
) -> FlRunResult:
    """Run `strategy` over `clients` (see `FlSimulation`)."""
    return FlSimulation(strategy, model, data, clients, config).run()
