"""GPU policies on hand-built snapshots: kserve-kpa, exclusive-batched, fast-gshare (+ MaxRects),
has-gpu, tessera."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.core.errors import InputError
from tessera.core.gpu_policy import (
    GpuDecision,
    GpuFunctionView,
    GpuInstanceView,
    GpuSnapshot,
    GpuView,
    is_new_gpu,
)
from tessera.core.policy import InstanceState
from tessera.gpu.latency import h200_latency_ms
from tessera.scheduling.gpu import (
    GPU_POLICIES,
    ExclusiveBatched,
    FastGShare,
    HasGpu,
    KserveKpa,
    TesseraPolicy,
    create,
)
from tessera.scheduling.gpu.base import config, grid, profile
from tessera.scheduling.gpu.has_gpu import KalmanState, kalman_step
from tessera.scheduling.gpu.maxrects import MaxRects, Rect
from tessera.testing.conformance import ConformanceError
from tessera.testing.gpu import check_gpu_policy, gpu_snapshots


def linear_ms(model: str, batch: int, sm_pct: float, quota_pct: float) -> float:
    """10 ms per request on a whole GPU, inversely proportional to SMs and quota."""
    return 10.0 * batch * (100.0 / sm_pct) * (100.0 / quota_pct)


def sublinear_ms(model: str, batch: int, sm_pct: float, quota_pct: float) -> float:
    """SMs help less than linearly, with a fixed overhead: the efficient slice is not obvious."""
    return (2.0 + 8.0 * (100.0 / sm_pct) ** 0.6 * batch**0.8) * (100.0 / quota_pct) ** 1.1


def fn(
    name: str = "f",
    rate: float = 0.0,
    instances: tuple[GpuInstanceView, ...] = (),
    slo_ms: float = 1000.0,
    model: str = "resnet50",
    concurrency: tuple[float, ...] = (),
) -> GpuFunctionView:
    return GpuFunctionView(name, model, slo_ms, instances, (rate,) * 10, concurrency, bucket_s=1.0)


def snap(
    *fns: GpuFunctionView, gpus: int = 1, now_s: float = 100.0, state: object = None
) -> GpuSnapshot:
    return GpuSnapshot(
        now_s,
        {f"gpu-{g}": GpuView(f"gpu-{g}") for g in range(gpus)},
        {f.name: f for f in fns},
        state,
        {"latency_ms": linear_ms},
    )


# -- every policy ------------------------------------------------------------------------


@pytest.mark.parametrize("name", GPU_POLICIES.names())
def test_registered_gpu_policies_conform(name: str) -> None:
    policy = GPU_POLICIES.create(name)
    allow_zero = getattr(policy, "scales_to_zero", False) is True
    assert len(check_gpu_policy(policy, allow_zero=allow_zero)) == len(gpu_snapshots())


@pytest.mark.parametrize("name", ["kserve-kpa", "exclusive-batched", "fast-gshare", "has-gpu"])
def test_policies_are_registered_and_built_from_config(name: str) -> None:
    assert create({"kind": name}).name == name


@pytest.mark.parametrize("name", GPU_POLICIES.names())
def test_same_snapshot_same_decisions(name: str) -> None:
    s = snap(fn("a", 40.0), fn("b", 3.0), gpus=2)
    assert GPU_POLICIES.create(name).decide(s) == GPU_POLICIES.create(name).decide(s)


# -- kserve-kpa --------------------------------------------------------------------------


def test_kserve_uses_whole_gpus_min_one() -> None:
    d = KserveKpa().decide(snap(fn("f", 0.0), gpus=2)).decisions[0]
    assert len(d.instances) == 1
    assert all(p.sm_pct == 100 and p.quota_pct == 100 for p in d.instances)
    assert d.instances[0].gpu_id == "gpu-0"


def test_kserve_caps_at_two_replicas_and_keeps_held_gpu() -> None:
    held = GpuInstanceView(7, "gpu-1", 100.0, 100.0)
    d = (
        KserveKpa()
        .decide(snap(fn("f", 1e4, (held,), concurrency=(50.0,) * 60), gpus=2))
        .decisions[0]
    )
    assert len(d.instances) == 2
    assert d.instances[0].instance_id == 7 and d.instances[0].gpu_id == "gpu-1"
    assert d.instances[1].gpu_id == "gpu-0" and d.instances[1].instance_id is None
    assert "bounded to [1, 2]" in d.reason


def test_kserve_new_gpus_when_none_free() -> None:
    d = KserveKpa().decide(snap(fn("f", 0.0, concurrency=(50.0,)), gpus=0)).decisions[0]
    assert [p.gpu_id for p in d.instances] == ["new:0", "new:1"]


# -- exclusive-batched -------------------------------------------------------------------


def test_exclusive_batched_is_conformant_and_enumerated() -> None:
    assert "exclusive-batched" in GPU_POLICIES.names()
    results = check_gpu_policy(ExclusiveBatched())
    for r in results:
        for d in r.decisions:
            assert all(p.sm_pct == 100.0 and p.quota_pct == 100.0 for p in d.instances)


def batched_ms(model: str, batch: int, sm_pct: float, quota_pct: float) -> float:
    """A fixed 4 ms overhead plus 1 ms per request on a whole GPU: bigger batches amortise."""
    return (4.0 + 1.0 * batch) * (100.0 / sm_pct) * (100.0 / quota_pct)


BATCHES = (1, 2, 4, 8, 16, 32)


@pytest.mark.parametrize("latency", [linear_ms, sublinear_ms, batched_ms, h200_latency_ms])
@pytest.mark.parametrize("slo_ms", [0.5, 3.0, 5.0, 10.0, 21.0, 40.0, 200.0])
@pytest.mark.parametrize("model", ["resnet50", "bert_base"])
def test_exclusive_batched_batch_matches_brute_force(
    latency: object, slo_ms: float, model: str
) -> None:
    policy = ExclusiveBatched(batches=BATCHES, latency_ms=latency)  # type: ignore[arg-type]
    f = fn("f", 1.0, slo_ms=slo_ms, model=model)
    cfg, why = policy.choose(policy.latency_ms, f)  # type: ignore[arg-type]
    assert (cfg.sm_pct, cfg.quota_pct) == (100.0, 100.0)
    feasible = []
    for b in BATCHES:
        ms = latency(model, b, 100.0, 100.0)  # type: ignore[operator]
        if ms <= slo_ms:
            feasible.append((b * 1000.0 / ms, -b))
    if not feasible:
        assert cfg.batch == 1 and "no batch meets" in why
        return
    best_rps, neg_b = max(feasible)
    assert cfg.batch == -neg_b
    assert cfg.rps == pytest.approx(best_rps, rel=1e-9)
    assert cfg.latency_ms <= slo_ms
    assert all(cfg.rps >= r * (1 - 1e-9) for r, _ in feasible)
    d = policy.decide(snap(f, gpus=1)).decisions[0]
    assert {p.batch for p in d.instances} == {cfg.batch}


def test_exclusive_batched_prefers_bigger_batches_when_the_slo_allows() -> None:
    # batched_ms: batch b takes 4 + b ms; SLO 21 ms admits up to batch 16
    policy = ExclusiveBatched(latency_ms=batched_ms)
    cfg, why = policy.choose(batched_ms, fn("f", slo_ms=21.0))
    assert cfg.batch == 16 and "highest-throughput" in why
    cfg, _ = policy.choose(batched_ms, fn("f", slo_ms=8.0))
    assert cfg.batch == 4


@pytest.mark.parametrize("rate", [0.0, 1.0, 50.0, 400.0, 1234.5, 5000.0])
def test_exclusive_batched_replicas_scale_with_rate(rate: float) -> None:
    policy = ExclusiveBatched(latency_ms=batched_ms)
    f = fn("f", rate, slo_ms=21.0)
    cfg, _ = policy.choose(batched_ms, f)
    d = policy.decide(snap(f, gpus=2)).decisions[0]
    assert len(d.instances) == max(1, math.ceil(rate / (cfg.rps * 0.8) - 1e-9))
    assert all(p.sm_pct == 100.0 and p.quota_pct == 100.0 for p in d.instances)
    assert "whole GPU(s)" in d.reason and f"batch {cfg.batch}" in d.reason


def test_exclusive_batched_replicas_monotone_in_rate() -> None:
    policy = ExclusiveBatched()
    counts = [
        len(policy.decide(snap(fn("f", r), gpus=1)).decisions[0].instances)
        for r in range(0, 20_000, 500)
    ]
    assert counts == sorted(counts) and counts[0] == 1 and counts[-1] > 1


def test_exclusive_batched_keeps_whole_gpus_and_places_new_on_free_then_new() -> None:
    held = GpuInstanceView(7, "gpu-1", 100.0, 100.0, batch=1)
    slice_ = GpuInstanceView(8, "gpu-0", 50.0, 50.0)
    policy = ExclusiveBatched(latency_ms=batched_ms)
    cfg, _ = policy.choose(batched_ms, fn("f", slo_ms=21.0))
    rate = 3.5 * cfg.rps * 0.8  # four replicas
    d = policy.decide(snap(fn("f", rate, (held, slice_), slo_ms=21.0), gpus=2)).decisions[0]
    assert [(p.gpu_id, p.instance_id) for p in d.instances] == [
        ("gpu-1", 7),
        ("gpu-0", None),
        ("new:0", None),
        ("new:1", None),
    ]
    assert d.instances[0].batch == cfg.batch  # kept instance gets the chosen batch
    assert "keep 1 on gpu-1" in d.reason and "3 new on gpu-0, new:0, new:1" in d.reason


def test_exclusive_batched_never_shares_a_gpu() -> None:
    a = GpuInstanceView(1, "gpu-0", 100.0, 100.0)
    b = GpuInstanceView(2, "gpu-0", 100.0, 100.0)  # a broken input: two on one GPU
    r = ExclusiveBatched().decide(snap(fn("a", 5.0, (a,)), fn("b", 5.0, (b,)), gpus=3))
    gpus = [p.gpu_id for d in r.decisions for p in d.instances]
    assert len(gpus) == len(set(gpus))
    assert r.decisions[0].instances[0].instance_id == 1
    assert r.decisions[1].instances[0].instance_id is None


def test_exclusive_batched_validates_config() -> None:
    with pytest.raises(InputError):
        ExclusiveBatched(batches=())
    with pytest.raises(InputError):
        ExclusiveBatched(target_utilization=0.0)


# -- fast-gshare -------------------------------------------------------------------------


@pytest.mark.parametrize("latency", [linear_ms, sublinear_ms, h200_latency_ms])
@pytest.mark.parametrize("slo_ms", [3.0, 10.0, 40.0, 200.0])
def test_fast_gshare_picks_cheapest_config_meeting_slo(latency: object, slo_ms: float) -> None:
    policy = FastGShare(latency_ms=latency)  # type: ignore[arg-type]
    f = fn("f", 1.0, slo_ms=slo_ms)
    cfg, _ = policy.choose(policy.latency_ms, f)  # type: ignore[arg-type]
    feasible = []
    for sm in grid(10.0):
        for q in grid(10.0):
            ms = latency(f.model, 1, sm, q)  # type: ignore[operator]
            if ms <= slo_ms:
                feasible.append((sm * q / (1000.0 / ms), sm, q))
    if not feasible:
        assert (cfg.sm_pct, cfg.quota_pct) == (100.0, 100.0)
        return
    assert cfg.latency_ms <= slo_ms
    best = min(c for c, _, _ in feasible)
    assert cfg.area_per_rps == pytest.approx(best, rel=1e-6)


def test_fast_gshare_scales_horizontally_only() -> None:
    policy = FastGShare()
    f = fn("f", 95.0, slo_ms=100.0)
    cfg, _ = policy.choose(linear_ms, f)
    d = policy.decide(snap(f, gpus=1)).decisions[0]
    assert len(d.instances) == math.ceil(95.0 / cfg.rps)
    assert {(p.sm_pct, p.quota_pct, p.batch) for p in d.instances} == {
        (cfg.sm_pct, cfg.quota_pct, cfg.batch)
    }
    assert "replica" in d.reason and "cheapest" in d.reason


def test_fast_gshare_keeps_matching_and_replaces_others() -> None:
    policy = FastGShare()
    cfg, _ = policy.choose(linear_ms, fn("f", slo_ms=100.0))
    same = GpuInstanceView(3, "gpu-0", cfg.sm_pct, cfg.quota_pct)
    other = GpuInstanceView(4, "gpu-0", 100.0, 50.0)
    d = policy.decide(snap(fn("f", 0.1, (same, other), slo_ms=100.0))).decisions[0]
    assert [p.instance_id for p in d.instances] == [3]


def _no_overlap(rects: list[Rect]) -> None:
    for r in rects:
        assert r.x >= -1e-9 and r.y >= -1e-9 and r.right <= 100 + 1e-9 and r.top <= 100 + 1e-9
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert not a.overlaps(b), (a, b)


sizes = st.tuples(st.integers(1, 10), st.integers(1, 10)).map(lambda t: (10.0 * t[0], 10.0 * t[1]))


@settings(max_examples=150, deadline=None)
@given(st.lists(sizes, max_size=30))
def test_maxrects_never_overlaps_or_overfills(items: list[tuple[float, float]]) -> None:
    packer = MaxRects()
    for w, h in items:
        placed = packer.place(w, h)
        if placed is None:
            # nothing fits: then no free rectangle is large enough
            assert all(f.w < w - 1e-9 or f.h < h - 1e-9 for f in packer.free)
            continue
        packer = placed[0]
        _no_overlap(list(packer.used))
        for f in packer.free:  # free space is free
            assert not any(f.overlaps(u) for u in packer.used)
    assert packer.used_area <= 1.0 + 1e-9


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.0, 400.0), st.sampled_from([5.0, 20.0, 100.0])),
        min_size=1,
        max_size=4,
    )
)
def test_fast_gshare_placement_never_overfills_a_gpu(loads: list[tuple[float, float]]) -> None:
    fns = [fn(f"f{k}", rate, slo_ms=slo) for k, (rate, slo) in enumerate(loads)]
    result = FastGShare().decide(snap(*fns, gpus=2))
    by_gpu: dict[str, list[Rect]] = {}
    for d in result.decisions:
        for p in d.instances:
            assert p.sm_offset_pct is not None and p.quota_offset_pct is not None
            r = Rect(p.sm_offset_pct, p.quota_offset_pct, p.sm_pct, p.quota_pct)
            by_gpu.setdefault(p.gpu_id, []).append(r)
    for rects in by_gpu.values():
        _no_overlap(rects)
        assert sum(r.w * r.h for r in rects) <= 100 * 100 + 1e-6


# -- has-gpu -----------------------------------------------------------------------------


def test_kalman_converges_on_constant_rate() -> None:
    st_: KalmanState | None = None
    for k in range(60):
        st_ = kalman_step(st_, 0.0 if k == 0 else 12.0, 2.0 * k, 1.0, 4.0)
    assert st_ is not None and st_.rate_rps == pytest.approx(12.0, abs=1e-3)


def plain_has_gpu(**kw: object) -> HasGpu:
    """has-gpu's scaling with the measured rate as its prediction (no over-estimate)."""
    return HasGpu(initial_rps=None, offset_sigmas=0.0, min_buffer_rps=0.0, **kw)  # type: ignore[arg-type]


def test_has_gpu_filter_converges_through_decide() -> None:
    inst = GpuInstanceView(1, "gpu-0", 50.0, 50.0)
    for policy, lead in ((plain_has_gpu(), 0.0), (HasGpu(), None)):
        state: object = None
        for k in range(40):
            rate = 3.0 if k < 5 else 8.0
            r = policy.decide(snap(fn("f", rate, (inst,)), now_s=2.0 * k, state=state))
            state = r.state
        assert isinstance(state, dict)
        if lead is None:
            # HAS-GPU's filter (Q 1, R 10) settles at variance p with p^2 + p = 10, and its
            # sqrt(p) offset per update keeps the estimate sqrt(p) / gain above the rate
            p = (math.sqrt(41.0) - 1.0) / 2.0
            lead = math.sqrt(p) / ((p + 1.0) / (p + 11.0))
            assert lead == pytest.approx(6.08, abs=0.01)
        assert state["f"].rate_rps == pytest.approx(8.0 + lead, abs=0.05)


def test_has_gpu_step_offsets_and_floors_the_estimate() -> None:
    from tessera.scheduling.gpu.has_gpu import has_gpu_step

    # from 30 rps / variance 1, measuring 16: prior 2, gain 1/6, estimate 30 - 14/6,
    # variance 5/3, plus one standard deviation; above the floor 16 + 5
    prev = KalmanState(30.0, 1.0, 0.0)
    st = has_gpu_step(prev, 16.0, 2.0, 1.0, 10.0, 0.0, 5.0)
    assert (st.rate_rps, st.var) == (pytest.approx(30.0 - 14.0 / 6.0), pytest.approx(5.0 / 3.0))
    up = has_gpu_step(prev, 16.0, 2.0, 1.0, 10.0, 1.0, 5.0)
    assert up.rate_rps == pytest.approx(30.0 - 14.0 / 6.0 + math.sqrt(5.0 / 3.0))
    # the first update starts from 0 rps with variance 1 and lands on the floor: measurement + 5
    first = has_gpu_step(None, 16.0, 0.0, 1.0, 10.0, 1.0, 5.0)
    assert (first.rate_rps, first.var) == (pytest.approx(21.0), pytest.approx(5.0 / 3.0))
    # never below the measurement, even without a buffer
    assert has_gpu_step(None, 16.0, 0.0, 1.0, 10.0, 0.0, 0.0).rate_rps == 16.0
    assert has_gpu_step(None, 16.0, 0.0, 1.0, 10.0, 0.0, 0.0, initial_rps=None).rate_rps == 16.0


def test_has_gpu_updates_prediction_only_every_interval() -> None:
    policy = HasGpu()
    inst = GpuInstanceView(1, "gpu-0", 50.0, 50.0)
    first = policy.decide(snap(fn("f", 3.0, (inst,)), now_s=10.0))
    second = policy.decide(snap(fn("f", 9.0, (inst,)), now_s=11.0, state=first.state))
    assert second.state["f"].rate_rps == first.state["f"].rate_rps


def test_has_gpu_scales_vertically_first() -> None:
    # linear_ms: instance (50%, 30%) serves 15 rps; 16 rps predicted > 0.9 x 15
    inst = GpuInstanceView(1, "gpu-0", 50.0, 30.0)
    d = plain_has_gpu().decide(snap(fn("f", 16.0, (inst,)), gpus=2)).decisions[0]
    assert len(d.instances) == 1
    assert d.instances[0].instance_id == 1 and d.instances[0].quota_pct == 40.0
    assert "rate 16.0 rps predicted > 0.9 x capacity 15.0: quota 30% -> 40%" in d.reason


def test_has_gpu_then_horizontally_on_least_occupied_gpu() -> None:
    # the row on gpu-0 is full (100% quota): no vertical room, add on empty gpu-1
    inst = GpuInstanceView(1, "gpu-0", 50.0, 100.0)
    d = HasGpu().decide(snap(fn("f", 60.0, (inst,)), gpus=2)).decisions[0]
    assert len(d.instances) == 2
    new = d.instances[1]
    assert new.instance_id is None and new.gpu_id == "gpu-1"
    assert (new.sm_pct, new.quota_pct) == (100.0, 100.0)  # the highest-RPS config there
    assert "least-occupied gpu-1" in d.reason


def test_has_gpu_new_gpu_when_held_ones_are_full() -> None:
    a = GpuInstanceView(1, "gpu-0", 50.0, 100.0, sm_offset_pct=0.0)
    b = GpuInstanceView(2, "gpu-0", 50.0, 100.0, sm_offset_pct=50.0)
    d = HasGpu().decide(snap(fn("f", 120.0, (a, b)), gpus=1)).decisions[0]
    assert any(is_new_gpu(p.gpu_id) for p in d.instances)
    assert "new GPU new:0" in d.reason


def test_has_gpu_keeps_at_most_two_rows_per_gpu() -> None:
    inst = GpuInstanceView(1, "gpu-0", 10.0, 100.0)
    d = HasGpu().decide(snap(fn("f", 300.0, (inst,)), gpus=1)).decisions[0]
    rows: dict[str, set[tuple[float | None, float]]] = {}
    for p in d.instances:
        rows.setdefault(p.gpu_id, set()).add((p.sm_offset_pct, p.sm_pct))
    assert all(len(r) <= 2 for r in rows.values())


def test_has_gpu_respects_cooldown_and_never_goes_to_zero() -> None:
    policy = plain_has_gpu()
    insts = (GpuInstanceView(1, "gpu-0", 50.0, 100.0), GpuInstanceView(2, "gpu-1", 50.0, 100.0))
    recent = {"f": KalmanState(0.0, 1.0, 100.0, last_scale_s=95.0)}
    held = policy.decide(snap(fn("f", 0.0, insts), gpus=2, now_s=101.0, state=recent))
    d = held.decisions[0]
    assert [p.instance_id for p in d.instances] == [1, 2]
    assert "cooldown 4.0s left" in d.reason
    later = policy.decide(snap(fn("f", 0.0, insts), gpus=2, now_s=106.0, state=held.state))
    d = later.decisions[0]
    assert len(d.instances) == 1 and d.instances[0].quota_pct == 10.0
    assert "remove" in d.reason and "quota 100% -> 90%" in d.reason
    assert later.state["f"].last_scale_s == 106.0
    # and the scale-down started a new cooldown
    again = policy.decide(snap(fn("f", 0.0, insts[:1]), gpus=2, now_s=107.0, state=later.state))
    assert "cooldown" in again.decisions[0].reason
    # a scale-up does not (as in HAS-GPU's controller: only scale-downs that act)
    grown = policy.decide(snap(fn("f", 60.0, insts[:1]), gpus=2, now_s=108.0, state=again.state))
    assert "> 0.9 x capacity" in grown.decisions[0].reason
    assert len(grown.decisions[0].instances) == 2 and grown.state["f"].last_scale_s == 106.0


def test_has_gpu_holds_between_thresholds() -> None:
    inst = GpuInstanceView(1, "gpu-0", 50.0, 40.0)  # 20 rps
    d = HasGpu().decide(snap(fn("f", 10.0, (inst,)))).decisions[0]
    assert "no change" in d.reason and d.instances[0].quota_pct == 40.0


def test_has_gpu_vertical_growth_respects_the_row() -> None:
    # two functions share one 50% row: 60% + 40% quota, nothing left to grow into
    a = GpuInstanceView(1, "gpu-0", 50.0, 60.0, sm_offset_pct=0.0)
    b = GpuInstanceView(2, "gpu-0", 50.0, 40.0, sm_offset_pct=0.0)
    r = HasGpu().decide(snap(fn("a", 40.0, (a,)), fn("b", 1.0, (b,)), gpus=1))
    da = r.decisions[0]
    assert da.instances[0].quota_pct == 60.0 and len(da.instances) == 2
    area_gpu0 = sum(p.area for d in r.decisions for p in d.instances if p.gpu_id == "gpu-0")
    assert area_gpu0 <= 1.0 + 1e-9


def test_has_gpu_cost_is_reserved_area() -> None:
    inst = GpuInstanceView(1, "gpu-0", 50.0, 30.0)
    d = plain_has_gpu().decide(snap(fn("f", 16.0, (inst,)))).decisions[0]
    assert d.area == pytest.approx(0.5 * 0.4)


def test_every_decision_has_a_reason_and_an_instance() -> None:
    s = snap(fn("a", 50.0), fn("b", 5.0), gpus=1)
    for name in GPU_POLICIES.names():
        for d in GPU_POLICIES.create(name).decide(s).decisions:
            assert d.reason and d.instances


def test_draining_instances_do_not_count() -> None:
    gone = GpuInstanceView(1, "gpu-0", 100.0, 100.0, state=InstanceState.DRAINING)
    d = HasGpu().decide(snap(fn("f", 5.0, (gone,)))).decisions[0]
    assert all(p.instance_id != 1 for p in d.instances) and len(d.instances) >= 1


def test_has_gpu_first_instance_is_the_most_efficient_config() -> None:
    d = HasGpu().decide(snap(fn("f", 0.0, slo_ms=100.0), gpus=1)).decisions[0]
    cfg, _ = FastGShare().choose(linear_ms, fn("f", slo_ms=100.0))
    assert len(d.instances) == 1 and d.instances[0].gpu_id == "gpu-0"
    assert (d.instances[0].sm_pct, d.instances[0].quota_pct) == (cfg.sm_pct, cfg.quota_pct)


@pytest.mark.parametrize("seed", range(5))
def test_has_gpu_rows_are_disjoint_and_at_most_two(seed: int) -> None:
    state: object = None
    for s in gpu_snapshots(seed):
        r = HasGpu().decide(GpuSnapshot(s.now_s, s.gpus, s.functions, state, s.extra))
        state = r.state
        rows: dict[str, set[tuple[float | None, float]]] = {}
        for d in r.decisions:
            for p in d.instances:
                rows.setdefault(p.gpu_id, set()).add((p.sm_offset_pct, p.sm_pct))
        for gpu_rows in rows.values():
            spans = sorted((x or 0.0, w) for x, w in gpu_rows)
            assert len(spans) <= 2
            assert all(a + w <= b + 1e-6 for (a, w), (b, _) in pairwise(spans))


# -- tessera -----------------------------------------------------------------------------


def test_tessera_is_registered_and_scales_to_zero_in_conformance() -> None:
    policy = create({"kind": "tessera"})
    assert policy.name == "tessera" and isinstance(policy, TesseraPolicy)
    assert policy.scales_to_zero is True
    idle = [
        GpuSnapshot(
            s.now_s,
            s.gpus,
            {
                n: GpuFunctionView(f.name, f.model, f.slo_ms, f.instances, (0.0,) * 60)
                for n, f in s.functions.items()
            },
            s.state,
            s.extra,
        )
        for s in gpu_snapshots()
    ]
    results = check_gpu_policy(TesseraPolicy(), idle, allow_zero=True)
    assert all(not d.instances for d in results[-1].decisions)
    with pytest.raises(ConformanceError):
        check_gpu_policy(TesseraPolicy(), idle)  # the check still bites without allow_zero


def test_tessera_calibrates_its_latency_model_from_observed_batches() -> None:
    from tessera.scheduling.gpu.tessera_policy import Calibrated, _State

    base = 1000.0 / linear_ms("m", 1, 50.0, 100.0)  # 50 rps at that slice, per the model

    def view(observed: tuple[tuple[int, float], ...]) -> GpuInstanceView:
        return GpuInstanceView(3, "gpu-0", 50.0, 100.0, 1, observed=observed)

    slow = ((1, 2 * linear_ms("m", 1, 50.0, 100.0)),)  # its batches took twice the model's
    pol = TesseraPolicy(latency_ms=linear_ms, batches=(1,), interference=0, calibrate=True)
    res = pol.decide(snap(fn("f", 40.0, (view(slow),)), gpus=2))
    d = res.decisions[0]
    # in 5% steps: the mean ratio sqrt(2) as 1.05^7, the slice's 2 as 1.05^14
    assert "latencies x1.4071 (observed / planned; 1 slices seen)" in d.reason
    st = res.state.fns["f"] if isinstance(res.state, _State) else None
    assert st is not None and st.log_scale == pytest.approx(0.5 * math.log(2))
    assert st.seen == ((((50.0, 100.0, 1)), pytest.approx(math.log(2))),)
    # planned at twice the latency where it ran: more area than planning with the model alone
    plain = TesseraPolicy(latency_ms=linear_ms, batches=(1,), interference=0)
    blind = plain.decide(snap(fn("f", 40.0, (view(slow),)), gpus=2)).decisions[0]
    assert d.area > blind.area and "latencies x" not in blind.reason
    assert blind == plain.decide(snap(fn("f", 40.0, (view(()),)), gpus=2)).decisions[0]
    # a batch as the model says moves both halfway back (in logs)
    again = pol.decide(snap(fn("f", 40.0, (view(((1, 1000.0 / base),)),)), gpus=2, state=res.state))
    st2 = again.state.fns["f"] if isinstance(again.state, _State) else None
    assert st2 is not None and st2.log_scale == pytest.approx(0.25 * math.log(2))
    assert st2.seen[0][1] == pytest.approx(0.5 * math.log(2))
    # the slowdown of its GPU's co-tenants is the model's, not an error to learn
    crowded = TesseraPolicy(latency_ms=linear_ms, batches=(1,), interference=0.5, calibrate=True)
    other = fn("g", 1.0, (GpuInstanceView(4, "gpu-0", 50.0, 100.0, 1),))
    busy = view(((1, 1.25 * linear_ms("m", 1, 50.0, 100.0)),))
    ok = crowded.decide(snap(fn("f", 40.0, (busy,)), other, gpus=2))
    assert ok.state.fns["f"].log_scale == pytest.approx(0.0)  # type: ignore[attr-defined]
    # where it ran, the ratio seen there; elsewhere the mean one
    cal = Calibrated(linear_ms, 1.5, (((50.0, 100.0, 1), 2.0),))
    assert cal("m", 1, 50.0, 100.0) == pytest.approx(2.0 * linear_ms("m", 1, 50.0, 100.0))
    assert cal("m", 1, 40.0, 100.0) == pytest.approx(1.5 * linear_ms("m", 1, 40.0, 100.0))


def test_tessera_resizes_in_place_before_adding() -> None:
    policy = TesseraPolicy(latency_ms=linear_ms, batches=(1,), max_utilization=1.0, interference=0)
    small = GpuInstanceView(3, "gpu-0", 10.0, 10.0)
    d = policy.decide(snap(fn("f", 50.0, (small,)), gpus=2)).decisions[0]
    assert len(d.instances) == 1
    p = d.instances[0]
    assert p.instance_id == 3 and p.gpu_id == "gpu-0"
    assert p.sm_pct > 10.0 and p.quota_pct > 10.0  # both dimensions grew
    assert "resize #3" in d.reason
    # throughput covers the predicted rate with headroom
    assert 1000.0 / linear_ms("m", 1, p.sm_pct, p.quota_pct) >= 1.2 * 50.0 - 1e-6


def test_tessera_config_meets_the_headroom_slo() -> None:
    for latency in (
        linear_ms,
        sublinear_ms,
        batched_ms,
        h200_latency_ms,
        flat_quota_ms,
        lumpy_batch_ms,
    ):
        policy = TesseraPolicy(latency_ms=latency)  # type: ignore[arg-type]
        for rate in (1.0, 30.0, 300.0):
            for slo in (50.0, 200.0, 1000.0):
                d = policy.decide(snap(fn("f", rate, slo_ms=slo), gpus=4)).decisions[0]
                assert d.instances and d.reason
                for p in d.instances:
                    c = config(latency, "resnet50", p.sm_pct, p.quota_pct, p.batch)  # type: ignore[arg-type]
                    # it waits for the batch running, then runs: both within 2 x the fraction
                    assert c.latency_ms + c.wait_ms <= 2 * policy.slo_fraction * slo + 1e-9
                    assert p.batch in policy.batches


def flat_quota_ms(model: str, batch: int, sm_pct: float, quota_pct: float) -> float:
    """A grid measured one request at a time: a lone request does not feel the quota."""
    return 10.0 * batch * (100.0 / sm_pct)


def test_a_slice_sustains_its_quota_share_of_its_whole_time_throughput() -> None:
    whole = config(flat_quota_ms, "m", 100.0, 100.0, 1)
    quarter = config(flat_quota_ms, "m", 100.0, 25.0, 1)
    tenth = config(flat_quota_ms, "m", 100.0, 10.0, 1)
    assert quarter.latency_ms == tenth.latency_ms == whole.latency_ms == 10.0
    # back to back a slice gets q of the time: 10 ms of work every 10 / q ms
    assert whole.rps == pytest.approx(100.0) and whole.wait_ms == pytest.approx(10.0)
    assert quarter.rps == pytest.approx(25.0) and quarter.wait_ms == pytest.approx(40.0)
    assert tenth.rps == pytest.approx(10.0) and tenth.wait_ms == pytest.approx(100.0)
    # where the latency already shows the quota it is not counted twice
    assert config(linear_ms, "m", 50.0, 25.0, 1).rps == pytest.approx(12.5)
    # the wait is the longest busy period of the batches it runs: a partial batch may be slower
    lumpy = config(lumpy_batch_ms, "m", 100.0, 50.0, 4)
    assert lumpy.rps == pytest.approx(4 * 1000.0 / 20.0)  # full batches: 10 ms / 0.5
    assert lumpy.wait_ms == pytest.approx(30.0)  # a batch of 2: 15 ms / 0.5
    # tessera will not plan on a quota whose back-to-back period breaks the budget: at a 60 ms
    # SLO (2 x 27 ms) a 10% quota of a 25 ms batch holds the slice for 250 ms
    policy = TesseraPolicy(latency_ms=flat_quota_ms, batches=(1,), interference=0)
    for p in policy.decide(snap(fn("f", 20.0, slo_ms=60.0), gpus=2)).decisions[0].instances:
        c = config(flat_quota_ms, "m", p.sm_pct, p.quota_pct, p.batch)
        assert c.latency_ms + c.wait_ms <= 54.0 + 1e-9
    # ... which a latency-only budget (27 ms) would have let through
    grid_pct = grid(10.0)
    lone = profile(flat_quota_ms, "m", 27.0, grid_pct, grid_pct, (1,))
    assert any(c.latency_ms + c.wait_ms > 54.0 for c in lone)


def lumpy_batch_ms(model: str, batch: int, sm_pct: float, quota_pct: float) -> float:
    """A measured grid's non-monotone batch axis: batch 2 slower than batch 4, quota unseen."""
    return {1: 5.0, 2: 15.0, 4: 10.0}.get(batch, 10.0 * batch / 4)


def test_tessera_tail_mode_waits_for_the_slowest_batch_before() -> None:
    # batched tail mode: service = latency + the wait for the batch before (its longest busy)
    policy = TesseraPolicy(latency_ms=lumpy_batch_ms, batches=(4,), interference=0, tail=0.01)
    c = config(lumpy_batch_ms, "m", 100.0, 50.0, 4)
    # SLO 44 ms: latency 15 + wait 30 = 45 ms leaves no slack, whatever the instance count
    assert not any(policy.serves(c, n, 1.0, 44.0) for n in (1, 4, 16))
    assert policy.serves(c, 1, 1.0, 200.0)


def test_tessera_scales_to_zero_after_idle_and_back_on_traffic() -> None:
    policy = TesseraPolicy(latency_ms=linear_ms, idle_s=30.0)
    inst = GpuInstanceView(1, "gpu-0", 20.0, 20.0)
    busy = GpuFunctionView("f", "m", 1000.0, (inst,), (5.0,) * 10)
    r = policy.decide(GpuSnapshot(0.0, {"gpu-0": GpuView("gpu-0")}, {"f": busy}))
    state = r.state
    quiet = GpuFunctionView("f", "m", 1000.0, (inst,), (5.0,) * 10 + (0.0,) * 10)
    for t in (10.0, 20.0):  # idle < 30 s: keep one
        r = policy.decide(GpuSnapshot(t, {"gpu-0": GpuView("gpu-0")}, {"f": quiet}, state))
        assert len(r.decisions[0].instances) == 1
        state = r.state
    silent = GpuFunctionView("f", "m", 1000.0, (inst,), (0.0,) * 60)
    r = policy.decide(GpuSnapshot(45.0, {"gpu-0": GpuView("gpu-0")}, {"f": silent}, state))
    assert r.decisions[0].instances == () and "scale to zero" in r.decisions[0].reason
    state = r.state
    empty = GpuFunctionView("f", "m", 1000.0, (), (0.0,) * 60)
    r = policy.decide(GpuSnapshot(60.0, {"gpu-0": GpuView("gpu-0")}, {"f": empty}, state))
    assert r.decisions[0].instances == ()  # stays at zero while idle
    back = GpuFunctionView("f", "m", 1000.0, (), (0.0,) * 59 + (1.0,))
    r = policy.decide(GpuSnapshot(62.0, {"gpu-0": GpuView("gpu-0")}, {"f": back}, r.state))
    d = r.decisions[0]
    assert len(d.instances) == 1 and d.instances[0].instance_id is None
    assert "from zero" in d.reason
    # min_replicas 1 never goes to zero
    keep = TesseraPolicy(latency_ms=linear_ms, min_replicas=1)
    r = keep.decide(GpuSnapshot(100.0, {"gpu-0": GpuView("gpu-0")}, {"f": silent}))
    assert len(r.decisions[0].instances) == 1


def test_tessera_packs_onto_held_gpus_first() -> None:
    policy = TesseraPolicy(latency_ms=linear_ms, batches=(1,))
    other = GpuInstanceView(9, "gpu-1", 50.0, 50.0)
    s = snap(fn("a", 5.0), fn("b", 0.5, (other,)), gpus=3)
    d = {x.function: x for x in policy.decide(s).decisions}
    assert [p.gpu_id for p in d["a"].instances] == ["gpu-1"]  # the fullest held GPU
    assert not any(is_new_gpu(p.gpu_id) for x in d.values() for p in x.instances)
    # with no room on held GPUs it asks for a new one
    full = GpuInstanceView(9, "gpu-0", 100.0, 100.0)
    s = snap(fn("a", 5.0), fn("b", 80.0, (full,)), gpus=1)
    d = {x.function: x for x in policy.decide(s).decisions}
    assert [p.gpu_id for p in d["a"].instances] == ["new:0"]


def test_tessera_picks_the_count_that_reserves_the_least_area() -> None:
    policy = TesseraPolicy(latency_ms=linear_ms, batches=(1,), max_utilization=1.0, interference=0)

    def rps(d: GpuDecision) -> float:
        return sum(1000.0 / linear_ms("m", 1, p.sm_pct, p.quota_pct) for p in d.instances)

    for rate in (5.0, 80.0, 150.0):
        d = policy.decide(snap(fn("f", rate), gpus=2)).decisions[0]
        assert rps(d) >= 1.2 * rate - 1e-6
        # linear latency: every slice costs the same area per rps, so the plan reserves no
        # more than the rate needs plus one grid step of rounding per instance
        assert d.area <= 1.2 * rate / 100.0 + 0.1 * len(d.instances) + 1e-9
    # beyond one GPU's throughput it must use several instances
    assert len(policy.decide(snap(fn("f", 150.0), gpus=2)).decisions[0].instances) >= 2
    # with a fixed per-instance cost (a host floor), one larger slice beats several small ones
    floor = TesseraPolicy(
        latency_ms=sublinear_ms, batches=(1,), max_utilization=1.0, interference=0
    )
    one = floor.decide(snap(fn("f", 20.0, slo_ms=1000.0), gpus=2)).decisions[0]
    assert len(one.instances) == 1


def test_tessera_provisions_at_max_utilization_and_for_co_location() -> None:
    rate = 30.0
    loose = TesseraPolicy(latency_ms=linear_ms, batches=(1,), max_utilization=1.0, interference=0)
    tight = TesseraPolicy(latency_ms=linear_ms, batches=(1,), max_utilization=0.5, interference=0)

    def rps(d: GpuDecision) -> float:
        return sum(1000.0 / linear_ms("m", 1, p.sm_pct, p.quota_pct) for p in d.instances)

    a = loose.decide(snap(fn("f", rate), gpus=2)).decisions[0]
    b = tight.decide(snap(fn("f", rate), gpus=2)).decisions[0]
    assert rps(a) >= 1.2 * rate - 1e-6
    assert rps(b) >= 1.2 * rate / 0.5 - 1e-6 > rps(a)
    # a crowded GPU stretches the planned latency: more area for the same rate, and it says so
    crowd = GpuInstanceView(9, "gpu-0", 100.0, 80.0)
    aware = TesseraPolicy(latency_ms=linear_ms, batches=(1,), max_utilization=1.0)
    alone = aware.decide(snap(fn("f", rate), gpus=2)).decisions[0]
    packed = aware.decide(snap(fn("f", rate), fn("g", 0.1, (crowd,)), gpus=2)).decisions
    with_crowd = {d.function: d for d in packed}["f"]
    assert "co-location slowdown" in with_crowd.reason
    assert "co-location slowdown" not in alone.reason
    assert with_crowd.area > alone.area


def test_tessera_scale_in_keeps_the_largest_ready_instance() -> None:
    policy = TesseraPolicy(latency_ms=linear_ms, batches=(1,), max_utilization=1.0, interference=0)
    small = GpuInstanceView(1, "gpu-0", 10.0, 10.0)
    big = GpuInstanceView(2, "gpu-1", 70.0, 90.0)
    d = policy.decide(snap(fn("f", 50.0, (small, big)), gpus=2)).decisions[0]
    assert [p.instance_id for p in d.instances] == [2]


def test_tessera_empties_a_lightly_used_gpu_make_before_break() -> None:
    policy = TesseraPolicy(latency_ms=linear_ms, batches=(1,), max_utilization=1.0, interference=0)
    a = GpuInstanceView(1, "gpu-0", 50.0, 50.0)
    b = GpuInstanceView(2, "gpu-1", 10.0, 10.0)
    r = policy.decide(snap(fn("f", 20.0, (a,)), fn("g", 1.0, (b,)), gpus=2))
    d = {x.function: x for x in r.decisions}
    g_plans = d["g"].instances
    assert {(p.gpu_id, p.instance_id) for p in g_plans} == {("gpu-1", 2), ("gpu-0", None)}
    assert "consolidate" in d["g"].reason
    # the copy is starting: the old instance keeps serving
    new = GpuInstanceView(3, "gpu-0", g_plans[1].sm_pct, g_plans[1].quota_pct)
    starting = GpuInstanceView(3, "gpu-0", new.sm_pct, new.quota_pct, state=InstanceState.STARTING)
    fs = (fn("f", 20.0, (a,)), fn("g", 1.0, (b, starting)))
    r2 = policy.decide(snap(*fs, gpus=2, now_s=102.0, state=r.state))
    g2 = {x.function: x for x in r2.decisions}["g"]
    assert {p.instance_id for p in g2.instances} == {
        2,
        3,
    } and "until the new are ready" in g2.reason
    # once it is ready, the instance on the emptied GPU goes, without waiting for a cooldown
    fs = (fn("f", 20.0, (a,)), fn("g", 1.0, (b, new)))
    r3 = policy.decide(snap(*fs, gpus=2, now_s=104.0, state=r2.state))
    g3 = {x.function: x for x in r3.decisions}["g"]
    assert [(p.gpu_id, p.instance_id) for p in g3.instances] == [("gpu-0", 3)]
    # consolidation off: nothing moves
    off = TesseraPolicy(
        latency_ms=linear_ms, batches=(1,), max_utilization=1.0, interference=0, consolidate_below=0
    )
    r = off.decide(snap(fn("f", 20.0, (a,)), fn("g", 1.0, (b,)), gpus=2))
    assert [p.instance_id for p in {x.function: x for x in r.decisions}["g"].instances] == [2]


def test_wait_beyond_is_the_m_m_n_tail() -> None:
    from tessera.scheduling.gpu.tessera_policy import wait_beyond

    # M/M/1: P(wait > t) = rho exp(-(mu - lambda) t)
    assert wait_beyond(1, 5.0, 10.0, 0.0) == pytest.approx(0.5)
    assert wait_beyond(1, 5.0, 10.0, 0.1) == pytest.approx(0.5 * math.exp(-0.5))
    # M/M/2 at offered load 1: Erlang C = 1/3
    assert wait_beyond(2, 10.0, 10.0, 0.0) == pytest.approx(1.0 / 3.0)
    assert wait_beyond(2, 20.0, 10.0, 0.0) == 1.0  # unstable
    # pooling: at the same utilisation, more servers wait less
    assert wait_beyond(8, 64.0, 10.0, 0.05) < wait_beyond(2, 16.0, 10.0, 0.05)


def test_tessera_tail_mode_sizes_for_the_slo_tail() -> None:
    tail = TesseraPolicy(latency_ms=linear_ms, batches=(1,), interference=0, tail=0.01)
    d = tail.decide(snap(fn("f", 30.0, slo_ms=200.0), gpus=2)).decisions[0]
    from tessera.scheduling.gpu.tessera_policy import wait_beyond

    n = len(d.instances)
    p = d.instances[0]
    ms = linear_ms("m", 1, p.sm_pct, p.quota_pct)
    assert wait_beyond(n, 1.2 * 30.0, 1000.0 / ms, (200.0 - ms) / 1000.0) <= 0.01
    with pytest.raises(InputError, match="tail"):
        TesseraPolicy(tail=1.5)


def test_tessera_keeps_its_shape_within_the_hysteresis() -> None:
    # 50 rps x 1.2 headroom on linear latency needs 0.6 of a GPU's area; the instance holds
    # 0.72 (80% SMs x 90% quota), within 1.25 x 0.6 = 0.75: kept as it is, and it says so
    cur = GpuInstanceView(3, "gpu-0", 80.0, 90.0)
    kw = {"latency_ms": linear_ms, "batches": (1,), "max_utilization": 1.0, "interference": 0}
    kept = TesseraPolicy(**kw).decide(snap(fn("f", 50.0, (cur,)))).decisions[0]  # type: ignore[arg-type]
    assert [(p.instance_id, p.sm_pct, p.quota_pct) for p in kept.instances] == [(3, 80.0, 90.0)]
    assert "keeping its shape" in kept.reason and "resize" not in kept.reason
    # without hysteresis the same instance is resized to the least area
    moved = TesseraPolicy(hysteresis=0.0, **kw).decide(snap(fn("f", 50.0, (cur,)))).decisions[0]  # type: ignore[arg-type]
    assert "resize #3" in moved.reason and "keeping its shape" not in moved.reason
    assert moved.area == pytest.approx(0.6)
    # a shape past the hysteresis is left: 0.6 x 1.25 < 0.81
    wide = GpuInstanceView(3, "gpu-0", 90.0, 90.0)
    left = TesseraPolicy(**kw).decide(snap(fn("f", 50.0, (wide,)))).decisions[0]  # type: ignore[arg-type]
    assert "resize #3" in left.reason and left.area == pytest.approx(0.6)
    with pytest.raises(InputError, match=r"tessera\.hysteresis"):
        TesseraPolicy(hysteresis=-0.1)


def test_tessera_does_not_shrink_a_ready_instance_while_others_start() -> None:
    # 150 rps x 1.2 needs two instances; the cheapest pair is two 0.9-area slices, so the
    # whole-GPU instance would shrink to 90 rps while its partner cold-starts
    kw = {"latency_ms": linear_ms, "batches": (1,), "max_utilization": 1.0, "interference": 0}
    policy = TesseraPolicy(hysteresis=0.0, **kw)  # type: ignore[arg-type]
    big = GpuInstanceView(3, "gpu-0", 100.0, 100.0)
    d = policy.decide(snap(fn("f", 150.0, (big,)), gpus=2)).decisions[0]
    kept = [p for p in d.instances if p.instance_id == 3]
    assert [(p.sm_pct, p.quota_pct) for p in kept] == [(100.0, 100.0)]
    assert len(d.instances) == 2 and "#3 not shrunk below 100.0 rps" in d.reason
    # once the partner is ready, the pair is brought down to the least area
    partner = GpuInstanceView(4, "gpu-1", 90.0, 100.0)
    starting = GpuInstanceView(4, "gpu-1", 90.0, 100.0, state=InstanceState.STARTING)
    d = policy.decide(snap(fn("f", 150.0, (big, starting)), gpus=2)).decisions[0]
    assert (100.0, 100.0) in [(p.sm_pct, p.quota_pct) for p in d.instances]
    d = policy.decide(snap(fn("f", 150.0, (big, partner)), gpus=2)).decisions[0]
    assert "resize #3" in d.reason and d.area == pytest.approx(1.8)


def test_tessera_knows_its_slice_as_the_driver_reports_it() -> None:
    # an H200 driver reports 24 of 132 SMs as 18.181818...%, the 8-SM grid holds 18.181818:
    # the same slice, so neither a resize nor a lost shape over the rounding
    step = 100.0 * 8 / 132
    policy = TesseraPolicy(
        latency_ms=linear_ms, batches=(1,), max_utilization=1.0, interference=0, sm_step_pct=step
    )
    sm = 100.0 * 24 / 132
    assert sm not in grid(step)
    cur = GpuInstanceView(5, "gpu-0", sm, 100.0)
    d = policy.decide(snap(fn("f", 12.5, (cur,)))).decisions[0]
    # handed back exactly as the driver has it (a grid value rounded up would grant one more
    # 8-SM chunk at every decision)
    assert [(p.instance_id, p.sm_pct, p.quota_pct) for p in d.instances] == [(5, sm, 100.0)]
    assert "keeping its shape" in d.reason and "resize" not in d.reason


def test_tessera_keeps_a_shape_only_when_it_costs_no_cold_start() -> None:
    # one ready 10%-SM slice (10 rps) and a jump to 75 rps: ten of its shape would be within
    # the hysteresis on linear latency, but one resize in place serves it without cold starts
    kw = {"latency_ms": linear_ms, "batches": (1,), "max_utilization": 1.0, "interference": 0}
    one = GpuInstanceView(0, "gpu-0", 10.0, 100.0)
    d = TesseraPolicy(**kw).decide(snap(fn("f", 75.0, (one,)))).decisions[0]  # type: ignore[arg-type]
    assert [(p.instance_id, p.sm_pct) for p in d.instances] == [(0, 90.0)]
    assert "keeping its shape" not in d.reason


def test_tessera_recompares_a_kept_shape_at_a_count_raised_by_the_cooldown() -> None:
    from tessera.scheduling.gpu.tessera_policy import _FnState, _State

    # four 0.5-area slices, the load fell to 40 rps 5 s into the 10 s cooldown: four stay,
    # each brought down to the least area four need, not kept at 4 x 0.5
    kw = {"latency_ms": linear_ms, "batches": (1,), "max_utilization": 1.0, "interference": 0}
    insts = tuple(GpuInstanceView(i, f"gpu-{i}", 50.0, 100.0) for i in range(4))
    state = _State({"f": _FnState(None, 100.0, 95.0)})
    policy = TesseraPolicy(consolidate_below=0, **kw)  # type: ignore[arg-type]
    d = policy.decide(snap(fn("f", 40.0, insts), gpus=4, state=state)).decisions[0]
    assert "(cooldown)" in d.reason and "keeping its shape" not in d.reason
    assert len(d.instances) == 4 and d.area == pytest.approx(0.48)


def test_tessera_moves_a_slice_out_of_the_budget_while_others_start() -> None:
    from tessera.scheduling.gpu.tessera_policy import Planned

    # crowded GPUs stretch the planned latency of the instance's batch-8 slice (90% of the
    # SMs: co-tenants in the other 10%) past the budget: even while new instances start it
    # goes to the fastest slice within the budget
    lat = batched_ms
    busy = GpuInstanceView(9, "gpu-0", 100.0, 100.0)
    big = GpuInstanceView(1, "gpu-1", 90.0, 100.0, batch=8)
    policy = TesseraPolicy(latency_ms=lat, hysteresis=0.0)  # type: ignore[arg-type]
    budget = policy.slo_fraction * 30.0
    assert lat("m", 8, 90.0, 100.0) <= budget < 1.0376 * lat("m", 8, 90.0, 100.0)
    s = snap(fn("f", 400.0, (big,), slo_ms=30.0), fn("g", 0.1, (busy,)), gpus=3)
    d = {x.function: x for x in policy.decide(s).decisions}["f"]
    assert "#1 into the profile while instances start" in d.reason
    assert len(d.instances) >= 2
    planned = Planned(lat, 1.0, policy.interference)  # the held GPUs' area per GPU, rounded up
    for p in d.instances:
        assert planned("m", p.batch, p.sm_pct, p.quota_pct) <= budget + 1e-9


def test_tessera_counts_a_kept_slice_at_its_stretched_throughput() -> None:
    # f's 50% slice shares a full GPU with g: 50 rps alone, 50 / 1.188 = 42.1 rps planned
    # with the co-tenant; no larger slice fits there, so for 45 rps it must add an instance
    mine = GpuInstanceView(1, "gpu-0", 50.0, 100.0)
    other = GpuInstanceView(2, "gpu-0", 50.0, 100.0)
    policy = TesseraPolicy(latency_ms=linear_ms, batches=(1,), max_utilization=1.0)
    s = snap(fn("f", 37.5, (mine,)), fn("g", 0.1, (other,)), gpus=2)
    d = {x.function: x for x in policy.decide(s).decisions}["f"]
    assert d.instances[0].instance_id == 1 and len(d.instances) == 2
    assert "add " in d.reason


def test_tessera_expects_no_co_tenant_beside_a_whole_gpu_slice() -> None:
    from tessera.scheduling.gpu.tessera_policy import Planned

    planned = Planned(linear_ms, 0.8, 0.376)
    # a whole GPU leaves no room: no slowdown; half a GPU at most half a GPU of others
    assert planned("m", 1, 100.0, 100.0) == linear_ms("m", 1, 100.0, 100.0)
    assert planned.factor(50.0, 100.0) == pytest.approx(1 + 0.376 * 0.5)
    assert planned.factor(100.0, 50.0) == pytest.approx(1 + 0.376 * 0.5)
    assert planned.factor(10.0, 100.0) == pytest.approx(1 + 0.376 * 0.8)  # the crowd caps it
    # a slice's latency and its busy period stretch alike (the simulator's slowdown), also
    # where the quota does not show in the latency (busy = whole-time latency / q) and for
    # partial batches (lumpy: batch 2 is the slowest of a batch-4 slice)
    f = planned.factor(50.0, 50.0)
    for model in (linear_ms, flat_quota_ms, lumpy_batch_ms):
        stretched = Planned(model, 0.8, 0.376)
        for b in (1, 4):
            c, raw = stretched.config("m", 50.0, 50.0, b), config(model, "m", 50.0, 50.0, b)
            assert (c.latency_ms, c.wait_ms, c.rps) == pytest.approx(
                (raw.latency_ms * f, raw.wait_ms * f, raw.rps / f)
            )
    assert config(flat_quota_ms, "m", 50.0, 50.0, 1).wait_ms == pytest.approx(40.0)
    # so a policy on a crowded cluster keeps a whole-GPU batch its budget allows unstretched
    busy = GpuInstanceView(9, "gpu-0", 100.0, 100.0)
    whole = GpuInstanceView(1, "gpu-1", 100.0, 100.0, batch=8)
    policy = TesseraPolicy(latency_ms=batched_ms, batches=(8,), hysteresis=0.0)
    s = snap(fn("f", 400.0, (whole,), slo_ms=30.0), fn("g", 0.1, (busy,)), gpus=3)
    d = {x.function: x for x in policy.decide(s).decisions}["f"]
    first = d.instances[0]
    assert (first.instance_id, first.sm_pct, first.quota_pct) == (1, 100.0, 100.0)
    assert "#1 into the profile" not in d.reason
    # kept inside the budget at its full speed, not as a fallback past it
    assert "no headroom config" not in d.reason and "(666.7 rps)" in d.reason


def test_tessera_finishes_emptying_a_gpu_with_a_kept_shape() -> None:
    from tessera.scheduling.gpu.tessera_policy import _FnState, _State

    # gpu-1 is being emptied: its ready 30% slice has a copy starting on gpu-0. The old one
    # must not count as running when the shape is kept, or the copy stays doubled for good
    kw = {"latency_ms": linear_ms, "batches": (1,), "max_utilization": 1.0, "interference": 0}
    policy = TesseraPolicy(**kw)  # type: ignore[arg-type]
    other = GpuInstanceView(9, "gpu-0", 50.0, 100.0)
    state: object = _State({"f": _FnState(None, 100.0, 50.0)}, ("gpu-1",))
    insts = {
        1: GpuInstanceView(1, "gpu-1", 30.0, 100.0),
        2: GpuInstanceView(2, "gpu-0", 30.0, 100.0, state=InstanceState.STARTING),
    }
    for step in range(4):
        s = snap(fn("f", 22.5, tuple(insts.values())), fn("g", 40.0, (other,)), gpus=2,
                 state=state, now_s=100.0 + 2 * step)  # fmt: skip
        r = policy.decide(s)
        state = r.state
        d = next(d for d in r.decisions if d.function == "f")
        insts = {
            p.instance_id: GpuInstanceView(p.instance_id, p.gpu_id, p.sm_pct, p.quota_pct)
            for p in d.instances
            if p.instance_id is not None
        }
    assert [i.gpu_id for i in insts.values()] == ["gpu-0"]
    assert isinstance(state, _State) and state.evacuating == ()


def test_has_gpu_measures_the_rate_over_the_last_ten_seconds() -> None:
    # 8 s at 0 rps then 2 s at 50: the filter's measurement is the 10-s mean (10 rps), so the
    # first estimate is that plus the 5-rps floor, not 50 + 5
    view = GpuFunctionView("f", "m", 1000.0, (), (0.0,) * 8 + (50.0,) * 2, (), bucket_s=1.0)
    r = HasGpu().decide(GpuSnapshot(10.0, {"gpu-0": GpuView("gpu-0")}, {"f": view}, None,
                                    {"latency_ms": linear_ms}))  # fmt: skip
    assert r.state["f"].rate_rps == pytest.approx(15.0)
    two = HasGpu(measure_window_s=2.0).decide(
        GpuSnapshot(10.0, {"gpu-0": GpuView("gpu-0")}, {"f": view}, None, {"latency_ms": linear_ms})
    )
    assert two.state["f"].rate_rps == pytest.approx(55.0)


def test_tessera_breaks_area_ties_toward_fewer_instances_on_the_h200_grid() -> None:
    # on the 8-SM grid (shares rounded to 6 decimals) three 30.30303% slices and one 90.909091%
    # slice at 50% quota reserve the same area up to 1e-7: the single instance wins the tie
    policy = TesseraPolicy(
        latency_ms=linear_ms, batches=(1,), max_utilization=1.0, interference=0,
        sm_step_pct=100 * 8 / 132, quota_step_pct=10.0,
    )  # fmt: skip
    prof = policy.configs(linear_ms, fn("f", 37.0))
    assert policy.count(prof, 44.4, 1000.0) == (1, None)


def test_tessera_packs_a_driver_share_beside_a_grid_share() -> None:
    # a device in 2-SM chunks reports 44 of 132 SMs as 33.333...%; a new 66.666667% grid slice
    # fits beside it on the same GPU (a share compared unsnapped would overfill it by 3e-7)
    step = 100.0 * 2 / 132
    policy = TesseraPolicy(
        latency_ms=linear_ms, batches=(1,), max_utilization=1.0, interference=0,
        consolidate_below=0, sm_step_pct=step, quota_step_pct=100.0,
    )  # fmt: skip
    z = GpuInstanceView(1, "gpu-0", 100.0 * 44 / 132, 100.0)
    # "a" is planned before "z", while z's slice is still as the driver reported it
    r = policy.decide(snap(fn("a", 55.5555556, ()), fn("z", 27.7, (z,)), gpus=2))
    a = {d.function: d for d in r.decisions}["a"]
    assert [p.gpu_id for p in a.instances] == ["gpu-0"]
