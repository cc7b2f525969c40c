"""FedLesScan (Elzohairy et al., IEEE Cloud 2022): straggler-aware selection for serverless FL.

Selection (synchronous, `clients_per_round` per round, idle clients only):

1. never-invoked clients ("rookies") first, in random order;
2. the others are described by two features,
   - EMA of their training times (alpha 0.5, oldest first; clients without a
     completed invocation get T_max, the longest training time seen), and
   - a missed-round penalty 1.5 x T_max x misses / max(1, invocations),
     misses = max(the view's `missed_rounds`, results this strategy saw
     arrive after their round was aggregated) + failed invocations,
   standardised and clustered with DBSCAN (min 2 points; of the radii
   0.01, 0.11 .. 1.91 the one with the best Calinski-Harabasz score, noise
   counted as one group, ties to fewer noise points; then each noise point
   is a cluster of its own; see `clustering`);
3. clusters are ranked by their members' mean cost (EMA + penalty),
   fastest first, and taken from a starting rank on, wrapping around,
   until the round is full; inside a cluster the least-invoked clients go
   first, ties in random order (as FedLess's implementation does, so that a
   tier's members take turns). With `planned_rounds` (FedLess's
   `max_rounds`) the starting rank rotates as FedLess's does: the lower
   percentile at p = 100 x (round - r0) / max(1, planned_rounds - r0) of
   the ranks 0 .. k-1, r0 the first round that clustered, i.e.
   floor(p / 100 x (k - 1)): fastest tier first early in training, slower
   tiers' turn later, so their data is not left out; a run that outlives
   its plan starts the rotation over. Without it the fastest tier always
   starts.

Aggregation (synchronous, with staleness-aware use of late results): when
every selected client is accounted for (or the round times out), aggregate
this round's results and results up to `max_staleness` rounds stale, with
raw weight n_i x (r_i + 1) / (r + 1) (r_i: the round it started in, r: now;
FedLess's staleness score), normalised; staler results are discarded.
Every result seen stale (used late or discarded) counts as a miss of its
client in the state (`ScanState.late`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tessera.core.errors import require
from tessera.fl.strategies._common import (
    ROUND_TIMEOUT_S,
    RoundClock,
    needed,
    round_clock,
    staleness,
    started_s,
    synchronous_aggregate,
)
from tessera.fl.strategies.clustering import best_clusters
from tessera.fl.strategy import (
    STRATEGIES,
    Aggregation,
    ClientPlan,
    ClientView,
    FlSnapshot,
    ResultView,
    Selection,
    idle,
)

EMA_ALPHA = 0.5
PENALTY_SCALE = 1.5


def ema(values: tuple[float, ...], alpha: float = EMA_ALPHA) -> float:
    """Exponential moving average, oldest first: e = v0; e = (1 - alpha) e + alpha v."""
    if not values:
        return 0.0
    e = values[0]
    for v in values[1:]:
        e = (1 - alpha) * e + alpha * v
    return e


@dataclass(frozen=True, slots=True)
class ScanState:
    """FedLesScan's memory: its round clock, per client the results seen late, and the first
    round it clustered (the rotation's origin)."""

    clock: RoundClock | None = None
    late: tuple[tuple[str, int], ...] = ()
    first_clustered: int | None = None


def start_rank(round_: int, first: int, planned_rounds: int, n_tiers: int) -> int:
    """The tier FedLesScan's selection starts at: numpy's lower percentile of the ranks
    0 .. n_tiers-1 at 100 x k / period, k = round - first, period = max(1, planned - first).
    A run that outlives its plan (a time budget rather than a round count) starts the
    rotation over (k modulo period + 1) instead of staying on the slowest tier; FedLess
    never runs past its max_rounds."""
    if n_tiers <= 1:
        return 0
    period = max(1, planned_rounds - first)
    k = max(0, round_ - first) % (period + 1)
    return int(np.floor(k / period * (n_tiers - 1) + 1e-9))


def misses(client: ClientView, late: int = 0) -> int:
    """Rounds the client missed: max(view's missed_rounds, late results seen) + failures."""
    return max(client.missed_rounds, late) + len(client.failed_rounds)


def features(
    clients: list[ClientView], t_max_s: float, late: dict[str, int] | None = None
) -> np.ndarray:
    """Rows (EMA training time, missed-round penalty) per client, both in seconds."""
    late = late or {}
    rows = []
    for c in clients:
        e = ema(c.train_times_s) if c.train_times_s else t_max_s
        m = misses(c, late.get(c.id, 0))
        penalty = PENALTY_SCALE * t_max_s * m / max(1, c.invocations)
        rows.append((e, penalty))
    return np.asarray(rows, dtype=float).reshape(len(clients), 2)


def staleness_weight(result: ResultView, round_: int) -> float:
    """FedLesScan's raw weight of a result: n_i x (r_i + 1) / (r + 1)."""
    return result.n_samples * (result.round_started + 1) / (round_ + 1)


@STRATEGIES.register("fedlesscan")
class FedLesScan:
    """Rookies first, then DBSCAN tiers fastest first; staleness-weighted synchronous average.

    `round_timeout_s`: as FedAvg's (set it to the controller's round deadline);
    `planned_rounds`: the rounds the run is planned for, which turns on FedLess's rotation
    of the starting tier (None: the fastest tier always starts).
    """

    name = "fedlesscan"
    synchronous = True

    def __init__(
        self, round_timeout_s: float | None = ROUND_TIMEOUT_S, planned_rounds: int | None = None
    ) -> None:
        require(
            round_timeout_s is None or round_timeout_s > 0,
            "fedlesscan.round_timeout_s",
            round_timeout_s,
            "seconds > 0 or None",
        )
        require(
            planned_rounds is None or (isinstance(planned_rounds, int) and planned_rounds >= 1),
            "fedlesscan.planned_rounds",
            planned_rounds,
            "an integer >= 1 or None",
        )
        self.round_timeout_s = round_timeout_s
        self.planned_rounds = planned_rounds

    def _state(self, snapshot: FlSnapshot) -> ScanState:
        return snapshot.state if isinstance(snapshot.state, ScanState) else ScanState()

    def select(self, snapshot: FlSnapshot) -> Selection:
        state = self._state(snapshot)
        already = set(snapshot.selected)
        pool = [c for c in idle(snapshot) if c.id not in already]
        need = needed(snapshot, synchronous=True)
        rookies = [c for c in pool if c.invocations == 0]
        order = snapshot.rng(0).permutation(len(rookies))
        plans = [
            ClientPlan(rookies[int(i)].id, f"never invoked: rookies go first (of {len(rookies)})")
            for i in order[:need]
        ]
        rest = [c for c in pool if c.invocations > 0]
        n_tiers = 0
        if len(plans) < need and rest:
            times = [t for c in snapshot.clients.values() for t in c.train_times_s]
            t_max = max(times, default=0.0)
            x = features(rest, t_max, dict(state.late))
            labels = best_clusters(x)
            cost = x.sum(axis=1)
            tiers = sorted(
                set(labels.tolist()),
                key=lambda lab: (
                    float(cost[labels == lab].mean()),
                    min(rest[int(j)].id for j in np.flatnonzero(labels == lab)),
                ),
            )
            n_tiers = len(tiers)
            if state.first_clustered is None:
                state = replace(state, first_clustered=snapshot.round)
            first = state.first_clustered if state.first_clustered is not None else snapshot.round
            start = (
                0
                if self.planned_rounds is None
                else start_rank(snapshot.round, first, self.planned_rounds, n_tiers)
            )
            rng = snapshot.rng(1)
            for rank in [*range(start, n_tiers), *range(start)]:
                lab = tiers[rank]
                members = np.flatnonzero(labels == lab)
                mean = float(cost[members].mean())
                shuffled = members[rng.permutation(len(members))]
                for j in sorted(shuffled.tolist(), key=lambda j: rest[j].invocations):
                    if len(plans) >= need:
                        break
                    plans.append(
                        ClientPlan(
                            rest[j].id,
                            f"tier {rank + 1} of {n_tiers} (mean cost {mean:.4g} s; this round "
                            f"starts at tier {start + 1}); own EMA "
                            f"{x[j, 0]:.4g} s + missed-round penalty {x[j, 1]:.4g} s; "
                            f"{rest[j].invocations} invocations (least first in tier)",
                        )
                    )
                if len(plans) >= need:
                    break
        reason = (
            f"{self.name} round {snapshot.round}: {need} to pick among {len(pool)} idle "
            f"({len(rookies)} rookies, {len(rest)} clustered into {n_tiers} tiers); "
            f"picked {len(plans)}"
        )
        clock = round_clock(replace(snapshot, state=state.clock))
        return Selection(tuple(plans), reason, replace(state, clock=clock))

    def aggregate(self, snapshot: FlSnapshot) -> Aggregation:
        state = self._state(snapshot)
        r = snapshot.round
        agg = synchronous_aggregate(
            snapshot,
            name=self.name,
            max_staleness=snapshot.config.max_staleness,
            weigh=lambda res, _s: staleness_weight(res, r),
            round_timeout_s=self.round_timeout_s,
            round_started_s=started_s(snapshot, state.clock),
            state=snapshot.state,
        )
        gone = set(agg.discard) | set(agg.weights)
        late = dict(state.late)
        for res in snapshot.results:
            if res.key in gone and staleness(snapshot, res) >= 1:
                late[res.client] = late.get(res.client, 0) + 1
        if late == dict(state.late):
            return agg
        return replace(agg, state=replace(state, late=tuple(sorted(late.items()))))
