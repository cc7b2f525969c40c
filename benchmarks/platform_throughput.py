"""Warm latency and throughput of Tessera's local gateway against functions-framework.

Why: the platform's gateway sits on every invocation, so its per-request cost
must stay small next to the servers people already use for Python functions.
The issue's goals: Tessera >= 1.5x the throughput of Google's
functions-framework at equal concurrency, and a p50 overhead <= 1 ms over a
direct in-process call of the handler.

Both sides serve the same trivial JSON echo handler (`benchmarks/fixtures/`),
one server at a time, on 127.0.0.1, loaded by `wrk` from outside the server
processes (POST of a small JSON body over keep-alive connections):

* Tessera: `tessera up --autoscaler '{"kind":"fixed","replicas":R}'` and the
  function deployed with `scale: {min: R, max: R}` (R worker processes behind
  one gateway process).
* functions-framework, as shipped: `functions-framework --target handle
  --source main.py`, which runs gunicorn (one worker process, gthread, 4 x CPU
  threads; see `functions_framework/_http/gunicorn.py`).
* functions-framework with `WORKERS=R`: the same gunicorn with R worker
  processes, i.e. as many handler processes as Tessera's R replicas (the
  equal-resources comparison).

For each server: a warm-up run, then `wrk -t1 -cN -dS` (throughput and
latency under load, plus the CPU time all the server's processes used per
request, from /proc) and `wrk -t1 -c1 -dS` (latency of one request at a time).
With `--pin split` (the default where the machine has >= 2 CPUs) wrk runs on
CPU 0 and every server process on the other CPUs, so the load generator does
not steal the server's CPU and both servers get the same cores; on a 2-CPU
machine that is ONE core, shared by Tessera's gateway and its workers. `--pin
none` lets the scheduler place everything; expect much more noise then (with
WORKERS > 1 gunicorn's workers race for the keep-alive connections at
connect time, so one worker may end up holding most of them).

The "direct call" is the handler called in a loop in this process; Tessera's
p50 at concurrency 1 minus it is the overhead the goal bounds. Numbers are
only comparable on an otherwise idle machine: the load average is reported.

    python benchmarks/platform_throughput.py [--duration S] [--connections N]
        [--replicas R] [--repeat K] [--pin split|none] [--json]

Prints a table and a summary line with the ratio Tessera / functions-framework
(as shipped) at N connections and the goals' status. With `--repeat K` every
server is measured K times (rounds interleave the servers) and medians are
reported.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import HOST, children, free_port, http, stop, wait_until

FIXTURES = Path(__file__).resolve().parent / "fixtures"
BIN = Path(sys.executable).parent  # the virtualenv's scripts (tessera, functions-framework)

BODY = '{"x":1,"msg":"hello","items":[1,2,3]}'
THROUGHPUT_GOAL = 1.5
OVERHEAD_GOAL_MS = 1.0
WARMUP_S = 2.0
BLAS_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# wrk's Lua hooks: POST the JSON body; at the end print one machine-readable line.
WRK_LUA = """
wrk.method = "POST"
wrk.body = '__BODY__'
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%.0f,"duration_us":%.0f,"connect":%.0f,"read":%.0f,' ..
    '"write":%.0f,"status":%.0f,"timeout":%.0f,"p50_us":%.1f,"p90_us":%.1f,' ..
    '"p99_us":%.1f,"mean_us":%.1f,"max_us":%.1f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
""".replace("__BODY__", BODY)


@dataclass
class Load:
    """One wrk run."""

    connections: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    requests: int
    errors: int  # socket errors plus non-2xx/3xx answers


@dataclass
class Measurement:
    """One server's runs in one round."""

    server: str
    load: Load
    single: Load
    cpu_us_per_request: float  # CPU of all the server's processes during the load run


@dataclass
class ServerInfo:
    name: str
    command: str
    config: str
    observed: dict[str, Any] = field(default_factory=dict)


# --- processes ------------------------------------------------------------------------------
@contextlib.contextmanager
def started(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `cmd` for the duration of the block; it is always ended (by its pid) afterwards."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop(proc)


def threads(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (its own threads, not its children)."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def taskset(cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus] if cpus else []


# --- servers --------------------------------------------------------------------------------
@contextlib.contextmanager
def tessera(
    work: Path, replicas: int, cpus: str | None
) -> Iterator[tuple[str, ServerInfo, subprocess.Popen[bytes]]]:
    fn = work / "echo-fn"
    if not fn.exists():
        shutil.copytree(FIXTURES / "echo-fn", fn)
        manifest = (fn / "function.yaml").read_text()
        manifest = manifest.replace(
            "scale: {min: 2, max: 2}", f"scale: {{min: {replicas}, max: {replicas}}}"
        )
        (fn / "function.yaml").write_text(manifest)
    port = free_port()
    home = work / f"home-{port}"
    base = f"http://{HOST}:{port}"
    autoscaler = json.dumps({"kind": "fixed", "replicas": replicas})
    cmd = [
        *taskset(cpus),
        str(BIN / "tessera"),
        "up",
        "--port",
        str(port),
        "--home",
        str(home),
        "--autoscaler",
        autoscaler,
        "--interval",
        "1",
        "--insecure-no-sandbox",  # the unsandboxed path; benchmarks/sandbox_overhead.py compares
    ]
    env = {**os.environ, **BLAS_ENV}
    with started(cmd, env, work / "tessera.log") as proc:
        wait_until(proc, "tessera up", lambda: http("GET", base + "/healthz")[0] == 200)
        token = (home / "admin.token").read_text().strip()  # /system needs the admin token
        env["TESSERA_TOKEN"] = token
        subprocess.run(
            [str(BIN / "tessera"), "fn", "deploy", str(fn), "--gateway", base],
            check=True,
            capture_output=True,
            timeout=120,
            env=env,
        )

        def ready() -> bool:
            _, _, body = http("GET", base + "/system/functions/echo-fn", token=token)
            return bool(json.loads(body)["instances"] == replicas)

        wait_until(proc, "echo-fn instances", ready)
        info = ServerInfo(
            "tessera",
            " ".join(cmd[len(taskset(cpus)) :]),
            f"uvicorn+uvloop+httptools gateway (1 process), {replicas} worker process(es), "
            "concurrency 1 each",
        )
        yield base + "/function/echo-fn", info, proc


def ff_defaults(env: dict[str, str]) -> tuple[int, int, str]:
    """What functions-framework's GunicornApplication picks (functions_framework/_http/gunicorn.py).

    workers = $WORKERS or 1; threads = $THREADS or 4 x os.cpu_count(); gunicorn turns its
    default `sync` worker class into `gthread` when threads > 1; timeout = 0 (none).
    """
    n_workers = int(env.get("WORKERS", "1"))
    n_threads = int(env.get("THREADS", str((os.cpu_count() or 1) * 4)))
    return n_workers, n_threads, "gthread" if n_threads > 1 else "sync"


@contextlib.contextmanager
def functions_framework(
    work: Path, workers: int | None, cpus: str | None
) -> Iterator[tuple[str, ServerInfo, subprocess.Popen[bytes]]]:
    port = free_port()
    url = f"http://{HOST}:{port}/"
    source = FIXTURES / "echo-ff" / "main.py"
    cmd = [
        *taskset(cpus),
        str(BIN / "functions-framework"),
        "--target",
        "handle",
        "--source",
        str(source),
        "--host",
        HOST,
        "--port",
        str(port),
    ]
    env = {**os.environ, **BLAS_ENV}
    env.pop("WORKERS", None)
    name = "functions-framework"
    if workers is not None:
        env["WORKERS"] = str(workers)
        name += f" WORKERS={workers}"
    n_workers, n_threads, kind = ff_defaults(env)
    with started(cmd, env, work / "ff.log") as proc:
        wait_until(proc, name, lambda: http("POST", url, BODY.encode())[0] == 200, timeout_s=60)
        info = ServerInfo(
            name,
            (f"WORKERS={workers} " if workers else "") + " ".join(cmd[len(taskset(cpus)) :]),
            f"gunicorn {n_workers} worker process(es) x {n_threads} threads ({kind}), "
            "Flask (werkzeug) app",
        )
        yield url, info, proc


# --- load -----------------------------------------------------------------------------------
def wrk(url: str, connections: int, duration_s: float, script: Path, cpus: str | None) -> Load:
    cmd = [
        *taskset(cpus),
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 60)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    r = json.loads(line[len("WRKJSON ") :])
    errors = int(r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"])
    return Load(
        connections=connections,
        rps=r["requests"] / (r["duration_us"] / 1e6),
        p50_ms=r["p50_us"] / 1000,
        p90_ms=r["p90_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        mean_ms=r["mean_us"] / 1000,
        max_ms=r["max_us"] / 1000,
        requests=int(r["requests"]),
        errors=errors,
    )


def observe(proc: subprocess.Popen[bytes], server: str) -> dict[str, Any]:
    """Processes and threads the server runs with, read from /proc after the load."""
    root = proc.pid
    if server == "tessera":
        # tessera up -> gateway process; its children: the function's template (zygote), whose
        # children are the forked workers.
        kids = children(root)
        workers = [w for k in kids for w in children(k)]
        return {
            "gateway_pid": root,
            "gateway_threads": threads(root),
            "templates": len(kids),
            "workers": len(workers),
            "worker_threads": [threads(w) for w in workers],
        }
    workers = children(root)  # functions-framework is the gunicorn arbiter
    return {
        "arbiter_pid": root,
        "workers": len(workers),
        "worker_threads": [threads(w) for w in workers],
    }


def cpu_tree(pid: int) -> float:
    """CPU seconds of a process and its descendants that are alive now."""
    total = cpu_seconds(pid)
    for k in children(pid):
        total += cpu_tree(k)
    return total


def measure(
    name: str,
    server: contextlib.AbstractContextManager[tuple[str, ServerInfo, subprocess.Popen[bytes]]],
    args: argparse.Namespace,
    script: Path,
    wrk_cpus: str | None,
) -> tuple[Measurement, ServerInfo]:
    with server as (url, info, proc):
        wrk(url, args.connections, WARMUP_S, script, wrk_cpus)
        cpu0 = cpu_tree(proc.pid)
        load = wrk(url, args.connections, args.duration, script, wrk_cpus)
        cpu1 = cpu_tree(proc.pid)
        info.observed = observe(proc, name)
        single = wrk(url, 1, args.duration, script, wrk_cpus)
    cpu_us = 1e6 * (cpu1 - cpu0) / max(1, load.requests)
    return Measurement(info.name, load, single, cpu_us), info


# --- the direct in-process call -------------------------------------------------------------
def direct_call(n: int = 200_000) -> dict[str, float]:
    """Per-call time of the handler called in this process (bare, and with JSON in and out)."""
    spec = importlib.util.spec_from_file_location("echo_fn_main", FIXTURES / "echo-fn" / "main.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handle = module.handle
    body = BODY.encode()
    event = json.loads(body)

    def bare() -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            handle(event, None)
        return (time.perf_counter() - t0) / n

    def with_json() -> float:
        dumps, loads = json.dumps, json.loads
        t0 = time.perf_counter()
        for _ in range(n):
            dumps(handle(loads(body), None), separators=(",", ":")).encode()
        return (time.perf_counter() - t0) / n

    return {
        "bare_ms": 1000 * min(bare() for _ in range(3)),
        "json_ms": 1000 * min(with_json() for _ in range(3)),
    }


# --- report ---------------------------------------------------------------------------------
def median_load(loads: list[Load]) -> Load:
    def med(attr: str) -> float:
        return float(statistics.median(getattr(x, attr) for x in loads))

    return Load(
        connections=loads[0].connections,
        rps=med("rps"),
        p50_ms=med("p50_ms"),
        p90_ms=med("p90_ms"),
        p99_ms=med("p99_ms"),
        mean_ms=med("mean_ms"),
        max_ms=med("max_ms"),
        requests=sum(x.requests for x in loads),
        errors=sum(x.errors for x in loads),
    )


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measured wrk run")
    p.add_argument("--connections", type=int, default=16, help="wrk connections under load")
    p.add_argument("--replicas", type=int, default=2, help="Tessera worker processes")
    p.add_argument("--repeat", type=int, default=1, help="rounds; medians are reported")
    p.add_argument(
        "--pin",
        choices=("split", "none"),
        default="split" if (os.cpu_count() or 1) >= 2 else "none",
        help="split: wrk on CPU 0, servers on the others; none: no pinning",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = p.parse_args(argv)
    if args.duration <= 0 or args.connections < 1 or args.replicas < 1 or args.repeat < 1:
        p.error("--duration > 0, --connections >= 1, --replicas >= 1, --repeat >= 1")
    if shutil.which("wrk") is None:
        p.error("wrk is not installed (Debian: apt-get install -y wrk)")
    ncpu = os.cpu_count() or 1
    wrk_cpus = server_cpus = None
    if args.pin == "split":
        wrk_cpus, server_cpus = "0", f"1-{ncpu - 1}" if ncpu > 2 else "1"

    load_before = os.getloadavg()  # other work on the machine skews every number below
    direct = direct_call()
    results: dict[str, list[Measurement]] = {}
    infos: dict[str, ServerInfo] = {}
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp:
        work = Path(tmp)
        script = work / "post.lua"
        script.write_text(WRK_LUA)
        for rnd in range(args.repeat):
            servers = [
                ("tessera", tessera(work, args.replicas, server_cpus)),
                ("functions-framework", functions_framework(work, None, server_cpus)),
                ("ff-workers", functions_framework(work, args.replicas, server_cpus)),
            ]
            for key, server in servers:
                if not args.json:
                    print(f"round {rnd + 1}/{args.repeat}: {key} ...", file=sys.stderr)
                m, info = measure(key, server, args, script, wrk_cpus)
                results.setdefault(key, []).append(m)
                infos[key] = info

    summary = {
        k: (median_load([m.load for m in v]), median_load([m.single for m in v]))
        for k, v in results.items()
    }
    cpu_us = {k: statistics.median(m.cpu_us_per_request for m in v) for k, v in results.items()}
    t_load, t_single = summary["tessera"]
    ff_load, _ = summary["functions-framework"]
    fw_load = summary["ff-workers"][0]
    ratio = t_load.rps / ff_load.rps
    ratio_workers = t_load.rps / fw_load.rps
    overhead_ms = t_single.p50_ms - direct["bare_ms"]
    errors = sum(a.errors + b.errors for a, b in summary.values())
    out = {
        "machine": {
            "python": platform.python_version(),
            "cpus": ncpu,
            "platform": platform.platform(),
            "pin": {"wrk": wrk_cpus, "servers": server_cpus},
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "params": {
            "duration_s": args.duration,
            "connections": args.connections,
            "replicas": args.replicas,
            "repeat": args.repeat,
            "body": BODY,
        },
        "direct_call": direct,
        "servers": {k: asdict(v) for k, v in infos.items()},
        "runs": {k: [asdict(m) for m in v] for k, v in results.items()},
        "median": {
            k: {"load": asdict(a), "single": asdict(b), "cpu_us_per_request": cpu_us[k]}
            for k, (a, b) in summary.items()
        },
        "ratio_rps_vs_ff": ratio,
        "ratio_rps_vs_ff_workers": ratio_workers,
        "p50_overhead_ms": overhead_ms,
        "goals": {
            "throughput_ratio_ge_1_5": ratio >= THROUGHPUT_GOAL,
            "p50_overhead_le_1ms": overhead_ms <= OVERHEAD_GOAL_MS,
        },
        "errors": errors,
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(
            f"loopback, {ncpu} CPUs, wrk -t1 on CPU {wrk_cpus or 'any'}, servers on "
            f"CPU {server_cpus or 'any'}; {args.duration:g} s per run, median of {args.repeat} "
            f"round(s); body {len(BODY)} B JSON; load average before {load_before[0]:.2f}"
        )
        for k, info in infos.items():
            print(f"  {k}: {info.config}\n      $ {info.command}\n      observed {info.observed}")
        n = args.connections
        rows = [
            [
                "server",
                f"req/s c={n}",
                "p50 ms",
                "p99 ms",
                "CPU us/req",
                "req/s c=1",
                "p50 ms",
                "p99 ms",
                "errors",
            ]
        ]
        for k, (a, b) in summary.items():
            rows.append(
                [
                    k,
                    f"{a.rps:,.0f}",
                    f"{a.p50_ms:.2f}",
                    f"{a.p99_ms:.2f}",
                    f"{cpu_us[k]:.0f}",
                    f"{b.rps:,.0f}",
                    f"{b.p50_ms:.3f}",
                    f"{b.p99_ms:.3f}",
                    str(a.errors + b.errors),
                ]
            )
        print(table(rows))
        print(
            f"direct in-process call of the handler: {1000 * direct['bare_ms']:.3f} us "
            f"(with json.loads/dumps around it: {1000 * direct['json_ms']:.3f} us)"
        )
        met = "MET" if ratio >= THROUGHPUT_GOAL else "MISSED"
        met_o = "MET" if overhead_ms <= OVERHEAD_GOAL_MS else "MISSED"
        print(
            f"summary: Tessera/functions-framework = {ratio:.2f}x req/s at c={n} "
            f"(goal >= {THROUGHPUT_GOAL}x: {met}); vs functions-framework WORKERS="
            f"{args.replicas}: {ratio_workers:.2f}x; Tessera p50 at c=1 minus direct call = "
            f"{overhead_ms:.3f} ms (goal <= {OVERHEAD_GOAL_MS:g} ms: {met_o}); "
            f"errors: {errors}"
        )
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
