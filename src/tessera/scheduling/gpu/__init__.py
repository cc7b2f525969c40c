"""GPU sharing policies: how many slices of which size each function gets, and where.

Registered in `GPU_POLICIES` and selected as `{kind: NAME, ...params}`:
`kserve-kpa` (whole GPUs, HAS-GPU's baseline), `exclusive-batched` (whole
GPUs with dynamic batching: the strong baseline), `fast-gshare` (most efficient
fixed slice, horizontal, MaxRects packing) and `has-gpu` (Kalman-predicted
rate, vertical then horizontal) and `tessera` (ours: SM and quota resized in place,
batching, MaxRects packing, scale to zero). All are pure functions of a `GpuSnapshot`.
"""

from tessera.scheduling.gpu.base import GPU_POLICIES, create
from tessera.scheduling.gpu.exclusive import ExclusiveBatched
from tessera.scheduling.gpu.fast_gshare import FastGShare
from tessera.scheduling.gpu.has_gpu import HasGpu
from tessera.scheduling.gpu.kserve import KserveKpa
from tessera.scheduling.gpu.tessera_policy import TesseraPolicy

__all__ = [
    "GPU_POLICIES",
    "ExclusiveBatched",
    "FastGShare",
    "HasGpu",
    "KserveKpa",
    "TesseraPolicy",
    "create",
]
