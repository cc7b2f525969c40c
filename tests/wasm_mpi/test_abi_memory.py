"""The guest ABI as parsed from mpi.h, and the guest-memory / handle-table layer (no MPI needed)."""

from __future__ import annotations

import ctypes

import pytest

from tessera.wasm_mpi import abi
from tessera.wasm_mpi.memory import FIRST_FREE, GuestFault, Tables


def test_header_declares_the_mpiwasm_set_and_the_extras() -> None:
    names = {s.name for s in abi.functions()}
    mpiwasm = {
        "MPI_Init", "MPI_Finalize", "MPI_Comm_rank", "MPI_Comm_size", "MPI_Send", "MPI_Recv",
        "MPI_Isend", "MPI_Irecv", "MPI_Wait", "MPI_Waitall", "MPI_Barrier", "MPI_Bcast",
        "MPI_Reduce", "MPI_Allreduce", "MPI_Gather", "MPI_Allgather", "MPI_Scatter",
        "MPI_Alltoall", "MPI_Alltoallv", "MPI_Sendrecv", "MPI_Wtime", "MPI_Abort",
        "MPI_Get_count", "MPI_Comm_split", "MPI_Comm_free", "MPI_Type_contiguous",
        "MPI_Type_commit", "MPI_Type_free", "MPI_Type_size", "MPI_Op_create", "MPI_Op_free",
        "MPI_Comm_group", "MPI_Group_incl", "MPI_Comm_create", "MPI_Group_free",
        "MPI_Reduce_scatter", "MPI_Scan",
    }  # fmt: skip
    extras = {
        "MPI_Probe", "MPI_Iprobe", "MPI_Allgatherv", "MPI_Gatherv", "MPI_Scatterv",
        "MPI_Comm_dup", "MPI_Cart_create", "MPI_Test", "MPI_Testall",
    }  # fmt: skip
    assert len(mpiwasm) == 37
    assert mpiwasm | extras <= names
    assert len(names) == len(abi.functions())  # no name declared twice


def test_signatures_are_all_i32_but_the_clocks() -> None:
    sigs = {s.name: s for s in abi.functions()}
    assert sigs["MPI_Wtime"].result == sigs["MPI_Wtick"].result == "f64"
    assert {s.result for n, s in sigs.items() if n not in ("MPI_Wtime", "MPI_Wtick")} == {"i32"}
    assert sigs["MPI_Sendrecv"].params == 12
    assert sigs["MPI_Finalize"].params == 0
    assert sigs["MPI_Send"].params == 6


def test_constants_match_the_table_layout() -> None:
    c = abi.constants()
    assert c["MPI_COMM_WORLD"] == 1 and c["MPI_COMM_SELF"] == 2
    assert FIRST_FREE["comm"] == 3
    assert FIRST_FREE["type"] == c["TESSERA_MPI_PREDEFINED_TYPES"]
    assert FIRST_FREE["op"] == c["TESSERA_MPI_PREDEFINED_OPS"]
    assert c["MPI_LONG_LONG"] == c["MPI_LONG_LONG_INT"]  # aliases resolved
    assert c["MPI_IN_PLACE"] == -1 and abi.IN_PLACE == 0xFFFFFFFF
    assert c["MPI_STATUS_IGNORE"] == 0
    types = [v for k, v in c.items() if k.startswith("MPI_") and k.isupper() and 0 < v < 35]
    assert len(types) >= 34


def test_every_predefined_type_has_a_host_type() -> None:
    from tessera.wasm_mpi.host import GUEST_TYPES

    c = abi.constants()
    ids = {c[k] for k in GUEST_TYPES} | {c["MPI_LONG_DOUBLE"]}
    assert ids == set(range(1, c["TESSERA_MPI_PREDEFINED_TYPES"]))
    # wasm32: long, unsigned long and MPI_Aint are 4-byte types on the host side
    assert GUEST_TYPES["MPI_LONG"] == "INT32_T"
    assert GUEST_TYPES["MPI_UNSIGNED_LONG"] == "UINT32_T"
    assert GUEST_TYPES["MPI_AINT"] == "INT32_T"


class FakeMemory:
    """A wasmtime Memory stand-in over a ctypes buffer (same two methods)."""

    def __init__(self, size: int) -> None:
        self.buf = (ctypes.c_ubyte * size)()

    def data_ptr(self, store: object) -> object:
        return ctypes.cast(self.buf, ctypes.POINTER(ctypes.c_ubyte))

    def data_len(self, store: object) -> int:
        return len(self.buf)


def test_guest_memory_bounds_and_round_trips() -> None:
    from tessera.wasm_mpi.memory import GuestMemory

    m = GuestMemory(None, FakeMemory(64))
    m.set_i32s(8, [1, -2, 3], "t")
    assert m.i32s(8, 3, "t") == [1, -2, 3]
    assert m.i32(12, "t") == -2
    m.write(40, b"abc\0", "t")
    assert m.cstr(40, "t") == "abc"
    assert m.check(60, 4, "t") == m.base + 60
    with pytest.raises(GuestFault, match=r"MPI_Send: guest buffer \[0x3d, 0x41\) lies outside"):
        m.check(61, 4, "MPI_Send")
    with pytest.raises(GuestFault, match="outside"):
        m.i32(0xFFFFFFFF, "t")  # MPI_IN_PLACE-like address is not memory
    with pytest.raises(GuestFault, match="negative length"):
        m.check(0, -1, "t")
    with pytest.raises(GuestFault, match="outside"):
        m.region(-16, 8, "t")  # computed offsets are never wrapped
    with pytest.raises(GuestFault, match="outside"):
        m.region(1 << 32, 8, "t")
    m.write(60, b"abcd", "t")
    with pytest.raises(GuestFault, match="not NUL-terminated"):
        m.cstr(60, "t")


def test_tables_allocate_free_and_reject_bad_handles() -> None:
    t = Tables()
    big = (1 << 64) - 5  # mpi4py reports MPICH's negative handles as unsigned 64-bit
    g = t.new("req", big, "t")
    assert g == FIRST_FREE["req"]
    assert t.get("req", g, "t") == big
    assert t.find("req", big) == g
    assert t.new("req", 7, "t") == g + 1
    t.free("req", g)
    assert t.new("req", 9, "t") == g  # freed slot reused
    with pytest.raises(GuestFault, match="999 is not a valid comm handle"):
        t.get("comm", 999, "t")
    with pytest.raises(GuestFault, match="-1 is not a valid"):
        t.get("comm", -1, "t")
    t.set("comm", 1, 42)
    t.free("comm", 1)  # predefined handles are never freed
    assert t.get("comm", 1, "t") == 42
