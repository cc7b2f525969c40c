"""API tokens for the local platform's gateway: who may manage it and who may invoke what.

A token is `tsr_` + 43 URL-safe characters (256 random bits). The state DB keeps only its
SHA-256 (a token is a random secret, not a password: a fast hash is the right one), its
scope and a label. Scopes:

- `admin`: everything — every `/system/*` call (deploy, delete, logs, records, tokens,
  resize) and invoking any function;
- `invoke:NAME`: invoking function NAME (sync or async), nothing else.

Rules the gateway applies (`decide`): every `/system/*` call needs an admin token, on
loopback too; `/function/NAME` and `/async-function/NAME` are public unless NAME's
function.yaml says `private: true` (the OpenFaaS convention), in which case they need
`admin` or `invoke:NAME`; an async call with an `X-Callback-Url` always needs one of those
(the platform would POST to that URL); `/healthz` and `/metrics` stay public. A missing or
unknown token is 401, a token without the right scope 403.

On first start the platform creates an admin token and writes it to
`TESSERA_HOME/admin.token` (mode 0600, temp file + rename); the CLI on the same machine
reads it from there (or from `TESSERA_TOKEN`), so local use needs no extra step.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tessera.core.errors import InputError
from tessera.core.model import NAME_PATTERN

PREFIX = "tsr_"
ADMIN = "admin"
ADMIN_TOKEN_FILE = "admin.token"
_NAME = re.compile(NAME_PATTERN)
_TOKEN = re.compile(r"^tsr_[A-Za-z0-9_-]{43}$")


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scope(scope: str) -> str:
    """`admin` or `invoke:NAME` (NAME a function name), else `InputError`."""
    s = scope.strip()
    if s == ADMIN:
        return s
    kind, _, name = s.partition(":")
    if kind == "invoke" and _NAME.match(name):
        return s
    raise InputError("--scope", scope, "admin or invoke:NAME (NAME a function name)")


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer ...` header, if it looks like one of ours."""
    if not header:
        return None
    kind, _, value = header.strip().partition(" ")
    value = value.strip()
    if kind.lower() != "bearer" or not _TOKEN.match(value):
        return None
    return value


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the gateway does with a request: `status` 0 means go on; else answer it."""

    status: int
    reason: str = ""


ALLOW = Verdict(0)


def decide(
    scope: str | None, action: str, function: str | None = None, private: bool = False
) -> Verdict:
    """May a caller holding `scope` (None: no valid token) do `action`?

    `action`: "admin" (a /system call), "invoke" (call `function`), "callback" (async
    call of `function` with a callback URL). Pure: no I/O.
    """
    needs_token = action in ("admin", "callback") or (action == "invoke" and private)
    if not needs_token:
        return ALLOW
    if scope is None:
        what = "the admin API" if action == "admin" else f"function {function!r}"
        return Verdict(401, f"{what} needs a token (Authorization: Bearer tsr_...)")
    if scope == ADMIN or (action != "admin" and scope == f"invoke:{function}"):
        return ALLOW
    need = "admin" if action == "admin" else f"admin or invoke:{function}"
    return Verdict(403, f"a token with scope {scope!r} may not do this (needs {need})")


class TokenStore(Protocol):
    def put_token(self, token_id: str, digest: str, scope: str, label: str) -> None: ...
    def token_scope(self, digest: str) -> str | None: ...


def ensure_admin_token(home: Path, store: TokenStore) -> str:
    """The admin token in `home/admin.token`, created (and registered) if missing or unknown."""
    path = home / ADMIN_TOKEN_FILE
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        token = ""
    if _TOKEN.match(token) and store.token_scope(token_hash(token)) == ADMIN:
        return token
    token = new_token()
    store.put_token(secrets.token_hex(6), token_hash(token), ADMIN, "created by tessera up")
    fd, tmp = tempfile.mkstemp(prefix=".admin.", dir=home)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(token + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return token


def local_token(home: Path) -> str | None:
    """The token the CLI sends: `TESSERA_TOKEN`, else the admin token file in `home`."""
    env = os.environ.get("TESSERA_TOKEN")
    if env:
        return env.strip()
    try:
        token = (home / ADMIN_TOKEN_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return token or None
