from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tessera.carbon.accounting import (
    DEFAULT_SERVER,
    GREENSKU_DIR,
    SECONDS_PER_MONTH,
    SPEC_DERATES,
    CarbonRecord,
    LoadCurve,
    Part,
    ServerModel,
    Usage,
    account,
    combine,
    embodied_g,
    load_greensku,
    power_w,
    shares,
)
from tessera.core.data import find
from tessera.core.errors import InputError
from tessera.core.resources import GpuShare, Resources

needs_data = pytest.mark.skipif(find(GREENSKU_DIR) is None, reason="no $TESSERA_DATA/carbon")

# A server simple enough to account for by hand: no platform, fans or PSU losses.
SIMPLE = ServerModel(
    cores=10,
    cpu_tdp_w=100.0,
    cpu_curve=LoadCurve(points=(), idle_fraction=0.2, exponent=1.0),
    mem_gib=100.0,
    mem_w_per_gib=0.5,
    platform_w=0.0,
    fan_w=0.0,
    vr_overhead=1.0,
    psu_efficiency=1.0,
    pue=1.5,
    parts=(
        Part("cpu", 60.0, 60.0, "cpu"),
        Part("dram", 30.0, 60.0, "mem"),
        Part("box", 120.0, 120.0),
    ),
)


def test_seconds_per_month() -> None:
    assert SECONDS_PER_MONTH == 2_629_800.0  # 365.25 d x 86,400 s / 12


def test_load_curves() -> None:
    spec = LoadCurve()
    assert spec.points == SPEC_DERATES
    assert spec.fraction(0.5) == pytest.approx(0.53)
    assert spec.fraction(0.55) == pytest.approx(0.575)  # halfway 0.53 .. 0.62
    assert spec.fraction(1.0) == pytest.approx(0.95)
    # below 10%: the 10%..20% slope (0.8 per unit) extended: 0.2 - 0.8 x 0.1 = 0.12
    assert spec.fraction(0.0) == pytest.approx(0.12)
    assert spec.fraction(0.05) == pytest.approx(0.16)
    power = LoadCurve(points=(), idle_fraction=0.2, exponent=2.0)
    assert power.fraction(0.5) == pytest.approx(0.4)  # 0.2 + 0.8 x 0.5^2
    assert power.fraction(1.0) == 1.0
    with pytest.raises(InputError, match="utilisation"):
        spec.fraction(1.5)
    with pytest.raises(InputError, match=r"load_curve.points"):
        LoadCurve(points=((0.5, 0.5), (0.2, 0.3)))


def test_golden_simple_server() -> None:
    usage = Usage(duration_s=3600.0, cpu_cores=2.0, cpu_util=0.5, mem_gib=4.0, units=10.0)
    rec = account(usage, g_per_kwh=300.0, server=SIMPLE)
    # curve(0.5) = 0.2 + 0.8 x 0.5 = 0.6
    # CPU: 100 W x (2 / 10 cores) x 0.6 = 12 W; memory: 0.5 W/GiB x 4 GiB = 2 W
    assert rec.power_w == pytest.approx(14.0)
    # E = 14 W x 3600 s / 3.6e6 J/kWh = 0.014 kWh
    assert rec.energy_kwh == pytest.approx(0.014)
    assert rec.energy_j == pytest.approx(50_400.0)
    # O = 0.014 kWh x PUE 1.5 x 300 g/kWh = 6.3 g
    assert rec.operational_g == pytest.approx(6.3)
    # shares: cpu 2/10 = 0.2, mem 4/100 = 0.04, dominant 0.2
    # cpu:  60,000 g x 0.2  x 3600 s / (60 months x 2,629,800 s) = 0.2737851 g
    # dram: 30,000 g x 0.04 x 3600 s / (60 x 2,629,800 s)        = 0.0273785 g
    # box: 120,000 g x 0.2  x 3600 s / (120 x 2,629,800 s)       = 0.2737851 g
    assert rec.embodied_g == pytest.approx(0.5749487, rel=1e-6)
    # SCI = (6.3 + 0.5749487) g / 10 units
    assert rec.sci_g_per_unit == pytest.approx(0.68749487, rel=1e-6)
    assert rec.total_g == pytest.approx(6.8749487, rel=1e-6)
    assert (rec.pue, rec.g_per_kwh, rec.units, rec.duration_s) == (1.5, 300.0, 10.0, 3600.0)


def test_golden_default_greensku_server() -> None:
    usage = Usage(duration_s=3600.0, cpu_cores=8.0, cpu_util=0.5, mem_gib=32.0)
    rec = account(usage, g_per_kwh=200.0)
    # curve(0.5) = 0.53 (SPEC derate); shares: cpu 8/80 = 0.1, mem 32/768, dominant 0.1
    # CPU 290 W x 0.1 x 0.53 = 15.37 W; memory 23.68/64 = 0.37 W/GiB x 32 = 11.84 W
    # platform (35 + 2 x 11.2 + 19 + 500/10 = 126.4 W, + fan 75 W x 0.53) x 0.1 = 16.615 W
    # (15.37 + 11.84 + 16.615) x 1.05 VR / 0.95 PSU = 48.438158 W
    assert rec.power_w == pytest.approx(48.438158, rel=1e-6)
    # O = 0.048438158 kWh x 1.12 x 200 = 10.850147 g
    assert rec.operational_g == pytest.approx(10.850147, rel=1e-6)
    # M per hour, 72 months = 189,345,600 s, 180 = 473,364,000 s, 240 = 631,152,000 s:
    #  cpu 30.7 kg x 0.1 -> 0.0583695; dram 1264.8 kg x 32/768 -> 1.0019773;
    #  ssd+nic+chassis 478.4498 kg x 0.1 -> 0.9096696; rack 50 kg x 0.1 / 180 mo -> 0.0380257;
    #  building 360 kg x 0.1 / 240 mo -> 0.2053388; sum 2.2133809 g
    assert rec.embodied_g == pytest.approx(2.2133809, rel=1e-6)
    assert rec.pue == 1.12


def test_golden_gpu_share() -> None:
    server = replace(SIMPLE, parts=()).with_gpus(2, board_w=700.0, embodied_kg_each=150.0)
    usage = Usage(duration_s=3600.0, cpu_cores=0.0, gpu=GpuShare(sm_pct=50.0, quota_pct=50.0))
    # GPU share 0.5 x 0.5 = 0.25 of one board: 0.25 x 700 W = 175 W; CPU 0 cores -> 0 W
    assert power_w(usage, server) == pytest.approx(175.0)
    # embodied: 2 x 150 kg = 300,000 g, share 0.25 / 2 GPUs = 0.125, over 72 months (default)
    # 300,000 x 0.125 x 3600 / 189,345,600 = 135,000,000 / 189,345,600 = 0.7129820 g
    assert embodied_g(usage, server) == pytest.approx(0.7129820, rel=1e-6)
    assert shares(usage, server)["server"] == 0.125
    with pytest.raises(InputError, match=r"usage.gpu"):
        shares(usage, SIMPLE)


def test_zero_duration_costs_nothing_and_units_divide() -> None:
    rec = account(Usage(0.0), 500.0)
    assert rec.energy_kwh == rec.operational_g == rec.embodied_g == 0.0
    one = account(Usage(60.0, units=1.0), 500.0)
    many = account(Usage(60.0, units=4.0), 500.0)
    assert many.sci_g_per_unit == pytest.approx(one.sci_g_per_unit / 4)


def test_operational_scales_with_intensity_and_pue_but_embodied_does_not() -> None:
    u = Usage(600.0, cpu_cores=4.0, mem_gib=8.0)
    a, b = account(u, 100.0), account(u, 300.0, pue=1.5)
    assert b.operational_g == pytest.approx(a.operational_g * 3 * 1.5 / 1.12)
    assert b.embodied_g == a.embodied_g
    assert b.energy_kwh == a.energy_kwh


def test_bad_usage_names_the_field() -> None:
    with pytest.raises(InputError, match=r"usage.duration_s"):
        Usage(-1.0)
    with pytest.raises(InputError, match=r"usage.cpu_util"):
        Usage(1.0, cpu_util=2.0)
    with pytest.raises(InputError, match=r"usage.units"):
        Usage(1.0, units=0.0)
    with pytest.raises(InputError, match=r"usage.cpu_cores: got 100"):
        account(Usage(1.0, cpu_cores=100.0), 1.0)
    with pytest.raises(InputError, match="g_per_kwh"):
        account(Usage(1.0), -1.0)
    with pytest.raises(InputError, match="pue"):
        account(Usage(1.0), 1.0, pue=0.9)
    with pytest.raises(InputError, match=r"server.psu_efficiency"):
        ServerModel(psu_efficiency=1.5)


def test_from_resources() -> None:
    u = Usage.from_resources(Resources(cpu=2.0, mem_mib=2048), 10.0, cpu_util=0.3, units=5.0)
    assert (u.cpu_cores, u.mem_gib, u.cpu_util, u.units, u.gpu) == (2.0, 2.0, 0.3, 5.0, None)


def test_combine_sums_and_weights() -> None:
    a = account(Usage(3600.0, cpu_cores=2.0, cpu_util=0.5, mem_gib=4.0, units=10.0), 300.0, SIMPLE)
    b = account(Usage(3600.0, cpu_cores=2.0, cpu_util=0.5, mem_gib=4.0, units=30.0), 100.0, SIMPLE)
    c = combine([a, b])
    assert c.energy_kwh == pytest.approx(0.028)
    assert c.operational_g == pytest.approx(6.3 + 2.1)
    assert c.units == 40.0 and c.duration_s == 7200.0
    assert c.g_per_kwh == pytest.approx(200.0)  # equal energies: plain mean
    assert c.pue == pytest.approx(1.5)
    assert c.power_w == pytest.approx(14.0)
    assert c.sci_g_per_unit == pytest.approx(c.total_g / 40.0)
    assert isinstance(c, CarbonRecord)
    with pytest.raises(InputError, match="records"):
        combine([])


def test_greensku_without_data_is_the_built_in_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESSERA_DATA", str(tmp_path / "absent"))
    assert load_greensku() is DEFAULT_SERVER
    assert "built-in GreenSKU defaults" in DEFAULT_SERVER.source


@needs_data
def test_real_greensku_files_parse_to_the_built_in_defaults() -> None:
    server = load_greensku()
    assert "GreenSKU files" in server.source
    assert replace(server, source="") == replace(DEFAULT_SERVER, source="")


@needs_data
def test_real_greensku_magnitudes_are_sane() -> None:
    server = load_greensku()
    assert server.cpu_tdp_w == 290.0 and server.pue == 1.12
    assert {p.name: p.lifetime_months for p in server.parts}["cpu"] == 72.0
    total_kg = sum(p.embodied_kg for p in server.parts)
    assert 1_000 < total_kg < 5_000  # a 1U server: tonnes, not kilos or hundreds of tonnes
    whole = Usage(3600.0, cpu_cores=80.0, cpu_util=1.0, mem_gib=768.0)
    assert 400 < power_w(whole, server) < 1_500  # W at full load
    per_hour = embodied_g(whole, server)
    assert 10 < per_hour < 100  # g/h amortised; operational at 300 g/kWh is ~250 g/h
    assert per_hour < account(whole, 300.0, server).operational_g
    bergamo = load_greensku(cpu="Bergamo", cores=128)
    assert bergamo.cpu_tdp_w == 400.0 and bergamo.cores == 128
    with pytest.raises(InputError, match=r"CPU.yaml: type: got 'Zen9'; accepted: Genoa, Bergamo"):
        load_greensku(cpu="Zen9")
    with pytest.raises(InputError, match=r"DRAM.yaml: size: got '128GB'; accepted: 64GB, 96GB"):
        load_greensku(dimm="128GB")


GREENSKU_MINI = {
    "params.yaml": "lifetime: 60\nvoltage_regulator_overhead: 1.0\nPSU_efficiency: 1.0\nPUE: 1.2\n",
    "CPU.yaml": (
        "- vendor: X\n  types:\n    - type: T1\n      core_counts:\n"
        "        - count: 16\n          power: 100W\n          carbon: 10\n"
        "  spec_derates: {50: 0.5, 100: 1.0}\n"
    ),
    "DRAM.yaml": (
        "DDR5:\n  frequencies:\n    - frequency: 4800MHz\n      sizes:\n"
        "        - size: 32GB\n          power: 8W\n          carbon: 40\n"
    ),
    "SSD.yaml": "- type: E1.S\n  sizes:\n    - size: 1TB\n      power: 5W\n      carbon: 20\n",
    "NIC.yaml": "bandwidths:\n  - bandwidth: 10G\n    power: 10W\n    carbon: 5\n",
    "server.yaml": (
        "- type: Box\n  items:\n    server:\n      power: 20W\n      carbon: 100\n"
        "    fan:\n      power: 10W\n      carbon: 1\n"
    ),
    "rack.yaml": "- type: Rack\n  items:\n    rack:\n      power: 100W\n      capacity: 4\n"
    "      carbon: 400\n      lifetime: 120\n",
    "data_center.yaml": "- type: DC\n  items:\n    dc_building:\n      power: 0W\n"
    "      carbon: 80000\n      lifetime: 240\n  rack_capacity: 100\n  power_capacity: 1MW\n",
}


def write_mini(tmp_path: Path) -> Path:
    d = tmp_path / "greensku"
    d.mkdir()
    for name, text in GREENSKU_MINI.items():
        (d / name).write_text(text)
    return d


def test_greensku_parser_on_hand_written_files(tmp_path: Path) -> None:
    d = write_mini(tmp_path)
    s = load_greensku(
        d, cpu="T1", cores=16, dimm="32GB", dimms=4, ssd="1TB", ssds=1, nic="10G", chassis="Box"
    )
    assert (s.cores, s.cpu_tdp_w, s.mem_gib, s.mem_w_per_gib) == (16, 100.0, 128.0, 0.25)
    assert s.cpu_curve.points == ((0.5, 0.5), (1.0, 1.0))
    # platform: server 20 + NIC 10 + 1 SSD x 5 + rack 100 W / 4 servers = 60 W; fan 10 W
    assert (s.platform_w, s.fan_w, s.pue) == (60.0, 10.0, 1.2)
    parts = {p.name: (p.embodied_kg, p.lifetime_months, p.share) for p in s.parts}
    assert parts == {
        "cpu": (10.0, 60.0, "cpu"),
        "dram": (160.0, 60.0, "mem"),  # 4 DIMMs x 40 kg
        "ssd": (20.0, 60.0, "server"),
        "nic": (5.0, 60.0, "server"),
        "chassis": (101.0, 60.0, "server"),
        "rack": (100.0, 120.0, "server"),  # 400 kg / 4 servers
        "building": (200.0, 240.0, "server"),  # 80,000 kg / (100 racks x 4)
    }


def test_greensku_parser_errors_name_the_file(tmp_path: Path) -> None:
    d = write_mini(tmp_path)
    (d / "NIC.yaml").write_text("bandwidths:\n  - bandwidth: 10G\n    power: lots\n    carbon: 5\n")
    kw = {"cpu": "T1", "cores": 16, "dimm": "32GB", "ssd": "1TB", "nic": "10G", "chassis": "Box"}
    with pytest.raises(InputError, match="greensku power: got 'lots'"):
        load_greensku(d, **kw)  # type: ignore[arg-type]
    (d / "NIC.yaml").write_text("bandwidths: [\n")
    with pytest.raises(InputError, match=r"NIC.yaml.*valid YAML"):
        load_greensku(d, **kw)  # type: ignore[arg-type]
    (d / "NIC.yaml").unlink()
    with pytest.raises(InputError, match=r"NIC.yaml.*an existing GreenSKU file"):
        load_greensku(d, **kw)  # type: ignore[arg-type]
    (d / "params.yaml").write_text("lifetime: soon\n")
    with pytest.raises(InputError, match=r"params.yaml: lifetime: got 'soon'"):
        load_greensku(d, **kw)  # type: ignore[arg-type]
