"""Consoles: results to stdout, progress and logs to stderr (so `--json` stays parseable)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

console = Console()
err_console = Console(stderr=True)


def progress_bar(transient: bool = False) -> Progress:
    """A progress bar on stderr: description, bar, current step (`step` field), elapsed time."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[step]}", markup=False),  # steps are data: `[` is no markup
        TimeElapsedColumn(),
        console=err_console,
        transient=transient,
    )


def print_error(message: str) -> None:
    """`error: MESSAGE` on stderr, the message printed as it is (a value holding `[/]` or
    `[red]` is text, not markup)."""
    err_console.print(
        Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True
    )
