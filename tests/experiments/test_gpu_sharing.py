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
    from tessera.experiments.gpu_sharing import _usable_pairs

    pairs = _usable_pairs(json.loads(RESULT.read_text()))
    assert pairs  # the committed device check has part g
    shown = {k: v for k, v in res.policies.items() if "partitions, " in k and "(H200)" in k}
    assert len(shown) == len(pairs)
    key, want = next(iter(pairs.items()))
    model, batch = key.rsplit("_b", 1)
    row = next(v for k, v in shown.items() if f", {model} b{batch} (H200)" in k)
    assert math.isclose(row["batches_per_s"], want["disjoint_total_per_s"])
    assert math.isclose(row["vs_solo"], min(want["each_vs_solo"]))
    note = next(n for n in res.notes if "by model and batch" in n)
    met = sum(v["disjoint_vs_timesliced"] >= 2.0 for v in pairs.values())
    assert f">= 2x for {met} of {len(pairs)}" in note
    assert any("by model and batch" in title for title, _ in res.figures)


def test_device_rows_skip_pairs_that_did_not_measure_everything(tmp_path: Path) -> None:
    from tessera.experiments.gpu_sharing import _device_check, _usable_pairs

    data = json.loads(RESULT.read_text())
    pairs = data["parts"]["g_colocation_models"]["by_pair"]
    names = list(_usable_pairs(data))
    assert len(names) >= 5
    pairs[names[0]]["each_vs_solo"] = []  # solo rate 0 after a tenant error
    pairs[names[1]]["disjoint_vs_timesliced"] = None
    pairs[names[2]]["ideal_vs_whole"] = None
    pairs[names[3]] = {"status": "error: RuntimeError: cuDNN error"}
    f = tmp_path / "check.json"
    f.write_text(json.dumps(data))
    got = _device_check(f)
    assert got is not None
    assert set(got["colocation_by_pair"]) == set(names[4:])
    del data["parts"]["g_colocation_models"]  # an older check: no part g
    f.write_text(json.dumps(data))
    assert _device_check(f)["colocation_by_pair"] == {}  # type: ignore[index]
    f.write_text("{}")
    assert _device_check(f) is None
    assert _device_check(tmp_path / "missing.json") is None
