"""Run all registered experiments, collect results (and failures), write report + JSON.

One experiment failing does not lose the others: its section says it failed
and the demo exits non-zero at the end.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tessera.experiments import EXPERIMENTS  # noqa: F401  (imports register the experiments)
from tessera.experiments.base import Experiment, ExperimentResult, RunConfig, all_experiments
from tessera.report.html import freeze_figures, render, write_atomic


@dataclass
class DemoRun:
    runs: list[tuple[Experiment, ExperimentResult | None, str | None]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    report: Path | None = None

    @property
    def failed(self) -> list[str]:
        return [e.name for e, _, err in self.runs if err is not None]


def run_demo(
    out_dir: Path,
    seed: int = 0,
    quick: bool = True,
    on_start: Callable[[Experiment, int, int], None] = lambda e, i, n: None,
    on_progress: Callable[[float, str], None] = lambda f, m: None,
    only: list[str] | None = None,
) -> DemoRun:
    exps = [e for e in all_experiments() if only is None or e.name in only]
    demo = DemoRun()
    for i, exp in enumerate(exps):
        on_start(exp, i, len(exps))
        t0 = time.perf_counter()
        try:
            res = exp.run(RunConfig(quick=quick, seed=seed, out_dir=out_dir, progress=on_progress))
            freeze_figures(res)
            demo.runs.append((exp, res, None))
        except Exception as e:  # keep the other experiments' results
            demo.runs.append((exp, None, f"{type(e).__name__}: {e}"))
            traceback.print_exc()
        demo.seconds[exp.name] = time.perf_counter() - t0
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "seed": seed,
        "quick": quick,
        "experiments": [r.to_json() for _, r, _ in demo.runs if r is not None],
        "failed": demo.failed,
        "seconds": demo.seconds,
    }
    write_atomic(out_dir / "results.json", json.dumps(payload, indent=2))
    mode = "quick mode" if quick else "full mode"
    demo.report = write_atomic(
        out_dir / "report.html",
        render(demo.runs, subtitle=f"All headline experiments, {mode}, seed {seed}."),
    )
    return demo
