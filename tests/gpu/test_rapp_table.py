"""The shipped V100 SM x quota table: what it answers, and that it is the source data."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from tessera.core.data import find
from tessera.core.errors import InputError
from tessera.gpu import rapp_table
from tessera.gpu.rapp_table import BATCHES, MODELS, QUOTAS, SMS, derive, v100_latency_ms


def shipped() -> dict[str, object]:
    text = resources.files("tessera.gpu").joinpath("data/v100_rapp5.json").read_text()
    data: dict[str, object] = json.loads(text)
    return data


def test_grid_points_are_the_table_and_between_them_it_interpolates() -> None:
    table = shipped()["latency_ms"]
    assert isinstance(table, dict) and sorted(table) == sorted(MODELS)
    for m in MODELS:
        for k, b in enumerate(BATCHES):
            for i, sm in enumerate(SMS):
                for j, q in enumerate(QUOTAS):
                    assert v100_latency_ms(m, b, sm, q) == pytest.approx(table[m][k][i][j])
        a, c = v100_latency_ms(m, 1, 50.0, 40.0), v100_latency_ms(m, 1, 50.0, 50.0)
        assert min(a, c) - 1e-9 <= v100_latency_ms(m, 1, 50.0, 45.0) <= max(a, c) + 1e-9
        # below the grid: 1/SM and 1/quota stretch; beyond batch 8: linear growth, never less
        assert v100_latency_ms(m, 1, 2.5, 100.0) == pytest.approx(2 * v100_latency_ms(m, 1, 5, 100))
        assert v100_latency_ms(m, 1, 50.0, 5.0) == pytest.approx(2 * v100_latency_ms(m, 1, 50, 10))
        assert v100_latency_ms(m, 16, 50.0, 100.0) >= v100_latency_ms(m, 8, 50.0, 100.0)


def test_time_quota_is_what_makes_a_slice_slow() -> None:
    for m in MODELS:
        assert v100_latency_ms(m, 1, 50.0, 10.0) > 3 * v100_latency_ms(m, 1, 50.0, 100.0)


def test_bad_input_names_the_field() -> None:
    with pytest.raises(InputError, match="model"):
        v100_latency_ms("resnet50x", 1, 50.0, 50.0)
    with pytest.raises(InputError, match="sm_pct"):
        v100_latency_ms("vgg16", 1, 0.0, 50.0)
    with pytest.raises(InputError, match="quota_pct"):
        v100_latency_ms("vgg16", 1, 50.0, 101.0)
    with pytest.raises(InputError, match="batch"):
        v100_latency_ms("vgg16", 0, 50.0, 50.0)


def test_grid_latency_reads_any_grid_as_the_shipped_table_is_read() -> None:
    from tessera.gpu.rapp_table import GridLatency

    table = shipped()["latency_ms"]
    assert isinstance(table, dict)
    same = GridLatency(table)
    for q in (5.0, 10.0, 45.0, 100.0):
        for sm in (2.5, 5.0, 37.0, 100.0):
            for b in (1, 3, 8, 16):
                assert same("densenet121", b, sm, q) == v100_latency_ms("densenet121", b, sm, q)
    doubled = GridLatency({"x": [[[2 * v for v in r] for r in p] for p in table["vgg16"]]}, "x2")
    assert doubled("x", 4, 33.0, 55.0) == pytest.approx(2 * v100_latency_ms("vgg16", 4, 33.0, 55.0))
    with pytest.raises(InputError, match=r"one of the x2's models \['x'\]"):
        doubled("vgg16", 1, 50.0, 50.0)
    with pytest.raises(InputError, match=r"short\.m"):
        GridLatency({"m": table["vgg16"][:3]}, "short")


def test_fill_interpolates_inside_and_copies_at_the_ends() -> None:
    assert rapp_table._fill([None, 10.0, None, 40.0, None]) == pytest.approx(
        [10.0, 10.0, 20.0, 40.0, 40.0]
    )


@pytest.mark.skipif(find(rapp_table.SOURCE) is None, reason="needs ../shared/data (TESSERA_DATA)")
def test_shipped_table_is_derived_from_the_rapp_dataset(tmp_path: Path) -> None:
    src = find(rapp_table.SOURCE)
    assert src is not None
    assert derive(src) == shipped()
    rapp_table.write(src, tmp_path / "t.json")
    assert json.loads((tmp_path / "t.json").read_text()) == shipped()
