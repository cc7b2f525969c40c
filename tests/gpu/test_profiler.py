"""The profiler: grid of batch x SMs x quota on the simulated device, rows in the profile schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.gpu.clock import FakeClock
from tessera.gpu.device import SimulatedDevice
from tessera.gpu.latency import h200_latency_ms
from tessera.gpu.profiler import profile
from tessera.gpu.profiles import load_profiles


def test_rows_follow_the_device_and_quotas_stretch_latency() -> None:
    dev = SimulatedDevice(clock=FakeClock())
    rows = profile(dev, "resnet50", [1, 8], [32, 132], [25, 100], replays=80)
    assert [(m.row.batch, round(m.row.sm_pct), m.row.quota_pct) for m in rows] == [
        (1, 24, 25.0),
        (1, 24, 100.0),
        (1, 100, 25.0),
        (1, 100, 100.0),
        (8, 24, 25.0),
        (8, 24, 100.0),
        (8, 100, 25.0),
        (8, 100, 100.0),
    ]
    for m in rows:
        solo = h200_latency_ms("resnet50", m.row.batch, m.row.sm_pct, 100.0)
        assert m.gpu_ms_p50 == pytest.approx(solo, rel=1e-4)
        if m.row.quota_pct == 100:
            assert m.row.latency_ms == pytest.approx(solo, rel=1e-4)
        else:  # a 25% quota gives a batch about a quarter of the GPU time: ~4x the latency
            assert 3.0 * solo < m.row.latency_ms < 5.0 * solo
        assert m.p50_ms <= m.p90_ms
    assert {m.row.gpu for m in rows} == {"simulated-h200"}


def test_bad_grid_points_fail_before_anything_runs() -> None:
    from tessera.core.errors import InputError

    dev = SimulatedDevice(clock=FakeClock())
    with pytest.raises(InputError, match="sms"):
        profile(dev, "resnet50", [1], [12], [100])
    with pytest.raises(InputError, match="quotas"):
        profile(dev, "resnet50", [1], [8], [0])
    with pytest.raises(InputError, match="batches"):
        profile(dev, "resnet50", [0], [8], [100])


def test_cli_writes_a_profile_the_predictor_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tessera.cli.main import main
    from tessera.gpu.predict import Predictor

    out = tmp_path / "p.csv"
    args = ["gpu", "profile", "--model", "mobilenet_v3_large", "--batches", "1,8"]
    args += ["--sms", "8,32,64,132", "--quotas", "100", "--replays", "5", "--device", "sim"]
    with pytest.raises(SystemExit) as e:
        main([*args, "--out", str(out)])
    assert e.value.code in (0, None)
    table = load_profiles(out)
    assert len(table) == 8
    p = Predictor().fit(table)
    # a held-in point comes back; an SM count between two measured ones lands between them
    at_32 = p.predict("simulated-h200", "mobilenet_v3_large", 8, 100 * 32 / 132, 100)
    at_48 = p.predict("simulated-h200", "mobilenet_v3_large", 8, 100 * 48 / 132, 100)
    at_64 = p.predict("simulated-h200", "mobilenet_v3_large", 8, 100 * 64 / 132, 100)
    assert at_32 == pytest.approx(
        h200_latency_ms("mobilenet_v3_large", 8, 100 * 32 / 132, 100), rel=0.02
    )
    assert at_64 < at_48 < at_32
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["gpu", "profile", "--model", "resnet50", "--batches", "x", "--device", "sim"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--batches" in err and err.strip().count("\n") == 0
