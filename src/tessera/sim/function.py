"""One function in the simulator: instances, a FIFO queue, cold starts and columnar records.

The hot path (arrival -> start -> completion) touches only Python lists and a
deque, and writes one row per invocation into column lists (arrival, start,
end, instance, cold), so full per-invocation records cost a few list stores.
Scaling is applied from autoscaler decisions: new instances pay a cold start;
removed ones go idle-first, then starting, then drain after their work.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from tessera.core.metering import InFlightMeter
from tessera.core.model import ScaleBounds
from tessera.core.policy import Decision, FunctionView, InstanceState, InstanceView
from tessera.sim.kernel import URGENT, Environment

READY = InstanceState.READY
STARTING = InstanceState.STARTING
DRAINING = InstanceState.DRAINING


class Instance:
    __slots__ = ("born_s", "busy", "cold", "gone_s", "id", "idle_since_s", "state")

    def __init__(self, iid: int, now: float, state: InstanceState, cold: bool) -> None:
        self.id = iid
        self.state = state
        self.busy = 0
        self.idle_since_s = now
        self.born_s = now
        self.gone_s = -1.0
        self.cold = cold  # starting cold: requests that wait for it are cold invocations


class FunctionModel:
    """Instances + queue + records of one function, driven by an `Environment`."""

    def __init__(
        self,
        env: Environment,
        name: str,
        arrivals: Iterator[float],
        service: Callable[[], float],
        cold_start: Callable[[], float],
        concurrency: int,
        bounds: ScaleBounds,
        horizon_s: float,
        window_len: int,
        on_unserved: Callable[[FunctionModel], None] | None = None,
        reactive: bool = False,
    ) -> None:
        self.env = env
        self.name = name
        self.bounds = bounds
        self.concurrency = concurrency
        self._arrivals = arrivals
        self._service = service
        self._cold_start = cold_start
        self._horizon = horizon_s
        self._on_unserved = on_unserved
        self._reactive = reactive
        self.instances: list[Instance] = []
        self.live: dict[int, Instance] = {}
        self.free: list[Instance] = []  # ready instances with a free slot (stack)
        self.queue: deque[int] = deque()
        self.meter = InFlightMeter(env.now, window_len)  # the autoscaler's signal
        # per-invocation records, one row per arrival
        self.arrival: list[float] = []
        self.start: list[float] = []
        self.end: list[float] = []
        self.inst: list[int] = []
        self.cold: list[bool] = []

    # --- arrivals and service ------------------------------------------------------------
    def begin(self) -> None:
        t = next(self._arrivals, None)
        if t is not None and t < self._horizon:
            self.env.at(t, self._arrive)

    def _arrive(self, _: object) -> None:
        now = self.env.now
        rid = len(self.arrival)
        self.arrival.append(now)
        self.start.append(-1.0)
        self.end.append(-1.0)
        self.inst.append(-1)
        self.cold.append(False)
        self.meter.arrive(now)
        if self.free:
            self._run(rid, self.free[-1], now)
        else:
            self.queue.append(rid)
            if self._on_unserved is not None and (self._reactive or not self.live):
                self._on_unserved(self)
        t = next(self._arrivals, None)
        if t is not None and t < self._horizon:
            self.env.at(t, self._arrive)

    def _run(self, rid: int, inst: Instance, now: float) -> None:
        inst.busy += 1
        if inst.busy >= self.concurrency:
            if self.free and self.free[-1] is inst:
                self.free.pop()
            else:
                self.free.remove(inst)
        self._serve(rid, inst, now)

    def _serve(self, rid: int, inst: Instance, now: float) -> None:
        """Execute request `rid` on a slot of `inst` already counted in `inst.busy`."""
        self.start[rid] = now
        self.inst[rid] = inst.id
        self.env.at(now + self._service(), self._complete, rid)

    def _complete(self, rid: int) -> None:
        now = self.env.now
        self.end[rid] = now
        self.meter.depart(now)
        inst = self.instances[self.inst[rid]]
        if inst.state is DRAINING:
            inst.busy -= 1
            if inst.busy == 0:
                self._gone(inst, now)
            return
        if self.queue:  # the freed slot goes straight to the oldest waiting request
            self._serve(self.queue.popleft(), inst, now)
            return
        inst.busy -= 1
        if inst.busy == self.concurrency - 1:
            self.free.append(inst)
        if inst.busy == 0:
            inst.idle_since_s = now

    # --- scaling -------------------------------------------------------------------------
    def _new_instance(self, now: float, warm: bool) -> None:
        iid = len(self.instances)
        delay = 0.0 if warm else self._cold_start()
        inst = Instance(iid, now, STARTING, cold=not warm and delay > 0)
        self.instances.append(inst)
        self.live[iid] = inst
        if delay <= 0:
            self._ready(iid)
        else:
            self.env.at(now + delay, self._ready, iid, URGENT)

    def _ready(self, iid: int) -> None:
        inst = self.instances[iid]
        if inst.state is not STARTING:
            return  # cancelled while starting
        now = self.env.now
        inst.state = READY
        inst.idle_since_s = now
        self.free.append(inst)
        while self.queue and inst.busy < self.concurrency:
            rid = self.queue.popleft()
            self.cold[rid] = inst.cold  # it waited for this instance's cold start
            self._run(rid, inst, now)
        inst.cold = False

    def _gone(self, inst: Instance, now: float) -> None:
        inst.state = DRAINING
        inst.gone_s = now
        self.live.pop(inst.id, None)
        if inst in self.free:
            self.free.remove(inst)

    def replicas(self) -> int:
        return sum(1 for i in self.live.values() if i.state is not DRAINING)

    def apply(self, d: Decision, warm: bool = False) -> None:
        """Scale to `d.replicas`, releasing `d.release` first."""
        now = self.env.now
        active = [i for i in self.live.values() if i.state is not DRAINING]
        surplus = len(active) - d.replicas
        if surplus < 0:
            for _ in range(-surplus):
                self._new_instance(now, warm)
            return
        if surplus == 0:
            return
        released = set(d.release)
        # victims: named ones, then starting, then idle (longest idle first), then busy
        order = sorted(
            active,
            key=lambda i: (
                i.id not in released,
                i.state is not STARTING,
                i.busy > 0,
                i.idle_since_s,
                -i.id,
            ),
        )
        for inst in order[:surplus]:
            if inst.busy == 0:
                self._gone(inst, now)
            else:
                inst.state = DRAINING
                if inst in self.free:
                    self.free.remove(inst)

    # --- metrics for the autoscaler -------------------------------------------------------
    @property
    def in_flight(self) -> int:
        return self.meter.in_flight

    def view(self, bucket_s: float) -> FunctionView:
        return FunctionView(
            name=self.name,
            bounds=self.bounds,
            concurrency=self.concurrency,
            instances=tuple(
                InstanceView(i.id, i.state, i.busy, i.idle_since_s) for i in self.live.values()
            ),
            queued=len(self.queue),
            in_flight=self.meter.in_flight,
            concurrency_window=tuple(self.meter.window),
            bucket_s=bucket_s,
            rps_window=tuple(self.meter.rps),
        )
