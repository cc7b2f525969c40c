from __future__ import annotations

import os
from pathlib import Path

import pytest

from tessera.experiments.base import Experiment, ExperimentResult, RunConfig
from tessera.report.html import render, write_atomic


def _exp(name: str) -> Experiment:
    def run(cfg: RunConfig) -> ExperimentResult:
        return ExperimentResult(name, {"p": {"m": 1.0}})

    return Experiment(name, f"Title <{name}>", "summary", run)


def test_render_escapes_and_marks_failures() -> None:
    ok = _exp("good")
    res = ExperimentResult("good", {"pol<1>": {"p99_s": 0.5, "n": 3}}, headline="better")
    page = render([(ok, res, None), (_exp("bad"), None, "ValueError: boom")])
    assert 'id="good"' in page and 'id="bad"' in page
    assert "pol&lt;1&gt;" in page and "Title &lt;good&gt;" in page
    assert "failed: ValueError: boom" in page
    assert "tessera experiment good" in page


def test_write_atomic_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "r.html"
    write_atomic(p, "one")
    write_atomic(p, "two")
    assert p.read_text() == "two"
    assert sorted(os.listdir(p.parent)) == ["r.html"]


def test_write_atomic_keeps_old_file_on_failure(tmp_path: Path) -> None:
    p = tmp_path / "r.html"
    write_atomic(p, "old")

    class Boom(str):
        def __str__(self) -> str:
            raise RuntimeError

    with pytest.raises(TypeError):
        write_atomic(p, 123)  # type: ignore[arg-type]
    assert p.read_text() == "old"
    assert os.listdir(tmp_path) == ["r.html"]
