"""An Fn agent stand-in: the function's FDK on a unix socket, invoked through an HTTP trigger.

Starts the function's entrypoint (`python func.py`, which hands the handler to
`fdk.handle`) with
`FN_FORMAT=http-stream`, `FN_LISTENER=unix:DIR/lsnr.sock` and the FN_* identity
env, waits for the socket, then serves loopback HTTP. A request to the
function's trigger (`/t/APP/SOURCE`) becomes the agent's `POST /call` in the
gateway form: `Fn-Intent: httprequest`, a fresh `Fn-Call-Id`, `Fn-Deadline`
(now + the function's timeout), `Fn-Http-Method`, `Fn-Http-Request-Url` and
every request header as `Fn-Http-H-NAME`. The answer's `Fn-Http-Status` and
`Fn-Http-H-*` headers become the response, with `Fn-Call-Id`; a container that
has not answered a little after the deadline gets the call a 504, as the agent does.

    python -m tessera.platforms.fn.server --dir build/NAME --port 8080
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import FrameType

import httpx
import yaml

from tessera.platforms.httpserver import Reply, Route, server

Answer = Reply
GRACE_S = 1.0  # how long after Fn-Deadline the agent still waits for the container
START_S = 60.0  # how long the FDK may take to open its socket
PREFIX = "fn-http-h-"
_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


class Agent:
    """One function: its FDK process, and calls to it over the unix socket."""

    def __init__(self, folder: Path, app: str = "tessera") -> None:
        self.folder = folder
        self.app = app
        self.config = yaml.safe_load((folder / "func.yaml").read_text())
        self.name = str(self.config["name"])
        self.timeout_s = float(self.config.get("timeout", 30))
        triggers = self.config.get("triggers") or [{"source": f"/{self.name}"}]
        self.route = f"/t/{app}{triggers[0]['source']}"
        self.dir = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: httpx.Client | None = None

    def start(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="fn-")  # short: unix socket paths are limited
        sock = os.path.join(self.dir, "lsnr.sock")
        env = {
            **os.environ,
            **self.fn_config(),
            "FN_FORMAT": "http-stream",
            "FN_LISTENER": f"unix:{sock}",
            "FN_APP_NAME": self.app,
            "FN_APP_ID": self.app,
            "FN_FN_NAME": self.name,
            "FN_FN_ID": self.name,
            "FN_MEMORY": str(self.config.get("memory", 128)),
            "FN_TYPE": "sync",
        }
        self.proc = subprocess.Popen([sys.executable, str(self.folder / "func.py")], env=env)
        deadline = time.monotonic() + START_S
        while not os.path.exists(sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the FDK did not open {sock}")
            time.sleep(0.05)
        self.client = httpx.Client(
            transport=httpx.HTTPTransport(uds=sock),
            base_url="http://fn",
            timeout=self.timeout_s + GRACE_S,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
        )

    def fn_config(self) -> dict[str, str]:
        """func.yaml config, references (`${KEY}`) resolved from this environment when set."""
        out = {}
        for k, v in (self.config.get("config") or {}).items():
            value = os.path.expandvars(str(v))
            if "${" not in value:
                out[str(k)] = value
        return out

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def call(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> Answer:
        """One invocation through the HTTP trigger, in the agent's gateway form."""
        assert self.client is not None, "start() first"
        call_id = uuid.uuid4().hex
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.timeout_s)
        fwd = [
            ("Fn-Call-Id", call_id),
            ("Fn-Deadline", deadline.isoformat(timespec="milliseconds")),
            ("Fn-Intent", "httprequest"),
            ("Fn-Http-Method", method),
            ("Fn-Http-Request-Url", url),
        ]
        for k, v in headers:
            if k.lower() not in _HOP:
                fwd.append(("Fn-Http-H-" + k, v))
                if k.lower() == "content-type":
                    fwd.append(("Content-Type", v))
        try:
            r = self.client.post("/call", content=body, headers=fwd)
        except httpx.TimeoutException:
            return _error(504, "Timed out", call_id)
        except httpx.TransportError as e:
            return _error(502, f"function container failed: {e}", call_id)
        out: list[tuple[str, str]] = []
        for k, v in r.headers.multi_items():
            lk = k.lower()
            if lk.startswith(PREFIX) and lk[len(PREFIX) :] not in _HOP:
                out.append((k[len(PREFIX) :], v))
            elif lk == "content-type":
                out.append((k, v))
        out.append(("Fn-Call-Id", call_id))
        return int(r.headers.get("fn-http-status") or r.status_code), out, r.content


def _error(status: int, message: str, call_id: str) -> Answer:
    body = json.dumps({"message": message}).encode()
    return status, [("Content-Type", "application/json"), ("Fn-Call-Id", call_id)], body


def front_door(agent: Agent) -> Route:
    """The Fn agent's routes: `/version`, and the HTTP trigger `agent.route` to the function."""

    def route(method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> Reply:
        path = target.split("?", 1)[0]
        if method == "GET" and path == "/version":
            return 200, [("Content-Type", "application/json")], b'{"version":"tessera"}'
        if path == agent.route or path.startswith(agent.route + "/"):
            host = dict((k.lower(), v) for k, v in headers).get("host", "localhost")
            return agent.call(method, f"http://{host}{target}", headers, body)
        return 404, [("Content-Type", "application/json")], b'{"message":"not found"}'

    return route


def _exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds serve_forever, so the FDK is stopped too


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--app", default="tessera")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--host", default="127.0.0.1")
    a = p.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit)
    agent = Agent(a.dir.resolve(), a.app)
    try:
        agent.start()  # inside the try: a SIGTERM while the FDK starts still stops it
        with (
            server(a.host, a.port, front_door(agent)) as httpd,
            contextlib.suppress(KeyboardInterrupt),
        ):
            httpd.serve_forever()
    finally:
        agent.stop()


if __name__ == "__main__":
    main()
