"""Autoscaling policies: pure functions of a snapshot that say how many instances to run.

Each policy is registered in `AUTOSCALERS` by name and selected from config as
`{kind: NAME, ...params}`. Drivers call `evaluate()`, which applies the shared
rules (scale bounds) once, so no policy re-implements them.
"""

from tessera.autoscaling.base import AUTOSCALERS, create, evaluate
from tessera.autoscaling.fixed import Fixed
from tessera.autoscaling.keepalive import KeepAlive
from tessera.autoscaling.kpa import Kpa

__all__ = ["AUTOSCALERS", "Fixed", "KeepAlive", "Kpa", "create", "evaluate"]
