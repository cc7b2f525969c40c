"""`python -m tessera.wasm_mpi APP.wasm [ARGS]`: one rank (what `tessera wasm run` starts under
mpiexec)."""

from tessera.wasm_mpi.launch import rank_main

if __name__ == "__main__":
    rank_main()
