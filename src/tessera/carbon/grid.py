"""The hourly grid-carbon table and inter-region latencies every carbon policy reads.

Placement (GreenCourier), the simulator and the experiments need the same two
facts: how dirty each zone's grid is in a given hour, and how far apart cloud
regions are. Both come from `$TESSERA_DATA/carbon/` when present (Electricity
Maps 2022 hourly life-cycle intensity, ODbL; measured GCP RTTs) and otherwise
from small defaults this module derives itself, which say so in `source`.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tessera.core.data import find
from tessera.core.errors import require

TABLE_FILE = "carbon/emaps_2022_hourly_lca_gco2_per_kwh.csv"
LATENCY_FILE = "carbon/gcp_inter_region_latency_ms.csv"
ZONES_FILE = "carbon/gcp_region_to_emaps_zone.json"
STEP_S = 3600.0
START_2022_UNIX_S = datetime(2022, 1, 1, tzinfo=UTC).timestamp()
HOURS_PER_YEAR = 8760

# Annual mean (gCO2eq/kWh), hour of the mean daily minimum (UTC) and relative
# amplitude of the first daily harmonic, per zone. Computed once from
# `carbon/emaps_2022_hourly_lca_gco2_per_kwh.csv` (Electricity Maps 2022,
# hourly average life-cycle intensity, ODbL): mean of the 8,760 hours, and
# the 24-hour Fourier component of the hour-of-day means. Solar-heavy grids
# are cleanest near local noon (ES 12 UTC, US-CAL-CISO 19 UTC, AU-NSW 2 UTC).
ZONE_PROFILES: dict[str, tuple[float, float, float]] = {
    "ES": (211.5, 12.4, 0.134),
    "FR": (99.4, 10.6, 0.055),
    "BE": (171.3, 9.9, 0.102),
    "NL": (398.2, 11.0, 0.122),
    "DE": (481.5, 10.7, 0.127),
    "GB": (234.8, 5.7, 0.050),
    "PL": (819.2, 10.2, 0.060),
    "IT-NO": (375.4, 11.2, 0.076),
    "CH": (152.3, 12.6, 0.213),
    "FI": (147.2, 23.4, 0.029),
    "SE-SE3": (23.4, 22.7, 0.066),
    "IE": (397.2, 3.0, 0.043),
    "DK-DK1": (200.6, 3.7, 0.003),
    "AT": (244.5, 12.0, 0.050),
    "PT": (222.9, 13.3, 0.077),
    "NO-NO1": (29.3, 19.8, 0.046),
    "US-CAL-CISO": (264.2, 19.2, 0.272),
    "US-MIDA-PJM": (425.3, 9.5, 0.021),
    "US-TEX-ERCO": (401.8, 11.6, 0.043),
    "US-NW-PACW": (235.8, 21.4, 0.156),
    "US-CENT-SWPP": (466.7, 7.5, 0.104),
    "US-CAR-SC": (614.2, 14.7, 0.029),
    "US-NY-NYIS": (281.3, 8.6, 0.040),
    "CA-QC": (28.5, 19.3, 0.009),
    "CA-ON": (59.1, 8.5, 0.314),
    "BR-CS": (101.6, 20.5, 0.084),
    "SG": (491.5, 4.5, 0.017),
    "JP-TK": (555.1, 2.0, 0.093),
    "KR": (490.8, 3.4, 0.035),
    "IN-WE": (614.8, 7.2, 0.082),
    "AU-NSW": (592.9, 1.9, 0.185),
    "TW": (535.8, 4.2, 0.058),
}

# Relative sd and hour-to-hour correlation of the synthetic AR(1) noise. Kept
# small on purpose: the real 2022 series vary 10-45% around this daily shape
# (weather), so results on the synthetic table understate what shifting buys.
NOISE_SD = 0.05
NOISE_RHO = 0.95


@dataclass(frozen=True, slots=True, eq=False)
class CarbonTable:
    """Hourly carbon intensity (gCO2eq/kWh), `hours x zones`, from `start_unix_s` (UTC)."""

    zones: tuple[str, ...]
    gco2_per_kwh: npt.NDArray[np.float64]
    start_unix_s: float = START_2022_UNIX_S
    source: str = ""
    synthetic: bool = False
    _col: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        a = np.array(self.gco2_per_kwh, dtype=np.float64)
        require(
            a.ndim == 2 and a.shape[0] >= 1 and a.shape[1] == len(self.zones),
            "carbon_table.shape",
            a.shape,
            f"(hours >= 1, {len(self.zones)} zones)",
        )
        require(
            len(set(self.zones)) == len(self.zones), "carbon_table.zones", self.zones, "unique ids"
        )
        require(
            bool(np.all(np.isfinite(a)) and np.all(a >= 0)),
            "carbon_table.values",
            "non-finite or negative",
            "finite gCO2eq/kWh >= 0",
        )
        a.setflags(write=False)
        object.__setattr__(self, "gco2_per_kwh", a)
        object.__setattr__(self, "_col", {z: i for i, z in enumerate(self.zones)})

    @property
    def hours(self) -> int:
        return int(self.gco2_per_kwh.shape[0])

    def column(self, zone: str) -> int:
        """Index of `zone`, or InputError naming the zones this table has."""
        i = self._col.get(zone)
        require(i is not None, "zone", zone, ", ".join(self.zones))
        assert i is not None
        return i

    def hour_index(self, t_s: float) -> int:
        """Row for `t_s` seconds after the table start; wraps around the table (a year)."""
        require(math.isfinite(t_s), "t_s", t_s, "finite seconds since the table start")
        return math.floor(t_s / STEP_S) % self.hours

    def intensity(self, zone: str, t_s: float) -> float:
        """gCO2eq/kWh of `zone` in the hour containing `t_s` (seconds since the table start)."""
        return float(self.gco2_per_kwh[self.hour_index(t_s), self.column(zone)])

    def row(self, t_s: float) -> npt.NDArray[np.float64]:
        """All zones' intensities at `t_s`, in `zones` order (read-only view)."""
        r: npt.NDArray[np.float64] = self.gco2_per_kwh[self.hour_index(t_s)]
        return r

    def series(self, zone: str) -> npt.NDArray[np.float64]:
        """The whole hourly series of `zone` (read-only view)."""
        return self.gco2_per_kwh[:, self.column(zone)]

    def annual_mean(self, zone: str) -> float:
        return float(self.series(zone).mean())

    @classmethod
    def from_csv(cls, path: Path) -> CarbonTable:
        """Read the `datetime_utc, <zone>...` hourly table (rows consecutive UTC hours)."""
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, [])
            require(
                len(header) >= 2 and header[0] == "datetime_utc",
                f"{path.name}: header",
                header[:3],
                "'datetime_utc' then one column per zone id",
            )
            stamps: list[str] = []
            values: list[list[float]] = []
            for n, rec in enumerate(reader, start=2):
                require(
                    len(rec) == len(header),
                    f"{path.name}: line {n}",
                    rec[:3],
                    f"{len(header)} fields",
                )
                stamps.append(rec[0])
                try:
                    values.append([float(v) for v in rec[1:]])
                except ValueError:
                    require(False, f"{path.name}: line {n}", rec[1:4], "numbers (gCO2eq/kWh)")
        require(bool(values), f"{path.name}: rows", 0, "at least one hourly row")
        start = _parse_utc(stamps[0], f"{path.name}: datetime_utc")
        last = _parse_utc(stamps[-1], f"{path.name}: datetime_utc")
        expected = start + (len(stamps) - 1) * STEP_S
        require(
            last == expected, f"{path.name}: last datetime_utc", stamps[-1], "consecutive hours"
        )
        return cls(
            zones=tuple(header[1:]),
            gco2_per_kwh=np.array(values, dtype=np.float64),
            start_unix_s=start,
            source=f"Electricity Maps hourly LCA ({path.name}, ODbL)",
        )

    @classmethod
    def default(cls, seed: int = 2022, hours: int = HOURS_PER_YEAR) -> CarbonTable:
        """A synthetic year from `ZONE_PROFILES`: daily cosine x seeded AR(1) noise.

        g(h) = mean x (1 - a cos(2 pi (h - h_min) / 24)) x (1 + noise(h)), each zone
        rescaled so its mean is exactly its 2022 annual mean.
        """
        require(hours >= 1, "hours", hours, "an integer >= 1")
        rng = np.random.default_rng(seed)
        means, h_min, amp = (np.array(c) for c in zip(*ZONE_PROFILES.values(), strict=True))
        h = np.arange(hours, dtype=np.float64)[:, None]
        shape = 1.0 - amp * np.cos(2.0 * np.pi * (h - h_min) / 24.0)
        eps = rng.normal(0.0, NOISE_SD * math.sqrt(1.0 - NOISE_RHO**2), (hours, len(means)))
        noise = np.empty_like(eps)
        noise[0] = rng.normal(0.0, NOISE_SD, len(means))
        for i in range(1, hours):
            noise[i] = NOISE_RHO * noise[i - 1] + eps[i]
        g = shape * np.clip(1.0 + noise, 0.5, 1.5)
        return cls(
            zones=tuple(ZONE_PROFILES),
            gco2_per_kwh=means * g / g.mean(axis=0),
            source=(
                "synthetic: 2022 annual means and daily shape of Electricity Maps LCA data "
                f"(ODbL) with seeded noise (seed {seed}); not measured hours"
            ),
            synthetic=True,
        )

    @classmethod
    def load(cls) -> CarbonTable:
        """The real table from `$TESSERA_DATA` when present, else `default()` (says so in `source`)."""
        path = find(TABLE_FILE)
        return cls.from_csv(path) if path is not None else cls.default()


def _parse_utc(text: str, fieldname: str) -> float:
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        dt = None
    require(dt is not None, fieldname, text, "an ISO-8601 time such as 2022-01-01T00:00:00Z")
    assert dt is not None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


# GCP region -> (Electricity Maps zone, latitude, longitude of the region's city).
# Zones as in `carbon/gcp_region_to_emaps_zone.json` (with AUS-* written AU-*);
# coordinates are the public locations of the regions, for the distance model.
REGIONS: dict[str, tuple[str, float, float]] = {
    "asia-east1": ("TW", 24.05, 120.52),
    "asia-east2": ("HK", 22.30, 114.17),
    "asia-northeast1": ("JP-TK", 35.68, 139.69),
    "asia-northeast2": ("JP-KN", 34.69, 135.50),
    "asia-northeast3": ("KR", 37.57, 126.98),
    "asia-south1": ("IN-MH", 19.08, 72.88),
    "asia-south2": ("IN-DL", 28.61, 77.21),
    "asia-southeast1": ("SG", 1.35, 103.70),
    "asia-southeast2": ("ID", -6.21, 106.85),
    "australia-southeast1": ("AU-NSW", -33.87, 151.21),
    "australia-southeast2": ("AU-VIC", -37.81, 144.96),
    "europe-central2": ("PL", 52.23, 21.01),
    "europe-north1": ("FI", 60.57, 27.20),
    "europe-southwest1": ("ES", 40.42, -3.70),
    "europe-west1": ("BE", 50.45, 3.82),
    "europe-west2": ("GB", 51.51, -0.13),
    "europe-west3": ("DE", 50.11, 8.68),
    "europe-west4": ("NL", 53.44, 6.84),
    "europe-west6": ("CH", 47.38, 8.54),
    "europe-west8": ("IT-NO", 45.46, 9.19),
    "europe-west9": ("FR", 48.86, 2.35),
    "northamerica-northeast1": ("CA-QC", 45.50, -73.57),
    "northamerica-northeast2": ("CA-ON", 43.65, -79.38),
    "southamerica-east1": ("BR-CS", -23.53, -46.79),
    "southamerica-west1": ("CL-SEN", -33.45, -70.67),
    "us-central1": ("US-CENT-SWPP", 41.26, -95.86),
    "us-east1": ("US-CAR-SC", 33.20, -80.01),
    "us-east4": ("US-MIDA-PJM", 39.04, -77.49),
    "us-east5": ("US-MIDA-PJM", 39.96, -83.00),
    "us-south1": ("US-TEX-ERCO", 32.78, -96.80),
    "us-west1": ("US-NW-PACW", 45.59, -121.18),
    "us-west2": ("US-CAL-CISO", 34.05, -118.24),
    "us-west3": ("US-NW-PACE", 40.76, -111.89),
    "us-west4": ("US-NW-NEVP", 36.17, -115.14),
}

# Distance model: RTT = BASE + great-circle km / KM_PER_MS. Light in fibre
# covers ~200 km/ms, so a straight path costs d/100 ms both ways; real routes
# are ~1.67x longer (median over the 2022 GCP pairs), hence d/60. Against the
# 1,122 measured pairs this is within 18% on average (MAPE): coarse, not data.
RTT_BASE_MS = 2.0
RTT_KM_PER_MS = 60.0


def fix_zone(zone: str) -> str:
    """The zone id as Electricity Maps writes it (the shared map says AUS-NSW for AU-NSW)."""
    return "AU-" + zone[4:] if zone.startswith("AUS-") else zone


def great_circle_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = (
        math.sin((la2 - la1) / 2) ** 2
        + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    )
    return 2.0 * 6371.0 * math.asin(math.sqrt(min(1.0, h)))


@dataclass(frozen=True, slots=True, eq=False)
class Latency:
    """Round-trip times between cloud regions and the grid zone of each region."""

    zones_by_region: Mapping[str, str]
    measured_ms: Mapping[tuple[str, str], float] = field(default_factory=dict)
    coords: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    source: str = ""
    synthetic: bool = False

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted(self.zones_by_region))

    def zone_of(self, region: str) -> str:
        zone = self.zones_by_region.get(region)
        require(zone is not None, "region", region, ", ".join(self.regions))
        assert zone is not None
        return zone

    def rtt_ms(self, a: str, b: str) -> float:
        """Measured RTT a->b, else b->a, else the distance model; 0 within one region."""
        if a == b:
            return 0.0
        for pair in ((a, b), (b, a)):
            if pair in self.measured_ms:
                return self.measured_ms[pair]
        known = ", ".join(sorted(self.coords))
        require(a in self.coords, "region", a, known)
        require(b in self.coords, "region", b, known)
        return RTT_BASE_MS + great_circle_km(self.coords[a], self.coords[b]) / RTT_KM_PER_MS

    @classmethod
    def default(cls) -> Latency:
        return cls(
            zones_by_region={r: z for r, (z, _, _) in REGIONS.items()},
            coords={r: (lat, lon) for r, (_, lat, lon) in REGIONS.items()},
            source=f"synthetic: {RTT_BASE_MS:g} ms + great-circle km / {RTT_KM_PER_MS:g}",
            synthetic=True,
        )

    @classmethod
    def from_files(cls, latency_csv: Path | None, zones_json: Path | None) -> Latency:
        """Measured RTTs and/or the region->zone map; what is missing comes from `default()`."""
        base = cls.default()
        zones = dict(base.zones_by_region)
        parts = []
        if zones_json is not None:
            raw = json.loads(zones_json.read_text(encoding="utf-8"))
            require(
                isinstance(raw, dict) and all(isinstance(v, str) for v in raw.values()),
                zones_json.name,
                type(raw).__name__,
                "a JSON object of region -> zone id",
            )
            zones = {str(k): fix_zone(v) for k, v in raw.items()}
            parts.append(zones_json.name)
        measured: dict[tuple[str, str], float] = {}
        if latency_csv is not None:
            measured = _read_latency_csv(latency_csv)
            parts.append(latency_csv.name)
        return cls(
            zones_by_region=zones,
            measured_ms=measured,
            coords=base.coords,
            source=" + ".join(parts) if parts else base.source,
            synthetic=latency_csv is None,
        )

    @classmethod
    def load(cls) -> Latency:
        """From `$TESSERA_DATA` when present, else `default()` (says so in `source`)."""
        return cls.from_files(find(LATENCY_FILE), find(ZONES_FILE))


def _read_latency_csv(path: Path) -> dict[tuple[str, str], float]:
    cols = ["sending_region", "receiving_region", "milliseconds"]
    out: dict[tuple[str, str], float] = {}
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        require(
            reader.fieldnames == cols, f"{path.name}: header", reader.fieldnames, ", ".join(cols)
        )
        for n, rec in enumerate(reader, start=2):
            try:
                ms = float(rec["milliseconds"])
            except (TypeError, ValueError):
                ms = -1.0
            require(
                ms >= 0, f"{path.name}: line {n} milliseconds", rec["milliseconds"], "a number >= 0"
            )
            out[(rec["sending_region"], rec["receiving_region"])] = ms
    return out
