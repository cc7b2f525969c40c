"""The token-window gate on a fake clock: quotas hold over many windows, lending, next-window changes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.core.errors import InputError
from tessera.gpu.clock import FakeClock
from tessera.gpu.gate import Quota, TokenGate, wait_turn

W_MS = 40.0


def drive(gate: TokenGate, clock: FakeClock, launch_ms: dict[str, float], seconds: float) -> None:
    """One time-sliced GPU: busy instances take turns (round robin); idle time when none may run."""
    order = list(launch_ms)
    k = 0
    end = clock.now_s() + seconds
    while clock.now_s() < end:
        now = clock.now_s()
        for i in range(len(order)):
            name = order[(k + i) % len(order)]
            if gate.admit(name, now).ok:
                clock.advance(launch_ms[name] / 1000.0)
                gate.charge(name, launch_ms[name], clock.now_s())
                k = (k + i + 1) % len(order)
                break
        else:
            clock.sleep_until(min(gate.admit(n, now).wait_until_s for n in order))


def share(gate: TokenGate, name: str, skip: int = 2) -> float:
    h = gate.history(name)[skip:]
    return sum(w.share for w in h) / len(h)


@pytest.mark.parametrize("q", [0.1, 0.25, 0.5, 0.75, 1.0])
@pytest.mark.parametrize("launch_ms", [1.1, 6.5])
def test_quota_holds_over_many_windows(q: float, launch_ms: float) -> None:
    clock, gate = FakeClock(), TokenGate(W_MS)
    gate.add("a", Quota.of(q), clock.now_s())
    drive(gate, clock, {"a": launch_ms}, seconds=8.0)  # 200 windows
    assert len(gate.history("a")) >= 190
    assert share(gate, "a") == pytest.approx(q, abs=0.05)
    # and each single window stays near the quota too (debt carries the overshoot)
    for w in gate.history("a")[2:]:
        assert w.share <= q + launch_ms / W_MS + 1e-9


def test_request_is_guaranteed_and_unheld_time_is_lent_up_to_limit() -> None:
    clock, gate = FakeClock(), TokenGate(W_MS)
    gate.add("a", Quota(0.25, 1.0), 0.0)
    gate.add("b", Quota(0.5, 0.5), 0.0)
    drive(gate, clock, {"a": 1.0, "b": 1.0}, seconds=4.0)
    # both busy: b gets its request; a gets its request plus the 25% nobody holds
    assert share(gate, "b") == pytest.approx(0.5, abs=0.05)
    assert share(gate, "a") == pytest.approx(0.5, abs=0.05)


def test_idle_instances_lend_their_request() -> None:
    clock, gate = FakeClock(), TokenGate(W_MS)
    gate.add("a", Quota(0.25, 1.0), 0.0)
    gate.add("b", Quota(0.5, 0.5), 0.0)
    drive(gate, clock, {"a": 1.0}, seconds=4.0)  # b never asks
    assert share(gate, "a") == pytest.approx(1.0, abs=0.05)


def test_borrowing_stops_at_the_limit() -> None:
    clock, gate = FakeClock(), TokenGate(W_MS)
    gate.add("a", Quota(0.25, 0.6), 0.0)
    drive(gate, clock, {"a": 1.0}, seconds=4.0)
    assert share(gate, "a") == pytest.approx(0.6, abs=0.05)


def test_quota_change_takes_effect_at_the_next_window() -> None:
    clock, gate = FakeClock(), TokenGate(W_MS)
    gate.add("a", Quota.of(0.25), 0.0)
    drive(gate, clock, {"a": 1.0}, seconds=0.4)
    clock.sleep_until(gate.window_start_s(gate.window_index(clock.now_s()) + 1))
    k = gate.window_index(clock.now_s())
    drive(gate, clock, {"a": 1.0}, seconds=0.005)  # some use in window k
    gate.set_quota("a", Quota.of(0.75))
    assert gate.quota("a") == Quota.of(0.25)  # not mid-window
    drive(gate, clock, {"a": 1.0}, seconds=0.2)
    by_index = {w.index: w.share for w in gate.history("a")}
    assert by_index[k] == pytest.approx(0.25, abs=0.03)
    assert by_index[k + 1] == pytest.approx(0.75, abs=0.03)
    assert gate.quota("a") == Quota.of(0.75)


def test_waiting_instance_is_told_the_next_window() -> None:
    gate = TokenGate(W_MS)
    gate.add("a", Quota.of(0.25), 0.0)
    gate.charge("a", 10.0, 0.001)
    g = gate.admit("a", 0.012)
    assert not g.ok and g.wait_until_s == pytest.approx(0.040)
    assert "limit" in g.reason
    assert gate.admit("a", 0.040).ok


def test_wait_turn_sleeps_on_the_clock() -> None:
    clock, gate = FakeClock(), TokenGate(W_MS)
    gate.add("a", Quota.of(0.5), 0.0)
    gate.charge("a", 25.0, 0.0)
    waited = wait_turn(gate, "a", clock)
    assert waited == pytest.approx(0.040)
    assert clock.now_s() == pytest.approx(0.040)


@pytest.mark.parametrize(
    ("request_", "limit", "field"),
    [(0.0, 0.5, "quota_request"), (1.5, 1.5, "quota_request"), (-0.1, 0.5, "quota_request"),
     (0.5, 0.4, "quota_limit"), (0.5, 1.2, "quota_limit")],
)  # fmt: skip
def test_bad_quotas_name_the_field(request_: float, limit: float, field: str) -> None:
    with pytest.raises(InputError) as e:
        Quota(request_, limit)
    assert e.value.field == field


def test_requests_of_one_domain_cannot_exceed_the_window() -> None:
    gate = TokenGate(W_MS)
    gate.add("a", Quota.of(0.75), 0.0)
    with pytest.raises(InputError, match=r"already hold 0\.750"):
        gate.add("b", Quota.of(0.5), 0.0)
    gate.add("b", Quota.of(0.5), 0.0, domain="sm:b")  # another partition: its own time
    gate.add("c", Quota.of(0.25), 0.0)
    with pytest.raises(InputError, match=r"at most 0\.750"):
        gate.set_quota("a", Quota.of(0.8))


def test_unknown_instance_is_named() -> None:
    gate = TokenGate(W_MS)
    gate.add("a", Quota.of(0.5), 0.0)
    with pytest.raises(InputError, match=r"one of the gate's instances \['a'\]"):
        gate.admit("zz", 0.0)
    with pytest.raises(InputError):
        TokenGate(0)


@settings(max_examples=40, deadline=None)
@given(
    request_=st.floats(0.05, 1.0),
    extra=st.floats(0.0, 1.0),
    launch_ms=st.floats(0.2, 8.0),
)
def test_alone_an_instance_gets_its_limit(request_: float, extra: float, launch_ms: float) -> None:
    limit = request_ + (1.0 - request_) * extra
    clock, gate = FakeClock(), TokenGate(W_MS)
    gate.add("a", Quota(request_, limit), 0.0)
    drive(gate, clock, {"a": launch_ms}, seconds=4.0)
    assert share(gate, "a") == pytest.approx(limit, abs=0.05)
