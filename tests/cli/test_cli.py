"""The `tessera` command line, run in-process through `main(argv)` and once as a real process.

Contract under test (src/tessera/core/errors.py, src/tessera/cli/main.py): results go to
stdout, bad input becomes exactly one line on stderr of the form
`error: FIELD: got VALUE; accepted: ACCEPTED` and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import tessera
from tessera.cli.main import main
from tessera.experiments import EXPERIMENTS

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # colours, and the cursor codes of bars
ERROR_LINE = re.compile(r"^error: (?P<field>.+?): got (?P<value>.*); accepted: (?P<accepted>.*)$")

SUMMARY_KEYS = ("mean", "p50", "p95", "p99")


# --- helpers -----------------------------------------------------------------------------
def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run `tessera ARGV` in-process; return (exit code, stdout, stderr)."""
    capsys.readouterr()  # drop anything printed before
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code
        else:
            code = 1
    out, err = capsys.readouterr()
    return code, ANSI.sub("", out), ANSI.sub("", err)


def scenario_dict(**top: Any) -> dict[str, Any]:
    """The small valid scenario of the brief: M/M/2 at rate 2, mean service 0.2 s."""
    data: dict[str, Any] = {
        "duration_s": 2000,
        "functions": [
            {
                "name": "f",
                "workload": {"kind": "poisson", "rate_per_s": 2},
                "service_time": {"kind": "exponential", "mean_s": 0.2},
            }
        ],
        "autoscaler": {"kind": "fixed", "replicas": 2},
    }
    data.update(top)
    return data


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def assert_one_error_line(code: int, out: str, err: str) -> re.Match[str]:
    """Exit 2, nothing on stdout, one `error: FIELD: got VALUE; accepted: ...` line on stderr."""
    assert code == 2, f"exit code {code}, stderr: {err!r}"
    assert "Traceback" not in err and "Traceback" not in out
    assert out == "", f"stdout should be empty on bad input, got {out!r}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected exactly one error line, got {lines!r}"
    m = ERROR_LINE.match(lines[0].strip())
    assert m is not None, f"not of the form 'error: FIELD: got VALUE; accepted: ...': {lines[0]!r}"
    return m


def sim_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: Any, name: str = "bad.yaml"
) -> re.Match[str]:
    path = write_yaml(tmp_path / name, data)
    code, out, err = run_cli(["sim", "run", str(path), "--json"], capsys)
    m = assert_one_error_line(code, out, err)
    # `base_dir` is internal (the loader adds it); a user never wrote it.
    assert "base_dir" not in err, f"error leaks the internal base_dir key: {err!r}"
    return m


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every CLI call runs in tmp_path, so nothing lands in the repository."""
    monkeypatch.chdir(tmp_path)


# --- --version ---------------------------------------------------------------------------
def test_version_prints_name_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["--version"], capsys)
    assert code == 0
    assert out.strip() == f"tessera {tessera.__version__}"
    assert out.strip() == "tessera 0.1.0"
    assert "Traceback" not in err


# --- sim run -----------------------------------------------------------------------------
def sim_json(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    path = tmp_path / "ok.yaml"
    if not path.exists():
        write_yaml(path, scenario_dict())
    code, out, err = run_cli(["sim", "run", str(path), "--json", *extra], capsys)
    assert code == 0, err
    assert "Traceback" not in err
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, f"--json must print one JSON object on one line, got {out!r}"
    obj = json.loads(lines[0])
    assert isinstance(obj, dict)
    return obj


def test_sim_run_json_has_documented_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    obj = sim_json(tmp_path, capsys)
    for key in ("functions", "events", "wall_s"):
        assert key in obj
    assert isinstance(obj["events"], int) and obj["events"] > 0
    assert isinstance(obj["wall_s"], int | float) and obj["wall_s"] >= 0
    assert set(obj["functions"]) == {"f"}
    f = obj["functions"]["f"]
    # rate 2/s for 2000 s: about 4000 invocations (Poisson sd ~63).
    assert isinstance(f["invocations"], int)
    assert 3600 < f["invocations"] < 4400
    assert isinstance(f["cold_starts"], int) and f["cold_starts"] >= 0
    for metric in ("queue_delay_s", "latency_s"):
        summary = f[metric]
        for k in SUMMARY_KEYS:
            assert isinstance(summary[k], int | float), (metric, k, summary)
            assert summary[k] >= 0
        assert summary["p50"] <= summary["p95"] <= summary["p99"]
    # Latency includes service time (mean 0.2 s); queueing at utilisation 0.2 is small.
    assert f["latency_s"]["mean"] > f["queue_delay_s"]["mean"]
    assert 0.15 < f["latency_s"]["mean"] < 0.3


def test_sim_run_seed_changes_result_and_is_reproducible(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a1 = sim_json(tmp_path, capsys, "--seed", "1")
    a2 = sim_json(tmp_path, capsys, "--seed", "1")
    b = sim_json(tmp_path, capsys, "--seed", "2")
    assert a1["functions"] == a2["functions"]
    assert a1["events"] == a2["events"]
    assert a1["functions"] != b["functions"]


def test_sim_run_without_seed_uses_the_scenario_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_yaml(tmp_path / "ok.yaml", scenario_dict(seed=7))
    default = sim_json(tmp_path, capsys)
    same = sim_json(tmp_path, capsys, "--seed", "7")
    other = sim_json(tmp_path, capsys, "--seed", "8")
    assert default["functions"] == same["functions"]
    assert default["functions"] != other["functions"]


def test_sim_run_without_json_prints_a_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_yaml(tmp_path / "ok.yaml", scenario_dict())
    code, out, err = run_cli(["sim", "run", str(path)], capsys)
    assert code == 0, err
    assert "invocations" in out
    assert "f" in out


# --- sim run: bad input ------------------------------------------------------------------
def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["sim", "run", str(tmp_path / "nope.yaml"), "--json"], capsys)
    m = assert_one_error_line(code, out, err)
    assert "nope.yaml" in m["value"]


def test_directory_instead_of_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "a-folder"
    d.mkdir()
    code, out, err = run_cli(["sim", "run", str(d), "--json"], capsys)
    m = assert_one_error_line(code, out, err)
    assert "a-folder" in m["value"]


def test_invalid_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("functions: [\n")
    code, out, err = run_cli(["sim", "run", str(path), "--json"], capsys)
    m = assert_one_error_line(code, out, err)
    assert "broken.yaml" in m["value"]
    assert "yaml" in m["accepted"].lower()


def test_yaml_list_at_top_level(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = sim_error(tmp_path, capsys, [scenario_dict()])
    assert m["field"] == "scenario"
    assert "list" in m["value"]
    assert "mapping" in m["accepted"].lower()


def test_negative_rate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = scenario_dict()
    data["functions"][0]["workload"]["rate_per_s"] = -1
    m = sim_error(tmp_path, capsys, data)
    assert "rate_per_s" in m["field"]
    assert m["field"] == "functions[0].workload.rate_per_s"
    assert "-1" in m["value"]


def test_unknown_workload_kind_names_accepted_kinds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = scenario_dict()
    data["functions"][0]["workload"] = {"kind": "weibull"}
    m = sim_error(tmp_path, capsys, data)
    assert m["field"].startswith("functions[0].workload")
    assert "weibull" in m.group(0)
    for kind in ("poisson", "deterministic", "diurnal", "trace"):
        assert kind in m["accepted"]


def test_unknown_top_level_key_misspelled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo of a required key must be reported as the unknown key, not as 'duration_s missing'."""
    data = scenario_dict()
    data["durration_s"] = data.pop("duration_s")
    m = sim_error(tmp_path, capsys, data)
    assert m["field"] == "durration_s"
    for key in ("duration_s", "functions", "autoscaler", "warmup_s"):
        assert key in m["accepted"]


def test_unknown_top_level_key_extra(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = sim_error(tmp_path, capsys, scenario_dict(durration_s=5))
    assert m["field"] == "durration_s"
    for key in ("duration_s", "functions", "autoscaler", "warmup_s"):
        assert key in m["accepted"]


def test_unknown_function_key_misspelled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = scenario_dict()
    fn = data["functions"][0]
    fn["servce_time"] = fn.pop("service_time")
    m = sim_error(tmp_path, capsys, data)
    assert m["field"] == "functions[0].servce_time"
    for key in ("name", "workload", "service_time", "concurrency"):
        assert key in m["accepted"]


def test_unknown_function_key_extra(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = scenario_dict()
    data["functions"][0]["servce_time"] = {"kind": "exponential", "mean_s": 0.2}
    m = sim_error(tmp_path, capsys, data)
    assert m["field"] == "functions[0].servce_time"
    for key in ("name", "workload", "service_time", "concurrency"):
        assert key in m["accepted"]


def test_unknown_autoscaler_kind_lists_registered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    m = sim_error(tmp_path, capsys, scenario_dict(autoscaler={"kind": "nope"}))
    assert m["field"] == "autoscaler.kind"
    assert "nope" in m["value"]
    for kind in ("kpa", "fixed"):
        assert kind in m["accepted"]


@pytest.mark.parametrize(
    ("autoscaler", "field", "value"),
    [
        ({"kind": "kpa", "target_utilization": 2}, "autoscaler.target_utilization", "2"),
        ({"kind": "fixed", "replicas": -1}, "autoscaler.replicas", "-1"),
    ],
)
def test_bad_autoscaler_parameter_value(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    autoscaler: dict[str, Any],
    field: str,
    value: str,
) -> None:
    m = sim_error(tmp_path, capsys, scenario_dict(autoscaler=autoscaler))
    assert m["field"] == field
    assert value in m["value"]


def test_unknown_autoscaler_parameter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = sim_error(tmp_path, capsys, scenario_dict(autoscaler={"kind": "fixed", "bogus": 1}))
    assert m["field"].startswith("autoscaler")
    assert "bogus" in m.group(0)
    assert "replicas" in m["accepted"]


def test_duplicate_function_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = scenario_dict()
    data["functions"].append(dict(data["functions"][0]))
    m = sim_error(tmp_path, capsys, data)
    assert m["field"].startswith("functions") and m["field"].endswith(".name"), m["field"]
    assert m["value"] == "'f'"


def test_invalid_function_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = scenario_dict()
    data["functions"][0]["name"] = "My_Func"
    m = sim_error(tmp_path, capsys, data)
    assert m["field"].startswith("function") and m["field"].endswith("name"), m["field"]
    assert m["value"] == "'My_Func'"  # as written, not lower-cased


@pytest.mark.parametrize("warmup", [2000, 3000])
def test_warmup_not_below_duration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], warmup: int
) -> None:
    m = sim_error(tmp_path, capsys, scenario_dict(warmup_s=warmup))
    assert m["field"] == "warmup_s"
    assert str(warmup) in m["value"]
    assert "duration_s" in m["accepted"]


def test_trace_path_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = scenario_dict()
    data["functions"][0]["workload"] = {"kind": "trace", "path": "no-such-trace.csv"}
    m = sim_error(tmp_path, capsys, data)
    assert m["field"].endswith("path")
    assert "no-such-trace.csv" in m["value"]


# --- experiment --------------------------------------------------------------------------
def test_unknown_experiment(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["experiment", "no-such-experiment"], capsys)
    m = assert_one_error_line(code, out, err)
    assert "no-such-experiment" in m["value"]
    for name in ("sim-queueing", "autoscaling-trace"):
        assert name in m["accepted"]


def test_experiment_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["experiment", "--list"], capsys)
    assert code == 0, err
    assert "sim-queueing" in out
    assert "autoscaling-trace" in out


def test_experiment_autoscaling_trace_json_and_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "exp-out"
    code, out, err = run_cli(
        [
            "experiment",
            "autoscaling-trace",
            "--quick",
            "--json",
            "--seed",
            "1",
            "--out",
            str(out_dir),
        ],
        capsys,
    )
    assert code == 0, err
    assert "Traceback" not in err
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, f"--json must print one JSON object, got {out!r}"
    obj = json.loads(lines[0])
    assert set(obj) == {"experiment", "policies", "meta"}
    assert obj["experiment"] == "autoscaling-trace"
    assert isinstance(obj["meta"], dict)
    assert obj["meta"].get("seed") == 1
    policies = obj["policies"]
    assert {"kpa", "fixed-2"} <= set(policies)
    for policy, metrics in policies.items():
        assert isinstance(metrics, dict) and metrics, policy
        for metric, v in metrics.items():
            assert isinstance(v, int | float) and not isinstance(v, bool), (policy, metric, v)
    # A fixed pool of 2 never cold-starts; the KPA (scale to zero) pays for less instance time.
    assert policies["fixed-2"]["cold_start_pct"] == 0
    assert policies["kpa"]["instance_hours"] < policies["fixed-2"]["instance_hours"]

    results = json.loads((out_dir / "results.json").read_text())
    assert results == obj
    html = (out_dir / "report.html").read_text()
    assert 'id="autoscaling-trace"' in html
    assert "data:image/png;base64," in html


# --- demo --------------------------------------------------------------------------------
def test_demo_writes_report_with_every_experiment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "demo-out"
    code, _out, err = run_cli(["demo", "--out", str(out_dir)], capsys)
    assert code == 0, err
    html = (out_dir / "report.html").read_text()
    names = EXPERIMENTS.names()
    assert {"sim-queueing", "autoscaling-trace"} <= set(names)
    for name in names:
        assert html.count(f'id="{name}"') == 1, name
    assert html.count("data:image/png;base64,") >= len(names)
    assert 'class="err"' not in html
    results = json.loads((out_dir / "results.json").read_text())
    assert results["failed"] == []
    assert sorted(e["experiment"] for e in results["experiments"]) == sorted(names)
    # Nothing was written outside --out (cwd is tmp_path).
    assert not (tmp_path / "out").exists()


# --- a real process: the installed entry point behaves the same ----------------------------
def run_process(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tessera.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_subprocess_version(tmp_path: Path) -> None:
    p = run_process(["--version"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"tessera {tessera.__version__}"


def test_subprocess_sim_run_matches_in_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_yaml(tmp_path / "ok.yaml", scenario_dict())
    p = run_process(["sim", "run", "ok.yaml", "--json", "--seed", "5"], tmp_path)
    assert p.returncode == 0, p.stderr
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    from_process = json.loads(lines[0])
    in_process = sim_json(tmp_path, capsys, "--seed", "5")
    assert path.exists()
    assert from_process["functions"] == in_process["functions"]
    assert from_process["events"] == in_process["events"]


def test_subprocess_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    data = scenario_dict()
    data["functions"][0]["workload"]["rate_per_s"] = -1
    write_yaml(tmp_path / "neg.yaml", data)
    p = run_process(["sim", "run", "neg.yaml", "--json"], tmp_path)
    m = assert_one_error_line(p.returncode, p.stdout, ANSI.sub("", p.stderr))
    assert m["field"] == "functions[0].workload.rate_per_s"


def test_subprocess_unknown_experiment(tmp_path: Path) -> None:
    p = run_process(["experiment", "no-such-experiment"], tmp_path)
    m = assert_one_error_line(p.returncode, p.stdout, ANSI.sub("", p.stderr))
    assert "no-such-experiment" in m["value"]
