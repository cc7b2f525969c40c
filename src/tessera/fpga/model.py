"""FPGA boards, slots, hardware tasks and applications: the vocabulary of `tessera.fpga`.

There are no FPGAs here, so this module is the calibration of a simulator
(`tessera.sim.fpga`), stated once:

- A **board** is a Xilinx ZCU216 (XCZU49DR: 425,280 LUT, 850,560 FF,
  1,080 BRAM36, 4,272 DSP). Its reconfigurable area is cut into slots by a
  **layout**: `OL` (Only.Little, 8 little slots), `BL` (Big.Little, 4 little +
  2 big; a big slot has the area of 3 little ones) or `TM` (temporal
  multiplexing as in Nimblock's baseline: one active slot, reconfigured for
  each task of one app at a time). A little slot is 8% of the device's LUT/FF/BRAM/DSP (synthetic:
  the artifact does not publish its floorplan; 8 little slots then use 64% of
  the device and leave the rest to the static shell and routing).
- One **DPR port** (PCAP) per board, one partial reconfiguration at a
  time: `pr_s = fetch_s + units x little_bytes / bytes_per_s`. A little
  partial bitstream is 4.2 MB (Nimblock's ZCU106 slots: 3.8-4.5 MB) and the
  port moves 145 MB/s; opening the bitstream file costs 5 ms: ~34 ms per
  little slot (Nimblock's measured PR delay), ~92 ms per big slot. The experiment's sensitivity sweep scales
  these times x0.5-x4.
- A **hardware task** (kernel) runs one batch of its app's data in
  `latency_s` (the artifact's per-batch latencies, below) and occupies a
  resource vector. Kernels' vectors are synthetic (the artifact lists
  latencies only): each kernel fills a stated fraction of a little slot's
  LUTs, FFs use 0.8 of that fraction, BRAM 0.6, DSP 0.5 (`KERNEL_FILL`).
- An **app** is a chain of tasks run for `batches` batches with cross-slot
  pipelining: batch b of task i may start when task i-1 has finished batch
  b. A big slot hosts a *bundle* of up to three consecutive tasks of one
  app, wired on chip: the bundle is loaded by one PR and only its first task
  needs the host to dispatch a batch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from tessera.core.errors import InputError, require

SlotKind = Literal["little", "big"]


@dataclass(frozen=True, slots=True)
class Vec:
    """A resource vector: LUT, FF, BRAM36 and DSP counts."""

    lut: float = 0.0
    ff: float = 0.0
    bram: float = 0.0
    dsp: float = 0.0

    def __add__(self, other: Vec) -> Vec:
        return Vec(self.lut + other.lut, self.ff + other.ff, self.bram + other.bram,
                   self.dsp + other.dsp)  # fmt: skip

    def scale(self, k: float) -> Vec:
        return Vec(self.lut * k, self.ff * k, self.bram * k, self.dsp * k)

    def fits(self, cap: Vec) -> bool:
        return (self.lut <= cap.lut and self.ff <= cap.ff and self.bram <= cap.bram
                and self.dsp <= cap.dsp)  # fmt: skip


ZCU216 = Vec(425_280, 850_560, 1_080, 4_272)
"""The XCZU49DR's resources (Xilinx DS889)."""
LITTLE_SHARE = 0.08
"""A little slot's share of each device resource (synthetic floorplan)."""
LITTLE = ZCU216.scale(LITTLE_SHARE)


@dataclass(frozen=True, slots=True)
class SlotSpec:
    """One reconfigurable region of a layout."""

    kind: SlotKind
    units: int  # area in little-slot units

    @property
    def capacity(self) -> Vec:
        return LITTLE.scale(self.units)

    @property
    def max_tasks(self) -> int:
        """How many consecutive tasks of one app the slot may host at once."""
        return 3 if self.kind == "big" else 1


@dataclass(frozen=True, slots=True)
class Layout:
    name: str
    slots: tuple[SlotSpec, ...]

    @property
    def units(self) -> int:
        return sum(s.units for s in self.slots)


LAYOUTS: Mapping[str, Layout] = {
    "OL": Layout("OL", (SlotSpec("little", 1),) * 8),
    "BL": Layout("BL", (SlotSpec("little", 1),) * 4 + (SlotSpec("big", 3),) * 2),
    "TM": Layout("TM", (SlotSpec("little", 1),)),
}


def layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise InputError("fpga.layout", name, ", ".join(LAYOUTS)) from None


@dataclass(frozen=True, slots=True)
class PortModel:
    """The DPR port: PR time = fetch + units x little bitstream bytes / bandwidth, times `scale`."""

    little_bytes: float = 4.2e6
    bytes_per_s: float = 145.0e6
    fetch_s: float = 0.005
    scale: float = 1.0

    def __post_init__(self) -> None:
        require(self.little_bytes > 0, "port.little_bytes", self.little_bytes, "bytes > 0")
        require(self.bytes_per_s > 0, "port.bytes_per_s", self.bytes_per_s, "bytes/s > 0")
        require(self.fetch_s >= 0, "port.fetch_s", self.fetch_s, "seconds >= 0")
        require(self.scale > 0, "port.scale", self.scale, "a factor > 0")

    def pr_s(self, units: int) -> float:
        return self.scale * (self.fetch_s + units * self.little_bytes / self.bytes_per_s)

    def full_s(self) -> float:
        """A layout switch reloads the whole shell: the full device bitstream (12.5 units)."""
        return self.pr_s(math.ceil(1.0 / LITTLE_SHARE))


@dataclass(frozen=True, slots=True)
class Kernel:
    """One hardware task: per-batch latency and resources."""

    app: str
    index: int
    latency_s: float
    res: Vec


@dataclass(frozen=True, slots=True)
class AppSpec:
    name: str
    kernels: tuple[Kernel, ...]
    state_bytes: float = 64e6
    """Live state a migration moves per app (buffers between tasks): synthetic, 64 MB."""

    @property
    def n_tasks(self) -> int:
        return len(self.kernels)

    @property
    def latencies_s(self) -> tuple[float, ...]:
        return tuple(k.latency_s for k in self.kernels)

    def work_s(self, batches: int) -> float:
        """Serial work: every task runs every batch, one after another."""
        return batches * sum(self.latencies_s)


ARTIFACT_LATENCY_MS: Mapping[str, tuple[float, ...]] = {
    "IC": (943, 685, 134, 134, 704, 869),
    "LeNet": (113, 51, 113),
    "3DR": (179, 106, 35),
    "OF": (844, 232, 185, 492, 505, 757, 783, 746, 378),
}
"""Per-batch task latencies (ms) of the four artifact apps: image compression, LeNet,
3D rendering, optical flow (the issue's table, from the VersaSlot/Nimblock artifacts)."""

KERNEL_FILL: Mapping[str, tuple[float, ...]] = {
    "IC": (0.82, 0.74, 0.46, 0.46, 0.71, 0.79),
    "LeNet": (0.68, 0.52, 0.64),
    "3DR": (0.77, 0.58, 0.41),
    "OF": (0.84, 0.55, 0.49, 0.66, 0.69, 0.78, 0.80, 0.76, 0.57),
}
"""Synthetic: each kernel's LUT share of a little slot (FF x0.8, BRAM x0.6, DSP x0.5 of it).
Longer kernels are given larger fills (more parallel logic), all within one little slot."""


def _kernel(app: str, i: int, ms: float, fill: float) -> Kernel:
    res = Vec(LITTLE.lut * fill, LITTLE.ff * fill * 0.8, LITTLE.bram * fill * 0.6,
              LITTLE.dsp * fill * 0.5)  # fmt: skip
    return Kernel(app, i, ms / 1000.0, res)


APPS: Mapping[str, AppSpec] = {
    name: AppSpec(
        name, tuple(_kernel(name, i, ms, KERNEL_FILL[name][i]) for i, ms in enumerate(lat))
    )
    for name, lat in ARTIFACT_LATENCY_MS.items()
}


def app(name: str) -> AppSpec:
    try:
        return APPS[name]
    except KeyError:
        raise InputError("fpga.app", name, ", ".join(APPS)) from None


@dataclass(frozen=True, slots=True)
class Job:
    """One app submitted to the cluster: `batches` batches at `priority`, due by `deadline_s`."""

    id: int
    app: str
    batches: int
    priority: int
    arrival_s: float
    deadline_s: float = math.inf

    def __post_init__(self) -> None:
        require(self.batches >= 1, "job.batches", self.batches, "an integer >= 1")
        require(self.priority >= 1, "job.priority", self.priority, "an integer >= 1")
        require(self.app in APPS, "job.app", self.app, ", ".join(APPS))

    @property
    def spec(self) -> AppSpec:
        return APPS[self.app]


REGIMES: Mapping[str, tuple[float, float]] = {
    "standard": (1.5, 2.0),
    "stress": (0.15, 0.2),
    "realtime": (0.05, 0.05),
}
"""Inter-arrival ranges (s) of the Nimblock-style traces: uniform between the bounds."""
PRIORITIES = (1, 3, 9)
DEADLINE_FACTOR = 5.0
"""A job's deadline: arrival + this x its latency alone in Nimblock's base run (Nimblock sweeps
the factor 1-20.75; 5 is ours)."""


def base_latency_s(spec: AppSpec, batches: int, port: PortModel | None = None) -> float:
    """Alone on one slot, as Nimblock's base run: each task configured, then run for every batch."""
    pr = (port or PortModel()).pr_s(1)
    return spec.n_tasks * pr + spec.work_s(batches)


@dataclass(frozen=True)
class Trace:
    name: str
    jobs: tuple[Job, ...]
    meta: Mapping[str, object] = field(default_factory=dict)


def _jobs(apps: Sequence[str], gaps: np.ndarray, rng: np.random.Generator) -> tuple[Job, ...]:
    t = 0.0
    out = []
    for i, (name, gap) in enumerate(zip(apps, gaps, strict=True)):
        t += float(gap) if i else 0.0
        b = int(rng.integers(1, 31))
        pr = int(rng.choice(PRIORITIES))
        deadline = t + DEADLINE_FACTOR * base_latency_s(APPS[name], b)
        out.append(Job(i, name, b, pr, round(t, 6), round(deadline, 6)))
    return tuple(out)


def nimblock_trace(regime: str, seed: int = 0, n: int = 20) -> Trace:
    """`n` apps drawn uniformly from the four, batches uniform 1..30, priority in {1, 3, 9},
    inter-arrival uniform in the regime's range (Nimblock's event sequences)."""
    if regime not in REGIMES:
        raise InputError("fpga.regime", regime, ", ".join(REGIMES))
    require(n >= 1, "fpga.trace.n", n, "an integer >= 1")
    rng = np.random.default_rng([seed, n, list(REGIMES).index(regime)])
    names = [str(x) for x in rng.choice(list(APPS), n)]
    lo, hi = REGIMES[regime]
    gaps = rng.uniform(lo, hi, n)
    return Trace(f"{regime}", _jobs(names, gaps, rng), {"regime": regime, "seed": seed})


PHASE_OF_SHARE = (1.0, 0.6, 0.2, 0.0)


def phased_trace(
    seed: int = 0, per_phase: int = 40, gap_s: tuple[float, float] = (0.9, 1.2)
) -> Trace:
    """Four phases of `per_phase` apps whose share of OF drifts 100% -> 60% -> 20% -> 0%;
    the rest drawn from IC, LeNet and 3DR; inter-arrival uniform in `gap_s`."""
    require(per_phase >= 1, "fpga.trace.per_phase", per_phase, "an integer >= 1")
    rng = np.random.default_rng([seed, per_phase, 7])
    names: list[str] = []
    others = [a for a in APPS if a != "OF"]
    for share in PHASE_OF_SHARE:
        k = round(share * per_phase)
        phase = ["OF"] * k + [str(x) for x in rng.choice(others, per_phase - k)]
        rng.shuffle(phase)
        names += phase
    gaps = rng.uniform(gap_s[0], gap_s[1], len(names))
    return Trace("phased", _jobs(names, gaps, rng), {"of_share": PHASE_OF_SHARE, "seed": seed})
