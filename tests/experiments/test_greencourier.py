"""Experiment `greencourier`: every policy and variant, keyed as the issue asks."""

from __future__ import annotations

import numpy as np
import pytest

from tessera.experiments import greencourier
from tessera.experiments.base import RunConfig


def test_rows_for_every_policy_and_variant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        greencourier, "_workload", lambda quick, seed: (np.full(180, 6.0), "three test hours")
    )
    res = greencourier.run(RunConfig(quick=True))
    for name in greencourier.POLICIES:
        for suffix in ("", "-cap40", "-stale1h", "-outage"):
            m = res.policies[name + suffix]
            assert m["invocations"] == 180 * 6 and m["rejected_share"] == 0
            assert m["gco2_per_invocation"] > 0 and m["embodied_gco2_per_invocation"] > 0
            assert 0 <= m["share_in_greenest"] <= 1 and m["p95_added_latency_ms"] >= 0
    p = res.policies
    assert p["latency-nearest"]["p95_added_latency_ms"] == 0  # everyone served at home
    assert p["greencourier"]["share_in_greenest"] == 1.0  # fresh signal, no cap
    assert p["greencourier-cap40"]["share_in_greenest"] <= 0.41
    assert p["tessera"]["p95_added_latency_ms"] <= greencourier.BUDGET_MS
    assert p["greencourier"]["gco2_per_invocation"] < p["round-robin"]["gco2_per_invocation"]
    assert res.figures and "round-robin" in res.headline
    seasonal = [k for k in p if k.startswith("bound-eu") and k.endswith("cap40-jan")]
    assert len(seasonal) == 1  # the table has more European regions than the four
    suffix = seasonal[0][len("bound") :]
    for name in greencourier.SEASON_POLICIES:
        m = p[name + suffix]
        assert m["invocations"] == 180 * 6 and m["rejected_share"] == 0
        # the bound holds for every policy (all draw the same workload, moves or not)
        assert m["gco2_per_invocation"] >= p["bound" + suffix]["gco2_per_invocation"] - 1e-9
    for capped in ("-cap40", suffix):  # holding regions to every minute's cap costs carbon
        assert (
            p["ideal" + capped]["gco2_per_invocation"] >= p["bound" + capped]["gco2_per_invocation"]
        )
    assert "ideal" not in p and "strict-cap ideal" in res.headline
    assert "European regions, 40% cap, tessera-migrate: jan" in res.headline
