"""Time for the GPU mechanism: the wall clock, or a fake one that tests advance.

The token gate and the simulated device never call `time` themselves; they are
handed a `Clock`. With `FakeClock` a test runs thousands of 40 ms windows in
microseconds and never sleeps; with `WallClock` the same code paces a real GPU.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Seconds on a monotonic scale, and a way to wait until a later instant."""

    def now_s(self) -> float: ...

    def sleep_until(self, t_s: float) -> None: ...


class WallClock:
    """`time.perf_counter` and `time.sleep`: for real devices and the wall-time simulation."""

    def now_s(self) -> float:
        return time.perf_counter()

    def sleep_until(self, t_s: float) -> None:
        dt = t_s - time.perf_counter()
        if dt > 0:
            time.sleep(dt)


class FakeClock:
    """A clock that only moves when told to: `sleep_until` jumps there at once.

    Safe to share between threads (the jump is monotonic), but meant for one
    driving thread: with several, "sleeping" threads do not wait for each other.
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self._t = start_s
        self._lock = threading.Lock()

    def now_s(self) -> float:
        return self._t

    def sleep_until(self, t_s: float) -> None:
        with self._lock:
            self._t = max(self._t, t_s)

    def advance(self, dt_s: float) -> None:
        """Move forward by `dt_s` seconds (>= 0)."""
        if dt_s < 0:
            raise ValueError(f"dt_s: got {dt_s!r}; accepted: a duration >= 0")
        with self._lock:
            self._t += dt_s
