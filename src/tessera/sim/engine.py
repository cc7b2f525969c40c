"""The simulator as a driver: builds snapshots, calls the autoscaler, applies its decisions.

It shares the policies with the real control loop (`tessera.control`) and
calls them through the same `tessera.autoscaling.evaluate`, so bounds and
other shared rules are applied once. Every metric comes from the
per-invocation records the function models write.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tessera.autoscaling import create, evaluate
from tessera.core.errors import InputError
from tessera.core.model import ScaleBounds
from tessera.core.policy import Snapshot
from tessera.core.ports import Autoscaler
from tessera.core.records import InvocationRecord
from tessera.core.stats import json_safe
from tessera.sim import random as rv
from tessera.sim import workload as wl
from tessera.sim.function import FunctionModel
from tessera.sim.kernel import URGENT, Environment
from tessera.sim.metrics import embodied_g_per_s, function_metrics
from tessera.sim.scenario import (
    WINDOW_S,  # how much metric history snapshots carry
    Deterministic,
    Diurnal,
    Exponential,
    FunctionConfig,
    LogNormal,
    Periodic,
    Poisson,
    Scenario,
    Trace,
    Uniform,
    check_arrivals,
    resolve_path,
)


def _variate(cfg: Any, rng: np.random.Generator) -> rv.Variate:
    if isinstance(cfg, int | float):
        return rv.constant(float(cfg))
    if isinstance(cfg, Exponential):
        return rv.exponential(rng, cfg.mean_s)
    if isinstance(cfg, Deterministic):
        return rv.constant(cfg.s)
    if isinstance(cfg, LogNormal):
        return rv.lognormal(rng, cfg.mean_s, cfg.cv)
    if isinstance(cfg, Uniform):
        return rv.uniform(rng, cfg.low_s, cfg.high_s)
    raise InputError("distribution.kind", cfg, "exponential, deterministic, lognormal, uniform")


def _arrivals(cfg: Any, rng: np.random.Generator, base_dir: str) -> Iterator[float]:
    if isinstance(cfg, Poisson):
        return wl.poisson(rng, cfg.rate_per_s)
    if isinstance(cfg, Periodic):
        return wl.deterministic(cfg.interval_s)
    if isinstance(cfg, Diurnal):
        return wl.diurnal(rng, cfg.mean_rate_per_s, cfg.amplitude, cfg.period_s)
    if isinstance(cfg, Trace):
        return wl.replay_counts(rng, _trace_counts(cfg, base_dir), cfg.scale)
    raise InputError("workload.kind", cfg, "poisson, deterministic, diurnal, trace")


def _trace_counts(cfg: Trace, base_dir: str) -> np.ndarray:
    """The per-minute counts a trace workload replays (checked: `workload.check_counts`)."""
    path = resolve_path(cfg.path, base_dir)
    counts = wl.read_minute_counts(path, cfg.column)
    if cfg.start_minute >= len(counts):
        raise InputError(
            "workload.start_minute",
            cfg.start_minute,
            f"0..{len(counts) - 1} ({path} has {len(counts)} minutes)",
        )
    end = None if cfg.minutes is None else cfg.start_minute + cfg.minutes
    counts = counts[cfg.start_minute : end]
    wl.check_counts(counts, cfg.scale, path)
    return counts


@dataclass
class FunctionResult:
    """Columnar per-invocation records of one function, plus its instances' lifetimes."""

    name: str
    arrival_s: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    instance: np.ndarray
    cold: np.ndarray
    instance_born_s: np.ndarray
    instance_gone_s: np.ndarray
    concurrency: int
    memory_mib: int


@dataclass
class SimResult:
    scenario: Scenario
    functions: dict[str, FunctionResult]
    events: int
    wall_s: float
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    decisions: list[tuple[float, str, int, str]] = field(default_factory=list)
    seed: int | None = None
    """The seed the run used (a `--seed` override); None: the scenario's."""

    def records(self, function: str | None = None) -> Iterator[InvocationRecord]:
        """Every invocation as an `InvocationRecord` (completed ones first, in arrival order)."""
        e = self.scenario.energy
        for name, fr in self.functions.items():
            if function is not None and name != function:
                continue
            busy_w = e.busy_w / fr.concurrency
            embodied = embodied_g_per_s(e, fr.memory_mib) / fr.concurrency
            for i in range(len(fr.arrival_s)):
                end = float(fr.end_s[i])
                start = float(fr.start_s[i])
                done = end >= 0
                energy = (end - start) * busy_w if done else 0.0
                yield InvocationRecord(
                    id=i,
                    function=name,
                    arrival_s=float(fr.arrival_s[i]),
                    start_s=start,
                    end_s=end,
                    cold=bool(fr.cold[i]),
                    instance=int(fr.instance[i]),
                    node="sim",
                    region="sim",
                    energy_j=energy,
                    carbon_g=energy / 3.6e6 * e.pue * e.gco2_per_kwh,
                    cost_usd=(end - start) * fr.memory_mib / 1024 * e.usd_per_gib_s
                    if done
                    else 0.0,
                    status="ok" if done else "unfinished",
                    embodied_g=(end - start) * embodied if done else 0.0,
                )

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.name,
            "seed": self.scenario.seed if self.seed is None else self.seed,
            "functions": json_safe(self.metrics),
            "events": self.events,
            "wall_s": round(self.wall_s, 4),
        }


class Simulation:
    """Runs one scenario: arrivals stop at `duration_s`; work already admitted completes."""

    def __init__(self, scenario: Scenario, seed: int | None = None) -> None:
        self._t0 = time.perf_counter()  # wall_s covers set-up, the run and the metrics
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0
        ):
            raise InputError("seed", seed, "an integer >= 0")
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self._progress: Callable[[float], None] | None = None
        # Trace files are read and checked here, before any event runs.
        traces: dict[int, np.ndarray] = {}
        trace_arrivals: dict[int, float] = {}
        minutes = math.ceil(scenario.duration_s / 60)  # the minutes that start before the horizon
        for i, fc in enumerate(scenario.functions):
            if isinstance(fc.workload, Trace):
                try:
                    traces[i] = _trace_counts(fc.workload, scenario.base_dir)
                except InputError as e:
                    raise InputError(f"functions[{i}].{e.field}", e.value, e.accepted) from None
                trace_arrivals[i] = float(traces[i][:minutes].sum()) * fc.workload.scale
        check_arrivals(scenario, trace_arrivals)
        self.env = Environment()
        self.autoscaler: Autoscaler = create(scenario.autoscaler)
        self._state: Any = None
        self._poked: set[str] = set()
        self.decisions: list[tuple[float, str, int, str]] = []
        root = np.random.SeedSequence(self.seed)
        children = root.spawn(len(scenario.functions))
        self.models: dict[str, FunctionModel] = {}
        self._configs: dict[str, FunctionConfig] = {}
        bucket = scenario.autoscaler_interval_s
        reactive = bool(getattr(self.autoscaler, "reactive", False))
        for i, (fc, ss) in enumerate(zip(scenario.functions, children, strict=True)):
            a_rng, s_rng, c_rng = (np.random.default_rng(s) for s in ss.spawn(3))
            self._configs[fc.name] = fc
            arrivals = (
                wl.replay_counts(a_rng, traces[i], fc.workload.scale)
                if isinstance(fc.workload, Trace)
                else _arrivals(fc.workload, a_rng, scenario.base_dir)
            )
            self.models[fc.name] = FunctionModel(
                env=self.env,
                name=fc.name,
                arrivals=arrivals,
                service=_variate(fc.service_time, s_rng),
                cold_start=_variate(fc.cold_start_s, c_rng),
                concurrency=fc.concurrency,
                bounds=ScaleBounds(fc.scale.min, fc.scale.max, fc.scale.target),
                horizon_s=scenario.duration_s,
                window_len=max(1, math.ceil(WINDOW_S / bucket)),
                on_unserved=self._poke,
                reactive=reactive,
            )

    # --- the control loop in virtual time ------------------------------------------------
    def _snapshot(self, models: list[FunctionModel]) -> Snapshot:
        b = self.scenario.autoscaler_interval_s
        return Snapshot(
            now_s=self.env.now, functions={m.name: m.view(b) for m in models}, state=self._state
        )

    def _decide(self, models: list[FunctionModel], warm: bool = False) -> None:
        result = evaluate(self.autoscaler, self._snapshot(models))
        if isinstance(result.state, dict) and isinstance(self._state, dict):
            self._state = {**self._state, **result.state}
        else:
            self._state = result.state
        now = self.env.now
        for d in result.decisions:
            m = self.models[d.function]
            before = m.replicas()
            m.apply(d, warm=warm)
            if d.replicas != before:
                self.decisions.append((now, d.function, d.replicas, d.reason))

    def _tick(self, _: object) -> None:
        models = list(self.models.values())
        for m in models:
            m.meter.close_bucket(self.env.now)
        self._decide(models)
        # After the horizon, keep deciding only while admitted work can still be served;
        # requests at a function the policy keeps at zero are reported as unfinished.
        if self.env.now < self.scenario.duration_s or any(m.in_flight and m.live for m in models):
            self.env.schedule(self.scenario.autoscaler_interval_s, self._tick)
        if self._progress is not None:
            self._progress(min(1.0, self.env.now / self.scenario.duration_s))

    def _poke(self, model: FunctionModel) -> None:
        """A request found no free instance: let the policy react now (the activator's role)."""
        if model.name in self._poked:
            return  # one evaluation per function is already due now; it will see this request
        self._poked.add(model.name)
        self.env.at(self.env.now, self._poke_run, model, URGENT)

    def _poke_run(self, model: FunctionModel) -> None:
        self._poked.discard(model.name)
        self._decide([model])

    def run(self, progress: Callable[[float], None] | None = None) -> SimResult:
        """Run to the end; `progress(fraction of duration_s simulated)` is called after every
        autoscaler decision (1.0 while admitted work drains after the horizon)."""
        self._progress = progress
        models = list(self.models.values())
        self._decide(models, warm=True)  # the deployment: initial replicas are warm
        for m in models:
            m.begin()
        self.env.schedule(self.scenario.autoscaler_interval_s, self._tick)
        self.env.run()
        functions: dict[str, FunctionResult] = {}
        for m in models:
            fc = self._configs[m.name]
            functions[m.name] = FunctionResult(
                name=m.name,
                arrival_s=np.asarray(m.arrival, dtype=float),
                start_s=np.asarray(m.start, dtype=float),
                end_s=np.asarray(m.end, dtype=float),
                instance=np.asarray(m.inst, dtype=np.int64),
                cold=np.asarray(m.cold, dtype=bool),
                instance_born_s=np.asarray([i.born_s for i in m.instances], dtype=float),
                instance_gone_s=np.asarray(
                    [i.gone_s if i.gone_s >= 0 else self.env.now for i in m.instances],
                    dtype=float,
                ),
                concurrency=m.concurrency,
                memory_mib=fc.memory_mib,
            )
        res = SimResult(
            self.scenario, functions, self.env.events, 0.0, decisions=self.decisions, seed=self.seed
        )
        res.metrics = {name: function_metrics(fr, self.scenario) for name, fr in functions.items()}
        res.wall_s = time.perf_counter() - self._t0
        return res


def run_scenario(scenario: Scenario, seed: int | None = None) -> SimResult:
    return Simulation(scenario, seed).run()
