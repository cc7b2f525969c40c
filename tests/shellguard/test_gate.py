"""The interception decision: per-level policy, non-interactive policy, bypass, audit log."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tessera.core.errors import InputError
from tessera.shellguard.gate import ALLOW, DENY, audit, decide
from tessera.shellguard.rules import assess


def _ask(answer: str):  # type: ignore[no-untyped-def]
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return answer

    return ask, asked


@pytest.mark.parametrize(
    "cmd,env,interactive,answer,expected",
    [
        ("ls", {}, False, "", (ALLOW, "allow")),
        ("mkdir build", {}, False, "", (ALLOW, "allow")),
        ("kill -9 42", {}, True, "y", (ALLOW, "approved")),
        ("kill -9 42", {}, True, "n", (DENY, "declined")),
        ("kill -9 42", {}, False, "", (DENY, "policy-deny")),
        ("kill -9 42", {"TESSERA_GUARD_POLICY": "allow"}, False, "", (ALLOW, "policy-allow")),
        ("kill -9 42", {"TESSERA_GUARD_BYPASS": "1"}, True, "n", (ALLOW, "bypass")),
        ("kill -9 42", {"TESSERA_GUARD_NONINTERACTIVE": "1"}, True, "y", (DENY, "policy-deny")),
        ("rm -rf /", {"TESSERA_GUARD_BYPASS": "1"}, True, "y", (DENY, "refuse")),
        ("rm -rf /", {"TESSERA_GUARD_BYPASS": "blocked"}, False, "", (ALLOW, "bypass-blocked")),
    ],
)
def test_decide(
    cmd: str, env: dict[str, str], interactive: bool, answer: str, expected: tuple[int, str]
) -> None:
    ask, asked = _ask(answer)
    assert decide(assess(cmd), interactive, ask, env) == expected
    assert bool(asked) == (expected[1] in ("approved", "declined"))


def test_bad_policy_is_input_error() -> None:
    with pytest.raises(InputError, match="TESSERA_GUARD_POLICY"):
        decide(assess("kill 1"), False, None, {"TESSERA_GUARD_POLICY": "maybe"})


def test_audit_log_appends_private_json_lines(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "audit.jsonl"
    audit({"command": "rm -rf /", "decision": "refuse"}, p)
    audit({"command": "kill 1", "decision": "policy-deny"}, p)
    lines = [json.loads(x) for x in p.read_text().splitlines()]
    assert [x["decision"] for x in lines] == ["refuse", "policy-deny"]
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
