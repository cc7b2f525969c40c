"""Conformance suite every registered policy plugin must pass (see DESIGN.md, Plugins)."""

from tessera.testing.carbon import check_placement_policy, placement_snapshots
from tessera.testing.conformance import (
    ConformanceError,
    autoscaler_snapshots,
    check_autoscaler,
    forbid_impurity,
)
from tessera.testing.gpu import check_gpu_policy, gpu_snapshots

__all__ = [
    "ConformanceError",
    "autoscaler_snapshots",
    "check_autoscaler",
    "check_gpu_policy",
    "check_placement_policy",
    "forbid_impurity",
    "gpu_snapshots",
    "placement_snapshots",
]
