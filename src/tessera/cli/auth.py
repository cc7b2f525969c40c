"""`tessera auth ...`: API tokens of the local platform (create, list, revoke).

Talks to the gateway with the admin token (`TESSERA_TOKEN`, else the `admin.token` file
`tessera up` wrote into TESSERA_HOME), so it works on the machine running the platform
with no set-up. A new token is shown once, as the last line of the output.
"""

from __future__ import annotations

import time

import typer
from rich.table import Table

from tessera.cli.client import gateway_url, request, token_segment
from tessera.cli.console import console
from tessera.cli.fn import GatewayOpt, _ok
from tessera.platforms.local.auth import parse_scope

app = typer.Typer(help="API tokens for the local platform's gateway.")


@app.command("create-token")
def create_token(
    scope: str = typer.Option(..., "--scope", help="admin, or invoke:NAME for one function."),
    label: str = typer.Option("", "--label", help="A note to recognise the token by."),
    gateway: str | None = GatewayOpt,
) -> None:
    """Create a token; it is printed once, as the last line (store it; only its hash is kept)."""
    scope = parse_scope(scope)
    r = request("POST", gateway_url(gateway), "/system/tokens",
                json={"scope": scope, "label": label})  # fmt: skip
    _ok(r, "create-token")
    d = r.json()
    typer.echo(f"token {d['id']} scope {d['scope']}", err=True)
    typer.echo(d["token"])


@app.command("list")
def list_tokens(gateway: str | None = GatewayOpt) -> None:
    """List tokens: id, scope, label, created (never the tokens themselves)."""
    r = request("GET", gateway_url(gateway), "/system/tokens")
    _ok(r, "list")
    t = Table("id", "scope", "label", "created")
    for row in r.json():
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["created_s"]))
        t.add_row(row["id"], row["scope"], row["label"], created)
    console.print(t)


@app.command("revoke")
def revoke(
    token_id: str = typer.Argument(..., help="The token's id (see `tessera auth list`)."),
    gateway: str | None = GatewayOpt,
) -> None:
    """Revoke a token at once (the next request with it gets 401)."""
    token_id = token_segment("TOKEN_ID", token_id)
    r = request("DELETE", gateway_url(gateway), f"/system/tokens/{token_id}")
    _ok(r, "revoke")
    console.print(f"revoked {token_id}")
