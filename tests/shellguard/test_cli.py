"""`tessera guard ...` end to end (real processes: the JSON lines contract, exit codes, errors)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ENV = {**os.environ, "TESSERA_GUARD_MODE": "rules", "NO_COLOR": "1", "COLUMNS": "200"}


def run(
    args: list[str],
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tessera.cli.main", "guard", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env or ENV,
    )


def test_check_json_and_exit_codes() -> None:
    p = run(["check", "--mode", "rules", "--json", "--exit-code", "rm -rf /"])
    assert p.returncode == 4
    v = json.loads(p.stdout)
    assert v["level"] == "BLOCKED" and "destroy" in v["reasons"] and 0 <= v["score"] <= 1
    assert run(["check", "--mode", "rules", "--exit-code", "kill -9 1234"]).returncode == 3
    assert run(["check", "--mode", "rules", "--exit-code", "ls"]).returncode == 0
    ps = run(
        [
            "check",
            "--mode",
            "rules",
            "--json",
            "--shell",
            "powershell",
            "Remove-Item C:\\ -Recurse -Force",
        ]
    )
    assert json.loads(ps.stdout)["level"] == "BLOCKED"


def test_jsonl_keeps_input_order_and_flags_bad_lines() -> None:
    lines = [
        json.dumps({"command": c, "shell": s})
        for c, s in [
            ("ls", "bash"),
            ("rm -rf /", "bash"),
            ("Get-ChildItem", "powershell"),
            ("format C:", "cmd"),
        ]
    ]
    lines.insert(2, "{not json")
    lines.append(json.dumps({"command": "ls", "shell": "fish"}))
    lines.append("[" * 100000)
    p = run(["check", "--mode", "rules", "--jsonl"], stdin="\n".join(lines) + "\n")
    out = [json.loads(x) for x in p.stdout.splitlines()]
    assert len(out) == 7
    assert [o.get("level") for o in out] == ["SAFE", "BLOCKED", None, "SAFE", "BLOCKED", None, None]
    assert "not JSON" in out[2]["error"] and "shell" in out[5]["error"]
    assert all({"level", "reasons", "score"} <= set(o) for o in out if "error" not in o)
    assert p.returncode == 2


def test_jsonl_many_lines_in_batches() -> None:
    cmds = [f"rm -rf /tmp/x{i}" if i % 2 else f"rm -rf /srv/data{i}" for i in range(150)]
    p = run(
        ["check", "--mode", "rules", "--jsonl"],
        stdin="\n".join(json.dumps({"command": c}) for c in cmds),
    )
    levels = [json.loads(x)["level"] for x in p.stdout.splitlines()]
    assert levels == ["RISKY" if i % 2 == 0 else "LOW" for i in range(150)]
    assert p.returncode == 0


def test_bad_input_is_one_line_exit_2() -> None:
    p = run(["check", "--shell", "fish", "ls"])
    assert p.returncode == 2
    assert p.stderr.strip().startswith("error: --shell: got 'fish'")
    assert run(["check"]).returncode == 2
    assert run(["hook", "tcsh"]).returncode == 2


@pytest.mark.parametrize(
    "args,model_dir,says",
    [
        (["--shell", "fish"], None, "error: --shell: got 'fish'; accepted: bash, powershell"),
        (["--mode", "model"], "empty", "error: model: got "),  # no artifact in that folder
    ],
)
def test_jsonl_bad_option_is_refused_before_reading_stdin(
    tmp_path: Path, args: list[str], model_dir: str | None, says: str
) -> None:
    """An option that applies to every line fails once, up front: stdin stays open and unread
    here, so the command only exits if it never waits for input (it used to print the same
    error line for every input line, or fail at the first batch)."""
    env = dict(ENV)
    if model_dir:
        (tmp_path / model_dir).mkdir()
        env["TESSERA_GUARD_MODEL"] = str(tmp_path / model_dir)
    p = subprocess.Popen(
        [sys.executable, "-m", "tessera.cli.main", "guard", "check", "--jsonl", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        code = p.wait(timeout=60)  # stdin still open: only a refusal up front gets past here
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise
    out, err = p.communicate()
    assert code == 2 and out == ""
    assert err.strip().startswith(says) and len(err.strip().splitlines()) == 1


def test_train_bad_out_fails_before_training(tmp_path: Path) -> None:
    """--out is checked (and created when missing) before the dataset is built: a folder that
    cannot be made fails at once with one line naming --out, not after minutes of training."""
    (tmp_path / "file").write_text("not a folder\n")
    out = tmp_path / "file" / "model"
    p = run(["train", "--out", str(out), "--steps", "1", "--per-class", "10", "--threads", "1"])
    assert p.returncode == 2
    assert p.stderr.strip().startswith(f"error: --out: got '{out}'")
    assert len(p.stderr.strip().splitlines()) == 1  # no "building the dataset" log before it
    assert not out.exists()


def test_audit_runaway_user_regex_is_refused_not_hung(tmp_path: Path) -> None:
    """`(a+)+$` against a long run of `a`s backtracks for longer than anyone waits; the audit
    bounds each user-pattern search and names the rule instead. The subprocess timeout only
    keeps this test bounded if the guard hangs (it then fails with TimeoutExpired)."""
    (tmp_path / "rules.txt").write_text("deny rm -rf\ndeny (a+)+$\n")
    (tmp_path / "cmds.txt").write_text("ls\n" + "a" * 60 + "!\n")
    p = run(
        [
            "audit",
            str(tmp_path / "rules.txt"),
            "--commands",
            str(tmp_path / "cmds.txt"),
            "--mode",
            "rules",
        ],
        timeout=90,
    )
    assert p.returncode == 2
    err = p.stderr.strip()
    assert err.startswith("error: RULES line 2 pattern: got '(a+)+$'") and "aaaa" in err
    assert len(err.splitlines()) == 1


def test_explain_shows_execution_rules_and_verdict() -> None:
    p = run(["explain", "--mode", "rules", "X=/etc; sudo env rm -r -f $X"])
    assert p.returncode == 0
    assert (
        "privileged" in p.stdout
        and "BLOCKED" in p.stdout
        and "recursive delete of system path" in p.stdout
    )


def test_hook_scripts_are_bound_to_this_python() -> None:
    for shell in ("bash", "zsh", "powershell"):
        p = run(["hook", shell])
        assert p.returncode == 0 and "tessera.shellguard gate" in p.stdout
        assert sys.executable in p.stdout and "@PYTHON@" not in p.stdout


def test_audit_cli(tmp_path: Path) -> None:
    (tmp_path / "rules.txt").write_text("deny rm -rf\n")
    (tmp_path / "cmds.txt").write_text("rm -rf /\necho 'rm -rf /'\nmkfs.ext4 /dev/sda\n")
    p = run(
        [
            "audit",
            str(tmp_path / "rules.txt"),
            "--commands",
            str(tmp_path / "cmds.txt"),
            "--mode",
            "rules",
            "--json",
        ]
    )
    rep = json.loads(p.stdout)
    assert rep["missing_total"] == 1 and rep["too_broad"][0]["on_safe_or_low"] == 1
    bad = run(["audit", str(tmp_path / "nope.txt"), "--commands", str(tmp_path / "cmds.txt")])
    assert bad.returncode == 2 and "RULES" in bad.stderr


def test_module_gate_fast_path(tmp_path: Path) -> None:
    env = {**ENV, "TESSERA_GUARD_AUDIT": str(tmp_path / "a.jsonl")}
    gate = [sys.executable, "-m", "tessera.shellguard", "gate", "--shell", "bash", "--"]
    assert (
        subprocess.run([*gate, "ls -la"], env=env, check=False, capture_output=True).returncode == 0
    )
    p = subprocess.run([*gate, "rm -rf /"], env=env, check=False, capture_output=True, text=True)
    assert p.returncode == 1 and "BLOCKED" in p.stderr
    rec = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert rec[-1]["decision"] == "refuse" and rec[-1]["command"] == "rm -rf /"
    assert subprocess.run([*gate[:-1]], env=env, check=False, capture_output=True).returncode == 2


@pytest.mark.parametrize("split", ["dev"])
def test_eval_rules_only(split: str) -> None:
    p = run(["eval", "--split", split, "--systems", "rules", "--json"])
    res = json.loads(p.stdout)
    assert res["n"] >= 1000 and set(res["systems"]) == {"rules"}
    assert res["systems"]["rules"]["macro_f1_4"] >= 0.9  # the dev split the rules were written on
    assert res["latency"]["rules"]["p95_ms"] > 0
