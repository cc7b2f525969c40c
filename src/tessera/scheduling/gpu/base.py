"""The GPU policy registry and what every GPU policy shares: profiles, rates, layouts.

A GPU policy needs, for a function's model, the configurations (SM %, quota %,
batch) that meet its SLO and how many requests per second each serves; the
recent request rate; and the current layout of slices on each GPU. These are
computed here once, from the latency model port, so no policy copies them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tessera.core.errors import InputError
from tessera.core.gpu_policy import (
    GpuFunctionView,
    GpuInstanceView,
    GpuPolicy,
    GpuSnapshot,
    LatencyModel,
)
from tessera.core.gpu_run import busy_ms
from tessera.core.registry import Registry
from tessera.scheduling.gpu.maxrects import MaxRects, Rect

GPU_POLICIES: Registry[GpuPolicy] = Registry("gpu_policy")


def create(config: Mapping[str, Any]) -> GpuPolicy:
    """Build a GPU policy from `{kind: NAME, **params}`."""
    return GPU_POLICIES.from_config(config)


def latency_model(configured: LatencyModel | None, snapshot: GpuSnapshot) -> LatencyModel:
    """The policy's configured latency model, else `extra["latency_ms"]`, else the H200 table."""
    if configured is not None:
        return configured
    fn = snapshot.extra.get("latency_ms")
    if fn is not None:
        if not callable(fn):
            raise InputError("snapshot.extra.latency_ms", fn, "a (model, batch, sm, quota) -> ms")
        return fn  # type: ignore[no-any-return]
    from tessera.gpu.latency import h200_latency_ms

    return h200_latency_ms


@dataclass(frozen=True, slots=True)
class Config:
    """One slice configuration of a model, with its predicted latency and throughput."""

    sm_pct: float
    quota_pct: float
    batch: int
    latency_ms: float
    rps: float
    wait_ms: float
    """The longest a batch of it keeps the slice busy back to back, partial batches included
    (`busy_ms`): what a request arriving while one runs may wait for it."""

    @property
    def area(self) -> float:
        return self.sm_pct * self.quota_pct / 10_000.0

    @property
    def area_per_rps(self) -> float:
        """Resource per request/s (FaST-GShare's efficiency measure): lower is better."""
        return self.sm_pct * self.quota_pct / self.rps

    def label(self) -> str:
        return f"sm {self.sm_pct:g}% x quota {self.quota_pct:g}% x batch {self.batch}"


def grid(step_pct: float) -> tuple[float, ...]:
    """Percentages step, 2 step, ... up to 100 (100 always included)."""
    n = max(1, math.floor(100.0 / step_pct + 1e-9))
    vals = [round(step_pct * k, 6) for k in range(1, n + 1)]
    if vals[-1] < 100.0 - 1e-9:
        vals.append(100.0)
    return tuple(vals)


def partial_batches(batch: int) -> tuple[int, ...]:
    """The batch sizes a server of `batch` also runs when fewer requests wait: 1, 2, 4, ..., batch."""
    sizes = {batch}
    m = 1
    while m < batch:
        sizes.add(m)
        m *= 2
    return tuple(sorted(sizes))


def config(
    latency: LatencyModel, model: str, sm: float, quota: float, batch: int, slow: float = 1.0
) -> Config:
    """A slice's latency (the worst of its partial batches, as a dynamic batcher runs fewer
    requests when fewer wait; measured profiles are not always monotonic in the batch), its
    sustained throughput at full batches (`busy_ms`) and the longest busy period of a batch
    it runs (`wait_ms`); all stretched by `slow` (a co-location slowdown the slice expects)."""
    full = float(latency(model, batch, sm, quota))
    ms = max([full, *(float(latency(model, m, sm, quota)) for m in partial_batches(batch)[:-1])])
    busies = {m: busy_ms(latency, model, sm, quota, m) * slow for m in partial_batches(batch)}
    busy, wait = busies[batch], max(busies.values())
    return Config(
        sm, quota, batch, ms * slow, batch * 1000.0 / busy if busy > 0 else math.inf, wait
    )


def profile(
    latency: LatencyModel,
    model: str,
    slo_ms: float,
    sms: Iterable[float],
    quotas: Iterable[float],
    batches: Iterable[int],
    slowdown: Callable[[float, float], float] | None = None,
) -> list[Config]:
    """Every configuration of the grid whose predicted batch latency meets `slo_ms`, each
    stretched by `slowdown(sm, quota)` when given (`config`'s `slow`)."""
    qs = tuple(quotas)
    bs = tuple(batches)
    out = []
    for sm in sms:
        for q in qs:
            slow = 1.0 if slowdown is None else slowdown(sm, q)
            for b in bs:
                c = config(latency, model, sm, q, b, slow)
                if c.latency_ms <= slo_ms:
                    out.append(c)
    return out


def efficiency_key(c: Config) -> tuple[float, float, float, int]:
    """Sort key: cheapest per RPS first, then smaller slices, then smaller batches.

    The cost is rounded to 9 significant digits so that configurations equal
    up to float noise (a latency model linear in 1/quota makes every quota of
    one SM width cost the same per RPS) tie and the smaller slice wins.
    """
    return (float(f"{c.area_per_rps:.9g}"), c.sm_pct * c.quota_pct, c.sm_pct, c.batch)


def most_efficient(configs: Iterable[Config]) -> Config | None:
    return min(configs, key=efficiency_key, default=None)


Choice = tuple[Config, str]
"""A configuration and the reason it was chosen."""


T = TypeVar("T")


class ChoiceMemo(Generic[T]):
    """A bounded memo for what a policy derives from (latency model, model, SLO) alone, e.g.
    its configuration choice: a decision every 2 s then does not re-profile the grid."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._seen: dict[tuple[object, str, float], T] = {}

    def get(
        self,
        latency: LatencyModel,
        fv: GpuFunctionView,
        compute: Callable[[LatencyModel, GpuFunctionView], T],
    ) -> T:
        key = (latency, fv.model, fv.slo_ms)
        hit = self._seen.get(key)
        if hit is None:
            if len(self._seen) >= self.size:
                self._seen.clear()
            hit = self._seen[key] = compute(latency, fv)
        return hit


@dataclass(frozen=True, slots=True)
class Want:
    """What a horizontal policy wants for one function: a config, a replica count, the
    instances it keeps, and why."""

    fv: GpuFunctionView
    cfg: Config
    replicas: int
    keep: tuple[GpuInstanceView, ...]
    why: str


def recent_rate(fv: GpuFunctionView, window_s: float) -> float:
    """Mean request rate over the last `window_s` seconds of `rps_window` (0 with no history)."""
    n = max(1, round(window_s / fv.bucket_s))
    w = fv.rps_window[-n:]
    return sum(w) / len(w) if w else 0.0


def capacity_rps(latency: LatencyModel, model: str, instances: Iterable[GpuInstanceView]) -> float:
    """Requests per second the instances serve together, from the latency model."""
    return sum(config(latency, model, i.sm_pct, i.quota_pct, i.batch).rps for i in instances)


def layouts(
    gpu_ids: Iterable[str], instances: Iterable[tuple[str, GpuInstanceView]]
) -> tuple[dict[str, MaxRects], dict[tuple[str, int], Rect]]:
    """Each GPU's SM x time free space after `instances` ((function, instance) pairs).

    Instances with both offsets are put where they are; the others are packed
    in (largest first, function, id) order by MaxRects. If one no longer fits,
    the GPU's remaining space is treated as full, so nothing new lands on an
    over-committed GPU. Also returns where each instance lies.
    """
    by_gpu: dict[str, list[tuple[str, GpuInstanceView]]] = {g: [] for g in sorted(gpu_ids)}
    for fn, inst in instances:
        by_gpu.setdefault(inst.gpu_id, []).append((fn, inst))
    out: dict[str, MaxRects] = {}
    where: dict[tuple[str, int], Rect] = {}
    for gpu in sorted(by_gpu):
        packer = MaxRects()
        loose = []
        for fn, i in by_gpu[gpu]:
            if i.sm_offset_pct is not None and i.quota_offset_pct is not None:
                r = Rect(i.sm_offset_pct, i.quota_offset_pct, i.sm_pct, i.quota_pct)
                packer = packer.occupy(r)
                where[(fn, i.id)] = r
            else:
                loose.append((fn, i))
        for fn, i in sorted(loose, key=lambda p: (-p[1].area, p[0], p[1].id)):
            placed = packer.place(i.sm_pct, i.quota_pct)
            if placed is None:
                packer = MaxRects((), packer.used)
                where[(fn, i.id)] = Rect(0.0, 0.0, i.sm_pct, i.quota_pct)
                continue
            packer, where[(fn, i.id)] = placed
        out[gpu] = packer
    return out, where
