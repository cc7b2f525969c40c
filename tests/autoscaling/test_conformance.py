"""Every registered autoscaler passes the conformance suite, and the suite catches breaches."""

from __future__ import annotations

import time

import pytest

from tessera.autoscaling import AUTOSCALERS
from tessera.core.policy import AutoscaleResult, Decision, Snapshot
from tessera.testing import ConformanceError, autoscaler_snapshots, check_autoscaler


@pytest.mark.parametrize("name", AUTOSCALERS.names())
def test_registered_autoscalers_conform(name: str) -> None:
    results = check_autoscaler(AUTOSCALERS.create(name))
    assert len(results) == len(autoscaler_snapshots())


class ReadsClock:
    name = "reads-clock"

    def decide(self, snapshot: Snapshot) -> AutoscaleResult:
        n = int(time.time()) % 3
        return AutoscaleResult(tuple(Decision(f, n, "by clock") for f in snapshot.functions))


class NoReason:
    name = "no-reason"

    def decide(self, snapshot: Snapshot) -> AutoscaleResult:
        return AutoscaleResult(tuple(Decision(f, 1, " ") for f in snapshot.functions))


class Flaky:
    name = "flaky"

    def __init__(self) -> None:
        self.calls = 0

    def decide(self, snapshot: Snapshot) -> AutoscaleResult:
        self.calls += 1  # hidden state: not in the snapshot
        return AutoscaleResult(tuple(Decision(f, self.calls, "n") for f in snapshot.functions))


class ReadsFile:
    name = "reads-file"

    def decide(self, snapshot: Snapshot) -> AutoscaleResult:
        with open("/etc/hostname") as f:
            f.read()
        return AutoscaleResult(())


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (ReadsClock(), "time.time"),
        (NoReason(), "no reason"),
        (Flaky(), "different decisions"),
        (ReadsFile(), "open()"),
    ],
)
def test_suite_catches_impure_policies(policy: object, message: str) -> None:
    with pytest.raises(ConformanceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_autoscaler(policy)  # type: ignore[arg-type]
