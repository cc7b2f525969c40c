"""Secrets: set through the admin API or CLI, injected at start, never seen anywhere else.

A function lists secret names in function.yaml and reads SECRET_<NAME>; the value must not
appear in invocation records, the function description, the platform's logs, the token
listing or manifests generated for other platforms. The platform's own credential
(TESSERA_TOKEN in its environment) is not passed on to functions.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from pathlib import Path

import pytest

from tessera.functions.package import pack_dir
from tests.platforms.helpers import (
    async_test,
    deploy,
    deploy_raw,
    platform,
    tar_files,
    write_function,
)

VALUE = "s3cr3t-VALUE-0f-the-db"
READS_SECRET = """
import hashlib, os

def handle(event, context):
    v = os.environ.get("SECRET_DB_PASSWORD", "")
    return {"sha256": hashlib.sha256(v.encode()).hexdigest(),
            "token_visible": "TESSERA_TOKEN" in os.environ or "LEAK" in os.environ}
"""


@async_test(120)
async def test_secret_reaches_its_function_and_nothing_else(
    home: Path, src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESSERA_TOKEN", "tsr_" + "p" * 43)  # the platform's own credential
    fn = write_function(
        src, "db", READS_SECRET, secrets=["db-password"], env={"LEAK": "${TESSERA_TOKEN}"}
    )
    async with platform(home) as (_p, c):
        r = await c.put("/system/secrets/db-password", content=VALUE.encode())
        assert r.status_code == 200 and r.json() == {"name": "db-password", "bytes": len(VALUE)}
        await deploy(c, fn)
        out = (await c.post("/function/db", json={})).json()
        assert out["sha256"] == hashlib.sha256(VALUE.encode()).hexdigest()
        assert out["token_visible"] is False
        seen = [
            (await c.get("/system/invocations")).text,
            (await c.get("/system/functions/db")).text,
            (await c.get("/system/functions")).text,
            (await c.get("/system/secrets")).text,
            (await c.get("/system/logs/db")).text,
            (await c.get("/system/tokens")).text,
        ]
        assert "db-password" in seen[3]
    for text in seen:
        assert VALUE not in text
    for log in (home / "logs").glob("*"):
        assert VALUE.encode() not in log.read_bytes(), log


@async_test(90)
async def test_missing_or_bad_secrets_are_refused(home: Path, src: Path) -> None:
    fn = write_function(src, "db", READS_SECRET, secrets=["db-password"])
    bad = tar_files({
        "function.yaml": "name: bad\nruntime: python3\nhandler: main.handle\n"
                         "secrets: [Not_A_Name]\n",
        "main.py": READS_SECRET,
    })  # fmt: skip
    async with platform(home) as (_p, c):
        r = await deploy_raw(c, pack_dir(fn))
        assert r.status_code == 400 and "db-password" in r.text and "secret set" in r.text
        r = await deploy_raw(c, bad)
        assert r.status_code == 400 and "secrets" in r.text
        assert (await c.put("/system/secrets/Bad_Name", content=b"x")).status_code == 400
        big = b"x" * (64 * 1024 + 1)
        assert (await c.put("/system/secrets/big", content=big)).status_code == 413
        assert (await c.delete("/system/secrets/nosuch")).status_code == 404
        for bad_value in (b"a\0b", b"\xff\xfe"):  # secrets become environment variables
            assert (await c.put("/system/secrets/bin", content=bad_value)).status_code == 400
        assert (await c.get("/system/secrets", headers={"Authorization": ""})).status_code == 401


@async_test(120)
async def test_cli_sets_secrets_from_stdin(home: Path, src: Path) -> None:
    async with platform(home) as (_p, c):
        url = str(c.base_url).rstrip("/")
        env = {"TESSERA_HOME": str(home), "PATH": "/usr/bin:/bin"}

        async def cli(*args: str, stdin: bytes = b"") -> tuple[int, str, str]:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tessera.cli.main", *args, "--gateway", url, env=env,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
            return proc.returncode or 0, out.decode(), err.decode()

        code, out, err = await cli("secret", "set", "db-password", stdin=VALUE.encode())
        assert code == 0, err
        assert VALUE not in out + err
        code, out, _ = await cli("secret", "list")
        assert code == 0 and "db-password" in out and VALUE not in out
        code, _, err = await cli("secret", "set", "db-password", stdin=b"")
        assert code == 2 and "empty" in err
        fn = write_function(src, "db", READS_SECRET, secrets=["db-password"])
        await deploy(c, fn)
        got = (await c.post("/function/db", json={})).json()
        assert got["sha256"] == hashlib.sha256(VALUE.encode()).hexdigest()
        code, _, _ = await cli("secret", "rm", "db-password")
        assert code == 0
        assert (await c.get("/system/secrets")).json() == []


def test_generated_manifests_carry_names_not_values(tmp_path: Path) -> None:
    from tessera.platforms import builder

    fn = write_function(tmp_path / "src", "db", READS_SECRET, secrets=["db-password"])
    out = builder("kubernetes")(fn, tmp_path / "k8s")
    text = "".join(p.read_text(errors="replace") for p in Path(out).rglob("*") if p.is_file())
    assert VALUE not in text
