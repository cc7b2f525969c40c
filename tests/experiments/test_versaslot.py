"""Experiment `versaslot`: every policy x regime, the PR sweep and the switching rows, keyed as
the issue asks (on shortened traces so the test stays quick)."""

from __future__ import annotations

import pytest

from tessera.experiments import versaslot
from tessera.experiments.base import RunConfig
from tessera.fpga import model


def test_rows_keys_and_ratios(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        versaslot, "nimblock_trace", lambda regime, seed: model.nimblock_trace(regime, seed, 8)
    )
    monkeypatch.setattr(
        versaslot, "phased_trace", lambda seed, per_phase: model.phased_trace(seed, 5)
    )
    res = versaslot.run(RunConfig(quick=True))
    p = res.policies
    for regime in versaslot.REGIMES:
        for name in versaslot.POLICIES:
            m = p[f"{name}-{regime}"]
            for key in versaslot.KEYS:
                assert key in m
            assert m["mean_response_s"] > 0 and 0 < m["lut_util"] < 1 and 0 <= m["pr_port_busy"] < 1
            assert 0 <= m["deadline_miss_rate"] <= 1
        assert (
            p[f"baseline-{regime}"]["mean_response_s"]
            > p[f"versaslot-bl-{regime}"]["mean_response_s"]
        )
        assert p[f"nimblock-{regime}"]["dispatch_blocked_s"] > 0
        assert p[f"versaslot-bl-{regime}"]["dispatch_blocked_s"] == 0
    for scale in versaslot.PR_SCALES:
        assert f"versaslot-bl-stress-pr{scale:g}" in p and f"nimblock-stress-pr{scale:g}" in p
    assert (
        p["nimblock-stress-pr4"]["dispatch_blocked_s"]
        > p["nimblock-stress-pr0.5"]["dispatch_blocked_s"]
    )
    for name in versaslot.BUNDLE_POLICIES:  # lock step is never faster than decoupled stages
        assert (
            p[f"{name}-stress-artifact-timing"]["mean_response_s"]
            >= p[f"{name}-stress"]["mean_response_s"] * 0.97
        )
    assert res.meta["nimblock_over_bl_stress_artifact_timing"] > 0
    for label in ("ol", "bl", "switch", "ol-artifact", "bl-artifact", "switch-artifact"):
        assert p[f"{label}-phased-2b"]["mean_response_s"] > 0
    assert p["switch-phased-2b"]["switches"] >= 0 and p["bl-phased-2b"]["switches"] == 0
    assert "nimblock/versaslot-bl" in res.headline and len(res.figures) == 2
    assert res.meta["nimblock_over_bl_stress"] > 0
