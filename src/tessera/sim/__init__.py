"""The discrete-event simulator: one of the two drivers of every Tessera policy.

`Environment` is the event kernel (virtual time; `RealtimeEnvironment` paces
it to the wall clock), `Simulation` runs a `Scenario` of functions, workloads
and an autoscaler, and `SimResult` holds one record per invocation.

The names are imported on first use, so `tessera.sim.gpu_cluster` or
`tessera.sim.fl` load without the scenario format's pydantic (e.g. on a GPU
machine with a bare Python).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tessera.sim.engine import SimResult, Simulation, run_scenario
    from tessera.sim.kernel import Environment, RealtimeEnvironment
    from tessera.sim.scenario import Scenario, load_scenario

_WHERE = {
    "Environment": "tessera.sim.kernel",
    "RealtimeEnvironment": "tessera.sim.kernel",
    "Scenario": "tessera.sim.scenario",
    "SimResult": "tessera.sim.engine",
    "Simulation": "tessera.sim.engine",
    "load_scenario": "tessera.sim.scenario",
    "run_scenario": "tessera.sim.engine",
}

__all__ = [
    "Environment",
    "RealtimeEnvironment",
    "Scenario",
    "SimResult",
    "Simulation",
    "load_scenario",
    "run_scenario",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'tessera.sim' has no attribute {name!r}")
    return getattr(import_module(where), name)
