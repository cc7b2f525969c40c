"""Live carbon-intensity providers over HTTP: Electricity Maps, WattTime, Carbon Aware SDK.

Each client turns one provider's API into `read(zone, at_s) -> Reading` and
every failure into `SourceError`, so `Fallback` can serve meanwhile. A 429
blocks the client (no request at all) until its Retry-After has passed on
the client's injectable clock, the only clock here; `at_s` stays the
caller's. `base_url` and an httpx `transport` are parameters, so tests talk
to a loopback server or a mock transport, never the network.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from tessera.carbon.sources import Basis, RateLimited, Reading, Signal, SourceBase, SourceError
from tessera.core.errors import require

Clock = Callable[[], float]

LBS_PER_MWH_TO_G_PER_KWH = 453.59237 / 1000.0  # 1 lb = 453.59237 g; 1 MWh = 1000 kWh
DEFAULT_RETRY_AFTER_S = 60.0  # when a 429 carries no (readable) Retry-After


class _Http(SourceBase):
    """One provider over HTTP: errors become `SourceError`; a 429 blocks this client until
    its Retry-After has passed (no request meanwhile; 60 s when the header is missing)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 5.0,
        clock: Clock = time.time,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        require(
            base_url.startswith(("http://", "https://")), "base_url", base_url, "an http(s) URL"
        )
        require(timeout_s > 0, "timeout_s", timeout_s, "seconds > 0")
        self._client = httpx.Client(
            base_url=base_url, timeout=timeout_s, transport=transport, headers=dict(headers or {})
        )
        self._clock = clock
        self.blocked_until_s = -math.inf

    def _get(self, path: str, *, params: Mapping[str, str] | None = None, **kw: Any) -> Any:
        now = self._clock()
        if now < self.blocked_until_s:
            raise RateLimited(self.name, self.blocked_until_s, self.blocked_until_s - now)
        try:
            r = self._client.get(path, params=dict(params or {}), **kw)
        except httpx.HTTPError as e:
            raise SourceError(f"{self.name}: {type(e).__name__}: {e}") from e
        if r.status_code == 429:
            wait_s = _retry_after_s(r.headers.get("Retry-After"), now)
            self.blocked_until_s = now + wait_s
            raise RateLimited(self.name, self.blocked_until_s, wait_s)
        if r.status_code >= 400:
            msg = f"{self.name}: HTTP {r.status_code} from {r.request.url.path}"
            raise SourceError(msg, r.status_code)
        try:
            return r.json()
        except ValueError as e:
            raise SourceError(f"{self.name}: response is not JSON") from e

    def close(self) -> None:
        self._client.close()


def _retry_after_s(value: str | None, now: float) -> float:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - now)
        except (TypeError, ValueError):
            pass
    return DEFAULT_RETRY_AFTER_S


def _number(body: Any, key: str, provider: str) -> float:
    v = body.get(key) if isinstance(body, dict) else None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
        raise SourceError(f"{provider}: expected a number >= 0 in {key!r}, got {v!r}")
    return float(v)


class ElectricityMapsApi(_Http):
    """Electricity Maps v3 `carbon-intensity/latest` (average; life-cycle or direct)."""

    name = "electricitymaps"

    def __init__(
        self,
        token: str,
        base_url: str = "https://api.electricitymaps.com/v3",
        basis: Basis = "lifecycle",
        **kw: Any,
    ) -> None:
        require(bool(token), "token", "(empty)", "an Electricity Maps API token")
        require(basis in ("lifecycle", "direct"), "basis", basis, "'lifecycle' or 'direct'")
        super().__init__(base_url, **kw)
        self._token = token
        self.basis: Basis = basis

    def read(self, zone: str, at_s: float) -> Reading:
        body = self._get(
            "carbon-intensity/latest",
            params={"zone": zone, "emissionFactorType": self.basis},
            headers={"auth-token": self._token},
        )
        g = _number(body, "carbonIntensity", self.name)
        if body.get("zone", zone) != zone:
            raise SourceError(f"{self.name}: asked for zone {zone!r}, got {body.get('zone')!r}")
        basis: Basis = "direct" if body.get("emissionFactorType") == "direct" else "lifecycle"
        when = body.get("datetime", "?")
        return Reading(zone, g, "average", at_s, f"{self.name} {when}", basis=basis)


class WattTimeV3(_Http):
    """WattTime v3 marginal operating emissions rate (MOER), converted to g/kWh.

    Logs in (HTTP basic) for a bearer token, kept `token_ttl_s` (tokens last
    30 min) and renewed once on a 401, then reads `/v3/forecast`: its first
    point is the current interval. WattTime reports MOER in lbs CO2/MWh;
    x 0.45359237 gives gCO2/kWh. `regions` maps zones to WattTime regions
    (e.g. 'US-CAL-CISO' -> 'CAISO_NORTH'); without it the zone is the region.
    """

    name = "watttime"

    def __init__(
        self,
        username: str,
        password: str,
        base_url: str = "https://api.watttime.org",
        regions: Mapping[str, str] | None = None,
        token_ttl_s: float = 1700.0,
        **kw: Any,
    ) -> None:
        require(bool(username and password), "username/password", "(empty)", "WattTime credentials")
        super().__init__(base_url, **kw)
        self._auth = (username, password)
        self.regions = dict(regions) if regions is not None else None
        self.token_ttl_s = token_ttl_s
        self._token: tuple[str, float] | None = None

    def _bearer(self, renew: bool = False) -> str:
        now = self._clock()
        if renew or self._token is None or now >= self._token[1]:
            body = self._get("login", auth=self._auth)
            token = body.get("token") if isinstance(body, dict) else None
            if not isinstance(token, str) or not token:
                raise SourceError(f"{self.name}: login returned no token")
            self._token = (token, now + self.token_ttl_s)
        return self._token[0]

    def read(self, zone: str, at_s: float) -> Reading:
        if self.regions is not None:
            require(zone in self.regions, "zone", zone, ", ".join(sorted(self.regions)))
        region = self.regions[zone] if self.regions is not None else zone
        params = {"region": region, "signal_type": "co2_moer"}
        try:
            body = self._get("v3/forecast", params=params, headers=self._auth_header(False))
        except SourceError as e:
            if e.status != 401:
                raise
            body = self._get("v3/forecast", params=params, headers=self._auth_header(True))
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not data:
            raise SourceError(f"{self.name}: forecast for {region!r} has no data points")
        meta = body.get("meta") or {}
        units = meta.get("units", "lbs_co2_per_mwh") if isinstance(meta, dict) else "?"
        factor = {"lbs_co2_per_mwh": LBS_PER_MWH_TO_G_PER_KWH, "kg_co2_per_mwh": 1.0}.get(units)
        if factor is None:
            raise SourceError(f"{self.name}: units {units!r} are not convertible to gCO2/kWh")
        g = _number(data[0], "value", self.name) * factor
        when = data[0].get("point_time", "?")
        src = f"{self.name} {region} MOER {when} ({units} -> g/kWh)"
        return Reading(zone, g, "marginal", at_s, src, basis="direct")

    def _auth_header(self, renew: bool) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._bearer(renew)}"}


class CarbonAwareSdk(_Http):
    """The Carbon Aware SDK WebAPI `emissions/bylocation` (ratings in gCO2/kWh).

    Asks for the last `window_s` (by its clock) and serves the latest rating.
    The signal depends on the SDK's configured data source: marginal for
    WattTime (the default here), average life-cycle for Electricity Maps.
    `locations` maps zones to the SDK's location names (e.g. 'eastus').
    """

    name = "carbon-aware-sdk"

    def __init__(
        self,
        base_url: str,
        locations: Mapping[str, str] | None = None,
        signal: Signal = "marginal",
        basis: Basis = "direct",
        window_s: float = 3600.0,
        **kw: Any,
    ) -> None:
        require(window_s > 0, "window_s", window_s, "seconds > 0")
        super().__init__(base_url, **kw)
        self.locations = dict(locations) if locations is not None else None
        self.signal: Signal = signal
        self.basis: Basis = basis
        self.window_s = window_s

    def read(self, zone: str, at_s: float) -> Reading:
        if self.locations is not None:
            require(zone in self.locations, "zone", zone, ", ".join(sorted(self.locations)))
        location = self.locations[zone] if self.locations is not None else zone
        now = self._clock()
        params = {"location": location, "time": _iso(now - self.window_s), "toTime": _iso(now)}
        body = self._get("emissions/bylocation", params=params)
        rows = [r for r in body if isinstance(r, dict)] if isinstance(body, list) else []
        if not rows:
            raise SourceError(f"{self.name}: no emissions for {location!r} in the last window")
        last = max(rows, key=lambda r: str(r.get("time", "")))
        g = _number(last, "rating", self.name)
        src = f"{self.name} {location} {last.get('time', '?')}"
        return Reading(zone, g, self.signal, at_s, src, basis=self.basis)


def _iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
