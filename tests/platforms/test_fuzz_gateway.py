"""Fuzzing the gateway: random methods, paths, headers and bodies never get a 5xx or a crash.

Hypothesis generates requests against every route family of the gateway (admin API with and
without the admin token, tokens, secrets, invocations of functions that do not exist, raw
garbage paths) on one platform that runs in a background thread; after each request the
gateway must still answer /healthz. A deployed function whose handler fails would rightly
answer 500, so the fuzzer only invokes names that are not deployed (the function path's
own behaviour is tested elsewhere).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.control.serve import running
from tests.platforms.helpers import write_function

pytestmark = pytest.mark.xdist_group("platform-fuzz")

SEGMENT = st.one_of(
    st.sampled_from(["functions", "tokens", "secrets", "async", "logs", "invocations",
                     "decisions", "gpu", "echo", "nosuch", "", "..", "%2e%2e", "a" * 300]),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="/?#"),
            min_size=1, max_size=20),
)  # fmt: skip
PREFIX = st.sampled_from(["/system/", "/function/", "/async-function/", "/", "/healthz/"])
METHOD = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
BODY = st.one_of(
    st.none(),
    st.binary(max_size=512),
    st.dictionaries(st.text(max_size=10), st.one_of(st.integers(), st.text(max_size=20),
                    st.none(), st.lists(st.integers(), max_size=3)), max_size=4),
    st.sampled_from([{"scope": "admin"}, {"scope": 7}, {"sm_pct": "x"}, [], "null"]),
)  # fmt: skip
QUERY = st.dictionaries(
    st.sampled_from(["limit", "since", "function", "tail", "x"]),
    st.one_of(st.integers(-(10**12), 10**12).map(str), st.text(max_size=8)),
    max_size=3,
)


class Served:
    def __init__(self, home: Path, src: Path) -> None:
        self.home, self.src = home, src
        self.url = ""
        self.token = ""
        self.ready = threading.Event()
        self.stop: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.error: BaseException | None = None

    async def _main(self) -> None:
        fn = write_function(self.src, "echo", "def handle(event, context):\n    return event\n")
        try:
            async with running(self.home, functions=[fn]) as (p, url):
                self.url, self.token = url, p.platform.admin_token
                self.loop, self.stop = asyncio.get_running_loop(), asyncio.Event()
                self.ready.set()
                await self.stop.wait()
        except BaseException as e:  # surfaced by the fixture
            self.error = e
            self.ready.set()

    def __enter__(self) -> Served:
        self.thread.start()
        assert self.ready.wait(60), "platform did not start"
        if self.error:
            raise self.error
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.loop is not None and self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "src").mkdir()
    with Served(root / "home", root / "src") as s:
        yield s


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(method=METHOD, prefix=PREFIX, segments=st.lists(SEGMENT, max_size=3), body=BODY,
       query=QUERY, admin=st.booleans(), ctype=st.sampled_from(
           ["application/json", "application/gzip", "text/plain", "", "multipart/form-data"]))  # fmt: skip
def test_no_request_gets_a_5xx(
    served: Served, method: str, prefix: str, segments: list[str], body: Any,
    query: dict[str, str], admin: bool, ctype: str,
) -> None:  # fmt: skip
    path = prefix + "/".join(segments)
    if prefix in ("/function/", "/async-function/") and segments[:1] == ["echo"]:
        path = prefix + "not-" + "/".join(segments)  # only functions that are not deployed
    headers = {"content-type": ctype} if ctype else {}
    if admin:
        headers["authorization"] = f"Bearer {served.token}"
    kw: dict[str, Any] = {"params": query, "headers": headers}
    if isinstance(body, bytes):
        kw["content"] = body
    elif body is not None:
        kw["json"] = body
    with httpx.Client(base_url=served.url, timeout=30) as c:
        try:
            r = c.request(method, path, **kw)
        except httpx.InvalidURL:
            return  # the client refused to send it; nothing reached the gateway
        assert r.status_code < 500, (method, path, query, body, r.status_code, r.text[:300])
        assert c.get("/healthz").status_code == 200
        sent = r.request.url.raw_path.decode().split("?", 1)[0]  # after the client's own clean-up
        if not admin and sent.startswith("/system/"):
            assert r.status_code == 401, (method, sent, r.status_code)
