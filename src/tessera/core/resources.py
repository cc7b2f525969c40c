"""Resource vectors: CPU, memory, a GPU share (SM partition x time quota) and an FPGA slot.

A GPU share is two-dimensional, as in FaST-GShare and HAS-GPU: `sm_pct` is
the spatial partition (MPS active-thread percentage or green-context SMs),
`quota_pct` the temporal quota within a scheduling window. Their product is
the "GPU fraction" that cost models charge for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tessera.core.errors import require


@dataclass(frozen=True, slots=True)
class GpuShare:
    """A slice of one GPU: `sm_pct` of its SMs for `quota_pct` of each time window."""

    sm_pct: float = 100.0
    quota_pct: float = 100.0
    mem_mib: int = 0

    def __post_init__(self) -> None:
        require(0 < self.sm_pct <= 100, "gpu.sm_pct", self.sm_pct, "a percentage in (0, 100]")
        require(
            0 < self.quota_pct <= 100, "gpu.quota_pct", self.quota_pct, "a percentage in (0, 100]"
        )
        require(self.mem_mib >= 0, "gpu.mem_mib", self.mem_mib, "an integer >= 0")

    @property
    def fraction(self) -> float:
        """Share of the whole GPU (SM share x time share), in [0, 1]."""
        return self.sm_pct * self.quota_pct / 10_000.0


@dataclass(frozen=True, slots=True)
class FpgaSlot:
    """A reconfigurable FPGA region: `little` (one unit) or `big` (three units of area)."""

    kind: Literal["little", "big"] = "little"
    lut: int = 0
    ff: int = 0
    bram: int = 0
    dsp: int = 0

    def __post_init__(self) -> None:
        require(self.kind in ("little", "big"), "fpga.kind", self.kind, "'little' or 'big'")
        for name in ("lut", "ff", "bram", "dsp"):
            v = getattr(self, name)
            require(v >= 0, f"fpga.{name}", v, "an integer >= 0")

    @property
    def units(self) -> int:
        """Area in little-slot units (a big slot is three little slots)."""
        return 3 if self.kind == "big" else 1


@dataclass(frozen=True, slots=True)
class Resources:
    """What one instance of a function needs, or what a node offers."""

    cpu: float = 1.0
    mem_mib: int = 256
    gpu: GpuShare | None = None
    fpga: FpgaSlot | None = None

    def __post_init__(self) -> None:
        require(self.cpu >= 0, "resources.cpu", self.cpu, "a number of cores >= 0")
        require(self.mem_mib >= 0, "resources.mem_mib", self.mem_mib, "an integer >= 0")

    def fits_in(self, free: Resources) -> bool:
        """Whether this request fits within `free` (CPU and memory; GPU/FPGA by presence)."""
        if self.cpu > free.cpu + 1e-9 or self.mem_mib > free.mem_mib:
            return False
        if self.gpu is not None:
            if free.gpu is None:
                return False
            g, f = self.gpu, free.gpu
            if g.sm_pct > f.sm_pct + 1e-9 or (f.mem_mib > 0 and g.mem_mib > f.mem_mib):
                return False
        return not (self.fpga is not None and free.fpga is None)

    def minus(self, other: Resources) -> Resources:
        """CPU and memory left after `other` is taken (GPU/FPGA are allocated by their own policies)."""
        return Resources(
            cpu=max(0.0, self.cpu - other.cpu),
            mem_mib=max(0, self.mem_mib - other.mem_mib),
            gpu=self.gpu,
            fpga=self.fpga,
        )
