"""`tessera guard audit`: rules that miss risky commands or fire on harmless ones."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tessera.core.errors import InputError
from tessera.shellguard.audit import audit, load_commands, load_rules
from tessera.shellguard.guard import Guard


def test_missing_too_broad_too_weak_and_unused(tmp_path: Path) -> None:
    rules = tmp_path / "rules.txt"
    rules.write_text("# a dcg-style rule set\ndeny rm -rf\nask mkfs\ndeny shutdown\n")
    cmds = tmp_path / "cmds.txt"
    cmds.write_text(
        "\n".join(
            [
                "rm -rf /",  # caught
                "grep -rn 'rm -rf' docs/",  # too broad: a mention
                "rm -rf ./build",  # too broad: a safe target
                "mkfs.ext4 /dev/sdb",  # too weak: BLOCKED behind an ask
                "rm -r -f /etc",  # missing: flag split
                "dd if=/dev/zero of=/dev/sda",  # missing
                "ls -la",
            ]
        )
        + "\n"
    )
    rep = audit(load_rules(rules), load_commands(cmds), Guard("rules"))
    assert rep["commands"] == 7 and rep["rules"] == 3
    assert rep["missing_total"] == 2
    assert {"destroy", "disk"} <= set(rep["missing"])
    broad = {d["rule"]: d for d in rep["too_broad"]}
    assert broad["line 2"]["on_safe_or_low"] == 2 and broad["line 2"]["fires"] == 3
    assert rep["too_weak"][0]["rule"] == "line 3"
    assert rep["unused_rules"] == ["line 4"]


def test_json_rules_and_jsonl_commands(tmp_path: Path) -> None:
    rules = tmp_path / "r.json"
    rules.write_text(
        json.dumps([{"name": "no-ri", "pattern": "(?i)remove-item", "action": "deny"}])
    )
    cmds = tmp_path / "c.jsonl"
    cmds.write_text(
        json.dumps({"command": "Remove-Item C:\\ -Recurse -Force", "shell": "powershell"}) + "\n"
    )
    rep = audit(load_rules(rules), load_commands(cmds), Guard("rules"))
    assert rep["missing_total"] == 0 and rep["too_broad"] == []


@pytest.mark.parametrize("text,field", [("deny (unclosed\n", "pattern"), ("block rm\n", "action")])
def test_bad_rules_name_the_field(tmp_path: Path, text: str, field: str) -> None:
    p = tmp_path / "bad.txt"
    p.write_text(text)
    with pytest.raises(InputError, match=field):
        load_rules(p)


def test_unreadable_inputs_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("- {pattern: [unclosed\n")
    with pytest.raises(InputError, match="YAML"):
        load_rules(tmp_path / "bad.yaml")
    with pytest.raises(InputError, match="RULES"):
        load_rules(tmp_path)  # a folder
    (tmp_path / "latin1.txt").write_bytes(b"rm -rf \xff\n")
    with pytest.raises(InputError, match="UTF-8"):
        load_commands(tmp_path / "latin1.txt")
    (tmp_path / "c.jsonl").write_text('{"shell": "bash"}\n')
    with pytest.raises(InputError, match="command"):
        load_commands(tmp_path / "c.jsonl")


@pytest.mark.parametrize(
    "name,content",
    [
        ("bom.txt", '\ufeff  [{"pattern": "rm", "action": "deny"}]'),  # BOM, then spaces
        ("rules.conf", "# dcg export\n- pattern: rm\n  action: deny\n"),  # YAML, no .yaml
        ("flow.txt", "[{pattern: rm, action: deny}]\n"),  # YAML flow style (not JSON)
        ("upper.JSON", '\n  [{"pattern": "rm", "action": "deny"}]'),
        ("plain.rules", "\ufeff# comment\nDENY rm\n"),
    ],
)
def test_rule_formats_are_detected(tmp_path: Path, name: str, content: str) -> None:
    p = tmp_path / name
    p.write_text(content, encoding="utf-8")
    (rule,) = load_rules(p)
    assert rule.action == "deny" and rule.pattern.pattern == "rm"


@pytest.mark.parametrize(
    "name,content,says",
    [
        ("obj.json", '{"rules": [{"pattern": "rm", "action": "deny"}]}', "not a list"),
        ("obj.txt", '  {"pattern": "rm", "action": "deny"}', "not a list"),
        ("yaml.json", "- {pattern: rm, action: deny}\n", "JSON list of rules .*line 1 column 1"),
        ("broken.txt", "{nope\n", "starts like JSON"),
        ("map.rules", "rules:\n  - pattern: rm\n", "not a list"),
    ],
)
def test_files_that_are_no_rule_format_get_one_clear_error(
    tmp_path: Path, name: str, content: str, says: str
) -> None:
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(InputError, match=says) as e:
        load_rules(p)
    assert "\n" not in str(e.value) and str(e.value).startswith("RULES: got")


def test_regex_deadline_leaves_signal_state_as_it_was(tmp_path: Path) -> None:
    """The audit borrows SIGALRM for its searches; afterwards the handler and timer are back."""
    before = signal.getsignal(signal.SIGALRM)
    rules = tmp_path / "r.txt"
    rules.write_text("deny rm\n")
    cmds = tmp_path / "c.txt"
    cmds.write_text("rm -rf /\nls\n")
    rep = audit(load_rules(rules), load_commands(cmds), Guard("rules"))
    assert rep["unused_rules"] == [] and rep["missing_total"] == 0
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
