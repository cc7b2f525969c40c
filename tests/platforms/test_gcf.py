"""The Cloud Functions adapter, for real: the built folder served by functions-framework."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tessera.core.errors import InputError
from tessera.platforms.gcf import ENTRY_POINT, build
from tests.platforms.helpers import write_function

HANDLER = """
from tessera.functions import Response

STARTED = {}


def start(config):
    STARTED["yes"] = True


def handle(event, context):
    if isinstance(event, dict) and event.get("fail"):
        raise ValueError("asked to fail")
    if isinstance(event, dict) and event.get("status"):
        return Response({"teapot": True}, status=event["status"], headers={"x-custom": "1"})
    if isinstance(event, bytes):
        return event[::-1]
    return {"echo": event, "function": context.function, "started": STARTED.get("yes", False)}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def served(folder: Path) -> Iterator[str]:
    port = _free_port()
    ff = Path(sys.executable).parent / "functions-framework"
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [
            str(ff),
            "--target",
            ENTRY_POINT,
            "--source",
            str(folder / "main.py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "exited")
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(url, json=None, timeout=1)
                break
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_build_writes_entry_requirements_and_untouched_code(tmp_path: Path) -> None:
    fn = write_function(tmp_path / "src", "echo", HANDLER, env={"API_KEY": "s3cret"})
    out = build(fn, tmp_path / "out")
    assert (out / "function" / "main.py").read_text() == (fn / "main.py").read_text()
    assert f"{ENTRY_POINT} = make_entry(" in (out / "main.py").read_text()
    assert "functions-framework" in (out / "requirements.txt").read_text()
    env_file = (out / ".env.yaml").read_text()
    assert "API_KEY" in env_file and "s3cret" not in env_file  # references, never values
    with pytest.raises(InputError):
        build(tmp_path / "missing", tmp_path / "out2")


def test_functions_framework_serves_the_unmodified_handler(tmp_path: Path) -> None:
    fn = write_function(tmp_path / "src", "echo", HANDLER)
    out = build(fn, tmp_path / "out")
    with served(out) as url, httpx.Client(base_url=url, timeout=10) as c:
        r = c.post("/", json={"a": [1, 2]})
        assert r.status_code == 200
        assert r.json() == {"echo": {"a": [1, 2]}, "function": "echo", "started": True}
        r = c.post("/", content=b"abc", headers={"content-type": "application/octet-stream"})
        assert r.content == b"cba"
        r = c.post("/", json={"status": 418})
        assert r.status_code == 418 and r.headers["x-custom"] == "1"
        assert r.json() == {"teapot": True}
        r = c.post("/", json={"fail": True})
        assert r.status_code == 500 and r.text == "ValueError: asked to fail"


def test_cli_build_and_unknown_platform(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tessera.cli.main import main

    fn = write_function(tmp_path / "src", "echo", HANDLER)
    with pytest.raises(SystemExit) as e:
        main(["fn", "build", str(fn), "--platform", "gcf", "--out", str(tmp_path / "out")])
    assert e.value.code == 0 and (tmp_path / "out" / "main.py").is_file()
    with pytest.raises(SystemExit) as e:
        main(["fn", "build", str(fn), "--platform", "nope", "--out", str(tmp_path / "o2")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "accepted: awslambda, fission, fn, gcf, knative, kubernetes, nuclio," in err


def test_conformance_suite_passes_on_every_platform(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from tessera.cli.main import main
    from tessera.conformance import CASES, TARGETS

    with pytest.raises(SystemExit) as e:
        main(["fn", "conformance", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert e.value.code == 0, report
    assert (
        set(report["platforms"])
        == set(TARGETS)
        >= {
            "local",
            "kubernetes",
            "gcf",
            "knative",
            "awslambda",
            "openwhisk",
            "openfaas",
            "fission",
            "nuclio",
            "fn",
            "ray",
        }
    )
    for p in TARGETS:
        r = report["platforms"][p]
        assert (r["passed"], r["failed"]) == (len(CASES), 0), r
        assert set(r["cases"]) == {c.name for c in CASES}
    # the same cases in every language, on the local platform
    assert set(report["languages"]) == {"python", "javascript", "c-wasi"}
    for lang, r in report["languages"].items():
        assert (r["passed"], r["failed"]) == (len(CASES), 0), (lang, r)


def test_conformance_cases_fail_on_wrong_answers() -> None:
    from tessera.conformance import CASES

    def wrong(body: bytes, content_type: str) -> tuple[int, dict[str, str], bytes]:
        return 200, {"content-type": "application/json"}, b'{"something": "else"}'

    failures = {c.name: c.run(wrong) for c in CASES}
    assert all(failures.values()), failures  # every case notices
