"""The gateway commands of the CLI with bad names: nothing reaches another endpoint, and the
gateway's own refusals are one `error:` line with exit code 2 (a function's error is exit 1)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.platforms.helpers import async_test, deploy, platform, write_function

FAILS = """
def handle(event, context):
    raise RuntimeError("boom")
"""


async def _cli(url: str, home: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tessera.cli.main", *args, "--gateway", url,
        env={"TESSERA_HOME": str(home), "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


@async_test(120)
async def test_names_cannot_walk_to_other_endpoints(home: Path, src: Path) -> None:
    async with platform(home) as (_p, c):
        await deploy(c, write_function(src, "hello", FAILS))
        url = str(c.base_url).rstrip("/")
        made = await c.post("/system/tokens", json={"scope": "invoke:hello"})
        token_id = made.json()["id"]
        for args in (
            ("secret", "rm", "../functions/hello"),
            ("secret", "set", "../functions/hello"),
            ("fn", "delete", f"../tokens/{token_id}"),
            ("fn", "logs", "../functions/hello"),
            ("fn", "invoke", "../system/functions/hello", "--data", "{}"),
            ("auth", "revoke", "../functions/hello"),
        ):
            code, out, err = await _cli(url, home, *args)
            assert code == 2 and out == "", (args, code, out, err)
            assert err.startswith("error: ") and "got '../" in err, (args, err)
        # the function and the token are still there
        assert (await c.get("/system/functions/hello")).status_code == 200
        assert token_id in (await c.get("/system/tokens")).text


@async_test(120)
async def test_gateway_refusal_is_an_error_line_and_a_function_error_exit_1(
    home: Path, src: Path
) -> None:
    async with platform(home) as (_p, c):
        await deploy(c, write_function(src, "boom", FAILS))
        url = str(c.base_url).rstrip("/")
        code, out, err = await _cli(url, home, "fn", "invoke", "nosuch", "--data", "{}")
        assert code == 2 and out == "", (code, out, err)
        assert err.strip() == "error: invoke: function 'nosuch' is not deployed"
        code, out, err = await _cli(url, home, "fn", "invoke", "boom", "--data", "{}")
        assert code == 1 and "500" in err, (code, out, err)  # the function's own failure
        # records of a function that never ran: a line saying so, not an empty table
        code, out, err = await _cli(url, home, "fn", "invocations", "nosuch")
        assert code == 0 and out.strip() == "no invocation records of nosuch", (code, out, err)
