"""The template (zygote) of one function version: imports once, forks a worker per cold start.

Like SOCK's and Android's zygotes: the interpreter start and the handler's
imports (numpy, a model, ...) are paid once, when the function is deployed.
A cold start is then one `fork()`; the child gets a fresh socket pair whose
other end is passed to the gateway with SCM_RIGHTS, plus its pid.

Protocol on the control socket: the template sends `{"type": "ready"}` or
`{"type": "failed", "error": ...}` after importing; then for each
`{"type": "spawn"}` it answers `{"type": "spawned", "pid": N}` with the fd.
It exits when the control socket closes (the gateway is gone).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import random
import signal
import socket
import sys
from typing import Any

from tessera.functions.loader import Handler, HandlerError, load_handler
from tessera.platforms.local.protocol import pack, recv_frame
from tessera.platforms.local.worker import lower_priority, serve


def _reap(_signum: int, _frame: Any) -> None:
    try:
        while True:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return
    except ChildProcessError:
        return


def _child(
    control: socket.socket,
    mine: socket.socket,
    theirs: socket.socket,
    handler: Handler,
    args: argparse.Namespace,
) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    control.close()
    theirs.close()
    lower_priority()
    random.seed()  # a forked child must not share its parent's random stream
    np_random = sys.modules.get("numpy.random")  # only if imported: importing it costs ~8 ms
    if np_random is not None:
        np_random.seed(int.from_bytes(os.urandom(4), "little"))
    code = 0
    try:
        serve(mine, handler, args.function, args.version, args.concurrency, json.loads(args.config))
    except BaseException:
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--control-fd", type=int, required=True)
    p.add_argument("--code", required=True)
    p.add_argument("--handler", required=True)
    p.add_argument("--function", required=True)
    p.add_argument("--version", type=int, default=0)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--config", default="{}")
    p.add_argument("--preload", default="", help="comma-separated modules to import first")
    args = p.parse_args(argv)
    control = socket.socket(fileno=args.control_fd)
    try:
        handler = load_handler(args.code, args.handler)
        for module in filter(None, args.preload.split(",")):
            importlib.import_module(module)
    except HandlerError as e:
        control.sendall(pack({"type": "failed", "error": str(e)}))
        return
    except Exception as e:
        control.sendall(pack({"type": "failed", "error": f"preload: {type(e).__name__}: {e}"}))
        return
    signal.signal(signal.SIGCHLD, _reap)
    # Move everything imported so far out of the collector's reach: a child's GC passes
    # would otherwise write to (and so copy) every page of the parent's objects.
    gc.collect()
    gc.freeze()
    control.sendall(pack({"type": "ready", "pid": os.getpid()}))
    while True:
        try:
            frame = recv_frame(control)
        except InterruptedError:
            continue
        if frame is None:
            return  # the gateway went away; workers see EOF on their own sockets
        if frame[0].get("type") != "spawn":
            continue
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(control, mine, theirs, handler, args)
        mine.close()
        socket.send_fds(control, [pack({"type": "spawned", "pid": pid})], [theirs.fileno()])
        theirs.close()


if __name__ == "__main__":
    main()
