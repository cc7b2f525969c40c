"""Shell hooks that ask shellguard before a typed command runs (bash, zsh, PowerShell PSReadLine)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from tessera.core.errors import InputError

_FILES = {"bash": "guard.bash", "zsh": "guard.zsh", "powershell": "guard.ps1", "pwsh": "guard.ps1"}


def hook_script(shell: str) -> str:
    """The hook for `shell`, bound to this installation's Python."""
    name = _FILES.get(shell.strip().lower())
    if name is None:
        raise InputError("shell", shell, "bash, zsh or powershell")
    text = (Path(__file__).parent / name).read_text(encoding="utf-8")
    py = sys.executable
    return text.replace("@PYTHON@", py if name.endswith(".ps1") else shlex.quote(py))
