"""Checks that make "policies are pure" enforceable rather than a convention.

A conforming policy, given the same snapshot, returns the same decisions;
reads no clock, file, socket, environment variable or global random state
while deciding (each is patched to raise); leaves the snapshot (including its
state) unchanged; and gives a reason with every decision. Third-party plugins
run `check_autoscaler(MyPolicy())` in their own tests.
"""

from __future__ import annotations

import copy
import os
import random
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import numpy as np

from tessera.core.model import ScaleBounds
from tessera.core.policy import (
    AutoscaleResult,
    FunctionView,
    InstanceState,
    InstanceView,
    Snapshot,
)
from tessera.core.ports import Autoscaler


class ConformanceError(AssertionError):
    """A plugin broke a rule every policy must keep."""


def _refuse(what: str) -> Callable[..., Any]:
    def fail(*_a: Any, **_k: Any) -> Any:
        raise ConformanceError(f"policy used {what} while deciding; take it from the snapshot")

    return fail


_IMPURE: tuple[tuple[Any, str, str], ...] = (
    (time, "time", "time.time()"),
    (time, "monotonic", "time.monotonic()"),
    (time, "perf_counter", "time.perf_counter()"),
    (time, "time_ns", "time.time_ns()"),
    (time, "sleep", "time.sleep()"),
    (random, "random", "the global random module"),
    (random, "randint", "the global random module"),
    (random, "choice", "the global random module"),
    (random, "shuffle", "the global random module"),
    (random, "uniform", "the global random module"),
    (np.random, "random", "numpy's global random state"),
    (np.random, "rand", "numpy's global random state"),
    (np.random, "randint", "numpy's global random state"),
    (np.random, "choice", "numpy's global random state"),
    (np.random, "default_rng", "a new random generator (pass one in the snapshot)"),
    (socket, "socket", "the network"),
    (socket, "create_connection", "the network"),
    (os, "getenv", "environment variables"),
    (os, "listdir", "the file system"),
    (os, "stat", "the file system"),
)


@contextmanager
def forbid_impurity() -> Iterator[None]:
    """Patch clocks, randomness, the network, the environment and `open` to raise."""
    with ExitStack() as stack:
        for module, attr, what in _IMPURE:
            stack.enter_context(mock.patch.object(module, attr, _refuse(what)))
        stack.enter_context(mock.patch("builtins.open", _refuse("open() (file I/O)")))
        env = mock.MagicMock(side_effect=_refuse("os.environ"))
        env.__getitem__.side_effect = _refuse("os.environ")
        env.get.side_effect = _refuse("os.environ")
        stack.enter_context(mock.patch.object(os, "environ", env))
        yield


def pure_call(name: str, method: str, what: str, call: Callable[[Any], Any], snap: Any) -> Any:
    """`call(snap)` twice under `forbid_impurity`, the second time on a copy; `ConformanceError`
    unless both give the same `what` and `snap` is left as it was. Returns the first result."""
    before = copy.deepcopy(snap)
    with forbid_impurity():
        first = call(snap)
        second = call(copy.deepcopy(snap))
    if first != second:
        raise ConformanceError(f"{name}: same snapshot, different {what}:\n{first}\n{second}")
    if snap != before:
        raise ConformanceError(f"{name}: {method}() modified its snapshot")
    return first


def autoscaler_snapshots(seed: int = 0, count: int = 40) -> list[Snapshot]:
    """Varied snapshots: idle, bursty, at zero with requests waiting, mid cold start, draining."""
    rng = np.random.default_rng(seed)
    out: list[Snapshot] = []
    for k in range(count):
        functions = {}
        for j in range(int(rng.integers(1, 4))):
            n = int(rng.integers(0, 8))
            concurrency = int(rng.choice([1, 1, 4, 10]))
            states = rng.choice(
                [InstanceState.READY, InstanceState.STARTING, InstanceState.DRAINING],
                size=n,
                p=[0.7, 0.2, 0.1],
            )
            now = float(k * 2.0 + 100)
            instances = tuple(
                InstanceView(
                    id=i,
                    state=InstanceState(s),
                    busy=int(rng.integers(0, concurrency + 1)) if s != "starting" else 0,
                    idle_since_s=now - float(rng.exponential(200)),
                )
                for i, s in enumerate(states)
            )
            busy = sum(i.busy for i in instances)
            queued = int(rng.integers(0, 20)) if rng.random() < 0.5 else 0
            window = tuple(float(x) for x in rng.exponential(2.0, int(rng.integers(0, 200))))
            functions[f"fn-{j}"] = FunctionView(
                name=f"fn-{j}",
                bounds=ScaleBounds(
                    int(rng.integers(0, 2)), int(rng.integers(2, 50)), float(rng.choice([1, 10]))
                ),
                concurrency=concurrency,
                instances=instances,
                queued=queued,
                in_flight=busy + queued,
                concurrency_window=window,
                bucket_s=float(rng.choice([1.0, 2.0])),
                rps_window=window,
            )
        out.append(Snapshot(now_s=float(k * 2.0 + 100), functions=functions))
    return out


def check_autoscaler(
    policy: Autoscaler, snapshots: Sequence[Snapshot] | None = None
) -> list[AutoscaleResult]:
    """Run the conformance checks on `policy`; raise `ConformanceError` on the first breach.

    Snapshots are fed in sequence, each carrying the state the policy returned
    for the previous one, so stateful policies are exercised too.
    """
    if not isinstance(policy, Autoscaler):
        raise ConformanceError(f"{policy!r} lacks `name` or `decide(snapshot)`")
    results = []
    state: Any = None
    for snap in snapshots if snapshots is not None else autoscaler_snapshots():
        snap = Snapshot(snap.now_s, snap.functions, state, snap.extra)
        first = pure_call(policy.name, "decide", "decisions", policy.decide, snap)
        for d in first.decisions:
            if d.function not in snap.functions:
                raise ConformanceError(f"{policy.name}: decision for unknown function {d.function}")
            if d.replicas < 0:
                raise ConformanceError(f"{policy.name}: negative replicas for {d.function}")
            if not d.reason.strip():
                raise ConformanceError(f"{policy.name}: decision for {d.function} has no reason")
            known = {i.id for i in snap.functions[d.function].instances}
            if not set(d.release) <= known:
                raise ConformanceError(f"{policy.name}: releases unknown instances {d.release}")
        state = first.state
        results.append(first)
    return results
