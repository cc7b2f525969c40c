"""Example functions shipped with Tessera (used by the demo and the docs)."""

from pathlib import Path

EXAMPLES = Path(__file__).parent


def example(name: str) -> Path:
    """The folder of example function `name` (e.g. 'stats')."""
    return EXAMPLES / name
