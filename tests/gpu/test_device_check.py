"""The device-check script's `--simulate` path (what CI can run), and its no-GPU exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_device_check.py"


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_simulate_runs_every_part_and_writes_json(tmp_path: Path) -> None:
    p = run("--simulate", "--seconds", "0.1", "--reps", "5", "--out", str(tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads((tmp_path / "gpu_device_check.json").read_text())
    assert out["mode"] == "simulate"
    parts = out["parts"]
    assert set(parts) == {
        "a_sm_sweep",
        "b_quota",
        "c_quota_change",
        "d_resize",
        "e_colocation",
        "g_colocation_models",
    }
    for key, part in parts.items():
        assert part["status"] == "ok", (key, part)
    assert sorted(int(k) for k in parts["a_sm_sweep"]["by_sms"]) == [8, 16, 32, 64, 132]
    assert set(parts["b_quota"]["by_quota"]) == {"0.25", "0.5", "0.75"}
    assert {"partition_ms", "capture_ms"} <= set(parts["d_resize"]["resizes"][0])
    e = parts["e_colocation"]
    assert e["disjoint_partition_sms"] == 32
    assert e["disjoint_4x32"]["weights_shared"] == {"resnet50": {"mib": 49, "instances": 4}}
    for k in ("timesliced_quota_025_exclusive", "disjoint_vs_timesliced_quota"):
        assert k in e
    assert "wrote" in p.stdout and "e_colocation" in p.stdout
    g = parts["g_colocation_models"]
    assert set(g["by_pair"]) == {
        "resnet50_b1",
        "resnet50_b8",
        "resnet50_b32",
        "mobilenet_v3_large_b1",
        "mobilenet_v3_large_b8",
        "bert_base_b1",
        "bert_base_b8",
    }
    for pair, row in g["by_pair"].items():
        # every phase measured; the rates themselves are wall-clock threads on a shared CPU
        # here, so only the ordering that holds with a wide margin is asserted: disjoint
        # partitions overlap (ideal 1.6-3.5x the time-sliced rate here), time-slicing does not
        assert row["ideal_vs_whole"] > 1.2, pair
        assert row["disjoint_vs_timesliced"] > 1.0, pair
        assert len(row["disjoint_4x32"]["each_per_s"]) == 4
        assert len(row["each_vs_solo"]) == 4 and all(x > 0 for x in row["each_vs_solo"])
        assert isinstance(row["isolation_within_10pct"], bool)
    assert set(out["summary"]["colocation_resnet50_b8"]) == {
        "disjoint_vs_timesliced", "ideal_vs_whole", "each_vs_solo_min", "isolation_within_10pct",
    }  # fmt: skip


def test_skip_and_budget_guard_leave_reasons(tmp_path: Path) -> None:
    p = run(
        "--simulate", "--seconds", "0.1", "--skip", "a,e", "--budget-s", "9", "--out", str(tmp_path)
    )
    assert p.returncode == 0, p.stderr
    parts = json.loads((tmp_path / "gpu_device_check.json").read_text())["parts"]
    assert parts["a_sm_sweep"] == {"status": "skipped", "reason": "--skip"}
    assert parts["d_resize"]["status"] == "skipped" and "time budget" in parts["d_resize"]["reason"]


def test_without_cuda_it_exits_at_once_with_a_clear_message(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    p = run("--out", str(tmp_path), timeout=60)
    assert p.returncode == 2
    assert "no CUDA device" in p.stdout and "--simulate" in p.stdout
    assert not (tmp_path / "gpu_device_check.json").exists()


def test_clock_sampler_reads_nvidia_smi_lines_and_stops(tmp_path: Path, monkeypatch: Any) -> None:
    import importlib.util
    import time

    fake = tmp_path / "nvidia-smi"
    fake.write_text(
        '#!/bin/sh\necho "1980, 150.5"\necho "garbage"\necho "1950, 300.0"\nexec sleep 30\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    spec = importlib.util.spec_from_file_location("gpu_device_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    t0 = time.monotonic()
    clocks = mod._Clocks()
    deadline = t0 + 10
    while len(clocks.rows) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    got = clocks.between(t0, time.monotonic())
    clocks.stop()
    assert got == {
        "samples": 2,
        "sm_mhz_median": 1965.0,
        "sm_mhz_min": 1950.0,
        "power_w_median": 225.25,
    }
    assert clocks.proc.poll() is not None  # stopped
    assert clocks.between(0.0, t0 - 1)["samples"] == 0


def test_colo_mix_is_checked_before_any_part_runs(tmp_path: Path) -> None:
    for bad in ("resnet50:x", "foo:1", "resnet50:0", "", "resnet50:1,resnet50:1"):
        p = run("--simulate", "--colo-mix", bad, "--out", str(tmp_path))
        assert p.returncode == 2, bad
        assert p.stderr.count("\n") == 1 and "--colo-mix" in p.stderr, (bad, p.stderr)
    assert not (tmp_path / "gpu_device_check.json").exists()
    out = tmp_path / "named.json"  # --out may name the file itself
    p = run(
        "--simulate", "--seconds", "0.1", "--skip", "a,b,c,d,e", "--colo-mix", "bert_base:2",
        "--out", str(out),
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    pairs = json.loads(out.read_text())["parts"]["g_colocation_models"]["by_pair"]
    assert list(pairs) == ["bert_base_b2"]
