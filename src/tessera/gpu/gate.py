"""The time axis of a GPU share: a token-window gate with request/limit quotas (FaST-GShare).

Why a gate of our own: FaST-GShare and HAS-GPU enforce the temporal quota with
a token scheduler that intercepts kernel launches (a CUDA hook plus a daemon).
Tessera owns the launch itself (one CUDA-graph replay per batch), so the same
semantics fit in a small object the worker consults before each launch: no
daemon, no root, and quotas can change while instances run.

Semantics (stated once, tested in tests/gpu/test_gate.py):

- Time is cut into windows of `window_ms` (default 40 ms, FaST-GShare's
  default). Window k covers [k*W, (k+1)*W) on the gate's clock.
- Each instance has a `Quota(request, limit)`, fractions of a window with
  0 < request <= limit <= 1. `request` is guaranteed: within a window an
  instance may always start a launch while it has used less than
  `request * W`. Above that it may *borrow* up to `limit * W`, but only from
  time nobody else in its sharing domain holds: the window minus, for every
  instance of the domain, the larger of what it used and its request
  (requests of instances idle for a whole window are lent; idle = asked for
  no launch in this window or the previous one).
- GPU time is charged after each launch from a measurement (CUDA events on a
  real device, the model's latency on the simulated one), taken to have
  ended at `now_s`; the part that ran before a window boundary is charged to
  the window it ran in (when that window is still the gate's open one). A
  launch may run past the budget; what an instance used beyond its limit in
  one window is carried into the next as debt, so over many windows the
  share converges to the quota even when single launches are long compared
  with the budget.
- An instance that may not launch waits for the next window
  (`Grant.wait_until_s`).
- `set_quota` takes effect at the next window boundary, never mid-window.
- A *domain* is a set of instances that compete for the same SMs (the
  whole-GPU time-sliced domain, or one spatial partition). Requests within a
  domain may not add up to more than one window.

The gate is pure bookkeeping: every method takes `now_s` from the caller, so
tests drive it with a fake clock and never sleep. `wait_turn` is the one
blocking helper, for a real or wall-clock caller.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field

from tessera.core.errors import InputError, require
from tessera.gpu.clock import Clock

DEFAULT_WINDOW_MS = 40.0
"""FaST-GShare's token window: long enough that a few launches fit, short for latency."""

HISTORY_WINDOWS = 256
"""Per-instance closed windows kept for metrics (about 10 s at 40 ms)."""


@dataclass(frozen=True, slots=True)
class Quota:
    """A time quota: `request` guaranteed and `limit` at most, fractions of each window."""

    request: float
    limit: float

    def __post_init__(self) -> None:
        require(
            isinstance(self.request, int | float) and 0 < self.request <= 1,
            "quota_request",
            self.request,
            "a fraction of the window in (0, 1]",
        )
        require(
            isinstance(self.limit, int | float) and self.request <= self.limit <= 1,
            "quota_limit",
            self.limit,
            f"a fraction in [quota_request={self.request}, 1]",
        )

    @staticmethod
    def of(request: float, limit: float | None = None) -> Quota:
        """`Quota(request, limit)`, with `limit` defaulting to `request` (no borrowing)."""
        return Quota(request, request if limit is None else limit)


@dataclass(frozen=True, slots=True)
class Grant:
    """The gate's answer to one launch request, with its reason."""

    ok: bool
    wait_until_s: float
    reason: str


@dataclass(frozen=True, slots=True)
class WindowUse:
    """GPU time charged to one instance in one closed window."""

    index: int
    used_ms: float
    """GPU time of the launches charged in this window (not the debt carried into it)."""
    window_ms: float

    @property
    def share(self) -> float:
        return self.used_ms / self.window_ms


@dataclass(slots=True)
class _Slot:
    quota: Quota
    domain: str
    pending: Quota | None = None
    used_ms: float = 0.0
    """Budget spent in the current window: debt carried in plus `charged_ms`."""
    charged_ms: float = 0.0
    """GPU time actually charged in the current window (what history records)."""
    last_ask: int = -(10**9)
    history: deque[WindowUse] = field(default_factory=lambda: deque(maxlen=HISTORY_WINDOWS))


class TokenGate:
    """Per-window GPU-time budgets for the instances on one GPU (see the module docstring)."""

    def __init__(self, window_ms: float = DEFAULT_WINDOW_MS) -> None:
        require(
            isinstance(window_ms, int | float) and window_ms > 0,
            "window_ms",
            window_ms,
            "a window length in ms > 0",
        )
        self.window_ms = float(window_ms)
        self._slots: dict[str, _Slot] = {}
        self._index: int | None = None
        self._lock = threading.RLock()

    # -- membership ---------------------------------------------------------
    def add(self, name: str, quota: Quota, now_s: float, domain: str = "gpu") -> None:
        """Admit `name` with `quota` in `domain`, effective at once."""
        with self._lock:
            require(name not in self._slots, "name", name, "a name not yet in the gate")
            self._check_domain(domain, quota.request, exclude=None)
            self._roll(now_s)
            self._slots[name] = _Slot(quota=quota, domain=domain)

    def remove(self, name: str) -> None:
        with self._lock:
            self._slot(name)
            del self._slots[name]

    def set_quota(self, name: str, quota: Quota) -> None:
        """Change `name`'s quota from the next window on."""
        with self._lock:
            s = self._slot(name)
            self._check_domain(s.domain, quota.request, exclude=name)
            s.pending = quota

    def set_domain(self, name: str, domain: str) -> None:
        """Move `name` to another sharing domain (after an SM resize), effective at once."""
        with self._lock:
            s = self._slot(name)
            self._check_domain(domain, (s.pending or s.quota).request, exclude=name)
            s.domain = domain

    def quota(self, name: str) -> Quota:
        """The quota in force now (a pending change shows from the next window)."""
        with self._lock:
            return self._slot(name).quota

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._slots)

    # -- the decision ---------------------------------------------------------
    def window_index(self, now_s: float) -> int:
        # the epsilon keeps `window_start_s(k)` inside window k despite float rounding
        return math.floor(now_s * 1000.0 / self.window_ms + 1e-9)

    def window_start_s(self, index: int) -> float:
        return index * self.window_ms / 1000.0

    def admit(self, name: str, now_s: float) -> Grant:
        """May `name` start a launch at `now_s`? If not, until when should it wait."""
        with self._lock:
            s = self._slot(name)
            idx = self._roll(now_s)
            s.last_ask = idx
            w = self.window_ms
            if s.used_ms < s.quota.request * w:
                return Grant(True, now_s, "within request")
            if s.used_ms < s.quota.limit * w:
                free = self._unheld_ms(s.domain, idx)
                if free > 0:
                    return Grant(True, now_s, f"borrowing ({free:.2f} ms unheld in the window)")
                reason = "request used and nothing left to borrow in this window"
            else:
                reason = "limit reached in this window"
            return Grant(False, self.window_start_s(idx + 1), reason)

    def charge(self, name: str, gpu_ms: float, now_s: float) -> None:
        """Charge `gpu_ms` of measured GPU time to `name` in the window of `now_s`."""
        require(gpu_ms >= 0, "gpu_ms", gpu_ms, "a duration >= 0")
        with self._lock:
            s = self._slot(name)
            cur = self._index
            if cur is not None and self.window_index(now_s) > cur:
                # the launch began in the window still open: that part stays there
                boundary_s = self.window_start_s(cur + 1)
                early = min(gpu_ms, max(0.0, (boundary_s - (now_s - gpu_ms / 1000.0)) * 1000.0))
                s.used_ms += early
                s.charged_ms += early
                gpu_ms -= early
            self._roll(now_s)
            s.used_ms += gpu_ms
            s.charged_ms += gpu_ms

    def used_ms(self, name: str, now_s: float) -> float:
        """GPU time charged to `name` so far in the current window (debt included)."""
        with self._lock:
            s = self._slot(name)
            self._roll(now_s)
            return s.used_ms

    def history(self, name: str) -> list[WindowUse]:
        """Closed windows of `name`, oldest first (at most `HISTORY_WINDOWS`)."""
        with self._lock:
            return list(self._slot(name).history)

    # -- internals ------------------------------------------------------------
    def _slot(self, name: str) -> _Slot:
        s = self._slots.get(name)
        if s is None:
            raise InputError("name", name, f"one of the gate's instances {sorted(self._slots)}")
        return s

    def _check_domain(self, domain: str, request: float, exclude: str | None) -> None:
        held = sum(
            max(s.quota.request, s.pending.request if s.pending else 0.0)
            for n, s in self._slots.items()
            if s.domain == domain and n != exclude
        )
        require(
            held + request <= 1.0 + 1e-9,
            "quota_request",
            request,
            f"at most {max(0.0, 1.0 - held):.3f} (requests in domain {domain!r} already hold {held:.3f} of the window)",
        )

    def _unheld_ms(self, domain: str, idx: int) -> float:
        held = 0.0
        w = self.window_ms
        for s in self._slots.values():
            if s.domain != domain:
                continue
            active = s.last_ask >= idx - 1
            held += max(s.used_ms, s.quota.request * w) if active else s.used_ms
        return w - held

    def _roll(self, now_s: float) -> int:
        idx = self.window_index(now_s)
        if self._index is None:
            self._index = idx
        if idx <= self._index:
            return self._index
        w = self.window_ms
        skipped = idx - self._index
        for s in self._slots.values():
            s.history.append(WindowUse(self._index, s.charged_ms, w))
            debt = max(0.0, s.used_ms - s.quota.limit * w)
            # windows that passed without any call: idle, and each pays off some debt
            for k in range(1, min(skipped, HISTORY_WINDOWS)):
                debt = max(0.0, debt - s.quota.limit * w)
                s.history.append(WindowUse(self._index + k, 0.0, w))
            if s.pending is not None:
                s.quota, s.pending = s.pending, None
            s.used_ms = debt
            s.charged_ms = 0.0
        self._index = idx
        return idx


def wait_turn(gate: TokenGate, name: str, clock: Clock, max_wait_s: float = 60.0) -> float:
    """Block (on `clock`) until `name` may launch; returns the seconds waited."""
    t0 = clock.now_s()
    while True:
        now = clock.now_s()
        g = gate.admit(name, now)
        if g.ok:
            return now - t0
        if now - t0 > max_wait_s:
            raise TimeoutError(f"{name}: no GPU time for {max_wait_s:g}s ({g.reason})")
        clock.sleep_until(g.wait_until_s)
