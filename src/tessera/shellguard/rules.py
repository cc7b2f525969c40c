"""The parse-aware rule engine: one function per tool family, over parsed invocations.

Rules see what would execute (`parse.Invocation`: name, unquoted arguments,
redirects, pipeline neighbours, privilege, where it came from), never raw
text, so `grep 'rm -rf'` and `echo "DROP DATABASE"` cannot fire them. Each
rule returns findings (level, reason tag, why); the verdict is the highest
level, and every finding is kept for `tessera guard explain`.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import shlex
import threading
from collections.abc import Callable, Iterable, Iterator

from tessera.shellguard.levels import Finding, Level, Verdict, merge_reasons
from tessera.shellguard.parse import (
    SED_EXEC,
    SED_S_EXEC,
    Invocation,
    Parsed,
    find_roots,
    glob_match,
    has_glob,
    is_dynamic,
    is_stdin_path,
    parse,
    printed_text,
    runs_input,
    sed_operands,
    shell_script,
)
from tessera.shellguard.paths import grade, severity
from tessera.shellguard.tokenize import INERT_ARGS

S, L, R, B = Level.SAFE, Level.LOW, Level.RISKY, Level.BLOCKED

Rule = Callable[[Invocation], Iterable[Finding]]


def _f(inv: Invocation, level: Level, tag: str, rule: str, why: str) -> Finding:
    return Finding(level, tag, rule, inv.raw[:160], why)


def _carried(
    inv: Invocation, level: Level, inner: Verdict, fallback: str, rule: str, why: str
) -> Finding:
    """A finding for a command whose inner command line (`kubectl exec -- CMD`, a scheduled
    task, code in an interpreter) was judged: the inner verdict's first reason is the tag."""
    return _f(inv, level, inner.reasons[0] if inner.reasons else fallback, rule, why)


# ---------------------------------------------------------------- argument helpers


def split_flags(
    args: list[str], takes: frozenset[str] = frozenset()
) -> tuple[set[str], set[str], list[str]]:
    """Unix options: (short letters, long names, positionals). `-rf` -> {'r','f'}."""
    short: set[str] = set()
    long: set[str] = set()
    pos: list[str] = []
    i = 0
    after = False
    while i < len(args):
        a = args[i]
        if after or a == "-" or not a.startswith("-") or (is_dynamic(a) and not a.startswith("-")):
            pos.append(a)
        elif a == "--":
            after = True
        elif a.startswith("--"):
            name, eq, _ = a[2:].partition("=")
            long.add(name)
            if not eq and ("--" + name) in takes:
                i += 1
        else:
            letters = a[1:]
            if a in takes:
                short.add(letters)
                i += 1
            else:
                for ch in letters:
                    short.add(ch)
                    if "-" + ch in takes:
                        if letters.index(ch) == len(letters) - 1:
                            i += 1
                        break
        i += 1
    return short, long, pos


HELP = {"--help", "--version", "-V", "--usage", "-?", "/?", "-help", "--man", "help"}
_HELP_LAST = HELP - {"help", "-V"}  # `-V` means other things to some tools (tar: --label)
_RUNS_ARGS = frozenset(
    ["sh", "bash", "zsh", "dash", "ksh", "fish", "python", "python3", "perl", "ruby", "node", "pwsh", "powershell", "cmd", "env", "sudo", "doas", "xargs", "exec", "nohup", "timeout", "nice", "redis-cli", "valkey-cli", "keydb-cli"]
)  # fmt: skip
"""Commands whose later arguments belong to a script or command they run."""


def _ps_code(text: str) -> str:
    """PowerShell text with strings blanked and comments removed (what runs as code)."""
    code = strip_strings(text, backslash_escapes=False)
    return re.sub(r"<#.*?#>|(?:^|(?<=[\s;]))#[^\n]*", "", code, flags=re.S)


def _trap_cleanup(inv: Invocation) -> bool:
    """`trap 'rm -f "$tmpfile"' EXIT`: a non-recursive rm, in a trap handler, of files named
    only by temp-file variables (`$tmp`, `$tmpfile`, `$TEMPDIR`, `$lockfile`) that the line
    sets from `mktemp` or not at all - the cleanup idiom; anything else is judged as run."""
    if inv.via != "trap" or inv.name != "rm" or inv.privileged:
        return False
    ops = [a for a in inv.args if not a.startswith("-")]
    flags = "".join(a for a in inv.args if a.startswith("-") and not a.startswith("--"))
    if not ops or re.search(r"[rR]", flags) or "--recursive" in inv.args:
        return False
    for a in ops:
        m = re.fullmatch(r"\$\{?(\w*(?:tmp|temp|lock|scratch)\w*)\}?", a, re.I)
        if m is None:
            return False
        for val in re.findall(rf"(?<![\w$]){m.group(1)}=(\S*)", inv.line):
            if not re.match(r"[\"']?(\$\(|`)mktemp\b", val):
                return False  # `trap 'rm -f $tmp' EXIT; tmp=/etc/shadow`
    return True


def asks_for_help(inv: Invocation) -> bool:
    """The invocation only prints help or a version: a help word where the tool reads it so.

    The first argument (`rm --help`, `git help push`, `Remove-Item -?`); a help flag as the
    last argument before any `--` when the word before it is not an option that could take it
    as its value (`kubectl delete ns x --help`; not `--exclude --help`, not
    `-NewFileSystemLabel '-?'`), except for commands that pass their arguments on to a script;
    `aws SERVICE OPERATION help`. Never with a redirect: the redirect still writes."""
    a = inv.args
    if not a or inv.redirects:
        return False
    if inv.shell == "powershell" and "-?" in a:  # anywhere, when written as a parameter
        return re.search(r"(?<![\w'\"-])-\?(?![\w'\"])", _ps_code(inv.raw)) is not None
    if (
        a[0] in HELP
        and (
            len(a) == 1
            or a[0] not in ("help", "-V")  # `cp help /etc/shadow`; `mkfs -V` is verbose
            or (a[0] == "help" and not any(re.search(r"[/\\~.]", x) for x in a[1:]))
        )
    ):
        return True
    if inv.name in _RUNS_ARGS:
        return False
    end = a.index("--") if "--" in a else len(a)
    last = _HELP_LAST - ({"/?"} if inv.shell == "bash" else set())  # `/?` is a path on Unix
    if end == len(a) and a[-1] in last and not a[-2].startswith(("-", "/")):
        return True
    return inv.name == "aws" and len(a) == 3 and a[2] == "help" and "-" not in a[0][:1]


DRY = {
    "--dry-run",
    "--dryrun",
    "--dry_run",
    "-n",
    "--simulate",
    "--check",
    "--no-act",
    "--just-print",
    "--recon",
    "--what-if",
    "-whatif",
    "--noop",
    "--list",
    "--plan",
    "--preview",
    "--diff",
    "--assumeno",
    "--syntax-check",
    "--list-hosts",
    "--dry-run=client",
    "--dry-run=server",
    "-s",
    "--test",
    "-WhatIf",
}


def _has(args: list[str], *opts: str) -> bool:
    return any(
        a in opts or any(a.startswith(o + "=") for o in opts if o.startswith("--")) for a in args
    )


def _all_flag(args: list[str]) -> bool:
    """`-a` / `--all`, also inside bundled short flags (`-af`)."""
    return any(
        x == "--all"
        or (x.startswith("--all=") and x[6:].lower() not in ("false", "0"))
        or re.fullmatch(r"-[A-Za-z]*a[A-Za-z]*", x) is not None
        for x in args
    )


def _worst_target(paths: Iterable[str], shell: str, cwd: str | None = None) -> str:
    gs = [grade(_join(cwd, p), shell) for p in paths]
    return max(gs, key=severity) if gs else "unknown"


def _join(cwd: str | None, p: str) -> str:
    if not cwd or p.startswith(("/", "~", "$")) or re.match(r"^[A-Za-z]:", p):
        return p
    if p in (".", "./", "*", "./*"):
        return cwd.rstrip("/") + "/*" if cwd.startswith(("/", "~")) else p
    return cwd.rstrip("/") + "/" + p.removeprefix("./")


def _is_prod(text: str) -> bool:
    return bool(
        re.search(
            r"(^|[^a-z])(prod|production|prd|live|main-db|primary|master-db)([^a-z]|$)",
            text.lower(),
        )
    )


def _is_nonprod(text: str) -> bool:
    return bool(
        re.search(
            r"(^|[^a-z])(staging|stage|stg|dev|develop|test|qa|sandbox|preview|local|tmp|scratch|"
            r"demo|playground|ci|feature|review|minikube|kind)([^a-z]|$)",
            text.lower(),
        )
    )


# ---------------------------------------------------------------- destruction of files


DELETE_TARGET_LEVEL = {  # recursive delete: grade -> level
    "null": S,
    "temp": L,
    "workspace": R,
    "cwd": R,
    "data": R,
    "sysconf": R,
    "log": B,
    "history": B,
    "unknown": R,
    "critical": B,
    "db": B,
    "home": B,
    "system": B,
    "root": B,
    "device": B,
    "registry": R,
}
FILE_TARGET_LEVEL = {  # one file: grade -> level
    "null": S,
    "temp": L,
    "workspace": L,
    "cwd": R,
    "data": L,
    "sysconf": R,
    "log": R,
    "history": B,
    "unknown": R,
    "critical": B,
    "db": B,
    "home": B,
    "system": B,
    "root": B,
    "device": B,
    "registry": R,
}


def _delete(inv: Invocation, targets: list[str], recursive: bool, rule: str) -> Iterator[Finding]:
    if inv.args_from_stdin and not targets:
        yield _f(
            inv, R, "destroy", rule, "deletes files named on its input (xargs): targets unknown"
        )
        return
    if not targets:
        return
    if (not inv.filtered or rule in ("shred", "wipe", "srm")) and any(
        re.fullmatch(r"(/var/log|/var|)/\*\.log\*?", t, re.I) for t in targets
    ):
        # `find / -name '*.log' -exec shred {} +`: every log file of the system
        yield _f(inv, B, "log-wipe", rule, "deletes the system's log files")
        return
    table = DELETE_TARGET_LEVEL if recursive else FILE_TARGET_LEVEL
    g = _worst_target(targets, inv.shell, inv.cwd)
    level = table.get(g, R)
    if g == "log" and any(_is_system_log(t) for t in targets):
        level = B
    if inv.filtered and level == B and g not in ("device", "history", "log"):
        level = R  # find -name ... -delete: only matching files
    if g == "log" and not recursive and level == R and inv.name not in ("shred",):
        level = R
    tag = {"log": "log-wipe", "history": "log-wipe", "device": "disk"}.get(
        g, "destroy" if level > L else "workspace"
    )
    yield _f(inv, level, tag, rule, f"{'recursive ' if recursive else ''}delete of {g} path")


def r_rm(inv: Invocation) -> Iterator[Finding]:
    short, long, pos = split_flags(inv.args)
    recursive = inv.name not in ("rmdir", "unlink") and bool(
        {"r", "R"} & short or "recursive" in long
    )
    yield from _delete(inv, pos, recursive, "rm")


def r_shred(inv: Invocation) -> Iterator[Finding]:
    _, _, pos = split_flags(
        inv.args, frozenset({"-n", "-s", "--iterations", "--size", "--random-source"})
    )
    g = _worst_target(pos, "bash")
    if g == "device":
        yield _f(inv, B, "disk", "shred", "overwrites a block device")
    elif pos:
        yield from _delete(inv, pos, True, "shred")


_FIND_DELETE_FILTERS = frozenset(
    {"-name", "-iname", "-path", "-regex", "-mtime", "-mmin", "-size", "-newer", "-user",
     "-empty", "-atime"}
)  # fmt: skip


def r_find(inv: Invocation) -> Iterator[Finding]:
    if "-delete" in inv.args:
        roots = find_roots(inv.args) or ["."]
        filt = any(
            a in _FIND_DELETE_FILTERS and inv.args[k + 1 : k + 2] != ["*"]  # -name '*': all
            for k, a in enumerate(inv.args)
        )
        g = _worst_target(roots, inv.shell)
        level = DELETE_TARGET_LEVEL.get(g, R)
        if filt and level == B and g not in ("history",):
            level = R
        if g in ("temp",) or (filt and g in ("workspace", "cwd")):
            level = L
        yield _f(
            inv,
            level,
            "destroy" if level > L else "workspace",
            "find",
            f"find -delete under {g} path",
        )


def r_truncate(inv: Invocation) -> Iterator[Finding]:
    _, _, pos = split_flags(inv.args, frozenset({"-s", "-r", "--size", "--reference"}))
    yield from _write_target(inv, pos, truncate=True, rule="truncate")


def _write_target(
    inv: Invocation, targets: list[str], truncate: bool, rule: str
) -> Iterator[Finding]:
    for t in targets:
        g = grade(t, inv.shell)
        low = t.lower()
        if g == "null":
            continue
        if g == "device":
            yield _f(inv, B, "disk", rule, "writes to a block device")
        elif g == "db":
            yield _f(inv, B if truncate else R, "db", rule, "writes inside a database's data files")
        elif g in ("log", "history"):
            if truncate:
                yield _f(
                    inv,
                    B if g == "history" or _is_system_log(t) else R,
                    "log-wipe",
                    rule,
                    f"truncates a {g} file",
                )
            else:
                yield _f(inv, L, "workspace", rule, "appends to a log")
        elif g == "critical":
            account = re.search(r"/etc/(passwd|shadow|sudoers$|gshadow|group)|ld\.so\.preload", low)
            yield _f(
                inv,
                B if truncate or account else R,
                "priv" if account and not truncate else ("destroy" if truncate else "config"),
                rule,
                "writes a file the system needs to boot or log in",
            )
        elif re.search(
            r"(authorized_keys|/etc/profile|/etc/bash\.bashrc|/etc/cron|/var/spool/cron|"
            r"cron\.d/|rc\.local|"
            r"systemd/(system|user)|init\.d|\\run\\|startup|\.config/autostart|ld\.so\.preload)",
            low,
        ):
            yield _f(
                inv, R, "persistence", rule, "writes a file that runs at login, boot or on schedule"
            )
        elif g in ("sysconf", "system"):
            yield _f(inv, R, "config", rule, "writes system configuration")
        elif g == "home":
            yield _f(inv, R, "destroy", rule, "writes over a home folder")
        elif g == "unknown":
            yield _f(inv, L, "workspace", rule, "writes a file named at run time")
        elif g == "data":
            yield _f(inv, L, "workspace", rule, "writes a file")
        else:
            yield _f(inv, L, "workspace", rule, "writes a file in the workspace or temp")


def _is_system_log(path: str) -> bool:
    p = path.lower()
    return bool(
        re.search(
            r"(auth|secure|syslog|messages|audit|wtmp|btmp|lastlog|kern|journal|security|system\.evtx|"
            r"winevt|utmp|faillog|sudo)",
            p,
        )
    ) or p.rstrip("/*") in ("/var/log",)


def r_dd(inv: Invocation) -> Iterator[Finding]:
    of = [a[3:] for a in inv.args if a.startswith("of=")]
    if not of:
        return
    g = grade(of[0], "bash")
    if g == "device":
        yield _f(inv, B, "disk", "dd", f"writes raw bytes to {of[0]}")
    else:
        yield from _write_target(inv, of, truncate=True, rule="dd")


_MKFS_TAKES = frozenset(
    {"-t", "-L", "-b", "-i", "-I", "-m", "-O", "-E", "-T", "-U", "-N", "-G", "-g", "-C", "-s"}
)


def r_mkfs(inv: Invocation) -> Iterator[Finding]:
    short, long, pos = split_flags(inv.args, _MKFS_TAKES)
    if ("n" in short and inv.name.startswith(("mkfs.ext", "mke2fs"))) or "dry-run" in long:
        return
    devs = [p for p in pos if p.startswith("/dev/")]
    if devs or any(grade(p, "bash") == "device" for p in pos):
        yield _f(
            inv, B, "disk", "mkfs", "creates a filesystem on a device, destroying its contents"
        )
    elif pos:
        yield _f(inv, L, "workspace", "mkfs", "formats an image file")


def r_disk_tool(inv: Invocation) -> Iterator[Finding]:
    n = inv.name
    a = inv.args
    text = " ".join(a).lower()
    devs = [x for x in a if x.startswith("/dev/")]
    if n == "wipefs":
        if _has(a, "-n", "--no-act"):
            return
        if _has(a, "-a", "--all") or any(x.startswith("-o") or x == "--offset" for x in a):
            yield _f(inv, B, "disk", "wipefs", "erases filesystem signatures")
        return
    if n in ("fdisk", "sfdisk", "gdisk", "cfdisk"):
        if _has(a, "-l", "--list", "-d", "--dump", "-s", "--show-size", "-v", "--verify"):
            return
        if n == "sfdisk" and ("--delete" in a or inv.stdin_data or inv.upstream):
            yield _f(inv, B, "disk", n, "rewrites a partition table")
            return
        if n == "fdisk" and inv.upstream and re.search(r"\b(d|o|g|w)\b", inv.upstream_text):
            yield _f(inv, B, "disk", n, "scripted partition-table rewrite")
            return
        yield _f(inv, R, "disk", n, "edits a partition table")
        return
    if n == "sgdisk":
        if _has(a, "-Z", "--zap-all", "-o", "--clear", "-z", "--zap") or any(
            x.startswith("-d") for x in a
        ):
            yield _f(inv, B, "disk", n, "destroys partition tables")
        elif _has(a, "-p", "--print", "-v", "--verify", "-i", "--info"):
            return
        else:
            yield _f(inv, R, "disk", n, "edits a partition table")
        return
    if n == "parted":
        if re.search(r"\b(rm|mklabel|mkpart|resizepart|mktable)\b", text):
            yield _f(
                inv,
                B if re.search(r"\b(rm|mklabel|mktable)\b", text) else R,
                "disk",
                n,
                "changes partitions",
            )
        return
    if n in ("blkdiscard",):
        yield _f(inv, B, "disk", n, "discards every block on a device")
        return
    if n == "hdparm" and re.search(
        r"--security-erase|--trim-sector|--write-sector|--fwdownload", text
    ):
        yield _f(inv, B, "disk", n, "erases or rewrites a drive")
        return
    if n == "cryptsetup":
        if re.search(
            r"\b(luksformat|erase|luksErase|luksKillSlot|open --type plain)\b", text, re.I
        ):
            yield _f(inv, B, "disk", n, "destroys the LUKS header or key slots")
        elif re.search(r"\b(status|luksdump|isluks|benchmark)\b", text, re.I):
            return
        else:
            yield _f(inv, R, "disk", n, "changes encrypted volumes")
        return
    if n in (
        "lvremove",
        "vgremove",
        "pvremove",
        "zpool",
        "zfs",
        "mdadm",
        "btrfs",
        "lvreduce",
        "vgreduce",
        "lvresize",
        "resize2fs",
        "xfs_repair",
        "e2fsck",
        "fsck",
        "tune2fs",
        "lvcreate",
        "vgcreate",
        "pvcreate",
        "lvextend",
        "vgextend",
        "mkswap",
        "swapoff",
        "swapon",
        "mount",
        "umount",
        "losetup",
        "debugfs",
    ):
        if n in ("zpool", "zfs"):
            if re.search(r"\bdestroy\b", text) and "@" in text:
                yield _f(inv, R, "disk", n, "destroys a snapshot")
            elif re.search(r"\b(destroy|labelclear)\b", text):
                yield _f(inv, B, "disk", n, "destroys a pool or dataset")
            elif re.search(r"\b(list|status|get|iostat|history|events)\b", text) or not a:
                return
            elif re.search(r"\b(rollback|rename|export|offline|detach|remove|clear)\b", text):
                yield _f(inv, R, "disk", n, "changes pools or datasets")
            else:
                yield _f(
                    inv,
                    L if re.search(r"\bsnapshot\b", text) else R,
                    "disk",
                    n,
                    "changes pools or datasets",
                )
            return
        if n == "mdadm":
            if re.search(r"--zero-superblock|--stop|--remove|--fail|--create", text):
                yield _f(
                    inv,
                    B if "--zero-superblock" in text or "--create" in text else R,
                    "disk",
                    n,
                    "changes a RAID array",
                )
            return
        if n == "btrfs":
            if re.search(r"\b(delete|check --repair|rescue|device remove)\b", text):
                yield _f(inv, R, "disk", n, "changes a btrfs filesystem")
            return
        if n in ("xfs_repair", "e2fsck", "fsck"):
            if _has(a, "-n") or "-n" in " ".join(a):
                return
            yield _f(inv, R, "disk", n, "repairs a filesystem in place")
            return
        if n in ("mount", "umount", "swapon", "swapoff", "losetup"):
            if not a or _has(a, "-l", "--show", "-s", "--summary", "--list"):
                return
            yield _f(inv, R, "config", n, "changes what is mounted")
            return
        if n in ("lvremove", "vgremove", "pvremove"):
            yield _f(
                inv,
                B if "-f" in a or "--force" in a or "-y" in a else R,
                "disk",
                n,
                "removes a logical volume, volume group or physical volume",
            )
            return
        if n in ("lvreduce", "vgreduce", "resize2fs", "lvresize"):
            yield _f(inv, R, "disk", n, "shrinks a volume")
            return
        if n == "mkswap" and devs:
            yield _f(inv, B, "disk", n, "formats a device as swap")
            return
        if n == "debugfs" and "-w" in a:
            yield _f(inv, B, "disk", n, "writes filesystem internals")
            return
        yield _f(inv, R, "disk", n, "changes volumes or filesystems")


# ---------------------------------------------------------------- permissions


def r_chmod(inv: Invocation) -> Iterator[Finding]:
    found = list(_chmod(inv))
    yield from found
    stake = grade(inv.at_stake) if inv.at_stake else ""
    if stake in ("root", "system", "critical", "db") and all(f.level < R for f in found):
        # find / -name '*.sh' -exec chmod +x {} \;: the matching files anywhere under the root
        yield _f(
            inv, R, "perm", inv.name, f"changes permissions or owners throughout a {stake} tree"
        )


def _chmod(inv: Invocation) -> Iterator[Finding]:
    short, long, pos = split_flags(inv.args, frozenset({"--reference", "--from"}))
    recursive = "R" in short or "recursive" in long
    if len(pos) == 1 and inv.args_from_stdin:
        pos = [pos[0], "$STDIN"]  # `... | xargs chmod 600`: the files are unknown here
    if len(pos) < 2:
        return
    mode = pos[0]
    targets = pos[1:]
    g = _worst_target(targets, inv.shell)
    sev = severity(g)
    world = inv.name == "chmod" and bool(
        re.search(r"(^|[^0-7])[0-7]?[0-7][0-7]7$|o\+w|a\+w|\+w\b|777|666", mode)
        # o+rwx, a=rw, ugo+rwx, +rw: the write bit for everyone among other bits
        or re.search(r"(^|,)([ugoa]*[oa][ugoa]*|)[+=][rxXst]*w", mode)
    )
    setuid = inv.name == "chmod" and bool(re.search(r"u\+s|g\+s|^[2467][0-7]{3}$", mode))
    if (
        (recursive or inv.via == "find -exec") and g in ("root", "system", "home", "critical", "db")
    ) or (world and g in ("root", "system")):
        yield _f(inv, B, "perm", inv.name, f"recursive permission change on {g} path")
    elif g in ("critical",) and (world or inv.name != "chmod"):
        yield _f(
            inv, B, "perm", inv.name, "permission change on a file the system's security depends on"
        )
    elif recursive:
        yield _f(
            inv,
            R if g not in ("temp",) else L,
            "perm",
            inv.name,
            f"recursive permission change on {g} path",
        )
    elif setuid and any(
        grade(t, "bash") == "temp" or re.search(r"(^|/)\.|(^|/)(ba|z|da|k)?sh$|python|perl", t)
        for t in targets
    ):
        yield _f(inv, B, "priv", inv.name, "makes a hidden or shell binary setuid (root backdoor)")
    elif setuid:
        yield _f(inv, R, "priv", inv.name, "sets a setuid/setgid bit")
    elif sev >= 4 or (g in ("data", "home") and world):
        yield _f(inv, R, "perm", inv.name, f"permission change on {g} path")
    else:
        yield _f(inv, L, "workspace", inv.name, "permission change in the workspace")


def r_setfacl(inv: Invocation) -> Iterator[Finding]:
    yield _f(inv, R, "perm", inv.name, "changes access-control lists")


# ---------------------------------------------------------------- services, processes, power

DEFENCES = re.compile(
    r"(auditd|audit|apparmor|selinux|firewalld|ufw|iptables|nftables|netfilter|falcon|crowdstrike|sentinel|"
    r"clamav|clamd|freshclam|wazuh|ossec|osquery|sysmon|defender|windefend|sense|wdnissvc|wscsvc|mpssvc|bfe|"
    r"mdatp|carbonblack|cbagent|cylance|sophos|eset|mcafee|symantec|trendmicro|elastic-agent|filebeat|auditbeat|"
    r"falco|tetragon|aide|tripwire|fail2ban|rsyslog|syslog|journald|systemd-journald|eventlog|securityhealth|"
    r"splunkforwarder|splunkd|datadog-agent|cloudwatch-agent|amazon-ssm|qualys|rapid7|tanium|cortex|xdr|edr)",
    re.I,
)


def r_systemctl(inv: Invocation) -> Iterator[Finding]:
    a = [x for x in inv.args if not x.startswith("-")]
    if not a:
        return
    verb = a[0]
    units = a[1:]
    text = " ".join(units)
    if verb in (
        "status",
        "show",
        "cat",
        "list-units",
        "list-unit-files",
        "is-active",
        "is-enabled",
        "is-failed",
        "list-timers",
        "list-sockets",
        "list-dependencies",
        "help",
        "get-default",
        "list-jobs",
        "show-environment",
        "is-system-running",
    ):
        return
    if is_dynamic(verb):
        yield _f(inv, R, "service", "systemctl", "service action decided at run time")
        return
    if verb in ("stop", "disable", "mask", "kill") and DEFENCES.search(text):
        yield _f(inv, B, "defence-off", "systemctl", f"{verb}s a security or logging service")
    elif verb in (
        "poweroff",
        "reboot",
        "halt",
        "kexec",
        "suspend",
        "hibernate",
        "rescue",
        "emergency",
        "isolate",
        "default",
        "soft-reboot",
    ):
        yield _f(inv, R, "service", "systemctl", "changes the machine's run state")
    elif verb in ("daemon-reload", "reset-failed", "daemon-reexec"):
        yield _f(inv, R if verb != "reset-failed" else L, "service", "systemctl", "reloads systemd")
    elif verb in (
        "edit",
        "set-property",
        "set-default",
        "link",
        "preset",
        "revert",
        "enable",
        "unmask",
        "start",
        "restart",
        "reload",
        "try-restart",
        "reload-or-restart",
        "stop",
        "disable",
        "mask",
        "kill",
        "freeze",
        "thaw",
        "clean",
    ):
        if "--user" in inv.args and verb in ("start", "restart", "reload", "stop"):
            yield _f(inv, L, "service", "systemctl", f"{verb} of a user service")
        else:
            yield _f(inv, R, "service", "systemctl", f"{verb} of a system service")


def r_service(inv: Invocation) -> Iterator[Finding]:
    a = [x for x in inv.args if not x.startswith("-")]
    if len(a) >= 2:
        unit, verb = a[0], a[1]
        if verb in ("status",):
            return
        if verb in ("stop",) and DEFENCES.search(unit):
            yield _f(inv, B, "defence-off", "service", "stops a security or logging service")
        else:
            yield _f(inv, R, "service", "service", f"{verb} of a system service")
    elif a and inv.name in ("rc-service", "sv") and len(a) >= 2:
        yield _f(inv, R, "service", "service", "service control")


def r_chkconfig(inv: Invocation) -> Iterator[Finding]:
    if "--list" in inv.args or not inv.args:
        return
    text = " ".join(inv.args)
    if "off" in inv.args and DEFENCES.search(text):
        yield _f(inv, B, "defence-off", inv.name, "disables a security service at boot")
    else:
        yield _f(inv, R, "service", inv.name, "changes services started at boot")


def r_power(inv: Invocation) -> Iterator[Finding]:
    if inv.name == "shutdown" and _has(inv.args, "-c", "--show"):
        return
    if inv.name == "init" and inv.args and inv.args[0] not in ("0", "6", "1", "s", "S"):
        return
    if inv.name in ("telinit",) and not inv.args:
        return
    yield _f(inv, R, "service", "power", "reboots or halts the machine")


def r_kill(inv: Invocation) -> Iterator[Finding]:
    a = inv.args
    if _has(a, "-l", "-L", "--list", "--table", "-0") or (
        inv.name == "kill" and not a and not inv.args_from_stdin
    ):
        return
    pos = [x for x in a if not x.startswith("-") or (re.fullmatch(r"-\d+", x) and x in ("-1",))]
    if inv.name == "kill" and "-1" in pos:
        yield _f(
            inv, B if inv.privileged else R, "process", "kill", "kills every process it may signal"
        )
        return
    if inv.name == "kill" and [x for x in a if not x.startswith("-")] == ["1"]:
        yield _f(inv, B if inv.privileged else R, "process", "kill", "signals init (PID 1)")
        return
    text = " ".join(a).lower()
    if inv.name in ("killall", "pkill", "killall5") and (
        inv.name == "killall5"
        or (
            re.search(r"\b(sshd|systemd|init|dbus|auditd|journald)\b", text)
            and ("-9" in a or "KILL" in text.upper())
        )
    ):
        yield _f(
            inv, B if inv.privileged else R, "process", inv.name, "kills system-critical processes"
        )
        return
    if inv.name in ("killall", "pkill") and DEFENCES.search(text) and not _has(a, "-0"):
        yield _f(inv, B, "defence-off", inv.name, "kills a security agent")
        return
    if (
        inv.name == "pkill"
        and ("-u" in a or "-U" in a)
        and not [x for x in a if not x.startswith("-")][1:]
    ):
        yield _f(inv, R, "process", inv.name, "kills a user's processes")
        return
    ops = list(a)
    if ops[:1] in (["-s"], ["-n"]):
        ops = ops[2:]  # kill -s SIGNAL ...
    elif ops and re.fullmatch(r"-(\d+|[A-Za-z][A-Za-z0-9+]*)", ops[0]):
        ops = ops[1:]  # kill -9 ..., kill -TERM ...
    ops = [x for x in ops if x != "--"]
    if inv.name == "kill" and ops and all(x.startswith("%") for x in ops):
        yield _f(inv, L, "workspace", "kill", "signals a job this shell started (`%N`)")
        return
    yield _f(inv, R, "process", inv.name, "kills processes")


# ---------------------------------------------------------------- packages and builds

_PKG_READ = {
    "list",
    "search",
    "show",
    "info",
    "policy",
    "depends",
    "rdepends",
    "madison",
    "check",
    "provides",
    "whatprovides",
    "repolist",
    "history",
    "changelog",
    "download",
    "source",
    "--version",
    "query",
    "outdated",
    "freeze",
    "inspect",
    "why",
    "view",
    "ls",
    "audit",
    "doctor",
    "config",
    "deplist",
    "list-installed",
    "repoquery",
    "info-installed",
    "leaves",
    "deps",
    "home",
    "desc",
    "fetch",
    "help",
    "-Q",
    "-Qi",
    "-Ql",
    "-Qs",
    "-Ss",
    "-Si",
    "-Qe",
    "-Qdt",
    "status",
    "cache",
    "stats",
    "file-search",
    "uses",
    "info-deps",
    "version",
    "versions",
    "--get-selections",
    "-l",
    "-L",
    "-s",
    "-S",
    "-W",
    "-c",
    "-qa",
    "-qi",
    "-ql",
    "-qf",
    "-q",
    "-V",
    "-Va",
    "updateinfo",
    "list-updates",
    "check-update",
}


def r_pkg(inv: Invocation) -> Iterator[Finding]:
    a = [
        x
        for x in inv.args
        if not x.startswith("-")
        or x in _PKG_READ
        or x.startswith("-S")
        or x.startswith("-R")
        or x.startswith("-U")
        or x in ("-i", "-r", "-P", "-e", "-U", "--install", "--remove", "--purge")
    ]
    if not a:
        return
    verb = a[0]
    rest = " ".join(a[1:])
    if (
        verb in _PKG_READ
        or _has(inv.args, "-s", "--simulate", "--dry-run", "--assumeno", "--just-print")
    ) and not (verb.startswith("-S") and verb not in ("-Ss", "-Si")):
        return
    n = inv.name
    if n in (
        "pip",
        "pip3",
        "pipx",
        "uv",
        "poetry",
        "conda",
        "mamba",
        "gem",
        "cargo",
        "go",
        "npm",
        "yarn",
        "pnpm",
        "bun",
        "composer",
        "bundle",
        "cpan",
        "cpanm",
        "luarocks",
        "dotnet",
        "nuget",
        "mvn",
        "gradle",
    ):
        yield from _lang_pkg(inv, verb)
        return
    if n in ("brew",) and not inv.privileged:
        if verb in (
            "install",
            "upgrade",
            "reinstall",
            "tap",
            "link",
            "update",
            "cleanup",
            "services",
        ):
            yield _f(inv, L, "package", n, "changes Homebrew packages")
        elif verb in ("uninstall", "remove", "rm", "untap", "autoremove"):
            yield _f(inv, L, "package", n, "removes Homebrew packages")
        return
    critical = re.search(
        r"\b(libc6|glibc|systemd|sudo|coreutils|bash|openssh-server|linux-image|kernel|dpkg|apt|"
        r"rpm|yum|dnf|python3|util-linux|grub|base-files|init|login|passwd|libpam|openssl)\b",
        rest,
    )
    if verb in (
        "remove",
        "purge",
        "autoremove",
        "erase",
        "uninstall",
        "-R",
        "-Rs",
        "-Rns",
        "-Rdd",
        "-Rcns",
        "-e",
        "-r",
        "-P",
        "--remove",
        "--purge",
        "autopurge",
        "rm",
    ):
        if critical and _has(
            inv.args, "-y", "--yes", "--assume-yes", "--noconfirm", "--force", "--nodeps", "-f"
        ):
            yield _f(inv, B, "package", n, "removes a package the system cannot run without")
        else:
            yield _f(inv, R, "package", n, "removes system packages")
        return
    if verb in ("update", "-Sy", "-Syy", "makecache", "refresh", "check-update"):
        yield _f(inv, R if inv.privileged else L, "package", n, "refreshes package lists")
        return
    if verb in ("clean", "autoclean", "-Sc", "-Scc"):
        yield _f(inv, L, "package", n, "cleans the package cache")
        return
    if verb in ("mark", "hold", "unhold", "versionlock", "pin"):
        yield _f(inv, R, "package", n, "changes package pinning")
        return
    yield _f(inv, R, "package", n, f"{verb} of system packages")


def _lang_pkg(inv: Invocation, verb: str) -> Iterator[Finding]:
    n = inv.name
    a = inv.args
    glob = _has(
        a, "-g", "--global", "--system", "--break-system-packages", "--prefix", "--root", "--target"
    )
    if n in ("pip", "pip3", "uv", "conda", "mamba", "poetry", "pipx") and verb in (
        "install",
        "uninstall",
        "remove",
        "add",
        "sync",
        "update",
        "upgrade",
        "create",
        "lock",
        "run",
        "venv",
    ):
        level = R if inv.privileged or "--break-system-packages" in a else L
        yield _f(
            inv, level, "package" if level > L else "workspace", n, f"{verb} of Python packages"
        )
        return
    if n in ("npm", "yarn", "pnpm", "bun") and verb in (
        "install",
        "i",
        "add",
        "remove",
        "uninstall",
        "rm",
        "ci",
        "update",
        "upgrade",
        "link",
        "prune",
        "dedupe",
        "run",
        "exec",
        "build",
        "test",
        "start",
        "init",
        "create",
        "pack",
    ):
        yield _f(
            inv,
            R
            if inv.privileged or (glob and verb in ("install", "i", "add", "uninstall", "remove"))
            else L,
            "package" if glob or inv.privileged else "workspace",
            n,
            f"{n} {verb}",
        )
        return
    if n in ("npm", "yarn", "pnpm") and verb in (
        "publish",
        "unpublish",
        "deprecate",
        "dist-tag",
        "owner",
        "access",
        "token",
    ):
        yield _f(inv, R, "remote", n, f"{verb} changes the public registry")
        return
    if n == "cargo" and verb in ("publish", "yank", "owner"):
        yield _f(inv, R, "remote", n, f"cargo {verb} changes the public registry")
        return
    if n in ("gem", "cpan", "cpanm", "luarocks", "composer") and verb in (
        "install",
        "uninstall",
        "update",
    ):
        yield _f(inv, R if inv.privileged else L, "package", n, f"{verb} of packages")
        return
    if verb in (
        "install",
        "build",
        "test",
        "run",
        "add",
        "remove",
        "update",
        "clean",
        "fmt",
        "get",
        "mod",
        "tidy",
        "generate",
        "new",
        "init",
        "publish",
        "deploy",
        "package",
        "compile",
        "restore",
        "pack",
    ):
        yield _f(
            inv,
            R if inv.privileged or verb in ("publish", "deploy") else L,
            "remote" if verb in ("publish", "deploy") else "workspace",
            n,
            f"{n} {verb}",
        )


def r_make(inv: Invocation) -> Iterator[Finding]:
    if _has(
        inv.args, "-n", "--dry-run", "--just-print", "-q", "--question", "-p", "--print-data-base"
    ):
        return
    targets = [x for x in inv.args if not x.startswith("-") and "=" not in x]
    if any(t in ("install", "uninstall", "deploy", "release", "publish") for t in targets):
        yield _f(
            inv,
            R
            if inv.privileged or "deploy" in targets or "release" in targets or "publish" in targets
            else L,
            "package",
            "make",
            "installs or deploys",
        )
    else:
        yield _f(inv, L, "workspace", "make", "builds in the workspace")


# ---------------------------------------------------------------- users, cron, config


def r_users(inv: Invocation) -> Iterator[Finding]:
    n = inv.name
    text = " ".join(inv.args)
    if n in ("passwd",) and (
        _has(inv.args, "-S", "--status") or (not inv.args and not inv.privileged)
    ):
        if not inv.args:
            yield _f(inv, L, "priv", n, "changes your own password")
        return
    if n == "userdel" and re.search(r"\broot\b", text):
        yield _f(inv, B, "priv", n, "deletes root")
        return
    if n == "usermod" and re.search(r"-o\b.*-u\s*0|-u\s*0.*-o\b", text):
        yield _f(inv, B, "priv", n, "gives a user UID 0")
        return
    if n == "useradd" and re.search(r"-o\b.*-u\s*0|-u\s*0\b", text):
        yield _f(inv, B, "priv", n, "adds a second root account")
        return
    if n == "passwd" and re.search(r"(-d|--delete)\s+root|\broot\b.*(-d|--delete)", text):
        yield _f(inv, B, "priv", n, "removes root's password")
        return
    if (n in ("chage",) and _has(inv.args, "-l", "--list")) or (
        n in ("visudo",) and _has(inv.args, "-c", "--check")
    ):
        return
    yield _f(inv, R, "priv", n, "changes users, groups, passwords or sudo rights")


def r_crontab(inv: Invocation) -> Iterator[Finding]:
    a = inv.args
    if _has(a, "-l"):
        return
    if _has(a, "-r", "-ri", "-ir"):
        root = (inv.privileged and (not _has(a, "-u") or "root" in a)) or (
            "-u" in a and "root" in a
        )
        yield _f(inv, B if root else R, "destroy", "crontab", "removes every cron job of a user")
        return
    yield _f(inv, R, "persistence", "crontab", "installs or edits scheduled jobs")


def r_at(inv: Invocation) -> Iterator[Finding]:
    if _has(inv.args, "-l") or inv.name == "atq":
        return
    yield _f(inv, L, "workspace", inv.name, "schedules a one-off job")


def r_sysctl(inv: Invocation) -> Iterator[Finding]:
    a = inv.args
    text = " ".join(a)
    if "=" not in text and not _has(a, "-w", "--write", "-p", "--load", "--system"):
        return
    if re.search(
        r"randomize_va_space\s*=\s*0|kptr_restrict\s*=\s*0|yama\.ptrace_scope\s*=\s*0|"
        r"modules_disabled|dmesg_restrict\s*=\s*0",
        text,
    ):
        yield _f(inv, B, "defence-off", "sysctl", "disables a kernel hardening setting")
    else:
        yield _f(inv, R, "config", "sysctl", "changes kernel parameters")


def r_modprobe(inv: Invocation) -> Iterator[Finding]:
    if inv.name == "lsmod" or _has(
        inv.args, "-n", "--dry-run", "--show-depends", "-c", "--showconfig"
    ):
        return
    yield _f(inv, R, "config", inv.name, "loads or unloads kernel modules")


def r_security(inv: Invocation) -> Iterator[Finding]:
    n = inv.name
    a = inv.args
    text = " ".join(a)
    if n == "setenforce":
        if a and a[0].lower() in ("0", "permissive"):
            yield _f(inv, B, "defence-off", n, "turns SELinux enforcement off")
        elif a:
            yield _f(inv, R, "config", n, "changes SELinux mode")
        return
    if n == "auditctl":
        if re.search(r"(^|\s)-D(\s|$)|-e\s*0", text):
            yield _f(inv, B, "defence-off", n, "deletes audit rules or disables auditing")
        elif _has(a, "-l", "-s", "--list", "-v"):
            return
        else:
            yield _f(inv, R, "config", n, "changes audit rules")
        return
    if n in ("aa-disable", "aa-teardown", "apparmor_parser") and (
        n != "apparmor_parser" or "-R" in a
    ):
        yield _f(
            inv,
            B if n == "aa-teardown" or "-R" in a or "/etc/apparmor.d/*" in text else R,
            "defence-off",
            n,
            "unloads AppArmor profiles",
        )
        return
    if n in ("aa-complain",):
        yield _f(inv, R, "config", n, "weakens an AppArmor profile")
        return
    if n in ("ufw",):
        if not a or a[0] in ("status", "show", "app", "--dry-run") or "--dry-run" in a:
            return
        if a[0] == "disable" or (a[0] == "reset" and _has(a, "--force")):
            yield _f(inv, B, "defence-off", n, "turns the firewall off")
        else:
            yield _f(inv, R, "firewall", n, "changes firewall rules")
        return
    if n in ("iptables", "ip6tables", "iptables-legacy", "iptables-nft"):
        if _has(
            a, "-L", "-S", "--list", "--list-rules", "-nvL", "-nL", "-vnL", "-C", "--check"
        ) or any(re.fullmatch(r"-[nvx]*L[nvx]*", x) for x in a):
            return
        if _has(a, "-F", "--flush", "-X") and not any(x in a for x in ("-A", "-I")):
            chain = [x for x in a if not x.startswith("-")]
            yield _f(
                inv,
                B if not chain or "INPUT" in chain else R,
                "defence-off",
                n,
                "flushes firewall rules",
            )
        elif re.search(r"-P\s+(INPUT|FORWARD|OUTPUT)\s+ACCEPT", text):
            yield _f(inv, R, "firewall", n, "sets an accept-all policy")
        else:
            yield _f(inv, R, "firewall", n, "changes firewall rules")
        return
    if n in ("iptables-restore", "ip6tables-restore"):
        yield _f(inv, R, "firewall", n, "replaces firewall rules")
        return
    if n == "nft":
        if re.search(r"flush\s+ruleset|delete\s+table", text):
            yield _f(inv, B, "defence-off", n, "removes every firewall rule")
        elif re.search(r"\b(list|monitor|describe)\b", text) or not a:
            return
        else:
            yield _f(inv, R, "firewall", n, "changes firewall rules")
        return
    if n == "firewall-cmd":
        if re.search(r"--(list|get|query|state|check)", text):
            return
        if re.search(
            r"--panic-off|--set-default-zone=trusted|--add-source=0\.0\.0\.0/0.*trusted", text
        ):
            yield _f(inv, B, "defence-off", n, "opens the firewall")
        else:
            yield _f(inv, R, "firewall", n, "changes firewall rules")
        return


_FILE_TOOLS = frozenset(
    ["chmod", "ls", "stat", "file", "sha256sum", "sha1sum", "md5sum", "b2sum", "get-item",
     "get-filehash", "unblock-file", "gpg", "cat", "head", "tail", "less", "jq", "get-content",
     "import-csv", "type"]
)  # fmt: skip
"""Commands that look at a downloaded file (or make it executable) without running, moving or
copying it: `cp`/`mv` give it a new name that may run later, and unpacking may run or place
what it holds (`tar --to-command`, `unzip -d /etc`), so they are not among them."""


_RUNS_INPUT = frozenset(
    ["sh", "bash", "zsh", "dash", "ksh", "fish", "python", "python2", "python3", "perl", "ruby",
     "php", "node", "cmd", "powershell", "pwsh", "invoke-expression"]
)  # fmt: skip
"""Commands that run what is piped into them."""


def _piped_into_runner(inv: Invocation, invs: list[Invocation], line: str) -> bool:
    """Whether what `inv` prints is piped into a shell or interpreter that runs its input as
    code (no script, -c/-e/-m or -Command of its own: `cat a.sh | bash`, `type a.bat | cmd`,
    `Get-Content a.ps1 | powershell -`), not one that reads it as data (`| python3 x.py`)."""
    for j in invs:
        if inv.name in j.upstream and j.name in _RUNS_INPUT and _reads_code_from_stdin(j):
            return True
    return inv.shell == "powershell" and bool(
        re.search(
            r"\|\s*(powershell|pwsh)(\.exe)?(\s+-(nop\w*|noni\w*))*\s+-\s*($|[;|)])", line, re.I
        )
    )  # `| powershell -` leaves no invocation of its own


_POSIX_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash"})


def _reads_code_from_stdin(j: Invocation) -> bool:
    if j.name == "invoke-expression":
        return True
    if j.name == "cmd":
        return not any(a.lower() in ("/c", "/k", "/r") for a in j.args)
    if j.name in _POSIX_SHELLS:
        # options (-x, -e, -o pipefail) do not name a script; -c gives the code; after -s
        # the words are the program's arguments, read from stdin; /dev/stdin is stdin
        script = shell_script(j.args)
        before = j.args if script is None else j.args[: j.args.index(script)]
        if any(re.fullmatch(r"-[a-zA-Z]*c[a-zA-Z]*", a) for a in before):
            return False  # -c CODE
        return script is None or is_stdin_path(script)
    if j.name in ("source", ".") and j.args[:1] and (j.args[0] == "-" or is_stdin_path(j.args[0])):
        return True
    own = [
        a for a in j.args if a != "-" and not re.fullmatch(r"-(nop\w*|noni\w*|u|b|i|q|s)", a, re.I)
    ]
    return not own  # a script file or -c/-e/-m/-Command: the input is data


def _unpack_dest(inv: Invocation) -> str | None:
    """Where tar -C/--directory, unzip -d or Expand-Archive -DestinationPath unpacks."""
    a = inv.args
    for k, x in enumerate(a):
        nxt = a[k + 1] if k + 1 < len(a) else ""
        if inv.name == "tar" and x in ("-C", "--directory"):
            return nxt
        if inv.name == "tar" and (x.startswith("--directory=") or re.fullmatch(r"-C.+", x)):
            return x.split("=", 1)[1] if x.startswith("--") else x[2:]
        if inv.name == "unzip" and x == "-d":
            return nxt
        if inv.name == "expand-archive" and x.lower().startswith("-dest"):
            return x.split(":", 1)[1] if ":" in x else nxt
    if inv.name == "expand-archive":
        pos = [x for x in a if not x.startswith("-")]
        return pos[1] if len(pos) >= 2 else None
    return None


def _unpacks_in_place(inv: Invocation) -> bool:
    """tar/unzip/Expand-Archive that only unpacks into temp or the workspace, running no
    command on the members: unpacking a download there is not running it."""
    if inv.name not in ("tar", "unzip", "expand-archive"):
        return False
    if any(
        re.match(
            r"--(to-command|checkpoint-action|use-compress-program|rmt-command|info-script)", x
        )
        or re.fullmatch(r"-I.*|-F.*", x)
        for x in inv.args
    ):
        return False
    dest = _unpack_dest(inv)
    return dest is None or (
        not is_dynamic(dest) and severity(grade(dest, inv.shell)) <= severity("workspace")
    )


def r_history(inv: Invocation) -> Iterator[Finding]:
    if any(re.fullmatch(r"-[a-z]*c[a-z]*", a) for a in inv.args):  # -c, -cd 5, -dc 5
        yield _f(inv, B, "log-wipe", "history", "clears shell history")
    elif _has(inv.args, "-d"):
        k = inv.args.index("-d") if "-d" in inv.args else -1
        one = 0 <= k < len(inv.args) - 1 and re.fullmatch(r"-?\d+", inv.args[k + 1])
        looped = re.search(r"\b(for|while|until|xargs|seq)\b", inv.line) is not None
        if one and inv.args.count("-d") == 1 and not looped:  # one entry of the user's history
            yield _f(inv, L, "workspace", "history", "deletes one history entry")
        else:
            yield _f(inv, R, "log-wipe", "history", "deletes history entries")


def r_unset_export(inv: Invocation) -> Iterator[Finding]:
    text = " ".join(inv.args)
    if (
        re.search(r"\bHISTFILE\b", text)
        and (inv.name == "unset" or re.search(r"HISTFILE=(/dev/null|$|\s)", text))
    ) or re.search(r"HISTCONTROL=ignorespace", text):
        yield _f(inv, R, "log-wipe", inv.name, "stops recording shell history")
    elif re.search(r"HISTSIZE=0|HISTFILESIZE=0", text):
        yield _f(inv, B, "log-wipe", inv.name, "erases shell history")
    elif inv.name == "export" and re.search(r"\bLD_PRELOAD=", text):
        yield _f(inv, R, "config", inv.name, "preloads a library into every process")
    elif inv.args and (inv.name != "set" or "=" in text or re.match(r"^[+-][a-z]", text) is None):
        yield _f(inv, L, "workspace", inv.name, "changes the shell session's environment")


def r_journalctl(inv: Invocation) -> Iterator[Finding]:
    text = " ".join(inv.args)
    m = re.search(r"--vacuum-(time|size|files)=?\s*(\S+)", text)
    if m:
        tiny = re.fullmatch(r"(1|0)[smhd]?|1s|1m|[0-9]+[KkB]|1M|1", m.group(2) or "") is not None
        yield _f(inv, B if tiny else R, "log-wipe", "journalctl", "deletes journal files")
    elif "--rotate" in text or "--flush" in text:
        yield _f(inv, L, "config", "journalctl", "rotates the journal")


def r_logrotate(inv: Invocation) -> Iterator[Finding]:
    if _has(inv.args, "-d", "--debug"):
        return
    yield _f(
        inv,
        R if "-f" in inv.args or "--force" in inv.args else L,
        "config",
        inv.name,
        "forces log rotation",
    )


# ---------------------------------------------------------------- network, download, exec


_FETCHERS = {
    "curl",
    "wget",
    "fetch",
    "aria2c",
    "lwp-download",
    "http",
    "https",
    "xh",
    "invoke-webrequest",
    "invoke-restmethod",
    "iwr",
    "irm",
    "certutil",
    "bitsadmin",
    "tftp",
    "nc",
    "ncat",
    "socat",
    "scp",
}
_SHELL_LIKE = {
    "sh",
    "bash",
    "zsh",
    "dash",
    "ksh",
    "ash",
    "fish",
    "python",
    "python2",
    "python3",
    "perl",
    "ruby",
    "node",
    "php",
    "lua",
    "source",
    ".",
    "iex",
    "invoke-expression",
    "pwsh",
    "powershell",
    "tclsh",
}


_FETCH_SUBST = re.compile(
    r"(<\(|\$\(|`)\s*(?:\\|['\"]|(?:command|sudo|busybox|env|exec|nohup)\s+|timeout\s+\S+\s+"
    r"|[^\s;|&()`]*/)*(curl|wget|fetch)\b"
)
"""A download's output used as code: a process or command substitution running a fetcher."""


def r_pipe_exec(inv: Invocation) -> Iterator[Finding]:
    """A shell or interpreter that reads code from its input or from a download."""
    if inv.name not in _SHELL_LIKE:
        if runs_input(inv) and set(inv.upstream) & _FETCHERS:  # curl URL | awk '{system($0)}'
            yield _f(inv, R, "net-exec", "pipe-exec", "runs code downloaded from the network")
        return
    script_args = [a for a in inv.args if not a.startswith("-")]
    stdin_code = _reads_code_from_stdin(inv)
    if "-s" in inv.args or "--" in inv.args[:2] or (inv.name in _POSIX_SHELLS and stdin_code):
        script_args = []  # bash -euxo pipefail reads its program from stdin
    if inv.name in ("source", ".") and stdin_code:
        script_args = []  # . /dev/fd/0
    from_net = bool(set(inv.upstream) & _FETCHERS)
    sub = " ".join(inv.args)
    # bash <(curl URL), sh -c "$(curl URL)", and what it reads: echo "$(curl URL)" | sh,
    # bash <<< "$(curl URL)" (also /usr/bin/curl, \\curl, command/sudo/busybox curl)
    read = " ".join((inv.upstream_text, inv.stdin_data or "")) if stdin_code else ""
    if stdin_code:  # bash < <(curl URL): the input is what the substitution prints
        read += " " + " ".join(d for op, d in inv.redirects if op == "<" and d.startswith("<("))
    if not from_net and _FETCH_SUBST.search(sub + " " + read):
        from_net = True
    if from_net and (
        not script_args
        or re.search(r"(curl|wget|fetch)", sub)
        or script_args[0] in ("-", "/dev/stdin")
    ):
        yield _f(
            inv,
            B if inv.privileged else R,
            "net-exec",
            "pipe-exec",
            "runs code downloaded from the network" + (" as root" if inv.privileged else ""),
        )
        return
    if (
        inv.name in ("sh", "bash", "zsh", "dash", "ksh")
        and "-i" in inv.args
        and any("/dev/tcp/" in t or "/dev/udp/" in t for _, t in inv.redirects)
    ):
        yield _f(
            inv, B, "reverse-shell", "reverse-shell", "interactive shell wired to a network socket"
        )
        return
    if inv.name in ("python", "python2", "python3", "perl", "ruby", "php", "node", "lua") and (
        inv.args or inv.stdin_data or inv.upstream
    ):
        code = " ".join(inv.args)
        program = code
        if inv.stdin_data and _program_from_stdin(inv.name, inv.args):
            program += "\n" + inv.stdin_data  # python3 - <<'PY' ... PY: the heredoc runs
        yield from _interpreter_code(inv, program)
        if re.search(
            r"rmtree\(\s*['\"](/|~|/etc|/home|/usr)['\"]|os\.system\(\s*['\"]rm -rf /['\"]", program
        ):
            yield _f(inv, B, "destroy", "interpreter", "deletes a system tree from an interpreter")
        # a whole program (a heredoc) easily mentions a socket and `exec`, or `fork()` and
        # `for`, without harm: the loose one-line tests read only code on the command line,
        # the strict ones (a socket wired to dup2/pty.spawn, `fork while fork`) all of it
        wired = re.search(r"sock|/dev/tcp/", program) and re.search(
            r"dup2|pty\.spawn|fsockopen|TCPSocket", program
        )
        if wired or (
            re.search(r"sock|/dev/tcp/", code)
            and re.search(
                r"(connect|fsockopen|TCPSocket|dup2|pty\.spawn|exec|spawn|"
                r"subprocess|/bin/sh|/bin/bash|cmd\.exe)",
                code,
            )
        ):
            yield _f(
                inv,
                B,
                "reverse-shell",
                "reverse-shell",
                "interpreter opens a socket and hands it a shell",
            )
        elif re.search(
            r"fork\s*(\(\))?\s*while\s*(fork|1|true)|while\s*\(?\s*1?\s*\)?\s*\{?\s*(os\.)?fork",
            program,
        ) or (re.search(r"fork\(\)", code) and re.search(r"while|for|loop", code)):
            yield _f(inv, B, "fork-bomb", "interpreter", "forks in a loop")
        elif inv.name in ("ruby", "perl") and _forks_in_loop(_ruby_perl_program(inv)):
            # `ruby -e 'loop { fork }'`, `perl -e 'for(;;){fork}'`: a fork with no block
            # returns in the child too, which loops and forks again
            yield _f(inv, B, "fork-bomb", "interpreter", "forks in a loop")


_BARE_FORK = re.compile(
    r"(?:\b(?:Process|Kernel)(?:\.|::)|\bself\.|\b(?:CORE|POSIX)::|(?<![\w.:$@%/\"'\\]))"
    r"fork\b(?!\s*(?:\{|do\b|\((?!\s*\))|=[^=~]))"
)
"""A Ruby or Perl `fork` call with no block (`fork`, `fork()`, `Process.fork`, `Process::fork`,
`self.fork`, `CORE::fork`, `POSIX::fork`): the child returns from it too and carries on with
the code after it; not `fork { ... }`, `fork do`, `fork(...)`, a string or a name."""

_FORK_STOPS = re.compile(
    r"(?<![\w:$@%])(?:wait|waitpid|waitall|wait2|exit!?|abort|exec|die|last|break|return|kill)\b"
    r"|\bProcess(?:\.|::)(?:wait\w*|exit)"
)
"""What makes a loop's fork harmless: the parent waits, or the child leaves (exits, becomes
another program) or ends the loop."""

_RP_LITERAL = re.compile(
    r"""(?P<q>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')"""  # strings
    r"|(?P<ql>(?<![\w$@%])(?:m|qr|qq?|qw|qx|s|tr|y|%[qQwWiIrx]?)"  # m{..} qr/../ %w[..]
    r"(?:\{[^}]*\}|\([^)]*\)|\[[^\]]*\]|<[^>]*>|([^\w\s{(\[<])(?:(?!\3).)*\3))"
    r"|(?P<c>(?<![$\w])\#(?!\{)[^\n]*)"  # comments (not $#a, "#{x}")
    r"|(?P<pre>(?:^|[(,;!~=&|{}?:]|\.\.|\b(?:if|unless|and|or|not|split|grep|when|return))\s*)"
    r"/(?:\\.|[^/\\\n])*/",  # a regex where an operand starts
    re.M,
)


def _ruby_perl_program(inv: Invocation) -> str:
    """The code a Ruby or Perl command line runs: its -e (/ -E) code, glued or not, and what
    it reads as its program from its input (`ruby <<< CODE`, `echo CODE | perl`), without its
    script's name or its arguments."""
    code, valued, glued, long_code = _PROGRAM_FLAGS[inv.name]
    out: list[str] = []
    args = inv.args
    k = 0
    while k < len(args):
        a = args[k]
        if a in ("-", "--") or not a.startswith("-"):
            break  # a script, or the program's own arguments
        k += 1
        if a.startswith("--"):
            if a.split("=", 1)[0] in long_code:
                out.append(a.split("=", 1)[1] if "=" in a else args[k] if k < len(args) else "")
                k += "=" not in a
            continue
        for j, letter in enumerate(a[1:], 1):
            if letter in code:  # -e CODE, -eCODE, -ne CODE
                if j < len(a) - 1:
                    out.append(a[j + 1 :])
                elif k < len(args):
                    out.append(args[k])
                    k += 1
                break
            if letter in glued:
                break
            if letter in valued:
                k += 0 if j < len(a) - 1 else 1
                break
    if _program_from_stdin(inv.name, list(args)) or (k < len(args) and is_stdin_path(args[k])):
        # (`ruby /dev/stdin <<< CODE`: the script is the input)
        out.append(inv.stdin_data or _echoed(inv.upstream_text) or "")
    return "\n".join(out)


def _echoed(upstream: str) -> str | None:
    """What a lone `echo TEXT` / `printf TEXT` stage before this one prints (roughly: its
    words), else None."""
    try:
        words = shlex.split(upstream)
    except ValueError:
        return None
    if not words or words[0] not in ("echo", "printf") or {"|", "|&"} & set(words):
        return None
    return " ".join(w for w in words[1:] if not re.fullmatch(r"-[neE]+", w))


def _code_only(code: str) -> str:
    """Ruby or Perl code without its strings, regexes and comments (each left as a blank)."""
    return _RP_LITERAL.sub(lambda m: (m.group("pre") or "") + " ", code)


def _brackets(code: str) -> dict[int, int]:
    """Each bracket's partner in `code`, both ways (`{` at 3 closed at 9: 3 -> 9, 9 -> 3); an
    unclosed one closes at the end of the code."""
    pairs = {"{": "}", "(": ")", "[": "]"}
    out: dict[int, int] = {}
    stack: list[int] = []
    for i, c in enumerate(code):
        if c in pairs:
            stack.append(i)
        elif c in ")]}" and stack and pairs[code[stack[-1]]] == c:
            out[stack[-1]], out[i] = i, stack[-1]
            stack.pop()
    for i in stack:
        out[i] = len(code)
    return out


_RUBY_OPENER = re.compile(
    r"\b(?:do|begin|def|class|module|case|end)\b"
    r"|(?:^|(?<=[;\n(=])|(?<=\bthen)|(?<=\belse))\s*\b(?:if|unless|while|until|for)\b"
)


def _ruby_end(code: str, at: int) -> int:
    """Where a Ruby block starting at `at` (after `do`, or a `while COND` line) ends: its
    `end`, counting the blocks opened inside it (the end of the code if none)."""
    depth = 1
    loop_head = False  # a `while`/`until`/`for` whose `do` opens no other block
    for m in _RUBY_OPENER.finditer(code, at):
        word = m.group().strip()
        if word == "end":
            depth -= 1
            if depth == 0:
                return m.start()
        elif word == "do" and loop_head:
            loop_head = False
        else:
            depth += 1
            loop_head = word in ("while", "until", "for")
    return len(code)


_LOOP_HEAD = re.compile(
    r"\bloop\s*(?:\{|do\b)"  # loop { ... }, loop do ... end
    r"|\b(?:while|until|for|foreach)\b"
    r"|\{"  # a Perl bare block: a loop where it ends in `redo`
)
_LOOP_HEAD_NO_BLOCK = re.compile(_LOOP_HEAD.pattern.rsplit("|", 1)[0])


def _forks_in_loop(program: str) -> bool:
    """Whether Ruby or Perl code forks with no block (`_BARE_FORK`) in a loop's body, that
    body neither waiting for the child nor leaving (`_FORK_STOPS`): `loop { fork }`,
    `for(;;){fork}`, `fork until false`, `fork for 1..1e9`, `{fork; redo}`, `do { fork }
    while 1`. (The first 64 loops are read.)"""
    if "fork" not in program:
        return False
    code = _code_only(program)
    if not _BARE_FORK.search(code):
        return False
    pair = _brackets(code)
    heads = _LOOP_HEAD if "redo" in code else _LOOP_HEAD_NO_BLOCK
    for m in itertools.islice(heads.finditer(code), 64):
        head = m.group()
        if head == "{":
            body = code[m.end() : pair.get(m.start(), len(code))]
            if not re.search(r"\bredo\b", body):
                continue
        elif head.startswith("loop"):
            at = m.end() - 1 if head.endswith("{") else m.end()
            body = code[at : pair.get(at, len(code)) if head.endswith("{") else _ruby_end(code, at)]
        else:
            before = code[: m.start()].rstrip()
            stmt = re.split(r"[;{}\n]|\bdo\b|\bthen\b", before[-4096:])[-1]
            opened = pair.get(len(before) - 1, -1) if before.endswith("}") else -1
            if 0 <= opened < len(before) and re.search(r"\bdo\s*$", code[:opened]):
                body = code[opened : len(before)]  # Perl `do { fork } while 1`
            elif re.search(r"\bend$", before) and "begin" in before:
                body = before[before.rindex("begin") :]  # Ruby `begin; fork; end while true`
            elif stmt.strip():  # `fork until false`, `fork for 1..9`: the statement loops
                body = stmt
            else:  # while (COND) { ... }, for (;;) { ... }, while COND do ... end
                rest = m.end()
                paren = re.match(r"\s*(?:my\s+)?(?:\$\w+\s*)?\(", code[rest : rest + 256])
                if paren:
                    rest = pair.get(rest + paren.end() - 1, len(code)) + 1
                brace = re.match(r"\s*\{", code[rest : rest + 256])
                if brace:
                    at = rest + brace.end() - 1
                    body = code[at : pair.get(at, len(code))]
                else:  # Ruby: `while COND do ... end`, `while COND; ...; end`
                    body = code[rest : _ruby_end(code, rest)]
        if _BARE_FORK.search(body) and not _FORK_STOPS.search(body):
            return True
    return False


_PROGRAM_FLAGS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    # interpreter: (short flags giving the program, short flags taking a value (glued or the
    # next word), short flags taking only a glued value (-d:Trace, -W:no-x), long ones giving
    # the program)
    "python": ("cm", "WXQ", "", ("--command",)),
    "perl": ("eE", "IMm", "dilF0Cx", ()),
    "ruby": ("e", "rIEC", "WTx0", ("--eval",)),
    "node": ("ep", "r", "", ("--eval", "--print")),
    "php": ("rBRF", "dcz", "", ("--run",)),
    "lua": ("e", "l", "", ()),
}


def _program_from_stdin(name: str, args: list[str]) -> bool:
    """Whether interpreter `name` with these arguments reads its program from standard input:
    no inline code or module (`python -c`/`-m`, `perl -e`, `php -r`, ...) and no script
    before `-` (what follows `-` is the program's own arguments); options' values
    (`-W ignore`, `-r dotenv/config`, `php -d x=1`, `perl -d:Trace`) are skipped."""
    code, valued, glued, long_code = _PROGRAM_FLAGS["python" if name.startswith("python") else name]
    k = 0
    while k < len(args):
        a = args[k]
        if a == "-":
            return True
        if a == "--":  # options end: no script, or `-`, still means standard input
            return args[k + 1 : k + 2] in ([], ["-"])
        if not a.startswith("-"):
            return False  # a script
        if a.startswith("--"):
            if a.split("=", 1)[0] in long_code:
                return False
            k += 1
            continue
        k += 1
        for j, letter in enumerate(a[1:], 1):
            if letter in code:
                return False
            if letter in glued:
                break  # the rest of the word is its value
            if letter in valued:
                k += 0 if j < len(a) - 1 else 1  # glued (-Wignore) or the next word
                break
    return True


def r_netcat(inv: Invocation) -> Iterator[Finding]:
    a = inv.args
    text = " ".join(a)
    if (
        re.search(r"(^|\s)-[a-zA-Z]*[ec]\s*(\S*/)?(sh|bash|zsh|cmd(\.exe)?|powershell)", text)
        or re.search(r"--(exec|sh-exec)", text)
        or (
            inv.name == "socat"
            and re.search(r"exec:|system:", text, re.I)
            and re.search(r"(sh|bash|pty)", text)
        )
    ):
        yield _f(inv, B, "reverse-shell", inv.name, "binds a shell to a network connection")
    elif set(inv.downstream) & {"sh", "bash", "zsh", "dash"} or set(inv.upstream) & {
        "sh",
        "bash",
        "zsh",
        "dash",
    }:
        yield _f(inv, B, "reverse-shell", inv.name, "pipes a network connection into a shell")
    elif (
        inv.upstream
        and "/dev/" not in inv.upstream_text
        and inv.name in ("nc", "ncat")
        and re.search(
            r"(shadow|passwd|id_rsa|\.ssh|\.aws|credentials|\.env|\.pem|\.key|tar |dump)",
            inv.upstream_text,
        )
    ):
        yield _f(inv, R, "exfil", inv.name, "sends local data to another host")
    sent = (inv.stdin_data or "") + (
        inv.upstream_text if {"echo", "printf"} & set(inv.upstream) else ""
    )
    if re.search(r"\b(FLUSHALL|FLUSHDB)\b|\bDROP\s+(DATABASE|SCHEMA)\b", sent, re.I):
        # printf 'FLUSHALL\r\n' | nc db 6379: the database's own protocol, typed by hand
        yield _f(inv, B, "db", inv.name, "sends a database-wiping command over a socket")


def r_fetch(inv: Invocation) -> Iterator[Finding]:
    """curl/wget: GET is a read; uploads and state-changing methods touch remote systems."""
    a = inv.args
    text = " ".join(a)
    method = None
    for i, x in enumerate(a):
        if x in ("-X", "--request") and i + 1 < len(a):
            method = a[i + 1].upper()
        elif x.startswith("-X") and len(x) > 2:
            method = x[2:].upper()
        elif x.startswith("--request="):
            method = x.split("=", 1)[1].upper()
        elif x in ("--method",) and i + 1 < len(a):
            method = a[i + 1].upper()
        elif x.startswith("--method="):
            method = x.split("=", 1)[1].upper()
    upload = re.search(
        r"(^|\s)(-T|--upload-file|-F|--form|--data-binary|-d|--data|--data-raw|--data-urlencode|"
        r"--post-file|--post-data|--body-file)(\s|=|$)",
        text,
    )
    secret = re.search(
        r"@?(/etc/shadow|/etc/passwd|id_rsa|id_ed25519|\.ssh/|\.aws/credentials|\.kube/config|"
        r"\.env\b|\.git-credentials|\.netrc|\.pgpass|\.docker/config|credentials\.json)",
        text,
    )
    if upload and secret and re.search(r"@|-T|--upload-file|--post-file|--body-file", text):
        yield _f(inv, R, "exfil", inv.name, "uploads credentials or secrets")
        return
    urls = [x for x in a if re.match(r"(https?://|localhost|[\w.-]+:\d+/)", x)]
    if method == "DELETE" and any(
        re.search(r"^(?:https?://)?[^/]+/(?:_all|\*|_data_stream/\*)/?(?:[?#]|$)", u) for u in urls
    ):  # Elasticsearch/OpenSearch: every index at once
        yield _f(inv, B, "db", inv.name, "deletes every index of a search cluster")
        return
    if re.search(
        r"<delete>\s*<query>\s*\*:\*\s*</query>|\"delete\"\s*:\s*\{\s*\"query\"\s*:\s*\"\*:\*\"",
        text,
    ):
        yield _f(inv, B, "db", inv.name, "deletes every document of a Solr collection")
        return
    if method == "DELETE":
        yield _f(inv, R, "cloud-delete", inv.name, "sends an HTTP DELETE")
        return
    if method in ("POST", "PUT", "PATCH") or upload:
        if re.search(r"@[^\s]+", text) or "-T" in a or "--upload-file" in a:
            yield _f(inv, R, "exfil", inv.name, "uploads a local file")
        else:
            yield _f(
                inv,
                R if _is_prod(text) or method in ("PUT", "PATCH") else L,
                "remote",
                inv.name,
                f"sends a {method or 'POST'} request",
            )
        return
    outs = [
        a[i + 1]
        for i, x in enumerate(a[:-1])
        if x in ("-o", "--output", "--output-document", "-P")
        or (re.fullmatch(r"-[a-zA-Z]*o", x) and inv.name == "curl")
        or (x == "-O" and inv.name == "wget" and a[i + 1] != "-")
    ]
    if outs:
        yield from _write_target(inv, outs, truncate=True, rule=inv.name)
    elif (
        inv.name in ("wget", "aria2c")
        and not _has(a, "-O", "--spider", "-q0", "-qO-")
        and "-O-" not in a
        and ("-qO-" not in a)
        and not set(inv.downstream)
    ) or (
        (
            _has(a, "-O", "--remote-name", "-OL", "-LO", "-fLO", "-sLO")
            or any(re.fullmatch(r"-[a-zA-Z]*O[a-zA-Z]*", x) for x in a)
        )
        and inv.name == "curl"
    ):
        yield _f(inv, L, "workspace", inv.name, "downloads a file into the current folder")


def r_copy_remote(inv: Invocation) -> Iterator[Finding]:
    """scp / rsync / sftp: uploads touch another host; rsync --delete deletes."""
    a = inv.args
    if inv.name == "rclone":
        verb = next((x for x in a if not x.startswith("-")), "")
        if (
            verb
            in (
                "check",
                "ls",
                "lsd",
                "lsl",
                "lsf",
                "lsjson",
                "size",
                "md5sum",
                "sha1sum",
                "cat",
                "about",
                "listremotes",
                "version",
                "tree",
                "ncdu",
                "cryptcheck",
                "config",
            )
            or "--dry-run" in a
        ):
            return
        if verb in ("purge", "delete", "deletefile", "rmdir", "rmdirs", "cleanup"):
            yield _f(inv, R, "destroy", "rclone", f"rclone {verb}")
            return
        if verb in ("sync", "move", "moveto", "bisync"):
            yield _f(
                inv, R, "destroy", "rclone", f"rclone {verb} deletes or moves at the destination"
            )
            return
    if _has(a, "-n", "--dry-run", "--list-only") or any(
        re.fullmatch(r"-[a-zA-Z]*n[a-zA-Z]*", x) for x in a if inv.name == "rsync"
    ):
        return
    _, long, pos = split_flags(
        a,
        frozenset(
            {
                "-e",
                "-P",
                "-i",
                "-o",
                "-F",
                "-J",
                "-l",
                "-c",
                "-S",
                "--rsh",
                "--exclude",
                "--include",
                "--filter",
                "--rsync-path",
                "--port",
                "--bwlimit",
                "--chmod",
                "--chown",
                "--log-file",
                "--files-from",
                "--backup-dir",
                "--link-dest",
                "--compare-dest",
                "--timeout",
            }
        ),
    )
    if len(pos) < 2:
        return
    dest = pos[-1]
    srcs = pos[:-1]
    remote_dest = bool(re.match(r"^([\w.-]+@)?[\w.-]+:", dest)) or dest.startswith(
        ("rsync://", "s3://")
    )
    secret = any(
        re.search(r"(shadow|id_rsa|\.ssh|\.aws|credentials|\.env$|\.pem$|\.key$|\.kube)", s)
        for s in srcs
    )
    delete = any(x.startswith("delete") or x in ("remove-source-files",) for x in long)
    if delete:
        g = grade(dest.split(":", 1)[-1] if remote_dest else dest, "bash")
        lvl = (
            B
            if g in ("root", "system", "home", "db")
            else L
            if g in ("temp", "workspace") and not remote_dest
            else R
        )
        yield _f(inv, lvl, "destroy", inv.name, f"mirrors with deletion into a {g} path")
        return
    if remote_dest:
        yield _f(inv, R, "exfil" if secret else "remote", inv.name, "copies files to another host")
    else:
        yield from _write_target(inv, [dest], truncate=False, rule=inv.name)


def r_ssh(inv: Invocation) -> Iterator[Finding]:
    if inv.upstream and inv.name == "ssh":
        yield _f(inv, R, "exfil", "ssh", "sends piped data to another host")
    elif "-R" in inv.args or "-D" in inv.args:
        yield _f(inv, R, "exfil", "ssh", "opens a tunnel to another host")
    elif inv.name == "ssh-copy-id":
        yield _f(inv, R, "persistence", "ssh", "installs an SSH key on another host")


# ---------------------------------------------------------------- plain file changes


def _target_dir(args: list[str]) -> str | None:
    """The directory of `-t DIR` / `-tDIR` / `--target-directory[=]DIR` (mv, cp, install)."""
    for k, x in enumerate(args):
        if x in ("-t", "--target-directory") and k + 1 < len(args):
            return args[k + 1]
        if x.startswith("--target-directory="):
            return x.split("=", 1)[1]
        if re.fullmatch(r"-[a-zA-Z]*t", x) and not x.startswith("--") and k + 1 < len(args):
            return args[k + 1]  # mv -vt DIR
        if re.fullmatch(r"-[a-zA-Z]*t.+", x) and not x.startswith("--"):
            return x[x.index("t") + 1 :]
    return None


def r_mv(inv: Invocation) -> Iterator[Finding]:
    _, _long, pos = split_flags(inv.args, frozenset({"-t", "-S", "--target-directory", "--suffix"}))
    tdir = _target_dir(inv.args)
    if tdir is not None:  # mv -t /tmp /etc: every operand is a source
        pos = [*pos, tdir]
    if len(pos) < 2:
        return
    src, dst = pos[:-1], pos[-1]
    if dst in ("/dev/null",):
        yield from _delete(inv, src, True, "mv")
        return
    gs = _worst_target(src, inv.shell) if inv.name == "mv" else "workspace"
    gd = grade(_join(inv.cwd, dst), inv.shell)
    if gs in ("root", "system", "critical", "db", "home") and inv.name == "mv":
        yield _f(
            inv,
            B if gs in ("root", "system", "critical") else R,
            "destroy",
            inv.name,
            f"moves a {gs} path away",
        )
        return
    if gd in ("critical",):
        yield _f(inv, B, "destroy", inv.name, "overwrites a file the system needs")
    elif gd in ("system", "sysconf", "root", "log") or gs in ("sysconf", "log"):
        yield _f(inv, R, "config", inv.name, "changes system files")
    elif inv.name == "cp" and gd == "device":
        yield _f(inv, B, "disk", inv.name, "writes to a block device")
    else:
        yield _f(inv, L, "workspace", inv.name, "copies or moves files")


def r_touch_mkdir(inv: Invocation) -> Iterator[Finding]:
    _, _, pos = split_flags(
        inv.args, frozenset({"-m", "--mode", "-d", "-t", "-r", "--reference", "-s", "--target"})
    )
    g = _worst_target(pos, inv.shell) if pos else "workspace"
    if g in ("critical", "system", "sysconf", "root") and inv.name == "ln":
        yield _f(inv, R, "config", inv.name, "links into system folders")
    elif g in ("sysconf", "system", "critical"):
        yield _f(
            inv,
            R if inv.name == "ln" else L,
            "config" if inv.name == "ln" else "workspace",
            inv.name,
            "creates files in a system folder",
        )
    else:
        yield _f(inv, L, "workspace", inv.name, "creates files or folders")


def r_sed(inv: Invocation) -> Iterator[Finding]:
    scripts, files = sed_operands(inv.args)
    for script in scripts:
        for cmd in SED_EXEC.findall(script):
            if not cmd.strip():  # a bare `e`: every input line runs as a command
                if inv.input_read and not files:
                    continue  # `echo CODE | sed e`: the parser read CODE as a shell's
                yield _f(inv, R, "obfuscated", inv.name, "sed's e runs its input as commands")
                continue
            sub = assess(cmd.strip(), "bash")
            yield _f(
                inv,
                max(sub.level, L),
                sub.reasons[0] if sub.reasons and sub.level > L else "obfuscated",
                inv.name,
                "sed's e command runs a shell command",
            )
        if SED_S_EXEC.search(script):
            yield _f(inv, R, "obfuscated", inv.name, "s///e runs the pattern space as a command")
    inplace = any(
        a == "-i" or a.startswith("-i") or a.startswith("--in-place") for a in inv.args if a != "-i"
    )
    inplace = inplace or "-i" in inv.args
    if not inplace:
        return
    pos = [a for a in inv.args[1:] if not a.startswith("-")]
    script = " ".join(inv.args)
    if re.search(
        r"SELINUX=(disabled|permissive)|enforcing=0|apparmor=0|audit=0|PermitRootLogin\s+yes|"
        r"PasswordAuthentication\s+yes|NOPASSWD",
        script,
    ):
        weak = re.search(r"SELINUX=disabled|apparmor=0|audit=0|enforcing=0", script)
        yield _f(
            inv,
            B if weak else R,
            "defence-off" if weak else "config",
            inv.name,
            "edits a security setting off",
        )
        return
    yield from _write_target(inv, pos[-1:] if pos else [], truncate=False, rule=inv.name)


def r_tee(inv: Invocation) -> Iterator[Finding]:
    _, _, pos = split_flags(inv.args)
    yield from _write_target(
        inv, pos, truncate="-a" not in inv.args and "--append" not in inv.args, rule="tee"
    )


def r_tar(inv: Invocation) -> Iterator[Finding]:
    a = inv.args
    first = next((x for x in a if not x.startswith("--")), "")
    letters = first.lstrip("-") if first and re.fullmatch(r"-?[A-Za-z]+", first) else ""
    extract = "x" in letters or _has(a, "--extract", "--get", "-x")
    create = "c" in letters or _has(a, "--create", "-c")
    target = None
    for i, x in enumerate(a[:-1]):
        if x in ("-C", "--directory"):
            target = a[i + 1]
    if extract:
        g = grade(target, "bash") if target else "workspace"
        if g in ("root", "system", "critical", "sysconf"):
            yield _f(inv, R, "config", "tar", f"extracts over a {g} path")
        else:
            yield _f(inv, L, "workspace", "tar", "extracts an archive")
    elif create:
        if any("remove-files" in x for x in a):
            yield from _tar_remove_files(inv)
        else:
            yield _f(inv, L, "workspace", "tar", "creates an archive")


_TAR_VALUE_OPTS = frozenset(
    {"-T", "--files-from", "-X", "--exclude-from", "--exclude", "-b", "-H", "--format", "-I",
     "--use-compress-program", "-g", "--listed-incremental", "--owner", "--group", "--mode",
     "-V", "--label", "-N", "--newer", "--transform", "--sort", "--rsh-command"}
)  # fmt: skip


def _tar_archive_and_sources(args: list[str]) -> tuple[str | None, list[str]]:
    """(the archive `tar -c` writes, the paths it reads) from GNU tar's argument forms:
    `-czf A src`, `czf A src`, `-c -f A src`, `--file=A`, `--file A`."""
    archive: str | None = None
    sources: list[str] = []
    where = ""  # -C / --directory: sources after it are relative to it
    i = 0
    while i < len(args):
        x = args[i]
        if x.startswith("--file="):
            archive = x[7:]
        elif x in ("--file", "-f") and i + 1 < len(args):
            archive, i = args[i + 1], i + 1
        elif x in ("-C", "--directory") and i + 1 < len(args):
            where, i = args[i + 1], i + 1
        elif x.startswith("--directory="):
            where = x[12:]
        elif x in _TAR_VALUE_OPTS:
            i += 1
        elif x.startswith("-") and not x.startswith("--") and "f" in x[1:]:
            if i + 1 < len(args):
                archive, i = args[i + 1], i + 1
        elif i == 0 and re.fullmatch(r"[A-Za-z]+", x) and "c" in x:  # old style: `tar czf A src`
            if "f" in x and i + 1 < len(args):
                archive, i = args[i + 1], i + 1
        elif not x.startswith("-") and "=" not in x.split("/")[0]:
            sources.append(_join(where, x) if where and not x.startswith("/") else x)
        i += 1
    return archive, sources


def _tar_remove_files(inv: Invocation) -> Iterator[Finding]:
    """`tar -c --remove-files`: the originals end up in the archive, so this is a move of the
    sources into it (LOW for workspace and temp files, RISKY for other data, BLOCKED for
    system paths) unless the archive goes nowhere it can be recovered from (/dev/null,
    stdout, a name known only at run time): then it is a delete. Onto a device: BLOCKED."""
    archive, sources = _tar_archive_and_sources(inv.args)
    if archive is not None and grade(archive, inv.shell) == "device":
        yield _f(inv, B, "disk", "tar", "writes an archive onto a block device")
        return
    if archive in (None, "-", "/dev/null") or is_dynamic(archive) or not sources:
        yield from _delete(inv, sources or ["."], True, "tar")
        return
    g = _worst_target(sources, inv.shell, inv.cwd)
    if g in ("root", "system", "critical", "db", "home", "device", "history"):
        lvl = B if g in ("root", "system", "critical", "device") else R
        yield _f(inv, lvl, "destroy", "tar", f"archives a {g} path and removes it")
    elif g in ("temp", "workspace", "null"):
        yield _f(inv, L, "workspace", "tar", "moves files into an archive (originals removed)")
    else:
        yield _f(inv, R, "destroy", "tar", f"archives {g} files and removes the originals")


def r_chattr(inv: Invocation) -> Iterator[Finding]:
    yield _f(inv, R, "perm", inv.name, "changes file attributes")


# ---------------------------------------------------------------- version control


def r_git(inv: Invocation) -> Iterator[Finding]:
    a = inv.args
    i = 0
    while i < len(a) and a[i].startswith("-"):
        i += 2 if a[i] in ("-C", "-c", "--git-dir", "--work-tree") else 1
    if i >= len(a):
        return
    sub, rest = a[i], a[i + 1 :]
    text = " ".join(rest)
    if _has(rest, "--dry-run", "-n") and sub in (
        "push",
        "clean",
        "rm",
        "add",
        "mv",
        "prune",
        "fetch",
    ):
        return
    if sub in (
        "status",
        "log",
        "diff",
        "show",
        "blame",
        "grep",
        "ls-files",
        "ls-remote",
        "ls-tree",
        "rev-parse",
        "describe",
        "shortlog",
        "reflog",
        "cat-file",
        "fsck",
        "help",
        "version",
        "whatchanged",
        "cherry",
        "range-diff",
        "count-objects",
        "name-rev",
        "var",
        "check-ignore",
        "verify-commit",
        "bisect-log",
        "archive",
        "bundle",
        "format-patch",
        "request-pull",
        "instaweb",
    ) and not (sub == "reflog" and ("expire" in rest or "delete" in rest)):
        return
    if sub == "reflog":
        yield _f(
            inv,
            R,
            "vcs-history",
            "git",
            "expires reflog entries: lost commits become unrecoverable",
        )
        return
    if sub in ("fetch", "clone", "remote") and not (
        "remove" in rest or "rm" in rest or "set-url" in rest or "prune" in rest
    ):
        if sub == "remote" and ("add" in rest or "rename" in rest):
            yield _f(inv, L, "workspace", "git", "changes remotes")
        elif sub in ("fetch", "clone"):
            yield _f(inv, L, "workspace", "git", f"git {sub}")
        return
    if sub == "branch":
        if (
            _has(rest, "-D")
            or ("-d" in rest and "-f" in rest)
            or (_has(rest, "--delete") and "--force" in rest)
        ):
            yield _f(inv, R, "vcs-history", "git", "force-deletes a branch")
        elif any(
            x in rest
            for x in ("-d", "--delete", "-m", "-M", "-c", "-C", "-f", "--set-upstream-to", "-u")
        ) or (
            [x for x in rest if not x.startswith("-")]
            and not _has(
                rest,
                "-a",
                "-r",
                "--list",
                "-l",
                "-v",
                "-vv",
                "--merged",
                "--no-merged",
                "--contains",
                "--show-current",
            )
        ):
            yield _f(inv, L, "workspace", "git", "creates, renames or deletes a merged branch")
        return
    if sub == "push":
        force = _has(rest, "-f", "--force", "--force-with-lease", "--force-if-includes") or any(
            x.startswith(("--force-with-lease", "+"))
            for x in rest
            if not x.startswith("-") or x.startswith("--f")
        )
        if force or any(re.match(r"^\+", x) for x in rest):
            yield _f(inv, R, "vcs-history", "git", "force-pushes: rewrites remote history")
        elif _has(rest, "--delete", "-d", "--mirror", "--prune") or any(
            x.startswith(":") for x in rest
        ):
            yield _f(inv, R, "vcs-history", "git", "deletes remote refs")
        else:
            yield _f(inv, L, "remote", "git", "pushes commits")
        return
    if sub == "reset":
        if _has(rest, "--hard", "--merge", "--keep"):
            yield _f(inv, R, "vcs-history", "git", "discards uncommitted work")
        else:
            yield _f(inv, L, "workspace", "git", "moves HEAD or unstages")
        return
    if sub == "clean":
        short, long, _ = split_flags(rest, frozenset({"-e", "--exclude"}))
        if "f" in short or "force" in long:
            yield _f(inv, R, "destroy", "git", "deletes untracked files")
        return
    if sub in ("checkout", "restore", "switch"):
        if (
            re.search(r"(^|\s)(--|\.|-f|--force|--discard-changes|--worktree|-W)(\s|$)", text)
            and not _has(rest, "-b", "-B", "-c", "-C", "--create", "--track", "-t")
        ) or (sub == "restore" and "--staged" not in rest):
            if sub == "restore" and "--staged" in rest:
                yield _f(inv, L, "workspace", "git", "unstages")
            else:
                yield _f(
                    inv,
                    R
                    if (
                        "." in rest
                        or "--" in rest
                        or "-f" in rest
                        or "--force" in rest
                        or sub == "restore"
                    )
                    else L,
                    "vcs-history",
                    "git",
                    "discards local changes",
                )
        else:
            yield _f(inv, L, "workspace", "git", f"git {sub}")
        return
    if sub in ("filter-branch", "filter-repo"):
        yield _f(inv, R, "vcs-history", "git", "rewrites the whole history")
        return
    if sub == "gc" and re.search(r"--prune=now|--prune=all|--aggressive", text):
        yield _f(inv, R, "vcs-history", "git", "prunes unreachable objects now")
        return
    if sub == "stash":
        if "clear" in rest:
            yield _f(inv, L, "workspace", "git", "drops every stash")
        elif rest[:1] in (
            [],
            ["push"],
            ["save"],
            ["pop"],
            ["apply"],
            ["drop"],
            ["branch"],
            ["-u"],
            ["-m"],
            ["--include-untracked"],
            ["-k"],
            ["--keep-index"],
        ) or (rest[:1] != ["list"] and rest[:1] != ["show"]):
            yield _f(inv, L, "workspace", "git", "stashes changes")
        return
    if sub in ("update-ref",) and "-d" in rest:
        yield _f(inv, R, "vcs-history", "git", "deletes a ref")
        return
    if sub in ("tag",) and _has(rest, "-d", "--delete"):
        yield _f(inv, L, "workspace", "git", "deletes a local tag")
        return
    if (sub in ("tag",) and not [x for x in rest if not x.startswith("-")]) or _has(
        rest, "-l", "--list"
    ):
        return
    if sub == "config":
        if _has(rest, "--get", "--list", "-l", "--get-all", "--get-regexp", "--show-origin"):
            return
        yield _f(inv, L, "config", "git", "changes git configuration")
        return
    if sub in ("rm",):
        short, long, pos = split_flags(rest)
        if "cached" in long:
            yield _f(inv, L, "workspace", "git", "untracks files")
        else:
            yield _f(
                inv,
                R if "r" in short and any(p in (".", "*") for p in pos) else L,
                "workspace",
                "git",
                "deletes tracked files",
            )
        return
    if sub in ("worktree",) and "remove" in rest and ("--force" in rest or "-f" in rest):
        yield _f(inv, R, "destroy", "git", "removes a worktree with its changes")
        return
    if sub in ("submodule",) and "deinit" in rest and ("-f" in rest or "--force" in rest):
        yield _f(inv, R, "destroy", "git", "discards submodule changes")
        return
    if sub in ("lfs",) and "prune" in rest:
        yield _f(inv, L, "workspace", "git", "prunes LFS objects")
        return
    yield _f(inv, L, "workspace", "git", f"git {sub}")


# ---------------------------------------------------------------- containers and clusters


def r_docker(inv: Invocation) -> Iterator[Finding]:
    yield from r_docker_inner(inv)
    a = [x for x in inv.args]
    while a and a[0].startswith("-"):
        a = (
            a[2:]
            if a[0] in ("-H", "--host", "--context", "-c", "--config", "--log-level", "-l")
            else a[1:]
        )
    if not a:
        return
    sub = a[0]
    rest = a[1:]
    obj = None
    if (
        sub
        in (
            "container",
            "image",
            "volume",
            "network",
            "system",
            "builder",
            "buildx",
            "compose",
            "swarm",
            "service",
            "stack",
            "secret",
            "config",
            "node",
            "plugin",
            "context",
        )
        and rest
    ):
        obj = sub
        while rest and rest[0].startswith("-"):
            rest = (
                rest[2:]
                if rest[0] in ("-f", "--file", "-p", "--project-name", "--env-file", "--profile")
                else rest[1:]
            )
        if not rest:
            return
        sub, rest = rest[0], rest[1:]
    if obj == "builder" and sub == "prune":
        yield _f(inv, L, "workspace", "docker", "prunes the build cache")
        return
    if obj == "image" and sub == "prune" and not _all_flag(rest):
        yield _f(inv, L, "workspace", "docker", "prunes dangling (untagged) images")
        return
    text = " ".join(rest)
    read = {
        "ps",
        "ls",
        "images",
        "logs",
        "inspect",
        "history",
        "info",
        "version",
        "top",
        "stats",
        "port",
        "diff",
        "events",
        "search",
        "df",
        "list",
        "config",
        "du",
        "help",
        "--help",
    }
    if sub in read or (obj == "compose" and sub in ("ps", "logs", "config", "top", "images", "ls")):
        return
    if (obj == "system" and sub == "prune") or sub == "prune":
        yield _f(
            inv,
            R,
            "destroy",
            "docker",
            "prunes containers, images" + (" and volumes" if "--volumes" in text else ""),
        )
        return
    if obj == "volume" and sub in ("rm", "remove", "prune"):
        yield _f(inv, R, "destroy", "docker", "deletes volumes and their data")
        return
    if obj == "compose" and sub in ("down",):
        yield _f(
            inv,
            R if _has(rest, "-v", "--volumes", "--rmi") else L,
            "destroy" if "-v" in rest else "service",
            "docker",
            "stops a compose project" + (" and deletes its volumes" if "-v" in rest else ""),
        )
        return
    if (obj in ("swarm",) and sub in ("leave", "init", "join")) or (
        obj in ("node",) and sub in ("rm",)
    ):
        yield _f(inv, R, "service", "docker", "changes a swarm")
        return
    if sub in ("rm", "rmi", "kill", "stop", "restart") or (
        obj in ("service", "stack", "secret", "network") and sub in ("rm", "remove")
    ):
        yield _f(
            inv,
            R,
            "cloud-delete" if sub in ("rm", "rmi", "remove") else "service",
            "docker",
            f"{sub} of containers, images or services",
        )
        return
    if sub in ("run", "create", "exec"):
        if re.search(
            r"--privileged|--pid[= ]host|-v\s*/:/|--volume[= ]/:/|--net[= ]host.*--cap-add|"
            r"--cap-add[= ](SYS_ADMIN|ALL)|/var/run/docker\.sock",
            text,
        ):
            yield _f(inv, R, "priv", "docker", "runs a container with host-level privileges")
        else:
            yield _f(inv, L, "workspace", "docker", f"docker {sub}")
        return
    if sub in (
        "push",
        "login",
        "logout",
        "tag",
        "commit",
        "save",
        "load",
        "build",
        "pull",
        "start",
        "cp",
        "up",
        "pause",
        "unpause",
        "rename",
        "update",
        "attach",
        "import",
        "export",
    ):
        yield _f(inv, L, "workspace" if sub != "push" else "remote", "docker", f"docker {sub}")
        return
    if obj == "compose":
        yield _f(inv, L, "service", "docker", f"docker compose {sub}")
        return
    yield _f(inv, L, "workspace", "docker", f"docker {sub}")


_PROTECTED_NS = re.compile(
    r"^(prod|production|prd|live|kube-system|kube-public|default|monitoring|istio-system|"
    r"cert-manager|ingress-nginx|argocd|vault|payments|billing|.*-prod|prod-.*|.*-production)$"
)


def r_kubectl(inv: Invocation) -> Iterator[Finding]:
    a = inv.args
    words = [x for x in a if not x.startswith("-")]
    # drop option values
    vals: set[int] = set()
    for i, x in enumerate(a):
        if x in (
            "-n",
            "--namespace",
            "-l",
            "--selector",
            "-f",
            "--filename",
            "-o",
            "--output",
            "--context",
            "-c",
            "--container",
            "--field-selector",
            "--kubeconfig",
            "--cluster",
            "--user",
            "--replicas",
            "--image",
            "--timeout",
            "--grace-period",
            "-p",
            "--patch",
            "--type",
            "--for",
            "-i",
            "--to-revision",
        ):
            vals.add(i + 1)
    words = [x for i, x in enumerate(a) if not x.startswith("-") and i not in vals]
    if not words:
        return
    sub = words[0]
    ns = ""
    for i, x in enumerate(a):
        if x in ("-n", "--namespace") and i + 1 < len(a):
            ns = a[i + 1]
        elif x.startswith("--namespace="):
            ns = x.split("=", 1)[1]
        elif x.startswith("-n") and len(x) > 2 and not x.startswith("--"):
            ns = x[2:]
    text = " ".join(a)
    everywhere = _has(a, "--all-namespaces", "-A")
    prod = _is_prod(ns) or (_is_prod(text) and not _is_nonprod(ns))
    if _has(a, "--dry-run", "--dry-run=client", "--dry-run=server") or any(
        x.startswith("--dry-run") for x in a
    ):
        return
    if sub in (
        "get",
        "describe",
        "logs",
        "top",
        "explain",
        "diff",
        "version",
        "api-resources",
        "api-versions",
        "cluster-info",
        "auth",
        "events",
        "wait",
        "completion",
        "kustomize",
        "plugin",
        "options",
        "help",
    ):
        return
    if sub == "config":
        if words[1:2] and words[1] in (
            "use-context",
            "set-context",
            "set",
            "set-cluster",
            "set-credentials",
            "delete-context",
            "delete-cluster",
            "rename-context",
            "unset",
        ):
            yield _f(inv, L, "config", "kubectl", "changes kubeconfig")
        return
    if sub == "delete" and DEFENCES.search(" ".join(words[1:]) + " " + ns):
        yield _f(inv, B, "defence-off", "kubectl", "deletes a security or logging agent")
        return
    if sub == "delete":
        kinds = words[1:]
        kind = kinds[0].lower() if kinds else ""
        names = kinds[1:]
        if "/" in kind:
            kind, _, nm = kind.partition("/")
            names = [nm, *names]
        if kind in ("ns", "namespace", "namespaces"):
            if any(_PROTECTED_NS.match(n) or _is_prod(n) for n in names) or _has(a, "--all"):
                yield _f(
                    inv, B, "cloud-delete", "kubectl", "deletes a production or system namespace"
                )
            else:
                yield _f(
                    inv, R, "cloud-delete", "kubectl", "deletes a namespace and everything in it"
                )
            return
        if _has(a, "--all") or everywhere or ("-l" in a and everywhere):
            yield _f(
                inv,
                B
                if everywhere
                or prod
                or (
                    ns in ("", "default", "kube-system")
                    and kind not in ("pod", "pods", "po", "job", "jobs")
                )
                else R,
                "cloud-delete",
                "kubectl",
                "mass deletion of resources",
            )
            return
        if kind in (
            "node",
            "nodes",
            "no",
            "pv",
            "persistentvolume",
            "crd",
            "customresourcedefinition",
            "clusterrole",
            "clusterrolebinding",
            "storageclass",
            "validatingwebhookconfiguration",
            "mutatingwebhookconfiguration",
        ):
            yield _f(inv, R, "cloud-delete", "kubectl", f"deletes cluster-scoped {kind}")
            return
        yield _f(inv, R, "cloud-delete", "kubectl", f"deletes {kind or 'resources'}")
        return
    if sub in ("port-forward", "proxy"):
        return
    if sub == "uncordon":
        yield _f(inv, L, "service", "kubectl", "returns a node to service")
        return
    if sub in ("drain", "cordon", "taint"):
        yield _f(inv, R, "service", "kubectl", f"{sub} takes nodes out of service")
        return
    if sub == "exec" and "--" in a:
        inner = assess(" ".join(shlex.quote(x) for x in a[a.index("--") + 1 :]), "bash")
        if inner.level >= L:
            yield _carried(
                inv,
                max(inner.level, R),
                inner,
                "remote",
                "kubectl",
                "runs a changing command inside a pod",
            )
            return
    if sub in ("exec", "cp", "attach", "port-forward", "proxy", "debug", "run"):
        yield _f(
            inv,
            R if prod and sub in ("exec", "cp", "debug") else L,
            "remote",
            "kubectl",
            f"{sub} into a cluster",
        )
        return
    if sub == "rollout":
        verb = words[1] if len(words) > 1 else ""
        if verb in ("status", "history"):
            return
        yield _f(inv, R, "service", "kubectl", f"rollout {verb}")
        return
    if sub in (
        "apply",
        "create",
        "replace",
        "patch",
        "edit",
        "scale",
        "set",
        "label",
        "annotate",
        "expose",
        "autoscale",
        "certificate",
    ):
        if sub == "scale" and re.search(r"--replicas[= ]0\b", text) and prod:
            yield _f(inv, R, "service", "kubectl", "scales a production workload to zero")
            return
        if sub == "replace" and "--force" in a:
            yield _f(inv, R, "cloud-delete", "kubectl", "deletes and recreates resources")
            return
        yield _f(
            inv,
            R
            if prod
            or (
                (not ns and not _is_nonprod(text))
                and sub in ("apply", "replace", "patch", "edit")
                and _is_prod(text)
            )
            else L,
            "remote",
            "kubectl",
            f"{sub} in {ns or 'the current namespace'}",
        )
        return
    yield _f(inv, L, "remote", "kubectl", f"kubectl {sub}")


def r_helm(inv: Invocation) -> Iterator[Finding]:
    words = [x for x in inv.args if not x.startswith("-")]
    if not words:
        return
    sub = words[0]
    text = " ".join(inv.args)
    if _has(inv.args, "--dry-run") or sub in (
        "list",
        "ls",
        "status",
        "get",
        "history",
        "template",
        "show",
        "search",
        "lint",
        "version",
        "env",
        "inspect",
        "verify",
        "help",
    ):
        return
    if sub == "repo":
        yield _f(inv, L, "config", "helm", "changes chart repositories")
        return
    if sub in ("uninstall", "delete", "del", "un") and DEFENCES.search(text):
        yield _f(inv, B, "defence-off", "helm", "uninstalls a security or logging agent")
        return
    if sub in ("uninstall", "delete", "del", "un"):
        yield _f(
            inv,
            B if _is_prod(text) and _has(inv.args, "--no-hooks") else R,
            "cloud-delete",
            "helm",
            "uninstalls a release",
        )
        return
    if sub in ("rollback",):
        yield _f(inv, R, "service", "helm", "rolls a release back")
        return
    if sub in ("install", "upgrade", "plugin", "dependency", "package", "push", "pull"):
        yield _f(inv, R if _is_prod(text) else L, "remote", "helm", f"helm {sub}")


def r_terraform(inv: Invocation) -> Iterator[Finding]:
    a = inv.args
    words = [x for x in a if not x.startswith("-")]
    if inv.name == "terragrunt" and words[:1] in (["run-all"], ["run"]):
        words = words[1:]
    if not words:
        return
    sub = words[0]
    text = " ".join(a)
    auto = _has(
        a,
        "-auto-approve",
        "--auto-approve",
        "-auto-approve=true",
        "--terragrunt-non-interactive",
        "-force",
        "--non-interactive",
    )
    if sub in (
        "plan",
        "validate",
        "fmt",
        "show",
        "output",
        "graph",
        "version",
        "providers",
        "console",
        "init",
        "get",
        "login",
        "logout",
        "metadata",
        "test",
        "modules",
    ):
        if sub in ("init", "get", "login", "logout") or (
            sub == "fmt" and not _has(a, "-check", "-diff")
        ):
            yield _f(inv, L, "workspace", "terraform", f"terraform {sub} writes local files")
        return
    destroy = sub == "destroy" or (sub == "apply" and _has(a, "-destroy", "--destroy"))
    targeted = "-target" in text
    if destroy:
        if auto and not targeted:
            yield _f(
                inv, B, "cloud-delete", "terraform", "destroys the whole stack without confirmation"
            )
        else:
            yield _f(inv, R, "cloud-delete", "terraform", "destroys infrastructure")
        return
    if sub == "apply":
        yield _f(inv, R, "remote", "terraform", "changes live infrastructure")
        return
    if sub == "state":
        verb = words[1] if len(words) > 1 else ""
        if verb in ("list", "show", "pull"):
            return
        yield _f(inv, R, "remote", "terraform", f"state {verb} edits the state")
        return
    if sub in ("import", "taint", "untaint", "refresh", "force-unlock", "workspace"):
        if sub == "workspace" and words[1:2] and words[1] in ("list", "show", "select"):
            if words[1] == "select":
                yield _f(inv, L, "config", "terraform", "selects a workspace")
            return
        yield _f(
            inv,
            R if sub in ("force-unlock",) or (sub == "workspace" and "delete" in words) else L,
            "remote",
            "terraform",
            f"terraform {sub}",
        )


def r_ansible(inv: Invocation) -> Iterator[Finding]:
    a = inv.args
    if _has(
        a,
        "--check",
        "-C",
        "--syntax-check",
        "--list-hosts",
        "--list-tasks",
        "--list-tags",
        "--version",
    ):
        return
    text = " ".join(a)
    if inv.name == "ansible":
        m = re.search(r"(-a|--args)\s+(\S.*)", text)
        mod = re.search(r"(-m|--module-name)\s+(\S+)", text)
        modname = mod.group(2) if mod else "command"
        if modname in ("ping", "setup", "gather_facts", "debug"):
            return
        if m and modname in ("command", "shell", "raw"):
            sub = parse(m.group(2).strip("'\""), "bash")
            lvl = max((f.level for i in sub.invocations for f in _rules_for(i)), default=S)
            pattern = next((x for x in a if not x.startswith("-")), "")
            fleet = (
                pattern in ("all", "*")
                or bool(re.search(r"[*:,&!]", pattern))
                or bool(re.search(r"prod", text))
            )
            off = [
                i
                for i in sub.invocations
                if i.name in ("poweroff", "halt")
                or (
                    i.name == "shutdown"
                    and not any(
                        x in ("-c", "--reboot") or re.fullmatch(r"-[a-z]*r[a-z]*", x)
                        for x in i.args
                    )
                )
            ]
            if off and fleet:
                yield _f(inv, B, "service", "ansible", "shuts a fleet down (it stays off)")
            elif lvl >= L:
                yield _f(
                    inv, max(lvl, R), "remote", "ansible", "runs a changing command on a fleet"
                )
            return
        yield _f(inv, R, "remote", "ansible", f"runs {modname} on a fleet")
        return
    yield _f(inv, R, "remote", inv.name, "applies a playbook to hosts")


# ---------------------------------------------------------------- clouds


_CLOUD_READ = re.compile(
    r"^(describe|list|get|show|ls|head|wait|lookup|search|query|scan|check|estimate|validate|"
    r"preview|export|download|tail|filter|batch-get|test|whoami|view|info|version|help|"
    r"logs|read|print|status|simulate|generate-presigned|presign|select|find|count|audit)"
)


_AWS_FLAGS = {
    "--recursive",
    "--force",
    "--dryrun",
    "--dry-run",
    "--no-paginate",
    "--debug",
    "--quiet",
    "--skip-final-snapshot",
    "--delete-automated-backups",
    "--no-verify-ssl",
    "--exact-timestamps",
    "--delete",
    "--no-cli-pager",
    "--skip-final-cluster-snapshot",
    "--follow-symlinks",
    "--include-all",
}


def _aws_words(a: list[str]) -> list[str]:
    words: list[str] = []
    i = 0
    while i < len(a):
        x = a[i]
        if x.startswith("--"):
            if (
                "=" not in x
                and x not in _AWS_FLAGS
                and not x.startswith("--no-")
                and i + 1 < len(a)
                and not a[i + 1].startswith("--")
                and len(words) >= (2 if words[:1] != ["s3"] else 1)
            ) or (
                x in ("--region", "--profile", "--output", "--endpoint-url", "--query", "--color")
                and i + 1 < len(a)
            ):
                i += 2
                continue
            i += 1
            continue
        words.append(x)
        i += 1
    return words


def r_aws(inv: Invocation) -> Iterator[Finding]:
    a = inv.args
    words = _aws_words(a)
    if len(words) < 2 and words[:1] != ["s3"]:
        return
    svc, op = words[0], words[1] if len(words) > 1 else ""
    text = " ".join(a)
    if "--dryrun" in a or "--dry-run" in a:
        return
    if inv.args_from_stdin and op.startswith(("delete", "terminate", "remove", "deregister")):
        yield _f(inv, B, "cloud-delete", "aws", f"{op} of every resource a query returned (xargs)")
        return
    if svc == "s3":
        if op in ("ls", "presign"):
            return
        if op == "rb":
            yield _f(inv, B if "--force" in a else R, "cloud-delete", "aws", "removes a bucket")
            return
        if op == "rm":
            target = next((w for w in words[2:] if w.startswith("s3://")), "")
            whole = re.fullmatch(r"s3://[^/]+/?", target) is not None
            rec = "--recursive" in a
            filtered = "--exclude" in a or "--include" in a
            yield _f(
                inv,
                B if rec and whole and not filtered else R,
                "cloud-delete",
                "aws",
                "deletes objects" + (" in a whole bucket" if whole and rec else ""),
            )
            return
        if op in ("sync", "cp", "mv"):
            dest = words[-1] if words else ""
            if "--delete" in a:
                whole = dest.startswith("s3://") and re.fullmatch(r"s3://[^/]+/?", dest) is not None
                yield _f(inv, R, "destroy", "aws", "syncs with deletion")
                return
            if dest.startswith("s3://") and not any(w.startswith("s3://") for w in words[2:-1]):
                yield _f(inv, R, "exfil", "aws", "uploads to S3")
            elif dest.startswith("s3://"):
                yield _f(
                    inv,
                    R if op == "mv" or _is_prod(dest) else L,
                    "remote",
                    "aws",
                    "copies within S3",
                )
            else:
                yield _f(inv, L, "workspace", "aws", "downloads from S3")
            return
        if op == "mb":
            yield _f(inv, L, "remote", "aws", "creates a bucket")
            return
        return
    if svc == "configure" or (svc == "sso" and op == "login"):
        yield _f(inv, L, "config", "aws", "changes local CLI configuration")
        return
    if svc == "eks" and op == "update-kubeconfig":
        yield _f(inv, L, "config", "aws", "writes kubeconfig")
        return
    if _CLOUD_READ.match(op):
        return
    if svc == "cloudtrail" and op in (
        "stop-logging",
        "delete-trail",
        "update-trail",
        "put-event-selectors",
    ):
        yield _f(
            inv, B if op != "update-trail" else R, "defence-off", "aws", "turns audit logging off"
        )
        return
    if svc in (
        "guardduty",
        "securityhub",
        "config",
        "configservice",
        "inspector",
        "inspector2",
        "macie2",
        "detective",
        "access-analyzer",
        "shield",
    ) and re.match(r"(delete|disable|stop|disassociate)", op):
        yield _f(inv, B, "defence-off", "aws", f"disables {svc}")
        return
    if svc == "logs" and op in ("delete-log-group", "delete-log-stream", "put-retention-policy"):
        yield _f(
            inv,
            B if re.search(r"cloudtrail|audit|security|vpc-flow", text, re.I) else R,
            "log-wipe",
            "aws",
            "deletes logs",
        )
        return
    if svc == "rds" and op.startswith("delete-db"):
        yield _f(
            inv,
            B if "--skip-final-snapshot" in a or "--delete-automated-backups" in a else R,
            "cloud-delete",
            "aws",
            "deletes a database",
        )
        return
    if (
        svc == "rds"
        and op == "modify-db-instance"
        and re.search(r"--backup-retention-period\s+0", text)
    ):
        yield _f(inv, B, "log-wipe", "aws", "turns database backups off")
        return
    if (svc in ("dynamodb",) and op == "delete-table") or (
        svc == "redshift" and op.startswith("delete-cluster")
    ):
        yield _f(
            inv,
            B if _is_prod(text) or "--skip-final-cluster-snapshot" in a else R,
            "cloud-delete",
            "aws",
            "deletes a table or warehouse",
        )
        return
    if svc == "kms" and op in ("schedule-key-deletion", "disable-key"):
        yield _f(inv, R, "cloud-delete", "aws", "schedules key deletion")
        return
    if (
        (svc in ("eks",) and op.startswith("delete-cluster"))
        or (svc == "cloudformation" and op == "delete-stack")
        or (
            svc == "organizations"
            and op.startswith(("close-account", "remove-account", "delete-organization"))
        )
    ):
        yield _f(
            inv,
            B if _is_prod(text) or svc == "organizations" else R,
            "cloud-delete",
            "aws",
            f"deletes a {svc} {op.split('-', 1)[-1]}",
        )
        return
    if svc == "ec2" and op == "terminate-instances":
        ids = re.findall(r"i-[0-9a-f]+", text)
        yield _f(
            inv,
            B if len(ids) > 3 or "$(" in text or inv.args_from_stdin else R,
            "cloud-delete",
            "aws",
            "terminates instances",
        )
        return
    if (
        svc == "iam"
        and re.match(
            r"(attach|put|create-access-key|create-login-profile|add-user-to-group|"
            r"update-assume-role-policy)",
            op,
        )
        and re.search(r"(AdministratorAccess|\"\*\"|admin)", text, re.I)
    ):
        yield _f(inv, R, "priv", "aws", "grants administrator rights")
        return
    if op.startswith(("delete", "terminate", "remove", "deregister", "purge", "destroy", "empty")):
        yield _f(inv, R, "cloud-delete", "aws", f"{svc} {op}")
        return
    if op.startswith(
        (
            "create",
            "run",
            "put",
            "update",
            "modify",
            "start",
            "stop",
            "reboot",
            "attach",
            "detach",
            "associate",
            "disassociate",
            "authorize",
            "revoke",
            "invoke",
            "publish",
            "send",
            "set",
            "enable",
            "disable",
            "tag",
            "untag",
            "import",
            "copy",
            "restore",
            "register",
            "add",
            "change",
            "reset",
            "replace",
            "upload",
            "execute",
            "deploy",
            "cancel",
            "apply",
        )
    ):
        if svc == "ec2" and op in ("authorize-security-group-ingress",) and "0.0.0.0/0" in text:
            yield _f(inv, R, "firewall", "aws", "opens a port to the internet")
            return
        lvl = (
            L
            if op.startswith(
                ("create", "tag", "add", "copy", "upload", "invoke", "publish", "send")
            )
            and not (_is_prod(text))
            else R
        )
        yield _f(inv, lvl, "remote", "aws", f"{svc} {op}")


def r_gcloud(inv: Invocation) -> Iterator[Finding]:
    words = [x for x in inv.args if not x.startswith("-")]
    text = " ".join(inv.args)
    if not words:
        return
    verbs = [
        w
        for w in words
        if re.match(
            r"^(delete|remove|destroy|disable|stop|reset|rm|rb|update|create|set|"
            r"deploy|add-iam-policy-binding|remove-iam-policy-binding|start|restart|"
            r"resize|import|undelete|enable|apply|patch|run|submit|cp|mv|rsync|"
            r"shutdown|purge|unset)$",
            w,
        )
    ]
    if inv.name in ("gsutil",):
        op = words[0]
        if op in ("ls", "cat", "du", "stat", "hash", "version", "help"):
            return
        if op == "rb" or (
            op == "rm"
            and ("-r" in inv.args or "-a" in inv.args)
            and any(re.fullmatch(r"gs://[^/]+/?(\*\*?)?", w) for w in words)
        ):
            yield _f(inv, B, "cloud-delete", "gsutil", "deletes a whole bucket")
        elif op == "rm":
            yield _f(inv, R, "cloud-delete", "gsutil", "deletes objects")
        elif op in ("rsync",) and "-d" in inv.args:
            yield _f(inv, R, "destroy", "gsutil", "syncs with deletion")
        elif op in ("cp", "mv", "rsync"):
            to_cloud = any(w.startswith("gs://") for w in words[-1:])
            yield _f(inv, R if to_cloud else L, "exfil" if to_cloud else "workspace", "gsutil", op)
        elif op in ("iam", "acl", "defacl") and re.search(r"allUsers|allAuthenticatedUsers", text):
            yield _f(inv, R, "perm", "gsutil", "makes data public")
        return
    if (
        "get-credentials" in words
        or words[:2] == ["config", "set"]
        or words[:2] == ["auth", "login"]
    ):
        yield _f(inv, L, "config", "gcloud", "writes local gcloud/kube configuration")
        return
    if not verbs:
        return
    verb = verbs[0]
    if (
        "storage" in words
        and verb in ("rm",)
        and "--recursive" in inv.args
        and any(re.fullmatch(r"gs://[^/]+/?", w) for w in words)
    ) or ("buckets" in words and verb == "delete"):
        yield _f(inv, B, "cloud-delete", "gcloud", "deletes a whole bucket")
        return
    if verb in ("delete", "remove", "destroy", "purge", "rm"):
        scope = words[: words.index(verb)]
        big = any(
            x in scope
            for x in (
                "projects",
                "sql",
                "clusters",
                "spanner",
                "bigtable",
                "firestore",
                "databases",
                "folders",
                "organizations",
                "filestore",
                "alloydb",
            )
        )
        if "sinks" in scope or "logging" in scope:
            yield _f(
                inv,
                B if re.search(r"audit|security", text) else R,
                "log-wipe",
                "gcloud",
                "deletes log sinks",
            )
            return
        yield _f(
            inv,
            B
            if big
            and (
                "projects" in scope
                or "sql" in scope
                or _is_prod(text)
                or "--quiet" in inv.args
                or "-q" in inv.args
            )
            else R,
            "cloud-delete",
            "gcloud",
            f"deletes {' '.join(scope[-2:])}",
        )
        return
    if (
        verb in ("disable",)
        and "services" in words
        and re.search(
            r"(logging|monitoring|securitycenter|"
            r"cloudaudit)",
            text,
        )
    ):
        yield _f(inv, B, "defence-off", "gcloud", "disables audit or security services")
        return
    if "firewall-rules" in words and verb in ("create", "update"):
        yield _f(inv, R, "firewall", "gcloud", "changes firewall rules")
        return
    if "iam-policy-binding" in verb and re.search(r"roles/(owner|editor)|allUsers", text):
        yield _f(inv, R, "priv", "gcloud", "grants owner/editor or public access")
        return
    lvl = (
        R
        if verb
        in (
            "stop",
            "reset",
            "update",
            "set",
            "deploy",
            "resize",
            "restart",
            "shutdown",
            "patch",
            "apply",
            "remove-iam-policy-binding",
            "add-iam-policy-binding",
            "import",
        )
        or _is_prod(text)
        else L
    )
    yield _f(inv, lvl, "remote", "gcloud", f"{verb} in the cloud")


def r_az(inv: Invocation) -> Iterator[Finding]:
    words = [x for x in inv.args if not x.startswith("-")]
    text = " ".join(inv.args)
    if not words:
        return
    verb = next(
        (
            w
            for w in words
            if re.match(
                r"^(delete|purge|remove|stop|deallocate|restart|create|update|set|"
                r"start|deploy|assign|add|wipe|reset|swap|import|upload|run|invoke|"
                r"scale|resize|sync)$",
                w,
            )
        ),
        None,
    )
    if verb is None:
        return
    scope = words[: words.index(verb)]
    if scope in (["config"], ["account"]) and verb == "set":
        yield _f(inv, L, "workspace", "az", "changes the az CLI's local settings")
        return
    if verb in ("delete", "purge", "remove", "wipe"):
        big = scope[:1] in (["group"],) or any(
            x in scope
            for x in (
                "sql",
                "cosmosdb",
                "postgres",
                "mysql",
                "aks",
                "account",
                "keyvault",
                "storage",
            )
        )
        if scope[:2] == ["storage", "blob"] and "delete-batch" not in words:
            yield _f(inv, R, "cloud-delete", "az", "deletes a blob")
            return
        if "monitor" in scope or "diagnostic-settings" in scope or "log-analytics" in scope:
            yield _f(inv, B, "log-wipe", "az", "deletes monitoring or logs")
            return
        yield _f(inv, B if big else R, "cloud-delete", "az", f"deletes {' '.join(scope)}")
        return
    if verb == "assign" and re.search(r"(Owner|Contributor|User Access Administrator)", text):
        yield _f(inv, R, "priv", "az", "grants owner/contributor rights")
        return
    yield _f(
        inv,
        R
        if verb not in ("create", "start", "add", "upload", "run", "invoke") or _is_prod(text)
        else L,
        "remote",
        "az",
        f"{verb} in Azure",
    )


# ---------------------------------------------------------------- databases


def sql_level(sql: str, context: str = "") -> tuple[Level, str, str]:
    """Level of one SQL/Redis/Mongo text: (level, tag, why); `context` (host, database) tells prod from dev."""
    s = re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.S).strip()
    u = s.upper()
    if re.search(
        r"AUDIT\b.*STATE\s*=\s*OFF|DROP\s+(SERVER\s+)?AUDIT|PGAUDIT\.LOG\s*=\s*'?NONE|"
        r"GENERAL_LOG\s*=\s*(0|OFF)|AUDIT_LOG\w*\s*=\s*(0|OFF)",
        u,
    ):
        return B, "defence-off", "turns database auditing off"
    if re.search(r"\bSP_CONFIGURE\b|\bRECONFIGURE\b|\bALTER\s+SYSTEM\b|\bSET\s+GLOBAL\b", u):
        return R, "config", "changes database server configuration"
    if re.search(r"\bFLUSHALL\b|\bFLUSHDB\b", u) and _is_nonprod(context) and not _is_prod(context):
        return R, "db", "empties a non-production cache database"
    if (
        re.search(r"\bDROP\s+(TABLE|COLLECTION)\b", u)
        and _is_prod(context + " " + s)
        and not _is_nonprod(context)
        and not re.search(
            r"DROP\s+(TABLE|COLLECTION)\s+(IF\s+EXISTS\s+)?[\w.\[\]\"`]*(STAG|TMP|TEMP|IMPORT|BACKUP|OLD|"
            r"ARCHIVE|TEST|SCRATCH)",
            u,
        )
    ):
        return B, "db", "drops a production table"
    if re.match(r"^\s*EXPLAIN\b(?!\s+(\(\s*)?ANALY[SZ]E)", u):
        return S, "db", "only explains a plan"
    if (
        re.search(r"\bDROP\s+(DATABASE|SCHEMA|KEYSPACE)\b", u)
        or re.search(r"\bFLUSHALL\b|\bFLUSHDB\b", u)
        or ("DROPDATABASE(" in u.replace(" ", ""))
    ):
        return B, "db", "drops a whole database"
    if re.search(
        r"\bDROP\s+(TABLE|COLLECTION|INDEX|VIEW|USER|ROLE|FUNCTION|TRIGGER|SEQUENCE|TYPE|EXTENSION)\b",
        u,
    ):
        return R, "db", "drops a database object"
    if (
        re.search(r"\bTRUNCATE\b", u)
        or re.search(r"\bDELETE\s+FROM\s+[\w.\"`\[\]]+\s*(;|$)", u)
        or re.search(r"DELETEMANY\(\s*\{\s*\}\s*\)|\.REMOVE\(\s*\{\s*\}\s*\)", u.replace(" ", ""))
        or re.search(r"\bUPDATE\s+[\w.\"`]+\s+SET\b(?!.*\bWHERE\b)", u)
    ):
        return (
            (B if _is_prod(context + " " + s) and not _is_nonprod(context) else R),
            "db",
            ("empties or rewrites a whole table"),
        )
    if re.search(r"\.DROP\(\)", u.replace(" ", "")):
        return R, "db", "drops a collection"
    if (
        re.search(r"\b(DELETE|UPDATE|ALTER|MERGE|REPLACE|GRANT|REVOKE|RENAME)\b", u)
        or (
            re.search(
                r"\b(DEL|UNLINK|EXPIRE|SET|HSET|LPUSH|RPUSH|SADD|ZADD|INCR|CONFIG\s+SET|SHUTDOWN|SLAVEOF|REPLICAOF|"
                r"DEBUG|MIGRATE|RESTORE|SWAPDB|CLIENT\s+KILL)\b",
                u,
            )
            and not re.search(r"\bSELECT\b", u)
        )
        or re.search(
            r"(DELETEONE|DELETEMANY|UPDATEONE|UPDATEMANY|REPLACEONE|FINDONEANDDELETE|DROPINDEX|"
            r"REMOVE)\(",
            u.replace(" ", ""),
        )
    ):
        return R, "db", "changes database contents or schema"
    if re.search(
        r"\b(INSERT|CREATE|COPY\s+\w+\s+FROM|VACUUM|ANALYZE|REINDEX|CLUSTER|LOAD\s+DATA)\b", u
    ) or re.search(r"(INSERTONE|INSERTMANY|CREATEINDEX|CREATECOLLECTION)\(", u.replace(" ", "")):
        return L, "db", "adds data or objects"
    return S, "db", "reads"


def r_db_client(inv: Invocation) -> Iterator[Finding]:
    a = inv.args
    n = inv.name
    sql = None
    for i, x in enumerate(a):
        if x in (
            "-c",
            "--command",
            "-e",
            "--execute",
            "--eval",
            "-q",
            "--query",
            "-Q",
        ) and i + 1 < len(a):
            sql = a[i + 1]
        elif x.startswith(("--command=", "--execute=", "--eval=", "--query=")):
            sql = x.split("=", 1)[1]
        elif n in ("mysql", "mariadb", "psql") and re.fullmatch(r"-[ec].+", x):
            sql = x[2:]  # mysql -e"DROP DATABASE prod": the statement glued to the option
    if n in ("redis-cli", "valkey-cli", "keydb-cli"):
        vals = {
            "-h",
            "-p",
            "-a",
            "-n",
            "-u",
            "--user",
            "--pass",
            "-s",
            "--tls",
            "--cacert",
            "-c",
            "-r",
            "-i",
            "--scan",
            "--pattern",
        }
        words = []
        skip = False
        for x in a:
            if skip:
                skip = False
                continue
            if x in vals and x not in ("--tls", "-c", "--scan"):
                skip = True
                continue
            if x.startswith("-"):
                continue
            words.append(x)
        if words:
            sql = " ".join(words)
        elif inv.upstream and inv.upstream_text:
            sql = inv.upstream_text
    if n in ("sqlite3",):
        pos = [x for x in a if not x.startswith("-")]
        if len(pos) >= 2:
            sql = " ".join(pos[1:])
    if n in ("dropdb", "mysqladmin") and (n == "dropdb" or "drop" in a):
        yield _f(inv, B, "db", n, "drops a whole database")
        return
    if n in ("pg_restore",) and _has(a, "-c", "--clean"):
        yield _f(inv, R, "db", n, "drops objects before restoring")
        return
    if n in ("mongorestore",) and "--drop" in a:
        yield _f(inv, R, "db", n, "drops collections before restoring")
        return
    if sql is None and any(
        op == "<" and t.endswith((".sql", ".sql.gz", ".dump")) for op, t in inv.redirects
    ):
        yield _f(inv, R, "db", n, "loads an SQL file into a database")
        return
    if sql is None and inv.stdin_data:
        sql = inv.stdin_data
    if sql is None and inv.upstream and re.search(r"\b(echo|printf|cat)\b", inv.upstream_text):
        sql = inv.upstream_text
    if sql is None:
        return
    level, tag, why = sql_level(sql, inv.line)
    if level > S:
        yield _f(inv, level, tag, n, why)


# ---------------------------------------------------------------- PowerShell


_PS_READ_VERBS = (
    "get-",
    "test-",
    "show-",
    "find-",
    "measure-",
    "select-",
    "where-",
    "sort-",
    "format-",
    "out-host",
    "out-string",
    "write-host",
    "write-output",
    "write-verbose",
    "write-information",
    "convertto-",
    "convertfrom-",
    "compare-",
    "resolve-",
    "read-",
    "group-",
    "tee-object",
    "foreach-object",
    "out-null",
    "out-gridview",
    "join-",
    "split-path",
    "import-csv",
    "import-clixml",
    "trace-",
    "wait-",
    "search-",
    "debug-",
    "confirm-",
    "watch-",
    "use-",
    "ping",
    "receive-",
    "write-",
    "enter-pssession",
    "exit-pssession",
    "update-help",
    "get-help",
    "help",
    "set-location",
    "push-location",
    "pop-location",
    "invoke-command",
    "start-job",
    "receive-job",
    "wait-job",
)
_PS_LOW_VERBS = (
    "new-",
    "add-",
    "copy-",
    "move-",
    "rename-",
    "set-location",
    "push-location",
    "pop-location",
    "import-module",
    "install-module",
    "expand-archive",
    "compress-archive",
    "start-transcript",
    "stop-transcript",
    "new-item",
    "mkdir",
    "out-file",
    "export-",
    "export-csv",
    "save-",
    "update-",
    "install-",
    "publish-",
    "checkpoint-",
    "start-job",
    "start-sleep",
    "set-variable",
    "set-alias",
    "set-psdebug",
    "clear-host",
    "clear-variable",
    "remove-variable",
    "remove-job",
    "register-argumentcompleter",
    "start-",
    "initialize-",
    "enable-",
    "register-",
    "invoke-",
    "set-",
    "unblock-",
    "write-",
    "lock-",
    "unlock-",
    "sync-",
    "send-",
    "suspend-",
    "resume-",
    "block-",
    "grant-",
    "approve-",
    "connect-",
    "disconnect-",
    "mount-",
    "dismount-",
    "merge-",
    "submit-",
    "request-",
    "redo-",
    "undo-",
    "edit-",
    "backup-",
    "complete-",
    "deny-",
    "limit-",
    "repair-",
    "restore-",
    "optimize-",
    "reset-",
    "switch-",
    "protect-",
    "unprotect-",
    "close-",
    "open-",
    "pop-",
    "push-",
    "step-",
    "build-",
    "deploy-",
    "expand-",
    "compress-",
    "convert-",
    "mock-",
)
_PS_RISKY_NEW = {
    "new-partition",
    "new-smbshare",
    "new-mailboxexportrequest",
    "new-netipaddress",
    "new-netroute",
    "new-netnat",
    "new-vmswitch",
    "new-adgroup",
    "new-gpo",
    "new-gplink",
    "new-webbinding",
    "new-website",
    "new-azvm",
    "new-azresourcegroupdeployment",
    "new-inboxrule",
    "new-transportrule",
    "set-mailbox",
    "set-casmailbox",
    "add-mailboxpermission",
    "add-adpermission",
    "grant-smbshareaccess",
    "set-smbshare",
    "install-windowsfeature",
    "enable-windowsoptionalfeature",
    "set-netadapter",
    "disable-netadapter",
    "set-dnsclientserveraddress",
    "enable-psremoting",
    "set-item",
}
_PS_RISKY_VERBS = (
    "remove-",
    "clear-",
    "stop-",
    "restart-",
    "disable-",
    "uninstall-",
    "unregister-",
    "reset-",
    "revoke-",
    "dismount-",
    "suspend-",
    "deny-",
    "format-volume",
    "clear-disk",
    "uninstall-",
    "unpublish-",
    "rename-computer",
    "remove-computer",
    "add-computer",
    "stop-computer",
    "restart-computer",
    "set-executionpolicy",
    "set-acl",
    "set-service",
    "set-mppreference",
    "set-netfirewall",
    "set-itemproperty",
    "set-localuser",
    "set-aduser",
    "set-adaccountpassword",
    "set-date",
    "set-netipaddress",
    "set-dnsclientserveraddress",
    "set-timezone",
)


def _ps_pos(inv: Invocation, named: tuple[str, ...], takes: tuple[str, ...] = ()) -> list[str]:
    """Values of a cmdlet's path-like parameter, or its positionals."""
    out: list[str] = []
    a = inv.args
    i = 0
    while i < len(a):
        x = a[i]
        if x.startswith("-") and len(x) > 1 and not re.match(r"^-\d", x):
            key = x.lower()
            if key in named and i + 1 < len(a):
                out.extend(v for v in a[i + 1].split(",") if v)
                i += 2
                continue
            i += 2 if key in takes else 1
            continue
        out.extend(v.strip() for v in x.split(",") if v.strip())
        i += 1
    return out


def _whatif(inv: Invocation) -> bool:
    """A dry run: `-WhatIf` (bare or `:$true`), or `$WhatIfPreference = $true` set in code
    (not in a string or comment). Any other bound value (`:$false`, `:(1 -eq 0)`, `:0`) runs."""
    code = _ps_code(inv.line)
    prefs = re.findall(r"\$whatifpreference\s*=\s*(\$true|\$false|\S+)", code, re.I)
    if prefs and prefs[-1].lower() == "$true":  # the last assignment on the line holds
        return True
    a = [x.lower() for x in inv.args]
    if "-whatif" not in a:  # (the parser expands abbreviations: -wh is -whatif)
        return False
    text = inv.raw.replace("`", "")
    code = _ps_code(text)
    switch = r"(?<![\w'\"-])-wh[a-z]*"
    if re.search(r"['\"]\s*-wh[a-z]*\s*['\"]", text, re.I) and not re.search(switch, code, re.I):
        return False  # only a string (`-Exclude '-WhatIf'`), not the switch
    bound = [m.group(1) for m in re.finditer(switch + r":\s*(\S+)", code, re.I)]
    if bound:  # -WhatIf:<value>: a dry run only when the value is $true (or 1)
        return all(v.lower() in ("$true", "1") for v in bound)
    k = a.index("-whatif")
    return not (k + 1 < len(a) and a[k + 1] == "$false")


def r_ps_remove_item(inv: Invocation) -> Iterator[Finding]:
    if _whatif(inv):
        return
    takes = ("-include", "-exclude", "-filter", "-credential", "-stream", "-erroraction")
    targets = _ps_pos(inv, ("-path", "-literalpath"), takes)
    recursive = "-recurse" in inv.args
    filtered = any(x in inv.args for x in ("-include", "-filter")) and "-exclude" not in inv.args
    if targets and all(t.lower().startswith(("$_", "$psitem")) for t in targets):
        targets = []
    if not targets and inv.upstream_text:
        up = _ps_upstream_paths(inv)
        if up:
            targets = up
            recursive = (
                recursive
                or "-recurse" in inv.upstream_text.lower()
                or " -r " in (inv.upstream_text.lower() + " ")
            )
            filtered = filtered or bool(
                re.search(
                    r"-(filter|include)\b|where-object|\?\s*\{|\*\.\w+", inv.upstream_text, re.I
                )
            )
    if not targets:
        yield _f(inv, R, "destroy", "remove-item", "deletes items piped in")
        return
    regs = [t for t in targets if grade(t, "powershell") == "registry"]
    if regs:
        yield from _ps_registry(inv, regs, delete=True)
        return
    g = _worst_target(targets, "powershell")
    if any(_BACKUP_EXT.search(t) for t in targets) and (
        g in ("root", "system", "home")
        or (
            recursive
            and g not in ("temp", "workspace")
            and any(re.search(r"backup", t, re.I) for t in targets)
        )
        or re.search(r"^[a-z]:\\?,?$", inv.upstream_text.lower())
        or re.search(r"\b[a-z]:\\(\s|,|$)", inv.upstream_text.lower())
    ):
        yield _f(inv, B, "log-wipe", "remove-item", "deletes backups across drives")
        return
    if g == "log" and any(_is_system_log(t) for t in targets):
        yield _f(inv, B, "log-wipe", "remove-item", "deletes system event logs")
        return
    if any(re.search(r"psreadline.*history|consolehost_history", t, re.I) for t in targets):
        yield _f(inv, B, "log-wipe", "remove-item", "deletes PowerShell history")
        return
    table = (
        DELETE_TARGET_LEVEL if recursive or g in ("root", "system", "home") else FILE_TARGET_LEVEL
    )
    level = table.get(g, R)
    if filtered and level == B and g not in ("log", "history", "db"):
        level = R
    if g == "workspace" and not recursive:
        level = L
    if g == "data" and not recursive and any("*" in t for t in targets):
        level = R
    tag = {"log": "log-wipe", "history": "log-wipe"}.get(g, "destroy" if level > L else "workspace")
    yield _f(
        inv, level, tag, "remove-item", f"{'recursive ' if recursive else ''}delete of {g} path"
    )


def _ps_upstream_paths(inv: Invocation) -> list[str]:
    """What `Get-ChildItem ROOT -Filter PAT | Remove-Item` deletes: ROOT\\PAT (each pattern
    of -Include/-Filter under the listed folder; the folder itself without a pattern)."""
    m = re.search(
        r"(get-childitem|gci|ls|dir|get-item|gi)\s+(-path\s+|-literalpath\s+)?(['\"]?)([^\s|'\"]+)\3",
        inv.upstream_text,
        re.I,
    )
    root = m.group(4) if m and not m.group(4).startswith("-") else None
    inc = re.search(r"-(include|filter)\s+([^\s|;]+(\s*,\s*[^\s|;]+)*)", inv.upstream_text, re.I)
    if inc:
        pats = [x.strip().strip("'\"") for x in inc.group(2).split(",")]
        return [root.rstrip("\\/") + "\\" + p for p in pats] if root else pats
    if root:
        return [root]
    if re.search(r"(get-childitem|gci|ls|dir)\b", inv.upstream_text, re.I):
        return ["."]
    return []


def _ps_registry(inv: Invocation, keys: list[str], delete: bool) -> Iterator[Finding]:
    text = " ".join(keys + inv.args).lower()
    if "image file execution options" in text and "debugger" in text:
        yield _f(
            inv, B, "persistence", inv.name, "hijacks a program with an IFEO debugger (backdoor)"
        )
        return
    if delete and re.search(
        r"\\(safeboot|currentcontrolset\\services|currentcontrolset\\control)\\?$", keys[0].lower()
    ):
        yield _f(inv, B, "destroy", inv.name, "deletes boot-critical registry keys")
        return
    if re.search(
        r"(disableantispyware|disablerealtimemonitoring|enablelua|disable.*defender|"
        r"windows defender|wdigest|uselogoncredential|consentpromptbehavioradmin|runasppl|"
        r"disablerestoreppoint|disablesr\b|eventlog|audit|enablefirewall|scriptblocklogging|"
        r"enablemodulelogging|enabletranscripting|tamperprotection|disableantivirus|"
        r"disablebehaviormonitoring|disableioavprotection)",
        text,
    ):
        value = " ".join(inv.args).lower()
        if delete or re.search(r"-value\s+(0|1|\$true|\$false)|\s(0|1)$|/d\s+[01]", value):
            yield _f(inv, B, "defence-off", inv.name, "disables a security setting in the registry")
            return
    if re.search(
        r"\\currentversion\\(run|runonce)|winlogon|image file execution options|\\services\\", text
    ):
        yield _f(inv, R, "persistence", inv.name, "changes autostart or service registry keys")
        return
    if delete and re.fullmatch(
        r".*(hklm|hkey_local_machine):?\\?(software|system|sam|security)?\\?\*?", keys[0].lower()
    ):
        yield _f(inv, B, "destroy", inv.name, "deletes a registry hive")
        return
    hklm = any(
        k.lower().startswith(("hklm", "hkey_local_machine", "registry::hkey_local_machine"))
        for k in keys
    )
    if not hklm:
        yield _f(inv, L, "config", inv.name, "changes user registry settings")
        return
    yield _f(
        inv,
        R if hklm or delete else L,
        "config",
        inv.name,
        ("deletes" if delete else "changes")
        + (" machine-wide" if hklm else " user")
        + " registry settings",
    )


def r_ps(inv: Invocation) -> Iterator[Finding]:
    n = inv.name
    a = inv.args
    low = [x.lower() for x in a]
    text = " ".join(a)
    if _whatif(inv) or n in ("get-help", "help", "get-command", "get-member"):
        return
    if n == "remove-item":
        yield from r_ps_remove_item(inv)
        return
    if n == "format-volume" and "new-partition" in inv.upstream_text.lower():
        yield _f(inv, R, "disk", n, "formats a partition just created")
        return
    if n in (
        "format-volume",
        "clear-disk",
        "remove-partition",
        "initialize-disk",
        "set-disk",
        "remove-physicaldisk",
        "remove-storagepool",
        "remove-virtualdisk",
        "clear-tpm",
        "reset-physicaldisk",
    ):
        if n in ("initialize-disk", "set-disk"):
            yield _f(inv, R, "disk", n, "changes disk layout")
        else:
            yield _f(inv, B, "disk", n, "erases a volume, disk or partition")
        return
    if n in ("set-mppreference", "add-mppreference"):
        if (
            re.search(r"-disable\w*\s+(\$true|1)\b", text, re.I)
            or re.search(r"-(mapsreporting|submitsamplesconsent)\s+(0|disabled|never)", text, re.I)
            or re.search(r"-disable\w*(?!\s+\$false)\s*$", text, re.I)
        ):
            yield _f(inv, B, "defence-off", n, "turns Microsoft Defender protection off")
        elif "-exclusionpath" in low or "-exclusionextension" in low or "-exclusionprocess" in low:
            paths = _ps_pos(inv, ("-exclusionpath",), ())
            broad = (
                any(grade(p, "powershell") in ("root", "system", "home") for p in paths)
                or re.search(r"-exclusionextension\s+.*(exe|dll|ps1)", text, re.I)
                or re.search(r"-exclusionprocess\s+.*(powershell|cmd|rundll32|wscript)", text, re.I)
            )
            yield _f(
                inv, B if broad else R, "defence-off", n, "excludes paths from antivirus scanning"
            )
        else:
            yield _f(
                inv,
                R if "-disable" in text.lower() and "$false" not in text.lower() else L,
                "config",
                n,
                "changes Defender settings",
            )
        return
    if n == "set-netfirewallprofile":
        if re.search(r"-enabled\s+(false|\$false|0)", text, re.I):
            yield _f(inv, B, "defence-off", n, "turns the Windows firewall off")
        else:
            yield _f(inv, R, "firewall", n, "changes firewall profiles")
        return
    if n in (
        "new-netfirewallrule",
        "remove-netfirewallrule",
        "set-netfirewallrule",
        "disable-netfirewallrule",
        "enable-netfirewallrule",
        "copy-netfirewallrule",
    ):
        yield _f(inv, R, "firewall", n, "changes firewall rules")
        return
    if n in (
        "clear-eventlog",
        "remove-eventlog",
        "limit-eventlog",
        "clear-history",
        "clear-winevent",
    ):
        if n == "limit-eventlog" and not re.search(
            r"-maximumsize\s+(64k|65536|\d{1,5}$)", text, re.I
        ):
            yield _f(inv, R, "config", n, "changes event-log limits")
        else:
            yield _f(inv, B, "log-wipe", n, "wipes event logs or history")
        return
    if n in (
        "stop-service",
        "set-service",
        "suspend-service",
        "remove-service",
        "restart-service",
        "start-service",
    ):
        svc = " ".join(x for x in a if not x.startswith("-"))
        svc_all = svc + " " + inv.upstream_text
        if (
            n in ("stop-service", "set-service", "suspend-service", "remove-service")
            and DEFENCES.search(svc_all)
            and (n != "set-service" or re.search(r"disabled|stopped", text, re.I))
        ):
            yield _f(inv, B, "defence-off", n, "stops or disables a security or logging service")
        elif n == "start-service":
            yield _f(inv, L if not inv.privileged else R, "service", n, "starts a service")
        else:
            yield _f(inv, R, "service", n, f"{n.split('-')[0]}s a service")
        return
    if n in ("stop-process",):
        target = " ".join(a).lower() + " " + inv.upstream_text.lower()
        if re.search(r"\b(lsass|csrss|wininit|winlogon|smss|services)\b", target):
            yield _f(
                inv,
                B if inv.privileged or "-force" in low else R,
                "process",
                n,
                "kills a critical process",
            )
        elif DEFENCES.search(target):
            yield _f(inv, B, "defence-off", n, "kills a security agent")
        else:
            yield _f(inv, R, "process", n, "kills processes")
        return
    if n in ("restart-computer", "stop-computer"):
        yield _f(inv, R, "service", n, "reboots or shuts down")
        return
    if n in (
        "set-itemproperty",
        "new-itemproperty",
        "remove-itemproperty",
        "new-item",
        "set-item",
        "remove-item",
    ):
        keys = _ps_pos(
            inv,
            ("-path", "-literalpath"),
            ("-name", "-value", "-propertytype", "-type", "-itemtype"),
        )
        regs = [k for k in keys if grade(k, "powershell") == "registry"]
        if regs:
            yield from _ps_registry(inv, regs, delete=n.startswith("remove"))
            return
        if n == "new-item":
            g = _worst_target(keys, "powershell") if keys else "workspace"
            yield _f(
                inv,
                R if g in ("system", "sysconf", "critical") else L,
                "workspace",
                n,
                "creates an item",
            )
            return
    if n in ("set-content", "add-content", "out-file", "clear-content"):
        targets = _ps_pos(
            inv,
            ("-path", "-literalpath", "-filepath"),
            ("-value", "-encoding", "-width", "-inputobject"),
        )[:1]
        for t in targets:
            g = grade(t, "powershell")
            if (n == "clear-content" and g in ("log", "history")) or (
                n != "add-content"
                and re.search(r"psreadline.*history|consolehost_history", t, re.I)
            ):
                yield _f(inv, B, "log-wipe", n, "empties a log or the PowerShell history")
                return
        yield from _write_target(
            inv, targets, truncate=n in ("set-content", "out-file", "clear-content"), rule=n
        )
        return
    if n in ("copy-item", "move-item", "rename-item"):
        dst = _ps_pos(inv, ("-destination",), ("-path",))
        if any(d.startswith("\\\\") for d in dst[-1:]) or (
            len(_ps_pos(inv, (), ())) >= 2 and _ps_pos(inv, (), ())[-1].startswith("\\\\")
        ):
            yield _f(inv, R, "exfil", n, "copies files to another host's share")
            return
        src = _ps_pos(inv, ("-path", "-literalpath"), ("-destination",))
        g = max([grade(x, "powershell") for x in dst + src] or ["workspace"], key=severity)
        yield _f(
            inv,
            R
            if g in ("system", "sysconf", "critical", "root", "registry")
            or (n == "move-item" and g in ("home", "db"))
            else L,
            "workspace" if severity(g) < 4 else "config",
            n,
            "copies or moves items",
        )
        return
    if n in ("invoke-expression",):
        code = text + " " + inv.upstream_text
        if (
            re.search(
                r"(downloadstring|downloadfile|invoke-webrequest|invoke-restmethod|\biwr\b|\birm\b|net\.webclient|"
                r"http[s]?://)",
                code,
                re.I,
            )
            or set(inv.upstream) & _FETCHERS
        ):
            yield _f(
                inv,
                B if inv.privileged else R,
                "net-exec",
                n,
                "runs code downloaded from the network",
            )
        else:
            yield _f(inv, R, "obfuscated", n, "runs code built at run time")
        return
    if n == "new-object" and re.search(r"net\.sockets\.tcpclient", text, re.I):
        yield _f(inv, B, "reverse-shell", n, "opens a raw TCP client (reverse-shell pattern)")
        return
    if n in ("invoke-webrequest", "invoke-restmethod", "start-bitstransfer"):
        method = next((a[i + 1].upper() for i, x in enumerate(low[:-1]) if x == "-method"), "GET")
        if set(inv.downstream) & {"invoke-expression"}:
            return
        if method == "DELETE":
            yield _f(inv, R, "cloud-delete", n, "sends an HTTP DELETE")
        elif method in ("POST", "PUT", "PATCH") or "-infile" in low:
            yield _f(
                inv,
                R if "-infile" in low or method != "POST" else L,
                "exfil" if "-infile" in low else "remote",
                n,
                f"sends a {method} request",
            )
        elif "-outfile" in low or n == "start-bitstransfer":
            yield _f(inv, L, "workspace", n, "downloads a file")
        return
    if n in (
        "new-localuser",
        "remove-localuser",
        "set-localuser",
        "add-localgroupmember",
        "remove-localgroupmember",
        "disable-localuser",
        "enable-localuser",
        "new-aduser",
        "set-aduser",
        "add-adgroupmember",
        "set-adaccountpassword",
        "remove-adgroupmember",
        "disable-adaccount",
        "unlock-adaccount",
        "enable-adaccount",
        "rename-localuser",
    ):
        yield _f(inv, R, "priv", n, "changes accounts or group membership")
        return
    if n in (
        "register-scheduledtask",
        "new-scheduledtask",
        "set-scheduledtask",
        "unregister-scheduledtask",
        "new-service",
        "register-wmievent",
        "set-wmiinstance",
        "new-cimsession",
    ) or (n == "new-itemproperty" and "run" in text.lower()):
        yield _f(inv, R, "persistence", n, "installs something that runs later")
        return
    if n in ("set-executionpolicy",):
        scope = re.search(r"-scope\s+(process|currentuser)", text, re.I)
        yield _f(inv, L if scope else R, "config", n, "changes the script execution policy")
        return
    if n in ("disable-computerrestore", "remove-computerrestorepoint") or (
        n in ("get-wmiobject", "get-ciminstance")
        and re.search(r"shadowcopy", text, re.I)
        and set(inv.downstream) & {"remove-wmiobject", "remove-ciminstance"}
    ):
        yield _f(inv, B, "log-wipe", n, "removes restore points or shadow copies")
        return
    if n in ("remove-wmiobject", "remove-ciminstance") and re.search(
        r"shadowcopy", inv.upstream_text + text, re.I
    ):
        yield _f(inv, B, "log-wipe", n, "deletes shadow copies")
        return
    if n == "search-mailbox" and "-deletecontent" in low:
        yield _f(
            inv,
            B if re.search(r"unlimited|\*", inv.upstream_text + text, re.I) else R,
            "destroy",
            n,
            "deletes mailbox content",
        )
        return
    if (
        (n in ("remove-s3bucket",) and "-deletebucketcontent" in low)
        or (n == "remove-rdsdbinstance" and ("-skipfinalsnapshot" in low))
        or n in ("stop-ctlogging", "remove-cttrail", "remove-gdudetector", "disable-gdudetector")
        or (n == "remove-adobject" and "-recursive" in low)
        or (
            n == "set-adminauditlogconfig"
            and re.search(r"-adminauditlogenabled\s+\$?false", text, re.I)
        )
        or (n == "remove-gpo" and re.search(r"default domain", text, re.I))
    ):
        yield _f(
            inv,
            B,
            "cloud-delete" if n.startswith("remove") else "defence-off",
            n,
            "irreversible at data or fleet scope, or turns auditing off",
        )
        return
    if n in (
        "new-transportrule",
        "set-transportrule",
        "new-inboxrule",
        "set-mailbox",
    ) and re.search(
        r"-(blindcopyto|redirectmessageto|forwardingsmtpaddress|forwardto|redirectto)\b", text, re.I
    ):
        yield _f(inv, B if "transportrule" in n else R, "exfil", n, "forwards mail outside")
        return
    if n in (
        "uninstall-windowsfeature",
        "remove-windowsfeature",
        "disable-windowsoptionalfeature",
    ) and re.search(r"defender|firewall", text, re.I):
        yield _f(inv, B, "defence-off", n, "removes Microsoft Defender")
        return
    if n.startswith(("remove-", "stop-", "disable-", "uninstall-")) and (
        re.fullmatch(r"\(?\s*get-\w+\s*\)?(\.\w+)?\s*", inv.upstream_text.strip().lower() or "x")
    ):
        yield _f(
            inv,
            B if n.startswith(("remove-", "uninstall-")) else R,
            "cloud-delete",
            n,
            "acts on everything an unfiltered query returned",
        )
        return
    if n in ("set-acl",):
        yield _f(inv, R, "perm", n, "changes access control")
        return
    if n in ("remove-dbadatabase", "remove-sqldatabase"):
        # dbatools / SqlServer module: DROP DATABASE by another name
        yield _f(inv, B, "db", n, "drops a database")
        return
    if n in ("invoke-sqlcmd",):
        q = _ps_pos(
            inv,
            ("-query",),
            ("-serverinstance", "-database", "-username", "-password", "-inputfile"),
        )
        sql = next((a[i + 1] for i, x in enumerate(low[:-1]) if x == "-query"), None)
        if sql:
            lvl, tag, why = sql_level(sql, inv.line)
            if lvl > S:
                yield _f(inv, lvl, tag, n, why)
        del q
        return
    if (
        n.startswith("remove-")
        and n[7:].startswith(
            (
                "azresourcegroup",
                "azsqldatabase",
                "azsqlserver",
                "azstorageaccount",
                "azkeyvault",
                "azcosmosdb",
                "azaks",
                "mailboxdatabase",
                "adorganizationalunit",
            )
        )
    ) or n == "remove-vm":
        big = n != "remove-vm" or re.search(
            r"-deletestorage|get-vm\s*\|", text + " " + inv.upstream_text, re.I
        )
        yield _f(
            inv,
            B if big else R,
            "cloud-delete",
            n,
            "deletes a resource group, database, store or OU",
        )
        return
    if (
        n.startswith("remove-")
        and inv.upstream
        and re.search(
            r"get-\w+\s+(-filter\s+\*|\*|-resultsize\s+unlimited)|"
            r"get-(aduser|mailbox|azvm|azresourcegroup|vm)\s*$",
            inv.upstream_text,
            re.I,
        )
    ):
        yield _f(inv, B, "cloud-delete", n, "mass deletion of everything a query returned")
        return
    if n in (
        "bcdedit",
        "vssadmin",
        "wevtutil",
        "wbadmin",
        "netsh",
        "sc",
        "reg",
        "schtasks",
        "net",
        "icacls",
        "takeown",
        "cipher",
        "diskpart",
        "format",
        "certutil",
        "bitsadmin",
        "taskkill",
        "shutdown",
        "wmic",
        "attrib",
        "robocopy",
        "del",
        "erase",
        "rd",
        "rmdir",
        "sdelete",
        "sdelete64",
        "setx",
        "fsutil",
        "manage-bde",
        "auditpol",
        "cacls",
        "mountvol",
    ):
        yield from r_cmd_tool(inv)
        return
    yield from _ps_verb(inv)


def _ps_verb(inv: Invocation) -> Iterator[Finding]:
    """Unknown cmdlets: judge by their approved verb."""
    n = inv.name
    if "-" not in n:
        return
    if n.startswith(_PS_RISKY_VERBS) or n in _PS_RISKY_VERBS:
        level = R
        tag = (
            "cloud-delete"
            if n.startswith(("remove-az", "remove-gcp", "remove-aws", "remove-ec2", "remove-s3"))
            else "destroy"
            if n.startswith(("remove-", "clear-"))
            else "service"
            if n.startswith(("stop-", "restart-", "suspend-"))
            else "config"
        )
        yield _f(inv, level, tag, "ps-verb", f"{n.split('-')[0]} verb changes or removes state")
    elif n.startswith(_PS_READ_VERBS):
        return
    elif n in _PS_RISKY_NEW or (
        n == "install-module" and re.search(r"-scope\s+allusers", " ".join(inv.args), re.I)
    ):
        yield _f(inv, R, "config", "ps-verb", f"{n} changes shared configuration")
    elif n.startswith(_PS_LOW_VERBS):
        prod = _is_prod(" ".join(inv.args))
        yield _f(
            inv,
            R if prod and n.startswith(("set-", "update-", "invoke-", "start-")) else L,
            "workspace",
            "ps-verb",
            f"{n.split('-')[0]} verb changes state",
        )


# ---------------------------------------------------------------- cmd.exe (and the same tools from PowerShell)


def r_cmd_tool(inv: Invocation) -> Iterator[Finding]:
    n = inv.name
    a = inv.args
    low = [x.lower() for x in a]
    text = " ".join(low)
    switches = {x for x in low if x.startswith("/")}
    pos = [x for x in a if not x.startswith("/")]
    if "/?" in switches:
        return
    if n in ("del", "erase"):
        g = _worst_target(pos, "cmd") if pos else "unknown"
        rec = "/s" in switches
        level = (DELETE_TARGET_LEVEL if rec else FILE_TARGET_LEVEL).get(g, R)
        if rec and g == "workspace" and any("*." in p for p in pos):
            level = R
        yield _f(inv, level, "destroy" if level > L else "workspace", n, f"deletes {g} files")
        return
    if n in ("sdelete", "sdelete64"):  # Sysinternals: overwrites, then deletes
        ops = [x for x in a if not x.startswith(("-", "/"))]
        if "-p" in low:  # -p N: passes
            k = low.index("-p")
            ops = [x for i, x in enumerate(a) if not x.startswith(("-", "/")) and i != k + 1]
        # a bare drive letter or disk number is the free-space form (sdelete -p 3 D:)
        free = {"-c", "-z"} & set(low) or any(re.fullmatch(r"[A-Za-z]:|\d+", x) for x in ops)
        files = [x for x in ops if not re.fullmatch(r"[A-Za-z]:|\d+", x)]
        if free:
            yield _f(inv, R, "disk", n, "overwrites a drive's free space")
        if files and not ({"-c", "-z"} & set(low)):
            g = _worst_target(files, "cmd")
            rec = bool({"-s", "-r"} & set(low))
            level = (DELETE_TARGET_LEVEL if rec else FILE_TARGET_LEVEL).get(g, R)
            yield _f(inv, level, "destroy" if level > L else "workspace", n, f"wipes {g} files")
        return
    if n in ("rd", "rmdir"):
        g = _worst_target(pos, "cmd") if pos else "unknown"
        level = (DELETE_TARGET_LEVEL if "/s" in switches else FILE_TARGET_LEVEL).get(g, R)
        yield _f(inv, level, "destroy" if level > L else "workspace", n, f"removes {g} folders")
        return
    if n == "format":
        yield _f(inv, B, "disk", n, "formats a volume")
        return
    if n == "diskpart":
        script = (
            (inv.upstream_text + " " + text + " " + inv.line)
            .replace("`n", " ")
            .replace("`r", " ")
            .lower()
        )
        if re.search(r"\b(clean|delete\s+(partition|volume|disk)|format)\b", script):
            yield _f(inv, B, "disk", n, "scripted disk wipe")
        elif re.search(r"\b(list|detail)\b", script) and not re.search(
            r"\b(create|assign|remove|extend|shrink|"
            r"active|convert|select)\b.*\b(create|assign|"
            r"remove|extend|shrink|active|convert)\b",
            script,
        ):
            return
        else:
            yield _f(inv, R, "disk", n, "changes disks or partitions")
        return
    if n == "bcdedit":
        if not a or "/enum" in switches or ("/v" in switches and len(a) == 1):
            return
        if re.search(
            r"/delete|/deletevalue|recoveryenabled\s+no|bootstatuspolicy\s+ignoreallfailures|"
            r"/set\s+\S*\s*(testsigning|nointegritychecks)",
            text,
        ):
            yield _f(
                inv,
                B,
                "defence-off"
                if "recovery" in text
                or "ignoreall" in text
                or "integrity" in text
                or "testsigning" in text
                else "disk",
                n,
                "breaks boot or recovery",
            )
        else:
            yield _f(inv, R, "config", n, "changes boot configuration")
        return
    if n == "vssadmin":
        if re.search(r"delete\s+shadows", text) and "/oldest" in text:
            yield _f(inv, R, "log-wipe", n, "deletes the oldest shadow copy")
        elif re.search(r"delete\s+shadows|resize\s+shadowstorage", text):
            yield _f(inv, B, "log-wipe", n, "deletes shadow copies")
        return
    if n == "wmic":
        if "shadowcopy" in text and "delete" in text:
            yield _f(inv, B, "log-wipe", n, "deletes shadow copies")
        elif re.search(r"\b(delete|call\s+terminate|call\s+uninstall)\b", text):
            yield _f(
                inv,
                R,
                "process" if "terminate" in text else "destroy",
                n,
                "deletes or terminates via WMI",
            )
        elif re.search(r"\b(call\s+create|set)\b", text):
            yield _f(inv, R, "config", n, "changes system state via WMI")
        return
    if n == "wbadmin":
        if re.search(r"delete\s+(catalog|systemstatebackup|backup)", text):
            yield _f(inv, B, "log-wipe", n, "deletes backups")
        elif re.search(r"start\s+(backup|recovery|systemstaterecovery)", text):
            yield _f(inv, R, "config", n, "runs a backup or restore")
        return
    if n == "wevtutil":
        if low[:1] and low[0] in ("cl", "clear-log"):
            yield _f(inv, B, "log-wipe", n, "clears an event log")
        elif (
            low[:1] and low[0] in ("sl", "set-log") and re.search(r"/e:false|/enabled:false", text)
        ):
            yield _f(inv, B, "defence-off", n, "disables an event log")
        elif low[:1] and low[0] in ("sl", "set-log", "um", "im"):
            yield _f(inv, R, "config", n, "changes event-log settings")
        return
    if n == "auditpol":
        if (
            "/clear" in switches
            or "/remove" in switches
            or re.search(r"/success:disable.*/failure:disable", text)
        ):
            yield _f(inv, B, "defence-off", n, "turns auditing off")
        elif "/set" in switches:
            yield _f(inv, R, "config", n, "changes audit policy")
        return
    if n == "netsh":
        if re.search(
            r"advfirewall\s+set\s+\S+\s+state\s+off|firewall\s+set\s+opmode\s+(mode=)?disable", text
        ):
            yield _f(inv, B, "defence-off", n, "turns the Windows firewall off")
        elif re.search(r"advfirewall\s+reset", text):
            yield _f(inv, R, "firewall", n, "resets the firewall")
        elif re.search(r"\b(add|delete|set)\b", text) and "firewall" in text:
            yield _f(inv, R, "firewall", n, "changes firewall rules")
        elif re.search(r"\b(add|delete|set|reset)\b", text):
            yield _f(inv, R, "config", n, "changes network configuration")
        return
    if n == "sc":
        verb = low[0] if low else ""
        svc = low[1] if len(low) > 1 else ""
        if verb in (
            "query",
            "queryex",
            "qc",
            "qdescription",
            "getdisplayname",
            "getkeyname",
            "enumdepend",
            "sdshow",
            "qfailure",
            "qtriggerinfo",
        ):
            return
        if (
            verb in ("stop", "config", "delete", "pause")
            and DEFENCES.search(svc)
            and (verb != "config" or "disabled" in text)
        ):
            yield _f(inv, B, "defence-off", n, "stops or disables a security service")
        elif verb == "create":
            yield _f(inv, R, "persistence", n, "creates a service")
        else:
            yield _f(inv, R, "service", n, f"sc {verb}")
        return
    if n == "net":
        verb = low[0] if low else ""
        if verb in ("stop", "pause") and DEFENCES.search(text):
            yield _f(inv, B, "defence-off", n, "stops a security service")
        elif verb in ("stop", "start", "pause", "continue"):
            yield _f(inv, R, "service", n, f"net {verb}")
        elif verb in ("user", "localgroup", "group", "accounts") and (
            "/add" in switches
            or "/delete" in switches
            or "/active:no" in text
            or "/active:yes" in text
            or len(pos) >= 3
            or (verb == "user" and len(pos) == 3)
            or "*" in pos
        ):
            yield _f(inv, R, "priv", n, f"net {verb} changes accounts")
        elif verb == "share" and ("/delete" in switches or "=" in text):
            yield _f(inv, R, "config", n, "changes shares")
        elif verb == "use" and len(pos) >= 2:
            yield _f(inv, L, "config", n, "maps or disconnects a drive")
        return
    if n == "reg":
        verb = low[0] if low else ""
        keys = [x for x in a[1:2]]
        if verb in ("query", "export", "compare"):
            return
        if verb in ("add", "delete", "import", "restore", "load", "unload", "copy"):
            kk = [("hklm\\" + k[5:]) if k.lower().startswith("hklm\\") else k for k in keys]
            fake = Invocation(inv.shell, n, a, inv.raw, inv.privileged)
            yield from _ps_registry(
                fake,
                [k if k.lower().startswith("hk") else "hklm\\" + k for k in kk] or ["hklm\\"],
                delete=verb == "delete",
            )
        return
    if n == "schtasks":
        tr = next((a[k + 1] for k, x in enumerate(low[:-1]) if x == "/tr"), None)
        if tr and ("/create" in switches or "/change" in switches):
            # the task's command runs later, as /ru says: judge it as a command line
            inner = assess(tr, "cmd")
            if inner.level >= R:
                yield _carried(
                    inv,
                    inner.level,
                    inner,
                    "persistence",
                    n,
                    "schedules a command that is dangerous on its own",
                )
                return
        if "/create" in switches or "/change" in switches:
            yield _f(inv, R, "persistence", n, "creates or changes a scheduled task")
            return
        elif "/delete" in switches or "/end" in switches or "/run" in switches:
            yield _f(inv, R, "service", n, "runs, stops or deletes a scheduled task")
        return
    if n in ("icacls", "cacls", "takeown"):
        g = _worst_target(pos, "cmd") if pos else "unknown"
        if n == "icacls" and not re.search(
            r"/(grant|deny|remove|reset|setowner|setintegritylevel|restore|"
            r"inheritance)",
            text,
        ):
            return
        rec = "/t" in switches or "/r" in switches
        if g in ("root", "system", "critical") and (rec or "everyone" in text):
            yield _f(inv, B, "perm", n, f"permission change on {g} path")
        else:
            yield _f(inv, R if rec or severity(g) >= 3 else L, "perm", n, "permission change")
        return
    if n == "cipher":
        if any(x.startswith("/w") for x in switches):
            yield _f(inv, R, "disk", n, "wipes free space")
        elif "/e" in switches or "/d" in switches or "/r" in switches:
            yield _f(inv, R, "config", n, "encrypts or decrypts files")
        return
    if n == "certutil":
        if re.search(r"-urlcache|-verifyctl|/urlcache", text):
            yield _f(inv, R, "net-exec", n, "downloads with a system binary")
        elif re.search(r"-decode|-decodehex", text):
            yield _f(inv, L, "obfuscated", n, "decodes a file")
        elif re.search(r"-delstore|-addstore|-importpfx", text):
            yield _f(inv, R, "config", n, "changes the certificate store")
        return
    if n == "bitsadmin":
        if "/transfer" in switches or "/addfile" in switches or "/setnotifycmdline" in switches:
            yield _f(
                inv,
                R,
                "net-exec" if "/setnotifycmdline" in switches else "remote",
                n,
                "downloads a file",
            )
        return
    if n == "taskkill":
        target = text
        if re.search(r"\b(lsass|csrss|wininit|winlogon|smss|services)(\.exe)?\b", target):
            yield _f(inv, B, "process", n, "kills a critical process")
        elif DEFENCES.search(target) or re.search(r"msmpeng|mssense", target):
            yield _f(inv, B, "defence-off", n, "kills a security agent")
        else:
            yield _f(inv, R, "process", n, "kills processes")
        return
    if n == "shutdown":
        if "/a" in switches or "/?" in switches:
            return
        yield _f(inv, R, "service", n, "reboots or shuts down")
        return
    if n == "robocopy":
        if "/l" in switches:
            return
        if "/mir" in switches or "/purge" in switches or "/move" in switches:
            dest = pos[1] if len(pos) >= 2 else ""
            g = grade(dest, "cmd")
            yield _f(
                inv,
                B if g in ("root", "system", "home") else R,
                "destroy",
                n,
                "mirrors with deletion",
            )
        else:
            yield _f(inv, L, "workspace", n, "copies files")
        return
    if n == "attrib":
        if (
            re.search(r"[+-][shr]", text)
            and pos
            and grade(pos[-1], "cmd") in ("system", "root", "critical")
        ):
            yield _f(inv, R, "config", n, "changes attributes of system files")
        elif re.search(r"[+-][shra]", text):
            yield _f(inv, L, "workspace", n, "changes file attributes")
        return
    if n == "setx":
        yield _f(
            inv,
            R if "/m" in switches or (pos and pos[0].lower() == "path") else L,
            "config",
            n,
            "sets a persistent environment variable",
        )
        return
    if n == "fsutil":
        if re.search(
            r"(setzerodata|deletejournal|file\s+setshortname|behavior\s+set\s+disable)", text
        ):
            yield _f(inv, R if "behavior" in text else B, "disk", n, "rewrites filesystem data")
        elif re.search(r"\b(set|create|delete)\b", text):
            yield _f(inv, R, "disk", n, "changes filesystem settings")
        return
    if n == "manage-bde":
        if re.search(r"-off|-forcerecovery|-protectors\s+-delete|-protectors\s+-disable", text):
            yield _f(
                inv,
                B if "-protectors" in text and "-delete" in text else R,
                "defence-off",
                n,
                "weakens BitLocker",
            )
        return
    if n == "chkdsk" and ({"/f", "/r", "/x", "/b"} & switches):
        yield _f(inv, R, "disk", n, "repairs a volume in place")
        return
    if n == "mountvol" and ("/d" in switches or "/p" in switches):
        yield _f(inv, R, "disk", n, "unmounts volumes")


def r_cmd_misc(inv: Invocation) -> Iterator[Finding]:
    n = inv.name
    a = inv.args
    low = [x.lower() for x in a]
    if n in ("copy", "xcopy", "move", "ren", "rename", "mklink", "md", "mkdir"):
        if "/l" in low and n == "xcopy":
            return
        dst = [x for x in a if not x.startswith("/")][-1:]
        if dst and dst[0].startswith("\\\\") and n in ("copy", "xcopy", "move"):
            yield _f(inv, R, "exfil", n, "copies files to another host's share")
            return
        g = grade(dst[0], "cmd") if dst else "workspace"
        yield _f(
            inv,
            R if g in ("system", "sysconf", "critical", "root") else L,
            "workspace",
            n,
            "copies, moves or creates files",
        )
    elif n == "start" or n == "call":
        pass


def r_daemon_ctl(inv: Invocation) -> Iterator[Finding]:
    """nginx/apachectl/haproxy: -t tests configuration; signals and graceful restarts change service."""
    text = " ".join(inv.args)
    if re.search(r"(^|\s)-(t|T|v|V)\b|configtest|-c\s+\S+\s+-t|\bcheck\b", text) or not inv.args:
        return
    yield _f(inv, R, "service", inv.name, "signals or restarts a server")


def r_ip(inv: Invocation) -> Iterator[Finding]:
    words = [x for x in inv.args if not x.startswith("-")]
    if re.search(r"\b(add|del|delete|set|flush|change|replace|append)\b", " ".join(words[1:])):
        down = "down" in words or "flush" in words
        yield _f(
            inv,
            R,
            "config",
            "ip",
            "changes network interfaces or routes" + (" (may cut access)" if down else ""),
        )


def r_gh(inv: Invocation) -> Iterator[Finding]:
    words = [x for x in inv.args if not x.startswith("-")]
    if len(words) < 2:
        return
    obj, verb = words[0], words[1]
    text = " ".join(inv.args)
    if verb in (
        "list",
        "view",
        "status",
        "diff",
        "checks",
        "browse",
        "download",
        "watch",
        "logs",
    ) or (obj in ("search", "browse", "auth", "api") and obj != "api"):
        return
    if obj == "api" and not re.search(
        r"(-X|--method)\s*(POST|PUT|PATCH|DELETE)|(-f|-F|--field|--raw-field)\s", text
    ):
        return
    if (
        (obj == "release" and verb == "download")
        or (obj == "pr" and verb == "checkout")
        or (obj == "repo" and verb == "clone")
    ):
        yield _f(inv, L, "workspace", "gh", f"gh {obj} {verb}")
        return
    if obj == "repo" and verb in ("delete", "archive"):
        scratch = re.search(r"(scratch|playground|sandbox|tmp|temp|demo|test)", text)
        yield _f(
            inv,
            B if verb == "delete" and not scratch else R,
            "cloud-delete",
            "gh",
            f"{verb}s a repository",
        )
    elif verb in ("delete", "close") or obj == "secret" or verb in ("merge",):
        yield _f(inv, R if verb != "close" else L, "remote", "gh", f"gh {obj} {verb}")
    elif (obj == "workflow" and verb == "run") or (
        obj == "release" and verb in ("create", "upload")
    ):
        yield _f(inv, R if _is_prod(text) else L, "remote", "gh", f"gh {obj} {verb}")
    elif obj == "api" and re.search(r"(-X|--method)\s*(DELETE)", text):
        yield _f(inv, R, "cloud-delete", "gh", "DELETE through the GitHub API")
    else:
        yield _f(inv, L, "workspace", "gh", f"gh {obj} {verb}")


#: Tools that change only local, easily undone state when they change anything.
_LOW_TOOLS = {
    "mktemp",
    "fallocate",
    "split",
    "csplit",
    "logger",
    "wall",
    "7z",
    "7za",
    "unzip",
    "zip",
    "gzip",
    "gunzip",
    "bzip2",
    "bunzip2",
    "xz",
    "unxz",
    "zstd",
    "unrar",
    "patch",
    "renice",
    "ionice",
    "ssh-add",
    "ssh-agent",
    "mkfifo",
    "ln",
    "install",
    "rename",
    "convert",
    "ffmpeg",
    "pandoc",
    "virtualenv",
    "pyenv",
    "nvm",
    "rbenv",
    "direnv",
    "pre-commit",
    "black",
    "isort",
    "prettier",
    "eslint",
    "gofmt",
    "rustfmt",
    "clang-format",
    "cmake",
    "ninja",
    "meson",
    "javac",
    "gcc",
    "g++",
    "cc",
    "clang",
    "rustc",
    "tsc",
    "webpack",
    "vite",
    "jar",
    "mvnw",
    "gradlew",
    "bazel",
    "ansible-vault",
    "ansible-galaxy",
    "kind",
    "minikube",
    "vagrant",
    "packer",
    "kustomize",
    "skaffold",
    "tilt",
    "cookiecutter",
    "hugo",
    "jekyll",
    "sphinx-build",
    "mkdocs",
    "jupyter",
    "code",
    "vim",
    "vi",
    "nano",
    "emacs",
    "crontab -l",
    "setsid",
    "nohup",
    "screen",
    "tmux",
    "pytest",
    "tox",
    "nox",
    "coverage",
    "ruff",
    "mypy",
    "flake8",
    "pylint",
}
_LOW_WHEN: dict[str, Callable[[list[str]], bool]] = {
    "export": lambda a: not any(re.search(r"HIST|LD_PRELOAD", x) for x in a),
    "unset": lambda a: not any("HIST" in x for x in a),
    "history": lambda a: "-w" in a or "-a" in a,
    "vault": lambda a: a[:1] == ["login"],
    "az": lambda a: a[:1] in (["login"], ["logout"], ["account"]) and "delete" not in a,
    "doctl": lambda a: a[:2] == ["auth", "init"],
    "set": lambda a: bool(a) and "=" in a[0],
    "ssh-keygen": lambda a: not ({"l", "F", "y", "L", "B"} & split_flags(a)[0]),
    "gpg": lambda a: _has(
        a,
        "--import",
        "--gen-key",
        "--full-generate-key",
        "--sign",
        "-s",
        "--encrypt",
        "-e",
        "--decrypt",
        "-d",
        "--detach-sign",
        "--clearsign",
        "-o",
        "--output",
        "--edit-key",
        "--recv-keys",
        "--delete-key",
        "--delete-secret-key",
        "--quick-gen-key",
    ),
    "openssl": lambda a: (
        _has(a, "-out", "-keyout") or (a[:1] in (["genrsa"], ["genpkey"], ["req"]))
    ),
    "cargo": lambda a: "--fix" in a,
    "sed": lambda a: False,
}
_READ_ONLY = {
    "iptables-save",  # prints the rules; a redirect of its output is the caller's shell's write
    "ip6tables-save",
    "cat",
    "less",
    "more",
    "head",
    "tail",
    "grep",
    "egrep",
    "fgrep",
    "rg",
    "ag",
    "ls",
    "ll",
    "la",
    "tree",
    "find",
    "stat",
    "file",
    "du",
    "df",
    "ps",
    "top",
    "htop",
    "iotop",
    "free",
    "uptime",
    "w",
    "who",
    "whoami",
    "id",
    "last",
    "lastlog",
    "dmesg",
    "lsblk",
    "blkid",
    "lsof",
    "ss",
    "netstat",
    "ip",
    "ifconfig",
    "route",
    "journalctl",
    "lscpu",
    "lspci",
    "lsusb",
    "lsmod",
    "getent",
    "uname",
    "hostname",
    "hostnamectl",
    "timedatectl",
    "date",
    "env",
    "printenv",
    "echo",
    "printf",
    "wc",
    "awk",
    "sed",
    "jq",
    "yq",
    "cut",
    "sort",
    "uniq",
    "diff",
    "cmp",
    "md5sum",
    "sha256sum",
    "sha1sum",
    "xxd",
    "hexdump",
    "od",
    "strings",
    "tcpdump",
    "nmap",
    "dig",
    "nslookup",
    "host",
    "ping",
    "traceroute",
    "mtr",
    "curl",
    "wget",
    "smartctl",
    "nvme",
    "fdisk",
    "parted",
    "sfdisk",
    "pvs",
    "vgs",
    "lvs",
    "pvdisplay",
    "vgdisplay",
    "lvdisplay",
    "mount",
    "findmnt",
    "systemctl",
    "service",
    "crontab",
    "iptables",
    "ip6tables",
    "nft",
    "ufw",
    "auditctl",
    "ausearch",
    "aureport",
    "getenforce",
    "sestatus",
    "semanage",
    "chage",
    "aa-status",
    "apparmor_status",
    "sysctl",
    "docker",
    "kubectl",
    "virsh",
    "sudo",
    "test",
    "[",
    "true",
    "false",
    "sleep",
    "watch",
    "time",
    "type",
    "which",
    "whereis",
    "command",
    "readlink",
    "realpath",
    "basename",
    "dirname",
    "zcat",
    "zgrep",
    "zless",
    "bzcat",
    "xzcat",
    "tac",
    "nl",
    "column",
    "tr",
    "paste",
    "join",
    "comm",
    "look",
    "strace",
    "ltrace",
    "perf",
    "gdb",
    "vmstat",
    "iostat",
    "mpstat",
    "sar",
    "pidstat",
    "pgrep",
    "pstree",
    "lsattr",
    "getfacl",
    "namei",
    "ethtool",
    "iwconfig",
    "arp",
    "bridge",
    "tc",
    "conntrack",
    "openssl",
    "gpg",
    "ssh-keygen",
    "psql",
    "mysql",
    "redis-cli",
    "mongosh",
    "sqlite3",
    "apt",
    "apt-get",
    "apt-cache",
    "dpkg",
    "rpm",
    "yum",
    "dnf",
    "zypper",
    "pacman",
    "snap",
    "pip",
    "pip3",
    "npm",
    "git",
    "helm",
    "terraform",
    "aws",
    "gcloud",
    "az",
    "cd",
    "pwd",
    "history",
    "alias",
    "man",
    "info",
    "help",
    "exit",
    "logout",
    "clear",
    "reset",
    "set",
    "export",
    "read",
    "source",
    ".",
    "eval",
    "exec",
    "kill",
    "pkill",
    "killall",
    "wg",
    "nmcli",
    "resolvectl",
    "loginctl",
    "busctl",
    "coredumpctl",
    "systemd-analyze",
    "localectl",
    "needrestart",
    "checkrestart",
    "dmidecode",
    "lshw",
    "hwinfo",
    "sensors",
    "upower",
    "acpi",
    "blockdev",
    "tune2fs",
    "dumpe2fs",
    "xfs_info",
    "zpool",
    "zfs",
    "btrfs",
    "lvm",
    "multipath",
    "iscsiadm",
    "exportfs",
    "showmount",
    "smbclient",
    "mdadm",
    "cryptsetup",
}


_DELETE_CALL = re.compile(
    r"(?:rmtree|remove_tree|rmSync|rmdirSync|removeSync|rm_rf|rm_r|rimraf|remove_dir_all|"
    r"remove_dir|FileUtils\.remove_entry(?:_secure)?|FileUtils\.remove_file|removedirs|"
    r"unlinkSync|rmdir|(?:\bfs|['\"](?:node:)?fs(?:/promises)?['\"]\)|promises)\s*\.rm|"
    r"['\"]fs-extra['\"]\)\s*\.remove(?:Sync)?)[ \t]*(?=[(\[%'\"`qrD])"
)
"""A library call that deletes a tree or file: `rmtree(...)`, Ruby/Perl without parentheses
(`FileUtils.rm_r "/etc"`, `remove_tree "/x"`), `require("fs").rm(...)`."""
_FS_SOURCE = r"""(?:require\(\s*['"](?:node:)?fs(?:/promises|-extra)?['"]\s*\)|\bfrom\s*['"](?:node:)?fs(?:/promises|-extra)?['"])"""
"""Where node code gets the file-system module: `require("fs")`, or an import's `"fs"`."""
_FS_DELETES = (
    r"(?:rm|rmSync|rmdir|rmdirSync|remove|removeSync|unlink|unlinkSync|emptyDir|emptyDirSync)"
)
_PATH_LITERAL = (
    r"""(?:pathlib\.)?{name}\(\s*r?['"]([^'"]+)['"]((?:\s*,\s*r?['"][^'"]+['"])*)\s*\)"""
)


_LIST_WORDS = re.compile(
    r"(?<![\w)\]])%[wWiI]([^\w\s])|(?<![\w$@])qw\s*([^\w\s])|(?<![\w)\]])%[qQ]?([^\w\s=])"
    r"|(?<![\w$@])qq?\s*([^\w\s])"
)
"""Ruby `%w(a b)`/`%W[..]`/`%i`, Perl `qw(a b)` (word lists); Ruby `%q(a)`, `%(a)`, Perl
`q{a}`, `qq|a|` (strings), with any delimiter."""
_CLOSER = {"(": ")", "[": "]", "{": "}", "<": ">"}


def _literal_at(code: str, i: int) -> tuple[list[str], int] | None:
    """The literal(s) starting at `i` and where they end: a quoted string (`'a'`, `"a"`, a
    template `` `a` ``), Ruby `%w(a b)` / `%W[...]`, Perl `qw(a b)`, `q{a}`; None if none."""
    ch = code[i]
    if ch in "'\"`":
        end = code.find(ch, i + 1)
        return ([code[i + 1 : end]], end + 1) if end >= 0 else None
    m = _LIST_WORDS.match(code, i)
    if m is None:
        return None
    opener = next(g for g in m.groups() if g is not None)
    end = code.find(_CLOSER.get(opener, opener), m.end())
    if end < 0:
        return None
    body = code[m.end() : end]
    return (body.split() if m.group(1) or m.group(2) else [body.strip()]), end + 1


def _call_literals(code: str, at: int) -> list[str]:
    """The literal arguments of a deletion call whose arguments start at `at`: in parentheses,
    the strings passed directly or in a list (`("/a", x)`, `(["/a", "/b"])`); without them
    (Ruby, Perl), the run of literals, lists and commas that follows (`rm_r "/a", "/b"`,
    `rm_r %w(/a /b)`, `rmtree ["/a"]`, `Dir["/a/*"]`), up to anything else (`unless ...`,
    `or die "..."`). At most 16."""
    out: list[str] = []
    n = min(len(code), at + 2000)
    if code[at : at + 1] != "(":
        i = at
        while i < n and len(out) < 16:
            if code[i] in " \t,":
                i += 1
                continue
            if code[i] == "[" or code.startswith("Dir[", i):  # a list: every literal in it
                start = i + (3 if code[i] == "D" else 0)
                out += _call_literals("(" + code[start + 1 :], 0)[: 16 - len(out)]
                close = code.find("]", start)
                i = close + 1 if close >= 0 else n
                continue
            got = _literal_at(code, i)
            if got is None:
                break
            out += got[0]
            i = got[1]
        return out
    depth, i = 0, at
    lists: list[bool] = []  # per open bracket: a list whose items count as arguments
    while i < n and len(out) < 16:
        ch = code[i]
        direct = depth == 1 or (depth == 2 and lists and lists[-1])
        got = _literal_at(code, i) if direct or ch in "'\"`" else None
        if got is not None:
            out += got[0] if direct else []
            i = got[1]
            continue
        if ch in "'\"`":  # an unclosed quote
            break
        if ch in "([{":
            depth += 1
            lists.append(ch == "[")
        elif ch in ")]}":
            depth -= 1
            if lists:
                lists.pop()
            if depth <= 0:
                break
        i += 1
    return out


def _quote_glob(path: str) -> str:
    """A path for a shell line, quoted except a glob in its last part (`/etc/*.gz`)."""
    head, _, last = path.rpartition("/")
    if head and re.search(r"[*?\[]", last):
        return (
            shlex.quote(head)
            + "/"
            + "".join(c if c in "*?[]!^-" or c.isalnum() else shlex.quote(c) for c in last)
        )
    return shlex.quote(path)


def _joined(first: str, rest: str) -> str:
    """`Path("/etc", "passwd")`'s path from its literal parts (an absolute part restarts it)."""
    path = first
    for part in re.findall(r"""['"]([^'"]+)['"]""", rest):
        path = part if part.startswith("/") else path.rstrip("/") + "/" + part
    return path


def _pathlib_targets(code: str) -> list[tuple[str, str]]:
    """(verb, path) of pathlib deletions with literal paths: `Path("/etc/passwd").unlink()`,
    `Path("/etc", "passwd")`, `p = Path("/srv"); p.rmdir()` (the statement last assigning
    `p` before the call), `from pathlib import Path as P`, and `f.unlink()` for `f` over
    `Path(D).glob(P)` / `.rglob(P)` / `.iterdir()` (also inside `sorted(...)`, `list(...)`)."""
    aliases = dict.fromkeys(re.findall(r"\bimport\s+Path\s+as\s+(\w+)", code))
    out: list[tuple[str, str]] = []
    calls = list(re.finditer(r"\b(\w+)\s*\.(unlink|rmdir)\s*\(", code))[:32]
    for name in ["Path", "PosixPath", *list(aliases)[:8]]:
        lit = _PATH_LITERAL.format(name=re.escape(name))
        for m in re.finditer(rf"\b{lit}\s*\.(unlink|rmdir)\s*\(", code):
            out.append((m.group(3), _joined(m.group(1), m.group(2))))
        for call in calls:
            var = re.escape(call.group(1))
            sets = [
                a
                for a in re.finditer(rf"(?:^|[;\n:])[ \t]*{var}\s*=(?!=)", code)
                if a.end() <= call.start()
            ]
            if sets:
                got = re.match(rf"\s*{lit}", code[sets[-1].end() :])
                if got is not None:
                    out.append((call.group(2), _joined(got.group(1), got.group(2))))
        loops = re.finditer(
            rf"\bfor\s+(\w+)\s+in\s+[\w.(\s]{{0,40}}?{lit}\s*\.(r?glob|iterdir)\s*\(\s*"
            r"(?:r?['\"]([^'\"]*)['\"])?",
            code,
        )
        for m in list(loops)[:32]:
            if re.search(rf"\b{re.escape(m.group(1))}\s*\.unlink\s*\(", code):
                kind, pattern = m.group(4), m.group(5)
                every = (
                    not pattern
                    or "/" in pattern
                    or pattern.strip("*?") == ""
                    or re.fullmatch(r"\*\.\*|\[[^\]]*\][*?]*", pattern) is not None
                )
                verb = "unlink-tree" if kind == "rglob" and every else "unlink"
                if kind == "iterdir" or every:
                    pattern = "*"  # every file (iterdir, a pattern given at run time)
                elif kind == "rglob":
                    pattern = "**/" + pattern  # (rglob("*.pyc"): those files, at any depth)
                out.append((verb, _joined(m.group(2), m.group(3)).rstrip("/") + "/" + pattern))
    return out


def _node_fs_targets(code: str) -> list[str]:
    """Literal targets of node's file-system deletions through a bound module (`const f =
    require("fs"); f.rm(...)`, `import fsp from "fs/promises"`, `const {promises: p} =
    require("fs")`) or destructured names (`const {rm} = require("fs")`, `import {rm as
    del} from "node:fs/promises"`). Each binding is read just before its source."""
    bound: list[str] = []
    named: list[str] = []
    for src in list(re.finditer(_FS_SOURCE, code))[:64]:
        before = code[max(0, src.start() - 4000) : src.start()].rstrip()
        one = re.search(
            r"(?:\b(?:const|let|var)\s+(\w+)\s*=|\bimport\s+(?:\*\s+as\s+)?(\w+))$", before[-300:]
        )
        if one is not None:
            bound.append(one.group(1) or one.group(2))
        # `{rm} = require(...)`, `import {rm} from ...`: the braces just before (read by hand:
        # a `$`-anchored regex retried at every `}` of a long window)
        tail = before[:-1].rstrip() if before.endswith("=") else before
        opening = tail.rfind("{") if tail.endswith("}") else -1
        inside = tail[opening + 1 : -1] if opening >= 0 else ""
        many = None if opening < 0 or "}" in inside else inside
        for part in (many.split(",") if many else [])[:256]:
            orig, _, local = (
                re.split(r"\s*(?::|\bas\b)\s*", part.strip() + ":", maxsplit=1)[0],
                ":",
                "",
            )
            pieces = re.split(r"\s*(?::|\bas\b)\s*", part.strip())
            orig, local = pieces[0], pieces[-1]
            if orig == "promises" and local:
                bound.append(local)
            elif re.fullmatch(_FS_DELETES, orig) and re.fullmatch(r"\w+", local or ""):
                named.append(local)
    lit = r"\s*\(\s*['\"`]([^'\"`]+)"
    out: list[str] = []
    if bound:
        names = "|".join(map(re.escape, dict.fromkeys(bound)))
        out += re.findall(rf"(?<![\w.])(?:{names})\s*\.\s*{_FS_DELETES}{lit}", code)[:256]
    if named:
        names = "|".join(map(re.escape, dict.fromkeys(named)))
        out += re.findall(rf"(?<![\w.])(?:{names}){lit}", code)[:256]
    return out


def _interpreter_code(inv: Invocation, code: str) -> Iterator[Finding]:
    """Deletions written in Python/Node/Ruby/Perl one-liners: grade their literal targets."""
    targets = [
        t for m in list(_DELETE_CALL.finditer(code))[:64] for t in _call_literals(code, m.end())
    ]
    if inv.name in ("node", "nodejs", "deno", "bun"):
        targets += _node_fs_targets(code)
    if re.search(
        r"(rmtree|rmSync|rm_rf|rimraf)\s*\(\s*(os\.)?(homedir|path\.expanduser\(['\"]~['\"]\)|"
        r"require\(['\"]os['\"]\)\.homedir)",
        code,
    ):
        targets.append("~")
    if targets:
        g = _worst_target(targets, "bash")
        lvl = DELETE_TARGET_LEVEL.get(g, R)
        yield _f(
            inv,
            lvl,
            "destroy" if lvl > L else "workspace",
            "interpreter",
            f"deletes a {g} tree from code",
        )
    shell_cmds = [
        a or b
        for a, b in re.findall(
            r"(?:execSync|exec|system|popen|spawnSync|check_output|check_call|run|call|Popen|`)\s*\(?\s*"
            r"(?:['\"]([^'\"]{3,})['\"]|qq?\{([^}]{3,})\})",
            code,
        )
    ]
    # backticks, qx{...} (Perl), %x(...) (Ruby): the text runs in a shell (in Python a
    # backtick is text, in JavaScript a template string)
    shells_out = inv.name in ("perl", "ruby", "php")
    shell_cmds += re.findall(r"`([^`'\"]{3,})`", code) if shells_out else []
    shell_cmds += [
        next(g for g in m if g)
        for m in re.findall(
            r"(?:\bqx|%x)\s*(?:\{([^}]{3,})\}|\(([^)]{3,})\)|\[([^\]]{3,})\]|/([^/]{3,})/|"
            r"!([^!]{3,})!|\|([^|]{3,})\|)",
            code,
        )
        if shells_out
    ]
    # execSync(`rm -rf /etc`): a JavaScript template string handed to a shell
    shell_cmds += re.findall(r"(?:execSync|exec|spawnSync|spawn)\s*\(\s*`([^`]{3,})`", code)
    # subprocess.run(["rm", "-rf", "/etc"]), spawnSync("rm", ["-rf", "/etc"]): argument vectors
    for first, vec in re.findall(
        r"(?:run|call|check_call|check_output|Popen|spawnSync|spawn|execFileSync|execFile|"
        r"execvp?e?)\s*\(\s*"
        r"(?:['\"]([^'\"]+)['\"]\s*,\s*)?\[([^\]]*)\]",
        code,
    ):
        argv = re.findall(r"['\"]([^'\"]*)['\"]", vec)
        # execvp("rm", ["rm", ...]): the vector repeats the file as argv[0]
        words = argv if first and argv[:1] == [first] else ([first] if first else []) + argv
        if words:
            shell_cmds.append(shlex.join(words))
    for vec in re.findall(  # system("rm", "-rf", "/etc") (Perl, Ruby), os.execvp/execl(...)
        r"(?:\bsystem|\bexec|execvp?e?|execlp?e?|spawnv?p?)\s*\(?\s*"
        r"((?:['\"][^'\"]*['\"]\s*,\s*)+['\"][^'\"]*['\"])",
        code,
    ):
        words = re.findall(r"['\"]([^'\"]*)['\"]", vec)
        if inv.name in ("python", "python2", "python3") and re.search(r"exec[lv]p?e?\s*\(", code):
            words = words[:1] + words[2:]  # os.execlp("rm", "rm", ...): argv[0] repeats the file
        shell_cmds.append(shlex.join(words))
    # files written or deleted by path: grade them as the shell's `>` or `rm -f` would
    for path, mode in re.findall(
        r"(?:\bopen|openSync|File\.open|IO\.open|fopen)\s*\(\s*['\"]([^'\"]+)['\"]\s*,\s*"
        r"['\"]([rwabxt+]+)['\"]",
        code,
    ):
        if re.search(r"[wa+x]", mode):
            shell_cmds.append(f"echo x {'>>' if 'a' in mode else '>'} {shlex.quote(path)}")
    for m in re.findall(
        r"\bopen\s*\(?\s*(?:my\s+)?[$\w]+\s*,\s*(?:['\"](\+?[<>]{1,2})['\"]\s*,\s*['\"]([^'\"]+)['\"]|"
        r"['\"](\+?[<>]{1,2})\s*([^'\"]+)['\"])",
        code,
    ):  # Perl: open(my $f, '>', '/dev/sda') / open(F, ">/dev/sda")
        op, path = (m[0], m[1]) if m[1] else (m[2], m[3])
        if ">" in op or "+" in op:
            shell_cmds.append(f"echo x {'>>' if '>>' in op else '>'} {shlex.quote(path.strip())}")
    for path in re.findall(
        r"(?:writeFileSync|appendFileSync|writeFile|truncateSync)\s*\(\s*['\"]([^'\"]+)['\"]", code
    ) + re.findall(r"Path\s*\(\s*['\"]([^'\"]+)['\"]\s*\)\s*\.write_(?:text|bytes)\b", code):
        shell_cmds.append(f"echo x > {shlex.quote(path)}")
    for path in re.findall(
        r"(?:os\.remove|os\.unlink|\bunlink|unlinkSync|File\.delete|FileUtils\.rm(?:_f)?)"
        r"\s*\(?\s*['\"]([^'\"]+)['\"]",
        code,
    ):
        shell_cmds.append(f"rm -f {shlex.quote(path)}")
    verbs = {"unlink": "rm -f", "rmdir": "rmdir", "unlink-tree": "rm -rf"}
    for verb, path in _pathlib_targets(code):  # Path("/etc/passwd").unlink(), ...
        shell_cmds.append(f"{verbs[verb]} {_quote_glob(path)}")
    for shell_cmd in shell_cmds:
        sub = assess(shell_cmd, "bash")
        if sub.level >= L:
            yield _carried(
                inv, sub.level, sub, "workspace", "interpreter", "runs a shell command from code"
            )
    if re.search(r"os\.kill\(|process\.kill\(|Process\.kill\(", code):
        yield _f(inv, R, "process", "interpreter", "kills a process from code")
    if "/dev/tcp/" in code and re.search(r"-i\b|sh\b", code):
        yield _f(inv, B, "reverse-shell", "interpreter", "code that wires a shell to a socket")


_DEFENCE_TOOLS = {
    "mdatp",
    "falconctl",
    "sentinelctl",
    "cbagent",
    "sav",
    "savdctl",
    "esets_daemon",
    "clamd",
    "wazuh-control",
    "ossec-control",
    "osqueryctl",
    "sysmon",
    "sysmon64",
    "sysmonforlinux",
}


def r_defence_tool(inv: Invocation) -> Iterator[Finding]:
    text = " ".join(inv.args).lower()
    if re.search(
        r"(disable|disabled|off|uninstall|stop|unload|remove|-u\b|-d\b|--delete|false)", text
    ):
        yield _f(inv, B, "defence-off", inv.name, "turns an endpoint security agent off")
    elif re.search(r"(config|set|exclusion)", text):
        yield _f(inv, R, "config", inv.name, "changes a security agent's configuration")


def r_vault(inv: Invocation) -> Iterator[Finding]:
    words = [x for x in inv.args if not x.startswith("-")]
    text = " ".join(words)
    if words[:1] in (["login"], ["logout"]):
        yield _f(inv, L, "config", "vault", "logs in (local token)")
        return
    if re.match(r"(audit (disable|delete))", text):
        yield _f(inv, B, "defence-off", "vault", "disables Vault auditing")
    elif re.match(
        r"(secrets disable|operator (seal|raft remove-peer|step-down)|auth disable|policy delete|"
        r"lease revoke -prefix)",
        text,
    ) or (re.match(r"kv (metadata )?delete", text) and "-prefix" in inv.args):
        yield _f(
            inv,
            B if text.startswith(("secrets disable",)) else R,
            "destroy",
            "vault",
            "removes a secrets engine, auth method or policy",
        )
    elif re.match(r"(kv (delete|destroy|metadata delete)|delete|token revoke|lease revoke)", text):
        yield _f(inv, R, "destroy", "vault", "deletes secrets or revokes tokens")
    elif re.match(
        r"(kv (put|patch|rollback|undelete)|write|secrets enable|auth enable|policy write|audit enable)",
        text,
    ):
        yield _f(inv, R, "remote", "vault", "writes secrets or configuration")


def r_backup_tool(inv: Invocation) -> Iterator[Finding]:
    skip = {
        i + 1
        for i, x in enumerate(inv.args)
        if x in ("-r", "--repo", "--repository", "-p", "--password-file")
    }
    words = [x for i, x in enumerate(inv.args) if not x.startswith("-") and i not in skip]
    text = " ".join(inv.args)
    verb = words[0] if words else ""
    if verb in ("delete", "forget", "prune", "purge", "compact") or "--delete" in text:
        everything = (
            "--force" in inv.args
            or "$(" in text
            or "--keep-last 0" in text
            or re.search(r"--keep-\w+\s+0\b", text)
        )
        yield _f(
            inv,
            B if everything and verb != "compact" else R,
            "destroy",
            inv.name,
            "deletes backups",
        )
    elif verb in (
        "init",
        "backup",
        "create",
        "check",
        "copy",
        "restore",
        "mount",
        "key",
        "rekey",
        "extract",
    ):
        target = next(
            (inv.args[i + 1] for i, x in enumerate(inv.args[:-1]) if x in ("--target", "-t")), ""
        )
        risky = verb in ("restore", "extract") and grade(target or ".", "bash") in (
            "root",
            "system",
            "sysconf",
            "home",
        )
        yield _f(inv, R if risky else L, "workspace", inv.name, f"{inv.name} {verb}")


def r_etcdctl(inv: Invocation) -> Iterator[Finding]:
    words = [x for x in inv.args if not x.startswith("-")]
    if not words:
        return
    if words[0] in ("del", "delete", "rm", "rmdir"):
        whole = "--prefix" in inv.args and (
            len(words) < 2 or words[1] in ("", "/", "/registry", '""')
        )
        yield _f(
            inv,
            B if whole or "--from-key" in inv.args else R,
            "db",
            "etcdctl",
            "deletes keys from etcd",
        )
    elif words[0] in (
        "put",
        "member",
        "defrag",
        "compact",
        "lease",
        "move-leader",
        "snapshot",
        "alarm",
        "auth",
        "user",
        "role",
    ):
        if words[0] == "snapshot" and words[1:2] == ["save"]:
            yield _f(inv, L, "workspace", "etcdctl", "saves a snapshot")
        elif words[0] == "member" and words[1:2] == ["list"]:
            return
        else:
            yield _f(inv, R, "db", "etcdctl", f"etcdctl {words[0]}")


def r_pulumi(inv: Invocation) -> Iterator[Finding]:
    words = [x for x in inv.args if not x.startswith("-")]
    if not words:
        return
    yes = any(x in inv.args for x in ("--yes", "-y", "--skip-preview", "--non-interactive"))
    if words[0] == "destroy" or words[:2] in (["stack", "rm"],):
        yield _f(
            inv,
            B if yes and (words[0] == "destroy" or "--force" in inv.args) else R,
            "cloud-delete",
            "pulumi",
            "destroys a stack",
        )
    elif words[0] in ("up", "update", "refresh", "import", "cancel") or words[:2] == [
        "state",
        "delete",
    ]:
        yield _f(inv, R, "remote", "pulumi", f"pulumi {words[0]}")
    elif words[:2] in (
        ["config", "set"],
        ["stack", "select"],
        ["stack", "init"],
        ["plugin", "install"],
    ):
        yield _f(inv, L, "config", "pulumi", "changes local stack configuration")


def r_oci(inv: Invocation) -> Iterator[Finding]:
    words = [x for x in inv.args if not x.startswith("-")]
    text = " ".join(inv.args)
    if words[:1] in (["auth"], ["setup"], ["session"]) or words[:2] in (
        ["auth", "init"],
        ["auth", "switch"],
    ):
        yield _f(inv, L, "config", inv.name, "writes local CLI credentials")
        return
    if "delete" in words or "terminate" in words:
        big = any(
            x in words
            for x in ("bucket", "autonomous-database", "db-system", "compartment", "cluster", "vcn")
        )
        yield _f(
            inv,
            B if big and ("--force" in text or "--empty" in text) else R,
            "cloud-delete",
            inv.name,
            "deletes cloud resources",
        )
    elif any(
        x in words
        for x in ("create", "update", "launch", "put", "action", "stop", "start", "reset")
    ):
        yield _f(
            inv,
            R if "update" in words or "stop" in words or "reset" in words else L,
            "remote",
            inv.name,
            "changes cloud resources",
        )


def r_nvme(inv: Invocation) -> Iterator[Finding]:
    words = [x for x in inv.args if not x.startswith("-")]
    if words and words[0] in (
        "format",
        "sanitize",
        "delete-ns",
        "detach-ns",
        "fw-download",
        "fw-commit",
        "write-zeroes",
    ):
        yield _f(inv, B, "disk", "nvme", f"nvme {words[0]} erases or rewrites a drive")


def r_parallel_ssh(inv: Invocation) -> Iterator[Finding]:
    pos = [x for x in inv.args if not x.startswith("-")]
    if not pos:
        return
    sub = assess(pos[-1], "bash")
    if sub.level >= L:
        yield _carried(
            inv, max(sub.level, R), sub, "remote", inv.name, "runs a changing command on many hosts"
        )


def r_docker_inner(inv: Invocation) -> Iterator[Finding]:
    """`docker run -v /:/host IMAGE CMD`: judge CMD with the mounts mapped back to host paths."""
    a = inv.args
    words = [x for x in a]
    if words[:1] == ["compose"]:  # docker compose [-f prod.yml] exec SERVICE CMD: as docker exec
        k = 1
        while k < len(words) and words[k].startswith("-"):
            valued = ("-f", "--file", "-p", "--project-name", "--env-file", "--profile")
            k += 2 if words[k] in valued else 1
        words = words[k:] if words[k : k + 1] == ["exec"] else words
    if words[:2] == ["container", "exec"]:
        words = words[1:]
    if not words or (
        words[0] not in ("run", "exec", "create") and words[:2] != ["container", "run"]
    ):
        return
    mounts: list[tuple[str, str]] = []
    i = 1
    img = None
    takes = {
        "-v",
        "--volume",
        "-e",
        "--env",
        "-p",
        "--publish",
        "--name",
        "-w",
        "--workdir",
        "-u",
        "--user",
        "--entrypoint",
        "--network",
        "--net",
        "-h",
        "--hostname",
        "--mount",
        "-l",
        "--label",
        "--pid",
        "--cap-add",
        "--device",
        "--env-file",
        "--platform",
        "-m",
        "--memory",
        "--cpus",
        "--restart",
    }
    while i < len(words):
        x = words[i]
        if x in ("-v", "--volume") and i + 1 < len(words):
            parts = words[i + 1].split(":")
            if len(parts) >= 2:
                mounts.append((parts[0], parts[1]))
        if x.startswith("-"):
            i += 2 if x in takes else 1
            continue
        img = i
        break
    if img is None or img + 1 >= len(words):
        return
    inner = words[img + 1 :]
    if not mounts:
        if words[0] == "exec":  # docker exec db rm -rf /var/lib/mysql: judged inside the container
            sub = assess(shlex.join(inner), "bash")
            if sub.level >= R:
                yield _carried(
                    inv,
                    sub.level,
                    sub,
                    "destroy",
                    "docker",
                    "runs a changing command inside a container",
                )
        return
    mapped = []
    for w in inner:
        for host, cont in mounts:
            c = cont.rstrip("/")
            if c:
                h = host.rstrip("/") or ""
                w = re.sub(rf"(?<![\w/.-]){re.escape(c)}(?=/|$|\s|'|\")", h if h else "/", w)
                w = w.replace("//", "/")
        mapped.append(w)
    sub = assess(" ".join(shlex.quote(w) for w in mapped), "bash")
    if sub.level >= R:
        yield _carried(
            inv,
            sub.level,
            sub,
            "destroy",
            "docker",
            "container command acts on host paths through a bind mount",
        )


def r_misc_admin(inv: Invocation) -> Iterator[Finding]:
    """Small admin tools whose every use changes a shared system."""
    n = inv.name
    low = [x.lower() for x in inv.args]
    text = " ".join(low)
    if n in ("route",) and low[:1] and low[0] in ("add", "delete", "change", "-f", "del", "flush"):
        yield _f(inv, R, "config", n, "changes the routing table")
    elif n in ("msiexec",) and any(x in low for x in ("/i", "/x", "/uninstall", "/package", "/fa")):
        yield _f(inv, R, "package", n, "installs or removes software")
    elif n in ("iisreset",) and "/status" not in low:
        yield _f(inv, R, "service", n, "restarts IIS")
    elif n in ("tc",) and re.search(r"\b(add|del|change|replace)\b", text):
        yield _f(inv, R, "config", n, "changes traffic control")
    elif n in ("nmcli",) and re.search(r"\b(mod|modify|up|down|delete|add|disconnect|off)\b", text):
        yield _f(inv, R, "config", n, "changes network connections")
    elif n in ("argocd",) and re.search(
        r"\b(sync|rollback|delete|set|terminate-op|create|patch)\b", text
    ):
        yield _f(inv, R, "remote", n, "changes a deployed application")
    elif n in ("flux",) and re.search(
        r"\b(delete|suspend|resume|reconcile|uninstall|create)\b", text
    ):
        yield _f(inv, B if "uninstall" in text else R, "remote", n, "changes GitOps reconciliation")


# ---------------------------------------------------------------- the table

BASH_RULES: dict[str, Rule] = {}


def _reg(table: dict[str, Rule], names: str, fn: Rule) -> None:
    for n in names.split():
        table[n] = fn


_reg(BASH_RULES, "rm unlink rmdir srm", r_rm)
_reg(BASH_RULES, "shred wipe", r_shred)
_reg(BASH_RULES, "find", r_find)
_reg(BASH_RULES, "truncate", r_truncate)
_reg(BASH_RULES, "dd", r_dd)
_reg(
    BASH_RULES,
    "mkfs mkfs.ext2 mkfs.ext3 mkfs.ext4 mkfs.xfs mkfs.btrfs mkfs.vfat mkfs.fat mkfs.ntfs mke2fs "
    "mkfs.exfat mkntfs mkdosfs newfs",
    r_mkfs,
)
_reg(
    BASH_RULES,
    "wipefs fdisk sfdisk gdisk cfdisk sgdisk parted blkdiscard hdparm cryptsetup lvremove vgremove "
    "pvremove zpool zfs mdadm btrfs lvreduce vgreduce lvresize resize2fs xfs_repair e2fsck fsck tune2fs "
    "lvcreate vgcreate pvcreate lvextend vgextend mkswap swapoff swapon mount umount losetup debugfs",
    r_disk_tool,
)
_reg(BASH_RULES, "chmod chown chgrp", r_chmod)
_reg(BASH_RULES, "setfacl", r_setfacl)
_reg(BASH_RULES, "chattr", r_chattr)
_reg(BASH_RULES, "systemctl", r_systemctl)
_reg(BASH_RULES, "service rc-service sv", r_service)
_reg(BASH_RULES, "chkconfig update-rc.d rc-update", r_chkconfig)
_reg(BASH_RULES, "reboot shutdown halt poweroff init telinit kexec", r_power)
_reg(BASH_RULES, "kill pkill killall killall5 skill", r_kill)
_reg(
    BASH_RULES,
    "apt apt-get aptitude dnf yum zypper pacman snap flatpak apk brew port emerge dpkg rpm pkg nix-env "
    "pip pip3 pipx uv poetry conda mamba gem cargo go npm yarn pnpm bun composer bundle cpan cpanm "
    "luarocks dotnet nuget mvn gradle",
    r_pkg,
)
_reg(BASH_RULES, "make gmake cmake ninja", r_make)
_reg(
    BASH_RULES,
    "useradd userdel usermod passwd chpasswd groupadd groupdel groupmod gpasswd visudo adduser deluser "
    "addgroup delgroup chage vipw",
    r_users,
)
_reg(BASH_RULES, "crontab", r_crontab)
_reg(BASH_RULES, "at batch", r_at)
_reg(BASH_RULES, "sysctl", r_sysctl)
_reg(BASH_RULES, "modprobe insmod rmmod", r_modprobe)
_reg(
    BASH_RULES,
    "setenforce auditctl aa-disable aa-teardown apparmor_parser aa-complain ufw iptables ip6tables "
    "iptables-legacy iptables-nft iptables-restore ip6tables-restore nft firewall-cmd",
    r_security,
)
_reg(BASH_RULES, "history", r_history)
_reg(BASH_RULES, "unset export set", r_unset_export)
_reg(BASH_RULES, "journalctl", r_journalctl)
_reg(BASH_RULES, "logrotate", r_logrotate)
_reg(BASH_RULES, "nc ncat netcat socat", r_netcat)
_reg(BASH_RULES, "curl wget aria2c http xh", r_fetch)
_reg(BASH_RULES, "scp rsync sftp rclone", r_copy_remote)
_reg(BASH_RULES, "ssh ssh-copy-id", r_ssh)
_reg(BASH_RULES, "mv cp install", r_mv)


def r_trash(inv: Invocation) -> Iterator[Finding]:
    """`trash /etc`, `gio trash /etc`: the paths move away (as `mv PATH ~/.Trash`)."""
    a = inv.args[1:] if inv.name == "gio" else inv.args
    if inv.name == "gio" and inv.args[:1] != ["trash"]:
        return
    if inv.name == "trash" and a[:1] and a[0] in ("list", "restore", "empty", "put", "rm"):
        a = a[1:] if a[0] == "put" else []  # trash-cli's subcommands (`trash put FILE` trashes)
    moved = dataclasses.replace(inv, name="mv", args=[*a, "~/.local/share/Trash/files"])
    yield from r_mv(moved)


_reg(BASH_RULES, "trash trash-put gtrash gio gvfs-trash", r_trash)


def r_deno(inv: Invocation) -> Iterator[Finding]:
    """`deno run -A https://...`, `bun run URL`: a program fetched from the network runs."""
    sub = next((a for a in inv.args if not a.startswith("-")), "")
    runs = sub in ("run", "eval", "install", "x", "serve", "repl") or sub.startswith("http")
    if runs and any(re.match(r"https?://", a) for a in inv.args):
        yield _f(inv, R, "net-exec", inv.name, "runs code downloaded from the network")


_reg(BASH_RULES, "deno", r_deno)


def _sed_close(script: str, j: int, d: str) -> int:
    """Where the address opened before `j` with delimiter `d` closes on its line (-1: not
    found). Linear: str.find, at most 64 escaped delimiters skipped."""
    eol = script.find("\n", j)
    eol = len(script) if eol < 0 else eol
    for _ in range(64):
        k = script.find(d, j, eol)
        if k < 0:
            return -1
        b = k  # an odd run of backslashes before it escapes it
        while b > j and script[b - 1] == "\\":
            b -= 1
        if (k - b) % 2 == 0:
            return k
        j = k + 1
    return -1


def _sed_own_delimiters(script: str) -> str:
    r"""sed addresses written with their own delimiter (`\%re%`, `\|re|`) rewritten as `/x/`
    where an address may start (the script's start, after `;`, a newline, `{`, `}`, `,`)."""
    out: list[str] = []
    i, start = 0, True
    while i < len(script):
        ch = script[i]
        if start and ch == "\\" and i + 1 < len(script) and script[i + 1] not in "\n\\":
            end = _sed_close(script, i + 2, script[i + 1])
            if end >= 0:
                out.append("/x/")
                i, start = end + 1, False
                continue
        out.append(ch)
        start = ch in ";\n{}," or (start and ch in " \t")
        i += 1
    return "".join(out)


_OUTPUT_TOOLS = frozenset({"sort", "iconv", "shuf", "uniq", "script", "sed", "tar", "bsdtar"})


def _output_files(inv: Invocation) -> list[str]:
    """Files a text tool writes through its own options rather than a redirect (`sort -o F`,
    `uniq IN OUT`, `iconv -o F`, `script F`, `sed 'w F'`, `tar -cf F`)."""
    a = inv.args
    outs: list[str] = []
    if inv.name in ("sort", "iconv", "shuf"):
        for k, x in enumerate(a):
            if (x == "--output" or re.fullmatch(r"-[a-zA-Z]*o", x)) and k + 1 < len(a):
                outs.append(a[k + 1])  # sort -o F, sort -uo F
            elif x.startswith("--output="):
                outs.append(x.split("=", 1)[1])
            elif re.fullmatch(r"-[a-zA-Z]*o.+", x):
                outs.append(x[x.index("o") + 1 :])
    elif inv.name == "uniq":
        _s, _l, pos = split_flags(a, frozenset({"-f", "-s", "-w", "--skip-fields", "--skip-chars"}))
        outs += pos[1:2]
    elif inv.name == "script":  # script [-a] FILE, -O FILE / --log-out FILE
        _s, _l, pos = split_flags(
            a, frozenset({"-c", "--command", "-E", "--echo", "-I", "-O", "-T", "-B", "-t", "-m",
                          "--log-out", "--log-in", "--log-io", "--log-timing"})
        )  # fmt: skip
        outs += pos[:1]
        outs += [
            a[k + 1] for k, x in enumerate(a[:-1]) if x in ("-O", "--log-out", "-B", "--log-io")
        ]
    elif inv.name == "sed":
        scripts, _files = sed_operands(a)
        for script in scripts:
            # s/a/b/w FILE: the w flag after the substitution's last delimiter
            outs += [
                m.group(2)
                for m in re.finditer(
                    r"s([^\\\n])(?:\\.|(?!\1)[^\\])*\1(?:\\.|(?!\1)[^\\])*\1[gpiIeEmM0-9]*w\s*(\S+)",
                    script,
                )
            ]
            # w FILE, W FILE, 1w FILE, $w FILE, /re/w FILE, 1,5w FILE (space optional); an
            # address with its own delimiter (\%re%) read as /re/
            script = _sed_own_delimiters(script)
            addr = r"(?:\d+(?:~\d+)?|\$|/(?:\\.|[^/\\])*/[IM]*)"
            outs += re.findall(
                rf"(?:^|[;\n{{}}])[ \t]*(?:{addr}(?:[ \t]*,[ \t]*(?:{addr}|[+~]\d+))?[ \t]*)?"
                rf"(?:![ \t]*)?[wW][ \t]*(\S+)",
                script,
            )
    elif inv.name in ("tar", "bsdtar") and a:
        mode = next(
            (
                x.lstrip("-")
                for x in a
                if re.fullmatch(r"-?[a-zA-Z]+", x)
                and not x.startswith("--")
                and set(x.lstrip("-")) & set("crAu")
            ),
            "",
        )
        create = bool({"--create", "--append", "--update", "--concatenate"} & set(a)) or bool(
            set(mode) & set("crAu")
        )
        if create:
            for k, x in enumerate(a):
                if (x in ("-f", "--file") or re.fullmatch(r"-?[a-zA-Z]*f", x)) and k + 1 < len(a):
                    outs.append(a[k + 1])
                elif x.startswith("--file="):
                    outs.append(x.split("=", 1)[1])
    return [o for o in outs if o not in ("-", "/dev/stdout")]


_reg(BASH_RULES, "touch mkdir ln", r_touch_mkdir)
_reg(BASH_RULES, "sed perl", r_sed)
_reg(BASH_RULES, "tee", r_tee)
_reg(BASH_RULES, "tar", r_tar)
_reg(BASH_RULES, "git", r_git)
_reg(BASH_RULES, "docker podman nerdctl docker-compose", r_docker)
_reg(BASH_RULES, "kubectl oc k3s microk8s.kubectl", r_kubectl)
_reg(BASH_RULES, "helm", r_helm)
_reg(BASH_RULES, "terraform tofu terragrunt", r_terraform)
_reg(BASH_RULES, "ansible ansible-playbook", r_ansible)
_reg(BASH_RULES, "aws", r_aws)
_reg(BASH_RULES, "gcloud gsutil", r_gcloud)
_reg(BASH_RULES, "az", r_az)
_reg(BASH_RULES, "ip", r_ip)
_reg(BASH_RULES, "route msiexec iisreset tc nmcli argocd flux", r_misc_admin)
_reg(BASH_RULES, " ".join(sorted(_DEFENCE_TOOLS)), r_defence_tool)
_reg(BASH_RULES, "vault", r_vault)
_reg(BASH_RULES, "borg restic duplicity kopia rdiff-backup", r_backup_tool)
_reg(BASH_RULES, "etcdctl", r_etcdctl)
_reg(BASH_RULES, "pulumi", r_pulumi)
_reg(BASH_RULES, "oci doctl linode-cli hcloud", r_oci)
_reg(BASH_RULES, "nvme", r_nvme)
_reg(BASH_RULES, "pssh parallel-ssh pdsh clush", r_parallel_ssh)
_reg(BASH_RULES, "glab", r_gh)
_reg(BASH_RULES, "nginx apachectl apache2ctl httpd haproxy caddy", r_daemon_ctl)
_reg(BASH_RULES, "gh", r_gh)
_reg(
    BASH_RULES,
    "psql mysql mariadb sqlite3 redis-cli valkey-cli keydb-cli mongosh mongo sqlcmd clickhouse-client "
    "cqlsh dropdb mysqladmin pg_restore mongorestore",
    r_db_client,
)


_RUNTIME_VAR = re.compile(r"\$(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*|[0-9@*#?!$-])")
"""An expansion left in a command name after parsing (`$CMD`, `"${1}"`, `"$@"`, `${!p}`,
`r${x}m`): its value is only known when the line runs."""
_PROGRAM_VARS = frozenset({"EDITOR", "VISUAL", "GIT_EDITOR", "PAGER", "MANPAGER", "BROWSER"})
"""Variables that name a program opening files: not tried as destroyers."""
_STAND_INS = ("rm", "chmod", "chown", "dd", "mkfs")
"""What a run-time command name is tried as: commands whose arguments alone say how much is at
stake (paths, devices, modes)."""


def _runtime_kind(name: str) -> str | None:
    """ "var" for a command name holding a variable's value, "subst" for one that is a command
    substitution's output (`$(printf ...) ARGS`), "glob" for a filename pattern (the files it
    matches where the line runs), None for a plain name."""
    if "$" not in name and "`" not in name:
        # (a name of `*`s alone is whatever file comes first: no name to try it as)
        return "glob" if has_glob(name) and name.strip("*") else None
    if name.startswith(("$(", "`")):
        closed = name.count("(") == name.count(")") and name.count("`") % 2 == 0
        return "subst" if closed else "var"  # (an unclosed one: a value known only when run)
    return "var" if _RUNTIME_VAR.search(name) else None


def _runtime_name(inv: Invocation, kind: str) -> Iterator[Finding]:
    """A command whose name is decided at run time. With arguments it is tried as each of
    `_STAND_INS`, and is RISKY (ask: it may be that command; it may be `ls`) where one of
    them would be BLOCKED with these arguments - `$CMD -rf /etc`, not `$CC -o foo foo.c` or
    `$CMD *`. Without arguments, a variable's value run as the whole command (`$x`,
    `eval "$X"`, `sh -c "$X"`, `echo "$X" | sh`, `eval "$@"`) is an unknown program: RISKY -
    not a script's own arguments run directly (`exec "$@"`), a remote host's command, or the
    reading where an empty name before it leaves it to run; a command substitution's
    (`eval "$(ssh-agent -s)"`) is judged by the command it runs. `$EDITOR`/`$PAGER` open
    files and are not tried as stand-ins."""
    m = _RUNTIME_VAR.search(inv.raw) or _RUNTIME_VAR.search(inv.name)
    var = m.group(0) if m else inv.name
    # $PAGER, ${PAGER}, ${PAGER:-less}: not ${PAGER:+rm} or ${PAGER:-$X}, which run another
    opens = re.fullmatch(r"\$(?:([A-Za-z_]\w*)|\{([A-Za-z_]\w*)(?::?-[^$`}]*)?\})", var)
    if opens is not None and (opens.group(1) or opens.group(2)) in _PROGRAM_VARS and kind == "var":
        return  # $EDITOR FILE, $PAGER FILE: they open files (and if empty, the rest is judged)
    if not inv.args:
        # not: the reading where an empty name leaves this one to run, a remote host's
        # command (judged as remote), a script's own arguments run directly (`exec "$@"`;
        # not after `set -- $(cmd)` on the line, which fills them with what cmd prints)
        positional = re.search(r"\$\{?[@*0-9]", inv.name) is not None
        if (
            kind == "var"
            and not inv.if_empty
            and inv.remote is None
            and not (positional and not inv.via and not inv.set_here)
        ):
            yield _f(
                inv, R, "obfuscated", "runtime-name", f"runs {var}, a program known only when run"
            )
        elif kind == "subst" and re.match(r"(\$\(|`)\s*(find|ls|locate|fd)\b[^|]*\|", inv.name):
            # eval "$(find ... | awk '{print "cp " ...}')": commands built from a file listing
            # (not a tool's own setup code, `eval "$(ssh-agent -s)"`, or env loading)
            yield _f(inv, R, "obfuscated", "runtime-name", "runs commands built from file names")
        return
    if kind == "glob":  # the commands the pattern can match, of those the rules know
        var = inv.name
        names: Iterable[str] = (n for n in BASH_RULES if glob_match(inv.name, n))
    else:
        names = _STAND_INS
    for name in names:
        stand_in = dataclasses.replace(inv, name=name, args=list(inv.args), redirects=[])
        if any(f.level == B for f in _rules_for(stand_in)):
            yield _f(
                inv,
                R,
                "obfuscated",
                "runtime-name",
                f"the command is {var}, known only when run; as {name} this would be BLOCKED",
            )
            return


def _rules_for(inv: Invocation) -> list[Finding]:
    """Every finding for one invocation, including the cross-cutting ones."""
    out: list[Finding] = []
    if inv.name.lower() in ("--help",) or (asks_for_help(inv) and inv.name not in ("kill",)):
        return out
    if inv.shell == "bash":
        fn = BASH_RULES.get(inv.name)
        if fn is None and inv.name.endswith(".exe"):
            fn = BASH_RULES.get(inv.name[:-4])
    elif inv.shell == "powershell":
        fn = r_ps if inv.name not in BASH_RULES or "-" in inv.name else BASH_RULES.get(inv.name)
        if inv.name in (
            "git",
            "docker",
            "kubectl",
            "terraform",
            "helm",
            "aws",
            "gcloud",
            "az",
            "psql",
            "mysql",
            "sqlcmd",
            "ssh",
            "scp",
            "curl.exe",
            "npm",
            "pip",
            "winget",
            "choco",
        ):
            fn = BASH_RULES.get(inv.name, r_ps)
        if inv.name in ("winget", "choco", "scoop"):
            fn = r_win_pkg
    else:
        fn = (
            r_cmd_tool
            if inv.name in _CMD_TOOLS
            else (r_cmd_misc if inv.name in _CMD_MISC else BASH_RULES.get(inv.name))
        )
        if inv.name in ("winget", "choco", "scoop"):
            fn = r_win_pkg
        if inv.name in ("powershell", "pwsh"):
            fn = None
    if inv.shell == "bash" and inv.name in _OUTPUT_TOOLS:
        # `sort -o /etc/passwd`: judged as a redirect there would be (a workspace or temp file
        # is left to the tool's own rule)
        outs = [_join(inv.cwd, o) for o in _output_files(inv)]
        outs = [o for o in outs if grade(o, "bash") not in ("workspace", "temp", "null")]
        out.extend(_write_target(inv, outs, truncate=True, rule=inv.name))
    kind = _runtime_kind(inv.name) if fn is None and inv.shell == "bash" else None
    if inv.shell == "bash" and _FETCH_SUBST.match(inv.raw.lstrip(" \t\"'")):
        # $(curl URL), eval "$(curl URL)": the command word is a download's output
        out.append(
            _f(inv, B if inv.privileged else R, "net-exec", "pipe-exec",
               "runs code downloaded from the network")
        )  # fmt: skip
    elif kind is not None:
        out.extend(_runtime_name(inv, kind))
    if fn is not None and _trap_cleanup(inv):
        out.append(_f(inv, L, "workspace", "trap", "an exit trap removes the script's own file"))
    elif fn is not None:
        out.extend(fn(inv))
    elif inv.name in _LOW_TOOLS or (inv.name in _LOW_WHEN and _LOW_WHEN[inv.name](inv.args)):
        out.append(_f(inv, L, "workspace", "local-tool", f"{inv.name} changes local files"))
    elif inv.name in _LOW_WHEN and inv.shell == "bash":
        pass
    elif (
        inv.privileged
        and inv.name not in _READ_ONLY
        and inv.shell == "bash"
        and not inv.name.startswith(":")
    ):
        out.append(_f(inv, R, "priv", "privilege", f"{inv.name} run with elevated privileges"))
    out.extend(r_pipe_exec(inv))
    # redirections write files (bash and cmd; PowerShell's > too)
    notes: bool | None = None  # the command prints text about dangerous commands (read once)
    for op, target in inv.redirects:
        if "<" in op and ">" not in op:
            continue
        if op in (">&", "&>", ">&-") and target.isdigit():
            continue
        if "/dev/tcp/" in target or "/dev/udp/" in target:
            lvl = B if inv.name in ("sh", "bash", "zsh", "dash", "ksh", "exec") else R
            out.append(
                _f(
                    inv,
                    lvl,
                    "reverse-shell" if lvl == B else "exfil",
                    "redirect",
                    "connects output to a network socket",
                )
            )
            continue
        truncate = ">>" not in op
        if inv.name in ("echo", "printf", "write-output", "write-host") and notes is None:
            notes = _mentions_danger(" ".join(inv.args))
        if notes and grade(target, inv.shell) in ("workspace", "temp", "data"):
            continue  # notes about dangerous commands, written to a workspace file
        if (
            inv.name in ("cat", "tee")
            and inv.stdin_data is not None
            and grade(target, inv.shell) in ("workspace", "temp", "data")
        ):
            continue  # a heredoc written to a notes file: the text is data
        out.extend(_write_target(inv, [_join(inv.cwd, target)], truncate=truncate, rule="redirect"))
    return out


_CMD_TOOLS = {
    "del",
    "erase",
    "rd",
    "rmdir",
    "format",
    "diskpart",
    "bcdedit",
    "vssadmin",
    "wmic",
    "wbadmin",
    "wevtutil",
    "auditpol",
    "netsh",
    "sc",
    "net",
    "reg",
    "schtasks",
    "icacls",
    "cacls",
    "takeown",
    "cipher",
    "certutil",
    "bitsadmin",
    "taskkill",
    "shutdown",
    "robocopy",
    "attrib",
    "setx",
    "fsutil",
    "manage-bde",
    "mountvol",
    "chkdsk",
    "sdelete",
    "sdelete64",
}
_CMD_MISC = {"copy", "xcopy", "move", "ren", "rename", "mklink", "md", "mkdir"}


def r_win_pkg(inv: Invocation) -> Iterator[Finding]:
    verb = next((x.lower() for x in inv.args if not x.startswith("-")), "")
    if verb in (
        "list",
        "search",
        "show",
        "info",
        "export",
        "outdated",
        "source",
        "--version",
        "upgrade",
    ) and not (verb == "upgrade" and ("--all" in inv.args or len(inv.args) > 1)):
        return
    if verb in ("uninstall", "remove"):
        yield _f(inv, R, "package", inv.name, "removes software")
    elif verb:
        yield _f(
            inv,
            R if verb in ("install", "upgrade", "add") else L,
            "package",
            inv.name,
            f"{verb} software",
        )


# ---------------------------------------------------------------- whole commands


_CRADLE = re.compile(
    r"(iex|invoke-expression|downloadstring|downloadfile|invoke-webrequest|\biwr\b|\birm\b|"
    r"net\.webclient|curl\s|wget\s|http[s]?://|frombase64string|-enc\w*\s)",
    re.I,
)
_AUTORUN = re.compile(
    r"(/etc/cron|/var/spool/cron|cron\.d/|rc\.local|systemd/(system|user)|init\.d/|apt\.conf\.d/|"
    r"udev/rules\.d/|/etc/profile|bash\.bashrc|\.bashrc|\.bash_profile|\.profile$|\.zshrc|"
    r"\.t?cshrc$|\.login$|\.x(profile|initrc|session|sessionrc)$|"
    r"\.config/autostart|\\startup\\)",
    re.I,
)
"""Files whose contents run by themselves later: at boot, login, on schedule, on a package
update or a device event."""
_STARTUP_FILE = re.compile(
    r"/etc/cron|/var/spool/cron|rc\.local|\.(bash|zsh|mksh|ksh)rc\b|\.(bash_)?profile\b|"
    r"\.bash_(login|logout)\b|\.z(profile|shenv|login)\b|config\.fish|/etc/profile|"
    r"\.t?cshrc\b|(^|/)\.login$|\.x(profile|initrc|session|sessionrc)\b|\.ssh/rc$|"
    r"\.config/autostart/|\.git/hooks/|"
    r"systemd/(system|user)|authorized_keys|\\run\b|[\\/]startup[\\/]",
    re.I,
)
"""Files whose contents run by themselves later (at login or logout, boot, on schedule, on a
git operation): code written there is judged as code."""
_PAYLOAD = re.compile(
    r"(curl|wget)\b[^|;'\"]*\|\s*(sudo\s+)?(ba|z|da|k)?sh\b"
    r"|(curl|wget)\b[^;]*(--data-binary|--data|-d|-F|--upload-file|-T)\s+@"
    r"|/dev/tcp/|\bnc\b[^;]*\s-e\s",
    re.I,
)
"""Download-and-run, an upload of a local file, or a shell on a socket."""
_BACKUP_EXT = re.compile(r"\*\.(bak|vhdx?|vbk|vib|vrb|wbcat|tib|bkf|backup|bac|sqb|dump)\b", re.I)


def strip_strings(text: str, backslash_escapes: bool = True) -> str:
    """The text with every quoted string emptied (for patterns that must be code, not a mention).

    PowerShell strings escape with a backtick only; shell strings with a backslash as well.
    """
    if backslash_escapes:
        return re.sub(r"'[^']*'|\"(?:[^\"\\`]|\\.|`.)*\"", "''", text)
    return re.sub(r"'[^']*'|\"(?:[^\"`]|`.)*\"", "''", text)


def line_rules(parsed: Parsed) -> Iterator[Finding]:
    """Patterns that span several invocations or live in expressions rather than commands."""
    invs = parsed.invocations
    line = parsed.command
    code = strip_strings(line)
    # credential theft: LSASS dumps, SAM/SYSTEM hive copies, NTDS.dit extraction
    for inv in invs:
        text = " ".join(inv.args).lower()
        if (
            (inv.name == "rundll32" and "comsvcs" in text and "minidump" in text)
            or (inv.name in ("procdump", "procdump64") and "lsass" in text)
            or inv.name in ("mimikatz", "invoke-mimikatz", "pypykatz", "secretsdump.py", "lazagne")
            or (
                inv.name == "reg"
                and text.startswith("save")
                and re.search(r"hklm\\(sam|system|security)\b", text)
            )
            or (inv.name == "ntdsutil" and "ifm" in text)
            or (
                re.search(r"ntds\.dit", text)
                and inv.name in ("copy", "copy-item", "cp", "esentutl", "robocopy")
            )
        ):
            yield _f(
                inv,
                B,
                "exfil",
                "credential-theft",
                "dumps credentials (LSASS, SAM/SYSTEM hives, NTDS.dit)",
            )
        if inv.name in ("invoke-powershelltcp", "invoke-powershellicmp", "powercat") or (
            "-reverse" in inv.args and any(a.lower() == "-ipaddress" for a in inv.args)
        ):
            yield _f(inv, B, "reverse-shell", "reverse-shell", "PowerShell reverse shell")
        if inv.name in (
            "schtasks",
            "register-scheduledtask",
            "new-scheduledtaskaction",
            "sc",
            "new-service",
        ) and (
            _CRADLE.search(line)
            and (re.search(r"system|highest|onstart|onlogon|atstartup|atlogon", line, re.I))
        ):
            yield _f(
                inv,
                B,
                "persistence",
                "persistence",
                "schedules a download-and-run payload at boot or logon",
            )
    # a download-and-run or upload payload written where it will run by itself later; an SSH
    # key fetched from the network into authorized_keys (the written text is code there, not
    # a mention, so this reads inside the strings)
    for inv in invs:
        written = [t for op, t in inv.redirects if ">" in op and not t.isdigit()]
        text = " ".join(inv.args)  # what `echo ... > FILE` writes
        if inv.name == "tee":
            written += [a for a in inv.args if not a.startswith("-")]
            text = inv.upstream_text  # what is piped into `tee FILE`
        for t in written:
            if _AUTORUN.search(t) and _PAYLOAD.search(text):
                yield _f(
                    inv, B, "persistence", "persistence",
                    "installs a download-and-run or upload payload that runs by itself later",
                )  # fmt: skip
            elif "authorized_keys" in t and (
                inv.name in _FETCHERS or set(inv.upstream) & _FETCHERS
            ):
                yield _f(
                    inv, B, "persistence", "persistence",
                    "installs an SSH key fetched from the network (a backdoor)",
                )  # fmt: skip
    # download, then execute what was downloaded
    fetched: list[tuple[str, bool]] = [
        (m, False)  # (New-Object Net.WebClient).DownloadFile(URL, 'a.exe')
        for m in re.findall(
            r"\.DownloadFile(?:Async)?\s*\(\s*[^,]+,\s*['\"]([^'\"]+)['\"]", line, re.I
        )
    ]
    for inv in invs:
        a = inv.args
        low = [x.lower() for x in a]
        dest = None
        lolbin = False
        if (inv.name == "certutil" and any("urlcache" in x for x in low)) or (
            inv.name == "bitsadmin" and "/transfer" in low
        ):
            dest, lolbin = (a[-1] if a else None), True
        elif inv.name in ("invoke-webrequest", "invoke-restmethod", "start-bitstransfer") and (
            "-outfile" in low or "-destination" in low
        ):
            k = low.index("-outfile") if "-outfile" in low else low.index("-destination")
            dest = a[k + 1] if k + 1 < len(a) else None
        elif inv.name in ("curl", "wget"):
            for i, x in enumerate(a[:-1]):
                if x in ("-o", "-O", "--output", "--output-document") or re.fullmatch(
                    r"-[a-zA-Z]*o", x
                ):
                    dest = a[i + 1]
        if dest:
            fetched.append((dest, lolbin))
            continue
        for d, lol in fetched:
            base = d.replace("\\", "/").rsplit("/", 1)[-1].lower()
            # chmod +x x, sha256sum x: x is not run (unless privileged or redirected somewhere)
            handled = (
                (inv.name in _FILE_TOOLS or _unpacks_in_place(inv))
                and not inv.privileged
                and not inv.redirects
                and not _piped_into_runner(inv, invs, line)  # type a.bat | cmd runs it
            )
            names = {inv.name} | (
                set()
                if handled
                else {x.lower().replace("\\", "/").rsplit("/", 1)[-1] for x in a[:2]}
            )
            raw0 = (
                inv.raw.split()[0].lower().replace("\\", "/").rsplit("/", 1)[-1]
                if inv.raw.split()
                else ""
            )
            if base and (base in names or raw0 == base or base.rsplit(".", 1)[0] == inv.name):
                priv = inv.privileged or "runas" in " ".join(low)
                yield _f(
                    inv,
                    B if lol or priv else R,
                    "net-exec",
                    "download-exec",
                    "runs a file it just downloaded" + (" with privileges" if priv else ""),
                )
    # PowerShell expressions (outside strings)
    if parsed.shell == "powershell":
        if re.search(r"\.ClearLog\s*\(", code):
            yield Finding(
                B, "log-wipe", "ps-expression", line[:160], "clears an event log through .NET"
            )
        if re.search(r"WriteAllBytes\s*\(", code) and re.search(
            r"physicaldrive|\\\\\.\\", line, re.I
        ):
            yield Finding(
                B, "disk", "ps-expression", line[:160], "writes raw bytes to a physical drive"
            )
    if parsed.shell == "cmd" and re.search(
        r"for\s+/l\s+%+\w+\s+in\s*\(\s*\d+\s*,\s*0\s*,\s*\d+\s*\)\s*do\s+start", line, re.I
    ):
        yield Finding(B, "fork-bomb", "fork-bomb", line[:160], "endless loop starting processes")
    # a cron/startup file written with a payload that downloads code or opens a shell
    for inv in invs:
        targets = [t for _, t in inv.redirects] + (
            [x for x in inv.args if not x.startswith("-")]
            if inv.name in ("tee", "add-content", "set-content")
            else []
        )
        if inv.name in ("curl", "wget"):  # curl -o ~/.bashrc URL, wget -O FILE URL
            opt = "o" if inv.name == "curl" else "O"  # (curl's -O takes no value)
            for k, x in enumerate(inv.args[:-1]):
                if x in ("--output", "--output-document") or re.fullmatch(rf"-[a-zA-Z]*{opt}", x):
                    targets.append(inv.args[k + 1])
                elif re.fullmatch(rf"-[a-zA-Z]*{opt}.+", x) and not x.startswith("--"):
                    targets.append(x[x.index(opt) + 1 :])
        sed_scripts: list[str] = []
        if inv.name == "sed" and any(re.fullmatch(r"-i\S*|--in-place\S*", a) for a in inv.args):
            sed_scripts, files = sed_operands(inv.args)  # sed -i '1i CODE' ~/.bashrc
            targets += files
        if inv.name == "crontab" and not _has(inv.args, "-l", "-r", "-ri", "-ir"):
            targets.append("/var/spool/cron")  # echo 'CRON LINE' | crontab -
        if not any(_STARTUP_FILE.search(t) for t in targets):
            continue
        if inv.name in ("curl", "wget"):
            hook_only = all(".git/hooks/" in t or not _STARTUP_FILE.search(t) for t in targets)
            yield _f(  # (a git hook from a review server is a documented setup step: ask)
                inv, R if hook_only else B, "persistence", "persistence",
                "writes code downloaded from the network where it runs by itself later",
            )  # fmt: skip
            continue
        payload = inv.stdin_data or ""
        if sed_scripts:  # what the edit inserts: `1i TEXT`, `$a TEXT`, `s/x/TEXT/`
            payload = "\n".join(re.sub(r"^\s*(\d+|\$)?\s*[aic]\\?\s*", "", x) for x in sed_scripts)
        if not payload and inv.name in ("echo", "printf"):
            # `echo CODE >> ~/.bashrc`: what it prints is the code (not echo's -n/-e/-E, not a
            # printf format before its arguments)
            shown = printed_text(inv, None)  # (a printf format not worked out: its arguments)
            payload = shown if shown is not None else " ".join(inv.args[1:])
        if not payload and inv.upstream_text:
            up = parse(inv.upstream_text, "bash") if parsed.shell == "bash" else None
            if up is not None:
                payload = " ".join(
                    " ".join(i.args) for i in up.invocations if i.name in ("echo", "printf")
                )
        body = re.sub(r"^\s*(@\w+|(\S+\s+){5})", "", payload)
        # the text as written (a startup file's lines), without a cron line's five time
        # fields, and without its user field (a heredoc's trailing newline made the first
        # reading strip `curl -fsSL URL | bash` whole)
        for cand in (payload, body, re.sub(r"^\s*\w[\w-]*\s+", "", body)):
            v = assess(cand, "bash") if cand.strip() else None
            if (
                v is not None
                and v.level >= R
                and set(v.reasons) & {"net-exec", "reverse-shell", "destroy", "disk"}
            ):
                yield _f(
                    inv,
                    B,
                    "persistence",
                    "persistence",
                    "installs a payload that downloads code or opens a shell",
                )
                break


def assess_parsed(parsed: Parsed) -> tuple[Level, list[Finding]]:
    findings: list[Finding] = list(line_rules(parsed))
    findings.extend(_more.more_line_rules(parsed))
    if parsed.fork_bomb:
        findings.append(
            Finding(
                B, "fork-bomb", "fork-bomb", parsed.command[:160], "function that spawns itself"
            )
        )
    if parsed.too_deep:
        findings.append(
            Finding(
                B,
                "obfuscated",
                "decode",
                parsed.command[:160],
                "nested or obfuscated beyond what can be read (or too long to judge)",
            )
        )
    for u in parsed.undecodable:
        findings.append(
            Finding(R, "obfuscated", "decode", u, "runs a payload that could not be decoded")
        )
    for inv in parsed.invocations:
        fs = _rules_for(inv)
        if inv.defined_only:
            # alias x='CMD' / doskey x=CMD runs nothing yet; a name that would run a BLOCKED
            # command is a trap for the next line, which would be judged by the name alone
            if any(f.level == B for f in fs):
                findings.append(
                    _f(inv, R, "persistence", "alias", "defines a name that runs a BLOCKED command")
                )
            continue
        top = max((f.level for f in fs if f.rule != "redirect"), default=S)
        if inv.privileged and top >= L and top < R:
            fs.append(_f(inv, R, "priv", "privilege", "state change with elevated privileges"))
        if (
            inv.privileged
            and top == S
            and inv.name in ("sh", "bash", "zsh", "su", "sudo", "-i", "dash", "ksh")
            and (not [a for a in inv.args if not a.startswith("-")])
            and not inv.upstream
        ):
            fs.append(_f(inv, R, "priv", "privilege", "opens a root shell"))
        if inv.name in ("su", "sudo") and top == S and inv.args[:1] != ["-l"]:
            fs.append(_f(inv, R, "priv", "privilege", "opens a root shell"))
        if inv.remote and top == L:
            fs.append(_f(inv, L, "remote", "remote", f"workspace change on {inv.remote}"))
        findings.extend(fs)
    level = max((f.level for f in findings), default=S)
    return level, findings


MAX_NESTED_ASSESS = 16
"""How deep one line's rules may grade commands inside commands (docker exec, ssh, sh -c, ...)."""
_NESTED = threading.local()


class _TooDeep(Exception):
    """Raised through nested `assess` calls past MAX_NESTED_ASSESS, answered by the outermost."""


def assess(command: str, shell: str = "bash", cwd: str | None = None) -> Verdict:
    """The rule engine's verdict for one command line (`cwd`: the folder it would run in)."""
    depth = getattr(_NESTED, "depth", 0)
    if depth >= MAX_NESTED_ASSESS:
        raise _TooDeep
    _NESTED.depth = depth + 1
    try:
        parsed = parse(command, shell, cwd)
        level, findings = assess_parsed(parsed)
    except (RecursionError, _TooDeep):
        # `kubectl exec p -- ` x 300: commands inside commands past what is followed; only
        # the outermost call answers (inner ones answering let the outer retry: exponential)
        if depth:
            raise _TooDeep from None
        why = "commands nested past what is followed"
        return Verdict(command, shell, B, ["obfuscated"], 1.0, "rules",
                       [Finding(B, "obfuscated", "nesting", command[:160], why)], rule_level=B)  # fmt: skip
    finally:
        _NESTED.depth = depth
    reasons = merge_reasons(findings, level)
    if level == S and _mentions_danger(command):
        reasons = ["mention"]
    inert = (
        level == S
        and not parsed.fork_bomb
        and not parsed.undecodable
        and all(i.name in INERT_ARGS for i in parsed.invocations)
    )
    return Verdict(
        command,
        parsed.shell,
        level,
        reasons,
        float(level) / 3.0,
        "rules",
        findings,
        rule_level=level,
        inert=inert,
        known=bool(parsed.invocations) and all(_has_rule(i) for i in parsed.invocations),
    )


def _has_rule(inv: Invocation) -> bool:
    if inv.name in INERT_ARGS or inv.name in _READ_ONLY or inv.name in _LOW_TOOLS:
        return True
    if inv.shell == "bash":
        return inv.name in BASH_RULES
    if inv.shell == "cmd":
        return inv.name in _CMD_TOOLS or inv.name in _CMD_MISC or inv.name in BASH_RULES
    return "-" in inv.name or inv.name in BASH_RULES or inv.name in _CMD_TOOLS


_DANGER_WORDS = re.compile(
    r"(rm\s+-\w*[rf]|mkfs|dd\s+if=|wipefs|drop\s+(database|table)|flushall|format-volume|"
    r"remove-item|terraform\s+destroy|shred|:\(\)\s*\{|/dev/tcp|vssadmin|wevtutil|"
    r"kubectl\s+delete|git\s+push\s+(-f|--force))",
    re.I,
)


def _mentions_danger(command: str) -> bool:
    return bool(_DANGER_WORDS.search(command))


from tessera.shellguard import rules_more as _more  # noqa: E402  (registers its rules into the tables above)
