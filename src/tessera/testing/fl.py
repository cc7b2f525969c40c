"""Conformance for FL strategies: purity plus the rules every selector/aggregator keeps.

`check_fl_strategy(strategy)` feeds a sequence of varied, valid `FlSnapshot`s
(each carrying the state the strategy returned for the previous question,
`select` then `aggregate`, as a controller keeping one state slot would) and
checks:

- same snapshot -> same answer (`select` and `aggregate` asked twice);
- no clock, file, network, environment or global randomness while deciding
  (`forbid_impurity`), and randomness only through `snapshot.rng(salt)` (no
  generator, bit generator, seed sequence or `random.Random` of its own);
- the snapshot is left unchanged;
- `select` picks known, idle clients, each once, never one already selected
  this round by a synchronous strategy, and never more than needed
  (synchronous: clients_per_round - selected; asynchronous:
  clients_per_round - invocations in flight); a reason on the selection and
  on every client;
- `aggregate` weighs and discards only results that arrived, never one
  result both ways; waiting means no weights; going means at least one
  weight, all non-negative, summing to 1 (what `combine` needs), and
  `server_lr` > 0; a reason.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import Any
from unittest import mock

import numpy as np

from tessera.fl.strategy import (
    Aggregation,
    ClientView,
    FlConfig,
    FlSnapshot,
    ResultView,
    Selection,
    Strategy,
)
from tessera.testing.conformance import ConformanceError, forbid_impurity

_REAL_DEFAULT_RNG = np.random.default_rng


@contextmanager
def _only_snapshot_rng(snapshot: FlSnapshot) -> Iterator[None]:
    """Allow `np.random.default_rng` only with the seeds `snapshot.rng(salt)` uses."""

    def guarded(seed: Any = None, *args: Any, **kwargs: Any) -> np.random.Generator:
        ok = (
            isinstance(seed, tuple)
            and len(seed) >= 3
            and seed == snapshot.rng_seed(seed[2])
            and not args
            and not kwargs
        )
        if not ok:
            raise ConformanceError(
                f"strategy made a generator from {seed!r}; use snapshot.rng(salt)"
            )
        return _REAL_DEFAULT_RNG(seed)

    def refused(name: str) -> type:
        """A class that cannot be built (a class, so numpy's own isinstance checks work)."""

        class Refused:
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                raise ConformanceError(f"strategy built {name}; use snapshot.rng(salt)")

        return Refused

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(np.random, "default_rng", guarded))
        # every other way to a generator of its own: a bit generator or seed sequence seeded
        # by the strategy (Generator(PCG64(round)) replays one draw), the legacy RandomState,
        # a private random.Random
        for name in _OTHER_GENERATORS:
            stack.enter_context(mock.patch.object(np.random, name, refused(f"np.random.{name}")))
        stack.enter_context(mock.patch.object(random, "Random", refused("random.Random")))
        yield


_OTHER_GENERATORS = (
    "Generator", "PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937", "SeedSequence",
    "RandomState",
)  # fmt: skip


def fl_snapshots(seed: int = 0, count: int = 40) -> list[FlSnapshot]:
    """Varied, valid snapshots: rookies and veterans, busy and failed clients, zero-sample
    clients, rounds partly answered, late and too-stale results, empty populations."""
    rng = np.random.default_rng(seed)
    out: list[FlSnapshot] = []
    key = 0
    for k in range(count):
        n = 0 if k % 13 == 5 else int(rng.integers(1, 16))
        config = FlConfig(
            clients_per_round=int(rng.integers(1, 8)),
            epochs=int(rng.integers(1, 4)),
            batch_size=int(rng.choice([8, 16, 32])),
            concurrency_ratio=float(rng.choice([0.3, 0.5, 1.0])),
            max_staleness=int(rng.integers(0, 4)),
        )
        rnd = int(rng.integers(0, 12))
        now = 100.0 + 37.0 * k
        ids = [f"c{i:02d}" for i in range(n)]
        in_round = {cid for cid in ids if rnd > 0 and rng.random() < 0.3}
        clients: dict[str, ClientView] = {}
        results: list[ResultView] = []
        for cid in ids:
            invocations = int(rng.integers(0, rnd + 1)) if rng.random() < 0.8 else 0
            invocations += cid in in_round
            done = int(rng.integers(0, invocations + 1))
            n_failed = int(rng.integers(0, 2)) if invocations else 0
            failed = tuple(sorted({int(x) for x in rng.integers(0, rnd + 1, n_failed)}))
            busy = invocations > 0 and rng.random() < 0.3
            n_samples = 0 if rng.random() < 0.1 else int(rng.integers(1, 500))
            clients[cid] = ClientView(
                id=cid,
                n_samples=n_samples,
                busy=busy,
                invocations=invocations,
                last_selected_round=(rnd if cid in in_round else max(0, rnd - 1))
                if invocations
                else None,
                train_times_s=tuple(float(t) for t in rng.exponential(20.0, done) + 0.5),
                rounds_done=tuple(sorted(int(r) for r in rng.integers(0, rnd + 1, done))),
                failed_rounds=failed,
                missed_rounds=int(rng.integers(0, done + 1)),
            )
            if cid in in_round and not busy and rng.random() < 0.7:
                results.append(ResultView(f"k{key}", cid, rnd, n_samples, 3.0))
                key += 1
            if invocations and rng.random() < 0.25:
                started = max(0, rnd - int(rng.integers(1, 7)))
                results.append(ResultView(f"k{key}", cid, started, n_samples, 4.0))
                key += 1
        out.append(
            FlSnapshot(
                round=rnd,
                now_s=now,
                clients=clients,
                config=config,
                seed=int(rng.integers(0, 1000)),
                selected=tuple(sorted(in_round)),
                results=tuple(results),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class FlAnswers:
    """What a strategy answered to one snapshot (both questions)."""

    snapshot: FlSnapshot
    selection: Selection
    aggregation: Aggregation


def _ask(strategy: Strategy, snap: FlSnapshot, question: str) -> Any:
    before = copy.deepcopy(snap)
    with forbid_impurity(), _only_snapshot_rng(snap):
        first = getattr(strategy, question)(snap)
        second = getattr(strategy, question)(copy.deepcopy(snap))
    if first != second:
        raise ConformanceError(
            f"{strategy.name}: same snapshot, different {question}():\n{first}\n{second}"
        )
    if snap != before:
        raise ConformanceError(f"{strategy.name}: {question}() modified its snapshot")
    return first


def check_selection(strategy: Strategy, snap: FlSnapshot, sel: Selection) -> None:
    """The rules every `Selection` keeps (see the module docstring)."""
    name = strategy.name
    if not isinstance(sel, Selection):
        raise ConformanceError(f"{name}: select() returned {type(sel).__name__}, not Selection")
    if not sel.reason.strip():
        raise ConformanceError(f"{name}: selection without a reason")
    ids = [p.client for p in sel.clients]
    if len(ids) != len(set(ids)):
        raise ConformanceError(f"{name}: selected a client twice: {ids}")
    for p in sel.clients:
        c = snap.clients.get(p.client)
        if c is None:
            raise ConformanceError(f"{name}: selected unknown client {p.client!r}")
        if c.busy:
            raise ConformanceError(f"{name}: selected busy client {p.client!r}")
        if strategy.synchronous and p.client in snap.selected:
            raise ConformanceError(f"{name}: selected {p.client!r} twice in round {snap.round}")
        if not p.reason.strip():
            raise ConformanceError(f"{name}: no reason for selecting {p.client!r}")
        if p.prox_mu < 0:
            raise ConformanceError(f"{name}: negative prox_mu for {p.client!r}")
    cpr = snap.config.clients_per_round
    if strategy.synchronous:
        need = max(0, cpr - len(set(snap.selected)))
    else:
        need = max(0, cpr - sum(1 for c in snap.clients.values() if c.busy))
    if len(ids) > need:
        raise ConformanceError(f"{name}: selected {len(ids)} clients, {need} needed")


def check_aggregation(strategy: Strategy, snap: FlSnapshot, agg: Aggregation) -> None:
    """The rules every `Aggregation` keeps (see the module docstring)."""
    name = strategy.name
    if not isinstance(agg, Aggregation):
        raise ConformanceError(f"{name}: aggregate() returned {type(agg).__name__}")
    if not agg.reason.strip():
        raise ConformanceError(f"{name}: aggregation without a reason")
    arrived = {r.key for r in snap.results}
    if not set(agg.weights) <= arrived:
        raise ConformanceError(
            f"{name}: weights for results that did not arrive: {set(agg.weights) - arrived}"
        )
    if not set(agg.discard) <= arrived:
        raise ConformanceError(
            f"{name}: discards results that did not arrive: {set(agg.discard) - arrived}"
        )
    if len(agg.discard) != len(set(agg.discard)):
        raise ConformanceError(f"{name}: discards a result twice")
    if set(agg.weights) & set(agg.discard):
        raise ConformanceError(f"{name}: weighs and discards {set(agg.weights) & set(agg.discard)}")
    if not agg.go:
        if agg.weights:
            raise ConformanceError(f"{name}: weights given while waiting")
        return
    if not agg.server_lr > 0:
        raise ConformanceError(f"{name}: server_lr {agg.server_lr} is not > 0")
    if not agg.weights:
        raise ConformanceError(f"{name}: aggregates with no weights (wait instead)")
    if any(not (w >= 0) for w in agg.weights.values()):
        raise ConformanceError(f"{name}: negative or NaN weights {dict(agg.weights)}")
    total = float(sum(agg.weights.values()))
    if abs(total - 1.0) > 1e-9:
        raise ConformanceError(f"{name}: weights sum to {total}, not 1")


def check_fl_strategy(
    strategy: Strategy, snapshots: Sequence[FlSnapshot] | None = None
) -> list[FlAnswers]:
    """Run the FL conformance checks on `strategy`; raise `ConformanceError` on the first breach."""
    if not isinstance(strategy, Strategy):
        raise ConformanceError(f"{strategy!r} lacks name, synchronous, select() or aggregate()")
    if not isinstance(strategy.synchronous, bool) or not strategy.name:
        raise ConformanceError(f"{strategy!r}: `name` must be non-empty, `synchronous` a bool")
    out = []
    state: Any = None
    for snap in snapshots if snapshots is not None else fl_snapshots():
        snap = replace(snap, state=state)
        sel = _ask(strategy, snap, "select")
        check_selection(strategy, snap, sel)
        snap = replace(snap, state=sel.state)
        agg = _ask(strategy, snap, "aggregate")
        check_aggregation(strategy, snap, agg)
        state = agg.state
        out.append(FlAnswers(snap, sel, agg))
    return out
