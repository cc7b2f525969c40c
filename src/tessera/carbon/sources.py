"""Where a carbon-intensity number comes from, behind one method: `read(zone, at_s)`.

Placement and accounting need "how dirty is this zone's grid now", and the
answer may come from the hourly table (simulation), a portal CSV, or a live
provider (Electricity Maps, WattTime, the Green Software Foundation's Carbon
Aware SDK). A `Reading` says which signal it is (average or marginal,
life-cycle or direct), where it came from and whether it is stale, so a
result can name its signal. `Cached` and `Fallback` wrap any source; time is
always the caller's `at_s`, never a clock read inside. The HTTP clients live
in `tessera.carbon.providers` (httpx) so the simulator never imports them.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from tessera.carbon.grid import HOURS_PER_YEAR, STEP_S, CarbonTable
from tessera.core.errors import InputError, require
from tessera.core.registry import Registry

Signal = Literal["average", "marginal"]
Basis = Literal["lifecycle", "direct"]


@dataclass(frozen=True, slots=True)
class Reading:
    """One intensity value: gCO2eq/kWh of `zone`, read at (or referring to) `at_s`."""

    zone: str
    g_per_kwh: float
    signal: Signal
    at_s: float
    source: str
    stale: bool = False
    basis: Basis = "lifecycle"


@runtime_checkable
class CarbonSource(Protocol):
    """Anything that can say how carbon-intensive a zone's grid is at the caller's time."""

    def read(self, zone: str, at_s: float) -> Reading: ...


class SourceError(Exception):
    """A provider failed (network, HTTP status, unexpected body): `Fallback` serves instead."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status  # the HTTP status, when there was one
        super().__init__(message)


class RateLimited(SourceError):
    """The provider answered 429; no request goes to it before `until_s` (its clock)."""

    def __init__(self, provider: str, until_s: float, wait_s: float) -> None:
        self.until_s = until_s
        self.wait_s = wait_s
        super().__init__(f"{provider}: rate limited, retry after {wait_s:.0f} s", 429)


class SourceBase:
    """Gives every source a `name` and `intensity()`, the float-only `tessera.core.ports` view."""

    name = "carbon-source"

    def read(self, zone: str, at_s: float) -> Reading:
        raise NotImplementedError

    def intensity(self, zone: str, at_s: float) -> float:
        return self.read(zone, at_s).g_per_kwh


CARBON_SOURCES: Registry[CarbonSource] = Registry("carbon_source")


ENV_PREFIX = "env:"


def source_from_config(
    config: Mapping[str, Any] | str, field: str = "carbon source"
) -> CarbonSource:
    """A source from `{kind, **params}` (a mapping or its JSON text), e.g.
    `{"kind": "electricitymaps", "token": "env:EMAPS_TOKEN"}`: a string parameter written
    `env:NAME` is the value of the environment variable NAME, so tokens and passwords stay out
    of command lines, process lists and manifests. Bad input: `InputError` naming `field`."""
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except json.JSONDecodeError as e:  # the text is not echoed: it may hold a token
            raise InputError(
                field,
                f"not JSON ({e.msg} at character {e.pos})",
                'JSON like {"kind": "electricitymaps", "token": "env:EMAPS_TOKEN"}',
            ) from None
    if not isinstance(config, Mapping) or "kind" not in config:
        raise InputError(
            field,
            type(config).__name__ if not isinstance(config, Mapping) else sorted(config),
            'a JSON object with "kind": ' + ", ".join(CARBON_SOURCES.names()),
        )
    params: dict[str, Any] = {}
    hidden: dict[str, str] = {}  # values read from the environment, never shown back
    for k, v in config.items():
        if isinstance(v, str) and v.startswith(ENV_PREFIX):
            name = v[len(ENV_PREFIX) :]
            secret = os.environ.get(name)
            if not secret:
                raise InputError(f"{field}.{k}", v, f"a set environment variable {name}")
            hidden[secret] = v
            v = secret
        params[k] = v
    if params["kind"] in ("table", "csv") and "epoch_s" not in params:
        params.setdefault("calendar", True)  # read against today's clock
    try:
        return CARBON_SOURCES.from_config(params)
    except Exception as e:  # whatever the provider raises, without the secrets in it
        shown: object
        if isinstance(e, InputError):
            shown = hidden.get(str(e.value), e.value)
            accepted, where = e.accepted, f"{field}: {e.field}"
        else:
            shown, accepted, where = type(e).__name__, str(e), field
        for secret, ref in hidden.items():
            accepted = accepted.replace(secret, ref)
            shown = str(shown).replace(secret, ref) if isinstance(shown, str) else shown
        raise InputError(where, shown, accepted) from None


# The HTTP providers live in `tessera.carbon.providers` (httpx); registered
# here lazily so `{kind: watttime, ...}` works without importing httpx for the simulator.
@CARBON_SOURCES.register("electricitymaps")
def _electricitymaps(**params: Any) -> CarbonSource:
    from tessera.carbon.providers import ElectricityMapsApi

    return ElectricityMapsApi(**params)


@CARBON_SOURCES.register("watttime")
def _watttime(**params: Any) -> CarbonSource:
    from tessera.carbon.providers import WattTimeV3

    return WattTimeV3(**params)


@CARBON_SOURCES.register("carbon-aware-sdk")
def _carbon_aware_sdk(**params: Any) -> CarbonSource:
    from tessera.carbon.providers import CarbonAwareSdk

    return CarbonAwareSdk(**params)


@CARBON_SOURCES.register("table")
class TableSource(SourceBase):
    """The hourly table; `at_s - epoch_s` is seconds since the table's first hour.

    `calendar=True` (for a clock of today, not a simulation's): `at_s` is UNIX time, read at
    the table's same UTC day of the year and hour (29 February as the 28th), so a year of
    data stays aligned with the seasons and the time of day in any year."""

    name = "table"

    def __init__(
        self,
        table: CarbonTable | None = None,
        epoch_s: float = 0.0,
        basis: Basis = "lifecycle",
        calendar: bool = False,
    ) -> None:
        self.table = table if table is not None else CarbonTable.load()
        self.epoch_s = epoch_s
        self.basis: Basis = basis
        self.calendar = calendar
        require(
            not calendar or self.table.hours == HOURS_PER_YEAR,
            "calendar",
            f"a table of {self.table.hours} hours",
            f"a table of one non-leap year ({HOURS_PER_YEAR} hours)",
        )

    def read(self, zone: str, at_s: float) -> Reading:
        t = same_hour_of_year(at_s) if self.calendar else at_s - self.epoch_s
        g = self.table.intensity(zone, t)
        return Reading(zone, g, "average", at_s, self.table.source, basis=self.basis)


def same_hour_of_year(unix_s: float) -> float:
    """Seconds from the start of a (non-leap) year to the same UTC day of the year and hour
    as `unix_s`, 29 February folded onto the 28th: a table's row for that moment."""
    dt = datetime.fromtimestamp(unix_s, UTC)
    day = dt.timetuple().tm_yday - 1
    leap = dt.year % 4 == 0 and (dt.year % 100 != 0 or dt.year % 400 == 0)
    if leap and day >= 59:  # 29 Feb is day 59 (0-based): it and what follows move back one
        day -= 1
    return day * 86400.0 + dt.hour * STEP_S + dt.minute * 60.0 + dt.second


# Portal headers differ between releases ("Zone Id" / "Zone id", "(LCA)" / "(Life cycle)",
# "gCO₂eq" / "gCO2eq"); names are compared after `_norm`.
_PORTAL_TIME = "datetime (utc)"
_PORTAL_ZONE = "zone id"
_PORTAL_CI = {
    "direct": ("carbon intensity gco2eq/kwh (direct)",),
    "lca": ("carbon intensity gco2eq/kwh (lca)", "carbon intensity gco2eq/kwh (life cycle)"),
}
_PORTAL_ACCEPTED = (
    "an Electricity Maps portal CSV: 'Datetime (UTC)', 'Zone Id', "
    "'Carbon Intensity gCO₂eq/kWh (direct)' and '... (LCA)' columns, hourly rows of one zone"
)


def _norm(name: str) -> str:
    return " ".join(name.replace("₂", "2").lower().split())


def read_portal_csv(path: Path, column: Literal["lca", "direct"] = "lca") -> CarbonTable:
    """An Electricity Maps portal CSV (one zone, hourly) as a one-zone `CarbonTable`.

    Empty cells and missing hours are filled forward, then backward.
    """
    require(column in _PORTAL_CI, "column", column, "'lca' or 'direct'")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [_norm(h) for h in next(reader, [])]
        ci = next((header.index(c) for c in _PORTAL_CI[column] if c in header), -1)
        ok = _PORTAL_TIME in header and _PORTAL_ZONE in header and ci >= 0
        require(ok, f"{path.name}: header", header[:4], _PORTAL_ACCEPTED)
        it, iz = header.index(_PORTAL_TIME), header.index(_PORTAL_ZONE)
        zone = ""
        stamps: list[float] = []
        values: list[float] = []
        for n, rec in enumerate(reader, start=2):
            if not rec:
                continue
            require(len(rec) > max(it, iz, ci), f"{path.name}: line {n}", rec[:4], _PORTAL_ACCEPTED)
            zone = zone or rec[iz]
            require(rec[iz] == zone, f"{path.name}: line {n} Zone Id", rec[iz], f"only {zone!r}")
            stamps.append(_portal_time(rec[it], f"{path.name}: line {n} Datetime (UTC)"))
            try:
                values.append(float(rec[ci]) if rec[ci].strip() else math.nan)
            except ValueError:
                require(
                    False, f"{path.name}: line {n} carbon intensity", rec[ci], "a number or empty"
                )
    require(bool(stamps), f"{path.name}: rows", 0, "at least one hourly row")
    offsets = (np.array(stamps) - stamps[0]) / STEP_S
    steps_ok = bool(np.all(np.diff(offsets) > 0)) and bool(np.all(offsets == np.round(offsets)))
    require(steps_ok, f"{path.name}: Datetime (UTC)", "not increasing whole hours", "hourly rows")
    series = np.full(int(offsets[-1]) + 1, math.nan)
    series[offsets.astype(int)] = values
    require(not bool(np.all(np.isnan(series))), f"{path.name}: {column}", "all empty", "numbers")
    for _ in range(2):  # forward fill, then the same on the reversed series (backward fill)
        idx = np.where(np.isnan(series), 0, np.arange(series.size))
        series = series[np.maximum.accumulate(idx)][::-1]
    return CarbonTable(
        zones=(zone,),
        gco2_per_kwh=series[:, None],
        start_unix_s=stamps[0],
        source=f"Electricity Maps portal CSV {path.name} ({column}, ODbL)",
    )


def _portal_time(text: str, fieldname: str) -> float:
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        require(False, fieldname, text, "a UTC time such as '2022-01-01 00:00:00'")
        raise
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


@CARBON_SOURCES.register("csv")
class CsvSource(TableSource):
    """A native Electricity Maps portal CSV; `column` picks the 'lca' or 'direct' intensity."""

    name = "csv"

    def __init__(
        self,
        path: Path | str,
        column: Literal["lca", "direct"] = "lca",
        epoch_s: float = 0.0,
        calendar: bool = False,
    ) -> None:
        basis: Basis = "lifecycle" if column == "lca" else "direct"
        super().__init__(read_portal_csv(Path(path), column), epoch_s, basis, calendar)


class Cached(SourceBase):
    """Serve a zone's last fresh reading for `ttl_s` of the caller's time (its `at_s` stays
    the time it was read, so its age shows); stale readings are not kept."""

    name = "cached"

    def __init__(self, source: CarbonSource, ttl_s: float) -> None:
        require(ttl_s > 0, "ttl_s", ttl_s, "seconds > 0")
        self.source = source
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, Reading]] = {}

    def read(self, zone: str, at_s: float) -> Reading:
        hit = self._cache.get(zone)
        if hit is not None and 0.0 <= at_s - hit[0] < self.ttl_s:
            return hit[1]
        r = self.source.read(zone, at_s)
        if not r.stale:
            self._cache[zone] = (at_s, r)
        return r


class Fallback(SourceBase):
    """On `SourceError`: the zone's last good reading (if younger than `max_age_s`), else
    the table's annual mean; both marked stale, with the reason in `source`.

    Beyond `max_age_s` the daily cycle has moved on and the annual mean is the
    safer guess. Without a `table`, `CarbonTable.load()` is used when needed.
    """

    name = "fallback"

    def __init__(
        self, primary: CarbonSource, table: CarbonTable | None = None, max_age_s: float = 3 * 3600.0
    ) -> None:
        require(max_age_s >= 0, "max_age_s", max_age_s, "seconds >= 0")
        self.primary = primary
        self.max_age_s = max_age_s
        self._table = table
        self._last: dict[str, Reading] = {}

    def read(self, zone: str, at_s: float) -> Reading:
        try:
            r = self.primary.read(zone, at_s)
        except SourceError as e:
            last = self._last.get(zone)
            if last is not None and 0.0 <= at_s - last.at_s <= self.max_age_s:
                note = f"{last.source} (last good, {at_s - last.at_s:.0f} s old; {e})"
                return replace(last, stale=True, source=note)
            if self._table is None:
                self._table = CarbonTable.load()
            if zone not in self._table.zones:
                raise
            g = self._table.annual_mean(zone)
            note = f"annual mean of {self._table.source} (fallback; {e})"
            return Reading(zone, g, "average", at_s, note, stale=True, basis="lifecycle")
        if not r.stale:
            self._last[zone] = r
        return r
