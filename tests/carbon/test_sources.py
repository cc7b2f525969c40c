from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tessera.carbon.grid import CarbonTable
from tessera.carbon.sources import (
    CARBON_SOURCES,
    Cached,
    CarbonSource,
    CsvSource,
    Fallback,
    RateLimited,
    Reading,
    SourceBase,
    SourceError,
    TableSource,
    read_portal_csv,
)
from tessera.core import ports
from tessera.core.data import find
from tessera.core.errors import InputError

HOUR = 3600.0
ES_RAW = "carbon/emaps_ES_2022_hourly_raw.csv"
HEADER = (
    "Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),"
    "Carbon Intensity gCO₂eq/kWh (LCA),Low Carbon Percentage,Renewable Percentage,"
    "Data Source,Data Estimated,Data Estimation Method"
)


def table() -> CarbonTable:
    return CarbonTable(("A", "B"), np.array([[10.0, 100.0], [20.0, 200.0]]), source="t")


class Scripted(SourceBase):
    """Answers from a script: a number, or an exception to raise; counts calls."""

    name = "scripted"

    def __init__(self, *script: float | Exception, stale: bool = False) -> None:
        self.script = list(script)
        self.calls = 0
        self.stale = stale

    def read(self, zone: str, at_s: float) -> Reading:
        self.calls += 1
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        return Reading(zone, step, "marginal", at_s, "scripted", self.stale, "direct")


def test_table_source_reads_the_table_from_its_epoch() -> None:
    src = TableSource(table(), epoch_s=1000.0)
    r = src.read("A", 1000.0 + HOUR)
    assert r == Reading("A", 20.0, "average", 1000.0 + HOUR, "t", False, "lifecycle")
    assert src.intensity("B", 1000.0) == 100.0
    with pytest.raises(InputError, match="zone"):
        src.read("Z", 0.0)


def test_every_source_satisfies_both_protocols() -> None:
    for src in (TableSource(table()), Cached(TableSource(table()), 60), Fallback(Scripted(1.0))):
        assert isinstance(src, CarbonSource)
        assert isinstance(src, ports.CarbonSource)  # the float-only port in core


def test_registry_builds_sources_by_name() -> None:
    assert {"table", "csv", "electricitymaps", "watttime", "carbon-aware-sdk"} <= set(
        CARBON_SOURCES.names()
    )
    src = CARBON_SOURCES.create("table", table=table())
    assert src.read("A", 0.0).g_per_kwh == 10.0


def portal(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    p = tmp_path / "portal.csv"
    p.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return p


def row(when: str, direct: str, lca: str, zone: str = "ES") -> str:
    return f"{when},Spain,Spain,{zone},{direct},{lca},76.35,42.94,entsoe.eu,false,"


def test_csv_source_picks_the_column_and_fills_gaps(tmp_path: Path) -> None:
    p = portal(
        tmp_path,
        [
            row("2022-01-01 00:00:00", "100", "150"),
            row("2022-01-01 01:00:00", "", ""),  # empty cells: filled forward
            row("2022-01-01 03:00:00", "120", "170"),  # 02:00 missing: filled forward
        ],
    )
    lca = CsvSource(p)
    assert [lca.read("ES", h * HOUR).g_per_kwh for h in range(4)] == [150, 150, 150, 170]
    r = lca.read("ES", 0.0)
    assert r.signal == "average" and r.basis == "lifecycle" and "portal.csv" in r.source
    direct = CsvSource(p, column="direct")
    assert direct.read("ES", 3 * HOUR).g_per_kwh == 120.0
    assert direct.read("ES", 0.0).basis == "direct"
    t = read_portal_csv(p)
    assert t.zones == ("ES",) and t.hours == 4
    assert t.start_unix_s == 1640995200.0  # 2022-01-01T00:00Z


def test_csv_source_backfills_a_leading_gap(tmp_path: Path) -> None:
    p = portal(tmp_path, [row("2022-01-01 00:00:00", "", ""), row("2022-01-01 01:00:00", "1", "2")])
    assert CsvSource(p).read("ES", 0.0).g_per_kwh == 2.0


def test_csv_source_accepts_the_newer_portal_header(tmp_path: Path) -> None:
    newer = (
        "Datetime (UTC),Country,Zone name,Zone id,Carbon intensity gCO₂eq/kWh (direct),"
        "Carbon intensity gCO₂eq/kWh (Life cycle),Carbon-free energy percentage (CFE%),"
        "Renewable energy percentage (RE%),Data source,Data estimated,Data estimation method"
    )
    p = portal(tmp_path, [row("2024-01-01 00:00:00", "50", "80", zone="FR")], header=newer)
    assert CsvSource(p).read("FR", 0.0).g_per_kwh == 80.0


def test_csv_source_rejects_other_formats_in_one_line(tmp_path: Path) -> None:
    hourly = tmp_path / "hourly.csv"
    hourly.write_text("datetime_utc,ES,FR\n2022-01-01T00:00:00Z,158.37,50.51\n")
    with pytest.raises(InputError) as e:
        CsvSource(hourly)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("hourly.csv: header: got ['datetime_utc', 'es', 'fr']")
    assert "accepted: an Electricity Maps portal CSV" in msg
    p = portal(tmp_path, [row("2022-01-01 00:00:00", "1", "2")])
    with pytest.raises(InputError, match="column: got 'both'; accepted: 'lca' or 'direct'"):
        CsvSource(p, column="both")  # type: ignore[arg-type]
    p = portal(
        tmp_path, [row("2022-01-01 00:00:00", "1", "2"), row("2022-01-01 01:00:00", "1", "x")]
    )
    with pytest.raises(InputError, match="line 3 carbon intensity: got 'x'"):
        CsvSource(p)
    p = portal(
        tmp_path,
        [row("2022-01-01 00:00:00", "1", "2"), row("2022-01-01 01:00:00", "1", "2", zone="FR")],
    )
    with pytest.raises(InputError, match="Zone Id: got 'FR'; accepted: only 'ES'"):
        CsvSource(p)
    p = portal(
        tmp_path, [row("2022-01-01 01:00:00", "1", "2"), row("2022-01-01 00:00:00", "1", "2")]
    )
    with pytest.raises(InputError, match="hourly rows"):
        CsvSource(p)
    p = portal(tmp_path, [row("yesterday", "1", "2")])
    with pytest.raises(InputError, match="Datetime"):
        CsvSource(p)
    p = portal(tmp_path, [row("2022-01-01 00:00:00", "", "")])
    with pytest.raises(InputError, match="all empty"):
        CsvSource(p)


@pytest.mark.skipif(find(ES_RAW) is None, reason="no $TESSERA_DATA/carbon")
def test_csv_source_reads_the_real_spanish_portal_file() -> None:
    path = find(ES_RAW)
    assert path is not None
    lca, direct = CsvSource(path, "lca"), CsvSource(path, "direct")
    assert lca.table.hours == 8760 and lca.table.zones == ("ES",)
    assert lca.read("ES", 0.0).g_per_kwh == 175.54  # SOURCES.md: 175.5 in the raw file
    assert direct.read("ES", 0.0).g_per_kwh == 133.64
    assert direct.table.annual_mean("ES") < lca.table.annual_mean("ES")  # LCA adds upstream


def test_cached_serves_within_ttl_of_the_callers_time() -> None:
    inner = Scripted(1.0, 2.0, 3.0)
    c = Cached(inner, ttl_s=60.0)
    assert c.read("A", 100.0).g_per_kwh == 1.0
    assert c.read("A", 159.0).g_per_kwh == 1.0  # within ttl: no call
    assert inner.calls == 1
    assert c.read("B", 120.0).g_per_kwh == 2.0  # keyed by zone
    assert c.read("A", 160.0).g_per_kwh == 3.0  # expired
    assert c.read("A", 150.0).g_per_kwh == 3.0  # time went backwards: refetch
    assert inner.calls == 4
    with pytest.raises(InputError, match="ttl_s"):
        Cached(inner, 0.0)


def test_cached_does_not_keep_stale_readings() -> None:
    inner = Scripted(1.0, stale=True)
    c = Cached(inner, ttl_s=60.0)
    c.read("A", 0.0)
    c.read("A", 1.0)
    assert inner.calls == 2


def test_fallback_serves_last_good_then_annual_mean() -> None:
    primary = Scripted(42.0, SourceError("boom"))
    fb = Fallback(primary, table=table(), max_age_s=600.0)
    good = fb.read("A", 1000.0)
    assert good.g_per_kwh == 42.0 and not good.stale
    last = fb.read("A", 1300.0)
    assert last.g_per_kwh == 42.0 and last.stale
    assert last.at_s == 1000.0  # when the value was read
    assert "last good, 300 s old; boom" in last.source
    mean = fb.read("A", 1700.0)  # last good is 700 s old > max_age_s
    assert mean.g_per_kwh == 15.0 and mean.stale and mean.signal == "average"
    assert mean.source.startswith("annual mean of t (fallback; boom)")
    assert fb.read("B", 1700.0).g_per_kwh == 150.0  # never read: annual mean straight away
    with pytest.raises(SourceError):
        fb.read("Z", 0.0)  # no data for that zone anywhere: the error stands


def test_fallback_passes_rate_limits_through_as_fallbacks() -> None:
    fb = Fallback(Scripted(RateLimited("x", 99.0, 60.0)), table=table())
    r = fb.read("A", 0.0)
    assert r.stale and "rate limited" in r.source


def test_fallback_does_not_hide_bad_input() -> None:
    fb = Fallback(TableSource(table()), table=table())
    with pytest.raises(InputError):
        fb.read("Z", 0.0)


def test_fallback_without_a_table_uses_the_default_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESSERA_DATA", str(tmp_path / "absent"))
    r = Fallback(Scripted(SourceError("down"))).read("FR", 0.0)
    assert r.g_per_kwh == pytest.approx(99.4) and r.stale
    assert "synthetic" in r.source
