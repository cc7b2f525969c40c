"""`function.yaml`: the deployable description of a function, validated at the boundary.

The manifest maps onto `tessera.core.FunctionSpec`; unknown keys and bad
values are refused with the key, the value and what is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tessera.core.errors import InputError
from tessera.core.model import NAME_PATTERN, FunctionSpec, ScaleBounds, check_name
from tessera.core.resources import GpuShare, Resources
from tessera.functions.runtimes import ACCEPTED, PYTHON, module_file, runtime_of
from tessera.functions.yamlio import parse_yaml

MANIFEST = "function.yaml"
TASKS_PER_INSTANCE, TASKS_BASE = 3, 8
"""What a sandboxed instance costs in tasks before its handler starts any (the process the
template forks, its PID namespace's init, the instance), and the sandbox's own (bwrap, the
template, prlimit, headroom)."""
_HANDLER = re.compile(r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$")


def secret_var(name: str) -> str:
    """The environment variable a function reads secret `name` from."""
    return "SECRET_" + name.upper().replace("-", "_")


class _Strict(BaseModel):
    # strict: `timeout_s: true` is not 1 second nor `concurrency: "5"` five (YAML already
    # types what a user writes; a quoted number or a boolean there is a mistake to report)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


GPU_MODELS = ("resnet50", "mobilenet_v3_large", "bert_base")
"""Model keys a GPU host can load on a real device and simulate (`tessera.gpu.models`)."""


class GpuConfig(_Strict):
    """A GPU share: at least `sm_pct`% of the SMs (rounded up to whole partitions) for
    `quota_pct`% of each 40 ms window, borrowing idle time up to `quota_limit_pct`."""

    model: str = Field(default="resnet50", description="the model the instance serves")
    sm_pct: float = Field(default=100.0, gt=0, le=100)
    quota_pct: float = Field(default=100.0, gt=0, le=100, description="the guaranteed request")
    quota_limit_pct: float | None = Field(
        default=None, gt=0, le=100, description="at most this much (default: quota_pct)"
    )
    mem_mib: int = Field(default=0, ge=0, description="the instance's own budget, weights apart")

    @property
    def limit_pct(self) -> float:
        return self.quota_pct if self.quota_limit_pct is None else self.quota_limit_pct


class ResourcesConfig(_Strict):
    cpu: float = Field(default=1.0, ge=0)
    memory_mib: int = Field(default=256, gt=0)
    processes: int | None = Field(
        default=None, ge=8, le=32768,
        description="tasks (processes and threads) per function version in the sandbox; "
        "default max(256, TASKS_PER_INSTANCE x scale.max + 8)",
    )  # fmt: skip
    open_files: int = Field(
        default=1024, ge=16, le=1048576, description="open files per process in the sandbox"
    )
    gpu: GpuConfig | None = None


class ScaleConfig(_Strict):
    min: int = Field(default=0, ge=0)
    max: int = Field(default=10, ge=1)
    target: float = Field(default=1.0, gt=0, description="target concurrency per instance")


class FunctionManifest(_Strict):
    name: str
    runtime: str = "python3"
    handler: str = "main.handle"
    resources: ResourcesConfig = ResourcesConfig()
    scale: ScaleConfig = ScaleConfig()
    concurrency: int = Field(default=1, ge=1, le=1000)
    timeout_s: float = Field(default=30.0, gt=0, le=3600)
    env: dict[str, str] = Field(default_factory=dict)
    private: bool = False
    network: bool = False
    """Network access in the sandbox (tessera up); without it a function sees only its own
    loopback."""
    secrets: list[Annotated[str, Field(pattern=NAME_PATTERN)]] = Field(
        default_factory=list,
        description="names of platform secrets (`tessera secret set NAME`) this function "
        "receives at start, each as the environment variable SECRET_<NAME> (upper case, "
        "'-' as '_'); values never appear in manifests, records or logs",
    )
    preload: list[str] = Field(
        default_factory=list,
        description="modules the template imports before forking (e.g. lazily imported "
        "submodules such as numpy.ma), so no instance pays for them on its first request",
    )

    @property
    def secret_vars(self) -> list[str]:
        """SECRET_<NAME> for each secret, sorted."""
        return sorted(secret_var(n) for n in self.secrets)

    @property
    def referenced_env(self) -> list[str]:
        """Every variable an adapter's build supplies by reference, never by value: the env
        keys and the secrets' variables, sorted."""
        return sorted({*self.env, *self.secret_vars})

    @property
    def task_limit(self) -> int:
        """The sandbox's task cap for one version of this function."""
        floor = TASKS_PER_INSTANCE * self.scale.max + TASKS_BASE
        return self.resources.processes or max(256, floor)

    def spec(self) -> FunctionSpec:
        gpu = self.resources.gpu
        return FunctionSpec(
            name=self.name,
            handler=self.handler,
            runtime=self.runtime,
            resources=Resources(
                cpu=self.resources.cpu,
                mem_mib=self.resources.memory_mib,
                gpu=GpuShare(gpu.sm_pct, gpu.quota_pct, gpu.mem_mib) if gpu else None,
            ),
            concurrency=self.concurrency,
            scale=ScaleBounds(self.scale.min, self.scale.max, self.scale.target),
            timeout_s=self.timeout_s,
            env=dict(self.env),
        )


_SECTIONS: dict[str, type[BaseModel]] = {
    "resources": ResourcesConfig,
    "scale": ScaleConfig,
    "gpu": GpuConfig,
}


def _section(parent: tuple[int | str, ...]) -> type[BaseModel]:
    """The model of the section at `parent` (where an unknown key was found)."""
    last = next((p for p in reversed(parent) if isinstance(p, str)), None)
    return FunctionManifest if last is None else _SECTIONS.get(last, FunctionManifest)


def parse_manifest(data: Any, where: str = MANIFEST) -> FunctionManifest:
    """Validate a parsed manifest; raise `InputError` naming the first bad key."""
    if not isinstance(data, dict):
        raise InputError(where, type(data).__name__, "a YAML mapping with at least `name`")
    try:
        m = FunctionManifest.model_validate(data)
    except ValidationError as e:
        errs = sorted(e.errors(), key=lambda x: x["type"] != "extra_forbidden")
        err = errs[0]
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            raise InputError(
                f"{where}: {loc}",
                "(unknown key)",
                "keys " + ", ".join(_section(err["loc"][:-1]).model_fields),
            ) from None
        raise InputError(f"{where}: {loc}", err.get("input"), str(err["msg"])) from None
    try:
        check_name("function", m.name)
    except InputError as e:
        raise InputError(f"{where}: name", m.name, e.accepted) from None
    if not _HANDLER.match(m.handler):
        raise InputError(f"{where}: handler", m.handler, "'module.function', e.g. 'main.handle'")
    clash = sorted(set(m.env) & set(m.secret_vars))
    if clash:
        raise InputError(
            f"{where}: env", ", ".join(clash), "no key a listed secret is delivered as"
        )
    if m.scale.max < m.scale.min:
        raise InputError(f"{where}: scale.max", m.scale.max, f">= scale.min={m.scale.min}")
    least = TASKS_PER_INSTANCE * m.scale.max + TASKS_BASE
    if m.resources.processes is not None and m.resources.processes < least:
        raise InputError(
            f"{where}: resources.processes",
            m.resources.processes,
            f">= {least} ({TASKS_PER_INSTANCE} per instance up to scale.max={m.scale.max}, "
            f"plus {TASKS_BASE} for the sandbox and template)",
        )
    runtime = runtime_of(m.runtime)
    if runtime is None:
        raise InputError(f"{where}: runtime", m.runtime, ACCEPTED)
    if runtime.max_concurrency is not None and m.concurrency > runtime.max_concurrency:
        raise InputError(
            f"{where}: concurrency",
            m.concurrency,
            f"at most {runtime.max_concurrency} for runtime {m.runtime} "
            "(one module instance serves one call at a time; scale out with scale.max)",
        )
    if m.preload and runtime is not PYTHON:
        raise InputError(f"{where}: preload", m.preload, "[] for runtime " + m.runtime)
    gpu = m.resources.gpu
    if gpu is not None:
        if gpu.model not in GPU_MODELS:
            raise InputError(
                f"{where}: resources.gpu.model", gpu.model, "one of " + ", ".join(GPU_MODELS)
            )
        if gpu.limit_pct < gpu.quota_pct:
            raise InputError(
                f"{where}: resources.gpu.quota_limit_pct",
                gpu.quota_limit_pct,
                f"a percentage in [quota_pct={gpu.quota_pct:g}, 100]",
            )
    return m


def read_manifest(path: str | Path) -> FunctionManifest:
    """Read and validate `path/function.yaml` (the handler's module file is not checked)."""
    d = Path(path)
    if not d.is_dir():
        raise InputError("function dir", str(path), "a folder containing function.yaml")
    mf = d / MANIFEST
    if not mf.is_file():
        raise InputError("function dir", str(path), f"a folder containing {MANIFEST}")
    raw = mf.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(
            str(mf),
            f"not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start})",
            "a UTF-8 text file",
        ) from None
    try:
        data = parse_yaml(text, MANIFEST)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise InputError(str(mf), "unparsable YAML" + at, "valid YAML") from None
    return parse_manifest(data, MANIFEST)


def load_function_dir(path: str | Path) -> FunctionManifest:
    """Read and validate `path/function.yaml`, and check the handler's module file exists."""
    d = Path(path)
    m = read_manifest(d)
    runtime = runtime_of(m.runtime)
    assert runtime is not None  # parse_manifest checked it
    rel = module_file(runtime, m.handler)
    if runtime is PYTHON:
        if not ((d / rel).is_file() or (d / rel.with_suffix("") / "__init__.py").is_file()):
            raise InputError(f"{MANIFEST}: handler", m.handler, f"a module file {rel} in {d}")
    elif not (d / rel).is_file():
        hint = ""
        if runtime.kind == "wasi" and (d / rel.with_suffix(".c")).is_file():
            hint = f" (build it from {rel.with_suffix('.c')}: tessera fn build-wasm {d})"
        raise InputError(f"{MANIFEST}: handler", m.handler, f"a module file {rel} in {d}" + hint)
    return m


_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def resolve_env(env: Mapping[str, str], source: Mapping[str, str]) -> dict[str, str]:
    """A function's env with references resolved: a value written `${NAME}` (what `tessera fn
    build` leaves in artifacts instead of a secret) takes NAME's value from `source`, the
    environment of the process that runs the function (a Kubernetes Secret, the deployer's
    shell); a reference to an unset variable leaves the key out. Other values stay as written."""
    out = {}
    for k, v in env.items():
        ref = _REF.match(v)
        if ref is None:
            out[k] = v
        elif ref.group(1) in source:
            out[k] = source[ref.group(1)]
    return out
