"""Guest memory and handle tables: what the host functions stand on.

`GuestMemory` turns guest addresses into host addresses without copying,
after checking that every byte a call will touch lies inside the guest's
linear memory (an out-of-bounds pointer becomes a `GuestFault`, which the
runner reports and turns into MPI_Abort: never a segfault, never a hang).
wasmtime reserves the whole 4 GiB range of a 32-bit memory up front, so the
base address stays put when the guest grows its memory; the size is re-read
when a check fails before giving up.

`Tables` maps small guest integers to the host MPI's handles, one table per
kind (communicators, datatypes, ops, requests, groups). Host handles are kept
as 64-bit integers (MPICH's are ints, Open MPI's pointers); slot 0 of each
kind is its NULL handle and a free slot holds 0. The native shim owns the
arrays when it is loaded (so C and Python see one table); otherwise they are
plain ctypes arrays.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any

KINDS = ("comm", "type", "op", "req", "group")
TABLE_SIZE = 4096
"""Handles per kind (a guest holding more live requests than this gets a clear error)."""
FIRST_FREE = {"comm": 3, "type": 35, "op": 15, "req": 1, "group": 2}
"""First slot after each kind's predefined handles (mpi.h's numbering)."""


class GuestFault(Exception):
    """The guest passed something the host must not use (bad pointer, bad handle)."""


class GuestMemory:
    """Bounds-checked, zero-copy access to one instance's linear memory."""

    def __init__(self, store: Any, memory: Any) -> None:
        self.store = store
        self.memory = memory
        self.base = 0
        self.size = 0
        self.view = memoryview(b"")
        self.refresh()

    def refresh(self) -> None:
        ptr = self.memory.data_ptr(self.store)
        self.base = ctypes.addressof(ptr.contents)
        self.size = int(self.memory.data_len(self.store))
        self.view = memoryview((ctypes.c_ubyte * self.size).from_address(self.base)).cast("B")

    def check(self, ptr: int, nbytes: int, what: str) -> int:
        """The host address of guest [ptr, ptr+nbytes) for a raw guest pointer (an i32 as
        wasm passes it, so negative values are addresses >= 2 GiB), or `GuestFault`."""
        return self.region(ptr & 0xFFFFFFFF, nbytes, what)

    def region(self, start: int, nbytes: int, what: str) -> int:
        """The host address of guest bytes [start, start+nbytes), `start` an offset already
        computed in Python integers (never wrapped): negative or past the end is a fault."""
        if nbytes < 0:
            raise GuestFault(f"{what}: negative length {nbytes}")
        if start < 0 or start + nbytes > self.size:
            self.refresh()
            if start < 0 or start + nbytes > self.size:
                raise GuestFault(
                    f"{what}: guest buffer [{start:#x}, {start + nbytes:#x}) lies outside "
                    f"the guest memory (size {self.size:#x})"
                )
        return self.base + start

    def i32(self, ptr: int, what: str) -> int:
        self.check(ptr, 4, what)
        return int(struct.unpack_from("<i", self.view, ptr & 0xFFFFFFFF)[0])

    def set_i32(self, ptr: int, value: int, what: str) -> None:
        self.check(ptr, 4, what)
        struct.pack_into("<i", self.view, ptr & 0xFFFFFFFF, value)

    def i32s(self, ptr: int, n: int, what: str) -> list[int]:
        if n <= 0:
            return []
        self.check(ptr, 4 * n, what)
        return list(struct.unpack_from(f"<{n}i", self.view, ptr & 0xFFFFFFFF))

    def set_i32s(self, ptr: int, values: list[int], what: str) -> None:
        if not values:
            return
        self.check(ptr, 4 * len(values), what)
        struct.pack_into(f"<{len(values)}i", self.view, ptr & 0xFFFFFFFF, *values)

    def f64(self, ptr: int, what: str) -> float:
        self.check(ptr, 8, what)
        return float(struct.unpack_from("<d", self.view, ptr & 0xFFFFFFFF)[0])

    def read(self, ptr: int, n: int, what: str) -> bytes:
        self.check(ptr, n, what)
        p = ptr & 0xFFFFFFFF
        return bytes(self.view[p : p + n])

    def write(self, ptr: int, data: bytes, what: str) -> None:
        self.check(ptr, len(data), what)
        p = ptr & 0xFFFFFFFF
        self.view[p : p + len(data)] = data

    def cstr(self, ptr: int, what: str, limit: int = 4096) -> str:
        p = ptr & 0xFFFFFFFF
        self.check(p, 1, what)
        end = min(self.size, p + limit)
        raw = bytes(self.view[p:end])
        cut = raw.find(b"\0")
        if cut < 0:
            raise GuestFault(f"{what}: string at {p:#x} is not NUL-terminated within {limit} bytes")
        return raw[:cut].decode("utf-8", "replace")


MASK64 = (1 << 64) - 1


def _signed(host: int) -> int:
    """mpi4py reports handles as unsigned 64-bit numbers; the tables hold int64."""
    host &= MASK64
    return host - (1 << 64) if host >= 1 << 63 else host


class Tables:
    """Guest handle -> host handle, per kind (see the module docstring).

    Values go in as mpi4py reports them (`obj.handle`, unsigned) and come out the same
    way, ready for `fromhandle`; the C shim reads the int64 and narrows it to the MPI
    library's handle type.
    """

    def __init__(self, arrays: dict[str, Any] | None = None) -> None:
        self.arrays: dict[str, Any] = arrays or {k: (ctypes.c_int64 * TABLE_SIZE)() for k in KINDS}

    def set(self, kind: str, guest: int, host: int) -> None:
        self.arrays[kind][guest] = _signed(host)

    def get(self, kind: str, guest: int, what: str) -> int:
        if not 0 <= guest < TABLE_SIZE:
            raise GuestFault(f"{what}: {guest} is not a valid {kind} handle")
        host = int(self.arrays[kind][guest])
        if host == 0:
            raise GuestFault(f"{what}: {guest} is not a valid {kind} handle (freed or never made)")
        return host & MASK64

    def new(self, kind: str, host: int, what: str) -> int:
        arr = self.arrays[kind]
        for i in range(FIRST_FREE[kind], TABLE_SIZE):
            if arr[i] == 0:
                arr[i] = _signed(host)
                return i
        raise GuestFault(f"{what}: more than {TABLE_SIZE} live {kind} handles")

    def free(self, kind: str, guest: int) -> None:
        if guest >= FIRST_FREE[kind]:
            self.arrays[kind][guest] = 0

    def find(self, kind: str, host: int) -> int | None:
        """The guest handle of `host` (first match), if any."""
        arr, want = self.arrays[kind], _signed(host)
        for i in range(TABLE_SIZE):
            if arr[i] == want:
                return i
        return None
