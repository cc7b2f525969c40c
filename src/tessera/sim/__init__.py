"""The discrete-event simulator: one of the two drivers of every Tessera policy.

`Environment` is the event kernel (virtual time; `RealtimeEnvironment` paces
it to the wall clock), `Simulation` runs a `Scenario` of functions, workloads
and an autoscaler, and `SimResult` holds one record per invocation.
"""

from tessera.sim.engine import SimResult, Simulation, run_scenario
from tessera.sim.kernel import Environment, RealtimeEnvironment
from tessera.sim.scenario import Scenario, load_scenario

__all__ = [
    "Environment",
    "RealtimeEnvironment",
    "Scenario",
    "SimResult",
    "Simulation",
    "load_scenario",
    "run_scenario",
]
