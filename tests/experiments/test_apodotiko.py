"""Experiment `apodotiko`: every strategy runs on the same population and budget."""

from __future__ import annotations

import math

from tessera.experiments.apodotiko import KEYS, STRATEGIES, TARGET_SHARE, _run_seed
from tessera.fl.data import load


def test_every_strategy_runs_on_the_same_budget_and_reports_every_metric() -> None:
    data = load("digits")
    runs = _run_seed(data, n_clients=16, per_round=4, rounds=6, seed=0)
    assert set(runs) == set(STRATEGIES)
    budget = runs["fedavg"].timeline[-1][0]
    assert len(runs["fedavg"].timeline) == 6
    target = TARGET_SHARE * runs["fedavg"].final_accuracy
    for name, r in runs.items():
        assert r.timeline, name
        assert r.timeline[-1][0] <= budget + 1e-9, name  # nobody gets more virtual time
        assert r.timeline[-1][0] >= 0.8 * budget, name  # ...nor stops early
        m = r.metrics(target)
        assert set(KEYS) <= set(m), name
        assert 0 <= m["cold_start_share"] <= 1 and 0 <= m["eur"] <= 1, name
        assert m["cost_usd"] > 0 and m["invocations"] == len(r.records), name
    assert math.isfinite(runs["fedavg"].metrics(target)["tta_s"])
    # without faults every synchronous FedAvg update is aggregated
    assert runs["fedavg"].metrics(target)["eur"] == 1.0
    # asynchronous strategies aggregate stale results
    stale = [x for x in runs["fedbuff"].records if (x.round_aggregated or 0) > x.round_started]
    assert stale


def test_same_seed_same_metrics() -> None:
    data = load("digits")
    a = _run_seed(data, 12, 4, 4, seed=3)
    b = _run_seed(data, 12, 4, 4, seed=3)
    for name in STRATEGIES:
        assert a[name].metrics(0.5) == b[name].metrics(0.5), name
