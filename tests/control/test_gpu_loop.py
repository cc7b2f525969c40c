"""The GPU control loop drives the simulator's own policy objects over a real `GpuWorker`.

The worker runs on the `SimulatedDevice` with the wall clock (real sleeps,
real threads), so every test takes a few seconds; they assert behaviour
(outcomes, actions, decisions, errors), never wall-clock durations.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from tessera.control.gpu import GpuControlLoop, GpuLoopConfig, replay, run_trace
from tessera.core.errors import InputError
from tessera.core.gpu_policy import (
    GpuDecision,
    GpuInstancePlan,
    GpuPolicyResult,
    GpuSnapshot,
    new_gpu_id,
)
from tessera.gpu.device import SimulatedDevice
from tessera.gpu.latency import h200_latency_ms
from tessera.gpu.worker import GpuWorker
from tessera.scheduling.gpu import GPU_POLICIES, HasGpu, TesseraPolicy, create
from tessera.sim.gpu_cluster import ClusterConfig, GpuFunction, piecewise_poisson, simulate

pytestmark = [pytest.mark.xdist_group("gpu-loop")]

STEP_PCT = 100.0 * 8 / 132  # the SimulatedDevice's SM granularity (8 of 132 SMs)
HORIZON_S, INTERVAL_S, STEP_AT_S = 6.0, 1.0, 2.0


class SpyWorker(GpuWorker):
    """The real worker, recording each change the loop asks of it (after it succeeded)."""

    def __init__(self) -> None:
        super().__init__(SimulatedDevice())
        self.calls: list[tuple[str, str, float | None, float | None]] = []  # op, name, sm, quota

    def add_instance(  # type: ignore[override]
        self,
        name: str,
        model_key: str,
        sm_pct: float = 100.0,
        quota_request: float = 1.0,
        **kw: Any,
    ) -> None:
        super().add_instance(name, model_key, sm_pct, quota_request, **kw)
        self.calls.append(("add", name, sm_pct, quota_request))

    def resize(self, name: str, sm_pct: float | None = None, quota: Any = None, **kw: Any) -> Any:
        out = super().resize(name, sm_pct, quota, **kw)
        self.calls.append(("resize", name, sm_pct, None if quota is None else quota.request))
        return out


def trace(seed: int = 7) -> list[GpuFunction]:
    """Two functions whose rate steps up at `STEP_AT_S` (20 -> 250 and 20 -> 200 rps)."""
    rng = np.random.default_rng(seed)
    n_low, n_high = int(STEP_AT_S), int(HORIZON_S - STEP_AT_S)
    return [
        GpuFunction(
            "resnet", "resnet50", 20.0, piecewise_poisson(rng, [20] * n_low + [250] * n_high, 1.0)
        ),
        GpuFunction(
            "mobile",
            "mobilenet_v3_large",
            20.0,
            piecewise_poisson(rng, [20] * n_low + [200] * n_high, 1.0),
        ),
    ]


def policy(kind: str) -> Any:
    return create({"kind": kind, "sm_step_pct": STEP_PCT, "predict_interval_s": INTERVAL_S})


@pytest.mark.parametrize("kind", ["has-gpu", "tessera"])
def test_the_simulators_policy_objects_drive_the_worker(kind: str) -> None:
    fns = trace()
    pol = policy(kind)
    assert isinstance(pol, HasGpu | TesseraPolicy)  # the registered classes, nothing else
    assert type(pol) is type(GPU_POLICIES.create(kind))
    worker = SpyWorker()
    threads_before = threading.active_count()

    out = replay(pol, worker, fns, HORIZON_S, INTERVAL_S)

    # (a) every request has an outcome, and here every one is served
    for f in fns:
        n = int((f.arrivals_s < HORIZON_S).sum())
        assert len(out.result.arrivals_s[f.name]) == n
        assert np.isfinite(out.result.end_s[f.name]).all()
        assert (out.result.end_s[f.name] >= out.result.arrivals_s[f.name]).all()
    assert out.metrics["served"] == out.metrics["requests"] > 0
    # (b) the rate step made the worker grow: a larger slice, or one more instance
    first: dict[str, tuple[float, float]] = {}
    grown = []
    for op, name, sm, quota in worker.calls:
        if op == "add" and len(first) < len(fns):
            first[name] = (sm or 0.0, quota or 0.0)
        elif op == "add" or (sm or 0.0) > first[name][0] or (quota or 0.0) > first[name][1]:
            grown.append((op, name, sm, quota))
    assert grown, worker.calls
    assert any(a.t_s >= STEP_AT_S and a.kind in ("add", "resize") for a in out.actions)
    assert out.decisions and all(d.reason for d in out.decisions)
    assert {d.function for d in out.decisions} == {"resnet", "mobile"}
    assert 1 < out.metrics["decisions"] <= HORIZON_S / INTERVAL_S  # at 0 (warm), 1, ..., 5 s
    # (c) the same metrics as the simulator's run of the same trace and the same policy class
    sim = simulate(
        policy(kind),
        fns,
        h200_latency_ms,
        HORIZON_S,
        ClusterConfig(n_gpus=1, sm_step_pct=STEP_PCT, decide_interval_s=INTERVAL_S),
    )
    assert set(out.metrics) == set(sim.metrics)
    assert out.metrics["requests"] == sim.metrics["requests"]
    assert 0 < out.metrics["cost_gpu_s"] <= out.metrics["gpu_s_held"] <= HORIZON_S + 1e-9
    # bounded: nothing left running, nothing left on the worker
    assert worker.names() == []
    assert threading.active_count() == threads_before


class Scripted:
    """A test policy: `plans(now, snapshot)` gives each function's target set."""

    name = "scripted"

    def __init__(self, plans: Any) -> None:
        self.plans = plans

    def decide(self, snapshot: GpuSnapshot) -> GpuPolicyResult:
        out = tuple(
            GpuDecision(fn, tuple(ps), f"scripted at {snapshot.now_s:.1f}s")
            for fn, ps in self.plans(snapshot).items()
        )
        return GpuPolicyResult(out, None)


def _ids(snap: GpuSnapshot, fn: str) -> list[int]:
    return [i.id for i in snap.functions[fn].active]


def test_a_second_gpu_is_rejected_and_counted_and_the_loop_goes_on() -> None:
    third = 100.0 * 40 / 132  # 5 chunks

    def plans(snap: GpuSnapshot) -> dict[str, list[GpuInstancePlan]]:
        have = _ids(snap, "resnet")
        if not have:  # the first decision: one instance on the (new) GPU
            return {"resnet": [GpuInstancePlan(new_gpu_id(0), third, 100.0)]}
        keep = GpuInstancePlan("gpu0", third, 100.0, 1, have[0])
        return {"resnet": [keep, GpuInstancePlan(new_gpu_id(1), third, 100.0)]}

    rng = np.random.default_rng(1)
    fns = [GpuFunction("resnet", "resnet50", 50.0, piecewise_poisson(rng, [50, 50], 1.0))]
    worker = GpuWorker(SimulatedDevice())
    out = replay(Scripted(plans), worker, fns, 2.0, 0.5)
    assert out.metrics["rejected_plans"] == 3  # the decisions at 0.5, 1.0, 1.5 s
    assert {r.kind for r in out.rejections} == {"gpu"}
    assert all("new:1" in r.reason and "gpu0" in r.reason for r in out.rejections)
    assert out.metrics["served"] == out.metrics["requests"]
    assert out.info["cold_starts"] == 1
    assert worker.names() == []


def test_snapshots_carry_the_batches_each_instance_ran_since_the_last() -> None:
    third = 100.0 * 40 / 132
    seen: list[GpuSnapshot] = []

    def plans(snap: GpuSnapshot) -> dict[str, list[GpuInstancePlan]]:
        seen.append(snap)
        have = _ids(snap, "resnet")
        return {"resnet": [GpuInstancePlan("gpu0" if have else new_gpu_id(0), third, 100.0, 4,
                                           have[0] if have else None)]}  # fmt: skip

    rng = np.random.default_rng(3)
    fns = [GpuFunction("resnet", "resnet50", 50.0, piecewise_poisson(rng, [120, 120], 1.0))]
    out = replay(Scripted(plans), GpuWorker(SimulatedDevice()), fns, 2.0, 0.5)
    assert out.metrics["served"] == out.metrics["requests"] > 0
    observed = [i.observed for s in seen for i in s.functions["resnet"].instances]
    later = [o for o in observed if o]
    assert later  # the instance served between decisions and said what its batches took
    for o in later:
        sizes = [b for b, _ms in o]
        assert sizes == sorted(set(sizes)) and sizes[0] >= 1 and sizes[-1] <= 4  # one per size
        assert all(ms > 0 for _b, ms in o)


def test_what_the_worker_refuses_is_counted_and_a_drained_instance_finishes() -> None:
    big = 100.0 * 120 / 132  # 15 chunks: two cannot coexist on one split of 16

    def plans(snap: GpuSnapshot) -> dict[str, list[GpuInstancePlan]]:
        have = _ids(snap, "bert")
        if snap.now_s >= 1.0 - 1e-6 and have:  # replace the instance with two big ones
            return {"bert": [GpuInstancePlan("gpu0", big, 100.0), GpuInstancePlan("gpu0", big, 50)]}
        if have:
            return {"bert": [GpuInstancePlan("gpu0", 50.0, 100.0, 2, have[0])]}
        return {"bert": [GpuInstancePlan(new_gpu_id(0), big, 50.0, 2)]}

    rng = np.random.default_rng(2)
    fns = [GpuFunction("bert", "bert_base", 50.0, piecewise_poisson(rng, [80, 80], 1.0))]
    worker = SpyWorker()
    out = replay(Scripted(plans), worker, fns, 2.0, 0.5)
    assert any(r.kind == "worker" and "sm_pct" in r.reason for r in out.rejections)
    kinds = [a.kind for a in out.actions]
    assert "resize" in kinds and "remove" in kinds
    # the first instance was resized in place (quota 50% -> 100%, SMs to 9 chunks), then replaced
    assert ("resize", "bert-0", None, 1.0) in worker.calls
    nine_chunks = 100.0 * 72 / 132
    assert any(
        c[:2] == ("resize", "bert-0") and c[2] == pytest.approx(nine_chunks) for c in worker.calls
    )
    assert out.metrics["served"] == out.metrics["requests"] > 0
    assert worker.names() == []


def test_the_loop_api_serves_submitted_requests_and_closes_cleanly() -> None:
    worker = GpuWorker(SimulatedDevice())
    cfg = GpuLoopConfig(interval_s=0.5)
    loop = GpuControlLoop(
        policy("tessera"), worker, [("mobile", "mobilenet_v3_large", 30.0)], config=cfg
    )
    with loop:
        loop.start()
        assert len(worker.names()) == 1  # warm start: the first decision's instance is up at t=0
        for _ in range(20):
            loop.submit("mobile")
        with pytest.raises(InputError, match="function"):
            loop.submit("nope")
        loop.sleep_until(0.7)
        res = loop.close()
    assert res.metrics["served"] == res.metrics["requests"] == 20
    assert res.metrics["decisions"] == 2  # at 0 (warm) and 0.5 s
    assert worker.names() == []


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda p, w, f: run_trace(p, w, f, 4.0, interval_s=0.0), "interval_s"),
        (lambda p, w, f: run_trace(p, w, f, 0.0), "horizon_s"),
        (lambda p, w, f: run_trace(p, w, [("a", "resnet-9000", 10.0)], 1.0), "functions[0].model"),
        (lambda p, w, f: run_trace(p, w, [f[0], f[0]], 1.0), "functions"),
        (lambda p, w, f: run_trace(p, w, [("a", "resnet50")], 1.0), "functions[0]"),
        (lambda p, w, f: run_trace(p, w, [("a", "resnet50", -1.0)], 1.0), "function.slo_ms"),
        (lambda p, w, f: run_trace(object(), w, f, 1.0), "policy"),  # type: ignore[arg-type]
    ],
)
def test_bad_input_names_the_field(call: Any, field: str) -> None:
    worker = GpuWorker(SimulatedDevice())
    fns = [("a", "resnet50", 10.0, np.array([0.1, 0.2]))]
    with pytest.raises(InputError) as e:
        call(policy("has-gpu"), worker, fns)
    assert e.value.field == field
    assert "\n" not in str(e.value)
    assert worker.names() == []


def test_instances_planned_on_one_sm_row_share_one_partition() -> None:
    row = 100.0 * 32 / 132  # 4 chunks

    def plans(snap: GpuSnapshot) -> dict[str, list[GpuInstancePlan]]:
        have = {fn: _ids(snap, fn) for fn in ("resnet", "mobile")}
        gpu = "gpu0" if snap.gpus else new_gpu_id(0)

        def at(fn: str, k: int, quota: float, sm_off: float, q_off: float) -> GpuInstancePlan:
            iid = have[fn][k] if len(have[fn]) > k else None
            return GpuInstancePlan(gpu, row, quota, 1, iid, sm_off, q_off)

        # HAS-GPU's layout: resnet and mobile time-share the row at SM offset 0 (50% + 50%),
        # mobile's second instance has the row beside it to itself
        return {
            "resnet": [at("resnet", 0, 50.0, 0.0, 0.0)],
            "mobile": [at("mobile", 0, 50.0, 0.0, 50.0), at("mobile", 1, 100.0, row, 0.0)],
        }

    worker = SpyWorker()
    fns = [("resnet", "resnet50", 50.0), ("mobile", "mobilenet_v3_large", 50.0)]
    loop = GpuControlLoop(Scripted(plans), worker, fns, config=GpuLoopConfig(interval_s=0.5))
    with loop:
        loop.start()
        names = worker.names()
        assert names == ["mobile-1", "mobile-2", "resnet-0"]
        shared = worker.chunks("resnet-0")
        assert shared is not None and worker.chunks("mobile-1") == shared
        assert set(worker.chunks("mobile-2") or ()).isdisjoint(shared)
        assert worker.sharing("resnet-0") == ("mobile-1", "resnet-0")
        assert worker.free_sms() == 128 - 64
        assert any("sharing the partition of resnet-0" in a.detail for a in loop.actions)
        for _ in range(10):
            loop.submit("resnet")
            loop.submit("mobile")
        loop.sleep_until(0.7)  # one more decision keeps the layout
        assert worker.chunks("mobile-1") == worker.chunks("resnet-0") == shared
        res = loop.close()
    assert res.metrics["served"] == res.metrics["requests"] == 20
    assert res.rejections == [] and res.errors == []
    assert [c[0] for c in worker.calls] == ["add"] * 3  # no resize, nothing refused
    assert worker.names() == []


def test_an_instance_planned_onto_another_row_moves_to_that_rows_partition() -> None:
    row = 100.0 * 32 / 132

    def plans(snap: GpuSnapshot) -> dict[str, list[GpuInstancePlan]]:
        have = {fn: _ids(snap, fn) for fn in ("resnet", "mobile")}
        gpu = "gpu0" if snap.gpus else new_gpu_id(0)
        moved = snap.now_s >= 0.5 - 1e-6  # then mobile's first instance joins its second's row

        def at(fn: str, k: int, sm_off: float, q_off: float) -> GpuInstancePlan:
            iid = have[fn][k] if len(have[fn]) > k else None
            return GpuInstancePlan(gpu, row, 50.0, 1, iid, sm_off, q_off)

        first = at("mobile", 0, row, 50.0) if moved else at("mobile", 0, 0.0, 50.0)
        return {"resnet": [at("resnet", 0, 0.0, 0.0)], "mobile": [first, at("mobile", 1, row, 0.0)]}

    worker = SpyWorker()
    fns = [("resnet", "resnet50", 50.0), ("mobile", "mobilenet_v3_large", 50.0)]
    loop = GpuControlLoop(Scripted(plans), worker, fns, config=GpuLoopConfig(interval_s=0.5))
    with loop:
        loop.start()
        assert worker.sharing("resnet-0") == ("mobile-1", "resnet-0")
        a, b = worker.chunks("resnet-0"), worker.chunks("mobile-2")
        for _ in range(200):  # the decision at 0.5 s, then the actuator's move
            if worker.sharing("mobile-2") == ("mobile-1", "mobile-2"):
                break
            loop.sleep_until(loop.now_s() + 0.05)
        assert worker.sharing("mobile-2") == ("mobile-1", "mobile-2")
        assert worker.chunks("mobile-1") == b and worker.chunks("resnet-0") == a != b
        assert worker.sharing("resnet-0") == ("resnet-0",) and worker.free_sms() == 128 - 64
        for _ in range(5):
            loop.submit("mobile")
        res = loop.close()
    moves = [x for x in res.actions if x.kind == "resize"]
    assert [(x.instance, x.detail.split(", ")[-1]) for x in moves] == [
        ("mobile-1", "sharing the partition of mobile-2")
    ]
    assert res.rejections == [] and res.errors == [] and res.metrics["served"] == 5
    assert worker.names() == []
