"""Import a function's handler and its optional lifecycle hooks from its code folder."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class HandlerError(Exception):
    """The handler could not be loaded (import error, missing attribute, not callable)."""


@dataclass(frozen=True)
class Handler:
    handle: Callable[[Any, Any], Any]
    start: Callable[[dict[str, Any]], Any] | None = None
    stop: Callable[[], Any] | None = None
    ready: Callable[[], Any] | None = None


def load_handler(code_dir: str | Path, handler: str) -> Handler:
    """Import `module.func` from `code_dir` (put first on sys.path)."""
    module_name, func_name = handler.rsplit(".", 1)
    path = str(Path(code_dir).resolve())
    if path in sys.path:
        sys.path.remove(path)
    sys.path.insert(0, path)  # first, so this folder's module wins over one of the same name
    top = module_name.split(".", 1)[0]
    cached = sys.modules.get(top)
    if cached is not None and not str(getattr(cached, "__file__", "")).startswith(path + os.sep):
        # a module of that name from another folder (another function loaded in this
        # process): import this folder's own
        for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
            del sys.modules[name]
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(module_name)
    except Exception as e:
        raise HandlerError(f"importing {module_name!r} failed: {type(e).__name__}: {e}") from e
    fn = getattr(module, func_name, None)
    if not callable(fn):
        raise HandlerError(f"{module_name}.{func_name} is missing or not callable")

    def hook(name: str) -> Any:
        h = getattr(module, name, None)
        return h if callable(h) else None

    return Handler(fn, hook("start"), hook("stop"), hook("ready"))
