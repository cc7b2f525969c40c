"""The FL strategy port: what a client-selection + aggregation policy sees and answers.

A federated-learning controller (a driver: `tessera.sim.fl` in virtual time,
or the real controller invoking client functions on a platform) asks its
strategy two questions, each with an immutable `FlSnapshot`:

- `select(snapshot) -> Selection`: which idle clients to invoke now (and why
  each); called when the controller starts a round.
- `aggregate(snapshot) -> Aggregation`: whether to aggregate now, and with
  which of the results that have arrived (and their weights); called each
  time a result arrives (and when a round's deadline passes). Synchronous
  strategies wait for every selected client of the round; buffered and
  asynchronous ones aggregate once enough results are in, counting stale
  results (started in earlier rounds) up to a limit.

The model arithmetic stays out of the policy: an `Aggregation` names results
and normalised weights; the driver computes the weighted average of their
parameter vectors (`combine`), plus, for SCAFFOLD, the control-variate update
the strategy asks for through `ClientPlan` and `Aggregation.server_lr`.
Strategies are pure: randomness comes from `snapshot.seed` (one
`numpy.random.default_rng((seed, round))` per call), time from the snapshot,
memory from `snapshot.state` (returned as `state` in the answer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from tessera.core.errors import require
from tessera.core.registry import Registry


@dataclass(frozen=True, slots=True)
class ClientView:
    """One client as the strategy may know it (all history from the invocation log).

    `train_times_s[k]` is the measured training time (training only, no cold
    start or transfer) of the client's k-th completed invocation, started in
    round `rounds_done[k]`; both oldest first. `failed_rounds` lists rounds in
    which an invocation of it failed or timed out; `missed_rounds` counts
    invocations whose result arrived too late to be aggregated (FedLesScan's
    penalty). `last_selected_round` is None if never invoked.
    """

    id: str
    n_samples: int
    busy: bool = False
    invocations: int = 0
    last_selected_round: int | None = None
    train_times_s: tuple[float, ...] = ()
    rounds_done: tuple[int, ...] = ()
    failed_rounds: tuple[int, ...] = ()
    missed_rounds: int = 0

    def __post_init__(self) -> None:
        require(bool(self.id), "client.id", self.id, "a non-empty string")
        require(self.n_samples >= 0, "client.n_samples", self.n_samples, "an integer >= 0")
        require(
            len(self.train_times_s) == len(self.rounds_done),
            "client.rounds_done",
            len(self.rounds_done),
            f"one round per training time ({len(self.train_times_s)})",
        )


@dataclass(frozen=True, slots=True)
class ResultView:
    """A client result that has arrived and is not yet aggregated.

    `round_started` is the round in which the client was invoked; its
    staleness at aggregation in round r is r - round_started.
    """

    key: str  # unique per invocation (the driver maps it to the parameter vector)
    client: str
    round_started: int
    n_samples: int
    train_time_s: float


@dataclass(frozen=True, slots=True)
class FlConfig:
    """The controller's settings every strategy reads.

    `clients_per_round`: how many clients a round invokes; `epochs` (E) and
    `batch_size` (B) of local training; `concurrency_ratio` (CR): the share of
    a round's selected clients whose results trigger aggregation in
    asynchronous strategies; `max_staleness`: results started more than this
    many rounds ago are discarded.
    """

    clients_per_round: int = 10
    epochs: int = 1
    batch_size: int = 16
    concurrency_ratio: float = 0.5
    max_staleness: int = 5

    def __post_init__(self) -> None:
        require(self.clients_per_round >= 1, "fl.clients_per_round", self.clients_per_round, ">= 1")
        require(self.epochs >= 1, "fl.epochs", self.epochs, "an integer >= 1")
        require(self.batch_size >= 1, "fl.batch_size", self.batch_size, "an integer >= 1")
        require(
            0 < self.concurrency_ratio <= 1,
            "fl.concurrency_ratio",
            self.concurrency_ratio,
            "a share in (0, 1]",
        )
        require(self.max_staleness >= 0, "fl.max_staleness", self.max_staleness, "an integer >= 0")


@dataclass(frozen=True, slots=True)
class FlSnapshot:
    """Everything a strategy may know when asked.

    `round` is the current round (0-based: the round being started by
    `select`, or the round whose aggregation is being decided by `aggregate`);
    `selected` the clients invoked in this round so far; `results` the
    results that have arrived and are not yet aggregated (any round).
    """

    round: int
    now_s: float
    clients: Mapping[str, ClientView]
    config: FlConfig
    seed: int = 0
    selected: tuple[str, ...] = ()
    results: tuple[ResultView, ...] = ()
    state: Any = None
    deadline_passed: bool = False
    """Set by the driver when it asks at the round's deadline: synchronous strategies
    then aggregate what arrived (they need not keep a clock of their own)."""

    def rng(self, salt: int = 0) -> np.random.Generator:
        """The strategy's random generator for this call (seeded by `rng_seed`)."""
        return np.random.default_rng(self.rng_seed(salt))

    def rng_seed(self, salt: int = 0) -> tuple[int, ...]:
        """(seed, round, salt) for a round's first call; once the round has selected clients
        (an asynchronous refill), also how many and the time, so that every refill draws
        afresh instead of repeating the round's first draw over a changed pool."""
        if not self.selected:
            return (self.seed, self.round, salt)
        return (self.seed, self.round, salt, len(self.selected), round(self.now_s * 1e6))


@dataclass(frozen=True, slots=True)
class ClientPlan:
    """What one selected client is asked to do: local training settings.

    `prox_mu` > 0 adds FedProx's proximal term; `scaffold` asks the client to
    apply the SCAFFOLD correction (server minus client control variate) and
    return its control-variate delta.
    """

    client: str
    reason: str
    prox_mu: float = 0.0
    scaffold: bool = False


@dataclass(frozen=True, slots=True)
class Selection:
    clients: tuple[ClientPlan, ...]
    reason: str
    state: Any = None


@dataclass(frozen=True, slots=True)
class Aggregation:
    """Aggregate now (`go`) the results `weights` names, weights summing to 1; or wait.

    `discard` names results to drop without using them (too stale). The new
    global model is `global + server_lr * (sum_i w_i * params_i - global)`
    (`server_lr` 1: plain weighted average).
    """

    go: bool
    weights: Mapping[str, float] = field(default_factory=dict)
    discard: tuple[str, ...] = ()
    reason: str = ""
    server_lr: float = 1.0
    state: Any = None


@runtime_checkable
class Strategy(Protocol):
    """A client-selection + aggregation policy (see the module docstring)."""

    name: str
    synchronous: bool
    """True: a round ends only when its aggregation happens (FedAvg); False: the
    controller keeps `clients_per_round` invocations in flight and starts the
    next round at each aggregation (FedBuff, Apodotiko)."""

    def select(self, snapshot: FlSnapshot) -> Selection: ...

    def aggregate(self, snapshot: FlSnapshot) -> Aggregation: ...


STRATEGIES: Registry[Strategy] = Registry("fl_strategy")


def create(config: Mapping[str, Any]) -> Strategy:
    """Build a strategy from `{kind: NAME, **params}`."""
    return STRATEGIES.from_config(config)


def combine(
    global_params: np.ndarray,
    params: Mapping[str, np.ndarray],
    agg: Aggregation,
) -> np.ndarray:
    """The driver's half of an aggregation: the new global parameter vector."""
    require(agg.go, "aggregation.go", agg.go, "True (nothing to combine when waiting)")
    require(bool(agg.weights), "aggregation.weights", dict(agg.weights), "at least one result")
    total = float(sum(agg.weights.values()))
    require(abs(total - 1.0) < 1e-6, "aggregation.weights", total, "weights summing to 1")
    avg = np.zeros_like(global_params)
    for key, w in agg.weights.items():
        avg += w * params[key]
    out: np.ndarray = global_params + agg.server_lr * (avg - global_params)
    return out


def idle(snapshot: FlSnapshot) -> list[ClientView]:
    """Clients not busy, in id order (what every selector chooses from)."""
    return [c for _, c in sorted(snapshot.clients.items()) if not c.busy]


def sample_weights(results: Sequence[ResultView]) -> dict[str, float]:
    """FedAvg's weights: n_i / sum n (uniform if every n_i is 0)."""
    n = sum(r.n_samples for r in results)
    if n <= 0:
        return {r.key: 1.0 / len(results) for r in results}
    return {r.key: r.n_samples / n for r in results}
