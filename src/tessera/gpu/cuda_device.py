"""The real `Device`: torch models as CUDA graphs on disjoint green-context partitions.

Why CUDA graphs: eager PyTorch pays a 3.5-4 ms CPU launch floor per batch on
the H200 (shared/data/README.md), more than a whole ResNet-50 batch; one
graph replay per batch removes it, and graphs capture and replay fine on
green-context streams, from several threads.

A partition is a green context over chunks of ONE split of the device's SMs
(`greenctx.SmSplit`), with its own stream, wrapped for torch as
`torch.cuda.ExternalStream`; the whole GPU is a plain torch stream on the
primary context. `capture` warms a model up on the partition's stream and
captures one graph per batch size there (its own memory pool); `run`
replays it between two CUDA events and returns their elapsed time.

torch and the driver bindings are imported when a `CudaDevice` is made, not
when this module is imported.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tessera.core.errors import require
from tessera.gpu.clock import Clock, WallClock
from tessera.gpu.device import DeviceInfo, Executable, LoadedModel, Partition
from tessera.gpu.greenctx import GreenPartition, SmSplit
from tessera.gpu.models import build, param_mib

WARMUP = 3
"""Eager forward passes on the partition's stream before capture (cuDNN/cuBLAS choose kernels)."""


@dataclass(slots=True)
class _PartHandle:
    stream: Any  # torch stream (external for a green context)
    green: GreenPartition | None


@dataclass(slots=True)
class _Graph:
    graph: Any
    static_input: Any
    static_output: Any
    start: Any
    end: Any


class CudaDevice:
    """A CUDA GPU seen through torch (see the module docstring). Needs torch with CUDA."""

    def __init__(
        self,
        ordinal: int = 0,
        *,
        granularity: int | None = None,
        coscheduling: bool = True,
        clock: Clock | None = None,
        warmup: int = WARMUP,
        cudnn_benchmark: bool = True,
    ) -> None:
        try:
            import torch
        except ImportError as e:
            raise ImportError("CudaDevice needs torch with CUDA: pip install torch") from e
        if not torch.cuda.is_available():
            raise RuntimeError("CudaDevice: torch sees no CUDA device (torch.cuda.is_available())")
        self.torch = torch
        self.dev = torch.device("cuda", ordinal)
        torch.cuda.set_device(self.dev)
        torch.zeros(1, device=self.dev)  # the primary context exists before any green context
        # pick convolution kernels by timing them (during warm-up, not capture); process-wide
        torch.backends.cudnn.benchmark = cudnn_benchmark
        self.split = SmSplit(ordinal, granularity, coscheduling=coscheduling)
        props = torch.cuda.get_device_properties(self.dev)
        total_mib = int(torch.cuda.mem_get_info(self.dev)[1] // (1024 * 1024))
        self._info = DeviceInfo(
            name=str(props.name),
            total_sms=self.split.total_sms,
            sm_granularity=self.split.granularity,
            chunks=self.split.chunks,
            mem_mib=total_mib,
        )
        self._clock: Clock = clock or WallClock()
        self._warmup = warmup
        self._next_id = 0
        self._lock = threading.Lock()
        self.capture_lock = threading.Lock()
        """One capture at a time per process (captures from several threads are not worth the risk)."""

    @property
    def info(self) -> DeviceInfo:
        return self._info

    @property
    def clock(self) -> Clock:
        return self._clock

    def describe(self) -> dict[str, Any]:
        """Name, memory, the split as made, and how many groups other split sizes would give."""
        d: dict[str, Any] = {
            "name": self._info.name,
            "mem_mib": self._info.mem_mib,
            **self.split.describe(),
        }
        try:
            d["groups_by_min_sms"] = {
                n: self.split.count_groups(n, coscheduling=self.split.coscheduling)
                for n in (8, 16, 24, 32, 64)
            }
        except Exception as e:  # informative only
            d["groups_by_min_sms"] = f"{type(e).__name__}: {e}"
        return d

    # -- partitions ---------------------------------------------------------------
    def open_partition(self, chunks: Sequence[int] | None) -> Partition:
        torch = self.torch
        torch.cuda.set_device(self.dev)
        with self._lock:
            self._next_id += 1
            pid = self._next_id
        if chunks is None:
            stream = torch.cuda.Stream(self.dev)
            return Partition(pid, None, self._info.total_sms, _PartHandle(stream, None))
        cs = tuple(sorted(set(chunks)))
        require(
            len(cs) == len(chunks) and bool(cs) and cs[0] >= 0 and cs[-1] < self._info.chunks,
            "chunks",
            list(chunks),
            f"distinct chunk indices in 0..{self._info.chunks - 1}",
        )
        green = self.split.open(cs)
        try:
            stream = torch.cuda.ExternalStream(green.stream_handle, device=self.dev)
        except BaseException:
            self.split.close(green)
            raise
        return Partition(pid, cs, green.sms, _PartHandle(stream, green))

    def close_partition(self, part: Partition) -> None:
        h: _PartHandle = part.handle
        self.torch.cuda.set_device(self.dev)
        h.stream.synchronize()
        if h.green is not None:
            self.split.close(h.green)

    # -- models ---------------------------------------------------------------------
    def load_model(self, key: str) -> LoadedModel:
        with self.torch.inference_mode():
            module, make_input = build(key, self.dev)
        return LoadedModel(key, param_mib(module), (module, make_input))

    def unload_model(self, model: LoadedModel) -> None:
        self.torch.cuda.empty_cache()

    def capture(self, part: Partition, model: LoadedModel, batch: int) -> Executable:
        require(isinstance(batch, int) and batch >= 1, "batch", batch, "an integer >= 1")
        torch = self.torch
        torch.cuda.set_device(self.dev)
        module, make_input = model.handle
        stream = part.handle.stream
        with self.capture_lock, torch.inference_mode():
            x = make_input(batch)
            stream.wait_stream(torch.cuda.current_stream(self.dev))
            with torch.cuda.stream(stream):
                for _ in range(self._warmup):
                    module(x)
            stream.synchronize()
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g, stream=stream, capture_error_mode="thread_local"):
                y = module(x)
            stream.synchronize()
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        return Executable(part, model, batch, _Graph(g, x, y, start, end))

    def release(self, exe: Executable) -> None:
        exe.partition.handle.stream.synchronize()
        exe.handle.graph.reset()

    def run(self, exe: Executable) -> float:
        torch = self.torch
        h: _Graph = exe.handle
        stream = exe.partition.handle.stream
        with torch.cuda.stream(stream):
            h.start.record(stream)
            h.graph.replay()
            h.end.record(stream)
        h.end.synchronize()
        return float(h.start.elapsed_time(h.end))
