"""`tessera wasm run`: start the ranks, or be one.

Two ways in, one behaviour:

- `tessera wasm run -n 4 APP.wasm ARGS` outside any MPI launcher spawns
  `mpiexec -n 4 <python> -m tessera.wasm_mpi ... APP.wasm ARGS` itself (the
  mpiexec next to this Python, i.e. the `mpich` wheel's, else the one on PATH);
- `mpiexec -n 4 tessera wasm run APP.wasm ARGS` makes every process one rank.

Without -n and outside a launcher the module runs as a single rank. Under a
launcher, `-n` must match the number of ranks started (else a clear error on
every rank and exit code 2, before the guest runs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tessera.core.errors import InputError
from tessera.wasm_mpi.runner import RunOptions, read_module_bytes

LAUNCHER_ENV = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")


def under_launcher() -> bool:
    return any(k in os.environ for k in LAUNCHER_ENV)


def mpiexec() -> str:
    here = Path(sys.executable).parent / "mpiexec"
    if here.is_file():
        return str(here)
    found = shutil.which("mpiexec")
    if found is None:
        raise InputError(
            "mpiexec", "not found", "an MPI launcher: pip install mpich mpi4py (or Debian's mpich)"
        )
    return found


def parse_dirs(dirs: Sequence[str]) -> dict[str, str]:
    out = {}
    for d in dirs:
        host, _, guest = d.partition(":")
        if not host:
            raise InputError("--dir", d, "HOST[:GUEST], HOST an existing directory")
        out[host] = guest or host
    return out


MAX_RANKS_ENV = "TESSERA_WASM_MAX_RANKS"
"""Environment variable that raises (or lowers) the rank limit of one host's job."""


def max_ranks() -> int:
    """The most ranks one job may start on this host: `MAX_RANKS_ENV` if set to a positive
    integer, else 64 per CPU core (each rank is a process with its own Wasm runtime, so a
    mistyped -n 100000 would otherwise fork until the host runs out of memory)."""
    raw = os.environ.get(MAX_RANKS_ENV, "")
    if raw.strip():
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise InputError(MAX_RANKS_ENV, raw, "a positive integer")
        return value
    return 64 * (os.cpu_count() or 1)


def run(
    app: Path,
    args: Sequence[str] = (),
    ranks: int | None = None,
    dirs: Sequence[str] = (),
    path: str = "auto",
    timeout_s: float | None = None,
) -> int:
    """Run `app` on `ranks` ranks (see the module docstring); returns the exit code."""
    return _launch(app, args, ranks, dirs, path, timeout_s, capture=False).returncode


def run_captured(
    app: Path,
    args: Sequence[str] = (),
    ranks: int = 1,
    dirs: Sequence[str] = (),
    path: str = "auto",
    timeout_s: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `app` on `ranks` ranks under a fresh mpiexec; stdout and stderr are returned.

    Always spawns (also for one rank), so the caller's process never initialises MPI;
    what a Tessera function uses to run an MPI job per invocation.
    """
    return _launch(app, args, ranks, dirs, path, timeout_s, capture=True)


def _launch(
    app: Path,
    args: Sequence[str],
    ranks: int | None,
    dirs: Sequence[str],
    path: str,
    timeout_s: float | None,
    capture: bool,
) -> subprocess.CompletedProcess[str]:
    limit = max_ranks() if ranks is not None else 0
    if ranks is not None and not 1 <= ranks <= limit:
        raise InputError("-n", ranks, f"a rank count in 1..{limit} (the limit: {MAX_RANKS_ENV})")
    if path not in ("auto", "native", "python"):
        raise InputError("--path", path, "auto, native or python")
    read_module_bytes(app)  # not a wasm file: fail here, before any rank starts
    parse_dirs(dirs)
    if not capture and (under_launcher() or ranks is None):
        return subprocess.CompletedProcess([], _rank(app, args, ranks, dirs, path))
    n = ranks or 1
    cmd = [mpiexec(), "-n", str(n), *rank_command(app, args, n, dirs, path)]
    env = {**os.environ, **sandbox_transport()}
    try:
        return subprocess.run(cmd, timeout=timeout_s, capture_output=capture, text=True, env=env)
    except subprocess.TimeoutExpired as e:
        message = f"tessera wasm: {app} ran past {timeout_s} s; stopped\n"
        if not capture:
            print(message, end="", file=sys.stderr)
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return subprocess.CompletedProcess(cmd, 124, out, message)


NO_PROC_ENV = {"MPIR_CVAR_CH4_NETMOD": "ofi", "FI_PROVIDER": "shm", "UCX_LOG_FILE": "stderr"}
"""Without /proc (`tessera up`'s sandbox): MPICH's libfabric transport with its shared-memory
provider. The default UCX transport finds its peers on one host through /proc (its boot id,
namespaces, peers' start times) and MPI_Init fails with "Endpoint timeout"; UCX, still
loaded, writes its complaints to stderr, so a job's stdout is what its ranks printed."""


def sandbox_transport() -> dict[str, str]:
    """The environment MPI jobs need here: `NO_PROC_ENV` where /proc is missing (variables
    the caller already set win), else nothing (the MPICH build's default transport)."""
    if os.path.isdir("/proc/self"):
        return {}
    return {k: v for k, v in NO_PROC_ENV.items() if k not in os.environ}


def rank_command(
    app: Path, args: Sequence[str], ranks: int | None, dirs: Sequence[str], path: str
) -> list[str]:
    """The command every rank runs (what run() hands to mpiexec)."""
    cmd = [sys.executable, "-m", "tessera.wasm_mpi", "--path", path]
    if ranks is not None:
        cmd += ["--expect-ranks", str(ranks)]
    for d in dirs:
        cmd += ["--dir", d]
    return [*cmd, str(app), "--", *args]


def _rank(app: Path, args: Sequence[str], ranks: int | None, dirs: Sequence[str], path: str) -> int:
    from tessera.wasm_mpi.runner import run_rank

    native = {"auto": None, "native": True, "python": False}[path]
    opts = RunOptions(tuple(args), {}, parse_dirs(dirs), ranks, native)
    return run_rank(app, opts)


def rank_main(argv: Sequence[str] | None = None) -> None:
    """Entry point of one rank (`python -m tessera.wasm_mpi`)."""
    p = argparse.ArgumentParser(prog="python -m tessera.wasm_mpi")
    p.add_argument("--path", default="auto", choices=("auto", "native", "python"))
    p.add_argument("--expect-ranks", type=int, default=None)
    p.add_argument("--dir", action="append", default=[])
    p.add_argument("app", type=Path)
    p.add_argument("args", nargs=argparse.REMAINDER)
    ns = p.parse_args(argv)
    args = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
    try:
        code = _rank(ns.app, args, ns.expect_ranks, ns.dir, ns.path)
    except InputError as e:
        if os.environ.get("PMI_RANK", "0") == "0":
            print(f"error: {e}", file=sys.stderr, flush=True)
        code = 2
    sys.stdout.flush()
    sys.exit(code)
