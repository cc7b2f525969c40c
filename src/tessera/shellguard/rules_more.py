"""More rules: data services, infrastructure tools, disk wipers, fleet execution, exfiltration,
LOLBins, tampering with defences, and PowerShell string tricks.

Imported at the end of `tessera.shellguard.rules`, which registers these into its tables.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator

from tessera.shellguard.levels import Finding, Level
from tessera.shellguard.parse import Invocation, Parsed
from tessera.shellguard.rules import (
    BASH_RULES,
    DEFENCES,
    _carried,
    _f,
    _is_nonprod,
    _is_prod,
    _reg,
    assess,
    r_aws,
    sql_level,
    strip_strings,
)
from tessera.shellguard.tokenize import INERT_ARGS

S, L, R, B = Level.SAFE, Level.LOW, Level.RISKY, Level.BLOCKED

# (tool, regex over the arguments, level when prod/all/forced, level otherwise, tag, why)
_DESTROY_TABLE: list[tuple[str, str, Level, Level, str, str]] = [
    (
        "influx",
        r"\b(bucket|org|v1 dbrp) delete\b|\bdelete\b.*--bucket",
        B,
        R,
        "db",
        "deletes a bucket",
    ),
    ("kafka-topics", r"--delete", B, R, "db", "deletes topics"),
    ("kafka-topics.sh", r"--delete", B, R, "db", "deletes topics"),
    ("consul", r"\bkv delete\b.*-recurse", B, R, "db", "deletes keys recursively"),
    (
        "rabbitmqctl",
        r"\b(delete_vhost|reset|force_reset|purge_queue|delete_queue)\b",
        B,
        R,
        "db",
        "deletes a vhost, queue or node state",
    ),
    ("bq", r"\brm\b.*(-r|-d|--dataset|--recursive)", B, R, "db", "deletes a dataset"),
    (
        "firebase",
        r"(firestore:delete|database:remove|hosting:disable|projects:delete)",
        B,
        R,
        "db",
        "deletes Firebase data",
    ),
    (
        "heroku",
        r"(pg:reset|apps:destroy|pg:killall|addons:destroy)",
        B,
        R,
        "db",
        "destroys an app or database",
    ),
    ("ceph", r"(osd pool delete|fs rm|osd purge)", B, R, "db", "deletes a Ceph pool or filesystem"),
    ("pg_dropcluster", r".", B, R, "db", "drops a PostgreSQL cluster"),
    ("velero", r"\b(backup|schedule|restore) delete\b", B, R, "log-wipe", "deletes backups"),
    (
        "mc",
        r"\b(rb|rm)\b.*(--force|--recursive|-r)\b",
        B,
        R,
        "cloud-delete",
        "removes a bucket or its objects",
    ),
    (
        "azcopy",
        r"\b(rm|remove|sync)\b.*(--recursive|--delete-destination)",
        B,
        R,
        "cloud-delete",
        "deletes blobs",
    ),
    ("cdk", r"\bdestroy\b", B, R, "cloud-delete", "destroys CDK stacks"),
    ("serverless", r"\bremove\b", B, R, "cloud-delete", "removes a deployed service"),
    ("sls", r"\bremove\b", B, R, "cloud-delete", "removes a deployed service"),
    ("eksctl", r"\bdelete (cluster|nodegroup)\b", B, R, "cloud-delete", "deletes a cluster"),
    ("kops", r"\bdelete cluster\b", B, R, "cloud-delete", "deletes a cluster"),
    ("sam", r"\bdelete\b", B, R, "cloud-delete", "deletes a stack"),
    (
        "ibmcloud",
        r"(group-delete|\bdelete\b|\brm\b)",
        B,
        R,
        "cloud-delete",
        "deletes cloud resources",
    ),
    ("fly", r"\b(apps destroy|destroy|volumes destroy)\b", B, R, "cloud-delete", "destroys an app"),
    (
        "flyctl",
        r"\b(apps destroy|destroy|volumes destroy)\b",
        B,
        R,
        "cloud-delete",
        "destroys an app",
    ),
    ("vercel", r"\b(remove|rm)\b", B, R, "cloud-delete", "removes deployments"),
    ("netlify", r"\bsites:delete\b", B, R, "cloud-delete", "deletes a site"),
    ("argocd", r"\bapp delete\b", B, R, "cloud-delete", "deletes an application"),
    ("flux", r"\b(delete|uninstall)\b", B, R, "cloud-delete", "deletes GitOps objects"),
    ("gh", r"\brepo delete\b", B, R, "cloud-delete", "deletes a repository"),
    ("dropdb", r".", B, R, "db", "drops a database"),
    ("zfs", r"\bdestroy\b", B, R, "disk", "destroys a dataset"),
]
_FORCE = re.compile(
    r"(--force|-f\b|--yes|-y\b|--all|--no-prompts|--silent|-q\b|--quiet|--cascade|"
    r"--yes-i-really|--recursive|-r\b|'\.\*'|\*)"
)


def r_destroy_table(inv: Invocation) -> Iterator[Finding]:
    text = " ".join(inv.args)
    for tool, pat, hi, lo, tag, why in _DESTROY_TABLE:
        if inv.name == tool and re.search(pat, text):
            strong = _is_prod(inv.line) or _FORCE.search(text) is not None
            if inv.name in ("dropdb", "pg_dropcluster"):
                strong = True
            if inv.name == "velero":
                strong = "--all" in text or _is_prod(text)
            if inv.name == "zfs" and "@" in text:
                # one snapshot; `pool/ds@%` (every snapshot) wipes the backups, as
                # `vssadmin delete shadows /all` does
                strong = bool(re.search(r"@%(\s|$)", text))
            if (
                _is_nonprod(text) or re.search(r"(scratch|playground|sandbox|tmp|temp|demo)", text)
            ) and not _is_prod(text):
                strong = strong and "--all" in text
            yield _f(inv, hi if strong else lo, tag, inv.name, why)
            return


def r_wipers(inv: Invocation) -> Iterator[Finding]:
    text = " ".join(inv.args)
    if inv.name == "dcfldd":
        if re.search(r"of=/dev/(sd|nvme|hd|vd|xvd|mmcblk|md|dm-|mapper|disk)", text):
            yield _f(inv, B, "disk", inv.name, "writes raw bytes to a device")
        return
    if inv.name == "badblocks" and not re.search(r"(^|\s)-[a-zA-Z]*w", text):
        return
    if inv.name == "flashrom" and not re.search(r"(--erase|-E\b|--write|-w\b)", text):
        return
    yield _f(inv, B, "disk", inv.name, "erases or overwrites a disk or firmware")


def _ssm_json_commands(args: list[str]) -> list[str]:
    """The shell lines of `aws ssm send-command --parameters '{"commands": [...]}'` (JSON form;
    the shorthand `commands=...` is read by `r_fleet`)."""
    vals = [args[k + 1] for k, a in enumerate(args[:-1]) if a == "--parameters"]
    vals += [a.split("=", 1)[1] for a in args if a.startswith("--parameters=")]
    out: list[str] = []
    for v in vals:
        try:
            doc = json.loads(v)
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            continue
        got = doc.get("commands", doc.get("Commands")) if isinstance(doc, dict) else None
        got = [got] if isinstance(got, str) else got
        if isinstance(got, list):
            out += [x for x in got if isinstance(x, str)]
    return out


def r_fleet(inv: Invocation) -> Iterator[Finding]:
    """salt / knife ssh / bolt / ssm send-command / psexec: judge the command they send to many hosts."""
    text = " ".join(inv.args)
    cmd = None
    if inv.name == "salt" and "cmd.run" in inv.args:
        k = inv.args.index("cmd.run")
        cmd = inv.args[k + 1] if k + 1 < len(inv.args) else None
    elif inv.name == "knife" and inv.args[:1] == ["ssh"]:
        pos = [a for a in inv.args[1:] if not a.startswith("-")]
        cmd = pos[1] if len(pos) >= 2 else None
    elif inv.name == "bolt" and inv.args[:2] == ["command", "run"]:
        cmd = inv.args[2] if len(inv.args) > 2 else None
    elif inv.name == "aws" and "send-command" in inv.args:
        lines = _ssm_json_commands(inv.args)
        m = re.search(r"commands=\[?['\"]?([^'\"\]]+)", text)
        cmd = "\n".join(lines) if lines else m.group(1) if m else None  # one line each
    elif inv.name in ("psexec", "psexec64", "paexec"):
        k = 0
        while k < len(inv.args) and inv.args[k].startswith(("-", "\\\\")):
            k += 1
        rest = inv.args[k:]
        cmd = " ".join(f'"{a}"' if " " in a else a for a in rest) if rest else None
    if not cmd:
        return
    shell = "cmd" if inv.name.startswith(("psexec", "paexec")) else "bash"
    if inv.name == "aws" and "runpowershellscript" in text.lower():
        shell = "powershell"
    sub = assess(cmd, shell)
    many = not re.search(r"\\\\[\w.-]+\s", text + " ") or "\\\\*" in text or inv.name != "psexec"
    if inv.name == "aws":  # by tag (--targets) or several --instance-ids
        many = "--targets" in inv.args or len(re.findall(r"\bi-[0-9a-f]{6,}", text)) > 1
    if sub.level >= R or (sub.level >= L and many):
        lvl = B if sub.level >= R and many else max(sub.level, R)
        yield _carried(inv, lvl, sub, "remote", inv.name, "runs a changing command on many hosts")


def r_lolbin(inv: Invocation) -> Iterator[Finding]:
    """Windows binaries that fetch and run remote code."""
    text = " ".join(inv.args).lower()
    remote = re.search(r"(https?://|\\\\\\\\[\w.]+\\|javascript:|script:)", text)
    if not remote:
        return
    if inv.name in (
        "mshta",
        "regsvr32",
        "rundll32",
        "wmic",
        "cmstp",
        "msbuild",
        "installutil",
        "odbcconf",
        "msiexec",
        "pcalua",
        "forfiles",
        "msxsl",
        "xwizard",
    ):
        yield _f(inv, B, "net-exec", inv.name, "a system binary fetches and runs remote code")


_SECRET = re.compile(
    r"(/etc/shadow|/etc/sudoers|id_rsa|id_ed25519|\.ssh\b|\.aws\b|\.kube\b|\.docker/config|"
    r"credentials|\.git-credentials|\.netrc|\.pgpass|login data|cookies|\.gnupg|"
    r"kubectl get secrets?|secretsmanager|get-secret-value|pg_dumpall|mysqldump --all|"
    r"\benv\b\s*\||printenv|/proc/\d*/environ|\.env\b|\.pem\b|\.key\b|keychain|lsass|sam\.save|"
    r"ntds)",
    re.I,
)


def exfil_rules(parsed: Parsed) -> Iterator[Finding]:
    """Secrets or credential stores sent to another host are BLOCKED (upload alone is RISKY)."""
    line_secret = _SECRET.search(parsed.command) is not None  # once per line, not per command
    packed: set[str] = set()  # words of earlier commands that read secrets (an archive of them)
    for inv in parsed.invocations:
        if inv.name in INERT_ARGS:
            continue
        text = " ".join(inv.args)
        up = inv.upstream_text
        if re.fullmatch(r"(env|printenv|set)(\s+-\S+)*", up.split("|")[-1].strip()):
            up += " |"  # `env | curl`: the whole environment piped into the upload
        sends = (
            (
                inv.name in ("curl", "wget")
                and re.search(r"(-d\b|--data|-F\b|--form|-T\b|--upload-file|-X\s*(POST|PUT))", text)
            )
            or (inv.name in ("nc", "ncat", "netcat", "socat", "telnet") and bool(inv.upstream))
            or (
                inv.name in ("invoke-webrequest", "invoke-restmethod")
                and re.search(r"-(infile|body|method)", text, re.I)
            )
            or (inv.name == "ssh" and bool(inv.upstream))
            or (
                inv.name in ("scp", "rsync", "ftp", "sftp")
                and re.search(r"[\w.-]+@?[\w.-]+:", text)
            )
        )
        uploads = {
            m.group(1).strip("'\"")
            for m in re.finditer(r"(?:-infile|-T|--upload-file|@)\s*(\S+)", text, re.I)
        }
        secret = sends and (
            _SECRET.search(up)
            or _SECRET.search(text)
            or (line_secret and "$(" in text)
            or bool(
                uploads & packed
            )  # `Compress-Archive <Login Data> -Dest c.zip; ... -InFile c.zip`
        )
        if _SECRET.search(text):
            packed.update(a.strip("'\"") for a in inv.args)
        if sends and secret and not re.search(r"\.pub\b", up + " " + text) and _external(text):
            yield _f(inv, B, "exfil", "exfil", "sends credentials or secrets to another host")
        if inv.name in (
            "get-adreplaccount",
            "invoke-kerberoast",
            "invoke-dcsync",
            "unshadow",
            "mimipenguin",
            "lazagne",
            "secretsdump.py",
            "impacket-secretsdump",
            "hashcat",
            "john",
        ) or (
            inv.name in ("python", "python3")
            and re.search(r"mimipenguin|lazagne|secretsdump", text)
        ):
            yield _f(inv, B, "exfil", "credential-theft", "extracts password hashes or secrets")
        if inv.name == "xargs" or (inv.args_from_stdin and "get-secret-value" in text):
            yield _f(inv, B, "exfil", "credential-theft", "reads every secret a query lists")


_PRIVATE_NET = re.compile(r"^(10\.|127\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.)")
_DROP_SITES = re.compile(
    r"(paste|transfer\.sh|0x0\.st|webhook|ngrok|requestbin|pipedream|file\.io|anonfiles|gofile|"
    r"discord(app)?\.com/api/webhooks|api\.telegram|pastebin|termbin|c-net|temp\.sh|oast|"
    r"interact\.sh|burpcollaborator)",
    re.I,
)


def _external(text: str) -> bool:
    """A destination outside the organisation: a public IP address or a paste/drop/webhook site."""
    if _DROP_SITES.search(text):
        return True
    for ip in re.findall(r"\b(\d{1,3}(?:\.\d{1,3}){3})\b", text):
        if not _PRIVATE_NET.match(ip):
            return True
    return bool(
        re.search(r"(ftp|https?)://(?!(localhost|[\w.-]*\.(internal|local|corp|lan)\b))", text)
    ) and bool(re.search(r"(ftp|https?)://\d", text))


_ADMIN_ROLE = re.compile(
    r"(AdministratorAccess|roles/owner|--role[= ]'?Owner|cluster-admin|Global Administrator|"
    r"DCSync|\"Action\":\s*\"\*\")",
    re.I,
)
_OUTSIDER = re.compile(
    r"(@gmail\.|@outlook\.|@hotmail\.|@protonmail\.|@yahoo\.|system:anonymous|"
    r"system:unauthenticated|allUsers|allAuthenticatedUsers|\bext[-.])",
    re.I,
)


def tamper_rules(parsed: Parsed) -> Iterator[Finding]:
    """Defence tampering and backdoors that are not one tool's business."""
    line = parsed.command
    for inv in parsed.invocations:
        if inv.name in INERT_ARGS:
            continue  # printing or searching for such a command is a mention
        text = " ".join(inv.args)
        low = text.lower()
        if _ADMIN_ROLE.search(text) and (
            _OUTSIDER.search(text) or "dcsync" in low or "anonymous" in low
        ):
            yield _f(
                inv,
                B,
                "priv",
                "privilege-grant",
                "grants administrator rights to an outsider or anonymous",
            )
        if (
            inv.name
            in (
                "apt",
                "apt-get",
                "dnf",
                "yum",
                "zypper",
                "rpm",
                "dpkg",
                "snap",
                "uninstall-package",
                "msiexec",
                "winget",
                "choco",
            )
            and re.search(r"(remove|purge|erase|uninstall|-e\b|/x\b)", low)
            and DEFENCES.search(text)
        ):
            yield _f(inv, B, "defence-off", inv.name, "uninstalls a security agent")
        if inv.name in ("sed", "perl", "tee", "set-content", "add-content") and re.search(
            r"(audit/|audit\.rules|journald\.conf.*storage=none|storage=none|selinux=0|apparmor=0)",
            low + " " + " ".join(t for _, t in inv.redirects).lower(),
        ):
            yield _f(inv, B, "defence-off", inv.name, "edits auditing or logging off")
        if (
            inv.name in ("sed", "perl")
            and re.search(r"/var/log/|\.bash_history|wtmp|lastlog", low)
            and re.search(r"(^|\s)-[a-z]*i", text)
        ):
            yield _f(inv, B, "log-wipe", inv.name, "edits entries out of logs")
        if (
            inv.name == "ln"
            and re.search(r"/dev/null", text)
            and re.search(r"(history|/var/log/)", text)
        ):
            yield _f(inv, B, "log-wipe", "ln", "sends shell history or a log to /dev/null")
        if inv.name == "grubby" and re.search(r"(selinux=0|enforcing=0|audit=0|apparmor=0)", low):
            yield _f(inv, B, "defence-off", "grubby", "boots without SELinux/AppArmor/audit")
        if inv.name == "csf" and re.search(r"(^|\s)-(x|f)\b|--disable", text):
            yield _f(inv, B, "defence-off", "csf", "turns the firewall off")
        if inv.name in ("insmod", "modprobe") and re.search(
            r"(/tmp/|/dev/shm/|/var/tmp/|\.cache/)", text
        ):
            yield _f(
                inv,
                B,
                "persistence",
                inv.name,
                "loads a kernel module from a temporary folder (rootkit)",
            )
        if (
            inv.name == "setcap"
            and re.search(r"cap_(setuid|sys_admin|dac_override)", low)
            and re.search(r"(python|perl|ruby|node|bash|sh\b|vim|find|tar)", low)
        ):
            yield _f(inv, B, "priv", "setcap", "gives an interpreter root-equivalent capabilities")
        if inv.name in ("set-processmitigation",) and "-disable" in low:
            yield _f(inv, B, "defence-off", inv.name, "turns exploit mitigations off")
        if (
            inv.name in ("pip", "pip3")
            and re.search(
                r"--(index-url|extra-index-url|trusted-host)\s+\S*(\d+\.\d+\.\d+\.\d+)", text
            )
            and inv.privileged
        ):
            yield _f(
                inv, B, "net-exec", inv.name, "installs packages as root from an untrusted index"
            )
        if (
            inv.name == "git"
            and "push" in inv.args
            and "--mirror" in inv.args
            and re.search(r"--force|-f\b", text)
        ):
            yield _f(
                inv,
                B,
                "vcs-history",
                "git",
                "force-mirrors over a remote: every branch and tag replaced",
            )
    # .NET / WMI calls inside PowerShell (outside strings)
    code = strip_strings(line, backslash_escapes=False)
    if parsed.shell == "powershell":
        if re.search(r"amsi", line, re.I) and re.search(r"(GetField|SetValue)", code):
            yield Finding(B, "defence-off", "ps-expression", line[:160], "bypasses AMSI")
        if re.search(r"\]::Delete\s*\(", code) and re.search(
            r"(c:\\?windows|c:\\?users|c:\\?'|c:\\\s*'|"
            r"program files)",
            line,
            re.I,
        ):
            yield Finding(
                B, "destroy", "ps-expression", line[:160], "deletes a system folder through .NET"
            )
        if re.search(r"win32_shadowcopy", code, re.I) and re.search(
            r"\.Delete\(\)|remove-", code, re.I
        ):
            yield Finding(B, "log-wipe", "ps-expression", line[:160], "deletes shadow copies")
        if re.search(
            r"__EventFilter|CommandLineEventConsumer|__FilterToConsumerBinding", line
        ) and re.search(r"set-wmiinstance|new-ciminstance|register-wmievent|\.put\(", code, re.I):
            yield Finding(
                B,
                "persistence",
                "ps-expression",
                line[:160],
                "WMI event subscription (persistence)",
            )
        if re.search(r"Aes\]?::Create|CreateEncryptor", code) and re.search(
            r"WriteAllBytes|Remove-Item", code
        ):
            yield Finding(
                B,
                "destroy",
                "ps-expression",
                line[:160],
                "encrypts and replaces files (ransomware)",
            )
        if (
            re.search(
                r"(new-itemproperty|set-itemproperty|invoke-webrequest|\biwr\b|copy-item|\breg\b)",
                code,
                re.I,
            )
            and re.search(r"start menu\\programs\\startup|\\currentversion\\run", line, re.I)
            and re.search(
                r"(iwr|invoke-webrequest|downloadstring|downloadfile|iex|http)", line, re.I
            )
        ):
            yield Finding(
                B,
                "persistence",
                "ps-expression",
                line[:160],
                "installs a downloaded payload to run at logon",
            )
        if (
            re.search(r"(add-content|set-content|out-file)", code, re.I)
            and re.search(r"\$profile\.allusers", line, re.I)
            and re.search(r"(iex|invoke-expression|iwr|http)", line, re.I)
        ):
            yield Finding(
                B,
                "persistence",
                "ps-expression",
                line[:160],
                "puts a download cradle in every profile",
            )
        if re.search(r"invoke-command", code, re.I) and re.search(
            r"get-adcomputer|-computername\s*\(\s*get-content", code, re.I
        ):
            inner = [i for i in parsed.invocations if i.remote]
            worst = max((assess(i.raw, "powershell").level for i in inner), default=S)
            filtered = re.search(
                r"-filter\s+\*\.|where-object|\?\s*\{|-mtime|adddays|older", code, re.I
            )
            if (worst >= R and not filtered) or re.search(r"(iex|downloadstring)", code, re.I):
                yield Finding(
                    B, "remote", "fleet", line[:160], "runs a changing command on many computers"
                )
        if re.search(r"stop-computer|restart-computer", code, re.I) and re.search(
            r"-computername\s*\(", code, re.I
        ):
            yield Finding(B, "service", "fleet", line[:160], "shuts down many computers at once")
    # download, then install it as a service or in a startup folder
    if re.search(
        r"(invoke-webrequest|\biwr\b|\bcurl\b|\bwget\b|certutil|bitsadmin)", code, re.I
    ) and re.search(
        r"(new-service|\bsc(\.exe)?\s+create|\\startup\\|schtasks(\.exe)?\s+/create)", code, re.I
    ):
        yield Finding(
            B,
            "persistence",
            "download-persist",
            line[:160],
            "installs a downloaded binary to run by itself",
        )


_PS_STR = re.compile(r"'([^']*)'")


def ps_static_name(expr: str) -> str | None:
    """Evaluate simple PowerShell string tricks: 'Rem'+'ove-Item', -join [char[]]@(82,...), '{1}{0}' -f 'a','b'."""
    e = expr.strip()
    while e.startswith("(") and e.endswith(")") and e.count("(") == e.count(")"):
        e = e[1:-1].strip()
    m = re.fullmatch(r"-join\s*\[char\[\]\]\s*@?\(([\d,\s]+)\)", e, re.I)
    if m:
        try:
            return "".join(chr(int(x)) for x in m.group(1).split(",") if x.strip())
        except ValueError:
            return None
    m = re.fullmatch(r"\"([^\"$`]*)\"|'([^']*)'", e)
    if m:
        return m.group(1) if m.group(1) is not None else m.group(2)
    m = re.fullmatch(r"\[scriptblock\]::create\(\s*(\"[^\"]*\"|'[^']*')\s*\)", e, re.I)
    if m:
        return m.group(1)[1:-1]
    m = re.fullmatch(r"'([^']*)'\s*-f\s*((?:'[^']*'\s*,?\s*)+)", e)
    if m:
        args = _PS_STR.findall(m.group(2))
        try:
            return re.sub(r"\{(\d+)\}", lambda k: args[int(k.group(1))], m.group(1))
        except IndexError:
            return None
    m = re.fullmatch(r"\(?-join\s*\(\s*'([^']*)'\s*\[\s*-1\s*\.\.\s*-\d+\s*\]\s*\)\)?", e, re.I)
    if m:
        return m.group(1)[::-1]
    parts = _top_level_plus(e)
    if len(parts) > 1:  # any mix of the above joined by `+`: (-join ('...'[-1..-9]))+' /all'
        built = [ps_static_name(x) for x in parts]
        return None if any(b is None for b in built) else "".join(built)  # type: ignore[arg-type]
    return None


def _top_level_plus(e: str) -> list[str]:
    """`e` split at the `+` signs outside quotes and brackets."""
    parts, depth, q, start = [], 0, "", 0
    for i, ch in enumerate(e):
        if q:
            q = "" if ch == q else q
        elif ch in "'\"":
            q = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "+" and depth <= 0:  # (an unbalanced prefix counts as outside)
            parts.append(e[start:i])
            start = i + 1
    parts.append(e[start:])
    return [x.strip() for x in parts]


def ps_trick_rules(parsed: Parsed) -> Iterator[Finding]:
    """`& ('Rem'+'ove-Item') ...`, `$c='Format'+'-Volume'; & $c ...`, iex of built strings."""
    if parsed.shell != "powershell":
        return
    line = parsed.command
    env: dict[str, str] = {}
    for assign in re.finditer(r"\$(\w+)\s*=\s*([^;]+)", line):
        v = ps_static_name(assign.group(2))
        if v:
            env[assign.group(1).lower()] = v
    rebuilt = None
    code = strip_strings(line, backslash_escapes=False)
    # `& X args` or dot-sourcing `. X args` (at a statement start) of a built name or block
    run_op = r"(?:&|(?:^|[;{|])\s*\.)"
    m = (
        re.search(run_op + r"\s*(\(.*\)|\$\w+)\s*(.*)", line)
        if re.search(run_op + r"\s*[($]", code)
        else None
    )
    if m:
        target = m.group(1)
        name = env.get(target[1:].lower()) if target.startswith("$") else ps_static_name(target)
        if not name and target.startswith("$"):
            e = re.search(
                rf"\${target[1:]}\s*=\s*(-join.*?\)|'[^']*'(?:\s*\+\s*'[^']*')*)", line, re.I
            )
            name = ps_static_name(e.group(1)) if e else None
        if name:
            rebuilt = name + " " + m.group(2)
        g = re.search(r"\((?:get-command|gcm)\s+([\w*?-]+)\)", target, re.I)
        if g and re.search(r"[*?]", g.group(1)):
            from tessera.shellguard.parse import PS_ALIASES

            pat = g.group(1).lower().replace("*", ".*").replace("?", ".")
            for cand in (
                "clear-eventlog",
                "remove-item",
                "format-volume",
                "clear-disk",
                "stop-service",
                "set-mppreference",
                "remove-eventlog",
                *PS_ALIASES.values(),
            ):
                if re.fullmatch(pat, cand):
                    rebuilt = cand + " " + m.group(2)
                    break
    ix = re.search(r"(iex|invoke-expression)\s*\(?\s*(\(.*\))\s*\)?\s*$", line, re.I)
    if not re.search(r"\b(iex|invoke-expression)\b", code, re.I):
        ix = None
    if ix and rebuilt is None:
        inner = ix.group(2)
        b = re.search(r"frombase64string\(\s*'([^']+)'", inner, re.I)
        if b:
            import base64
            import binascii

            try:
                raw = base64.b64decode(b.group(1))
                rebuilt = (
                    raw.decode("utf-16-le") if b"\x00" in raw else raw.decode("utf-8", "replace")
                )
            except (binascii.Error, ValueError, UnicodeDecodeError):
                rebuilt = None
        else:
            head = re.match(r"\((.*)\)\s*(\+\s*'([^']*)')?$", inner)
            if head:
                core = ps_static_name(head.group(1))
                if core:
                    rebuilt = core + (head.group(3) or "")
    if rebuilt:
        sub = assess(rebuilt, "powershell")
        if sub.level > S:
            yield Finding(
                sub.level,
                sub.reasons[0] if sub.reasons else "obfuscated",
                "ps-deobfuscate",
                line[:160],
                "runs a command assembled from strings",
            )


_CLOUD_CLIS = frozenset({"doctl", "gcloud", "az", "hcloud", "linode-cli", "scw", "oci", "ibmcloud"})
_DELETE_VERBS = frozenset({"delete", "destroy", "terminate", "remove", "rm", "purge"})


def delete_all_listed(inv: Invocation) -> Iterator[Finding]:
    """`doctl compute droplet delete $(doctl compute droplet list ...)`: a cloud delete of
    every resource an unfiltered listing of the same CLI returns (fleet scope)."""
    if inv.name not in _CLOUD_CLIS or not _DELETE_VERBS & set(inv.args):
        return
    listed = (
        inv.upstream_text if inv.args_from_stdin else ""
    )  # `CLI ... list | xargs CLI ... delete`
    if (
        listed.split()[:1] == [inv.name]
        and re.search(r"\b(list|ls|describe)\b", listed)
        and not re.search(
            r"--filter|--query|--tag|--label|--selector|-l\b|\|\s*(grep|awk|jq|head)", listed
        )
    ):
        yield _f(
            inv, B, "cloud-delete", inv.name, "deletes every resource an unfiltered list returns"
        )
        return
    for a in inv.args:
        sub = re.fullmatch(r"\$\((.*)\)|`(.*)`", a, re.S)
        body = (sub.group(1) or sub.group(2) or "") if sub else ""
        if (
            body.split()[:1] == [inv.name]
            and re.search(r"\b(list|ls|describe)\b", body)
            and not re.search(r"--filter|--query|--tag|--label|\|\s*(grep|awk|jq|head)", body)
        ):
            yield _f(
                inv,
                B,
                "cloud-delete",
                inv.name,
                "deletes every resource an unfiltered list returns",
            )
            return


def more_line_rules(parsed: Parsed) -> Iterator[Finding]:
    yield from exfil_rules(parsed)
    yield from tamper_rules(parsed)
    yield from ps_trick_rules(parsed)
    for inv in parsed.invocations:
        yield from delete_all_listed(inv)
        if inv.name in ("msiexec", "wmic", "forfiles", "msbuild"):
            yield from r_lolbin(inv)
        if inv.name in ("argocd", "flux", "gh", "zfs"):
            yield from r_destroy_table(inv)
        # reverse shells: a socket device or a shell spliced with a network tool
        text = " ".join(inv.args) + " " + " ".join(t for _, t in inv.redirects)
        if inv.name not in ("echo", "printf", "grep", "write-host", "write-output") and (
            re.search(
                r"/dev/(tcp|udp)/|/inet/tcp/|\bztcp\b|net'?\)?\.connect\(|socket\.socket|TCPClient",
                text,
            )
            or inv.name == "ztcp"
        ):
            yield _f(
                inv, B, "reverse-shell", "reverse-shell", "opens a network socket wired to a shell"
            )
        if inv.name in ("sh", "bash", "zsh", "dash") and (
            set(inv.upstream) | set(inv.downstream)
        ) & {"nc", "ncat", "telnet", "openssl", "socat"}:
            yield _f(
                inv,
                B,
                "reverse-shell",
                "reverse-shell",
                "a shell piped to and from a network connection",
            )
        if inv.name in ("awk", "gawk") and re.search(r"system\s*\(", text):
            m = re.search(r"system\s*\(\s*\"([^\"]+)\"", text)
            cmd = (
                (m.group(1) + " ~")
                if m and "ENVIRON" in text and "HOME" in text
                else (m.group(1) if m else "")
            )
            sub = assess(cmd, "bash") if cmd else None
            if sub is not None and sub.level > S:
                yield _carried(inv, sub.level, sub, "destroy", "awk", "awk runs a command")
        if inv.name in ("vim", "vi", "nvim", "ex") and re.search(r":!\s*(.+?)['\"]?$", text):
            m = re.search(r":!\s*([^'\"]+)", text)
            if m:
                sub = assess(m.group(1), "bash")
                if sub.level > S:
                    yield _carried(
                        inv, sub.level, sub, "destroy", "vim", "the editor runs a shell command"
                    )
        if inv.name in ("perl", "python", "python3", "ruby") and re.search(
            r"(pack\(\"H\*\"|b64decode|fromhex|"
            r"unhexlify)",
            text,
        ):
            for h in re.findall(r"[\"']([0-9a-fA-F]{8,})[\"']", text):
                try:
                    sub = assess(bytes.fromhex(h).decode("utf-8", "replace"), "bash")
                except ValueError:
                    continue
                if sub.level > S:
                    yield _f(inv, sub.level, sub.reasons[0], "decode", "runs a hex-encoded command")
            import base64
            import binascii

            for b in re.findall(r"[\"']([A-Za-z0-9+/=]{12,})[\"']", text):
                try:
                    sub = assess(base64.b64decode(b).decode("utf-8", "replace"), "bash")
                except (binascii.Error, ValueError):
                    continue
                if sub.level > S:
                    yield _f(
                        inv, sub.level, sub.reasons[0], "decode", "runs a base64-encoded command"
                    )
        if inv.name == "ruby" and re.search(r"fork\s*\{[^}]*fork", text):
            yield _f(inv, B, "fork-bomb", "fork-bomb", "forks in a loop")
        if (
            inv.name in ("robocopy",)
            and "/mir" in text.lower()
            and "/l" not in text.lower().split()
        ):
            src = next((a for a in inv.args if not a.startswith("/")), "")
            if re.search(r"empty|\\null|blank", src, re.I):
                yield _f(
                    inv, B, "destroy", "robocopy", "mirrors an empty folder over the destination"
                )
        if (
            inv.name == "forfiles"
            and re.search(r"\bdel\b|\brd\b|remove-item", text, re.I)
            and re.search(r"\.(bak|vhdx?|trn|wbcat)|backup", text, re.I)
        ):
            yield _f(inv, B, "log-wipe", "forfiles", "deletes backups")
        if inv.name == "kubectl" and "--" in inv.args:
            inner = assess(
                " ".join(shlex.quote(a) for a in inv.args[inv.args.index("--") + 1 :]), "bash"
            )
            if inner.level >= R:
                yield _carried(
                    inv,
                    inner.level,
                    inner,
                    "remote",
                    "kubectl",
                    "runs a dangerous command in a pod",
                )
    # secrets and SQL through more database clients
    for inv in parsed.invocations:
        if (
            inv.name
            in (
                "cockroach",
                "snowsql",
                "clickhouse-client",
                "cypher-shell",
                "cqlsh",
                "influx",
                "duckdb",
                "trino",
                "presto",
                "bq",
            )
            and inv.args
        ):
            q = next(
                (
                    inv.args[k + 1]
                    for k, a in enumerate(inv.args[:-1])
                    if a in ("-e", "-q", "--query", "--execute", "-f")
                ),
                None,
            )
            q = q or (inv.args[-1] if not inv.args[-1].startswith("-") else None)
            if q:
                if re.search(r"MATCH\s*\(\w*\)\s*(DETACH\s+)?DELETE", q, re.I):
                    yield _f(
                        inv,
                        B if re.search(r"MATCH\s*\(\w+\)\s*DETACH", q, re.I) else R,
                        "db",
                        inv.name,
                        "deletes graph nodes",
                    )
                    continue
                lvl, tag, why = sql_level(q, inv.line)
                if lvl > S:
                    yield _f(inv, lvl, tag, inv.name, why)


_reg(
    BASH_RULES,
    " ".join(sorted({t for t, *_ in _DESTROY_TABLE} - {"gh", "zfs", "argocd", "flux"})),
    r_destroy_table,
)
_reg(BASH_RULES, "dcfldd scrub nwipe sg_format badblocks flashrom srm", r_wipers)
_reg(BASH_RULES, "salt knife bolt psexec psexec64 paexec", r_fleet)


def r_aws_or_fleet(inv: Invocation) -> Iterator[Finding]:
    """`aws ssm send-command` is judged by the command it sends (`r_fleet`); the rest of the
    aws CLI by `r_aws`."""
    if "send-command" in inv.args:
        sent = list(r_fleet(inv))
        if sent:
            yield from sent
            return
    yield from r_aws(inv)


_reg(BASH_RULES, "aws", r_aws_or_fleet)
_reg(
    BASH_RULES, "mshta regsvr32 rundll32 cmstp installutil odbcconf pcalua msxsl xwizard", r_lolbin
)
