"""Conformance suite every registered policy plugin must pass (see DESIGN.md, Plugins)."""

from tessera.testing.conformance import (
    ConformanceError,
    autoscaler_snapshots,
    check_autoscaler,
    forbid_impurity,
)

__all__ = ["ConformanceError", "autoscaler_snapshots", "check_autoscaler", "forbid_impurity"]
