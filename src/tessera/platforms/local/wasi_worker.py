"""A worker that hosts one WASI module (a C function compiled to wasm32-wasi) with wasmtime.

`python -m tessera.platforms.local.wasi_worker --fd N ...` takes the same arguments
and speaks the same frames as the Python worker (`worker.py`). The module is compiled
and instantiated once per worker (its `start` export runs then); each request calls
the handler export with the body copied into the module's memory, and the module
builds its response through the host functions `tessera.h` declares. WASI gives it
stdout/stderr (the function's log) and clocks; no directories, no environment, no
network. A trap fails that call with a 500 and ends the worker (the pool replaces
it): an instance whose memory may be half-updated is not reused.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera.functions.contract import decode_event
from tessera.functions.runtimes import WASI, module_file
from tessera.platforms.local.protocol import FrameReader, pack
from tessera.platforms.local.worker import (
    function_logger,
    launch_parser,
    lower_priority,
    process_cpu_s,
)

TEXT = "text/plain; charset=utf-8"


class ModuleError(Exception):
    """The module cannot serve: missing exports, a trap, or a failed `start`."""


@dataclass
class _Call:
    """One call in progress (start or handle): what the module has said so far."""

    meta: dict[str, Any]
    event: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: list[bytes] = field(default_factory=list)
    failure: str = ""
    _is_json: bool | None = None

    def set_status(self, status: int) -> None:
        if 100 <= status <= 599:
            self.status = status
        elif not self.failure:
            self.failure = f"ValueError: HTTP status {status} is not in 100..599"

    def is_json(self) -> bool:
        """Whether a Python or JS handler would have been given parsed JSON."""
        if self._is_json is None:
            ev = decode_event(self.event, self.meta.get("ct"))
            self._is_json = ev is not None and not isinstance(ev, bytes)
        return self._is_json


class WasiFunction:
    """One instance of a function's module and the host functions it imports."""

    def __init__(self, path: Path, export: str, function: str, version: int) -> None:
        try:
            import wasmtime
        except ImportError:
            raise ModuleError("runtime wasi needs wasmtime: pip install wasmtime") from None
        self._wt = wasmtime
        self.function = function
        self.version = version
        self.call: _Call | None = None
        engine = wasmtime.Engine()
        try:
            module = wasmtime.Module.from_file(engine, str(path))
        except wasmtime.WasmtimeError as e:
            raise ModuleError(f"{path.name} is not a valid module: {e}") from None
        self.store = wasmtime.Store(engine)
        wasi = wasmtime.WasiConfig()
        wasi.inherit_stdout()
        wasi.inherit_stderr()
        self.store.set_wasi(wasi)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        self._define_host(linker)
        try:
            instance = linker.instantiate(self.store, module)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as e:
            raise ModuleError(f"instantiating {path.name} failed: {e}") from None
        exports = instance.exports(self.store)
        names = [e.name for e in module.exports]
        for required in ("memory", "tessera_alloc", export):
            if required not in names:
                raise ModuleError(
                    f"{path.name} does not export {required!r} (it exports {', '.join(names)}); "
                    "build it with tessera fn build-wasm"
                )
        self.memory: Any = exports["memory"]
        self._alloc: Any = exports["tessera_alloc"]
        self._free: Any = exports["tessera_free"] if "tessera_free" in names else None
        self._flush: Any = exports["tessera_flush"] if "tessera_flush" in names else None
        self._handle: Any = exports[export]
        self._start: Any = exports["start"] if "start" in names else None
        self.stop_fn: Any = exports["stop"] if "stop" in names else None
        if "_initialize" in names:  # a reactor's constructors (libc, static initialisers)
            init: Any = exports["_initialize"]
            self._guard(lambda: init(self.store))

    # --- host functions (module "tessera", see tessera.h) -------------------------------------
    def _define_host(self, linker: Any) -> None:
        wt = self._wt
        i32, i64 = wt.ValType.i32(), wt.ValType.i64()

        def define(
            name: str, params: list[Any], results: list[Any], fn: Callable[..., Any]
        ) -> None:
            linker.define_func(
                "tessera", name, wt.FuncType(params, results), fn, access_caller=True
            )

        def text(caller: Any, ptr: int, n: int) -> str:
            return bytes(self.memory.read(caller, ptr, ptr + n)).decode("utf-8", "replace")

        def give(caller: Any, value: str | None, buf: int, cap: int) -> int:
            data = (value or "").encode()
            if cap > 0 and data:
                self.memory.write(caller, data[:cap], buf)
            return len(data)

        define("set_status", [i32, i32], [], lambda _c, _x, s: self._now().set_status(s))
        define("set_header", [i32] * 5, [], self._set_header_host(text))
        define("write_body", [i32] * 3, [], self._write_host())
        define("fail", [i32] * 5, [], self._fail_host(text))
        define("function_name", [i32] * 3, [i32], lambda c, _x, b, n: give(c, self.function, b, n))
        define(
            "invocation_id",
            [i32] * 3,
            [i32],
            lambda c, _x, b, n: give(c, str(self._now().meta.get("id") or ""), b, n),
        )
        define(
            "content_type",
            [i32] * 3,
            [i32],
            lambda c, _x, b, n: give(c, self._now().meta.get("ct"), b, n),
        )

        def header(caller: Any, _ctx: int, name: int, name_len: int, buf: int, cap: int) -> int:
            headers = self._now().meta.get("headers") or {}
            want = text(caller, name, name_len).lower()
            for k, v in headers.items():
                if k.lower() == want:
                    return give(caller, str(v), buf, cap)
            return -1

        define("request_header", [i32] * 5, [i64], header)

        def remaining_ms(_caller: Any, _ctx: int) -> int:
            deadline = float(self._now().meta.get("deadline") or 0.0)
            return int(1000 * (deadline - time.time())) if deadline else 0

        define("remaining_ms", [i32], [i64], remaining_ms)
        define("version", [i32], [i32], lambda _c, _x: self.version)
        define("event_is_json", [i32], [i32], lambda _c, _x: int(self._now().is_json()))

    def _set_header_host(self, text: Callable[[Any, int, int], str]) -> Callable[..., None]:
        def set_header(caller: Any, _ctx: int, k: int, kn: int, v: int, vn: int) -> None:
            self._now().headers[text(caller, k, kn)] = text(caller, v, vn)

        return set_header

    def _write_host(self) -> Callable[..., None]:
        def write_body(caller: Any, _ctx: int, ptr: int, n: int) -> None:
            self._now().body.append(bytes(self.memory.read(caller, ptr, ptr + n)))

        return write_body

    def _fail_host(self, text: Callable[[Any, int, int], str]) -> Callable[..., None]:
        def fail(caller: Any, _ctx: int, t: int, tn: int, m: int, mn: int) -> None:
            self._now().failure = f"{text(caller, t, tn)}: {text(caller, m, mn)}"

        return fail

    def _now(self) -> _Call:
        if self.call is None:
            raise RuntimeError("a tessera_* host function was called outside handle/start")
        return self.call

    # --- calls ----------------------------------------------------------------------------
    def _guard(self, fn: Callable[[], Any]) -> Any:
        """Run a call into the module; a trap (or proc_exit) becomes a ModuleError."""
        wt = self._wt
        try:
            return fn()
        except (wt.Trap, wt.WasmtimeError, wt.ExitTrap) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModuleError(f"Trap: {first}") from None

    def _invoke(self, export: Any, payload: bytes, call: _Call) -> int:
        """Copy `payload` (NUL-terminated) into the module, call `export(ptr, len, ctx)`."""
        self.call = call
        try:
            ptr = int(self._guard(lambda: self._alloc(self.store, len(payload) + 1)))
            if ptr == 0:
                raise ModuleError(f"Trap: tessera_alloc({len(payload) + 1}) returned NULL")
            self.memory.write(self.store, payload + b"\0", ptr)
            rc = int(self._guard(lambda: export(self.store, ptr, len(payload), 1)))
            if self._free is not None:
                self._guard(lambda: self._free(self.store, ptr))
            if self._flush is not None:
                self._guard(lambda: self._flush(self.store))
            return rc
        finally:
            self.call = None

    def start(self, config: dict[str, Any]) -> None:
        if self._start is None:
            return
        call = _Call({})
        rc = self._invoke(self._start, json.dumps(config).encode(), call)
        if call.failure or rc != 0:
            raise ModuleError(call.failure or f"Error: start returned {rc}")

    def handle(self, meta: dict[str, Any], body: bytes) -> tuple[int, dict[str, str], bytes, str]:
        """(status, headers, body, error), as `call_handler` answers for Python handlers."""
        call = _Call(meta, body)
        rc = self._invoke(self._handle, body, call)
        if call.failure or rc != 0:
            error = call.failure or f"Error: handle returned {rc}"
            return 500, {"content-type": TEXT}, error.encode(), error
        out = b"".join(call.body)
        headers = call.headers
        if not out:
            return (204 if call.status == 200 else call.status), headers, b"", ""
        if not any(k.lower() == "content-type" for k in headers):
            headers["content-type"] = "application/octet-stream"
        return call.status, headers, out, ""

    def stop(self) -> None:
        if self.stop_fn is not None:
            self._guard(lambda: self.stop_fn(self.store))


def _serve(sock: socket.socket, fn: WasiFunction, log: logging.Logger) -> None:
    """Answer requests one at a time until the socket closes (or the module traps)."""
    frames = FrameReader(sock)
    while (frame := frames.next()) is not None:
        meta, body = frame
        t0 = time.perf_counter()
        c0 = process_cpu_s()
        broken = False
        try:
            status, headers, out, error = fn.handle(meta, body)
        except ModuleError as e:
            error, broken = str(e), True
            log.error("invocation %s: %s; this instance stops", meta.get("id"), error)
            status, headers, out = 500, {"content-type": TEXT}, error.encode()
        if error and not broken:
            log.error("invocation %s failed: %s", meta.get("id"), error)
        reply = {"id": meta.get("id"), "status": status, "headers": headers, "error": error}
        reply["exec_s"] = time.perf_counter() - t0
        reply["cpu_s"] = process_cpu_s() - c0
        sock.sendall(pack(reply, out))
        if broken:
            return


def main(argv: list[str] | None = None) -> None:
    a = launch_parser(__doc__, "--fd").parse_args(argv)
    lower_priority()
    sock = socket.socket(fileno=a.fd)
    log = function_logger(a.function)
    export = a.handler.rsplit(".", 1)[1]
    path = Path(a.code) / module_file(WASI, a.handler)
    try:
        fn = WasiFunction(path, export, a.function, a.version)
        fn.start(json.loads(a.config))
    except (ModuleError, OSError) as e:
        sock.sendall(pack({"type": "failed", "error": str(e)}))
        return
    sock.sendall(pack({"type": "ready", "pid": os.getpid()}))
    try:
        _serve(sock, fn, log)
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        try:
            fn.stop()
        except ModuleError as e:
            log.error("stop() failed: %s", e)


if __name__ == "__main__":
    main()
