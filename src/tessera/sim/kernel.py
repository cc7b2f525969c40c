"""The event kernel: a heap of (time, priority, sequence, callback, argument).

Modelled on SimPy's core loop, without its generator/process machinery: a
model schedules plain callbacks, which keeps one event at a few hundred
nanoseconds. Ties are broken by priority, then by scheduling order, so a run
is deterministic. `RealtimeEnvironment` overrides only how the clock
advances, so the same model runs in virtual or wall time (as simpy.rt does).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

Callback = Callable[[Any], None]

URGENT = 0
NORMAL = 1


class Environment:
    """Virtual-time event loop."""

    __slots__ = ("_heap", "_seq", "events", "now")

    def __init__(self, start_s: float = 0.0) -> None:
        self.now = start_s
        self._heap: list[tuple[float, int, int, Callback, Any]] = []
        self._seq = 0
        self.events = 0  # callbacks executed so far

    def at(self, t: float, fn: Callback, arg: Any = None, priority: int = NORMAL) -> None:
        """Run `fn(arg)` at absolute time `t` (never earlier than now)."""
        if t < self.now:
            raise ValueError(f"cannot schedule in the past: {t} < now={self.now}")
        self._seq += 1
        heappush(self._heap, (t, priority, self._seq, fn, arg))

    def schedule(
        self, delay_s: float, fn: Callback, arg: Any = None, priority: int = NORMAL
    ) -> None:
        """Run `fn(arg)` after `delay_s`."""
        self.at(self.now + delay_s, fn, arg, priority)

    def peek(self) -> float:
        """Time of the next event, or +inf."""
        return self._heap[0][0] if self._heap else float("inf")

    def step(self) -> None:
        t, _, _, fn, arg = heappop(self._heap)
        self.now = t
        self.events += 1
        fn(arg)

    def run(self, until: float | None = None) -> None:
        """Process events until the heap is empty or the next one is after `until`."""
        heap = self._heap
        limit = float("inf") if until is None else until
        n = 0
        try:
            while heap and heap[0][0] <= limit:
                t, _, _, fn, arg = heappop(heap)
                self.now = t
                n += 1
                fn(arg)
        finally:
            self.events += n
        if until is not None and self.now < until:
            self.now = until


class RealtimeEnvironment(Environment):
    """Same kernel, paced to the wall clock: one virtual second lasts `factor` wall seconds."""

    __slots__ = ("_t0_virtual", "_t0_wall", "factor", "strict")

    def __init__(self, start_s: float = 0.0, factor: float = 1.0, strict: bool = False) -> None:
        super().__init__(start_s)
        if factor <= 0:
            raise ValueError(f"factor must be > 0, got {factor}")
        self.factor = factor
        self.strict = strict
        self._t0_virtual = start_s
        self._t0_wall = time.monotonic()

    def _wait_for(self, t: float) -> None:
        due = self._t0_wall + (t - self._t0_virtual) * self.factor
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif self.strict and -delay > self.factor:
            raise RuntimeError(f"simulation too slow: {-delay:.3f}s behind wall clock")

    def step(self) -> None:
        self._wait_for(self.peek())
        super().step()

    def run(self, until: float | None = None) -> None:
        limit = float("inf") if until is None else until
        while self._heap and self._heap[0][0] <= limit:
            self.step()
        if until is not None and self.now < until:
            self._wait_for(until)
            self.now = until
