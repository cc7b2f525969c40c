"""The scenario file format (YAML), validated at the boundary with pydantic.

Unknown keys and bad values fail with one message that names the key, the
value and what is accepted. Distributions and workloads are tagged unions on
`kind`; the autoscaler is any registered plugin, `{kind: NAME, ...params}`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tessera.autoscaling import create as create_autoscaler
from tessera.core.data import data_dir
from tessera.core.errors import InputError
from tessera.core.model import check_name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- distributions of a duration ---------------------------------------------------------
class Exponential(_Strict):
    kind: Literal["exponential"]
    mean_s: float = Field(gt=0)


class Deterministic(_Strict):
    kind: Literal["deterministic"]
    s: float = Field(ge=0)


class LogNormal(_Strict):
    kind: Literal["lognormal"]
    mean_s: float = Field(gt=0)
    cv: float = Field(gt=0, description="coefficient of variation, std/mean")


class Uniform(_Strict):
    kind: Literal["uniform"]
    low_s: float = Field(ge=0)
    high_s: float = Field(gt=0)


Duration = Annotated[Exponential | Deterministic | LogNormal | Uniform, Field(discriminator="kind")]


# --- workloads ---------------------------------------------------------------------------
class Poisson(_Strict):
    kind: Literal["poisson"]
    rate_per_s: float = Field(gt=0)


class Periodic(_Strict):
    kind: Literal["deterministic"]
    interval_s: float = Field(gt=0)


class Diurnal(_Strict):
    kind: Literal["diurnal"]
    mean_rate_per_s: float = Field(gt=0)
    amplitude: float = Field(ge=0, le=1)
    period_s: float = Field(default=86_400.0, gt=0)


class Trace(_Strict):
    kind: Literal["trace"]
    path: str
    scale: float = Field(default=1.0, gt=0)
    column: str | None = None
    start_minute: int = Field(default=0, ge=0)
    minutes: int | None = Field(default=None, gt=0)


Workload = Annotated[Poisson | Periodic | Diurnal | Trace, Field(discriminator="kind")]


# --- the scenario ------------------------------------------------------------------------
class ScaleConfig(_Strict):
    min: int = Field(default=0, ge=0)
    max: int = Field(default=1000, ge=1)
    target: float = Field(default=1.0, gt=0, description="target concurrency per instance")


class FunctionConfig(_Strict):
    name: str
    workload: Workload
    service_time: Duration
    cold_start_s: Annotated[float, Field(ge=0)] | Duration = 0.0
    concurrency: int = Field(default=1, ge=1)
    memory_mib: int = Field(default=256, gt=0)
    scale: ScaleConfig = ScaleConfig()


class EnergyConfig(_Strict):
    """Power and price model of one instance; defaults are a 1-vCPU container share."""

    idle_w: float = Field(default=3.0, ge=0, description="instance power while idle, W")
    busy_w: float = Field(default=12.0, ge=0, description="instance power while fully busy, W")
    pue: float = Field(default=1.12, ge=1)
    gco2_per_kwh: float = Field(default=400.0, ge=0, description="grid carbon intensity")
    usd_per_gib_s: float = Field(
        default=0.0000166667, ge=0, description="AWS Lambda's x86 price per GiB-second"
    )
    embodied_g_per_s: float | None = Field(
        default=None,
        ge=0,
        description="embodied gCO2e per instance-second; None: one vCPU and the function's "
        "memory on the GreenSKU server (tessera.carbon.accounting)",
    )


class Scenario(_Strict):
    name: str = "scenario"
    seed: int = 0
    duration_s: float = Field(gt=0)
    warmup_s: float = Field(default=0.0, ge=0, description="arrivals before this are not measured")
    autoscaler_interval_s: float = Field(default=2.0, gt=0)
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


def _named(loc: tuple[int | str, ...]) -> list[int | str]:
    """The location as a reader wrote it: no union-branch or tag segments."""
    return [
        p
        for p in loc
        if isinstance(p, int)
        or not (p in _TAGS or p.startswith("tagged-union[") or p in ("float", "int"))
    ]


def _path(parts: list[int | str]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out or "scenario"


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
        if isinstance(f.service_time, Uniform) and f.service_time.high_s < f.service_time.low_s:
            raise InputError(
                f"functions[{i}].service_time.high_s",
                f.service_time.high_s,
                f"a value >= low_s={f.service_time.low_s:g}",
            )
    if sc.warmup_s >= sc.duration_s:
        raise InputError("warmup_s", sc.warmup_s, f"seconds < duration_s={sc.duration_s:g}")
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


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file."""
    p = Path(path)
    if not p.is_file():
        raise InputError("scenario", str(path), "a path to an existing YAML file")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputError("scenario", str(path), f"valid YAML (parse error{where})") from None
    return from_dict(data, base_dir=p.parent)
