"""FedBuff (Nguyen et al., AISTATS 2022): asynchronous, buffered aggregation.

The controller keeps `clients_per_round` invocations in flight; each call to
`select` refills the free slots with idle clients drawn uniformly at random.
The server aggregates as soon as ceil(CR x clients_per_round) results are
buffered, counting results up to `max_staleness` rounds stale with weight
n_i / sqrt(1 + staleness) (normalised) and discarding staler ones. Stateless.
"""

from __future__ import annotations

from tessera.fl.strategies._common import buffered_aggregate, needed
from tessera.fl.strategy import STRATEGIES, Aggregation, ClientPlan, FlSnapshot, Selection, idle


@STRATEGIES.register("fedbuff")
class FedBuff:
    """Uniform random refills, buffered staleness-discounted aggregation."""

    name = "fedbuff"
    synchronous = False

    def select(self, snapshot: FlSnapshot) -> Selection:
        pool = [c.id for c in idle(snapshot)]
        need = needed(snapshot, synchronous=False)
        order = snapshot.rng(0).permutation(len(pool))
        picks = [pool[int(i)] for i in order[:need]]
        n = len(picks)
        in_flight = sum(1 for c in snapshot.clients.values() if c.busy)
        plans = tuple(
            ClientPlan(cid, f"uniform random refill {i + 1} of {n}") for i, cid in enumerate(picks)
        )
        reason = (
            f"{self.name} round {snapshot.round}: {need} free slots "
            f"({snapshot.config.clients_per_round} in flight wanted, {in_flight} busy), "
            f"uniform among {len(pool)} idle; picked {n}"
        )
        return Selection(plans, reason, snapshot.state)

    def aggregate(self, snapshot: FlSnapshot) -> Aggregation:
        return buffered_aggregate(snapshot, name=self.name, state=snapshot.state)
