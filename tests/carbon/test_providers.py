"""The HTTP providers against recorded responses served on loopback (no live network).

The fixtures in `fixtures/` are hand-written in each API's documented shape.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from tessera.carbon.grid import CarbonTable
from tessera.carbon.providers import (
    LBS_PER_MWH_TO_G_PER_KWH,
    CarbonAwareSdk,
    ElectricityMapsApi,
    WattTimeV3,
)
from tessera.carbon.sources import CARBON_SOURCES, Fallback, RateLimited, SourceError
from tessera.core.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Loopback:
    """Routes: path -> list of (status, headers, body); the last entry repeats."""

    url: str = ""
    routes: dict[str, list[tuple[int, dict[str, str], bytes]]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def on(self, path: str, *answers: tuple[int, dict[str, str], bytes]) -> None:
        self.routes[path] = list(answers)

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


def ok(body: bytes) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json"}, body


@pytest.fixture
def server() -> Iterator[Loopback]:
    state = Loopback()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            state.seen.append(
                Seen(parts.path, query, {k.lower(): v for k, v in self.headers.items()})
            )
            answers = state.routes.get(parts.path) or [(404, {}, b"{}")]
            status, headers, body = answers.pop(0) if len(answers) > 1 else answers[0]
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


class FakeClock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_electricity_maps_latest(server: Loopback) -> None:
    server.on("/v3/carbon-intensity/latest", ok(fixture("electricitymaps_latest.json")))
    api = ElectricityMapsApi("em-token", base_url=f"{server.url}/v3")
    r = api.read("DE", 123.0)
    api.close()
    assert r.g_per_kwh == 302.0 and r.zone == "DE" and r.at_s == 123.0
    assert r.signal == "average" and r.basis == "lifecycle" and not r.stale
    assert r.source == "electricitymaps 2024-05-21T12:00:00.000Z"
    (req,) = server.seen
    assert req.path == "/v3/carbon-intensity/latest"
    assert req.query == {"zone": "DE", "emissionFactorType": "lifecycle"}
    assert req.headers["auth-token"] == "em-token"


def test_electricity_maps_rejects_a_wrong_zone_or_body(server: Loopback) -> None:
    server.on("/v3/carbon-intensity/latest", ok(fixture("electricitymaps_latest.json")))
    api = ElectricityMapsApi("t", base_url=f"{server.url}/v3", basis="direct")
    with pytest.raises(SourceError, match="asked for zone 'FR'"):
        api.read("FR", 0.0)
    assert server.seen[0].query["emissionFactorType"] == "direct"
    server.on("/v3/carbon-intensity/latest", ok(b'{"zone": "DE", "carbonIntensity": null}'))
    with pytest.raises(SourceError, match="carbonIntensity"):
        api.read("DE", 0.0)
    server.on("/v3/carbon-intensity/latest", ok(b"<html>"))
    with pytest.raises(SourceError, match="not JSON"):
        api.read("DE", 0.0)
    server.on("/v3/carbon-intensity/latest", (503, {}, b""))
    with pytest.raises(SourceError, match="HTTP 503") as e:
        api.read("DE", 0.0)
    assert e.value.status == 503
    with pytest.raises(InputError, match="token"):
        ElectricityMapsApi("", base_url=server.url)


def test_watttime_login_then_forecast_in_g_per_kwh(server: Loopback) -> None:
    server.on("/login", ok(fixture("watttime_login.json")))
    server.on("/v3/forecast", ok(fixture("watttime_forecast.json")))
    clock = FakeClock()
    wt = WattTimeV3(
        "user",
        "secret",
        base_url=server.url,
        regions={"US-CAL-CISO": "CAISO_NORTH"},
        clock=clock,
    )
    r = wt.read("US-CAL-CISO", 50.0)
    # 1000 lbs/MWh x 453.59237 g/lb / 1000 kWh/MWh = 453.59237 g/kWh
    assert r.g_per_kwh == pytest.approx(453.59237)
    assert abs(LBS_PER_MWH_TO_G_PER_KWH - 0.45359237) < 1e-15
    assert r.signal == "marginal" and r.basis == "direct" and r.zone == "US-CAL-CISO"
    assert "CAISO_NORTH" in r.source and "lbs_co2_per_mwh -> g/kWh" in r.source
    login, forecast = server.seen
    assert login.path == "/login"
    assert login.headers["authorization"] == "Basic " + base64.b64encode(b"user:secret").decode()
    assert forecast.path == "/v3/forecast"
    assert forecast.query == {"region": "CAISO_NORTH", "signal_type": "co2_moer"}
    assert forecast.headers["authorization"] == "Bearer wt-token-1"
    wt.read("US-CAL-CISO", 60.0)
    assert server.paths().count("/login") == 1  # token kept
    clock.t += 1800.0  # past token_ttl_s
    wt.read("US-CAL-CISO", 70.0)
    assert server.paths().count("/login") == 2
    with pytest.raises(InputError, match="zone: got 'FR'; accepted: US-CAL-CISO"):
        wt.read("FR", 0.0)
    wt.close()


def test_watttime_renews_the_token_once_on_401(server: Loopback) -> None:
    server.on("/login", ok(b'{"token": "old"}'), ok(b'{"token": "new"}'))
    server.on("/v3/forecast", (401, {}, b"{}"), ok(fixture("watttime_forecast.json")))
    wt = WattTimeV3("u", "p", base_url=server.url, clock=FakeClock())
    assert wt.read("CAISO_NORTH", 0.0).g_per_kwh == pytest.approx(453.59237)
    assert server.paths() == ["/login", "/v3/forecast", "/login", "/v3/forecast"]
    assert server.seen[-1].headers["authorization"] == "Bearer new"


def test_watttime_refuses_units_it_cannot_convert(server: Loopback) -> None:
    server.on("/login", ok(fixture("watttime_login.json")))
    server.on("/v3/forecast", ok(fixture("watttime_signal_index.json")))
    wt = WattTimeV3("u", "p", base_url=server.url, clock=FakeClock())
    with pytest.raises(SourceError, match="'percentile' are not convertible"):
        wt.read("CAISO_NORTH", 0.0)
    server.on("/v3/forecast", ok(b'{"data": [], "meta": {}}'))
    with pytest.raises(SourceError, match="no data points"):
        wt.read("CAISO_NORTH", 0.0)


def test_carbon_aware_sdk_emissions_by_location(server: Loopback) -> None:
    server.on("/emissions/bylocation", ok(fixture("carbon_aware_bylocation.json")))
    sdk = CarbonAwareSdk(server.url, locations={"US-MIDA-PJM": "eastus"}, clock=FakeClock())
    r = sdk.read("US-MIDA-PJM", 7.0)
    assert r.g_per_kwh == 398.25  # the latest of the three ratings (22:10)
    assert r.signal == "marginal" and r.at_s == 7.0
    assert r.source == "carbon-aware-sdk eastus 2023-11-14T22:10:00+00:00"
    (req,) = server.seen
    assert req.path == "/emissions/bylocation"
    # FakeClock: 1,700,000,000 s = 2023-11-14T22:13:20Z; window_s 3600
    assert req.query == {
        "location": "eastus",
        "time": "2023-11-14T21:13:20Z",
        "toTime": "2023-11-14T22:13:20Z",
    }
    server.on("/emissions/bylocation", ok(b"[]"))
    with pytest.raises(SourceError, match="no emissions for 'eastus'"):
        sdk.read("US-MIDA-PJM", 8.0)


def test_429_blocks_the_provider_until_retry_after(server: Loopback) -> None:
    server.on(
        "/v3/carbon-intensity/latest",
        (429, {"Retry-After": "120"}, b"{}"),
        ok(fixture("electricitymaps_latest.json")),
    )
    clock = FakeClock()
    api = ElectricityMapsApi("t", base_url=f"{server.url}/v3", clock=clock)
    with pytest.raises(RateLimited) as e:
        api.read("DE", 0.0)
    assert e.value.wait_s == 120.0 and e.value.status == 429
    clock.t += 119.0
    with pytest.raises(RateLimited):
        api.read("DE", 1.0)
    assert len(server.seen) == 1  # no request went out while blocked
    clock.t += 1.0
    assert api.read("DE", 2.0).g_per_kwh == 302.0
    assert len(server.seen) == 2


def test_429_with_an_http_date_or_no_header(server: Loopback) -> None:
    clock = FakeClock()  # 2023-11-14T22:13:20Z
    server.on(
        "/v3/carbon-intensity/latest",
        (429, {"Retry-After": "Tue, 14 Nov 2023 22:18:20 GMT"}, b"{}"),
        (429, {}, b"{}"),
    )
    api = ElectricityMapsApi("t", base_url=f"{server.url}/v3", clock=clock)
    with pytest.raises(RateLimited) as e:
        api.read("DE", 0.0)
    assert e.value.wait_s == pytest.approx(300.0)
    clock.t += 300.0
    with pytest.raises(RateLimited) as e:
        api.read("DE", 0.0)
    assert e.value.wait_s == 60.0  # documented default


def test_fallback_over_a_live_provider(server: Loopback) -> None:
    server.on(
        "/v3/carbon-intensity/latest",
        ok(fixture("electricitymaps_latest.json")),
        (429, {"Retry-After": "3600"}, b"{}"),
    )
    table = CarbonTable(("DE",), np.array([[400.0], [500.0]]), source="tbl")
    clock = FakeClock()
    fb = Fallback(ElectricityMapsApi("t", base_url=f"{server.url}/v3", clock=clock), table)
    assert fb.read("DE", 0.0).g_per_kwh == 302.0
    stale = fb.read("DE", 60.0)  # 429: last good value
    assert stale.stale and stale.g_per_kwh == 302.0 and "rate limited" in stale.source
    mean = fb.read("DE", 4 * 3600.0)  # still blocked, last good too old: annual mean
    assert mean.stale and mean.g_per_kwh == 450.0 and "annual mean of tbl" in mean.source
    assert len(server.seen) == 2


def test_unreachable_provider_is_a_source_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    api = ElectricityMapsApi("t", base_url=f"http://127.0.0.1:{port}/v3", timeout_s=2.0)
    with pytest.raises(SourceError, match="ConnectError"):
        api.read("DE", 0.0)


def test_registry_creates_http_providers(server: Loopback) -> None:
    server.on("/emissions/bylocation", ok(json.dumps([{"time": "t", "rating": 5}]).encode()))
    src = CARBON_SOURCES.create("carbon-aware-sdk", base_url=server.url, signal="average")
    r = src.read("westus", 0.0)
    assert r.g_per_kwh == 5.0 and r.signal == "average"
    assert server.seen[0].query["location"] == "westus"
    with pytest.raises(InputError, match="base_url"):
        CARBON_SOURCES.create("electricitymaps", token="x", base_url="ftp://nope")


def test_source_from_config_reads_secrets_from_the_environment(
    server: Loopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tessera.carbon.sources import source_from_config

    server.on("/v3/carbon-intensity/latest", ok(fixture("electricitymaps_latest.json")))
    monkeypatch.setenv("EMAPS_TOKEN", "from-env")
    cfg = (
        f'{{"kind": "electricitymaps", "token": "env:EMAPS_TOKEN", "base_url": "{server.url}/v3"}}'
    )
    src = source_from_config(cfg)
    assert src.read("DE", 0.0).g_per_kwh == 302.0
    assert server.seen[0].headers["auth-token"] == "from-env"
    monkeypatch.delenv("EMAPS_TOKEN")
    with pytest.raises(InputError, match=r"--source\.token: got 'env:EMAPS_TOKEN'"):
        source_from_config(cfg, "--source")
    with pytest.raises(InputError, match="JSON like") as bad:
        source_from_config('{"kind": "electricitymaps", "token": "inline-secret"', "--source")
    assert "inline-secret" not in str(bad.value)  # malformed text is never echoed
    # a value from the environment that a provider refuses is shown by its env: name only
    monkeypatch.setenv("EM_URL", "not-a-url-but-a-secret")
    with pytest.raises(InputError, match="env:EM_URL") as bad:
        source_from_config('{"kind": "electricitymaps", "token": "t", "base_url": "env:EM_URL"}')
    assert "not-a-url-but-a-secret" not in str(bad.value)
    with pytest.raises(InputError, match="electricitymaps"):
        source_from_config('{"token": "x"}', "--source")
    with pytest.raises(InputError, match="carbon_source"):
        source_from_config('{"kind": "carbon-fairy"}')


def test_platform_footprints_use_a_live_source_off_the_request_path(server: Loopback) -> None:
    from tessera.carbon.footprint import Footprinter
    from tessera.core.resources import Resources

    server.on("/v3/carbon-intensity/latest", ok(fixture("electricitymaps_latest.json")))
    api = ElectricityMapsApi("t", base_url=f"{server.url}/v3")
    f = Footprinter(zone="DE", source=api)
    assert f.wait_ready(10.0)
    fp = f.invocation(Resources(cpu=1.0, mem_mib=256), 0.5, 0.5)
    assert fp.g_per_kwh == 302.0 and not fp.stale
    assert fp.source == "electricitymaps 2024-05-21T12:00:00.000Z"
    assert fp.carbon_g == pytest.approx(fp.energy_j / 3.6e6 * 1.12 * 302.0)
    assert len(server.seen) == 1  # one request for many footprints within refresh_s
    api.close()
