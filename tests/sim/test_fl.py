"""The FL simulator: rounds, timing model, cold starts, faults, async refill, SCAFFOLD, determinism."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from tessera.carbon.accounting import Usage, account
from tessera.core.errors import InputError
from tessera.fl.data import Dataset, load, partition
from tessera.fl.models import make_model
from tessera.fl.strategy import (
    Aggregation,
    ClientPlan,
    FlConfig,
    FlSnapshot,
    Selection,
    idle,
    sample_weights,
)
from tessera.sim.fl import (
    ClientSpec,
    Faults,
    FlSimConfig,
    FlSimulation,
    HardwareProfile,
    population,
    simulate,
)


class Uniform:
    """A test strategy: uniform random selection; sync waits for all, async for `k` results."""

    def __init__(self, synchronous: bool = True, k: int = 2, scaffold: bool = False) -> None:
        self.name = "uniform"
        self.synchronous = synchronous
        self.k = k
        self.scaffold = scaffold

    def select(self, s: FlSnapshot) -> Selection:
        ids = [c.id for c in idle(s)]
        busy = sum(c.busy for c in s.clients.values())
        need = s.config.clients_per_round - (len(s.selected) if self.synchronous else busy)
        pick = s.rng().choice(ids, size=min(max(need, 0), len(ids)), replace=False)
        plans = tuple(ClientPlan(str(c), "random", scaffold=self.scaffold) for c in pick)
        return Selection(plans, "uniform")

    def aggregate(self, s: FlSnapshot) -> Aggregation:
        if self.synchronous:
            cur = [r for r in s.results if r.round_started == s.round]
            old = tuple(r.key for r in s.results if r.round_started != s.round)
            if not cur or len(cur) < len(s.selected):
                return Aggregation(False, discard=old, reason="waiting")
            return Aggregation(True, sample_weights(cur), old, "all in")
        if len(s.results) < self.k:
            return Aggregation(False, reason="buffering")
        return Aggregation(True, sample_weights(s.results), (), "buffer full")


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load("digits")


def clients(data: Dataset, n: int = 20, seed: int = 0, **kw: object) -> list[ClientSpec]:
    rng = np.random.default_rng(seed)
    parts = partition(data.y_train, n, "dirichlet", alpha=0.5, rng=rng)
    return population(n, parts, {"cpu1": 0.4, "cpu2": 0.4, "gpu": 0.2}, rng, **kw)  # type: ignore[arg-type]


def model(data: Dataset):  # type: ignore[no-untyped-def]
    return make_model("softmax", data.X_train.shape[1], data.n_classes)


def test_synchronous_rounds_aggregate_exactly_the_selected_clients(digits: Dataset) -> None:
    cfg = FlSimConfig(fl=FlConfig(clients_per_round=5, epochs=1), rounds=8, lr=0.05)
    res = simulate(Uniform(), model(digits), digits, clients(digits), cfg)
    assert len(res.timeline) == 8
    by_round: dict[int, list[str]] = {}
    for r in res.records:
        assert r.ok and r.round_aggregated == r.round_started
        by_round.setdefault(r.round_started, []).append(r.client)
    assert sorted(by_round) == list(range(8))
    assert all(len(v) == len(set(v)) == 5 for v in by_round.values())
    # a round starts when the previous one aggregated: no overlap in time
    for k in range(1, 8):
        start = min(r.start_s for r in res.records if r.round_started == k)
        assert start == pytest.approx(res.timeline[k - 1][0])
    # real training: accuracy improves over the rounds
    assert res.timeline[-1][1] > res.timeline[0][1]


def test_training_time_cold_starts_and_keep_alive(digits: Dataset) -> None:
    prof = HardwareProfile("cpu1", speed=2.0, cold_start_s=3.0, jitter_sigma=0.0)
    idx = np.arange(40)
    cl = [ClientSpec("a", idx, prof)]
    cfg = FlSimConfig(
        fl=FlConfig(clients_per_round=1, epochs=2), rounds=3, keep_alive_s=1e9,
        base_s_per_sample=0.01,
    )  # fmt: skip
    res = simulate(Uniform(), model(digits), digits, cl, cfg)
    durations = [r.end_s - r.start_s for r in res.records]
    train = 40 * 2 * 0.01 / 2.0
    assert durations == pytest.approx([3.0 + train, train, train])
    assert [r.cold for r in res.records] == [True, False, False]
    assert all(r.train_time_s == pytest.approx(train) for r in res.records)
    # with no keep-alive every invocation is cold
    cold = simulate(
        Uniform(), model(digits), digits, cl,
        FlSimConfig(fl=cfg.fl, rounds=3, keep_alive_s=0.0, base_s_per_sample=0.01),
    )  # fmt: skip
    assert all(r.cold for r in cold.records)
    # carbon: energy over the billed duration, at the configured intensity
    per_s = {r.operational_g / (r.end_s - r.start_s) for r in res.records}
    assert max(per_s) == pytest.approx(min(per_s)) and min(per_s) > 0
    usage = Usage(res.records[0].end_s - res.records[0].start_s, 1.0, 1.0, 2.0)
    want = account(usage, 400.0)
    assert res.records[0].operational_g == pytest.approx(want.operational_g)
    assert res.records[0].embodied_g == pytest.approx(want.embodied_g)
    clean = simulate(Uniform(), model(digits), digits, cl, dataclasses.replace(cfg, gco2_per_kwh=0))
    assert all(r.operational_g == 0 and r.embodied_g > 0 for r in clean.records)


def test_failures_end_without_result_and_the_deadline_moves_on(digits: Dataset) -> None:
    cl = clients(digits, 10, faults=Faults(fail_p=0.5))
    cfg = FlSimConfig(fl=FlConfig(clients_per_round=4), rounds=6, round_timeout_s=50.0)
    res = simulate(Uniform(), model(digits), digits, cl, cfg)
    failed = [r for r in res.records if not r.ok]
    assert failed and all(r.round_aggregated is None for r in failed)
    assert len(res.timeline) <= 6  # rounds whose clients all failed are given up at the deadline
    assert any("deadline" in x for x in res.reasons) or len(res.timeline) == 6


def test_asynchronous_strategies_keep_clients_in_flight(digits: Dataset) -> None:
    cfg = FlSimConfig(fl=FlConfig(clients_per_round=6), rounds=10)
    sim = FlSimulation(Uniform(synchronous=False, k=2), model(digits), digits, clients(digits), cfg)
    res = sim.run()
    assert len(res.timeline) == 10
    # at every invocation start, at most clients_per_round were running
    events = sorted([(r.start_s, 1) for r in res.records] + [(r.end_s, -1) for r in res.records])
    running = peak = 0
    for _, d in events:
        running += d
        peak = max(peak, running)
    assert peak == 6
    # each aggregation used two results, some of them stale (started in an earlier round)
    agg = [r for r in res.records if r.round_aggregated is not None]
    assert any(r.round_aggregated > r.round_started for r in agg)


def test_scaffold_moves_the_server_control_variate(digits: Dataset) -> None:
    cfg = FlSimConfig(fl=FlConfig(clients_per_round=4), rounds=3)
    sim = FlSimulation(Uniform(scaffold=True), model(digits), digits, clients(digits), cfg)
    sim.run()
    assert np.linalg.norm(sim.c_server) > 0
    assert sim.c_client and all(np.all(np.isfinite(c)) for c in sim.c_client.values())
    plain = FlSimulation(Uniform(), model(digits), digits, clients(digits), cfg)
    plain.run()
    assert np.linalg.norm(plain.c_server) == 0


def test_time_limit_and_determinism(digits: Dataset) -> None:
    cfg = FlSimConfig(fl=FlConfig(clients_per_round=5), rounds=100, time_limit_s=60.0)
    a = simulate(Uniform(), model(digits), digits, clients(digits), cfg)
    b = simulate(Uniform(), model(digits), digits, clients(digits), cfg)
    assert a.timeline and a.timeline[-1][0] <= 60.0
    assert a.timeline == b.timeline and a.records == b.records
    c = simulate(
        Uniform(), model(digits), digits, clients(digits),
        FlSimConfig(fl=cfg.fl, rounds=100, time_limit_s=60.0, seed=1),
    )  # fmt: skip
    assert c.timeline != a.timeline
    m = a.metrics(0.5)
    assert m["invocations"] == len(a.records) and 0 <= m["cold_start_share"] <= 1
    assert math.isfinite(m["cost_usd"]) and m["cost_usd"] > 0


def test_population_mix_and_bad_input(digits: Dataset) -> None:
    rng = np.random.default_rng(0)
    parts = partition(digits.y_train, 50, "iid", rng=rng)
    cl = population(50, parts, {"cpu1": 0.4, "cpu2": 0.4, "gpu": 0.2}, rng)
    kinds = [c.profile.name for c in cl]
    assert kinds.count("cpu1") == 20 and kinds.count("cpu2") == 20 and kinds.count("gpu") == 10
    assert all(10 <= c.profile.speed <= 20 for c in cl if c.profile.name == "gpu")
    with pytest.raises(InputError, match="mix"):
        population(50, parts, {"tpu": 1.0}, rng)
    with pytest.raises(InputError, match="partitions"):
        population(49, parts, {"cpu1": 1.0}, rng)
    with pytest.raises(InputError, match=r"sim\.rounds"):
        FlSimConfig(rounds=0)
    with pytest.raises(InputError, match=r"faults\.fail_p"):
        Faults(fail_p=1.0)
    with pytest.raises(InputError, match="clients"):
        FlSimulation(Uniform(), model(digits), digits, [])
