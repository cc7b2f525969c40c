"""The interception decision shared by the shell hooks: allow, ask, or refuse, with an audit log.

Policy per level: SAFE and LOW run; RISKY asks on the terminal (y/N) when
there is one, otherwise follows the non-interactive policy; BLOCKED is
refused. Environment knobs (all optional):

  TESSERA_GUARD_NONINTERACTIVE  1: never ask (as when there is no terminal)
  TESSERA_GUARD_POLICY          what RISKY does without a terminal: deny (default) | allow
  TESSERA_GUARD_BYPASS          1: run RISKY without asking, for this command (still audited);
                                blocked: also run BLOCKED (audited, loudly)
  TESSERA_GUARD_AUDIT           audit log path (default $TESSERA_HOME/guard-audit.jsonl)
  TESSERA_GUARD_MODE            auto | rules | model | both (default auto)

Every decision other than a plain SAFE run is appended to the audit log as
one JSON line (time, user, cwd, shell, command, level, reasons, decision).
"""

from __future__ import annotations

import getpass
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tessera.core.errors import InputError
from tessera.shellguard.levels import Level, Verdict

ALLOW, DENY = 0, 1


def audit_path() -> Path:
    p = os.environ.get("TESSERA_GUARD_AUDIT")
    if p:
        return Path(p)
    home = Path(os.environ.get("TESSERA_HOME", str(Path.home() / ".tessera")))
    return home / "guard-audit.jsonl"


def audit(record: dict[str, object], path: Path | None = None) -> None:
    """Append one record (a single write of one line, so concurrent shells do not interleave)."""
    p = path or audit_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def decide(
    v: Verdict,
    interactive: bool,
    ask: Callable[[str], str] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[int, str]:
    """(ALLOW or DENY, decision word) for a verdict under the environment's policy."""
    e = os.environ if env is None else env
    bypass = e.get("TESSERA_GUARD_BYPASS", "").strip().lower()
    policy = e.get("TESSERA_GUARD_POLICY", "deny").strip().lower()
    if v.level <= Level.LOW:
        return ALLOW, "allow"
    if policy not in ("deny", "allow"):
        raise InputError("TESSERA_GUARD_POLICY", policy, "deny or allow")
    if e.get("TESSERA_GUARD_NONINTERACTIVE", "") == "1":
        interactive = False
    if v.level == Level.BLOCKED:
        if bypass == "blocked":
            return ALLOW, "bypass-blocked"
        return DENY, "refuse"
    if bypass in ("1", "yes", "true", "blocked"):
        return ALLOW, "bypass"
    if interactive and ask is not None:
        answer = ask(
            f"shellguard: RISKY ({', '.join(v.reasons) or 'needs approval'}). Run it? [y/N] "
        )
        return (ALLOW, "approved") if answer.strip().lower() in ("y", "yes") else (DENY, "declined")
    return (ALLOW, "policy-allow") if policy == "allow" else (DENY, "policy-deny")


def _tty_ask(prompt: str) -> str:
    try:
        with open("/dev/tty", "r+") as tty:
            tty.write(prompt)
            tty.flush()
            return tty.readline()
    except OSError:
        return ""


def gate(command: str, shell: str, cwd: str | None = None, guard: object | None = None) -> int:
    """Judge, decide, audit and tell the user; returns the exit status for the hook (0 run, 1 do not)."""
    from tessera.shellguard.guard import Guard

    g = guard if isinstance(guard, Guard) else Guard(os.environ.get("TESSERA_GUARD_MODE", "auto"))
    v = g.check(command, shell, cwd=cwd)
    interactive = os.path.exists("/dev/tty") and sys.stdin.isatty()
    status, word = decide(v, interactive, _tty_ask)
    if v.level > Level.SAFE or word != "allow":
        record: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "user": getpass.getuser(),
            "cwd": cwd or os.getcwd(),
            "shell": v.shell,
            "command": command,
            "level": v.level.name,
            "reasons": v.reasons,
            "source": v.source,
            "decision": word,
        }
        try:
            audit(record)
        except OSError as e:  # a broken audit log must not refuse every command
            sys.stderr.write(f"shellguard: audit log not written ({e})\n")
    if status == DENY:
        sys.stderr.write(f"shellguard: {v.level.name} ({', '.join(v.reasons)}): not run [{word}]\n")
    elif v.level >= Level.RISKY:
        sys.stderr.write(f"shellguard: {v.level.name} ({', '.join(v.reasons)}): running [{word}]\n")
    return status
