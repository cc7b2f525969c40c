"""The function sandbox of the local platform: bubblewrap namespaces plus resource limits.

Every worker (and the zygote template its instances are forked from) of a function runs as

    bwrap --unshare-user --unshare-ipc --unshare-uts --unshare-cgroup-try --unshare-pid
          [--unshare-net] --cap-drop ALL --tmpfs /tmp --dev /dev --tmpfs /dev/shm
          --remount-ro /dev --ro-bind <system, Python, Tessera, the function's code>
          --die-with-parent --new-session -- prlimit <limits> -- <worker>

so it sees a read-only system, its own code read-only, a private writable /tmp and
/dev/shm and nothing else: not TESSERA_HOME (the state DB, other functions' code,
secrets, logs), not /root, not the host's /tmp, not /etc beyond the handful of files
programs need (no /etc/shadow). No capabilities, also when the platform runs as root
(bwrap would keep them all then, and with CAP_SYS_ADMIN a function could remount its
read-only binds writable). The network is off (a fresh network namespace with only
loopback) unless function.yaml says `network: true`. Each sandbox has its own PID
namespace, so a function can neither see nor signal processes outside it (`kill(-1)`
included). /proc is not mounted.

Each instance forked from the template then isolates itself further (`isolate_instance`):
user, PID, mount and IPC namespaces of its own, and a network namespace of its own unless
the function has the network (then its instances share the sandbox's view of the host
network), its own /tmp and /dev/shm, no capabilities. It announces itself on its socket
(`announce`); the kernel attaches its credentials with the pid translated, so the
platform supervises it by host pid.

Limits (`prlimit` wrapped around the worker inside the sandbox, so they hold for the
worker and everything it starts, with no `preexec_fn` in a threaded parent), from
function.yaml's `resources`: data (private writable memory: heap and anonymous mappings,
RLIMIT_DATA) `memory_mib` plus a fixed allowance for the runtime's own use — not the
address space, which wasmtime and V8 reserve by the gigabyte without using it — open files
`open_files` (default 1,024; at most the host's hard limit), processes per user
`processes` (RLIMIT_NPROC, which the kernel does not apply to root) and, where a pids
cgroup is writable (v1 `pids` hierarchy or v2 with the pids controller), at most
`processes` tasks per function version whoever runs the platform — what stops a fork
bomb. CPU time is bounded per request by the function's timeout (the pool kills a worker
past it); no lifetime RLIMIT_CPU, which would kill a long-lived warm instance mid-request.

`mode`: "bwrap" (required: `SandboxUnavailable` if bubblewrap is missing or the kernel
forbids unprivileged namespaces), "auto" (bwrap when it works, else none, with a warning),
"off" (`tessera up --insecure-no-sandbox`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import site
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MODES = ("bwrap", "auto", "off")
RUNTIME_ALLOWANCE_MIB = 512
"""Private writable memory a runtime uses before the function's own (interpreter, arenas,
thread stacks); added to `memory_mib` for RLIMIT_DATA."""
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt")
ETC_FILES = (
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
    "/etc/ssl", "/etc/ca-certificates", "/etc/nsswitch.conf", "/etc/hosts", "/etc/host.conf",
    "/etc/mime.types", "/etc/alternatives", "/etc/os-release",
)  # fmt: skip
NETWORK_ETC = ("/etc/resolv.conf", "/etc/gai.conf", "/etc/services", "/etc/protocols")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or the kernel forbids the namespaces it needs."""


@dataclass(frozen=True, slots=True)
class Limits:
    memory_mib: int = 256
    open_files: int = 1024
    processes: int = 256

    def prefix(self) -> list[str]:
        """`prlimit` options that set these limits (soft = hard) on the command after them."""
        exe = shutil.which("prlimit")
        if exe is None:
            raise SandboxUnavailable("prlimit (util-linux) is not installed")
        mem = (self.memory_mib + RUNTIME_ALLOWANCE_MIB) * 1024 * 1024
        return [
            exe, f"--data={mem}", f"--nofile={self.open_files}",
            f"--nproc={self.processes}", "--core=0", "--",
        ]  # fmt: skip


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


@cache
def probe() -> str | None:
    """None if bwrap can create the namespaces here, else why not (one line)."""
    exe = bwrap_path()
    if exe is None:
        return "bubblewrap is not installed (Debian: apt-get install bubblewrap)"
    cmd = [exe, "--unshare-user", "--unshare-net", "--ro-bind", "/", "/", "true"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bwrap failed to run: {e}"
    if proc.returncode != 0:
        return f"the kernel refused bwrap's namespaces: {proc.stderr.strip()[:200]}"
    return None


def resolve(mode: str) -> str:
    """The mode to run in: "bwrap" or "off" (`SandboxUnavailable` if bwrap is required)."""
    if mode not in MODES:
        raise ValueError(f"sandbox mode {mode!r}: accepted {', '.join(MODES)}")
    if mode == "off":
        return "off"
    why = probe()
    if why is None:
        return "bwrap"
    if mode == "bwrap":
        raise SandboxUnavailable(
            f"{why}; functions cannot be sandboxed on this host (run `tessera up "
            "--insecure-no-sandbox` to serve them without isolation)"
        )
    log.warning("function sandbox unavailable (%s): functions run without isolation", why)
    return "off"


def _python_dirs() -> list[str]:
    dirs = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    dirs.update(p for p in site.getsitepackages() if os.path.isdir(p))
    user = site.getusersitepackages()
    if isinstance(user, str) and os.path.isdir(user):
        dirs.add(user)
    real = {os.path.realpath(d) for d in dirs}
    return sorted(dirs | real)


def _binds(paths: Sequence[str], flag: str) -> list[str]:
    out: list[str] = []
    for p in paths:
        if os.path.lexists(p):
            out += [flag, p, p]
    return out


def command(
    program: Sequence[str],
    code_dir: Path,
    limits: Limits,
    extra_ro: Sequence[Path] = (),
    network: bool = False,
) -> list[str]:
    """`program` wrapped in bwrap and prlimit (see the module docstring)."""
    exe = bwrap_path()
    if exe is None:
        raise SandboxUnavailable("bubblewrap is not installed")
    tessera_src = str(Path(__file__).resolve().parents[3])
    cmd = [exe, "--unshare-user", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    cmd.append("--unshare-pid")  # kill(-1) and pid guessing reach only this sandbox
    if not network:
        cmd.append("--unshare-net")
    # No capabilities, also when the platform runs as root (bwrap keeps them all then): with
    # CAP_SYS_ADMIN in its namespace a function could remount its read-only binds writable
    # and write the host's /usr or its own code as root.
    cmd += ["--cap-drop", "ALL"]
    # the private /tmp first: later binds (code, Python, Tessera may all live under the
    # host's /tmp) are mounted on top of it; /dev read-only but for its own /dev/shm
    cmd += ["--tmpfs", "/tmp", "--dev", "/dev", "--tmpfs", "/dev/shm", "--remount-ro", "/dev"]
    cmd += _binds([d for d in SYSTEM_DIRS if not os.path.islink(d)], "--ro-bind")
    for d in SYSTEM_DIRS:  # merged-/usr systems: /lib -> usr/lib and so on
        if os.path.islink(d):
            cmd += ["--symlink", os.readlink(d), d]
    cmd += _binds([*ETC_FILES, *(NETWORK_ETC if network else ())], "--ro-bind")
    cmd += _binds(_python_dirs(), "--ro-bind")
    cmd += _binds([tessera_src], "--ro-bind")
    # read-only is enough to connect to a unix socket, and keeps it from being replaced
    cmd += _binds([str(p) for p in extra_ro], "--ro-bind")
    cmd += ["--ro-bind", str(code_dir), str(code_dir)]
    cmd += ["--chdir", str(code_dir)]
    cmd += ["--setenv", "TMPDIR", "/tmp", "--setenv", "HOME", "/tmp"]
    cmd += ["--setenv", INSTANCE_ENV, "net" if network else "nonet"]
    cmd += ["--setenv", TMP_BINDS_ENV, os.pathsep.join(_under_tmp(cmd))]
    cmd += ["--die-with-parent", "--new-session", "--", *limits.prefix(), *program]
    return cmd


def child_pid(fd: int, timeout_s: float = 10.0) -> int | None:
    """The pid bwrap's `--info-fd` reports for the sandboxed program (closes `fd`)."""
    import json
    import select

    buf = b""
    try:
        deadline = time.monotonic() + timeout_s
        while b"}" not in buf and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
    finally:
        os.close(fd)
    try:
        pid = json.loads(buf[: buf.index(b"}") + 1]).get("child-pid")
    except ValueError:
        return None
    return int(pid) if isinstance(pid, int) else None


PIDS_V1 = Path("/sys/fs/cgroup/pids")
CGROUP_V2 = Path("/sys/fs/cgroup")


def pids_root() -> Path | None:
    """A writable cgroup folder whose children can cap their task count, or None.

    cgroup v1: the `pids` hierarchy; v2: the unified root when it offers the pids
    controller. Creating a group there is the test of "writable"."""
    candidates = []
    if (PIDS_V1 / "cgroup.procs").exists():
        candidates.append(PIDS_V1 / "tessera")
    controllers = CGROUP_V2 / "cgroup.controllers"
    if controllers.exists() and "pids" in controllers.read_text().split():
        candidates.append(CGROUP_V2 / "tessera")
    for c in candidates:
        try:
            c.mkdir(exist_ok=True)
            if c.parent == CGROUP_V2:
                (c / "cgroup.subtree_control").write_text("+pids")
            return c
        except OSError:
            continue
    return None


@dataclass(frozen=True, slots=True)
class PidsGroup:
    """One function version's pids cgroup: at most `max_tasks` processes and threads."""

    path: Path

    @classmethod
    def create(cls, root: Path, name: str, max_tasks: int) -> PidsGroup | None:
        path = root / name
        try:
            path.mkdir(exist_ok=True)
            (path / "pids.max").write_text(str(max_tasks))
        except OSError as e:
            log.warning("pids cgroup %s not usable (%s): processes capped by rlimit only", path, e)
            return None
        return cls(path)

    def wrap(self, cmd: list[str]) -> list[str]:
        """`cmd` started from inside the group: the shell joins it, then execs `cmd`, so
        every process the command ever starts is counted from its first instruction."""
        join = 'echo $$ > "$0" && exec "$@"'
        return ["/bin/sh", "-c", join, str(self.path / "cgroup.procs"), *cmd]

    def remove(self) -> bool:
        """Delete the group if its processes are gone; True once it is gone."""
        with contextlib.suppress(FileNotFoundError):
            try:
                self.path.rmdir()
            except OSError:
                return False  # still has tasks
        return True


INSTANCE_ENV = "TESSERA_SANDBOX_INSTANCE"
"""Set in a sandboxed template's environment: each forked instance isolates itself further
(`isolate_instance`); its value is "net" when the function may use the network."""
TMP_BINDS_ENV = "TESSERA_SANDBOX_TMP_BINDS"
"""The sandbox's binds that lie under /tmp (code, Python, Tessera in a clone under /tmp),
outermost first: an instance's own /tmp must carry them too."""
OWN_DIRS = ("/tmp", "/dev/shm")
"""The sandbox's writable folders; each instance gets one of its own in their place:
`<dir>/.instances/<pid>` (the pid in the sandbox of the process the template forked),
bound over `<dir>` in the instance's mount namespace. The template moves it to
`<dir>/.instances/.gone/` when it reaps that process (`retire_instance_dirs`) and
empties that between spawns (`empty_retired`)."""
CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWNET = 0x00020000, 0x08000000, 0x40000000
CLONE_NEWUSER, CLONE_NEWPID = 0x10000000, 0x20000000
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 0x40000
PR_SET_PDEATHSIG = 1


def _under_tmp(cmd: Sequence[str]) -> list[str]:
    """Targets of the bind options in `cmd` under /tmp, without those inside another one (a
    recursive bind of the outer brings them along)."""
    flags = {"--bind", "--ro-bind"}
    targets = sorted({cmd[i + 2] for i, a in enumerate(cmd[:-2]) if a in flags})
    out: list[str] = []
    for t in targets:
        if t.startswith("/tmp/") and not any(t.startswith(o + "/") for o in out):
            out.append(t)
    return out


def isolate_instance(network: bool, inherited: Sequence[int] = ()) -> None:
    """In a process forked from a sandboxed template: give the instance PID, IPC, mount and
    (unless the function has the network) network namespaces of its own, its own /tmp and
    /dev/shm, and no capabilities, so instances of one function can neither signal nor
    trace each other nor meet in files or System V IPC, nor (without the network) over
    loopback or abstract sockets. `OSError` if the kernel says no (the instance must not
    serve then).

    Returns in the instance, which is PID 2 of its namespace. The caller stays in the
    function's PID namespace, names the instance's folders and waits for the namespace's
    init, PID 1, which reaps orphans, exits with the instance and is killed if the caller
    dies; both block every signal they can and close every file descriptor in `inherited`
    (the instance's sockets: each end must see EOF when the other goes). The template has
    no capabilities, so the namespaces come with a nested user namespace; the instance's
    uid is unmapped there (it reads as the overflow uid) while the kernel still checks
    files against its real uid; mounts inherited across it stay locked read-only."""
    import ctypes
    import errno
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    owner = os.getpid()  # the template reaps this process: it names the instance's folders
    binds = [b for b in os.environ.pop(TMP_BINDS_ENV, "").split(os.pathsep) if b]
    flags = CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNS | (0 if network else CLONE_NEWNET)
    if libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        # a template without capabilities: a nested user namespace brings them
        if err != errno.EPERM or libc.unshare(flags | CLONE_NEWUSER) != 0:
            raise OSError(ctypes.get_errno(), "unshare of the instance's namespaces failed")
    # the two helper processes take no signal but SIGKILL (no Python handler runs in them)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals() - {signal.SIGCHLD})
    init = os.fork()  # the first child of the new PID namespace is its init
    if init != 0:
        _close(inherited)
        _exit_with(init)
    libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL))  # dies with the waiter
    if not network:
        _loopback_up()
    _mount(libc, None, "/", MS_REC | MS_PRIVATE)  # what we mount stays ours
    for shared in OWN_DIRS:
        _own_dir(libc, shared, owner, binds if shared == "/tmp" else [])
    _drop_capabilities(libc)
    instance = os.fork()
    if instance != 0:
        _close(inherited)
        _reap_until(instance)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _close(fds: Sequence[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _exit_with(pid: int) -> None:
    """Wait for child `pid` and end this process with its status (never returns)."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(1)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _reap_until(pid: int) -> None:
    """PID 1 of an instance's namespace: reap every orphan until the instance `pid` ends,
    then end (the kernel then kills whatever is left in the namespace); never returns."""
    while True:
        try:
            done, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(1)
        if done == pid:
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _mount(libc: Any, source: str | None, target: str, flags: int) -> None:
    import ctypes

    src = None if source is None else source.encode()
    if libc.mount(src, target.encode(), None, ctypes.c_ulong(flags), None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def _own_dir(libc: Any, shared: str, owner: int, binds: Sequence[str]) -> None:
    """Put `<shared>/.instances/<owner>` (new; a leftover is refused, never reused) over
    `shared`, carrying `binds` (paths under `shared`) at their places. Other instances'
    folders lie under the `shared` it covers."""
    own = f"{shared}/.instances/{owner}"
    os.makedirs(f"{shared}/.instances", exist_ok=True)
    os.mkdir(own, 0o700)
    for b in binds:
        target = own + b[len(shared) :]
        if os.path.isdir(b):
            os.makedirs(target, exist_ok=True)
        else:  # a file: a file to mount on
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "a").close()
        _mount(libc, b, target, MS_BIND | MS_REC)
    cwd = os.getcwd()
    _mount(libc, own, shared, MS_BIND | MS_REC)
    os.chdir(cwd)  # the code folder again, as seen through the new mount when under it


def _drop_capabilities(libc: Any) -> None:
    """Empty the bounding, ambient, effective, permitted and inheritable sets, and no new
    privileges (exec cannot regain any)."""
    import ctypes

    pr_capbset_drop, pr_cap_ambient, clear_all, pr_set_no_new_privs = 24, 47, 4, 38
    ul = ctypes.c_ulong
    for cap in range(64):  # EINVAL past the kernel's last capability
        libc.prctl(pr_capbset_drop, ul(cap), ul(0), ul(0), ul(0))
    libc.prctl(pr_cap_ambient, ul(clear_all), ul(0), ul(0), ul(0))
    header = ctypes.create_string_buffer(struct.pack("Ii", 0x20080522, 0))  # v3, this thread
    data = ctypes.create_string_buffer(24)  # two all-zero {effective, permitted, inheritable}
    if libc.capset(header, data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")
    if libc.prctl(pr_set_no_new_privs, ul(1), ul(0), ul(0), ul(0)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"no_new_privs: {os.strerror(err)}")


def retire_instance_dirs(pid: int) -> None:
    """In the template, once the process it forked as `pid` was reaped: move that
    instance's folders aside at once (a rename; the pid may come back) for `empty_retired`."""
    for shared in OWN_DIRS:
        own = f"{shared}/.instances/{pid}"
        if os.path.lexists(own):
            os.makedirs(f"{shared}/.instances/.gone", exist_ok=True)
            with contextlib.suppress(OSError):
                os.rename(own, f"{shared}/.instances/.gone/{pid}-{time.monotonic_ns()}")


def empty_retired() -> None:
    """In the template, between spawns: delete retired instance folders, whatever modes the
    instance left on them (owner and template are one user, so chmod suffices)."""
    for shared in OWN_DIRS:
        gone = f"{shared}/.instances/.gone"
        with contextlib.suppress(OSError):
            for name in os.listdir(gone):
                _force_rmtree(os.path.join(gone, name))


def _force_rmtree(path: str) -> None:
    def writable(p: str) -> None:
        if not os.path.islink(p):  # never follow a link the instance left
            with contextlib.suppress(OSError):
                os.chmod(p, 0o700)

    writable(path)
    for root, dirs, _files in os.walk(path):
        for d in dirs:
            writable(os.path.join(root, d))
    shutil.rmtree(path, ignore_errors=True)


def _loopback_up() -> None:
    """Bring `lo` up in a fresh network namespace (it starts down): the instance keeps a
    working 127.0.0.1 of its own."""
    import fcntl

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sh14x", b"lo", 0)
        flags = struct.unpack("16sh14x", fcntl.ioctl(s.fileno(), siocgifflags, req))[1]
        fcntl.ioctl(s.fileno(), siocsifflags, struct.pack("16sh14x", b"lo", flags | iff_up))


ANNOUNCE = b"TSRPID\0\0"
"""What an instance forked in a sandbox (own PID namespace) sends first on its socket; the
kernel attaches SCM_CREDENTIALS with the pid rewritten into the receiver's namespace, so the
platform learns the instance's host pid (the template only knows its namespace's pid)."""


def announce(sock: socket.socket) -> None:
    """In the instance: send `ANNOUNCE`. The receiver has SO_PASSCRED on, so the kernel
    attaches this process's credentials itself (explicit ones would fail here: the
    instance's uid is unmapped in its user namespace)."""
    sock.sendall(ANNOUNCE)


def announced_pid(sock: socket.socket, timeout_s: float = 5.0) -> int:
    """In the platform: read `ANNOUNCE` and return the sender's pid in our namespace
    (the socket must have SO_PASSCRED on; the template sets it before forking)."""
    sock.settimeout(timeout_s)
    try:
        data, anc, _, _ = sock.recvmsg(len(ANNOUNCE), socket.CMSG_SPACE(12))
    finally:
        sock.settimeout(None)
    if data != ANNOUNCE:
        raise OSError(f"instance sent {data!r} instead of its pid announcement")
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            return int(struct.unpack("3i", payload[:12])[0])
    raise OSError("instance's pid announcement carried no credentials")
