"""Apodotiko (CCGrid'24): asynchronous serverless FL with scored client selection.

Each client's score rewards the data it contributes per second of training:
for one completed invocation with training time T (model.fit only),

    s = N * U / T,   U = N * E / B   (local updates: N samples, E epochs, B batch)

and its score is `booster x` the decayed average of s over its last k = 5
completed invocations (most recent weight 1, the one before 0.8, then 0.64 ...).
The booster grows x1.2 in every round the client is idle but not picked and
is reset to 1 when picked, so that slow clients still get their turn; it
lives in the strategy state (`ScoreState`).

Selection refills the free invocation slots: never-invoked clients first (in
random order), then sampling proportional to score, without replacement,
among idle clients; busy clients and clients whose invocation failed in the
last 5 rounds are excluded. Aggregation is FedBuff's (see `_common`).

`Apodotiko` also exposes hooks (`_factors`, `_remember`, `_observe`) that the
Tessera strategy uses to make the score cold-start aware. Scores are
computed for all candidates at once (numpy): with N and E/B fixed per
client, the decayed average of N * U / T is N^2 E / B times the decayed
average of 1 / T.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from tessera.core.errors import require
from tessera.fl.strategies._common import (
    MIN_TRAIN_TIME_S,
    buffered_aggregate,
    needed,
    sample_without_replacement,
)
from tessera.fl.strategy import (
    STRATEGIES,
    Aggregation,
    ClientPlan,
    ClientView,
    FlConfig,
    FlSnapshot,
    Selection,
    idle,
)


@dataclass(frozen=True, slots=True)
class ScoreState:
    """Memory of the scored strategies between calls (pairs sorted by client id).

    `boosters`: clients whose booster is not 1; `boosted_round`: the last
    round whose boosters were raised (once per round, however many refills).
    `last_active_s` / `last_result` are the Tessera strategy's: when each
    client was last seen active, and the key of its last result seen.
    """

    boosters: tuple[tuple[str, float], ...] = ()
    boosted_round: int | None = None
    last_active_s: tuple[tuple[str, float], ...] = ()
    last_result: tuple[tuple[str, str], ...] = ()


MAX_BOOSTER = 1e12
"""Boosters stop growing here: a client that can never be drawn (no data, score 0) would
otherwise reach 1.2^3900 = inf after ~3900 rounds, and inf x 0 is NaN."""


def pairs(d: dict[str, float]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted(d.items()))


def throughput(n_samples: int, epochs: int, batch_size: int, train_time_s: float) -> float:
    """Apodotiko's per-invocation score N * U / T with U = N * E / B local updates."""
    updates = n_samples * epochs / batch_size
    return n_samples * updates / max(train_time_s, MIN_TRAIN_TIME_S)


def last_k(series: Sequence[Sequence[float]], k: int) -> np.ndarray:
    """Rows of each series' last `k` values, right-aligned, NaN-padded on the left."""
    out = np.full((len(series), k), np.nan)
    for i, values in enumerate(series):
        tail = values[-k:]
        if len(tail):
            out[i, k - len(tail) :] = tail
    return out


def decayed_rows(m: np.ndarray, decay: float) -> np.ndarray:
    """`decayed_average` of each row of a `last_k` matrix (NaN entries skipped; 0 if none)."""
    k = m.shape[1]
    w = decay ** np.arange(k - 1, -1, -1, dtype=float)  # newest (last column) weight 1
    present = ~np.isnan(m)
    num = np.where(present, m, 0.0) @ w
    den = present.astype(float) @ w
    out: np.ndarray = np.divide(num, den, out=np.zeros(len(m)), where=den > 0)
    return out


def decayed_average(values: Sequence[float], k: int = 5, decay: float = 0.8) -> float:
    """Weighted average of the last `k` values (oldest first in `values`): newest weight 1,
    then `decay`, `decay`^2 ...; 0 when there are none."""
    last = list(values[-k:])
    if not last:
        return 0.0
    weights = [decay**i for i in range(len(last))]
    return sum(w * v for w, v in zip(weights, reversed(last), strict=True)) / sum(weights)


def recently_failed(client: ClientView, round_: int, penalty_rounds: int) -> bool:
    """True if an invocation of `client` failed in rounds round-penalty_rounds .. round."""
    return any(0 <= round_ - f <= penalty_rounds for f in client.failed_rounds)


@STRATEGIES.register("apodotiko")
class Apodotiko:
    """Scored asynchronous selection + buffered aggregation (see the module docstring).

    `k`: completed invocations averaged; `decay`: weight ratio between
    consecutive ones; `booster_rate`: growth per round idle and not picked;
    `penalty_rounds`: how long a failure excludes a client.
    """

    name = "apodotiko"
    synchronous = False

    def __init__(
        self,
        k: int = 5,
        decay: float = 0.8,
        booster_rate: float = 1.2,
        penalty_rounds: int = 5,
    ) -> None:
        require(k >= 1, f"{self.name}.k", k, "an integer >= 1")
        require(0 < decay <= 1, f"{self.name}.decay", decay, "a number in (0, 1]")
        require(booster_rate >= 1, f"{self.name}.booster_rate", booster_rate, "a number >= 1")
        require(penalty_rounds >= 0, f"{self.name}.penalty_rounds", penalty_rounds, ">= 0")
        self.k = k
        self.decay = decay
        self.booster_rate = booster_rate
        self.penalty_rounds = penalty_rounds

    # -- the score ---------------------------------------------------------

    rookies_first = True
    """Never-invoked clients are picked before any scored one (Apodotiko's rule)."""

    def base_scores(
        self,
        clients: Sequence[ClientView],
        config: FlConfig,
        histories: Sequence[Sequence[float]] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(decayed average of N * U / T, decayed average of T) per client, last `k` runs.

        `histories`: the training times to use (default: each client's own)."""
        series = histories if histories is not None else [c.train_times_s for c in clients]
        times = last_k(series, self.k)
        n = np.array([c.n_samples for c in clients], dtype=float)
        inv_t = 1.0 / np.maximum(times, MIN_TRAIN_TIME_S)
        base = n * n * config.epochs / config.batch_size * decayed_rows(inv_t, self.decay)
        return base, decayed_rows(times, self.decay)

    def base_score(self, client: ClientView, config: FlConfig) -> float:
        """Decayed average of N * U / T over the client's last `k` completed invocations."""
        return float(self.base_scores([client], config)[0][0])

    def _histories(
        self, clients: Sequence[ClientView], snapshot: FlSnapshot
    ) -> list[tuple[float, ...]]:
        """The training times each client is scored on (Apodotiko: its own)."""
        return [c.train_times_s for c in clients]

    def _factors(
        self,
        clients: Sequence[ClientView],
        snapshot: FlSnapshot,
        state: ScoreState,
        train_s: np.ndarray,
    ) -> np.ndarray:
        """A multiplier on each client's score (Apodotiko: none); `train_s`: expected T."""
        return np.ones(len(clients))

    def _why(self, client: ClientView, factor: float, train_s: float) -> str:
        """How `_factors` treated `client`, for its reason (Apodotiko: nothing to say)."""
        return ""

    def _remember(
        self, snapshot: FlSnapshot, state: ScoreState, picks: Sequence[ClientView]
    ) -> ScoreState:
        """What else to keep after a selection (Apodotiko: nothing)."""
        return state

    def _state(self, snapshot: FlSnapshot) -> ScoreState:
        return snapshot.state if isinstance(snapshot.state, ScoreState) else ScoreState()

    # -- the two questions -------------------------------------------------

    def select(self, snapshot: FlSnapshot) -> Selection:
        state = self._state(snapshot)
        need = needed(snapshot, synchronous=False)
        free = idle(snapshot)
        barred = [c.id for c in free if recently_failed(c, snapshot.round, self.penalty_rounds)]
        eligible = [c for c in free if c.id not in barred]
        head = (
            f"{self.name} round {snapshot.round}: {need} free slots, "
            f"{len(eligible)} eligible of {len(free)} idle"
        )
        if barred:
            head += (
                f" (excluded, failed in the last {self.penalty_rounds} rounds: {', '.join(barred)})"
            )
        if need == 0 or not eligible:
            return Selection((), f"{head}; nothing to pick", snapshot.state)

        boosters = dict(state.boosters)
        rookies = [c for c in eligible if c.invocations == 0] if self.rookies_first else []
        order = snapshot.rng(0).permutation(len(rookies))
        picked = [rookies[int(i)] for i in order[:need]]
        plans = [
            ClientPlan(c.id, f"never invoked: rookies go first ({i + 1} of {len(rookies)})")
            for i, c in enumerate(picked)
        ]
        scored = [c for c in eligible if c.invocations > 0 or not self.rookies_first]
        rest = need - len(picked)
        if rest > 0 and scored:
            histories = self._histories(scored, snapshot)
            base, train_s = self.base_scores(scored, snapshot.config, histories)
            booster = np.array([boosters.get(c.id, 1.0) for c in scored])
            factor = self._factors(scored, snapshot, state, train_s)
            score = booster * base * factor
            index = {c.id: i for i, c in enumerate(scored)}
            for cid, p in sample_without_replacement(
                snapshot.rng(1), list(index), score.tolist(), rest
            ):
                i = index[cid]
                c = scored[i]
                picked.append(c)
                prior = "" if histories[i] is c.train_times_s else " (prior T)"
                why = self._why(c, float(factor[i]), float(train_s[i]))
                plans.append(
                    ClientPlan(
                        cid,
                        f"score {score[i]:.4g} = booster {booster[i]:.4g} x decayed N*U/T "
                        f"{base[i]:.4g}{prior}{why}; drawn with p={p:.4f}",
                    )
                )

        chosen = {c.id for c in picked}
        for cid in chosen:
            boosters.pop(cid, None)
        boosted = state.boosted_round
        if boosted != snapshot.round:
            for c in eligible:
                if c.id not in chosen:
                    boosters[c.id] = min(boosters.get(c.id, 1.0) * self.booster_rate, MAX_BOOSTER)
            boosted = snapshot.round
        new_state = self._remember(
            snapshot, replace(state, boosters=pairs(boosters), boosted_round=boosted), picked
        )
        n_first = min(len(rookies), need)
        reason = f"{head}; picked {n_first} rookies first and {len(picked) - n_first} by score"
        return Selection(tuple(plans), reason, new_state)

    def _observe(self, snapshot: FlSnapshot) -> object:
        """The state to return from `aggregate` (Apodotiko: unchanged)."""
        return snapshot.state

    def aggregate(self, snapshot: FlSnapshot) -> Aggregation:
        return buffered_aggregate(snapshot, name=self.name, state=self._observe(snapshot))
