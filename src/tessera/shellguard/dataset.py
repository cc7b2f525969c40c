"""Build the weakly labelled training set from the public command corpora.

Sources (`$TESSERA_DATA/../data-commands`, see its README): tldr examples
(with `{{placeholder}}` arguments and a human description), NL2Bash (real
one-liners with an English description) and the Fig option lexicon (spec
authors' `isDangerous` flags). No row carries a risk label; each gets a weak
one from three votes:

- the rule engine on the concrete command (primary: it owns the floor),
- the description (destructive verbs vote up, read-only verbs vote SAFE)
  where the rules know nothing about the tool,
- Fig's danger flag on an option the command uses (at least RISKY).

Placeholders are filled several times from pools that span target grades
(`./build`, `~/notes`, `/etc/nginx`, `/var/lib/mysql`, `/`), which yields the
rare classes from real command shapes. Then label-preserving variants
(flag splits, long options, `sudo`/`env`/`timeout`/`bash -c` wrappers,
absolute paths, PowerShell aliases, parameter prefixes, case) and contrast
pairs (mention only, `--dry-run`/`-WhatIf`, safe target) are added, and every
row whose normalised command is in the gold set is dropped.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tessera.core.data import data_dir
from tessera.core.errors import InputError
from tessera.shellguard import gold as gold_mod
from tessera.shellguard.levels import Level
from tessera.shellguard.rules import BASH_RULES, assess


@dataclass(frozen=True)
class Example:
    command: str
    shell: str
    level: Level
    weight: float
    origin: str  # tldr | nl2bash | fig | variant | contrast


def commands_dir() -> Path | None:
    d = data_dir()
    if d is None:
        return None
    p = d.parent / "data-commands"
    return p if p.is_dir() else None


def _jsonl(path: Path) -> Iterator[dict[str, object]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


# ---------------------------------------------------------------- placeholder filling

_FILES = [
    "notes.txt",
    "src/main.py",
    "./build/app.o",
    "/tmp/out.log",
    "~/docs/report.pdf",
    "config.yaml",
    "data.csv",
    "README.md",
    "/srv/app/settings.json",
    "backup.tar.gz",
    "/home/alice/todo.md",
    "image.png",
    "app.log",
    "index.html",
    "archive.zip",
    "script.sh",
]
_DANGER_FILES = [
    "/etc/nginx/nginx.conf",
    "/var/log/syslog",
    "~/.bash_history",
    "/etc/shadow",
    "/etc/passwd",
    "/var/log/auth.log",
    "/boot/vmlinuz",
]
_DIRS = [
    "./build",
    "dist",
    "node_modules",
    "/tmp/scratch",
    "src",
    "~/projects/old",
    "/var/www/site",
    "data/",
    ".",
    "/opt/app",
    "~/Downloads",
    "docs",
    "target",
    "photos",
    "/mnt/backup",
    "out",
]
_DANGER_DIRS = [
    "/",
    "~",
    "/etc",
    "/var/lib/mysql",
    "/usr",
    "/home/bob",
    "/var/log",
    "/boot",
    "/var/lib/postgresql",
]
_WIN_FILES = [
    "notes.txt",
    ".\\bin\\app.dll",
    "C:\\Temp\\out.log",
    "C:\\Users\\ana\\Documents\\report.docx",
    "D:\\data\\sales.csv",
    "$env:TEMP\\x.tmp",
    "script.ps1",
    "setup.msi",
]
_WIN_DANGER_FILES = [
    "C:\\Windows\\System32\\drivers\\etc\\hosts",
    "C:\\Windows\\System32\\winevt\\Logs\\Security.evtx",
]
_WIN_DIRS = [
    ".\\bin",
    ".\\obj",
    "C:\\Temp\\scratch",
    "D:\\backups\\old",
    ".\\src",
    "C:\\Program Files\\App",
    "C:\\Users\\ana\\Documents",
    "D:\\projects",
]
_WIN_DANGER_DIRS = [
    "C:\\",
    "C:\\Windows",
    "C:\\Users\\ana",
    "$env:USERPROFILE",
    "D:\\",
    "C:\\Windows\\System32",
]
_DEVICES = [
    "/dev/sdb",
    "/dev/sda",
    "/dev/nvme0n1",
    "/dev/sdc1",
    "/dev/mmcblk0",
    "disk.img",
    "/dev/loop0",
]
_SIMPLE = {
    "user": ["alice", "root", "deploy", "www-data", "bob"],
    "username": ["alice", "root", "deploy"],
    "group": ["staff", "sudo", "docker", "wheel"],
    "host": ["web01", "db-prod-1", "10.0.0.5", "example.com"],
    "hostname": ["web01", "db-prod-1", "example.com"],
    "port": ["22", "8080", "443", "5432"],
    "url": [
        "https://example.com/install.sh",
        "https://example.com/data.json",
        "http://10.0.0.5:8080/api",
    ],
    "package": ["nginx", "htop", "libc6", "requests", "openssl", "curl"],
    "service": ["nginx", "sshd", "auditd", "docker", "postgresql"],
    "name": ["web", "prod", "test-env", "cache", "api"],
    "branch": ["main", "feature/login", "release-1.2"],
    "remote": ["origin", "upstream"],
    "namespace": ["default", "production", "staging", "kube-system", "dev"],
    "pod": ["web-5d8f7", "api-0"],
    "bucket": ["s3://prod-data", "s3://scratch-bucket/tmp"],
    "pid": ["1234", "1"],
    "process": ["firefox", "sshd", "python"],
    "image": ["nginx:latest", "alpine"],
    "container": ["web", "db"],
    "database": ["prod", "app_dev", "analytics"],
    "table": ["users", "events", "tmp_import"],
    "command": ["ls -la", "rm -rf /tmp/x", "make"],
    "message": ["fix typo", "wip"],
    "tag": ["v1.2.0"],
    "key": ["session:42", "cache:*"],
    "count": ["5", "100"],
    "number": ["5", "1"],
    "size": ["1G", "100M"],
    "region": ["us-east-1", "eu-west-1"],
    "id": ["i-0abc123", "42"],
    "pattern": ["*.log", "error", "*.tmp"],
}


def _fill(text: str, rng: random.Random, windows: bool) -> str:
    def sub(m: re.Match[str]) -> str:
        raw = m.group(1).strip()
        key = raw.lower()
        before = text[: m.start()].rstrip()
        quiet = before.endswith((">", ">>", "-o", "--output"))
        danger = not quiet and rng.random() < 0.2
        if raw.startswith("[") and raw.endswith("]") and "|" in raw:
            return str(rng.choice(raw[1:-1].split("|")))
        if re.search(r"/dev/|device|disk|drive|partition", key):
            return rng.choice(_DEVICES) if not windows else rng.choice(["D:", "E:", "1", "2"])
        if "dir" in key or "folder" in key:
            if windows:
                return rng.choice(_WIN_DANGER_DIRS if danger else _WIN_DIRS)
            return rng.choice(_DANGER_DIRS if danger else _DIRS)
        if "path" in key or "file" in key:
            if windows:
                return rng.choice(
                    _WIN_DANGER_FILES if danger and rng.random() < 0.5 else _WIN_FILES
                )
            return rng.choice(_DANGER_FILES if danger and rng.random() < 0.5 else _FILES)
        for k, vals in _SIMPLE.items():
            if k in key:
                return rng.choice(vals)
        if re.fullmatch(r"[\w.-]+", raw):
            return raw.strip(".")
        return raw.strip("[]").split("|")[0].strip() or "x"

    return re.sub(r"\{\{(.*?)\}\}", sub, text)


# ---------------------------------------------------------------- weak labels

_DESTROY_WORDS = re.compile(
    r"\b(delete|remove|erase|wipe|destroy|drop|purge|uninstall|kill|terminate|shut\s*down|"
    r"reboot|restart|overwrite|format|truncate|revoke|disable|stop|force|permanently|reset|"
    r"flush|clear|discard|prune|clean)\b",
    re.I,
)
_CHANGE_WORDS = re.compile(
    r"\b(create|add|install|set|update|write|change|move|copy|rename|start|enable|edit|"
    r"modify|apply|upload|push|commit|merge|generate|make|build|compile|save|import|"
    r"register|mount|run|execute|send)\b",
    re.I,
)
_READ_WORDS = re.compile(
    r"^\s*(list|show|display|print|view|get|search|find|check|count|output|read|"
    r"calculate|compare|test|describe|inspect|query|monitor|watch|follow|preview|dry)",
    re.I,
)


def weak_label(
    command: str, shell: str, description: str = "", danger_flag: bool = False
) -> tuple[Level, float]:
    """(label, confidence) from the rule engine, the description and Fig's danger flag."""
    v = assess(command, shell)
    level = v.level
    conf = 1.0
    known = bool(v.findings) or _first_word(command) in BASH_RULES
    if not known and description:
        if _DESTROY_WORDS.search(description):
            level, conf = max(level, Level.RISKY), 0.5
        elif _CHANGE_WORDS.search(description) and not _READ_WORDS.search(description):
            level, conf = max(level, Level.LOW), 0.5
        elif _READ_WORDS.search(description):
            conf = 0.8
        else:
            conf = 0.6
    if danger_flag and level < Level.RISKY:
        level, conf = Level.RISKY, 0.6
    return level, conf


def _first_word(command: str) -> str:
    w = command.strip().split()
    return w[0].lower() if w else ""


# ---------------------------------------------------------------- variants and contrasts

_PS_ALIAS_OF = {
    "remove-item": ["rm", "ri", "del", "erase", "rd"],
    "get-childitem": ["gci", "ls", "dir"],
    "stop-process": ["kill", "spps"],
    "invoke-webrequest": ["iwr"],
    "invoke-expression": ["iex"],
    "copy-item": ["cp", "copy"],
    "move-item": ["mv", "move"],
    "get-content": ["gc", "cat", "type"],
    "set-content": ["sc"],
    "stop-service": ["spsv"],
    "start-process": ["saps", "start"],
}


def variants(command: str, shell: str, rng: random.Random) -> list[str]:
    """Rewrites that must keep the level."""
    out: list[str] = []
    c = command.strip()
    if shell == "bash":
        out.append(f"sudo {c}" if not c.startswith("sudo ") else c[5:])
        out.append(f"bash -c {json.dumps(c)}")
        out.append(rng.choice([f"env LANG=C {c}", f"timeout 60 {c}", f"nohup {c}", f"command {c}"]))
        first = c.split()[0] if c.split() else ""
        if re.fullmatch(r"[a-z][\w.-]*", first):
            out.append(rng.choice(["/usr/bin/", "/bin/"]) + c)
        m = re.search(r"(^|\s)-([a-zA-Z]{2,4})(\s|$)", c)
        if m:
            split = " ".join("-" + ch for ch in m.group(2))
            out.append(c[: m.start(2) - 1] + split + c[m.end(2) :])
        for short, long in (
            ("-r", "--recursive"),
            ("-f", "--force"),
            ("-rf", "--recursive --force"),
        ):
            if re.search(rf"(^|\s){short}(\s|$)", c):
                out.append(re.sub(rf"(^|\s){short}(\s|$)", rf"\1{long}\2", c, count=1))
                break
    elif shell == "powershell":
        words = c.split()
        if words:
            low = words[0].lower()
            if low in _PS_ALIAS_OF:
                out.append(" ".join([rng.choice(_PS_ALIAS_OF[low]), *words[1:]]))
            out.append(" ".join([words[0].upper(), *words[1:]]))
        out.append(
            re.sub(
                r"-(Recurse|Force|Path|Name)\b", lambda m: "-" + m.group(1)[: rng.choice([3, 4])], c
            )
        )
        out.append(f"powershell -NoProfile -Command {json.dumps(c)}")
    else:
        out.append(f"cmd /c {c}")
        out.append(c.upper())
    return [v for v in out if v and v != c]


def contrasts(command: str, shell: str, rng: random.Random) -> list[tuple[str, Level]]:
    """Minimal edits that change the level: mentions, dry runs, safe targets."""
    out: list[tuple[str, Level]] = []
    c = command.strip()
    q = c.replace("'", "")
    if shell == "bash":
        out.append(
            (
                rng.choice(
                    [
                        f"echo '{q}'",
                        f"grep -rn '{q[:40]}' docs/",
                        f"# {c}",
                        f"ls -la  # {c}",
                        f"printf '%s\\n' '{q}' >> /dev/null",
                        f"man {c.split()[0]}",
                    ]
                ),
                Level.SAFE,
            )
        )
        if re.match(r"(sudo\s+)?(rsync|kubectl|helm|apt-get|dnf)\b", c):
            out.append((c + " --dry-run", Level.SAFE))
        for bad in ("/var/lib/mysql", "/etc", "/usr", "~", "/home/bob", "/"):
            if re.search(rf"\s{re.escape(bad)}(\s|/?$)", c):
                out.append(
                    (re.sub(rf"\s{re.escape(bad)}(?=\s|/?$)", " ./build", c, count=1), Level.LOW)
                )
                break
    elif shell == "powershell":
        out.append(
            (
                rng.choice(
                    [
                        f"Write-Host '{q}'",
                        f"Select-String -Pattern '{q[:40]}' -Path *.ps1",
                        f"# {c}",
                        f"Get-Help {c.split()[0]}",
                    ]
                ),
                Level.SAFE,
            )
        )
        if re.match(r"(remove|stop|set|clear|new|restart|format)-", c.lower()):
            out.append((c + " -WhatIf", Level.SAFE))
    else:
        out.append((f"echo {q}", Level.SAFE))
    return out


# ---------------------------------------------------------------- the builder


def _norm(cmd: str) -> str:
    return " ".join(cmd.lower().split())


def _shell_of(platform: str, page: str, command: str) -> str:
    if platform in ("windows", "dos") or re.match(r"^[A-Z][a-z]+-[A-Z]\w+", command):
        return "powershell" if re.match(r"^[A-Za-z]+-[A-Za-z]+", command) else "cmd"
    return "bash"


def build(
    limit: int | None = None, seed: int = 0, fills: int = 2, progress: bool = False
) -> list[Example]:
    """The full weakly labelled training set (deterministic for a seed)."""
    src = commands_dir()
    if src is None:
        raise InputError(
            "TESSERA_DATA",
            "missing",
            "a data folder beside ../shared/data-commands with the corpora",
        )
    rng = random.Random(seed)
    banned = {_norm(r.command) for r in gold_mod.load()}
    fig_danger: dict[str, set[str]] = {}
    for row in _jsonl(src / "fig_dangerous_flags.jsonl"):
        if row.get("kind") == "option":
            names = str(row.get("name", "")).split("|")
            fig_danger.setdefault(str(row["command"]), set()).update(names)
    base: list[tuple[str, str, str]] = []  # (command, shell, description)
    for row in _jsonl(src / "tldr_examples_en.jsonl.gz"):
        if row.get("platform") in ("android", "cisco-ios"):
            continue
        cmd = str(row["command"])
        win = row.get("platform") in ("windows", "dos")
        shell = _shell_of(str(row.get("platform")), str(row.get("page")), cmd)
        for _ in range((fills * (3 if shell == "powershell" else 1)) if "{{" in cmd else 1):
            base.append((_fill(cmd, rng, win), shell, str(row.get("description", ""))))
    for row in _jsonl(src / "nl2bash_pairs.jsonl.gz"):
        base.append((str(row["command"]), "bash", str(row.get("nl", ""))))
    for parent, flags in fig_danger.items():
        for flag in sorted(flags):
            if flag.startswith("-"):
                base.append(
                    (
                        f"{parent} {flag} {rng.choice(['web', './build', 'origin main', '/tmp/x'])}",
                        "bash",
                        "dangerous option",
                    )
                )
    rng.shuffle(base)
    if limit is not None:
        base = base[:limit]
    out: list[Example] = []
    seen: set[tuple[str, str]] = set()

    def add(cmd: str, shell: str, level: Level, weight: float, origin: str) -> None:
        key = (shell, _norm(cmd))
        if key in seen or _norm(cmd) in banned or not cmd.strip() or len(cmd) > 400:
            return
        seen.add(key)
        out.append(Example(cmd, shell, level, weight, origin))

    total = len(base)
    for n, (cmd, shell, desc) in enumerate(base):
        if progress and n % 5000 == 0:
            print(f"  dataset: {n}/{total} rows labelled, {len(out)} examples", flush=True)
        words = cmd.split()
        parent = " ".join(words[:2]) if len(words) > 1 else (words[0] if words else "")
        danger = any(
            f in fig_danger.get(parent, set())
            or f in fig_danger.get(words[0] if words else "", set())
            for f in words[1:]
        )
        level, conf = weak_label(cmd, shell, desc, danger)
        add(cmd, shell, level, conf, "corpus")
        if level >= Level.RISKY or shell != "bash" or rng.random() < 0.15:
            for v in variants(cmd, shell, rng)[
                : 4 if level == Level.BLOCKED or shell == "powershell" else 2
            ]:
                add(v, shell, level, conf, "variant")
            if conf >= 0.9:
                for c, lv in contrasts(cmd, shell, rng):
                    lvl = assess(c, shell).level if lv == Level.LOW else lv
                    add(c, shell, lvl, 0.9, "contrast")
    return out


def summary(examples: list[Example]) -> dict[str, object]:
    return {
        "n": len(examples),
        "by_level": {lv.name: c for lv, c in sorted(Counter(e.level for e in examples).items())},
        "by_shell": dict(Counter(e.shell for e in examples)),
        "by_origin": dict(Counter(e.origin for e in examples)),
    }


def save(examples: list[Example], path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for e in examples:
            f.write(
                json.dumps(
                    {
                        "command": e.command,
                        "shell": e.shell,
                        "level": e.level.name,
                        "weight": e.weight,
                        "origin": e.origin,
                    }
                )
                + "\n"
            )
    tmp.replace(path)
