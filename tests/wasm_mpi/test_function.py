"""An MPI job as a Tessera function: package a .wasm, deploy it on the local platform, invoke
it with N ranks.

hello.c (a conformance program) is compiled once per session (conftest's `builds`); the
platform starts in-process as in the other platform tests, and the `home` fixture fails a test
that leaves a worker, an mpiexec or a rank behind (each carries the home in its command line).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tessera.core.errors import InputError
from tessera.platforms.local.sandbox import probe
from tessera.wasm_mpi.launch import run_captured
from tessera.wasm_mpi.package import TEMPLATE, package
from tests.platforms.conftest import home  # noqa: F401  (the process-leak fixture)
from tests.platforms.helpers import async_test, deploy, invoke, platform, record_of
from tests.wasm_mpi.conftest import PROGRAMS, Builds


def _missing() -> str | None:
    for module in ("ziglang", "mpi4py", "wasmtime"):
        if importlib.util.find_spec(module) is None:
            return f"needs the `{module}` wheel (pip install 'tessera[wasm]')"
    if not (Path(sys.executable).parent / "mpiexec").is_file():
        return f"needs mpiexec next to {sys.executable} (the `mpich` wheel)"
    return None


pytestmark = [
    pytest.mark.xdist_group("wasm_mpi"),  # with the other wasm_mpi tests: one set of builds
    pytest.mark.skipif(_missing() is not None, reason=_missing() or ""),
]


@pytest.fixture(scope="module")
def hello(builds: Builds) -> Path:
    return builds.wasm(PROGRAMS / "hello.c")


@pytest.fixture(scope="module")
def job_dir(hello: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return package(hello, tmp_path_factory.mktemp("fn") / "mpi-job")


def test_package_writes_a_deployable_folder(hello: Path, job_dir: Path) -> None:
    assert sorted(p.name for p in job_dir.iterdir()) == ["app.wasm", "function.yaml", "handler.py"]
    assert (job_dir / "app.wasm").read_bytes() == hello.read_bytes()
    assert (job_dir / "handler.py").read_text() == (TEMPLATE / "handler.py").read_text()


def test_package_refuses_a_non_wasm_file_and_a_full_folder(hello: Path, tmp_path: Path) -> None:
    src = tmp_path / "hello.c"
    src.write_text((PROGRAMS / "hello.c").read_text())
    with pytest.raises(InputError) as e:
        package(src, tmp_path / "out")
    assert e.value.field == "APP.wasm" and "WebAssembly" in e.value.accepted
    assert not (tmp_path / "out").exists()  # nothing written
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("")
    with pytest.raises(InputError) as e:
        package(hello, full)
    assert e.value.field == "DEST"


@async_test(120.0)
async def test_mpi_job_on_the_local_platform(
    home: Path,  # noqa: F811
    hello: Path,
    job_dir: Path,
    tmp_path: Path,
) -> None:
    # a folder deployed without its module: a clear 500, not a crash loop
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in ("function.yaml", "handler.py"):
        text = (TEMPLATE / f).read_text()
        (bare / f).write_text(text.replace("name: mpi-job", "name: mpi-bare"))

    direct = {n: run_captured(hello, ranks=n, timeout_s=60) for n in (2, 4)}
    async with platform(home, timeout_s=90.0) as (_p, c):
        assert await deploy(c, job_dir) == {"name": "mpi-job", "version": 1}
        for n in (2, 4):
            r = await invoke(c, "mpi-job", {"ranks": n, "timeout_s": 60})
            assert r.status_code == 200, r.text
            out = r.json()
            assert out["exit_code"] == 0, out
            assert out["ranks"] == n and out["wall_s"] > 0
            assert out["stdout"] == direct[n].stdout, (out, direct[n])
            assert "OK hello" in out["stdout"] and f"world size {n}" in out["stdout"]

        bad: list[dict[str, object]] = [
            {"ranks": 0},
            {"ranks": "x"},
            {"ranks": 65},
            {"ranks": True},
            {"args": "a b"},
            {"timeout_s": 0},
            {"timeout_s": 121},
            {"rank": 2},
        ]
        for event in bad:
            r = await invoke(c, "mpi-job", event)
            assert r.status_code == 400, (event, r.status_code, r.text)
            field = r.json()["field"]
            assert field == f"event.{next(iter(event))}", (event, r.text)
            assert field in r.json()["error"]
        r = await invoke(c, "mpi-job", [1, 2])
        assert r.status_code == 400 and r.json()["field"] == "event", r.text

        assert await deploy(c, bare) == {"name": "mpi-bare", "version": 1}
        r = await invoke(c, "mpi-bare", {"ranks": 2})
        assert r.status_code == 500 and "app.wasm is missing" in r.text, r.text


@pytest.mark.skipif(probe() is not None, reason=str(probe()))
@async_test(150.0)
async def test_mpi_job_runs_in_the_sandbox(
    home: Path,  # noqa: F811
    hello: Path,
    job_dir: Path,
) -> None:
    """Under `tessera up`'s sandbox (no /proc, an instance's own PID, IPC and network
    namespaces) jobs run one after another on the same instance, and print what they print
    outside it."""
    direct = {n: run_captured(hello, ranks=n, timeout_s=60) for n in (2, 4)}
    fixed = {"kind": "fixed", "replicas": 1}
    async with platform(home, autoscaler=fixed, timeout_s=90.0, sandbox="bwrap") as (_p, c):
        assert await deploy(c, job_dir) == {"name": "mpi-job", "version": 1}
        pids = set()
        for n in (2, 4, 2):
            r = await invoke(c, "mpi-job", {"ranks": n, "timeout_s": 60})
            assert r.status_code == 200, r.text
            out = r.json()
            assert out["exit_code"] == 0, out
            assert out["stdout"] == direct[n].stdout, (out, direct[n])
            pids.add((await record_of(c, r.headers["x-tessera-invocation"], "mpi-job"))["instance"])
        assert len(pids) == 1  # the same warm instance ran all three


@pytest.mark.skipif(probe() is not None, reason=str(probe()))
@async_test(150.0)
async def test_sandboxed_collectives_give_the_same_numbers(
    home: Path,  # noqa: F811
    builds: Builds,
    tmp_path: Path,
) -> None:
    """The sandbox's transport (libfabric shm, not UCX) changes no result: the collectives
    program (reductions of floats included) prints the same bytes as outside it."""
    app = builds.wasm(PROGRAMS / "collectives.c")
    direct = run_captured(app, ranks=4, timeout_s=60)
    assert direct.returncode == 0, direct.stderr
    fixed = {"kind": "fixed", "replicas": 1}
    async with platform(home, autoscaler=fixed, timeout_s=90.0, sandbox="bwrap") as (_p, c):
        await deploy(c, package(app, tmp_path / "coll"))
        r = await invoke(c, "mpi-job", {"ranks": 4, "timeout_s": 60})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["exit_code"] == 0, out
        assert out["stdout"] == direct.stdout
