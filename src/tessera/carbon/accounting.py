"""Energy and carbon of one piece of work: operational (grid) plus embodied (hardware).

Every subsystem reports carbon the same way (an invocation, an FL round, an
MPI job): describe what the work held and for how long (`Usage`), the grid
intensity where and when it ran, and the server it ran on (`ServerModel`),
and `account()` returns a `CarbonRecord`. As in the SC'23 HPC-sustainability
accounting and the Green Software Foundation's SCI:

  power     P = CPU TDP x (cores / server cores) x curve(util)
                + W/GiB x GiB + GPU share (SMs x quota) x board W
                + (platform W + fan W x curve(util)) x dominant share,
                all x voltage-regulator overhead / PSU efficiency
  energy    E [kWh] = P x duration / 3.6e6
  operational O [g] = E x PUE x I (grid gCO2eq/kWh)
  embodied  M [g] = sum over parts of kgCO2e x 1000 x share x duration / lifetime
  SCI       = (O + M) / R, R the functional units (requests, samples, rounds)

Defaults are the Azure GreenSKU data (CC-BY 4.0; Azure/AzurePublicDataset,
`analysis/GreenSKU-Framework/data/carbon_data/`): a 1U server with one AMD
Genoa 80-core CPU, 12 x 64 GiB DDR5, two 2 TB E1.S SSDs, a 100G NIC, 72-month
life, PUE 1.12. `load_greensku()` reads the same YAML files from
`$TESSERA_DATA/carbon/greensku_embodied/` when present.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from tessera.core.data import find
from tessera.core.errors import require
from tessera.core.resources import GpuShare, Resources

SECONDS_PER_MONTH = 365.25 * 86400.0 / 12.0  # 2,629,800 s
J_PER_KWH = 3.6e6
GREENSKU_DIR = "carbon/greensku_embodied"

# GreenSKU `spec_derates`: CPU utilisation -> fraction of TDP (the same table
# for every component there), from SPECpower results.
SPEC_DERATES: tuple[tuple[float, float], ...] = (
    (0.1, 0.2), (0.2, 0.28), (0.3, 0.36), (0.4, 0.44), (0.5, 0.53),
    (0.6, 0.62), (0.7, 0.7), (0.8, 0.79), (0.9, 0.88), (1.0, 0.95),
)  # fmt: skip

# No GPU in the GreenSKU data: an order-of-magnitude assumption for one
# data-centre GPU board (die + HBM + board, ACT-style), to be overridden.
GPU_EMBODIED_KG = 150.0
H200_BOARD_W = 700.0  # H200 SXM maximum board power


@dataclass(frozen=True, slots=True)
class LoadCurve:
    """Fraction of rated power drawn at utilisation u in [0, 1].

    With `points` (u, fraction): linear interpolation, extended linearly from
    the first two points down to u = 0 (clamped at 0), flat past the last.
    Without: `idle_fraction + (1 - idle_fraction) x u ** exponent`.
    """

    points: tuple[tuple[float, float], ...] = SPEC_DERATES
    idle_fraction: float = 0.2
    exponent: float = 1.0
    _knots: tuple[tuple[float, ...], tuple[float, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        us = [u for u, _ in self.points]
        ok = all(0 <= u <= 1 and f >= 0 for u, f in self.points) and us == sorted(set(us))
        require(ok, "load_curve.points", self.points, "increasing (u in [0, 1], fraction >= 0)")
        require(0 <= self.idle_fraction <= 1, "load_curve.idle", self.idle_fraction, "in [0, 1]")
        require(self.exponent > 0, "load_curve.exponent", self.exponent, "a number > 0")
        fs = [f for _, f in self.points]
        if len(us) >= 2 and us[0] > 0:
            slope = (fs[1] - fs[0]) / (us[1] - us[0])
            us, fs = [0.0, *us], [max(0.0, fs[0] - slope * us[0]), *fs]
        object.__setattr__(self, "_knots", (tuple(us), tuple(fs)))

    def fraction(self, u: float) -> float:
        require(0 <= u <= 1, "utilisation", u, "a fraction in [0, 1]")
        if not self.points:
            return self.idle_fraction + (1.0 - self.idle_fraction) * float(u**self.exponent)
        us, fs = self._knots
        # linear interpolation as numpy.interp computes it (same operations, same bits), in
        # plain Python: a record of the local platform pays this on its request path
        if u <= us[0]:
            return fs[0]
        if u >= us[-1]:
            return fs[-1]
        j = bisect_right(us, u) - 1
        return (fs[j + 1] - fs[j]) / (us[j + 1] - us[j]) * (u - us[j]) + fs[j]


@dataclass(frozen=True, slots=True)
class Part:
    """Embodied carbon of a server part (all its units), amortised over its own life.

    `share` says which allocated fraction of the server pays for it: the CPU,
    memory or GPU share, or the dominant share ('server': chassis, disks, rack...).
    """

    name: str
    embodied_kg: float
    lifetime_months: float
    share: Literal["cpu", "mem", "gpu", "server"] = "server"

    def __post_init__(self) -> None:
        require(self.embodied_kg >= 0, f"part.{self.name}.embodied_kg", self.embodied_kg, ">= 0")
        require(self.lifetime_months > 0, f"part.{self.name}.lifetime", self.lifetime_months, "> 0")


def _default_parts(lifetime_months: float = 72.0) -> tuple[Part, ...]:
    return (
        Part("cpu", 30.7, lifetime_months, "cpu"),  # AMD Genoa 80 cores
        Part("dram", 12 * 105.4, lifetime_months, "mem"),  # 12 x DDR5 64 GB
        Part("ssd", 2 * 34.65, lifetime_months),  # 2 x E1.S 2 TB
        Part("nic", 58.09, lifetime_months),  # 100G
        Part("chassis", 350.0 + 1.0598, lifetime_months),  # Server-1U + fan
        Part("rack", 500.0 / 10, 180.0),  # rack of 10 servers, 15 years
        Part("building", 9.0e6 / (2500 * 10), 240.0),  # 2,500 racks x 10, 20 years
    )


@dataclass(frozen=True, slots=True)
class ServerModel:
    """What one server draws and embodies; watts are rated (full load) values."""

    cores: int = 80
    cpu_tdp_w: float = 290.0
    cpu_curve: LoadCurve = field(default_factory=LoadCurve)
    mem_gib: float = 12 * 64.0
    mem_w_per_gib: float = 23.68 / 64.0  # DDR5-4800 64 GB DIMM: 23.68 W
    gpus: int = 0
    gpu_board_w: float = H200_BOARD_W
    platform_w: float = 35.0 + 2 * 11.2 + 19.0 + 500.0 / 10  # chassis, SSDs, NIC, rack share
    fan_w: float = 75.0  # scaled by `cpu_curve`
    vr_overhead: float = 1.05
    psu_efficiency: float = 0.95
    pue: float = 1.12
    parts: tuple[Part, ...] = field(default_factory=_default_parts)
    source: str = "built-in GreenSKU defaults (Azure, CC-BY 4.0)"

    def __post_init__(self) -> None:
        require(self.cores >= 1, "server.cores", self.cores, "an integer >= 1")
        require(self.mem_gib > 0, "server.mem_gib", self.mem_gib, "GiB > 0")
        require(self.gpus >= 0, "server.gpus", self.gpus, "an integer >= 0")
        for name in ("cpu_tdp_w", "mem_w_per_gib", "gpu_board_w", "platform_w", "fan_w"):
            v = getattr(self, name)
            require(v >= 0, f"server.{name}", v, "a number >= 0")
        require(self.vr_overhead >= 1, "server.vr_overhead", self.vr_overhead, ">= 1")
        require(
            0 < self.psu_efficiency <= 1, "server.psu_efficiency", self.psu_efficiency, "(0, 1]"
        )
        require(self.pue >= 1, "server.pue", self.pue, "a power usage effectiveness >= 1")

    def with_gpus(
        self, n: int, board_w: float = H200_BOARD_W, embodied_kg_each: float = GPU_EMBODIED_KG
    ) -> ServerModel:
        """This server with `n` GPU boards (their embodied carbon paid by the GPU share)."""
        life = next((p.lifetime_months for p in self.parts if p.share == "cpu"), 72.0)
        parts = tuple(p for p in self.parts if p.share != "gpu")
        gpu = Part("gpu", n * embodied_kg_each, life, "gpu")
        return replace(self, gpus=n, gpu_board_w=board_w, parts=(*parts, gpu))


DEFAULT_SERVER = ServerModel()


@dataclass(frozen=True, slots=True)
class Usage:
    """What a piece of work held, for how long, and how many functional units it served."""

    duration_s: float
    cpu_cores: float = 1.0
    cpu_util: float = 1.0  # busy fraction of the allocated cores, drives the load curve
    mem_gib: float = 0.0
    gpu: GpuShare | None = None
    units: float = 1.0  # R in SCI: invocations, requests, samples, rounds...

    def __post_init__(self) -> None:
        require(self.duration_s >= 0, "usage.duration_s", self.duration_s, "seconds >= 0")
        require(self.cpu_cores >= 0, "usage.cpu_cores", self.cpu_cores, "cores >= 0")
        require(0 <= self.cpu_util <= 1, "usage.cpu_util", self.cpu_util, "a fraction in [0, 1]")
        require(self.mem_gib >= 0, "usage.mem_gib", self.mem_gib, "GiB >= 0")
        require(self.units > 0, "usage.units", self.units, "functional units > 0")

    @classmethod
    def from_resources(
        cls, resources: Resources, duration_s: float, cpu_util: float = 1.0, units: float = 1.0
    ) -> Usage:
        return cls(
            duration_s, resources.cpu, cpu_util, resources.mem_mib / 1024.0, resources.gpu, units
        )


@dataclass(frozen=True, slots=True)
class CarbonRecord:
    """Energy and carbon of one piece of work (see the module docstring for the formulas)."""

    energy_kwh: float  # at the server's wall, before PUE
    operational_g: float
    embodied_g: float
    sci_g_per_unit: float
    units: float
    g_per_kwh: float
    pue: float
    power_w: float
    duration_s: float

    @property
    def total_g(self) -> float:
        return self.operational_g + self.embodied_g

    @property
    def energy_j(self) -> float:
        """Wall energy in joules, as `InvocationRecord.energy_j` wants it."""
        return self.energy_kwh * J_PER_KWH


def shares(usage: Usage, server: ServerModel) -> dict[str, float]:
    """Allocated fraction of the server's CPU, memory, GPUs, and the dominant one ('server')."""
    cpu = usage.cpu_cores / server.cores
    mem = usage.mem_gib / server.mem_gib
    gpu = 0.0
    if usage.gpu is not None:
        require(server.gpus > 0, "usage.gpu", usage.gpu, "no GPU share on a server without GPUs")
        gpu = usage.gpu.fraction / server.gpus
    for name, f in (("cpu_cores", cpu), ("mem_gib", mem)):
        require(f <= 1 + 1e-9, f"usage.{name}", getattr(usage, name), "at most the server's")
    return {"cpu": cpu, "mem": mem, "gpu": gpu, "server": max(cpu, mem, gpu)}


def power_w(usage: Usage, server: ServerModel = DEFAULT_SERVER) -> float:
    """Wall power (W) attributed to `usage` on `server`."""
    f = shares(usage, server)
    curve = server.cpu_curve.fraction(usage.cpu_util)
    cpu = server.cpu_tdp_w * f["cpu"] * curve
    mem = server.mem_w_per_gib * usage.mem_gib
    gpu = usage.gpu.fraction * server.gpu_board_w if usage.gpu is not None else 0.0
    platform = (server.platform_w + server.fan_w * curve) * f["server"]
    return (cpu + mem + gpu + platform) * server.vr_overhead / server.psu_efficiency


def embodied_g(usage: Usage, server: ServerModel = DEFAULT_SERVER) -> float:
    """Embodied gCO2e of the server parts held by `usage` for its duration."""
    f = shares(usage, server)
    months = usage.duration_s / SECONDS_PER_MONTH
    return sum(
        p.embodied_kg * 1000.0 * f[p.share] * months / p.lifetime_months for p in server.parts
    )


def account(
    usage: Usage,
    g_per_kwh: float,
    server: ServerModel = DEFAULT_SERVER,
    pue: float | None = None,
) -> CarbonRecord:
    """Operational + embodied carbon of `usage` at grid intensity `g_per_kwh` (gCO2eq/kWh).

    `pue` defaults to the server's (e.g. pass `Region.pue` for the region it ran in).
    """
    require(g_per_kwh >= 0, "g_per_kwh", g_per_kwh, "gCO2eq/kWh >= 0")
    pue = server.pue if pue is None else pue
    require(pue >= 1, "pue", pue, "a power usage effectiveness >= 1")
    p = power_w(usage, server)
    e_kwh = p * usage.duration_s / J_PER_KWH
    op = e_kwh * pue * g_per_kwh
    emb = embodied_g(usage, server)
    return CarbonRecord(
        e_kwh, op, emb, (op + emb) / usage.units, usage.units, g_per_kwh, pue, p, usage.duration_s
    )


def combine(records: Iterable[CarbonRecord]) -> CarbonRecord:
    """One record for many (a job's invocations, an FL round's clients): sums, with
    SCI over the summed units and energy-weighted PUE and intensity; `duration_s` sums busy time."""
    rs = list(records)
    require(bool(rs), "records", 0, "at least one CarbonRecord")
    e = sum(r.energy_kwh for r in rs)
    e_pue = sum(r.energy_kwh * r.pue for r in rs)
    op = sum(r.operational_g for r in rs)
    emb = sum(r.embodied_g for r in rs)
    units = sum(r.units for r in rs)
    dur = sum(r.duration_s for r in rs)
    return CarbonRecord(
        energy_kwh=e,
        operational_g=op,
        embodied_g=emb,
        sci_g_per_unit=(op + emb) / units,
        units=units,
        g_per_kwh=op / e_pue if e_pue > 0 else 0.0,
        pue=e_pue / e if e > 0 else rs[0].pue,
        power_w=e * J_PER_KWH / dur if dur > 0 else 0.0,
        duration_s=dur,
    )


def load_greensku(
    directory: Path | None = None,
    *,
    cpu: str = "Genoa",
    cores: int = 80,
    dram: str = "DDR5",
    dimm: str = "64GB",
    dimms: int = 12,
    ssd: str = "2TB",
    ssds: int = 2,
    nic: str = "100G",
    chassis: str = "Server-1U",
) -> ServerModel:
    """A `ServerModel` from GreenSKU YAML files (default: `$TESSERA_DATA`), else the defaults."""
    directory = directory if directory is not None else find(GREENSKU_DIR)
    if directory is None:
        return DEFAULT_SERVER
    import yaml  # boundary parsing only; the model above is plain dataclasses

    def doc(name: str) -> Any:
        path = directory / name
        require(path.is_file(), f"{GREENSKU_DIR}/{name}", str(path), "an existing GreenSKU file")
        try:
            return yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            require(False, f"{GREENSKU_DIR}/{name}", str(e).splitlines()[0], "valid YAML")

    params = doc("params.yaml")
    life = _num(params, "lifetime", "params.yaml")
    cpus = [(v, t) for v in _at(doc("CPU.yaml"), "CPU.yaml") for t in _at(v, "CPU.yaml", "types")]
    kind = _pick([t for _, t in cpus], "type", cpu, "CPU.yaml")
    vendor = next(v for v, t in cpus if t is kind)
    c = _pick(_at(kind, "CPU.yaml", "core_counts"), "count", cores, "CPU.yaml")
    freqs = _at(doc("DRAM.yaml"), "DRAM.yaml", dram, "frequencies")
    sizes = [x for f in _at(freqs, "DRAM.yaml") for x in _at(f, "DRAM.yaml", "sizes")]
    d = _pick(sizes, "size", dimm, "DRAM.yaml")
    sd = _pick(_at(doc("SSD.yaml"), "SSD.yaml", 0, "sizes"), "size", ssd, "SSD.yaml")
    n = _pick(_at(doc("NIC.yaml"), "NIC.yaml", "bandwidths"), "bandwidth", nic, "NIC.yaml")
    items = _at(_pick(doc("server.yaml"), "type", chassis, "server.yaml"), "server.yaml", "items")
    server, fan = _at(items, "server.yaml", "server"), _at(items, "server.yaml", "fan")
    rack = _at(doc("rack.yaml"), "rack.yaml", 0, "items", "rack")
    dc = _at(doc("data_center.yaml"), "data_center.yaml", 0)
    building = _at(dc, "data_center.yaml", "items", "dc_building")
    per_rack = _num(rack, "capacity", "rack.yaml")
    servers = _num(dc, "rack_capacity", "data_center.yaml") * per_rack
    require(servers > 0, "rack.yaml/data_center.yaml: capacity", servers, "servers per site > 0")
    kg = {
        k: _num(v, "carbon", f"{k}.yaml")
        for k, v in [("CPU", c), ("DRAM", d), ("SSD", sd), ("NIC", n)]
    }
    chassis_kg = _num(server, "carbon", "server.yaml") + _num(fan, "carbon", "server.yaml")
    rack_kg, rack_life = _num(rack, "carbon", "rack.yaml"), _num(rack, "lifetime", "rack.yaml")
    dc_kg = _num(building, "carbon", "data_center.yaml")
    dc_life = _num(building, "lifetime", "data_center.yaml")
    parts = (
        Part("cpu", kg["CPU"], life, "cpu"),
        Part("dram", dimms * kg["DRAM"], life, "mem"),
        Part("ssd", ssds * kg["SSD"], life),
        Part("nic", kg["NIC"], life),
        Part("chassis", chassis_kg, life),
        Part("rack", rack_kg / per_rack, rack_life),
        Part("building", dc_kg / servers, dc_life),
    )
    platform_w = _watts(server) + _watts(n) + ssds * _watts(sd) + _watts(rack) / per_rack
    gib = _size_gib(dimm)
    return ServerModel(
        cores=cores,
        cpu_tdp_w=_watts(c),
        cpu_curve=LoadCurve(points=_derates(vendor.get("spec_derates"))),
        mem_gib=dimms * gib,
        mem_w_per_gib=_watts(d) / gib,
        platform_w=platform_w,
        fan_w=_watts(fan),
        vr_overhead=_num(params, "voltage_regulator_overhead", "params.yaml"),
        psu_efficiency=_num(params, "PSU_efficiency", "params.yaml"),
        pue=_num(params, "PUE", "params.yaml"),
        parts=parts,
        source=f"GreenSKU files in {directory} (Azure, CC-BY 4.0): {cpu} {cores}c, {dimms}x{dimm}",
    )


def _at(v: Any, where: str, *path: str | int) -> Any:
    """`v[path[0]][path[1]]...`, or InputError naming the file and the missing key."""
    for k in path:
        if isinstance(v, dict):
            ok, have = k in v, ", ".join(map(str, v)) or "(empty)"
        elif isinstance(v, list):
            ok, have = isinstance(k, int) and -len(v) <= k < len(v), f"index < {len(v)}"
        else:
            ok, have = False, f"a YAML mapping or list, not {type(v).__name__}"
        require(ok, f"{where}: {'/'.join(map(str, path))}", k, have)
        v = v[k]
    return v


def _pick(items: Any, key: str, value: object, where: str) -> dict[str, Any]:
    """The entry of the list `items` whose `key` is `value`, or InputError listing the choices."""
    rows = [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
    hit = next((r for r in rows if r.get(key) == value), None)
    choices = ", ".join(str(r.get(key)) for r in rows) or "(none listed)"
    require(hit is not None, f"{where}: {key}", value, choices)
    assert hit is not None
    return hit


def _num(d: Any, key: str, where: str) -> float:
    v = d.get(key) if isinstance(d, Mapping) else None
    ok = isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
    require(ok, f"{where}: {key}", v, "a number >= 0")
    return float(v)  # type: ignore[arg-type]


_UNIT = re.compile(r"^\s*([0-9.]+)\s*([kMG]?)(W|B)\s*$")
_SCALE = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9}


def _watts(entry: Any) -> float:
    """An entry's `power`: '290W' -> 290.0, '50MW' -> 5e7; plain numbers are watts."""
    v = entry.get("power") if isinstance(entry, dict) else None
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    m = _UNIT.match(str(v))
    require(m is not None and m.group(3) == "W", "greensku power", v, "watts such as '290W'")
    assert m is not None
    return float(m.group(1)) * _SCALE[m.group(2)]


def _size_gib(v: str) -> float:
    """A DIMM size: '64GB' -> 64 (module capacities are binary, so GB here means GiB)."""
    m = re.match(r"^\s*([0-9.]+)\s*(GB|TB)\s*$", v)
    require(m is not None, "dimm", v, "a size such as '64GB'")
    assert m is not None
    return float(m.group(1)) * (1024.0 if m.group(2) == "TB" else 1.0)


def _derates(v: Any, where: str = "CPU.yaml") -> tuple[tuple[float, float], ...]:
    """GreenSKU `spec_derates` {util %: fraction of TDP} as (u, fraction) points; else SPEC_DERATES."""
    if v is None:
        return SPEC_DERATES
    ok = isinstance(v, dict) and all(isinstance(k, int | float) for k in v)
    require(ok, f"{where}: spec_derates", v, "a mapping of utilisation % -> fraction of TDP")
    return tuple(sorted((float(k) / 100.0, float(f)) for k, f in v.items()))
