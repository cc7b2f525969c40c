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


@pytest.mark.parametrize(
    ("data", "field", "value"),
    [
        ({"timeout_s": True}, "function.yaml: timeout_s", True),  # was 1 second
        ({"concurrency": "5"}, "function.yaml: concurrency", "5"),  # was 5
        ({"scale": {"max": 2.5}}, "function.yaml: scale.max", 2.5),  # a fraction of instances
        ({"network": "yes"}, "function.yaml: network", "yes"),
        ({"resources": {"memory_mib": "512"}}, "function.yaml: resources.memory_mib", "512"),
    ],
)
def test_values_of_the_wrong_type_are_refused_not_coerced(
    data: dict[str, Any], field: str, value: object
) -> None:
    e = refused({"name": "f", **data})
    assert (e.field, e.value) == (field, value)
    assert "valid" in e.accepted


def test_whole_numbers_stay_accepted_where_a_number_is_expected() -> None:
    m = parse_manifest({"name": "f", "timeout_s": 5, "resources": {"cpu": 2}})
    assert (m.timeout_s, m.resources.cpu) == (5.0, 2.0)


def test_a_key_written_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    """YAML keeps the last of two equal keys without a word: a hand-edited manifest would
    lose the first setting silently."""
    text = "name: f\nscale:\n  max: 3\n  min: 1\n  max: 30\n"
    (tmp_path / "function.yaml").write_text(text)
    with pytest.raises(InputError) as info:
        read_manifest(tmp_path)
    assert info.value.field == "function.yaml: scale.max"
    assert info.value.value == "(written twice, lines 3 and 5)"
