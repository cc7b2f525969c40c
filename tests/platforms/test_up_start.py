"""`tessera up` start-up failures are one line and exit 2 before the platform starts: a port
in use or an address the machine does not have (they were uvicorn's log lines and exit 3,
after the platform had started and deployed its --function folders), and a state folder
another running platform holds (two platforms on one home each ran their own instances
over one store)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

from tessera.core.errors import InputError
from tessera.platforms.local.platform import LocalPlatform
from tests.cli.test_cli import assert_one_error_line
from tests.platforms.helpers import ECHO, async_test, platform, write_function


def _up(home: Path, *args: str) -> tuple[int, str, str]:
    cmd = [sys.executable, "-m", "tessera.cli.main", "up", "--home", str(home)]
    cmd += ["--insecure-no-sandbox", *args]  # the sandbox is not under test here
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout, done.stderr


def test_a_port_in_use_is_refused_before_the_platform_starts(tmp_path: Path) -> None:
    fn = write_function(tmp_path / "src", "echo", ECHO)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = _up(tmp_path / "home", "--port", str(port), "--function", str(fn))
    m = assert_one_error_line(code, out, err)
    assert m.group("field") == "--port" and "in use" in m.group("accepted")
    assert not (tmp_path / "home" / "functions").exists()  # nothing was deployed


def test_an_address_the_machine_does_not_have_is_refused(tmp_path: Path) -> None:
    # 192.0.2.0/24 is TEST-NET-1: never an address of this machine
    m = assert_one_error_line(*_up(tmp_path / "home", "--host", "192.0.2.1", "--port", "0"))
    assert m.group("field") == "--host"
    m = assert_one_error_line(*_up(tmp_path / "home", "--host", "no such host", "--port", "0"))
    assert m.group("field") == "--host"


@async_test(90)
async def test_a_home_another_platform_runs_on_is_refused(home: Path) -> None:
    async with platform(home):
        code, out, err = await asyncio.to_thread(_up, home, "--port", "0")
        m = assert_one_error_line(code, out, err)
        assert m.group("field") == "home" and f"pid {os.getpid()}" in err
        try:
            LocalPlatform(home)  # in one process too
        except InputError as e:
            assert e.field == "home"
        else:
            raise AssertionError("a second platform on the same home was allowed")
    second = LocalPlatform(home)  # released when the first closed
    await second.close()
