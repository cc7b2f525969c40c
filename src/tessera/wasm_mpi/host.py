"""The guest's MPI imports, served by the host MPI through mpi4py.

Every function of `mpi.h` has a Python implementation here (the pure-Python
path, always available and always tested); the native shim
(`tessera.wasm_mpi.native`) replaces the hot ones with C when it is built.
Both share one set of handle tables (`memory.Tables`).

Conventions: arguments arrive as the guest's i32 values; pointers are guest
addresses checked by `GuestMemory`; handles go through `Tables`; ranks, tags
and `MPI_UNDEFINED` are translated between the guest's constants (mpi.h) and
the host's. Buffers are never copied: mpi4py gets the host address of the
guest's bytes. A user-defined reduction (MPI_Op_create) calls back into the
guest through its function table, on copies of the operands in guest memory
(the host's operands do not live in guest memory); that needs the module to
export `malloc`, `free` and its function table, which `tessera wasm cc` does.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from tessera.wasm_mpi import abi
from tessera.wasm_mpi.memory import FIRST_FREE, GuestFault, GuestMemory, Tables

C = abi.constants()
G_ANY_SOURCE, G_PROC_NULL, G_ROOT = C["MPI_ANY_SOURCE"], C["MPI_PROC_NULL"], C["MPI_ROOT"]
G_ANY_TAG, G_UNDEFINED = C["MPI_ANY_TAG"], C["MPI_UNDEFINED"]
G_IN_PLACE = abi.IN_PLACE
SUCCESS = 0

GUEST_TYPES = {
    "MPI_CHAR": "CHAR", "MPI_SIGNED_CHAR": "SIGNED_CHAR", "MPI_UNSIGNED_CHAR": "UNSIGNED_CHAR",
    "MPI_BYTE": "BYTE", "MPI_SHORT": "SHORT", "MPI_UNSIGNED_SHORT": "UNSIGNED_SHORT",
    "MPI_INT": "INT", "MPI_UNSIGNED": "UNSIGNED",
    "MPI_LONG": "INT32_T", "MPI_UNSIGNED_LONG": "UINT32_T",  # wasm32 long is 4 bytes
    "MPI_LONG_LONG_INT": "LONG_LONG", "MPI_UNSIGNED_LONG_LONG": "UNSIGNED_LONG_LONG",
    "MPI_FLOAT": "FLOAT", "MPI_DOUBLE": "DOUBLE", "MPI_C_BOOL": "C_BOOL",
    "MPI_INT8_T": "INT8_T", "MPI_INT16_T": "INT16_T", "MPI_INT32_T": "INT32_T",
    "MPI_INT64_T": "INT64_T", "MPI_UINT8_T": "UINT8_T", "MPI_UINT16_T": "UINT16_T",
    "MPI_UINT32_T": "UINT32_T", "MPI_UINT64_T": "UINT64_T",
    "MPI_FLOAT_INT": "FLOAT_INT", "MPI_DOUBLE_INT": "DOUBLE_INT",
    "MPI_LONG_INT": "TWOINT",  # struct { long (4 bytes); int; } is two int32 on wasm32
    "MPI_2INT": "TWOINT", "MPI_SHORT_INT": "SHORT_INT", "MPI_PACKED": "PACKED",
    "MPI_AINT": "INT32_T", "MPI_OFFSET": "INT64_T", "MPI_COUNT": "INT64_T",
    "MPI_WCHAR": "INT32_T",  # wasi's wchar_t is a 32-bit int
}  # fmt: skip
"""Guest datatype -> mpi4py's predefined type; MPI_LONG_DOUBLE (binary128 on wasm32) is a
16-byte opaque type that moves but cannot be reduced."""
GUEST_OPS = (
    "MAX", "MIN", "SUM", "PROD", "LAND", "BAND", "LOR", "BOR", "LXOR", "BXOR", "MINLOC",
    "MAXLOC", "REPLACE", "NO_OP",
)  # fmt: skip


def mpi() -> Any:
    """mpi4py's MPI module, initialised as a native MPI program would be.

    mpi4py asks for MPI_THREAD_MULTIPLE by default, which makes MPICH lock around every
    call and skip its fastest shared-memory collectives (measured: Allreduce of one
    double 1.5 us instead of 0.26 us). The guest is one thread, so ask for what a C
    program's MPI_Init gets.
    """
    import mpi4py

    mpi4py.rc.thread_level = "single"
    from mpi4py import MPI

    return MPI


class Exit(Exception):
    """The guest called MPI_Abort (code) — the runner ends the job."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _reported(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, with any failure but the guest's own exit turned into a `GuestFault` naming the call."""

    def call(*args: int) -> Any:
        try:
            return fn(*args)
        except (GuestFault, Exit):
            raise
        except Exception as e:
            raise GuestFault(f"{name}: {type(e).__name__}: {e}") from e

    call.__name__ = name
    return call


class Host:
    """One guest instance's MPI state: memory, tables, user ops, finalize flag."""

    def __init__(self, tables: Tables | None = None) -> None:
        self.MPI = mpi()
        self.tables = tables or Tables()
        self.mem: GuestMemory | None = None
        self.instance: Any = None
        self.store: Any = None
        self.initialized = False
        self.finalized = False
        self.user_ops: dict[int, Any] = {}
        self.op_commute: dict[int, bool] = {}
        # MPI's default, which mpi4py replaces with ERRORS_RETURN: an MPI error in the guest's
        # calls ends the job with the library's message (the guest may not check return codes)
        for c in (self.MPI.COMM_WORLD, self.MPI.COMM_SELF):
            c.Set_errhandler(self.MPI.ERRORS_ARE_FATAL)
        self._fill_predefined()

    # -- set-up ---------------------------------------------------------------------------

    def _fill_predefined(self) -> None:
        MPI, t = self.MPI, self.tables
        for g, c in enumerate((MPI.COMM_NULL, MPI.COMM_WORLD, MPI.COMM_SELF)):
            t.set("comm", g, c.handle)
        t.set("type", 0, MPI.DATATYPE_NULL.handle)
        for name, host in GUEST_TYPES.items():
            attr = "TWOINT" if host == "TWOINT" else host
            t.set("type", C[name], getattr(MPI, attr).handle)
        ld = MPI.BYTE.Create_contiguous(16)
        ld.Commit()
        t.set("type", C["MPI_LONG_DOUBLE"], ld.handle)
        t.set("op", 0, MPI.OP_NULL.handle)
        for i, name in enumerate(GUEST_OPS, start=1):
            t.set("op", i, getattr(MPI, name).handle)
        t.set("req", 0, MPI.REQUEST_NULL.handle)
        t.set("group", 0, MPI.GROUP_NULL.handle)
        t.set("group", 1, MPI.GROUP_EMPTY.handle)

    def attach(self, store: Any, instance: Any, memory: Any) -> None:
        self.store, self.instance = store, instance
        self.mem = GuestMemory(store, memory)

    @property
    def m(self) -> GuestMemory:
        if self.mem is None:
            raise GuestFault("MPI called before the guest's memory was attached")
        return self.mem

    # -- handles ------------------------------------------------------------------------

    def comm(self, g: int, what: str, cls: Any = None) -> Any:
        return (cls or self.MPI.Comm).fromhandle(self.tables.get("comm", g, what))

    def dtype(self, g: int, what: str) -> Any:
        return self.MPI.Datatype.fromhandle(self.tables.get("type", g, what))

    def op(self, g: int, what: str) -> Any:
        return self.MPI.Op.fromhandle(self.tables.get("op", g, what))

    def group(self, g: int, what: str) -> Any:
        return self.MPI.Group.fromhandle(self.tables.get("group", g, what))

    def request(self, g: int, what: str) -> Any:
        return self.MPI.Request.fromhandle(self.tables.get("req", g, what))

    # -- translation --------------------------------------------------------------------

    def rank_in(self, r: int) -> int:
        MPI = self.MPI
        table: dict[int, int] = {
            G_ANY_SOURCE: MPI.ANY_SOURCE, G_PROC_NULL: MPI.PROC_NULL, G_ROOT: MPI.ROOT,
        }  # fmt: skip
        return table.get(r, r)

    def rank_out(self, r: int) -> int:
        MPI = self.MPI
        return {
            MPI.ANY_SOURCE: G_ANY_SOURCE, MPI.PROC_NULL: G_PROC_NULL, MPI.ROOT: G_ROOT,
            MPI.UNDEFINED: G_UNDEFINED,
        }.get(r, r)  # fmt: skip

    def tag_in(self, t: int) -> int:
        return self.MPI.ANY_TAG if t == G_ANY_TAG else t

    def tag_out(self, t: int) -> int:
        return G_ANY_TAG if t == self.MPI.ANY_TAG else t

    def undefined_out(self, v: int) -> int:
        return G_UNDEFINED if v == self.MPI.UNDEFINED else v

    # -- buffers ------------------------------------------------------------------------

    def span(self, count: int, dt: Any) -> tuple[int, int]:
        """(first byte offset, bytes) that `count` items of `dt` touch; item i covers
        [i*extent + true_lb, ... + true_extent), and the extent may be negative."""
        if count <= 0:
            return 0, 0
        _, extent = dt.Get_extent()
        tlb, textent = dt.Get_true_extent()
        last = (count - 1) * extent
        lo = min(0, last) + tlb
        return lo, max(0, last) + tlb + textent - lo

    def buf(self, ptr: int, count: int, g_type: int, what: str) -> list[Any]:
        """mpi4py's [buffer, count, datatype] over guest memory (checked, not copied)."""
        if count < 0:
            raise GuestFault(f"{what}: negative count {count}")
        dt = self.dtype(g_type, what)
        lo, n = self.span(count, dt)
        m = self.m
        p = ptr & 0xFFFFFFFF
        m.region(p + lo, n, what)
        room = max(0, m.size - p)
        return [self.MPI.buffer.fromaddress(m.base + p, room), count, dt]

    def vbuf(self, ptr: int, counts: list[int], displs: list[int], g_type: int, what: str) -> Any:
        dt = self.dtype(g_type, what)
        _, extent = dt.Get_extent()
        p = ptr & 0xFFFFFFFF
        for c, d in zip(counts, displs, strict=True):
            if c < 0:
                raise GuestFault(f"{what}: negative count {c}")
            if c:
                lo, n = self.span(c, dt)
                self.m.region(p + d * extent + lo, n, what)
        room = max(0, self.m.size - p)
        return [self.MPI.buffer.fromaddress(self.m.base + p, room), (counts, displs), dt]

    def sendbuf(self, ptr: int, count: int, g_type: int, what: str) -> Any:
        if (ptr & 0xFFFFFFFF) == G_IN_PLACE:
            return self.MPI.IN_PLACE
        return self.buf(ptr, count, g_type, what)

    def put_status(self, ptr: int, st: Any, what: str) -> None:
        if ptr == 0:  # MPI_STATUS_IGNORE
            return
        count = st.Get_count(self.MPI.BYTE)
        self.m.set_i32s(
            ptr,
            [
                self.rank_out(st.Get_source()), self.tag_out(st.Get_tag()), st.Get_error(),
                self.undefined_out(count), int(st.Is_cancelled()),
            ],
            what,
        )  # fmt: skip

    def get_status(self, ptr: int, what: str) -> Any:
        src, tag, err, count, cancelled = self.m.i32s(ptr, 5, what)
        st = self.MPI.Status()
        st.Set_source(self.rank_in(src))
        st.Set_tag(self.tag_in(tag))
        st.Set_error(err)
        st.Set_elements(self.MPI.BYTE, count)
        st.Set_cancelled(bool(cancelled))
        return st

    # -- the import table ---------------------------------------------------------------

    def functions(self) -> dict[str, Callable[..., Any]]:
        """Name -> Python callable for every function of mpi.h."""
        out = {}
        for sig in abi.functions():
            fn = getattr(self, sig.name, None)
            if fn is None:
                raise RuntimeError(f"tessera.wasm_mpi.host has no {sig.name}")
            out[sig.name] = _reported(sig.name, fn)
        return out

    # -- environment --------------------------------------------------------------------

    def MPI_Init(self, argc: int, argv: int) -> int:
        self.initialized = True  # the host's MPI is up already (mpi4py); this is the guest's view
        return SUCCESS

    def MPI_Init_thread(self, argc: int, argv: int, required: int, provided: int) -> int:
        self.initialized = True
        self.m.set_i32(provided, min(required, self.MPI.Query_thread()), "MPI_Init_thread")
        return SUCCESS

    def MPI_Query_thread(self, provided: int) -> int:
        self.m.set_i32(provided, self.MPI.Query_thread(), "MPI_Query_thread")
        return SUCCESS

    def MPI_Initialized(self, flag: int) -> int:
        self.m.set_i32(flag, int(self.initialized), "MPI_Initialized")
        return SUCCESS

    def MPI_Finalize(self) -> int:
        self.finalized = True
        return SUCCESS

    def MPI_Finalized(self, flag: int) -> int:
        self.m.set_i32(flag, int(self.finalized), "MPI_Finalized")
        return SUCCESS

    def MPI_Abort(self, comm: int, code: int) -> int:
        raise Exit(code, f"the guest called MPI_Abort(comm {comm}, code {code})")

    def MPI_Wtime(self) -> float:
        return float(self.MPI.Wtime())

    def MPI_Wtick(self) -> float:
        return float(self.MPI.Wtick())

    def MPI_Get_processor_name(self, name: int, resultlen: int) -> int:
        raw = socket.gethostname().encode()[: C["MPI_MAX_PROCESSOR_NAME"] - 1]
        self.m.write(name, raw + b"\0", "MPI_Get_processor_name")
        self.m.set_i32(resultlen, len(raw), "MPI_Get_processor_name")
        return SUCCESS

    def MPI_Get_version(self, version: int, subversion: int) -> int:
        self.m.set_i32(version, C["MPI_VERSION"], "MPI_Get_version")
        self.m.set_i32(subversion, C["MPI_SUBVERSION"], "MPI_Get_version")
        return SUCCESS

    def MPI_Error_string(self, code: int, string: int, resultlen: int) -> int:
        raw = f"MPI error {code}".encode()
        self.m.write(string, raw + b"\0", "MPI_Error_string")
        self.m.set_i32(resultlen, len(raw), "MPI_Error_string")
        return SUCCESS

    def MPI_Error_class(self, code: int, cls: int) -> int:
        self.m.set_i32(cls, code, "MPI_Error_class")
        return SUCCESS

    def MPI_Comm_set_errhandler(self, comm: int, errhandler: int) -> int:
        self.comm(comm, "MPI_Comm_set_errhandler")  # validates; errors stay fatal
        return SUCCESS

    # -- point to point -----------------------------------------------------------------

    def MPI_Send(self, buf: int, count: int, dt: int, dest: int, tag: int, comm: int) -> int:
        w = "MPI_Send"
        self.comm(comm, w).Send(self.buf(buf, count, dt, w), self.rank_in(dest), tag)
        return SUCCESS

    def MPI_Ssend(self, buf: int, count: int, dt: int, dest: int, tag: int, comm: int) -> int:
        w = "MPI_Ssend"
        self.comm(comm, w).Ssend(self.buf(buf, count, dt, w), self.rank_in(dest), tag)
        return SUCCESS

    def MPI_Rsend(self, buf: int, count: int, dt: int, dest: int, tag: int, comm: int) -> int:
        w = "MPI_Rsend"
        self.comm(comm, w).Rsend(self.buf(buf, count, dt, w), self.rank_in(dest), tag)
        return SUCCESS

    def MPI_Recv(
        self, buf: int, count: int, dt: int, src: int, tag: int, comm: int, status: int
    ) -> int:
        w = "MPI_Recv"
        st = self.MPI.Status()
        self.comm(comm, w).Recv(
            self.buf(buf, count, dt, w), self.rank_in(src), self.tag_in(tag), st
        )
        self.put_status(status, st, w)
        return SUCCESS

    def MPI_Sendrecv(
        self, sbuf: int, scount: int, stype: int, dest: int, stag: int,
        rbuf: int, rcount: int, rtype: int, src: int, rtag: int, comm: int, status: int,
    ) -> int:  # fmt: skip
        w = "MPI_Sendrecv"
        st = self.MPI.Status()
        self.comm(comm, w).Sendrecv(
            self.buf(sbuf, scount, stype, w), self.rank_in(dest), stag,
            self.buf(rbuf, rcount, rtype, w), self.rank_in(src), self.tag_in(rtag), st,
        )  # fmt: skip
        self.put_status(status, st, w)
        return SUCCESS

    def MPI_Sendrecv_replace(
        self, buf: int, count: int, dt: int, dest: int, stag: int, src: int, rtag: int,
        comm: int, status: int,
    ) -> int:  # fmt: skip
        w = "MPI_Sendrecv_replace"
        st = self.MPI.Status()
        self.comm(comm, w).Sendrecv_replace(
            self.buf(buf, count, dt, w), self.rank_in(dest), stag, self.rank_in(src),
            self.tag_in(rtag), st,
        )  # fmt: skip
        self.put_status(status, st, w)
        return SUCCESS

    def _start(self, req: Any, request: int, what: str) -> int:
        g = self.tables.new("req", req.handle, what)
        self.m.set_i32(request, g, what)
        return SUCCESS

    def MPI_Isend(
        self, buf: int, count: int, dt: int, dest: int, tag: int, comm: int, request: int
    ) -> int:
        w = "MPI_Isend"
        self.m.check(request, 4, w)
        req = self.comm(comm, w).Isend(self.buf(buf, count, dt, w), self.rank_in(dest), tag)
        return self._start(req, request, w)

    def MPI_Issend(
        self, buf: int, count: int, dt: int, dest: int, tag: int, comm: int, request: int
    ) -> int:
        w = "MPI_Issend"
        self.m.check(request, 4, w)
        req = self.comm(comm, w).Issend(self.buf(buf, count, dt, w), self.rank_in(dest), tag)
        return self._start(req, request, w)

    def MPI_Irecv(
        self, buf: int, count: int, dt: int, src: int, tag: int, comm: int, request: int
    ) -> int:
        w = "MPI_Irecv"
        self.m.check(request, 4, w)
        req = self.comm(comm, w).Irecv(
            self.buf(buf, count, dt, w), self.rank_in(src), self.tag_in(tag)
        )
        return self._start(req, request, w)

    def _finish(self, g: int, req: Any, ptr: int, st: Any, status_ptr: int, what: str) -> None:
        """A completed request: free the guest handle, write MPI_REQUEST_NULL and the status."""
        if req.handle == self.MPI.REQUEST_NULL.handle:
            self.tables.free("req", g)
            self.m.set_i32(ptr, 0, what)
        else:  # persistent requests keep their handle
            self.tables.set("req", g, req.handle)
        self.put_status(status_ptr, st, what)

    def _empty_status(self, status: int, what: str) -> None:
        if status:
            self.m.set_i32s(status, [G_ANY_SOURCE, G_ANY_TAG, 0, 0, 0], what)

    def MPI_Wait(self, request: int, status: int) -> int:
        w = "MPI_Wait"
        g = self.m.i32(request, w)
        if g == 0:
            self._empty_status(status, w)
            return SUCCESS
        req = self.request(g, w)
        st = self.MPI.Status()
        req.Wait(st)
        self._finish(g, req, request, st, status, w)
        return SUCCESS

    def MPI_Waitall(self, count: int, requests: int, statuses: int) -> int:
        w = "MPI_Waitall"
        self.m.check(requests, 4 * max(count, 0), w)
        for i in range(count):
            self.MPI_Wait(requests + 4 * i, statuses + abi.STATUS_SIZE * i if statuses else 0)
        return SUCCESS

    def MPI_Waitany(self, count: int, requests: int, index: int, status: int) -> int:
        w = "MPI_Waitany"
        gs = self.m.i32s(requests, count, w)
        live = [(i, g) for i, g in enumerate(gs) if g != 0]
        if not live:
            self.m.set_i32(index, G_UNDEFINED, w)
            self._empty_status(status, w)
            return SUCCESS
        reqs = [self.request(g, w) for _, g in live]
        st = self.MPI.Status()
        k = self.MPI.Request.Waitany(reqs, st)
        i, g = live[k]
        self._finish(g, reqs[k], requests + 4 * i, st, status, w)
        self.m.set_i32(index, i, w)
        return SUCCESS

    def MPI_Test(self, request: int, flag: int, status: int) -> int:
        w = "MPI_Test"
        g = self.m.i32(request, w)
        self.m.check(flag, 4, w)
        if g == 0:
            self.m.set_i32(flag, 1, w)
            self._empty_status(status, w)
            return SUCCESS
        req = self.request(g, w)
        st = self.MPI.Status()
        done = req.Test(st)
        if done:
            self._finish(g, req, request, st, status, w)
        self.m.set_i32(flag, int(done), w)
        return SUCCESS

    def MPI_Testall(self, count: int, requests: int, flag: int, statuses: int) -> int:
        w = "MPI_Testall"
        gs = self.m.i32s(requests, count, w)
        self.m.check(flag, 4, w)
        reqs = [self.request(g, w) if g else self.MPI.REQUEST_NULL for g in gs]
        sts = [self.MPI.Status() for _ in gs]
        done = self.MPI.Request.Testall(reqs, sts)
        if done:
            for i, (g, r, st) in enumerate(zip(gs, reqs, sts, strict=True)):
                sp = statuses + abi.STATUS_SIZE * i if statuses else 0
                if g:
                    self._finish(g, r, requests + 4 * i, st, sp, w)
                else:
                    self._empty_status(sp, w)
        self.m.set_i32(flag, int(done), w)
        return SUCCESS

    def MPI_Testany(self, count: int, requests: int, index: int, flag: int, status: int) -> int:
        w = "MPI_Testany"
        gs = self.m.i32s(requests, count, w)
        live = [(i, g) for i, g in enumerate(gs) if g != 0]
        if not live:
            self.m.set_i32(index, G_UNDEFINED, w)
            self.m.set_i32(flag, 1, w)
            self._empty_status(status, w)
            return SUCCESS
        reqs = [self.request(g, w) for _, g in live]
        st = self.MPI.Status()
        k, done = self.MPI.Request.Testany(reqs, st)
        if done and k != self.MPI.UNDEFINED:
            i, g = live[k]
            self._finish(g, reqs[k], requests + 4 * i, st, status, w)
            self.m.set_i32(index, i, w)
        else:
            self.m.set_i32(index, G_UNDEFINED, w)
        self.m.set_i32(flag, int(done), w)
        return SUCCESS

    def MPI_Request_free(self, request: int) -> int:
        w = "MPI_Request_free"
        g = self.m.i32(request, w)
        self.request(g, w).Free()
        self.tables.free("req", g)
        self.m.set_i32(request, 0, w)
        return SUCCESS

    def MPI_Cancel(self, request: int) -> int:
        w = "MPI_Cancel"
        self.request(self.m.i32(request, w), w).Cancel()
        return SUCCESS

    def MPI_Probe(self, src: int, tag: int, comm: int, status: int) -> int:
        w = "MPI_Probe"
        st = self.MPI.Status()
        self.comm(comm, w).Probe(self.rank_in(src), self.tag_in(tag), st)
        self.put_status(status, st, w)
        return SUCCESS

    def MPI_Iprobe(self, src: int, tag: int, comm: int, flag: int, status: int) -> int:
        w = "MPI_Iprobe"
        st = self.MPI.Status()
        found = self.comm(comm, w).Iprobe(self.rank_in(src), self.tag_in(tag), st)
        self.m.set_i32(flag, int(found), w)
        if found:
            self.put_status(status, st, w)
        return SUCCESS

    def MPI_Get_count(self, status: int, dt: int, count: int) -> int:
        w = "MPI_Get_count"
        st = self.get_status(status, w)
        self.m.set_i32(count, self.undefined_out(st.Get_count(self.dtype(dt, w))), w)
        return SUCCESS

    def MPI_Get_elements(self, status: int, dt: int, count: int) -> int:
        w = "MPI_Get_elements"
        st = self.get_status(status, w)
        self.m.set_i32(count, self.undefined_out(st.Get_elements(self.dtype(dt, w))), w)
        return SUCCESS

    # -- collectives --------------------------------------------------------------------

    def MPI_Barrier(self, comm: int) -> int:
        self.comm(comm, "MPI_Barrier").Barrier()
        return SUCCESS

    def MPI_Bcast(self, buf: int, count: int, dt: int, root: int, comm: int) -> int:
        w = "MPI_Bcast"
        self.comm(comm, w).Bcast(self.buf(buf, count, dt, w), self.rank_in(root))
        return SUCCESS

    def _is_root(self, c: Any, root: int) -> bool:
        return bool(c.Get_rank() == root)

    def MPI_Reduce(
        self, sbuf: int, rbuf: int, count: int, dt: int, op: int, root: int, comm: int
    ) -> int:
        w = "MPI_Reduce"
        c = self.comm(comm, w)
        at_root = self._is_root(c, root)
        recv = self.buf(rbuf, count, dt, w) if at_root else None
        c.Reduce(self.sendbuf(sbuf, count, dt, w), recv, self.op(op, w), root)
        return SUCCESS

    def MPI_Allreduce(self, sbuf: int, rbuf: int, count: int, dt: int, op: int, comm: int) -> int:
        w = "MPI_Allreduce"
        self.comm(comm, w).Allreduce(
            self.sendbuf(sbuf, count, dt, w), self.buf(rbuf, count, dt, w), self.op(op, w)
        )
        return SUCCESS

    def _size(self, c: Any) -> int:
        return int(c.Get_size())

    def MPI_Gather(
        self, sbuf: int, scount: int, stype: int, rbuf: int, rcount: int, rtype: int,
        root: int, comm: int,
    ) -> int:  # fmt: skip
        w = "MPI_Gather"
        c = self.comm(comm, w)
        recv = self.buf(rbuf, rcount * self._size(c), rtype, w) if self._is_root(c, root) else None
        if recv is not None:
            recv[1] = rcount
        c.Gather(self.sendbuf(sbuf, scount, stype, w), recv, root)
        return SUCCESS

    def MPI_Gatherv(
        self, sbuf: int, scount: int, stype: int, rbuf: int, rcounts: int, displs: int,
        rtype: int, root: int, comm: int,
    ) -> int:  # fmt: skip
        w = "MPI_Gatherv"
        c = self.comm(comm, w)
        recv = None
        if self._is_root(c, root):
            n = self._size(c)
            recv = self.vbuf(rbuf, self.m.i32s(rcounts, n, w), self.m.i32s(displs, n, w), rtype, w)
        c.Gatherv(self.sendbuf(sbuf, scount, stype, w), recv, root)
        return SUCCESS

    def MPI_Scatter(
        self, sbuf: int, scount: int, stype: int, rbuf: int, rcount: int, rtype: int,
        root: int, comm: int,
    ) -> int:  # fmt: skip
        w = "MPI_Scatter"
        c = self.comm(comm, w)
        send = None
        if self._is_root(c, root):
            send = self.buf(sbuf, scount * self._size(c), stype, w)
            send[1] = scount
        c.Scatter(send, self.sendbuf(rbuf, rcount, rtype, w), root)
        return SUCCESS

    def MPI_Scatterv(
        self, sbuf: int, scounts: int, displs: int, stype: int, rbuf: int, rcount: int,
        rtype: int, root: int, comm: int,
    ) -> int:  # fmt: skip
        w = "MPI_Scatterv"
        c = self.comm(comm, w)
        send = None
        if self._is_root(c, root):
            n = self._size(c)
            send = self.vbuf(sbuf, self.m.i32s(scounts, n, w), self.m.i32s(displs, n, w), stype, w)
        c.Scatterv(send, self.sendbuf(rbuf, rcount, rtype, w), root)
        return SUCCESS

    def MPI_Allgather(
        self, sbuf: int, scount: int, stype: int, rbuf: int, rcount: int, rtype: int, comm: int
    ) -> int:
        w = "MPI_Allgather"
        c = self.comm(comm, w)
        recv = self.buf(rbuf, rcount * self._size(c), rtype, w)
        recv[1] = rcount
        c.Allgather(self.sendbuf(sbuf, scount, stype, w), recv)
        return SUCCESS

    def MPI_Allgatherv(
        self, sbuf: int, scount: int, stype: int, rbuf: int, rcounts: int, displs: int,
        rtype: int, comm: int,
    ) -> int:  # fmt: skip
        w = "MPI_Allgatherv"
        c = self.comm(comm, w)
        n = self._size(c)
        recv = self.vbuf(rbuf, self.m.i32s(rcounts, n, w), self.m.i32s(displs, n, w), rtype, w)
        c.Allgatherv(self.sendbuf(sbuf, scount, stype, w), recv)
        return SUCCESS

    def MPI_Alltoall(
        self, sbuf: int, scount: int, stype: int, rbuf: int, rcount: int, rtype: int, comm: int
    ) -> int:
        w = "MPI_Alltoall"
        c = self.comm(comm, w)
        n = self._size(c)
        send = self.sendbuf(sbuf, scount * n, stype, w)
        if isinstance(send, list):
            send[1] = scount
        recv = self.buf(rbuf, rcount * n, rtype, w)
        recv[1] = rcount
        c.Alltoall(send, recv)
        return SUCCESS

    def MPI_Alltoallv(
        self, sbuf: int, scounts: int, sdispls: int, stype: int, rbuf: int, rcounts: int,
        rdispls: int, rtype: int, comm: int,
    ) -> int:  # fmt: skip
        w = "MPI_Alltoallv"
        c = self.comm(comm, w)
        n = self._size(c)
        send: Any = self.MPI.IN_PLACE
        if (sbuf & 0xFFFFFFFF) != G_IN_PLACE:
            send = self.vbuf(sbuf, self.m.i32s(scounts, n, w), self.m.i32s(sdispls, n, w), stype, w)
        recv = self.vbuf(rbuf, self.m.i32s(rcounts, n, w), self.m.i32s(rdispls, n, w), rtype, w)
        c.Alltoallv(send, recv)
        return SUCCESS

    def MPI_Reduce_scatter(
        self, sbuf: int, rbuf: int, rcounts: int, dt: int, op: int, comm: int
    ) -> int:
        w = "MPI_Reduce_scatter"
        c = self.comm(comm, w)
        counts = self.m.i32s(rcounts, self._size(c), w)
        total = sum(counts)
        mine = counts[c.Get_rank()]
        send = self.sendbuf(sbuf, total, dt, w)
        recv = self.buf(rbuf, total if send is self.MPI.IN_PLACE else mine, dt, w)
        c.Reduce_scatter(send, recv, counts, self.op(op, w))
        return SUCCESS

    def MPI_Reduce_scatter_block(
        self, sbuf: int, rbuf: int, rcount: int, dt: int, op: int, comm: int
    ) -> int:
        # the same reduction as MPI_Reduce_scatter with equal counts
        w = "MPI_Reduce_scatter_block"
        n = self._size(self.comm(comm, w))
        counts = [rcount] * n
        c = self.comm(comm, w)
        send = self.sendbuf(sbuf, rcount * n, dt, w)
        recv = self.buf(rbuf, rcount * n if send is self.MPI.IN_PLACE else rcount, dt, w)
        c.Reduce_scatter(send, recv, counts, self.op(op, w))
        return SUCCESS

    def MPI_Scan(self, sbuf: int, rbuf: int, count: int, dt: int, op: int, comm: int) -> int:
        w = "MPI_Scan"
        self.comm(comm, w).Scan(
            self.sendbuf(sbuf, count, dt, w), self.buf(rbuf, count, dt, w), self.op(op, w)
        )
        return SUCCESS

    def MPI_Exscan(self, sbuf: int, rbuf: int, count: int, dt: int, op: int, comm: int) -> int:
        w = "MPI_Exscan"
        self.comm(comm, w).Exscan(
            self.sendbuf(sbuf, count, dt, w), self.buf(rbuf, count, dt, w), self.op(op, w)
        )
        return SUCCESS

    # -- user-defined reductions ----------------------------------------------------------

    def _export(self, name: str, what: str) -> Any:
        ex = self.instance.exports(self.store).get(name) if self.instance is not None else None
        if ex is None:
            raise GuestFault(
                f"{what}: the module does not export {name!r} (build it with `tessera wasm cc`, "
                "which exports malloc, free and the function table)"
            )
        return ex

    def MPI_Op_create(self, fn: int, commute: int, op: int) -> int:
        w = "MPI_Op_create"
        self.m.check(op, 4, w)
        table = self._export("__indirect_function_table", w)
        guest_fn = table.get(self.store, fn)
        if guest_fn is None:
            raise GuestFault(f"{w}: function pointer {fn} is not in the guest's function table")
        malloc, free = self._export("malloc", w), self._export("free", w)
        host = self

        def reduce(inbuf: Any, inoutbuf: Any, datatype: Any) -> None:
            n_in, n_io = len(inbuf), len(inoutbuf)
            g_dt = host.tables.find("type", datatype.handle)
            _, extent = datatype.Get_extent()
            length = n_io // extent if extent else 0
            scratch = malloc(host.store, n_in + n_io + 8)
            if not scratch:
                raise GuestFault(f"{w}: guest malloc failed in a user reduction")
            try:
                m = host.m
                m.write(scratch, bytes(inbuf), w)
                m.write(scratch + n_in, bytes(inoutbuf), w)
                m.set_i32s(scratch + n_in + n_io, [length, g_dt if g_dt is not None else 0], w)
                guest_fn(host.store, scratch, scratch + n_in, scratch + n_in + n_io,
                         scratch + n_in + n_io + 4)  # fmt: skip
                memoryview(inoutbuf)[:] = m.read(scratch + n_in, n_io, w)
            finally:
                free(host.store, scratch)

        h = self.MPI.Op.Create(reduce, commute=bool(commute))
        g = self.tables.new("op", h.handle, w)
        self.user_ops[g] = h
        self.op_commute[g] = bool(commute)
        self.m.set_i32(op, g, w)
        return SUCCESS

    def MPI_Op_free(self, op: int) -> int:
        w = "MPI_Op_free"
        g = self.m.i32(op, w)
        if g < FIRST_FREE["op"]:
            raise GuestFault(f"{w}: {g} is a predefined op and cannot be freed")
        h = self.user_ops.pop(g, None) or self.op(g, w)
        h.Free()
        self.tables.free("op", g)
        self.m.set_i32(op, 0, w)
        return SUCCESS

    def MPI_Op_commutative(self, op: int, commute: int) -> int:
        w = "MPI_Op_commutative"
        flag = self.op_commute.get(op)
        if flag is None:
            flag = bool(self.op(op, w).Is_commutative())
        self.m.set_i32(commute, int(flag), w)
        return SUCCESS

    # -- communicators, groups, topologies ------------------------------------------------

    def MPI_Comm_rank(self, comm: int, rank: int) -> int:
        self.m.set_i32(rank, self.comm(comm, "MPI_Comm_rank").Get_rank(), "MPI_Comm_rank")
        return SUCCESS

    def MPI_Comm_size(self, comm: int, size: int) -> int:
        self.m.set_i32(size, self.comm(comm, "MPI_Comm_size").Get_size(), "MPI_Comm_size")
        return SUCCESS

    def _new_comm(self, c: Any, out: int, what: str) -> int:
        g = 0 if c == self.MPI.COMM_NULL else self.tables.new("comm", c.handle, what)
        self.m.set_i32(out, g, what)
        return SUCCESS

    def MPI_Comm_dup(self, comm: int, newcomm: int) -> int:
        w = "MPI_Comm_dup"
        self.m.check(newcomm, 4, w)
        return self._new_comm(self.comm(comm, w).Dup(), newcomm, w)

    def MPI_Comm_split(self, comm: int, color: int, key: int, newcomm: int) -> int:
        w = "MPI_Comm_split"
        self.m.check(newcomm, 4, w)
        host_color = self.MPI.UNDEFINED if color == G_UNDEFINED else color
        return self._new_comm(self.comm(comm, w).Split(host_color, key), newcomm, w)

    def MPI_Comm_create(self, comm: int, group: int, newcomm: int) -> int:
        w = "MPI_Comm_create"
        self.m.check(newcomm, 4, w)
        return self._new_comm(self.comm(comm, w).Create(self.group(group, w)), newcomm, w)

    def MPI_Comm_free(self, comm: int) -> int:
        w = "MPI_Comm_free"
        g = self.m.i32(comm, w)
        if g < FIRST_FREE["comm"]:
            raise GuestFault(f"{w}: {g} is a predefined communicator and cannot be freed")
        self.comm(g, w).Free()
        self.tables.free("comm", g)
        self.m.set_i32(comm, 0, w)
        return SUCCESS

    def MPI_Comm_compare(self, c1: int, c2: int, result: int) -> int:
        w = "MPI_Comm_compare"
        r = self.MPI.Comm.Compare(self.comm(c1, w), self.comm(c2, w))
        MPI = self.MPI
        names = {MPI.IDENT: "MPI_IDENT", MPI.CONGRUENT: "MPI_CONGRUENT",
                 MPI.SIMILAR: "MPI_SIMILAR", MPI.UNEQUAL: "MPI_UNEQUAL"}  # fmt: skip
        self.m.set_i32(result, C[names[r]], w)
        return SUCCESS

    def MPI_Comm_group(self, comm: int, group: int) -> int:
        w = "MPI_Comm_group"
        self.m.check(group, 4, w)
        g = self.tables.new("group", self.comm(comm, w).Get_group().handle, w)
        self.m.set_i32(group, g, w)
        return SUCCESS

    def MPI_Comm_set_name(self, comm: int, name: int) -> int:
        w = "MPI_Comm_set_name"
        self.comm(comm, w).Set_name(self.m.cstr(name, w, C["MPI_MAX_OBJECT_NAME"]))
        return SUCCESS

    def MPI_Comm_get_name(self, comm: int, name: int, resultlen: int) -> int:
        w = "MPI_Comm_get_name"
        raw = self.comm(comm, w).Get_name().encode()[: C["MPI_MAX_OBJECT_NAME"] - 1]
        self.m.write(name, raw + b"\0", w)
        self.m.set_i32(resultlen, len(raw), w)
        return SUCCESS

    def MPI_Group_size(self, group: int, size: int) -> int:
        w = "MPI_Group_size"
        self.m.set_i32(size, self.group(group, w).Get_size(), w)
        return SUCCESS

    def MPI_Group_rank(self, group: int, rank: int) -> int:
        w = "MPI_Group_rank"
        self.m.set_i32(rank, self.undefined_out(self.group(group, w).Get_rank()), w)
        return SUCCESS

    def _new_group(self, grp: Any, out: int, what: str) -> int:
        g = self.tables.new("group", grp.handle, what)
        self.m.set_i32(out, g, what)
        return SUCCESS

    def MPI_Group_incl(self, group: int, n: int, ranks: int, newgroup: int) -> int:
        w = "MPI_Group_incl"
        self.m.check(newgroup, 4, w)
        return self._new_group(self.group(group, w).Incl(self.m.i32s(ranks, n, w)), newgroup, w)

    def MPI_Group_excl(self, group: int, n: int, ranks: int, newgroup: int) -> int:
        w = "MPI_Group_excl"
        self.m.check(newgroup, 4, w)
        return self._new_group(self.group(group, w).Excl(self.m.i32s(ranks, n, w)), newgroup, w)

    def MPI_Group_translate_ranks(self, g1: int, n: int, r1: int, g2: int, r2: int) -> int:
        w = "MPI_Group_translate_ranks"
        ranks = [self.rank_in(r) for r in self.m.i32s(r1, n, w)]
        out = self.MPI.Group.Translate_ranks(self.group(g1, w), ranks, self.group(g2, w))
        self.m.set_i32s(r2, [self.rank_out(r) for r in out], w)
        return SUCCESS

    def MPI_Group_free(self, group: int) -> int:
        w = "MPI_Group_free"
        g = self.m.i32(group, w)
        if g < FIRST_FREE["group"]:
            raise GuestFault(f"{w}: {g} is a predefined group and cannot be freed")
        self.group(g, w).Free()
        self.tables.free("group", g)
        self.m.set_i32(group, 0, w)
        return SUCCESS

    def MPI_Dims_create(self, nnodes: int, ndims: int, dims: int) -> int:
        w = "MPI_Dims_create"
        out = self.MPI.Compute_dims(nnodes, self.m.i32s(dims, ndims, w))
        self.m.set_i32s(dims, list(out), w)
        return SUCCESS

    def MPI_Cart_create(
        self, comm: int, ndims: int, dims: int, periods: int, reorder: int, out: int
    ) -> int:
        w = "MPI_Cart_create"
        self.m.check(out, 4, w)
        cart = self.comm(comm, w, self.MPI.Intracomm).Create_cart(
            self.m.i32s(dims, ndims, w), [bool(p) for p in self.m.i32s(periods, ndims, w)],
            bool(reorder),
        )  # fmt: skip
        return self._new_comm(cart, out, w)

    def MPI_Cart_coords(self, comm: int, rank: int, maxdims: int, coords: int) -> int:
        w = "MPI_Cart_coords"
        out = self.comm(comm, w, self.MPI.Cartcomm).Get_coords(rank)
        self.m.set_i32s(coords, list(out)[:maxdims], w)
        return SUCCESS

    def MPI_Cart_rank(self, comm: int, coords: int, rank: int) -> int:
        w = "MPI_Cart_rank"
        c = self.comm(comm, w, self.MPI.Cartcomm)
        self.m.set_i32(rank, c.Get_cart_rank(self.m.i32s(coords, c.Get_dim(), w)), w)
        return SUCCESS

    def MPI_Cart_shift(self, comm: int, direction: int, disp: int, src: int, dest: int) -> int:
        w = "MPI_Cart_shift"
        s, d = self.comm(comm, w, self.MPI.Cartcomm).Shift(direction, disp)
        self.m.set_i32(src, self.rank_out(s), w)
        self.m.set_i32(dest, self.rank_out(d), w)
        return SUCCESS

    def MPI_Cartdim_get(self, comm: int, ndims: int) -> int:
        w = "MPI_Cartdim_get"
        self.m.set_i32(ndims, self.comm(comm, w, self.MPI.Cartcomm).Get_dim(), w)
        return SUCCESS

    def MPI_Cart_get(self, comm: int, maxdims: int, dims: int, periods: int, coords: int) -> int:
        w = "MPI_Cart_get"
        d, p, c = self.comm(comm, w, self.MPI.Cartcomm).Get_topo()
        self.m.set_i32s(dims, list(d)[:maxdims], w)
        self.m.set_i32s(periods, [int(x) for x in p][:maxdims], w)
        self.m.set_i32s(coords, list(c)[:maxdims], w)
        return SUCCESS

    # -- datatypes ------------------------------------------------------------------------

    def _new_type(self, t: Any, out: int, what: str) -> int:
        self.m.set_i32(out, self.tables.new("type", t.handle, what), what)
        return SUCCESS

    def MPI_Type_contiguous(self, count: int, old: int, new: int) -> int:
        w = "MPI_Type_contiguous"
        self.m.check(new, 4, w)
        return self._new_type(self.dtype(old, w).Create_contiguous(count), new, w)

    def MPI_Type_vector(self, count: int, blen: int, stride: int, old: int, new: int) -> int:
        w = "MPI_Type_vector"
        self.m.check(new, 4, w)
        return self._new_type(self.dtype(old, w).Create_vector(count, blen, stride), new, w)

    def MPI_Type_indexed(self, count: int, blens: int, displs: int, old: int, new: int) -> int:
        w = "MPI_Type_indexed"
        self.m.check(new, 4, w)
        t = self.dtype(old, w).Create_indexed(
            self.m.i32s(blens, count, w), self.m.i32s(displs, count, w)
        )
        return self._new_type(t, new, w)

    def MPI_Type_create_struct(
        self, count: int, blens: int, displs: int, types: int, new: int
    ) -> int:
        w = "MPI_Type_create_struct"
        self.m.check(new, 4, w)
        t = self.MPI.Datatype.Create_struct(
            self.m.i32s(blens, count, w),
            self.m.i32s(displs, count, w),  # MPI_Aint is 4 bytes on wasm32
            [self.dtype(g, w) for g in self.m.i32s(types, count, w)],
        )
        return self._new_type(t, new, w)

    def MPI_Type_create_resized(self, old: int, lb: int, extent: int, new: int) -> int:
        w = "MPI_Type_create_resized"
        self.m.check(new, 4, w)
        return self._new_type(self.dtype(old, w).Create_resized(lb, extent), new, w)

    def MPI_Get_address(self, location: int, address: int) -> int:
        # guest addresses are what the guest's MPI_Aint displacements are measured in
        self.m.set_i32(address, location, "MPI_Get_address")
        return SUCCESS

    def MPI_Type_commit(self, datatype: int) -> int:
        w = "MPI_Type_commit"
        g = self.m.i32(datatype, w)
        t = self.dtype(g, w)
        t.Commit()
        self.tables.set("type", g, t.handle)
        return SUCCESS

    def MPI_Type_free(self, datatype: int) -> int:
        w = "MPI_Type_free"
        g = self.m.i32(datatype, w)
        if g < FIRST_FREE["type"]:
            raise GuestFault(f"{w}: {g} is a predefined datatype and cannot be freed")
        self.dtype(g, w).Free()
        self.tables.free("type", g)
        self.m.set_i32(datatype, 0, w)
        return SUCCESS

    def MPI_Type_size(self, dt: int, size: int) -> int:
        w = "MPI_Type_size"
        self.m.set_i32(size, self.dtype(dt, w).Get_size(), w)
        return SUCCESS

    def MPI_Type_get_extent(self, dt: int, lb: int, extent: int) -> int:
        w = "MPI_Type_get_extent"
        lo, ext = self.dtype(dt, w).Get_extent()
        if not (-(2**31) <= lo < 2**31 and 0 <= ext < 2**31):
            raise GuestFault(f"{w}: extent {ext} does not fit the guest's 4-byte MPI_Aint")
        self.m.set_i32(lb, lo, w)
        self.m.set_i32(extent, ext, w)
        return SUCCESS
