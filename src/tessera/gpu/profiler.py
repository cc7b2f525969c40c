"""Measure latency over a grid of batch x SM partition x time quota, as profile rows.

For every (batch, SMs, quota) the profiler starts one instance on a `GpuWorker`
(its own SM partition and token-window quota, CUDA graphs captured for the
batch), runs `warmup` batches, then `replays` batches back to back, and
records the mean of their latency as the client sees it, waiting for GPU time
included (a quota's cost shows in the batches that wait for the next window,
so a median would hide it; the V100 rows of the shared data are means too), plus
p50 and p90. Rows follow the one profile schema
(`gpu, model, batch, sm_pct, quota_pct, latency_ms`), so `Predictor` and
`tessera gpu predict` read them like the shared profile data.

On a CUDA machine it measures the real GPU; elsewhere the simulated device
answers from its latency table (the rows then say gpu=`simulated-h200`), so
the whole path runs in CI.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from tessera.core.errors import require
from tessera.gpu.device import Device, DeviceInfo
from tessera.gpu.profiles import MAX_BATCH, ProfileRow
from tessera.gpu.worker import GpuWorker

MAX_REPLAYS = 10_000
"""Most timed batches per grid point: 10,000 back-to-back batches of a slow model take hours."""


@dataclass(frozen=True, slots=True)
class Measured:
    row: ProfileRow  # latency_ms = mean over the replays
    p50_ms: float
    p90_ms: float
    gpu_ms_p50: float
    replays: int


def _quantile(xs: Sequence[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def check_grid(
    info: DeviceInfo,
    batches: Iterable[int],
    sms: Iterable[int],
    quotas: Iterable[float],
    *,
    replays: int,
    fields: Mapping[str, str] | None = None,
) -> list[tuple[int, int, float]]:
    """The (batch, SMs, quota) points in `profile`'s order; `InputError` for any bad one.

    Batches are integers in 1..`MAX_BATCH`, SM counts the whole GPU or multiples of its
    granularity, quotas percentages in (0, 100], `replays` an integer in 1..`MAX_REPLAYS`.
    ``fields`` renames the fields in errors (``{"batches": "--batches"}``): the names a
    caller's user typed; keys ``batches``, ``sms``, ``quotas``, ``replays``.
    """
    name = {k: k for k in ("batches", "sms", "quotas", "replays")} | dict(fields or {})
    bs, ss, qs = list(batches), list(sms), list(quotas)
    grid = [(b, s, q) for b in bs for s in ss for q in qs]
    require(bool(grid), "grid", "empty", "at least one batch, one SM count and one quota")
    require(
        isinstance(replays, int) and 1 <= replays <= MAX_REPLAYS,
        name["replays"],
        replays,
        f"an integer in 1..{MAX_REPLAYS}",
    )
    for b in bs:
        require(
            isinstance(b, int) and 1 <= b <= MAX_BATCH,
            name["batches"],
            b,
            f"integers in 1..{MAX_BATCH}",
        )
    for q in qs:
        require(0 < q <= 100, name["quotas"], q, "percentages in (0, 100]")
    for s in ss:
        require(
            s == info.total_sms or (0 < s < info.total_sms and s % info.sm_granularity == 0),
            name["sms"],
            s,
            f"{info.total_sms} or a multiple of {info.sm_granularity} below it",
        )
    return grid


def profile(
    device: Device,
    model: str,
    batches: Iterable[int],
    sms: Iterable[int],
    quotas: Iterable[float],
    *,
    replays: int = 30,
    warmup: int = 3,
    progress: Callable[[int, int], None] | None = None,
) -> list[Measured]:
    """One `Measured` per (batch, SMs, quota) point, in that nesting order.

    `sms` are SM counts (the whole GPU or multiples of the device's granularity);
    `quotas` are percentages in (0, 100]; see `check_grid` for the bounds.
    """
    info = device.info
    grid = check_grid(info, batches, sms, quotas, replays=replays)
    gpu = info.name.lower().removeprefix("nvidia ").replace(" ", "-")
    out = []
    worker = GpuWorker(device)
    try:
        for i, (b, s, q) in enumerate(grid):
            sm_pct = 100.0 * s / info.total_sms
            name = f"profile-{i}"
            worker.add_instance(name, model, sm_pct, q / 100.0, batches=(b,))
            try:
                for _ in range(warmup):
                    worker.infer(name, b)
                runs = [worker.infer(name, b) for _ in range(replays)]
            finally:
                worker.remove(name)
            lat = [r.latency_ms for r in runs]
            out.append(
                Measured(
                    ProfileRow(gpu, model, b, round(sm_pct, 3), float(q), statistics.fmean(lat)),
                    statistics.median(lat),
                    _quantile(lat, 0.9),
                    statistics.median(r.gpu_ms for r in runs),
                    len(runs),
                )
            )
            if progress is not None:
                progress(i + 1, len(grid))
    finally:
        worker.close()
    return out
