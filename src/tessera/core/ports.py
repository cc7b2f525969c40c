"""Extension points: one small Protocol per kind of plugin (one or two methods each).

Implementations register by name in a `Registry` and must pass the
conformance suite in `tessera.testing`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from tessera.core.model import FunctionSpec, Node, Region
from tessera.core.policy import AutoscaleResult, InstanceView, Snapshot, Status
from tessera.core.records import Invocation


@runtime_checkable
class Autoscaler(Protocol):
    """Decides how many instances each function should have."""

    name: str

    def decide(self, snapshot: Snapshot) -> AutoscaleResult: ...


@runtime_checkable
class Scheduler(Protocol):
    """Kubernetes-style filter + score for placing one instance on a node."""

    name: str

    def filter(self, snapshot: Snapshot, spec: FunctionSpec, node: Node) -> Status: ...

    def score(self, snapshot: Snapshot, spec: FunctionSpec, node: Node) -> float: ...


@runtime_checkable
class Router(Protocol):
    """Picks the instance that serves an invocation (or None to queue it)."""

    name: str

    def route(
        self, snapshot: Snapshot, invocation: Invocation, instances: Sequence[InstanceView]
    ) -> int | None: ...


@runtime_checkable
class Placement(Protocol):
    """Ranks regions for a function (e.g. by carbon intensity and latency)."""

    name: str

    def rank(
        self, snapshot: Snapshot, spec: FunctionSpec, regions: Sequence[Region]
    ) -> Sequence[tuple[str, float, str]]: ...


@runtime_checkable
class CarbonSource(Protocol):
    """Grid carbon intensity (gCO2eq/kWh) of a zone at a UNIX time."""

    name: str

    def intensity(self, zone: str, at_s: float) -> float: ...
