"""The control loop against an in-memory platform: decide, apply, record, carry state, coalesce."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from tessera.autoscaling import Fixed, Kpa
from tessera.control import ControlLoop
from tessera.core.model import ScaleBounds
from tessera.core.policy import (
    AutoscaleResult,
    Decision,
    FunctionView,
    InstanceState,
    InstanceView,
    Snapshot,
)


def run(coro_fn: Callable[[], Coroutine[Any, Any, None]], timeout_s: float = 10.0) -> None:
    """Run one async test body under a hard time bound (pytest-asyncio is not used)."""

    async def bounded() -> None:
        await asyncio.wait_for(coro_fn(), timeout_s)

    asyncio.run(bounded())


def view(
    name: str,
    ready: int = 1,
    window: tuple[float, ...] = (),
    in_flight: int = 0,
    bounds: ScaleBounds | None = None,
    bucket_s: float = 2.0,
) -> FunctionView:
    now = time.time()
    return FunctionView(
        name=name,
        bounds=bounds or ScaleBounds(0, 100, 1.0),
        concurrency=1,
        instances=tuple(InstanceView(1000 + k, InstanceState.READY, 0, now) for k in range(ready)),
        queued=0,
        in_flight=in_flight,
        concurrency_window=window,
        bucket_s=bucket_s,
    )


class FakePlatform:
    """Implements ScalablePlatform in memory; `apply` makes the new scale ready at once."""

    def __init__(self, *views: FunctionView) -> None:
        self.fns: dict[str, FunctionView] = {v.name: v for v in views}
        self.view_calls: list[list[str] | None] = []
        self.applied: list[Decision] = []
        self.closed: list[float] = []
        self.fail_close = 0

    def close_buckets(self, now_s: float) -> None:
        self.closed.append(now_s)
        if self.fail_close:
            self.fail_close -= 1
            raise RuntimeError("metrics unavailable")

    def views(self, names: list[str] | None = None) -> dict[str, FunctionView]:
        self.view_calls.append(None if names is None else list(names))
        if names is None:
            return dict(self.fns)
        return {n: self.fns[n] for n in names if n in self.fns}

    def apply(self, d: Decision) -> None:
        self.applied.append(d)
        fv = self.fns[d.function]
        now = time.time()
        instances = tuple(
            InstanceView(2000 + k, InstanceState.READY, 0, now) for k in range(d.replicas)
        )
        self.fns[d.function] = replace(fv, instances=instances)


class Counting:
    """An autoscaler that counts its calls and delegates to `Fixed`."""

    name = "counting"
    reactive = False

    def __init__(self, replicas: int = 1) -> None:
        self.inner = Fixed(replicas)
        self.snapshots: list[Snapshot] = []

    def decide(self, snapshot: Snapshot) -> AutoscaleResult:
        self.snapshots.append(snapshot)
        return self.inner.decide(snapshot)


# --- decide --------------------------------------------------------------------------------------
def test_decide_applies_every_decision_and_records_only_scale_changes() -> None:
    fake = FakePlatform(view("a", ready=1), view("b", ready=3))
    loop = ControlLoop(fake, Fixed(3), interval_s=1.0)
    t0 = time.time()
    loop.decide()
    assert [(d.function, d.replicas) for d in fake.applied] == [("a", 3), ("b", 3)]
    assert len(loop.decisions) == 1
    t, fn, n, reason = loop.decisions[0]
    assert (fn, n, reason) == ("a", 3, "fixed at 3 replicas")
    assert t0 <= t <= time.time()
    assert fake.fns["a"].replicas == 3

    loop.decide()  # nothing changes now: applied again, not recorded again
    assert len(fake.applied) == 4
    assert len(loop.decisions) == 1


def test_decisions_are_clamped_to_scale_bounds_with_the_reason() -> None:
    fake = FakePlatform(view("a", ready=1, bounds=ScaleBounds(2, 4, 1.0)))
    loop = ControlLoop(fake, Fixed(10))
    loop.decide()
    assert fake.applied[-1].replicas == 4
    assert loop.decisions[-1][3] == "fixed at 10 replicas; clamped to scale.max=4"
    loop.autoscaler = Fixed(0)
    loop.decide()
    assert fake.applied[-1].replicas == 2
    assert loop.decisions[-1][2:] == (2, "fixed at 0 replicas; clamped to scale.min=2")


def test_decide_for_named_functions_only_evaluates_those() -> None:
    fake = FakePlatform(view("a"), view("b"))
    scaler = Counting(2)
    loop = ControlLoop(fake, scaler)
    loop.decide(["b", "gone"])
    assert fake.view_calls == [["b", "gone"]]
    assert set(scaler.snapshots[0].functions) == {"b"}
    assert [d.function for d in fake.applied] == ["b"]


def test_no_functions_means_no_evaluation() -> None:
    scaler = Counting()
    loop = ControlLoop(FakePlatform(), scaler)
    loop.decide()
    loop.decide(["x"])
    assert scaler.snapshots == []
    assert list(loop.decisions) == []


def _panic_view(ready: int = 1) -> FunctionView:
    # 2 s buckets, 60 s stable window = 30 buckets, panic window = the last 3.
    return view("f", ready=ready, window=(0.0,) * 27 + (10.0,) * 3, in_flight=10)


def _quiet_view(ready: int) -> FunctionView:
    return view("f", ready=ready, window=(0.0,) * 30, in_flight=0)


def test_kpa_panic_state_is_carried_between_decisions() -> None:
    fake = FakePlatform(_panic_view())
    loop = ControlLoop(fake, Kpa(stable_window_s=60))
    loop.decide()
    first = fake.applied[-1]
    assert first.replicas == 15  # ceil(10 / 0.7)
    assert first.reason.startswith("panic")
    assert loop.state["f"].panic_since_s is not None
    assert loop.decisions[-1][2:] == (15, first.reason)

    fake.fns["f"] = _quiet_view(ready=15)  # traffic stopped right after
    loop.decide()
    held = fake.applied[-1]
    assert held.replicas == 15, "in panic the scale must not go down"
    assert "never down in panic" in held.reason
    assert len(loop.decisions) == 1  # no change, nothing new recorded

    fresh = FakePlatform(_quiet_view(ready=15))
    ControlLoop(fresh, Kpa(stable_window_s=60)).decide()  # the same view, no memory
    assert fresh.applied[-1].reason.startswith("stable")
    assert fresh.applied[-1].replicas == 7  # halved: max scale-down rate 2


def test_state_of_functions_not_decided_is_kept() -> None:
    fake = FakePlatform(_panic_view(), view("g", ready=1))
    fake.fns["g"] = replace(fake.fns["f"], name="g")
    loop = ControlLoop(fake, Kpa(stable_window_s=60))
    loop.decide()
    assert set(loop.state) == {"f", "g"}
    g_state = loop.state["g"]
    fake.fns["f"] = _quiet_view(ready=15)
    loop.decide(["f"])
    assert loop.state["g"] == g_state
    assert loop.state["f"].panic_since_s is not None


# --- poke and the periodic loop -----------------------------------------------------------------
async def _until(cond: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def test_two_pokes_in_one_loop_turn_make_one_decision() -> None:
    async def body() -> None:
        fake = FakePlatform(view("a", ready=0), view("b", ready=0))
        scaler = Counting(1)
        loop = ControlLoop(fake, scaler, interval_s=60)
        loop.poke("a")
        loop.poke("a")
        assert scaler.snapshots == []  # decided on the next turn, not inside poke
        await _until(lambda: len(scaler.snapshots) >= 1)
        for _ in range(5):
            await asyncio.sleep(0)
        assert fake.view_calls == [["a"]]
        assert [(d.function, d.replicas) for d in fake.applied] == [("a", 1)]
        assert loop.decisions[-1][1:3] == ("a", 1)

        loop.poke("a")  # the coalescing is per turn: a later poke decides again
        loop.poke("b")
        await _until(lambda: len(scaler.snapshots) >= 3)
        for _ in range(5):
            await asyncio.sleep(0)
        assert fake.view_calls == [["a"], ["a"], ["b"]]

    run(body)


def test_run_closes_buckets_and_decides_every_interval_and_survives_errors() -> None:
    async def body() -> None:
        fake = FakePlatform(view("a", ready=0))
        fake.fail_close = 1  # the first iteration fails
        scaler = Counting(2)
        loop = ControlLoop(fake, scaler, interval_s=0.02)
        loop.start()
        try:
            await _until(lambda: len(scaler.snapshots) >= 3)
        finally:
            await loop.stop()
        assert len(fake.closed) >= 4
        assert all(c is None for c in fake.view_calls)  # periodic turns look at everything
        assert fake.applied[0].replicas == 2
        calls = len(fake.closed)
        await asyncio.sleep(0.1)
        assert len(fake.closed) == calls, "the loop kept running after stop()"

    run(body)


def test_stop_before_start_is_harmless() -> None:
    async def body() -> None:
        await ControlLoop(FakePlatform(), Fixed(1)).stop()

    run(body)
