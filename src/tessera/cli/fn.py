"""`tessera fn ...`: create, deploy, list, invoke, inspect and delete functions."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import typer
from rich.table import Table

from tessera.cli.client import gateway_url, name_segment, request
from tessera.cli.console import console, err_console, print_error
from tessera.core.errors import InputError
from tessera.functions.package import pack_dir

app = typer.Typer(help="Functions on the local platform (talks to the gateway).")
GatewayOpt = typer.Option(None, "--gateway", help="Gateway URL [TESSERA_GATEWAY].")


def _ok(r: object, what: str) -> None:
    import httpx

    assert isinstance(r, httpx.Response)
    if r.status_code >= 400:
        hint = ""
        if r.status_code in (401, 403):
            hint = " (set TESSERA_TOKEN, or run where `tessera up` wrote TESSERA_HOME/admin.token)"
        print_error(f"{what}: {r.text.strip()}{hint}")
        raise typer.Exit(2 if r.status_code in (400, 401, 403, 404, 405, 413) else 1)


@app.command("new")
def new(
    name: str = typer.Argument(..., help="Function name (a DNS label)."),
    directory: Path = typer.Option(Path("."), "--dir", help="Where to create NAME/."),
) -> None:
    """Create NAME/ with function.yaml and main.py, ready to deploy."""
    from tessera.functions.scaffold import new_function

    d = new_function(name, directory)
    console.print(f"created {d} (deploy with: tessera fn deploy {d})")


@app.command("build")
def build(
    directory: Path = typer.Argument(..., help="The function folder."),
    platform: str = typer.Option(..., "--platform", help="Target platform (e.g. gcf)."),
    out: Path = typer.Option(..., "--out", help="Where to write the deployable folder."),
) -> None:
    """Write the folder that PLATFORM deploys, from the unmodified function in DIRECTORY."""
    from tessera.platforms import builder

    path = builder(platform)(directory, out)
    console.print(f"built {directory} for {platform} in {path}")


@app.command("build-wasm")
def build_wasm_cmd(directory: Path = typer.Argument(..., help="The function folder.")) -> None:
    """Compile a `runtime: wasi` function's C sources (*.c) into its module (main.wasm)."""
    from tessera.functions.manifest import read_manifest
    from tessera.functions.wasm_build import build_wasm

    m = read_manifest(directory)
    if m.runtime != "wasi":
        raise InputError("function.yaml: runtime", m.runtime, "wasi (for build-wasm)")
    out = build_wasm(directory, m.handler)
    console.print(f"built {out} ({out.stat().st_size} bytes)")


@app.command("conformance")
def conformance(
    platform: list[str] | None = typer.Option(
        None, "--platform", help="Platform(s) to check (default: all)."
    ),
    language: list[str] | None = typer.Option(
        None,
        "--language",
        help="Fixture language(s) to check on the local platform: python, javascript, "
        "c-wasi, or none (default: all).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Serve the same fixture function on each platform, and the fixture written in each
    language on the local platform, for real, and check every case."""
    from tessera.conformance import run

    languages = None if not language else [x for x in language if x != "none"]
    report = run(platform, languages)
    if as_json:
        typer.echo(json.dumps(report))
    else:
        for key, title in (("platforms", "platform"), ("languages", "language (local)")):
            if not report[key]:
                continue
            t = Table(title=f"conformance by {title}")
            t.add_column(title)
            t.add_column("passed", justify="right")
            t.add_column("failed", justify="right")
            t.add_column("failures")
            for name, r in report[key].items():
                bad = [f"{c}: {v['error']}" for c, v in r["cases"].items() if not v["passed"]]
                t.add_row(name, str(r["passed"]), str(r["failed"]), "\n".join(bad))
            console.print(t)
    results = [*report["platforms"].values(), *report["languages"].values()]
    if any(r["failed"] for r in results):
        raise typer.Exit(1)


@app.command("deploy")
def deploy(
    directory: Path = typer.Argument(...),
    gateway: str | None = GatewayOpt,
    platform: str = typer.Option(
        "local", "--platform", help="local (the gateway), kubernetes, knative, awslambda, ..."
    ),
    out: Path | None = typer.Option(None, "--out", help="Keep the build output here."),
    context: str | None = typer.Option(None, "--context", help="kubeconfig context."),
) -> None:
    """Deploy (or update) the function in DIRECTORY on the local platform or on --platform."""
    if platform != "local":
        from tessera.platforms import BUILDERS
        from tessera.platforms.deploy import NotDeployable
        from tessera.platforms.deploy import deploy as deploy_to

        if platform not in BUILDERS:
            raise InputError("--platform", platform, ", ".join(["local", *sorted(BUILDERS)]))
        try:
            done = deploy_to(directory, platform, out, context)
        except NotDeployable as e:  # what this machine lacks for that platform
            print_error(f"--platform {platform}: cannot deploy from here: {e}")
            raise typer.Exit(2) from None
        for a in done:
            console.print(
                f"applied {a.kind} {a.name}" + (f" in {a.namespace}" if a.namespace else "")
            )
        return
    r = request(
        "POST",
        gateway_url(gateway),
        "/system/functions",
        content=pack_dir(directory),
        headers={"content-type": "application/gzip"},
    )
    _ok(r, "deploy")
    row = r.json()
    console.print(f"deployed {row['name']} v{row['version']}")


@app.command("list")
def list_(gateway: str | None = GatewayOpt, as_json: bool = typer.Option(False, "--json")) -> None:
    """List deployed functions with their instances and queues."""
    r = request("GET", gateway_url(gateway), "/system/functions")
    _ok(r, "list")
    if as_json:
        typer.echo(r.text)
        return
    t = Table()
    for col in ("name", "version", "instances", "starting", "queued", "cold starts", "scale"):
        t.add_column(col)
    for f in r.json():
        s = f["scale"]
        t.add_row(
            f["name"],
            str(f["version"]),
            str(f["instances"]),
            str(f["starting"]),
            str(f["queued"]),
            str(f["cold_starts"]),
            f"{s['min']}..{s['max']}",
        )
    console.print(t)


@app.command("invoke")
def invoke(
    name: str = typer.Argument(...),
    data: str | None = typer.Option(None, "--data", help="JSON body ('-' reads stdin)."),
    async_: bool = typer.Option(False, "--async", help="Queue it; print the invocation id."),
    callback: str | None = typer.Option(None, "--callback", help="URL to POST the result to."),
    gateway: str | None = GatewayOpt,
) -> None:
    """Invoke NAME and print its response body."""
    body = sys.stdin.buffer.read() if data == "-" else (data or "").encode()
    if data is not None:
        try:
            json.loads(body)
        except ValueError:
            shown = "- (stdin: not JSON)" if data == "-" else data
            raise InputError("--data", shown, "a JSON document (or '-' for stdin)") from None
    headers = {"content-type": "application/json"}
    if callback:
        if not async_:
            raise InputError("--callback", callback, "only with --async (a sync call answers here)")
        u = urlsplit(callback)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise InputError("--callback", callback, "an http(s) URL with a host")
        headers["x-callback-url"] = callback
    name = name_segment("NAME", name)
    path = f"/async-function/{name}" if async_ else f"/function/{name}"
    t0 = time.perf_counter()
    r = request("POST", gateway_url(gateway), path, content=body, headers=headers)
    ms = 1000 * (time.perf_counter() - t0)
    if async_:
        _ok(r, "invoke")
        typer.echo(r.json()["id"])
        return
    if r.status_code >= 400 and "x-tessera-invocation" not in r.headers:
        _ok(r, "invoke")  # the gateway's refusal (not deployed, no token, too big): no invocation
    cold = r.headers.get("x-tessera-cold-start-ms")
    err_console.print(
        f"{r.status_code} in {ms:.1f} ms" + (f" (cold start {cold} ms)" if cold else "")
    )
    sys.stdout.buffer.write(r.content + (b"" if r.content.endswith(b"\n") else b"\n"))
    if r.status_code >= 400:
        raise typer.Exit(1)


@app.command("logs")
def logs(
    name: str = typer.Argument(...),
    lines: int = typer.Option(100, "--lines", "-n"),
    gateway: str | None = GatewayOpt,
) -> None:
    """Print the last lines of NAME's log (handler output and context.logger)."""
    if not 1 <= lines <= 100_000:
        raise InputError("--lines", lines, "1..100000")
    name = name_segment("NAME", name)
    r = request("GET", gateway_url(gateway), f"/system/logs/{name}", params={"lines": lines})
    _ok(r, "logs")
    sys.stdout.write(r.text)


@app.command("invocations")
def invocations(
    name: str | None = typer.Argument(None),
    limit: int = typer.Option(20, "--limit"),
    gateway: str | None = GatewayOpt,
) -> None:
    """The most recent invocation records (newest first)."""
    if not 1 <= limit <= 10_000:
        raise InputError("--limit", limit, "1..10000")
    params: dict[str, str | int] = {"limit": limit}
    if name:
        params["function"] = name
    r = request("GET", gateway_url(gateway), "/system/invocations", params=params)
    _ok(r, "invocations")
    if not r.json():  # not an empty table: say there is nothing (a deleted function keeps its)
        console.print(f"no invocation records{f' of {name}' if name else ''}", markup=False)
        return
    t = Table()
    for col in ("function", "status", "http", "cold", "queue ms", "exec ms", "energy J"):
        t.add_column(col)
    for col in ("CO2e µg", "id"):
        t.add_column(col)
    for rec in r.json():
        op, emb, energy = rec.get("carbon_g"), rec.get("embodied_g"), rec.get("energy_j")
        # operational + embodied; without a region only embodied is known (marked +?)
        if emb is None:
            co2 = "?"
        else:
            co2 = f"{1e6 * (op + emb):.1f}" if op is not None else f"{1e6 * emb:.2f}+?"
        t.add_row(
            rec["function"],
            rec["status"],
            str(rec["http_status"]),
            f"{1000 * rec['cold_start_s']:.1f}" if rec["cold"] else "",
            f"{1000 * (rec['start_s'] - rec['arrival_s']):.2f}",
            f"{1000 * (rec['end_s'] - rec['start_s']):.2f}",
            "?" if energy is None else f"{energy:.3f}",
            co2,
            rec["id"][:12],
        )
    console.print(t)


@app.command("delete")
def delete(name: str = typer.Argument(...), gateway: str | None = GatewayOpt) -> None:
    """Remove NAME (its instances stop; its records stay)."""
    name = name_segment("NAME", name)
    r = request("DELETE", gateway_url(gateway), f"/system/functions/{name}")
    _ok(r, "delete")
    console.print(f"deleted {name}")
