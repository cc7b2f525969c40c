"""`tessera fn new NAME`: a new function folder that runs as it is."""

from __future__ import annotations

from pathlib import Path

from tessera.core.errors import InputError
from tessera.core.model import check_name

MANIFEST = """name: {name}
runtime: python3
handler: main.handle
resources: {{cpu: 1, memory_mib: 256}}
scale: {{min: 0, max: 5, target: 1}}
concurrency: 1
timeout_s: 30
"""

HANDLER = '''"""{name}: a Tessera function. `event` is the JSON body (or bytes); return JSON-able data."""


def handle(event, context):
    name = (event or {{}}).get("name", "world") if isinstance(event, dict) else "world"
    context.logger.info("greeting %s", name)
    return {{"message": f"hello, {{name}}", "function": context.function}}
'''


def new_function(name: str, parent: Path) -> Path:
    """Create `parent/name/` with function.yaml and main.py; refuse to overwrite."""
    try:
        check_name("function", name)
    except InputError as e:
        raise InputError("NAME", name, e.accepted) from None
    d = parent / name
    if d.exists():
        raise InputError("NAME", name, f"a name with no existing folder ({d} exists)")
    d.mkdir(parents=True)
    (d / "function.yaml").write_text(MANIFEST.format(name=name))
    (d / "main.py").write_text(HANDLER.format(name=name))
    return d
