"""JavaScript (Node.js 20) and C (WASI, wasmtime) functions on the local platform, end to end.

Same contract as the Python tests in test_local_platform.py: deploy a folder, invoke through
the gateway, check bodies, status codes, errors, timeouts (the worker is killed and replaced),
concurrency and the conformance report by language. C functions are compiled with the
`ziglang` wheel when they are packed.
"""

from __future__ import annotations

import asyncio
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tessera.conformance import run
from tessera.functions.examples import example
from tessera.functions.package import pack_dir
from tests.platforms.helpers import (
    async_test,
    deploy,
    deploy_raw,
    invoke,
    pid_alive,
    platform,
    record_of,
    wait_for,
)

pytestmark = [
    pytest.mark.xdist_group("languages"),
    pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js 20 (`node`)"),
]

# Tests that follow one instance run it alone: under the KPA a busy first instance asks for a
# second (1 in flight / 0.7 target), and the later scale back to one may retire either.
ONE = {"kind": "fixed", "replicas": 1}

JS = """
"use strict";
const { Response } = require("tessera");

const STATE = { started: 0, active: 0, most: 0 };

module.exports.start = async (config) => { STATE.started += 1; STATE.config = config; };

module.exports.handle = async (event, context) => {
  if (Buffer.isBuffer(event)) return Buffer.from(event).reverse();
  if (event.raise) { const e = new TypeError(event.raise); throw e; }
  if (event.sleep) await new Promise((r) => setTimeout(r, event.sleep * 1000));
  if (event.text) return event.text;
  if (event.none) return null;
  if (event.respond) {
    const r = event.respond;
    return new Response(r.body, { status: r.status, headers: r.headers });
  }
  if (event.together) {  // wait until `together` calls are in this process at once
    STATE.active += 1;
    STATE.most = Math.max(STATE.most, STATE.active);
    while (STATE.most < event.together && context.remainingMs() > 500) {
      await new Promise((r) => setTimeout(r, 10));
    }
    STATE.active -= 1;
  }
  return {
    echo: event, pid: process.pid, function: context.function, version: context.version,
    invocation: context.invocationId, remaining: context.remainingMs(), most: STATE.most,
    started: STATE.started, config: STATE.config, ct: context.contentType,
  };
};
"""

C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tessera.h"

static int started = 0;

int start(const char *config, size_t len, tessera_context *ctx) {
    started += 1;
    return 0;
}

int handle(const char *event, size_t len, tessera_context *ctx) {
    char id[64], name[64], ct[64], out[512];
    if (strstr(event, "\"fail\"")) { tessera_fail(ctx, "KeyError", "no such thing"); return 1; }
    if (strstr(event, "\"rc\"")) return 7;
    if (strstr(event, "\"trap\"")) abort();
    if (strstr(event, "\"sleep\"")) sleep(3);
    if (strstr(event, "\"teapot\"")) {
        tessera_set_status(ctx, 418);
        tessera_header(ctx, "x-kind", "teapot");
        tessera_header(ctx, "content-type", "text/plain");
        tessera_write(ctx, "short and stout");
        return 0;
    }
    if (strstr(event, "\"empty\"")) return 0;
    size_t n = tessera_invocation_id(ctx, id, sizeof id - 1); id[n] = 0;
    n = tessera_function_name(ctx, name, sizeof name - 1); name[n] = 0;
    n = tessera_content_type(ctx, ct, sizeof ct - 1); ct[n] = 0;
    char agent[64] = "";
    int64_t an = tessera_request_header(ctx, "x-agent", 7, agent, sizeof agent - 1);
    if (an >= 0) agent[an] = 0;
    snprintf(out, sizeof out,
             "{\"id\": \"%s\", \"function\": \"%s\", \"ct\": \"%s\", \"json\": %d, "
             "\"remaining\": %lld, \"version\": %d, \"started\": %d, \"agent\": \"%s\", "
             "\"len\": %zu}",
             id, name, ct, tessera_event_is_json(ctx), (long long)tessera_remaining_ms(ctx),
             tessera_version(ctx), started, agent, len);
    tessera_header(ctx, "content-type", "application/json");
    tessera_write(ctx, out);
    return 0;
}
"""


def fn_dir(parent: Path, name: str, runtime: str, files: dict[str, str], **manifest: Any) -> Path:
    d = parent / name
    d.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"name": name, "runtime": runtime, "handler": "main.handle"}
    data.update(manifest)
    (d / "function.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    for file, text in files.items():
        (d / file).write_text(textwrap.dedent(text).lstrip())
    return d


# --- JavaScript -------------------------------------------------------------------------------
@async_test(90)
async def test_js_function_serves_json_bytes_text_responses_and_errors(
    home: Path, src: Path
) -> None:
    fn = fn_dir(src, "js", "nodejs20", {"main.js": JS})
    async with platform(home, autoscaler=ONE) as (_p, c):
        assert await deploy(c, fn) == {"name": "js", "version": 1}
        r = await invoke(c, "js", {"a": [1, 2], "u": "héllo 🌍"})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        assert body["echo"] == {"a": [1, 2], "u": "héllo 🌍"}
        assert (body["function"], body["version"], body["started"]) == ("js", 1, 1)
        assert body["config"] == {} and body["ct"] == "application/json"
        assert body["invocation"] == r.headers["x-tessera-invocation"]
        # Node's Date.now() counts whole milliseconds, the deadline is exact: up to 1 ms over
        assert 0 < body["remaining"] <= 30_001

        raw = await c.post(
            "/function/js", content=b"\x00ab\xff", headers={"content-type": "text/x-bin"}
        )
        assert raw.status_code == 200 and raw.content == b"\xffba\x00"
        assert raw.headers["content-type"] == "application/octet-stream"

        text = await invoke(c, "js", {"text": "plain"})
        assert text.text == "plain" and text.headers["content-type"].startswith("text/plain")
        assert (await invoke(c, "js", {"none": 1})).status_code == 204

        made = await invoke(
            c, "js", {"respond": {"body": {"m": 1}, "status": 201, "headers": {"x-a": "b"}}}
        )
        assert (made.status_code, made.headers["x-a"], made.json()) == (201, "b", {"m": 1})

        err = await invoke(c, "js", {"raise": "bad thing"})
        assert (err.status_code, err.text) == (500, "TypeError: bad thing")
        rec = await record_of(c, err.headers["x-tessera-invocation"], "js")
        assert rec["status"] == "error" and rec["error"] == "TypeError: bad thing"
        assert pid_alive(rec["instance"])  # a thrown error does not cost the instance
        bad_status = await invoke(c, "js", {"respond": {"body": 1, "status": 0, "headers": {}}})
        assert bad_status.status_code == 500 and bad_status.text.startswith("RangeError")


@async_test(90)
async def test_js_timeout_kills_the_worker_and_a_new_one_serves(home: Path, src: Path) -> None:
    fn = fn_dir(src, "js", "nodejs20", {"main.js": JS}, timeout_s=1)
    async with platform(home, autoscaler=ONE) as (_p, c):
        await deploy(c, fn)
        first = (await invoke(c, "js", {"w": 1})).json()["pid"]
        r = await invoke(c, "js", {"sleep": 4})
        assert r.status_code == 504, r.text
        rec = await record_of(c, r.headers["x-tessera-invocation"], "js")
        assert rec["status"] == "timeout" and rec["instance"] == first

        async def gone() -> bool:
            return not pid_alive(first)

        await wait_for(gone, bool, 5, f"timed-out node worker {first} to be killed")
        after = await invoke(c, "js", {"w": 2})
        assert after.status_code == 200, after.text
        assert after.json()["pid"] != first and after.json()["started"] == 1


@async_test(90)
async def test_js_worker_takes_concurrent_calls_up_to_its_concurrency(
    home: Path, src: Path
) -> None:
    fn = fn_dir(src, "js", "nodejs20", {"main.js": JS}, concurrency=4, scale={"min": 1, "max": 1})
    async with platform(home, autoscaler=ONE) as (_p, c):
        await deploy(c, fn)
        answers = await asyncio.gather(*(invoke(c, "js", {"together": 4}) for _ in range(4)))
        assert [a.status_code for a in answers] == [200] * 4
        bodies = [a.json() for a in answers]
        assert len({b["pid"] for b in bodies}) == 1  # one process ...
        assert max(b["most"] for b in bodies) == 4  # ... ran all four at once


@async_test(60)
async def test_js_deploy_refused_when_the_module_does_not_load(home: Path, src: Path) -> None:
    broken = fn_dir(src, "broken", "nodejs20", {"main.js": "module.exports.handle = (;\n"})
    missing = fn_dir(src, "nohandle", "nodejs20", {"main.js": "module.exports.other = 1;\n"})
    failing_start = fn_dir(
        src,
        "badstart",
        "nodejs20",
        {
            "main.js": "exports.start = () => { throw new Error('no db'); };\nexports.handle = () => 1;\n"
        },
    )
    async with platform(home) as (_p, c):
        r = await deploy_raw(c, pack_dir(broken))
        assert r.status_code == 400 and "importing 'main' failed: SyntaxError" in r.text
        r = await deploy_raw(c, pack_dir(missing))
        assert r.status_code == 400 and "main.handle is missing or not callable" in r.text
        r = await deploy_raw(c, pack_dir(failing_start))
        assert r.status_code == 400 and "Error: no db" in r.text
        assert (await c.get("/system/functions")).json() == []


# --- C / WASI ---------------------------------------------------------------------------------
@async_test(240)  # the first build of wasi-libc by zig takes ~30 s; later builds are cached
async def test_c_function_reads_its_context_and_writes_its_response(home: Path, src: Path) -> None:
    fn = fn_dir(src, "cfn", "wasi", {"main.c": C})
    async with platform(home, autoscaler=ONE) as (_p, c):
        await deploy(c, fn)  # pack_dir built main.wasm from main.c
        assert (fn / "main.wasm").is_file()
        event = b'{"x": 1}'
        r = await c.post(
            "/function/cfn",
            content=event,
            headers={"x-agent": "tests", "content-type": "application/json"},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["id"] == r.headers["x-tessera-invocation"]
        assert (body["function"], body["ct"], body["json"], body["agent"]) == (
            "cfn",
            "application/json",
            1,
            "tests",  # request headers reach the handler's context
        )
        assert (body["version"], body["started"], body["len"]) == (1, 1, len(event))
        # Node's Date.now() counts whole milliseconds, the deadline is exact: up to 1 ms over
        assert 0 < body["remaining"] <= 30_001

        raw = await c.post("/function/cfn", content=b"{not json", headers={"content-type": ""})
        assert raw.json()["json"] == 0  # what Python/JS would hand over as bytes

        tea = await invoke(c, "cfn", {"teapot": 1})
        assert (tea.status_code, tea.headers["x-kind"], tea.text) == (
            418,
            "teapot",
            "short and stout",
        )
        assert (await invoke(c, "cfn", {"empty": 1})).status_code == 204

        err = await invoke(c, "cfn", {"fail": 1})
        assert (err.status_code, err.text) == (500, "KeyError: no such thing")
        rec = await record_of(c, err.headers["x-tessera-invocation"], "cfn")
        assert rec["status"] == "error" and rec["error"] == "KeyError: no such thing"
        rc = await invoke(c, "cfn", {"rc": 1})
        assert (rc.status_code, rc.text) == (500, "Error: handle returned 7")
        assert (await invoke(c, "cfn", {"ok": 1})).json()["started"] == 1  # same instance


@async_test(240)
async def test_c_trap_and_timeout_replace_the_instance(home: Path, src: Path) -> None:
    fn = fn_dir(src, "cfn", "wasi", {"main.c": C}, timeout_s=1)
    async with platform(home, autoscaler=ONE) as (_p, c):
        await deploy(c, fn)
        ok = await invoke(c, "cfn", {"ok": 1})
        first = (await record_of(c, ok.headers["x-tessera-invocation"], "cfn"))["instance"]

        trap = await invoke(c, "cfn", {"trap": 1})
        assert trap.status_code == 500 and trap.text.startswith("Trap: "), trap.text

        async def gone(pid: int) -> None:
            async def probe() -> bool:
                return not pid_alive(pid)

            await wait_for(probe, bool, 10, f"worker {pid} to exit")

        await gone(first)  # a trapped instance is not reused
        again = await invoke(c, "cfn", {"ok": 2})
        assert again.status_code == 200, again.text
        second = (await record_of(c, again.headers["x-tessera-invocation"], "cfn"))["instance"]
        assert second != first

        slow = await invoke(c, "cfn", {"sleep": 1})
        assert slow.status_code == 504, slow.text
        await gone(second)
        last = await invoke(c, "cfn", {"ok": 3})
        assert last.status_code == 200 and last.json()["started"] == 1


@async_test(240)
async def test_examples_in_javascript_and_c_deploy_and_answer(home: Path, tmp_path: Path) -> None:
    folders = {}
    for name in ("wordcount", "checksum"):
        folders[name] = tmp_path / name
        shutil.copytree(example(name), folders[name])
    async with platform(home) as (_p, c):
        for d in folders.values():
            await deploy(c, d)
        words = await invoke(c, "wordcount", {"text": "The cat and the hat, the end"})
        assert words.status_code == 200, words.text
        assert words.json()["top"][0] == ["cat", 1] and words.json()["words"] == 3
        sums = await c.post("/function/checksum", content=b"", headers={"content-type": "x/y"})
        assert sums.json() == {"bytes": 0, "fnv1a64": "cbf29ce484222325", "function": "checksum"}


# --- conformance ------------------------------------------------------------------------------
def test_conformance_runs_every_case_in_every_language() -> None:
    report = run(["local"])
    assert set(report["languages"]) == {"python", "javascript", "c-wasi"}
    assert report["languages"]["python"] == report["platforms"]["local"]
    for lang, r in report["languages"].items():
        failures = {k: v["error"] for k, v in r["cases"].items() if not v["passed"]}
        assert r["failed"] == 0 and r["passed"] == 9, f"{lang}: {failures}"
