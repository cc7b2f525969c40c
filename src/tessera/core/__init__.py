"""The shared vocabulary of Tessera: models, ports (Protocols) and the registry.

Everything above this package speaks in these types, so a policy tested here
runs unchanged in the simulator and in the real control loop. Standard
library and numpy only (enforced by import-linter).
"""

from tessera.core.errors import InputError
from tessera.core.model import FunctionSpec, Node, Region, ScaleBounds
from tessera.core.policy import (
    AutoscaleResult,
    Decision,
    FunctionView,
    InstanceView,
    Snapshot,
    Status,
)
from tessera.core.records import Invocation, InvocationRecord
from tessera.core.registry import Registry
from tessera.core.resources import FpgaSlot, GpuShare, Resources

__all__ = [
    "AutoscaleResult",
    "Decision",
    "FpgaSlot",
    "FunctionSpec",
    "FunctionView",
    "GpuShare",
    "InputError",
    "InstanceView",
    "Invocation",
    "InvocationRecord",
    "Node",
    "Region",
    "Registry",
    "Resources",
    "ScaleBounds",
    "Snapshot",
    "Status",
]
