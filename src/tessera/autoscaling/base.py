"""The autoscaler registry and the framework wrapper every driver calls.

`evaluate` runs a policy and clamps each decision to the function's scale
bounds, appending the reason when it had to: policies stay free of that rule.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from tessera.core.policy import AutoscaleResult, Decision, Snapshot
from tessera.core.ports import Autoscaler
from tessera.core.registry import Registry

AUTOSCALERS: Registry[Autoscaler] = Registry("autoscaler")


def is_number(value: object) -> bool:
    """A finite real number, not a bool (YAML's true/false are not numbers)."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def create(config: Mapping[str, Any]) -> Autoscaler:
    """Build an autoscaler from `{kind: NAME, **params}`."""
    return AUTOSCALERS.from_config(config)


def evaluate(policy: Autoscaler, snapshot: Snapshot) -> AutoscaleResult:
    """Run `policy` on `snapshot` and clamp its decisions to each function's bounds."""
    result = policy.decide(snapshot)
    clamped: list[Decision] = []
    for d in result.decisions:
        fv = snapshot.functions.get(d.function)
        if fv is None:
            continue
        n = fv.bounds.clamp(d.replicas)
        if n != d.replicas:
            side = "min" if n > d.replicas else "max"
            d = Decision(
                d.function, n, f"{d.reason}; clamped to scale.{side}={n}", release=d.release
            )
        clamped.append(d)
    return AutoscaleResult(tuple(clamped), result.state)
