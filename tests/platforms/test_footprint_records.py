"""Every record of the local platform carries the invocation's CPU time, energy, operational
and embodied carbon (issue 9: accounting everywhere), from a real run of real workers."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tessera.carbon.footprint import Footprinter
from tessera.carbon.grid import CarbonTable
from tessera.carbon.sources import same_hour_of_year
from tessera.platforms.local.store import SCHEMA_VERSION, RecordRow, Store
from tests.platforms.helpers import async_test, deploy, invoke, platform, record_of, write_function

WORK = """
import time


def handle(event, context):
    if event["busy"]:  # until this process has had the CPU that long (a loaded machine
        end = time.process_time() + event["ms"] / 1000  # shares it: wall time would not do)
        while time.process_time() < end:
            pass
    else:
        time.sleep(event["ms"] / 1000)
    return {"ok": True}
"""
FIXED = {"kind": "fixed", "replicas": 1}
CHILD = """
import subprocess
import sys

BUSY = "import time\\nend = time.process_time() + 0.3\\nwhile time.process_time() < end: pass"


def handle(event, context):
    subprocess.run([sys.executable, "-c", BUSY], check=True)
    return {"ok": True}
"""


@async_test(90)
async def test_records_carry_cpu_time_energy_and_both_carbons(tmp_path: Path) -> None:
    table = CarbonTable.load()
    fp = Footprinter(region="europe-west9", table=table)
    fn = write_function(tmp_path, "work", WORK, resources={"cpu": 1, "memory_mib": 512})
    async with platform(tmp_path / "home", autoscaler=FIXED, footprint=fp) as (p, c):
        await deploy(c, fn)
        assert (await invoke(c, "work", {"ms": 1, "busy": False})).status_code == 200  # warm
        busy = await invoke(c, "work", {"ms": 300, "busy": True})
        idle = await invoke(c, "work", {"ms": 300, "busy": False})
        assert busy.status_code == idle.status_code == 200
        b = await record_of(c, busy.headers["x-tessera-invocation"], "work")
        i = await record_of(c, idle.headers["x-tessera-invocation"], "work")
        metrics = (await c.get("/metrics")).text
    # the worker measured its CPU: a busy loop burns its 300 ms, a sleep almost nothing
    assert 0.29 <= b["cpu_s"] <= 0.6
    assert 0.0 <= i["cpu_s"] < 0.1
    # the same allocation for the same time: the busy one drew more energy
    assert b["energy_j"] > 1.5 * i["energy_j"] > 0
    for r in (b, i):
        assert r["region"] == "europe-west9"
        # charged at FR's grid in the hour it ended (the table's same hour of the year)
        assert r["g_per_kwh"] == pytest.approx(table.intensity("FR", same_hour_of_year(r["end_s"])))
        # ... and says where that intensity came from (the hourly table, a live value)
        assert r["g_source"] == table.source  # real hours under $TESSERA_DATA, else synthetic
        assert r["g_at_s"] == pytest.approx(r["end_s"], abs=1e-3)
        # operational = energy x PUE x intensity
        assert r["carbon_g"] == pytest.approx(r["energy_j"] / 3.6e6 * 1.12 * r["g_per_kwh"])
        assert r["embodied_g"] > 0
        # the record's own figures are the footprint of what it says it held and used
        exec_s, cold_s = r["end_s"] - r["start_s"], r["cold_start_s"]
        res = p.platform.pools["work"].spec.resources
        again = fp.invocation(res, exec_s, r["cpu_s"], r["end_s"], cold_s=cold_s)
        assert r["energy_j"] == pytest.approx(again.energy_j)
        assert r["embodied_g"] == pytest.approx(again.embodied_g)
    # /metrics sums them per function
    energy = re.search(r'tessera_energy_joules_total\{function="work"\} (\S+)', metrics)
    op = re.search(
        r'tessera_carbon_grams_total\{function="work",scope="operational"\} (\S+)', metrics
    )
    emb = re.search(
        r'tessera_carbon_grams_total\{function="work",scope="embodied"\} (\S+)', metrics
    )
    assert energy and op and emb
    assert float(energy.group(1)) >= b["energy_j"] + i["energy_j"] - 1e-9


@async_test(60)
async def test_cpu_of_the_children_an_invocation_waited_for_is_its_own(tmp_path: Path) -> None:
    """A handler that runs a subprocess (as `mpi-job` runs its ranks) is charged its CPU."""
    fn = write_function(tmp_path, "kid", CHILD)
    async with platform(tmp_path / "home", autoscaler=FIXED) as (_, c):
        await deploy(c, fn)
        r = await invoke(c, "kid", {})
        assert r.status_code == 200, r.text
        rec = await record_of(c, r.headers["x-tessera-invocation"], "kid")
    assert rec["cpu_s"] >= 0.29


@async_test(60)
async def test_an_allocation_beyond_the_server_model_is_recorded_as_unknown(
    tmp_path: Path,
) -> None:
    """The server model has 80 cores: a function asking for 96 still runs and is recorded,
    its footprint unknown (None), not a failed invocation."""
    fn = write_function(tmp_path, "big", WORK, resources={"cpu": 96, "memory_mib": 256})
    fp = Footprinter(region="europe-west9")
    async with platform(tmp_path / "home", autoscaler=FIXED, footprint=fp) as (_, c):
        await deploy(c, fn)
        for _ in range(2):
            r = await invoke(c, "big", {"ms": 1, "busy": False})
            assert r.status_code == 200, r.text
        rec = await record_of(c, r.headers["x-tessera-invocation"], "big")
    assert rec["status"] == "ok"
    assert (rec["energy_j"], rec["carbon_g"], rec["embodied_g"]) == (None, None, None)
    assert rec["region"] == "europe-west9" and rec["cpu_s"] is not None


@async_test(60)
async def test_without_a_region_operational_carbon_is_null(tmp_path: Path) -> None:
    fn = write_function(tmp_path, "work", WORK)
    async with platform(tmp_path / "home", autoscaler=FIXED) as (_, c):
        await deploy(c, fn)
        r = await invoke(c, "work", {"ms": 5, "busy": True})
        rec = await record_of(c, r.headers["x-tessera-invocation"], "work")
        metrics = (await c.get("/metrics")).text
    assert rec["carbon_g"] is None and rec["g_per_kwh"] is None and rec["region"] == ""
    assert rec["energy_j"] > 0 and rec["embodied_g"] > 0 and rec["cpu_s"] is not None
    assert 'scope="embodied"' in metrics and 'scope="operational"' not in metrics


V2_RECORDS = """
CREATE TABLE records (
    id TEXT PRIMARY KEY, function TEXT NOT NULL, version INTEGER NOT NULL, kind TEXT NOT NULL,
    arrival_s REAL NOT NULL, start_s REAL NOT NULL, end_s REAL NOT NULL,
    cold INTEGER NOT NULL, cold_start_s REAL NOT NULL, instance INTEGER NOT NULL,
    status TEXT NOT NULL, http_status INTEGER NOT NULL, error TEXT NOT NULL, node TEXT NOT NULL
)
"""


def test_a_v2_state_file_keeps_its_records_and_gains_the_columns(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    conn = sqlite3.connect(db)
    conn.execute(V2_RECORDS)
    conn.execute(
        "INSERT INTO records VALUES ('old', 'f', 1, 'sync', 1.0, 1.5, 2.0, 0, 0.0, 42, 'ok', "
        "200, '', 'local')"
    )
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    store = Store(db)
    try:
        (old,) = store.records("f")
        assert (old.id, old.end_s, old.instance, old.http_status) == ("old", 2.0, 42, 200)
        # what a v2 platform did not know stays unknown (None), not invented
        assert (old.cpu_s, old.region, old.energy_j, old.carbon_g, old.embodied_g) == (
            None, "", None, None, None,
        )  # fmt: skip
        assert (old.g_source, old.g_at_s) == (None, None)
        new = RecordRow(
            "new", "f", 1, "sync", 3.0, 3.1, 3.2, False, 0.0, 7, "ok", 200,
            cpu_s=0.05, region="europe-west9", energy_j=1.5, carbon_g=0.001, embodied_g=2e-5,
            g_per_kwh=80.0, g_source="table (stale)", g_at_s=3.0,
        )  # fmt: skip
        store.add_records([new])
        assert store.records("f")[0] == new
    finally:
        store.close()
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5


def test_a_v3_state_file_is_rebuilt_so_unknown_footprints_can_be_stored(tmp_path: Path) -> None:
    """Schema 3 (never released) declared the footprint NOT NULL DEFAULT 0: an unknown one
    was silently dropped by INSERT OR IGNORE. Opening such a file rebuilds its records."""
    db = tmp_path / "state.db"
    conn = sqlite3.connect(db)
    conn.execute(V2_RECORDS)
    for decl in (
        "cpu_s REAL", "region TEXT NOT NULL DEFAULT ''", "energy_j REAL NOT NULL DEFAULT 0",
        "carbon_g REAL", "embodied_g REAL NOT NULL DEFAULT 0", "g_per_kwh REAL",
    ):  # fmt: skip
        conn.execute(f"ALTER TABLE records ADD COLUMN {decl}")
    conn.execute("CREATE INDEX records_by_arrival ON records (arrival_s)")
    row = "'{}', 'f', 1, 'sync', {t}, {t}, {t}, 0, 0.0, 7, 'ok', 200, '', 'local'"
    conn.execute(
        f"INSERT INTO records VALUES ({row.format('migrated', t=1.0)}, NULL, '', 0, NULL, 0, NULL)"
    )
    conn.execute(
        f"INSERT INTO records VALUES ({row.format('measured', t=2.0)}, 0.1, 'europe-west9', "
        "2.5, 0.0001, 0.00002, 80.0)"
    )
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    store = Store(db)
    try:
        got = {r.id: r for r in store.records("f")}
        assert (got["migrated"].energy_j, got["migrated"].embodied_g) == (None, None)
        assert (got["measured"].energy_j, got["measured"].embodied_g) == (2.5, 0.00002)
        assert got["measured"].g_per_kwh == 80.0 and got["measured"].cpu_s == 0.1
        unknown = RecordRow("new", "f", 1, "sync", 3.0, 3.0, 3.1, False, 0.0, 7, "ok", 200)
        store.add_records([unknown])
        assert store.count_records("f") == 3
        assert store.records("f")[0] == unknown
    finally:
        store.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "records_v3" not in names and {"records_by_arrival", "records_by_function"} <= names


def test_up_refuses_an_unknown_region_in_one_line(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "tessera.cli.main", "up", "--home", str(tmp_path / "h")]
    p = subprocess.run(
        [*cmd, "--port", "0", "--region", "mars-north1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2 and p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and "region" in lines[0] and "europe-west9" in lines[0]
    assert not (tmp_path / "h").exists()  # refused before anything started
