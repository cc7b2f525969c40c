"""What an experiment is: a name, a title, and a function from a run config to a result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera.core.registry import Registry
from tessera.core.stats import json_safe


def _quiet(_fraction: float, _message: str) -> None:
    return None


@dataclass(frozen=True)
class RunConfig:
    """How to run: quick (minutes for the demo) or full, the seed, and where to report progress."""

    quick: bool = True
    seed: int = 0
    out_dir: Path | None = None
    progress: Callable[[float, str], None] = _quiet


@dataclass
class ExperimentResult:
    """Metrics per policy, plus figures (matplotlib) and notes for the report."""

    experiment: str
    policies: dict[str, dict[str, float]]
    meta: dict[str, Any] = field(default_factory=dict)
    figures: list[tuple[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    headline: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "policies": json_safe(self.policies, 6),
            "meta": json_safe(self.meta, 6),
        }


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    summary: str
    run: Callable[[RunConfig], ExperimentResult]
    order: int = 100  # position in the demo and report


EXPERIMENTS: Registry[Experiment] = Registry("experiment")


def register(
    name: str, title: str, summary: str, order: int = 100
) -> Callable[[Callable[[RunConfig], ExperimentResult]], Callable[[RunConfig], ExperimentResult]]:
    """Decorator: register `fn(config) -> ExperimentResult` as experiment `name`."""

    def deco(
        fn: Callable[[RunConfig], ExperimentResult],
    ) -> Callable[[RunConfig], ExperimentResult]:
        exp = Experiment(name, title, summary, fn, order)
        EXPERIMENTS.register(name)(lambda: exp)
        return fn

    return deco


def all_experiments() -> list[Experiment]:
    return sorted((EXPERIMENTS.create(n) for n in EXPERIMENTS.names()), key=lambda e: e.order)
