"""The federated-distillation step function: `tessera.fl.kd.handle` deployed as is.

The event names the step (``train``, ``scores``, ``distil``, ``evaluate``), the
store URL, the data set and the keys to read and write; see `tessera.fl.kd`.
"""

from __future__ import annotations

from typing import Any

from tessera.fl.kd import handle as _step


def handle(event: Any, context: Any) -> dict[str, Any]:
    return _step(event, context)
