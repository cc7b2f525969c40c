"""Fixtures for the local-platform tests: a fresh home per test, and no leaked processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.platforms.helpers import kill_pid, platform_pids

LEAK_GRACE_S = 10.0


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """The platform's home for one test.

    Every zygote/worker the platform starts carries the home in its command line (`--code
    HOME/functions/...`). After the test, each must exit on its own within LEAK_GRACE_S
    (closing the gateway closes their sockets); any that stays is SIGKILLed by pid and the
    test fails, naming it.
    """
    h = tmp_path / "home"
    yield h
    deadline = time.monotonic() + LEAK_GRACE_S
    left = platform_pids(str(h))
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = platform_pids(str(h))
    for pid in left:
        kill_pid(pid)
    assert not left, f"platform processes still running {LEAK_GRACE_S:g}s after the test: {left}"


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """Where a test writes its function folders (outside the platform's home)."""
    d = tmp_path / "src"
    d.mkdir()
    return d
