"""Shared set-up for the wasm_mpi tests: skip without the toolchain or MPI, build programs once.

The C programs are compiled per test session into a temporary folder (zig keeps
its own cache, so after the first session a build takes a second or two), and
the module/shim cache of `tessera.wasm_mpi` points at a temporary folder too.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.wasm_mpi.native import mpicc
from tessera.wasm_mpi.toolchain import compile_wasm

HERE = Path(__file__).parent
PROGRAMS = HERE / "programs"
HOSTILE = HERE / "hostile"


def missing() -> str | None:
    """Why these tests cannot run here (None when they can)."""
    for mod in ("wasmtime", "ziglang", "mpi4py"):
        if importlib.util.find_spec(mod) is None:
            return f"{mod} is not installed (pip install 'tessera[wasm]')"
    if mpicc() is None:
        return "no mpicc (pip install mpich)"
    return None


@pytest.fixture(scope="session", autouse=True)
def wasm_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    cache = tmp_path_factory.mktemp("tessera-cache")
    old = os.environ.get("TESSERA_CACHE")
    os.environ["TESSERA_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("TESSERA_CACHE", None)
    else:
        os.environ["TESSERA_CACHE"] = old


class Builds:
    """Programs built on demand, once per session: `.wasm` (zig) and native (mpicc)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def wasm(self, src: Path) -> Path:
        out = self.root / f"{src.stem}.wasm"
        if not out.exists():
            compile_wasm([src], out)
        return out

    def native(self, src: Path) -> Path:
        out = self.root / f"{src.stem}.native"
        if not out.exists():
            cc = mpicc()
            assert cc is not None
            if src.suffix == ".cc":  # the C++ wrapper sits beside mpicc
                cc = str(Path(cc).with_name("mpicxx"))
            subprocess.run([cc, "-O2", "-o", str(out), str(src)], check=True, timeout=120)
        return out


@pytest.fixture(scope="session")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Builds:
    why = missing()
    if why:
        pytest.skip(why)
    return Builds(tmp_path_factory.mktemp("wasm-builds"))
