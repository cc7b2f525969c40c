"""benchmarks/gpu_control_check.py: the simulated run, and re-simulating an earlier run's real half."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_control_check.py"
PROFILE = ROOT / "benchmarks" / "results" / "gpu_profile_models_h200.csv"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def test_real_from_resimulates_with_the_device_profile_and_keeps_the_real_half(
    tmp_path: Path,
) -> None:
    first = tmp_path / "first.json"
    common = ["--seconds", "6", "--policies", "tessera", "--rates", "20,100,20"]
    p = run("--simulate", *common, "--out", str(first))
    assert p.returncode == 0, p.stdout + p.stderr
    a = json.loads(first.read_text())
    stages = a["tessera"]["by_function_stage"]
    assert set(stages) == {"real", "sim"}
    for side in ("real", "sim"):
        for fn, rows in stages[side].items():
            assert len(rows) == 3
            n, want = sum(r["requests"] for r in rows), a["meta"]["functions"][fn]["requests"]
            # the real loop stamps a request when its driver submits it: one due in the last
            # milliseconds can fall past the horizon on a loaded machine
            assert n == want if side == "sim" else want - 3 <= n <= want, (side, fn, n, want)

    second = tmp_path / "second.json"
    p = run(
        *common,
        "--real-from",
        str(first),
        "--service-profile",
        str(PROFILE),
        "--out",
        str(second),
    )
    assert p.returncode == 0, p.stdout + p.stderr
    b = json.loads(second.read_text())["tessera"]
    assert b["real"] == a["tessera"]["real"]  # taken over, not re-run
    assert b["by_function_stage"]["real"] == stages["real"]
    assert b["sim"] == a["tessera"]["sim"]  # same arrivals, policy and table: same simulation
    assert set(b["by_function_stage"]) == {"real", "sim", "sim_profiled"}
    # the profile measured on the H200 serves BERT about twice as fast as the table says
    svc = b["by_function_stage"]
    assert svc["sim_profiled"]["bert_base"][1]["service_ms_p50"] < (
        0.8 * svc["sim"]["bert_base"][1]["service_ms_p50"]
    )
    assert b["sim_profiled"]["cost_gpu_s"] == b["sim"]["cost_gpu_s"]  # same plans, same area

    p = run("--seconds", "7", "--policies", "tessera", "--real-from", str(first), "--out", str(tmp_path / "x.json"))  # fmt: skip
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "--real-from" in p.stderr


def test_profile_models_script_writes_profile_rows_the_predictor_reads(tmp_path: Path) -> None:
    from tessera.gpu.profiles import load_profiles

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    script = ROOT / "benchmarks" / "gpu_profile_models.py"
    p = subprocess.run(
        [sys.executable, str(script), "--simulate", "--models", "resnet50,bert_base",
         "--batches", "1,4", "--sms", "8,32,132", "--replays", "3", "--out", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert p.returncode == 0, p.stdout + p.stderr
    table = load_profiles(tmp_path / "gpu_profile_models.csv")
    assert len(table.model) == 2 * 2 * 3
    assert set(table.model) == {"resnet50", "bert_base"}
    detail = json.loads((tmp_path / "gpu_profile_models.json").read_text())
    assert len(detail["models"]["bert_base"]["points"]) == 6
    # points come in SM order, and more SMs are faster on the simulated device's table
    for model in ("resnet50", "bert_base"):
        for b in (1, 4):
            pts = [x for x in detail["models"][model]["points"] if x["batch"] == b]
            assert [round(x["sm_pct"]) for x in pts] == [6, 24, 100]
            ms = [x["mean_ms"] for x in pts]
            assert ms == sorted(ms, reverse=True) and ms[0] > ms[-1], (model, b, ms)


def test_breakdown_counts_dropped_requests_as_violations_without_latency() -> None:
    import numpy as np

    from tessera.core.gpu_run import GpuClusterResult

    mod = _module()
    nan = float("nan")
    arr = np.array([0.1, 0.2, 1.1, 1.2])  # two stages of 1 s
    start = np.array([0.1, 0.2, nan, nan])  # stage 2: both dropped
    end = np.array([0.102, 0.230, nan, nan])  # 2 ms (met) and 30 ms (late at a 10 ms SLO)
    res = GpuClusterResult(
        {"f": arr}, {"f": start}, {"f": end}, {"f": 10.0},
        np.zeros(0), np.zeros(0), np.zeros(0),
    )  # fmt: skip
    first, second = mod.breakdown(res, 2, 2.0)["f"]
    assert first["requests"] == 2 and first["dropped"] == 0
    assert first["slo_violation_rate"] == 0.5
    assert abs(first["service_ms_p50"] - 16.0) < 1e-6  # median of 2 and 30
    assert second == {
        "requests": 2, "dropped": 2, "slo_violation_rate": 1.0, "latency_ms_p50": None,
        "latency_ms_p99": None, "service_ms_p50": None, "service_ms_p99": None,
    }  # fmt: skip


def _module() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_control_check_t", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_failing_simulation_keeps_the_real_run(tmp_path: Path, monkeypatch: Any) -> None:
    mod = _module()

    def broken(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("simulator broke")

    monkeypatch.setattr(mod, "simulate", broken)
    out = tmp_path / "r.json"
    rc = mod.main(
        ["--simulate", "--seconds", "3", "--policies", "tessera", "--models", "resnet50",
         "--rates", "20,40,20", "--out", str(out)]
    )  # fmt: skip
    assert rc == 1
    r = json.loads(out.read_text())["tessera"]
    assert "simulator broke" in r["error"]
    assert r["real"]["requests"] > 0 and "real" in r["by_function_stage"]  # measured, kept


def test_service_profile_must_cover_every_model(tmp_path: Path) -> None:
    p = run(
        "--simulate", "--seconds", "3", "--models", "resnet50,vit_b_16",
        "--service-profile", str(PROFILE), "--out", str(tmp_path / "x.json"),
    )  # fmt: skip
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    assert "--service-profile" in p.stderr and "vit_b_16" in p.stderr
    assert not (tmp_path / "x.json").exists()  # refused before any device work


def test_bad_options_are_refused_before_any_run(tmp_path: Path) -> None:
    for bad, field in (
        (["--policies", "tessera,has_gpu"], "gpu_policy.kind"),
        (["--rates", "20,x"], "--rates"),
        (["--models", ","], "--models"),
    ):
        p = run("--simulate", "--seconds", "2", *bad, "--out", str(tmp_path / "x.json"))
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and field in p.stderr, bad
    assert not (tmp_path / "x.json").exists()


def test_device_profile_service_model_stays_inside_what_was_measured() -> None:
    f = _module()._profiled(str(PROFILE), ["resnet50", "bert_base"])
    b8 = f("bert_base", 8, 100.0, 100.0)
    assert math.isclose(f("bert_base", 64, 100.0, 100.0), 8 * b8)  # linear past batch 8
    # measured at full quota only: a quarter quota takes four times as long (fluid)
    assert math.isclose(f("resnet50", 8, 24.242, 25.0), 4 * f("resnet50", 8, 24.242, 100.0))


def test_profile_script_wants_a_folder(tmp_path: Path) -> None:
    script = ROOT / "benchmarks" / "gpu_profile_models.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    p = subprocess.run(
        [sys.executable, str(script), "--simulate", "--out", str(tmp_path / "p.json")],
        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert p.returncode == 2 and "--out" in p.stderr and not (tmp_path / "p.json").exists()
