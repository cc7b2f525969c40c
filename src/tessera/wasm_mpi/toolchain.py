"""`tessera wasm cc`: compile MPI C/C++ sources to a wasm32-wasi module against Tessera's mpi.h.

Toolchains, in order: zig's clang from the `ziglang` wheel (pip-installable, no
root; it carries wasi-libc), else Debian's clang with a wasi sysroot
(/usr/share/wasi-sysroot, package wasi-libc). Defaults the user can override
by passing their own flags: -O2, SIMD on (-msimd128), symbols stripped (-s;
pass -g to keep debug info). Always: Tessera's include folder first on the
include path (so `#include <mpi.h>` finds ours), and exports of `malloc`,
`free` and the function table, which user-defined reductions (MPI_Op_create)
need. C++ sources are compiled without exceptions. The output is written to
a temp file and renamed, so a failed build never leaves a half-written .wasm.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tessera.core.errors import InputError
from tessera.wasm_mpi.abi import header_dir

CXX_SUFFIXES = (".cc", ".cpp", ".cxx", ".C")
WASI_SYSROOT = Path("/usr/share/wasi-sysroot")


class CompileError(RuntimeError):
    """The compiler rejected the sources (its message is kept)."""


def toolchain(cxx: bool = False) -> list[str]:
    """The compiler command prefix: zig (wheel) or clang + wasi sysroot."""
    try:
        import ziglang  # noqa: F401

        return [sys.executable, "-m", "ziglang", "c++" if cxx else "cc", "-target", "wasm32-wasi"]
    except ImportError:
        pass
    clang = shutil.which("clang++" if cxx else "clang")
    if clang and WASI_SYSROOT.is_dir():
        return [clang, "--target=wasm32-wasi", f"--sysroot={WASI_SYSROOT}"]
    raise InputError(
        "toolchain",
        "none found",
        "the `ziglang` wheel (pip install 'tessera[wasm]') or clang with wasi-libc "
        f"in {WASI_SYSROOT}",
    )


def command(sources: Sequence[Path], out: Path, flags: Sequence[str] = ()) -> list[str]:
    cxx = any(str(s).endswith(CXX_SUFFIXES) for s in sources)
    cmd = [*toolchain(cxx), f"-I{header_dir()}"]
    if not any(f.startswith("-O") for f in flags):
        cmd.append("-O2")
    if "-mno-simd128" not in flags:
        cmd.append("-msimd128")
    if "-g" not in flags:
        cmd.append("-s")
    if cxx:
        cmd += ["-fno-exceptions"]
    cmd += [
        "-Wl,--export=malloc", "-Wl,--export=free", "-Wl,--export-table",
        *flags, *map(str, sources), "-o", str(out),
    ]  # fmt: skip
    return cmd


def compile_wasm(sources: Sequence[Path], out: Path, flags: Sequence[str] = ()) -> Path:
    """Build `out` from `sources`; `InputError` for bad paths, `CompileError` for bad code."""
    if not sources:
        raise InputError("SRC", "none", "at least one .c/.cc source file")
    for s in sources:
        if not Path(s).is_file():
            raise InputError("SRC", str(s), "an existing C or C++ source file")
    out = Path(out)
    if out.suffix != ".wasm":
        raise InputError("-o", str(out), "an output path ending in .wasm")
    if not out.resolve().parent.is_dir():
        raise InputError("-o", str(out), "a path in an existing directory")
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".wasm", dir=out.resolve().parent)
    os.close(fd)
    try:
        proc = subprocess.run(
            command([Path(s) for s in sources], Path(tmp), flags),
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if proc.returncode != 0:
            raise CompileError(proc.stderr.strip() or proc.stdout.strip())
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out
