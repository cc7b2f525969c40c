"""Ray adapter: the generic handler in a pool of Ray actors, fan-out, timeouts, the app folder."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import write_function

pytestmark = pytest.mark.xdist_group("adapter-servers")

HANDLER = """
import os
import time

STATE = {"pid": None}


def start(config):
    STATE["pid"] = os.getpid()


def handle(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"x2": event.get("x", 0) * 2, "pid": STATE["pid"], "id": context.invocation_id}
"""


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    from tessera.platforms.ray.runtime import start_ray

    start_ray()
    yield
    ray.shutdown()


def test_build_writes_a_runnable_app_folder(tmp_path: Path) -> None:
    from tessera.platforms.ray import build

    fn = write_function(tmp_path / "src", "twice", HANDLER)
    out = build(fn, tmp_path / "out")
    assert (out / "function" / "main.py").read_text().lstrip().startswith("import os")
    assert "tessera.platforms.ray.server import main" in (out / "ray_app.py").read_text()
    assert "ray" in (out / "requirements.txt").read_text()


def test_fan_out_spreads_events_over_the_actors_in_order(
    tmp_path: Path, ray_instance: None
) -> None:
    from tessera.platforms.ray.runtime import RayFunction

    fn = RayFunction(write_function(tmp_path, "twice", HANDLER, scale={"min": 0, "max": 3}))
    try:
        answers = fn.map([json.dumps({"x": i}).encode() for i in range(12)])
        bodies = [json.loads(a[2]) for a in answers]
        assert [b["x2"] for b in bodies] == [2 * i for i in range(12)]
        assert len({b["pid"] for b in bodies}) == 3  # three actors, start() ran in each
    finally:
        fn.close()


def test_a_timed_out_call_kills_its_actor_and_a_fresh_one_serves(
    tmp_path: Path, ray_instance: None
) -> None:
    from tessera.platforms.ray.runtime import RayFunction

    d = write_function(tmp_path, "slow", HANDLER, scale={"min": 0, "max": 1}, timeout_s=1)
    fn = RayFunction(d)

    async def scenario() -> tuple[int, int, dict[str, int], dict[str, int]]:
        before = json.loads((await fn.invoke(b'{"x": 1}', "application/json"))[2])
        status, _h, _b, err = await fn.invoke(b'{"sleep": 5}', "application/json")
        assert "timed out" in err
        after_status, _h, body, _ = await fn.invoke(b'{"x": 2}', "application/json")
        return status, after_status, before, json.loads(body)

    try:
        status, after_status, before, after = asyncio.run(scenario())
    finally:
        fn.close()
    assert (status, after_status) == (504, 200)
    assert after["x2"] == 4 and after["pid"] != before["pid"]  # a new instance


def test_a_fan_out_is_bounded_by_the_timeout(tmp_path: Path, ray_instance: None) -> None:
    from tessera.platforms.ray.runtime import RayFunction

    d = write_function(tmp_path, "slowmap", HANDLER, scale={"min": 0, "max": 2}, timeout_s=1)
    fn = RayFunction(d)
    try:
        events = [b'{"x": 1}', b'{"sleep": 30}', b'{"x": 3}']  # the slow one is on actor 1
        t0 = time.monotonic()
        answers = fn.map(events)
        assert time.monotonic() - t0 < 10
        assert [a[0] for a in answers] == [200, 504, 200]
        assert json.loads(answers[2][2])["x2"] == 6
        again = fn.map([b'{"x": 5}', b'{"x": 6}'])  # the stuck actor was replaced
        assert [json.loads(a[2])["x2"] for a in again] == [10, 12]
    finally:
        fn.close()
