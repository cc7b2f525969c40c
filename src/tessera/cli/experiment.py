"""`tessera experiment [--list] NAME`: run one registered headline experiment."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from tessera.cli.console import console, err_console, progress_bar
from tessera.core.errors import InputError, require
from tessera.experiments import EXPERIMENTS
from tessera.experiments.base import Experiment, RunConfig, all_experiments
from tessera.report.html import check_out_dir, render, write_atomic


def experiment(
    name: str | None = typer.Argument(None, help="Experiment name (see --list)."),
    list_: bool = typer.Option(False, "--list", help="List the registered experiments."),
    quick: bool = typer.Option(False, "--quick", help="Small version, as the demo runs it."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    out: Path | None = typer.Option(None, "--out", help="Write results.json + report.html here."),
) -> None:
    """Run a headline experiment and print metrics per policy."""
    if list_:
        t = Table(title="experiments")
        t.add_column("name")
        t.add_column("what it shows")
        for e in all_experiments():
            t.add_row(e.name, e.summary)
        console.print(t)
        return
    require(seed >= 0, "--seed", seed, "an integer >= 0")
    if name is None or name not in EXPERIMENTS.names():
        raise InputError("experiment", name, "one of " + ", ".join(EXPERIMENTS.names()))
    exp: Experiment = EXPERIMENTS.create(name)
    if out is not None:
        check_out_dir(out, ("results.json", "report.html"))
    with progress_bar(transient=as_json) as progress:
        task = progress.add_task(exp.name, total=1.0, step="")

        def report(fraction: float, message: str) -> None:
            progress.update(task, completed=fraction, step=message)

        result = exp.run(RunConfig(quick=quick, seed=seed, out_dir=out, progress=report))
    payload = result.to_json()
    if out is not None:
        write_atomic(out / "results.json", json.dumps(payload, indent=2))
        write_atomic(out / "report.html", render([(exp, result, None)], title=exp.title))
        err_console.print(f"wrote {out / 'report.html'}")
    if as_json:
        typer.echo(json.dumps(payload))
        return
    t = Table(title=f"{exp.title}" + (" (quick)" if quick else ""))
    cols: list[str] = []
    for m in result.policies.values():
        cols += [k for k in m if k not in cols]
    t.add_column("policy / case")
    for c in cols:
        t.add_column(c, justify="right")
    for p, m in result.policies.items():
        t.add_row(p, *(_fmt(m.get(c)) for c in cols))
    console.print(t)
    if result.headline:
        console.print(result.headline)


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)
