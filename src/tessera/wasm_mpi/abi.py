"""The guest ABI, read from Tessera's own `mpi.h` (the one place it is written).

`mpi.h` gives every MPI handle, constant and function to wasm32 guests; this
module parses it so the embedder, the native shim's registration and the
tests cannot disagree with the header:

- `CONST`: every `#define MPI_X value` (handles and plain integers), with
  aliases resolved;
- `FUNCTIONS`: every imported function as (name, number of i32 parameters,
  result kind "i32" or "f64"), in header order.

wasm32 facts the host relies on: int, long, MPI_Aint and pointers are 4
bytes, long long is 8; `MPI_Status` is five ints (source, tag, error,
byte count, cancelled); `MPI_IN_PLACE` is the address -1 (0xffffffff).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

STATUS_SIZE = 20
"""Bytes of a guest `MPI_Status`: MPI_SOURCE, MPI_TAG, MPI_ERROR, byte count, cancelled."""
IN_PLACE = 0xFFFFFFFF
"""The guest's `MPI_IN_PLACE` address ((void *)-1 on wasm32)."""


def header_dir() -> Path:
    """The folder holding `mpi.h` (what `tessera wasm cc` puts on the include path)."""
    return Path(str(resources.files("tessera.wasm_mpi") / "include"))


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    params: int
    result: str  # "i32" or "f64"


_DEFINE = re.compile(r"^#define\s+(MPI_\w+|TESSERA_\w+)\s+(.+?)\s*$")
_CAST = re.compile(r"^\(\((?:MPI_\w+|void|MPI_Status)\s*\*?\)\s*(-?\d+)\)$")
_IMPORT = re.compile(r"TESSERA_MPI_IMPORT\((\w+)\)\s+(int|double)\s+\w+\((.*?)\);")


@cache
def _parse() -> tuple[dict[str, int], tuple[Signature, ...]]:
    text = (header_dir() / "mpi.h").read_text(encoding="utf-8")
    raw: dict[str, str] = {}
    for line in text.splitlines():
        m = _DEFINE.match(line.strip())
        if m and not m.group(1).startswith("TESSERA_MPI_IMPORT"):
            raw[m.group(1)] = m.group(2)
    consts: dict[str, int] = {}

    def value(name: str, depth: int = 0) -> int | None:
        v = raw[name].strip()
        c = _CAST.match(v)
        if c:
            return int(c.group(1))
        if re.fullmatch(r"\(?-?\d+\)?", v):
            return int(v.strip("()"))
        if v in raw and depth < 5:
            return value(v, depth + 1)
        return None

    for name in raw:
        v = value(name)
        if v is not None:
            consts[name] = v
    sigs = []
    for m in _IMPORT.finditer(text):
        params = m.group(3).strip()
        n = 0 if params in ("", "void") else params.count(",") + 1
        sigs.append(Signature(m.group(1), n, "f64" if m.group(2) == "double" else "i32"))
    return consts, tuple(sigs)


def constants() -> dict[str, int]:
    """Every integer `#define` of `mpi.h` (aliases resolved)."""
    return dict(_parse()[0])


def functions() -> tuple[Signature, ...]:
    """Every function `mpi.h` imports from module "mpi", in header order."""
    return _parse()[1]


def const(name: str) -> int:
    return _parse()[0][name]
