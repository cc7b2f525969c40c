"""`tessera guard audit RULES --commands FILE`: find what an existing rule set misses or over-blocks.

A rule set is what users already run (dcg, safe-rm, agent hooks): ordered
patterns with an action. Accepted formats:

  text   one rule per line: `deny REGEX`, `ask REGEX` or `allow REGEX` (# comments)
  JSON   a list of {"pattern": REGEX, "action": "deny"|"ask"|"allow", "name": optional}
  YAML   the same list

A `.json`, `.yaml` or `.yml` name decides the format; any other name is read by
its content (a leading BOM and blank or # lines skipped): a first line that
starts with an action is text, one that starts with `[` or `{` is JSON (or YAML
flow style), and anything else that YAML reads as a list or mapping is YAML.

The patterns are the user's own regexes, so one like `(a+)+$` can backtrack for
hours on a long command. Each search gets `REGEX_TIMEOUT_S`; a pattern that runs
past it is refused as an `InputError` naming the rule and the command. The bound
is a SIGALRM timer (Python's `re` checks for signals while it backtracks), so it
holds on the main thread of a POSIX process, which is where the CLI runs; on
other threads or platforms the searches run unbounded.

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
import signal
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.core.errors import InputError
from tessera.shellguard.levels import Level, check_shell

ACTIONS = ("deny", "ask", "allow")
#: Seconds one user pattern may spend on one command: far above any sane regex (microseconds),
#: far below a hang.
REGEX_TIMEOUT_S = 2.0
FORMATS = "text lines `deny|ask|allow REGEX`, or a JSON or YAML list of {action, pattern, name}"


@dataclass(frozen=True)
class UserRule:
    name: str
    pattern: re.Pattern[str]
    action: str


def load_rules(path: Path) -> list[UserRule]:
    text = _read(path, "RULES", "an existing rules file")
    items = _parse_rules(path, text)
    if not isinstance(items, list):  # a JSON object or YAML mapping, say `{"rules": [...]}`
        held = "an object" if isinstance(items, dict) else f"a {type(items).__name__}"
        raise InputError("RULES", path.name, f"{FORMATS} (this holds {held}, not a list)")
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


def _parse_rules(path: Path, text: str) -> Any:
    """The rule items of `text`, in the format its name or, failing that, its content shows.

    Only a leading `[` used to mean JSON: a JSON object, a YAML list without a .yaml name or
    a `.json` file with a typo then fell through to the text reader, whose complaint (a bad
    action on line 1) hid what was wrong. Text rules always start with an action word, so
    that word, a bracket or YAML structure tell the formats apart without guessing.
    """
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _load_json(path, text)
    if suffix in (".yaml", ".yml"):
        return _load_yaml(path, text)
    first = next(
        (ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")),
        "",
    )
    if not first or first.split()[0].lower() in ACTIONS:
        return _text_rules(text)
    if first[0] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            try:  # YAML flow style: `[{action: deny, pattern: rm}]`
                return _yaml_structure(text)
            except ValueError:
                raise InputError(
                    "RULES",
                    path.name,
                    f"{FORMATS} (it starts like JSON: {e.msg} at line {e.lineno} column {e.colno})",
                ) from None
    try:
        return _yaml_structure(text)
    except ValueError:  # not YAML structure either: the text reader names the bad line
        return _text_rules(text)


def _load_json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(
            "RULES",
            path.name,
            f"a JSON list of rules ({e.msg} at line {e.lineno} column {e.colno})",
        ) from None


def _load_yaml(path: Path, text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text) or []
    except yaml.YAMLError as e:
        raise InputError(
            "RULES", path.name, f"a YAML list of rules ({str(e).splitlines()[0]})"
        ) from None


def _yaml_structure(text: str) -> Any:
    """`text` as YAML when it holds a list or mapping; ValueError otherwise (plain prose is a
    YAML string, so parsing alone does not make a file YAML)."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ValueError("not YAML") from None
    if not isinstance(data, list | dict):
        raise ValueError("not a YAML list or mapping")
    return data


def _text_rules(text: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        action, _, pattern = line.partition(" ")
        items.append({"action": action, "pattern": pattern.strip(), "name": f"line {n}"})
    return items


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
        return path.read_text(encoding="utf-8-sig")  # a BOM (Windows editors) is not content
    except UnicodeDecodeError:
        raise InputError(field, str(path), "a UTF-8 text file") from None


class _RegexTimeout(Exception):
    """Raised by the SIGALRM handler inside a user pattern's search."""


class _Deadline:
    """Bounds each user-pattern search to `seconds` with a one-shot ITIMER_REAL.

    `re` cannot be given a timeout and holds the GIL while it backtracks, so neither a timer
    thread nor a worker thread can stop it; a signal can, because the matcher polls for
    pending signals and lets the handler's exception end the search. Signal handlers can only
    be set on the main thread (and SIGALRM is POSIX), so elsewhere, or while another ITIMER_REAL
    is running (its owner would lose it), searches are unbounded: `bounded` says which.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.bounded = False
        self._armed = False

    def _ring(self, signum: int, frame: object) -> None:
        if self._armed:  # a signal delivered just after the search ended is ignored
            raise _RegexTimeout

    @contextmanager
    def installed(self) -> Iterator[_Deadline]:
        self.bounded = (
            self.seconds > 0
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
            and signal.getitimer(signal.ITIMER_REAL)[0] == 0
        )
        if not self.bounded:
            yield self
            return
        previous = signal.signal(signal.SIGALRM, self._ring)
        try:
            yield self
        finally:
            self._armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def search(self, pattern: re.Pattern[str], text: str) -> bool:
        """Whether `pattern` occurs in `text`; `_RegexTimeout` when it takes too long."""
        if not self.bounded:
            return pattern.search(text) is not None
        self._armed = True
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        try:
            return pattern.search(text) is not None
        finally:
            self._armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)


def first_match(
    rules: list[UserRule], command: str, deadline: _Deadline | None = None
) -> UserRule | None:
    """The rule that decides `command` (the first whose pattern occurs in it), or None.

    With a `deadline` (as `audit` passes), a pattern that runs past it is an `InputError`
    naming the rule, so a runaway regex ends the audit with one line instead of hanging it.
    """
    clock = deadline or _Deadline(0)  # never installed: plain searches
    for r in rules:
        try:
            hit = clock.search(r.pattern, command)
        except _RegexTimeout:
            shown = command if len(command) <= 40 else command[:37] + "..."
            raise InputError(
                f"RULES {r.name} pattern",
                r.pattern.pattern,
                f"a regex that decides within {clock.seconds:g} s per command (it ran longer"
                f" on {shown!r}; nested repeats such as (a+)+ backtrack exponentially)",
            ) from None
        if hit:
            return r
    return None


def audit(
    rules: list[UserRule],
    commands: list[tuple[str, str]],
    guard: Any,
    examples: int = 3,
    regex_timeout_s: float = REGEX_TIMEOUT_S,
) -> dict[str, Any]:
    """The report described in the module docstring; `regex_timeout_s` bounds each search of a
    user pattern (0 turns the bound off)."""
    verdicts = guard.check_many(commands)
    with _Deadline(regex_timeout_s).installed() as deadline:
        decided = [first_match(rules, cmd, deadline) for cmd, _shell in commands]
    missing: dict[str, list[dict[str, Any]]] = defaultdict(list)
    fires: dict[str, list[tuple[str, Level]]] = defaultdict(list)
    weak: dict[str, list[str]] = defaultdict(list)
    for (cmd, _shell), v, r in zip(commands, verdicts, decided, strict=True):
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
