"""A bounded soak: 10,000 mixed invocations at concurrency 32 while workers are SIGKILLed.

The accounting must hold exactly: every acknowledged invocation (a sync response, or an async
202) has one record under its id, no record is duplicated or unaccounted for, every status is
one the invocation could legitimately get, and every async invocation reaches "done".
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.platforms.helpers import (
    ECHO,
    async_test,
    deploy,
    platform,
    records,
    wait_for,
    write_function,
)

TOTAL = 10_000
CONCURRENCY = 32
KILL_EVERY_S = 0.5

# What each kind of invocation may answer; 502 when the kill hit its worker mid-request.
ALLOWED = {
    "echo": {200, 502},
    "raise": {500, 502},
    "slow": {504, 502},
}


def plan(i: int) -> tuple[str, str, dict[str, Any], bool]:
    """(kind, function, event, async?) of invocation number `i`: mostly fast echo."""
    if i % 500 == 7:
        return "slow", "slow", {"sleep": 2.0, "i": i}, i % 1000 == 7
    if i % 25 == 3:
        return "raise", "echo", {"raise": f"r{i}", "i": i}, False
    if i % 10 == 5:
        return "echo", "echo", {"i": i}, True
    return "echo", "echo", {"i": i}, False


@dataclass
class Tally:
    sync: dict[str, tuple[str, int]] = field(default_factory=dict)  # id -> (kind, status)
    asyncs: dict[str, str] = field(default_factory=dict)  # id -> kind
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    killed: list[int] = field(default_factory=list)


async def _client_loop(c: httpx.AsyncClient, todo: asyncio.Queue[int], t: Tally) -> None:
    while True:
        try:
            i = todo.get_nowait()
        except asyncio.QueueEmpty:
            return
        kind, fn, event, is_async = plan(i)
        try:
            if is_async:
                r = await c.post(f"/async-function/{fn}", json=event)
                if r.status_code != 202:
                    t.problems.append(f"#{i} async {kind}: {r.status_code} {r.text[:200]}")
                    continue
                inv = r.json()["id"]
                if inv in t.asyncs or inv in t.sync:
                    t.problems.append(f"#{i}: id {inv} handed out twice")
                t.asyncs[inv] = kind
                continue
            r = await c.post(f"/function/{fn}", json=event)
        except httpx.HTTPError as e:  # the gateway must always answer
            t.problems.append(f"#{i} {kind}: {type(e).__name__}: {e}")
            continue
        t.statuses[(kind, r.status_code)] += 1
        if r.status_code not in ALLOWED[kind]:
            t.problems.append(f"#{i} {kind}: unexpected {r.status_code} {r.text[:200]}")
        inv = r.headers.get("x-tessera-invocation")
        if inv is None:
            t.problems.append(f"#{i} {kind}: {r.status_code} without x-tessera-invocation")
            continue
        if inv in t.sync or inv in t.asyncs:
            t.problems.append(f"#{i}: id {inv} handed out twice")
        t.sync[inv] = (kind, r.status_code)


async def _killer(p: Any, stop: asyncio.Event, t: Tally) -> None:
    rng = random.Random(1234)
    while not stop.is_set():
        await asyncio.sleep(KILL_EVERY_S)
        pids = [w.pid for pool in p.platform.pools.values() for w in pool.active()]
        if not pids:
            continue
        victim = rng.choice(sorted(pids))
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            continue
        t.killed.append(victim)


@async_test(170)
async def test_soak_mixed_invocations_with_random_worker_kills(home: Path, src: Path) -> None:
    echo = write_function(src, "echo", ECHO, scale={"min": 2, "max": 8}, concurrency=4)
    slow = write_function(
        src, "slow", ECHO, scale={"min": 1, "max": 2}, concurrency=2, timeout_s=0.5
    )
    t = Tally()
    async with platform(home, interval_s=0.5, max_connections=CONCURRENCY + 8) as (p, c):
        await deploy(c, echo)
        await deploy(c, slow)
        todo: asyncio.Queue[int] = asyncio.Queue()
        for i in range(TOTAL):
            todo.put_nowait(i)
        stop = asyncio.Event()
        killer = asyncio.create_task(_killer(p, stop, t))
        try:
            await asyncio.gather(*(_client_loop(c, todo, t) for _ in range(CONCURRENCY)))
        finally:
            stop.set()
            await killer
        assert not t.problems, f"{len(t.problems)} problems, first: {t.problems[:10]}"
        assert len(t.sync) + len(t.asyncs) == TOTAL
        assert t.killed, "the killer never found a worker"

        async def async_statuses() -> dict[str, Any]:
            out: dict[str, Any] = {}
            for inv in t.asyncs:
                r = await c.get(f"/system/async/{inv}")
                out[inv] = r.json() if r.status_code == 200 else r.status_code
            return out

        def all_done(st: dict[str, Any]) -> bool:
            return all(isinstance(s, dict) and s["status"] == "done" for s in st.values())

        final = await wait_for(async_statuses, all_done, 60, "every async invocation", 0.5)
        for inv, s in final.items():
            kind = t.asyncs[inv]
            assert s["result_status"] in ALLOWED[kind], (inv, kind, s)
            assert s["attempts"] == 1, s

        rows = await records(c)
        per_id = Counter(r["id"] for r in rows)
        dupes = [k for k, n in per_id.items() if n > 1]
        assert not dupes, f"duplicate records: {dupes[:10]}"
        acked = set(t.sync) | set(t.asyncs)
        missing = acked - set(per_id)
        extra = set(per_id) - acked
        assert not missing, f"{len(missing)} acknowledged invocations have no record"
        assert not extra, f"{len(extra)} records match no acknowledged invocation"
        by_id = {r["id"]: r for r in rows}
        for inv, (kind, status) in t.sync.items():
            rec = by_id[inv]
            assert rec["kind"] == "sync" and rec["http_status"] == status, (kind, rec)
        for inv, s in final.items():
            rec = by_id[inv]
            assert rec["kind"] == "async" and rec["http_status"] == s["result_status"], rec
        statuses = Counter(r["status"] for r in rows)
        assert statuses["ok"] > TOTAL // 2, statuses
        assert statuses["error"] > 0 and statuses["timeout"] > 0, statuses
        assert set(statuses) <= {"ok", "error", "timeout", "crash"}, statuses
