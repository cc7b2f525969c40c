from __future__ import annotations

from pathlib import Path

import pytest

from tessera.core import data


def test_env_var_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "x.csv").write_text("a\n1\n")
    monkeypatch.setenv("TESSERA_DATA", str(tmp_path))
    assert data.data_dir() == tmp_path
    assert data.find("traces/x.csv") == tmp_path / "traces" / "x.csv"
    assert data.find("traces/missing.csv") is None


def test_missing_env_dir_means_no_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_DATA", str(tmp_path / "nope"))
    assert data.data_dir() is None
    assert data.find("traces/x.csv") is None
