"""The synchronous baselines: FedAvg, FedProx and SCAFFOLD.

All three pick `clients_per_round` idle clients uniformly at random and
aggregate when every selected client of the round is accounted for (or the
round times out), with weights n_i / sum n over this round's results;
results started in earlier rounds are discarded. They differ only in what a
client is asked to do (`ClientPlan`: FedProx's proximal term mu, SCAFFOLD's
control variates) and, for SCAFFOLD, the server learning rate.

Each round's start time is kept in the state (`RoundClock`) so that
`round_timeout_s` (default 600 s, `tessera.sim.fl`'s round deadline) closes
a round with what arrived: the snapshot does not say when the controller's
deadline passed, so the strategy keeps the same clock.
"""

from __future__ import annotations

from tessera.core.errors import require
from tessera.fl.strategies._common import (
    ROUND_TIMEOUT_S,
    needed,
    round_clock,
    started_s,
    synchronous_aggregate,
)
from tessera.fl.strategy import (
    STRATEGIES,
    Aggregation,
    ClientPlan,
    FlSnapshot,
    ResultView,
    Selection,
    idle,
)


def _n_samples(result: ResultView, _staleness: int) -> float:
    return float(result.n_samples)


def uniform_selection(snapshot: FlSnapshot, name: str) -> tuple[list[str], str]:
    """Ids picked uniformly without replacement among idle, not yet selected clients."""
    already = set(snapshot.selected)
    pool = [c.id for c in idle(snapshot) if c.id not in already]
    need = needed(snapshot, synchronous=True)
    order = snapshot.rng(0).permutation(len(pool))
    picks = [pool[int(i)] for i in order[:need]]
    reason = (
        f"{name} round {snapshot.round}: {need} to pick "
        f"({snapshot.config.clients_per_round} per round - {len(already)} already selected), "
        f"uniform among {len(pool)} idle; picked {len(picks)}"
    )
    return picks, reason


@STRATEGIES.register("fedavg")
class FedAvg:
    """FedAvg (McMahan et al. 2017): uniform selection, sample-weighted synchronous average.

    `round_timeout_s`: close a round this long after its selection with the
    results that arrived; set it to the controller's round deadline (the
    snapshot does not say when that passed). None: wait until every selected
    client has answered, failed or stopped.
    """

    name = "fedavg"
    synchronous = True

    def __init__(self, round_timeout_s: float | None = ROUND_TIMEOUT_S) -> None:
        require(
            round_timeout_s is None or round_timeout_s > 0,
            f"{self.name}.round_timeout_s",
            round_timeout_s,
            "seconds > 0 or None",
        )
        self.round_timeout_s = round_timeout_s

    def _plan(self, client: str, reason: str) -> ClientPlan:
        return ClientPlan(client, reason)

    def _server_lr(self) -> float:
        return 1.0

    def select(self, snapshot: FlSnapshot) -> Selection:
        picks, reason = uniform_selection(snapshot, self.name)
        n = len(picks)
        plans = tuple(
            self._plan(cid, f"uniform random pick {i + 1} of {n}") for i, cid in enumerate(picks)
        )
        return Selection(plans, reason, round_clock(snapshot))

    def aggregate(self, snapshot: FlSnapshot) -> Aggregation:
        return synchronous_aggregate(
            snapshot,
            name=self.name,
            max_staleness=0,
            weigh=_n_samples,
            round_timeout_s=self.round_timeout_s,
            round_started_s=started_s(snapshot, snapshot.state),
            state=snapshot.state,
            server_lr=self._server_lr(),
        )


@STRATEGIES.register("fedprox")
class FedProx(FedAvg):
    """FedProx (Li et al. 2020): FedAvg whose clients add (mu/2)||w - w_global||^2 to their loss."""

    name = "fedprox"

    def __init__(self, mu: float = 0.01, round_timeout_s: float | None = ROUND_TIMEOUT_S) -> None:
        super().__init__(round_timeout_s)
        require(mu >= 0, "fedprox.mu", mu, "a number >= 0")
        self.mu = mu

    def _plan(self, client: str, reason: str) -> ClientPlan:
        return ClientPlan(client, f"{reason}; proximal mu={self.mu}", prox_mu=self.mu)


@STRATEGIES.register("scaffold")
class Scaffold(FedAvg):
    """SCAFFOLD (Karimireddy et al. 2020): clients correct their drift with control variates.

    The server applies the averaged update with `server_lr` (1: plain average).
    """

    name = "scaffold"

    def __init__(
        self, server_lr: float = 1.0, round_timeout_s: float | None = ROUND_TIMEOUT_S
    ) -> None:
        super().__init__(round_timeout_s)
        require(server_lr > 0, "scaffold.server_lr", server_lr, "a number > 0")
        self.server_lr = server_lr

    def _plan(self, client: str, reason: str) -> ClientPlan:
        return ClientPlan(client, f"{reason}; SCAFFOLD control variates", scaffold=True)

    def _server_lr(self) -> float:
        return self.server_lr
