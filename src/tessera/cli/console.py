"""Consoles: results to stdout, progress and logs to stderr (so `--json` stays parseable)."""

from __future__ import annotations

from rich.console import Console

console = Console()
err_console = Console(stderr=True)
