"""Scenario input that used to crash, hang or be misread is refused up front with one
`InputError` naming the field (as a path into the YAML), the value and what is accepted:
negative seeds, non-UTF-8 files, non-finite or absurd numbers, booleans written for numbers,
keys written twice, and trace counts no run could replay. No test here runs a long simulation:
every refusal comes from validation or from building the `Simulation`, before any event.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from tessera.autoscaling import create
from tessera.core.errors import InputError
from tessera.core.registry import Registry
from tessera.sim.engine import Simulation
from tessera.sim.scenario import MAX_ARRIVALS, from_dict, load_scenario
from tessera.sim.workload import MAX_PER_MINUTE
from tests.sim.test_scenario import build_error as refused_at_build
from tests.sim.test_scenario import raises_input_error as refused

BASE: dict[str, Any] = {
    "name": "mmc",
    "duration_s": 200,
    "functions": [
        {
            "name": "f",
            "workload": {"kind": "poisson", "rate_per_s": 8.0},
            "service_time": {"kind": "exponential", "mean_s": 0.5},
        }
    ],
    "autoscaler": {"kind": "fixed", "replicas": 5},
}


def scenario(**top: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(top)
    return data


def function(**changes: Any) -> dict[str, Any]:
    data = scenario()
    data["functions"][0].update(changes)
    return data


def trace(tmp_path: Path, body: bytes | str, **workload: Any) -> dict[str, Any]:
    p = tmp_path / "counts.csv"
    if isinstance(body, str):
        p.write_text(body)
    else:
        p.write_bytes(body)
    return function(workload={"kind": "trace", "path": str(p), **workload})


# --- seeds ---------------------------------------------------------------------------------
def test_negative_scenario_seed_is_refused() -> None:
    e = refused(scenario(seed=-1))
    assert (e.field, e.value) == ("seed", -1)


def test_negative_seed_override_is_refused_when_building() -> None:
    with pytest.raises(InputError) as info:
        Simulation(from_dict(scenario()), seed=-1)
    assert (info.value.field, info.value.value) == ("seed", -1)
    assert "integer >= 0" in info.value.accepted


def test_the_json_names_the_seed_the_run_used() -> None:
    sc = from_dict(scenario(seed=7))
    assert Simulation(sc).run().to_json()["seed"] == 7
    assert Simulation(sc, seed=3).run().to_json()["seed"] == 3
    assert Simulation(sc, seed=0).run().to_json()["seed"] == 0


# --- files that are not UTF-8 text ---------------------------------------------------------
def test_scenario_file_that_is_not_utf8(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_bytes(b"name: x\n\xff\n")
    with pytest.raises(InputError) as info:
        load_scenario(p)
    assert info.value.field == "scenario"
    assert info.value.value == str(p)
    assert "not UTF-8 text" in info.value.accepted


def test_trace_csv_that_is_not_utf8(tmp_path: Path) -> None:
    e = refused_at_build(trace(tmp_path, b"count\n5\n\xff\n3\n"))
    assert e.field == "functions[0].workload.path"
    assert "not UTF-8 text" in e.accepted


# --- trace counts --------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["inf", "-inf", "nan", "1e300", "-3"])
def test_trace_counts_must_be_finite_and_non_negative(tmp_path: Path, cell: str) -> None:
    e = refused_at_build(trace(tmp_path, f"count\n5\n{cell}\n3\n", column="count"))
    assert e.field == "functions[0].workload.column"
    assert e.value == "count"
    assert "non-negative integers" in e.accepted


def test_trace_count_inf_in_the_first_row_is_refused(tmp_path: Path) -> None:
    """The first row is where the integer column is looked for when `column` is not given."""
    e = refused_at_build(trace(tmp_path, "count,minute\ninf,a\n3,b\n"))
    assert e.field == "functions[0].workload.column"
    assert "integer columns" in e.accepted


def test_trace_minute_above_the_per_minute_limit_is_refused(tmp_path: Path) -> None:
    e = refused_at_build(trace(tmp_path, "count\n1000000000000000\n3\n", minutes=2))
    assert e.field == "functions[0].workload.path"
    assert f"{MAX_PER_MINUTE:,} invocations per minute" in e.accepted


def test_trace_scale_that_lifts_a_minute_above_the_limit_is_refused(tmp_path: Path) -> None:
    e = refused_at_build(trace(tmp_path, "count\n5000\n3\n", scale=1e4))
    assert (e.field, e.value) == ("functions[0].workload.scale", 1e4)
    assert f"{MAX_PER_MINUTE:,}" in e.accepted


def test_trace_scale_must_be_finite(tmp_path: Path) -> None:
    e = refused(trace(tmp_path, "count\n5\n7\n3\n", scale=math.inf))
    assert (e.field, e.value) == ("functions[0].workload.scale", math.inf)


def test_trace_start_minute_past_the_end_is_refused(tmp_path: Path) -> None:
    e = refused_at_build(trace(tmp_path, "count\n5\n3\n", start_minute=100))
    assert e.field == "functions[0].workload.start_minute" and e.accepted.startswith("0..1 ")


def test_trace_errors_name_the_function(tmp_path: Path) -> None:
    e = refused_at_build(trace(tmp_path, "count\n5\n", column="nope"))
    assert e.field == "functions[0].workload.column"


def test_trace_with_more_arrivals_than_a_run_allows_is_refused(tmp_path: Path) -> None:
    rows = "\n".join(["9000000"] * 10)  # 9e7 arrivals over 10 minutes: each minute is allowed
    e = refused_at_build(trace(tmp_path, f"count\n{rows}\n") | {"duration_s": 600})
    assert e.field == "functions[0].workload.scale"
    assert f"{MAX_ARRIVALS:,} arrivals" in e.accepted


# --- non-finite numbers --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "field"),
    [
        (scenario(duration_s=math.inf), "duration_s"),
        (scenario(warmup_s=math.nan), "warmup_s"),
        (function(workload={"kind": "poisson", "rate_per_s": math.inf}), "rate_per_s"),
        (function(service_time={"kind": "exponential", "mean_s": math.inf}), "mean_s"),
        (function(cold_start_s=math.inf), "cold_start_s"),
        (scenario(energy={"gco2_per_kwh": math.inf}), "energy.gco2_per_kwh"),
        (scenario(energy={"pue": math.nan}), "energy.pue"),
        (scenario(autoscaler_interval_s=math.inf), "autoscaler_interval_s"),
    ],
)
def test_non_finite_numbers_are_refused(data: dict[str, Any], field: str) -> None:
    e = refused(data)
    assert e.field == field or e.field.endswith("." + field)
    assert "finite" in e.accepted


# --- numbers that would make a run hang or crash -------------------------------------------
@pytest.mark.parametrize(
    ("data", "field"),
    [
        (function(workload={"kind": "poisson", "rate_per_s": 1e12}), "workload.rate_per_s"),
        (
            function(workload={"kind": "deterministic", "interval_s": 1e-12}),
            "workload.interval_s",
        ),
        (
            function(workload={"kind": "diurnal", "mean_rate_per_s": 1, "amplitude": 0.5})
            | {"duration_s": 1e12},
            "workload.mean_rate_per_s",
        ),
        (
            function(
                workload={
                    "kind": "diurnal",
                    "mean_rate_per_s": 1,
                    "amplitude": 0.5,
                    "period_s": 1e-320,
                }
            ),
            "workload.period_s",
        ),
        (
            function(service_time={"kind": "lognormal", "mean_s": 1e300, "cv": 1}),
            "service_time.mean_s",
        ),
        (
            function(service_time={"kind": "lognormal", "mean_s": 1, "cv": 1e200}),
            "service_time.cv",
        ),
        (function(service_time={"kind": "deterministic", "s": 1e300}), "service_time.s"),
        (function(cold_start_s=1e300), "cold_start_s"),
        (function(scale={"max": 10**12}), "scale.max"),
        (function(scale={"target": 1e-300}), "scale.target"),
    ],
)
def test_absurd_function_numbers_are_refused(data: dict[str, Any], field: str) -> None:
    assert refused(data).field == f"functions[0].{field}"


def test_too_many_arrivals_names_the_limit() -> None:
    e = refused(function(workload={"kind": "poisson", "rate_per_s": 1e12}))
    assert e.value == 1e12
    assert f"{MAX_ARRIVALS:,} arrivals" in e.accepted


def test_arrivals_of_all_functions_count_together() -> None:
    data = scenario(duration_s=1000)
    one = {"workload": {"kind": "poisson", "rate_per_s": 30_000}}
    data["functions"] = [
        {**data["functions"][0], **one, "name": n} for n in ("a", "b")
    ]  # 3e7 each: allowed alone, not together
    from_dict({**data, "functions": data["functions"][:1]})
    e = refused(data)
    assert e.field.endswith("workload.rate_per_s")


def test_tiny_autoscaler_interval_is_refused() -> None:
    e = refused(scenario(autoscaler_interval_s=1e-9))
    assert e.field == "autoscaler_interval_s"


def test_run_needing_too_many_autoscaler_decisions_is_refused() -> None:
    e = refused(scenario(duration_s=200_000, autoscaler_interval_s=0.1))
    assert (e.field, e.value) == ("duration_s", 200_000)
    assert "autoscaler_interval_s" in e.accepted


# --- booleans are not numbers --------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "field"),
    [
        (
            function(workload={"kind": "poisson", "rate_per_s": True}),
            "functions[0].workload.rate_per_s",
        ),
        (function(cold_start_s=True), "functions[0].cold_start_s"),
        (function(concurrency=True), "functions[0].concurrency"),
        (scenario(seed=True), "seed"),
        (scenario(energy={"embodied_g_per_s": False}), "energy.embodied_g_per_s"),
    ],
)
def test_booleans_are_not_numbers(data: dict[str, Any], field: str) -> None:
    e = refused(data)
    assert e.field == field
    assert "not true/false" in e.accepted


# --- field names in messages ---------------------------------------------------------------
def test_bad_cold_start_number_names_the_key_only() -> None:
    e = refused(function(cold_start_s=-1))
    assert (e.field, e.value) == ("functions[0].cold_start_s", -1)


def test_scale_max_below_min_names_the_function() -> None:
    e = refused(function(scale={"min": 5, "max": 2}))
    assert (e.field, e.value) == ("functions[0].scale.max", 2)


# --- autoscaler parameters -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("config", "field", "value"),
    [
        ({"kind": "kpa", "target_concurrency": "abc"}, "autoscaler.target_concurrency", "abc"),
        ({"kind": "kpa", "target_concurrency": 1e-320}, "autoscaler.target_concurrency", 1e-320),
        ({"kind": "kpa", "stable_window_s": math.inf}, "autoscaler.stable_window_s", math.inf),
        ({"kind": "kpa", "max_scale_up_rate": math.inf}, "autoscaler.max_scale_up_rate", math.inf),
        ({"kind": "kpa", "max_scale_up_rate": 1e308}, "autoscaler.max_scale_up_rate", 1e308),
        ({"kind": "kpa", "target_utilization": True}, "autoscaler.target_utilization", True),
        ({"kind": "keepalive", "keep_alive_s": "x"}, "autoscaler.keep_alive_s", "x"),
        ({"kind": "keepalive", "keep_alive_s": math.inf}, "autoscaler.keep_alive_s", math.inf),
        ({"kind": "fixed", "replicas": True}, "autoscaler.replicas", True),
    ],
)
def test_bad_autoscaler_values_name_the_parameter(
    config: dict[str, Any], field: str, value: object
) -> None:
    e = refused(scenario(autoscaler=config))
    assert (e.field, e.value) == (field, value)


def test_unknown_autoscaler_parameter_lists_the_accepted_ones_without_python_text() -> None:
    with pytest.raises(InputError) as info:
        create({"kind": "keepalive", "keep_alive_s": 5, "bogus": 2})
    e = info.value
    assert (e.field, e.value) == ("autoscaler.keepalive", ["bogus"])
    assert e.accepted == "parameters keep_alive_s"


def test_a_type_error_inside_a_factory_is_not_reported_as_unknown_parameters() -> None:
    reg: Registry[object] = Registry("thing")

    @reg.register("t")
    def make(size: object = 1) -> object:
        return 1 + size  # type: ignore[operator]

    with pytest.raises(InputError) as info:
        reg.create("t", size="big")
    assert info.value.field == "thing.t"
    assert "parameters size" not in info.value.accepted
    assert "unsupported operand" in info.value.accepted


def test_a_missing_required_parameter_is_named() -> None:
    reg: Registry[object] = Registry("thing")
    reg.register("t")(lambda size, scale=1: size * scale)
    with pytest.raises(InputError) as info:
        reg.create("t", scale=2)
    assert (info.value.field, info.value.value) == ("thing.t.size", "(missing)")


# --- keys written twice --------------------------------------------------------------------
def test_duplicate_top_level_key_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    text = yaml.safe_dump(scenario(), sort_keys=False)
    p.write_text(text.replace("duration_s: 200\n", "duration_s: 200\nduration_s: 300\n"))
    with pytest.raises(InputError) as info:
        load_scenario(p)
    assert info.value.field == "duration_s"
    assert "twice" in str(info.value.value)


def test_duplicate_nested_key_is_refused_with_its_path(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(
        "duration_s: 200\n"
        "functions:\n"
        "  - name: f\n"
        "    workload: {kind: poisson, rate_per_s: 8.0, rate_per_s: 9.0}\n"
        "    service_time: {kind: exponential, mean_s: 0.5}\n"
    )
    with pytest.raises(InputError) as info:
        load_scenario(p)
    assert info.value.field == "functions[0].workload.rate_per_s"
    # A merge key (`<<`) and a key that overrides what it merged are not duplicates.
    p.write_text(
        "duration_s: 200\n"
        "functions:\n"
        "  - name: f\n"
        "    workload: &w {kind: poisson, rate_per_s: 8.0}\n"
        "    service_time: {kind: exponential, mean_s: 0.5}\n"
        "  - name: g\n"
        "    workload: {<<: *w, rate_per_s: 2.0}\n"
        "    service_time: {kind: exponential, mean_s: 0.5}\n"
    )
    sc = load_scenario(p)
    assert sc.functions[1].workload.rate_per_s == 2.0  # type: ignore[union-attr]


# --- progress --------------------------------------------------------------------------------
def test_run_reports_progress_up_to_the_end() -> None:
    seen: list[float] = []
    Simulation(from_dict(scenario(duration_s=50))).run(progress=seen.append)
    assert seen, "no progress was reported"
    assert seen == sorted(seen)
    assert seen[0] >= 0 and seen[-1] == 1.0
