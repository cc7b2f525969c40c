"""Snapshots in, decisions with reasons out: the contract between policies and drivers.

A policy never reads a clock, the network, the environment or global random
state. Everything it may know arrives in an immutable `Snapshot`: the time,
what is running, recent metrics, its own previous state and its config.
It answers with `Decision`s, each carrying a human-readable reason, and its
next state. The simulator (virtual time) and the control loop (wall time)
build snapshots the same way and apply decisions the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tessera.core.model import ScaleBounds


class Code(StrEnum):
    """Outcome of a filter/admission step, as in the Kubernetes scheduling framework."""

    SUCCESS = "success"
    UNSCHEDULABLE = "unschedulable"
    SKIP = "skip"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Status:
    """A result with reasons: every rejection says why."""

    code: Code = Code.SUCCESS
    reasons: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code is Code.SUCCESS

    @staticmethod
    def success(*reasons: str) -> Status:
        return Status(Code.SUCCESS, tuple(reasons))

    @staticmethod
    def reject(*reasons: str) -> Status:
        if not reasons:
            raise ValueError("a rejection needs at least one reason")
        return Status(Code.UNSCHEDULABLE, tuple(reasons))


class InstanceState(StrEnum):
    STARTING = "starting"  # cold start in progress
    READY = "ready"  # warm, may be idle or busy
    DRAINING = "draining"  # finishing its work, then gone


@dataclass(frozen=True, slots=True)
class InstanceView:
    """One instance as a policy sees it."""

    id: int
    state: InstanceState
    busy: int  # requests executing now
    idle_since_s: float  # when it last became idle (meaningless while busy)
    node: str = ""


@dataclass(frozen=True, slots=True)
class FunctionView:
    """One function as a policy sees it.

    `concurrency_window` holds the average in-flight requests (executing plus
    queued) of each of the last metric buckets, oldest first, each
    `bucket_s` long: the same signal Knative's queue-proxy reports.
    """

    name: str
    bounds: ScaleBounds
    concurrency: int  # requests one instance runs at once
    instances: tuple[InstanceView, ...]
    queued: int
    in_flight: int
    concurrency_window: tuple[float, ...] = ()
    bucket_s: float = 1.0
    rps_window: tuple[float, ...] = ()

    @property
    def ready(self) -> int:
        return sum(1 for i in self.instances if i.state is InstanceState.READY)

    @property
    def starting(self) -> int:
        return sum(1 for i in self.instances if i.state is InstanceState.STARTING)

    @property
    def replicas(self) -> int:
        """Instances that count towards the scale (ready or starting, not draining)."""
        return sum(1 for i in self.instances if i.state is not InstanceState.DRAINING)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a policy may know at one instant."""

    now_s: float
    functions: Mapping[str, FunctionView]
    state: Any = None  # the policy's own state from its previous decision
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    """One action for a driver to apply, with the reason a person would want to read."""

    function: str
    replicas: int
    reason: str
    release: tuple[int, ...] = ()  # specific instances to release first, if any


@dataclass(frozen=True, slots=True)
class AutoscaleResult:
    """What an autoscaler returns: decisions plus its next state."""

    decisions: tuple[Decision, ...]
    state: Any = None
