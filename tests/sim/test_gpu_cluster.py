"""The GPU cluster model: quota stretch, interference, cost, cold start/drain, SLOs, determinism."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import numpy as np
import pytest

from tessera.core.errors import InputError
from tessera.core.gpu_policy import (
    GpuDecision,
    GpuInstancePlan,
    GpuInstanceView,
    GpuPolicyResult,
    GpuSnapshot,
    new_gpu_id,
)
from tessera.core.policy import InstanceState
from tessera.sim.gpu_cluster import (
    ClusterConfig,
    GpuFunction,
    min_area_per_request_s,
    piecewise_poisson,
    simulate,
)

Plan = tuple[str, float, float, int]  # gpu, sm %, quota %, batch


class Scripted:
    """A test policy: `script(now)` gives each function's target slices; ids are kept in order."""

    name = "scripted"

    def __init__(self, script: Callable[[float], dict[str, list[Plan]]]) -> None:
        self.script = script
        self.seen: list[GpuSnapshot] = []
        self.named: set[str] = set()

    def decide(self, snapshot: GpuSnapshot) -> GpuPolicyResult:
        self.seen.append(snapshot)
        out = []
        for fn, plans in self.script(snapshot.now_s).items():
            self.named |= {p[0] for p in plans if not p[0].startswith("new:")}
            have = list(snapshot.functions[fn].active)
            ps = []
            for gpu, sm, q, b in plans:
                # keep an instance on the named GPU; a `new:` plan keeps one on an unnamed GPU
                keep = next(
                    (
                        i
                        for i in have
                        if i.gpu_id == gpu
                        or (gpu.startswith("new:") and i.gpu_id not in self.named)
                    ),
                    None,
                )
                if keep is not None:
                    have.remove(keep)
                    ps.append(GpuInstancePlan(keep.gpu_id, sm, q, b, keep.id))
                else:
                    ps.append(GpuInstancePlan(gpu, sm, q, b))
            out.append(GpuDecision(fn, tuple(ps), "scripted"))
        return GpuPolicyResult(tuple(out))


def const_latency(ms: float, per_item_ms: float = 0.0) -> Callable[[str, int, float, float], float]:
    def lat(model: str, batch: int, sm: float, quota: float) -> float:
        return ms + per_item_ms * (batch - 1)

    return lat


def fn(name: str, arrivals: list[float] | np.ndarray, slo_ms: float = 1e6) -> GpuFunction:
    return GpuFunction(name, "m", slo_ms, np.asarray(arrivals, dtype=float))


def fixed(plans: dict[str, list[Plan]]) -> Scripted:
    return Scripted(lambda _now: plans)


def test_quota_half_stretches_gpu_bound_batches_about_2x() -> None:
    arrivals = np.arange(0.0, 20.0, 1.0)  # one 400 ms batch per second: GPU-bound while it runs
    lat = const_latency(400.0)
    cfg = ClusterConfig(cold_start_s=0.0)
    full = simulate(fixed({"f": [(new_gpu_id(0), 100, 100, 1)]}), [fn("f", arrivals)], lat, 20, cfg)
    half = simulate(fixed({"f": [(new_gpu_id(0), 100, 50, 1)]}), [fn("f", arrivals)], lat, 20, cfg)
    np.testing.assert_allclose(full.latency_ms("f"), 400.0)
    # 20 ms of each 40 ms window: 400 ms of work ends 19 windows + 20 ms later
    np.testing.assert_allclose(half.latency_ms("f"), 19 * 40 + 20.0)
    ratio = half.metrics["p50_latency_ms"] / full.metrics["p50_latency_ms"]
    assert 1.9 <= ratio <= 2.0


def test_quota_does_not_bite_below_its_budget() -> None:
    # 1 ms batches every 100 ms under a 10% quota (4 ms per window): never waits
    lat = const_latency(1.0)
    res = simulate(
        fixed({"f": [(new_gpu_id(0), 10, 10, 1)]}),
        [fn("f", np.arange(0.005, 5.0, 0.1))],
        lat,
        5,
    )
    np.testing.assert_allclose(res.latency_ms("f"), 1.0)


@pytest.mark.parametrize("interference", [0.0, 0.376])
def test_disjoint_instances_slow_each_other_only_by_the_interference_factor(
    interference: float,
) -> None:
    arrivals = np.arange(0.0, 10.0, 0.05)
    plans = {"a": [("gpu0", 50, 100, 1)], "b": [("gpu0", 50, 100, 1)]}
    cfg = ClusterConfig(interference=interference)
    res = simulate(
        fixed(plans), [fn("a", arrivals), fn("b", arrivals)], const_latency(10.0), 10, cfg
    )
    for f in ("a", "b"):
        np.testing.assert_allclose(res.latency_ms(f), 10.0 * (1 + interference * 0.5))
    solo = simulate(fixed({"a": plans["a"]}), [fn("a", arrivals)], const_latency(10.0), 10, cfg)
    np.testing.assert_allclose(solo.latency_ms("a"), 10.0)


def test_cost_integrates_sm_times_quota_exactly() -> None:
    def script(now: float) -> dict[str, list[Plan]]:
        first: Plan = ("gpu0", 50, 40, 1)
        return {"f": [first] if now < 4 else [first, (new_gpu_id(0), 100, 100, 1)]}

    res = simulate(Scripted(script), [fn("f", [])], const_latency(1.0), 10)
    assert res.metrics["cost_gpu_s"] == pytest.approx(0.2 * 10 + 1.0 * 6)
    assert res.metrics["gpu_s_held"] == pytest.approx(10 + 6)
    assert res.metrics["gpus_held_mean"] == pytest.approx(1.6)


def test_a_gpu_holds_at_most_its_area_new_instances_past_it_are_rejected() -> None:
    # two 60%-SM slices on one GPU: the second planned is rejected, counted, never charged
    plans = {"f": [("gpu0", 60.0, 100.0, 1)], "g": [("gpu0", 60.0, 100.0, 1)]}
    res = simulate(fixed(plans), [fn("f", []), fn("g", [])], const_latency(1.0), 4.0)
    assert res.metrics["rejected_plans"] == 2  # g's, at each of the two decisions
    assert res.metrics["cost_gpu_s"] == pytest.approx(0.6 * 4.0)
    # side by side within the area both stay, to the 1e-6 of a grid's rounded shares
    plans = {"f": [("gpu0", 100 / 3, 100.0, 1), ("gpu0", 200 / 3 + 1e-7, 100.0, 1)]}
    res = simulate(fixed(plans), [fn("f", [])], const_latency(1.0), 4.0)
    assert res.metrics["rejected_plans"] == 0

    # a draining instance does not count: g's whole GPU starts while f's last batch runs
    def script(now: float) -> dict[str, list[Plan]]:
        whole: list[Plan] = [("gpu0", 100.0, 100.0, 1)]
        return {"f": whole, "g": []} if now < 2 else {"f": [], "g": whole}

    cfg = ClusterConfig(decide_interval_s=1.0, cold_start_s=0.0, interference=0.0)
    fns = [fn("f", [1.99]), fn("g", [2.5])]
    res = simulate(Scripted(script), fns, const_latency(100.0), 4.0, cfg)
    assert res.metrics["rejected_plans"] == 0
    np.testing.assert_allclose(res.end_s["f"], [2.09])  # still running when g started
    np.testing.assert_allclose(res.end_s["g"], [2.6])


def test_replacing_an_instance_cold_starts_the_new_one_and_drains_the_old() -> None:
    def script(now: float) -> dict[str, list[Plan]]:
        return {"f": [("gpu0", 100, 100, 1)] if now < 4 else [(new_gpu_id(0), 100, 100, 1)]}

    pol = Scripted(script)
    cfg = ClusterConfig(decide_interval_s=1.0, cold_start_s=2.0)
    res = simulate(pol, [fn("f", [3.95, 4.5])], const_latency(100.0), 10, cfg)
    np.testing.assert_allclose(res.start_s["f"], [3.95, 6.0])  # waits for the cold start
    np.testing.assert_allclose(res.end_s["f"], [4.05, 6.1])
    # the old instance is charged until its batch ends at 4.05, the new one from 4 on
    assert res.metrics["cost_gpu_s"] == pytest.approx(4.05 + 6.0)
    assert res.metrics["gpu_s_held"] == pytest.approx(4.05 + 6.0)
    at = {s.now_s: s.functions["f"].instances for s in pol.seen}
    assert [i.state for i in at[5.0]] == [InstanceState.STARTING]
    assert at[5.0][0].gpu_id == "gpu1"  # gpu0 was still draining when the new GPU was taken
    assert [i.state for i in at[6.0]] == [InstanceState.READY]


def test_batches_take_what_has_arrived_up_to_the_batch_size() -> None:
    res = simulate(
        fixed({"f": [("gpu0", 100, 100, 4)]}),
        [fn("f", [0.0] * 6)],
        const_latency(10.0, per_item_ms=5.0),
        2,
    )
    # first batch of 4 (25 ms), then the 2 left (15 ms)
    np.testing.assert_allclose(res.end_s["f"], [0.025] * 4 + [0.04] * 2)


def test_slo_accounting_counts_late_and_dropped_requests() -> None:
    cfg = ClusterConfig(timeout_s=0.5)
    res = simulate(
        fixed({"f": [("gpu0", 100, 100, 1)]}),
        [fn("f", [0.0] * 10, slo_ms=500.0)],
        const_latency(400.0),
        10,
        cfg,
    )
    m = res.metrics
    assert (m["served"], m["dropped"]) == (2, 8)
    np.testing.assert_allclose(res.latency_ms("f")[:2], [400.0, 800.0])
    assert res.slo_met("f").tolist() == [True] + [False] * 9
    assert m["slo_violation_rate"] == pytest.approx(0.9)


def test_min_area_per_request() -> None:
    # latency independent of SMs: one SM at the largest batch is cheapest
    a = min_area_per_request_s(const_latency(10.0), "m", 20.0, total_sms=4)
    assert a == pytest.approx(0.25 * 0.010 / 64)
    assert min_area_per_request_s(const_latency(10.0), "m", 5.0) == float("inf")


def test_packing_bound_is_a_star_over_a_gpu_full_of_one_slice() -> None:
    from tessera.core.gpu_run import packing_bound

    def linear(model: str, batch: int, sm: float, quota: float) -> float:
        return 10.0 * batch * (100.0 / sm) * (100.0 / quota)  # every SM's work the same

    def bound(slices: list[tuple[float, float]], interference: float) -> float:
        return packing_bound(linear, "m", 1e6, slices, (1,), interference, 100, (1,))

    # a* is any slice's area per request; GPUs tile exactly: without interference, 1
    assert bound([(50.0, 100.0)], 0.0) == pytest.approx(1.0)
    # two halves slow each other by the other's half; three 30% slices leave 10% idle
    assert bound([(50.0, 100.0)], 0.376) == pytest.approx(1 / (1 + 0.376 * 0.5))
    assert bound([(30.0, 100.0)], 0.376) == pytest.approx(0.9 / (1 + 0.376 * 0.6))
    # the best slice counts: a whole GPU has no co-tenant
    assert bound([(30.0, 100.0), (100.0, 100.0)], 0.376) == pytest.approx(1.0)
    # a slice that misses the SLO does not
    assert packing_bound(linear, "m", 15.0, [(50.0, 100.0)], (1,), 0.0, 100, (1,)) == 0.0

    # a lone latency that ignores the quota: half a quota sustains half the throughput
    def flat(model: str, batch: int, sm: float, quota: float) -> float:
        return 10.0 * (100.0 / sm) * (1.0 if batch == 1 else 1.5)  # batch 2 in 1.5x batch 1

    # a* at batch 2: 1.5 x 10 ms / 2 of a whole GPU; four 50% x 50% copies fill one
    def flat_bound(batches: tuple[int, ...]) -> float:
        return packing_bound(flat, "m", 1e6, [(50.0, 50.0)], batches, 0.0, 100, (1, 2))

    assert flat_bound((2,)) == pytest.approx(1.0)  # 30 ms per batch of 2 at quota 50%
    assert flat_bound((2, 1)) == pytest.approx(1.0)  # the best batch counts, not the last
    assert flat_bound((1,)) == pytest.approx(7.5 / 10.0)


def test_per_request_floor_trades_batch_fill_time_for_area() -> None:
    from tessera.core.gpu_run import per_request_floor

    # a whole GPU: batch 1 in 10 ms, batch 2 in 12 ms, batch 4 in 16 ms (2 ms per extra item)
    lat = const_latency(10.0, 2.0)
    rates, costs = per_request_floor(lat, "m", 30.0, [(100.0, 100.0)], (1, 2, 4), 0.5)
    # batch b's first request waits (b - 1) / r for the rest: r >= (b - 1) / (SLO - L_b)
    np.testing.assert_allclose(rates, [0.0, 1 / 0.018, 3 / 0.014])
    np.testing.assert_allclose(costs, [0.010, 0.012 / 2, 0.016 / 4])  # a whole GPU: no slowdown
    # a half slice on a full GPU runs 1 + 0.5 x 0.5 slower; batch 4 (20 ms) then misses 16 ms
    rates, costs = per_request_floor(lat, "m", 16.0, [(50.0, 100.0)], (1, 2, 4), 0.5)
    np.testing.assert_allclose(rates, [0.0, 1 / (0.016 - 0.015)])
    np.testing.assert_allclose(costs, [0.5 * 0.0125, 0.5 * 0.015 / 2])
    # a dearer option that needs a higher rate never enters the step function
    rates, costs = per_request_floor(lat, "m", 30.0, [(100.0, 100.0), (10.0, 100.0)], (1, 2), 0)
    np.testing.assert_allclose(rates, [0.0, 1 / 0.018])
    np.testing.assert_allclose(costs, [0.001, 0.0006])


def test_packing_ceiling_rounds_each_seconds_least_area_up_to_whole_gpus() -> None:
    from tessera.core.gpu_run import packing_ceiling

    def linear(model: str, batch: int, sm: float, quota: float) -> float:
        return 10.0 * batch * 100.0 / sm  # 10 ms of a whole GPU per request, at any slice

    def ceiling(rps: float, slices: list[tuple[float, float]], k: float) -> dict[str, float]:
        arr = (np.arange(int(4 * rps)) + 0.5) / rps  # rps requests in each of 4 seconds
        f = GpuFunction("f", "m", 1e3, arr)
        return packing_ceiling(linear, [f], 0.0, 4.0, slices, (1,), k, 100, (1,))

    # a* = 0.01 GPU-s: 50 rps need half a GPU (one held), 250 rps 2.5 (three held)
    assert ceiling(50, [(50.0, 100.0)], 0.0) == pytest.approx(
        {"packing_ceiling": 0.5, "whole_gpus": 0.5}
    )
    assert ceiling(250, [(50.0, 100.0)], 0.0)["packing_ceiling"] == pytest.approx(2.5 / 3)
    # half slices on full GPUs slow each other 1.25x: 3.125 GPUs of area, four held
    got = ceiling(250, [(50.0, 100.0)], 0.5)
    assert got == pytest.approx({"packing_ceiling": 2.5 / 4, "whole_gpus": 2.5 / 3})
    # whole-GPU instances have no co-tenant: the grid's best slice counts
    assert ceiling(250, [(50.0, 100.0), (100.0, 100.0)], 0.5)["packing_ceiling"] == (
        pytest.approx(2.5 / 3)
    )
    # longer buckets: the same whole GPUs per second
    arr = (np.arange(1000) + 0.5) / 250
    f = GpuFunction("f", "m", 1e3, arr)
    two = packing_ceiling(linear, [f], 0.0, 4.0, [(50.0, 100.0)], (1,), 0.0, 100, (1,), 2.0)
    assert two["packing_ceiling"] == pytest.approx(2.5 / 3)

    # below every option's least rate (batch 1 misses the SLO, batch 2 needs 20 rps to
    # fill in time): the cheapest option still counts, 15 rps x 75 ms = 1.125 GPUs, two held
    def odd(model: str, batch: int, sm: float, quota: float) -> float:
        return 300.0 if batch == 1 else 150.0

    slow = GpuFunction("f", "m", 200.0, (np.arange(60) + 0.5) / 15)
    got = packing_ceiling(odd, [slow], 0.0, 4.0, [(100.0, 100.0)], (2,), 0.0, 100, (2,))
    assert got["packing_ceiling"] == pytest.approx(15 * (0.01 * 0.150 / 2) / 2)
    # only the window counts, and a second with no request holds nothing
    arr = np.array([0.5, 0.6, 5.5, 9.5])
    f = GpuFunction("f", "m", 1e3, arr)
    got = packing_ceiling(linear, [f], 5.0, 4.0, [(100.0, 100.0)], (1,), 0.0, 100, (1,))
    assert got == pytest.approx({"packing_ceiling": 0.01, "whole_gpus": 0.01})
    # a function no slice serves within its SLO adds nothing (as in `summarize`)
    late = GpuFunction("g", "m", 5.0, arr)
    none = packing_ceiling(linear, [late], 0.0, 10.0, [(100.0, 100.0)], (1,), 0.0, 100, (1,))
    assert all(np.isnan(v) for v in none.values())
    alone = packing_ceiling(linear, [f], 0.0, 10.0, [(100.0, 100.0)], (1,), 0.0, 100, (1,))
    both = packing_ceiling(linear, [f, late], 0.0, 10.0, [(100.0, 100.0)], (1,), 0.0, 100, (1,))
    assert both == alone

    # the rate picks the option: batch 2 (6 ms a request) once 56 rps fill it in time, else
    # batch 1 (10 ms); 250 rps: 1.5 GPUs, two held (batch 1 alone would need three)
    busy = GpuFunction("f", "m", 30.0, (np.arange(1000) + 0.5) / 250)
    lat2 = const_latency(10.0, 2.0)
    got = packing_ceiling(lat2, [busy], 0.0, 4.0, [(100.0, 100.0)], (1, 2), 0.0, 100, (1, 2))
    a_star = 0.01 * 0.012 / 2  # one SM of 100 at batch 2
    assert got["packing_ceiling"] == pytest.approx(250 * a_star / 2)


def test_same_seed_same_metrics_with_a_real_policy() -> None:
    from tessera.gpu.latency import h200_latency_ms
    from tessera.scheduling.gpu import create

    def once(seed: int) -> dict[str, float]:
        rng = np.random.default_rng(seed)
        arr = piecewise_poisson(rng, rng.uniform(5, 15, 20), 5.0)
        f = GpuFunction("r", "resnet50", 5 * h200_latency_ms("resnet50", 1, 100.0), arr)
        pol = create({"kind": "has-gpu", "latency_ms": h200_latency_ms})
        return simulate(pol, [f], h200_latency_ms, 100.0).metrics

    assert once(3) == once(3)
    assert once(3) != once(4)


def test_has_gpu_experiment_quick() -> None:
    from tessera.experiments.base import RunConfig
    from tessera.experiments.has_gpu import HAS_GPU_KNOBS, POLICIES, SETTINGS, TESSERA_KNOBS, run

    res = run(RunConfig(quick=True))
    _first, *others = SETTINGS
    assert set(res.policies) == set(POLICIES) | {f"{p}@{s}" for p in POLICIES for s in others}
    for row in res.policies.values():
        assert row["served"] > 0
        assert 0 <= row["slo_violation_rate"] <= 1
    assert res.policies["kserve-kpa"]["cost_gpu_s"] > res.policies["has-gpu"]["cost_gpu_s"]
    assert len(res.figures) == 5 and res.headline
    # a fluid packing ceiling per setting, quoted beside tessera's packing in a note
    assert set(res.meta["packing_ceiling"]) == set(SETTINGS)
    for c in res.meta["packing_ceiling"].values():
        assert 0 < c["packing_ceiling"] <= 1 and 0 < c["whole_gpus"] <= 1
    (packing,) = [n for n in res.notes if n.startswith("Packing ceiling")]
    assert all(f"{s} " in packing for s in SETTINGS)
    # planning with the predictor: the named policies in the named settings, and a grid that
    # keeps each model's own anchor rows and differs elsewhere
    from tessera.experiments.has_gpu import (
        ANCHOR_SMS,
        PREDICTED_POLICIES,
        PREDICTED_SETTINGS,
        predicted_latency,
    )
    from tessera.gpu.rapp_table import MODELS, v100_latency_ms

    planned = res.meta["predicted_planning"]
    assert list(planned) == list(PREDICTED_SETTINGS)
    assert all(list(p) == list(PREDICTED_POLICIES) for p in planned.values())
    assert set(res.meta["predicted_mape"]) == set(MODELS)
    assert all(0 < v < 100 for v in res.meta["predicted_mape"].values())
    pred = predicted_latency()
    for m in MODELS:
        for sm in ANCHOR_SMS:
            assert pred(m, 2, sm, 100.0) == pytest.approx(v100_latency_ms(m, 2, sm, 100.0))
        assert pred(m, 2, 35.0, 30.0) != pytest.approx(v100_latency_ms(m, 2, 35.0, 30.0))
    assert any(n.startswith("Planning with the predictor") for n in res.notes)
    # the SLO-scale runs: the default multiple is the policies' own rows; kserve-kpa does not
    # plan with the SLO, so a looser one never adds violations and never changes its cost
    from tessera.experiments.has_gpu import SLO_SCALES, SLO_X

    scale = res.meta["slo_scale"]
    assert list(scale) == [f"{x:g}" for x in SLO_SCALES]
    for name in POLICIES:
        assert scale[f"{SLO_X:g}"][name]["cost_gpu_s"] == res.policies[name]["cost_gpu_s"]
        assert (
            scale[f"{SLO_X:g}"][name]["slo_violation_rate"]
            == res.policies[name]["slo_violation_rate"]
        )
    kpa = [scale[x]["kserve-kpa"] for x in scale]
    assert all(a["slo_violation_rate"] >= b["slo_violation_rate"] for a, b in pairwise(kpa))
    assert len({r["cost_gpu_s"] for r in kpa}) == 1
    (line,) = [n for n in res.notes if n.startswith("SLO scale")]
    verdicts = line.count("(holds:") + line.count("(does not hold:")
    assert verdicts == len(SLO_SCALES) and all(f"{x:g}x: has-gpu" in line for x in SLO_SCALES)
    for f in res.meta["frontier"].values():
        assert len(f["matched"]) == len(HAS_GPU_KNOBS)
        assert len(f["points"]) == len(HAS_GPU_KNOBS) + len(TESSERA_KNOBS)
    # the sweeps' default points are the policies' own rows (same seeds, same simulator)
    light = res.meta["frontier"][_first]["points"]
    assert light[0]["cost_gpu_s"] == res.policies["has-gpu"]["cost_gpu_s"]
    ours = next(p for p in light if p["label"] == "slo x0.45, util 0.5")
    assert ours["cost_gpu_s"] == res.policies["tessera"]["cost_gpu_s"]
    # the committed H200 control-loop check is quoted, both policies, real beside simulated
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks/results/gpu_control_check_h200.json"
    data = json.loads(path.read_text())
    device = [n for n in res.notes if n.startswith("On a real H200")]
    assert len(device) == 1
    for kind in ("has-gpu", "tessera"):
        real = data[kind]["real"]["slo_violation_rate"]
        sim = data[kind]["sim"]["slo_violation_rate"]
        assert f"{kind} {real:.1%} real vs {sim:.1%} simulated" in device[0]


def test_matched_cost_picks_the_cheapest_point_with_no_more_violations() -> None:
    from tessera.experiments.has_gpu import matched_cost

    def pt(policy: str, label: str, cost: float, viol: float) -> dict[str, object]:
        return {"policy": policy, "label": label, "cost_gpu_s": cost, "slo_violation_rate": viol}

    pts = [
        pt("has-gpu", "a", 20.0, 0.30), pt("has-gpu", "b", 50.0, 0.05),
        pt("tessera", "x", 10.0, 0.40), pt("tessera", "y", 25.0, 0.30),
        pt("tessera", "z", 40.0, 0.10), pt("tessera", "w", 30.0, 0.20),
    ]  # fmt: skip
    got = matched_cost(pts)  # type: ignore[arg-type]
    assert [(m["tessera"], m["ratio"]) for m in got] == [("y", 0.8), (None, None)]


def test_measured_quota_model_reads_the_latency_at_the_slice() -> None:
    def lat(model: str, batch: int, sm: float, quota: float) -> float:
        return 10.0 * 100.0 / quota  # 10 ms solo, stretched by the quota

    one = [fn("f", [1.0, 3.0])]
    pol = fixed({"f": [("new:0", 50.0, 25.0, 1)]})
    window = simulate(pol, one, lat, 5.0, ClusterConfig(interference=0.0))
    measured = simulate(pol, one, lat, 5.0, ClusterConfig(interference=0.0, quota_model="measured"))
    np.testing.assert_allclose(measured.latency_ms("f"), 40.0)  # the table's value at quota 25%
    # the token window runs 10 ms of work in 10 ms budgets per 40 ms window: at most 40 ms
    assert np.all(window.latency_ms("f") <= 40.0 + 1e-9)
    with pytest.raises(InputError, match=r"cluster\.quota_model"):
        ClusterConfig(quota_model="fluid")
    with pytest.raises(InputError, match=r"cluster\.a_star_batches"):
        ClusterConfig(a_star_batches=())


def test_measured_quota_caps_what_a_slice_sustains_back_to_back() -> None:
    # a grid measured one request at a time: the quota does not show in a lone latency
    def flat(model: str, batch: int, sm: float, quota: float) -> float:
        return 10.0

    burst = [fn("f", [1.0, 1.0, 1.0])]
    cfg = ClusterConfig(interference=0.0, quota_model="measured")

    def lat(quota: float, functions: list[GpuFunction] = burst, **plans: list[Plan]) -> np.ndarray:
        res = simulate(fixed({"f": [("gpu0", 50.0, quota, 1)], **plans}), functions, flat, 5.0, cfg)
        out: np.ndarray = res.latency_ms("f")
        return out

    # each takes its 10 ms, but with quota q the next starts only 10 / q ms after the last
    np.testing.assert_allclose(lat(100.0), [10.0, 20.0, 30.0])
    np.testing.assert_allclose(lat(25.0), [10.0, 50.0, 90.0])
    np.testing.assert_allclose(lat(10.0), [10.0, 110.0, 210.0])
    # a co-tenant's slowdown stretches the latency and the period alike
    cfg = ClusterConfig(interference=0.376, quota_model="measured")
    slow = 1 + 0.376 * 0.5
    both = [*burst, fn("g", [])]
    np.testing.assert_allclose(
        lat(25.0, both, g=[("gpu0", 50.0, 100.0, 1)]),
        [10.0 * slow, 50.0 * slow, 90.0 * slow],
    )

    # a latency already stretched by the quota (time-sliced) is not stretched again
    def sliced(model: str, batch: int, sm: float, quota: float) -> float:
        return 10.0 * 100.0 / quota

    cfg = ClusterConfig(interference=0.0, quota_model="measured")
    res = simulate(fixed({"f": [("gpu0", 50.0, 25.0, 1)]}), burst, sliced, 5.0, cfg)
    np.testing.assert_allclose(res.latency_ms("f"), [40.0, 80.0, 120.0])


def test_a_drained_slice_is_charged_until_its_batch_ends_not_its_quota_period() -> None:
    def script(now: float) -> dict[str, list[Plan]]:
        return {"f": [("gpu0", 100.0, 10.0, 1)] if now < 2 else []}

    def flat(model: str, batch: int, sm: float, quota: float) -> float:
        return 100.0

    cfg = ClusterConfig(decide_interval_s=1.0, quota_model="measured", interference=0.0)
    res = simulate(Scripted(script), [fn("f", [1.95])], flat, 4.0, cfg)
    np.testing.assert_allclose(res.end_s["f"], [2.05])
    # charged 2 s, then until 2.05 (the batch's end), not until 1.95 + 100 ms / 10%
    assert res.metrics["cost_gpu_s"] == pytest.approx(0.1 * 2.05)
    assert res.metrics["gpu_s_held"] == pytest.approx(2.05)


def test_service_latency_serves_batches_while_the_policy_plans_with_its_own_model() -> None:
    arrivals = np.arange(0.0, 5.0, 0.1)
    pol = fixed({"f": [("new:0", 50.0, 100.0, 1)]})
    cfg = ClusterConfig(interference=0.0, cold_start_s=0.0)
    planned = simulate(pol, [fn("f", arrivals)], const_latency(10.0), 5.0, cfg)
    real = simulate(
        pol,
        [fn("f", arrivals)],
        const_latency(10.0),
        5.0,
        cfg,
        service_latency_ms=const_latency(4.0),
    )
    np.testing.assert_allclose(planned.latency_ms("f"), 10.0)
    np.testing.assert_allclose(real.latency_ms("f"), 4.0)  # the hardware's time, not the plan's
    # what the policy was shown is still its own model
    assert all(snap.extra["latency_ms"]("m", 1, 50.0, 100.0) == 10.0 for snap in pol.seen)
    assert pol.seen
    # a* (the least area a request needs) is the planning model's: same packing efficiency
    assert real.metrics["packing_efficiency"] == planned.metrics["packing_efficiency"]


def test_even_stages_send_each_stage_whole_number_rate_evenly() -> None:
    from tessera.sim.gpu_cluster import even_stages

    got = even_stages([2.4, 0.0, 1.0], 2.0)
    assert got.tolist() == [0.0, 0.5, 1.0, 1.5, 4.0, 5.0]
    rates = np.array([5.2, 14.6, 9.5])
    many = even_stages(rates, 5.0)
    assert len(many) == int(np.rint(rates).sum() * 5) and np.all(np.diff(many) > 0)
    with pytest.raises(InputError, match="rates_rps"):
        even_stages([-1.0], 5.0)


def test_an_instance_dropped_while_starting_is_cancelled_not_charged_to_its_ready_time() -> None:
    def script(now: float) -> dict[str, list[Plan]]:
        # gpu0 serves throughout; a second slice is planned at t=1 and dropped at t=2
        plans = [("gpu0", 50.0, 100.0, 1)]
        return {"f": [*plans, ("gpu0", 50.0, 100.0, 1)] if now == 1.0 else plans}

    cfg = ClusterConfig(decide_interval_s=1.0, cold_start_s=5.0, interference=0.5)
    res = simulate(Scripted(script), [fn("f", [2.5])], const_latency(100.0), 4.0, cfg)
    # the extra slice was charged from 1 s to 2 s only (not to its ready time, 6 s)
    assert res.metrics["cost_gpu_s"] == pytest.approx(0.5 * 4.0 + 0.5 * 1.0)
    # and did not slow the request served at 2.5 s (it never ran)
    np.testing.assert_allclose(res.end_s["f"], [2.6])


def test_the_slowdown_follows_co_tenants_that_leave_or_arrive_within_a_step() -> None:
    # g's slice on gpu0 is dropped at t=2 while a batch runs (ends ~2.1): f's batch at 2.5
    # runs alone, not slowed for the rest of the 2-s step
    def leaves(now: float) -> dict[str, list[Plan]]:
        return {"f": [("gpu0", 50.0, 100.0, 1)], "g": [("gpu0", 50.0, 100.0, 1)] if now < 2 else []}

    cfg = ClusterConfig(cold_start_s=0.5, interference=0.5)
    fns = [fn("f", [2.5]), fn("g", [1.95])]
    res = simulate(Scripted(leaves), fns, const_latency(100.0), 6.0, cfg)
    np.testing.assert_allclose(res.end_s["g"], [1.95 + 0.125])  # slowed by f: 1 + 0.5 x 0.5
    np.testing.assert_allclose(res.end_s["f"], [2.6])

    # g's slice is planned at t=2 and ready at 2.5: f's batch at 2.7 is slowed by it
    def arrives(now: float) -> dict[str, list[Plan]]:
        return {
            "f": [("gpu0", 50.0, 100.0, 1)],
            "g": [("gpu0", 50.0, 100.0, 1)] if now >= 2 else [],
        }

    res = simulate(Scripted(arrives), [fn("f", [2.7]), fn("g", [])], const_latency(100.0), 6.0, cfg)
    np.testing.assert_allclose(res.end_s["f"], [2.7 + 0.125])


def test_instances_report_the_batches_they_ran_since_the_last_snapshot() -> None:
    # one request at 0.1 s (batch of 1: 40 ms), two at 0.5 s (batch of 2: 50 ms), one at 1.2 s
    # under a co-tenant's slowdown; nothing from 2 s on
    pol = fixed({"f": [("gpu0", 50.0, 100.0, 2)], "g": [("gpu0", 50.0, 100.0, 1)]})
    fns = [fn("f", [0.1, 0.5, 0.5, 1.2]), fn("g", [])]
    simulate(pol, fns, const_latency(40.0, 10.0), 6.0, ClusterConfig(interference=0.5))
    assert not pol.seen[0].functions["f"].instances  # the first decision starts them
    seen = [s.functions["f"].instances[0].observed for s in pol.seen[1:]]  # at 2, 4 s
    np.testing.assert_allclose(seen[0], [(1, 1.25 * 40.0), (2, 1.25 * 50.0)])  # g's half: x1.25
    assert seen[1:] == [()]
    assert all(s.functions["g"].instances[0].observed == () for s in pol.seen[1:])  # ran none
    with pytest.raises(InputError, match=r"instance\.observed"):
        GpuInstanceView(1, "gpu0", 50.0, 50.0, observed=((2, 0.0),))


def test_warmup_is_decided_and_served_but_only_the_rest_is_measured() -> None:
    # one slice while t < 4, a second one from 4 on: the warm-up run must be the same run as the
    # plain one, seen from t = 4 (records shifted, cost and timeline only from there)
    rng = np.random.default_rng(7)
    arrivals = np.sort(rng.uniform(0.0, 10.0, 400))

    def script(now: float) -> dict[str, list[Plan]]:
        one = [("gpu0", 50.0, 100.0, 2)]
        return {"f": one if now < 4 else [*one, ("gpu1", 30.0, 100.0, 2)]}

    lat = const_latency(60.0, 5.0)  # one slice serves ~31 of ~40 rps: a queue builds until 4
    plain = simulate(Scripted(script), [fn("f", arrivals)], lat, 10.0, ClusterConfig())
    pol = Scripted(script)
    warm = simulate(pol, [fn("f", arrivals)], lat, 6.0, ClusterConfig(warmup_s=4.0))
    assert [s.now_s for s in pol.seen] == [0.0, 2.0, 4.0, 6.0, 8.0]  # the warm-up is decided
    later = plain.arrivals_s["f"] >= 4.0
    assert later.sum() == len(warm.arrivals_s["f"]) < len(arrivals)
    for rec in ("arrivals_s", "start_s", "end_s"):
        np.testing.assert_allclose(getattr(warm, rec)["f"], getattr(plain, rec)["f"][later] - 4)
    assert (plain.start_s["f"][~later] > 4.0).any()  # the warm-up's queue reaches the measure
    np.testing.assert_allclose(warm.timeline_s, [0.0, 2.0, 4.0])
    np.testing.assert_allclose(warm.area_timeline, plain.area_timeline[2:])
    np.testing.assert_allclose(warm.metrics["cost_gpu_s"], 0.8 * 6.0)  # both slices, 6 s
    np.testing.assert_allclose(warm.metrics["gpus_held_mean"], 2.0)
    assert warm.reasons["f"][0].startswith("t=-4s: ") and warm.reasons["f"][2].startswith("t=0s")


def test_warmup_charges_what_drains_across_it_and_counts_only_measured_plans() -> None:
    # g's slice is dropped at t = 2 while a 3.5 s batch runs (it drains until 4.5), h's then
    # too (its batch ends at 2.01, in the warm-up); in the warm-up f also asks for a slice
    # that overfills gpu0 (rejected, and not counted after)
    def lat(model: str, batch: int, sm: float, quota: float) -> float:
        return 3500.0 if model == "slow" else 20.0

    def script(now: float) -> dict[str, list[Plan]]:
        f = [("gpu0", 50.0, 100.0, 1)] + ([("gpu0", 60.0, 100.0, 1)] if now < 4 else [])
        early = now < 2
        return {"f": f, "g": [("gpu2", 40.0, 100.0, 1)] if early else [],
                "h": [("gpu3", 20.0, 100.0, 1)] if early else []}  # fmt: skip

    fns = [
        fn("f", np.arange(0.05, 10.0, 0.1)),
        GpuFunction("g", "slow", 1e6, np.array([1.0])),
        fn("h", [1.99]),
    ]
    cfg = ClusterConfig(cold_start_s=0.0, interference=0.0)
    whole = simulate(Scripted(script), fns, lat, 10.0, cfg)
    head = simulate(Scripted(script), fns, lat, 4.0, cfg)  # the warm-up alone
    warm = simulate(Scripted(script), fns, lat, 6.0, ClusterConfig(
        cold_start_s=0.0, interference=0.0, warmup_s=4.0))  # fmt: skip
    for key in ("cost_gpu_s", "gpu_s_held"):
        assert warm.metrics[key] == pytest.approx(whole.metrics[key] - head.metrics[key])
    assert warm.metrics["cost_gpu_s"] == pytest.approx(0.5 * 6.0 + 0.4 * 0.5)  # g until 4.5
    assert whole.metrics["rejected_plans"] == 2 and warm.metrics["rejected_plans"] == 0
    assert warm.metrics["decisions"] == 3 and whole.metrics["decisions"] == 5
    assert len(warm.arrivals_s["g"]) == len(warm.arrivals_s["h"]) == 0


@pytest.mark.parametrize("bad", [-2.0, 3.0, float("inf"), float("nan")])
def test_warmup_must_be_whole_decide_intervals(bad: float) -> None:
    with pytest.raises(InputError, match=r"cluster\.warmup_s"):
        ClusterConfig(warmup_s=bad)


def test_has_gpu_functions_lead_with_the_first_stage_rate_for_the_warmup() -> None:
    from tessera.experiments.has_gpu import STAGE_S, STAGES, WARMUP_S, functions

    fns, _ = functions(3, 5.0, 15.0, even=True)  # HAS-GPU's client: whole-number rates
    for f in fns:
        per_s = np.bincount(f.arrivals_s.astype(int), minlength=int(WARMUP_S + STAGES * STAGE_S))
        assert len(per_s) == WARMUP_S + STAGES * STAGE_S
        lead = per_s[: int(WARMUP_S + STAGE_S)]  # the warm-up and the first measured stage
        assert (lead == lead[-1]).all() and 5 <= lead[-1] <= 15
