"""Disjoint SM partitions from ONE split of the device's SM resource (CUDA green contexts).

Why not `torch.cuda.green_contexts.GreenContext.create(num_sms=N)`: on the
H200 (shared/data/README.md) separately created contexts were not disjoint -
each split the whole device again and got the same first N SMs, so four
32-SM tenants shared 32 SMs. Here the device's SM resource is split once, at
start, into groups of `granularity` SMs ("chunks"); a partition is a
descriptor over any set of those groups (the driver accepts several groups
of one split in one descriptor), so partitions built from different chunks
never share an SM.

Driver API through `cuda.bindings.driver` (package cuda-bindings, CUDA 12.4+
driver): cuDeviceGetDevResource(SM) -> cuDevSmResourceSplitByCount ->
cuDevResourceGenerateDesc -> cuGreenCtxCreate -> cuGreenCtxStreamCreate. Every
failure names the call and its CUresult. Imported only by `CudaDevice`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class CudaDriverError(RuntimeError):
    """A CUDA driver call failed: carries the call, its CUresult name and number."""

    def __init__(self, call: str, result: str, code: int, detail: str) -> None:
        self.call = call
        self.result = result
        self.code = code
        super().__init__(f"{call} failed: {result} ({code}): {detail}")


def load_driver() -> Any:
    """The `cuda.bindings.driver` module (or cuda-python's older `cuda.cuda`)."""
    try:
        from cuda.bindings import driver
    except ImportError:
        try:
            from cuda import cuda as driver  # cuda-python < 12.6 layout
        except ImportError as e:
            raise ImportError(
                "SM partitions need the CUDA driver bindings: pip install cuda-bindings "
                "(matching the CUDA major version of the driver)"
            ) from e
    return driver


class Driver:
    """Thin checked calls: `call("cuX", ...)` returns the outputs or raises `CudaDriverError`."""

    def __init__(self, module: Any | None = None) -> None:
        self.d = module if module is not None else load_driver()

    def call(self, name: str, *args: Any) -> Any:
        fn = getattr(self.d, name, None)
        if fn is None:
            raise CudaDriverError(
                name, "MISSING", -1, "not in these cuda bindings (driver/bindings too old?)"
            )
        try:
            out = fn(*args)
        except RuntimeError as e:  # e.g. "Failed to dlopen libcuda.so.1"
            raise CudaDriverError(name, "BINDINGS", -1, str(e)) from e
        err, rest = out[0], tuple(out[1:])
        if int(err) != 0:
            detail = ""
            try:
                r = self.d.cuGetErrorString(err)
                detail = r[1].decode() if isinstance(r[1], bytes) else str(r[1])
            except Exception:  # the message is a nicety; the code is what matters
                detail = "(no error string)"
            raise CudaDriverError(name, getattr(err, "name", str(err)), int(err), detail)
        if not rest:
            return None
        return rest[0] if len(rest) == 1 else rest


def _flag(d: Any, member: str, header_value: int) -> int:
    """An enum constant by name, wherever this bindings version keeps it (else the cuda.h value)."""
    v = getattr(d, member, None)
    if v is not None:
        return int(v)
    for cls in vars(d).values():
        if isinstance(cls, type) and member in getattr(cls, "__members__", {}):
            return int(getattr(cls, member))
    return header_value


@dataclass(frozen=True, slots=True)
class GreenPartition:
    """One green context over some chunks, and its stream (raw CUstream as an int)."""

    ctx: Any
    stream: Any
    stream_handle: int
    sms: int


class SmSplit:
    """The device's SMs split once into equal chunks; green contexts over chunk sets."""

    def __init__(
        self,
        ordinal: int = 0,
        granularity: int | None = None,
        *,
        coscheduling: bool = True,
        driver: Any = None,
    ) -> None:
        """Split device `ordinal` into chunks of `granularity` SMs (default: the driver's minimum).

        With `coscheduling=False` the split ignores the SMs' hierarchy
        (CU_DEV_SM_RESOURCE_SPLIT_IGNORE_SM_COSCHEDULING): more chunks (an H200
        gives 15 x 8 SMs + 12 left over by default), at the cost of large
        thread-block clusters.
        """
        self.drv = Driver(driver)
        d = self.drv.d
        self.coscheduling = coscheduling
        self._ignore_flag = _flag(d, "CU_DEV_SM_RESOURCE_SPLIT_IGNORE_SM_COSCHEDULING", 1)
        split_flags = 0 if coscheduling else self._ignore_flag
        self.drv.call("cuInit", 0)
        self.dev = self.drv.call("cuDeviceGet", ordinal)
        sm_type = d.CUdevResourceType.CU_DEV_RESOURCE_TYPE_SM
        self._sm_type = sm_type
        whole = self.drv.call("cuDeviceGetDevResource", self.dev, sm_type)
        self.total_sms = int(whole.sm.smCount)
        min_part = int(getattr(whole.sm, "minSmPartitionSize", 0) or 0)
        align = int(getattr(whole.sm, "smCoscheduledAlignment", 0) or 0)
        self.min_partition = min_part
        self.alignment = align
        want = granularity or max(min_part, align, 8)
        # query the group count, then split for real (outputs of ONE split call)
        q = self.drv.call("cuDevSmResourceSplitByCount", 0, whole, split_flags, want)
        n_groups = int(q[1])
        if n_groups < 1:
            raise CudaDriverError(
                "cuDevSmResourceSplitByCount", "NO_GROUPS", -1, f"0 groups of {want} SMs"
            )
        groups, n, remaining = self.drv.call(
            "cuDevSmResourceSplitByCount", n_groups, whole, split_flags, want
        )
        self.groups: list[Any] = list(groups)[: int(n)]
        self.remaining = remaining
        sizes = sorted({int(g.sm.smCount) for g in self.groups})
        if len(sizes) != 1:
            raise CudaDriverError(
                "cuDevSmResourceSplitByCount", "UNEQUAL_GROUPS", -1, f"group sizes {sizes}"
            )
        self.granularity = sizes[0]
        self.remaining_sms = int(remaining.sm.smCount) if remaining is not None else 0
        self._flags_ctx = _flag(d, "CU_GREEN_CTX_DEFAULT_STREAM", 1)
        self._flags_stream = _flag(d, "CU_STREAM_NON_BLOCKING", 1)

    def count_groups(self, min_count: int, *, coscheduling: bool = True) -> int:
        """How many groups of `min_count` SMs one split would give (a query; nothing is made)."""
        flags = 0 if coscheduling else self._ignore_flag
        whole = self.drv.call("cuDeviceGetDevResource", self.dev, self._sm_type)
        return int(self.drv.call("cuDevSmResourceSplitByCount", 0, whole, flags, min_count)[1])

    @property
    def chunks(self) -> int:
        return len(self.groups)

    def describe(self) -> dict[str, int]:
        return {
            "coscheduling": int(self.coscheduling),
            "total_sms": self.total_sms,
            "min_partition_sms": self.min_partition,
            "coscheduled_alignment": self.alignment,
            "granularity": self.granularity,
            "chunks": self.chunks,
            "remaining_sms": self.remaining_sms,
        }

    def open(self, chunks: Sequence[int]) -> GreenPartition:
        """A green context on exactly these chunks, with a non-blocking stream of its own."""
        res = [self.groups[c] for c in chunks]
        desc = self.drv.call("cuDevResourceGenerateDesc", res, len(res))
        ctx = self.drv.call("cuGreenCtxCreate", desc, self.dev, self._flags_ctx)
        try:
            stream = self.drv.call("cuGreenCtxStreamCreate", ctx, self._flags_stream, 0)
            got = self.drv.call("cuGreenCtxGetDevResource", ctx, self._sm_type)
            sms = int(got.sm.smCount)
        except BaseException:
            self.drv.call("cuGreenCtxDestroy", ctx)
            raise
        want = len(res) * self.granularity
        if sms != want:
            self.close(GreenPartition(ctx, stream, int(stream), sms))
            raise CudaDriverError(
                "cuGreenCtxGetDevResource", "SIZE_MISMATCH", -1, f"{sms} SMs, expected {want}"
            )
        return GreenPartition(ctx, stream, int(stream), sms)

    def close(self, part: GreenPartition) -> None:
        """Synchronize, then destroy the stream and the green context."""
        try:
            self.drv.call("cuStreamSynchronize", part.stream)
            self.drv.call("cuStreamDestroy", part.stream)
        finally:
            self.drv.call("cuGreenCtxDestroy", part.ctx)
