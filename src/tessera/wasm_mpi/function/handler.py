"""The `mpi-job` function: run the MPI program `app.wasm` on N ranks per invocation.

The event (a JSON object; every key optional, an empty body means all defaults):

    {"ranks": N (int, 1..64, default 1),
     "args": [str, ...] (the guest's argv after its name, default []),
     "timeout_s": float (> 0, at most the function's timeout_s, default 60)}

The answer is `{"exit_code", "stdout", "stderr", "ranks", "wall_s"}`: the job's exit code
(124 when it ran past its timeout and was stopped), what its ranks wrote (the guest's
stdout; stderr also carries mpiexec's and the host's messages), the rank count and the
wall time of the job. A non-zero exit code is still a 200: the function ran the job. A bad
event is a 400 naming the field; a folder deployed without app.wasm answers 500 saying so.

Each invocation starts its own `mpiexec` (`tessera.wasm_mpi.launch.run_captured`), so the
worker never initialises MPI itself and one job cannot disturb the next. The guest gets no
preopened folders. The job is stopped `MARGIN_S` before the invocation's deadline: a
worker the platform kills at the deadline would leave its mpiexec and ranks running.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.core.errors import InputError
from tessera.functions.contract import Response
from tessera.functions.manifest import read_manifest
from tessera.wasm_mpi.launch import run_captured

HERE = Path(__file__).resolve().parent
APP = "app.wasm"
MAX_RANKS = 64
DEFAULT_TIMEOUT_S = 60.0
MARGIN_S = 2.0
"""Seconds left between the job's own timeout and the platform's deadline."""
KEYS = ("ranks", "args", "timeout_s")

FUNCTION_TIMEOUT_S = read_manifest(HERE).timeout_s


@dataclass(frozen=True)
class Job:
    ranks: int = 1
    args: tuple[str, ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S


def parse_event(event: Any, max_timeout_s: float = FUNCTION_TIMEOUT_S) -> Job:
    """The job an event asks for; `InputError` naming the first bad field."""
    if event is None:
        event = {}
    if not isinstance(event, dict):
        raise InputError(
            "event", type(event).__name__, "a JSON object (keys " + ", ".join(KEYS) + ")"
        )
    unknown = sorted(set(event) - set(KEYS))
    if unknown:
        raise InputError(f"event.{unknown[0]}", "(unknown key)", "keys " + ", ".join(KEYS))
    ranks = event.get("ranks", 1)
    if isinstance(ranks, bool) or not isinstance(ranks, int) or not 1 <= ranks <= MAX_RANKS:
        raise InputError("event.ranks", ranks, f"an integer from 1 to {MAX_RANKS}")
    args = event.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise InputError("event.args", args, "a list of strings")
    timeout_s = event.get("timeout_s", min(DEFAULT_TIMEOUT_S, max_timeout_s))
    if (
        isinstance(timeout_s, bool)
        or not isinstance(timeout_s, int | float)
        or not 0 < timeout_s <= max_timeout_s
    ):
        raise InputError("event.timeout_s", timeout_s, f"seconds in (0, {max_timeout_s:g}]")
    return Job(ranks, tuple(args), float(timeout_s))


def app_path() -> Path:
    """The deployed module; a clear error when the folder was deployed without one."""
    app = HERE / APP
    if not app.is_file():
        raise FileNotFoundError(
            f"{app} is missing: deploy the folder that "
            "tessera.wasm_mpi.package.package(APP.wasm, DEST) writes, not the template"
        )
    return app


def handle(event: Any, context: Any) -> Any:
    try:
        job = parse_event(event)
    except InputError as e:
        return Response({"error": str(e), "field": e.field}, 400)
    app = app_path()
    budget = job.timeout_s
    if context is not None and getattr(context, "deadline_s", 0) > 0:
        budget = round(max(0.1, min(budget, context.remaining_s() - MARGIN_S)), 3)
    t0 = time.perf_counter()
    done = run_captured(app, job.args, ranks=job.ranks, timeout_s=budget)
    return {
        "exit_code": done.returncode,
        "stdout": done.stdout or "",
        "stderr": done.stderr or "",
        "ranks": job.ranks,
        "wall_s": round(time.perf_counter() - t0, 6),
    }
