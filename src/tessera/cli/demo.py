"""`tessera demo`: every headline experiment in quick mode, a summary table, out/report.html."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from tessera.cli.console import console, progress_bar
from tessera.core.errors import require
from tessera.demo.run import run_demo
from tessera.experiments.base import Experiment
from tessera.report.html import check_out_dir


def demo(
    out: Path = typer.Option(Path("out"), "--out", help="Folder for report.html and results.json."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    full: bool = typer.Option(False, "--full", help="Full-size experiments (slow)."),
) -> None:
    """Run every registered experiment and write OUT/report.html."""
    require(seed >= 0, "--seed", seed, "an integer >= 0")
    check_out_dir(out, ("results.json", "report.html"))
    t0 = time.perf_counter()
    with progress_bar() as progress:
        overall = progress.add_task("demo", total=1.0, step="")
        current = {"i": 0, "n": 1}

        def on_start(exp: Experiment, i: int, n: int) -> None:
            current.update(i=i, n=n)
            progress.update(overall, completed=i / n, step=exp.name)

        def on_progress(fraction: float, message: str) -> None:
            i, n = current["i"], current["n"]
            progress.update(overall, completed=(i + fraction) / n, step=message)

        run = run_demo(out, seed=seed, quick=not full, on_start=on_start, on_progress=on_progress)
        progress.update(overall, completed=1.0, step="report written")
    t = Table(title=f"Tessera demo ({time.perf_counter() - t0:.0f}s)")
    t.add_column("experiment")
    t.add_column("result")
    t.add_column("s", justify="right")
    for exp, res, err in run.runs:
        summary = Text(f"FAILED: {err}", style="red") if err else Text(res.headline if res else "")
        t.add_row(exp.name, summary, f"{run.seconds[exp.name]:.1f}")
    console.print(t)
    console.print(f"report: {run.report}")
    if run.failed:
        raise typer.Exit(1)
