"""`function.yaml` input that used to crash or mislead: a file that is not UTF-8 text, an
unknown key in a nested section (which must list that section's keys), non-finite numbers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tessera.core.errors import InputError
from tessera.functions.manifest import parse_manifest, read_manifest


def refused(data: dict[str, Any]) -> InputError:
    with pytest.raises(InputError) as info:
        parse_manifest(data)
    return info.value


def test_manifest_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "function.yaml").write_bytes(b"name: f\nhandler: main.handle\n# \xff\n")
    with pytest.raises(InputError) as info:
        read_manifest(tmp_path)
    assert info.value.field == str(tmp_path / "function.yaml")
    assert "not UTF-8 text" in str(info.value.value)
    assert "UTF-8" in info.value.accepted


@pytest.mark.parametrize(
    ("data", "field", "keys"),
    [
        ({"resources": {"foo": 2}}, "function.yaml: resources.foo", ["cpu", "memory_mib", "gpu"]),
        ({"scale": {"bogus": 2}}, "function.yaml: scale.bogus", ["min", "max", "target"]),
        (
            {"resources": {"gpu": {"sm": 50}}},
            "function.yaml: resources.gpu.sm",
            ["model", "sm_pct", "quota_pct"],
        ),
    ],
)
def test_unknown_nested_key_lists_its_sections_keys(
    data: dict[str, Any], field: str, keys: list[str]
) -> None:
    e = refused({"name": "f", **data})
    assert (e.field, e.value) == (field, "(unknown key)")
    accepted = e.accepted.removeprefix("keys ").split(", ")
    assert all(k in accepted for k in keys), accepted
    assert "runtime" not in accepted and "handler" not in accepted  # top-level keys
    top = refused({"name": "f", "bogus": 1})  # an unknown top-level key lists those
    assert "runtime" in top.accepted and "handler" in top.accepted


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"resources": {"cpu": math.inf}}, "function.yaml: resources.cpu"),
        ({"scale": {"target": math.nan}}, "function.yaml: scale.target"),
    ],
)
def test_non_finite_numbers_are_refused(data: dict[str, Any], field: str) -> None:
    e = refused({"name": "f", **data})
    assert e.field == field
    assert "finite" in e.accepted
