"""The spatial axis of a GPU share: a `Device` that runs batches on disjoint SM partitions.

Why a protocol with two implementations: the worker (instances, quotas,
memory, resize) must be the same code on a real H200 and in CI, which has no
GPU. `CudaDevice` (`tessera.gpu.cuda_device`, torch + the CUDA driver API)
makes partitions as green contexts out of ONE split of the device's SMs, so
they are disjoint; `SimulatedDevice` (here) models the same partitions and
runs a "kernel" by advancing a clock for a latency taken from a latency
function (the built-in H200 table, a fitted `Predictor`, anything callable).

Partitions are made of *chunks*: the device's SM resource is split once into
groups of `sm_granularity` SMs (8 on an H200: 16 chunks, 4 SMs left over),
and a partition is any set of chunks. `chunks=None` is the whole GPU (all
chunks plus the leftover SMs, time-sliced between its users).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tessera.core.errors import InputError, require
from tessera.gpu.clock import Clock, WallClock
from tessera.gpu.latency import WEIGHTS_MIB, LatencyFn, h200_latency_ms


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the worker needs to know of a GPU."""

    name: str
    total_sms: int
    sm_granularity: int
    chunks: int
    mem_mib: int

    def sms_of(self, chunks: Sequence[int] | None) -> int:
        return self.total_sms if chunks is None else len(chunks) * self.sm_granularity

    def sm_pct(self, sms: int) -> float:
        return 100.0 * sms / self.total_sms

    def sms_for_pct(self, sm_pct: float) -> int:
        """The SM count `sm_pct` names: the whole GPU or a multiple of the granularity."""
        require(
            isinstance(sm_pct, int | float) and 0 < sm_pct <= 100,
            "sm_pct",
            sm_pct,
            "a percentage in (0, 100]",
        )
        if sm_pct >= 100 - 1e-9:
            return self.total_sms
        sms = sm_pct * self.total_sms / 100.0
        n = round(sms / self.sm_granularity)
        if n < 1 or abs(n * self.sm_granularity - sms) > 0.5:
            raise InputError(
                "sm_pct",
                sm_pct,
                f"100 or a multiple of {self.sm_granularity} SMs of {self.total_sms}: "
                f"k * {100.0 * self.sm_granularity / self.total_sms:.4f} for k = 1..{self.chunks}"
                f" (e.g. {self.sm_pct(4 * self.sm_granularity):.4f} = {4 * self.sm_granularity} SMs)",
            )
        require(
            n <= self.chunks,
            "sm_pct",
            sm_pct,
            f"at most {self.chunks * self.sm_granularity} SMs in a partition, or 100",
        )
        return n * self.sm_granularity


@dataclass(frozen=True, slots=True)
class Partition:
    """A set of SMs: `chunks` of the device's one split, or the whole GPU (`chunks=None`)."""

    id: int
    chunks: tuple[int, ...] | None
    sms: int
    handle: Any = field(default=None, compare=False, repr=False)

    @property
    def whole(self) -> bool:
        return self.chunks is None


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """Weights resident on the device (one copy, shared by every instance of `key`)."""

    key: str
    mem_mib: int
    handle: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Executable:
    """One batch size of one model, ready to launch on one partition (a CUDA graph)."""

    partition: Partition
    model: LoadedModel
    batch: int
    handle: Any = field(default=None, compare=False, repr=False)


class Device(Protocol):
    """What the worker drives; both implementations are safe to call from several threads."""

    @property
    def info(self) -> DeviceInfo: ...

    @property
    def clock(self) -> Clock: ...

    def open_partition(self, chunks: Sequence[int] | None) -> Partition:
        """A partition on exactly these chunks (None: the whole GPU)."""
        ...

    def close_partition(self, part: Partition) -> None:
        """Drain the partition's queued work, then release it."""
        ...

    def load_model(self, key: str) -> LoadedModel: ...

    def unload_model(self, model: LoadedModel) -> None: ...

    def capture(self, part: Partition, model: LoadedModel, batch: int) -> Executable:
        """Prepare `model` at `batch` on `part` (on a GPU: warm up and capture a CUDA graph)."""
        ...

    def release(self, exe: Executable) -> None: ...

    def run(self, exe: Executable) -> float:
        """Launch once and wait for it; returns the GPU time it took, in ms."""
        ...


class SimulatedDevice:
    """A GPU that runs nothing: each launch occupies its partition's chunks for a modelled time.

    Every chunk (and the leftover SMs) is busy until some instant. A launch
    submitted at t on partition P starts when all of P's units are free and
    lasts `latency_ms(model, batch, sm_pct(P), 100)`; P's units are then busy
    until it ends. So launches on disjoint partitions overlap, while users of
    the same SMs (the whole GPU, or one partition) are served one after the
    other - time-slicing, as without MPS.

    `run` waits on the device's clock: with `FakeClock` it jumps (tests, one
    driving thread), with `WallClock` it sleeps (threads, the `--simulate` device check).
    """

    def __init__(
        self,
        latency_ms: LatencyFn | None = None,
        *,
        clock: Clock | None = None,
        name: str = "simulated-h200",
        total_sms: int = 132,
        sm_granularity: int = 8,
        mem_mib: int = 139 * 1024,
        weights_mib: dict[str, int] | None = None,
        capture_ms: float = 0.0,
    ) -> None:
        require(total_sms >= sm_granularity >= 1, "sm_granularity", sm_granularity, "1..total_sms")
        self._info = DeviceInfo(
            name, total_sms, sm_granularity, total_sms // sm_granularity, int(mem_mib)
        )
        self._latency = latency_ms or h200_latency_ms
        self._clock: Clock = clock or WallClock()
        self._weights = dict(WEIGHTS_MIB if weights_mib is None else weights_mib)
        self._capture_ms = capture_ms
        self._busy_until = [0.0] * (self._info.chunks + 1)  # last unit: the leftover SMs
        self._lock = threading.Lock()
        self._next_id = 0
        self.open: dict[int, Partition] = {}
        self.launches: deque[tuple[int, float, float]] = deque(maxlen=100_000)
        """(partition id, start_s, end_s) of the latest launches, for tests and reports."""

    @property
    def info(self) -> DeviceInfo:
        return self._info

    @property
    def clock(self) -> Clock:
        return self._clock

    def _units(self, part: Partition) -> range | tuple[int, ...]:
        return range(len(self._busy_until)) if part.chunks is None else part.chunks

    def open_partition(self, chunks: Sequence[int] | None) -> Partition:
        if chunks is not None:
            cs = tuple(sorted(set(chunks)))
            require(
                len(cs) == len(chunks) and bool(cs) and cs[0] >= 0 and cs[-1] < self._info.chunks,
                "chunks",
                list(chunks),
                f"distinct chunk indices in 0..{self._info.chunks - 1}",
            )
        else:
            cs = None
        with self._lock:
            self._next_id += 1
            part = Partition(self._next_id, cs, self._info.sms_of(cs))
            self.open[part.id] = part
        return part

    def drain_s(self, part: Partition) -> float:
        """When the last launch queued on `part` ends."""
        with self._lock:
            return max((self._busy_until[u] for u in self._units(part)), default=0.0)

    def close_partition(self, part: Partition) -> None:
        self._clock.sleep_until(self.drain_s(part))
        with self._lock:
            self.open.pop(part.id, None)

    def load_model(self, key: str) -> LoadedModel:
        mem = self._weights.get(key)
        if mem is None:
            raise InputError(
                "model_key", key, f"one of the simulated models {sorted(self._weights)}"
            )
        self._latency(key, 1, 100.0, 100.0)  # fail now, not at the first launch
        return LoadedModel(key, mem)

    def unload_model(self, model: LoadedModel) -> None:
        return None

    def capture(self, part: Partition, model: LoadedModel, batch: int) -> Executable:
        require(isinstance(batch, int) and batch >= 1, "batch", batch, "an integer >= 1")
        if self._capture_ms:
            self._clock.sleep_until(self._clock.now_s() + self._capture_ms / 1000.0)
        return Executable(part, model, batch)

    def release(self, exe: Executable) -> None:
        return None

    def submit(self, exe: Executable, at_s: float) -> tuple[float, float]:
        """Queue one launch submitted at `at_s`; returns its (start_s, end_s). Does not wait."""
        part = exe.partition
        if part.id not in self.open:
            raise InputError("partition", part.id, f"an open partition {sorted(self.open)}")
        ms = float(self._latency(exe.model.key, exe.batch, self._info.sm_pct(part.sms), 100.0))
        with self._lock:
            units = self._units(part)
            start = max(at_s, *(self._busy_until[u] for u in units))
            end = start + ms / 1000.0
            for u in units:
                self._busy_until[u] = end
            self.launches.append((part.id, start, end))
        return start, end

    def run(self, exe: Executable) -> float:
        start, end = self.submit(exe, self._clock.now_s())
        self._clock.sleep_until(end)
        return (end - start) * 1000.0
