from __future__ import annotations

import os
from pathlib import Path

import pytest

from tessera.experiments.base import Experiment, ExperimentResult, RunConfig
from tessera.report.html import PngFigure, render, write_atomic


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


def test_frozen_figures_are_closed_and_embedded(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tessera.demo.run import run_demo
    from tessera.experiments.base import EXPERIMENTS

    def run(cfg: RunConfig) -> ExperimentResult:
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        return ExperimentResult("figs", {"p": {"m": 1.0}}, figures=[("a line", fig)])

    plt.close("all")
    exp = Experiment("figs-test", "Figures", "summary", run)
    EXPERIMENTS.register(exp.name)(lambda: exp)
    try:
        demo = run_demo(tmp_path, only=["figs-test"])
    finally:
        del EXPERIMENTS._items[exp.name]
    assert plt.get_fignums() == []  # closed as soon as the experiment returned
    ((_, res, _),) = demo.runs
    assert res is not None and isinstance(res.figures[0][1], PngFigure)
    page = (tmp_path / "report.html").read_text()
    assert f"base64,{res.figures[0][1].b64}" in page and "a line" in page
