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
import json
import os
import random
import signal
import socket
import sys
from typing import Any

from tessera.functions.loader import Handler
from tessera.platforms.local.protocol import pack, recv_frame
from tessera.platforms.local.sandbox import (
    INSTANCE_ENV,
    announce,
    empty_retired,
    isolate_instance,
    retire_instance_dirs,
)
from tessera.platforms.local.worker import launch_parser, load, lower_priority, serve


def _reap(_signum: int, _frame: Any) -> None:
    sandboxed = INSTANCE_ENV in os.environ
    try:
        while True:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return
            if sandboxed:
                retire_instance_dirs(pid)  # its own /tmp and /dev/shm go with it
    except ChildProcessError:
        return


def _outlive_instances() -> None:
    """In a sandbox, wait for every instance forked here to end before exiting: the
    template is the main process of the sandbox's PID namespace, whose end kills every
    process in it, so an early exit would cut off the requests a redeploy or delete lets
    the old version's instances finish."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    while True:
        try:
            os.wait()
        except InterruptedError:
            continue
        except ChildProcessError:
            return


def _child(
    control: socket.socket,
    mine: socket.socket,
    theirs: socket.socket,
    handler: Handler,
    args: argparse.Namespace,
    env: dict[str, str],
) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    isolation = os.environ.pop(INSTANCE_ENV, None)
    if isolation is not None:  # a sandboxed template: this instance gets namespaces of its own
        try:
            fds = (control.fileno(), mine.fileno(), theirs.fileno())
            isolate_instance(isolation == "net", inherited=fds)
            announce(mine)  # its host pid, for the platform (we only know our namespace's)
        except OSError as e:
            print(f"tessera: instance not started: {e}", file=sys.stderr, flush=True)
            os._exit(1)
    os.environ.update(env)  # this instance's own variables (its GPU partition)
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
    args = launch_parser(__doc__, "--control-fd").parse_args(argv)
    control = socket.socket(fileno=args.control_fd)
    handler = load(args, control)
    if handler is None:
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
        if frame is None:  # the platform retired this version or went away
            if INSTANCE_ENV in os.environ:
                _outlive_instances()
            return  # workers see EOF on their own sockets when the platform closes them
        if frame[0].get("type") != "spawn":
            continue
        env = {str(k): str(v) for k, v in (frame[0].get("env") or {}).items()}
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        if INSTANCE_ENV in os.environ:  # the platform reads the instance's pid announcement
            theirs.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as e:  # at the task limit: refuse this spawn, keep the template
            mine.close()
            theirs.close()
            control.sendall(pack({"type": "error", "error": f"fork: {e}"}))
            continue
        if pid == 0:
            _child(control, mine, theirs, handler, args, env)
        mine.close()
        socket.send_fds(control, [pack({"type": "spawned", "pid": pid})], [theirs.fileno()])
        theirs.close()
        if INSTANCE_ENV in os.environ:
            empty_retired()  # after the answer: off the spawn's path


if __name__ == "__main__":
    main()
