"""Regression tests for defects found in review: path names, response framing, redeploys."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.platforms.helpers import async_test, deploy, invoke, platform, write_function

FRAMING = """
from tessera.functions import Response


def handle(event, context):
    return Response("hello world", headers={"content-length": "2", "x-ok": "1",
                                            "transfer-encoding": "chunked"})
"""

SLOW = """
import time


def handle(event, context):
    time.sleep((event or {}).get("sleep", 0))
    return {"version": context.version}
"""


@async_test(60)
async def test_delete_with_a_path_name_is_refused_and_the_home_survives(
    home: Path, src: Path
) -> None:
    fn = write_function(src, "echo", SLOW)
    async with platform(home) as (_p, c):
        await deploy(c, fn)
        for bad in ("%2e%2e", ".", "..%2f.."):
            r = await c.request("DELETE", f"/system/functions/{bad}")
            assert r.status_code in (400, 404, 405), (bad, r.status_code, r.text)
        assert (home / "state.db").exists()
        assert (await invoke(c, "echo", {})).status_code == 200


@async_test(60)
async def test_handler_framing_headers_are_replaced_by_the_gateway(home: Path, src: Path) -> None:
    fn = write_function(src, "framing", FRAMING)
    async with platform(home) as (_p, c):
        await deploy(c, fn)
        r = await invoke(c, "framing", {})
        assert r.status_code == 200
        assert r.text == "hello world"
        assert r.headers["content-length"] == str(len("hello world"))
        assert r.headers["x-ok"] == "1"
        assert "transfer-encoding" not in r.headers


@async_test(90)
async def test_requests_queued_during_a_redeploy_are_served_by_the_new_version(
    home: Path, src: Path
) -> None:
    fn = write_function(src, "slow", SLOW, scale={"min": 1, "max": 1})
    async with platform(home, autoscaler={"kind": "fixed", "replicas": 1}) as (_p, c):
        await deploy(c, fn)
        first = asyncio.create_task(invoke(c, "slow", {"sleep": 1.0}))
        await asyncio.sleep(0.2)
        queued = [asyncio.create_task(invoke(c, "slow", {})) for _ in range(2)]
        await asyncio.sleep(0.2)
        await deploy(c, fn)  # version 2 while two requests wait for the busy instance
        results: list[httpx.Response] = await asyncio.gather(first, *queued)
        assert [r.status_code for r in results] == [200, 200, 200], [r.text for r in results]
        assert {r.json()["version"] for r in results[1:]} <= {1, 2}
