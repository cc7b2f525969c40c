"""Footprints of real invocations (tessera.carbon.footprint): the accounting, the grid reading
where the platform runs, and a remote source that must never block the caller."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from tessera.carbon.accounting import DEFAULT_SERVER, Usage, account, power_w
from tessera.carbon.footprint import MAX_AGE_S, Footprinter, LiveReadings
from tessera.carbon.grid import START_2022_UNIX_S, CarbonTable
from tessera.carbon.sources import Reading, SourceError, TableSource, same_hour_of_year
from tessera.core.errors import InputError
from tessera.core.resources import GpuShare, Resources
from tests.carbon.test_accounting import SIMPLE as ACCOUNTING_SIMPLE

# Two zones, a year of hours: FR 100/200/300/400 g/kWh in turn (mean 250), DE 500 always.
TABLE = CarbonTable(
    ("FR", "DE"),
    np.column_stack([np.tile([100.0, 200.0, 300.0, 400.0], 2190), np.full(8760, 500.0)]),
    source="test table",
)
# The hand-computable server of the accounting tests, without its chassis part.
SIMPLE = replace(ACCOUNTING_SIMPLE, parts=ACCOUNTING_SIMPLE.parts[:2])
HOUR = 3600.0


def test_invocation_is_the_accounting_of_what_it_held() -> None:
    f = Footprinter(zone="FR", server=SIMPLE, table=TABLE)
    # hour 2 of the table (2022-01-01 02:30 UTC): FR at 300 g/kWh
    fp = f.invocation(
        Resources(cpu=2.0, mem_mib=4096), 3600.0, 3600.0, START_2022_UNIX_S + 2.5 * HOUR
    )
    # util = 3600 CPU-s / (3600 s x 2 cores) = 0.5 -> curve 0.6; CPU 100 W x 0.2 x 0.6 = 12 W,
    # memory 0.5 W/GiB x 4 GiB = 2 W: 14 W x 3600 s = 50,400 J
    assert fp.cpu_util == pytest.approx(0.5)
    assert fp.energy_j == pytest.approx(50_400.0)
    # 0.014 kWh x PUE 1.5 x 300 g/kWh = 6.3 g
    assert fp.carbon_g == pytest.approx(6.3)
    assert fp.g_per_kwh == 300.0
    # cpu 60,000 g x 0.2 x 3600 / (60 x 2,629,800) + dram 30,000 x 0.04 x 3600 / (60 x ...)
    assert fp.embodied_g == pytest.approx(0.2737851 + 0.0273785, rel=1e-6)
    assert (fp.region, fp.source, fp.stale) == ("FR", "test table", False)


def test_intensity_follows_the_hour_and_the_pue_can_be_the_regions() -> None:
    f = Footprinter(zone="FR", server=SIMPLE, table=TABLE, pue=1.0)
    r = Resources(cpu=1.0, mem_mib=0)
    at = [START_2022_UNIX_S + (h + 0.5) * HOUR for h in range(4)]
    got = [f.invocation(r, 10.0, 10.0, t) for t in at]
    assert [g.g_per_kwh for g in got] == [100.0, 200.0, 300.0, 400.0]
    # the same energy each time, operational carbon in proportion to the intensity
    assert len({round(g.energy_j, 9) for g in got}) == 1
    ratios = [g.carbon_g / got[0].carbon_g for g in got]  # type: ignore[operator]
    assert ratios == pytest.approx([1.0, 2.0, 3.0, 4.0])


def test_cpu_time_sets_the_load_and_missing_cpu_time_means_busy() -> None:
    f = Footprinter(zone="DE", server=SIMPLE, table=TABLE)
    r = Resources(cpu=1.0, mem_mib=0)
    idle = f.invocation(r, 1.0, 0.0, START_2022_UNIX_S)
    busy = f.invocation(r, 1.0, 1.0, START_2022_UNIX_S)
    unknown = f.invocation(r, 1.0, None, START_2022_UNIX_S)
    over = f.invocation(r, 1.0, 5.0, START_2022_UNIX_S)  # threads beyond the allocation
    assert (idle.cpu_util, busy.cpu_util, unknown.cpu_util, over.cpu_util) == (0.0, 1.0, 1.0, 1.0)
    # idle draws the curve's 20%: 100 W x 0.1 x 0.2 = 2 W; busy 10 W
    assert idle.energy_j == pytest.approx(2.0)
    assert busy.energy_j == pytest.approx(10.0) == unknown.energy_j
    # nothing held, nothing charged
    none = f.invocation(r, 0.0, None, START_2022_UNIX_S)
    assert (none.energy_j, none.embodied_g, none.carbon_g) == (0.0, 0.0, 0.0)


def test_without_a_region_operational_carbon_is_unknown_not_zero() -> None:
    f = Footprinter(server=SIMPLE, table=TABLE)
    fp = f.invocation(Resources(cpu=1.0, mem_mib=1024), 2.0, 1.0)
    assert fp.carbon_g is None and fp.g_per_kwh is None
    assert fp.energy_j > 0 and fp.embodied_g > 0
    assert (fp.region, fp.source) == ("", "no region set")
    assert f.reading() is None


def test_a_gpu_share_is_charged_on_a_server_with_a_gpu() -> None:
    f = Footprinter(zone="FR", table=TABLE)
    cpu_only = f.invocation(Resources(cpu=1.0, mem_mib=1024), 1.0, 1.0, START_2022_UNIX_S)
    share = GpuShare(sm_pct=50.0, quota_pct=50.0, mem_mib=1024)
    gpu = f.invocation(Resources(cpu=1.0, mem_mib=1024, gpu=share), 1.0, 1.0, START_2022_UNIX_S)
    # a quarter of a 700 W board for one second, over the PSU and regulator losses, and the
    # platform's power by the GPU share (now the dominant one) instead of the CPU's
    board = 175.0 * 1.05 / 0.95
    server = DEFAULT_SERVER.with_gpus(1)
    expected = power_w(Usage(1.0, 1.0, 1.0, 1.0, share), server) - power_w(
        Usage(1.0, 1.0, 1.0, 1.0), DEFAULT_SERVER
    )
    assert gpu.energy_j - cpu_only.energy_j == pytest.approx(expected)
    assert expected > board
    assert gpu.embodied_g > cpu_only.embodied_g


def test_regions_map_to_zones_and_bad_places_are_refused() -> None:
    assert Footprinter(region="europe-west9", table=TABLE).zone == "FR"
    with pytest.raises(InputError, match="region") as e:
        Footprinter(region="mars-north1", table=TABLE)
    assert "europe-west9" in str(e.value)
    with pytest.raises(InputError, match="zone") as e:
        Footprinter(zone="XX", table=TABLE)
    assert "FR, DE" in str(e.value)
    with pytest.raises(InputError, match="zone"):
        Footprinter(region="europe-west9", zone="FR", table=TABLE)
    with pytest.raises(InputError, match="pue"):
        Footprinter(zone="FR", table=TABLE, pue=0.9)


class SlowSource:
    """A remote source that answers after `release` is set, fails when told to, or raises
    something no provider should (an `InputError` for a zone it does not know)."""

    name = "slow"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0
        self.fail: Exception | None = None

    def read(self, zone: str, at_s: float) -> Reading:
        self.calls += 1
        if not self.release.wait(5.0):
            raise SourceError("no answer")
        if self.fail is not None:
            raise self.fail
        return Reading(zone, 42.0, "marginal", at_s, "slow provider")


def _until(cond: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    t_end = time.monotonic() + timeout_s
    while time.monotonic() < t_end:
        if cond():
            return True
        time.sleep(0.005)
    return cond()


def test_a_remote_source_never_blocks_and_the_annual_mean_stands_in() -> None:
    src = SlowSource()
    t0 = time.monotonic()
    f = Footprinter(zone="FR", source=src, table=TABLE, refresh_s=60.0)  # asks at once
    first = f.reading()
    assert time.monotonic() - t0 < 0.5  # answered while the provider still thinks
    assert first is not None and first.stale
    assert first.g_per_kwh == pytest.approx(250.0)  # FR's mean over the table
    assert "slow: no answer yet" in first.source
    assert time.time() - first.at_s >= MAX_AGE_S - 1  # dated as old as a reading may be
    # a charge says which reading it used, so a record can tell a fallback from a live value
    *_, g, used = f.charger(Resources(cpu=1.0, mem_mib=512))(1.0, 0.5, 0.0, time.time())
    assert used is not None and used.stale and g == used.g_per_kwh
    assert "slow: no answer yet" in used.source
    src.release.set()
    assert f.wait_ready(5.0)
    now = time.time()
    r = f.reading(now)
    assert r is not None and (r.g_per_kwh, r.stale) == (42.0, False)
    assert src.calls == 1  # within refresh_s: no second request
    # past refresh_s: asked again; when that fails, the last good value stays, marked stale,
    # and says so once (however often it is read)
    src.fail = SourceError("503 from the provider", status=503)
    f.reading(now + 61.0)
    assert _until(lambda: f.reading(now + 62.0).stale)  # type: ignore[union-attr]
    late, again = f.reading(now + 63.0), f.reading(now + 64.0)
    assert src.calls == 2
    assert late is not None and late.stale and late.g_per_kwh == 42.0
    assert late.source == "slow provider (last good)" == again.source  # type: ignore[union-attr]
    # older than MAX_AGE_S: the annual mean again
    old = f.reading(now + MAX_AGE_S + 1.0)
    assert old is not None and old.stale and old.g_per_kwh == pytest.approx(250.0)
    assert "last answer" in old.source


def test_any_error_of_a_source_leaves_the_readings_working() -> None:
    """A provider raising something unexpected (InputError, a bug) must not stop the refresh:
    the next ask happens, and answers again once the source does."""
    src = SlowSource()
    src.release.set()
    src.fail = InputError("zone", "FR", "a zone the provider knows")
    live = LiveReadings(src, refresh_s=10.0, table=TABLE)
    assert not live.wait(["FR"], 5.0)
    assert live.read("FR", time.time()).stale
    src.fail = None
    now = time.time()
    live.read("FR", now + 11.0)  # due again: asked again, not stuck
    assert _until(lambda: live.answered("FR"))
    assert src.calls == 2 and live.read("FR", now + 12.0).g_per_kwh == 42.0


def test_cold_start_is_the_slot_busy_and_extra_cores_are_charged() -> None:
    f = Footprinter(zone="DE", server=SIMPLE, table=TABLE, pue=1.0)
    r = Resources(cpu=2.0, mem_mib=0)
    warm = f.invocation(r, 1.0, 0.0, START_2022_UNIX_S, share=0.5)
    cold = f.invocation(r, 1.0, 0.0, START_2022_UNIX_S, share=0.5, cold_s=3.0)
    # the cold start: its slot (one of the two cores) busy for 3 s: 100 W x (1/10) x 1.0 =
    # 10 W x 3 s = 30 J; the other request the new instance takes pays the other half
    assert cold.energy_j - warm.energy_j == pytest.approx(30.0)
    # an MPI job declaring 1 core that kept 4 busy for 2 s: charged as 4 busy cores
    job = f.invocation(Resources(cpu=1.0, mem_mib=0), 2.0, 8.0, START_2022_UNIX_S)
    assert job.energy_j == pytest.approx(100.0 * 4 / 10 * 2.0)
    # never more than the server has
    huge = f.invocation(Resources(cpu=1.0, mem_mib=0), 1.0, 500.0, START_2022_UNIX_S)
    assert huge.energy_j == pytest.approx(100.0)
    # an allocation the server cannot hold is refused (the platform records it as unknown)
    with pytest.raises(InputError, match="cpu_cores"):
        f.invocation(Resources(cpu=96.0, mem_mib=0), 1.0, None, START_2022_UNIX_S)


def test_a_zone_the_table_lacks_fails_at_start_not_at_every_invocation() -> None:
    with pytest.raises(InputError, match="zone"):
        Footprinter(zone="FR", table=CarbonTable(("DE",), np.full((8760, 1), 500.0)))
    with pytest.raises(InputError, match="calendar"):
        TableSource(CarbonTable(("FR",), np.array([[1.0]])), calendar=True)


def test_the_table_is_read_at_the_same_day_of_the_year_and_hour() -> None:
    def unix(*ymdh: int) -> float:
        return datetime(*ymdh, tzinfo=UTC).timestamp()

    assert same_hour_of_year(unix(2022, 1, 1, 0)) == 0.0
    assert same_hour_of_year(unix(2026, 11, 29, 13)) == same_hour_of_year(unix(2022, 11, 29, 13))
    assert same_hour_of_year(unix(2024, 2, 29, 5)) == same_hour_of_year(unix(2022, 2, 28, 5))
    assert same_hour_of_year(unix(2024, 3, 1, 0)) == same_hour_of_year(unix(2022, 3, 1, 0))
    assert same_hour_of_year(unix(2024, 12, 31, 23)) == same_hour_of_year(unix(2022, 12, 31, 23))
    src = TableSource(TABLE, calendar=True)
    assert src.read("FR", unix(2030, 1, 1, 3)).g_per_kwh == 400.0  # row 3


def test_account_is_the_one_formula() -> None:
    """The footprint is `account()` of the usage it describes, nothing else."""
    f = Footprinter(zone="DE", server=SIMPLE, table=TABLE)
    fp = f.invocation(Resources(cpu=3.0, mem_mib=2048), 0.25, 0.3, START_2022_UNIX_S)
    rec = account(Usage(0.25, 3.0, 0.4, 2.0), 500.0, SIMPLE)
    assert (fp.energy_j, fp.carbon_g, fp.embodied_g) == pytest.approx(
        (rec.energy_j, rec.operational_g, rec.embodied_g)
    )


def test_a_concurrency_slot_is_charged_its_share_of_the_instance() -> None:
    f = Footprinter(zone="DE", server=SIMPLE, table=TABLE)
    slot = f.invocation(Resources(cpu=4.0, mem_mib=4096), 2.0, 1.0, START_2022_UNIX_S, 0.25)
    alone = f.invocation(Resources(cpu=1.0, mem_mib=1024), 2.0, 1.0, START_2022_UNIX_S)
    assert slot.cpu_util == alone.cpu_util == pytest.approx(0.5)  # 1 CPU-s over 2 s of 1 core
    assert (slot.energy_j, slot.carbon_g, slot.embodied_g) == pytest.approx(
        (alone.energy_j, alone.carbon_g, alone.embodied_g)
    )
    with pytest.raises(InputError, match="share"):
        f.invocation(Resources(), 1.0, None, START_2022_UNIX_S, 0.0)
