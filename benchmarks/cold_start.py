"""Cold starts of a numpy handler: the template (zygote) fork against a plain interpreter spawn.

Why: Tessera's local platform keeps one pre-forked template per function
version that has already imported the handler, so a cold start is one
`fork()` instead of a new interpreter that imports numpy again. The issue's
goals: cold start p50 <= 20 ms with the template, and >= 5x faster than a
plain spawn.

Two parts, both with `benchmarks/fixtures/numpy-fn` (numpy imported at module
level) and one BLAS/OpenMP thread in every process started here:

1. Instance start, through `tessera.platforms.local.instances`: `--forks`
   times `Template.spawn()` and `--spawns` times `spawn_plain()`. The cold
   start is the worker's `cold_start_s`: from the start request to the
   worker's `ready` message. Each worker then answers one request (checked)
   and is closed before the next start, so starts do not overlap.
2. End to end through the gateway: `tessera up` with a KPA autoscaler that
   scales to zero quickly, the function deployed with `scale: {min: 0}`, and
   `--invocations` requests, each sent only once the function is back at zero
   instances. For each: the `x-tessera-cold-start-ms` header (the platform's
   own cold start: spawn request -> ready), the client's time to the first
   response, and the stored invocation record (`cold`, `cold_start_s`).

    python benchmarks/cold_start.py [--forks N] [--spawns N] [--invocations N]
        [--no-gateway] [--json]

Prints p50/p90 per method, the spawn/fork ratio and the goals' status.
"""

from __future__ import annotations

import os

# One BLAS/OpenMP thread here and (through the inherited environment) in every process started.
BLAS_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
os.environ.update(BLAS_ENV)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from harness import HOST, free_port, http, stop, wait_until  # noqa: E402
from tessera.platforms.local.instances import Launch, Template, Worker, spawn_plain  # noqa: E402

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "numpy-fn"
FUNCTION = "numpy-fn"
BIN = Path(sys.executable).parent  # the virtualenv's scripts (tessera)

P50_GOAL_MS = 20.0
SPEEDUP_GOAL = 5.0
KPA = {"kind": "kpa", "stable_window_s": 2, "scale_to_zero_grace_s": 0}
INTERVAL_S = 0.25


def pct(xs: list[float], q: float) -> float:
    """The q-th percentile (linear interpolation), 0 <= q <= 100."""
    s = sorted(xs)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary_ms(xs_s: list[float]) -> dict[str, float]:
    ms = [1000 * x for x in xs_s]
    return {
        "n": len(ms),
        "p50_ms": pct(ms, 50),
        "p90_ms": pct(ms, 90),
        "min_ms": min(ms, default=float("nan")),
        "max_ms": max(ms, default=float("nan")),
        "mean_ms": statistics.fmean(ms) if ms else float("nan"),
    }


# --- part 1: instance starts --------------------------------------------------------------------
async def first_call(w: Worker, i: int) -> float:
    """One request to a fresh worker; returns seconds from its start request to the reply."""
    inv = f"cold-{i}"
    meta, body = await w.call(inv, {"id": inv, "deadline": 0}, b'{"n": 8}', 10.0)
    if meta.get("status") != 200 or json.loads(body).get("sum") != 28.0:
        raise RuntimeError(f"unexpected reply from worker {w.pid}: {meta} {body!r}")
    return time.time() - w.spawn_s


async def starts(launch: Launch, n: int, fork: bool) -> dict[str, Any]:
    """`n` sequential cold starts; each worker answers one request, then is closed."""
    ready: list[float] = []
    first: list[float] = []
    template = Template(launch) if fork else None
    live: list[Worker] = []
    template_s = 0.0
    try:
        if template is not None:
            t0 = time.perf_counter()
            await template.start()
            template_s = time.perf_counter() - t0
        for i in range(n):
            w = await (template.spawn() if template is not None else spawn_plain(launch))
            live.append(w)
            ready.append(w.cold_start_s)
            first.append(await first_call(w, i))
            w.close()  # EOF on its socket: the worker runs stop() and exits
            if w.proc is not None:  # a plain-spawned worker: wait for its exit before the next
                await asyncio.to_thread(w.proc.wait, 10)
            else:
                await asyncio.sleep(0.01)  # let the forked child exit and be reaped
            live.remove(w)
    finally:
        for w in live:  # only on errors: end what is left, by pid
            w.kill()
            if w.proc is not None and w.proc.poll() is None:
                w.proc.kill()
                w.proc.wait()
        if template is not None:
            template.stop()
    out: dict[str, Any] = {
        "ready": summary_ms(ready),
        "first_response": summary_ms(first),
        "ready_ms_all": [round(1000 * x, 3) for x in ready],
    }
    if template is not None:
        out["template_start_ms"] = 1000 * template_s
    return out


def launch_for(code_dir: Path, work: Path) -> Launch:
    return Launch(
        function=FUNCTION,
        version=1,
        code_dir=code_dir,
        handler="main.handle",
        env=dict(BLAS_ENV),
        log_path=work / "logs" / f"{FUNCTION}.log",
    )


# --- part 2: through the gateway ----------------------------------------------------------------
def gateway(code_dir: Path, work: Path, n: int, log: Any) -> dict[str, Any]:
    port = free_port()
    base = f"http://{HOST}:{port}"
    cmd = [
        str(BIN / "tessera"),
        "up",
        "--port",
        str(port),
        "--home",
        str(work / "home"),
        "--autoscaler",
        json.dumps(KPA),
        "--interval",
        str(INTERVAL_S),
        "--insecure-no-sandbox",  # the unsandboxed path; benchmarks/sandbox_overhead.py compares
    ]
    env = {**os.environ, **BLAS_ENV}
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(proc, "tessera up", lambda: http("GET", base + "/healthz")[0] == 200)
        token = (work / "home" / "admin.token").read_text().strip()  # /system needs it
        env["TESSERA_TOKEN"] = token
        subprocess.run(
            [str(BIN / "tessera"), "fn", "deploy", str(code_dir), "--gateway", base],
            check=True,
            capture_output=True,
            timeout=120,
            env=env,
        )

        def at_zero() -> bool:
            d = json.loads(http("GET", f"{base}/system/functions/{FUNCTION}", token=token)[2])
            return bool(d["instances"] == 0 and d["starting"] == 0)

        header_ms: list[float] = []
        client_s: list[float] = []
        zero_wait_s: list[float] = []
        warm = 0
        for i in range(n):
            zero_wait_s.append(wait_until(proc, "scale to zero", at_zero, timeout_s=60))
            t0 = time.perf_counter()
            status, headers, body = http("POST", f"{base}/function/{FUNCTION}", b'{"n": 8}')
            client_s.append(time.perf_counter() - t0)
            if status != 200:
                raise RuntimeError(f"invocation {i} answered {status}: {body[:200]!r}")
            if "x-tessera-cold-start-ms" in headers:
                header_ms.append(float(headers["x-tessera-cold-start-ms"]))
            else:
                warm += 1
        _, _, raw = http(
            "GET", f"{base}/system/invocations?function={FUNCTION}&limit={n + 10}", token=token
        )
        records = json.loads(raw)
        cold = [r for r in records if r["cold"]]
        return {
            "command": " ".join(cmd),
            "invocations": n,
            "answered_warm": warm,
            "header_cold_start": summary_ms([x / 1000 for x in header_ms]),
            "client_first_response": summary_ms(client_s),
            "records_cold": len(cold),
            "record_cold_start": summary_ms([r["cold_start_s"] for r in cold]),
            "record_arrival_to_end": summary_ms([r["end_s"] - r["arrival_s"] for r in cold]),
            "record_arrival_to_start": summary_ms([r["start_s"] - r["arrival_s"] for r in cold]),
            "scale_to_zero_wait": summary_ms(zero_wait_s),
        }
    finally:
        stop(proc)


# --- report -------------------------------------------------------------------------------------
def row(name: str, s: dict[str, float]) -> str:
    return (
        f"  {name:44s} n={s['n']:<3d} p50 {s['p50_ms']:8.2f} ms   p90 {s['p90_ms']:8.2f} ms"
        f"   min {s['min_ms']:8.2f}   max {s['max_ms']:8.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--forks", type=int, default=30, help="cold starts from the template")
    p.add_argument("--spawns", type=int, default=10, help="cold starts as fresh interpreters")
    p.add_argument("--invocations", type=int, default=10, help="cold invocations via the gateway")
    p.add_argument("--no-gateway", action="store_true", help="skip the end-to-end part")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = p.parse_args(argv)
    if args.forks < 1 or args.spawns < 1 or args.invocations < 1:
        p.error("--forks, --spawns and --invocations must be >= 1")

    load_before = os.getloadavg()  # other work on the machine skews the numbers
    with tempfile.TemporaryDirectory(prefix="tessera-cold-") as tmp:
        work = Path(tmp)
        code_dir = work / FUNCTION
        shutil.copytree(FIXTURE, code_dir, ignore=shutil.ignore_patterns("__pycache__"))
        launch = launch_for(code_dir, work)
        fork = asyncio.run(starts(launch, args.forks, fork=True))
        spawn = asyncio.run(starts(launch, args.spawns, fork=False))
        e2e = None
        if not args.no_gateway:
            with open(work / "gateway.log", "wb") as log:
                e2e = gateway(code_dir, work, args.invocations, log)

    f50, s50 = fork["ready"]["p50_ms"], spawn["ready"]["p50_ms"]
    speedup = s50 / f50
    numpy_version = importlib.metadata.version("numpy")  # what the handler imports (same venv)
    out = {
        "machine": {
            "python": platform.python_version(),
            "numpy": numpy_version,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_before": load_before,
        },
        "template_fork": fork,
        "plain_spawn": spawn,
        "speedup_p50": speedup,
        "gateway": e2e,
        "goals": {"fork_p50_le_20ms": f50 <= P50_GOAL_MS, "speedup_ge_5x": speedup >= SPEEDUP_GOAL},
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(
        f"cold starts of {FUNCTION} (numpy {numpy_version} imported at module level), "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; one BLAS thread; "
        f"load average before {load_before[0]:.2f}"
    )
    print(
        f"template start (interpreter + handler import, once): {fork['template_start_ms']:.1f} ms"
    )
    print("spawn request -> worker ready:")
    print(row("template fork", fork["ready"]))
    print(row("plain spawn (fresh interpreter)", spawn["ready"]))
    print("spawn request -> first response from the new worker:")
    print(row("template fork", fork["first_response"]))
    print(row("plain spawn (fresh interpreter)", spawn["first_response"]))
    if e2e is not None:
        print(
            f"through the gateway ({e2e['invocations']} invocations, each after scale to zero; "
            f"{e2e['answered_warm']} answered warm; {e2e['records_cold']} cold records):"
        )
        print(row("x-tessera-cold-start-ms header", e2e["header_cold_start"]))
        print(row("record cold_start_s", e2e["record_cold_start"]))
        print(row("record arrival -> start (wait for instance)", e2e["record_arrival_to_start"]))
        print(row("record arrival -> end", e2e["record_arrival_to_end"]))
        print(row("client: request -> first response", e2e["client_first_response"]))
        print(row("wait for scale to zero before each", e2e["scale_to_zero_wait"]))
    ok50 = "MET" if f50 <= P50_GOAL_MS else "MISSED"
    oks = "MET" if speedup >= SPEEDUP_GOAL else "MISSED"
    print(
        f"summary: fork p50 {f50:.2f} ms (goal <= {P50_GOAL_MS:g} ms: {ok50}); plain spawn p50 "
        f"{s50:.1f} ms; spawn/fork = {speedup:.1f}x (goal >= {SPEEDUP_GOAL:g}x: {oks})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
