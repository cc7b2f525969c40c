"""The shell hooks, run for real: bash refuses BLOCKED before it runs; PowerShell's handler parses."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tessera.shellguard.hooks import hook_script


def _bash(script: str, home: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    hook = home / "hook.bash"
    hook.write_text(hook_script("bash"))
    body = f"source {hook}\n{script}\n"
    full = {
        **os.environ,
        "HOME": str(home),
        "TESSERA_GUARD_AUDIT": str(home / "audit.jsonl"),
        **env,
    }
    return subprocess.run(
        ["bash", "-c", body],
        cwd=home,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_hook_refuses_blocked_and_runs_safe(tmp_path: Path) -> None:
    canary = tmp_path / "precious.txt"
    canary.write_text("keep me")
    p = _bash('touch made.txt\nrm -rf "$HOME"\necho after', tmp_path, {})
    assert (tmp_path / "made.txt").exists()
    assert canary.read_text() == "keep me"
    assert "shellguard: BLOCKED" in p.stderr and "after" in p.stdout
    log = (tmp_path / "audit.jsonl").read_text()
    assert '"decision": "refuse"' in log and "rm -rf" in log


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.parametrize("policy,runs", [("deny", False), ("allow", True)])
def test_bash_hook_noninteractive_policy_for_risky(tmp_path: Path, policy: str, runs: bool) -> None:
    """`kill` is RISKY wherever it runs: without a terminal the policy decides."""
    script = 'sleep 30 & echo "pid=$!"\nkill $!\nsleep 0.3\nif kill -0 $! 2>/dev/null; then echo alive; else echo dead; fi'
    p = _bash(script, tmp_path, {"TESSERA_GUARD_POLICY": policy})
    pid = int(p.stdout.split("pid=")[1].split()[0])
    try:
        assert ("dead" if runs else "alive") in p.stdout, (p.stdout, p.stderr)
    finally:
        if "alive" in p.stdout:
            os.kill(pid, 9)  # the sleep this test started


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_hook_bypass_and_off(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    blocked = 'rm -rf "$HOME"/etc/../*'
    p = _bash(blocked, tmp_path, {"TESSERA_GUARD_BYPASS": "1"})  # bypass covers RISKY, not BLOCKED
    assert (tmp_path / "etc").exists() and "BLOCKED" in p.stderr
    _bash(blocked, tmp_path, {"TESSERA_GUARD_OFF": "1"})
    assert not (tmp_path / "etc").exists()


def test_powershell_handler_parses_cleanly() -> None:
    from tessera.shellguard.parse import _ts_parser

    text = hook_script("powershell")
    tree = _ts_parser("powershell").parse(text.encode())
    assert not tree.root_node.has_error
    assert "Set-PSReadLineKeyHandler -Key Enter" in text and sys.executable in text


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_hook_syntax(tmp_path: Path) -> None:
    f = tmp_path / "h.zsh"
    f.write_text(hook_script("zsh"))
    assert subprocess.run(["zsh", "-n", str(f)], check=False).returncode == 0


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_hook_state_variables_do_not_unlock_it(tmp_path: Path) -> None:
    """Without a new history entry every simple command is judged, whatever the hook's state says."""
    (tmp_path / "etc").mkdir()
    p = _bash(
        '__tessera_guard_state=checked; __tessera_guard_last=x; rm -rf "$HOME"/etc/../*',
        tmp_path,
        {},
    )
    assert (tmp_path / "etc").exists() and "BLOCKED" in p.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_hook_fails_open_with_a_warning_when_the_guard_cannot_run(tmp_path: Path) -> None:
    hook = tmp_path / "hook.bash"
    hook.write_text(hook_script("bash").replace(sys.executable, "/nonexistent/python"))
    p = subprocess.run(
        ["bash", "-c", f"source {hook}\ntouch made.txt"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert (tmp_path / "made.txt").exists() and "could not run" in p.stderr
