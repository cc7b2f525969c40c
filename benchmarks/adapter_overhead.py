"""What Tessera's adapters cost: each platform's runtime serving the generated entry point
for a generic function, against the same runtime serving a handler written natively for it.

Why: gFaaS measured +53% latency on OpenFaaS for its generic-function wrapper; the
issue's goal is an overhead <= 5% or <= 1 ms at p50, whichever is larger.

For each platform both sides do the same work (parse the JSON body, answer
`{"echo": body}` as JSON) in the same runtime process type, started the same way
(`serve()` of the platform's conformance target):

* adapter: `tessera fn build --platform P` output for the generic function
  `handle(event, context) -> {"echo": event}`, unchanged;
* native: the same build output with the generated entry module replaced by a
  handler written against the platform's own API (a Flask request for Cloud
  Functions and Fission, `main(args)` for OpenWhisk, `handle(event, context)`
  returning `{statusCode, body}` for OpenFaaS, func-python's `new()` with an ASGI
  `handle` for Knative, an API Gateway v2 `handler(event, context)` for Lambda,
  `handler(context, event)` for Nuclio, the FDK's `handler(ctx, data)` for Fn:
  `NATIVE` below). Ray's generated `ray_app.py` only starts Tessera's server, so
  its native side is a whole Ray app (`ray.remote` actors behind uvicorn).

Both servers run at once; requests alternate between them in blocks (so drift
and noise hit both alike), one at a time over a keep-alive connection, from
this process pinned to CPU 0 while every server process is pinned to the other
CPUs. Reported: p50/p90 per side, the p50 difference and ratio, and whether the
goal holds.

    python benchmarks/adapter_overhead.py [--requests N] [--platform P ...] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness import descendants

GENERIC = """
def handle(event, context):
    return {"echo": event}
"""

_FLASK_ECHO = """
import json

import flask


def {name}({args}):
    event = flask.request.get_json(silent=True)
    return flask.Response(json.dumps({{"echo": event}}), status=200, mimetype="application/json")
"""

# platform -> {member of the build output ("a/b.py", or "x.zip:b.py" inside a zip): source}
NATIVE: dict[str, dict[str, str]] = {
    "gcf": {"main.py": _FLASK_ECHO.format(name="tessera_entry", args="request")},
    "fission": {"{name}.zip:tessera_fission.py": _FLASK_ECHO.format(name="main", args="")},
    "openwhisk": {
        "action.zip:__main__.py": """
import json


def main(args):
    event = json.loads(args.get("__ow_body") or "null")
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"echo": event}),
    }
"""
    },
    "openfaas": {
        "{name}/handler.py": """
import json


def handle(event, context):
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"echo": json.loads(event.body or b"null")}),
    }
"""
    },
    "knative": {
        # func-python's contract: `new()` gives the object whose ASGI `handle` it calls
        "function/func.py": """
import json


class Function:
    async def handle(self, scope, receive, send):
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        out = json.dumps({"echo": json.loads(body or b"null")}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(out))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": out})


def new():
    return Function()
"""
    },
    # the server runs the deployment zip (serve() passes `--code NAME.zip`); the unzipped
    # `code/` folder (SAM's CodeUri) gets the same handler so the output stays consistent
    "awslambda": {
        member: """
import base64
import json


def handler(event, context):
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body)
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"echo": json.loads(body or "null")}),
    }
"""
        for member in ("{name}.zip:tessera_lambda.py", "code/tessera_lambda.py")
    },
    "nuclio": {
        "tessera_nuclio.py": """
import json


def handler(context, event):
    body = event.body  # the wrapper has already parsed an application/json body
    if isinstance(body, bytes | str):
        body = json.loads(body or "null")
    return context.Response(
        body=json.dumps({"echo": body}),
        headers={},
        content_type="application/json",
        status_code=200,
    )
"""
    },
    "fn": {
        # started as `python func.py` (func.yaml's entrypoint), like the generated one: the
        # FDK's own `fdk func.py handler` start, with the event loop set first (as the
        # generated file does: uvloop's policy, installed by the FDK, will not create one)
        "func.py": """
import io
import json

from fdk import response


def handler(ctx, data: io.BytesIO = None):
    event = json.loads(data.getvalue() or b"null")
    return response.Response(
        ctx,
        response_data=json.dumps({"echo": event}),
        headers={"Content-Type": "application/json"},
        status_code=200,
    )


if __name__ == "__main__":
    import asyncio

    import fdk
    from fdk import customer_code

    asyncio.set_event_loop(asyncio.new_event_loop())
    fdk.handle(customer_code.Function(__file__, "handler"))
"""
    },
    "ray": {
        # the generated ray_app.py only calls Tessera's server (nothing of the user's to swap),
        # so the native side is a whole Ray app: `ray.remote` actors behind the same kind of
        # ASGI front on uvicorn, with as many actors as the generated app's pool (scale.max 10)
        "ray_app.py": """
import argparse
import json

import ray
import uvicorn

REPLICAS = 10


@ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0)
class Echo:
    def call(self, body):
        return json.dumps({"echo": json.loads(body or b"null")}).encode()


class App:
    def __init__(self, actors):
        self.actors = actors
        self.busy = [0] * len(actors)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["path"] == "/healthz":
            status, content_type, out = 200, b"text/plain", b"ok"
        else:
            i = min(range(len(self.actors)), key=self.busy.__getitem__)
            self.busy[i] += 1
            try:
                out = await self.actors[i].call.remote(body)
            finally:
                self.busy[i] -= 1
            status, content_type = 200, b"application/json"
        headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(out))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": out})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--address", default=None)
    a = p.parse_args()
    if a.address:
        ray.init(address=a.address, log_to_driver=False)
    else:
        ray.init(include_dashboard=False, log_to_driver=False)
    actors = [Echo.remote() for _ in range(REPLICAS)]
    ray.get([actor.call.remote(b"null") for actor in actors])  # every actor up first
    try:
        uvicorn.run(App(actors), host=a.host, port=a.port, log_level="warning", lifespan="off")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
"""
    },
}


def _replace(out: Path, member: str, source: str) -> None:
    """Overwrite one file of a build output, inside a zip when `member` is `x.zip:path`."""
    if ":" not in member:
        (out / member).write_text(source.lstrip())
        return
    archive, inner = member.split(":", 1)
    path = out / archive
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = source.lstrip().encode() if item.filename == inner else src.read(item)
            dst.writestr(item, data)
    tmp.replace(path)


def _pin_servers(before: set[int]) -> None:
    """Servers started since `before` go to CPUs 1..n-1, this process to CPU 0."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return
    for pid in set(descendants(os.getpid())) - before:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, cpus[1:])
    os.sched_setaffinity(0, cpus[:1])


@contextlib.contextmanager
def pair(platform: str, fn: Path, work: Path) -> Iterator[tuple[Any, Any]]:
    """(adapter invoke, native invoke), both serving."""
    from tessera.platforms import builder

    serve = importlib.import_module(f"tessera.conformance.targets.{platform}").serve
    adapter_out = builder(platform)(fn, work / "adapter" / platform)
    native_out = work / "native" / platform
    shutil.copytree(adapter_out, native_out)
    for member, source in NATIVE[platform].items():
        _replace(native_out, member.format(name=fn.name), source)
    (work / "adapter-log").mkdir(exist_ok=True)
    (work / "native-log").mkdir(exist_ok=True)
    before = set(descendants(os.getpid()))
    with (
        serve(adapter_out, work / "adapter-log", fn.name) as adapter,
        serve(native_out, work / "native-log", fn.name) as native,
    ):
        _pin_servers(before)
        yield adapter, native


def measure(invoke: Any, body: bytes, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        status, _h, data = invoke(body, "application/json")
        out.append(time.perf_counter() - t0)
        if status != 200 or json.loads(data) != {"echo": {"x": 1, "y": "two"}}:
            raise RuntimeError(f"wrong answer: {status} {data[:100]!r}")
    return out


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def run_platform(platform: str, fn: Path, work: Path, n: int, block: int = 50) -> dict[str, Any]:
    body = json.dumps({"x": 1, "y": "two"}).encode()
    with pair(platform, fn, work) as (adapter, native):
        measure(adapter, body, 100)  # warm both (imports, JIT-less caches, connections)
        measure(native, body, 100)
        a: list[float] = []
        b: list[float] = []
        while len(a) < n:
            a += measure(adapter, body, block)
            b += measure(native, body, block)
    p50a, p50n = statistics.median(a), statistics.median(b)
    diff = p50a - p50n
    goal = max(0.05 * p50n, 0.001)
    return {
        "platform": platform,
        "requests_per_side": len(a),
        "adapter_p50_ms": p50a * 1e3,
        "native_p50_ms": p50n * 1e3,
        "adapter_p90_ms": pct(a, 0.9) * 1e3,
        "native_p90_ms": pct(b, 0.9) * 1e3,
        "overhead_p50_ms": diff * 1e3,
        "overhead_p50_pct": 100 * diff / p50n,
        "goal_ms": goal * 1e3,
        "goal_met": diff <= goal,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--requests", type=int, default=2000, help="per side and platform")
    p.add_argument("--platform", action="append", choices=sorted(NATIVE))
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="tessera-overhead-") as tmp:
        fn = Path(tmp) / "echo"
        fn.mkdir()
        (fn / "function.yaml").write_text("name: echo\nhandler: main.handle\ntimeout_s: 10\n")
        (fn / "main.py").write_text(GENERIC.lstrip())
        for platform in a.platform or sorted(NATIVE):
            work = Path(tmp) / platform
            work.mkdir()
            rows.append(run_platform(platform, fn, work, a.requests))
            if not a.json:
                r = rows[-1]
                print(
                    f"{platform:<11} adapter p50 {r['adapter_p50_ms']:6.3f} ms  native "
                    f"{r['native_p50_ms']:6.3f} ms  overhead {r['overhead_p50_ms']:+6.3f} ms "
                    f"({r['overhead_p50_pct']:+5.1f}%)  goal <= {r['goal_ms']:.3f} ms: "
                    f"{'met' if r['goal_met'] else 'MISSED'}",
                    flush=True,
                )
    result = {"benchmark": "adapter_overhead", "load_avg": os.getloadavg(), "platforms": rows}
    if a.json:
        print(json.dumps(result, indent=2))
    return 0 if all(r["goal_met"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
