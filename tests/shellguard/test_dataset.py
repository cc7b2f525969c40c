"""The weak-label dataset builder: label votes, placeholder filling, variants, contrasts, de-duplication."""

from __future__ import annotations

import random

import pytest

from tessera.shellguard import gold
from tessera.shellguard.dataset import (
    _fill,
    build,
    commands_dir,
    contrasts,
    summary,
    variants,
    weak_label,
)
from tessera.shellguard.levels import Level
from tessera.shellguard.rules import assess


def test_weak_label_votes() -> None:
    # the rules know rm: their level stands, the description cannot lower it
    assert weak_label("rm -rf /", "bash", "list files") == (Level.BLOCKED, 1.0)
    # an unknown tool: the description decides, with lower confidence
    assert (
        weak_label("frobctl purge --all", "bash", "Delete all frobs permanently")[0] == Level.RISKY
    )
    assert weak_label("frobctl new x", "bash", "Create a new frob")[0] == Level.LOW
    assert weak_label("frobctl ls", "bash", "List frobs") == (Level.SAFE, 0.8)
    # Fig's danger flag is one vote: at least RISKY
    assert weak_label("frobctl sync --prune", "bash", "", danger_flag=True)[0] == Level.RISKY


def test_fill_placeholders_spans_target_grades() -> None:
    rng = random.Random(0)
    outs = {_fill("rm -r {{path/to/directory}}", rng, False) for _ in range(200)}
    levels = {assess(o).level for o in outs}
    assert {Level.LOW, Level.RISKY, Level.BLOCKED} <= levels
    assert _fill("tar {{[-x|--extract]}} f", random.Random(1), False) in (
        "tar -x f",
        "tar --extract f",
    )
    assert "{{" not in _fill("cp {{path/to/file}} {{path/to/dir}}", rng, False)


def test_variants_keep_and_contrasts_change_the_rule_level() -> None:
    rng = random.Random(0)
    for cmd in ("rm -rf /var/lib/mysql", "kill -9 4242", "mkfs.ext4 /dev/sdb"):
        base = assess(cmd).level
        for v in variants(cmd, "bash", rng):
            got = assess(v).level
            assert got == base or (v.startswith("sudo") and got >= base), (v, got)
        for c, lv in contrasts(cmd, "bash", rng):
            if lv == Level.SAFE:
                assert assess(c).level == Level.SAFE, c
    for v in variants("Remove-Item -Path C:\\Windows -Recurse -Force", "powershell", rng):
        assert assess(v, "powershell").level == Level.BLOCKED, v


def test_build_dedups_against_gold_and_covers_every_level() -> None:
    if commands_dir() is None:
        pytest.skip("the command corpora (../shared/data-commands) are not here")
    ex = build(limit=3000, seed=0)
    s = summary(ex)
    assert all(s["by_level"].get(lv.name, 0) > 0 for lv in Level)
    banned = {" ".join(r.command.lower().split()) for r in gold.load()}
    assert not [e for e in ex if " ".join(e.command.lower().split()) in banned]
    assert build(limit=500, seed=0) == build(limit=500, seed=0)
