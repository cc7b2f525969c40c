"""A Knative Pod Autoscaler (KPA) model: concurrency target, stable and panic windows.

Follows Knative Serving's documented algorithm and defaults: desired pods =
ceil(average concurrency / (target x utilisation)) over a 60 s stable window;
a 6 s panic window (10% of stable) takes over when it asks for at least 2x the
ready pods, and in panic mode the scale never goes down until a full stable
window passed without panic; scale-up/down rates are bounded (1000x / 2x per
decision); scale to zero only after traffic stopped for a grace period. The
activator's role (waking a function at zero) is the `in_flight` term.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from tessera.autoscaling.base import AUTOSCALERS, is_number
from tessera.core.errors import require
from tessera.core.policy import AutoscaleResult, Decision, FunctionView, Snapshot

MIN_TARGET = 0.01
"""Smallest target concurrency, and smallest target utilisation (Knative's minimums: a target
of 0.01, a utilisation of 1%)."""
MAX_RATE = 1e6
"""Largest scale-up or scale-down factor per decision (Knative's defaults: 1000 and 2)."""


@dataclass(frozen=True, slots=True)
class KpaState:
    """Per-function memory of the KPA between decisions."""

    panic_since_s: float | None = None
    max_panic_pods: int = 0
    last_active_s: float = -math.inf


@AUTOSCALERS.register("kpa")
class Kpa:
    """Knative-like concurrency autoscaler; `target_concurrency` defaults to the function's."""

    name = "kpa"
    reactive = False

    def __init__(
        self,
        target_concurrency: float | None = None,
        target_utilization: float = 0.7,
        stable_window_s: float = 60.0,
        panic_window_pct: float = 10.0,
        panic_threshold_pct: float = 200.0,
        max_scale_up_rate: float = 1000.0,
        max_scale_down_rate: float = 2.0,
        scale_to_zero_grace_s: float = 30.0,
    ) -> None:
        require(
            target_concurrency is None
            or (is_number(target_concurrency) and target_concurrency >= MIN_TARGET),
            "autoscaler.target_concurrency",
            target_concurrency,
            f"a number >= {MIN_TARGET:g} (Knative's minimum target), or unset",
        )
        require(
            is_number(target_utilization) and MIN_TARGET <= target_utilization <= 1,
            "autoscaler.target_utilization",
            target_utilization,
            f"a fraction in [{MIN_TARGET:g}, 1]",
        )
        require(
            is_number(stable_window_s) and stable_window_s > 0,
            "autoscaler.stable_window_s",
            stable_window_s,
            "seconds > 0 (finite)",
        )
        require(
            is_number(panic_window_pct) and 0 < panic_window_pct <= 100,
            "autoscaler.panic_window_pct",
            panic_window_pct,
            "a percentage in (0, 100]",
        )
        require(
            is_number(panic_threshold_pct) and panic_threshold_pct > 100,
            "autoscaler.panic_threshold_pct",
            panic_threshold_pct,
            "a percentage > 100 (finite)",
        )
        require(
            is_number(max_scale_up_rate) and 1 < max_scale_up_rate <= MAX_RATE,
            "autoscaler.max_scale_up_rate",
            max_scale_up_rate,
            f"a factor in (1, {MAX_RATE:g}]",
        )
        require(
            is_number(max_scale_down_rate) and 1 < max_scale_down_rate <= MAX_RATE,
            "autoscaler.max_scale_down_rate",
            max_scale_down_rate,
            f"a factor in (1, {MAX_RATE:g}]",
        )
        require(
            is_number(scale_to_zero_grace_s) and scale_to_zero_grace_s >= 0,
            "autoscaler.scale_to_zero_grace_s",
            scale_to_zero_grace_s,
            "seconds >= 0 (finite)",
        )
        self.target_concurrency = target_concurrency
        self.target_utilization = target_utilization
        self.stable_window_s = stable_window_s
        self.panic_window_pct = panic_window_pct
        self.panic_threshold_pct = panic_threshold_pct
        self.max_scale_up_rate = max_scale_up_rate
        self.max_scale_down_rate = max_scale_down_rate
        self.scale_to_zero_grace_s = scale_to_zero_grace_s

    def decide(self, snapshot: Snapshot) -> AutoscaleResult:
        prev: Mapping[str, KpaState] = snapshot.state or {}
        states: dict[str, KpaState] = {}
        out = []
        for fv in snapshot.functions.values():
            d, st = self._one(snapshot.now_s, fv, prev.get(fv.name, KpaState()))
            out.append(d)
            states[fv.name] = st
        return AutoscaleResult(tuple(out), states)

    def _one(self, now: float, fv: FunctionView, st: KpaState) -> tuple[Decision, KpaState]:
        target = (self.target_concurrency or fv.bounds.target_concurrency) * self.target_utilization
        n_stable = max(1, round(self.stable_window_s / fv.bucket_s))
        n_panic = max(1, round(n_stable * self.panic_window_pct / 100))
        window = fv.concurrency_window[-n_stable:]
        stable_avg = sum(window) / len(window) if window else 0.0
        recent = window[-n_panic:]
        panic_avg = sum(recent) / len(recent) if recent else 0.0
        # The activator: requests waiting at a function with no capacity count now.
        if fv.replicas == 0 and fv.in_flight > 0:
            panic_avg = max(panic_avg, float(fv.in_flight))
            stable_avg = max(stable_avg, float(fv.in_flight))

        ready = max(1, fv.ready)
        max_up = math.ceil(self.max_scale_up_rate * ready)
        max_down = math.floor(ready / self.max_scale_down_rate)
        want_stable = min(max_up, max(max_down, math.ceil(stable_avg / target)))
        want_panic = min(max_up, max(max_down, math.ceil(panic_avg / target)))
        if fv.ready == 0:  # nothing to rate-limit against: the scale-down floor does not apply
            want_stable = math.ceil(stable_avg / target)
            want_panic = math.ceil(panic_avg / target)

        over_panic = (panic_avg / target) / ready >= self.panic_threshold_pct / 100
        panic_since = st.panic_since_s
        max_panic = st.max_panic_pods
        if over_panic:
            panic_since = now
        elif panic_since is not None and now - panic_since >= self.stable_window_s:
            panic_since, max_panic = None, 0

        if panic_since is not None:
            desired = max(want_panic, max_panic, fv.replicas)
            max_panic = desired
            reason = (
                f"panic: {panic_avg:.2f} in flight over {n_panic * fv.bucket_s:g}s "
                f"/ target {target:.2f} -> {desired} (never down in panic)"
            )
        else:
            desired = want_stable
            reason = (
                f"stable: {stable_avg:.2f} in flight over {n_stable * fv.bucket_s:g}s "
                f"/ target {target:.2f} -> {desired}"
            )

        active = stable_avg > 0 or fv.in_flight > 0
        last_active = now if active else st.last_active_s
        if desired == 0 and fv.replicas > 0 and now - last_active < self.scale_to_zero_grace_s:
            desired = 1
            reason += f"; kept 1 until {self.scale_to_zero_grace_s:g}s without traffic"
        new_state = replace(
            st, panic_since_s=panic_since, max_panic_pods=max_panic, last_active_s=last_active
        )
        return Decision(fv.name, desired, reason), new_state
