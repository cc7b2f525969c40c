"""What every conformance target shares: a platform process on loopback, ready checks, HTTP calls."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

Answer = tuple[int, dict[str, str], bytes]
Invoke = Callable[[bytes, str], Answer]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2])
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p),
    }


@contextlib.contextmanager
def process(cmd: list[str], ready: Callable[[], bool], log: Path) -> Iterator[None]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, env=env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not ok(ready):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{cmd[0]} did not start; see {log}")
            time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ok(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except (httpx.HTTPError, OSError):
        return False


def http_invoke(client: httpx.Client, path: str) -> Invoke:
    def invoke(body: bytes, content_type: str) -> Answer:
        r = client.post(path, content=body, headers={"content-type": content_type})
        return r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content

    return invoke


def up_when(path: str, *statuses: int) -> Callable[[str], bool]:
    """A ready check: GET `path` answers one of `statuses` (any answer when none are given)."""

    def check(url: str) -> bool:
        status = httpx.get(url + path, timeout=1).status_code
        return status in statuses if statuses else status < 600

    return check


@contextlib.contextmanager
def served(cmd: list[str], ready: Callable[[str], bool], log: Path) -> Iterator[httpx.Client]:
    """Run `cmd --port P` on a free loopback port until `ready(url)`; yield a client for it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (
        process([*cmd, "--port", str(port)], lambda: ready(url), log),
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield client
