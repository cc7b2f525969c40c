"""Parse a command line into the simple commands it would execute.

Bash goes through tree-sitter-bash, PowerShell through tree-sitter-powershell,
cmd.exe through a small lexer of our own. All three end in the same shape: a
list of `Invocation` (one per simple command that would run), with wrappers
(`sudo`, `env`, `timeout`, `xargs`, `Start-Process -Verb RunAs`...) peeled off
and recorded, nested code (`bash -c`, `eval`, `ssh host CMD`, `find -exec`,
`powershell -EncodedCommand`, `echo ... | base64 -d | sh`, `cmd /c`) parsed
in turn, quotes and escapes removed, and variables assigned earlier on the
same line substituted. Text that is only printed, searched for or commented
never becomes an invocation: that is what separates a mention from an
execution.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import ntpath
import re
import shlex
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tessera.shellguard.levels import check_shell
from tessera.shellguard.paths import grade, severity

MAX_DEPTH = 6  # nested bash -c / eval / decode levels before giving up
MAX_NESTED = 4096  # nested parses per top-level statement (nested code can fan out)
MAX_ELEMENTS = 1024  # array elements tracked per variable
MAX_TRACKED = 8192  # array elements held per line, all variables together
_UNTRACKED = "\x00untracked:"  # env marker: an array past MAX_TRACKED, unknown
_ASSOC = "\x00assoc:"  # env entry: an associative array (declare -A); value: its keys
_SLICE = re.compile(
    r"(?P<base>[A-Za-z_]\w*|[@*]|(?P<arr>[A-Za-z_]\w*)\[[@*]\]):(?![-=+?])(?P<off>[^:{}]*)"
    r"(?::(?P<len>[^:{}]*))?"
)
"""`${NAME:OFFSET[:LENGTH]}` (`${x:-1}`, `${x:=v}`, `${x:+v}`, `${x:?m}` are not slices)."""
_SINK = "\x00stdout-runs:"  # env entry + descriptor: `exec > >(sh)` gave it to a shell
_FD = "\x00fd:"  # env entry: the text an `exec N<<< TEXT` left on input descriptor N
_FD_NEXT = "\x00fd-next"  # env entry: descriptors below it are all open (`exec {NAME}<...`)
_OUT_OPS = frozenset({">", ">>", ">|", "<>", "&>", "&>>", ">&"})  # redirects that write (`<>` too)
_FD_OPEN = "\x00fd-open:"  # env entries: a descriptor (10 or above) an `exec` opened
_FDVAR = "\x00fdvar:"  # env entries: the descriptor an `exec {NAME}<...` opened, by NAME
_NAMED_FD = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")  # `{fd}` glued before a redirect
_ARGC = "\x00argc"  # env entry: how many positional parameters `set --` & co. gave (not $#:
# a `$#` the grammar misreads inside `${...}` must stay unknown)
_ARGV = "\x00argv"  # env entry: all the positional words (past $9 too), joined by \x1f
_POSITIONAL = ("@", "*", _ARGC, _ARGV, *map(str, range(1, 10)))  # the positional parameters
_NAMEREF = "\x00nameref:"  # env entry: declare -n REF=NAME; value: the name it stands for
_AVAL = "\x00aval:"  # env entries: an associative array's values, by name \x1f key
_LIVE = "\x00live"  # env entry: how many elements all indexed arrays hold (MAX_TRACKED)
_SUBSCRIPT = re.compile(r"\[([^\]]*)\]=")  # an array literal's `[KEY]=` element prefix
_PLAIN_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # a variable's name
_DEFAULTED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*|[0-9@*]):?[-=].*\}", re.S)
MAX_EXPANDED = 1 << 20  # characters of expanded values followed per line (past it: obfuscated)
MAX_VALUE = 65536  # characters kept of one variable's value
ALIAS_VIA = "alias definition"  # the `via` of what an alias / doskey macro would run


@dataclass
class Invocation:
    """One simple command that would run."""

    shell: str
    name: str  # canonical: lower-case basename; PowerShell aliases resolved
    args: list[str]
    raw: str
    privileged: bool = False
    wrappers: tuple[str, ...] = ()
    redirects: list[tuple[str, str]] = field(default_factory=list)
    upstream: tuple[str, ...] = ()  # commands piping into this one
    downstream: tuple[str, ...] = ()  # commands this one pipes into
    upstream_text: str = ""  # raw text of the upstream part of the pipeline
    depth: int = 0
    via: str = ""  # how it was reached: "bash -c", "base64", "ssh", "find -exec", ...
    remote: str | None = None
    args_from_stdin: bool = False
    filtered: bool = False  # find -exec with a name/type filter: not every file matched
    stdin_data: str | None = None  # heredoc / herestring fed to it
    cwd: str | None = None  # folder set by an earlier `cd` on the same line
    line: str = ""  # the whole command line this came from
    defined_only: bool = False  # what an alias or doskey macro being defined would run
    at_stake: str = ""  # find ROOT ... -exec chmod/chown: the tree it recurses through
    input_read: bool = False  # what it runs from its input was parsed (`echo CODE | sed e`)
    if_empty: bool = False  # what runs if the name before it expands to nothing (`$SUDO rm`)
    set_here: bool = False  # named by $@/$1.. that a `set -- $(cmd)` on the line filled
    beside: bool = False  # a second reading of a command read otherwise too (`echo 2>x CODE`
    # without CODE): not what a pipe after it reads printed

    @property
    def argv(self) -> list[str]:
        return [self.name, *self.args]


@dataclass
class Parsed:
    shell: str
    command: str
    invocations: list[Invocation]
    fork_bomb: bool = False
    syntax_error: bool = False
    undecodable: list[str] = field(default_factory=list)  # payloads we could not read
    too_deep: bool = False  # nesting beyond MAX_DEPTH, an unparseable tangle, or over MAX_CHARS


MAX_CHARS = 16_384  # longer lines are not parsed: judged as unreadable


def parse(command: str, shell: str = "bash", cwd: str | None = None) -> Parsed:
    """Parse one command line; `cwd` (the folder it runs in) lets relative paths be graded."""
    shell = check_shell(shell)
    if len(command) > MAX_CHARS:
        return Parsed(shell, command, [], undecodable=[command[:80]])
    try:
        if shell == "bash":
            res = _Bash(command, env={"\x00cwd": cwd} if cwd else None).run()
        elif shell == "powershell":
            res = _PowerShell(command).run()
        else:
            res = _Cmd(command).run()
    except RecursionError:
        return Parsed(shell, command, [], undecodable=[command[:80]], too_deep=True)
    for inv in res.invocations:
        inv.line = command
    return res


def is_dynamic(word: str) -> bool:
    return "$" in word or "`" in word or word.startswith("<(")


# ---------------------------------------------------------------- helpers


def _brace_list(word: str) -> tuple[int, int, list[str]] | None:
    """The first outermost `{...}` of `word` holding a comma at its own level (or a `{a..z}` /
    `{1..9}` sequence): (start, end, alternatives); None if it has none."""
    depth, start = 0, -1
    i = 0
    while i < len(word):
        ch = word[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                inner = word[start + 1 : i]
                seq = re.fullmatch(r"(-?\d{1,4})\.\.(-?\d{1,4})|([A-Za-z])\.\.([A-Za-z])", inner)
                if seq is not None:
                    a, b = (int(seq.group(1)), int(seq.group(2))) if seq.group(1) else (
                        ord(seq.group(3)), ord(seq.group(4)))  # fmt: skip
                    step = 1 if b >= a else -1
                    vals = range(a, b + step, step)
                    alts = [str(v) if seq.group(1) else chr(v) for v in vals]
                    return start, i, alts
                parts, level, last = [], 0, 0
                for k, c in enumerate(inner):
                    level += {"{": 1, "}": -1}.get(c, 0)
                    if c == "," and level == 0:
                        parts.append(inner[last:k])
                        last = k + 1
                if parts:
                    return start, i, [*parts, inner[last:]]
        i += 1
    return None


def brace_words(word: str, limit: int = 64) -> list[str] | None:
    """The words bash's brace expansion makes of an unquoted `word` with comma lists or
    sequences (`/etc{,.bak}` -> /etc /etc.bak, `{r,}m` -> rm m, `{r..s}m`; lists nest),
    empty words dropped; None when it has no list or would make more than `limit` words
    (counted before empty ones drop, so the work stays bounded)."""
    if _brace_list(word) is None:
        return None
    todo, done = [word], []
    while todo:
        w = todo.pop()
        found = _brace_list(w)
        if found is None:
            done.append(w)
            continue
        start, end, alts = found
        todo += [w[:start] + alt + w[end + 1 :] for alt in reversed(alts)]
        if len(todo) + len(done) > limit:
            return None
    return [w for w in done if w]


def join_continuations(text: str) -> str:
    """`text` with bash's line continuations (backslash-newline) removed where bash removes
    them: outside single quotes, `$'...'` strings and comments (`r\\<newline>m` is `rm`)."""
    if "\\\n" not in text:
        return text
    out: list[str] = []
    i, state = 0, ""  # "", "'", '"', "$'", "#"
    while i < len(text):
        ch = text[i]
        if state == "'":
            state = "" if ch == "'" else state
        elif state == "#":
            state = "" if ch == "\n" else state
        elif ch == "\\" and i + 1 < len(text):
            if text[i + 1] == "\n" and state != "$'":
                i += 2
                continue
            out.append(text[i : i + 2])
            i += 2
            continue
        elif state == "$'":
            state = "" if ch == "'" else state
        elif state == '"':
            state = "" if ch == '"' else state
        elif ch == "'":
            state = "$'" if out and out[-1].endswith("$") else "'"
        elif ch == '"':
            state = '"'
        elif ch == "#" and (
            not out or out[-1][-1:] in ("", " ", "\t", "\n", ";", "&", "|", "(", ")")
        ):
            state = "#"
        out.append(ch)
        i += 1
    return "".join(out)


def _substitution_code(text: str) -> list[str]:
    """The code of each `$(...)` (balanced) and backquoted part of `text` (at most 16)."""
    out: list[str] = []
    i = 0
    while i < len(text) and len(out) < 16:
        if text.startswith("$(", i) and not text.startswith("$((", i):
            depth, j = 1, i + 2
            while j < len(text) and depth:
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                j += 1
            out.append(text[i + 2 : j - 1] if depth == 0 else text[i + 2 :])
            i = j
        elif text[i] == "`":
            j = text.find("`", i + 1)
            out.append(text[i + 1 : j] if j >= 0 else text[i + 1 :])
            i = len(text) if j < 0 else j + 1
        else:
            i += 2 if text[i] == "\\" else 1
    return [c for c in out if c.strip()]


_CODE_VARS = frozenset(
    {"PROMPT_COMMAND", "GIT_SSH_COMMAND", "GIT_PAGER", "GIT_EDITOR", "GIT_SEQUENCE_EDITOR",
     "GIT_EXTERNAL_DIFF", "GIT_ASKPASS", "SSH_ASKPASS", "PAGER", "MANPAGER", "SYSTEMD_PAGER",
     "EDITOR", "VISUAL", "SUDO_ASKPASS", "LESSOPEN", "LESSCLOSE", "BROWSER", "PS4", "PS0", "PS1",
     "FCEDIT", "SUDO_EDITOR", "KUBE_EDITOR", "GIT_PROXY_COMMAND"}
)  # fmt: skip
"""Variables whose value programs (or bash: PROMPT_COMMAND, PS4 under -x) run as a command."""
_PROGRAM_NAME_VARS = frozenset(
    {"PAGER", "MANPAGER", "SYSTEMD_PAGER", "EDITOR", "VISUAL", "BROWSER", "GIT_PAGER",
     "GIT_EDITOR", "GIT_SEQUENCE_EDITOR", "FCEDIT", "SUDO_EDITOR", "KUBE_EDITOR"}
)  # fmt: skip
_GIT_CODE_KEYS = re.compile(
    r"core\.(pager|fsmonitor|sshcommand|editor|gitproxy|askpass)|sequence\.editor|"
    r"interactive\.difffilter|uploadpack\.packobjectshook|"
    r"diff\.external|pager\.\w+|credential\.helper|alias\.[\w-]+|"
    r"(diff|merge|filter)\.[\w-]+\.(command|textconv|clean|smudge|process|driver)",
    re.I,
)
"""`git -c KEY=VALUE` keys whose value git runs as a command (an alias only with `!`)."""
_SSH_CODE_OPTIONS = re.compile(
    r"(proxycommand|localcommand|knownhostscommand)\s*[= ]\s*(.*)", re.I | re.S
)


def _option_code(name: str, args: Sequence[str]) -> list[tuple[str, str]]:
    """Commands a program runs from its own options or arguments: `ssh -o ProxyCommand=CMD`,
    `rsync -e CMD`, `git -c core.pager=CMD` / `rebase --exec CMD` / `bisect run CMD` /
    `submodule foreach CMD` / `ext::CMD` URLs, `less +!CMD`, `man -P CMD`, `vim -c '!CMD'`,
    `tar --checkpoint-action=exec=CMD` / `--to-command=CMD` / `-I CMD`, awk's
    `system("CMD")`. (via, code) pairs."""
    out: list[tuple[str, str]] = []
    a = list(args)
    pairs = [(a[k], a[k + 1] if k + 1 < len(a) else "") for k in range(len(a))]
    if name in ("ssh", "scp", "sftp", "autossh", "sshfs"):
        for x, nxt in pairs:
            cluster = (
                re.fullmatch(r"-[a-zA-Z0-9]*?o(.*)", x, re.S) if not x.startswith("--") else None
            )
            opt = (cluster.group(1) or nxt) if cluster else ""
            m = _SSH_CODE_OPTIONS.fullmatch(opt.strip())
            if m and m.group(2).strip().lower() != "none":
                out.append((f"{name} -o {m.group(1)}", m.group(2)))
    elif name == "rsync":
        out += [("rsync -e", nxt) for x, nxt in pairs if x in ("-e", "--rsh") and nxt]
        out += [("rsync -e", x.split("=", 1)[1]) for x in a if x.startswith("--rsh=")]
    elif name == "git":
        for x, nxt in pairs:
            kv = nxt if x == "-c" else x[2:] if x.startswith("-c") and "=" in x else ""
            key, eq, val = kv.partition("=")
            if eq and _GIT_CODE_KEYS.fullmatch(key.strip()):
                if key.lower().startswith(("alias.", "credential.")) and not val.startswith("!"):
                    continue
                out.append((f"git -c {key}", val.removeprefix("!")))
        sub = next(
            (
                x
                for k, x in enumerate(a)
                if not x.startswith("-") and (k == 0 or a[k - 1] not in ("-c", "-C"))
            ),
            "",
        )
        if sub in ("rebase", "difftool", "mergetool"):  # rebase -x CMD, difftool -x CMD
            flags = ("--exec", "-x", "--extcmd")
            out += [(f"git {sub} -x", nxt) for x, nxt in pairs if x in flags and nxt]
            out += [
                (f"git {sub} -x", x.split("=", 1)[1]) for x in a if re.match(r"--(exec|extcmd)=", x)
            ]
            out += [(f"git {sub} -x", x[2:]) for x in a if re.fullmatch(r"-x.+", x, re.S)]
        elif sub == "filter-branch":  # --tree-filter CMD, --index-filter CMD, ...
            out += [
                ("git filter-branch", nxt)
                for x, nxt in pairs
                if re.fullmatch(r"--[a-z-]+-filter", x) and nxt
            ]
        if sub in ("fetch", "clone", "ls-remote", "archive"):  # --upload-pack=CMD, -u CMD
            out += [
                ("git --upload-pack", x.split("=", 1)[1])
                for x in a
                if re.match(r"--(upload-pack|receive-pack|exec)=", x)
            ]
            out += [  # (`-u` is --upload-pack for clone only; fetch's -u is a flag)
                ("git --upload-pack", nxt)
                for x, nxt in pairs
                if (
                    x in ("--upload-pack", "--exec", "--receive-pack")
                    or (x == "-u" and sub in ("clone", "ls-remote"))
                )
                and nxt
            ]
        if sub == "grep":  # git grep -O CMD: opens the matching files with CMD
            out += [("git grep -O", x[2:]) for x in a if re.fullmatch(r"-O.+", x, re.S)]
            out += [
                ("git grep -O", x.split("=", 1)[1])
                for x in a
                if x.startswith("--open-files-in-pager=")
            ]
        elif sub == "bisect" and "run" in a:
            out.append(("git bisect run", " ".join(_quote(w) for w in a[a.index("run") + 1 :])))
        elif sub == "submodule" and "foreach" in a:
            rest = [w for w in a[a.index("foreach") + 1 :] if w != "--recursive"]
            out += [("git submodule foreach", " ".join(rest))] if rest else []
        for x in a:
            if x.startswith("ext::"):  # ext::CMD ARGS: spaces split, `% ` is a space in one
                ext = [w.replace("% ", " ").replace("%%", "%") for w in re.split(r"(?<!%) ", x[5:])]
                out.append(("git ext::", " ".join(_quote(w) for w in ext if w)))
    elif name in ("less", "more", "most"):
        out += [(f"{name} +!", m.group(1)) for x in a if (m := re.match(r"\+:?!(.*)", x, re.S))]
    elif name == "man":
        out += [("man -P", nxt) for x, nxt in pairs if x in ("-P", "--pager") and nxt]
        out += [("man -P", x[2:]) for x in a if re.fullmatch(r"-P.+", x, re.S)]
        out += [("man -P", x.split("=", 1)[1]) for x in a if x.startswith("--pager=")]
    elif name in ("vim", "vi", "nvim", "ex", "view", "gvim", "rvim"):
        for x, nxt in pairs:
            cmd = nxt if x in ("-c", "--cmd") else x[1:] if x.startswith("+") else ""
            for part in cmd.split("|"):
                bang = re.match(
                    r"\s*(?:sil(?:ent)?!?\s*)?(?:r(?:ead)?\s*|w(?:rite)?\s*|exe(?:cute)?\s*[\"'])?!(.*)",
                    part,
                )
                # lua os.execute("CMD"), :call system('CMD')
                call = re.search(r"(?:system|execute|systemlist)\(\s*(['\"])(.*?)\1", part)
                if bang or call:
                    out.append((f"{name} -c !", bang.group(1) if bang else call.group(2)))  # type: ignore[union-attr]
    elif name in ("tar", "bsdtar", "gtar"):
        for x, nxt in pairs:
            if x.startswith("--checkpoint-action=exec="):
                out.append(("tar --checkpoint-action", x.split("=", 2)[2]))
            elif x.startswith(
                (
                    "--to-command=",
                    "--use-compress-program=",
                    "--info-script=",
                    "--new-volume-script=",
                )
            ):
                out.append((x.split("=", 1)[0], x.split("=", 1)[1]))
            elif x in ("-I", "--use-compress-program", "--to-command", "-F") and nxt:
                out.append((f"tar {x}", nxt))
            elif x == "--checkpoint-action" and nxt.startswith("exec="):
                out.append(("tar --checkpoint-action", nxt[5:]))
            elif re.fullmatch(r"-I.+", x, re.S):
                out.append(("tar -I", x[2:]))
            elif re.match(r"--use-c[a-z-]*=", x):  # --use-compress-prog=CMD (abbreviated)
                out.append(("tar --use-compress-program", x.split("=", 1)[1]))
    elif name in ("awk", "gawk", "mawk", "nawk", "busybox-awk"):
        prog = _awk_program(a)
        out += [
            ("awk system()", m) for m in re.findall(r"system\(\s*\"((?:[^\"\\]|\\.)*)\"\s*\)", prog)
        ]
        out += [  # print "CODE" | "sh": the printed text is the shell's input
            ("awk | sh", m)
            for m in re.findall(
                r"printf?\s*\(?\s*\"((?:[^\"\\]|\\.)*)\"\s*\)?\s*\|&?\s*\"(?:/bin/|/usr/bin/)?(?:ba|z|da)?sh(?:\s[^\"]*)?\"",
                prog,
            )
        ]
    elif name == "entr" and "-s" in a:  # entr -s 'CMD': a shell runs CMD
        out += [("entr -s", x) for x in a if not x.startswith("-")][:1]
    elif name in ("gdb", "cgdb"):  # gdb -ex 'shell CMD', -ex '!CMD'
        for x, nxt in pairs:
            glued = re.match(r"--?(?:i?ex|eval-command)=(.*)", x, re.S)
            if x in ("-ex", "--ex", "-iex", "--iex", "-eval-command", "--eval-command") or glued:
                code = _gdb_shell(glued.group(1) if glued else nxt)
                if code is not None:
                    out.append(("gdb -ex shell", code))
    elif name == "zip":
        out += [("zip -TT", nxt) for x, nxt in pairs if x in ("-TT", "--unzip-command") and nxt]
        out += [
            ("zip -TT", x.split("=", 1)[1]) for x in a if re.match(r"(-TT|--unzip-command)=", x)
        ]
    return [(v, c) for v, c in out if c.strip()]


def _gdb_shell(command: str) -> str | None:
    """The shell command a gdb command runs: `shell CMD`, `!CMD`, `pipe [GDB_CMD] | CMD`,
    `| [GDB_CMD] | CMD`, `pipe -d DELIM GDB_CMD DELIM CMD` (and `| -d ...`); else None. gdb
    takes a command's unique prefix too (`she CMD`, `pip bt | CMD`)."""
    m = re.match(r"\s*(?:shel?l?\b|!)(.*)", command, re.S)
    if m is not None:
        return m.group(1)
    m = re.match(r"\s*(?:pipe?\b|\|)\s*(.*)", command, re.S)
    if m is None:
        return None
    rest = m.group(1)
    delim = "|"
    if re.match(r"-d\s", rest):  # pipe -d DELIM: DELIM separates the two commands
        parts = rest[2:].split(None, 1)
        if len(parts) < 2:
            return None
        delim, rest = parts
    at = rest.find(delim)
    return rest[at + len(delim) :] if at >= 0 else None


def _mktemp_path(args: Sequence[str], tmpdir: str | None = None) -> str | None:
    """The kind of path `mktemp ARGS` prints: a template without a folder stays in the current
    folder unless -t / -p / --tmpdir (abbreviations and glued values too) put it in
    `tmpdir` ($TMPDIR where the line set it, else /tmp); no template: tmp.XXXXXXXXXX there."""
    folder: str | None = None
    template = ""
    k = 0
    while k < len(args):
        a = args[k]
        if a == "-p" and k + 1 < len(args):
            folder, k = args[k + 1], k + 2
            continue
        long = re.fullmatch(r"--tm(?:p(?:d(?:i(?:r)?)?)?)?(?:=(.*))?", a)
        if long is not None:
            if long.group(1) is not None:
                folder = long.group(1) or tmpdir or "/tmp"
            elif k + 1 < len(args) and not args[k + 1].startswith("-") and "X" not in args[k + 1]:
                folder, k = args[k + 1], k + 2
                continue
            else:
                folder = folder or tmpdir or "/tmp"
        elif re.fullmatch(r"-[a-zA-Z]*p.+", a) and not a.startswith("--"):
            folder = a[a.index("p") + 1 :]  # -p/ , -dp/tmp
        elif re.fullmatch(r"-[a-zA-Z]*t[a-zA-Z]*", a):
            folder = folder or tmpdir or "/tmp"
        elif not a.startswith("-"):
            template = a
        k += 1
    if not template:
        return (folder or tmpdir or "/tmp").rstrip("/") + "/tmp.XXXXXXXXXX"
    if folder is None:
        return template  # mktemp x.XXXX: in the current folder; a/x.XXXX: beside a/
    if template.startswith("/"):
        return None  # mktemp -t /x.XXXX fails: the substitution is empty
    return folder.rstrip("/") + "/" + template  # -p /tmp ../XXXX is /XXXX


def _arith_subscript_code(text: str) -> list[str]:
    """Code in array subscripts bash evaluates as arithmetic: in a statement that is itself
    an arithmetic or lvalue context (`let`, `(( ))`, `declare`, `printf -v`, `[ -v ]`, ...),
    or in a value assigned to a name that such a statement then reads (`x='a[$(cmd)]';
    (( x ))`). A subscript's statement runs from the `;`, `&&`, `||` or newline before it to
    the one after it (roughly: quotes ignored; separators inside the subscript are its own)."""
    seps = [m.start() for m in re.finditer(r";|&&|\|\||\n", text)]
    parts = re.split(r";|&&|\|\||\n", text)
    arith = [p for p in parts if _ARITH_CONTEXT.search(p)]
    out: list[str] = []
    for m in _CODE_SUBSCRIPT.finditer(text):
        sub = m.group(1)
        if "$(" not in sub and "`" not in sub:
            continue
        i = bisect.bisect_left(seps, m.start())
        j = bisect.bisect_left(seps, m.end())
        stmt = text[seps[i - 1] + 1 if i else 0 : seps[j] if j < len(seps) else len(text)]
        target = re.match(
            r"\s*(?:(?:export|declare|local|typeset|readonly)\s+(?:-\w+\s+)*)?(\w+)=", stmt
        )
        reads = target is not None and any(
            re.search(rf"\b{re.escape(target.group(1))}\b", q) and q.strip() != stmt.strip()
            for q in arith
        )
        context = _ARITH_CONTEXT.search(stmt)
        if context and re.match(r"\s*(echo|printf(?!\s+-v)|grep|sed|awk|cat)\b", stmt):
            continue  # echo 'a[$(x)]'; (( 1 )): printed text, whatever else the line does
        if context or reads:
            out += _substitution_code(sub)
    return out


def _mask_substitutions(w: str) -> str:
    """`w` with each `$(...)` (nested, balanced) and backquoted part replaced by `_`s."""
    out = list(w)
    i = 0
    while i < len(w):
        if w.startswith("$(", i):
            depth, j = 1, i + 2
            while j < len(w) and depth:
                depth += {"(": 1, ")": -1}.get(w[j], 0)
                j += 1
            out[i:j] = "_" * (j - i)
            i = j
        elif w[i] == "`":
            j = w.find("`", i + 1)
            j = len(w) if j < 0 else j + 1
            out[i:j] = "_" * (j - i)
            i = j
        else:
            i += 1
    return "".join(out)


def _basename(word: str) -> str:
    w = word.replace("\\", "/").rstrip("/")
    # a `/` inside `${X/a/b}` is the substitution's, not a directory's (`${X/*/rm}` is not
    # `rm}`), and one inside `$(...)` is its command's (`$(which rm 2>/dev/null)`)
    masked = re.sub(r"\$\{[^}]*\}", lambda m: "_" * len(m.group(0)), w)
    if "$(" in masked or "`" in masked:
        masked = _mask_substitutions(masked)
    cut = masked.rfind("/")
    return w[cut + 1 :] if cut >= 0 else w


_ESCAPES = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r",
            "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}  # fmt: skip


def unescape(text: str, octal_zero: bool | str) -> tuple[str, bool]:
    """Backslash escapes as printf's format (backslash NNN, octal) or `echo -e` / `%b` read
    them (`octal_zero`: backslash 0NNN); and whether a backslash-c stopped the output there."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 == len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "c":
            return "".join(out), True
        m = (
            re.match(r"0([0-7]{0,3})", text[i + 1 : i + 5])
            if octal_zero
            else re.match(r"([0-7]{1,3})", text[i + 1 : i + 4])
        )
        if m is None and octal_zero == "b":  # printf's %b also reads backslash NNN
            m = re.match(r"([1-7][0-7]{0,2})", text[i + 1 : i + 4])
        if m is not None:
            out.append(chr(int(m.group(1) or "0", 8) & 0xFF))
            i += 1 + m.end()
            continue
        m = re.match(r"x([0-9A-Fa-f]{1,2})|u([0-9A-Fa-f]{1,4})|U([0-9A-Fa-f]{1,8})", text[i + 1 :])
        if m is not None:
            code = int(next(g for g in m.groups() if g), 16)
            out.append(chr(code) if code <= 0x10FFFF else "")
            i += 1 + m.end()
            continue
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)  # an unknown escape stays as written
        i += 1
    return "".join(out), False


_DIRECTIVE = re.compile(r"%([-+ #0']*)(\d*)(?:\.(\d*))?(?:hh|ll|[hlLqjzt])?([sbcdiouxXeEfFgGq%])")


def printf_output(fmt: str, args: Sequence[str]) -> str | None:
    """What bash's `printf FORMAT ARGS...` prints (the format reused while arguments remain),
    or None where it is not worked out here (`*` widths, an unknown directive)."""
    if "%" in fmt and re.search(r"%[-+ #0]*(\*|\d*\.\*|\d{4,}|\d*\.\d{4,})", fmt):
        return None  # widths from arguments, or past 999 characters: not worked out
    out: list[str] = []
    rest = list(args)
    for _ in range(256):  # bounded: the format is reused once per batch of arguments
        used = False
        pos = 0
        for m in _DIRECTIVE.finditer(fmt):
            head, stop = unescape(fmt[pos : m.start()], octal_zero=False)
            out.append(head)
            if stop:
                return "".join(out)
            pos = m.end()
            flags, width, prec, conv = m.groups()
            if conv == "%":
                out.append("%")
                continue
            arg = rest.pop(0) if rest else ""
            used = True
            if conv == "b":
                text, stop = unescape(arg, octal_zero="b")
                out.append(text)
                if stop:
                    return "".join(out)
                continue
            if conv in "diouxXeEfFgG":
                try:
                    num: float = (
                        (float(arg) if arg else 0.0)
                        if conv in "eEfFgG"
                        else (int(arg, 0) if arg else 0)
                    )
                except (ValueError, OverflowError):
                    num = ord(arg[1]) if len(arg) > 1 and arg[0] in "'\"" else 0
                py = {"i": "d", "u": "d"}.get(conv, conv)
                flags = flags.replace("'", "")
                spec = f"%{flags}{width}{'.' + prec if prec is not None else ''}{py}"
                try:
                    out.append(spec % num)
                except (TypeError, ValueError, OverflowError):
                    return None
                continue
            text = arg[:1] if conv == "c" else arg
            if prec is not None and conv != "c":
                text = text[: int(prec or 0)]
            pad = int(width or 0) - len(text)
            out.append(text + " " * pad if "-" in flags else " " * pad + text)
        text, stop = unescape(fmt[pos:], octal_zero=False)
        out.append(text)
        if stop:
            return "".join(out)
        if not used or not rest:
            return "".join(out)
    return None


def echo_output(args: Sequence[str]) -> str:
    """What bash's `echo ARGS...` prints (its leading -n/-e/-E options read; no newline)."""
    words = list(args)
    escapes = False
    while words and re.fullmatch(r"-[neE]+", words[0]):
        for letter in words.pop(0)[1:]:
            escapes = {"e": True, "E": False}.get(letter, escapes)
    text = " ".join(words)
    return unescape(text, octal_zero=True)[0] if escapes else text


_SUBST = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(//|/#|/%|/)([^/]*)(?:/(.*))?", re.S)
"""`${X/PATTERN/TEXT}` and its `//` (every match), `/#` (at the start), `/%` (at the end)."""


_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "space": r"\s", "blank": r" \t", "xdigit": "0-9A-Fa-f", "word": r"\w",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"), "cntrl": r"\x00-\x1f\x7f",
    "print": r"\x20-\x7e", "graph": r"\x21-\x7e",
}  # fmt: skip
"""POSIX character classes in a bracket expression (`[[:digit:]]`), as regex set members."""


def _bracket(pattern: str, i: int) -> tuple[str, int] | None:
    """The bracket expression opening at `pattern[i]` as a regex set and the index of its
    `]`; None when it does not close (then `[` is itself)."""
    j, members = i + 1, []
    stop = min(len(pattern), i + 256)  # a longer one is not read as a set (bounded work)
    if pattern.find("]", j, stop) < 0:
        return None
    neg = j < stop and pattern[j] in "!^"
    j += neg
    if j < stop and pattern[j] == "]":  # `[]m]`: a first `]` is a member
        members.append(r"\]")
        j += 1
    while j < stop:
        ch = pattern[j]
        if ch == "]":
            return "[" + ("^" if neg else "") + "".join(members) + "]", j
        cls = re.match(r"\[:([a-z]+):\]", pattern[j : j + 12]) if ch == "[" else None
        if cls is not None and cls.group(1) in _CLASSES:
            members.append(_CLASSES[cls.group(1)])
            j += cls.end()
            continue
        sym = re.match(r"\[([.=])(.)\1\]", pattern[j : j + 5]) if ch == "[" else None
        if sym is not None:  # a collating symbol or equivalence class of one character: it
            members.append(re.escape(sym.group(2)))  # (`[[.m.]]`, `[[=m=]]` match `m`)
            j += sym.end()
            continue
        if ch == "\\" and j + 1 < stop:
            j += 1
            ch = pattern[j]
        if (
            ch == "-"
            and members
            and members[-1] != "-"
            and j + 1 < stop
            and pattern[j + 1] not in "]-"
        ):
            members.append("-")  # a range (`a-z`; never `--`, which Python reads otherwise)
        else:
            members.append(re.escape(ch))
        j += 1
    return None


def _glob_regex(pattern: str) -> str:
    """A shell pattern as a regular expression (unanchored; `*` matches as much as it can;
    runs of `*` are one)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if not out or out[-1] != ".*":
                out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[" and (got := _bracket(pattern, i)) is not None:
            out.append(got[0])
            i = got[1]
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=512)
def _glob_compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile("(?:" + _glob_regex(pattern) + r")\Z", re.S)
    except re.error:
        return None


def glob_match(pattern: str, name: str) -> bool:
    """Whether shell pattern `pattern` matches all of `name` (bash's brackets: `[!x]`, `[^x]`,
    `[[:alpha:]]`, `[]x]`)."""
    rx = _glob_compiled(pattern)
    return rx is not None and rx.match(name) is not None


def has_glob(word: str) -> bool:
    """Whether `word` holds a pattern bash would expand (`*`, `?`, a closed `[...]`)."""
    if re.search(r"[*?]", word):
        return True
    if re.search(r"\[[^\]]*\]", word) is None:
        return False
    return any(_bracket(word, m.start()) is not None for m in re.finditer(r"\[", word))


_UNQUOTE = re.compile(r"'([^']*)'|\"((?:[^\"\\]|\\.)*)\"|\\(.)", re.S)
MAX_SUBST_VALUE = 4096  # characters of a value a ${X/P/T} is worked out on (past it: unknown)


def substitute(value: str, op: str, pattern: str, text: str) -> str | None:
    """What bash makes of `${X<op>PATTERN/TEXT}` where X holds `value` (None: not worked out -
    a long value or a pattern with many `*`, which backtracking would make slow)."""
    text = _UNQUOTE.sub(lambda m: next(g for g in m.groups() if g is not None), text)
    pattern = _UNQUOTE.sub(
        lambda m: re.sub(r"([*?\[\\])", r"\\\1", next(g for g in m.groups() if g is not None)),
        pattern,
    )
    if not pattern:
        return text + value if op == "/#" else value + text if op == "/%" else value
    regex = _glob_regex(pattern)
    # a search tries every start and backtracks each `*`: ~(n + 1) ** (1 + stars) steps
    # (times the single characters after them); past a budget the value is unknown
    stars = regex.count(".*")
    cost = (len(value) + 1) ** (1 + stars) * (1 + regex.count("."))
    if len(value) > MAX_SUBST_VALUE or cost > 20_000_000:
        return None
    try:
        rx = re.compile(
            ("^" if op == "/#" else "") + "(?:" + regex + ")" + ("$" if op == "/%" else ""), re.S
        )
    except re.error:
        return None
    if not value:  # a set, empty X: `${x/*/rm}` is `rm`
        return text if rx.fullmatch("") else ""
    # an empty match replaces nothing (`${x//*/rm}` is `rm`, not `rmrm`)
    return rx.sub(lambda m: text if m.group(0) else "", value, count=0 if op == "//" else 1)


def _b64(text: str) -> bytes | None:
    t = re.sub(r"\s+", "", text)
    if len(t) < 4:
        return None
    try:
        return base64.b64decode(t + "=" * (-len(t) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _b32(text: str) -> bytes | None:
    t = re.sub(r"\s+", "", text).upper()
    if len(t) < 8:
        return None
    try:
        return base64.b32decode(t + "=" * (-len(t) % 8))
    except (binascii.Error, ValueError):
        return None


_local = threading.local()


_DIRTY = "\x00dirty"  # an array's joined "${a[@]}" after an element changed: joined when read
_MAYBE = "\x00maybe:"  # env entry: the variable may hold another value when the line runs
_ASSIGNED = "\x00assigned:"  # env entry: the word a `${x:=w}` may have given x
_UNSET = "\x00unset:"  # env entry: an `unset x` may have unset x (its value is kept too)
# a word whose text is its value: no expansion, glob or brace list (`for x in rm`)
_LITERAL_WORD = re.compile(r"[A-Za-z0-9_./:@%+=,-]+|'[^']*'")
_COMPOUND = frozenset(
    [
        "subshell",
        "compound_statement",
        "do_group",
        "while_statement",
        "if_statement",
        "elif_clause",
        "else_clause",
        "case_statement",
        "case_item",
        "c_style_for_statement",
        "negated_command",  # `! bash <&3`: the redirects are the command's
    ]
)
_OPT_ARGS = {"read": "adinNptu", "mapfile": "dnOsuCc", "readarray": "dnOsuCc", "printf": "v"}


def _set_by(inv: Invocation) -> list[str]:
    """The variables a builtin sets from what it reads at run time (`read x y`, `read -a a`,
    `mapfile -t a`, `printf -v x`, `getopts ab x`)."""
    if inv.name == "getopts":
        return inv.args[1:2]
    takes = _OPT_ARGS.get(inv.name)
    if takes is None:
        return []
    names: list[str] = []
    plain: list[str] = []
    args = list(inv.args)
    k = 0
    while k < len(args):
        a = args[k]
        k += 1
        if a == "--":
            plain.extend(args[k:])
            break
        if not (a.startswith("-") and len(a) > 1) or plain:
            plain.append(a)
            continue
        for j, ch in enumerate(a[1:], 1):
            if ch in takes:  # the option's value: the rest of the word, else the next word
                val = a[j + 1 :] or (args[k] if k < len(args) else "")
                if not a[j + 1 :]:
                    k += 1
                if (inv.name, ch) in (("read", "a"), ("printf", "v")):  # a variable's name
                    names.append(val)
                break
    if inv.name == "read":
        names.extend(plain or ["REPLY"])
    elif inv.name in ("mapfile", "readarray"):
        names.append(plain[0] if plain else "MAPFILE")
    return [n.split("[", 1)[0] for n in names if n and not is_dynamic(n)]


def _ts_parser(lang: str) -> Any:
    p = getattr(_local, lang, None)
    if p is None:
        import importlib

        import tree_sitter as ts

        grammar = importlib.import_module(
            "tree_sitter_bash" if lang == "bash" else "tree_sitter_powershell"
        )
        p = ts.Parser(ts.Language(grammar.language()))
        setattr(_local, lang, p)
    return p


# Wrappers that run their operand as a command. Value: options that take an argument.
_WRAPPERS: dict[str, frozenset[str]] = {
    "sudo": frozenset(
        {"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T", "-R", "--user", "--group",
         "--chdir", "--host", "--prompt", "--role", "--type", "--other-user", "--close-from",
         "--command-timeout", "--chroot"}
    ),
    "doas": frozenset({"-u", "-C"}),
    "pkexec": frozenset({"--user"}),
    "run0": frozenset({"-u", "--user"}),
    "nohup": frozenset(),
    "time": frozenset({"-f", "-o"}),
    "nice": frozenset({"-n", "--adjustment"}),
    "ionice": frozenset({"-c", "-n", "-p"}),
    "stdbuf": frozenset({"-i", "-o", "-e"}),
    "builtin": frozenset(),
    "exec": frozenset({"-a"}),
    "setsid": frozenset(),
    "unbuffer": frozenset(),
    "chrt": frozenset(),
    "taskset": frozenset(),
    "caffeinate": frozenset(),
    "busybox": frozenset(),
    "strace": frozenset({"-o", "-e", "-p", "-s"}),
    "ltrace": frozenset({"-o", "-e", "-p"}),
    "torsocks": frozenset(),
    "proxychains": frozenset({"-f"}),
    "proxychains4": frozenset({"-f"}),
    "firejail": frozenset(),
    "catchsegv": frozenset(),
    "systemd-run": frozenset({"-u", "--unit", "-p", "--property"}),
    "runuser": frozenset({"-u", "-g", "-G", "--user", "--group"}),
    "noglob": frozenset(),
    "nocorrect": frozenset(),
    "coproc": frozenset(),
    "toybox": frozenset(),
    "unshare": frozenset(
        {"-S", "-G", "-R", "-w", "--setuid", "--setgid", "--root", "--wd", "--propagation",
         "--setgroups", "--map-user", "--map-group"}
    ),
    "nsenter": frozenset(
        {"-t", "--target", "-S", "--setuid", "-G", "--setgid", "--user-parent", "-Z"}
    ),
    "setpriv": frozenset(
        {"--reuid", "--regid", "--ruid", "--rgid", "--euid", "--egid", "--groups",
         "--inh-caps", "--ambient-caps", "--bounding-set", "--securebits", "--selinux-label",
         "--apparmor-profile", "--landlock-access", "--landlock-rule"}
    ),
    "gosu": frozenset(),
    "su-exec": frozenset(),
    "chpst": frozenset(
        {"-u", "-U", "-b", "-e", "-/", "-C", "-n", "-l", "-L", "-m", "-d", "-o", "-p", "-f",
         "-c", "-r", "-t"}
    ),
    "runcon": frozenset({"-t", "-u", "-r", "-l", "--type", "--user", "--role", "--range"}),
    "linux32": frozenset(),
    "linux64": frozenset(),
    "prlimit": frozenset({"-p", "--pid", "-o", "--output"}),
    "numactl": frozenset(
        {"-N", "-m", "-C", "-p", "-i", "--cpunodebind", "--membind", "--physcpubind",
         "--preferred", "--interleave"}
    ),
    "faketime": frozenset({"-p"}),
    "xvfb-run": frozenset(
        {"-n", "-s", "-e", "-f", "-p", "-w", "--server-num", "--server-args", "--error-file",
         "--auth-file", "--xauth-protocol", "--wait"}
    ),
    "dbus-launch": frozenset({"--config-file"}),
    "dbus-run-session": frozenset({"--config-file", "--dbus-daemon"}),
    "tini": frozenset({"-p", "-e"}),
    "dumb-init": frozenset({"-r", "--rewrite"}),
    "valgrind": frozenset(),
    "rlwrap": frozenset({"-f", "-H", "-l", "-p", "-P", "-s", "-S", "-z", "-e", "-m", "-w", "-o"}),
    "cgexec": frozenset({"-g"}),
    "entr": frozenset(),
    "expect_unbuffer": frozenset(),
}  # fmt: skip
_PARALLEL_VALUES = frozenset(
    {"-j", "--jobs", "-S", "--sshlogin", "--colsep", "-C", "-d", "--delimiter", "--arg-sep",
     "--arg-file-sep", "-a", "--arg-file", "-n", "-N", "-L", "--max-args", "--timeout",
     "--joblog", "--results", "--tmpdir", "-E", "-I", "--delay", "--retries", "--tag-string",
     "--halt", "--halt-on-error", "-P", "--max-procs", "--load", "--memfree", "--memsuspend",
     "--nice", "--sshloginfile", "--slf", "--workdir", "--wd", "--env", "--transferfile",
     "--tf", "--return", "--basefile", "--bf", "-s", "--max-chars", "--block", "--block-size",
     "--recstart", "--recend", "--header", "--limit", "--termseq", "--compress-program",
     "--decompress-program", "--ssh", "--sshdelay", "--semaphorename", "--id", "--profile",
     "-J", "--rpl", "--filter", "--tagstring", "--res", "--result", "--seqreplace",
     "--max-replace-args", "--max-lines", "--sqlmaster", "--sqlworker", "--sqlandworker",
     "--group-by", "--ctagstring", "--shard", "--bin", "--tmpl", "--template", "--bnr", "--dnr",
     "--er", "--st", "--bt", "--trc", "--match", "--parens", "--process-slot-var",
     "--slotreplace", "-W"}
)  # fmt: skip
_PARALLEL_STRING = re.compile(r"\s|[;&|<>$`(){}]")  # `parallel 'rm -rf {}'`: a shell command
_PARALLEL_REPLACE = re.compile(r"\{(?:\d*(?:/?\.|//?|))\}")  # {} {.} {/} {//} {/.} {2} {2.}


def _parallel_job(command: str, arg: str) -> str:
    """The line GNU parallel runs in a shell for `parallel 'COMMAND' ::: ARG`: each
    replacement string (`{}`, `{.}`, `{/}`, ...) made the argument (quoted), else the
    argument added at the end."""
    quoted = shlex.quote(arg)
    if _PARALLEL_REPLACE.search(command) is None:
        return f"{command} {quoted}"
    return _PARALLEL_REPLACE.sub(lambda m: quoted, command)


_WRAPPER_OPERANDS = {"chrt": 1, "taskset": 1, "gosu": 1, "su-exec": 1, "faketime": 1}
_ENV_VALUES = frozenset({"-u", "-C", "--unset", "--chdir"})
_ENV_SPLIT = r"-[i0v]*S(.+)|--split-string=(.+)|-[i0v]*S|--split-string"
"""env -S / --split-string: its value is a command line env splits into words."""
_TIMEOUT_VALUES = frozenset({"-s", "-k", "--signal", "--kill-after"})
_XARGS_VALUES = frozenset(
    {"-I", "-n", "-P", "-L", "-s", "-d", "-E", "-a", "--max-args", "--max-procs", "--delimiter",
     "--arg-file"}
)  # fmt: skip
_FLOCK_VALUES = frozenset({"-w", "--timeout", "-E", "--conflict-exit-code"})
"""Wrappers with a positional operand before the command (a priority, a CPU mask, a user,
a date)."""
_PRIV = {"sudo", "doas", "pkexec", "run0", "systemd-run", "runuser", "nsenter"}
_DROP_PRIV = frozenset({"gosu", "su-exec", "setpriv", "chpst"})
"""Wrappers that run a command as the user they name (docker entrypoints drop root with
them): privileged only when that user is root."""
_SHELLS = {
    "sh", "bash", "zsh", "dash", "ksh", "ash", "fish", "mksh", "csh", "tcsh", "rbash", "yash",
    "oksh", "posh", "bash5", "loksh", "pdksh",
}  # fmt: skip
_INTERPRETERS = {"python", "python2", "python3", "perl", "ruby", "node", "php", "lua"}
_PS_NAMES = {"powershell", "pwsh", "powershell.exe", "pwsh.exe"}
_RUNS_OTHERS = frozenset(
    {*_WRAPPERS, *_SHELLS, *_INTERPRETERS, "env", "eval", "source", "xargs", "command", "su",
     "timeout", "chroot", "flock", "script", "trap", "find", "ssh", "tmux", "screen", "pwsh",
     "powershell", "watch", "gdb", "setarch", "parallel", "start-stop-daemon", "sg", "capsh"}
)  # fmt: skip
"""Commands whose arguments or input are themselves code or a command."""
_SSH_ARG_OPTS = set("bcDEeFIiJLlmOopQRSWw")


def _strip_options(words: list[str], takes_arg: frozenset[str]) -> list[str]:
    """Drop a wrapper's own options; return its operand command."""
    i = 0
    while i < len(words):
        w = words[i]
        if w == "--":
            return words[i + 1 :]
        if not w.startswith("-") or w == "-":
            break
        if w in takes_arg:
            i += 2
            continue
        if len(w) > 2 and w[1] != "-" and "=" not in w:
            # a cluster (`-Eu root`, `-fe trace=none`): the first letter that takes a value
            # takes the rest of the cluster, or the next word when it is the last letter
            at = next((k for k in range(1, len(w)) if "-" + w[k] in takes_arg), None)
            i += 2 if at == len(w) - 1 else 1
            continue
        if "=" in w and w.startswith("--"):
            i += 1
            continue
        i += 1
    return words[i:]


def _is_number(w: str) -> bool:
    return bool(re.fullmatch(r"[+-]?\d+(\.\d+)?[smhd]?", w))


class _Base:
    shell = "bash"

    def __init__(
        self,
        command: str,
        depth: int = 0,
        via: str = "",
        privileged: bool = False,
        wrappers: tuple[str, ...] = (),
        remote: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.command = command
        self.depth = depth
        self.via = via
        self.privileged = privileged
        self.wrappers = wrappers
        self.remote = remote
        self.env = dict(env or {})
        self.out: list[Invocation] = []
        self.fork_bomb = False
        self.syntax_error = False
        self.too_deep = False
        self.undecodable: list[str] = []
        self.budget = [MAX_NESTED]  # nested parses left for this statement (shared with subs)
        # the words each command's walk computed, by (start, end, type) of the word node, with
        # the walk's serial: what `$(echo ...)` prints is read from the walk just done instead of
        # evaluating the words again (which doubled the work at each level of `$(echo $(...))`)
        self._serial = 0
        self._seen: dict[tuple[int, int, str], tuple[int, tuple[str, bool]]] = {}
        # words the grammar hung on a command's redirect (`rm 2>/dev/null -rf /etc`: `-rf`
        # and `/etc` are rm's arguments), by (start, end) of the command node
        self._trailing: dict[tuple[int, int], list[Any]] = {}
        # the values `code_var` read of an assignment's value nodes, by (start, end, type):
        # the assignment itself reads them from here (`PROMPT_COMMAND="$(...)"` walked once)
        self._code_words: dict[tuple[int, int, str], tuple[str, bool]] = {}
        self._code_nest = 0  # code variables' arrays being read around this point (MAX_DEPTH)
        # characters variables expanded to on this line, nested code included (MAX_EXPANDED)
        self._expanded = [0]

    def result(self) -> Parsed:
        return Parsed(
            self.shell,
            self.command,
            self.out,
            fork_bomb=self.fork_bomb,
            syntax_error=self.syntax_error,
            undecodable=self.undecodable,
            too_deep=self.too_deep,
        )

    def nested(
        self,
        text: str,
        shell: str,
        via: str,
        *,
        privileged: bool | None = None,
        remote: str | None = None,
        wrappers: tuple[str, ...] = (),
    ) -> list[Invocation]:
        """Parse code that this command would run, and add its invocations."""
        if self.depth >= MAX_DEPTH:
            self.undecodable.append(text[:80])
            self.too_deep = True
            return []
        if self.budget[0] <= 0:  # more nested code in one statement than any script writes
            self.undecodable.append(text[:80])
            self.too_deep = True
            return []
        if len(text) > MAX_CHARS:  # code built from expanded values, longer than a line may be
            self.undecodable.append(text[:80])
            self.too_deep = True
            return []
        self.budget[0] -= 1
        cls: type[_Base] = {"bash": _Bash, "powershell": _PowerShell, "cmd": _Cmd}[shell]
        sub = cls(
            text,
            depth=self.depth + 1,
            via=via,
            privileged=self.privileged if privileged is None else privileged,
            wrappers=self.wrappers + wrappers,
            remote=remote or self.remote,
            env=self.env if shell == self.shell else None,
        )
        sub.budget = self.budget
        sub._expanded = self._expanded
        res = sub.run()
        self.fork_bomb |= res.fork_bomb
        self.syntax_error |= res.syntax_error
        self.undecodable.extend(res.undecodable)
        self.too_deep |= res.too_deep
        self.out.extend(res.invocations)
        return res.invocations

    def run(self) -> Parsed:  # pragma: no cover - overridden
        raise NotImplementedError

    def parallel_job_files(
        self, rest: list[str], redirects: list[tuple[str, str]], privileged: bool
    ) -> None:
        """`parallel < jobs.txt`, `parallel -a jobs.txt`, `parallel :::: jobs.txt` with no
        command: each line of the file is a command, not known here (unsure, as `cat jobs.txt
        | parallel` is); a file this line wrote is read as the code it holds."""
        if "--dry-run" in rest or "--dryrun" in rest:
            return  # the jobs are printed, not run
        named = [
            rest[k + 1] for k in range(len(rest) - 1) if rest[k] in ("-a", "--arg-file", "::::")
        ]
        named += [w.split("=", 1)[1] for w in rest if w.startswith("--arg-file=")]
        fed = [dest for op, dest in redirects if _stdin_op(op, dest)]  # (read as `sh < f`)
        for f in [*fed, *named]:
            if f == "/dev/null":
                continue
            known = self.env.get(_file_key(f))
            if known is None:
                self.undecodable.append(f"parallel: the jobs in {f}"[:80])
                return
            if f not in fed:
                self.nested(known, "bash", "parallel -a", privileged=privileged)

    # Shared by all shells: peel Unix-style wrappers and follow nested code.
    def emit_unix(
        self,
        words: list[str],
        raw: str,
        redirects: list[tuple[str, str]],
        stdin_data: str | None = None,
        resolve_globs: bool = True,
    ) -> Invocation | None:
        privileged = self.privileged
        wrappers = self.wrappers
        from_stdin = False
        while words:
            copied = self.env.get(_BINARY + _path_key(words[0]))
            if copied is not None and "/" in words[0]:
                words = [copied, *words[1:]]  # cp /bin/rm x; ./x -rf /etc: x is rm
            name = _basename(words[0]).lower()
            if resolve_globs and has_glob(name) and name.strip("*"):
                # `[b]ash -c CODE`, `/bin/?h`, `s[u]do`: a pattern that can only be one of the
                # commands read here as running others is read as that command
                hits = sorted(c for c in _RUNS_OTHERS if glob_match(name, c))
                # (`python?`, `?ash`: whichever of one family the system has)
                if len(hits) == 1 or (
                    hits and any(all(h in fam for h in hits) for fam in (_SHELLS, _INTERPRETERS))
                ):
                    words = [hits[0], *words[1:]]
                    name = hits[0]
            rest = words[1:]
            if name in _WRAPPERS:
                own = rest[: len(rest) - len(_strip_options(rest, _WRAPPERS[name]))]
                if name == "sudo" and not _strip_options(rest, _WRAPPERS["sudo"]):
                    break  # `sudo -i` / `sudo -s`: a root shell, keep `sudo` itself
                if name == "sudo" and any(w in ("-l", "-v", "-k", "-K", "--list") for w in own):
                    break
                if name in _PRIV:
                    privileged = True
                elif name in _DROP_PRIV and _to_root(name, rest):
                    privileged = True  # gosu root CMD, setpriv --reuid=0 CMD, chpst -u root
                wrappers = (*wrappers, name)
                words = _strip_options(rest, _WRAPPERS[name])
                words = words[_WRAPPER_OPERANDS.get(name, 0) :]
                if (
                    name == "entr"
                    and any(
                        re.fullmatch(r"-[a-zA-Z]*s[a-zA-Z]*", w)
                        for w in rest[: len(rest) - len(words)]
                    )
                    and words
                ):
                    # entr -s 'CMD': a shell runs CMD on each change
                    self.nested(" ".join(words), "bash", "entr -s", privileged=privileged)
                    return None
                if name == "coproc" and len(words) > 1 and words[1] in ("{", "("):
                    words = words[2:]  # coproc NAME { ...; }: NAME names the coprocess
                elif name == "coproc" and words[:1] in (["{"], ["("]):
                    words = words[1:]
                continue
            if name == "env":
                wrappers = (*wrappers, name)
                i = 0
                while i < len(rest):
                    w = rest[i]
                    split = re.fullmatch(_ENV_SPLIT, w)  # -i -0 -v: no value
                    glued = (split.group(1) or split.group(2)) if split else None
                    if glued or (split and i + 1 < len(rest)):
                        # env -S'rm -rf /', -iS'FOO=1 rm ...', -vS 'CMD': env reads the split
                        # words as its own arguments again
                        payload = glued or rest[i + 1]
                        try:
                            more = shlex.split(payload)
                        except ValueError:
                            more = payload.split()
                        rest = more + rest[i + (1 if glued else 2) :]
                        i = 0
                        continue
                    if w in _ENV_VALUES or re.fullmatch(r"-[i0v]*[uC]", w):
                        i += 2  # env -u NAME, -iu NAME, -C DIR: the next word is the value
                        continue
                    var = re.match(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", w, re.S)
                    if var and var.group(1) in _CODE_VARS and var.group(2).strip():
                        # env GIT_SSH_COMMAND='CODE' git fetch: as a prefix assignment is
                        plain = re.fullmatch(r"[\w./+-]+", var.group(2).strip())
                        if not (var.group(1) in _PROGRAM_NAME_VARS and plain):
                            self.nested(
                                var.group(2), "bash", f"{var.group(1)}=", privileged=privileged
                            )
                        i += 1
                    elif w.startswith("-") or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", w):
                        i += 1
                    else:
                        words = rest[i:]
                        break
                else:
                    words = []
                if not words:
                    break  # `env A=1 > f`: no command, but the redirection still writes
                continue
            if name == "timeout":
                ops = _strip_options(rest, _TIMEOUT_VALUES)
                wrappers = (*wrappers, name)
                words = ops[1:] if ops and _is_number(ops[0]) else ops
                continue
            if name == "command" and rest and rest[0] not in ("-v", "-V"):
                wrappers = (*wrappers, name)
                words = _strip_options(rest, frozenset())
                continue
            if name == "xargs":
                words = _strip_options(rest, _XARGS_VALUES) or ["echo"]
                own = rest[: len(rest) - len(words)]
                repl = next(
                    (
                        own[k + 1]
                        if w == "-I"
                        else (w.split("=", 1)[1] if "=" in w else "{}")
                        if w.startswith("--replace")
                        else w[2:] or "{}"
                        for k, w in enumerate(own)
                        if (w == "-I" and k + 1 < len(own))
                        or re.fullmatch(r"-I.+|-i.*|--replace(=.*)?", w)
                    ),
                    None,
                )
                if repl and (
                    repl in words[0] or _basename(words[0]) in (*_SHELLS, *_INTERPRETERS, "eval")
                ):
                    # xargs -I{} {} -rf /etc, xargs -I{} sh -c '{}': the name or the code is
                    # what it reads (known only when run); `xargs -I{} rm {}` stays as it was
                    words = [w.replace(repl, "$XARGS_INPUT") for w in words]
                wrappers = (*wrappers, name)
                from_stdin = True
                if stdin_data is not None and not repl and not is_dynamic(stdin_data):
                    # xargs rm -rf <<< /etc: the words it reads are the arguments
                    words = [*words, *stdin_data.split()[:256]]
                    from_stdin = False
                continue
            if name in ("chroot",):
                privileged = True
                wrappers = (*wrappers, name)
                ops = _strip_options(rest, frozenset({"--userspec", "--groups"}))
                words = ops[1:] if ops else []
                if not words:
                    return None
                continue
            if name in _SHELLS and any(re.fullmatch(r"-[a-z]*n[a-z]*", w) for w in rest[:2]):
                return self.make(name, [], raw, redirects, privileged, wrappers, None, False)
            if name in _SHELLS or (
                name in ("busybox", "toybox") and rest[:1] and rest[0] in _SHELLS
            ):
                rest = [
                    x for w in rest for x in (["-c", w[10:]] if w.startswith("--command=") else [w])
                ]  # fish --command=CODE
                idx = _dash_c(rest)
                if idx is not None:
                    payload = _dash_c_code(rest, idx)
                    after = rest[rest.index(payload) + 1 :] if payload is not None else []
                    if payload is not None:
                        inv = self.make(
                            name, rest, raw, redirects, privileged, wrappers, stdin_data, from_stdin
                        )
                        if is_dynamic(payload) and re.search(
                            r"\b(curl|wget|fetch|iwr|irm)\b", payload
                        ):
                            return inv  # `sh -c "$(curl ...)"`: the rules see the payload
                        # sh -c 'rm -rf "$1"' _ /etc: the words after the code are $0, $1, ...
                        saved = {k: self.env.get(k) for k in (*_POSITIONAL, "\x00positional")}
                        if len(after) > 1 and not any(is_dynamic(w) for w in after[1:]):
                            self.env["@"] = self.env["*"] = " ".join(after[1:])
                            self.env[_ARGC] = str(len(after) - 1)
                            self.env[_ARGV] = "\x1f".join(after[1:])[:MAX_VALUE]
                            for pos in range(1, 10):
                                self.env[str(pos)] = after[pos] if pos < len(after) else ""
                        try:
                            self.nested(
                                payload,
                                "bash",
                                f"{name} -c",
                                privileged=privileged,
                                wrappers=(*wrappers, name),
                            )
                        finally:
                            for k, v in saved.items():
                                if v is None:
                                    self.env.pop(k, None)
                                else:
                                    self.env[k] = v
                        return None
                break
            if name == "flock" and rest:
                ops = _strip_options(rest, _FLOCK_VALUES)
                if len(ops) >= 2 and ops[1] in ("-c", "--command") and len(ops) >= 3:
                    self.nested(
                        ops[2],
                        "bash",
                        "flock -c",
                        privileged=privileged,
                        wrappers=(*wrappers, name),
                    )
                    return None
                words = ops[1:]
                wrappers = (*wrappers, name)
                continue
            if name == "watch" and rest:
                # watch runs its words joined through `sh -c` (not with -x / --exec)
                ops = _strip_options(rest, frozenset({"-n", "--interval", "-q", "--equexit"}))
                wrappers = (*wrappers, name)
                if any(
                    re.fullmatch(r"-[a-zA-Z]*x[a-zA-Z]*|--exec", w)
                    for w in rest[: len(rest) - len(ops)]
                ):
                    words = ops
                    continue
                if ops:
                    self.nested(
                        " ".join(ops), "bash", "watch", privileged=privileged, wrappers=wrappers
                    )
                return self.make(
                    name, rest, raw, redirects, privileged, wrappers[:-1], None, from_stdin
                )
            if name in ("gdb", "cgdb") and "--args" in rest:  # gdb -batch -ex run --args CMD
                words = rest[rest.index("--args") + 1 :]
                wrappers = (*wrappers, name)
                continue
            if name == "setarch" and rest:  # setarch ARCH [options] CMD
                words = _strip_options(rest[1:], frozenset({"--uname-2.6"}))
                wrappers = (*wrappers, name)
                continue
            if name == "parallel":
                # --compress-program PROG, --decompress-program PROG: a shell runs PROG too
                opts = rest[: len(rest) - len(_strip_options(rest, _PARALLEL_VALUES))]
                for at_opt, opt in enumerate(opts):
                    flag, eq, val = opt.partition("=")
                    if flag in ("--compress-program", "--decompress-program"):
                        packer = val if eq else opts[at_opt + 1] if at_opt + 1 < len(opts) else ""
                        if packer.strip():
                            self.nested(
                                packer, "bash", name, privileged=privileged, wrappers=wrappers
                            )
            if name == "parallel" and ":::" in rest:
                # parallel CMD ::: ARGS runs CMD ARG per argument; with no CMD each ARG is code
                sep = rest.index(":::")
                cmd = _strip_options(rest[:sep], _PARALLEL_VALUES)
                args = [w for w in rest[sep + 1 :] if w not in (":::", "::::")]
                wrappers = (*wrappers, name)
                if not cmd:
                    for job in args[:16]:
                        self.nested(
                            job, "bash", "parallel", privileged=privileged, wrappers=wrappers
                        )
                    return None
                if len(cmd) == 1 and _PARALLEL_STRING.search(cmd[0]):
                    # parallel 'rm -rf {}' ::: /etc: a shell runs the string, each argument in
                    # it (as `sh -c 'rm -rf /etc'`); the command itself is still read below,
                    # so its own redirects and privilege count (`... ::: a > /etc/passwd`)
                    for arg in (args or [""])[:16]:
                        self.nested(
                            _parallel_job(cmd[0], arg),
                            "bash",
                            "parallel",
                            privileged=privileged,
                            wrappers=wrappers,
                        )
                words = [*cmd, *args]
                continue
            if (
                name == "parallel"
                and "::::" in rest
                and ":::" not in rest
                and not _strip_options(rest[: rest.index("::::")], _PARALLEL_VALUES)
            ):
                # parallel :::: jobs.txt, :::: <(echo CODE), :::: - (the input): with no command
                # each line is a job, as with `-a FILE`
                at = rest.index("::::")
                files = [w for w in rest[at + 1 :] if w != "::::"]
                rest = [*rest[:at], *(x for f in files for x in ("-a", f))]
            if name == "parallel" and ":::" not in rest and "::::" not in rest:
                # echo /etc | parallel rm -rf: the arguments come from its input, as xargs's
                words = _strip_options(rest, _PARALLEL_VALUES)
                if not words:
                    self.parallel_job_files(rest, redirects, privileged)
                wrappers = (*wrappers, "xargs")
                from_stdin = bool(words)
                words = words or ["sh"]  # no command: each input line is one, run by a shell
                if len(words) == 1 and _PARALLEL_STRING.search(words[0]):
                    # find / | parallel 'rm -rf {}': a shell runs it, as `xargs sh -c 'rm ...'`
                    # (nested, so that the command itself, with its redirects, is read too)
                    self.nested(
                        words[0],
                        "bash",
                        "parallel",
                        privileged=privileged,
                        wrappers=wrappers,
                    )
                continue
            if name == "start-stop-daemon":
                # start-stop-daemon --start --exec PROG -- ARGS: PROG runs with ARGS
                prog = next(
                    (
                        rest[k + 1]
                        for k, w in enumerate(rest[:-1])
                        if w in ("--exec", "-x", "--startas", "-a")
                    ),
                    None,
                ) or next(
                    (w.split("=", 1)[1] for w in rest if re.match(r"--(exec|startas)=", w)), None
                )
                if prog is not None and "--stop" not in rest and "-K" not in rest:
                    tail = rest[rest.index("--") + 1 :] if "--" in rest else []
                    words = [prog, *tail]
                    wrappers = (*wrappers, name)
                    continue
            if name in ("sg", "capsh") and "-c" in rest:
                # sg GROUP -c CMD, capsh ... -- -c CMD: a shell runs CMD
                at_c = len(rest) - 1 - rest[::-1].index("-c")
                if at_c + 1 < len(rest):
                    self.nested(
                        rest[at_c + 1],
                        "bash",
                        f"{name} -c",
                        privileged=privileged,
                        wrappers=(*wrappers, name),
                    )
                    return None
            if name in ("npx", "bunx", "pnpx") or (
                name in ("pnpm", "yarn", "bun", "npm") and rest[:1] in (["dlx"], ["exec"], ["x"])
            ):
                # npx rimraf /etc: a package's command; rimraf and del-cli delete
                ops = rest[1:] if name not in ("npx", "bunx", "pnpx") else rest
                call = next(
                    (ops[k + 1] for k, w in enumerate(ops[:-1]) if w in ("-c", "--call")), None
                ) or next((w.split("=", 1)[1] for w in ops if w.startswith("--call=")), None)
                if call:  # npx -c 'CMD': a shell runs CMD
                    self.nested(call, "bash", f"{name} -c", privileged=privileged)
                    return None
                ops = _strip_options(ops, frozenset({"-p", "--package"}))
                if ops:
                    ops = [re.sub(r"(?<=.)@[^/]*$", "", ops[0]), *ops[1:]]  # rimraf@latest
                if ops and ops[0] == "shx" and len(ops) > 1:  # npx shx rm -rf /etc
                    words = ops[1:]
                    wrappers = (*wrappers, name)
                    continue
                if ops and ops[0] in ("rimraf", "del-cli", "trash-cli", "del"):
                    words = (
                        ["rm", "-rf", *ops[1:]] if ops[0] != "trash-cli" else ["trash", *ops[1:]]
                    )
                    wrappers = (*wrappers, name)
                    continue
            if (
                name == "sg"
                and len(rest) == 2
                and not rest[0].startswith("-")
                and rest[0] not in ("run", "scan", "test", "new", "lsp", "completions", "help")
                and " " in rest[1]
            ):  # sg GROUP 'CMD' (not ast-grep's sg)
                self.nested(
                    rest[1], "bash", "sg", privileged=privileged, wrappers=(*wrappers, name)
                )
                return None
            if name == "repeat" and rest and rest[0].isdigit():
                words = rest[1:]
                wrappers = (*wrappers, name)
                continue
            if name.startswith("=") and len(name) > 1:  # zsh `=rm`: the command's path
                words = [name[1:], *rest]
                continue
            if name in ("script", "screen", "tmux", "at", "batch"):
                later = _detached_payload(name, rest, stdin_data)
                if later:
                    self.nested(
                        later, "bash", name, privileged=privileged, wrappers=(*wrappers, name)
                    )
                    return self.make(
                        name, rest, raw, redirects, privileged, wrappers, None, from_stdin
                    )
            if name == "eval":
                self.nested(
                    " ".join(rest), "bash", "eval", privileged=privileged, wrappers=wrappers
                )
                return None
            if name == "trap":  # trap 'CODE' SIGNAL...: the code runs on the signal or at exit
                code = [w for w in rest if not re.fullmatch(r"-[lp]|--", w)][:1]
                if code and code[0] not in ("", "-") and len(rest) > 1:
                    self.nested(code[0], "bash", "trap", privileged=privileged, wrappers=wrappers)
                return None
            if name == "su" and (su_code := _su_command(rest)) is not None:
                self.nested(su_code, "bash", "su -c", privileged=True, wrappers=(*wrappers, "su"))
                return None
            if name == "ssh":
                host, cmd = _ssh_split(rest)
                if host and cmd:
                    self.nested(
                        " ".join(cmd),
                        "bash",
                        "ssh",
                        remote=host,
                        privileged=False,
                        wrappers=(*wrappers, "ssh"),
                    )
                    return self.make(
                        "ssh", rest, raw, redirects, privileged, wrappers, stdin_data, from_stdin
                    )
                break
            if name in ("find", "fd") and any(
                w in ("-exec", "-execdir", "-ok", "-okdir", "-x", "-X", "--exec", "--exec-batch")
                for w in rest
            ):
                self._find_exec(rest, raw, privileged, wrappers)
                words = [words[0], *_drop_exec(rest)]
                break
            if name in _PS_NAMES:
                self._powershell_cli(rest, privileged, wrappers)
                return None
            break
        if not words:
            if (
                redirects and wrappers
            ):  # `exec 3<>/dev/tcp/host/port`: the redirections are the command
                return self.make(
                    wrappers[-1],
                    [],
                    raw,
                    redirects,
                    privileged,
                    wrappers[:-1],
                    stdin_data,
                    from_stdin,
                )
            return None
        for via, run in _option_code(_basename(words[0]).lower(), words[1:])[:8]:
            # ssh -o ProxyCommand=CMD, git -c core.pager=CMD, less +!CMD ...: CMD runs here
            self.nested(run, "bash", via, privileged=privileged, wrappers=wrappers)
        return self.make(
            words[0], words[1:], raw, redirects, privileged, wrappers, stdin_data, from_stdin
        )

    def _find_exec(
        self, rest: list[str], raw: str, privileged: bool, wrappers: tuple[str, ...]
    ) -> None:
        target, filtered = find_target(rest)
        # find / -name '*.conf' -exec rm {}: the root is at stake too; the command gets both
        root = _root_at_stake(target)
        i = 0
        while i < len(rest):
            if rest[i] in (
                "-exec",
                "-execdir",
                "-ok",
                "-okdir",
                "-x",
                "-X",
                "--exec",
                "--exec-batch",
            ):
                j = i + 1
                cmd: list[str] = []
                while j < len(rest) and rest[j] not in (";", "+", "\\;"):
                    cmd.append(rest[j])
                    j += 1
                cmd = [w.replace("{}", target) for w in cmd]  # of={} -> of=/dev/sda
                if (
                    root is not None
                    and any("{}" in w for w in rest[i + 1 : j])
                    and {_basename(w) for w in cmd[:3]} & _FIND_DESTROYERS
                ):
                    cmd.append(root)
                if cmd:
                    before = len(self.out)
                    sub = _Base.__new__(type(self))
                    _Base.__init__(
                        sub,
                        "",
                        self.depth + 1,
                        "find -exec",
                        privileged,
                        (*wrappers, "find"),
                        self.remote,
                        self.env,
                    )
                    sub.budget = self.budget
                    sub._expanded = self._expanded
                    inv = sub.emit_unix(cmd, raw, [])
                    self.out.extend(sub.out)
                    if inv is not None:
                        if root is not None and inv.name in _FIND_PERMS:
                            inv.at_stake = root
                        self.out.append(inv)
                    for x in self.out[before:]:
                        x.filtered = filtered
                i = j + 1
            else:
                i += 1

    def _powershell_cli(self, rest: list[str], privileged: bool, wrappers: tuple[str, ...]) -> None:
        """`powershell [-NoProfile] -Command ...` / `-EncodedCommand B64` from any shell."""
        i = 0
        while i < len(rest):
            w = rest[i]
            lw = w.lower()
            key = lw.lstrip("-/")
            if key and (key in ("e", "ec") or (len(key) >= 2 and "encodedcommand".startswith(key))):
                if i + 1 < len(rest):
                    raw = _b64(rest[i + 1])
                    try:
                        text = raw.decode("utf-16-le") if raw is not None else None
                    except UnicodeDecodeError:
                        text = None
                    if text is None:
                        self.undecodable.append(rest[i + 1][:80])
                    else:
                        self.nested(
                            text, "powershell", "encoded", privileged=privileged, wrappers=wrappers
                        )
                return
            if (
                key
                and lw[0] in "-/"
                and (key == "c" or ("command".startswith(key) and len(key) >= 3))
            ):
                self.nested(
                    " ".join(rest[i + 1 :]),
                    "powershell",
                    "powershell -Command",
                    privileged=privileged,
                    wrappers=wrappers,
                )
                return
            if lw in ("-file", "-f"):
                script = (
                    self.env.get("\x00file:" + ntpath.basename(rest[i + 1]).lower())
                    if (i + 1 < len(rest))
                    else None
                )
                if script is not None:  # powershell -File x.ps1, x.ps1 written on this line
                    self.nested(script, "powershell", "powershell -File", privileged=privileged)
                self.out.append(
                    Invocation(
                        self.shell,
                        "powershell",
                        rest,
                        " ".join(rest),
                        privileged,
                        wrappers,
                        depth=self.depth,
                        via=self.via,
                        remote=self.remote,
                    )
                )
                return
            if lw.startswith("-"):
                takes = (
                    "-executionpolicy",
                    "-ep",
                    "-ex",
                    "-exec",
                    "-windowstyle",
                    "-w",
                    "-win",
                    "-version",
                    "-v",
                    "-inputformat",
                    "-outputformat",
                    "-configurationname",
                    "-workingdirectory",
                    "-wd",
                )
                i += 2 if lw in takes else 1
                continue
            self.nested(
                " ".join(rest[i:]),
                "powershell",
                "powershell -Command",
                privileged=privileged,
                wrappers=wrappers,
            )
            return

    def make(
        self,
        name: str,
        args: list[str],
        raw: str,
        redirects: list[tuple[str, str]],
        privileged: bool,
        wrappers: tuple[str, ...],
        stdin_data: str | None,
        from_stdin: bool,
    ) -> Invocation:
        canon = _basename(name).lower()
        if canon.endswith(".exe"):
            canon = canon[:-4]
        versioned = re.fullmatch(
            r"(python[23]?|perl|ruby|php|node|lua)(\.\d[\d.]*|\d[\d.]*)", canon
        )
        if versioned and canon not in ("python2", "python3"):
            canon = versioned.group(1)  # python3.11, perl5.36, php8.2: the interpreter
        return Invocation(
            shell=self.shell,
            name=canon,
            args=list(args),
            raw=raw,
            privileged=privileged,
            wrappers=wrappers,
            redirects=list(redirects),
            depth=self.depth,
            via=self.via,
            remote=self.remote,
            args_from_stdin=from_stdin,
            stdin_data=stdin_data,
            cwd=self.env.get("\x00cwd"),
        )


_FIND_FILTERS = frozenset(
    {
        "-name", "-iname", "-path", "-ipath", "-regex", "-iregex", "-newer", "-mtime", "-mmin",
        "-atime", "-size", "-user", "-perm", "-empty", "-e", "--extension", "-g", "--glob",
        "-nouser", "-nogroup", "-group", "-uid", "-gid", "-inum", "-samefile", "-links",
        "-amin", "-cmin", "-ctime", "-used", "-lname", "-ilname", "-wholename", "-iwholename",
        "-fstype", "-context",
    }
)  # fmt: skip


_FIND_DESTROYERS = frozenset({"rm", "shred", "unlink", "srm", "wipe", "truncate"})
"""Commands whose `find -exec` use puts everything below find's root at stake."""
_FIND_PERMS = frozenset({"chmod", "chown", "chgrp", "setfacl", "chattr"})
"""Commands whose `find -exec` use changes permissions or owners throughout find's root: the
root is recorded as `at_stake` (graded apart, never lowering what the files grade)."""


def _root_at_stake(target: str) -> str | None:
    """The root of find's ROOT/PAT target when it is absolute (or ~) and grades higher than
    the target: find recurses, so a deleting command puts everything below it at stake (as
    `find ROOT -delete` does)."""
    root = target.rsplit("/", 1)[0] or "/"
    if root.startswith(("/", "~")) and severity(grade(root)) > severity(grade(target)):
        return root
    return None


_ARITH_TOKEN = re.compile(
    r"[ \t]*(?:(?P<num>[0-9]+#[0-9a-zA-Z]+|0[xX][0-9a-fA-F]+|[0-9]+)|(?P<op>[-+*/%()]))"
)
_INT64 = 1 << 64


def _wrap(v: int) -> int:
    """Bash arithmetic is signed 64-bit: values wrap around."""
    return (v + (1 << 63)) % _INT64 - (1 << 63)


def _slice_number(text: str) -> int | None:
    """A slice's offset or length: an integer, negative too (`-3`, `(-3)`), or `_arith`'s
    reading of a literal expression; None when bash would compute it from variables."""
    t = text.strip()
    t = t[1:-1].strip() if t.startswith("(") and t.endswith(")") else t
    if t == "":
        return 0
    m = re.fullmatch(r"([-+]?)(\d{1,9})", t)
    if m is None:
        return _arith(t)
    digits = m.group(2)
    if len(digits) > 1 and digits.startswith("0"):  # bash reads 010 as octal
        if re.search(r"[89]", digits):
            return None
        value = int(digits, 8)
    else:
        value = int(digits)
    return -value if m.group(1) == "-" else value


def _arith(text: str) -> int | None:
    """An indexed array's subscript as bash computes it, when it is made of integer literals
    (decimal, 0x hex, 0 octal, base#n for bases 2-36), + - * / % and parentheses; None for
    anything else: a variable (its value on this line may be stale: `let`, `(( ))`, `read`,
    `for` and subshells change it), `++`/`--`, an assignment, a negative result (it counts
    from the end) or more than 64 characters."""
    if len(text) > 64 or "++" in text or "--" in text:
        return None
    toks: list[int | str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _ARITH_TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            return None
        pos = m.end()
        if m.group("num"):
            v = _arith_number(m.group("num"))
            if v is None:
                return None
            toks.append(v)
        else:
            toks.append(m.group("op"))
    out = _arith_expr(toks)
    return out if out is not None and out >= 0 else None


def _arith_number(word: str) -> int | None:
    """A bash integer literal (wrapped to 64 bits), or None where bash reports an error."""
    if "#" in word:
        base, digits = word.split("#", 1)
        b = int(base)
        if not 2 <= b <= 36:  # bash's 37..64 use @ and _: not followed
            return None
        v = 0
        for c in digits:  # int() would accept `_` and a 0x prefix, which bash refuses
            d = int(c, 36)  # the token is ASCII letters and digits
            if d >= b:
                return None
            v = v * b + d
        return _wrap(v)
    if word[:2] in ("0x", "0X"):
        return _wrap(int(word, 16))
    if len(word) > 1 and word[0] == "0":
        return _wrap(int(word, 8)) if all(c in "01234567" for c in word) else None
    return _wrap(int(word))


def _arith_expr(toks: list[int | str]) -> int | None:
    """Evaluate integer tokens with + - * / % ( ) and unary +/-, bash precedence and signed
    64-bit wrap-around; None when malformed or dividing by zero. Division and remainder
    truncate toward zero, as in C."""
    pos = 0

    def atom(depth: int) -> int | None:
        nonlocal pos
        if pos >= len(toks) or depth > 64:
            return None
        t = toks[pos]
        pos += 1
        if t in ("+", "-"):
            v = atom(depth + 1)
            return None if v is None else (v if t == "+" else _wrap(-v))
        if t == "(":
            v = expr(depth + 1)
            if v is None or pos >= len(toks) or toks[pos] != ")":
                return None
            pos += 1
            return v
        return t if isinstance(t, int) else None

    def term(depth: int) -> int | None:
        nonlocal pos
        v = atom(depth)
        while v is not None and pos < len(toks) and toks[pos] in ("*", "/", "%"):
            op = toks[pos]
            pos += 1
            w = atom(depth)
            if w is None or (op != "*" and w == 0):
                return None
            if op == "*":
                v = _wrap(v * w)
            else:
                q = abs(v) // abs(w) * (1 if (v >= 0) == (w >= 0) else -1)
                v = _wrap(q) if op == "/" else _wrap(v - q * w)
        return v

    def expr(depth: int) -> int | None:
        nonlocal pos
        v = term(depth)
        while v is not None and pos < len(toks) and toks[pos] in ("+", "-"):
            op = toks[pos]
            pos += 1
            w = term(depth)
            if w is None:
                return None
            v = _wrap(v + w if op == "+" else v - w)
        return v

    out = expr(0)
    return out if pos == len(toks) else None


def _unquote_key(sub: str) -> str:
    """An associative array's key as written in ${a[KEY]}: quotes removed."""
    if len(sub) >= 2 and sub[0] == sub[-1] and sub[0] in "'\"":
        return sub[1:-1]
    return sub


def find_roots(args: Sequence[str]) -> list[str]:
    """The folders `find` walks: the words before its expression, after its global options
    (`-H`, `-L`, `-P`, `-D OPTS`, `-O LEVEL`); none given means `.`, said by an empty list."""
    k = 0
    while k < len(args) and (args[k] in ("-H", "-L", "-P") or args[k][:2] in ("-D", "-O")):
        k += 2 if args[k] in ("-D", "-O") else 1
    if args[k : k + 1] == ["--"]:
        k += 1
    roots = []
    for w in args[k:]:
        if w.startswith("-") or w in ("(", "!"):
            break
        roots.append(w)
    return roots


def find_target(args: Sequence[str]) -> tuple[str, bool]:
    """What a `find` (or `fd`) with these arguments names, as one path pattern (the root
    that grades worst - `find /tmp /etc ...` is about /etc - joined with its -name pattern),
    and whether a filter limits the files it matches: the target of `find ... -exec CMD {}`
    and of `find ... | xargs CMD`."""
    roots = find_roots(args)
    root = max(roots, key=lambda r: severity(grade(r)), default=".")  # the first of equals
    filtered = any(
        (w in _FIND_FILTERS or re.fullmatch(r"-newer[aBcmt]{2}", w))
        # (`-name '*'`, `-path '*'`: every file still)
        and not (
            w in ("-name", "-iname", "-path", "-ipath", "-wholename")
            and args[k + 1 : k + 2] == ["*"]
        )
        for k, w in enumerate(args)
    )
    name_pat = next(
        (args[k + 1] for k in range(len(args) - 1) if args[k] in ("-name", "-iname")), "*"
    )
    return root.rstrip("/") + "/" + name_pat, filtered


def _xargs_from_find(inv: Invocation, find: Invocation, execs: bool = False) -> None:
    """`find ./logs -name P | xargs rm`: rm gets what find prints, as `find -exec` would: the
    flat ROOT/PAT, and for a deleting command the root too where the root grades higher
    (find recurses: `find / -name '*.conf' | xargs rm` puts all of / at stake). From an
    absolute root whose stake grades no higher than "unknown", the targets stay unknown (a
    flat ROOT/PAT would grade a key folder's files lower)."""
    target, filtered = find_target(find.args)
    if is_dynamic(target) or execs:
        return  # `find ... -exec grep -l X {} \; | xargs rm`: the list is what grep printed
    root = _root_at_stake(target) if inv.name in _FIND_DESTROYERS else None
    if inv.name in _FIND_PERMS:
        inv.at_stake = _root_at_stake(target) or ""
    if target.startswith(("/", "~")) and max(
        severity(grade(target)), severity(grade(root)) if root else 0
    ) <= severity("unknown"):
        return  # an absolute root: "targets unknown" unless what is at stake grades higher
    inv.filtered = filtered
    if any("{}" in a for a in inv.args):
        inv.args = [a.replace("{}", target) for a in inv.args]
    else:
        inv.args.append(target)
    if root is not None:
        inv.args.append(root)


def sed_operands(args: list[str]) -> tuple[list[str], list[str]]:
    """A sed command line's scripts (every -e/--expression value, else the first operand) and
    the files it reads (the other operands; none: it reads its input)."""
    scripts: list[str] = []
    operands: list[str] = []
    k = 0
    while k < len(args):
        a = args[k]
        if a in ("-e", "--expression") and k + 1 < len(args):
            scripts.append(args[k + 1])
            k += 2
            continue
        if a.startswith("--expression="):
            scripts.append(a.split("=", 1)[1])
        elif a in ("-f", "--file", "-l", "--line-length") and k + 1 < len(args):
            k += 1
        elif not a.startswith("-"):
            operands.append(a)
        k += 1
    if scripts or not operands:
        return scripts, operands
    return operands[:1], operands[1:]


_SED_ADDR = r"(?:\d+(?:~\d+)?|\$|/(?:[^/\\]|\\.)*/[IM]*|\\%[^%\n]*%[IM]*)"
_SED_AT = rf"(?:^|[;\n{{}}])\s*(?:{_SED_ADDR}(?:\s*,\s*(?:{_SED_ADDR}|[+~]\d+))?\s*)?(?:!\s*)?"
"""Where a sed command starts: after a separator, an optional address (range) and `!`."""
SED_EXEC = re.compile(  # GNU sed's `e COMMAND`: runs COMMAND (a bare `e`: the pattern space)
    _SED_AT + r"e(?:[ \t]+([^\n;}]*)|(?=\s*(?:$|[;\n}])))"
)
SED_S_EXEC = re.compile(_SED_AT + r"s([^\w\s\\])(?:(?!\1).)*\1(?:(?!\1).)*\1[gpiImM0-9w]*e")


STDIN_PATHS = frozenset({"/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"})
"""Paths a shell given them as its script reads its own input from."""

_FD_PATH = re.compile(
    r"/dev/fd/(\d+|\$\{?[A-Za-z_]\w*\}?)"
    r"|/proc/(?:self|thread-self|\$\$|\$\{\$\}|\$\{?BASHPID\}?)/fd/(\d+|\$\{?[A-Za-z_]\w*\}?)"
)


def _fd_of_path(path: str) -> str | None:
    """The descriptor a path names (`/dev/fd/3`, `/proc/self/fd/3`, `/proc/$$/fd/3`,
    `/dev/fd//3`, `/proc/self/fd/./3`: 3; `/dev/fd/$fd`: `$fd`), or None for any other path."""
    if "fd/" not in path:
        return None
    m = _FD_PATH.fullmatch(_squash_path(path))
    return None if m is None else (m.group(1) or m.group(2))


def _squash_path(path: str) -> str:
    """`path` with runs of `/` and `/./` made one `/` (`/dev/fd//3`, `/proc/self/fd/./3`)."""
    return re.sub(r"/(?:\.?/)+", "/", path)


def is_stdin_path(path: str) -> bool:
    """A path that names the reader's own input (`/dev/stdin`, `/dev/fd/0`, `/proc/$$/fd/0`)."""
    return (
        path in STDIN_PATHS
        or _fd_of_path(path) == "0"
        or (path.startswith("/") and _squash_path(path) == "/dev/stdin")
    )


def shell_script(args: Sequence[str]) -> str | None:
    """The script a POSIX shell run with `args` reads (not -c): its first operand after the
    options (`-o pipefail`, `-euxo pipefail`, `-O extglob`, `--rcfile F` take a value; `--`
    or `-` ends them), or None when it reads its input (no operand, or `-s`: the operands
    are then the positional parameters)."""
    i, reads_input = _shell_operand(args)
    return None if reads_input or i >= len(args) else args[i]


def _shell_operand(args: Sequence[str], start: int = 0) -> tuple[int, bool]:
    """Where a shell's first operand is (from `start`: past its options, `-o NAME` / `-O NAME`
    / `--rcfile F` with their value, and a `--` or `-` that ends them), and whether an `-s`
    came before it."""
    i, reads_input = start, False
    while i < len(args):
        a = args[i]
        if a in ("--", "-"):
            return i + 1, reads_input
        if a in ("--rcfile", "--init-file") or re.fullmatch(r"[-+][a-zA-Z]*[oO]", a):
            i += 2
            continue
        if a[:1] in ("-", "+") and len(a) > 1:
            reads_input = reads_input or (not a.startswith("--") and "s" in a[1:])
            i += 1
            continue
        break
    return i, reads_input


def _dash_c(args: Sequence[str]) -> int | None:
    """Where a shell's `-c` (alone or in a cluster: `-ec`, `-Ec`) is among its options."""
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("--", "-") or not a.startswith(("-", "+")):
            return None
        if not a.startswith("--") and a.startswith("-") and "c" in a[1:]:
            return i
        takes_value = a in ("--rcfile", "--init-file") or re.fullmatch(r"[-+][a-zA-Z]*[oO]", a)
        i += 2 if takes_value else 1
    return None


def _dash_c_code(args: Sequence[str], idx: int) -> str | None:
    """The code of `sh -c [OPTIONS] [--] CODE`: the first operand after the -c cluster."""
    i, _ = _shell_operand(args, idx + 1 + sum(1 for ch in args[idx][1:] if ch in "oO"))
    return args[i] if i < len(args) else None  # (-co pipefail CODE: o's value first)


def _su_command(args: Sequence[str]) -> str | None:
    """The command of `su [OPTIONS] [USER] -c CMD` (`-lc CMD`, `--command=CMD`), or None."""
    for k, w in enumerate(args):
        if w.startswith(("--command=", "--session-command=")):
            return w.split("=", 1)[1]
        if w in ("-c", "--command", "--session-command") or re.fullmatch(r"-[a-zA-Z]*c", w):
            return args[k + 1] if k + 1 < len(args) else None
    return None


def _root_shell(inv: Invocation) -> bool:
    """`su [USER]` (no -c) or `sudo -s` / `sudo -i` with no command: a shell as another user
    (root by default), reading its commands from its input."""
    if inv.name == "su":
        return _su_command(inv.args) is None
    if inv.name in ("sudo", "doas", "run0"):
        return any(
            a in ("--shell", "--login") or re.fullmatch(r"-[a-zA-Z]*[si][a-zA-Z]*", a)
            for a in inv.args
        )
    return False


def _shell_reading(dest: str) -> bool:
    """Whether a redirect or tee target `>(CMD)` is a shell that runs what it reads."""
    if not (dest.startswith(">(") and dest.endswith(")")) or len(dest) > 4096:
        return False
    if getattr(_local, "shell_reading", False):
        return False  # >( >( ... ) ): the outer one is read; not each level again
    _local.shell_reading = True
    try:
        inner = parse(dest[2:-1], "bash")  # >(sh 2>/dev/null), >(sudo sh), >(cat | sh)
    finally:
        _local.shell_reading = False
    return any(runs_input(i) for i in inner.invocations)


def _to_root(name: str, rest: Sequence[str]) -> bool:
    """Whether gosu/su-exec/setpriv/chpst run their command as root (or as a user known only
    when the line runs)."""
    if name in ("gosu", "su-exec"):
        user = next((w for w in rest if not w.startswith("-")), "")
        users = [user]
    elif name == "setpriv":
        users = [w.split("=", 1)[1] for w in rest if re.match(r"--(re|r|e)uid=", w)]
        users += [
            rest[k + 1] for k, w in enumerate(rest[:-1]) if w in ("--reuid", "--ruid", "--euid")
        ]
    else:  # chpst -u USER[:GROUP], -uUSER, -u :UID:GID
        users = [rest[k + 1] for k, w in enumerate(rest[:-1]) if w in ("-u", "-U")]
        users += [w[2:] for w in rest if re.fullmatch(r"-[uU].+", w)]
    # (a user known only when run is the entrypoint's app user, as a rule: not root)
    return any(re.fullmatch(r"(root|0+)(:\S*)?|:0+(:\S*)?", u) is not None for u in users)


def _awk_program(args: Sequence[str]) -> str:
    """awk's program text: the first operand after its options (-v x=1, -F :, -f FILE take a
    value; with -f the program is in a file: none here)."""
    k = 0
    while k < len(args):
        a = args[k]
        if a == "--":
            k += 1
            break
        if a in (
            "-v",
            "-F",
            "-f",
            "--assign",
            "--field-separator",
            "-i",
            "-l",
            "-E",
            "--file",
            "-W",
        ):
            if a in ("-f", "--file", "-E"):
                return ""
            k += 2
            continue
        if not a.startswith("-") or a == "-":
            break
        k += 1
    return args[k] if k < len(args) else ""


def _input_remote(inv: Invocation) -> str | None:
    """The host of `ssh HOST` (or `ssh HOST bash`, `ssh HOST sh -s`) whose remote shell reads
    its commands from ssh's input; None otherwise."""
    if inv.name != "ssh":
        return None
    host, cmd = _ssh_split(inv.args)
    if not host:
        return None
    if not cmd:
        return host
    first = cmd[0].split()  # `ssh host 'bash -s'`: one word holding the remote command
    words = [*first, *cmd[1:]]
    runs = _basename(words[0]) in _SHELLS and _dash_c(words[1:]) is None
    return host if runs and shell_script(words[1:]) is None else None


_CONTAINER_VALUES = frozenset(
    {"-e", "--env", "-u", "--user", "-w", "--workdir", "--env-file", "--detach-keys", "--index",
     "-c", "--container", "-n", "--namespace", "--context", "--kubeconfig", "--cluster",
     "--pod-running-timeout", "-H", "--host", "--config", "-l", "--log-level", "-f", "--file",
     "-p", "--project-name", "--profile", "--project-directory", "-s", "--server", "--as",
     "--token", "--tlscacert", "--tlscert", "--tlskey"}
)  # fmt: skip
"""Options of docker/podman/kubectl and their exec/compose subcommands that take a value."""


_OTHER_SUBCOMMANDS = frozenset(
    {"run", "create", "build", "pull", "push", "ps", "images", "image", "logs", "start", "stop",
     "restart", "rm", "rmi", "cp", "inspect", "network", "volume", "system", "buildx", "login",
     "tag", "save", "load", "port", "top", "stats", "attach", "commit", "diff", "export",
     "import", "kill", "pause", "unpause", "update", "wait", "get", "describe", "apply",
     "delete", "edit", "port-forward", "proxy", "debug", "rollout", "scale", "config", "auth",
     "label", "annotate", "patch", "replace", "up", "down"}
)  # fmt: skip
"""docker/podman/kubectl subcommands other than exec: never an unlisted option's value."""


def _container_exec(tool: str, args: Sequence[str]) -> tuple[str, list[str]] | None:
    """(container, command words) of `docker|podman|nerdctl [compose|container] exec [OPTS]
    NAME CMD...`, `docker-compose exec SVC CMD` or `kubectl exec [OPTS] POD -- CMD`; None
    for anything else."""
    tools = ("docker", "podman", "nerdctl", "docker-compose", "podman-compose", "kubectl", "oc")
    if tool not in tools:
        return None
    a = list(args)
    k, seen_exec, name, after_option = 0, False, "", False
    while k < len(a):
        x = a[k]
        if x == "--":
            break
        if x.startswith("-"):
            k += 2 if x in _CONTAINER_VALUES else 1
            after_option = "=" not in x and x not in _CONTAINER_VALUES
            continue
        if not seen_exec and x in ("compose", "container"):
            k += 1
        elif not seen_exec and x == "exec":
            seen_exec, k = True, k + 1
        elif seen_exec:
            name = x
            break
        elif after_option and x not in _OTHER_SUBCOMMANDS:
            k += 1  # an option not listed took this as its value (`kubectl -v 9 exec ...`)
        else:
            return None
        after_option = False
    if not name:
        return None
    cmd = a[k + 1 :]
    if tool in ("kubectl", "oc") or cmd[:1] == ["--"]:
        cmd = cmd[cmd.index("--") + 1 :] if "--" in cmd else cmd
    return name, cmd


def _input_container(inv: Invocation) -> str | None:
    """`container NAME` for a container exec (`_container_exec`) whose command is a shell in
    the container reading its commands from the input; None otherwise."""
    got = _container_exec(inv.name, inv.args)
    if got is None:
        return None
    name, cmd = got
    while cmd and _basename(cmd[0]) in ("env", "busybox", "exec"):
        cmd = cmd[1:]  # `env sh`, `busybox sh`
    runs = bool(cmd) and _basename(cmd[0]) in _SHELLS and _dash_c(cmd[1:]) is None
    script = shell_script(cmd[1:]) if runs else None
    return f"container {name}" if runs and (script is None or is_stdin_path(script)) else None


_ENDLESS_WHILE = re.compile(
    r"(?:command(?:-p)?|builtin)?(?:true|:)|/(?:usr/)?bin/true|\[\[?[A-Za-z0-9_]+\]\]?"
    r"|test[A-Za-z0-9_]+|\[\[?-n[A-Za-z0-9_]+\]\]?|\[\[?(?P<s>\w+)==?(?P=s)\]\]?"
    r"|\[(?P<n>\d+)-eq(?P=n)\]|\[\[(?P<w>\w+)-eq(?P=w)\]\]|test(?P<t>\w+)=(?P=t)"
    r"|test(?P<d>\d+)-eq(?P=d)|\(\((?:[1-9]\d*|(?P<a>\d+)==(?P=a))\)\)|!false|!/(?:usr/)?bin/false"
)
_ENDLESS_UNTIL = re.compile(r"false|/(?:usr/)?bin/false|!true|!:|\(\(0\)\)")
_INSTANT = frozenset(
    {":", "true", "false", "echo", "printf", "let", "export", "local", "declare", "typeset",
     "readonly", "test", "[", "[[", "shift", "set", "unset", "cd", "pwd", "kill", "disown",
     "continue"}
)  # fmt: skip
"""Commands that return at once: a loop made only of them and background jobs is unpaced."""
_PACE_LITERALS = frozenset(
    {"word", "number", "string", "raw_string", "concatenation", "simple_expansion", "expansion",
     "binary_expression", "unary_expression", "parenthesized_expression", "postfix_expression",
     "variable_name", "extglob_pattern", "regex", "ansi_c_string"}
)  # fmt: skip
"""Nodes inside a block that are no statements (a case item's pattern, `(( 1 ))`'s operand)."""
_PACE_BLOCKS = frozenset(
    {"compound_statement", "subshell", "do_group", "if_statement", "elif_clause", "else_clause",
     "case_statement", "case_item"}
)  # fmt: skip
_BACKGROUND = re.compile(r"(?<![&>|<])&(?![&>])")
_ZERO_SLEEP = r"(?:0+\.?0*|\.0+)(?:e\d+)?[smhd]?"
"""A `sleep` operand that waits no time (`0`, `0.0s`, `.0`, `0e0`)."""
_MAY_WAIT = re.compile(r"\$\((?!\()|`")  # a command substitution (not `$((` arithmetic)
"""A lone `&` (not `&&`, `>&`, `&>`): a command sent to the background."""


def _after_wrappers(words: list[str]) -> tuple[list[str], bool]:
    """The command `words` run once wrappers are skipped with their options and values, as
    `_Base.emit_unix` reads them (`_WRAPPERS`, env, timeout, xargs, flock, command, a
    container exec); and whether a privileged wrapper (sudo, doas, ...) was among them."""
    root = False
    while words:
        w = _basename(words[0])
        rest = words[1:]
        if words[0] == "!" or re.fullmatch(r"[A-Za-z_]\w*=\S*", words[0]):
            words = rest  # NAME=VALUE before a command
        elif (box := _container_exec(w, rest)) is not None:
            words = box[1]
        elif w in _WRAPPERS:
            root = root or w in _PRIV
            words = _strip_options(rest, _WRAPPERS[w])[_WRAPPER_OPERANDS.get(w, 0) :]
        elif w == "env":
            split = next((k for k, x in enumerate(rest) if re.fullmatch(_ENV_SPLIT, x)), None)
            if split is not None:  # env -S 'bash -c': the value is the command, split in words
                m = re.fullmatch(_ENV_SPLIT, rest[split])
                glued = m.group(1) or m.group(2) if m else None
                value = glued or (rest[split + 1] if split + 1 < len(rest) else "")
                words = [*value.strip("'\"").split(), *rest[split + (1 if glued else 2) :]]
            else:
                words = _strip_options(rest, _ENV_VALUES)
        elif w == "timeout":
            ops = _strip_options(rest, _TIMEOUT_VALUES)
            words = ops[1:] if ops and _is_number(ops[0]) else ops
        elif w == "xargs":
            words = _strip_options(rest, _XARGS_VALUES)
        elif w == "flock":
            words = _strip_options(rest, _FLOCK_VALUES)[1:]
        elif w == "command" and rest[:1] not in (["-v"], ["-V"]):
            words = _strip_options(rest, frozenset())
        else:
            break
    return words, root


def _shell_sink(text: str) -> bool:
    """`>(sh)`, `>(sudo -u root bash)`, `>(env -u X sh)`, `>(cat | sh)`: a shell that reads
    what is written there as its commands (not `>(sh -c CODE)`, which reads it as data)."""
    for stage in text[2:].rstrip(") \t\n").split("|")[:16]:
        rest, _ = _after_wrappers(stage.split()[:64])
        if (
            rest
            and _basename(rest[0]) in _SHELLS
            and not any(re.fullmatch(r"-[a-zA-Z]*c[a-zA-Z]*", x) for x in rest[1:])
        ):
            return True
    return False


def _runs_substituted(head: str) -> bool | None:
    """What a stage's text before its `$(cat)` says: the command of the statement the
    substitution is in is `eval` or a shell, maybe behind wrappers (`sudo -u root bash -c
    "$(cat)"`, `{ read -r _; eval "$(cat)"; }`, `X=1 eval`): True when run as root, False
    when not, None when the substitution does not become code (`grep -c sh "$(cat)"`,
    `git commit -m "... sh ... $(cat)"`)."""
    if head.count('"') % 2:
        head = head[: head.rfind('"')]  # a double-quoted word still open at `$(cat)`
    head = re.sub(r'"[^"]*"', " '' ", head)
    segment = re.split(r"[;&|(){}\n]|\b(?:then|do|else|if|while|until|time)\b", head)[-1]
    rest, root = _after_wrappers(segment.split()[:64])
    if rest and (rest[0] == "eval" or _basename(rest[0]) in _SHELLS):
        return root
    return None


def _unquote(word: str) -> str:
    """A shell word's text without its outer quotes (`'a b'` -> `a b`)."""
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        return word[1:-1]
    return word


def _spawns_unpaced(code: str) -> bool:
    """Code (a function's body, `sh -c`'s argument) that starts a background process and does
    not wait, sleep or read: quoted text and comments left out, a statement's command read
    past its wrappers (`nice sleep 5`, `command wait`, `while read ...`)."""
    if _MAY_WAIT.search(code[:20_000]):
        return False  # a command substitution may wait
    bare = re.sub(  # quoted text: a number stays (`sleep "0"`), anything else is some word
        r"'[^']*'|\"(?:[^\"\\]|\\.)*\"",
        lambda m: m.group(0)[1:-1] if re.fullmatch(r"[\d.]+[smhd]?", m.group(0)[1:-1]) else "Q",
        code[:20_000],
    )
    bare = re.sub(r"(?:^|(?<=\s))#[^\n]*", "", bare)
    parts = re.split(r"(;|\n|&&|\|\||(?<![&>|<])&(?![&>])|[{}()])", bare)
    spawns = False
    for k in range(0, len(parts), 2):
        if k + 1 < len(parts) and parts[k + 1] == "&":
            spawns = True  # `CMD &`: in the background, it paces nothing
            continue
        words = parts[k].split()
        while words and words[0] in ("!", "time", "until", "while", "if", "then", "do", "else"):
            words = words[1:]
        words, _ = _after_wrappers(words)
        if not words:
            continue
        name = _basename(words[0])
        if (
            words[0] in ("wait", "read", "select")  # builtins (not ./wait)
            or name in ("inotifywait", "flock")
            or (
                name == "tail"
                and any(re.fullmatch(r"-\w*[fF]\w*|--follow\S*", w) for w in words[1:])
            )
            or (name == "sleep" and not all(re.fullmatch(_ZERO_SLEEP, w) for w in words[1:]))
        ):
            return False
    return spawns


def runs_input(inv: Invocation) -> bool:
    """Whether `inv` runs what it reads on standard input as shell commands: a shell with no
    script (or /dev/stdin as its script), `source /dev/stdin`, a root shell (`sudo -s`, `su`),
    or sed with a bare `e` and no file to read (`... | sed e`)."""
    if _root_shell(inv):
        return True
    if inv.name in ("awk", "gawk", "mawk", "nawk"):  # awk '{system($0)}', print | "sh"
        prog = _awk_program(inv.args)
        return bool(
            re.search(r"system\(\s*\$0\s*\)|\|&?\s*\"\s*(/bin/|/usr/bin/)?(ba|z|da)?sh\b", prog)
        )
    if inv.name in ("at", "batch"):  # `echo CODE | at now`: the job is what it reads
        return not any(re.fullmatch(r"-[a-zA-Z]*[flrcd][a-zA-Z]*", a) for a in inv.args)
    if inv.name == "ssh":  # `echo CODE | ssh host [bash]`: the remote shell reads it
        return _input_remote(inv) is not None
    if _input_container(inv) is not None:  # `echo CODE | docker exec -i web sh`
        return True
    if inv.name in _SHELLS:
        script = shell_script(inv.args)
        return script is None or is_stdin_path(script)
    if inv.name in ("source", "."):
        return inv.args[:1] != [] and (inv.args[0] == "-" or is_stdin_path(inv.args[0]))
    if inv.name != "sed":
        return False
    scripts, files = sed_operands(inv.args)
    bare = any(not cmd.strip() for script in scripts for cmd in SED_EXEC.findall(script))
    return bare and not files


def _path_key(path: str) -> str:
    """One spelling per file: `./a.sh`, `a.sh` and `.//a.sh` are one; so are `/tmp//x.sh`
    and `/tmp/x.sh`."""
    return re.sub(r"^(\./+)+", "", re.sub(r"/{2,}", "/", path))


def _file_key(path: str) -> str:
    """Where the walk keeps what a line wrote to `path`."""
    return "\x00file:" + _path_key(path)


def printed_text(inv: Invocation, data: str | None) -> str | None:
    """The text `echo`/`printf` print or `cat` copies from a heredoc, when it is literal."""
    text: str | None = None
    if inv.name == "echo":
        text = echo_output(inv.args)
    elif inv.name == "printf":
        vals = list(inv.args)
        if vals[:1] == ["--"]:
            vals = vals[1:]  # printf -- FORMAT ...
        if vals[:1] == ["-v"]:
            return ""  # printf -v VAR ...: sets VAR, prints nothing
        # printf 'rm -rf %s\n' ./a /etc: once per batch of arguments; escapes as bash reads them
        text = printf_output(vals[0], vals[1:]) if vals else ""
    elif inv.name == "cat" and data is not None and not inv.args:
        text = data
    elif data is not None and (decode := _decoder(inv)) is not None:
        raw = decode((data + "\n").encode())  # base64 -d <<< TEXT > x.sh
        text = raw.decode("utf-8", "replace") if raw is not None else None
    return text


def _detached_payload(name: str, rest: list[str], stdin_data: str | None) -> str | None:
    """The command `script -c`, `screen -dm`, `tmux new -d` or `at` (from stdin) would run later."""
    if name == "script":  # script -c CMD, -qc CMD, --command=CMD
        for k, w in enumerate(rest):
            if w.startswith("--command="):
                return w[len("--command=") :]
            if (w == "--command" or re.fullmatch(r"-[a-zA-Z]*c", w)) and k + 1 < len(rest):
                return rest[k + 1]
            if re.fullmatch(r"-[a-zA-Z]*c.+", w, re.S) and not w.startswith("--"):
                return w[w.index("c") + 1 :]  # script -cCMD (glued)
        return None
    if name in ("at", "batch"):
        return stdin_data
    if name == "screen":
        k = 0
        while k < len(rest) and rest[k].startswith("-"):
            k += 2 if rest[k] in ("-S", "-c", "-L", "-Logfile", "-p", "-X") else 1
        return " ".join(_quote(w) for w in rest[k:]) or None
    if name == "tmux":
        return _tmux_payload(rest)
    return None


_TMUX_VALUES: dict[str, str] = {
    "new-session": "cefFnstxy", "new-window": "cefFnt", "split-window": "celtFp",
    "run-shell": "cdt", "respawn-pane": "cet", "respawn-window": "cet", "send-keys": "cNtT",
    "display-popup": "bcdehsStTwxy", "if-shell": "t",
}  # fmt: skip
"""Per tmux command, the letters of its options that take a value (the others are flags)."""
_TMUX_ALIASES = {
    "new": "new-session", "neww": "new-window", "splitw": "split-window", "run": "run-shell",
    "respawnp": "respawn-pane", "respawnw": "respawn-window", "send": "send-keys",
    "popup": "display-popup", "if": "if-shell",
}  # fmt: skip


def _tmux_payload(rest: Sequence[str]) -> str | None:
    """The commands `tmux new -d 'CMD'`, `split-window CMD`, `run-shell CMD`, `if-shell CMD`,
    `tmux -c CMD` would run, or the keys `send-keys 'CMD' Enter` would type; commands chained
    with `\\;` are each read."""
    k, found = 0, []
    while k < len(rest) and rest[k].startswith("-"):  # tmux's own options
        opt = rest[k]
        at = next((i for i, ch in enumerate(opt[1:], 1) if ch in "SLfcT"), None)
        if at is None:  # flags only (-u, -2, -v)
            k += 1
            continue
        value = opt[at + 1 :] or (rest[k + 1] if k + 1 < len(rest) else "")
        if opt[at] == "c" and value:  # tmux -c CMD, -uc CMD, -cCMD: a shell runs CMD
            found.append(value)
        k += 1 if opt[at + 1 :] else 2  # -Lconf: the value is glued
    chunk: list[str] = []
    for w in [*rest[k:], ";"]:
        if w not in (";", "\\;"):
            chunk.append(w)
            continue
        if chunk:
            sub = _TMUX_ALIASES.get(chunk[0], chunk[0])
            prefixed = [n for n in _TMUX_VALUES if n.startswith(sub)]
            if sub not in _TMUX_VALUES and len(prefixed) == 1:
                sub = prefixed[0]  # tmux takes a unique prefix: `split`, `new-w`, `run-s`
            values = _TMUX_VALUES.get(sub)
            if values is not None:
                words, i = [], 1
                while i < len(chunk):
                    a = chunk[i]
                    if a == "--":
                        words += chunk[i + 1 :]
                        break
                    if a.startswith("-") and len(a) >= 2:
                        takes = a[-1] in values and not a.startswith("--")  # -ds NAME
                        i += 2 if takes else 1
                        continue
                    words.append(a)
                    i += 1
                if sub == "send-keys":
                    words = [
                        w for w in words if not re.fullmatch(r"Enter|C-[mMjJ]|KPEnter|Space|Tab", w)
                    ]
                if sub == "if-shell":
                    words = words[:1]  # its shell test; the tmux commands after it are tmux's
                if words:
                    found.append(" ".join(words))
        chunk = []
    return "\n".join(found) or None


def _quote(word: str) -> str:
    import shlex

    return shlex.quote(word)


def _ssh_split(rest: list[str]) -> tuple[str | None, list[str]]:
    i = 0
    while i < len(rest):
        w = rest[i]
        if w.startswith("-") and len(w) >= 2:
            if w[-1] in _SSH_ARG_OPTS and not w.startswith("--"):
                i += 2  # -o VALUE, -vo VALUE (a cluster ending in an option with a value)
            else:
                i += 1
            continue
        return w, rest[i + 1 :]
    return None, []


def _drop_exec(rest: list[str]) -> list[str]:
    out: list[str] = []
    skipping = False
    for w in rest:
        if w in ("-exec", "-execdir", "-ok", "-okdir", "-x", "-X", "--exec", "--exec-batch"):
            skipping = True
            continue
        if skipping:
            if w in (";", "+", "\\;"):
                skipping = False
            continue
        out.append(w)
    return out


# ---------------------------------------------------------------- bash


_CODE_SUBSCRIPT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\[([^\]]*)\]")
"""An array subscript holding a command substitution (`a[$(cmd)]`)."""
_ARITH_CONTEXT = re.compile(
    r"\blet\b|\(\(|\$\[|\b(declare|typeset|local|export|readonly|unset|read|mapfile|"
    r"readarray|printf)\b|\[\[|\[\s+-v|\btest\s+-v|-(eq|ne|lt|le|gt|ge)\b"
    r"|\w\[[^\]\s\[]+\]\+?=|\$\{\w+(\[|:)"
)
"""Where bash evaluates a name or text as arithmetic or an lvalue (its subscript's commands
run then)."""
_BINARY = "\x00binary:"  # env entry: a path this line made a copy of (or a link to) a program
_STATIC_PROGRAMS = frozenset(
    {"mktemp", "cat", "base64", "base32", "xxd", "rev", "gunzip", "zcat", "gzip", "tr"}
)
"""Programs whose output `static_herestring` works out."""
_READS_STDIN = re.compile(
    r"\$\(\s*(?:command\s+|builtin\s+|\\)?(?:/usr)?(?:/bin/)?(?:cat|tee)\s*"
    r"(?:-|/dev/stdin|/dev/fd/0|/proc/self/fd/0|<&0)?\s*\)"
    r"|\$\(\s*(?:/usr)?(?:/bin/)?head\s+-[cn]\s*\d+\s*\)"
    r"|`\s*\\?(?:/usr)?(?:/bin/)?cat\s*(-|/dev/stdin|<&0)?\s*`"
    r"|\$\(\s*<\s*(/dev/stdin|/dev/fd/0|/proc/self/fd/0)\s*\)"
)
"""A substitution whose output is the command's own input (`"$(cat)"`)."""
_DEFAULT_ENV = {"HOME": "~", "PWD": ".", "USER": "user", "OLDPWD": "."}
"""Variables a login shell has set; TMPDIR is often unset (`rm -rf "$TMPDIR"/*` is then
`rm -rf /*`), so it is not among them."""


_HEREDOC_START = re.compile(
    r"(?<!<)<<(?!<)(?P<dash>-?)[ \t]*(?:'(?P<sq>[^'\n]*)'|\"(?P<dq>[^\"\n]*)\"|(?P<w>[^\s|;&<>()'\"]+))"
)
"""A heredoc's start (`<<EOF`, `<<-'EOF'`; not a herestring) and its delimiter's parts."""
_HEREDOC_LINE = re.compile(
    r"(?P<start>" + _HEREDOC_START.pattern + r")"
    r"(?P<reds>(?:[ \t]+(?:\d+|&)?(?:>>|>&|>\||&>>|&>|>)[ \t]*[^\s|;&<>()'\"{}]+)*)"
    r"[ \t]*(?P<op>\|\||\||&&|;|&)?(?P<rest>[^\n]*)$",
    re.M,
)
"""A heredoc's start, then only output redirects, then an operator and the rest of its line."""


def _errors(root: Any) -> int:
    """How many ERROR or missing nodes a tree has."""
    count = 0
    stack = [root]
    while stack:
        n = stack.pop()
        if n.type == "ERROR" or n.is_missing:
            count += 1
        if n.has_error:
            stack.extend(n.children)
    return count


def _unhide_mid_word_hashes(src: bytes, root: Any) -> bytes | None:
    """`src` with a backslash before each `#` the grammar read as a comment's start in the
    middle of a word (bash starts comments only at a word's start), or None if none."""
    starts: list[int] = []
    stack = [root]
    while stack:
        n = stack.pop()
        if n.type == "comment":
            at = n.start_byte
            if at > 0 and src[at - 1 : at] not in b" \t\n;&|(){}":
                starts.append(at)
            continue
        stack.extend(n.children)
    if not starts:
        return None
    out = bytearray(src)
    for at in sorted(starts, reverse=True):
        out[at:at] = b"\\"
    return bytes(out)


def _fd_zero_inputs(src: bytes, root: Any) -> bytes | None:
    """`src` without the `0` of `0<`, `0<<<`, `0<&N` and `0<<EOF` (None if there is none).

    The grammar reads such a `0` as a command's argument (`bash 0< <(echo CODE)` became
    `bash 0`, a script named 0) or as part of a heredoc's start, where bash reads file
    descriptor 0, which a plain `<` means already."""
    cuts: list[tuple[int, int]] = []
    stack = [root]
    while stack:
        n = stack.pop()
        stack.extend(n.children)
        at, end = n.start_byte, n.end_byte
        if n.type == "number" and n.parent is not None and n.parent.type == "command":
            glued = src[end : end + 1] == b"<" and at > 0 and src[at - 1 : at] in b" \t"
            if glued and re.fullmatch(rb"0+", src[at:end]):
                cuts.append((at, end))
        elif (
            n.type == "heredoc_start"
            and at > 0
            and src[at - 1 : at] in b" \t"
            and (m := re.match(rb"0+(?=<<)", src[at:end]))
        ):
            cuts.append((at, at + m.end()))
    if not cuts:
        return None
    out = bytearray(src)
    for at, end in sorted(cuts, reverse=True):
        del out[at:end]
    return bytes(out)


def _node_key(n: Any) -> tuple[int, int, str]:
    return (n.start_byte, n.end_byte, n.type)


def _stdin_op(op: str, dest: str) -> bool:
    """A redirect that replaces a command's input (`<`, `<>`, `<&`; `<|` is `<` with a pipe
    the grammar swallowed), not a heredoc or herestring and not the input itself (`<&0`,
    `</dev/stdin`)."""
    target = re.split(r"[\s;|&]", dest, maxsplit=1)[0]  # `<&0 ;ls`: the grammar glues them
    same = target == "0" or is_stdin_path(target)
    return op[:1] == "<" and op[:2] != "<<" and not same


_HEREDOC_PROGRAMS = frozenset(
    {"python", "python2", "python3", "perl", "ruby", "node", "php", "lua", "source", ".", "sudo"}
)
"""Commands whose heredoc is a program (besides the shells): their lines are not rewritten."""


def _move_after_heredoc(text: str) -> str:
    """`cat <<EOF; rm -rf /etc` (then the body): the grammar fails on a `;` after a heredoc's
    start and loses what follows. Bash reads the body after the line anyway, and a newline
    ends a command as `;` does, so the rest of the line moved to a line of its own after the
    heredoc's terminator means the same (`{ cat <<EOF; } ; rm` -> `{ cat <<EOF`, body,
    terminator, `} ; rm`). Only lines with one heredoc, no quote or backquote before the
    `;`, and a terminator that is found."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _HEREDOC_START.search(line)
        if m is None or len(_HEREDOC_START.findall(line)) != 1:
            i += 1
            continue
        sm = re.match(r"(?P<keep>[^;'\"`]*?)[ \t]*;[ \t]*(?P<rest>\S.*)$", line[m.end() :])
        delim = m.group("sq") or m.group("dq") or (m.group("w") or "").replace("\\", "")
        if sm is None or not delim or sm.group("rest").startswith(";"):
            i += 1
            continue
        end = next(
            (
                j
                for j in range(i + 1, len(lines))
                if (lines[j].lstrip("\t") if m.group("dash") else lines[j]) == delim
            ),
            None,
        )
        if end is None:
            i += 1
            continue
        lines[i] = line[: m.end()] + sm.group("keep")
        lines.insert(end + 1, sm.group("rest"))
        i += 1
    return "\n".join(lines)


def _repair_heredoc_lines(text: str) -> str:
    """Forms tree-sitter-bash fails on after a heredoc's start, rewritten to ones it reads and
    that run the same commands: output redirects moved before the `<<` (`cat <<'EOF'
    2>/dev/null | bash`: the pipe was lost) and a space before a glued `|` - only on a line
    whose first simple command (not a shell or interpreter: their heredoc is a program) takes
    the heredoc and is followed by plain `| CMD ARGS` stages at most; elsewhere the walk of
    the rewritten tree would mis-link the line's other commands. Input redirects
    stay (the last one bash reads wins over the heredoc), and so do `;` and an `&` before
    more (read as `&&` they would change how the rest of the line nests: `{ cat <<EOF; } ;
    rm ...`); an `&` ending the line is dropped (the same commands, in the background)."""

    def fix(m: re.Match[str]) -> str:
        op = m.group("op") or ""
        rest = m.group("rest").strip()
        if rest.endswith("&") and not rest.endswith("&&"):
            rest = rest[:-1].rstrip()  # `| bash &`: in the background, the same commands
        line = m.string[m.string.rfind("\n", 0, m.start()) + 1 : m.start()]
        head_cmd = re.fullmatch(r"\s*(?:sudo\s+)?([\w./-]+)(?:\s+[^\s|;&<>()`$'\"]+)*\s*", line)
        if (
            head_cmd is None  # the heredoc's command is not the line's first simple command
            or _basename(head_cmd.group(1)) in _SHELLS | _HEREDOC_PROGRAMS
            or op not in ("", "|", "&")
            or (op == "&" and rest)
            or re.search(r"[;&<>()`]|\|\|", rest)  # only plain `| CMD ARGS` stages after it
        ):
            return m.group(0)
        if op == "&":  # `| bash &` at the line's end: in the background, the same commands
            op = ""
        reds = m.group("reds").strip()
        head = (reds + " " if reds else "") + m.group("start")
        return head + (" " + op if op else "") + (" " + rest if rest else "")

    return _HEREDOC_LINE.sub(fix, text)


class _Bash(_Base):
    shell = "bash"

    def run(self) -> Parsed:
        # `r\<newline>m -rf /etc` is `rm -rf /etc`: continuations are joined first, where no
        # heredoc's body could hold them (those lines get a second, joined reading below)
        joined = join_continuations(self.command)
        self.source = joined if "<<" not in self.command else self.command
        # a brace list in command position expands to the command's words: {rm,-rf,/etc},
        # {r,}m (rm m), r{m,} (rm r)
        text = re.sub(
            r"(^|[;&|(\n]\s*|(?<![$`\w])\w*\)\s+|(?<!\S)[{!]\s+|\b(?:then|do|else|if|elif|while|until)\s+"
            r"|(?:^|(?<=\s))[A-Za-z_]\w*=[^\s;&|{}]*\s+)"
            r"((?:[\w./-]*(?:\{[^{}\s;&|'\"$`,]*(?:,[^{}\s;&|'\"$`,]*)+\}|\{\w+\.\.\w+\}))+"
            r"[\w./-]*)(?=\s|$|[;&|)<>])",
            lambda m: m.group(1) + " ".join(brace_words(m.group(2)) or [m.group(2)]),
            self.source,
            flags=re.M,
        )
        # `r[m] -rf /etc`, `su?o rm`: a pattern opening a command the grammar reads as an array
        # element or a variable; escaped, it is the word bash globs (the parser and the rules
        # read a pattern for a name). A space goes before it: a backslash opening a line
        # joins it to the line before. (`{`, `!` only as words: `a!b?` is one word)
        text = re.sub(
            r"(^|[;&|\n]\s*|(?<!\S)[{!]\s+|\b(?:then|do|else|if|elif|while|until)\s+)([\w./-]*)"
            r"(\?[\w./\[\]:!^?*-]*|\[[^\]\s=]+\][\w./\[\]:!^?*-]*)(?=[\s;&|<>)]|\Z)",
            lambda m: m.group(1) + " " + m.group(2) + "\\" + m.group(3),
            text,
            flags=re.M,
        )
        # `time { ...; }` and `! ( ... )`: the grammar reads the brace or parenthesis as a
        # word of a command named `time`/`{`; bash runs the group (the prefix changes nothing)
        text = re.sub(
            r"(^|[;&|()\n]\s*|\b(?:if|then|else|elif|do|while|until)\s+)"
            r"(?:(?:time(?:\s+-p)?|!)\s+|time(?=\())+(?=\(|\{\s)",
            r"\1",
            text,
        )
        self.src = text.encode("utf-8", "replace")
        tree = _ts_parser("bash").parse(self.src)
        root = tree.root_node
        if root.has_error:
            # `cat <<'EOF' 2>/dev/null | bash`, `cat <<EOF|bash`, `cat <<EOF; rm ...`: the
            # grammar fails after the heredoc's start and what follows it is lost; kept only
            # where it leaves fewer parse errors
            fixed = _repair_heredoc_lines(_move_after_heredoc(text))
            if fixed != text:
                tree2 = _ts_parser("bash").parse(fixed.encode("utf-8", "replace"))
                if _errors(tree2.root_node) < _errors(root):
                    self.src, root = fixed.encode("utf-8", "replace"), tree2.root_node
        fixed_fd = _fd_zero_inputs(self.src, root) if b"0<" in self.src else None
        if fixed_fd is not None:
            self.src = fixed_fd
            root = _ts_parser("bash").parse(self.src).root_node
        if b"#" in self.src:
            # `a[#]=x; rm -rf /etc`: the grammar starts a comment at a `#` inside a word, where
            # bash does not (only a word's first character starts one); escape such `#`s
            for _ in range(8):  # each pass may expose the next (`a[#]=x; b[#]=y`)
                fixed_src = _unhide_mid_word_hashes(self.src, root)
                if fixed_src is None:
                    break
                self.src = fixed_src
                root = _ts_parser("bash").parse(self.src).root_node
        self.syntax_error = root.has_error
        self.functions: dict[str, str] = {}
        for top in root.named_children:  # each top-level statement gets its own budget
            if self.depth == 0:
                self.budget[0] = MAX_NESTED
            self.stmt(top)
        if "[" in self.command and _ARITH_CONTEXT.search(self.command):
            # let 'a[$(cmd)]', x='a[$(cmd)]'; (( x )), printf -v 'a[$(cmd)]': an array
            # subscript evaluated as arithmetic runs its substitutions, quoted or not
            for code in _arith_subscript_code(self.command)[:64]:
                self.nested(code, "bash", "array subscript")
        if joined != self.source:
            # with a heredoc on the line: the joined text is read too (beside the reading
            # above, which a quoted heredoc's body needs)
            self.nested(joined, "bash", "line continuation")
        called = {inv.name for inv in self.out}
        for fname, body in self.functions.items():
            compact = re.sub(r"\s+", "", body)
            if fname in called and (
                f"{fname}|{fname}" in compact or (compact.count(fname) >= 2 and "&" in compact)
            ):
                self.fork_bomb = True
        return self.result()

    def text(self, n: Any) -> str:
        return self.src[n.start_byte : n.end_byte].decode("utf-8", "replace")

    def stages_after(self, stages: list[Any], first: list[Invocation]) -> list[list[Invocation]]:
        """The pipeline stages after a heredoc's command (`cat <<EOF | eval "$(cat)"`)."""
        out: list[list[Invocation]] = []
        for c in stages:
            out.append(self.stage(c, out[-1] if out else first, None, None))
        return out

    def stage(
        self, c: Any, prev: list[Invocation] | None, redirects: list[tuple[str, str]] | None,
        stdin_data: str | None,
    ) -> list[Invocation]:  # fmt: skip
        """Walk pipeline stage `c` after the stage that made `prev`. `echo CODE | eval
        "$(cat)"`: cat prints what the stage before printed; with that unknown (`curl URL |
        eval "$(cat)"`) the stage is read as `| bash` too."""
        text = self.text(c)
        live = re.sub(r"'[^']*'", "''", text)  # (in single quotes `$(cat)` is text)
        m = _READS_STDIN.search(live) if prev is not None else None
        feed = None
        if m is not None and prev:
            if _cat_heredoc(prev[-1]):
                feed = prev[-1].stdin_data
            elif prev[-1].name in ("echo", "printf"):
                feed = printed_text(prev[-1], None)
        got = self.stmt(c, redirects, stdin_data if feed is None else feed)
        runner = _runs_substituted(live[: m.start()]) if m is not None and feed is None else None
        if runner is not None:
            proxy = self.emit_unix(["sudo", "bash"] if runner else ["bash"], text, [], None)
            if proxy is not None:
                self.out.append(proxy)
                got = [*got, proxy]
        return got

    def endless_spawner(self, n: Any) -> bool:
        """`while true; do CMD & done`, `for ((;;)); do sh -c 'x &'; done`: an endless loop
        that leaves a process running in the background each time round, unpaced (every
        other statement in it returns at once: no `wait`, `sleep N`, `read`, ...)."""
        body = n.child_by_field_name("body")
        cond = n.child_by_field_name("condition")
        if body is None:
            return False
        if n.type == "c_style_for_statement":
            endless = cond is None or self.text(cond).strip() == "1"
        else:
            spec = _ENDLESS_UNTIL if n.children[0].type == "until" else _ENDLESS_WHILE
            compact = re.sub(r"[\s'\"\\]", "", self.text(cond)) if cond is not None else ""
            endless = spec.fullmatch(compact.rstrip(";")) is not None
        return endless and self.unpaced(body) is True

    def unpaced(self, block: Any) -> bool | None:
        """Whether the statements of `block` start a background process and otherwise return
        at once (True), return at once without one (None), or may wait (False)."""
        spawns: bool | None = None
        kids = block.children
        for k, c in enumerate(kids):
            if not c.is_named or c.type == "comment":
                continue
            if k + 1 < len(kids) and kids[k + 1].type == "&":
                spawns = True  # `CMD &`
                continue
            got = self.pace(c)
            if got is False:
                return False
            spawns = spawns or got
        return spawns

    def pace(self, c: Any) -> bool | None:
        """One statement of a loop's body, read as `unpaced` reads a block."""
        t = c.type
        if t in _PACE_LITERALS:
            return None
        if t != "command" and _MAY_WAIT.search(self.text(c)) and t not in _PACE_BLOCKS:
            return False  # a substitution may wait
        if t == "redirected_statement":
            body = c.child_by_field_name("body")
            return self.pace(body) if body is not None else None
        if t in _PACE_BLOCKS:
            return self.unpaced(c)
        if t == "for_statement":
            body = c.child_by_field_name("body")
            return self.unpaced(body) if body is not None else None
        if t in ("list", "pipeline", "negated_command"):
            parts = [self.pace(x) for x in c.named_children]
            return False if False in parts else (True if True in parts else None)
        return self.unpaced_command(c)

    def unpaced_command(self, c: Any) -> bool | None:
        """One foreground command: True if it leaves a process behind and returns (`sh -c
        'x &'`, `coproc`, `setsid -f`, a function doing so), None if it returns at once,
        False if it may wait (anything else, or a `$(...)` in it)."""
        text = self.text(c).strip()
        if _MAY_WAIT.search(text):
            return False
        if c.type in ("variable_assignment", "test_command", "declaration_command"):
            return None
        if text.startswith("coproc"):
            return True
        if c.type != "command":
            return False
        words = text.split()
        name = _basename(words[0]) if words else ""
        if name in ("time", "builtin") and len(words) > 1:
            words = words[1:]
            name = _basename(words[0])
        if name in _SHELLS or name == "eval":
            # sh -c 'CODE' [ARGS], bash -lc -- 'CODE', eval 'CODE': the code read as a function
            # body (taken from the syntax tree: its quotes and newlines kept)
            args = [self.text(x) for x in c.children_by_field_name("argument")]
            if name == "eval":
                code = " ".join(_unquote(x) for x in args)
            else:
                at = next(
                    (i for i, w in enumerate(args) if re.fullmatch(r"-[a-zA-Z]*c[a-zA-Z]*", w)),
                    None,
                )
                if at is None:
                    return False
                rest = args[at + 1 :]
                rest = rest[1:] if rest[:1] == ["--"] else rest
                code = _unquote(rest[0]) if rest else ""
            return _spawns_unpaced(code)
        if name == "setsid" and any(re.fullmatch(r"-\w*f\w*|--fork", w) for w in words[1:3]):
            return True
        if name == "sleep":
            return None if all(re.fullmatch(_ZERO_SLEEP, w) for w in words[1:]) else False
        if name in self.functions:  # f() { ./a & }; while true; do f; done
            return _spawns_unpaced(self.functions[name])
        if name == "command" and words[1:2] in (["-v"], ["-V"]):
            return None
        return None if name in _INSTANT else False

    def stmt(
        self, n: Any, redirects: list[tuple[str, str]] | None = None, stdin_data: str | None = None
    ) -> list[Invocation]:
        t = n.type
        before = len(self.out)
        if t == "comment" or t == "heredoc_body":
            return []
        if t in ("while_statement", "c_style_for_statement") and self.endless_spawner(n):
            self.fork_bomb = True
        if t == "command":
            self.command_node(n, redirects or [], stdin_data)
        elif t == "redirected_statement":
            reds: list[tuple[str, str]] = list(redirects or [])
            data = stdin_data
            body = n.child_by_field_name("body")
            stages: list[Any] = []  # `cat <<'EOF' | bash`: the grammar hangs `| bash` on the
            later: list[Any] = []  # heredoc, and `&& CMD` too
            split_at = -1  # `{ bash; } <<< CODE`: the grammar reads `<<` (ERROR) and `< CODE`
            fds: dict[str, str] = {}  # input descriptors (not 0) given text here: `3<<< CODE`
            sinks: set[str] = set()  # output descriptors given to a shell: `> >(sh)`
            whole = body
            last = body  # the command the redirects are given to (`A && B > f`: B)
            while last is not None and last.type == "list" and last.named_children:
                last = [x for x in last.named_children if x.type != "comment"][-1]
            if self.exec_first(n):
                # `exec 3<<< CODE && bash <&3`: the grammar hangs B's redirects on the list,
                # and bash gives them to B alone, after A ran (and set what they read). The
                # earlier commands get the input the list was read to get before (the text
                # a descriptor held, as `bash && cat <&3` read it)
                body = self.list_heads(body, self.held_input(n, stdin_data))
            for c in n.children:
                if whole is not None and c == whole:
                    continue
                if c.type == "ERROR" and self.text(c) == "<<":
                    split_at = c.end_byte
                elif c.type == "file_redirect" and c.start_byte == split_at and c.named_children:
                    data = self.word(c.named_children[-1])[0]  # a herestring after all
                elif c.type == "file_redirect":
                    mark = self._serial
                    reds.append(self.redirect(c))
                    if last is not None and last.type == "command":
                        # `rm 2>/dev/null -rf /etc`: the words after the target are rm's
                        dests = [x for x in c.named_children if x.type not in _REDIRECT_FD]
                        glued = c.next_sibling
                        if (
                            len(dests) > 1
                            and glued is not None
                            and glued.start_byte == c.end_byte
                            and re.fullmatch(r"\d+|\{[A-Za-z_]\w*\}", self.text(dests[-1]))
                        ):
                            dests.pop()  # `3<<< X {a}<<< Y`, `4<&3 0<&4`: the next one's
                        if len(dests) > 1:
                            key = (last.start_byte, last.end_byte)
                            self._trailing[key] = [*self._trailing.get(key, []), *dests[1:]]
                    piped: str | None = None  # what `< <(echo CODE)` gives to read
                    for ps in c.named_children if _stdin_op(*reds[-1]) else []:
                        # `bash < <(echo CODE)` reads CODE, as `bash <<< CODE` does
                        if ps.type == "process_substitution":
                            piped = self.static_output(ps, mark)
                            data = piped if piped is not None else data
                    fd_node = c.child_by_field_name("descriptor")
                    desc = (
                        self.text(fd_node)
                        if fd_node is not None
                        else self.named_fd(self.exec_fd_word(last), c) or "0"
                    )
                    if fd_node is not None:
                        self.opened_fd(desc, c, last)
                    op, dest = reds[-1]
                    fd_path = _fd_of_path(dest)
                    # (`<&3-` moves descriptor 3: the same text; `<&$fd`: `exec {fd}...`'s)
                    src_fd = self.fd_num(fd_path or dest)
                    held = (
                        fds.get(src_fd, self.env.get(_FD + src_fd))
                        if op == "<&" or (op == "<" and fd_path)
                        else None
                    )
                    if desc == "0" and held is not None:
                        data = held  # `exec 3<<< CODE; bash <&3`: its input is what fd 3 holds
                    elif desc != "0" and op == "<<<":
                        fds[desc] = dest
                    elif desc != "0" and held is not None:
                        fds[desc] = held  # `4<&3`
                    elif desc != "0" and piped is not None:
                        fds[desc] = piped  # `exec {fd}< <(echo CODE)`
                    if (
                        op in _OUT_OPS
                        and op != "<>"
                        and any(
                            ps.type == "process_substitution" and _shell_sink(self.text(ps))
                            for ps in c.named_children
                        )
                    ):
                        # `exec > >(sh)`: what the line prints from here on runs
                        sinks.add("1" if desc == "0" or op.startswith("&") else desc)
                    elif (
                        (to := self.fd_num(_fd_of_path(dest) or dest)).isdecimal()
                        and op in _OUT_OPS
                        and (op == ">&" or _fd_of_path(dest) is not None)
                        and _SINK + to in self.env
                    ):
                        sinks.add("1" if desc == "0" else desc)  # `exec 1>&3`, 3 a shell's
                elif c.type == "herestring_redirect":
                    data = self.word(c.named_children[-1])[0] if c.named_children else ""
                elif c.type == "heredoc_redirect":
                    before_doc, data = data, self.heredoc(c)
                    fd_node = c.child_by_field_name("descriptor")
                    named = self.named_fd(self.exec_fd_word(last), c) if fd_node is None else None
                    if fd_node is not None and self.text(fd_node) != "0":
                        fds[self.text(fd_node)] = data  # (also read as input: the worse counts)
                        self.opened_fd(self.text(fd_node), c, last)
                    elif named is not None:  # `exec {fd}<<EOF`: not the input
                        fds[named], data = data, before_doc
                    start = next((x for x in c.named_children if x.type == "heredoc_start"), None)
                    quoted = start is None or bool(re.search(r"['\"\\]", self.text(start)))
                    for cc in c.named_children:
                        if cc.type == "heredoc_body" and not quoted:
                            # unquoted: its $(...) and `...` run as the heredoc is read
                            self.walk_substitutions(cc)
                            for code in re.findall(r"(?<!\\)`([^`]+)`", self.text(cc))[:64]:
                                self.nested(code, "bash", "heredoc `...`")
                        if cc.type == "file_redirect":
                            reds.append(self.redirect(cc))
                            fd = next((x for x in cc.children if x.type == "file_descriptor"), None)
                            if (
                                _stdin_op(*reds[-1])
                                and (fd is None or self.text(fd) == "0")
                                and any(x.type == "ERROR" for x in cc.children)
                            ):
                                # `cat <<'EOF' <file | bash`: the file is the input (the last
                                # stdin redirect wins) and the grammar lost the pipe: unsure.
                                # (The heredoc is still read too: grading takes the worse.)
                                self.undecodable.append(self.text(cc)[:80])
                        elif cc.type not in _HEREDOC_PARTS:
                            _heredoc_tail(cc, stages, later)
                elif c.type == "heredoc_body":
                    data = self.text(c)
                    self.walk_substitutions(c)
            head: list[Any] = []  # pipeline stages before the heredoc's own command
            while body is not None and stages and body.type in ("list", "pipeline"):
                # `A && cat <<EOF | b`, `A | cat <<EOF | b`: the grammar hangs the heredoc and
                # its pipe on the whole list; the pipe belongs to the heredoc's command (the
                # last), a list's earlier commands run before it, a pipeline's feed it
                kids = [x for x in body.named_children if x.type != "comment"]
                if not kids:
                    break
                if body.type == "list":
                    for x in kids[:-1]:
                        self.stmt(x)
                else:
                    head = [*kids[:-1], *head]
                body = kids[-1]
            if body is not None and stages:
                made = self.stmt(body, reds, data)
                top = min((i.depth for i in made), default=0)
                self.pipe(  # (what the heredoc's command runs nested keeps its own links)
                    [
                        *(self.stmt(c) for c in head),
                        [i for i in made if i.depth == top],
                        *self.stages_after(stages, [i for i in made if i.depth == top]),
                    ],
                    [
                        *(self.text(c) for c in head),
                        self.text(body),
                        *(self.text(c) for c in stages),
                    ],
                )
            elif body is not None:
                # `A && B > f`: the redirects are B's (the input reaches A too, as before:
                # `{ bash && x; } <<< CODE`); B may be a bare `exec` (`true && exec 3<<<
                # CODE`: descriptor 3 holds CODE from here on)
                body = self.list_heads(body, data)
                self.stmt(body, reds, data)
            elif reds:
                self.out.append(
                    self.make(
                        ":", [], self.text(n), reds, self.privileged, self.wrappers, data, False
                    )
                )
            if self.bare_exec(body):
                for fd, text in fds.items():  # `exec 3<<< CODE`: fd 3 holds it from here on
                    self.env[_FD + fd] = text[:MAX_VALUE]
                for desc in sinks:
                    self.env[_SINK + desc] = "1"
                    self.undecodable.append("exec > >(sh): what is printed later runs as code")
            for c in later:
                self.stmt(c)
        elif t == "pipeline":
            # `a | b > FILE`: the grammar hangs the redirect on the whole pipeline; bash gives
            # it (and a heredoc or herestring) to the last command
            stages = [c for c in n.named_children if c.type != "comment"]
            last = len(stages) - 1
            staged: list[list[Invocation]] = []
            for k, c in enumerate(stages):
                # (input given to the pipeline itself, from a group around it, is the first
                # stage's: `{ sh | cat; } <<< CODE`)
                staged.append(
                    self.stage(c, staged[-1] if k else None, redirects if k == last else None,
                               stdin_data if k in (0, last) else None)
                )  # fmt: skip
            self.pipe(staged, [self.text(c) for c in stages])
        elif t == "variable_assignment":
            self.assign(n)
        elif t in ("declaration_command",):
            # declare -A / local -A / typeset -A (also quoted: "-A"): keys are strings. Each
            # word is evaluated once (evaluating them again walked nested `$(declare ...)`
            # once more per level: exponential)
            plain = {
                (c.start_byte, c.end_byte): self.word(c)[0]
                for c in n.named_children
                if c.type not in ("variable_assignment", "variable_name")
            }
            assoc = any(re.fullmatch(r"-[a-zA-Z]*A[a-zA-Z]*", w) for w in plain.values())
            nameref = any(re.fullmatch(r"-[a-zA-Z]*n[a-zA-Z]*", w) for w in plain.values())
            for c in n.named_children:
                base = c.child_by_field_name("name") if c.type == "variable_assignment" else c
                if c.type not in ("variable_assignment", "variable_name") or base is None:
                    continue
                name = self.text(base)
                if nameref and c.type == "variable_assignment":
                    # declare -n r=x: $r reads x and r=v sets x - where the declare ran, which
                    # a function, subshell or branch may not: both are known only when run
                    value = c.child_by_field_name("value")
                    target, dyn = self.word(value) if value is not None else ("", True)
                    self.maybe(name)
                    if not dyn and re.fullmatch(r"[A-Za-z_]\w*", target):
                        self.env[_NAMEREF + name] = target
                        self.maybe(target)
                    continue
                if assoc and name not in self.env and _ASSOC + name not in self.env:
                    # (bash refuses to convert an indexed array, and a declare in a subshell,
                    # branch or function may not run: a name holding values keeps them)
                    self.forget(name)
                    self.env[_ASSOC + name] = ""
                if c.type == "variable_assignment":
                    self.assign(c)
            head = self.text(n).split()[:1]
            if head:
                words = [
                    head[0],
                    *[
                        plain.get((c.start_byte, c.end_byte), self.text(c))
                        for c in n.named_children
                    ],
                ]
                decl = self.emit_unix(words, self.text(n), redirects or [])
                if decl is not None:
                    self.out.append(decl)
        elif t == "function_definition":
            name = n.child_by_field_name("name")
            body = n.child_by_field_name("body")
            if name is not None and body is not None:
                self.functions[self.text(name)] = self.text(body)
                for inv in self.stmt(body):
                    if (
                        not inv.args
                        and not inv.redirects
                        and inv.stdin_data is None
                        and not inv.upstream
                        and not inv.privileged  # sudo "$@": asked as before
                        and re.fullmatch(r"\$\{?[@*0-9]\}?", inv.name)
                    ):
                        self.out.remove(inv)  # f() { "$@"; }: its arguments, judged per call
        elif t in ("command_substitution", "process_substitution"):
            for c in n.named_children:
                self.stmt(c)
        elif t == "for_statement":  # for/select X in WORDS; do BODY; done
            var = n.child_by_field_name("variable")
            nodes = n.children_by_field_name("value")
            vals = [self.word(c) for c in nodes]
            for c in n.children:
                if c.type == "ERROR":
                    self.walk_substitutions(c)
            body = n.child_by_field_name("body")
            loop_var = self.text(var) if var is not None else None
            # inside the body X holds each word in turn: one plain literal word is known there;
            # after the loop (or where it may not run: a subshell, a pipe, an empty list, a
            # select at end of input) X may still hold what it held
            literal = (
                len(nodes) == 1
                and not vals[0][1]
                and _LITERAL_WORD.fullmatch(self.text(nodes[0])) is not None
                and loop_var is not None
                and loop_var + "[@]" not in self.env
                and _ASSOC + loop_var not in self.env
            )
            held = self.env.get(loop_var) if loop_var is not None else None
            if loop_var is not None:
                if literal:
                    self.forget(loop_var)
                    self.env[loop_var] = vals[0][0][:MAX_VALUE]
                else:
                    self.maybe(loop_var)
            if body is not None:  # the loop's redirects and input reach every command inside
                self.stmt(body, redirects, stdin_data)
            if loop_var is not None and literal:
                # the body may have set it (kept); else it holds the word, or (the loop not
                # run here) what it held before, which is kept beside the run-time reading
                if held is not None and self.env.get(loop_var) == vals[0][0][:MAX_VALUE]:
                    self.env[loop_var] = held
                self.maybe(loop_var)
        elif t == "unset_command":
            words = [self.word(c)[0] for c in n.children]
            # (values are kept: an unset in a subshell, function or branch that does not run
            # would otherwise hide them; at worst a line is graded as if it had not run; a
            # command named `${x:-w}` is also read as w: `_UNSET`)
            if not any(re.fullmatch(r"-[a-z]*f[a-z]*", w) for w in words[1:]):
                for w in words[1:]:
                    if _NAME.fullmatch(w):
                        self.env[_UNSET + w] = "1"
            unset_inv = self.emit_unix(words, self.text(n), redirects or [])
            if unset_inv is not None:
                self.out.append(unset_inv)
        else:
            kids = [c for c in n.named_children if c.type != "comment"]
            for k, c in enumerate(kids):
                # a subshell's, block's or compound command's redirects and input reach every
                # command inside (`while ...; done > f`, `{ bash; } <<< CODE`); the grammar
                # hangs `a && b > f`'s redirect on the list, and bash gives it to b
                passed = t in _COMPOUND or (t == "list" and k == len(kids) - 1)
                # (input given to a list is read by any command of it: `{ bash && x; } <<< C`)
                fed = passed or t == "list"
                self.stmt(c, redirects if passed else None, stdin_data if fed else None)
        return self.out[before:]

    def pipe(self, parts: list[list[Invocation]], texts: list[str]) -> None:
        """Wire up a pipeline's walked stages: who feeds whom, decoded input, tee's writes."""
        heads = _link_stages(parts, texts)
        up: list[Invocation] = []  # every stage's invocations before this one
        decoders: list[Invocation] = []  # those of them that decode their input
        for i, p in enumerate(parts):
            for inv in p:
                if inv.args_from_stdin and i and heads[i - 1] == "find":
                    execs = any(x.via == "find -exec" for x in parts[i - 1])
                    _xargs_from_find(inv, parts[i - 1][-1], execs)
            self.pipe_decode(up, decoders, p)
            if i and p:
                self.tee_writes(parts[i - 1], p[-1])
            up.extend(p)
            decoders.extend(x for x in p if _decoder(x) is not None)

    def heredoc(self, n: Any) -> str:
        for c in n.named_children:
            if c.type == "heredoc_body":
                return self.text(c)
        # tree-sitter-bash puts the body beside the redirect; the statement finds it
        return ""

    def code_var(self, n: Any) -> None:
        """`PROMPT_COMMAND=CODE`, `GIT_SSH_COMMAND=CODE cmd`, `BASH_ENV=FILE bash ...`: a
        variable whose value a program (or bash itself) runs as code, read as that code; an
        array's elements each (`PROMPT_COMMAND=(CODE ...)`: bash 5.1 runs them all), also one
        set by index (`PROMPT_COMMAND[1]=CODE`)."""
        name, value = n.child_by_field_name("name"), n.child_by_field_name("value")
        if name is not None and name.type == "subscript":
            name = name.child_by_field_name("name")
        if name is None or value is None or name.type != "variable_name":
            return
        key = self.text(name)
        if key not in _CODE_VARS and key not in ("BASH_ENV", "ENV"):
            return
        if value.type == "array":
            runs = re.search(r"\$\(|`|<\(", self.text(value)) is not None
            if runs and self.depth + self._code_nest >= MAX_DEPTH:
                # code variables set inside code variables' `$(...)`, levels deep (each level
                # was read as nested code before: past MAX_DEPTH, obfuscation)
                self.undecodable.append(self.text(value)[:80])
                self.too_deep = True
                return
            self._code_nest += runs
            try:
                for k, element in enumerate(x for x in value.named_children if x.type != "comment"):
                    if k < 16:
                        self.code_value(key, element)
                    else:  # (read once, here: the assignment reads `_code_words`)
                        self._code_words[_node_key(element)] = self.word(element)
            finally:
                self._code_nest -= runs
            # the whole text is read too, as before (`(rm -rf /etc)`), but not again within
            # such a reading where elements hold code run for its output (their walk above
            # read that code: `PROMPT_COMMAND=("$(PROMPT_COMMAND=("$(...)"))")` nested
            # twice at each level took time exponential in the depth)
            if self.via != f"{key}=" or not runs:
                self.code_value(key, value, memo=False)
            return
        self.code_value(key, value)

    def value_word(self, n: Any) -> tuple[str, bool]:
        """`word(n)` for an assignment's value node: what `code_var` read of it, else now."""
        got = self._code_words.pop(_node_key(n), None)
        return got if got is not None else self.word(n)

    def code_value(self, key: str, value: Any, memo: bool = True) -> None:
        """One value of code variable `key` (see `code_var`), read as the code it runs (its
        value kept for the assignment, `value_word`, unless not `memo`)."""
        mark = self._serial
        val, dyn = self.word(value)
        if memo:
            self._code_words[_node_key(value)] = (val, dyn)
        if key in ("BASH_ENV", "ENV"):  # a file the shell sources first
            code = self.env.get(_file_key(val)) if not dyn else None
            if value.type == "process_substitution":
                code = self.static_output(value, mark)
            if code:
                self.nested(code, "bash", f"{key}=")
        elif not dyn and val.strip():
            if key in _PROGRAM_NAME_VARS and re.fullmatch(r"[\w./+-]+", val.strip()):
                return  # EDITOR=vim: a program the tool opens files with, not code
            if key in ("PS0", "PS1", "PS2", "PS4"):  # prompt text: its $(...) and `...` run
                for code in _substitution_code(val):
                    self.nested(code, "bash", f"{key}=")
                return
            self.nested(val, "bash", f"{key}=")

    def assign(self, n: Any) -> None:
        name = n.child_by_field_name("name")
        value = n.child_by_field_name("value")
        if name is None:
            return
        self.code_var(n)
        append = any(c.type == "+=" for c in n.children)
        if name.type == "subscript":  # a[0]=rm: one element
            self.walk_substitutions(name)  # a[$(cmd)]=x: the index's commands run too
            base = name.child_by_field_name("name")
            index = name.child_by_field_name("index")
            if base is None or index is None:
                return
            key, idx = self.text(base), self.text(index)
            val, dyn = self.value_word(value) if value is not None else ("", False)
            if _ASSOC + key in self.env:  # declare -A a; a[x]=rm
                sub = self.key_of(index)
                if dyn or sub is None:
                    self.assoc_unknown(key)
                else:
                    prev = (self.assoc_get(key, sub) or "") if append else ""
                    self.assoc_set(key, sub, prev + val)
                return
            k = _arith(idx)
            if (
                not dyn
                and k is not None
                and k < MAX_ELEMENTS
                and self.set_element(key, k, val, append)
            ):
                return
            elems = self.elements(key)
            if dyn or elems is None or k is None or k >= MAX_ELEMENTS:
                self.forget(key)  # a[$i]=x, a[99999999999]=x: not tracked
                return
            elems += [""] * (k + 1 - len(elems))
            elems[k] = (elems[k] + val) if append else val
            self.set_array(key, elems)
            return
        key = self.text(name)
        if _NAMEREF + key in self.env:  # declare -n r=x; r=rm may set x
            self.maybe(self.env[_NAMEREF + key])
        if not append:  # (`declare -A x; x=ls` keeps x associative: not forgotten below)
            self.env.pop(_ASSIGNED + key, None)
            self.env.pop(_UNSET + key, None)
        if value is not None and value.type == "array":
            # a=(rm -rf /etc): "${a[@]}" gives the elements, ${a[i]} one, $a the first;
            # the value is read before the old one goes (a=("${a[@]}" /etc))
            new = [(c, *self.value_word(c)) for c in value.named_children if c.type != "comment"]
            keyed = all(c.type == "concatenation" and _SUBSCRIPT.match(v) for c, v, _ in new)
            if _ASSOC + key in self.env and not keyed:
                # declare -A a; a=(rm -rf /etc): bash 5.1 reads key-value pairs, older ones
                # refuse the words; the declare may also not have run (`true || declare -A
                # a`): read as the indexed array the words make, the worse reading
                self.forget(key)
            if _ASSOC + key in self.env:  # declare -A a=([x]=rm [y]=-rf)
                if not append:
                    self.forget(key)
                    self.env[_ASSOC + key] = ""
                for _c, v, d in new:
                    m = _SUBSCRIPT.match(v)
                    if d or m is None:  # a dynamic element: what the array holds is unknown
                        self.assoc_unknown(key)
                        break
                    self.assoc_set(key, m.group(1), v[m.end() :])
                return
            if append and self.extend_array(key, new):
                return
            elems = self.elements(key) if append else []
            if any(d for _, _, d in new) or elems is None:
                self.forget(key)
                return
            at = len(elems)
            for c, v, _ in new:  # a=([2]=/etc [0]=rm -rf): an unquoted [i]= sets element i
                m = _SUBSCRIPT.match(v) if c.type == "concatenation" else None
                if m:  # [0x2]=, [1+1]=: arithmetic; [$i]= or [i]= unknown here
                    k = _arith(m.group(1))
                    at = MAX_ELEMENTS if k is None else k
                    v = v[m.end() :]
                if at >= MAX_ELEMENTS:
                    self.forget(key)
                    return
                elems += [""] * (at + 1 - len(elems))
                elems[at] = v
                at += 1
            self.set_array(key, elems)
            return
        val, dyn = self.value_word(value) if value is not None else ("", False)
        if append and not dyn:  # x+=" -rf /etc" (unset: empty)
            old = self.elements(key)
            val, dyn = ((old[0] if old else "") + val, False) if old is not None else (val, True)
        if _ASSOC + key in self.env:  # declare -A a; a=x: still associative (x is a[0])
            if dyn:
                self.assoc_unknown(key)
            else:
                self.assoc_set(key, "0", val)
            return
        self.forget(key)
        if not dyn:
            self.env[key] = val[:MAX_VALUE]  # x="$x$x" doubles: bounded

    def elements(self, key: str) -> list[str] | None:
        """The known elements of array `key` (a plain variable is a one-element array)."""
        if _UNTRACKED + key in self.env or _ASSOC + key in self.env:
            return None
        if key + "[@]" in self.env:
            n = int(self.env.get(key + "[#]", "0"))
            return [self.env.get(f"{key}[{i}]", "") for i in range(n)]
        if key in self.env:
            return [self.env[key]]
        if key in _DEFAULT_ENV or key in ("1", "2", "@", "*"):
            return None
        return []  # unset: empty

    def set_array(self, key: str, elems: list[str]) -> None:
        self.forget(key)
        elems = elems[:MAX_ELEMENTS]
        live = int(self.env.get(_LIVE, "0"))  # elements held by every indexed array here
        if live + len(elems) > MAX_TRACKED:  # thousands of elements held on one line: this
            self.env[_UNTRACKED + key] = "1"  # array is unknown from here, and the line unsure
            self.undecodable.append(f"array {key}: more elements than are followed")
            return
        self.env.pop(_UNTRACKED + key, None)
        self.env[key] = elems[0] if elems else ""
        self.env[key + "[@]"] = " ".join(elems)  # "${a[@]}" (_DIRTY: to be joined when read)
        self.env[key + "[#]"] = str(len(elems))  # how many (${#a[@]})
        self.env[_LIVE] = str(live + len(elems))
        for i, v in enumerate(elems):
            self.env[f"{key}[{i}]"] = v

    def forget_positional(self) -> None:
        """$@, $1.. known only when run from here on (and a later `set --` not followed)."""
        self.env.setdefault("\x00positional", "1")  # (a `set -- $(cmd)` before stays known)
        for key in _POSITIONAL:
            self.env.pop(key, None)

    def set_positional(self, args: list[str]) -> None:
        """`set -- rm -rf /etc`: "$@", $1.. hold the words from here on. Only the line's first
        such set is followed; a later one (which a subshell or branch may not run, or which
        options may precede), `shift`, or unknown words leave them unknown."""
        k, plain = 0, False
        while k < len(args) and args[k] != "--":
            if args[k] in ("-o", "+o"):
                k += 1  # its option's name
            elif not args[k].startswith(("-", "+")):
                plain = True
                break
            k += 1
        if not plain and k >= len(args):
            return  # options only (set -e, set -o pipefail)
        first = "\x00positional" not in self.env
        self.forget_positional()
        words = args[1:] if args[0] == "--" else None
        if any(re.search(r"\$\(|`|\$\{?[A-Za-z_]", w) for w in words or args[k:]):
            self.env["\x00positional"] = "run-time"  # `set -- $(cat f)`: what cat prints
        if not first or words is None or any(is_dynamic(w) for w in words):
            return
        self.env["@"] = self.env["*"] = " ".join(words)
        self.env[_ARGC] = str(len(words))
        self.env[_ARGV] = "\x1f".join(words)[:MAX_VALUE]
        for pos in range(1, 10):
            self.env[str(pos)] = words[pos - 1] if pos <= len(words) else ""

    def maybe(self, key: str) -> None:
        """`key` may hold a value known only when the line runs (`read key`, a loop's variable
        after the loop): what it holds now is kept (the set may not run: a subshell, a pipe, a
        branch), and a command named by it is also read as a name known only when run."""
        self.env[_MAYBE + key] = "1"
        target = self.env.get(_NAMEREF + key)
        if target is not None:  # read r, with r a reference: its target too
            self.env[_MAYBE + target] = "1"

    def _held(self, key: str) -> int | None:
        """How many elements indexed array `key` holds, when it is one and known."""
        if key + "[@]" not in self.env or _UNTRACKED + key in self.env or _ASSOC + key in self.env:
            return None
        return int(self.env.get(key + "[#]", "0"))

    def set_element(self, key: str, k: int, val: str, append: bool) -> bool:
        """`a[k]=val` (`+=`) on a held array in place (rebuilding it made a line of such
        assignments quadratic); False where `set_array` must decide (not held, or past the
        elements a line may hold)."""
        n = self._held(key)
        if n is None:
            return False
        live = int(self.env.get(_LIVE, "0"))
        if k >= n and live + (k + 1 - n) > MAX_TRACKED:
            return False
        for i in range(n, k):
            self.env[f"{key}[{i}]"] = ""
        if k < n:  # (as before: only a held element's rewrite is bounded)
            old = self.env.get(f"{key}[{k}]", "")
            self.env[f"{key}[{k}]"] = ((old + val) if append else val)[:MAX_VALUE]
            self.env[key + "[@]"] = _DIRTY  # joined again when read, not at every write
        else:
            self.env[f"{key}[{k}]"] = val
            joined = self.env[key + "[@]"]
            if joined != _DIRTY:
                added = " ".join([""] * (k - n) + [val])
                self.env[key + "[@]"] = f"{joined} {added}" if n else added
        if k == 0:
            self.env[key] = self.env[f"{key}[0]"]
        if k >= n:
            self.env[key + "[#]"] = str(k + 1)
            self.env[_LIVE] = str(live + k + 1 - n)
        return True

    def extend_array(self, key: str, new: list[tuple[Any, str, bool]]) -> bool:
        """`a+=(x y)` on a held array, in place; False where `set_array` must decide (not held,
        a dynamic or `[i]=` element, or past the elements an array or a line may hold)."""
        n = self._held(key)
        if n is None or any(
            d or (c.type == "concatenation" and _SUBSCRIPT.match(v)) for c, v, d in new
        ):
            return False
        live = int(self.env.get(_LIVE, "0"))
        if n + len(new) > MAX_ELEMENTS or live + len(new) > MAX_TRACKED:
            return False
        for j, (_c, v, _d) in enumerate(new):
            self.env[f"{key}[{n + j}]"] = v
        joined = self.env[key + "[@]"]
        if joined != _DIRTY:
            added = " ".join(v for _c, v, _d in new)
            self.env[key + "[@]"] = f"{joined} {added}" if n and new else joined + added
        if n == 0 and new:
            self.env[key] = new[0][1]
        self.env[key + "[#]"] = str(n + len(new))
        self.env[_LIVE] = str(live + len(new))
        return True

    def forget(self, key: str) -> None:
        self.env.pop(key, None)
        self.env.pop(_ASSIGNED + key, None)
        self.env.pop(_FDVAR + key, None)
        self.env.pop(_UNSET + key, None)
        self.env.pop(_UNTRACKED + key, None)
        keys = self.env.pop(_ASSOC + key, None)
        if keys is not None:  # an associative array: its values by key
            for sub in keys.split("\x1f") if keys else ():
                self.env.pop(_AVAL + key + "\x1f" + sub, None)
            return
        held = self.env.pop(key + "[#]", None)
        if held is not None:  # an indexed array: its elements by number
            self.env[_LIVE] = str(int(self.env.get(_LIVE, "0")) - int(held))
            self.env.pop(key + "[@]", None)
            for i in range(int(held)):
                self.env.pop(f"{key}[{i}]", None)

    def assoc_get(self, key: str, sub: str) -> str | None:
        """Associative array `key`'s value at `sub`, or None when unknown or unset (a key set
        after the array became unknown is known)."""
        return self.env.get(_AVAL + key + "\x1f" + sub)

    def assoc_set(self, key: str, sub: str, val: str) -> None:
        keys = self.env.get(_ASSOC + key, "")
        have = keys.split("\x1f") if keys else []
        if "\x1f" in sub or (sub not in have and len(have) >= MAX_ELEMENTS):
            self.assoc_unknown(key)
            return
        if sub not in have:
            self.env[_ASSOC + key] = "\x1f".join([*have, sub])
        self.env[_AVAL + key + "\x1f" + sub] = val[:MAX_VALUE]

    def assoc_unknown(self, key: str) -> None:
        """Associative array `key` holds what is not known here (it stays associative)."""
        self.forget(key)
        self.env[_ASSOC + key] = ""
        self.env[_UNTRACKED + key] = "1"

    def key_of(self, index: Any) -> str | None:
        """An associative array's key (`a[x]`, `a["x y"]`, `a[$k]` when $k is known)."""
        v, dyn = self.word(index)
        return None if dyn else v

    def key_text(self, sub: str) -> str | None:
        """An associative array's key as written in ${a[KEY]}: quotes removed, `$k` or `${k}`
        read as assignments on this line left it; None when it is not known here."""
        key = _unquote_key(sub)
        if sub[:1] == "'" or "$" not in key:
            return key
        m = re.fullmatch(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", key)
        if m is None:
            return None
        v, dyn = self.var(m.group(1))
        return None if dyn else v

    def walk_substitutions(self, n: Any) -> None:
        for c in n.named_children:
            if c.type in ("command_substitution", "process_substitution"):
                self.stmt(c)
            else:
                self.walk_substitutions(c)

    def list_heads(self, body: Any, data: str | None) -> Any:
        """Read every command of an `A && B || C` list but the last, each given `data` as its
        input; return the last (`body` itself when it is no list)."""
        while body is not None and body.type == "list":
            kids = [x for x in body.named_children if x.type != "comment"]
            if not kids:
                break
            for x in kids[:-1]:
                self.stmt(x, None, data)
            body = kids[-1]
        return body

    def exec_first(self, n: Any) -> bool:
        """A redirected list `A && B <&3` whose earlier commands may open descriptors (an
        `exec`), with only plain redirects (no herestring, heredoc or `<(...)`): B's input is
        read after A ran."""
        body = n.child_by_field_name("body")
        if body is None or body.type != "list":
            return False
        for c in n.children:
            if c.type in ("heredoc_redirect", "herestring_redirect", "heredoc_body"):
                return False
            if c.type == "file_redirect" and any(
                x.type == "process_substitution" for x in c.named_children
            ):
                return False
        kids = [x for x in body.named_children if x.type != "comment"]
        return any(re.search(r"\bexec\b", self.text(x)) for x in kids[:-1])

    def held_input(self, n: Any, stdin_data: str | None) -> str | None:
        """The text the input redirects of statement `n` give from descriptors as they are
        now (`<&3`, `< /dev/fd/3` after `exec 3<<< CODE`), else `stdin_data`."""
        data = stdin_data
        for c in n.children:
            fd = c.child_by_field_name("descriptor")
            if c.type != "file_redirect" or (fd is not None and self.text(fd) != "0"):
                continue
            m = re.fullmatch(r"0?(?:<&\s*(\d+)-?|<\s*(\S+))", self.text(c).strip())
            src = m and self.fd_num(m.group(1) or _fd_of_path(m.group(2) or "") or "")
            if src and _FD + src in self.env:
                data = self.env[_FD + src]
        return data

    def bare_exec(self, n: Any) -> bool:
        """A command node that is `exec` with no command: only `{fd}` words and redirects
        (`exec 3<<< CODE`, `exec {a}<<< X {b}> >(sh)`): its redirects stay for the rest of
        the shell."""
        if n is None or n.type != "command":
            return False
        name = n.child_by_field_name("name")
        return (
            name is not None
            and self.text(name) == "exec"
            and all(_NAMED_FD.fullmatch(self.text(a)) for a in n.children_by_field_name("argument"))
        )

    def exec_fd_word(self, n: Any) -> Any:
        """The `{fd}` word that ends a bare `exec` command node (`exec {fd}<<< CODE`: the
        redirect is glued to it), else None: another command's `{fd}` redirect is opened in
        its own process, and its `fd` is not set in this shell."""
        if not self.bare_exec(n):
            return None
        args = n.children_by_field_name("argument")
        return args[-1] if args else None

    def named_fd(self, word: Any, redirect: Any) -> str | None:
        """`exec {fd}<<< CODE`, `exec {fd}> >(sh)`: bash opens a free descriptor (10 or above)
        and puts its number in `fd`; here each such redirect opens the lowest from 10 that
        no redirect known here opened (`_FD`, `_SINK`, `_FD_OPEN`; none is closed), and a
        descriptor written `$fd` (`bash <&$fd`, `/dev/fd/$fd`) is that one where `fd` holds no
        value known here (`fd_num`). What `fd` held stays its reading: the exec may not run
        here (a subshell, a branch, a function), and a readonly `fd` keeps its value. Only
        `exec`'s callers call this (another command's `{fd}` is its own, in its process). None
        where `word`, glued before `redirect`, is no `{NAME}`, or where the redirect closes
        `$NAME`'s descriptor (`{fd}<&-`)."""
        if word is None or word.end_byte != redirect.start_byte:
            return None
        if not _NAMED_FD.fullmatch(self.text(word)) or re.search(
            r"[<>]&-\s*$", self.text(redirect)
        ):
            return None
        k = int(self.env.get(_FD_NEXT, "10"))
        while any(key + str(k) in self.env for key in (_FD, _SINK, _FD_OPEN)):
            k += 1  # the lowest free one: a descriptor known open is never taken again
        num = str(k)
        self.env[_FD_NEXT] = str(k + 1)
        self.env[_FD_OPEN + num] = "1"
        self.env[_FDVAR + self.text(word)[1:-1]] = num
        return num

    def opened_fd(self, desc: str, redirect: Any, cmd: Any) -> None:
        """`exec 10< FILE`, `exec 12> >(sh)`: a descriptor (10 or above) a bare `exec` opens,
        which a later `exec {fd}...` does not take (`named_fd`)."""
        if (
            desc.isdecimal()
            and int(desc) >= 10
            and not re.search(r"[<>]&-\s*$", self.text(redirect))
            and self.bare_exec(cmd)
        ):
            self.env[_FD_OPEN + str(int(desc))] = "1"

    def fd_num(self, ref: str) -> str:
        """A descriptor as written (`3`, `3-`, `$fd`, `${fd}`): its number, where `$fd` is a
        descriptor an `exec {fd}...` opened and `fd` holds nothing known here; else `ref`."""
        m = re.fullmatch(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?-?", ref)
        if m is None:
            return ref.rstrip("-")
        return self.env.get(_FDVAR + m.group(1), ref.rstrip("-"))

    def redirect(self, n: Any) -> tuple[str, str]:
        op = ""
        dest = ""
        for c in n.children:
            if not c.is_named:
                op += c.type
            elif c.type == "ERROR":  # the grammar splits `<>` (read-write) into `<` + ERROR `>`
                op += self.text(c).strip()
            elif c.type == "file_descriptor":
                continue
            elif not dest:
                dest = self.word(c)[0]
        return op, dest

    def word(self, n: Any) -> tuple[str, bool]:
        """The text word `n` stands for, and whether it is known only when run."""
        got = self._word(n)
        if not got[1] and n.type in ("simple_expansion", "expansion", "string", "concatenation"):
            self._expanded[0] += len(got[0])
            if self._expanded[0] > MAX_EXPANDED:  # `x=$x$x` doubled, then used thousands of times
                if not self.too_deep:
                    self.undecodable.append("values expanded past what is followed")
                self.too_deep = True  # obfuscation: past what can be read
                return self.text(n), True
        return got

    def _word(self, n: Any) -> tuple[str, bool]:
        t = n.type
        if t in ("word", "concatenation") and re.fullmatch(r"\{[^{}\s]*,[^{}\s]*\}", self.text(n)):
            return " ".join(self.text(n)[1:-1].split(",")), False  # `{rm,-rf,/x}` runs `rm -rf /x`
        if t == "word":
            return re.sub(r"\\(.)", r"\1", self.text(n)), False
        if t == "raw_string":
            return self.text(n)[1:-1], False
        if t == "ansi_c_string":
            try:
                return self.text(n)[2:-1].encode("latin-1", "backslashreplace").decode(
                    "unicode_escape"
                ), False
            except (UnicodeDecodeError, UnicodeEncodeError):
                return self.text(n)[2:-1], False
        if t in ("string", "concatenation", "translated_string"):
            start = n.start_byte + (1 if t == "string" else 0)
            end = n.end_byte - (1 if t == "string" else 0)
            pos = start
            out = []
            dyn = False
            for c in n.named_children:
                if c.start_byte > pos:
                    lit = self.src[pos : c.start_byte].decode("utf-8", "replace")
                    out.append(re.sub(r"\\([\"\\$`])", r"\1", lit) if t == "string" else lit)
                if c.type == "string_content":
                    v, d = re.sub(r"\\([\"\\$`])", r"\1", self.text(c)), False
                else:
                    v, d = self.word(c)
                out.append(v)
                dyn |= d
                pos = c.end_byte
            if end > pos:
                out.append(self.src[pos:end].decode("utf-8", "replace"))
            return "".join(out), dyn
        if t == "simple_expansion":
            return self.var(self.text(n)[1:])
        if t == "expansion":
            self.walk_substitutions(n)  # ${x:-$(cmd)} may run cmd
            for k in n.named_children:  # ... as may ${x:-`cmd`}, ${x#$(cmd)}: operands the
                if k.type in ("word", "regex"):  # grammar leaves as plain text
                    for code in _substitution_code(self.text(k)):
                        self.nested(code, "bash", "${...} operand")
            inner = self.text(n)[2:-1]
            arr = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\[([^\]]+)\]", inner)
            if arr:
                name, sub = arr.group(1), arr.group(2)
                if _ASSOC + name in self.env:
                    keys = self.env[_ASSOC + name]
                    got: str | None = None
                    if sub in ("@", "*") and keys and _UNTRACKED + name not in self.env:
                        # bash's order is its hash's; read in the order an indexed array of the
                        # same keys would have (numbers ascending, else as assigned): a guess
                        # that keeps `a[0]=rm a[1]=-rf a[2]=/etc` what it looks like
                        order = keys.split("\x1f")
                        if all(k.isdecimal() and k.isascii() for k in order):
                            order.sort(key=int)
                        vals = [self.assoc_get(name, k) or "" for k in order]
                        got = " ".join(vals)
                    else:
                        at = self.key_text(sub)
                        got = self.assoc_get(name, at) if at is not None else None
                    return (got, False) if got is not None else (self.text(n), True)
                if sub in ("@", "*"):
                    at2: str | None = "@"
                else:
                    k = _arith(sub)
                    at2 = None if k is None else str(k)
                if at2 == "@" and self._held(name) is not None:
                    if self.env[name + "[@]"] == _DIRTY:
                        self.env[name + "[@]"] = " ".join(self.elements(name) or [])
                    return self.env[name + "[@]"], False
                if at2 is not None and f"{name}[{at2}]" in self.env:
                    return self.env[f"{name}[{at2}]"], False
                return self.text(n), True
            sl = _SLICE.fullmatch(inner)
            if sl is not None:
                return self.slice(sl, n)
            m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*|[0-9@*])(?:(:?)([-=])(.*))?$", inner)
            if m:
                v, d = self.var(m.group(1))
                if m.group(1) == "*" and m.group(2) and n.parent is not None:
                    v = self.joined_args(v) if n.parent.type == "string" else v
                if m.group(4) is not None and (d or (m.group(2) and v == "")):
                    if (
                        m.group(3) == "="
                        and _NAME.fullmatch(m.group(1))
                        and not re.search(r"[$`'\"\\]", m.group(4))
                    ):
                        # `: ${x:=rm}`: x may hold the word from here on (a command named `$x`
                        # is read both ways); what it held stays a reading: the expansion may
                        # not run here (a subshell, a branch, a pipe, a command's herestring),
                        # x may be readonly, or set by a `read`
                        self.env.setdefault(_ASSIGNED + m.group(1), m.group(4)[:MAX_VALUE])
                    return m.group(4), False  # unknown, or `${x:-w}` with x known empty: w
                return v, d
            sub = _SUBST.fullmatch(inner)
            if sub is not None and not re.search(r"[$`]", inner):
                name, op, pattern, text = sub.groups()
                v, d = self.var(name)
                got = None if d else substitute(v, op, pattern, text or "")
                if got is not None:
                    return got, False
                if d and pattern and pattern.strip("*") == "":
                    # `${X/*/rm}`: whatever X holds, it becomes `rm` (or stays empty)
                    return substitute("x", op, pattern, text or "") or "", True
            return self.text(n), True
        if t == "command_substitution":
            mark = self._serial
            self.stmt(n)
            static = self.static_output(n, mark)
            if static is not None:
                return static, False
            return self.text(n), True
        if t == "process_substitution":
            self.stmt(n)
            return self.text(n), True
        if t == "arithmetic_expansion":
            self.walk_substitutions(n)  # $(( $(cmd) )) runs cmd
            return self.text(n), True
        if t == "brace_expression":
            return self.text(n), False
        return self.text(n), False

    def unset_default(self, text: str) -> str | None:
        """The word `${x:-w}` / `${x-w}` / `${x:=w}` gives where x is unset (a plain word), or
        None."""
        m = re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?[-=]([^$`'\"\\]*)\}", text)
        return m.group(1) if m else None

    def joined_args(self, v: str) -> str:
        """`"$*"` (what `"${*:-w}"` tests): the positional words joined by the first character
        of IFS (a blank where it is unset, nothing where it is empty: `IFS=; set -- '' ''`
        makes it empty), where the words are known; else `v`."""
        count = self.env.get(_ARGC, "")
        argv = self.env.get(_ARGV, "").split("\x1f")
        if not count.isdecimal() or int(count) == 0:
            return v
        if len(argv) != int(count):  # (past $9 only the joined words tell)
            if int(count) > 9:
                return v
            argv = [self.env.get(str(k), "") for k in range(1, int(count) + 1)]
        return self.env.get("IFS", " ")[:1].join(argv)

    def slice(self, sl: re.Match[str], n: Any) -> tuple[str, bool]:
        """`${@:1}`, `${a[@]:1:2}`, `${x:0:2}`, `${x: -3}`: the part of a known value an
        offset (and length) select, as bash counts them; unknown values, offsets bash
        computes from variables, and elements holding blanks (joined here, they would split
        into more words than bash gives) stay unknown."""
        base, arr = sl.group("base"), sl.group("arr")
        off = _slice_number(sl.group("off"))
        length = None if sl.group("len") is None else _slice_number(sl.group("len"))
        unknown = self.text(n), True
        if off is None or (sl.group("len") is not None and length is None):
            return unknown
        if base not in ("@", "*") and arr is None:  # a string: characters
            v, d = self.var(base)
            if d:
                return unknown
            first = off if off >= 0 else len(v) + off
            if first < 0:
                return "", False  # bash: an offset before the first expands to nothing
            last = (
                len(v) if length is None else (first + length if length >= 0 else len(v) + length)
            )
            return v[first:last], False
        items: list[str] | None
        if base in ("@", "*"):
            # ${@:0} starts at $0 (the shell's or script's name: known only when run); $1..$9
            # are the words as set (past nine they are not followed)
            count = self.env.get(_ARGC, "")
            items = None
            if off != 0 and count.isdecimal() and int(count) <= 9:
                items = [self.env.get(str(k), "") for k in range(1, int(count) + 1)]
            off -= 1 if off > 0 else 0
        else:
            items = self.elements(arr or "")
        if items is None or (length is not None and length < 0):
            return unknown  # (bash refuses a negative length on $@ or an array)
        start = off if off >= 0 else len(items) + off
        if start < 0:
            return "", False  # bash: an offset before the first expands to nothing
        end = (
            len(items)
            if length is None
            else (start + length if length >= 0 else len(items) + length)
        )
        picked = items[start:end]
        if any(re.search(r"\s", x) for x in picked):
            return unknown
        return " ".join(picked), False

    def var(self, name: str) -> tuple[str, bool]:
        if name == "IFS":
            return self.env.get("IFS") or " ", False
        if _ASSOC + name in self.env:  # $a of an associative array is ${a[0]}
            got = self.assoc_get(name, "0")
            return (got, False) if got is not None else ("$" + name, True)
        if name in self.env:
            return self.env[name], False
        if name in _DEFAULT_ENV:
            return _DEFAULT_ENV[name], False
        return "$" + name, True

    def seen_word(self, n: Any, since: int) -> tuple[str, bool]:
        """`word(n)` as a command walk after serial `since` computed it, else computed now."""
        rec = self._seen.get((n.start_byte, n.end_byte, n.type))
        return rec[1] if rec is not None and rec[0] > since else self.word(n)

    def static_output(self, n: Any, since: int) -> str | None:
        """`$(echo rm)` / `$(printf '%s' rm)`: the text a literal echo would produce (`n` walked
        after serial `since`: its words are read from that walk)."""
        cmds = [c for c in n.named_children if c.type == "command"]
        pipes = [c for c in n.named_children if c.type == "pipeline"]
        if len(pipes) == 1 and len(n.named_children) == 1:
            parts = [c for c in pipes[0].named_children if c.type == "command"]
            if len(parts) == 2:
                first = self.static_echo(parts[0], since)
                second = [self.seen_word(c, since)[0] for c in parts[1].children if c.is_named]
                if (
                    first is not None
                    and second[:1] == ["base64"]
                    and any(x in second for x in ("-d", "--decode"))
                ):
                    raw = _b64(first)
                    return raw.decode("utf-8", "replace") if raw is not None else None
            return None
        if len(cmds) != 1 or len(n.named_children) != 1:
            return None
        return self.static_herestring(cmds[0], since) or self.static_echo(cmds[0], since)

    def static_herestring(self, cmd: Any, since: int) -> str | None:
        """What a one-command substitution prints, when it can be worked out: `base64 -d <<<
        TEXT` and other decoders (rev, xxd -r, base32 -d), `cat <<< TEXT`, `cat FILE` of a file
        this line wrote, and `mktemp` (a new path in /tmp, or beside its template)."""
        name = cmd.child_by_field_name("name")
        if name is None or self.text(name) not in _STATIC_PROGRAMS:
            return None  # (echo/printf are static_echo's: their words are read once)
        args = [self.seen_word(c, since) for c in cmd.children_by_field_name("argument")]
        if any(d for _, d in args):
            return None
        prog, flags = self.text(name), [w for w, _ in args]
        if prog == "mktemp":
            if any(c.type == "variable_assignment" for c in cmd.children):
                return None  # TMPDIR=/ mktemp: a folder set for it alone
            tmpdir = self.env.get("TMPDIR")
            if tmpdir is None and re.search(r"\bTMPDIR\b", self.command):
                return None  # TMPDIR changed on the line to a value not known here
            return _mktemp_path(flags, tmpdir)
        here = [c for c in cmd.children if c.type == "herestring_redirect" and c.named_children]
        if not here:
            if prog == "cat" and len(flags) == 1 and _file_key(flags[0]) in self.env:
                return self.env[_file_key(flags[0])]  # echo CODE > x; eval "$(cat x)"
            return None
        text, dyn = self.seen_word(here[-1].named_children[-1], since)
        if dyn:
            return None
        if prog == "cat" and not flags:
            return text
        decode = _decoder(Invocation(self.shell, prog, flags, self.text(cmd)))
        if decode is None:
            return None
        raw = decode((text + "\n").encode())
        return raw.decode("utf-8", "replace") if raw is not None else None

    def static_echo(self, cmd: Any, since: int) -> str | None:
        cmds = [cmd]
        name = cmds[0].child_by_field_name("name")
        if name is None or self.text(name) not in ("echo", "printf"):
            return None
        words = [self.seen_word(c, since) for c in cmds[0].children_by_field_name("argument")]
        if any(d for _, d in words):
            return None
        vals = [w for w, _ in words]
        if self.text(name) == "echo":  # its options lead (`echo -n rm -rf /etc` prints -rf)
            return echo_output(vals)
        if vals[:1] == ["--"]:
            vals.pop(0)
        if not vals or vals[0].startswith("-"):  # `printf -v x ...` prints nothing
            return None
        return printf_output(vals[0], vals[1:])

    def fields(self, val: str) -> list[str]:
        """Word splitting of an unquoted expansion's value on IFS (default: blanks)."""
        ifs = self.env.get("IFS")
        if ifs is None or not ifs.strip(" \t\n"):
            return val.split()
        return [w for w in re.split("[" + re.escape(ifs + " \t\n") + "]+", val) if w]

    def _splits(self, node: Any) -> bool:
        """Unquoted expansions split into words (`$CMD`, `rm${IFS}-rf${IFS}/`, `{rm,-rf,/}`); quotes do not."""
        if node.type in ("simple_expansion", "expansion", "command_substitution"):
            return True
        if (
            node.type == "string"
            and len(node.named_children) == 1
            and node.named_children[0].type in ("expansion", "simple_expansion")
            and (
                re.fullmatch(
                    r"\$\{(?:[A-Za-z_][A-Za-z0-9_]*\[@\]|@)(?::(?![-=+?])[^{}]*)?\}|\$@",
                    self.text(node)[1:-1],
                )
                # "${@:-x}" is "$@" when there are positional words (here known: set --)
                or (
                    re.fullmatch(r"\$\{@:?[-=][^{}]*\}", self.text(node)[1:-1]) is not None
                    and self.env.get(_ARGC, "0") not in ("", "0")
                    and self.env.get("@", "").strip() != ""  # (`set -- ''`: the default)
                )
            )
        ):
            return True  # "${a[@]}", "$@", "${@:2}": one word per element
        if node.type in ("word", "concatenation") and re.fullmatch(
            r"\{[^{}\s]*,[^{}\s]*\}", self.text(node)
        ):
            return True
        return node.type == "concatenation" and any(
            k.type in ("simple_expansion", "expansion") for k in node.named_children
        )

    def command_node(
        self, n: Any, redirects: list[tuple[str, str]], stdin_data: str | None
    ) -> None:
        name_node = n.child_by_field_name("name")
        words: list[str] = []
        reds = list(redirects)
        data = stdin_data
        self._serial += 1
        mark = serial = self._serial
        prints = name_node is not None and self.text(name_node) in ("echo", "printf", "base64")
        if name_node is None:
            for c in n.named_children:
                if c.type == "variable_assignment":
                    self.assign(c)
            return
        procsubs: list[Any] = []
        after_name = dyn_name = False
        defaulted: str | None = None  # `${CMD:-ls}` with CMD unknown here, or `$x` after `read x`
        maybe_name = False
        # `$x`, which a `${x:=w}` may have set to w; `${x:-w}` after an `unset x`: w
        assigned: list[str] = []
        fds_only = True  # the arguments so far are all `{fd}` (`exec {a}<<< X {b}<<< Y`)
        code_args: list[tuple[int, str]] = []  # (word index, text) of `$x` args with a maybe value
        n_name = 0  # how many words the name gave
        kids = n.children
        for at_kid, c in enumerate(kids):
            prev = kids[at_kid - 1] if at_kid else None
            if c.type == "variable_assignment":
                self.code_var(c)  # GIT_SSH_COMMAND='CODE' git fetch
                if c.child_by_field_name("value") is not None:
                    self.value_word(c.child_by_field_name("value"))
                continue
            if c.type == "process_substitution" and c != name_node:
                procsubs.append(c)
            if c.type == "file_redirect":
                reds.append(self.redirect(c))
                if _stdin_op(*reds[-1]):  # `bash < <(echo CODE)`: its input is what it prints
                    procsubs += [x for x in c.named_children if x.type == "process_substitution"]
            elif c.type == "herestring_redirect":
                here = self.word(c.named_children[-1])[0] if c.named_children else ""
                named = self.named_fd(prev, c) if words[:1] == ["exec"] and fds_only else None
                if named is not None:  # `exec {fd}<<< CODE`: the new descriptor holds it
                    self.env[_FD + named] = here[:MAX_VALUE]
                else:
                    data = here
            elif c == name_node:
                after_name = True
                inner = c.named_children[0] if c.named_children else None
                if inner is None:
                    words.append(self.text(c))
                else:
                    val, dyn = self.word(inner)
                    # an unquoted expansion splits on whitespace: `$CMD` may hold a whole command;
                    # one known to be empty is no word at all (`e=; $e rm -rf /`)
                    # (an output not worked out stays one word: its text is not its value)
                    unquoted = self._splits(inner) and not (
                        dyn and inner.type == "command_substitution"
                    )
                    # a bare $X, $X$Y, "$@" or $(cmd) may expand to nothing; $X/path may not
                    dyn_name = dyn and (
                        inner.type in ("simple_expansion", "expansion", "command_substitution")
                        or (
                            inner.type in ("concatenation", "string")
                            and bool(inner.named_children)
                            and all(
                                k.type in ("simple_expansion", "expansion", "command_substitution")
                                for k in inner.named_children
                            )
                            and not re.search(r"[^\s$@*{}\w\"()]", self.text(inner))
                        )
                    )
                    if not (unquoted and not dyn and not val.strip()):
                        words.extend(self.fields(val) if unquoted and val.strip() else [val])
                    n_name = len(words)
                    bare = self.text(inner).removeprefix('"').removesuffix('"')
                    if inner.type in ("expansion", "string", "simple_expansion"):
                        dm = _DEFAULTED.fullmatch(bare)
                        vm = _PLAIN_VAR.fullmatch(bare)
                        if dm is not None and not dyn and self.var(dm.group(1))[1]:
                            defaulted = self.text(inner)  # only with arguments (below)
                        elif vm is not None and not dyn and _MAYBE + vm.group(1) in self.env:
                            defaulted = self.text(inner)
                            maybe_name = True
                        if vm is not None and _ASSIGNED + vm.group(1) in self.env:
                            # `: ${x:=rm}; $x -rf /etc`: x may hold what the expansion set
                            assigned = self.fields(self.env[_ASSIGNED + vm.group(1)])
                        elif dm is not None and _UNSET + dm.group(1) in self.env:
                            # `x=ls; unset x; ${x:-rm} -rf /etc`: x may be unset: the default
                            assigned = self.fields(self.unset_default(bare) or "")
            elif c.is_named and c.type not in ("comment",) and after_name:
                fds_only = fds_only and _NAMED_FD.fullmatch(self.text(c)) is not None
                got = self.word(c)
                if prints:  # what static_echo/static_output read again (echo, printf, base64)
                    self._seen[(c.start_byte, c.end_byte, c.type)] = (serial, got)
                val = got[0]
                vm = _PLAIN_VAR.fullmatch(self.text(c).removeprefix('"').removesuffix('"'))
                if vm is not None and not got[1] and _MAYBE + vm.group(1) in self.env:
                    code_args.append((len(words), self.text(c)))
                braced = (
                    brace_words(val)
                    if "{" in val
                    and not got[1]
                    and (
                        c.type == "word"
                        or (
                            c.type == "concatenation"
                            and all(k.type == "word" for k in c.named_children)
                        )
                    )
                    else None
                )
                words.extend(
                    braced
                    if braced is not None  # /etc{,.bak}: two words
                    else self.fields(val)
                    if "$" not in val
                    and self._splits(c)
                    and val.strip()
                    and not (got[1] and c.type == "command_substitution")
                    else [val]
                )
        extra: list[str] = []  # `rm 2>/dev/null -rf /etc`: the words after the redirect
        for c in self._trailing.get((n.start_byte, n.end_byte), ()):
            val, dyn = self.word(c)
            extra += self.fields(val) if not dyn and self._splits(c) and val.strip() else [val]
        for at, expansion in code_args:
            # `read x; eval "$x"`, `sh -c "$x"`: the code is what was read, known only when
            # run (beside the reading of what x held before)
            runs_code = bool(words) and (
                words[0] == "eval"
                or (
                    _basename(words[0]) in _SHELLS
                    and 2 <= at <= len(words)
                    and words[at - 1] == "-c"
                )
            )
            if runs_code:
                alt_code = self.emit_unix([expansion], self.text(n), reds, data)
                if alt_code is not None:
                    self.out.append(alt_code)
        if dyn_name and len(words) > 1:
            # `$SUDO rm -rf /`: an unknown name may expand to nothing, leaving the rest to run
            rest_inv = self.emit_unix(words[1:], self.text(n), reds, data)
            if rest_inv is not None:
                rest_inv.if_empty = True
                self.out.append(rest_inv)
        if assigned:
            set_inv = self.emit_unix([*assigned, *words[n_name:]], self.text(n), reds, data)
            if set_inv is not None:
                self.out.append(set_inv)
        if defaulted is not None and (maybe_name or words[n_name:]):
            # `${CMD:-ls} -rf /etc`: the default runs only where CMD is unset or empty, and CMD
            # may be set where the line runs (exported earlier); `read x; $x -rf /etc`: x holds
            # what was read: also a name known only when run
            alt = self.emit_unix([defaulted, *words[n_name:]], self.text(n), reds, data)
            if alt is not None:
                self.out.append(alt)
        if words and re.fullmatch(r"\$\{?SHELL\}?", words[0]):
            # `$SHELL -c CODE`: the user's shell, which runs CODE (read beside the other readings)
            as_sh = self.emit_unix(["sh", *words[1:]], self.text(n), reds, data)
            if as_sh is not None:
                self.out.append(as_sh)
        alias = self.env.get("\x00alias:" + words[0]) if words else None
        expanding = "\x00expanding:" + (words[0] if words else "")
        if alias is not None and expanding not in self.env:
            # alias x='rm -rf'; x /etc: a later line (an interactive shell) runs the alias's
            # code; `bash -c` and the same line run the name itself, judged below as well
            self.env[expanding] = "1"
            self.nested(
                " ".join([alias, *(_quote(w) for w in words[1:])]),
                "bash",
                "alias",
                privileged=self.privileged,
            )
            del self.env[expanding]
        if words and _basename(words[0]) in ("eval", "source", "."):
            self.forget_positional()  # code not followed here may set $1..
        if words and has_glob(_basename(words[0])):
            # the pattern as itself too (`/bin/[rs][mh]` is read as sh, and matches rm)
            as_glob = self.emit_unix(words, self.text(n), reds, data, resolve_globs=False)
            if as_glob is not None:
                self.out.append(as_glob)
        if data is not None:
            # eval "$(cat)" <<< CODE, sh -c "$(cat)" <<< CODE: cat prints the command's input
            words = [data if _READS_STDIN.fullmatch(w) else w for w in words]
            extra = [data if _READS_STDIN.fullmatch(w) else w for w in extra]
        beside = False
        if extra and words:
            # bash gives them to the command (`rm -rf /etc`): read so too, with what it prints
            # (to a pipe, to `exec > >(sh)`'s descriptor, to a file) and the script it runs;
            # the reading without them is kept last (its state: a `cd`, a `set`; what a
            # pipeline links to, as before), beside it
            with_extra = self.emit_unix([*words, *extra], self.text(n), reds, data)
            if with_extra is not None:
                self.out.append(with_extra)
                self.sink_print(with_extra, data)
                self.written_scripts(with_extra, reds, data)
                self.fd_script(with_extra)
                beside = True
        if words == ["exec"] and (data is not None or any(_stdin_op(*r) for r in reds)):
            # `exec < <(echo CODE)`, `exec <<< CODE`: an interactive shell reads its next
            # commands from there, as `bash < <(echo CODE)` would
            words = ["bash"]
        inv = self.emit_unix(words, self.text(n), reds, data)
        if inv is None:
            return
        if self.env.get("\x00positional") == "run-time" and re.match(r"\$\{?[@*0-9]", inv.name):
            inv.set_here = True
        inv.beside = beside
        self.out.append(inv)
        self.sink_print(inv, data)
        for name in _set_by(inv):  # read x, printf -v x, mapfile x: a value known only when run
            self.maybe(name)
        if inv.name == "set" and inv.args:
            self.set_positional(inv.args)
        elif inv.name == "shift":
            self.forget_positional()  # the positional words move
        if inv.name == "hash" and inv.args[:1] == ["-p"] and len(inv.args) >= 3:
            # `hash -p /bin/rm ls`: from here on `ls` runs /bin/rm
            for hashed in inv.args[2:]:
                self.env["\x00alias:" + hashed] = _quote(inv.args[1])
        if inv.name == "alias":
            for a in inv.args:
                aname, eq, val = a.partition("=")
                if eq and aname and not aname.startswith("-"):
                    self.env["\x00alias:" + aname] = val
                    if val.strip():  # judged as a definition: see rules.assess_parsed
                        for d in self.nested(val, "bash", ALIAS_VIA, privileged=inv.privileged):
                            d.defined_only = True
        if inv.name == "cd" and not [a for a in inv.args if not a.startswith("-")]:
            # a bare `cd` goes home: $HOME where the line set it, else ~
            self.env["\x00cwd"] = self.env.get("HOME", "~") or "~"
        elif inv.name in ("cd", "pushd") and inv.args and not is_dynamic(inv.args[0]):
            target = inv.args[0]
            base = self.env.get("\x00cwd")
            if not target.startswith(("/", "~")) and base:
                target = base.rstrip("/") + "/" + target
            self.env["\x00cwd"] = target
        self.written_scripts(inv, reds, data)
        for op, dest in reds:
            if op in (">", ">>", "&>", ">|", "&>>") and _shell_reading(dest):
                # echo CODE > >(sh): the shell inside reads what is written
                text = printed_text(inv, data)
                if text:
                    self.nested(text, "bash", ">(sh)", privileged=inv.privileged)
        if procsubs and (inv.name in ("source", ".") or inv.name in _SHELLS):
            # source <(echo 'CODE') / bash <(printf ...): the substitution's output is the script
            # (other substitutions' commands are walked as words; what they print is unknown,
            # as for `source FILE`)
            for ps in procsubs:
                static = self.static_output(ps, mark)
                cmds = [c for c in ps.named_children if c.type == "command"]
                head = cmds[0].child_by_field_name("name") if len(cmds) == 1 else None
                if static is None and head is not None and self.text(head) in ("echo", "printf"):
                    # source <(echo "$X"): runs what $X holds, as `eval "$X"` would
                    words = [
                        self.seen_word(c, mark)[0]
                        for c in cmds[0].children_by_field_name("argument")
                    ]
                    if self.text(head) == "printf" and words and "%" in words[0]:
                        words = words[1:]  # printf '%s\n' "$X": the arguments are printed
                    static = " ".join(w for w in words if not re.fullmatch(r"-[neE]+", w))
                if static is not None:
                    self.nested(
                        static,
                        "bash",
                        f"{inv.name} <()",
                        privileged=inv.privileged,
                        wrappers=inv.wrappers,
                    )
        body = self.functions.get(inv.name)
        if body is not None and inv.args and re.search(r"\$\{?[@*1-9]", body):
            # f(){ "$@"; }; f rm -rf /etc: the body runs again with the call's arguments as
            # its positional parameters (values, never re-read as code)
            names = _POSITIONAL
            saved = {k: self.env.get(k) for k in names}
            self.env["@"] = self.env["*"] = " ".join(inv.args)
            self.env[_ARGC] = str(len(inv.args))
            self.env[_ARGV] = "\x1f".join(inv.args)[:MAX_VALUE]
            for pos in range(1, 10):
                self.env[str(pos)] = inv.args[pos - 1] if pos <= len(inv.args) else ""
            self.nested(
                body,
                "bash",
                f"function {inv.name}",
                privileged=inv.privileged,
                wrappers=inv.wrappers,
            )
            for name, v in saved.items():
                if v is None:
                    self.env.pop(name, None)
                else:
                    self.env[name] = v
        self.fd_script(inv)
        # a shell or interpreter fed a heredoc / herestring runs it (`source /dev/stdin <<< ...` too)
        if data and (inv.name in _SHELLS or inv.name in ("source", ".")) and runs_input(inv):
            self.nested(
                data, "bash", f"{inv.name} <<<", privileged=inv.privileged, wrappers=inv.wrappers
            )
        elif data and _root_shell(inv):  # sudo -s <<EOF ... EOF: the code runs as root
            self.nested(data, "bash", f"{inv.name} <<<", privileged=True, wrappers=inv.wrappers)
        elif data and (host := _input_remote(inv)) is not None:  # ssh host <<EOF ... EOF
            self.nested(data, "bash", "ssh", remote=host, privileged=False)
        elif data and (box := _input_container(inv)) is not None:  # docker exec -i web sh <<EOF
            self.nested(data, "bash", inv.name, remote=box, privileged=False)

    def sink_print(self, inv: Invocation, data: str | None) -> None:
        """After `exec > >(sh)` (or `exec 3> >(sh)` and `>&3`, `>|/proc/self/fd/1`, ...) the
        shell runs what echo / printf / `cat <<EOF` print."""
        dup = [  # (`>|`, `1<>` write there too: every output operator)
            self.fd_num(d) if self.fd_num(d).isdecimal() else self.fd_num(_fd_of_path(d) or "")
            for op, d in inv.redirects
            if (op == ">&" and self.fd_num(d).isdecimal())
            or (op in _OUT_OPS and _fd_of_path(d) is not None)
        ] + ["1" for op, d in inv.redirects if d == "/dev/stdout" or _fd_of_path(d) == "1"]
        if (inv.name in ("echo", "printf") or _cat_heredoc(inv)) and (
            any(_SINK + d in self.env for d in dup)
            or (_SINK + "1" in self.env and not any(">" in op for op, _ in inv.redirects))
        ):
            printed = inv.stdin_data if inv.name == "cat" else printed_text(inv, data)
            if printed:  # after `exec > >(sh)` the shell runs what is printed
                self.nested(printed, "bash", "exec > >(sh)", privileged=inv.privileged)

    def fd_script(self, inv: Invocation) -> None:
        """`exec 3<<< CODE; bash /dev/fd/3`: the script is what descriptor 3 holds."""
        script = (
            inv.args[0]
            if inv.name in ("source", ".") and inv.args
            else (shell_script(inv.args) if inv.name in _SHELLS else None)
        )
        fd = self.fd_num(_fd_of_path(script or "") or "")
        if fd and _FD + fd in self.env:
            held = self.env[_FD + fd]
            self.nested(held, "bash", f"{inv.name} {script}", privileged=inv.privileged)

    def write_file(self, dest: str, text: str, *, append: bool) -> None:
        """Remember that this line wrote `text` to `dest` (a script it may run later)."""
        before = self.env.get(_file_key(dest), "") if append else ""
        self.env[_file_key(dest)] = before + text + "\n"

    def tee_writes(self, writer: list[Invocation], tee: Invocation) -> None:
        """`echo CODE | tee [-a] f.sh`: tee writes what the stage before it printed (and
        `tee >(sh)` gives it to a shell)."""
        if tee.name != "tee" or not writer:
            return
        text = printed_text(writer[-1], writer[-1].stdin_data)
        if text is None:
            return
        if any(_shell_reading(d) for d in tee.args):
            self.nested(text, "bash", "tee >(sh)", privileged=tee.privileged)
        for dest in tee.args:  # kept beside what the line wrote before (`-a` or not: the
            if not dest.startswith("-") and not is_dynamic(dest):  # write may not happen)
                self.write_file(dest, text, append=True)

    def written_scripts(
        self, inv: Invocation, reds: list[tuple[str, str]], data: str | None
    ) -> None:
        """`echo CODE > f.sh; bash f.sh`: remember what the line writes, parse it where it runs
        (also after `mv`/`cp` of it, and from another folder after `cd`)."""
        text = printed_text(inv, data)
        if text is not None:
            # (each file once: `echo CODE >>x >>x ...` prints once, not once per redirect)
            for op, dest in dict.fromkeys(reds):
                if op in (">", ">>", ">|", "&>") and dest and not is_dynamic(dest):
                    self.write_file(dest, text, append=op == ">>")
                    cwd = self.env.get("\x00cwd")
                    if cwd and not dest.startswith(("/", "~")):  # cd /tmp; echo .. > x.sh
                        self.write_file(cwd.rstrip("/") + "/" + dest, text, append=op == ">>")
        if inv.name == "tee" and data is not None:  # tee x.sh <<< CODE
            for dest in inv.args:
                if not dest.startswith("-") and not is_dynamic(dest):
                    self.write_file(dest, data, append=True)
        self.copies(inv)
        runs: str | None = None
        if inv.name in ("source", ".") or inv.name in _SHELLS:
            ops: list[str] = []
            k = 0
            while k < len(inv.args):  # bash -o errexit x.sh: -o/-O take a value
                a = inv.args[k]
                k += 2 if a in ("-o", "+o", "-O", "+O") else 1
                if not a.startswith(("-", "+")):
                    ops.append(a)
            feeds = [dest for op, dest in reds if op == "<"]  # bash < x.sh
            runs = ops[0] if ops else (feeds[0] if feeds else None)
        else:  # ./a.sh: the invocation keeps the base name; the raw text has the path
            runs = next(
                (w for w in inv.raw.split() if "/" in w and _basename(w).lower() == inv.name),
                None,
            )
        cwd = self.env.get("\x00cwd")
        if runs and _file_key(runs) not in self.env and cwd and not runs.startswith(("/", "~")):
            runs = cwd.rstrip("/") + "/" + runs  # echo .. > /tmp/x.sh; cd /tmp; bash x.sh
        script = self.env.get(_file_key(runs or ""))
        running = "\x00running:" + _file_key(runs or "") + "\x00" + (script or "")
        if runs is not None and script is not None and running in self.env:
            self.undecodable.append(f"{runs} runs itself")  # endless: processes pile up
        if runs is not None and script is not None and running not in self.env:
            self.env[running] = "1"  # a script that runs itself is read once
            self.nested(
                self.env[_file_key(runs)],
                "bash",
                f"{inv.name} (written on this line)",
                privileged=inv.privileged,
                wrappers=inv.wrappers,
            )
            del self.env[running]

    def copies(self, inv: Invocation) -> None:
        """`mv a b.sh` / `cp a b.sh` of a file this line wrote carries its text; `cp /bin/rm x`
        or `ln -s /bin/rm ./ls` makes `./x` / `./ls` that program."""
        if inv.name not in ("mv", "cp", "ln", "install"):
            return
        ops = [a for a in inv.args if not a.startswith("-")]
        if len(ops) != 2 or any(is_dynamic(a) for a in ops):
            return
        src, dst = ops
        if _file_key(src) in self.env:
            self.env[_file_key(dst)] = self.env[_file_key(src)]
            if inv.name == "mv":
                del self.env[_file_key(src)]
        elif "/" in src or inv.name == "ln":
            self.env[_BINARY + _path_key(dst)] = _basename(src)

    def pipe_decode(
        self, up: list[Invocation], decoders_up: list[Invocation], now: list[Invocation]
    ) -> None:
        """`echo DATA | base64 -d | gunzip | sh` and kin: decode the literal, parse what would run.

        Decoders followed: base64/base32 -d, xxd -r (-p), tr a-z n-za-m (rot13), rev,
        gunzip/zcat; the data comes from echo/printf or a here-string.
        """
        up = [i for i in up if not i.beside]
        if not now or not up:
            return
        inv = now[-1]
        if inv.args_from_stdin and "xargs" in inv.wrappers and len(up) == 1:
            # echo /etc /usr | xargs rm -rf: what echo prints are the arguments
            printed = (
                printed_text(up[0], up[0].stdin_data) if up[0].name in ("echo", "printf") else None
            )
            if printed is not None and not is_dynamic(printed) and printed.split():
                self.nested(
                    " ".join(_quote(w) for w in [inv.name, *inv.args, *printed.split()[:256]]),
                    "bash",
                    "xargs",
                    privileged=inv.privileged,
                    wrappers=inv.wrappers,
                )
            return
        if not runs_input(inv):
            return
        src = next((i for i in up if i.name in ("echo", "printf") or _cat_heredoc(i)), None)
        data: str | None = None
        if src is not None and src.name == "cat":  # cat <<'EOF' | bash
            data = src.stdin_data
        elif src is not None:
            if not any(is_dynamic(a) for a in src.args):
                # what echo / printf print, their escapes and formats read as bash reads them
                data = printed_text(src, None)
            if data is None:  # a value known only when run, or a format not worked out here
                data = " ".join(a for a in src.args if a != "--" and not a.startswith(("%", "-")))
                data = data.replace("\\n", "\n").replace("\\t", "\t")
        else:
            data = next((i.stdin_data for i in up if i.stdin_data), None)
        decoders = [i for i in decoders_up if i is not src]
        if not decoders:
            if src is not None and len(up) == 1:  # `echo "rm -rf /" | sh`: the text is the program
                inv.input_read = not is_dynamic(data or "")  # `echo $CMD | sed e`: unknown
                self.nested(
                    data or "",
                    "bash",
                    "stdin",
                    privileged=inv.privileged or _root_shell(inv),
                    wrappers=inv.wrappers,
                    remote=_input_remote(inv) or _input_container(inv),
                )
            elif not any(i.name in ("curl", "wget", "fetch") for i in up):
                self.undecodable.append(
                    " | ".join(i.raw for i in up[:8])[:80]
                )  # `cat x | sh`: unreadable here
            return
        if data is None:
            self.undecodable.append(" | ".join(i.raw for i in up[:8])[:80])
            return
        blob: bytes | None = data.encode()
        for d in decoders:
            blob = _decoder(d)(blob) if blob is not None else None
        if blob is None:
            self.undecodable.append(data[:80])
            return
        inv.input_read = True
        self.nested(
            blob.decode("utf-8", "replace"),
            "bash",
            decoders[0].name,
            privileged=inv.privileged or _root_shell(inv),
            wrappers=inv.wrappers,
            remote=_input_remote(inv) or _input_container(inv),
        )


def _link_stages(parts: list[list[Invocation]], texts: list[str]) -> list[str]:
    """Tell each invocation of a pipeline's stages which commands feed it and which it feeds
    (each stage by its last command) and the text upstream of it; returns those heads."""
    heads = [p[-1].name if p else "" for p in parts]
    for i, p in enumerate(parts):
        for inv in p:
            inv.upstream = tuple(h for h in heads[:i] if h)
            inv.downstream = tuple(h for h in heads[i + 1 :] if h)
            inv.upstream_text = " | ".join(texts[:i])
    return heads


_HEREDOC_PARTS = frozenset({"heredoc_start", "heredoc_body", "heredoc_end", "comment"})
_REDIRECT_FD = frozenset({"file_descriptor", "ERROR", "comment"})  # a file_redirect's non-targets


def _heredoc_tail(n: Any, stages: list[Any], later: list[Any]) -> None:
    """Sort what tree-sitter-bash hangs on a heredoc redirect after its start: in `| a | b`
    both are pipeline stages after the heredoc's command; in `| a && b` only `a` is, and `b`
    (like a bare `&& b`) is a statement run after the pipeline."""
    if n.type != "pipeline":
        later.append(n)
        return
    for c in n.named_children:
        if c.type == "comment":
            continue
        if c.type == "list" and c.named_children:
            first, *rest = [x for x in c.named_children if x.type != "comment"]
            if first.type == "pipeline":
                _heredoc_tail(first, stages, later)
            else:
                stages.append(first)
            later.extend(rest)
        elif c.type == "pipeline":
            _heredoc_tail(c, stages, later)
        else:
            stages.append(c)


def _cat_heredoc(inv: Invocation) -> bool:
    """`cat <<'EOF'` / `cat <<< TEXT`: prints the literal it is fed."""
    return inv.name == "cat" and not inv.args and inv.stdin_data is not None


def _decoder(inv: Invocation) -> Any:
    """The byte transformation a pipeline stage applies, or None when it is not a decoder."""
    a = inv.args
    if inv.name in ("base64", "base32") and any(x in ("-d", "--decode", "-D") for x in a):
        decode = _b64 if inv.name == "base64" else _b32
        return lambda b: decode(b.decode("ascii", "replace"))
    if inv.name == "xxd" and any(x.startswith("-r") for x in a):

        def unhex(b: bytes) -> bytes | None:
            try:
                return bytes.fromhex(re.sub(rb"\s+", b"", b).decode())
            except ValueError:
                return None

        return unhex
    if inv.name == "rev":
        return lambda b: b.strip()[::-1]
    if inv.name in ("gunzip", "zcat") or (inv.name == "gzip" and "-d" in a):
        import gzip

        def ungz(b: bytes) -> bytes | None:
            try:
                return gzip.decompress(b)
            except (OSError, EOFError):
                return None

        return ungz
    if (
        inv.name == "tr"
        and len(a) >= 2
        and a[0].lower() in ("a-z", "a-za-z")
        and "n-za-m" in a[1].lower()
    ):
        import codecs

        return lambda b: codecs.encode(b.decode(), "rot13").encode()
    return None


# ---------------------------------------------------------------- PowerShell

PS_ALIASES: dict[str, str] = {
    "rm": "remove-item",
    "ri": "remove-item",
    "del": "remove-item",
    "erase": "remove-item",
    "rd": "remove-item",
    "rmdir": "remove-item",
    "ls": "get-childitem",
    "dir": "get-childitem",
    "gci": "get-childitem",
    "cat": "get-content",
    "gc": "get-content",
    "type": "get-content",
    "sc": "set-content",
    "ac": "add-content",
    "clc": "clear-content",
    "cp": "copy-item",
    "copy": "copy-item",
    "cpi": "copy-item",
    "mv": "move-item",
    "move": "move-item",
    "mi": "move-item",
    "ren": "rename-item",
    "rni": "rename-item",
    "ni": "new-item",
    "md": "mkdir",
    "kill": "stop-process",
    "spps": "stop-process",
    "ps": "get-process",
    "gps": "get-process",
    "iwr": "invoke-webrequest",
    "wget": "invoke-webrequest",
    "curl": "invoke-webrequest",
    "irm": "invoke-restmethod",
    "iex": "invoke-expression",
    "icm": "invoke-command",
    "saps": "start-process",
    "start": "start-process",
    "gsv": "get-service",
    "sasv": "start-service",
    "spsv": "stop-service",
    "echo": "write-output",
    "write": "write-output",
    "sls": "select-string",
    "?": "where-object",
    "where": "where-object",
    "%": "foreach-object",
    "foreach": "foreach-object",
    "select": "select-object",
    "sort": "sort-object",
    "ft": "format-table",
    "fl": "format-list",
    "gi": "get-item",
    "gp": "get-itemproperty",
    "sp": "set-itemproperty",
    "rp": "remove-itemproperty",
    "cd": "set-location",
    "sl": "set-location",
    "chdir": "set-location",
    "pwd": "get-location",
    "gl": "get-location",
    "h": "get-history",
    "history": "get-history",
    "clhy": "clear-history",
    "cls": "clear-host",
    "clear": "clear-host",
    "gcm": "get-command",
    "gm": "get-member",
    "man": "get-help",
    "help": "get-help",
    "sv": "set-variable",
    "set": "set-variable",
    "gv": "get-variable",
    "rv": "remove-variable",
    "ipmo": "import-module",
    "gwmi": "get-wmiobject",
    "rwmi": "remove-wmiobject",
    "gcim": "get-ciminstance",
    "rcim": "remove-ciminstance",
    "sajb": "start-job",
    "tee": "tee-object",
    "measure": "measure-object",
    "diff": "compare-object",
    "compare": "compare-object",
    "ogv": "out-gridview",
    "oh": "out-host",
    "epal": "export-alias",
    "nal": "new-alias",
    "sal": "set-alias",
    "gal": "get-alias",
    "nsn": "new-pssession",
    "etsn": "enter-pssession",
}

#: Parameters of the cmdlets the rules read, for prefix resolution (`-Rec` -> `-recurse`).
PS_PARAMS: dict[str, tuple[str, ...]] = {
    "remove-item": (
        "path",
        "literalpath",
        "recurse",
        "force",
        "include",
        "exclude",
        "filter",
        "whatif",
        "confirm",
        "credential",
        "stream",
    ),
    "get-childitem": (
        "path",
        "literalpath",
        "recurse",
        "force",
        "include",
        "exclude",
        "filter",
        "depth",
        "name",
        "file",
        "directory",
        "hidden",
        "attributes",
    ),
    "clear-content": (
        "path",
        "literalpath",
        "force",
        "include",
        "exclude",
        "filter",
        "whatif",
        "confirm",
    ),
    "set-content": (
        "path",
        "literalpath",
        "value",
        "force",
        "encoding",
        "nonewline",
        "whatif",
        "confirm",
    ),
    "add-content": (
        "path",
        "literalpath",
        "value",
        "force",
        "encoding",
        "nonewline",
        "whatif",
        "confirm",
    ),
    "out-file": (
        "filepath",
        "literalpath",
        "append",
        "force",
        "encoding",
        "noclobber",
        "inputobject",
        "width",
    ),
    "copy-item": (
        "path",
        "literalpath",
        "destination",
        "recurse",
        "force",
        "container",
        "whatif",
        "confirm",
    ),
    "move-item": ("path", "literalpath", "destination", "force", "whatif", "confirm"),
    "stop-process": ("name", "id", "inputobject", "force", "passthru", "whatif", "confirm"),
    "stop-service": (
        "name",
        "displayname",
        "inputobject",
        "force",
        "nowait",
        "passthru",
        "whatif",
        "confirm",
    ),
    "set-service": (
        "name",
        "displayname",
        "startuptype",
        "status",
        "description",
        "inputobject",
        "whatif",
        "confirm",
        "credential",
        "force",
    ),
    "set-mppreference": (
        "disablerealtimemonitoring",
        "disablebehaviormonitoring",
        "disableioavprotection",
        "disablescriptscanning",
        "disableintrusionpreventionsystem",
        "disableblockatfirstseen",
        "disablearchivescanning",
        "exclusionpath",
        "exclusionprocess",
        "exclusionextension",
        "mapsreporting",
        "submitsamplesconsent",
        "signatureupdateinterval",
        "disableemailscanning",
        "disablescanningnetworkfiles",
        "enablecontrolledfolderaccess",
        "puaprotection",
        "force",
    ),
    "start-process": (
        "filepath",
        "argumentlist",
        "verb",
        "wait",
        "windowstyle",
        "nonewwindow",
        "passthru",
        "workingdirectory",
        "credential",
        "loaduserprofile",
        "redirectstandardoutput",
    ),
    "format-volume": (
        "driveletter",
        "filesystem",
        "force",
        "full",
        "newfilesystemlabel",
        "partition",
        "path",
        "objectid",
        "filesystemlabel",
        "confirm",
        "whatif",
    ),
    "clear-disk": (
        "number",
        "removedata",
        "removeoem",
        "confirm",
        "whatif",
        "friendlyname",
        "uniqueid",
    ),
    "set-netfirewallprofile": (
        "profile",
        "enabled",
        "defaultinboundaction",
        "defaultoutboundaction",
        "all",
        "name",
        "whatif",
        "confirm",
    ),
    "invoke-expression": ("command",),
    "invoke-command": (
        "scriptblock",
        "computername",
        "session",
        "filepath",
        "argumentlist",
        "credential",
    ),
    "invoke-webrequest": (
        "uri",
        "outfile",
        "method",
        "body",
        "infile",
        "usebasicparsing",
        "headers",
    ),
    "invoke-restmethod": ("uri", "outfile", "method", "body", "infile", "headers"),
}
_PS_COMMON = (
    "whatif",
    "confirm",
    "erroraction",
    "verbose",
    "debug",
    "warningaction",
    "force",
    "passthru",
)
_PS_COMMON_ALIASES = {
    "ea": "erroraction",
    "wa": "warningaction",
    "wi": "whatif",
    "cf": "confirm",
    "vb": "verbose",
    "db": "debug",
    "r": "recurse",
}


_DEFENDER_ALIASES = {
    "drtm": "disablerealtimemonitoring",
    "dbm": "disablebehaviormonitoring",
    "dioavp": "disableioavprotection",
    "dscrptsc": "disablescriptscanning",
    "dips": "disableintrusionpreventionsystem",
    "dbaf": "disableblockatfirstseen",
}
_PS_PARAM_ALIASES = {"set-mppreference": _DEFENDER_ALIASES, "add-mppreference": _DEFENDER_ALIASES}
"""Parameter aliases a cmdlet declares (Defender's short names)."""


def ps_param(cmdlet: str, p: str) -> str:
    """Resolve a PowerShell parameter prefix to its full lower-case name (`-Rec` -> `-recurse`)."""
    key = p.lstrip("-").rstrip(":").lower()
    if not key:
        return p.lower()
    names = PS_PARAMS.get(cmdlet, ()) + _PS_COMMON
    if key in names:
        return "-" + key
    if key in _PS_PARAM_ALIASES.get(cmdlet, {}):  # Set-MpPreference -drtm
        return "-" + _PS_PARAM_ALIASES[cmdlet][key]
    if key in _PS_COMMON_ALIASES and (cmdlet in PS_PARAMS or key != "r"):
        full = _PS_COMMON_ALIASES[key]
        if full in names or full in _PS_COMMON:
            return "-" + full
    hits = sorted({n for n in names if n.startswith(key)})
    if len(hits) == 1:
        return "-" + hits[0]
    if cmdlet == "remove-item" and key in ("r", "re", "rec"):
        return "-recurse"
    if key in ("fo", "for", "forc", "f") and "force" in names:
        return "-force"
    return "-" + key


def ps_canonical(name: str) -> str:
    n = name.replace("`", "").strip().strip("'\"").lower()
    n = _basename(n)
    if n.endswith(".exe"):
        return n[:-4]  # an explicit program (sc.exe is not the `sc` alias of Set-Content)
    if n in ("$env:comspec", "${env:comspec}"):
        return "cmd"
    return PS_ALIASES.get(n, n)


_PS_TOKEN_START = " \t\r\n;(,{=|&"
"""Characters after which a `#` starts a comment (a `#` inside a word is part of it)."""


def _ps_unescape(text: str) -> str:
    """Drop PowerShell backtick escapes outside strings (`Re`move-Item` is Remove-Item), and
    the blanks around commas outside strings: `Remove-Item a, b -Recurse` is one command
    with an array argument (blanks around a comma never matter to PowerShell), but the
    grammar only reads the array written without them (`a,b`)."""
    out: list[str] = []
    q = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if q:
            if ch == q:
                q = ""
            out.append(ch)
        elif ch == "@" and re.match(r"@(['\"])[ \t]*\r?\n", text[i:]):
            # a here-string runs to its closing quote + @ at the start of a line; quotes
            # inside it are text
            end = re.compile(r"\n" + re.escape(text[i + 1]) + "@").search(text, i + 2)
            stop = end.end() if end else len(text)
            out.append(text[i:stop])
            i = stop
            continue
        elif ch == "#" and (i == 0 or text[i - 1] in _PS_TOKEN_START):
            stop = text.find("\n", i)  # a comment runs to the end of its line
            stop = len(text) if stop < 0 else stop
            out.append(text[i:stop])
            i = stop
            continue
        elif ch == "<" and text.startswith("<#", i) and (i == 0 or text[i - 1] in _PS_TOKEN_START):
            stop = text.find("#>", i + 2)
            stop = len(text) if stop < 0 else stop + 2
            out.append(text[i:stop])
            i = stop
            continue
        elif ch in "'\"":
            q = ch
            out.append(ch)
        elif ch == "`" and i + 1 < len(text) and text[i + 1].isalnum():
            i += 1
            out.append(text[i])
        elif ch == ",":
            while out and out[-1] in " \t":
                out.pop()
            out.append(ch)
            j = i
            while j + 1 < len(text) and text[j + 1] in " \t\r\n":
                j += 1
            if not text.startswith(("#", "<#"), j + 1):  # a comment after it keeps its blanks
                i = j
        else:
            out.append(ch)
        i += 1
    return "".join(out)


_PS_VARS = {
    "$true": "$true",
    "$false": "$false",
    "$null": "",
    "$home": "~",
    "$env:userprofile": "~",
    "$env:homepath": "~",
    "$env:temp": "$env:temp",
    "$env:tmp": "$env:temp",
    "$pwd": ".",
    "$env:systemroot": "C:\\Windows",
    "$env:windir": "C:\\Windows",
    "$env:systemdrive": "C:",
    "$env:programfiles": "C:\\Program Files",
    "$env:programdata": "C:\\ProgramData",
    "$env:appdata": "~\\AppData\\Roaming",
    "$env:localappdata": "~\\AppData\\Local",
}


class _PowerShell(_Base):
    shell = "powershell"

    def run(self) -> Parsed:
        self.ctx_upstream = ""
        self.src = _ps_unescape(self.command).encode("utf-8", "replace")
        tree = _ts_parser("powershell").parse(self.src)
        self.syntax_error = tree.root_node.has_error
        if tree.root_node.has_error and not re.search(r"[;|{}\r\n]", self.command.strip()):
            words = _split_arglist(self.command.replace("\\", "\x00"))
            words = [w.replace("\x00", "\\") for w in words]
            if (
                words
                and "-" not in words[0]
                and ps_canonical(words[0]) == words[0].lower().removesuffix(".exe")
            ):
                self.emit_ps(ps_canonical(words[0]), words[1:], self.command)
                return self.result()
        self.walk(tree.root_node)
        if (
            self.syntax_error
            and not self.out
            and not re.search(r"[;|{}\r\n]", self.command.strip())
        ):
            # the grammar read no command at all (`Remove-Item "C:\x", 'b', c -Recurse`):
            # fall back to the words, a bare comma separating array elements
            words = [
                w.replace("\x00", "\\")
                for part in _split_arglist(self.command.replace("\\", "\x00"))
                for w in part.split(",")
                if w
            ]
            if words:
                name = ps_canonical(words[0])
                args = [
                    ps_param(name, w) if w.startswith("-") and "-" in name else w for w in words[1:]
                ]
                self.emit_ps(name, args, self.command)
        code = re.sub(
            r"'[^']*'|\"(?:[^\"`]|`.)*\"", "''", self.command
        )  # strings are data, not code
        compact = re.sub(r"\s+", "", code.lower())
        if re.search(
            r"while\(\$true\)\{(start-process|saps|start)[^}]*(powershell|pwsh|\$pshome)", compact
        ) or (re.search(r"functionglobal:([a-z]+)\{\1\|\1", compact)):
            self.fork_bomb = True
        return self.result()

    def text(self, n: Any) -> str:
        return self.src[n.start_byte : n.end_byte].decode("utf-8", "replace")

    def walk(self, n: Any) -> None:
        t = n.type
        if t == "comment":
            return
        if t == "statement_list" and self.depth == 0:
            for c in n.named_children:  # each top-level statement gets its own budget
                self.budget[0] = MAX_NESTED
                self.walk(c)
            return
        if t == "pipeline_chain" or t == "pipeline":
            elems = [c for c in n.named_children if c.type != "redirections"]
            reds = [c for c in n.named_children if c.type == "redirections"]
            if len(elems) > 1 or reds:
                made: list[list[Invocation]] = []
                all_texts = [self.text(c) for c in elems]
                for k, c in enumerate(elems):
                    before = len(self.out)
                    self.ctx_upstream = " | ".join(all_texts[:k])
                    self.walk(c)
                    self.ctx_upstream = ""
                    made.append(self.out[before:] if c.type == "command" else [])
                texts = [self.text(c) for c in elems]
                _link_stages(made, texts)
                for r in reds:
                    pairs = []
                    for red in r.named_children:
                        op = "".join(
                            self.text(c)
                            for c in red.named_children
                            if c.type == "file_redirection_operator"
                        )
                        dest = "".join(
                            self.text(c)
                            for c in red.named_children
                            if c.type == "redirected_file_name"
                        )
                        pairs.append((op.strip() or ">", dest.strip()))
                    last = made[-1][-1] if made and made[-1] else None
                    if last is not None:
                        last.redirects.extend(pairs)
                    else:
                        self.out.append(
                            Invocation(
                                self.shell,
                                ":",
                                [],
                                self.text(n),
                                self.privileged,
                                self.wrappers,
                                pairs,
                                depth=self.depth,
                                via=self.via,
                                remote=self.remote,
                            )
                        )
                return
        if t == "assignment_expression":
            left = n.named_children[0] if n.named_children else None
            right = n.named_children[-1] if n.named_children else None
            if left is not None and right is not None:
                name = self.text(left).strip().lower()
                val, dyn = self.value(right)
                if name.startswith("$") and not dyn:
                    self.env[name] = val
                table = _first_of(right, "hash_literal_expression")
                self.env.pop("\x00splat:" + name[1:], None)
                self.env.pop("\x00item:" + name[1:], None)
                if (
                    name.startswith("$")
                    and table is not None
                    and re.match(r"\s*\(?\s*(\[[\w.]+\]\s*)?@\{", self.text(right))
                ):
                    # $p = [ordered]@{Path='C:\Windows'; Recurse=$true}: `Remove-Item @p`
                    self.env["\x00splat:" + name[1:]] = "\x1f".join(self.splat_words(table))
                if name.startswith("$env:"):
                    self.out.append(
                        Invocation(
                            self.shell,
                            "set-envvar",
                            [name[5:], val],
                            self.text(n),
                            self.privileged,
                            self.wrappers,
                            depth=self.depth,
                            via=self.via,
                            remote=self.remote,
                        )
                    )
            before = len(self.out)
            for c in n.named_children[1:]:
                self.walk(c)
            got = self.out[before] if len(self.out) > before else None
            if (
                left is not None
                and right is not None
                and _innermost(right).type == "command"
                and got is not None
                and got.name in ("get-item", "get-childitem")
                and _ps_item_path(got.args)
            ):  # $d = Get-Item C:\Windows; $d.Delete($true)
                self.env["\x00item:" + self.text(left).strip().lower()[1:]] = str(
                    _ps_item_path(got.args)
                )
            return
        if t == "invokation_expression" and n.named_children:
            before = len(self.out)
            self.walk(n.named_children[0])
            member = next((c for c in n.named_children if c.type == "member_name"), None)
            target = _innermost(n.named_children[0])
            path: str | None = None
            if target.type == "command" and len(self.out) > before:
                got = self.out[before]
                if got.name in ("get-item", "get-childitem"):
                    path = _ps_item_path(got.args)  # (Get-Item C:\Windows).Delete($true)
            elif target.type == "variable":
                path = self.env.get("\x00item:" + self.text(target).lower()[1:])
            if member is not None and self.text(member).lower() == "delete" and path:
                call = next((c for c in n.named_children if c.type == "argument_list"), None)
                recurse = call is not None and "$true" in self.text(call).lower()
                self.emit_ps(
                    "remove-item",
                    [path, "-force", *(["-recurse"] if recurse else [])],
                    self.text(n),
                )
            for c in n.named_children[1:]:
                self.walk(c)
            return
        if t == "command":
            self.command_node(n)
            saved = self.remote
            if (
                self.out
                and self.out[-1].name == "invoke-command"
                and "-computername" in self.out[-1].args
            ):
                self.remote = "remote hosts"
            for c in n.named_children:
                if c.type == "command_name_expr" and self.text(c).lstrip().startswith("{"):
                    self.walk(c)  # `& { ... }`, `. { ... }`: the block runs here and now
                elif c.type == "command_elements":
                    for e in c.named_children:
                        if e.type not in (
                            "command_parameter",
                            "generic_token",
                            "command_argument_sep",
                        ):
                            self.walk(e)
            self.remote = saved
            return
        for c in n.named_children:
            self.walk(c)

    def splat_words(self, table: Any) -> list[str]:
        """A hashtable's entries as the parameters splatting it passes (`-Key value`, `-Switch`)."""
        words: list[str] = []
        for body in table.named_children:
            for entry in body.named_children if body.type == "hash_literal_body" else []:
                if entry.type != "hash_entry" or len(entry.named_children) < 2:
                    continue
                key = self.text(entry.named_children[0]).strip().strip("'\"")
                vnode = _innermost(entry.named_children[-1])
                vtext = self.text(vnode).strip().lower()
                if vtext == "$true":
                    words.append("-" + key)
                elif vtext == "$false":
                    words.append(f"-{key}:$false")
                else:
                    words += ["-" + key, self.value(vnode)[0]]
        return words

    def value(self, n: Any) -> tuple[str, bool]:
        t = n.type
        txt = self.text(n)
        if t in ("generic_token", "command_name"):
            return txt.replace("`", ""), False
        if t == "string_literal" or t in (
            "expandable_string_literal",
            "verbatim_string_characters",
            "expandable_here_string_literal",
            "verbatim_here_string_characters",
        ):
            s = txt
            if s.startswith("@") and len(s) >= 4:
                s = s[2:-2].strip("\r\n")
            elif len(s) >= 2 and s[0] in "'\"" and s[-1] == s[0]:
                s = s[1:-1]
            if txt.startswith(("'", "@'")):
                return s.replace("''", "'"), False
            s = s.replace("``", "\x00").replace("`", "").replace("\x00", "`")
            dyn = False

            def sub(m: re.Match[str]) -> str:
                nonlocal dyn
                key = m.group(0).lower()
                if key in self.env:
                    return self.env[key]
                if key in _PS_VARS:
                    return _PS_VARS[key]
                dyn = True
                return m.group(0)

            s = re.sub(r"\$(env:)?[A-Za-z_][A-Za-z0-9_]*", sub, s)
            return s, dyn
        if t == "variable":
            key = txt.lower()
            if key in self.env:
                return self.env[key], False
            if key in _PS_VARS:
                return _PS_VARS[key], False
            return txt, True
        if t in ("array_literal_expression", "unary_expression") and n.named_children:
            if len(n.named_children) == 1:
                return self.value(n.named_children[0])
            vals = [self.value(c) for c in n.named_children]
            return ",".join(v for v, _ in vals), any(d for _, d in vals)
        if t == "pipeline" and len(n.named_children) == 1:
            return self.value(n.named_children[0])
        if t in (
            "pipeline_chain",
            "logical_expression",
            "bitwise_expression",
            "comparison_expression",
            "additive_expression",
            "multiplicative_expression",
            "format_expression",
            "range_expression",
        ) and (len(n.named_children) == 1):
            return self.value(n.named_children[0])
        return txt, True

    def command_node(self, n: Any) -> None:
        name_node = n.child_by_field_name("command_name")
        if name_node is None:
            return
        raw_name = self.text(name_node)
        if raw_name.lstrip().startswith("{"):
            return  # `& { ... }`: the walk finds the commands inside the block
        name = ps_canonical(raw_name)
        # Set-Alias x Remove-Item: x runs Remove-Item; a built-in alias may refuse to change
        # (`ri`, `del` are read-only), so both names are judged and the worse one counts
        alias = self.env.get("\x00alias:" + raw_name.strip().lower())
        splatted = False
        args: list[str] = []
        for c in n.named_children:
            if c.type != "command_elements":
                continue
            prev_end, prev_type = -1, ""
            for e in c.named_children:
                if e.type == "command_argument_sep":
                    continue
                # characters the grammar dropped between two elements (the `:` of an ERROR
                # `,C` + `\Windows`) belong to the word when they hold no blank
                gap = self.src[max(prev_end, 0) : e.start_byte].decode("utf-8", "replace")
                glued = prev_end >= 0 and bool(args) and not any(ch.isspace() for ch in gap)
                after_error = prev_type == "ERROR"
                prev_end, prev_type = e.end_byte, e.type
                if e.type == "ERROR" and self.text(e).startswith(","):
                    args.extend(x for x in self.text(e).split(",") if x)  # `"a",C:\x`: C:\x
                    continue
                if glued and (e.type in ("command_parameter", "generic_token") or after_error):
                    # `repro-1234` is one word, not `repro` and `-1234` (also after a part the
                    # grammar could not read: `$env:TEMP\repro-1234`); `a,b` is two
                    part = gap + self.text(e)
                    if part.startswith(","):
                        for x in filter(None, part.split(",")):
                            key = x.lower()
                            args.append(self.env.get(key, _PS_VARS.get(key, x)))
                    else:
                        args[-1] += part
                    continue
                splat = self.env.get("\x00splat:" + self.text(e)[1:].lower())
                if _innermost(e).type == "variable" and self.text(e).startswith("@"):
                    if splat is not None:
                        words = [w for w in splat.split("\x1f") if w]
                    else:  # @a of an array: its elements, positionally
                        arr = self.env.get("$" + self.text(e)[1:].lower())
                        words = arr.split(",") if arr is not None else [self.text(e)]
                    args.extend(
                        ps_param(name, w) if w.startswith("-") and "-" in name else w for w in words
                    )
                    splatted = True
                    continue
                if e.type == "command_parameter":
                    raw_param = self.text(e)
                    # only cmdlets take PowerShell parameters; `git push --force` keeps its own
                    args.append(ps_param(name, raw_param) if "-" in name else raw_param)
                else:
                    v, _ = self.value(e)
                    if e.type == "array_literal_expression" and len(e.named_children) > 1:
                        args.extend(self.value(x)[0] for x in e.named_children)
                    else:
                        args.append(v)
        raw = self.text(n)
        if (
            "-" not in name
            and name not in PS_ALIASES.values()
            and not raw_name.lstrip().startswith(("$", "&", "("))
            and not splatted  # `cmd @a`: the words are in the array, not in the text
        ):
            # a native program: PowerShell hands it its words; the cmdlet grammar mangles `-chdir=infra\prod`
            args = _split_arglist(raw[len(raw_name) :].strip().replace("\\", "\x00"))
            args = [a.replace("\x00", "\\") for a in args]
        if alias is not None and alias != name:
            self.emit_ps(
                alias,
                [ps_param(alias, a) if a.startswith("-") and "-" in alias else a for a in args],
                raw,
            )
        self.emit_ps(name, args, raw)

    def emit_ps(self, name: str, args: list[str], raw: str, privileged: bool | None = None) -> None:
        priv = self.privileged if privileged is None else privileged
        if name in ("powershell", "pwsh"):
            self._powershell_cli(args, priv, (*self.wrappers, "powershell"))
            return
        if name == "cmd":
            rest = [a for a in args]
            for i, a in enumerate(rest):
                if a.lower() in ("/c", "/k", "-c"):
                    self.nested(" ".join(rest[i + 1 :]), "cmd", "cmd /c", privileged=priv)
                    return
        if name == "invoke-expression":
            payload = [a for a in args if a != "-command"]
            if payload and not is_dynamic(payload[0]) and not payload[0].startswith("("):
                self.nested(payload[0], "powershell", "Invoke-Expression", privileged=priv)
                return
        if name == "start-process":
            prog, rest_args, verb = _start_process_args(args)
            privileged2 = priv or (verb or "").lower() == "runas"
            if prog:
                pname = ps_canonical(prog)
                if pname in ("powershell", "pwsh", "cmd"):
                    self.emit_ps(pname, rest_args, raw, privileged=privileged2)
                    self.out.append(
                        Invocation(
                            self.shell,
                            "start-process",
                            args,
                            raw,
                            privileged2,
                            self.wrappers,
                            depth=self.depth,
                            via=self.via,
                            remote=self.remote,
                        )
                    )
                    return
                self.out.append(
                    Invocation(
                        self.shell,
                        pname,
                        rest_args,
                        raw,
                        privileged2,
                        (*self.wrappers, "start-process"),
                        depth=self.depth,
                        via=self.via,
                        remote=self.remote,
                    )
                )
                return
        if name == "forfiles":  # a native program: its /c command line runs in cmd
            self.nested(raw, "cmd", "forfiles", privileged=priv)
            return
        if name in ("set-content", "add-content", "out-file"):
            # Set-Content x.ps1 'CODE' / 'CODE' | Out-File x.ps1: a script written here
            names = ("-filepath", "-inputobject") if name == "out-file" else ("-path", "-value")
            path, value = _ps_named_or_positional(args, names)
            upstream = getattr(self, "ctx_upstream", "").strip()
            if value is None and re.fullmatch(r"'[^']*'|\"[^\"]*\"", upstream):
                value = upstream[1:-1]
            if path and value is not None and not is_dynamic(path):
                key = "\x00file:" + ntpath.basename(path).lower()
                keep = name == "add-content" or "-append" in [a.lower() for a in args]
                self.env[key] = (self.env.get(key, "") if keep else "") + value + "\n"
        script = self.env.get("\x00file:" + ntpath.basename(name).lower())
        running = "\x00running:" + name + "\x00" + (script or "")
        if script is not None and name.endswith(".ps1") and running not in self.env:
            self.env[running] = "1"  # .\x.ps1 written on this line; read once
            self.nested(script, "powershell", f"{name} (written on this line)", privileged=priv)
            del self.env[running]
        if name in ("set-alias", "new-alias"):
            pos = _ps_named_or_positional(args, ("-name", "-value"))
            if pos[0] and pos[1]:
                self.env["\x00alias:" + pos[0].lower()] = ps_canonical(pos[1])
        if name in ("sudo", "gsudo", "runas"):
            words = [a for a in args if not a.startswith(("/", "-"))]
            if words:
                self.emit_ps(ps_canonical(words[0]), words[1:], raw, privileged=True)
                return
        inv = Invocation(
            self.shell,
            name,
            args,
            raw,
            priv,
            self.wrappers,
            depth=self.depth,
            via=self.via,
            remote=self.remote,
        )
        if any(a.lower().startswith(("$_", "$psitem")) for a in args):
            inv.upstream_text = getattr(self, "ctx_upstream", "")
        self.out.append(inv)


def _innermost(n: Any) -> Any:
    """The node under a chain of single-child wrappers (pipeline > ... > unary_expression)."""
    while len(n.named_children) == 1 and n.type not in ("command", "hash_literal_expression"):
        n = n.named_children[0]
    return n


def _ps_item_path(args: list[str]) -> str | None:
    """The path Get-Item / Get-ChildItem reads: -Path/-LiteralPath, else the first positional
    word (a word after another parameter is that parameter's value; -Force is a switch)."""
    low = [a.lower() for a in args]
    for k, a in enumerate(low[:-1]):
        if a in ("-path", "-literalpath"):
            return args[k + 1]
    k = 0
    while k < len(args):
        if low[k].startswith("-"):
            k += 1 if low[k] in ("-force", "-recurse", "-name", "-directory", "-file") else 2
            continue
        return args[k]
    return None


def _first_of(n: Any, kind: str) -> Any:
    """The first node of type `kind` in `n`'s subtree (breadth first), or None."""
    queue = [n]
    while queue:
        m = queue.pop(0)
        if m.type == kind:
            return m
        queue.extend(m.named_children)
    return None


def _ps_named_or_positional(args: list[str], names: tuple[str, ...]) -> list[str | None]:
    """Values of a cmdlet's parameters given by name (`-Name x`) or by position."""
    out: list[str | None] = [None] * len(names)
    free: list[str] = []
    i = 0
    while i < len(args):
        a = args[i].lower()
        if a in names and i + 1 < len(args):
            out[names.index(a)] = args[i + 1]
            i += 2
            continue
        if not a.startswith("-"):
            free.append(args[i])
        i += 1
    for k in range(len(out)):
        if out[k] is None and free:
            out[k] = free.pop(0)
    return out


def _start_process_args(args: list[str]) -> tuple[str | None, list[str], str | None]:
    prog: str | None = None
    rest: list[str] = []
    verb: str | None = None
    i = 0
    positional = 0
    while i < len(args):
        a = args[i]
        la = a.lower()
        if la.startswith("-"):
            key = ps_param("start-process", la)
            val = args[i + 1] if i + 1 < len(args) else ""
            if key == "-filepath":
                prog = val
            elif key == "-argumentlist":
                rest.extend(_split_arglist(val))
            elif key == "-verb":
                verb = val
            i += (
                2
                if key
                in (
                    "-filepath",
                    "-argumentlist",
                    "-verb",
                    "-windowstyle",
                    "-workingdirectory",
                    "-credential",
                    "-redirectstandardoutput",
                )
                else 1
            )
            continue
        if positional == 0 and prog is None:
            prog = a
        else:
            rest.extend(_split_arglist(a))
        positional += 1
        i += 1
    return prog, rest, verb


def _split_arglist(val: str) -> list[str]:
    import shlex

    try:
        return shlex.split(val, posix=True)
    except ValueError:
        return val.split()


# ---------------------------------------------------------------- cmd.exe


class _Cmd(_Base):
    shell = "cmd"

    def run(self) -> Parsed:
        text = self.command
        if (
            re.search(r"%0\s*\|\s*%0", text)
            # `echo %0^|%0 > b.cmd`: writes one into a batch file (printed alone it is a mention)
            or re.search(
                r"%0\s*\^\|\s*%0\s*>+\s*\S+\.(cmd|bat)\b", re.sub(r'"[^"]*"', '""', text), re.I
            )
        ) or re.search(r":(\w+)\s+start\s+%0\s+goto\s+\1", text, re.I):
            self.fork_bomb = True
        # cmd expands %NAME% when it reads a line, before splitting it at & and | (so a `set`
        # takes effect on the next line), and delayed !NAME! as each command runs
        text = _cmd_join_continuations(text)
        for line in re.split(r"\r?\n", text):
            if self.depth == 0:
                self.budget[0] = MAX_NESTED  # each line gets its own budget
            expanded = self.expand(line, "%")
            if len(expanded) > 8191:  # past cmd's line limit: read as written, and unsure
                self.undecodable.append(line[:80])
                expanded = line
            for pipeline in _cmd_split(expanded):
                made: list[Invocation] = []
                for k, seg in enumerate(pipeline):
                    words = _cmd_words(
                        self.expand(seg, "!").strip().lstrip("(").rstrip(")").strip()
                    )
                    if not words:
                        continue
                    before = len(self.out)
                    self.emit_cmd(words, seg)
                    for inv in self.out[before:]:
                        inv.upstream_text = " | ".join(pipeline[:k])
                        inv.upstream = tuple(m.name for m in made)
                    made.extend(self.out[before:])
        return self.result()

    def expand(self, seg: str, mark: str) -> str:
        """%NAME% (mark "%") or delayed !NAME! (mark "!") of variables `set` before; unknown
        names stay as written."""
        if not any(k.startswith("\x00cmdvar:") for k in self.env):
            return seg

        def sub(m: re.Match[str]) -> str:
            return self.env.get("\x00cmdvar:" + m.group(1).lower(), m.group(0))

        return re.sub(re.escape(mark) + r"([A-Za-z_][\w.-]*)" + re.escape(mark), sub, seg)

    def emit_cmd(self, words: list[str], raw: str, privileged: bool | None = None) -> None:
        priv = self.privileged if privileged is None else privileged
        reds: list[tuple[str, str]] = []
        clean: list[str] = []
        i = 0
        while i < len(words):
            w = words[i]
            m = re.fullmatch(r"(\d?)(>>?|<)(.*)", w)
            if m and not w.startswith(("/", "-")):
                target = m.group(3) or (words[i + 1] if i + 1 < len(words) else "")
                reds.append((m.group(2), target))
                i += 1 if m.group(3) else 2
                continue
            clean.append(w)
            i += 1
        if not clean:
            return
        if clean[0].startswith("@"):
            clean[0] = clean[0][1:]
        name = _basename(clean[0]).lower()
        for ext in (".exe", ".com", ".bat", ".cmd"):
            if name.endswith(ext):
                name = name[: -len(ext)]
        if name == "%comspec%":  # the command interpreter by its variable
            name = "cmd"
        rest = clean[1:]
        if name == "cmd":
            for j, a in enumerate(rest):
                if a.lower() in ("/c", "/k", "/r"):
                    payload = " ".join(rest[j + 1 :])
                    # cmd takes the rest of its line and drops one outer pair of quotes, so the
                    # quotes inside (`cmd /c "start "t" rd ..."`) survive: read the raw text
                    m = re.search(r'(?i)(?:^|[\s"])/[ckr]\s+(.*)$', self.expand(raw, "!"), re.S)
                    if m and m.group(1).startswith('"') and m.group(1).rstrip().endswith('"'):
                        payload = m.group(1).rstrip()[1:-1]
                    elif m:
                        payload = m.group(1).rstrip()
                    self.nested(payload, "cmd", "cmd /c", privileged=priv)
                    return
        if name in ("powershell", "pwsh"):
            self._powershell_cli(rest, priv, (*self.wrappers, "powershell"))
            return
        if name == "runas":
            ops = [a for a in rest if not a.startswith("/")]
            if ops:
                self.nested(ops[0], "cmd", "runas", privileged=True)
                return
        if name == "call" and rest:
            self.emit_cmd(rest, raw, privileged=priv)
            return
        if name == "start":  # start ["title"] [/switches] command: title and switches go
            # the title is the first quoted word after `start` (quotes are gone from the words)
            j = 1 if re.search(r'(?:^|[\s(&|@])start(?:\.exe)?\s+"', raw, re.I) else 0
            while j < len(rest) and (rest[j].startswith("/") or rest[j] == ""):
                j += 1
            if j < len(rest):
                self.emit_cmd(rest[j:], raw, privileged=priv)
                return
        if name in ("sudo", "gsudo"):
            self.emit_cmd(rest, raw, privileged=True)
            return
        if name == "set" and rest and not rest[0].lower().startswith(("/a", "/p")):
            vname, eq, val = " ".join(rest).partition("=")
            if eq and vname.strip():  # cmd's line limit bounds a value (set X=%X%%X% ...)
                self.env["\x00cmdvar:" + vname.strip().lower()] = val[:8191]
        if name == "forfiles":
            self._forfiles(rest, priv)
        if name == "doskey":  # doskey x=rd /s /q $*: a macro, judged as a definition
            macro, eq, mbody = " ".join(rest).partition("=")
            if eq and macro.strip() and not macro.startswith("/"):
                if mbody.strip():
                    for d in self.nested(
                        re.sub(r"\$[*1-9]", "", mbody), "cmd", ALIAS_VIA, privileged=priv
                    ):
                        d.defined_only = True
                self.env["\x00macro:" + macro.strip().lower()] = mbody  # after: not itself
        macro_body = self.env.get("\x00macro:" + name)
        expanding = "\x00expanding:" + name
        if macro_body is not None and expanding not in self.env:  # doskey does not recurse
            self.env[expanding] = "1"
            args = rest

            def macro_arg(m: re.Match[str]) -> str:
                k = m.group(1)
                return (
                    " ".join(args)
                    if k == "*"
                    else (args[int(k) - 1] if int(k) <= len(args) else "")
                )

            self.nested(
                re.sub(r"\$([*1-9])", macro_arg, macro_body), "cmd", "doskey", privileged=priv
            )
            del self.env[expanding]
        if name in ("echo",) and reds:  # echo rd /s /q C:\ > x.bat: a batch file written here
            for op, dest in reds:
                if op in (">", ">>") and dest:
                    key = "\x00file:" + ntpath.basename(dest).lower()
                    before = self.env.get(key, "") if op == ">>" else ""
                    self.env[key] = before + " ".join(rest) + "\n"
        script = self.env.get("\x00file:" + ntpath.basename(clean[0]).lower())
        if script is None and name not in ("call", "start") and "." not in name:
            script = self.env.get("\x00file:" + name + ".bat") or self.env.get(
                "\x00file:" + name + ".cmd"
            )
        running = "\x00running:" + name + "\x00" + (script or "")
        if script is not None and running not in self.env:
            self.env[running] = "1"  # a batch file that calls itself is read once
            self.nested(script, "cmd", f"{name} (written on this line)", privileged=priv)
            del self.env[running]
        if name == "if":  # `if [not] exist X (CMD) [else (CMD)]`: both branches may run
            for body in _cmd_if_bodies(rest):
                self.emit_cmd(body, raw, privileged=priv)
            return
        if name == "for":
            low = [w.lower() for w in rest]
            if "do" in low:
                body = rest[low.index("do") + 1 :]
                if body and body[0].startswith("@"):
                    body[0] = body[0][1:]
                if [w.lower() for w in body[:1]] == ["if"]:
                    # `if exist X CMD` / `if not exist X CMD`
                    k = 1 + (1 if body[1:2] and body[1].lower() == "not" else 0)
                    body = (
                        body[k + 2 :]
                        if body[k : k + 1] and body[k].lower() == "exist"
                        else body[k + 1 :]
                    )
                loop = re.search(r"in\s*\(([^)]*)\)", raw, re.I)
                items = [x for x in re.split(r"[\s,]+", loop.group(1)) if x] if loop else []
                var = next((w for w in rest if w.startswith("%")), None)
                if body:
                    simple = (
                        items
                        and var
                        and len(items) <= 8
                        and not any("%" in x or "*" in x or x == "." for x in items)
                    )
                    for v in items if simple else [None]:
                        words = [w.replace(var, v) if var and v else w for w in body]
                        if words and words[0].startswith("@"):
                            words[0] = words[0][1:]
                        self.emit_cmd(words, raw, privileged=priv)
                    return
        self.out.append(
            Invocation(
                "cmd",
                name,
                rest,
                raw,
                priv,
                self.wrappers,
                reds,
                depth=self.depth,
                via=self.via,
                remote=self.remote,
            )
        )

    def _forfiles(self, rest: list[str], priv: bool) -> None:
        """forfiles /p DIR /m MASK [/s] [/d N] /c "CMD @path": CMD runs once per match."""
        opts: dict[str, str] = {}
        low = ["/" + w[1:].lower() if w.startswith("-") else w.lower() for w in rest]  # -p, /p
        for k, w in enumerate(low[:-1]):
            if w in ("/p", "/m", "/c", "/d"):
                opts[w] = rest[k + 1]
        cmd = opts.get("/c")
        if not cmd:
            return
        folder = opts.get("/p", ".").rstrip("\\") or "."
        mask = opts.get("/m", "*")
        target = folder + "\\" + mask
        before = len(self.out)
        self.nested(
            re.sub(
                r"(?i)@(path|relpath|file|fname)",
                lambda m: f'"{target}"' if m.group(1).lower() in ("path", "relpath") else mask,
                cmd.replace("0x22", '"'),
            ),
            "cmd",
            "forfiles",
            privileged=priv,
        )
        if mask not in ("*", "*.*") or "/d" in opts:  # a filter limits what is matched
            for inv in self.out[before:]:
                inv.filtered = True


_CMD_COMPARE = frozenset(["==", "equ", "neq", "lss", "leq", "gtr", "geq"])


def _cmd_if_bodies(rest: list[str]) -> list[list[str]]:
    """The commands of a cmd `if`: the words after its condition, split at `else`, with the
    brackets around each branch removed."""
    k = 0
    while k < len(rest) and rest[k].lower() in ("/i", "not"):
        k += 1
    w = rest[k].lower() if k < len(rest) else ""
    if w in ("exist", "errorlevel", "defined", "cmdextversion"):
        k += 2
    elif "==" in w and not w.endswith("=="):  # 1==1, "%x%"=="y"
        k += 1
    elif w.endswith("=="):  # a== b
        k += 2
    elif k + 1 < len(rest) and rest[k + 1].lower() in _CMD_COMPARE:  # a == b, a EQU b
        k += 3
    else:
        k += 1
    words: list[str] = []
    for word in rest[k:]:  # `a)else(b` glued: a), else, (b
        words += [w for w in re.split(r"(?i)(?<=\))(else)|(else)(?=\()", word) if w]
    bodies: list[list[str]] = [[]]
    for word in words:
        if word.lower() == "else":
            bodies.append([])
            continue
        word = word.lstrip("(") if not bodies[-1] else word
        if word:
            bodies[-1].append(word)
    for b in bodies:
        if b:
            b[-1] = b[-1].rstrip(")") or b[-1]
    return [b for b in bodies if b]


def _cmd_join_continuations(text: str) -> str:
    """Join lines ended by an unescaped `^` outside double quotes (cmd's line continuation)."""
    out: list[str] = []
    inq = False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            inq = not inq
        elif ch == "\n":
            inq = False  # a quote does not run past the end of a line
        elif ch == "^" and not inq and i + 1 < len(text):
            nxt = text[i + 1 : i + 3]
            if nxt.startswith("\n") or nxt == "\r\n":
                i += 1 + (2 if nxt == "\r\n" else 1)
                continue
            out.append(text[i : i + 2])  # ^^, ^&: escaped, kept for the splitter
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _cmd_split(text: str) -> list[list[str]]:
    """Split on & && || (statements) and | (pipes), outside double quotes; ^ escapes."""
    statements: list[list[str]] = []
    pipe: list[str] = []
    cur: list[str] = []
    inq = False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "^" and not inq and i + 1 < len(text):
            cur.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            inq = not inq
            cur.append(ch)
        elif not inq and ch in "&|\n":
            two = text[i : i + 2]
            if ch == "|" and two != "||":
                pipe.append("".join(cur).strip())
                cur = []
            else:
                pipe.append("".join(cur).strip())
                statements.append([p for p in pipe if p])
                pipe, cur = [], []
                if two in ("&&", "||"):
                    i += 1
        else:
            cur.append(ch)
        i += 1
    pipe.append("".join(cur).strip())
    statements.append([p for p in pipe if p])
    return [s for s in statements if s]


def _cmd_words(seg: str) -> list[str]:
    words: list[str] = []
    cur: list[str] = []
    inq = False
    started = False
    for ch in seg:
        if ch == '"':
            inq = not inq
            started = True
            continue
        if ch.isspace() and not inq:
            if started:
                words.append("".join(cur))
                cur, started = [], False
            continue
        cur.append(ch)
        started = True
    if started:
        words.append("".join(cur))
    out: list[str] = []
    for w in words:
        # `dir/s` style switches glued to the command
        if not out and "/" in w and not w.startswith("/") and ":" not in w and "\\" not in w:
            head, _, tail = w.partition("/")
            out.extend([head, "/" + tail])
        else:
            out.append(w)
    return out


def with_name(inv: Invocation, name: str) -> Invocation:
    return replace(inv, name=name)
