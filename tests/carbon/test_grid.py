from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tessera.carbon.grid import (
    HOURS_PER_YEAR,
    REGIONS,
    START_2022_UNIX_S,
    TABLE_FILE,
    ZONE_PROFILES,
    CarbonTable,
    Latency,
    fix_zone,
)
from tessera.core.data import find
from tessera.core.errors import InputError

HOUR = 3600.0
needs_data = pytest.mark.skipif(find(TABLE_FILE) is None, reason="no $TESSERA_DATA/carbon")


@pytest.fixture
def no_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_DATA", str(tmp_path / "absent"))


@pytest.fixture(scope="module")
def real() -> CarbonTable:
    path = find(TABLE_FILE)
    if path is None:
        pytest.skip("no $TESSERA_DATA/carbon")
    return CarbonTable.from_csv(path)


@pytest.fixture(scope="module")
def synthetic() -> CarbonTable:
    return CarbonTable.default()


def small() -> CarbonTable:
    return CarbonTable(("A", "B"), np.array([[10.0, 1.0], [20.0, 2.0], [30.0, 3.0]]))


def test_intensity_is_hourly_and_wraps_around_the_table() -> None:
    t = small()
    assert t.intensity("A", 0.0) == 10.0
    assert t.intensity("A", HOUR - 1e-6) == 10.0
    assert t.intensity("B", 2 * HOUR) == 3.0
    assert t.intensity("A", 3 * HOUR) == 10.0  # wraps (a year for the real table)
    assert t.intensity("A", -1.0) == 30.0
    assert list(t.row(HOUR)) == [20.0, 2.0]
    assert t.annual_mean("A") == pytest.approx(20.0)


def test_bad_zone_and_table_name_what_is_accepted() -> None:
    with pytest.raises(InputError, match="zone: got 'C'; accepted: A, B"):
        small().intensity("C", 0.0)
    with pytest.raises(InputError, match=r"carbon_table.values"):
        CarbonTable(("A",), np.array([[-1.0]]))
    with pytest.raises(InputError, match=r"carbon_table.shape"):
        CarbonTable(("A", "B"), np.array([[1.0]]))
    with pytest.raises(InputError, match="t_s"):
        small().intensity("A", float("nan"))


def test_table_is_read_only() -> None:
    with pytest.raises(ValueError):
        small().gco2_per_kwh[0, 0] = 0.0


@needs_data
def test_real_table_shape_start_and_first_value(real: CarbonTable) -> None:
    assert real.gco2_per_kwh.shape == (HOURS_PER_YEAR, 32)
    assert real.start_unix_s == START_2022_UNIX_S
    assert real.intensity("ES", 0.0) == 158.37  # SOURCES.md: ES at 2022-01-01T00Z is 158.4
    assert not real.synthetic and "ODbL" in real.source
    assert real.intensity("FR", 365 * 24 * HOUR + 5.0) == real.intensity("FR", 5.0)


@needs_data
def test_hard_coded_profiles_match_the_data(real: CarbonTable) -> None:
    assert real.zones == tuple(ZONE_PROFILES)
    for zone, (mean, _, _) in ZONE_PROFILES.items():
        assert real.annual_mean(zone) == pytest.approx(mean, abs=0.06)


@needs_data
def test_known_fact_france_greenest_in_92_percent_of_hours(real: CarbonTable) -> None:
    cols = [real.column(z) for z in ("ES", "FR", "BE", "NL")]
    share = np.mean(real.gco2_per_kwh[:, cols].argmin(axis=1) == 1)
    assert share == pytest.approx(0.92, abs=0.005)


def test_default_is_synthetic_deterministic_and_keeps_annual_means(
    synthetic: CarbonTable,
) -> None:
    assert synthetic.synthetic and synthetic.source.startswith("synthetic")
    assert synthetic.gco2_per_kwh.shape == (HOURS_PER_YEAR, 32)
    assert synthetic.start_unix_s == START_2022_UNIX_S
    for zone, (mean, _, _) in ZONE_PROFILES.items():
        assert synthetic.annual_mean(zone) == pytest.approx(mean, rel=1e-9)
    assert np.all(synthetic.gco2_per_kwh > 0)
    again = CarbonTable.default()
    assert np.array_equal(again.gco2_per_kwh, synthetic.gco2_per_kwh)
    other = CarbonTable.default(seed=7)
    assert not np.array_equal(other.gco2_per_kwh, synthetic.gco2_per_kwh)


def test_default_has_the_documented_daily_shape(synthetic: CarbonTable) -> None:
    for zone in ("ES", "US-CAL-CISO", "AU-NSW"):
        _, h_min, _ = ZONE_PROFILES[zone]
        by_hour = synthetic.series(zone).reshape(-1, 24).mean(axis=0)
        dist = abs(int(by_hour.argmin()) - h_min)
        assert min(dist, 24 - dist) <= 1.0  # solar grids are cleanest near local noon


def test_load_without_data_says_synthetic(no_data: None) -> None:
    assert find(TABLE_FILE) is None
    t = CarbonTable.load()
    assert t.synthetic and "synthetic" in t.source


def test_bad_csv_names_field_value_and_accepted(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("time,ES\n2022-01-01T00:00:00Z,1\n")
    with pytest.raises(InputError, match=r"t.csv: header.*datetime_utc"):
        CarbonTable.from_csv(p)
    p.write_text("datetime_utc,ES\n2022-01-01T00:00:00Z,x\n")
    with pytest.raises(InputError, match="line 2"):
        CarbonTable.from_csv(p)
    p.write_text("datetime_utc,ES\n2022-01-01T00:00:00Z,1\n2022-01-01T05:00:00Z,2\n")
    with pytest.raises(InputError, match="consecutive hours"):
        CarbonTable.from_csv(p)
    p.write_text("datetime_utc,ES\n2022-01-01T00:00:00Z,1\n2022-01-01T01:00:00Z,2\n")
    assert CarbonTable.from_csv(p).intensity("ES", HOUR) == 2.0


def test_fix_zone() -> None:
    assert fix_zone("AUS-NSW") == "AU-NSW"
    assert fix_zone("US-CAL-CISO") == "US-CAL-CISO"


def test_default_latency_model() -> None:
    lat = Latency.default()
    assert lat.synthetic and lat.source.startswith("synthetic")
    assert lat.rtt_ms("europe-west1", "europe-west1") == 0.0
    # St Ghislain (50.45N, 3.82E) - Paris (48.86N, 2.35E): ~206 km great circle,
    # so 2 ms + 206 / 60 = ~5.4 ms (measured: 4 ms).
    assert lat.rtt_ms("europe-west1", "europe-west9") == pytest.approx(5.43, abs=0.05)
    assert lat.rtt_ms("us-west1", "europe-west9") == lat.rtt_ms("europe-west9", "us-west1")
    assert lat.zone_of("australia-southeast1") == "AU-NSW"
    assert lat.zone_of("europe-west9") == "FR"
    with pytest.raises(InputError, match="region: got 'mars-1'"):
        lat.rtt_ms("mars-1", "europe-west1")
    with pytest.raises(InputError, match="region: got 'mars-1'"):
        lat.zone_of("mars-1")


def test_latency_symmetric_fallback_and_model_for_missing_pairs(tmp_path: Path) -> None:
    csv = tmp_path / "lat.csv"
    csv.write_text("sending_region,receiving_region,milliseconds\neurope-west1,europe-west9,4\n")
    zones = tmp_path / "zones.json"
    zones.write_text('{"europe-west1": "BE", "australia-southeast1": "AUS-NSW"}')
    lat = Latency.from_files(csv, zones)
    assert lat.rtt_ms("europe-west1", "europe-west9") == 4.0
    assert lat.rtt_ms("europe-west9", "europe-west1") == 4.0  # reverse direction
    assert lat.rtt_ms("europe-west1", "europe-west4") > 0  # not measured: distance model
    assert lat.zone_of("australia-southeast1") == "AU-NSW"  # AUS-* fixed
    assert lat.regions == ("australia-southeast1", "europe-west1")
    csv.write_text("from,to,ms\na,b,1\n")
    with pytest.raises(InputError, match=r"lat.csv: header"):
        Latency.from_files(csv, None)
    csv.write_text("sending_region,receiving_region,milliseconds\na,b,-3\n")
    with pytest.raises(InputError, match="milliseconds"):
        Latency.from_files(csv, None)


def test_latency_load_without_data_is_the_default(no_data: None) -> None:
    lat = Latency.load()
    assert lat.synthetic
    assert set(lat.regions) == set(REGIONS)


@needs_data
def test_real_latency_and_the_model_against_it() -> None:
    lat = Latency.load()
    assert not lat.synthetic
    assert lat.rtt_ms("europe-west1", "europe-west9") == 4.0
    assert lat.zone_of("australia-southeast2") == "AU-VIC"
    assert set(lat.regions) == set(REGIONS)
    assert all(lat.zone_of(r) == z for r, (z, _, _) in REGIONS.items())
    model = Latency.default()
    errors = [abs(model.rtt_ms(a, b) - ms) / ms for (a, b), ms in lat.measured_ms.items() if ms > 0]
    assert len(errors) == 1122
    assert float(np.mean(errors)) < 0.2  # documented: ~18% MAPE
