"""Every conformance program prints byte-identical output natively (mpicc) and as wasm.

2 and 4 ranks, on both import paths: the native C shim (hot calls in C, the rest
in Python) and the pure-Python fallback. `cxx_ring.cc` is C++ (no exceptions), built
with mpicxx natively and `tessera wasm cc` (zig c++) as wasm. The programs check themselves too (each
ends with `OK <name>` only if its own checks passed on every rank).
"""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

import pytest

from tessera.wasm_mpi.launch import mpiexec, run_captured
from tests.wasm_mpi.conftest import PROGRAMS, Builds

pytestmark = pytest.mark.xdist_group("wasm_mpi")
SOURCES = {p.stem: p for p in sorted([*PROGRAMS.glob("*.c"), *PROGRAMS.glob("*.cc")])}
NAMES = sorted(SOURCES)


@cache
def native_output(exe: Path, ranks: int) -> str:
    proc = subprocess.run(
        [mpiexec(), "-n", str(ranks), str(exe)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_suite_is_there() -> None:
    assert {"hello", "p2p", "collectives", "minmaxloc", "datatypes", "comms", "userop",
            "stencil", "cxx_ring"} <= set(NAMES)  # fmt: skip


@pytest.mark.parametrize("path", ["native", "python"])
@pytest.mark.parametrize("ranks", [2, 4])
@pytest.mark.parametrize("name", NAMES)
def test_wasm_output_is_byte_identical_to_native(
    builds: Builds, name: str, ranks: int, path: str
) -> None:
    src = SOURCES[name]
    expected = native_output(builds.native(src), ranks)
    assert f"OK {name}" in expected
    got = run_captured(builds.wasm(src), ranks=ranks, path=path, timeout_s=120)
    assert got.returncode == 0, got.stderr
    assert got.stdout == expected
