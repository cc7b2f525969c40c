"""What both FL drivers keep the same way: per-client history, the views built from it, the result.

`tessera.sim.fl` (virtual time) and `tessera.control.fl` (wall time, real
client functions) drive the same strategies; a strategy must see the same
`ClientView` from the same history whichever driver asks, and both return
an `FlRunResult` whose metrics come from `summary`. So the history record,
the view built from it and the result type live here, once.
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np

from tessera.fl.log import InvocationRecord, summary
from tessera.fl.strategy import Aggregation, ClientPlan, ClientView, Selection


@dataclass
class ClientHistory:
    """One client's history as a driver records it (mutable; views are frozen copies)."""

    invocations: int = 0
    last_selected_round: int | None = None
    last_end_s: float = -math.inf
    train_times: list[float] = field(default_factory=list)
    rounds_done: list[int] = field(default_factory=list)
    failed_rounds: list[int] = field(default_factory=list)
    missed: int = 0
    busy: bool = False

    def ended(self, end_s: float, round_started: int, train_time_s: float | None) -> None:
        """An invocation ended: with a result (`train_time_s` given) or failed (None)."""
        self.busy, self.last_end_s = False, end_s
        if train_time_s is None:
            self.failed_rounds.append(round_started)
        else:
            self.train_times.append(train_time_s)
            self.rounds_done.append(round_started)


def admit(
    sel: Selection,
    hist: MutableMapping[str, ClientHistory],
    round_selected: list[str],
    synchronous: bool,
    clients_per_round: int,
) -> list[ClientPlan]:
    """The plans of a selection a driver invokes now: known, idle clients, no more than the
    room left (a synchronous round's unfilled places; else free in-flight slots)."""
    busy = sum(h.busy for h in hist.values())
    room = clients_per_round - (len(round_selected) if synchronous else busy)
    out: list[ClientPlan] = []
    for plan in sel.clients:
        if len(out) >= room:
            break
        h = hist.get(plan.client)
        if h is not None and not h.busy and plan.client not in {p.client for p in out}:
            out.append(plan)  # the conformance suite catches strategies naming others
    return out


class _HasClient(Protocol):
    @property
    def client(self) -> str: ...


P = TypeVar("P", bound=_HasClient)


def settle(
    agg: Aggregation, pending: MutableMapping[str, P], hist: MutableMapping[str, ClientHistory]
) -> tuple[list[P], dict[str, P]]:
    """Apply the bookkeeping half of an aggregation answer to the arrived results: drop the
    discarded ones (each counts as a missed round for its client) and, when it goes, take the
    ones it weighs out of `pending`. Returns (discarded, used)."""
    dropped = []
    for key in agg.discard:
        p = pending.pop(key, None)
        if p is not None:
            hist[p.client].missed += 1
            dropped.append(p)
    used: dict[str, P] = {}
    if agg.go:
        used = {k: pending[k] for k in agg.weights if k in pending}
        for k in used:
            del pending[k]
    return dropped, used


def client_view(cid: str, n_samples: int, h: ClientHistory) -> ClientView:
    """The strategy's view of client `cid` with `n_samples` training samples and history `h`."""
    return ClientView(
        cid, n_samples, h.busy, h.invocations, h.last_selected_round, tuple(h.train_times),
        tuple(h.rounds_done), tuple(h.failed_rounds), h.missed,
    )  # fmt: skip


@dataclass
class FlRunResult:
    """One FL run: its invocation records, accuracy timeline (driver's clock, accuracy after
    each aggregation), the client ids, the strategy's reasons and the final global model."""

    strategy: str
    records: list[InvocationRecord]
    timeline: list[tuple[float, float]]
    clients: list[str]
    reasons: list[str]
    final_params: np.ndarray

    @property
    def final_accuracy(self) -> float:
        return self.timeline[-1][1] if self.timeline else math.nan

    def metrics(self, target_accuracy: float) -> dict[str, float]:
        return summary(self.records, self.timeline, self.clients, target_accuracy)
