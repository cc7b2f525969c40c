"""Same seed -> same records and metrics; different seed -> different ones."""

from __future__ import annotations

import numpy as np

from tessera.sim.engine import run_scenario
from tessera.sim.scenario import from_dict


def scenario(seed: int, autoscaler: dict[str, object] | None = None) -> dict[str, object]:
    return {
        "name": "det",
        "seed": seed,
        "duration_s": 3000,
        "functions": [
            {
                "name": "a",
                "workload": {
                    "kind": "diurnal",
                    "mean_rate_per_s": 2.0,
                    "amplitude": 0.8,
                    "period_s": 1000,
                },
                "service_time": {"kind": "lognormal", "mean_s": 0.4, "cv": 1.5},
                "cold_start_s": {"kind": "uniform", "low_s": 0.5, "high_s": 1.5},
                "concurrency": 2,
            },
            {
                "name": "b",
                "workload": {"kind": "poisson", "rate_per_s": 1.0},
                "service_time": {"kind": "exponential", "mean_s": 0.3},
                "cold_start_s": 1.0,
            },
        ],
        "autoscaler": autoscaler or {"kind": "kpa"},
    }


def test_same_seed_same_records_and_metrics() -> None:
    for auto in ({"kind": "kpa"}, {"kind": "keepalive", "keep_alive_s": 30}):
        r1 = run_scenario(from_dict(scenario(5, auto)))
        r2 = run_scenario(from_dict(scenario(5, auto)))
        assert r1.metrics == r2.metrics
        assert r1.events == r2.events
        for name in r1.functions:
            f1, f2 = r1.functions[name], r2.functions[name]
            assert np.array_equal(f1.arrival_s, f2.arrival_s)
            assert np.array_equal(f1.end_s, f2.end_s)
            assert np.array_equal(f1.instance, f2.instance)
        assert r1.decisions == r2.decisions


def test_different_seed_differs() -> None:
    r1 = run_scenario(from_dict(scenario(5)))
    r2 = run_scenario(from_dict(scenario(6)))
    assert r1.metrics != r2.metrics


def test_functions_draw_from_independent_streams() -> None:
    """Adding a function must not change another function's arrivals (SeedSequence.spawn)."""
    one = scenario(9)
    one["functions"] = one["functions"][:1]  # type: ignore[index]
    r1 = run_scenario(from_dict(one))
    r2 = run_scenario(from_dict(scenario(9)))
    assert np.array_equal(r1.functions["a"].arrival_s, r2.functions["a"].arrival_s)


def test_records_materialise_every_invocation_with_its_footprint() -> None:
    res = run_scenario(from_dict(scenario(3)))
    recs = list(res.records("b"))
    fr = res.functions["b"]
    assert len(recs) == len(fr.arrival_s) > 0
    for r, start, end in zip(recs, fr.start_s, fr.end_s, strict=True):
        assert r.function == "b" and r.status == "ok"
        assert (r.start_s, r.end_s) == (start, end)
        assert r.queue_delay_s >= 0 and r.service_s > 0
        assert r.energy_j > 0 and r.carbon_g > 0 and r.cost_usd > 0
    assert sum(r.cold for r in recs) == res.metrics["b"]["cold_starts"]
    # embodied carbon: the same per-second rate for every invocation, charged for its service
    rates = {round(r.embodied_g / r.service_s, 12) for r in recs}
    assert len(rates) == 1 and next(iter(rates)) > 0
    m = res.metrics["b"]
    assert m["embodied_g"] >= sum(r.embodied_g for r in recs) > 0  # idle instance time too
