"""Shellguard on the held-out gold test split: every system, every "Must show" metric, latency.

Systems, on the same split: the rule engine alone, char-TF-IDF + logistic regression and
frozen MiniLM + logistic regression (both trained on the weakly labelled public corpora),
the fine-tuned MiniLM alone, and the shipped rules+model combination. Latency is per
command, one call at a time, on one CPU thread (torch and BLAS pinned), parsing included.
Goals (issue 13): BLOCKED recall >= 0.95, BLOCKED as SAFE/LOW <= 1%, SAFE+LOW refused
<= 1%, 4-class macro-F1 >= 0.80 (3-class >= 0.85), PowerShell within 0.05 of Bash,
variants keep their level >= 90%, mentions flagged <= 5%; p95 <= 15 ms (model path),
<= 1 ms (rules).

    python benchmarks/shellguard.py [--out PATH] [--latency-rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

from tessera.shellguard.evaluate import METRIC_KEYS  # noqa: E402
from tessera.shellguard.report import run_eval  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "shellguard.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--latency-rows", type=int, default=1000)
    a = ap.parse_args()
    t0 = time.monotonic()
    res = run_eval("test", latency_rows=a.latency_rows, log=lambda m: print(m, flush=True))
    res["wall_s"] = round(time.monotonic() - t0, 1)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
    tmp.replace(a.out)
    keys = METRIC_KEYS
    print(f"test split: {res['n']} commands")
    print("system".ljust(18) + "".join(k[:12].rjust(13) for k in keys))
    for name, s in res["systems"].items():
        print(
            name.ljust(18)
            + "".join(("-" if s.get(k) is None else f"{s[k]:.3f}").rjust(13) for k in keys)
        )
    for name, lat in res["latency"].items():
        print(
            f"latency {name}: p50 {lat['p50_ms']:.3f} ms  p95 {lat['p95_ms']:.3f} ms  (n={lat['n']})"
        )
    for note in res["notes"]:
        print("note:", note)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
