"""Cases and targets of the conformance suite, and the runner.

A target starts a platform for real on loopback (a subprocess), serves the
fixture through that platform's adapter, and exposes `invoke(body, content_type)`.
A case sends one request (or several, concurrently) and checks the answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tessera.conformance.fixture import write_fixture
from tessera.core.errors import InputError

Answer = tuple[int, dict[str, str], bytes]
Invoke = Callable[[bytes, str], Answer]


def _json(body: dict[str, Any]) -> tuple[bytes, str]:
    return json.dumps(body).encode(), "application/json"


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[Invoke], str | None]  # None when it passes, else what went wrong


def _expect(ans: Answer, status: int, body: Any = None, raw: bytes | None = None) -> str | None:
    st, _headers, data = ans
    if st != status:
        return f"status {st}, expected {status} ({data[:120]!r})"
    if raw is not None and data != raw:
        return f"body {data[:80]!r}, expected {raw[:80]!r}"
    if body is not None:
        try:
            got = json.loads(data)
        except ValueError:
            return f"body is not JSON: {data[:80]!r}"
        if got != body:
            return f"body {got!r}, expected {body!r}"
    return None


def _echo(inv: Invoke) -> str | None:
    return _expect(
        inv(*_json({"a": [1, 2], "b": "x"})),
        200,
        {"echo": {"a": [1, 2], "b": "x"}, "function": "conformance"},
    )


def _bytes(inv: Invoke) -> str | None:
    return _expect(inv(b"\x00\x01abc\xff", "application/octet-stream"), 200, raw=b"\xffcba\x01\x00")


def _status(inv: Invoke) -> str | None:
    ans = inv(*_json({"op": "status", "status": 418}))
    err = _expect(ans, 418, {"status": 418})
    if err is None and ans[1].get("x-conformance") != "yes":
        return f"header x-conformance missing: {ans[1]}"
    return err


def _error(inv: Invoke) -> str | None:
    return _expect(inv(*_json({"op": "fail"})), 500, raw=b"ValueError: asked to fail")


def _unicode(inv: Invoke) -> str | None:
    text = "héllo, 世界 🌍"
    return _expect(inv(*_json({"t": text})), 200, {"echo": {"t": text}, "function": "conformance"})


def _large(inv: Invoke) -> str | None:
    blob = "x" * (5 << 20)
    return _expect(inv(*_json({"op": "size", "blob": blob})), 200, {"n": 5 << 20})


def _concurrent(inv: Invoke) -> str | None:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: inv(*_json({"i": i})), range(16)))
    for i, ans in enumerate(answers):
        err = _expect(ans, 200, {"echo": {"i": i}, "function": "conformance"})
        if err:
            return f"call {i}: {err}"
    return None


def _lifecycle(inv: Invoke) -> str | None:
    return _expect(inv(*_json({"op": "started"})), 200, {"started": True})


CASES = (
    Case("json-echo", _echo),
    Case("bytes", _bytes),
    Case("status-and-headers", _status),
    Case("error-mapping", _error),
    Case("unicode", _unicode),
    Case("large-payload-5mb", _large),
    Case("concurrent-calls", _concurrent),
    Case("lifecycle-start", _lifecycle),
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2])
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p),
    }


@contextlib.contextmanager
def _process(cmd: list[str], ready: Callable[[], bool], log: Path) -> Iterator[None]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, env=_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _ok(ready):
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


def _ok(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except (httpx.HTTPError, OSError):
        return False


def _http_invoke(client: httpx.Client, path: str) -> Invoke:
    def invoke(body: bytes, content_type: str) -> Answer:
        r = client.post(path, content=body, headers={"content-type": content_type})
        return r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content

    return invoke


@contextlib.contextmanager
def _local(fn: Path, work: Path) -> Iterator[Invoke]:
    from tessera.functions.package import pack_dir

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-m",
        "tessera.cli.main",
        "up",
        "--port",
        str(port),
        "--home",
        str(work / "home"),
        "--autoscaler",
        '{"kind": "fixed", "replicas": 2}',
    ]
    with (
        _process(
            cmd,
            lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200,
            work / "local.log",
        ),
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        c.post("/system/functions", content=pack_dir(fn)).raise_for_status()
        yield _http_invoke(c, f"/function/{fn.name}")


@contextlib.contextmanager
def _gcf(fn: Path, work: Path) -> Iterator[Invoke]:
    from tessera.platforms.gcf import ENTRY_POINT, build

    out = build(fn, work / "gcf")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    ff = str(Path(sys.executable).parent / "functions-framework")
    cmd = [
        ff,
        "--target",
        ENTRY_POINT,
        "--source",
        str(out / "main.py"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with (
        _process(cmd, lambda: httpx.get(url, timeout=1).status_code < 600, work / "gcf.log"),
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        yield _http_invoke(c, "/")


@contextlib.contextmanager
def _openwhisk(fn: Path, work: Path) -> Iterator[Invoke]:
    """The action zip in the action-container protocol, invoked as a raw web action."""
    import base64

    from tessera.platforms.openwhisk import build
    from tessera.platforms.openwhisk.runtime import is_text

    out = build(fn, work / "openwhisk")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "tessera.platforms.openwhisk.server", "--port", str(port)]
    with (
        _process(
            cmd,
            lambda: httpx.post(f"{url}/run", json={}).status_code == 403,
            work / "openwhisk.log",
        ),
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        code = base64.b64encode((out / "action.zip").read_bytes()).decode()
        c.post(
            "/init", json={"value": {"main": "main", "code": code, "binary": True}}
        ).raise_for_status()

        def invoke(body: bytes, content_type: str) -> Answer:
            raw = body.decode() if is_text(content_type) else base64.b64encode(body).decode()
            value = {
                "__ow_method": "post",
                "__ow_headers": {"content-type": content_type},
                "__ow_body": raw,
                "__ow_path": "",
            }
            r = c.post("/run", json={"value": value, "activation_id": "conformance"})
            if r.status_code != 200:
                return r.status_code, {}, r.content
            res = r.json()
            headers = {k.lower(): str(v) for k, v in (res.get("headers") or {}).items()}
            out_body = res.get("body") or ""
            data = (
                out_body.encode()
                if is_text(headers.get("content-type", ""))
                else base64.b64decode(out_body)
            )
            return int(res.get("statusCode", 200)), headers, data

        yield invoke


@contextlib.contextmanager
def _openfaas(fn: Path, work: Path) -> Iterator[Invoke]:
    """The python3-http function folder behind its upstream server (of-watchdog's target)."""
    from tessera.platforms.openfaas import build

    out = build(fn, work / "openfaas")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-m",
        "tessera.platforms.openfaas.server",
        "--dir",
        str(out / fn.name),
        "--port",
        str(port),
    ]
    with (
        _process(
            cmd, lambda: httpx.get(f"{url}/", timeout=1).status_code < 600, work / "openfaas.log"
        ),
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        yield _http_invoke(c, "/")


@contextlib.contextmanager
def _fission(fn: Path, work: Path) -> Iterator[Invoke]:
    """The deploy archive in a Python environment container, specialized like a Fission pod."""
    from tessera.platforms.fission import ENTRYPOINT, build

    out = build(fn, work / "fission")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "tessera.platforms.fission.server", "--port", str(port)]
    with (
        _process(
            cmd, lambda: httpx.get(f"{url}/", timeout=1).status_code == 500, work / "fission.log"
        ),
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        r = c.post(
            "/v2/specialize",
            json={"filepath": str(out / f"{fn.name}.zip"), "functionName": ENTRYPOINT},
        )
        r.raise_for_status()
        yield _http_invoke(c, "/")


TARGETS: dict[str, Callable[[Path, Path], contextlib.AbstractContextManager[Invoke]]] = {
    "local": _local,
    "gcf": _gcf,
    "openwhisk": _openwhisk,
    "openfaas": _openfaas,
    "fission": _fission,
}


def run(platforms: list[str] | None = None) -> dict[str, Any]:
    """Every case on every platform: `{"platforms": {P: {"passed", "failed", "cases"}}}`."""
    names = platforms or list(TARGETS)
    for p in names:
        if p not in TARGETS:
            raise InputError("--platform", p, ", ".join(TARGETS))
    report: dict[str, Any] = {"platforms": {}}
    with tempfile.TemporaryDirectory(prefix="tessera-conformance-") as tmp:
        fn = write_fixture(Path(tmp))
        for p in names:
            work = Path(tmp) / p
            work.mkdir()
            cases: dict[str, dict[str, Any]] = {}
            try:
                with TARGETS[p](fn, work) as invoke:
                    for case in CASES:
                        try:
                            err = case.run(invoke)
                        except Exception as e:  # a crash is a failed case, not a failed run
                            err = f"{type(e).__name__}: {e}"
                        cases[case.name] = {"passed": err is None, "error": err}
            except RuntimeError as e:
                cases = {c.name: {"passed": False, "error": str(e)} for c in CASES}
            passed = sum(c["passed"] for c in cases.values())
            report["platforms"][p] = {
                "passed": passed,
                "failed": len(cases) - passed,
                "cases": cases,
            }
    return report
