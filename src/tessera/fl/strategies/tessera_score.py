"""Tessera's strategy: Apodotiko's score made cold-start aware, without rookies-first,
its aggregation weighted against over-sampled clients.

Apodotiko's score N * U / T measures how fast a client trains, but what a
serverless controller waits for is training *plus* the cold start of a
function instance that has been reclaimed. So the score is multiplied by the
share of the expected wall time that is training:

    score_c = booster_c x A_c x f_c,
    f_c = 1                    if c is warm,
    f_c = T_c / (T_c + C)      if c is cold,

where A_c is Apodotiko's decayed average of N * U / T, T_c the same decayed
average of the client's training times (so fast clients, for which a cold
start weighs most, lose most when cold), and C = `cold_start_s`. A client is
warm when it was last active within `keep_alive_s` (the platform's idle
keep-alive window): its last result arrived (seen by `aggregate`) or, until
one arrives, its estimated finish (selection time + T_c) was less than
`keep_alive_s` ago. Clients with no record in the state count as cold.

Second change: no "rookies first". Apodotiko invokes every never-invoked
client before any scored one, which puts every slow client into the first
waves, exactly when the model improves fastest. Tessera scores a client
without a completed invocation like the others, with the population's median
T_c as its training time (and as cold): unknown clients are drawn about as
often as a typical one, and the booster still brings each in eventually.

Third change: aggregation undoes the selection's bias. Sampling by score
draws fast clients far more often than slow ones, so with FedBuff's weights
n_i / sqrt(1 + staleness) their data dominate the model: with Apodotiko 50-70 %
of the aggregated updates come from the 20 % of clients on GPUs, and after 40
aggregations its accuracy trails FedBuff's (`benchmarks/fl_apodotiko_sensitivity.py`).
Each weight is therefore divided by the client's participation relative to
the population's mean (invocations_i / mean invocations), clipped to
[1 / `participation_clip`, `participation_clip`] (the importance weight
1 / p_i of non-uniform client sampling, estimated from counts and bounded
against the variance of rare clients), and the weights renormalised.

Everything else (booster, failure exclusion, proportional sampling without
replacement, FedBuff's buffer and staleness discount) is Apodotiko's.

Measured (digits, Dirichlet 0.5, 40/40/20 % 1-vCPU/2-vCPU/GPU clients, CR
0.5; FedBuff's time to 95 % of FedAvg's accuracy over Tessera's, median of
seeds 0-2; `python benchmarks/fl_apodotiko_sensitivity.py`, 50 clients):
10 in flight, training x1/x20/x100: 1.05/1.21/0.84 (without the participation
weighting, `participation_clip=1`: 1.01/0.86/0.75); 25 in flight:
1.17/1.23/1.11 (0.93/0.88/1.06). `tessera experiment apodotiko` (200 x 20):
65.9 s vs FedBuff's 64.6 s (67.0 s without); with 10 % failed and 20 %
delayed invocations 2,771 s vs 2,534 s (2,488 s without). The weighting was
chosen on seeds 10-15; the numbers above are the seeds the experiment uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from tessera.core.errors import require
from tessera.fl.strategies._common import normalise
from tessera.fl.strategies.apodotiko import (
    Apodotiko,
    ScoreState,
    decayed_average,
    decayed_rows,
    last_k,
    pairs,
)
from tessera.fl.strategy import STRATEGIES, Aggregation, ClientView, FlSnapshot


def warmth(train_time_s: float, cold_start_s: float, warm: bool) -> float:
    """The score multiplier: 1 when warm, else the training share T / (T + C) (0 if T = C = 0)."""
    if warm:
        return 1.0
    total = train_time_s + cold_start_s
    return train_time_s / total if total > 0 else 1.0


def participation_factor(invocations: int, mean: float, clip: float) -> float:
    """mean / invocations (a client drawn k times as often as the average weighs 1/k),
    clipped to [1/clip, clip]; 1 when either count is 0."""
    if invocations <= 0 or mean <= 0:
        return 1.0
    return min(max(mean / invocations, 1.0 / clip), clip)


@STRATEGIES.register("tessera")
class TesseraStrategy(Apodotiko):
    """Apodotiko with the cold-start-aware factor (see the module docstring).

    `cold_start_s`: expected cold-start delay of a client function (5 s: a
    Python function loading a small TensorFlow/PyTorch model on a FaaS
    platform); `keep_alive_s`: how long the platform keeps an idle instance
    (600 s: between Knative's defaults and the 10-15 min of Lambda/GCF);
    `rookies_first`: True restores Apodotiko's rookies-first rule;
    `participation_clip`: bound of the participation factor (1 turns it off).
    """

    name = "tessera"
    synchronous = False
    rookies_first = False

    def __init__(
        self,
        cold_start_s: float = 5.0,
        keep_alive_s: float = 600.0,
        k: int = 5,
        decay: float = 0.8,
        booster_rate: float = 1.2,
        penalty_rounds: int = 5,
        rookies_first: bool = False,
        participation_clip: float = 4.0,
    ) -> None:
        super().__init__(k, decay, booster_rate, penalty_rounds)
        self.rookies_first = rookies_first
        require(
            participation_clip >= 1,
            "tessera.participation_clip",
            participation_clip,
            "a number >= 1 (1: no participation weighting)",
        )
        self.participation_clip = participation_clip
        require(cold_start_s >= 0, "tessera.cold_start_s", cold_start_s, "seconds >= 0")
        require(keep_alive_s >= 0, "tessera.keep_alive_s", keep_alive_s, "seconds >= 0")
        self.cold_start_s = cold_start_s
        self.keep_alive_s = keep_alive_s

    def expected_train_s(self, client: ClientView) -> float:
        """T_c: the decayed average of the client's last `k` training times."""
        return decayed_average(client.train_times_s[-self.k :], self.k, self.decay)

    def _histories(
        self, clients: Sequence[ClientView], snapshot: FlSnapshot
    ) -> list[tuple[float, ...]]:
        """Own training times; a client without any gets the population's median T_c."""
        if all(c.train_times_s for c in clients):
            return [c.train_times_s for c in clients]
        known = [c.train_times_s for c in snapshot.clients.values() if c.train_times_s]
        typical = (
            float(np.median(decayed_rows(last_k(known, self.k), self.decay))) if known else 1.0
        )
        return [c.train_times_s or (typical,) for c in clients]

    def is_warm(self, client: ClientView, snapshot: FlSnapshot, state: ScoreState) -> bool:
        """Whether `client` was last active less than `keep_alive_s` ago (per the state)."""
        last = dict(state.last_active_s).get(client.id)
        return last is not None and snapshot.now_s - last < self.keep_alive_s

    def _factors(
        self,
        clients: Sequence[ClientView],
        snapshot: FlSnapshot,
        state: ScoreState,
        train_s: np.ndarray,
    ) -> np.ndarray:
        active = dict(state.last_active_s)
        last = np.array([active.get(c.id, -np.inf) for c in clients], dtype=float)
        warm = snapshot.now_s - last < self.keep_alive_s
        total = train_s + self.cold_start_s
        cold = np.divide(train_s, total, out=np.ones(len(clients)), where=total > 0)
        out: np.ndarray = np.where(warm, 1.0, cold)
        return out

    def _why(self, client: ClientView, factor: float, train_s: float) -> str:
        if factor == 1.0:
            return " x 1 (warm)"
        return (
            f" x {factor:.4g} (cold: T {train_s:.4g} s / (T + {self.cold_start_s:g} s cold start))"
        )

    def _remember(
        self, snapshot: FlSnapshot, state: ScoreState, picks: Sequence[ClientView]
    ) -> ScoreState:
        active = dict(state.last_active_s)
        for c in picks:
            active[c.id] = snapshot.now_s + self.expected_train_s(c)
        return replace(state, last_active_s=pairs(active))

    def aggregate(self, snapshot: FlSnapshot) -> Aggregation:
        """Apodotiko's buffered aggregation, each weight divided by the client's participation."""
        agg = super().aggregate(snapshot)
        if not agg.go or not agg.weights or self.participation_clip == 1.0:
            return agg
        counts = [c.invocations for c in snapshot.clients.values()]
        mean = sum(counts) / len(counts) if counts else 0.0
        client = {r.key: r.client for r in snapshot.results}
        factor = {
            key: participation_factor(
                snapshot.clients[client[key]].invocations, mean, self.participation_clip
            )
            for key in agg.weights
        }
        weights = normalise({key: w * factor[key] for key, w in agg.weights.items()})
        why = ", ".join(f"{client[k]} x {factor[k]:.3g}" for k in sorted(factor))
        return replace(
            agg,
            weights=weights,
            reason=f"{agg.reason}; participation (mean {mean:.3g} / invocations, clipped "
            f"to {self.participation_clip:g}x or 1/{self.participation_clip:g}): {why}",
        )

    def _observe(self, snapshot: FlSnapshot) -> object:
        """Record the arrival time of each result not seen before (its client is warm now)."""
        if not snapshot.results:
            return snapshot.state
        state = self._state(snapshot)
        active = dict(state.last_active_s)
        seen = dict(state.last_result)
        newest = {
            r.client: r for r in sorted(snapshot.results, key=lambda r: (r.round_started, r.key))
        }
        for cid, r in newest.items():
            if seen.get(cid) != r.key:
                seen[cid] = r.key
                active[cid] = snapshot.now_s
        if active == dict(state.last_active_s) and seen == dict(state.last_result):
            return snapshot.state
        return replace(state, last_active_s=pairs(active), last_result=tuple(sorted(seen.items())))
