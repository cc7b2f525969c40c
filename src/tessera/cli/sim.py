"""`tessera sim run SCENARIO.yaml`: run one simulation scenario."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from tessera.cli.console import console, err_console, progress_bar
from tessera.core.errors import require
from tessera.sim.engine import Simulation
from tessera.sim.scenario import load_scenario

app = typer.Typer(help="Discrete-event simulation of functions, workloads and autoscalers.")

SHOW_AFTER_S = 1.0
"""A run shows its progress bar (on stderr, erased when done) once it has taken this long."""


class _Progress:
    """A transient progress bar on stderr that appears only once a run takes `SHOW_AFTER_S`."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.t0 = time.monotonic()
        # Only on a terminal: redirected, stderr stays as it was (rich would leave a newline).
        self.next_s = self.t0 + SHOW_AFTER_S if err_console.is_terminal else math.inf
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now < self.next_s:
            return
        self.next_s = now + 0.1  # redraws are throttled: a decision takes microseconds
        if self.bar is None:
            self.bar = progress_bar(transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=1.0, step="")
        assert self.task is not None
        step = "draining admitted work" if fraction >= 1 else "simulating"
        self.bar.update(self.task, completed=fraction, step=step)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


@app.command("run")
def run(
    scenario: Path = typer.Argument(..., help="Scenario YAML file."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    seed: int | None = typer.Option(None, "--seed", help="Override the scenario's seed."),
) -> None:
    """Simulate SCENARIO and print per-function metrics."""
    require(seed is None or seed >= 0, "--seed", seed, "an integer >= 0")
    sc = load_scenario(scenario)
    sim = Simulation(sc, seed=seed)
    progress = _Progress(sc.name)
    try:
        result = sim.run(progress=progress)
    finally:
        progress.close()
    if as_json:
        typer.echo(json.dumps(result.to_json()))
        return
    t = Table(title=f"{sc.name}: {result.events:,} events in {result.wall_s:.2f}s")
    for col in ("function", "invocations", "queue mean/p99 s", "latency mean/p99 s", "cold"):
        t.add_column(col, justify="right")
    t.add_column("instance·h", justify="right")
    for name, m in result.metrics.items():
        q, lat = m["queue_delay_s"], m["latency_s"]
        t.add_row(
            name,
            f"{m['invocations']:,}",
            f"{q['mean']:.4f} / {q['p99']:.4f}",
            f"{lat['mean']:.4f} / {lat['p99']:.4f}",
            f"{m['cold_starts']:,}",
            f"{m['instance_s'] / 3600:.2f}",
        )
    console.print(t)
