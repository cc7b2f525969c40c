"""Invocations and their records: the single source of every metric Tessera reports.

The report, the experiments and the autoscalers' inputs are all derived from
`InvocationRecord`s, never from counters kept on the side (DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Invocation:
    """One request to a function, as it arrives."""

    id: int
    function: str
    arrival_s: float
    payload: Any = None


@dataclass(frozen=True, slots=True)
class InvocationRecord:
    """What happened to one invocation: timing, placement, cold flag and its footprint."""

    id: int
    function: str
    arrival_s: float
    start_s: float
    end_s: float
    cold: bool = False
    instance: int = -1
    node: str = ""
    region: str = ""
    energy_j: float = 0.0
    carbon_g: float = 0.0
    """Operational: energy x PUE x grid intensity."""
    cost_usd: float = 0.0
    status: str = "ok"
    embodied_g: float = 0.0
    """The hardware's embodied carbon amortised over the time this invocation held it."""

    @property
    def queue_delay_s(self) -> float:
        """Time from arrival until execution began (includes any cold start)."""
        return self.start_s - self.arrival_s

    @property
    def latency_s(self) -> float:
        """End-to-end time from arrival to completion."""
        return self.end_s - self.arrival_s

    @property
    def service_s(self) -> float:
        return self.end_s - self.start_s
