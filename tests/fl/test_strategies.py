"""The FL strategies: each published formula checked exactly, and every strategy conforms."""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tessera.fl.strategies  # noqa: F401  (registers the strategies)
from tessera.core.errors import InputError
from tessera.fl.strategies import (
    Apodotiko,
    FedAvg,
    FedBuff,
    FedLesScan,
    FedProx,
    Scaffold,
    ScoreState,
    TesseraStrategy,
)
from tessera.fl.strategies._common import RoundClock, buffer_size, sample_without_replacement
from tessera.fl.strategies.apodotiko import (
    decayed_average,
    decayed_rows,
    last_k,
    recently_failed,
    throughput,
)
from tessera.fl.strategies.clustering import (
    NOISE,
    best_clusters,
    calinski_harabasz,
    dbscan,
    distances,
)
from tessera.fl.strategies.fedlesscan import (
    ScanState,
    ema,
    features,
    misses,
    staleness_weight,
    start_rank,
)
from tessera.fl.strategies.tessera_score import participation_factor, warmth
from tessera.fl.strategy import (
    STRATEGIES,
    Aggregation,
    ClientPlan,
    ClientView,
    FlConfig,
    FlSnapshot,
    ResultView,
    Selection,
    combine,
    create,
)
from tessera.testing.conformance import ConformanceError
from tessera.testing.fl import check_fl_strategy, fl_snapshots

ALL = ("apodotiko", "fedavg", "fedbuff", "fedlesscan", "fedprox", "scaffold", "tessera")


def cv(cid: str, n: int = 100, **kw: Any) -> ClientView:
    if "train_times_s" in kw and "rounds_done" not in kw:
        kw["rounds_done"] = tuple(range(len(kw["train_times_s"])))
    return ClientView(cid, n, **kw)


def snap(
    clients: list[ClientView],
    round_: int = 0,
    *,
    selected: tuple[str, ...] = (),
    results: tuple[ResultView, ...] = (),
    state: Any = None,
    now_s: float = 1000.0,
    seed: int = 0,
    **cfg: Any,
) -> FlSnapshot:
    return FlSnapshot(
        round=round_,
        now_s=now_s,
        clients={c.id: c for c in clients},
        config=FlConfig(**cfg),
        seed=seed,
        selected=selected,
        results=results,
        state=state,
    )


def res(key: str, client: str, round_started: int, n: int) -> ResultView:
    return ResultView(key, client, round_started, n, 1.0)


def picked(sel: Selection) -> list[str]:
    return [p.client for p in sel.clients]


# -- registry and conformance ------------------------------------------------


def test_all_strategies_registered_and_created_from_config() -> None:
    assert set(ALL) <= set(STRATEGIES.names())
    prox = create({"kind": "fedprox", "mu": 0.1})
    assert isinstance(prox, FedProx) and prox.mu == 0.1
    with pytest.raises(InputError, match="parameters"):
        create({"kind": "fedbuff", "nope": 1})


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_registered_strategies_conform(name: str) -> None:
    answers = check_fl_strategy(STRATEGIES.create(name))
    assert len(answers) == len(fl_snapshots())
    assert any(a.selection.clients for a in answers)
    assert any(a.aggregation.go and a.aggregation.weights for a in answers)


class _Base:
    name = "bad"
    synchronous = False

    def select(self, snapshot: FlSnapshot) -> Selection:
        return Selection((), "nothing")

    def aggregate(self, snapshot: FlSnapshot) -> Aggregation:
        return Aggregation(False, reason="wait")


class GlobalRandom(_Base):
    def select(self, snapshot: FlSnapshot) -> Selection:
        ids = sorted(snapshot.clients)
        return Selection((ClientPlan(random.choice(ids), "r"),) if ids else (), "r")


class OwnGenerator(_Base):
    def select(self, snapshot: FlSnapshot) -> Selection:
        np.random.default_rng(42)
        return Selection((), "own")


class OwnBitGenerator(_Base):
    def select(self, snapshot: FlSnapshot) -> Selection:
        np.random.Generator(np.random.PCG64(snapshot.round))  # replays one draw per round
        return Selection((), "own")


class OwnRandom(_Base):
    def select(self, snapshot: FlSnapshot) -> Selection:
        random.Random(snapshot.round)
        return Selection((), "own")


class PicksBusy(_Base):
    def select(self, snapshot: FlSnapshot) -> Selection:
        busy = [c.id for c in snapshot.clients.values() if c.busy]
        return Selection(tuple(ClientPlan(b, "busy") for b in busy[:1]), "busy")


class TooMany(_Base):
    def select(self, snapshot: FlSnapshot) -> Selection:
        free = [c.id for c in snapshot.clients.values() if not c.busy]
        return Selection(tuple(ClientPlan(c, "all") for c in free), "all")


class NoReason(_Base):
    def select(self, snapshot: FlSnapshot) -> Selection:
        free = [c.id for c in snapshot.clients.values() if not c.busy][:1]
        return Selection(tuple(ClientPlan(c, " ") for c in free), "x")


class BadWeights(_Base):
    def aggregate(self, snapshot: FlSnapshot) -> Aggregation:
        if not snapshot.results:
            return Aggregation(False, reason="wait")
        return Aggregation(True, {r.key: 1.0 for r in snapshot.results}, reason="ones")


class DiscardsUnknown(_Base):
    def aggregate(self, snapshot: FlSnapshot) -> Aggregation:
        return Aggregation(False, discard=("ghost",), reason="ghost")


class Flaky(_Base):
    def __init__(self) -> None:
        self.calls = 0

    def aggregate(self, snapshot: FlSnapshot) -> Aggregation:
        self.calls += 1
        return Aggregation(False, reason=f"call {self.calls}")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (GlobalRandom(), "global random"),
        (OwnGenerator(), "snapshot.rng"),
        (OwnBitGenerator(), "np.random.PCG64"),
        (OwnRandom(), "random.Random"),
        (PicksBusy(), "busy client"),
        (TooMany(), "needed"),
        (NoReason(), "no reason"),
        (BadWeights(), "sum to"),
        (DiscardsUnknown(), "did not arrive"),
        (Flaky(), "different aggregate"),
    ],
)
def test_conformance_catches_breaches(bad: Any, message: str) -> None:
    with pytest.raises(ConformanceError, match=message):
        check_fl_strategy(bad)


# -- shared rules --------------------------------------------------------------


def test_buffer_size_is_ceil_of_cr_times_clients_without_float_noise() -> None:
    clients = [cv(f"c{i}") for i in range(20)]
    assert buffer_size(snap(clients, clients_per_round=10, concurrency_ratio=0.3)) == 3
    assert buffer_size(snap(clients, clients_per_round=10, concurrency_ratio=0.25)) == 3
    assert buffer_size(snap(clients, clients_per_round=10, concurrency_ratio=1.0)) == 10
    assert buffer_size(snap(clients[:4], clients_per_round=10, concurrency_ratio=1.0)) == 4


def test_sampling_without_replacement_reports_probabilities_and_keeps_zero_weights_last() -> None:
    rng = np.random.default_rng(0)
    out = sample_without_replacement(rng, ["a", "b", "z"], [3.0, 0.0, 1.0], 3)
    assert {c for c, _ in out[:2]} == {"a", "z"} and out[2] == ("b", 1.0)
    first, p = out[0]
    assert p == {"a": 0.75, "z": 0.25}[first]
    assert out[1][1] == 1.0


# -- FedAvg, FedProx, SCAFFOLD ---------------------------------------------------


def test_fedavg_selects_clients_per_round_uniformly_among_idle() -> None:
    clients = [cv(f"c{i}", busy=(i == 0)) for i in range(11)]
    counts: Counter[str] = Counter()
    for seed in range(400):
        sel = FedAvg().select(snap(clients, seed=seed, clients_per_round=5))
        ids = picked(sel)
        assert len(ids) == 5 and len(set(ids)) == 5 and "c0" not in ids
        counts.update(ids)
    assert set(counts) == {f"c{i}" for i in range(1, 11)}
    # each idle client is picked with probability 5/10: 200 of 400 expected
    assert all(150 < n < 250 for n in counts.values())
    again = FedAvg().select(snap(clients, seed=7, clients_per_round=5))
    assert again == FedAvg().select(snap(clients, seed=7, clients_per_round=5))


def test_fedavg_fills_only_what_the_round_lacks() -> None:
    clients = [cv(f"c{i}") for i in range(6)]
    sel = FedAvg().select(snap(clients, 3, selected=("c1", "c2"), clients_per_round=3))
    assert len(sel.clients) == 1 and picked(sel)[0] not in ("c1", "c2")


def test_fedavg_waits_for_every_selected_client_then_weighs_by_samples() -> None:
    clients = [cv("a", 10), cv("b", 30, busy=True), cv("c", 60)]
    s = snap(clients, 4, selected=("a", "b"), results=(res("ka", "a", 4, 10),))
    wait = FedAvg().aggregate(s)
    assert not wait.go and "waiting for 1 of 2" in wait.reason and "b" in wait.reason
    clients[1] = cv("b", 30)
    done = FedAvg().aggregate(
        replace(
            s,
            clients={c.id: c for c in clients},
            results=(res("ka", "a", 4, 10), res("kb", "b", 4, 30), res("old", "c", 3, 60)),
        )
    )
    assert done.go and done.weights == {"ka": 0.25, "kb": 0.75}
    assert done.discard == ("old",) and "staleness 1 > 0" in done.reason


def test_fedavg_counts_a_failed_client_as_done_and_never_goes_empty() -> None:
    clients = [cv("a", 10), cv("b", 30, busy=True, failed_rounds=(4,), invocations=1)]
    s = snap(clients, 4, selected=("a", "b"), results=(res("ka", "a", 4, 10),))
    assert FedAvg().aggregate(s).weights == {"ka": 1.0}
    empty = FedAvg().aggregate(replace(s, results=()))
    assert not empty.go and not empty.weights and "nothing to aggregate" in empty.reason


def test_fedavg_round_timeout_closes_the_round_with_what_arrived() -> None:
    clients = [cv("a", 10), cv("b", 30, busy=True)]
    strat = FedAvg(round_timeout_s=60.0)
    sel = strat.select(snap(clients, 2, now_s=100.0, clients_per_round=2))
    assert sel.state.started_s == 100.0
    s = snap(clients, 2, selected=("a", "b"), results=(res("ka", "a", 2, 10),), state=sel.state)
    assert not strat.aggregate(replace(s, now_s=159.0)).go
    late = strat.aggregate(replace(s, now_s=160.0))
    assert late.go and late.weights == {"ka": 1.0} and "deadline passed" in late.reason
    # the default matches tessera.sim.fl's deadline, float noise included
    t0 = 3647.482804919992  # (t0 + 600) - t0 < 600 in floats
    clock = FedAvg().select(snap(clients, 2, now_s=t0, clients_per_round=2)).state
    at_deadline = replace(s, now_s=t0 + 600.0, state=clock)
    assert t0 + 600.0 - t0 < 600.0 and FedAvg().aggregate(at_deadline).go
    assert not FedAvg(round_timeout_s=None).aggregate(at_deadline).go
    # the driver's word is enough: no clock of the strategy's own needed
    told = replace(at_deadline, deadline_passed=True)
    assert FedAvg(round_timeout_s=None).aggregate(told).go


def test_fedprox_and_scaffold_plans_and_server_lr() -> None:
    clients = [cv(f"c{i}") for i in range(4)]
    sel = FedProx(mu=0.05).select(snap(clients, clients_per_round=2))
    assert all(p.prox_mu == 0.05 and not p.scaffold for p in sel.clients)
    assert FedProx().mu == 0.01
    with pytest.raises(InputError, match=r"fedprox\.mu"):
        FedProx(mu=-1)
    sc = Scaffold(server_lr=0.5)
    assert all(p.scaffold and p.prox_mu == 0 for p in sc.select(snap(clients)).clients)
    s = snap(clients, 0, selected=("c0",), results=(res("k", "c0", 0, 100),))
    agg = sc.aggregate(s)
    assert agg.go and agg.server_lr == 0.5
    g = np.zeros(3)
    assert np.allclose(combine(g, {"k": np.ones(3)}, agg), 0.5)


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=8))
@settings(max_examples=40, deadline=None)
def test_fedavg_of_identical_models_is_that_model(ns: list[int]) -> None:
    clients = [cv(f"c{i}", n) for i, n in enumerate(ns)]
    results = tuple(res(f"k{i}", f"c{i}", 0, n) for i, n in enumerate(ns))
    agg = FedAvg().aggregate(snap(clients, selected=tuple(c.id for c in clients), results=results))
    model = np.array([1.5, -2.0, 3.0])
    assert np.allclose(combine(np.zeros(3), {r.key: model for r in results}, agg), model)
    assert math.isclose(sum(agg.weights.values()), 1.0)


# -- FedBuff -------------------------------------------------------------------------


def test_fedbuff_refills_free_slots_uniformly() -> None:
    clients = [cv(f"c{i}", busy=i < 3) for i in range(10)]
    sel = FedBuff().select(snap(clients, clients_per_round=5))
    assert len(sel.clients) == 2 and not set(picked(sel)) & {"c0", "c1", "c2"}
    full = FedBuff().select(snap(clients, clients_per_round=3))
    assert full.clients == () and "0 free slots" in full.reason


def test_refills_within_a_round_draw_afresh() -> None:
    """An asynchronous round is refilled at every arrival: each refill must draw anew, not
    replay the round's first permutation over the changed idle pool (which re-picked the
    client that had just finished, so fast clients were favoured: 38% of FedBuff's
    invocations went to a 20% GPU share)."""
    clients = [cv(f"c{i}") for i in range(40)]
    first = snap(clients, 3)
    assert first.rng_seed(0) == (0, 3, 0)  # a round's first draw: as before
    later = [snap(clients, 3, selected=("c0",) * k, now_s=1000.0 + k) for k in range(1, 30)]
    assert len({s.rng_seed(0) for s in later}) == len(later)
    # one free slot, c0..c9 idle at every refill: the picks spread instead of repeating
    idle10 = [cv(f"c{i}", busy=i >= 10) for i in range(40)]
    picks = Counter(
        picked(FedBuff().select(snap(idle10, 3, selected=("x",) * k, now_s=9.0 + k,
                                     clients_per_round=31)))[0]
        for k in range(1, 201)
    )  # fmt: skip
    assert len(picks) == 10 and max(picks.values()) < 40  # uniform: 20 each


def test_fedbuff_waits_for_the_buffer_then_weighs_by_staleness() -> None:
    clients = [cv(f"c{i}", busy=i >= 3) for i in range(10)]
    one = (res("k0", "c0", 5, 100), res("k1", "c1", 4, 300))
    s = snap(clients, 5, results=one, clients_per_round=10, concurrency_ratio=0.3, max_staleness=2)
    wait = FedBuff().aggregate(s)
    assert not wait.go and "2 of 3" in wait.reason
    three = (*one, res("k2", "c2", 3, 50), res("k9", "c9", 2, 500))
    agg = FedBuff().aggregate(replace(s, results=three))
    raw = {"k0": 100 / 1.0, "k1": 300 / math.sqrt(2), "k2": 50 / math.sqrt(3)}
    total = sum(raw.values())
    assert agg.go and agg.discard == ("k9",)
    assert agg.weights == pytest.approx({k: v / total for k, v in raw.items()}, abs=1e-15)


def test_fedbuff_goes_with_fewer_results_when_nothing_is_in_flight() -> None:
    clients = [cv(f"c{i}") for i in range(10)]
    agg = FedBuff().aggregate(snap(clients, 1, results=(res("k", "c0", 1, 5),)))
    assert agg.go and agg.weights == {"k": 1.0} and "no invocation in flight" in agg.reason


# -- Apodotiko -----------------------------------------------------------------------


def test_apodotiko_score_formula() -> None:
    # N = 64, E = 2, B = 16: U = 8 updates; s = N * U / T
    assert throughput(64, 2, 16, 4.0) == 64 * 8 / 4.0
    # last 5 of 6, newest weight 1, then 0.8, 0.64, ...
    vals = [99.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    w = [0.8**4, 0.8**3, 0.8**2, 0.8, 1.0]
    assert decayed_average(vals) == pytest.approx(
        sum(a * b for a, b in zip(w, vals[1:], strict=True)) / sum(w)
    )
    assert decayed_average([]) == 0.0
    c = cv("a", 64, invocations=2, train_times_s=(8.0, 4.0))
    per = [64 * 8 / 8.0, 64 * 8 / 4.0]
    expected = (0.8 * per[0] + 1.0 * per[1]) / 1.8
    assert Apodotiko().base_score(c, FlConfig(epochs=2, batch_size=16)) == pytest.approx(expected)


def test_vectorised_decayed_average_matches_the_scalar_one() -> None:
    series = [(), (3.0,), (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0), (2.0, 8.0)]
    got = decayed_rows(last_k(series, 5), 0.8)
    assert got.tolist() == pytest.approx([decayed_average(v, 5, 0.8) for v in series])


def test_apodotiko_rookies_first_and_busy_or_recently_failed_excluded() -> None:
    vets = [cv(f"v{i}", invocations=1, train_times_s=(1.0,)) for i in range(4)]
    rookies = [cv("r0"), cv("r1")]
    busy = cv("b", invocations=1, busy=True, train_times_s=(1.0,))
    failed = cv("f", invocations=1, failed_rounds=(5,))
    s = snap([*vets, *rookies, busy, failed], 10, clients_per_round=4)
    sel = Apodotiko().select(s)
    ids = picked(sel)
    assert ids[:2] in (["r0", "r1"], ["r1", "r0"]) and len(ids) == 3
    assert "b" not in ids and "f" not in ids and "excluded" in sel.reason
    assert all("never invoked" in p.reason for p in sel.clients[:2])
    assert "drawn with p=" in sel.clients[2].reason
    assert recently_failed(failed, 10, 5) and not recently_failed(failed, 11, 5)


def test_apodotiko_samples_in_proportion_to_score() -> None:
    # same data, training times 1 s and 3 s: scores 3 : 1
    fast = cv("fast", 32, invocations=1, train_times_s=(1.0,))
    slow = cv("slow", 32, invocations=1, train_times_s=(3.0,))
    wins = Counter(
        picked(Apodotiko().select(snap([fast, slow], seed=s, clients_per_round=1)))[0]
        for s in range(600)
    )
    assert 0.69 < wins["fast"] / 600 < 0.81


def test_apodotiko_boosters_grow_once_per_round_and_reset_when_picked() -> None:
    clients = [cv(f"c{i}", invocations=1, train_times_s=(1.0,)) for i in range(4)]
    strat = Apodotiko()
    s = snap(clients, 3, clients_per_round=1, state=ScoreState((("c0", 1.2),), 2))
    sel = strat.select(s)
    (chosen,) = picked(sel)
    boosters = dict(sel.state.boosters)
    assert sel.state.boosted_round == 3 and chosen not in boosters
    for c in clients:
        if c.id != chosen:
            assert boosters[c.id] == pytest.approx(1.2 * (1.2 if c.id == "c0" else 1.0))
    # a refill in the same round resets the new pick but raises nobody again
    rest = [replace(c, busy=True) if c.id == chosen else c for c in clients]
    again = strat.select(snap(rest, 3, clients_per_round=2, state=sel.state))
    (second,) = picked(again)
    expected = {k: v for k, v in boosters.items() if k != second}
    assert dict(again.state.boosters) == expected
    # aggregate hands the state back untouched
    assert strat.aggregate(replace(s, state=again.state)).state == again.state


def test_apodotiko_boosters_stay_finite_for_clients_that_are_never_drawn() -> None:
    empty = cv("empty", 0, invocations=1, train_times_s=(1.0,))
    full = cv("full", 50, invocations=1, train_times_s=(1.0,))
    state = ScoreState((("empty", 0.9e12),), 1)
    sel = Apodotiko().select(snap([empty, full], 2, clients_per_round=1, state=state))
    assert picked(sel) == ["full"] and dict(sel.state.boosters)["empty"] == 1e12


def test_apodotiko_booster_multiplies_the_score() -> None:
    c = cv("a", 64, invocations=1, train_times_s=(4.0,))
    sel = Apodotiko().select(
        snap([c], clients_per_round=1, epochs=2, batch_size=16, state=ScoreState((("a", 1.44),)))
    )
    assert sel.clients[0].reason.startswith("score 184.3 = booster 1.44 x decayed N*U/T 128")


def test_apodotiko_aggregates_like_fedbuff() -> None:
    clients = [cv(f"c{i}", busy=i >= 2) for i in range(6)]
    results = (res("a", "c0", 7, 40), res("b", "c1", 6, 90))
    s = snap(clients, 7, results=results, clients_per_round=4, concurrency_ratio=0.5)
    assert Apodotiko().aggregate(s).weights == FedBuff().aggregate(s).weights
    w = Apodotiko().aggregate(s).weights
    assert w["a"] == pytest.approx(40 / (40 + 90 / math.sqrt(2)))


# -- FedLesScan -------------------------------------------------------------------------


def test_fedlesscan_features() -> None:
    assert ema((10.0, 20.0, 40.0)) == 0.25 * 10 + 0.25 * 20 + 0.5 * 40
    c = cv("a", invocations=4, missed_rounds=1, train_times_s=(2.0, 4.0))
    never_done = cv("b", invocations=2)
    x = features([c, never_done], t_max_s=10.0)
    assert x.tolist() == [[3.0, 1.5 * 10.0 * 1 / 4], [10.0, 0.0]]
    # misses: max(view's missed, late results seen) + failures
    flaky = replace(c, failed_rounds=(1,))
    assert misses(flaky) == 2 and misses(flaky, late=3) == 4
    assert features([flaky], 10.0, {"a": 3}).tolist() == [[3.0, 1.5 * 10.0 * 4 / 4]]


def test_dbscan_and_calinski_harabasz() -> None:
    pts = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0], [5.0, 50.0]])
    labels = dbscan(distances(pts), eps=1.5, min_samples=2)
    assert labels.tolist() == [0, 0, 1, 1, NOISE]
    two = np.array([[0.0], [2.0], [10.0], [12.0]])
    lab = np.array([0, 0, 1, 1])
    # between: 2*(1-6)^2 + 2*(11-6)^2 = 100 over k-1 = 1; within: 4 * 1 = 4 over n-k = 2
    assert calinski_harabasz(two, lab) == pytest.approx(100 / (4 / 2))
    fast_slow = np.array([[1.0, 0], [1.1, 0], [1.2, 0], [30.0, 0], [31.0, 0], [29.5, 0]])
    got = best_clusters(fast_slow)
    assert len(set(got[:3].tolist())) == 1 and len(set(got[3:].tolist())) == 1
    assert got[0] != got[3]
    assert best_clusters(np.ones((3, 2))).tolist() == [0, 0, 0]


def test_fedlesscan_rookies_then_fastest_tier_first() -> None:
    fast = [cv(f"f{i}", invocations=3, train_times_s=(1.0 + 0.1 * i,) * 3) for i in range(3)]
    slow = [cv(f"s{i}", invocations=3, train_times_s=(30.0 + i,) * 3) for i in range(3)]
    rookie = cv("r")
    for seed in range(5):
        sel = FedLesScan().select(snap([*slow, rookie, *fast], 2, seed=seed, clients_per_round=3))
        ids = picked(sel)
        assert ids[0] == "r" and set(ids[1:]) <= {"f0", "f1", "f2"}
        assert "tier 1 of 2" in sel.clients[1].reason
        assert sel.state.clock == RoundClock(2, 1000.0)
    # inside a tier the least-invoked go first
    busiest = [replace(fast[0], invocations=9), *fast[1:]]
    sel = FedLesScan().select(snap([*slow, *busiest], 2, clients_per_round=2))
    assert (
        set(picked(sel)) == {"f1", "f2"} and "3 invocations (least first" in sel.clients[0].reason
    )
    # a missed-round penalty pushes a fast client behind the slow tier
    penal = [replace(c, missed_rounds=3) for c in fast]
    sel = FedLesScan().select(snap([*slow, *penal], 2, clients_per_round=3))
    assert set(picked(sel)) == {"s0", "s1", "s2"}


def test_fedlesscan_start_rank_is_numpys_lower_percentile() -> None:
    for n in range(1, 7):
        for first in (0, 3):
            for planned in (first + 1, 10, 50):
                for r in range(first, planned + 1):
                    p = 100.0 * (r - first) / max(1, planned - first)
                    want = int(np.percentile(np.arange(n), p, method="lower"))
                    assert start_rank(r, first, planned, n) == want, (n, first, planned, r)
                # past the plan the rotation starts over (not stuck on the slowest tier)
                assert start_rank(planned + 1, first, planned, n) == 0


def test_fedlesscan_rotates_the_starting_tier_over_the_planned_rounds() -> None:
    fast = [cv(f"f{i}", invocations=3, train_times_s=(1.0 + 0.1 * i,) * 3) for i in range(3)]
    slow = [cv(f"s{i}", invocations=3, train_times_s=(30.0 + i,) * 3) for i in range(3)]
    rot = FedLesScan(planned_rounds=10)
    # the first clustering round is the rotation's origin: the fastest tier starts there
    first = rot.select(snap([*slow, *fast], 2, clients_per_round=3))
    assert set(picked(first)) == {"f0", "f1", "f2"} and first.state.first_clustered == 2
    assert "starts at tier 1" in first.clients[0].reason
    # at the planned end the slowest tier starts, then the ranks wrap around to the fastest
    late = rot.select(snap([*slow, *fast], 10, clients_per_round=4, state=first.state))
    ids = picked(late)
    assert set(ids[:3]) == {"s0", "s1", "s2"} and ids[3] in {"f0", "f1", "f2"}
    assert "starts at tier 2" in late.clients[0].reason and late.state.first_clustered == 2
    # without planned_rounds the fastest tier always starts
    assert set(picked(FedLesScan().select(snap([*slow, *fast], 10, clients_per_round=3)))) == {
        "f0", "f1", "f2",
    }  # fmt: skip
    with pytest.raises(InputError, match=r"fedlesscan\.planned_rounds"):
        FedLesScan(planned_rounds=0)
    check_fl_strategy(FedLesScan(planned_rounds=3))  # pure, answers well-formed when rotating


def test_fedlesscan_aggregates_late_results_with_staleness_decay() -> None:
    clients = [cv("a"), cv("b"), cv("c")]
    results = (
        res("now", "a", 4, 100),
        res("late", "b", 2, 200),
        res("ancient", "c", 0, 300),
    )
    s = snap(clients, 4, selected=("a",), results=results, max_staleness=3)
    agg = FedLesScan().aggregate(s)
    raw = {"now": 100 * 5 / 5, "late": 200 * 3 / 5}
    assert staleness_weight(results[1], 4) == raw["late"]
    assert agg.go and agg.discard == ("ancient",)
    assert agg.weights == pytest.approx({k: v / sum(raw.values()) for k, v in raw.items()})
    # the late and the discarded result each count as a miss of their client
    assert agg.state == ScanState(late=(("b", 1), ("c", 1)))
    assert FedLesScan().aggregate(replace(s, state=agg.state)).state.late == (("b", 2), ("c", 2))


# -- Tessera ------------------------------------------------------------------------------


def test_warmth_factor() -> None:
    assert warmth(10.0, 5.0, warm=True) == 1.0
    assert warmth(10.0, 5.0, warm=False) == 10.0 / 15.0
    assert warmth(0.0, 0.0, warm=False) == 1.0


def test_tessera_prefers_warm_clients_exactly_by_the_cold_factor() -> None:
    a = cv("a", 32, invocations=1, train_times_s=(2.0,))
    b = cv("b", 32, invocations=1, train_times_s=(2.0,))
    state = ScoreState(last_active_s=(("a", 900.0),))  # a active 100 s ago, b never recorded
    strat = TesseraStrategy(cold_start_s=6.0, keep_alive_s=600.0)
    s = snap([a, b], now_s=1000.0, clients_per_round=1, state=state)
    assert strat.is_warm(a, s, state) and not strat.is_warm(b, s, state)
    wins = Counter(picked(strat.select(replace(s, seed=k)))[0] for k in range(600))
    # scores 1 : 2 / (2 + 6) = 1 : 0.25 -> a wins 80%
    assert 0.74 < wins["a"] / 600 < 0.86
    reasons = {
        p.client: p.reason for k in range(20) for p in strat.select(replace(s, seed=k)).clients
    }
    assert "score 32 = booster 1 x decayed N*U/T 32 x 1 (warm)" in reasons["a"]
    assert "score 8 = booster 1 x decayed N*U/T 32 x 0.25 (cold: T 2 s / (T + 6 s" in reasons["b"]
    # after the keep-alive window a is cold too
    assert not strat.is_warm(a, replace(s, now_s=1500.0), state)


def test_tessera_records_selection_estimates_and_result_arrivals() -> None:
    a = cv("a", invocations=1, train_times_s=(20.0,))
    strat = TesseraStrategy()
    sel = strat.select(snap([a], now_s=100.0, clients_per_round=1))
    assert dict(sel.state.last_active_s) == {"a": 120.0}
    arrived = snap([a], now_s=130.0, results=(res("k", "a", 0, 100),), state=sel.state)
    agg = strat.aggregate(arrived)
    assert dict(agg.state.last_active_s) == {"a": 130.0}
    assert dict(agg.state.last_result) == {"a": "k"}
    # seen again later (still buffered): the arrival time is not moved
    assert strat.aggregate(replace(arrived, now_s=200.0, state=agg.state)).state == agg.state


def test_tessera_scores_rookies_with_the_median_training_time() -> None:
    vets = [
        cv(f"v{i}", 32, invocations=1, train_times_s=(t,)) for i, t in enumerate((1.0, 2.0, 9.0))
    ]
    rookie = cv("r", 32)
    strat = TesseraStrategy(cold_start_s=0.0)
    s = snap([*vets, rookie], 3, clients_per_round=1)
    hist = strat._histories([*vets, rookie], s)
    assert hist[-1] == (2.0,) and hist[0] == (1.0,)
    # not forced first: drawn like a veteran with T = 2 s (score 32 of 64 + 32 + 32/9 + 32)
    wins = Counter(picked(strat.select(replace(s, seed=k)))[0] for k in range(600))
    assert 0.15 < wins["r"] / 600 < 0.35
    reasons = {
        p.client: p.reason for k in range(30) for p in strat.select(replace(s, seed=k)).clients
    }
    assert "(prior T)" in reasons["r"] and "(prior T)" not in reasons["v0"]
    assert Apodotiko().select(s).clients[0].client == "r"
    assert TesseraStrategy(rookies_first=True).select(s).clients[0].client == "r"


def test_participation_factor() -> None:
    assert participation_factor(2, 4.0, 4.0) == 2.0  # drawn half as often as the mean
    assert participation_factor(8, 4.0, 4.0) == 0.5
    assert participation_factor(40, 4.0, 4.0) == 0.25  # clipped below
    assert participation_factor(1, 10.0, 4.0) == 4.0  # clipped above
    assert participation_factor(0, 4.0, 4.0) == 1.0 and participation_factor(3, 0.0, 4.0) == 1.0


def test_tessera_divides_fedbuff_weights_by_participation() -> None:
    # invocations 1, 4, 40 and three idle clients at 1: mean (1 + 4 + 40 + 3) / 6 = 8
    clients = [
        cv("slow", invocations=1),
        cv("mid", invocations=4),
        cv("fast", invocations=40),
        *(cv(f"i{k}", invocations=1) for k in range(3)),
    ]
    results = (res("a", "slow", 7, 40), res("b", "mid", 6, 90), res("c", "fast", 7, 60))
    s = snap(clients, 7, results=results, clients_per_round=4, concurrency_ratio=0.5)
    buff = FedBuff().aggregate(s).weights
    ours = TesseraStrategy().aggregate(s)
    raw = {"a": buff["a"] * 4.0, "b": buff["b"] * 2.0, "c": buff["c"] * 0.25}  # 8, 0.2 clipped
    total = sum(raw.values())
    assert ours.go and ours.weights == pytest.approx({k: v / total for k, v in raw.items()})
    assert "slow x 4," in ours.reason and "fast x 0.25" in ours.reason
    # a wider clip: 8, 2 and 0.2 unclipped; clip 1 is FedBuff's weighting
    wide = TesseraStrategy(participation_clip=10.0).aggregate(s).weights
    raw = {"a": buff["a"] * 8.0, "b": buff["b"] * 2.0, "c": buff["c"] * 0.2}
    total = sum(raw.values())
    assert wide == pytest.approx({k: v / total for k, v in raw.items()})
    assert TesseraStrategy(participation_clip=1.0).aggregate(s).weights == buff
    with pytest.raises(InputError, match="participation_clip"):
        TesseraStrategy(participation_clip=0.5)


def test_tessera_without_cold_starts_is_apodotiko() -> None:
    clients = [cv(f"c{i}", 10 * (i + 1), invocations=1, train_times_s=(1.0 + i,)) for i in range(6)]
    s = snap(clients, 2, clients_per_round=3, seed=11)
    ours = TesseraStrategy(cold_start_s=0.0).select(s)
    theirs = Apodotiko().select(s)
    assert picked(ours) == picked(theirs)
    assert ours.state.boosters == theirs.state.boosters
