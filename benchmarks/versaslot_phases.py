"""Which static layout wins each phase of the phased trace, run on its own?

Switching can beat the best static layout only if some phase favours the other layout:
this runs each phase's app mix (OF share 100%, 60%, 20%, 0%, as `phased_trace` draws them)
as a trace of its own on 2-4 boards under `versaslot-ol` and `versaslot-bl` (mean over
seeds, as the experiment averages) and prints Only.Little's mean response over
Big.Little's per phase (> 1: Big.Little faster). If Big.Little wins every phase, an oracle
that picks each phase's better layout picks Big.Little throughout, i.e. the static layout.
(The layouts as the issue states them: Big.Little's 4 little + 2 big slots hold 10
little-slot units of area and up to 10 resident tasks, Only.Little's 8 little slots 8.)

    python benchmarks/versaslot_phases.py [--per-phase 40] [--seeds 3] [--boards 2,3,4]
        [--out benchmarks/results/versaslot_phases.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from harness import positive, positive_list, write_json
from tessera.experiments.versaslot import _mean_metrics
from tessera.fpga.model import APPS, PHASE_OF_SHARE, Job, _jobs
from tessera.sim.fpga import FpgaScenario


def phase_trace(share: float, per_phase: int, seed: int) -> tuple[Job, ...]:
    """One phase's mix as its own trace: `share` OF, the rest drawn from IC, LeNet and 3DR,
    inter-arrival uniform 0.9-1.2 s (`phased_trace`'s defaults)."""
    rng = np.random.default_rng([seed, per_phase, 11])
    others = [a for a in APPS if a != "OF"]
    k = round(share * per_phase)
    names = ["OF"] * k + [str(x) for x in rng.choice(others, per_phase - k)]
    rng.shuffle(names)
    return _jobs(names, rng.uniform(0.9, 1.2, per_phase), rng)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-phase", type=positive(int), default=40)
    ap.add_argument("--seeds", type=positive(int), default=3)
    ap.add_argument("--boards", type=positive_list(int), default=[2, 3, 4], help="2,3,4")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    cells = []
    for share in PHASE_OF_SHARE:
        for n in args.boards:
            t0 = time.perf_counter()
            scs = [
                FpgaScenario(phase_trace(share, args.per_phase, s), boards=n)
                for s in range(args.seeds)
            ]
            ol = _mean_metrics({"kind": "versaslot-ol"}, scs)["mean_response_s"]
            bl = _mean_metrics({"kind": "versaslot-bl"}, scs)["mean_response_s"]
            cell = {
                "of_share": share,
                "boards": n,
                "ol_mean_response_s": round(ol, 2),
                "bl_mean_response_s": round(bl, 2),
                "ol_over_bl": round(ol / bl, 3),
                "seconds": round(time.perf_counter() - t0, 1),
            }
            cells.append(cell)
            print(json.dumps(cell), flush=True)
    worst = min(c["ol_over_bl"] for c in cells)
    summary = {
        "bl_wins_every_phase": worst > 1.0,
        "min_ol_over_bl": worst,
    }
    print(json.dumps(summary))
    result = {"benchmark": "versaslot_phases", "seeds": args.seeds, "cells": cells, **summary}
    if args.out:
        write_json(args.out, result)


if __name__ == "__main__":
    main()
