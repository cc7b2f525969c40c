"""Shared plumbing of the benchmarks: free ports, plain HTTP, waiting, ending processes,
result files written whole.

Standard library only, so a benchmark's client side adds nothing of its own to measure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    timeout: float = 30.0,
    token: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request (with `token` as a Bearer token if given); returns (status, lower-cased
    headers, body), errors included."""
    req = urllib.request.Request(url, data=body, method=method)
    if token:
        req.add_header("authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def wait_until(
    proc: subprocess.Popen[bytes], what: str, check: Callable[[], bool], timeout_s: float = 60.0
) -> float:
    """Poll `check()` every 50 ms until true; returns the seconds waited. Fails if `proc` exits."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with code {proc.returncode}")
        with contextlib.suppress(OSError, ValueError, KeyError):
            if check():
                return time.monotonic() - t0
        time.sleep(0.05)
    raise RuntimeError(f"{what}: not reached after {timeout_s:g}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End one process we started: SIGTERM, then SIGKILL if it does not exit in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def children(pid: int) -> list[int]:
    """Direct children of `pid` (from /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                out.append(int(d.name))
    return sorted(out)


def descendants(pid: int) -> list[int]:
    """Every process below `pid`."""
    out = []
    for k in children(pid):
        out += [k, *descendants(k)]
    return out


def write_json(path: Path, obj: object, *, indent: int = 1, sort_keys: bool = False) -> None:
    """Write `obj` to `path` as indented JSON, whole or not at all (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=indent, sort_keys=sort_keys)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _noun(kind: Callable[[str], float]) -> str:
    return "an integer" if kind is int else "a number"


def positive(kind: Callable[[str], float]) -> Callable[[str], Any]:
    """An argparse type: one number of `kind` (int, float) above 0, else a usage error."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not value > 0:
            raise argparse.ArgumentTypeError(f"got {text!r}; accepted: {_noun(kind)} > 0")
        return value

    return parse


def positive_list(kind: Callable[[str], float]) -> Callable[[str], list[Any]]:
    """An argparse type: comma-separated numbers of `kind` above 0 (`10,25`)."""
    one = positive(kind)

    def parse(text: str) -> list[Any]:
        try:
            return [one(x) for x in text.split(",")]
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"got {text!r}; accepted: comma-separated {_noun(kind).split()[-1]}s > 0"
            ) from None

    return parse
