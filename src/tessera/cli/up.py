"""`tessera up`: run the local platform (gateway + workers + control loop) in the foreground."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer

from tessera.cli.client import home_dir
from tessera.cli.console import err_console
from tessera.core.errors import InputError


def _autoscaler(value: str) -> dict[str, Any]:
    if value.strip().startswith("{"):
        try:
            cfg = json.loads(value)
        except ValueError:
            raise InputError("--autoscaler", value, "a name (kpa, fixed, ...) or JSON") from None
        if not isinstance(cfg, dict):
            raise InputError("--autoscaler", value, 'a JSON object like {"kind": "kpa"}')
        return cfg
    return {"kind": value}


def up(
    port: int = typer.Option(8080, "--port", help="Gateway port (0 picks a free one)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    home: Path | None = typer.Option(None, "--home", help="State folder [TESSERA_HOME]."),
    autoscaler: str = typer.Option(
        "kpa", "--autoscaler", help='A registered autoscaler name or JSON {"kind": ..., ...}.'
    ),
    interval_s: float = typer.Option(2.0, "--interval", help="Autoscaler period, seconds."),
    function: list[Path] = typer.Option(
        [], "--function", help="A function folder to deploy at start (repeatable)."
    ),
    serve_only: bool = typer.Option(
        False,
        "--serve-only",
        help="Serve /function/NAME, /healthz and /metrics only: no /system admin API, no async.",
    ),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="PEM certificate: serve HTTPS."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="PEM private key for --tls-cert."),
    insecure_no_sandbox: bool = typer.Option(
        False,
        "--insecure-no-sandbox",
        help="Run functions without the bubblewrap sandbox (hosts that forbid namespaces).",
    ),
    region: str | None = typer.Option(
        None,
        "--region",
        envvar="TESSERA_REGION",
        help="Cloud region this runs in (e.g. europe-west9): records get its grid's carbon.",
    ),
    carbon_zone: str | None = typer.Option(
        None, "--carbon-zone", help="Or the Electricity Maps zone directly (e.g. FR)."
    ),
    secrets_from_env: bool = typer.Option(
        False,
        "--secrets-from-env",
        help="A secret a function lists that is not set (tessera secret set) is read from "
        "this process's variable SECRET_<NAME> (a container's Kubernetes Secret).",
    ),
    carbon_source: str | None = typer.Option(
        None,
        "--carbon-source",
        help='Live intensities, JSON: {"kind": "electricitymaps", "token": "env:EMAPS_TOKEN"} '
        "(env:NAME reads a variable); default: the hourly table.",
    ),
) -> None:
    """Start the local serverless platform; Ctrl-C stops it (state stays in --home)."""
    from tessera.autoscaling import create
    from tessera.control.serve import listen, serve

    if not 0 <= port <= 65535:
        raise InputError("--port", port, "0..65535")
    if not (math.isfinite(interval_s) and 0.01 <= interval_s <= 3600):
        raise InputError("--interval", interval_s, "seconds, 0.01 to 3600")
    cfg = _autoscaler(autoscaler)
    create(cfg)  # validate before anything starts
    from tessera.functions.manifest import load_function_dir

    for d in function:
        load_function_dir(d)  # a bad folder fails here, in one line, before the gateway starts
    tls = None
    if (tls_cert is None) != (tls_key is None):
        raise InputError("--tls-cert/--tls-key", "only one given", "both PEM files, or neither")
    if tls_cert is not None and tls_key is not None:
        for flag, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
            if not path.is_file():
                raise InputError(flag, str(path), "an existing PEM file")
        import ssl

        try:  # a certificate and key that do not load fail here, not once the server starts
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(tls_cert, tls_key)
        except (ssl.SSLError, ValueError) as e:
            raise InputError(
                "--tls-cert/--tls-key",
                f"{tls_cert}, {tls_key}",
                f"a PEM certificate and its private key ({getattr(e, 'reason', None) or e})",
            ) from None
        tls = (tls_cert, tls_key)
    from tessera.platforms.local.sandbox import SandboxUnavailable, resolve

    mode = "off" if insecure_no_sandbox else "bwrap"
    try:
        resolve(mode)  # fail here, in one line, before the gateway starts
    except SandboxUnavailable as e:
        raise InputError("sandbox", "unavailable", str(e)) from None
    from tessera.carbon.footprint import Footprinter
    from tessera.carbon.sources import source_from_config

    if region and carbon_zone:
        raise InputError("--carbon-zone", carbon_zone, "either --region or --carbon-zone")
    if carbon_source and not (region or carbon_zone):
        raise InputError("--carbon-source", carbon_source, "a --region or --carbon-zone with it")
    source = source_from_config(carbon_source, "--carbon-source") if carbon_source else None
    footprint = Footprinter(region=region or None, zone=carbon_zone or None, source=source)
    h = home_dir(home)
    sockets = listen(host, port)  # a port in use fails here, in one line
    port = sockets[0].getsockname()[1]
    scheme = "https" if tls else "http"

    def banner() -> None:
        err_console.print(
            f"tessera: home {h}, gateway {scheme}://{host}:{port}, autoscaler {cfg}; admin "
            f"token in {h / 'admin.token'}; sandbox {mode}; carbon: "
            + (f"{footprint.region} (zone {footprint.zone})" if footprint.zone else "no region set")
        )

    serve(
        h,
        host,
        port,
        cfg,
        interval_s,
        function,
        admin=not serve_only,
        tls=tls,
        sandbox=mode,
        footprint=footprint,
        sockets=sockets,
        banner=banner,
        secrets_from_env=secrets_from_env,
    )
