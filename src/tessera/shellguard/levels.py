"""Risk levels, reason tags and verdicts: the vocabulary every part of shellguard shares.

Four levels (docs/shellguard.md has the rubric): SAFE only reads; LOW changes
state in an easily undone or workspace-confined way; RISKY needs approval;
BLOCKED never runs. The paper's three classes collapse SAFE and LOW.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from tessera.core.errors import InputError


class Level(IntEnum):
    SAFE = 0
    LOW = 1
    RISKY = 2
    BLOCKED = 3

    @classmethod
    def parse(cls, value: str, field_name: str = "level") -> Level:
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise InputError(field_name, value, "SAFE, LOW, RISKY or BLOCKED") from None

    @property
    def three(self) -> str:
        """The paper's three classes: SAFE and LOW are both SAFE."""
        return "SAFE" if self <= Level.LOW else self.name


LEVELS = tuple(Level)

#: Reason tags with one line each; a verdict's reasons come from here.
REASONS: dict[str, str] = {
    "destroy": "deletes or overwrites data",
    "disk": "acts on a block device, partition table or filesystem",
    "perm": "changes permissions or ownership",
    "service": "starts, stops or restarts a service, or reboots",
    "process": "kills processes",
    "net-exec": "downloads code and runs it",
    "exfil": "sends data to another host",
    "persistence": "installs something that runs again later (cron, startup, keys)",
    "priv": "runs with or grants elevated privileges",
    "vcs-history": "rewrites or discards version-control history",
    "cloud-delete": "deletes cloud or cluster resources",
    "db": "changes or destroys database contents",
    "defence-off": "disables audit, antivirus, EDR, firewall or MAC",
    "log-wipe": "wipes logs, shell history or shadow copies",
    "fork-bomb": "spawns processes without bound",
    "reverse-shell": "hands a shell to a remote host",
    "firewall": "changes firewall rules",
    "package": "installs or removes system packages",
    "config": "changes system configuration",
    "remote": "changes state on a remote or shared system",
    "workspace": "changes files in the workspace or temp",
    "obfuscated": "runs code it had to decode or could not read",
    "mention": "only mentions a dangerous command",
    "model": "the learned classifier raised the level",
}

SHELLS = ("bash", "powershell", "cmd")


def check_shell(shell: str) -> str:
    s = shell.strip().lower()
    s = {"sh": "bash", "zsh": "bash", "pwsh": "powershell", "ps": "powershell", "bat": "cmd"}.get(
        s, s
    )
    if s not in SHELLS:
        raise InputError(
            "shell", shell, "bash, powershell or cmd (sh/zsh/pwsh accepted as aliases)"
        )
    return s


@dataclass(frozen=True)
class Finding:
    """One rule that fired on one command segment."""

    level: Level
    tag: str
    rule: str
    segment: str
    why: str


@dataclass
class Verdict:
    """What shellguard says about one command."""

    command: str
    shell: str
    level: Level
    reasons: list[str]
    score: float
    source: str
    findings: list[Finding] = field(default_factory=list)
    rule_level: Level = Level.SAFE
    model_level: Level | None = None
    probs: list[float] | None = None
    inert: bool = False  # the parser found only printing, searching or comments (a mention at most)
    known: bool = False  # a rule models every command that would run

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "level": self.level.name,
            "reasons": self.reasons,
            "score": round(self.score, 4),
            "source": self.source,
            "rule_level": self.rule_level.name,
        }
        if self.model_level is not None:
            out["model_level"] = self.model_level.name
        if self.probs is not None:
            out["probs"] = {lv.name: round(p, 4) for lv, p in zip(LEVELS, self.probs, strict=True)}
        return out


def merge_reasons(findings: list[Finding], level: Level) -> list[str]:
    """Tags of the findings at the verdict's level first, then the others, without repeats."""
    first = [f.tag for f in findings if f.level == level]
    rest = [f.tag for f in findings if f.level != level and f.level > Level.SAFE]
    out: list[str] = []
    for t in first + rest:
        if t not in out:
            out.append(t)
    return out
