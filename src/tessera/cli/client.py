"""Where the CLI finds the gateway and the platform's home, and how it talks to the gateway."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx

from tessera.core.errors import InputError
from tessera.core.model import NAME_PATTERN

DEFAULT_GATEWAY = "http://127.0.0.1:8080"


def gateway_url(flag: str | None) -> str:
    """The gateway's base URL: --gateway, else $TESSERA_GATEWAY, else the default."""
    url = (flag or os.environ.get("TESSERA_GATEWAY") or DEFAULT_GATEWAY).rstrip("/")
    field = "--gateway" if flag else "TESSERA_GATEWAY" if os.environ.get("TESSERA_GATEWAY") else ""
    try:
        parsed = httpx.URL(url)
        ok = parsed.scheme in ("http", "https") and bool(re.fullmatch(r"[\w.:-]+", parsed.host))
        parsed.port  # noqa: B018  (a bad port raises here)
    except (httpx.InvalidURL, ValueError, TypeError):
        ok = False
    if not ok:
        raise InputError(
            field or "--gateway", url, "an http(s) URL with a host, e.g. " + DEFAULT_GATEWAY
        )
    return url


def home_dir(flag: Path | None) -> Path:
    return (flag or Path(os.environ.get("TESSERA_HOME", "~/.tessera"))).expanduser()


LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
_DNS_LABEL = re.compile(NAME_PATTERN)
_TOKEN_ID = re.compile(r"^[0-9a-f]{1,64}$")


def name_segment(field: str, value: str) -> str:
    """`value` as one segment of a gateway path: a DNS label (what function and secret names
    are); anything else - `../functions/f` above all, which the URL would resolve onto
    another endpoint - is bad input."""
    if not _DNS_LABEL.match(value):
        raise InputError(
            field, value, "a DNS label: lowercase letters, digits and '-', 1-63 characters"
        )
    return value


def token_segment(field: str, value: str) -> str:
    """A token id as a gateway path segment (hex digits, as `tessera auth list` shows them)."""
    if not _TOKEN_ID.match(value):
        raise InputError(field, value, "a token id: hex digits (see `tessera auth list`)")
    return value


def auth_headers(gateway: str, home: Path | None = None) -> dict[str, str]:
    """`Authorization` for the gateway: $TESSERA_TOKEN (sent wherever you point the CLI),
    else the admin token `tessera up` wrote into this machine's TESSERA_HOME — sent only
    to a gateway on loopback, never to another host."""
    from tessera.platforms.local.auth import local_token

    explicit = os.environ.get("TESSERA_TOKEN")
    if explicit:
        return {"Authorization": f"Bearer {explicit.strip()}"}
    if httpx.URL(gateway).host not in LOOPBACK:
        return {}
    token = local_token(home_dir(home))
    return {"Authorization": f"Bearer {token}"} if token else {}


def request(method: str, gateway: str, path: str, **kw: Any) -> httpx.Response:
    """One request; a gateway that is not running is bad input (one line, exit 2)."""
    headers = {**auth_headers(gateway), **kw.pop("headers", {})}
    try:
        with httpx.Client(base_url=gateway, timeout=kw.pop("timeout", 120.0), headers=headers) as c:
            return c.request(method, path, **kw)
    except httpx.ConnectError:
        raise InputError(
            "--gateway", gateway, "the URL of a running gateway (start one with `tessera up`)"
        ) from None
    except httpx.HTTPError as e:
        raise InputError("--gateway", gateway, f"a gateway that answers ({e})") from None
