"""A fixed number of replicas per function: the baseline, and the M/M/c model."""

from __future__ import annotations

import numbers
from collections.abc import Mapping

from tessera.autoscaling.base import AUTOSCALERS
from tessera.core.errors import require
from tessera.core.policy import AutoscaleResult, Decision, Snapshot


@AUTOSCALERS.register("fixed")
class Fixed:
    """Keep `replicas` instances (an int for all functions, or a per-function mapping)."""

    name = "fixed"
    reactive = False

    def __init__(self, replicas: int | Mapping[str, int] = 1) -> None:
        values = replicas.values() if isinstance(replicas, Mapping) else [replicas]
        for v in values:
            require(
                isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0,
                "autoscaler.replicas",
                v,
                "an integer >= 0",
            )
        self.replicas = replicas

    def decide(self, snapshot: Snapshot) -> AutoscaleResult:
        out = []
        for name in snapshot.functions:
            n = self.replicas.get(name, 1) if isinstance(self.replicas, Mapping) else self.replicas
            out.append(Decision(name, n, f"fixed at {n} replicas"))
        return AutoscaleResult(tuple(out), snapshot.state)
