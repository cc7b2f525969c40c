"""Grade a path argument by what destroying it would cost: `./build` is not `~`, and `~` is not `/`.

Grades, from harmless to catastrophic:
  null       /dev/null and friends
  temp       /tmp, build outputs, caches (`./build`, `node_modules`, `$env:TEMP`)
  workspace  a relative file or folder that is not a build output
  cwd        the whole current folder (`.`, `*`, `./*`)
  data       other absolute paths (`/srv/app`, `~/projects/x`, `D:\\backups\\old`)
  sysconf    below a system folder (`/etc/nginx`, `C:\\Windows\\System32\\drivers\\etc\\hosts`)
  log        log folders and files (`/var/log/...`, `winevt\\Logs`)
  history    shell history files
  critical   files a system cannot boot or log in without (`/etc/shadow`, `/boot/...`)
  db         database data folders (`/var/lib/mysql`, `*.mdf`)
  home       a whole home folder (`~`, `/home/alice`, `C:\\Users\\bob`)
  system     a top-level system folder (`/etc`, `/usr`, `C:\\Windows`, `C:\\Program Files`)
  root       the whole filesystem or a whole drive (`/`, `/*`, `C:\\`, `D:\\*`)
  device     a block device (`/dev/sda`, `\\\\.\\PhysicalDrive0`)
  unknown    decided at run time (`$DIR`, `$(...)`, input from a pipe)
"""

from __future__ import annotations

import fnmatch
import ntpath
import posixpath
import re

SEVERITY = {
    "null": 0,
    "temp": 1,
    "workspace": 2,
    "cwd": 3,
    "data": 3,
    "sysconf": 4,
    "log": 4,
    "history": 4,
    "unknown": 4,
    "critical": 6,
    "db": 6,
    "home": 6,
    "system": 6,
    "root": 7,
    "device": 7,
}

_BUILD = {
    "build",
    "dist",
    "target",
    "out",
    "node_modules",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".cache",
    ".tox",
    ".nox",
    "coverage",
    ".coverage",
    "htmlcov",
    ".next",
    ".nuxt",
    "bin",
    "obj",
    "tmp",
    "temp",
    ".gradle",
    "_build",
    ".parcel-cache",
    ".turbo",
    ".svelte-kit",
    ".angular",
    ".vs",
    "packages",
    "debug",
    "release",
    ".eggs",
    "site",
    ".sass-cache",
    "bower_components",
    "vendor/bundle",
    ".terraform",
    "cdk.out",
    ".serverless",
    "logs",
    "log",
    ".DS_Store",
    "cmake-build-debug",
    "cmake-build-release",
    ".build",
    "deriveddata",
    "storybook-static",
    ".docusaurus",
    ".expo",
    "jspm_packages",
    ".venv-old",
    "artifacts",
    "test-results",
    "playwright-report",
    ".jest-cache",
    "junit",
    "reports",
    "pkg",
    ".webpack",
    "testresults",
    "test-output",
}
_BUILD_SUFFIX = (
    ".pdb",
    ".ilk",
    ".dmp",
    ".pyc",
    ".pyo",
    ".o",
    ".obj",
    ".class",
    ".tmp",
    ".log",
    ".bak",
    "~",
    ".swp",
    ".egg-info",
    ".orig",
    ".rej",
    ".pid",
    ".lock",
    ".out",
    ".a",
    ".so.tmp",
    ".cache",
    ".dSYM",
)
_HISTORY = {
    ".bash_history",
    ".zsh_history",
    ".history",
    ".sh_history",
    ".python_history",
    ".mysql_history",
    ".psql_history",
    ".lesshst",
    ".node_repl_history",
    ".viminfo",
    ".local/share/fish/fish_history",
    "consolehost_history.txt",
    ".wget-hsts",
    ".rediscli_history",
    ".sqlite_history",
}
_DB = (
    "mysql",
    "postgresql",
    "postgres",
    "pgsql",
    "ceph",
    "mongodb",
    "mongo",
    "redis",
    "elasticsearch",
    "opensearch",
    "cassandra",
    "etcd",
    "docker",
    "containerd",
    "influxdb",
    "clickhouse",
    "couchdb",
    "neo4j",
    "rabbitmq",
    "kafka",
    "zookeeper",
    "mariadb",
    "mssql",
    "kubelet",
    "rancher",
    "libvirt",
    "ldap",
    "slapd",
    "grafana",
    "prometheus",
    "minio",
    "vault",
    "consul",
    "nomad",
    "gitlab",
    "jenkins",
)
_SYSTEM_TOP = {
    "etc",
    "usr",
    "bin",
    "sbin",
    "lib",
    "lib32",
    "lib64",
    "libx32",
    "boot",
    "sys",
    "proc",
    "dev",
    "var",
    "opt",
    "snap",
    "run",
    "srv",
    "mnt",
    "media",
    "home",
    "root",
    "nix",
    "efi",
    ".snapshots",
    "System",
    "Library",
    "Applications",
    "Users",
    "private",
}
_SYSTEM_2 = {
    "usr/lib",
    "usr/bin",
    "usr/sbin",
    "usr/local",
    "usr/share",
    "usr/include",
    "usr/lib64",
    "var/lib",
    "var/cache",
    "var/spool",
    "var/www",
    "etc/systemd",
    "etc/ssh",
    "etc/pam.d",
    "etc/security",
    "usr/local/bin",
    "usr/local/lib",
    "var/mail",
    "var/opt",
    "lib/modules",
    "lib/systemd",
    "etc/init.d",
    "var/backups",
    "System/Library",
    "Library/Keychains",
} - {"var/www"}
_CRITICAL = {
    "etc/passwd",
    "etc/shadow",
    "etc/group",
    "etc/gshadow",
    "etc/sudoers",
    "etc/fstab",
    "etc/ld.so.preload",
    "etc/pam.d",
    "etc/ld.so.conf",
    "etc/inittab",
    "etc/crypttab",
    "etc/login.defs",
    "etc/nsswitch.conf",
    "etc/ssh/sshd_config",
    "etc/selinux/config",
}
_DEVICE = re.compile(
    r"^/dev/(sd[a-z]+\d*|nvme\d+n\d+(p\d+)?|hd[a-z]\d*|vd[a-z]\d*|xvd[a-z]\d*|mmcblk\d+(p\d+)?|"
    r"md\d+|dm-\d+|mapper/.+|disk/.+|loop\d+|sr\d+|rdisk\d+|disk\d+(s\d+)?|mem|kmem|port|nbd\d+|"
    r"[a-z]+/[a-z0-9_-]+)$"
)
_DEVICE_SAMPLES = tuple(
    "/dev/" + d
    for d in (
        "sda",
        "sdb1",
        "nvme0n1",
        "nvme0n1p1",
        "hda",
        "vda",
        "vdb1",
        "xvda",
        "mmcblk0",
        "mmcblk0p1",
        "md0",
        "dm-0",
        "mapper/root",
        "disk/by-id/x",
        "loop0",
        "nbd0",
        "disk0",
    )
)
_NULLS = {
    "/dev/null",
    "/dev/stdout",
    "/dev/stderr",
    "/dev/zero",
    "/dev/tty",
    "/dev/fd/1",
    "/dev/fd/2",
    "/dev/random",
    "/dev/urandom",
    "/dev/full",
    "-",
    "nul",
    "$null",
    "con",
}


def _windows_like(p: str) -> bool:
    return (
        bool(re.match(r"^[a-zA-Z]:", p))
        or "\\" in p
        or p.lower().startswith(("$env:", "hk", "\\\\"))
    )


def grade(path: str, shell: str = "bash") -> str:
    """The grade of one path argument (see the module docstring)."""
    p = path.strip().strip("'\"")
    if not p:
        return "unknown"
    if p.lower() in _NULLS:
        return "null"
    if shell != "bash" or _windows_like(p):
        return _grade_windows(p)
    return _grade_unix(p)


def _grade_unix(p: str) -> str:
    p = re.sub(r"\$\{?HOME\}?", "~", p)
    if p.startswith("/") and ("/." in p or "//" in p) and not re.search(r"[$`]", p):
        p = "/" + posixpath.normpath(p).lstrip("/")  # /dev/shm/../sda, //dev/sda: /dev/sda
    if p.startswith("/dev/"):
        if p in _NULLS or p.startswith(
            ("/dev/fd/", "/dev/pts/", "/dev/shm/", "/dev/tcp/", "/dev/udp/")
        ):
            return "temp" if p.startswith("/dev/shm/") else "null"
        if _DEVICE.match(p):
            return "device"
        if re.search(r"[*?\[]", p):  # /dev/sd*, /dev/nvme?n1: a glob that names disks
            pat = re.compile(fnmatch.translate(p))
            if any(pat.match(d) for d in _DEVICE_SAMPLES):
                return "device"
        return "sysconf"
    if "$" in p or "`" in p or p.startswith("<("):
        head = re.split(r"[$`<]", p, maxsplit=1)[0]
        if head.strip("/~.") == "" or ".." in p[len(head) :]:
            return "unknown"  # `/tmp/$(x)../*` may climb out of the folder it starts in
        return "temp" if _grade_unix(head.rstrip("/")) == "temp" else "unknown"
    if p.startswith("~"):
        _user, _, rest = p[1:].partition("/")
        rest = posixpath.normpath(rest) if rest else ""
        if rest in ("", ".", "*", ".*", "./*") or rest.startswith(".."):
            return "home"
        return _home_rel(rest)
    if p.startswith("/"):
        n = posixpath.normpath(p)
        if n.startswith("//"):
            n = n[1:]
        # /proc/self/root/etc is /etc (the process's root directory)
        n = re.sub(r"^/proc/(?:self|thread-self|\d+)/root(?=/|$)", "", n) or "/"
        if n in ("/", "/*", "/.", "/.*", "/..") or re.fullmatch(r"/[*?]+|/\{.*\}", n):
            return "root"
        parts = n.strip("/").split("/")
        top = parts[0]
        if re.search(r"[*?\[]", top) and top not in ("*", ".*"):
            # /[e]tc, /e*, /et?: the system folders the pattern matches, the worst of them
            from tessera.shellguard.parse import glob_match  # (bash's brackets: [[:lower:]])

            hits = [t for t in sorted(_SYSTEM_TOP) if glob_match(top, t)]
            if hits:
                return max(
                    (_grade_unix("/" + "/".join([t, *parts[1:]])) for t in hits), key=severity
                )
        rel = "/".join(parts)
        if top in ("tmp", "var") and (top == "tmp" or rel.startswith("var/tmp")):
            return "temp"
        if top == "home" or top == "Users":
            if len(parts) == 1 or parts[1] in ("*", ".*"):
                return "system"
            if len(parts) == 2 or (parts[2] in ("*", ".*", ".") and len(parts) == 3):
                return "home"
            return _home_rel("/".join(parts[2:]))
        if top == "root":
            if len(parts) == 1 or parts[1] in ("*", ".*"):
                return "home"
            return _home_rel("/".join(parts[1:]))
        if (
            rel in _CRITICAL
            or rel.startswith(("boot/", "etc/pam.d/"))
            or (top in ("bin", "sbin", "lib", "lib64") and len(parts) >= 2)
            or rel.startswith(("usr/bin/", "usr/sbin/", "usr/lib/systemd", "lib/systemd/systemd"))
        ):
            return "critical"
        if top == "var" and len(parts) >= 2 and parts[1] == "log":
            return "log"
        if (
            top == "var"
            and len(parts) >= 3
            and parts[1] in ("lib", "opt")
            and (parts[2].split("-")[0] in _DB)
        ):  # /var/lib/mysql, /var/opt/mssql
            return "db"
        if any(
            seg
            in ("mysql", "postgresql", "pgdata", "mongodb", "pg_data", "mongo-data", "redis-data")
            for seg in parts[:4]
        ) and top in ("data", "srv", "opt", "var", "mnt", "db", "database"):
            return "db"
        if len(parts) == 1 or (len(parts) == 2 and parts[1] in ("*", ".*")):
            return "system" if top in _SYSTEM_TOP else "data"
        head2 = "/".join(parts[:2])
        if head2 in _SYSTEM_2 and (
            len(parts) == 2 or (len(parts) == 3 and parts[2] in ("*", ".*"))
        ):
            return "system"
        if top in ("var",) and parts[1] in ("cache",):
            return "temp"
        if top in (
            "etc",
            "usr",
            "boot",
            "lib",
            "lib64",
            "sbin",
            "bin",
            "sys",
            "proc",
            "System",
            "Library",
        ):
            return "sysconf"
        return "data"
    return _relative(p)


def _home_rel(rest: str) -> str:
    first = rest.split("/", 1)[0]
    if rest in _HISTORY or first in _HISTORY or rest.endswith("_history"):
        return "history"
    if first in (
        ".cache",
        "tmp",
        ".tmp",
        ".Trash",
        ".npm",
        ".m2/repository",
        ".gradle",
        ".local/share/Trash",
    ):
        return "temp"
    if (
        first.lower() in ("downloads",)
        and rest.count("/") >= 1
        and rest.endswith((".tmp", ".zip", ".iso", ".deb"))
    ):
        return "workspace"
    if first in ("*", ".*"):
        return "home"
    return "data"


def _relative(p: str) -> str:
    n = posixpath.normpath(p.replace("\\", "/"))
    if n in (".", "*", "./*", ".*", "*.*") or n.startswith(".."):
        return "cwd" if not n.startswith("..") or n in ("..",) else "data"
    parts = [x for x in n.split("/") if x not in (".",)]
    low = [x.lower() for x in parts]
    if any(x in _BUILD or x.endswith(".egg-info") or x.startswith("cmake-build") for x in low):
        return "temp"
    if low[-1].endswith(_BUILD_SUFFIX) or (
        low[-1].startswith("*.") and ("." + low[-1].split(".")[-1]) in _BUILD_SUFFIX
    ):
        return "temp"
    if low[-1] in _HISTORY or low[-1].endswith("_history"):
        return "history"
    return "workspace"


_WIN_SYSTEM = (
    r"c:\windows",
    r"c:\windows\system32",
    r"c:\windows\syswow64",
    r"c:\program files",
    r"c:\program files (x86)",
    r"c:\programdata",
    r"c:\users",
    r"c:\boot",
    r"c:\recovery",
    r"c:\windows\system32\config",
    r"c:\windows\system32\drivers",
    r"c:\windows\winsxs",
    r"c:\system volume information",
    r"c:\efi",
    r"c:\windows\boot",
)


def _grade_windows(p: str) -> str:
    q = p.replace("/", "\\").lower()
    q = re.sub(r"\$env:systemroot|\$env:windir|%systemroot%|%windir%", r"c:\\windows", q)
    q = re.sub(r"\$env:systemdrive|%systemdrive%", "c:", q)
    q = re.sub(r"\$env:programfiles|%programfiles%", r"c:\\program files", q)
    q = re.sub(r"\$env:programdata|%programdata%", r"c:\\programdata", q)
    q = re.sub(r"^(\$env:userprofile|\$home|%userprofile%|\$env:homepath|%homepath%)", "~", q)
    q = re.sub(r"^(\$env:temp|\$env:tmp|%temp%|%tmp%)", r"c:\\temp", q)
    q = re.sub(r"^(\$env:localappdata|%localappdata%)", r"~\\appdata\\local", q)
    q = re.sub(r"^(\$env:appdata|%appdata%)", r"~\\appdata\\roaming", q)
    q = re.sub(r"^(microsoft\.powershell\.core\\)?filesystem::", "", q)
    if q.startswith("\\\\?\\"):  # \\?\C:\Windows: the same path, length limits off
        q = q[4:]
    if ".." in q and "$" not in q and "%" not in q and not q.startswith("~"):
        q = ntpath.normpath(q)  # c:\temp\..\windows is c:\windows
    if q.startswith(("hklm", "hkcu", "hkcr", "hku", "registry::", "hkey_")):
        return "registry"
    if q.startswith("\\\\.\\") or "physicaldrive" in q:
        return "device"
    if "$" in q or "%" in q:
        return "unknown"
    q = re.sub(r"\\+", r"\\", q).rstrip("\\") if len(q) > 3 else q
    if re.fullmatch(r"([a-z]:|\*:)(\\)?(\*(\.\*)?)?|\\|\\\*", q):
        return "root"
    if q.startswith("~"):
        rest = q[1:].lstrip("\\")
        if rest in ("", "*", "*.*"):
            return "home"
        if rest.startswith(
            ("appdata\\local\\temp", "appdata\\local\\microsoft\\windows\\inetcache")
        ):
            return "temp"
        if "psreadline" in rest and "history" in rest:
            return "history"
        return "data"
    m = re.match(r"^[a-z]:\\", q)
    if m:
        if (
            q.startswith((r"c:\temp", r"c:\tmp", r"c:\windows\temp"))
            or "\\appdata\\local\\temp" in q
        ):
            return "temp"
        if (
            q.startswith(r"c:\windows\system32\winevt")
            or q.startswith(r"c:\windows\logs")
            or q.startswith(r"c:\windows\system32\logfiles")
            or q.endswith(".evtx")
        ):
            return "log"
        if q.startswith(r"c:\windows\ntds") or q.endswith("ntds.dit"):
            return "db"
        if q.startswith(r"c:\windows\system32\inetsrv\config"):
            return "critical"
        if "psreadline" in q and "history" in q:
            return "history"
        if q.endswith((".mdf", ".ldf", ".ndf")) or (
            re.search(
                r"(microsoft sql server|mysql|postgresql|mongodb|"
                r"mariadb|redis|elasticsearch)",
                q,
            )
            and re.search(r"\\data(\\|$)", q)
        ):
            return "db"
        if re.fullmatch(r"c:\\users\\[^\\]+(\\\*(\.\*)?)?", q) and not q.endswith(
            ("\\public", "\\users\\*")
        ):
            return "home" if not q.endswith("users\\*") else "system"
        for s in _WIN_SYSTEM:
            if q == s or q == s + "\\*" or q == s + "\\*.*":
                return "system"
        if q.startswith(r"c:\windows\system32\drivers\etc"):
            return "sysconf"
        if q.startswith(
            (
                r"c:\windows\system32\config",
                r"c:\windows\system32\winload",
                r"c:\bootmgr",
                r"c:\windows\system32\ntoskrnl",
                r"c:\windows\system32\hal.dll",
            )
        ):
            return "critical"
        if q.startswith((r"c:\windows", r"c:\program files", r"c:\programdata")):
            return "sysconf"
        if re.match(r"^c:\\users\\[^\\]+\\", q):
            tail = q.split("\\", 3)[3] if q.count("\\") >= 3 else ""
            if tail.startswith("appdata\\local\\temp"):
                return "temp"
            return "data"
        parts = q.split("\\")
        if any(x in _BUILD for x in parts[1:]):
            return "temp"
        if len(parts) == 2 and parts[1] not in ("", "*"):
            return "data"
        return "data"
    if q.startswith("\\\\"):
        # \\server\d$\x: an administrative share of a whole drive
        parts = [x for x in q.split("\\") if x]
        if len(parts) >= 2 and re.fullmatch(r"[a-z]\$|admin\$", parts[1]) and len(parts) <= 3:
            return "root"
        return "data"
    return _relative(q)


def severity(g: str) -> int:
    return SEVERITY.get(g, 3)
