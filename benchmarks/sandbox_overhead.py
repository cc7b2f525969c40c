"""Sandbox overhead: the same function with and without the bubblewrap sandbox, one run.

Cold start (a) per instance forked from the function's template — how the platform starts
Python instances — and (b) per plain spawn — how Node/WASI instances and Python without a
template start; plus the template's own start (paid once per deploy), and warm latency
end to end through the gateway (sequential requests to the example `stats` function).
Goal (issue 12): <= 10 ms more per cold start, <= 5% more warm latency. BLAS pinned to one
thread; medians of --n cold starts and --warm requests, alternating off/bwrap per round.

    python benchmarks/sandbox_overhead.py [--n 30] [--warm 400] [--out PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from harness import write_json
from tessera.control.serve import running
from tessera.functions.examples import example
from tessera.functions.package import pack_dir
from tessera.platforms.local.instances import Launch, Template, spawn_plain
from tessera.platforms.local.sandbox import Limits, probe

RESULTS = Path(__file__).parent / "results" / "sandbox_overhead.json"
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")


async def cold(mode: str, n: int) -> dict[str, list[float]]:
    code = example("stats")
    launch = Launch("stats", 1, code, "main.handle", sandbox=mode, limits=Limits())
    out: dict[str, list[float]] = {"template_s": [], "fork_s": [], "spawn_s": []}
    t0 = time.perf_counter()
    template = Template(launch)
    await template.start()
    out["template_s"].append(time.perf_counter() - t0)
    try:
        for _ in range(n):
            w = await template.spawn()
            out["fork_s"].append(w.cold_start_s)
            w.close()
        for _ in range(n):
            w = await spawn_plain(launch)
            out["spawn_s"].append(w.cold_start_s)
            w.close()
    finally:
        template.stop()
    return out


async def warm(n: int, root: Path) -> dict[str, list[float]]:
    """Both platforms up at once; requests alternate between them (drift hits both alike)."""
    auto = {"kind": "fixed", "replicas": 1}
    body = {"values": [1, 2, 3, 4]}
    async with (
        running(root / "off", autoscaler=auto, interval_s=0.5, sandbox="off") as (p0, u0),
        running(root / "bwrap", autoscaler=auto, interval_s=0.5, sandbox="bwrap") as (p1, u1),
    ):
        clients = {}
        for mode, p, url in (("off", p0, u0), ("bwrap", p1, u1)):
            auth = {"Authorization": f"Bearer {p.platform.admin_token}"}
            c = httpx.AsyncClient(base_url=url, timeout=30, headers=auth)
            (
                await c.post("/system/functions", content=pack_dir(example("stats")))
            ).raise_for_status()
            for _ in range(50):  # warm up
                (await c.post("/function/stats", json=body)).raise_for_status()
            clients[mode] = c
        lat: dict[str, list[float]] = {"off": [], "bwrap": []}
        try:
            for i in range(2 * n):
                mode = ("off", "bwrap")[i % 2]
                t0 = time.perf_counter()
                (await clients[mode].post("/function/stats", json=body)).raise_for_status()
                lat[mode].append(time.perf_counter() - t0)
        finally:
            for c in clients.values():
                await c.aclose()
        return lat


def bare(n: int) -> dict[str, float]:
    """Median ms to run `true` directly and inside the sandbox (the setup cost alone)."""
    import subprocess

    from tessera.platforms.local.sandbox import command

    out = {}
    for name, cmd in (("plain", ["true"]),
                      ("bwrap", command(["true"], Path("/tmp"), Limits()))):  # fmt: skip
        xs = []
        for _ in range(n):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True)
            xs.append(time.perf_counter() - t0)
        out[name] = med_ms(xs)
    return out


def med_ms(xs: list[float]) -> float:
    return round(1000 * statistics.median(xs), 3)


async def main_async(a: argparse.Namespace) -> dict[str, Any]:
    why = probe()
    if why is not None:
        raise SystemExit(f"cannot measure the sandbox here: {why}")
    res: dict[str, Any] = {"cold": {}, "warm_ms": {}}
    cold_runs: dict[str, dict[str, list[float]]] = {m: {} for m in ("off", "bwrap")}
    warm_runs: dict[str, list[float]] = {"off": [], "bwrap": []}
    with tempfile.TemporaryDirectory() as td:
        for r in range(a.rounds):
            for mode in ("off", "bwrap") if r % 2 == 0 else ("bwrap", "off"):
                got = await cold(mode, a.n)
                for k, v in got.items():
                    cold_runs[mode].setdefault(k, []).extend(v)
            for mode, xs in (await warm(a.warm, Path(td) / f"round-{r}")).items():
                warm_runs[mode] += xs
            print(f"round {r + 1}/{a.rounds} done", flush=True)
    for mode in ("off", "bwrap"):
        res["cold"][mode] = {k: med_ms(v) for k, v in cold_runs[mode].items()}
        res["warm_ms"][mode] = {
            "p50": med_ms(warm_runs[mode]),
            "p90": round(1000 * sorted(warm_runs[mode])[int(0.9 * len(warm_runs[mode]))], 3),
        }
    res["bare_process_ms"] = bare(3 * a.n)
    off, box = res["cold"]["off"], res["cold"]["bwrap"]
    res["overhead"] = {
        "fork_cold_ms": round(box["fork_s"] - off["fork_s"], 3),
        "spawn_cold_ms": round(box["spawn_s"] - off["spawn_s"], 3),
        "template_ms": round(box["template_s"] - off["template_s"], 3),
        "bare_process_ms": round(
            res["bare_process_ms"]["bwrap"] - res["bare_process_ms"]["plain"], 3
        ),
        "warm_p50_pct": round(
            100 * (res["warm_ms"]["bwrap"]["p50"] / res["warm_ms"]["off"]["p50"] - 1), 2
        ),
    }
    res["meta"] = {"n": a.n, "warm": a.warm, "rounds": a.rounds, "cpus": os.cpu_count()}
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=30, help="forked cold starts per round and mode")
    ap.add_argument("--warm", type=int, default=400, help="warm requests per round and mode")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()
    res = asyncio.run(main_async(a))
    write_json(a.out, res, indent=2, sort_keys=True)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
