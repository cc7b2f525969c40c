"""Experiment `fedkd`: every (method, alpha, mode) row with its metrics, keyed as the issue asks."""

from __future__ import annotations

import math

from tessera.experiments.base import RunConfig
from tessera.experiments.fedkd import ALPHAS, run


def test_quick_run_reports_every_row_and_metric() -> None:
    res = run(RunConfig(quick=True))
    for alpha in ALPHAS:
        a = f"a{alpha:g}"
        assert f"local-{a}" in res.policies
        for method in ("fedmd", "feddf"):
            seq, par = (
                res.policies[f"{method}-{a}-sequential"],
                res.policies[f"{method}-{a}-parallel"],
            )
            # the modes change where the optimised step runs, not what it computes
            assert seq["mean_client_accuracy"] == par["mean_client_accuracy"]
            assert seq["cost_usd"] == par["cost_usd"] > 0
            assert par["speedup_virtual"] > 1.0  # fan-outs overlap on the virtual clock
            assert math.isfinite(par["speedup_parallel_vs_sequential"])
            assert 0 < par["mean_client_accuracy"] <= 1 and par["round_time_s"] > 0
    assert len(res.policies) == 5 * len(ALPHAS)
    assert "FedDF" in res.headline and res.figures
