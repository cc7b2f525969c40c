"""Consoles: results to stdout, progress and logs to stderr (so `--json` stays parseable)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

console = Console()
err_console = Console(stderr=True)


def progress_bar(transient: bool = False) -> Progress:
    """A progress bar on stderr: description, bar, current step (`step` field), elapsed time."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[step]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=transient,
    )
