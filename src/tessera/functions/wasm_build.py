"""Build a C function into its WASI module (`main.c` -> `main.wasm`) with zig's clang.

A `runtime: wasi` function deploys as a compiled module, so the platform never needs
a compiler; this is the client-side step that makes one (`tessera fn build-wasm`,
and `pack_dir` when the module is missing or older than its sources). The `ziglang`
wheel carries clang, wasm-ld and wasi-libc, so no system toolchain is needed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tessera.core.errors import InputError
from tessera.functions.runtimes import C_INCLUDE_DIR, WASI, module_file

FLAGS = ("--target=wasm32-wasi", "-O2", "-s", "-mexec-model=reactor")
RUNTIME_C = C_INCLUDE_DIR / "tessera.c"
COMPILE_TIMEOUT_S = 300.0  # zig builds wasi-libc on its first use (~30 s), then caches it


def sources(d: Path) -> list[Path]:
    """The C files of a function folder (its top level, sorted)."""
    return sorted(p for p in d.glob("*.c") if p.is_file())


def is_stale(d: Path, handler: str) -> bool:
    """True when the folder has C sources and its module is missing or older than one."""
    d = Path(d)
    src = sources(d)
    if not src:
        return False
    out = d / module_file(WASI, handler)
    if not out.is_file():
        return True
    built = out.stat().st_mtime
    # a local header changes the module too
    return any(p.stat().st_mtime > built for p in [*src, *d.glob("*.h")])


def _command(src: list[Path], out: Path, export: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ziglang",
        "cc",
        *FLAGS,
        f"-I{C_INCLUDE_DIR}",
        f"-Wl,--export={export}",
        "-o",
        str(out),
        *map(str, src),
        str(RUNTIME_C),
    ]


def build_wasm(d: Path, handler: str = "main.handle", cache_dir: Path | None = None) -> Path:
    """Compile `d/*.c` into the module `handler` names (`main.handle` -> `d/main.wasm`).

    The module is written to a temporary file and renamed, so a failed build leaves the
    previous one in place. With `cache_dir`, a module already built from the same
    sources and flags is copied from there instead of compiled again.
    """
    d = Path(d).resolve()  # the compiler runs in `d`: relative paths would point elsewhere
    d = Path(d).resolve()  # the compiler runs in `d`: relative paths would point elsewhere
    src = sources(d)
    if not src:
        raise InputError("function dir", str(d), "a folder with the function's C sources (*.c)")
    out = d / module_file(WASI, handler)
    export = handler.rsplit(".", 1)[1]
    cached: Path | None = None
    if cache_dir is not None:
        h = hashlib.sha256()
        for part in (*FLAGS, export, *(p.name for p in src)):
            h.update(part.encode() + b"\0")
        for p in (*src, RUNTIME_C, C_INCLUDE_DIR / "tessera.h"):
            h.update(p.read_bytes())
        cached = cache_dir / f"{h.hexdigest()}.wasm"
        if cached.is_file():
            _copy(cached, out)
            return out
    if importlib.util.find_spec("ziglang") is None:
        raise InputError(
            "runtime",
            "wasi",
            "a C compiler for wasm32-wasi: pip install ziglang (or ship main.wasm)",
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}-", suffix=".wasm", dir=out.parent)
    os.close(fd)
    try:
        try:
            proc = subprocess.run(
                _command(src, Path(tmp), export),
                capture_output=True,
                text=True,
                timeout=COMPILE_TIMEOUT_S,
                cwd=d,
            )
        except subprocess.TimeoutExpired:
            raise InputError(
                ", ".join(p.name for p in src),
                f"still compiling after {COMPILE_TIMEOUT_S:g}s",
                "C that zig cc compiles in time (the first build also builds zig's libc: retry)",
            ) from None
        if proc.returncode != 0:
            raise InputError(
                ", ".join(p.name for p in src),
                "does not compile",
                "C that zig cc --target=wasm32-wasi compiles:\n" + proc.stderr.strip()[-4000:],
            )
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        _copy(out, cached)
    return out


def _copy(src: Path, dst: Path) -> None:
    """Copy via a temporary file in the destination folder, then rename (never half-written)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.stem}-", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        Path(tmp).unlink(missing_ok=True)
