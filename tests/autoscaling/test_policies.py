"""Behaviour of the autoscaling policies on hand-built snapshots."""

from __future__ import annotations

from tessera.autoscaling import Fixed, KeepAlive, Kpa, evaluate
from tessera.autoscaling.kpa import KpaState
from tessera.core.model import ScaleBounds
from tessera.core.policy import FunctionView, InstanceState, InstanceView, Snapshot

R = InstanceState.READY


def view(
    n_ready: int,
    window: tuple[float, ...] = (),
    queued: int = 0,
    busy: int = 0,
    bounds: ScaleBounds | None = None,
    idle_since: float = 0.0,
) -> FunctionView:
    inst = tuple(InstanceView(i, R, 1 if i < busy else 0, idle_since) for i in range(n_ready))
    return FunctionView(
        name="f",
        bounds=bounds or ScaleBounds(0, 100, 1.0),
        concurrency=1,
        instances=inst,
        queued=queued,
        in_flight=busy + queued,
        concurrency_window=window,
        bucket_s=1.0,
    )


def snap(fv: FunctionView, now: float = 100.0, state: object = None) -> Snapshot:
    return Snapshot(now_s=now, functions={"f": fv}, state=state)


def test_fixed_and_bounds_applied_by_framework() -> None:
    res = evaluate(Fixed(7), snap(view(2, bounds=ScaleBounds(0, 5, 1.0))))
    (d,) = res.decisions
    assert d.replicas == 5 and "clamped to scale.max=5" in d.reason
    res = evaluate(Fixed({"f": 0}), snap(view(2, bounds=ScaleBounds(1, 5, 1.0))))
    assert res.decisions[0].replicas == 1


def test_kpa_stable_mode_targets_utilisation() -> None:
    # 60 buckets at 7 in flight, target 1 x 0.7 -> 10 pods
    res = Kpa().decide(snap(view(10, window=(7.0,) * 60)))
    assert res.decisions[0].replicas == 10
    assert res.decisions[0].reason.startswith("stable")


def test_kpa_panics_on_burst_and_never_scales_down_in_panic() -> None:
    window = (1.0,) * 54 + (20.0,) * 6  # a burst in the last 6 s
    res = Kpa().decide(snap(view(2, window=window)))
    d = res.decisions[0]
    assert d.reason.startswith("panic")
    assert d.replicas == 29  # ceil(20 / 0.7)
    st = res.state["f"]
    assert st.panic_since_s == 100.0
    # the burst is gone 10 s later, but panic lasts a stable window: no scale down
    res2 = Kpa().decide(snap(view(29, window=(1.0,) * 60), now=110.0, state=res.state))
    assert res2.decisions[0].replicas == 29
    # after 60 s without panic, back to stable and down (rate-limited to /2)
    res3 = Kpa().decide(snap(view(29, window=(1.0,) * 60), now=161.0, state=res2.state))
    assert res3.decisions[0].reason.startswith("stable")
    assert res3.decisions[0].replicas == 14  # floor(29 / 2)


def test_kpa_wakes_from_zero_and_waits_before_zero() -> None:
    res = Kpa().decide(snap(view(0, queued=3)))
    assert res.decisions[0].replicas >= 1  # the activator's poke
    # traffic stopped 10 s ago: keep one instance through the grace period
    st = {"f": KpaState(last_active_s=90.0)}
    res = Kpa().decide(snap(view(1, window=(0.0,) * 60), now=100.0, state=st))
    assert res.decisions[0].replicas == 1
    res = Kpa().decide(snap(view(1, window=(0.0,) * 60), now=130.0, state=st))
    assert res.decisions[0].replicas == 0


def test_keepalive_adds_for_queue_and_releases_expired() -> None:
    # 2 ready, both busy, 3 queued -> 3 more
    res = KeepAlive(600).decide(snap(view(2, queued=3, busy=2)))
    assert res.decisions[0].replicas == 5
    # 3 idle since t=0, now=700 > keep-alive -> all released
    res = KeepAlive(600).decide(snap(view(3, idle_since=0.0), now=700.0))
    d = res.decisions[0]
    assert d.replicas == 0 and set(d.release) == {0, 1, 2}
    # within keep-alive -> kept
    res = KeepAlive(600).decide(snap(view(3, idle_since=200.0), now=700.0))
    assert res.decisions[0].replicas == 3 and not res.decisions[0].release
