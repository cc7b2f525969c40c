"""Adapters answer 504 at the deadline; runaway handler threads are counted and bounded."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tessera.functions import invoke
from tessera.functions.contract import Context
from tessera.functions.loader import load_handler


def _handler(tmp_path: Path) -> Any:
    (tmp_path / "main.py").write_text(
        "import threading\n"
        "GATE = threading.Event()\n"
        "def handle(event, context):\n"
        "    if event == b'hang':\n"
        "        GATE.wait(30)\n"
        "    return {'ok': True}\n"
    )
    return load_handler(tmp_path, "main.handle")


def _ctx(timeout_s: float) -> Context:
    return Context("f", "i", time.time() + timeout_s, logging.getLogger("t"))


def test_runaways_are_counted_until_they_return_and_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = _handler(tmp_path)
    overloads: list[int] = []
    monkeypatch.setattr(invoke._RUNNERS, "on_overload", lambda: overloads.append(1))
    monkeypatch.setattr(invoke, "MAX_RUNAWAY", 2)
    start = invoke._RUNNERS.runaway
    assert invoke.call_with_deadline(h, _ctx(5), b"fine", None)[0] == 200
    answers = [invoke.call_with_deadline(h, _ctx(0.05), b"hang", None) for _ in range(3)]
    assert [a[0] for a in answers] == [504, 504, 504]
    assert "timed out" in answers[0][3]
    assert invoke._RUNNERS.runaway == start + 3
    assert overloads == [1]  # the third runaway passed the limit of 2
    h.handle.__globals__["GATE"].set()  # the stuck handlers return
    deadline = time.monotonic() + 10
    while invoke._RUNNERS.runaway != start and time.monotonic() < deadline:
        time.sleep(0.01)
    assert invoke._RUNNERS.runaway == start
    assert threading.active_count() < 50
