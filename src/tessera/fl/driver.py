"""What both FL drivers keep the same way: per-client history, the views built from it, the result.

`tessera.sim.fl` (virtual time) and `tessera.control.fl` (wall time, real
client functions) drive the same strategies; a strategy must see the same
`ClientView` from the same history whichever driver asks, and both return
an `FlRunResult` whose metrics come from `summary`. So the history record,
the view built from it and the result type live here, once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tessera.fl.log import InvocationRecord, summary
from tessera.fl.strategy import ClientView


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
