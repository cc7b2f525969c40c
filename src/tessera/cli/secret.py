"""`tessera secret ...`: secrets of the local platform (set, list, rm).

A function lists the secret names it needs in function.yaml (`secrets: [db-password]`)
and reads each from the environment variable SECRET_<NAME> (`SECRET_DB_PASSWORD`). The
value (UTF-8 text) is read from stdin (piped, taken as is: a trailing newline stays) or a
hidden prompt, never from the command line (where shell history and `ps` would keep it).
A function gets the values current when it is deployed (or the platform starts): deploy
it again after `set` or `rm` to pass the change on.
"""

from __future__ import annotations

import getpass
import sys
import time

import typer
from rich.table import Table

from tessera.cli.client import gateway_url, name_segment, request
from tessera.cli.console import console
from tessera.cli.fn import GatewayOpt, _ok
from tessera.core.errors import InputError

app = typer.Typer(help="Secrets for functions on the local platform.")


@app.command("set")
def set_secret(
    name: str = typer.Argument(..., help="Secret name (lower-case letters, digits, '-')."),
    gateway: str | None = GatewayOpt,
) -> None:
    """Set NAME from stdin (or a hidden prompt); redeploy the functions that use it."""
    name = name_segment("NAME", name)
    if sys.stdin.isatty():
        value = getpass.getpass(f"value for {name}: ").encode()
    else:
        value = sys.stdin.buffer.read()
    if not value:
        raise InputError("value", "empty", "a non-empty value on stdin")
    r = request("PUT", gateway_url(gateway), f"/system/secrets/{name}", content=value)
    _ok(r, "secret set")
    console.print(f"secret {name} set ({len(value)} bytes)")


@app.command("list")
def list_secrets(gateway: str | None = GatewayOpt) -> None:
    """List secret names and when they were last set (never the values)."""
    r = request("GET", gateway_url(gateway), "/system/secrets")
    _ok(r, "secret list")
    t = Table("name", "updated")
    for row in r.json():
        t.add_row(row["name"], time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["updated_s"])))
    console.print(t)


@app.command("rm")
def rm(name: str = typer.Argument(...), gateway: str | None = GatewayOpt) -> None:
    """Delete NAME (a function that needs it is refused at its next deploy or start)."""
    name = name_segment("NAME", name)
    r = request("DELETE", gateway_url(gateway), f"/system/secrets/{name}")
    _ok(r, "secret rm")
    console.print(f"deleted {name}")
