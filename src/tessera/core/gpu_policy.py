"""The GPU view of the world: what a GPU autoscaling/placement policy sees and answers.

`tessera.core.policy` speaks in replica counts; GPU sharing needs more: each
instance holds a slice of one GPU (`sm_pct` of its SMs for `quota_pct` of each
time window) and runs batches of `batch` requests. A GPU policy (FaST-GShare,
HAS-GPU, KServe on whole GPUs, ...) therefore gets a `GpuSnapshot` (the GPUs,
each function's instances, request-rate history and SLO) and answers, per
function, with the *target set* of instances: where each runs (an existing GPU
or a new one), its slice and its batch size, plus a reason a person can read.

The latency model is a port (`LatencyModel`): a pure function
`(model, batch, sm_pct, quota_pct) -> ms` of one batch, e.g. a fitted
`tessera.gpu.predict.Predictor` bound to a GPU type
(`tessera.gpu.latency.from_predictor`) or the built-in H200 table
`tessera.gpu.latency.h200_latency_ms`. It arrives as policy config or in
`GpuSnapshot.extra["latency_ms"]`, so policies stay pure.

Cost: a slice reserves `sm_pct x quota_pct / 10^4` of a GPU (its `area`); the
tenant cost of a plan is proportional to the integral of the summed area over
time (GPU-seconds of reserved SM-time area), as HAS-GPU charges it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from tessera.core.errors import require
from tessera.core.policy import InstanceState

LatencyModel = Callable[[str, int, float, float], float]
"""(model, batch, sm_pct, quota_pct) -> latency of one batch in ms; must be pure."""

NEW_GPU_PREFIX = "new:"
"""Plans put an instance on a GPU not yet held as `new:<k>`; equal `k` means the same new GPU."""


def new_gpu_id(k: int) -> str:
    """The placeholder id of the `k`-th GPU a decision asks the driver to acquire."""
    return f"{NEW_GPU_PREFIX}{k}"


def is_new_gpu(gpu_id: str) -> bool:
    return gpu_id.startswith(NEW_GPU_PREFIX)


@dataclass(frozen=True, slots=True)
class GpuView:
    """One GPU as a policy sees it.

    `sm_step_pct` is the granularity SM partitions come in (e.g. 100/132 for
    one SM of an H200, 10 for a coarse grid); `mem_mib` 0 means unknown/unchecked.
    """

    id: str
    type: str = "h200"
    total_sms: int = 132
    sm_step_pct: float = 10.0
    mem_mib: int = 0

    def __post_init__(self) -> None:
        require(bool(self.id), "gpu.id", self.id, "a non-empty string")
        require(not is_new_gpu(self.id), "gpu.id", self.id, f"an id not starting {NEW_GPU_PREFIX}")
        require(self.total_sms >= 1, "gpu.total_sms", self.total_sms, "an integer >= 1")
        require(0 < self.sm_step_pct <= 100, "gpu.sm_step_pct", self.sm_step_pct, "a % in (0, 100]")
        require(self.mem_mib >= 0, "gpu.mem_mib", self.mem_mib, "an integer >= 0")


@dataclass(frozen=True, slots=True)
class GpuInstanceView:
    """One instance of a function on a GPU slice.

    The offsets locate the slice on the GPU's SM x time plane (SM partition
    start, time-window start), both in %; `None` when the driver does not
    track them (policies then lay the GPU's slices out themselves).
    """

    id: int
    gpu_id: str
    sm_pct: float
    quota_pct: float
    batch: int = 1
    state: InstanceState = InstanceState.READY
    sm_offset_pct: float | None = None
    quota_offset_pct: float | None = None
    observed: tuple[tuple[int, float], ...] = ()
    """(batch size, mean latency in ms) of the batches the instance ran since the driver's last
    snapshot, one pair per size, as the driver measured them (start to end, co-location and
    quota waits included); empty when it ran none or the driver does not measure."""

    def __post_init__(self) -> None:
        require(
            all(b >= 1 and ms > 0 for b, ms in self.observed),
            "instance.observed",
            self.observed,
            "(batch >= 1, latency ms > 0) pairs",
        )
        require(0 < self.sm_pct <= 100, "instance.sm_pct", self.sm_pct, "a % in (0, 100]")
        require(0 < self.quota_pct <= 100, "instance.quota_pct", self.quota_pct, "a % in (0, 100]")
        require(self.batch >= 1, "instance.batch", self.batch, "an integer >= 1")

    @property
    def area(self) -> float:
        """Share of the GPU reserved (SM share x time share), in (0, 1]."""
        return self.sm_pct * self.quota_pct / 10_000.0


@dataclass(frozen=True, slots=True)
class GpuFunctionView:
    """One function: its model, SLO, instances and recent load.

    `rps_window` holds the request rate of each of the last buckets (oldest
    first, each `bucket_s` long); `concurrency_window` the average in-flight
    requests of the same buckets (what Knative's KPA reads).
    """

    name: str
    model: str
    slo_ms: float
    instances: tuple[GpuInstanceView, ...] = ()
    rps_window: tuple[float, ...] = ()
    concurrency_window: tuple[float, ...] = ()
    bucket_s: float = 1.0
    mem_mib: int = 0

    def __post_init__(self) -> None:
        require(self.slo_ms > 0, "function.slo_ms", self.slo_ms, "milliseconds > 0")
        require(self.bucket_s > 0, "function.bucket_s", self.bucket_s, "seconds > 0")

    @property
    def active(self) -> tuple[GpuInstanceView, ...]:
        """Instances that count towards capacity (ready or starting, not draining)."""
        return tuple(i for i in self.instances if i.state is not InstanceState.DRAINING)


@dataclass(frozen=True, slots=True)
class GpuSnapshot:
    """Everything a GPU policy may know at one instant."""

    now_s: float
    gpus: Mapping[str, GpuView]
    functions: Mapping[str, GpuFunctionView]
    state: Any = None  # the policy's own state from its previous decision
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GpuInstancePlan:
    """One instance of a target set: where it runs, its slice and batch size.

    `instance_id` names the existing instance this one keeps (possibly
    resized); `None` asks for a new instance. `gpu_id` is an existing GPU's id
    or `new_gpu_id(k)`.
    """

    gpu_id: str
    sm_pct: float
    quota_pct: float
    batch: int = 1
    instance_id: int | None = None
    sm_offset_pct: float | None = None
    quota_offset_pct: float | None = None

    def __post_init__(self) -> None:
        require(0 < self.sm_pct <= 100, "plan.sm_pct", self.sm_pct, "a % in (0, 100]")
        require(0 < self.quota_pct <= 100, "plan.quota_pct", self.quota_pct, "a % in (0, 100]")
        require(self.batch >= 1, "plan.batch", self.batch, "an integer >= 1")

    @property
    def area(self) -> float:
        return self.sm_pct * self.quota_pct / 10_000.0


@dataclass(frozen=True, slots=True)
class GpuDecision:
    """The target set of instances of one function, with the reason for it."""

    function: str
    instances: tuple[GpuInstancePlan, ...]
    reason: str

    @property
    def area(self) -> float:
        """GPU share reserved by the whole set: the tenant's cost rate (GPU-seconds per second)."""
        return sum(p.area for p in self.instances)


@dataclass(frozen=True, slots=True)
class GpuPolicyResult:
    """What a GPU policy returns: decisions plus its next state."""

    decisions: tuple[GpuDecision, ...]
    state: Any = None


@runtime_checkable
class GpuPolicy(Protocol):
    """Decides each function's GPU instances (count, slices, batch, placement)."""

    name: str

    def decide(self, snapshot: GpuSnapshot) -> GpuPolicyResult: ...
