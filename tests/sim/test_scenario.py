"""The scenario format: `from_dict` / `load_scenario` accept every documented kind and turn
bad input into one `InputError` that names the field (as a path into the YAML), the value and
what is accepted. Workload replay from a per-minute trace CSV is checked through the engine.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tessera.core.errors import InputError
from tessera.sim.engine import Simulation, run_scenario
from tessera.sim.scenario import (
    Deterministic,
    Diurnal,
    Exponential,
    LogNormal,
    Periodic,
    Poisson,
    Scenario,
    Trace,
    Uniform,
    from_dict,
    load_scenario,
)

TRACE_COUNTS = [3, 0, 7, 1, 12, 5, 0, 9]


def base(**top: Any) -> dict[str, Any]:
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


def with_function(**changes: Any) -> dict[str, Any]:
    data = base()
    data["functions"][0].update(changes)
    return data


def raises_input_error(data: Any, base_dir: str | Path = ".") -> InputError:
    with pytest.raises(InputError) as info:
        from_dict(data, base_dir=base_dir)
    return info.value


def build_error(data: Any, base_dir: str | Path = ".") -> InputError:
    """Errors the loader may leave to the driver (plugins, files): validate, then build."""
    with pytest.raises(InputError) as info:
        Simulation(from_dict(data, base_dir=base_dir))
    return info.value


def write_trace(path: Path, counts: list[int]) -> Path:
    lines = ["Event_Trigger,Timestamp"]
    lines += [f"{n},7/1/2019 0:{i:02d}" for i, n in enumerate(counts)]
    path.write_text("\n".join(lines) + "\n")
    return path


def per_minute(arrival_s: np.ndarray, minutes: int) -> list[int]:
    assert isinstance(arrival_s, np.ndarray)
    assert (arrival_s >= 0).all() and (arrival_s < 60 * minutes).all()
    return np.bincount(np.floor(arrival_s / 60).astype(int), minlength=minutes).tolist()


# --- the error type ----------------------------------------------------------------------
def test_input_error_carries_field_value_accepted() -> None:
    e = InputError("a.b", 3, "numbers < 3")
    assert isinstance(e, ValueError)
    assert (e.field, e.value, e.accepted) == ("a.b", 3, "numbers < 3")
    assert "a.b" in str(e) and "3" in str(e) and "numbers < 3" in str(e)


# --- bad input: the field names the place --------------------------------------------------
def test_top_level_must_be_a_mapping() -> None:
    for data in ([base()], "duration_s: 2", None, 3):
        e = raises_input_error(data)
        assert e.field == "scenario"


def test_negative_rate() -> None:
    data = base()
    data["functions"][0]["workload"]["rate_per_s"] = -1
    e = raises_input_error(data)
    assert e.field == "functions[0].workload.rate_per_s"
    assert e.value == -1


def test_zero_rate_is_rejected_too() -> None:
    data = base()
    data["functions"][0]["workload"]["rate_per_s"] = 0
    assert raises_input_error(data).field == "functions[0].workload.rate_per_s"


def test_error_index_points_at_the_bad_function() -> None:
    data = base()
    second = copy.deepcopy(data["functions"][0])
    second["name"] = "g"
    second["service_time"]["mean_s"] = -0.5
    data["functions"].append(second)
    e = raises_input_error(data)
    assert e.field == "functions[1].service_time.mean_s"
    assert e.value == -0.5


def test_unknown_workload_kind() -> None:
    e = raises_input_error(with_function(workload={"kind": "weibull"}))
    assert e.field == "functions[0].workload"
    for kind in ("poisson", "deterministic", "diurnal", "trace"):
        assert kind in e.accepted


def test_unknown_service_time_kind() -> None:
    e = raises_input_error(with_function(service_time={"kind": "weibull"}))
    assert e.field == "functions[0].service_time"
    for kind in ("exponential", "deterministic", "lognormal", "uniform"):
        assert kind in e.accepted


def test_unknown_top_level_key_extra() -> None:
    e = raises_input_error(base(durration_s=2000))
    assert e.field == "durration_s"
    for key in ("duration_s", "functions", "autoscaler", "warmup_s", "seed"):
        assert key in e.accepted
    assert "base_dir" not in e.accepted


def test_unknown_top_level_key_misspelled() -> None:
    """The typo replaces the required key: report the unknown key, with the accepted ones."""
    data = base()
    data["durration_s"] = data.pop("duration_s")
    e = raises_input_error(data)
    assert e.field == "durration_s"
    for key in ("duration_s", "functions", "autoscaler", "warmup_s", "seed"):
        assert key in e.accepted


def test_unknown_function_key_extra() -> None:
    e = raises_input_error(with_function(servce_time={"kind": "exponential", "mean_s": 1}))
    assert e.field == "functions[0].servce_time"
    for key in ("name", "workload", "service_time", "cold_start_s", "concurrency", "scale"):
        assert key in e.accepted


def test_unknown_function_key_misspelled() -> None:
    data = base()
    fn = data["functions"][0]
    fn["servce_time"] = fn.pop("service_time")
    e = raises_input_error(data)
    assert e.field == "functions[0].servce_time"
    for key in ("name", "workload", "service_time", "cold_start_s", "concurrency", "scale"):
        assert key in e.accepted


def test_unknown_key_inside_a_workload() -> None:
    e = raises_input_error(with_function(workload={"kind": "poisson", "rate_per_s": 1, "x": 1}))
    assert e.field == "functions[0].workload.x"
    assert "rate_per_s" in e.accepted


def test_unknown_key_inside_scale_and_energy() -> None:
    e = raises_input_error(with_function(scale={"mn": 1}))
    assert e.field == "functions[0].scale.mn"
    assert all(k in e.accepted for k in ("min", "max", "target"))
    e = raises_input_error(base(energy={"idle": 1}))
    assert e.field == "energy.idle"
    assert "idle_w" in e.accepted


def test_unknown_key_inside_cold_start_distribution() -> None:
    """cold_start_s is a number or a distribution; a typo in the distribution names the key."""
    e = raises_input_error(
        with_function(cold_start_s={"kind": "uniform", "low_s": 1, "high_s": 2, "hihg_s": 3})
    )
    assert e.field == "functions[0].cold_start_s.hihg_s"
    assert "high_s" in e.accepted


def test_duplicate_function_names() -> None:
    data = base()
    data["functions"].append(copy.deepcopy(data["functions"][0]))
    e = raises_input_error(data)
    assert e.field in ("functions[].name", "functions[1].name"), e.field
    assert e.value == "f"


def test_invalid_function_name() -> None:
    e = raises_input_error(with_function(name="My_Func"))
    assert e.field in ("function.name", "functions[0].name"), e.field
    assert e.value == "My_Func"


@pytest.mark.parametrize("warmup", [2000, 2500])
def test_warmup_not_below_duration(warmup: float) -> None:
    e = raises_input_error(base(warmup_s=warmup))
    assert e.field == "warmup_s"
    assert e.value == warmup
    assert "duration_s" in e.accepted


def test_warmup_below_duration_is_fine() -> None:
    assert from_dict(base(warmup_s=1999)).warmup_s == 1999


def test_autoscaler_without_kind() -> None:
    e = raises_input_error(base(autoscaler={"replicas": 1}))
    assert e.field == "autoscaler.kind"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (base(duration_s=0), "duration_s"),
        (base(functions=[]), "functions"),
        (with_function(concurrency=0), "functions[0].concurrency"),
    ],
)
def test_bad_values_name_their_field(data: dict[str, Any], field: str) -> None:
    assert raises_input_error(data).field == field


def test_unknown_autoscaler_kind() -> None:
    e = build_error(base(autoscaler={"kind": "nope"}))
    assert e.field == "autoscaler.kind"
    assert e.value == "nope"
    assert "kpa" in e.accepted and "fixed" in e.accepted


@pytest.mark.parametrize(
    ("autoscaler", "field", "value"),
    [
        ({"kind": "kpa", "target_utilization": 2}, "autoscaler.target_utilization", 2),
        ({"kind": "fixed", "replicas": -1}, "autoscaler.replicas", -1),
    ],
)
def test_bad_autoscaler_parameter(autoscaler: dict[str, Any], field: str, value: object) -> None:
    e = build_error(base(autoscaler=autoscaler))
    assert e.field == field
    assert e.value == value


def test_unknown_autoscaler_parameter() -> None:
    e = build_error(base(autoscaler={"kind": "fixed", "bogus": 1}))
    assert e.field.startswith("autoscaler")
    assert "bogus" in repr(e.value)
    assert "replicas" in e.accepted


def test_trace_path_that_does_not_exist(tmp_path: Path) -> None:
    data = with_function(workload={"kind": "trace", "path": "no-such-trace.csv"})
    e = build_error(data, base_dir=tmp_path)
    assert e.field.endswith("path")
    assert "no-such-trace.csv" in str(e.value)


def test_trace_unknown_column(tmp_path: Path) -> None:
    csv = write_trace(tmp_path / "counts.csv", TRACE_COUNTS)
    data = with_function(workload={"kind": "trace", "path": str(csv), "column": "Nope"})
    e = build_error(data)
    assert e.field.endswith("column")
    assert "Event_Trigger" in e.accepted


# --- load_scenario -----------------------------------------------------------------------
def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        load_scenario(tmp_path / "nope.yaml")
    assert info.value.field == "scenario"
    assert "nope.yaml" in str(info.value.value)


def test_load_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        load_scenario(tmp_path)
    assert info.value.field == "scenario"


def test_load_invalid_yaml(tmp_path: Path) -> None:
    p = tmp_path / "broken.yaml"
    p.write_text("functions: [\n")
    with pytest.raises(InputError) as info:
        load_scenario(p)
    assert info.value.field == "scenario"
    assert "YAML" in info.value.accepted


def test_load_list_and_empty_file(tmp_path: Path) -> None:
    for text in ("- a\n- b\n", ""):
        p = tmp_path / "s.yaml"
        p.write_text(text)
        with pytest.raises(InputError) as info:
            load_scenario(p)
        assert info.value.field == "scenario"


def test_load_reports_nested_field(tmp_path: Path) -> None:
    data = base()
    data["functions"][0]["workload"]["rate_per_s"] = -1
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError) as info:
        load_scenario(p)
    assert info.value.field == "functions[0].workload.rate_per_s"


def test_load_valid_file(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(base(name="mine", seed=4)))
    sc = load_scenario(p)
    assert isinstance(sc, Scenario)
    assert (sc.name, sc.seed, sc.duration_s) == ("mine", 4, 2000)
    assert sc.autoscaler == {"kind": "fixed", "replicas": 2}
    assert Path(sc.base_dir).resolve() == tmp_path.resolve()


# --- valid input: every kind -------------------------------------------------------------
@pytest.mark.parametrize(
    ("workload", "cls"),
    [
        ({"kind": "poisson", "rate_per_s": 2.5}, Poisson),
        ({"kind": "deterministic", "interval_s": 0.5}, Periodic),
        ({"kind": "diurnal", "mean_rate_per_s": 1.0, "amplitude": 0.5}, Diurnal),
        ({"kind": "diurnal", "mean_rate_per_s": 1.0, "amplitude": 1, "period_s": 600}, Diurnal),
    ],
)
def test_every_synthetic_workload_kind_is_accepted_and_runs(
    workload: dict[str, Any], cls: type
) -> None:
    sc = from_dict(with_function(workload=workload))
    w = sc.functions[0].workload
    assert isinstance(w, cls)
    for k, v in workload.items():
        assert getattr(w, k) == v
    res = run_scenario(from_dict(with_function(workload=workload) | {"duration_s": 200}))
    arr = res.functions["f"].arrival_s
    assert len(arr) > 0
    assert (np.diff(arr) >= 0).all()
    assert arr.max() <= 200


def test_trace_workload_is_accepted(tmp_path: Path) -> None:
    csv = write_trace(tmp_path / "counts.csv", TRACE_COUNTS)
    wl = {
        "kind": "trace",
        "path": str(csv),
        "scale": 1.5,
        "column": "Event_Trigger",
        "start_minute": 2,
        "minutes": 4,
    }
    w = from_dict(with_function(workload=wl)).functions[0].workload
    assert isinstance(w, Trace)
    assert (w.path, w.scale, w.column, w.start_minute, w.minutes) == (
        str(csv),
        1.5,
        "Event_Trigger",
        2,
        4,
    )


def test_deterministic_workload_arrives_on_the_interval() -> None:
    data = with_function(workload={"kind": "deterministic", "interval_s": 0.5})
    data["duration_s"] = 100
    arr = run_scenario(from_dict(data)).functions["f"].arrival_s
    assert np.allclose(np.diff(arr), 0.5)
    assert 199 <= len(arr) <= 200


@pytest.mark.parametrize(
    ("service", "cls"),
    [
        ({"kind": "exponential", "mean_s": 0.2}, Exponential),
        ({"kind": "deterministic", "s": 0.1}, Deterministic),
        ({"kind": "lognormal", "mean_s": 0.2, "cv": 0.5}, LogNormal),
        ({"kind": "uniform", "low_s": 0.05, "high_s": 0.15}, Uniform),
    ],
)
def test_every_service_time_kind_is_accepted_and_runs(service: dict[str, Any], cls: type) -> None:
    sc = from_dict(with_function(service_time=service, cold_start_s=service))
    fc = sc.functions[0]
    assert isinstance(fc.service_time, cls)
    assert isinstance(fc.cold_start_s, cls)
    for k, v in service.items():
        assert getattr(fc.service_time, k) == v
    data = base(duration_s=300)
    data["functions"][0]["service_time"] = service
    fr = run_scenario(from_dict(data)).functions["f"]
    done = fr.end_s >= 0
    service_s = fr.end_s[done] - fr.start_s[done]
    assert len(service_s) > 100
    assert (service_s >= 0).all()
    if service["kind"] == "deterministic":
        assert np.allclose(service_s, service["s"])
    if service["kind"] == "uniform":
        assert service_s.min() >= service["low_s"] - 1e-9
        assert service_s.max() <= service["high_s"] + 1e-9


def test_cold_start_as_a_number_is_accepted() -> None:
    assert from_dict(with_function(cold_start_s=1.5)).functions[0].cold_start_s == 1.5


# --- trace replay ------------------------------------------------------------------------
def trace_scenario(path: str, duration_min: int, **workload: Any) -> dict[str, Any]:
    return with_function(workload={"kind": "trace", "path": path, **workload}) | {
        "duration_s": 60 * duration_min
    }


def test_trace_replays_per_minute_counts(tmp_path: Path) -> None:
    csv = write_trace(tmp_path / "counts.csv", TRACE_COUNTS)
    n = len(TRACE_COUNTS)
    res = run_scenario(from_dict(trace_scenario(str(csv), n, scale=1.0)))
    assert per_minute(res.functions["f"].arrival_s, n) == TRACE_COUNTS


def test_trace_replay_with_named_column_and_window(tmp_path: Path) -> None:
    csv = write_trace(tmp_path / "counts.csv", TRACE_COUNTS)
    data = trace_scenario(str(csv), 4, column="Event_Trigger", start_minute=2, minutes=4)
    res = run_scenario(from_dict(data))
    assert per_minute(res.functions["f"].arrival_s, 4) == TRACE_COUNTS[2:6]


def test_trace_scale_two_doubles_the_arrivals(tmp_path: Path) -> None:
    counts = [40, 10, 0, 25, 60, 5]
    csv = write_trace(tmp_path / "counts.csv", counts)
    n = len(counts)
    one = run_scenario(from_dict(trace_scenario(str(csv), n, scale=1.0)))
    two = run_scenario(from_dict(trace_scenario(str(csv), n, scale=2.0)))
    got = per_minute(two.functions["f"].arrival_s, n)
    assert len(one.functions["f"].arrival_s) == sum(counts)
    assert abs(sum(got) - 2 * sum(counts)) <= 0.05 * 2 * sum(counts)
    for c, g in zip(counts, got, strict=True):
        assert abs(g - 2 * c) <= max(2, 0.1 * 2 * c), (counts, got)
    assert got[2] == 0  # an empty minute stays empty


def test_trace_relative_path_resolves_against_the_scenario_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    write_trace(folder / "counts.csv", TRACE_COUNTS)
    n = len(TRACE_COUNTS)
    (folder / "s.yaml").write_text(yaml.safe_dump(trace_scenario("counts.csv", n)))
    # A decoy with the same name in the working directory must not be picked up.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_trace(elsewhere / "counts.csv", [1] * n)
    monkeypatch.chdir(elsewhere)
    sc = load_scenario(folder / "s.yaml")
    res = run_scenario(sc)
    assert per_minute(res.functions["f"].arrival_s, n) == TRACE_COUNTS
