"""Experiment `gpu-sharing`: the simulated rows, and the committed H200 device check beside them."""

from __future__ import annotations

import json
import math
from pathlib import Path

from tessera.experiments import EXPERIMENTS
from tessera.experiments.base import RunConfig

RESULT = Path(__file__).resolve().parents[2] / "benchmarks/results/gpu_device_check_h200.json"


def test_gpu_sharing_shows_the_simulated_and_the_h200_co_location_by_model() -> None:
    res = EXPERIMENTS.create("gpu-sharing").run(RunConfig(quick=True, seed=0))
    assert 0.24 <= res.policies["quota 0.25 (simulated)"]["achieved_share"] <= 0.26
    pairs = json.loads(RESULT.read_text())["parts"]["g_colocation_models"]["by_pair"]
    shown = {k: v for k, v in res.policies.items() if k.startswith("4 tenants on 32-SM")}
    assert len(shown) == len(pairs) == 7
    row = res.policies["4 tenants on 32-SM partitions, bert_base b1 (H200)"]
    want = pairs["bert_base_b1"]
    assert math.isclose(row["batches_per_s"], want["disjoint_4x32"]["total_per_s"])
    assert math.isclose(row["vs_solo"], min(want["each_vs_solo"]))
    note = next(n for n in res.notes if "by model and batch" in n)
    met = sum(v["disjoint_vs_timesliced"] >= 2.0 for v in pairs.values())
    assert f">= 2x for {met} of 7" in note
    assert any("by model and batch" in title for title, _ in res.figures)


def test_device_rows_skip_pairs_that_did_not_measure_everything(tmp_path: Path) -> None:
    from tessera.experiments.gpu_sharing import _device_check

    data = json.loads(RESULT.read_text())
    pairs = data["parts"]["g_colocation_models"]["by_pair"]
    pairs["resnet50_b1"]["each_vs_solo"] = []  # solo rate 0 after a tenant error
    pairs["resnet50_b8"]["disjoint_vs_timesliced"] = None
    pairs["bert_base_b1"]["ideal_vs_whole"] = None
    pairs["bert_base_b8"] = {"status": "error: RuntimeError: cuDNN error"}
    f = tmp_path / "check.json"
    f.write_text(json.dumps(data))
    got = _device_check(f)
    assert got is not None
    assert set(got["colocation_by_pair"]) == {
        "resnet50_b32", "mobilenet_v3_large_b1", "mobilenet_v3_large_b8",
    }  # fmt: skip
    del data["parts"]["g_colocation_models"]  # an older check: no part g
    f.write_text(json.dumps(data))
    assert _device_check(f)["colocation_by_pair"] == {}  # type: ignore[index]
    f.write_text("{}")
    assert _device_check(f) is None
    assert _device_check(tmp_path / "missing.json") is None
