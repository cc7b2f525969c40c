"""Bad input at the command line ends in one `error:` line and exit code 2 before any work:
negative seeds for `sim run`, `experiment` and `demo`, a scenario that is not UTF-8 text;
and `sim run` shows a transient progress bar on stderr, never on stdout."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

import tessera.cli.console as console_mod
import tessera.cli.demo as demo_cmd
import tessera.cli.experiment as experiment_cmd
import tessera.cli.sim as sim_cmd
from tests.cli.test_cli import ANSI, run_cli
from tests.sim.test_input_bounds import BASE as SCENARIO


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def one_error_line(code: int, out: str, err: str) -> str:
    assert code == 2, f"exit code {code}, stderr: {err!r}"
    assert "Traceback" not in err and out == ""
    lines = [line.strip() for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def write_scenario(path: Path, **top: Any) -> Path:
    path.write_text(yaml.safe_dump({**SCENARIO, **top}, sort_keys=False))
    return path


def test_sim_run_negative_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write_scenario(tmp_path / "s.yaml")
    line = one_error_line(*run_cli(["sim", "run", str(p), "--seed", "-1"], capsys))
    assert line == "error: --seed: got -1; accepted: an integer >= 0"


def test_sim_run_negative_seed_in_the_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = write_scenario(tmp_path / "s.yaml", seed=-1)
    line = one_error_line(*run_cli(["sim", "run", str(p), "--json"], capsys))
    assert line.startswith("error: seed: got -1; accepted: ")


def test_experiment_negative_seed_before_any_work(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def started(*_: object, **__: object) -> None:
        raise AssertionError("the experiment started")

    monkeypatch.setattr(experiment_cmd, "progress_bar", started)
    argv = ["experiment", "sim-queueing", "--quick", "--seed", "-1"]
    line = one_error_line(*run_cli(argv, capsys))
    assert line == "error: --seed: got -1; accepted: an integer >= 0"


def test_demo_negative_seed_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def started(*_: object, **__: object) -> None:
        raise AssertionError("the demo started")

    monkeypatch.setattr(demo_cmd, "run_demo", started)
    out = tmp_path / "D"
    line = one_error_line(*run_cli(["demo", "--seed", "-1", "--out", str(out)], capsys))
    assert line == "error: --seed: got -1; accepted: an integer >= 0"
    assert not out.exists()


def test_sim_run_scenario_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "s.yaml"
    p.write_bytes(b"name: x\n\xff\n")
    line = one_error_line(*run_cli(["sim", "run", str(p)], capsys))
    assert line.startswith(f"error: scenario: got '{p}'; accepted: ")
    assert "not UTF-8 text" in line


def test_sim_run_shows_progress_on_stderr_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a terminal on stderr and no delay before the bar, the bar is drawn there; stdout
    holds only the JSON object."""
    tty = io.StringIO()
    fake = Console(file=tty, force_terminal=True, width=100)
    monkeypatch.setattr(sim_cmd, "SHOW_AFTER_S", 0.0)
    monkeypatch.setattr(sim_cmd, "err_console", fake)
    monkeypatch.setattr(console_mod, "err_console", fake)
    p = write_scenario(tmp_path / "s.yaml")
    code, out, err = run_cli(["sim", "run", str(p), "--json"], capsys)
    assert code == 0, err
    obj = json.loads(out)
    assert obj["scenario"] == "mmc"
    assert "mmc" in ANSI.sub("", tty.getvalue())  # the bar's label was drawn
