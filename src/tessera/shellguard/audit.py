"""`tessera guard audit RULES --commands FILE`: find what an existing rule set misses or over-blocks.

A rule set is what users already run (dcg, safe-rm, agent hooks): ordered
patterns with an action. Accepted formats:

  text   one rule per line: `deny REGEX`, `ask REGEX` or `allow REGEX` (# comments)
  JSON   a list of {"pattern": REGEX, "action": "deny"|"ask"|"allow", "name": optional}
  YAML   the same list (when PyYAML is installed)

The first matching rule decides; no match means allow. Each command of FILE
(plain lines, or JSON lines with "command" and "shell") is judged by the rule
set and by shellguard; the report lists

  missing    commands shellguard rates BLOCKED that the rules let run, or RISKY
             that they neither ask about nor deny, grouped by reason tag;
  too broad  rules that fire on commands shellguard rates SAFE or LOW
             (mentions, dry runs, safe targets), with their share and examples;
  too weak   `ask` rules that let BLOCKED commands through after a yes.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.core.errors import InputError
from tessera.shellguard.levels import Level, check_shell

ACTIONS = ("deny", "ask", "allow")


@dataclass(frozen=True)
class UserRule:
    name: str
    pattern: re.Pattern[str]
    action: str


def load_rules(path: Path) -> list[UserRule]:
    text = _read(path, "RULES", "an existing rules file")
    items: list[dict[str, Any]] = []
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError("RULES", path.name, f"a JSON list of rules ({e.msg})") from None
    elif path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            items = yaml.safe_load(text) or []
        except yaml.YAMLError as e:
            raise InputError(
                "RULES", path.name, f"a YAML list of rules ({str(e).splitlines()[0]})"
            ) from None
    else:
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            action, _, pattern = line.partition(" ")
            items.append({"action": action, "pattern": pattern.strip(), "name": f"line {n}"})
    if not isinstance(items, list):
        raise InputError("RULES", path.name, "a list of rules")
    rules = []
    for i, it in enumerate(items, 1):
        if not isinstance(it, dict):
            raise InputError(f"RULES rule {i}", it, "an object with pattern and action")
        extra = sorted(set(it) - {"action", "pattern", "name"})
        if extra:  # `patern: x` would otherwise be a rule with no pattern, silently
            raise InputError(
                f"RULES {it.get('name', f'rule {i}')} key", extra[0], "action, pattern, name"
            )
        action = str(it.get("action", "")).lower()
        if action not in ACTIONS:
            raise InputError(
                f"RULES {it.get('name', f'rule {i}')} action", action, "deny, ask or allow"
            )
        try:
            pat = re.compile(str(it.get("pattern", "")))
        except re.error as e:
            raise InputError(
                f"RULES {it.get('name', f'rule {i}')} pattern", it.get("pattern"), f"a regex ({e})"
            ) from None
        if not pat.pattern:
            raise InputError(
                f"RULES {it.get('name', f'rule {i}')} pattern", "", "a non-empty regex"
            )
        rules.append(UserRule(str(it.get("name") or f"rule {i}"), pat, action))
    return rules


def load_commands(path: Path, default_shell: str = "bash") -> list[tuple[str, str]]:
    text = _read(path, "--commands", "an existing file of commands")
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(
                    f"--commands line {n}", line[:40], f"JSON ({e.msg}) or a plain command"
                ) from None
            if not isinstance(d, dict) or not isinstance(d.get("command"), str):
                raise InputError(
                    f"--commands line {n}", line[:40], 'an object with a string "command"'
                )
            extra = sorted(set(d) - {"command", "shell", "id"})
            if extra:
                raise InputError(f"--commands line {n} key", extra[0], "command, shell, id")
            try:
                shell = check_shell(str(d.get("shell", default_shell)))
            except InputError as e:
                raise InputError(f"--commands line {n} shell", e.value, e.accepted) from None
            out.append((d["command"], shell))
        else:
            out.append((line, default_shell))
    if not out:
        raise InputError("--commands", str(path), "a file with at least one command")
    return out


def _read(path: Path, field: str, what: str) -> str:
    if not path.is_file():
        raise InputError(field, str(path), what)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(field, str(path), "a UTF-8 text file") from None


def first_match(rules: list[UserRule], command: str) -> UserRule | None:
    for r in rules:
        if r.pattern.search(command):
            return r
    return None


def audit(
    rules: list[UserRule], commands: list[tuple[str, str]], guard: Any, examples: int = 3
) -> dict[str, Any]:
    verdicts = guard.check_many(commands)
    missing: dict[str, list[dict[str, Any]]] = defaultdict(list)
    fires: dict[str, list[tuple[str, Level]]] = defaultdict(list)
    weak: dict[str, list[str]] = defaultdict(list)
    for (cmd, _shell), v in zip(commands, verdicts, strict=True):
        r = first_match(rules, cmd)
        action = r.action if r else "allow"
        if r is not None:
            fires[r.name].append((cmd, v.level))
        if (v.level == Level.BLOCKED and action == "allow") or (
            v.level == Level.RISKY and action == "allow"
        ):
            tag = v.reasons[0] if v.reasons else "other"
            missing[tag].append({"command": cmd, "level": v.level.name, "reasons": v.reasons})
        if v.level == Level.BLOCKED and action == "ask" and r is not None:
            weak[r.name].append(cmd)
    too_broad: list[dict[str, Any]] = []
    for r in rules:
        hits = fires.get(r.name, [])
        if r.action == "allow" or not hits:
            continue
        benign = [c for c, lv in hits if lv <= Level.LOW]
        if benign:
            too_broad.append(
                {
                    "rule": r.name,
                    "pattern": r.pattern.pattern,
                    "action": r.action,
                    "fires": len(hits),
                    "on_safe_or_low": len(benign),
                    "share": round(len(benign) / len(hits), 3),
                    "examples": benign[:examples],
                }
            )
    too_broad.sort(key=lambda d: (-d["on_safe_or_low"], d["rule"]))
    unused = [r.name for r in rules if not fires.get(r.name)]
    return {
        "commands": len(commands),
        "rules": len(rules),
        "missing": {
            tag: {"count": len(rows), "examples": rows[:examples]}
            for tag, rows in sorted(missing.items(), key=lambda kv: -len(kv[1]))
        },
        "missing_total": sum(len(v) for v in missing.values()),
        "too_broad": too_broad,
        "too_weak": [
            {"rule": k, "blocked_commands": len(v), "examples": v[:examples]}
            for k, v in weak.items()
        ],
        "unused_rules": unused,
    }
