"""MPI programs compiled to WebAssembly, run by the host's MPI (MPIWasm, from Python).

- `abi`: the guest ABI, parsed from Tessera's own `include/mpi.h`;
- `toolchain`: `tessera wasm cc` (zig's clang from the `ziglang` wheel, or clang + wasi-libc);
- `memory`: bounds-checked zero-copy guest memory and the handle tables;
- `host`: every MPI import in Python over mpi4py (the always-available path);
- `native`: the C shim for the hot calls, built with the system compiler, and `link`;
- `runner`: one rank of a module (cache, WASI, imports, errors -> MPI_Abort);
- `launch`: `tessera wasm run [-n N]`, spawning `mpiexec` when needed.
"""
