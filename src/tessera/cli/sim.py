"""`tessera sim run SCENARIO.yaml`: run one simulation scenario."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from tessera.cli.console import console
from tessera.sim.engine import Simulation
from tessera.sim.scenario import load_scenario

app = typer.Typer(help="Discrete-event simulation of functions, workloads and autoscalers.")


@app.command("run")
def run(
    scenario: Path = typer.Argument(..., help="Scenario YAML file."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    seed: int | None = typer.Option(None, "--seed", help="Override the scenario's seed."),
) -> None:
    """Simulate SCENARIO and print per-function metrics."""
    sc = load_scenario(scenario)
    result = Simulation(sc, seed=seed).run()
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
