"""The `mpiwasm` experiment: real builds, real runs, the report's rows and figures."""

from __future__ import annotations

import math

import pytest

from tessera.experiments import EXPERIMENTS, RunConfig
from tests.wasm_mpi.conftest import missing

pytestmark = pytest.mark.xdist_group("wasm_mpi")


def test_quick_run_reports_every_build_and_the_goals() -> None:
    why = missing()
    if why:
        pytest.skip(why)
    res = EXPERIMENTS.create("mpiwasm").run(RunConfig(quick=True))
    assert set(res.policies) == {"native", "wasm", "wasm-python"}
    for row in res.policies.values():
        assert row["latency_8B_us"] > 0
    # the Python path serves every call through wasmtime-py: far slower than the shim
    assert res.policies["wasm-python"]["hostcall_ns"] > 10 * res.policies["wasm"]["hostcall_ns"]
    goals = res.meta["goals"]
    assert math.isfinite(goals["latency_8B_ratio"]) and goals["latency_8B_ratio"] > 0
    assert set(goals["simd_ratio_vs_fastest_native"]) == {
        "matmul",
        "mmtile",
        "stencil",
        "saxpy",
        "idot",
    }
    assert res.meta["simd_checksums_agree"] is True
    assert "8 B latency" in res.headline
    assert len(res.figures) == 2
