"""Bad input ends in a clear message and a non-zero exit: never a hang, never a segfault.

Hostile guests (tests/wasm_mpi/hostile): an out-of-bounds buffer, a handle that
was never made, a trap on one rank while another waits for it, an import
Tessera does not provide; plus a file that is not wasm, a rank-count mismatch
under mpiexec, and bad `tessera wasm cc` input. Each run has a timeout far
above its normal duration, and the tests assert it was not reached.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tessera.core.errors import InputError
from tessera.wasm_mpi.launch import mpiexec, run_captured
from tests.wasm_mpi.conftest import HOSTILE, PROGRAMS, Builds

pytestmark = pytest.mark.xdist_group("wasm_mpi")
TIMEOUT = 60.0


@pytest.mark.parametrize("path", ["native", "python"])
def test_out_of_bounds_buffer_is_refused(builds: Builds, path: str) -> None:
    got = run_captured(builds.wasm(HOSTILE / "oob.c"), ranks=2, path=path, timeout_s=TIMEOUT)
    assert got.returncode not in (0, 124, -11, 139), got
    assert "lies outside the guest memory" in got.stderr, got
    assert "MPI_Send" in got.stderr or "MPI_Recv" in got.stderr, got


@pytest.mark.parametrize("path", ["native", "python"])
@pytest.mark.parametrize("mode", ["displ", "negext"])
def test_computed_reach_outside_memory_is_refused(builds: Builds, path: str, mode: str) -> None:
    """A huge displacement or a negative extent must not wrap past the bounds check."""
    got = run_captured(builds.wasm(HOSTILE / "wrap.c"), [mode], ranks=2, path=path,
                       timeout_s=TIMEOUT)  # fmt: skip
    assert got.returncode not in (0, 124, -11, 139), got
    assert "lies outside the guest memory" in got.stderr, got


@pytest.mark.parametrize("path", ["native", "python"])
def test_unknown_handle_is_refused_and_the_job_ends(builds: Builds, path: str) -> None:
    got = run_captured(builds.wasm(HOSTILE / "badhandle.c"), ranks=3, path=path, timeout_s=TIMEOUT)
    assert got.returncode not in (0, 124), got
    assert "MPI_Bcast: 999 is not a valid comm handle" in got.stderr


def test_a_trap_on_one_rank_ends_the_job(builds: Builds) -> None:
    got = run_captured(builds.wasm(HOSTILE / "trap.c"), ranks=2, timeout_s=TIMEOUT)
    assert got.returncode not in (0, 124), got
    assert "rank 1 of 2: trap" in got.stderr


def test_missing_import_is_named(builds: Builds) -> None:
    got = run_captured(builds.wasm(HOSTILE / "missing_import.c"), ranks=2, timeout_s=TIMEOUT)
    assert got.returncode == 2, got
    assert "mpi.MPI_Win_create" in got.stderr


def test_not_a_wasm_file(tmp_path: Path) -> None:
    bogus = tmp_path / "app.wasm"
    bogus.write_bytes(b"\x7fELF not wasm")
    with pytest.raises(InputError, match="WebAssembly binary"):
        run_captured(bogus, ranks=2)
    cli = [sys.executable, "-m", "tessera.cli.main", "wasm", "run", "-n", "2", str(bogus)]
    proc = subprocess.run(cli, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 2
    assert "APP.wasm" in proc.stderr and "WebAssembly binary" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_rank_count_is_bounded_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = tmp_path / "app.wasm"  # never read: the count is refused first
    monkeypatch.setenv("TESSERA_WASM_MAX_RANKS", "8")
    for n in (0, 9, 100_000):
        with pytest.raises(InputError, match=r"-n.*1\.\.8"):
            run_captured(app, ranks=n)
    monkeypatch.setenv("TESSERA_WASM_MAX_RANKS", "lots")
    with pytest.raises(InputError, match="TESSERA_WASM_MAX_RANKS"):
        run_captured(app, ranks=2)
    monkeypatch.delenv("TESSERA_WASM_MAX_RANKS")
    limit = 64 * (os.cpu_count() or 1)
    cli = [sys.executable, "-m", "tessera.cli.main", "wasm", "run", "-n", str(limit + 1), str(app)]
    proc = subprocess.run(cli, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 2
    assert f"1..{limit}" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_rank_count_mismatch_under_mpiexec(builds: Builds) -> None:
    app = builds.wasm(PROGRAMS / "hello.c")
    cmd = [mpiexec(), "-n", "2", sys.executable, "-m", "tessera.wasm_mpi",
           "--expect-ranks", "3", str(app)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 2
    assert "-n: got 3" in proc.stderr and "2 ranks were started" in proc.stderr
    assert "hello" not in proc.stdout  # the guest never ran


def test_mpiexec_around_tessera_wasm_run(builds: Builds) -> None:
    """`mpiexec -n N tessera wasm run APP.wasm` makes every process one rank."""
    app = builds.wasm(PROGRAMS / "hello.c")
    cmd = [mpiexec(), "-n", "2", sys.executable, "-m", "tessera.cli.main", "wasm", "run",
           str(app)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert "hello from rank 1 of 2" in proc.stdout and "OK hello" in proc.stdout


def test_cc_reports_compiler_errors_and_bad_arguments(tmp_path: Path, builds: Builds) -> None:
    bad = tmp_path / "bad.c"
    bad.write_text("int main(void) { return undeclared; }\n")
    base = [sys.executable, "-m", "tessera.cli.main", "wasm", "cc"]
    proc = subprocess.run([*base, str(bad), "-o", str(tmp_path / "bad.wasm")],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 1 and "undeclared" in proc.stderr
    assert not (tmp_path / "bad.wasm").exists()  # nothing half-written
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".wasm")]
    proc = subprocess.run([*base, str(bad)], capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 2 and "-o" in proc.stderr
    proc = subprocess.run([*base, str(tmp_path / "nope.c"), "-o", str(tmp_path / "x.wasm")],
                          capture_output=True, text=True, timeout=TIMEOUT)  # fmt: skip
    assert proc.returncode == 2 and "nope.c" in proc.stderr


def test_doctor_reports_the_toolchain(builds: Builds) -> None:
    proc = subprocess.run([sys.executable, "-m", "tessera.cli.main", "wasm", "doctor"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for word in ("wasmtime", "ziglang", "mpicc", "mpiexec", "shim"):
        assert word in proc.stdout


def test_wasi_sees_no_files_unless_a_dir_is_granted(builds: Builds, tmp_path: Path) -> None:
    app = builds.wasm(HOSTILE / "readfile.c")
    secret = tmp_path / "note.txt"
    secret.write_text("granted\n")
    got = run_captured(app, [str(secret)], ranks=1, timeout_s=TIMEOUT)
    assert got.returncode == 0 and got.stdout == f"cannot open {secret}\n"
    got = run_captured(app, ["/etc/passwd"], ranks=1, timeout_s=TIMEOUT)
    assert got.stdout == "cannot open /etc/passwd\n"
    got = run_captured(app, ["/data/note.txt"], ranks=1, dirs=[f"{tmp_path}:/data"],
                       timeout_s=TIMEOUT)  # fmt: skip
    assert got.returncode == 0 and got.stdout == "read: granted\n"
    # options after APP.wasm are the program's arguments: they grant nothing
    for extra in ([str(secret), "--dir", str(tmp_path)], ["--", str(secret), "--dir", "/"]):
        cli = [sys.executable, "-m", "tessera.cli.main", "wasm", "run", "-n", "1", str(app), *extra]
        proc = subprocess.run(cli, capture_output=True, text=True, timeout=TIMEOUT)
        assert proc.returncode == 0 and proc.stdout == f"cannot open {secret}\n", proc.stderr
