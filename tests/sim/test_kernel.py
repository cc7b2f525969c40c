from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.sim.kernel import URGENT, Environment, RealtimeEnvironment


@given(st.lists(st.tuples(st.floats(0, 1e6, allow_nan=False), st.integers(0, 1)), max_size=200))
def test_events_run_in_time_then_priority_then_fifo_order(items: list[tuple[float, int]]) -> None:
    env = Environment()
    seen: list[tuple[float, int, int]] = []
    for k, (t, prio) in enumerate(items):
        env.at(t, lambda a: seen.append((env.now, a[0], a[1])), (prio, k), priority=prio)
    env.run()
    assert seen == sorted(seen)
    assert env.events == len(items)
    assert [s[0] for s in seen] == sorted(t for t, _ in items)


def test_callbacks_can_schedule_and_until_stops() -> None:
    env = Environment()
    ticks: list[float] = []

    def tick(_: object) -> None:
        ticks.append(env.now)
        env.schedule(1.0, tick)

    env.schedule(0.0, tick)
    env.run(until=4.5)
    assert ticks == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert env.now == 4.5
    with pytest.raises(ValueError, match="past"):
        env.at(1.0, tick)


def test_urgent_runs_before_normal_at_same_time() -> None:
    env = Environment()
    order: list[str] = []
    env.at(1.0, order.append, "normal")
    env.at(1.0, order.append, "urgent", priority=URGENT)
    env.run()
    assert order == ["urgent", "normal"]


def test_realtime_environment_paces_to_wall_clock() -> None:
    env = RealtimeEnvironment(factor=0.01)  # 1 virtual second = 10 ms
    env.at(5.0, lambda _: None)
    t0 = time.monotonic()
    env.run()
    assert time.monotonic() - t0 >= 0.05 * 0.9
    assert env.now == 5.0
