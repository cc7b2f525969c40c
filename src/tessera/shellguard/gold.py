"""The hand-labelled gold set: loading, validation and the dev/test split.

The gold files (`data/gold/*.jsonl`) were written by hand against the rubric
in docs/shellguard.md, from sources other than the training corpora, and are
de-duplicated against them before any training. Each row: command, shell,
level, reasons, kind (plain | mention | variant | contrast), group.

Split: rows written later for rule development (`dev_extra_*` files) are always
`dev`; of the others a stable hash of the row's group (or command) puts 40% in
`dev` (rules and thresholds may be tuned on it) and 60% in `test` (only ever
reported), so `test` is 1,018 of 3,385 rows (30%). Variant groups and their
contrasts stay on one side.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tessera.core.errors import InputError
from tessera.shellguard.levels import REASONS, Level, check_shell

KINDS = ("plain", "mention", "variant", "contrast")
DEV_SHARE = 0.4


@dataclass(frozen=True)
class GoldRow:
    command: str
    shell: str
    level: Level
    reasons: tuple[str, ...]
    kind: str
    group: str | None
    source: str
    forced_split: str | None = None

    @property
    def split(self) -> str:
        if self.forced_split:
            return self.forced_split
        key = self.group or self.command
        h = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        return "dev" if h < DEV_SHARE else "test"


def gold_dir() -> Path:
    return Path(str(resources.files("tessera.shellguard") / "data" / "gold"))


def load_file(path: Path) -> list[GoldRow]:
    rows: list[GoldRow] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name}:{n}"
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(where, line[:60], f"one JSON object per line ({e.msg})") from None
        cmd = d.get("command")
        if not isinstance(cmd, str) or not cmd.strip():
            raise InputError(f"{where} command", cmd, "a non-empty string")
        reasons = tuple(d.get("reasons") or ())
        bad = [r for r in reasons if r not in REASONS]
        if bad:
            raise InputError(f"{where} reasons", bad, ", ".join(REASONS))
        kind = d.get("kind", "plain")
        if kind not in KINDS:
            raise InputError(f"{where} kind", kind, ", ".join(KINDS))
        rows.append(
            GoldRow(
                cmd,
                check_shell(d.get("shell", "bash")),
                Level.parse(str(d.get("level")), f"{where} level"),
                reasons,
                kind,
                d.get("group"),
                path.stem,
                d.get("split") if d.get("split") in ("dev", "test") else None,
            )
        )
    return rows


def load(split: str | None = None) -> list[GoldRow]:
    """Every gold row (optionally only `dev` or `test`), de-duplicated by (shell, command)."""
    if split not in (None, "dev", "test"):
        raise InputError("--split", split, "dev or test")
    seen: set[tuple[str, str]] = set()
    out: list[GoldRow] = []
    for p in sorted(gold_dir().glob("*.jsonl")):
        for r in load_file(p):
            key = (r.shell, " ".join(r.command.split()))
            if key in seen:
                continue
            seen.add(key)
            if split is None or r.split == split:
                out.append(r)
    return out
