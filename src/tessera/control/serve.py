"""`tessera up`: the local platform, its gateway and the control loop, in one process.

Assembled here (the control layer sits above the platforms) so the CLI, the
demo and the tests start the platform the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.autoscaling import create
from tessera.carbon.footprint import Footprinter
from tessera.control.loop import ControlLoop
from tessera.core.errors import InputError
from tessera.functions.package import pack_dir
from tessera.platforms.local.gateway import Gateway
from tessera.platforms.local.platform import LocalPlatform


@dataclass
class Platform:
    platform: LocalPlatform
    control: ControlLoop
    gateway: Gateway


def build(
    home: Path,
    autoscaler: dict[str, Any] | None = None,
    interval_s: float = 2.0,
    use_template: bool = True,
    functions: list[Path] | None = None,
    admin: bool = True,
    sandbox: str = "off",
    footprint: Footprinter | None = None,
    secrets_from_env: bool = False,
) -> Platform:
    """The platform, its control loop and gateway; `functions` (folders) are deployed at start.

    `sandbox`: bwrap|auto|off for the functions' processes (`tessera up` asks for bwrap);
    `footprint`: where it runs, for the energy and carbon of every record;
    `secrets_from_env`: secrets not in the store come from SECRET_<NAME> variables."""
    policy = create(autoscaler or {"kind": "kpa"})
    platform = LocalPlatform(
        home,
        use_template=use_template,
        bucket_s=interval_s,
        reactive=bool(getattr(policy, "reactive", False)),
        sandbox=sandbox,
        footprint=footprint,
        secrets_from_env=secrets_from_env,
    )
    control = ControlLoop(platform, policy, interval_s)
    platform.poke = control.poke

    async def startup() -> None:
        await platform.start()
        for d in functions or []:
            row = await platform.deploy(await asyncio.to_thread(pack_dir, d))
            logging.getLogger("tessera.up").info("deployed %s v%d", row.name, row.version)
        control.start()

    async def shutdown() -> None:
        await control.stop()
        await platform.close()

    gateway = Gateway(platform, lambda: list(control.decisions), [startup], [shutdown], admin)
    return Platform(platform, control, gateway)


def uvicorn_config(
    app: Any,
    host: str,
    port: int,
    log_level: str = "warning",
    tls: tuple[Path, Path] | None = None,
) -> Any:
    """`tls`: (certificate, key) PEM files to serve HTTPS instead of HTTP."""
    import uvicorn

    from tessera.platforms.local.http import OneWriteHttpToolsProtocol

    loop = "uvloop"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        loop = "asyncio"
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop=loop,
        http=OneWriteHttpToolsProtocol,  # httptools, each response in one write
        lifespan="on",
        access_log=False,
        log_level=log_level,
        timeout_keep_alive=30,
        # not behind a proxy: no X-Forwarded-* rewriting middleware on every request
        proxy_headers=False,
        server_header=False,
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
    )


def listen(host: str, port: int) -> list[socket.socket]:
    """Bound sockets for the gateway on every address `host` resolves to (as asyncio's
    `create_server` would), before anything else starts: a port in use or an address this
    machine does not have is one `InputError` naming the option, not a server log line after
    the platform has started and deployed its functions."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        )
    except (socket.gaierror, UnicodeError) as e:
        raise InputError(
            "--host", host, f"an address or name this machine resolves ({e})"
        ) from None
    out: list[socket.socket] = []
    seen: set[tuple[Any, ...]] = set()
    try:
        for family, kind, proto, _name, addr in infos:
            if (family, addr) in seen:
                continue
            seen.add((family, addr))
            sock = socket.socket(family, kind, proto)
            out.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:  # the IPv4 address gets its own socket
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(addr)
            except OSError as e:
                where = ":".join(str(a) for a in addr[:2])
                if e.errno == errno.EADDRINUSE:
                    raise InputError(
                        "--port", port, f"a port free on {host} ({where} is in use; 0 picks one)"
                    ) from None
                if e.errno == errno.EACCES:
                    raise InputError(
                        "--port", port, "a port this user may bind (below 1024 needs privileges)"
                    ) from None
                if e.errno == errno.EADDRNOTAVAIL:
                    raise InputError(
                        "--host", host, "an address of this machine (e.g. 127.0.0.1, 0.0.0.0)"
                    ) from None
                raise InputError("--host/--port", where, f"an address to listen on ({e})") from None
            if port == 0:  # one free port for every address
                port = sock.getsockname()[1]
    except BaseException:
        for sock in out:
            sock.close()
        raise
    return out


def serve(
    home: Path,
    host: str,
    port: int,
    autoscaler: dict[str, Any] | None,
    interval_s: float = 2.0,
    functions: list[Path] | None = None,
    admin: bool = True,
    tls: tuple[Path, Path] | None = None,
    sandbox: str = "bwrap",
    footprint: Footprinter | None = None,
    sockets: list[socket.socket] | None = None,
    banner: Callable[[], None] | None = None,
    secrets_from_env: bool = False,
) -> None:
    """Run until interrupted (Ctrl-C / SIGTERM shut down gracefully). `sockets`: the
    gateway's, bound already (`listen`); default: bound here, before the platform starts.
    `banner` runs once the platform is built (its home claimed), before it serves."""
    import uvicorn

    if sockets is None:
        sockets = listen(host, port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    p = build(
        home,
        autoscaler,
        interval_s,
        functions=functions,
        admin=admin,
        sandbox=sandbox,
        footprint=footprint,
        secrets_from_env=secrets_from_env,
    )
    if banner is not None:
        banner()
    uvicorn.Server(uvicorn_config(p.gateway, host, port, tls=tls)).run(sockets=sockets)


@contextlib.asynccontextmanager
async def running(
    home: Path,
    port: int = 0,
    autoscaler: dict[str, Any] | None = None,
    interval_s: float = 2.0,
    use_template: bool = True,
    host: str = "127.0.0.1",
    functions: list[Path] | None = None,
    admin: bool = True,
    sandbox: str = "off",
    footprint: Footprinter | None = None,
) -> AsyncIterator[tuple[Platform, str]]:
    """Run the platform inside the current event loop (tests, demo); yields (platform, URL)."""
    import uvicorn

    p = build(home, autoscaler, interval_s, use_template, functions, admin, sandbox, footprint)
    server = uvicorn.Server(uvicorn_config(p.gateway, host, port))
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("gateway failed to start")
        await asyncio.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield p, f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        await task
