"""Experiment `fast-gshare`: every variant serves the mix, and spatio-temporal sharing's lead
over time sharing comes from the mechanism (disjoint partitions running side by side)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tessera.experiments import EXPERIMENTS
from tessera.experiments import fast_gshare as fg
from tessera.experiments.base import ExperimentResult, RunConfig
from tessera.gpu.device import Partition, SimulatedDevice

ROW_KEYS = {
    "gpus", "throughput_rps", "throughput_per_gpu", "capacity_per_gpu", "gpu_util",
    "sm_time_held", "sm_occupancy", "slo_attainment", "p99_latency_ms",
}  # fmt: skip


def _quiet(_f: float, _m: str) -> None:
    return None


@pytest.fixture(scope="module")
def result() -> ExperimentResult:
    return EXPERIMENTS.create("fast-gshare").run(RunConfig(quick=True, seed=0))


def test_every_variant_serves_every_function(result: ExperimentResult) -> None:
    for v in fg.VARIANTS:
        per_fn = result.meta["detail"][v]["per_function"]
        assert set(per_fn) == {f for f, _, _ in fg.MIX}
        for f, _, rate in fg.MIX:
            assert per_fn[f]["rps"] > 0.8 * rate, (v, f)
        row = result.policies[v]
        assert row["throughput_rps"] > 0.95 * result.meta["detail"][v]["offered_rps"]


def test_spatio_temporal_beats_time_sharing_per_gpu(result: ExperimentResult) -> None:
    st, ts = result.policies["spatio-temporal"], result.policies["time-sharing"]
    assert st["gpus"] < ts["gpus"]
    assert st["throughput_per_gpu"] > 1.5 * ts["throughput_per_gpu"]
    assert st["capacity_per_gpu"] > ts["capacity_per_gpu"]
    assert st["sm_occupancy"] > 1.5 * ts["sm_occupancy"]
    assert st["gpu_util"] > ts["gpu_util"]
    # time sharing holds all SMs in every launch: SM-time held equals its utilisation
    assert ts["sm_time_held"] == pytest.approx(ts["gpu_util"], rel=1e-6)
    assert "spatio-temporal vs time sharing" in result.headline


def test_the_lead_needs_disjoint_partitions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every partition occupy the whole device: the spatio-temporal advantage must go."""

    def everything(self: SimulatedDevice, part: Partition) -> range:
        return range(len(self._busy_until))

    monkeypatch.setattr(SimulatedDevice, "_units", everything)
    rows, _, _ = fg.compare(0.4, 0.4, 0, _quiet)
    st, ts = rows["spatio-temporal"], rows["time-sharing"]
    assert st["throughput_per_gpu"] < ts["throughput_per_gpu"]
    assert st["capacity_per_gpu"] < ts["capacity_per_gpu"]
    assert st["sm_occupancy"] < ts["sm_occupancy"]


def test_result_json_has_the_metric_keys(result: ExperimentResult) -> None:
    data = json.loads(json.dumps(result.to_json()))
    assert data["experiment"] == "fast-gshare"
    for v in fg.VARIANTS:
        assert set(data["policies"][v]) >= ROW_KEYS
        assert all(isinstance(data["policies"][v][k], float | int) for k in ROW_KEYS)
    assert {"detail", "st_vs_ts"} <= set(data["meta"])
    assert len(result.figures) == 3


def test_plans_are_real_partitions_and_fit_the_gpu() -> None:
    for v in fg.VARIANTS:
        slices = fg.plan(v)
        assert {s.function for s in slices} == {f for f, _, _ in fg.MIX}
        for g in {s.gpu for s in slices}:
            mine = [s for s in slices if s.gpu == g]
            assert sum(s.sm_pct * s.quota_pct for s in mine) <= 10_000 + 1e-6
            for s in mine:
                k = s.sm_pct / fg.CHUNK_PCT
                assert s.sm_pct == 100.0 or abs(k - round(k)) < 1e-6
    assert all(s.sm_pct == 100.0 for s in fg.plan("time-sharing"))
    assert all(s.quota_pct == 100.0 for s in fg.plan("spatial-only"))


def test_lockstep_runs_are_deterministic_and_keep_quotas() -> None:
    slices = [fg.Slice("r/0", "r", "resnet50", "g", fg.CHUNK_PCT, 60.0, 0.0, 0.0)]
    a, b = fg.serve(slices, 0.4), fg.serve(slices, 0.4)
    assert a.requests == b.requests and a.launches == b.launches
    # 8 SMs for 60% of each 40 ms window: the latency table's rate, times 0.6
    want = 0.6 * 1000.0 / fg.h200_latency_ms("resnet50", 1, fg.CHUNK_PCT)
    assert fg.served_rps(a)["r"] == pytest.approx(want, rel=0.05)


def test_two_gpus_overlap_in_time_and_one_partition_does_not() -> None:
    one = [fg.Slice(f"r/{k}", "r", "resnet50", "g", fg.CHUNK_PCT, 100.0, 0, 0) for k in (0, 1)]
    run = fg.serve(one, 0.2)
    ls = sorted(run.launches["g"], key=lambda x: (x.instance, x.start_s))
    by = {i: [x for x in ls if x.instance == i] for i in ("r/0", "r/1")}
    assert by["r/0"][0].first_sm != by["r/1"][0].first_sm  # disjoint chunks
    assert by["r/0"][0].start_s == by["r/1"][0].start_s == 0.0  # side by side
    assert fg.device_metrics(run)["sm_time_held"] == pytest.approx(16 / 132, rel=0.02)


def test_a_failing_lane_is_reported_not_hung() -> None:
    clock = fg.Lockstep()

    def ok() -> None:
        clock.sleep_until(1.0)

    def bad() -> None:
        clock.sleep_until(0.5)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        clock.run([ok, bad])
    assert clock.now_s() == 1.0


def test_measured_numbers_are_optional(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TESSERA_DATA", str(tmp_path))
    rows, factor = fg.measured()
    assert not any("b32" in k or "MPS" in k or "processes" in k for k in rows)
    if factor is not None:  # the committed device check
        assert 0 < factor[0] <= factor[1] <= 1
