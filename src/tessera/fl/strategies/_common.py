"""Rules several FL strategies share, written once so they cannot drift apart.

- how many clients a `select` call may add (synchronous: fill the round;
  asynchronous: refill the invocations in flight);
- when a synchronous round is complete (every selected client accounted for,
  or the round timed out);
- FedBuff-style buffered aggregation (wait for ceil(CR x clients_per_round)
  results, weight n_i / sqrt(1 + staleness));
- weighted sampling without replacement, drawn one pick at a time so that
  each pick's probability can be reported in its reason.

Everything here is a pure function of its arguments.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tessera.fl.strategy import Aggregation, FlSnapshot, ResultView

MIN_TRAIN_TIME_S = 1e-6
"""Training times are clamped to this before dividing (a 0 s measurement is a glitch)."""


def staleness(snapshot: FlSnapshot, result: ResultView) -> int:
    """Rounds between the result's start and the aggregation being decided (>= 0)."""
    return max(0, snapshot.round - result.round_started)


def needed(snapshot: FlSnapshot, synchronous: bool) -> int:
    """How many clients this `select` call may add at most.

    Synchronous: `clients_per_round` minus the clients already selected this
    round. Asynchronous: `clients_per_round` minus the invocations in flight
    (clients marked busy, whatever round invoked them).
    """
    cpr = snapshot.config.clients_per_round
    if synchronous:
        return max(0, cpr - len(set(snapshot.selected)))
    return max(0, cpr - sum(1 for c in snapshot.clients.values() if c.busy))


def buffer_size(snapshot: FlSnapshot) -> int:
    """ceil(CR x clients_per_round), at least 1 and at most the number of clients.

    A 1e-9 guard keeps float noise (0.3 x 10 = 3.0000000000000004) from adding one.
    """
    cfg = snapshot.config
    k = math.ceil(cfg.concurrency_ratio * cfg.clients_per_round - 1e-9)
    return max(1, min(k, max(1, len(snapshot.clients))))


def normalise(raw: Mapping[str, float]) -> dict[str, float]:
    """Scale non-negative weights to sum to 1 (uniform when they sum to 0)."""
    total = float(sum(raw.values()))
    if total <= 0:
        return {k: 1.0 / len(raw) for k in raw}
    return {k: v / total for k, v in raw.items()}


def sample_without_replacement(
    rng: np.random.Generator, ids: Sequence[str], weights: Sequence[float], k: int
) -> list[tuple[str, float]]:
    """Pick `k` ids one at a time, each with probability weight / remaining weight.

    Returns (id, probability at its pick). Zero-weight ids are only picked
    once every positive one is gone, then uniformly.
    """
    left = list(ids)
    w = np.asarray(weights, dtype=float)
    picked: list[tuple[str, float]] = []
    for _ in range(min(k, len(left))):
        total = float(w.sum())
        probs = w / total if total > 0 else np.full(len(left), 1.0 / len(left))
        i = int(rng.choice(len(left), p=probs))
        picked.append((left.pop(i), float(probs[i])))
        w = np.delete(w, i)
    return picked


def waiting_for(snapshot: FlSnapshot) -> list[str]:
    """Clients selected this round still expected to answer (sorted).

    A selected client is accounted for once a result it started this round
    has arrived, or an invocation of it failed or timed out this round
    (`failed_rounds`), or it is no longer busy (its invocation ended without
    a usable result).
    """
    arrived = {r.client for r in snapshot.results if r.round_started == snapshot.round}
    out = []
    for cid in sorted(set(snapshot.selected)):
        c = snapshot.clients.get(cid)
        if cid in arrived or c is None or snapshot.round in c.failed_rounds or not c.busy:
            continue
        out.append(cid)
    return out


ROUND_TIMEOUT_S = 600.0
"""Default round deadline of the synchronous strategies: `tessera.sim.fl`'s default."""

DEADLINE_SLACK_S = 1e-6
"""A round counts as timed out this close to its deadline (float noise in now + timeout - now)."""


@dataclass(frozen=True, slots=True)
class RoundClock:
    """A synchronous strategy's memory: when (virtual or wall time) its round started."""

    round: int
    started_s: float


def round_clock(snapshot: FlSnapshot) -> RoundClock:
    """The clock to return from `select`: kept if it is this round's, else started now."""
    st = snapshot.state
    if isinstance(st, RoundClock) and st.round == snapshot.round:
        return st
    return RoundClock(snapshot.round, snapshot.now_s)


def started_s(snapshot: FlSnapshot, clock: object) -> float | None:
    """When this round started, if `clock` is this round's `RoundClock`."""
    if isinstance(clock, RoundClock) and clock.round == snapshot.round:
        return clock.started_s
    return None


def _describe(weights: Mapping[str, float], results: Sequence[ResultView], s: Sequence[int]) -> str:
    return ", ".join(
        f"{r.client}@r{r.round_started} w={weights[r.key]:.4f} (n={r.n_samples}, staleness {si})"
        for r, si in zip(results, s, strict=True)
    )


def _split(
    snapshot: FlSnapshot, max_staleness: int
) -> tuple[list[ResultView], list[int], tuple[str, ...], str]:
    usable, s_usable, discard, notes = [], [], [], []
    for r in sorted(snapshot.results, key=lambda r: r.key):
        s = staleness(snapshot, r)
        if s <= max_staleness:
            usable.append(r)
            s_usable.append(s)
        else:
            discard.append(r.key)
            notes.append(f"{r.client}@r{r.round_started} (staleness {s} > {max_staleness})")
    dropped = f"; discarded {', '.join(notes)}" if notes else ""
    return usable, s_usable, tuple(discard), dropped


def synchronous_aggregate(
    snapshot: FlSnapshot,
    *,
    name: str,
    max_staleness: int,
    weigh: Callable[[ResultView, int], float],
    round_timeout_s: float | None,
    round_started_s: float | None,
    state: object,
    server_lr: float = 1.0,
) -> Aggregation:
    """Aggregate once the round is complete (or timed out), with results up to `max_staleness`.

    The round times out `round_timeout_s` after `round_started_s` (both
    known: else it waits for every selected client). Raw weights come from
    `weigh(result, staleness)` and are normalised. Results staler than
    `max_staleness` are discarded at once (they can never be used). A
    complete round without a usable result waits (nothing to average); the
    controller closes it at its deadline.
    """
    usable, s_usable, discard, dropped = _split(snapshot, max_staleness)
    if not snapshot.selected:
        return Aggregation(
            False, discard=discard, reason=f"{name}: no client selected yet{dropped}", state=state
        )
    waiting = waiting_for(snapshot)
    timed_out = bool(waiting) and (
        snapshot.deadline_passed
        or (
            round_timeout_s is not None
            and round_started_s is not None
            and snapshot.now_s - round_started_s >= round_timeout_s - DEADLINE_SLACK_S
        )
    )
    if waiting and not timed_out:
        n_sel = len(set(snapshot.selected))
        return Aggregation(
            False,
            discard=discard,
            reason=f"{name}: waiting for {len(waiting)} of {n_sel} selected "
            f"({', '.join(waiting)}){dropped}",
            state=state,
        )
    why = (
        f"round deadline passed, {len(waiting)} still running"
        if timed_out
        else "every selected client accounted for"
    )
    if not usable:
        return Aggregation(
            False,
            discard=discard,
            reason=f"{name}: {why} but no usable result; nothing to aggregate{dropped}",
            state=state,
        )
    weights = normalise({r.key: weigh(r, s) for r, s in zip(usable, s_usable, strict=True)})
    return Aggregation(
        True,
        weights,
        discard,
        f"{name}: {why}; {_describe(weights, usable, s_usable)}{dropped}",
        server_lr,
        state,
    )


def buffered_weight(result: ResultView, s: int) -> float:
    """FedBuff's staleness-discounted weight: n_i / sqrt(1 + staleness)."""
    return result.n_samples / math.sqrt(1.0 + s)


def buffered_aggregate(snapshot: FlSnapshot, *, name: str, state: object) -> Aggregation:
    """FedBuff/Apodotiko aggregation: go once `buffer_size` usable results are in.

    Usable: staleness <= `max_staleness`; weights n_i / sqrt(1 + staleness),
    normalised (uniform discount when every n_i is 0); staler results are
    discarded at once. Also goes with fewer results when no client is busy
    any more (nothing else can arrive before the next selection).
    """
    cfg = snapshot.config
    usable, s_usable, discard, dropped = _split(snapshot, cfg.max_staleness)
    k = buffer_size(snapshot)
    in_flight = sum(1 for c in snapshot.clients.values() if c.busy)
    if len(usable) < k and not (usable and in_flight == 0):
        return Aggregation(
            False,
            discard=discard,
            reason=f"{name}: {len(usable)} of {k} results buffered "
            f"(ceil(CR {cfg.concurrency_ratio} x {cfg.clients_per_round})){dropped}",
            state=state,
        )
    raw = {r.key: buffered_weight(r, s) for r, s in zip(usable, s_usable, strict=True)}
    if sum(raw.values()) <= 0:
        raw = {r.key: 1.0 / math.sqrt(1.0 + s) for r, s in zip(usable, s_usable, strict=True)}
    weights = normalise(raw)
    why = (
        f"{len(usable)} >= {k} results buffered"
        if len(usable) >= k
        else f"only {len(usable)} of {k} results but no invocation in flight"
    )
    return Aggregation(
        True,
        weights,
        discard,
        f"{name}: {why}; weights n/sqrt(1+staleness): {_describe(weights, usable, s_usable)}{dropped}",
        1.0,
        state,
    )
