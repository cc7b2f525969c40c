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
    cold_start_s: float | Duration = 0.0
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

    def model_post_init(self, _ctx: Any) -> None:
        names = [f.name for f in self.functions]
        for n in names:
            check_name("function", n)
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise InputError("functions[].name", sorted(dup)[0], "names unique within a scenario")
        if self.warmup_s >= self.duration_s:
            raise InputError("warmup_s", self.warmup_s, f"seconds < duration_s={self.duration_s:g}")
        if "kind" not in self.autoscaler:
            raise InputError("autoscaler.kind", None, "the name of a registered autoscaler")


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _TAGS:
            continue  # the union member's tag adds nothing for a reader
        else:
            out += ("." if out else "") + str(part)
    return out or "scenario"


_TAGS = {"exponential", "deterministic", "lognormal", "uniform", "poisson", "diurnal", "trace"}


def _first_model(ann: Any) -> Any:
    import typing

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in typing.get_args(ann):
        m = _first_model(arg)
        if m is not None:
            return _UnionProxy(ann) if len(typing.get_args(ann)) > 1 else m
    return None


class _UnionProxy:
    """Stands for a tagged union while resolving an error location."""

    def __init__(self, ann: Any) -> None:
        self.ann = ann


def _resolve_tag(model: Any, tag: str) -> Any:
    import typing

    if isinstance(model, _UnionProxy):
        for arg in typing.get_args(model.ann):
            m = _first_model(arg)
            if m is not None and m.model_fields.get("kind") is not None:
                lit = typing.get_args(m.model_fields["kind"].annotation)
                if tag in lit:
                    return m
    return model


def from_dict(data: Any, base_dir: str | Path = ".") -> Scenario:
    """Validate a parsed scenario; raise `InputError` naming the first bad key."""
    if not isinstance(data, dict):
        raise InputError("scenario", type(data).__name__, "a YAML mapping of scenario keys")
    try:
        return Scenario.model_validate({**data, "base_dir": str(base_dir)})
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(err["loc"])
        where = _loc(loc)
        if err["type"] == "extra_forbidden":
            model: Any = Scenario
            for part in loc[:-1]:
                if isinstance(part, int):
                    continue
                if part in _TAGS:
                    model = _resolve_tag(model, str(part))
                    continue
                field = getattr(model, "model_fields", {}).get(part)
                model = _first_model(field.annotation) if field is not None else None
                if model is None:
                    break
            keys = [k for k in getattr(model, "model_fields", {}) if k != "base_dir"]
            raise InputError(where, "(unknown key)", "keys " + ", ".join(keys)) from None
        value = err.get("input")
        raise InputError(where, value, str(err["msg"]).lower()) from None


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
