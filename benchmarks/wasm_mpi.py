"""MPIWasm benchmarks: wasm vs native in the same run (see tessera.wasm_mpi.measure).

Ping-pong latency/bandwidth 8 B - 4 MiB, Allreduce, host-call cost, SIMD kernels, binary
sizes; writes benchmarks/results/wasm_mpi.json (temp file + rename) and prints a summary.

    python benchmarks/wasm_mpi.py [--repeats 3] [--quick] [--out PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import write_json
from tessera.wasm_mpi.measure import run, summary

RESULTS = Path(__file__).parent / "results" / "wasm_mpi.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()
    res = run(a.repeats, a.quick, lambda f, m: print(f"[{f:4.0%}] {m}", flush=True))
    write_json(a.out, res, indent=2, sort_keys=True)
    print("\n".join(summary(res)))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
