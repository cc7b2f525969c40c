"""The native fast path: a C shim for the hot MPI imports, and `link`.

`build()` compiles `native/shim.c` once per (source, MPI library) with the MPI
compiler wrapper next to the Python running us (the `mpich` wheel puts
`mpicc` there) or on PATH, into the cache; `load()` opens it in the same
process as mpi4py and checks both use the same libmpi. `link()` registers
every mpi.h import on a wasmtime `Linker`: the shim's C functions where it
has them (wasmtime "unchecked" host functions: raw argument slots, no
Python on the call path), the Python ones of `tessera.wasm_mpi.host` for the
rest, all over one set of handle tables. Without a C compiler or mpicc the
Python path serves everything (`native=None`) or the run fails with a clear
message (`native=True`).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from tessera.wasm_mpi import abi
from tessera.wasm_mpi.host import Host
from tessera.wasm_mpi.memory import KINDS, TABLE_SIZE, Tables
from tessera.wasm_mpi.runner import cache_dir

NOOP = ("tessera", "noop")
"""A do-nothing import (i32 -> i32) that the host-call benchmark times on either path."""


class NativeUnavailable(RuntimeError):
    """The shim cannot be built or loaded here (no mpicc, no compiler, other libmpi)."""


def mpicc() -> str | None:
    here = Path(sys.executable).parent / "mpicc"
    if here.is_file():
        return str(here)
    return shutil.which("mpicc")


def _source() -> bytes:
    return (resources.files("tessera.wasm_mpi") / "native" / "shim.c").read_bytes()


def _loaded_libmpi() -> set[str]:
    """Paths of the libmpi shared objects mapped into this process."""
    out = set()
    try:
        with open("/proc/self/maps", encoding="utf-8") as fh:
            for line in fh:
                path = line.rsplit(maxsplit=1)[-1]
                name = os.path.basename(path)
                if name.startswith("libmpi.so") or name.startswith("libmpi_abi.so"):
                    out.add(os.path.realpath(path))
    except OSError:
        pass
    return out


def build(force: bool = False) -> Path:
    """Compile the shim (cached by source and compiler); `NativeUnavailable` if it cannot."""
    cc = mpicc()
    if cc is None:
        raise NativeUnavailable("no mpicc (pip install mpich, or install an MPI with its wrapper)")
    try:
        show = subprocess.run([cc, "-show"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        raise NativeUnavailable(f"{cc} -show failed: {e}") from None
    key = hashlib.sha256(_source() + show.encode()).hexdigest()[:24]
    out = cache_dir() / f"shim-{key}.so"
    if out.is_file() and not force:
        return out
    out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        src = Path(tmp) / "shim.c"
        src.write_bytes(_source())
        so = Path(tmp) / "shim.so"
        cmd = [cc, "-O2", "-shared", "-fPIC", "-Wall", "-o", str(so), str(src)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise NativeUnavailable(f"building the shim failed: {proc.stderr.strip()[:400]}")
        os.replace(so, out)
    return out


@cache
def load() -> Any:
    """The loaded shim (ctypes CDLL), initialised with wasmtime's C API entry points."""
    from tessera.wasm_mpi.host import mpi

    mpi()  # MPI initialised, its libmpi mapped
    from wasmtime import _ffi as ffi

    layout = (ctypes.sizeof(ffi.wasmtime_memory_t), ffi.wasmtime_extern_t.of.offset)
    if layout != (24, 8):  # the structs shim.c mirrors (wasmtime 50's C API)
        raise NativeUnavailable(f"wasmtime's C structs changed (memory, extern.of) = {layout}")
    before = _loaded_libmpi()
    lib = ctypes.CDLL(str(build()), mode=ctypes.RTLD_GLOBAL)
    after = _loaded_libmpi()
    if len(after) > 1 or (before and after != before):
        raise NativeUnavailable(
            f"the shim links a different libmpi than mpi4py ({sorted(after)}); "
            "using the Python path"
        )
    addr = [
        ctypes.cast(getattr(ffi.dll, name), ctypes.c_void_p).value
        for name in (
            "wasmtime_caller_export_get", "wasmtime_caller_context", "wasmtime_memory_data",
            "wasmtime_memory_data_size", "wasmtime_trap_new",
        )
    ]  # fmt: skip
    lib.tm_init.argtypes = [ctypes.c_void_p] * 5
    lib.tm_init(*addr)
    lib.tm_name.restype = ctypes.c_char_p
    lib.tm_fn.restype = ctypes.c_void_p
    lib.tm_calls.restype = ctypes.c_int64
    return lib


def native_functions(lib: Any) -> dict[str, int]:
    """Import name -> address of the shim's C callback."""
    return {lib.tm_name(i).decode(): lib.tm_fn(i) for i in range(lib.tm_count())}


def shared_tables(lib: Any) -> Tables:
    rows = (ctypes.c_int64 * TABLE_SIZE) * len(KINDS)
    arr = rows.in_dll(lib, "tm_tables")
    return Tables({k: arr[i] for i, k in enumerate(KINDS)})


def _functype(sig_params: int, result: str) -> Any:
    import wasmtime

    res = wasmtime.ValType.f64() if result == "f64" else wasmtime.ValType.i32()
    return wasmtime.FuncType([wasmtime.ValType.i32()] * sig_params, [res])


def _define_native(linker: Any, module: str, name: str, ty: Any, addr: int) -> None:
    from wasmtime import WasmtimeError
    from wasmtime import _ffi as ffi

    m, n = module.encode(), name.encode()
    cb = ffi.wasmtime_func_unchecked_callback_t(addr)
    _KEEP.append(cb)
    fin = ctypes.CFUNCTYPE(None, ctypes.c_void_p)()
    err = ffi.wasmtime_linker_define_func_unchecked(
        linker.ptr(), ctypes.create_string_buffer(m), len(m), ctypes.create_string_buffer(n),
        len(n), ty.ptr(), cb, None, fin,
    )  # fmt: skip
    if err:
        raise WasmtimeError._from_ptr(err)


_KEEP: list[Any] = []
"""ctypes function pointers handed to wasmtime: kept alive for the process."""


def link(linker: Any, native: bool | None = None) -> tuple[Host, bool]:
    """Define every mpi.h import (and `tessera.noop`) on `linker`; returns (host, native used).

    `native`: True requires the shim, False never uses it, None uses it when it builds.
    """
    lib = None
    if native is not False:
        try:
            lib = load()
        except (NativeUnavailable, OSError) as e:
            if native:
                raise NativeUnavailable(str(e)) from None
            print(f"tessera wasm: native MPI path unavailable ({e}); using Python", file=sys.stderr)
    host = Host(shared_tables(lib) if lib is not None else None)
    fast = native_functions(lib) if lib is not None else {}
    py = host.functions()
    for sig in abi.functions():
        ty = _functype(sig.params, sig.result)
        if sig.name in fast:
            _define_native(linker, "mpi", sig.name, ty, fast[sig.name])
        else:
            linker.define_func("mpi", sig.name, ty, py[sig.name])
    noop_ty = _functype(1, "i32")
    if "tessera_noop" in fast:
        _define_native(linker, *NOOP, noop_ty, fast["tessera_noop"])
    else:
        linker.define_func(*NOOP, noop_ty, lambda x: x)
    return host, lib is not None
