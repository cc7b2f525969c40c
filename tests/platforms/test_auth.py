"""Gateway auth: tokens, scopes, private functions — and the matrix of every endpoint x scope.

The rules under test (tessera.platforms.local.auth): every /system call needs an admin token
(401 without a valid one, 403 with another scope); /function/NAME is public unless NAME is
`private: true`, then it needs admin or invoke:NAME; an async call with a callback URL
always needs one of those; /healthz and /metrics are public. Tokens are stored hashed; the
admin token file is mode 0600.
"""

from __future__ import annotations

import asyncio
import stat
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tessera.core.errors import InputError
from tessera.platforms.local.auth import (
    ADMIN_TOKEN_FILE,
    bearer,
    decide,
    ensure_admin_token,
    new_token,
    parse_scope,
    token_hash,
)
from tessera.platforms.local.store import Store
from tests.platforms.helpers import async_test, deploy, platform, write_function

ECHO_HEADERS = """
def handle(event, context):
    return {"headers": sorted(context.headers)}
"""

# every route of the gateway's admin API (method, path); bodies where a route reads one
SYSTEM_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/system/functions", None),
    ("POST", "/system/functions", b"not a tarball"),
    ("GET", "/system/functions/pub", None),
    ("DELETE", "/system/functions/nosuch", None),
    ("POST", "/system/functions/pub/gpu", {"quota_pct": 50}),
    ("GET", "/system/gpu", None),
    ("GET", "/system/async/nosuch", None),
    ("GET", "/system/invocations", None),
    ("GET", "/system/logs/pub", None),
    ("GET", "/system/decisions", None),
    ("GET", "/system/tokens", None),
    ("POST", "/system/tokens", {"scope": "admin"}),
    ("DELETE", "/system/tokens/nosuch", None),
    ("GET", "/system/secrets", None),
    ("PUT", "/system/secrets/matrix", b"value"),
    ("DELETE", "/system/secrets/nosuch", None),
    ("POST", "/system/guard", {"command": "ls -la"}),
    ("GET", "/system/no-such-route", None),
]


# --- pure parts ---------------------------------------------------------------------------------
def test_decide_table() -> None:
    assert decide(None, "invoke", "f", private=False).status == 0
    assert decide(None, "invoke", "f", private=True).status == 401
    assert decide("invoke:g", "invoke", "f", private=True).status == 403
    assert decide("invoke:f", "invoke", "f", private=True).status == 0
    assert decide("admin", "invoke", "f", private=True).status == 0
    assert decide(None, "admin").status == 401
    assert decide("invoke:f", "admin").status == 403
    assert decide("admin", "admin").status == 0
    assert decide(None, "callback", "f").status == 401
    assert decide("invoke:f", "callback", "f").status == 0
    assert decide("invoke:g", "callback", "f").status == 403
    assert "Bearer" in decide(None, "admin").reason


def test_scopes_and_bearer_parsing() -> None:
    assert parse_scope("admin") == "admin"
    assert parse_scope(" invoke:my-fn ") == "invoke:my-fn"
    for bad in ("", "root", "invoke:", "invoke:Bad_Name", "invoke:a:b", "admin "[:-1] + "x"):
        with pytest.raises(InputError, match="--scope"):
            parse_scope(bad)
    t = new_token()
    assert t.startswith("tsr_") and len(t) == 47 and t != new_token()
    assert bearer(f"Bearer {t}") == t and bearer(f"bearer  {t} ") == t
    assert bearer(None) is None and bearer("Basic abc") is None
    assert bearer("Bearer tsr_short") is None and bearer(f"Bearer {t}x") is None


def test_admin_token_file_is_private_reused_and_renewed(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    try:
        t1 = ensure_admin_token(tmp_path, store)
        path = tmp_path / ADMIN_TOKEN_FILE
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text().strip() == t1
        assert ensure_admin_token(tmp_path, store) == t1  # reused on the next start
        assert store.token_scope(token_hash(t1)) == "admin"
        assert all(r["scope"] == "admin" for r in store.list_tokens())
        path.write_text("tsr_" + "x" * 43 + "\n")  # a token the DB does not know
        t2 = ensure_admin_token(tmp_path, store)
        assert t2 != t1 and store.token_scope(token_hash(t2)) == "admin"
    finally:
        store.close()
    raw = (tmp_path / "state.db").read_bytes()
    assert t1.encode() not in raw and t2.encode() not in raw  # only digests are stored


# --- the platform --------------------------------------------------------------------------------
def _functions(src: Path) -> list[Path]:
    return [
        write_function(src, "pub", ECHO_HEADERS),
        write_function(src, "priv", ECHO_HEADERS, private=True),
    ]


async def _make_token(c: httpx.AsyncClient, scope: str) -> str:
    r = await c.post("/system/tokens", json={"scope": scope, "label": f"test {scope}"})
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


async def _send(c: httpx.AsyncClient, method: str, path: str, body: Any, auth: str | None,
                **headers: str) -> httpx.Response:  # fmt: skip
    h = dict(headers)
    h["Authorization"] = auth if auth is not None else ""
    kw: dict[str, Any] = {"json": body} if isinstance(body, dict) else {"content": body}
    return await c.request(method, path, headers=h, **kw)


@async_test(120)
async def test_authz_matrix_every_endpoint_every_scope(home: Path, src: Path) -> None:
    async with platform(home) as (p, c):
        for fn in _functions(src):
            await deploy(c, fn)
        creds = {
            "none": None,
            "garbage": "Bearer not-a-token",
            "unknown": f"Bearer {new_token()}",
            "invoke:pub": f"Bearer {await _make_token(c, 'invoke:pub')}",
            "invoke:priv": f"Bearer {await _make_token(c, 'invoke:priv')}",
            "admin": f"Bearer {p.platform.admin_token}",
        }
        seen: dict[tuple[str, str, str], int] = {}
        for who, auth in creds.items():
            for method, path, body in SYSTEM_ROUTES:
                if who == "admin" and (method, path) == ("POST", "/system/tokens"):
                    continue  # covered by the token tests; would only add a token
                r = await _send(c, method, path, body, auth)
                seen[(who, method, path)] = r.status_code
                if who in ("none", "garbage", "unknown"):
                    assert r.status_code == 401, (who, method, path, r.status_code)
                    assert r.headers.get("www-authenticate") == "Bearer"
                elif who.startswith("invoke:"):
                    assert r.status_code == 403, (who, method, path, r.status_code)
                else:
                    assert r.status_code not in (401, 403), (who, method, path, r.text)
                    assert r.status_code < 500, (who, method, path, r.text)
            pub = await _send(c, "POST", "/function/pub", {}, auth)
            assert pub.status_code == 200, (who, pub.text)  # public: any caller
            priv = await _send(c, "POST", "/function/priv", {}, auth)
            want = 200 if who in ("invoke:priv", "admin") else 401 if who in (
                "none", "garbage", "unknown") else 403  # fmt: skip
            assert priv.status_code == want, (who, priv.status_code, priv.text)
            apriv = await _send(c, "POST", "/async-function/priv", {}, auth)
            assert apriv.status_code == (202 if want == 200 else want), (who, apriv.text)
            cb = await _send(c, "POST", "/async-function/pub", {}, auth,
                             **{"X-Callback-Url": "http://127.0.0.1:9/cb"})  # fmt: skip
            want_cb = 202 if who in ("invoke:pub", "admin") else 401 if who in (
                "none", "garbage", "unknown") else 403  # fmt: skip
            assert cb.status_code == want_cb, (who, cb.status_code, cb.text)
            for public in ("/healthz", "/metrics"):
                assert (await _send(c, "GET", public, None, auth)).status_code == 200
        assert len(seen) == 6 * len(SYSTEM_ROUTES) - 1


@async_test(90)
async def test_tokens_are_created_used_and_revoked(home: Path, src: Path) -> None:
    async with platform(home) as (_p, c):
        for fn in _functions(src):
            await deploy(c, fn)
        r = await c.post("/system/tokens", json={"scope": "invoke:priv", "label": "ci"})
        assert r.status_code == 201
        made = r.json()
        assert made["scope"] == "invoke:priv" and made["token"].startswith("tsr_")
        auth = {"Authorization": f"Bearer {made['token']}"}
        ok = await c.post("/function/priv", json={}, headers=auth)
        assert ok.status_code == 200
        assert "authorization" not in ok.json()["headers"]  # the token stays at the gateway
        listed = (await c.get("/system/tokens")).json()
        assert {t["id"] for t in listed} >= {made["id"]}
        assert all("token" not in t and "digest" not in t for t in listed)
        for bad in ({"scope": "root"}, {"scope": "invoke:"}, [1, 2], "x"):
            r = await c.post("/system/tokens", json=bad)
            assert r.status_code == 400, (bad, r.text)
        assert (await c.delete(f"/system/tokens/{made['id']}")).status_code == 200
        assert (await c.post("/function/priv", json={}, headers=auth)).status_code == 401
        assert (await c.delete(f"/system/tokens/{made['id']}")).status_code == 404


@async_test(120)
async def test_cli_uses_the_local_admin_token_and_prints_new_tokens_last(
    home: Path, src: Path
) -> None:
    async with platform(home) as (_p, c):
        url = str(c.base_url).rstrip("/")
        env = {"TESSERA_HOME": str(home), "PATH": "/usr/bin:/bin"}

        async def cli(*args: str, token: str | None = None) -> tuple[int, str, str]:
            e = dict(env, TESSERA_TOKEN=token) if token else env
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tessera.cli.main", *args, "--gateway", url, env=e,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(proc.communicate(), 60)
            return proc.returncode or 0, out.decode(), err.decode()

        code, out, err = await cli("auth", "create-token", "--scope", "invoke:priv")
        assert code == 0, err
        token = out.strip().splitlines()[-1]
        assert token.startswith("tsr_")
        code, out, _ = await cli("auth", "list")
        assert code == 0 and "invoke:priv" in out
        code, _, err = await cli("auth", "list", token=token)  # not an admin token
        assert code == 2 and "403" not in err and "may not" in err
        code, _, err = await cli("auth", "create-token", "--scope", "bogus")
        assert code == 2 and "--scope" in err


def test_tls_gateway_serves_https_and_refuses_half_a_pair(tmp_path: Path) -> None:
    import shutil
    import ssl
    import subprocess

    from tessera.conformance.harness import free_port, process

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    from tessera.platforms.local.sandbox import probe

    base = [sys.executable, "-m", "tessera.cli.main", "up", "--home", str(tmp_path / "home")]
    if probe() is not None:  # TLS is under test here, not the sandbox
        base.append("--insecure-no-sandbox")
    half = subprocess.run([*base, "--tls-cert", str(cert)], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert half.returncode == 2 and "--tls-cert/--tls-key" in half.stderr
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    trust = ssl.create_default_context(cafile=str(cert))

    def ready() -> bool:
        return httpx.get(url + "/healthz", verify=trust, timeout=1).status_code == 200

    cmd = [*base, "--port", str(port), "--tls-cert", str(cert), "--tls-key", str(key)]
    with process(cmd, ready, tmp_path / "up.log"):
        token = (tmp_path / "home" / ADMIN_TOKEN_FILE).read_text().strip()
        with httpx.Client(base_url=url, verify=trust, timeout=10) as c:
            assert c.get("/system/functions").status_code == 401
            auth = {"Authorization": f"Bearer {token}"}
            assert c.get("/system/functions", headers=auth).status_code == 200
        with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port gets no answer
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).raise_for_status()


def test_cli_sends_the_local_admin_token_only_to_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tessera.cli.client import auth_headers

    (tmp_path / ADMIN_TOKEN_FILE).write_text("tsr_" + "a" * 43 + "\n")
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path))
    monkeypatch.delenv("TESSERA_TOKEN", raising=False)
    assert auth_headers("http://127.0.0.1:8080") == {"Authorization": "Bearer tsr_" + "a" * 43}
    assert auth_headers("http://localhost:9") != {}
    assert auth_headers("https://gw.example.com") == {}  # the local admin token stays home
    monkeypatch.setenv("TESSERA_TOKEN", "tsr_" + "b" * 43)  # an explicit token goes anywhere
    assert auth_headers("https://gw.example.com") == {"Authorization": "Bearer tsr_" + "b" * 43}
