"""The autoscaler's input signal, computed the same way by both drivers.

`InFlightMeter` integrates the number of requests in flight (executing plus
queued) over time and closes it into fixed buckets: the average concurrency
of each bucket, as Knative's queue-proxy reports it, plus the arrival rate.
The simulator feeds it virtual time, the control loop wall time.
"""

from __future__ import annotations

from collections import deque


class InFlightMeter:
    __slots__ = ("_area", "_arrivals", "_bucket_start", "_last_t", "in_flight", "rps", "window")

    def __init__(self, now_s: float, window_len: int) -> None:
        self.in_flight = 0
        self._area = 0.0
        self._last_t = now_s
        self._bucket_start = now_s
        self._arrivals = 0
        self.window: deque[float] = deque(maxlen=window_len)
        self.rps: deque[float] = deque(maxlen=window_len)

    def arrive(self, now_s: float) -> None:
        self._area += self.in_flight * (now_s - self._last_t)
        self._last_t = now_s
        self.in_flight += 1
        self._arrivals += 1

    def depart(self, now_s: float) -> None:
        self._area += self.in_flight * (now_s - self._last_t)
        self._last_t = now_s
        self.in_flight -= 1

    def close_bucket(self, now_s: float) -> None:
        """End the current bucket: append its average in-flight count and arrival rate."""
        span = now_s - self._bucket_start
        if span <= 0:
            return
        self._area += self.in_flight * (now_s - self._last_t)
        self._last_t = now_s
        self.window.append(self._area / span)
        self.rps.append(self._arrivals / span)
        self._area = 0.0
        self._arrivals = 0
        self._bucket_start = now_s
