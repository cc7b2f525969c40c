"""The scenario file format (YAML), validated at the boundary with pydantic.

Unknown keys, keys written twice and bad values fail with one message that
names the key, the value and what is accepted. Distributions and workloads are
tagged unions on `kind`; the autoscaler is any registered plugin,
`{kind: NAME, ...params}`.

Every number must be finite (no `.inf`/`.nan`) and no number may be written as
`true`/`false`. The limits below keep a run to minutes of work and memory: a
scenario past them is refused before the run starts, naming the limit.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from tessera.autoscaling import create as create_autoscaler
from tessera.core.data import data_dir
from tessera.core.errors import InputError
from tessera.core.model import check_name
from tessera.functions.yamlio import key_path, parse_yaml

# --- limits (documented in the module docstring and in each refusal) ---------------------
MAX_TIME_S = 86_400.0
"""Longest service time or cold start (a fixed value, a mean or a uniform's high end): one
day. Work admitted before `duration_s` completes, so longer times only stretch the run."""
MAX_CV = 10.0
"""Largest coefficient of variation of a lognormal."""
MIN_INTERARRIVAL_S = 1e-6
"""Shortest interval of a deterministic workload (a million arrivals per second)."""
MIN_PERIOD_S = 1e-3
"""Shortest period of a diurnal workload."""
MIN_AUTOSCALER_INTERVAL_S = 1e-3
"""Shortest autoscaler interval (the simulated control loop's period; Knative's is 2 s)."""
MIN_TARGET = 0.01
"""Smallest target concurrency per instance (Knative's minimum target)."""
MAX_INSTANCES = 100_000
"""Largest `scale.max` of one function."""
MAX_ARRIVALS = 50_000_000
"""Most arrivals one run may generate, all functions together (each costs ~200 bytes of
records and a few microseconds): rate x duration_s, or a trace's counts within duration_s."""
MAX_WINDOW_READS = 1e9
"""Most metric-window buckets one run may read: every autoscaler decision reads each
function's `WINDOW_S` window of `WINDOW_S / autoscaler_interval_s` buckets."""
WINDOW_S = 300.0
"""How much metric history snapshots carry."""


def _no_bool(value: Any) -> Any:
    """YAML's true/false are not numbers (pydantic would read them as 1 and 0)."""
    if isinstance(value, bool):
        raise PydanticCustomError("bool_number", "a number, not true/false")
    return value


Float = Annotated[float, BeforeValidator(_no_bool)]
Int = Annotated[int, BeforeValidator(_no_bool)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# --- distributions of a duration ---------------------------------------------------------
class Exponential(_Strict):
    kind: Literal["exponential"]
    mean_s: Float = Field(gt=0, le=MAX_TIME_S)


class Deterministic(_Strict):
    kind: Literal["deterministic"]
    s: Float = Field(ge=0, le=MAX_TIME_S)


class LogNormal(_Strict):
    kind: Literal["lognormal"]
    mean_s: Float = Field(gt=0, le=MAX_TIME_S)
    cv: Float = Field(gt=0, le=MAX_CV, description="coefficient of variation, std/mean")


class Uniform(_Strict):
    kind: Literal["uniform"]
    low_s: Float = Field(ge=0, le=MAX_TIME_S)
    high_s: Float = Field(gt=0, le=MAX_TIME_S)


Duration = Annotated[Exponential | Deterministic | LogNormal | Uniform, Field(discriminator="kind")]


# --- workloads ---------------------------------------------------------------------------
class Poisson(_Strict):
    kind: Literal["poisson"]
    rate_per_s: Float = Field(gt=0)


class Periodic(_Strict):
    kind: Literal["deterministic"]
    interval_s: Float = Field(ge=MIN_INTERARRIVAL_S)


class Diurnal(_Strict):
    kind: Literal["diurnal"]
    mean_rate_per_s: Float = Field(gt=0)
    amplitude: Float = Field(ge=0, le=1)
    period_s: Float = Field(default=86_400.0, ge=MIN_PERIOD_S)


class Trace(_Strict):
    kind: Literal["trace"]
    path: str
    scale: Float = Field(default=1.0, gt=0)
    column: str | None = None
    start_minute: Int = Field(default=0, ge=0)
    minutes: Int | None = Field(default=None, gt=0)


Workload = Annotated[Poisson | Periodic | Diurnal | Trace, Field(discriminator="kind")]


# --- the scenario ------------------------------------------------------------------------
class ScaleConfig(_Strict):
    min: Int = Field(default=0, ge=0, le=MAX_INSTANCES)
    max: Int = Field(default=1000, ge=1, le=MAX_INSTANCES)
    target: Float = Field(default=1.0, ge=MIN_TARGET, description="target concurrency per instance")


class FunctionConfig(_Strict):
    name: str
    workload: Workload
    service_time: Duration
    cold_start_s: Annotated[Float, Field(ge=0, le=MAX_TIME_S)] | Duration = 0.0
    concurrency: Int = Field(default=1, ge=1)
    memory_mib: Int = Field(default=256, gt=0)
    scale: ScaleConfig = ScaleConfig()


class EnergyConfig(_Strict):
    """Power and price model of one instance; defaults are a 1-vCPU container share."""

    idle_w: Float = Field(default=3.0, ge=0, description="instance power while idle, W")
    busy_w: Float = Field(default=12.0, ge=0, description="instance power while fully busy, W")
    pue: Float = Field(default=1.12, ge=1)
    gco2_per_kwh: Float = Field(default=400.0, ge=0, description="grid carbon intensity")
    usd_per_gib_s: Float = Field(
        default=0.0000166667, ge=0, description="AWS Lambda's x86 price per GiB-second"
    )
    embodied_g_per_s: Float | None = Field(
        default=None,
        ge=0,
        description="embodied gCO2e per instance-second; None: one vCPU and the function's "
        "memory on the GreenSKU server (tessera.carbon.accounting)",
    )


class Scenario(_Strict):
    name: str = "scenario"
    seed: Int = Field(default=0, ge=0)
    duration_s: Float = Field(gt=0)
    warmup_s: Float = Field(default=0.0, ge=0, description="arrivals before this are not measured")
    autoscaler_interval_s: Float = Field(default=2.0, ge=MIN_AUTOSCALER_INTERVAL_S)
    functions: list[FunctionConfig] = Field(min_length=1)
    autoscaler: dict[str, Any] = Field(default_factory=lambda: {"kind": "fixed", "replicas": 1})
    energy: EnergyConfig = EnergyConfig()
    base_dir: str = Field(default=".", exclude=True)


_DURATIONS = {
    "exponential": Exponential,
    "deterministic": Deterministic,
    "lognormal": LogNormal,
    "uniform": Uniform,
}
_WORKLOADS = {"poisson": Poisson, "deterministic": Periodic, "diurnal": Diurnal, "trace": Trace}
_TAGS = {*_DURATIONS, *_WORKLOADS}
# where a key lives -> the model (or tagged union, by `kind`) that defines the keys accepted there
_MODEL_AT: dict[str | None, Any] = {
    None: Scenario,
    "functions": FunctionConfig,
    "scale": ScaleConfig,
    "energy": EnergyConfig,
    "workload": _WORKLOADS,
    "service_time": _DURATIONS,
    "cold_start_s": _DURATIONS,
}
# error types that only say "the input took the other branch of a union"
_WRONG_BRANCH = {"float_type", "float_parsing", "int_type", "int_parsing", "model_attributes_type"}


_LABELS = ("tagged-union[", "constrained-", "function-", "lax-or-strict[", "json-or-python[")


def _named(loc: tuple[int | str, ...]) -> list[int | str]:
    """The location as a reader wrote it: no union-branch, validator or tag segments (pydantic
    names those like `constrained-float`, `function-after[...]`, `tagged-union[...]`)."""
    return [
        p
        for p in loc
        if isinstance(p, int)
        or not (p in _TAGS or p.startswith(_LABELS) or p in ("float", "int", "none"))
    ]


def _path(parts: list[int | str]) -> str:
    return key_path(parts) or "scenario"


def _accepted_keys(parent: list[int | str], data: Any) -> str:
    """The keys accepted at `parent` (where an unknown key was found)."""
    node: Any = data
    for p in parent:
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            node = None
    last = next((p for p in reversed(parent) if isinstance(p, str)), None)
    model = _MODEL_AT.get(last)
    if isinstance(model, dict):
        model = model.get(node.get("kind") if isinstance(node, dict) else None)
    if model is None:
        return "the keys documented for this section"
    return "keys " + ", ".join(k for k in model.model_fields if k != "base_dir")


def _first_error(e: ValidationError) -> dict[str, Any]:
    """The error a person should see first: an unknown key, then a bad value, then a missing key."""
    errors = list(e.errors())

    def rank(err: Any) -> int:
        if err["type"] == "extra_forbidden":
            return 0
        if err["type"] in _WRONG_BRANCH and len(errors) > 1:
            return 3
        return 2 if err["type"] == "missing" else 1

    return dict(min(errors, key=rank))


def _check(sc: Scenario) -> None:
    """Rules across fields, checked after the per-field validation."""
    seen: set[str] = set()
    for i, f in enumerate(sc.functions):
        try:
            check_name("function", f.name)
        except InputError as e:
            raise InputError(f"functions[{i}].name", f.name, e.accepted) from None
        if f.name in seen:
            raise InputError(f"functions[{i}].name", f.name, "names unique within a scenario")
        seen.add(f.name)
        for key in ("service_time", "cold_start_s"):
            dist = getattr(f, key)
            if isinstance(dist, Uniform) and dist.high_s < dist.low_s:
                raise InputError(
                    f"functions[{i}].{key}.high_s", dist.high_s, f"a value >= low_s={dist.low_s:g}"
                )
        if f.scale.max < f.scale.min:
            raise InputError(
                f"functions[{i}].scale.max", f.scale.max, f"an integer >= scale.min={f.scale.min}"
            )
    if sc.warmup_s >= sc.duration_s:
        raise InputError("warmup_s", sc.warmup_s, f"seconds < duration_s={sc.duration_s:g}")
    _check_size(sc)
    if "kind" not in sc.autoscaler:
        raise InputError("autoscaler.kind", None, "the name of a registered autoscaler")
    create_autoscaler(sc.autoscaler)  # unknown kinds and bad parameters fail here, not mid-run
    for i, f in enumerate(sc.functions):
        if (
            isinstance(f.workload, Trace)
            and not resolve_path(f.workload.path, sc.base_dir).is_file()
        ):
            raise InputError(
                f"functions[{i}].workload.path",
                f.workload.path,
                "a CSV of per-minute counts, relative to the scenario file, the working "
                "directory or $TESSERA_DATA",
            )


def expected_arrivals(workload: Any, duration_s: float) -> float | None:
    """How many arrivals `workload` generates in `duration_s` (None for a trace: it depends on
    the file; `tessera.sim.engine` counts those)."""
    if isinstance(workload, Poisson):
        return workload.rate_per_s * duration_s
    if isinstance(workload, Periodic):
        return duration_s / workload.interval_s
    if isinstance(workload, Diurnal):  # drawn at the peak rate, then thinned
        return workload.mean_rate_per_s * (1 + workload.amplitude) * duration_s
    return None


def check_arrivals(sc: Scenario, trace_arrivals: dict[int, float] | None = None) -> None:
    """Refuse a run that would generate more than `MAX_ARRIVALS` arrivals (`trace_arrivals`:
    function index -> arrivals of its trace within `duration_s`, as the engine counted them)."""
    per: dict[int, float] = {}
    for i, f in enumerate(sc.functions):
        n = expected_arrivals(f.workload, sc.duration_s)
        if n is None:
            n = (trace_arrivals or {}).get(i, 0.0)
        per[i] = n
    total = math.fsum(per.values())
    if total <= MAX_ARRIVALS:
        return
    i = max(per, key=per.__getitem__)
    w = sc.functions[i].workload
    key = {Poisson: "rate_per_s", Periodic: "interval_s", Diurnal: "mean_rate_per_s"}.get(
        type(w), "scale"
    )
    also = f" ({total:.3g} with the other functions)" if len(per) > 1 else ""
    raise InputError(
        f"functions[{i}].workload.{key}",
        getattr(w, key),
        f"a workload of at most {MAX_ARRIVALS:,} arrivals per run: this one makes "
        f"{per[i]:.3g} in duration_s={sc.duration_s:g}{also}",
    )


def _check_size(sc: Scenario) -> None:
    """Refuse runs whose size alone would take hours or exhaust memory."""
    check_arrivals(sc)
    interval = sc.autoscaler_interval_s
    buckets = max(1, math.ceil(WINDOW_S / interval))
    reads = sc.duration_s / interval * buckets * len(sc.functions)
    if reads > MAX_WINDOW_READS:
        longest = MAX_WINDOW_READS / (buckets * len(sc.functions)) * interval
        raise InputError(
            "duration_s",
            sc.duration_s,
            f"at most {longest:,.0f} s at autoscaler_interval_s={interval:g} with "
            f"{len(sc.functions)} function(s) (each decision reads every function's "
            f"{WINDOW_S:g} s metric window, {buckets:,} buckets; at most "
            f"{MAX_WINDOW_READS:.0e} bucket reads per run): a longer autoscaler_interval_s "
            "allows a longer run",
        )


def resolve_path(path: str, base_dir: str) -> Path:
    """A data path as written in a scenario: absolute, or relative to the scenario's folder,
    the working directory, then the data folder ($TESSERA_DATA)."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    for root in (Path(base_dir), Path.cwd(), data_dir()):
        if root is not None and (root / p).exists():
            return root / p
    return Path(base_dir) / p


def from_dict(data: Any, base_dir: str | Path = ".") -> Scenario:
    """Validate a parsed scenario; raise `InputError` naming the first bad key."""
    if not isinstance(data, dict):
        raise InputError("scenario", type(data).__name__, "a YAML mapping of scenario keys")
    if "base_dir" in data:
        raise InputError("base_dir", data["base_dir"], "not a scenario key (set from the file)")
    try:
        sc = Scenario.model_validate({**data, "base_dir": str(base_dir)})
    except ValidationError as e:
        err = _first_error(e)
        parts = _named(tuple(err["loc"]))
        if err["type"] == "extra_forbidden":
            raise InputError(
                _path(parts), "(unknown key)", _accepted_keys(parts[:-1], data)
            ) from None
        value = err.get("input")
        if isinstance(value, dict) and err["type"] == "missing":
            value = "(missing)"
        raise InputError(_path(parts), value, str(err["msg"])) from None
    _check(sc)
    return sc


def read_text(path: Path, field: str) -> str:
    """The file's text, which must be UTF-8."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(
            field,
            str(path),
            f"a UTF-8 text file (not UTF-8 text: byte 0x{data[e.start]:02x} at offset {e.start})",
        ) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file."""
    p = Path(path)
    if not p.is_file():
        raise InputError("scenario", str(path), "a path to an existing YAML file")
    text = read_text(p, "scenario")
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputError("scenario", str(path), f"valid YAML (parse error{where})") from None
    return from_dict(data, base_dir=p.parent)
