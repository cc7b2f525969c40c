"""Run one MPI rank of a wasm32-wasi module: load (cached), link, instantiate, start.

`run_rank` is what every rank executes (under `mpiexec`, one process per
rank): it checks the file is WebAssembly, that every import is one Tessera
provides, builds WASI with deny-by-default preopens (only the folders given
in `dirs`), links the MPI imports (native shim where built, else Python),
runs `_start` and returns the guest's exit code. Anything that goes wrong
inside the guest (an out-of-bounds pointer, a bad handle, a trap, MPI_Abort)
ends in one line on stderr naming the rank and the cause, then MPI_Abort of
the whole job, so the other ranks never hang waiting for a dead peer.

Compiled modules are cached under `cache_dir()` (~/.cache/tessera/wasm),
keyed by the module's sha256 and the wasmtime version; a cache entry is
written through a temp file and a rename.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera.core.errors import InputError
from tessera.wasm_mpi import abi

WASM_MAGIC = b"\0asm"
WASI_MODULES = ("wasi_snapshot_preview1", "wasi_unstable")


@dataclass(frozen=True)
class RunOptions:
    """How to run a module: guest argv (after the program name), env, preopened dirs
    (host path -> guest path), the rank count the job must have, and the host path."""

    args: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    dirs: dict[str, str] = field(default_factory=dict)
    expect_ranks: int | None = None
    native: bool | None = None
    """True: require the native shim; False: pure Python; None: native when it builds."""


def cache_dir() -> Path:
    base = os.environ.get("TESSERA_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tessera"
    )
    return Path(base) / "wasm"


def read_module_bytes(path: Path) -> bytes:
    """The file's bytes if it is a WebAssembly binary, else `InputError`."""
    if not path.is_file():
        raise InputError("APP.wasm", str(path), "an existing .wasm file")
    data = path.read_bytes()
    if data[:4] != WASM_MAGIC:
        raise InputError(
            "APP.wasm", str(path), "a WebAssembly binary (starts with \\0asm; build one with "
            "`tessera wasm cc`)",
        )  # fmt: skip
    return data


def load_module(engine: Any, data: bytes) -> Any:
    """Compile `data`, or load the cached native code for it."""
    import wasmtime

    key = hashlib.sha256(data + f"wasmtime-{_wasmtime_version()}".encode()).hexdigest()[:32]
    entry = cache_dir() / f"{key}.cwasm"
    if entry.is_file():
        try:
            return wasmtime.Module.deserialize_file(engine, str(entry))
        except Exception:  # stale or damaged cache entry: recompile below
            entry.unlink(missing_ok=True)
    try:
        module = wasmtime.Module(engine, data)
    except wasmtime.WasmtimeError as e:
        first = str(e).strip().splitlines()[0]
        raise InputError("APP.wasm", first, "a valid WebAssembly module") from None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(module.serialize())
        os.replace(tmp, entry)
    except OSError:
        pass  # a read-only cache only costs the next run a compile
    return module


def _wasmtime_version() -> str:
    from importlib.metadata import version

    return version("wasmtime")


def check_imports(module: Any) -> None:
    """`InputError` naming the first import Tessera does not provide."""
    provided = {s.name for s in abi.functions()}
    for imp in module.imports:
        if imp.module in WASI_MODULES:
            continue
        if imp.module == "mpi" and imp.name in provided:
            continue
        if (imp.module, imp.name) == ("tessera", "noop"):
            continue
        raise InputError(
            "APP.wasm import",
            f"{imp.module}.{imp.name}",
            f"WASI ({WASI_MODULES[0]}) or one of the {len(provided)} MPI functions of "
            "Tessera's mpi.h (module 'mpi')",
        )


def _wasi(program: str, opts: RunOptions) -> Any:
    import wasmtime

    cfg = wasmtime.WasiConfig()
    cfg.argv = [program, *opts.args]
    cfg.env = sorted(opts.env.items())
    cfg.inherit_stdout()
    cfg.inherit_stderr()
    cfg.inherit_stdin()
    for host, guest in opts.dirs.items():
        if not Path(host).is_dir():
            raise InputError("--dir", host, "an existing directory (HOST[:GUEST])")
        cfg.preopen_dir(host, guest)
    return cfg


def _rank_size() -> tuple[int, int]:
    from tessera.wasm_mpi.host import mpi

    world = mpi().COMM_WORLD
    return world.Get_rank(), world.Get_size()


def run_rank(path: Path, opts: RunOptions | None = None) -> int:
    """Run this process's rank of `path`; returns the guest's exit code (see module doc)."""
    import wasmtime

    from tessera.wasm_mpi.host import Exit
    from tessera.wasm_mpi.memory import GuestFault
    from tessera.wasm_mpi.native import link

    opts = opts or RunOptions()
    data = read_module_bytes(path)
    rank, size = _rank_size()
    if opts.expect_ranks is not None and opts.expect_ranks != size:
        raise InputError(
            "-n", opts.expect_ranks, f"the job's rank count ({size} ranks were started)"
        )
    engine = wasmtime.Engine()
    module = load_module(engine, data)
    check_imports(module)
    store = wasmtime.Store(engine)
    store.set_wasi(_wasi(path.name, opts))
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    host, _native = link(linker, native=opts.native)
    try:
        instance = linker.instantiate(store, module)
        memory = instance.exports(store).get("memory")
        if not isinstance(memory, wasmtime.Memory):
            raise InputError("APP.wasm", "no exported memory", "a module exporting 'memory'")
        host.attach(store, instance, memory)
        start = instance.exports(store).get("_start")
        if not isinstance(start, wasmtime.Func):
            raise InputError("APP.wasm", "no _start export", "a WASI command module")
        start(store)
        code = 0
    except wasmtime.ExitTrap as e:
        code = e.code
    except Exit as e:
        return _abort(rank, size, e.code, str(e))
    except GuestFault as e:
        return _abort(rank, size, 1, str(e))
    except wasmtime.Trap as e:
        return _abort(rank, size, 1, f"trap: {_cause(str(e))}")
    except wasmtime.WasmtimeError as e:
        return _abort(rank, size, 1, _cause(str(e)))
    sys.stdout.flush()
    return int(code)


def _cause(text: str) -> str:
    """The message of a wasmtime error: what follows "Caused by:" (a host function's trap
    message, or the trap's kind), else the first line; the wasm backtrace is dropped."""
    head, sep, tail = text.partition("Caused by:")
    lines = [ln.strip() for ln in (tail if sep else head).splitlines() if ln.strip()]
    lines = [ln.split(":", 1)[1].strip() if ln[:1].isdigit() and ":" in ln else ln for ln in lines]
    return lines[0] if lines else text.strip()


def _abort(rank: int, size: int, code: int, message: str) -> int:
    """Report and end the whole job (other ranks must not wait for this one)."""
    sys.stdout.flush()
    sys.stderr.write(f"tessera wasm: rank {rank} of {size}: {message}\n")  # one write per line
    sys.stderr.flush()
    code = code if code != 0 else 1
    if size > 1:
        import time

        from tessera.wasm_mpi.host import mpi

        time.sleep(0.05)  # let mpiexec forward the line before MPI_Abort tears the job down
        mpi().COMM_WORLD.Abort(code)
    return code
