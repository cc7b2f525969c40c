"""Experiment `sim-queueing`: the simulator against queueing theory (Erlang C, Pollaczek-Khinchine).

A simulator whose numbers a reader should trust must first reproduce the
results that have closed forms. Each case is one queue; the "policy" column is
the case, with the simulated mean wait, its 95% batch-means interval, the
theory and the relative error.
"""

from __future__ import annotations

from typing import Any

from tessera.experiments.base import ExperimentResult, RunConfig, register
from tessera.sim.engine import run_scenario
from tessera.sim.validation import CASES, batch_means


@register(
    "sim-queueing",
    "Simulator vs queueing theory",
    "Mean queue delay of M/M/c (Erlang C) and M/D/1 (Pollaczek-Khinchine) queues, "
    "simulated with full per-invocation records, against the closed forms.",
    order=10,
)
def run(cfg: RunConfig) -> ExperimentResult:
    arrivals = 400_000 if cfg.quick else 2_000_000
    rows: dict[str, dict[str, float]] = {}
    rates = []
    for k, case in enumerate(CASES):
        cfg.progress(k / len(CASES), case.label)
        res = run_scenario(case.scenario(arrivals, cfg.seed + k))
        fr = res.functions["f"]
        measured = fr.arrival_s >= res.scenario.warmup_s
        waits = (fr.start_s - fr.arrival_s)[measured]
        mean, half = batch_means(waits)
        theory = case.theory_wait_s()
        rows[case.label] = {
            "rho": case.rho,
            "sim_wait_s": mean,
            "ci95_s": half,
            "theory_wait_s": theory,
            "error_pct": 100 * (mean - theory) / theory,
            "invocations": float(measured.sum()),
        }
        rates.append(len(fr.arrival_s) / res.wall_s)
    cfg.progress(1.0, "done")
    worst = max(abs(r["error_pct"]) for r in rows.values())
    result = ExperimentResult(
        experiment="sim-queueing",
        policies=rows,
        meta={
            "arrivals_per_case": arrivals,
            "seed": cfg.seed,
            "max_abs_error_pct": worst,
            "invocations_per_s": sum(rates) / len(rates),
        },
        headline=f"worst |error| {worst:.2f}% over {len(CASES)} queues, {arrivals:,} arrivals each",
        notes=[
            "Intervals are 95% batch-means intervals (20 batches). Long-run accuracy "
            "(3% bound) is asserted in tests/sim/test_queueing_theory.py; "
            "`tessera experiment sim-queueing` without --quick uses 2M arrivals per queue.",
        ],
    )
    result.figures.append(("Simulated vs theoretical mean queue delay", _figure(rows)))
    return result


def _figure(rows: dict[str, dict[str, float]]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(rows)
    x = range(len(labels))
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.bar([i - 0.2 for i in x], [rows[k]["theory_wait_s"] for k in labels], 0.4, label="theory")
    ax.bar(
        [i + 0.2 for i in x],
        [rows[k]["sim_wait_s"] for k in labels],
        0.4,
        yerr=[rows[k]["ci95_s"] for k in labels],
        capsize=3,
        label="Tessera sim (95% CI)",
    )
    ax.set_xticks(list(x), labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("mean queue delay (s)")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
