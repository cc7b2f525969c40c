"""Per-request scaling with a fixed keep-alive, as AWS Lambda and OpenWhisk do.

Every request that finds no free instance gets a new one (a cold start);
an instance idle for longer than `keep_alive_s` is released. This is the
policy studied in Shahrad et al., "Serverless in the Wild" (ATC'20).
"""

from __future__ import annotations

import math

from tessera.autoscaling.base import AUTOSCALERS, is_number
from tessera.core.errors import require
from tessera.core.policy import AutoscaleResult, Decision, InstanceState, Snapshot


@AUTOSCALERS.register("keepalive")
class KeepAlive:
    """One instance per concurrent request; idle instances live `keep_alive_s` seconds."""

    name = "keepalive"
    reactive = True  # drivers re-evaluate when a request finds no free instance

    def __init__(self, keep_alive_s: float = 600.0) -> None:
        require(
            is_number(keep_alive_s) and keep_alive_s >= 0,
            "autoscaler.keep_alive_s",
            keep_alive_s,
            "seconds >= 0 (finite)",
        )
        self.keep_alive_s = keep_alive_s

    def decide(self, snapshot: Snapshot) -> AutoscaleResult:
        out = []
        now = snapshot.now_s
        for fv in snapshot.functions.values():
            expired = tuple(
                i.id
                for i in fv.instances
                if i.state is InstanceState.READY
                and i.busy == 0
                and now - i.idle_since_s >= self.keep_alive_s
            )
            keep = fv.replicas - len(expired)
            free_slots = sum(
                fv.concurrency - i.busy
                for i in fv.instances
                if i.state is not InstanceState.DRAINING and i.id not in expired
            )
            missing = max(0, math.ceil((fv.queued - free_slots) / fv.concurrency))
            n = keep + missing
            if missing:
                reason = f"{fv.queued} queued, {free_slots} free slots: +{missing} instance(s)"
            elif expired:
                reason = f"{len(expired)} instance(s) idle >= {self.keep_alive_s:g}s released"
            else:
                reason = f"{keep} instance(s) busy or within keep-alive"
            out.append(Decision(fv.name, n, reason, release=expired))
        return AutoscaleResult(tuple(out), snapshot.state)
