"""Functions, nodes and regions: what is deployed and where it can run.

These are the nouns every policy and driver shares. They are frozen so a
snapshot built from them can be handed to a policy without defensive copies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from tessera.core.errors import require
from tessera.core.resources import Resources

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
"""A DNS label: what names of functions, secrets and scopes' functions must look like."""
_NAME = re.compile(NAME_PATTERN)


def check_name(kind: str, name: str) -> None:
    """Function/node names are DNS labels, so they map onto every FaaS platform unchanged."""
    require(
        bool(_NAME.match(name)),
        f"{kind}.name",
        name,
        "a DNS label: lowercase letters, digits and '-', 1-63 chars, alphanumeric at both ends",
    )


@dataclass(frozen=True, slots=True)
class ScaleBounds:
    """Horizontal scale limits; the framework clamps every policy decision to them."""

    min_replicas: int = 0
    max_replicas: int = 1000
    target_concurrency: float = 1.0

    def __post_init__(self) -> None:
        require(self.min_replicas >= 0, "scale.min", self.min_replicas, "an integer >= 0")
        require(
            self.max_replicas >= max(1, self.min_replicas),
            "scale.max",
            self.max_replicas,
            f"an integer >= max(1, scale.min={self.min_replicas})",
        )
        require(
            self.target_concurrency > 0,
            "scale.target",
            self.target_concurrency,
            "a number > 0",
        )

    def clamp(self, replicas: int) -> int:
        return max(self.min_replicas, min(self.max_replicas, replicas))


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A deployable function: identity, handler, resources, concurrency and scale bounds."""

    name: str
    handler: str = "main.handle"
    runtime: str = "python3.11"
    resources: Resources = field(default_factory=Resources)
    concurrency: int = 1
    scale: ScaleBounds = field(default_factory=ScaleBounds)
    timeout_s: float = 300.0
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name("function", self.name)
        require(self.concurrency >= 1, "concurrency", self.concurrency, "an integer >= 1")
        require(self.timeout_s > 0, "timeout_s", self.timeout_s, "a number of seconds > 0")


@dataclass(frozen=True, slots=True)
class Region:
    """A place with its own grid: `zone` is the Electricity Maps zone (e.g. 'FR')."""

    name: str
    zone: str = ""
    pue: float = 1.12

    def __post_init__(self) -> None:
        require(self.pue >= 1.0, "region.pue", self.pue, "a power usage effectiveness >= 1.0")


@dataclass(frozen=True, slots=True)
class Node:
    """A machine that hosts instances, in one region, with a capacity."""

    name: str
    region: str = "local"
    capacity: Resources = field(default_factory=lambda: Resources(cpu=2.0, mem_mib=24 * 1024))
    labels: Mapping[str, str] = field(default_factory=dict)
