"""Bad input found by an audit of every subcommand: each is one `error:` line and exit code 2,
before any work, and a value is printed as the user typed it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import assert_one_error_line, run_cli


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TESSERA_GATEWAY", raising=False)


@pytest.mark.parametrize(
    "argv",
    [
        ["sim", "run", "[/]x.yaml"],
        ["experiment", "[/foo]"],
        ["sim", "run", "[red]x.yaml"],
    ],
)
def test_values_are_printed_as_typed_not_as_markup(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    m = assert_one_error_line(*run_cli(argv, capsys))
    assert m.group("value") == repr(argv[-1])


@pytest.mark.parametrize(
    "argv",
    [
        ["fn", "delete", "../tokens/abc"],
        ["fn", "invoke", "a/b", "--data", "{}"],
        ["fn", "logs", "../functions/f"],
        ["secret", "rm", "../functions/f"],
        ["auth", "revoke", "../functions/f"],
    ],
)
def test_names_are_checked_before_any_request(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # port 9 (discard): nothing listens; the name must be refused before a connection
    m = assert_one_error_line(*run_cli([*argv, "--gateway", "http://127.0.0.1:9"], capsys))
    assert m.group("field") in ("NAME", "TOKEN_ID")


@pytest.mark.parametrize("url", ["http://127.0.0.1:abc", "::::", "http://[bad", "ftp://x"])
def test_malformed_gateway_url(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    m = assert_one_error_line(*run_cli(["fn", "list", "--gateway", url], capsys))
    assert m.group("field") == "--gateway" and "http(s) URL" in m.group("accepted")


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-1"])
def test_up_interval_must_be_finite_and_positive(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    m = assert_one_error_line(*run_cli(["up", "--interval", value, "--port", "1"], capsys))
    assert m.group("field") == "--interval"


def test_up_refuses_a_certificate_that_does_not_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    argv = ["up", "--tls-cert", str(junk), "--tls-key", str(junk), "--port", "1"]
    m = assert_one_error_line(*run_cli(argv, capsys))
    assert m.group("field") == "--tls-cert/--tls-key"


def test_guard_eval_refuses_an_empty_system_list(capsys: pytest.CaptureFixture[str]) -> None:
    m = assert_one_error_line(*run_cli(["guard", "eval", "--systems", ","], capsys))
    assert m.group("field") == "--systems"


def test_guard_jsonl_names_unknown_keys_and_echoes_ids(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    lines = [{"command": "ls", "cwd": "/"}, {"command": "ls", "id": "q-7"}]
    stdin = io.StringIO("".join(json.dumps(d) + "\n" for d in lines))
    monkeypatch.setattr("sys.stdin", stdin)
    code, out, _err = run_cli(["guard", "check", "--jsonl"], capsys)
    first, second = (json.loads(x) for x in out.splitlines())
    assert code == 2
    assert first == {"error": "line 1 key: got 'cwd'; accepted: command, shell, id"}
    assert second["id"] == "q-7" and second["level"] == "SAFE"


def test_guard_audit_unknown_rule_key_and_no_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("- {action: deny, patern: '^ls'}\n")
    cmds = tmp_path / "cmds.txt"
    cmds.write_text("ls\n")
    m = assert_one_error_line(
        *run_cli(["guard", "audit", str(rules), "--commands", str(cmds)], capsys)
    )
    assert m.group("value") == "'patern'"
    rules.write_text("- {action: deny, pattern: '^ls'}\n")
    cmds.write_text("\n\n")
    m = assert_one_error_line(
        *run_cli(["guard", "audit", str(rules), "--commands", str(cmds)], capsys)
    )
    assert m.group("field") == "--commands"


def test_fn_deploy_lists_local_among_the_platforms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    m = assert_one_error_line(
        *run_cli(["fn", "deploy", str(tmp_path), "--platform", "nope"], capsys)
    )
    assert m.group("accepted").startswith("local, ")


def test_wasm_cc_reads_flag_values_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `-I inc` and `-D X=1`: their values are not sources (the missing source is named)
    argv = ["wasm", "cc", "nosuch.c", "-I", "inc", "-D", "X=1", "-o", "x.wasm"]
    code, _out, err = run_cli(argv, capsys)
    assert code == 2 and "nosuch.c" in err and "'inc'" not in err and "X=1" not in err
    (tmp_path / "d.wasm").mkdir()
    m = assert_one_error_line(*run_cli(["wasm", "cc", "a.c", "-o", "d.wasm"], capsys))
    assert m.group("field") == "-o"


def test_guard_explain_prints_commands_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["guard", "explain", 'echo "[/]" [bold]x', "--mode", "rules"], capsys)
    assert code == 0 and "[/] [bold]x" in out and "Traceback" not in err


def test_guard_explain_checks_mode_before_printing(capsys: pytest.CaptureFixture[str]) -> None:
    m = assert_one_error_line(*run_cli(["guard", "explain", "ls", "--mode", "x"], capsys))
    assert m.group("value") == "'x'" and m.group("field") == "--mode"
    m = assert_one_error_line(*run_cli(["guard", "check", "ls", "--mode", "x"], capsys))
    assert m.group("field") == "--mode"


@pytest.mark.parametrize("stdin", [b"not json", b"", b"\xff\xfe"])
def test_fn_invoke_data_from_stdin_must_be_json_too(
    stdin: bytes, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    argv = ["fn", "invoke", "f", "--data", "-", "--gateway", "http://127.0.0.1:9"]
    m = assert_one_error_line(*run_cli(argv, capsys))  # before any connection (port 9)
    assert m.group("field") == "--data" and "stdin" in m.group("value")


@pytest.mark.parametrize("cmd", [["experiment", "sim-queueing", "--quick"], ["demo"]])
def test_out_is_checked_before_the_work(
    cmd: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import tessera.cli.demo
    import tessera.cli.experiment

    def no_work(*a: object, **k: object) -> None:
        raise AssertionError("the work started before --out was checked")

    monkeypatch.setattr(tessera.cli.demo, "run_demo", no_work)
    monkeypatch.setattr(tessera.cli.experiment, "progress_bar", no_work)
    (tmp_path / "afile").write_text("x")
    m = assert_one_error_line(*run_cli([*cmd, "--out", "afile"], capsys))
    assert m.group("field") == "--out" and "this is a file" in m.group("accepted")
    (tmp_path / "outd" / "report.html").mkdir(parents=True)
    m = assert_one_error_line(*run_cli([*cmd, "--out", "outd"], capsys))
    assert "report.html" in m.group("accepted")
    assert not (tmp_path / "outd" / "results.json").exists()  # nothing half-written


def test_a_wrong_tessera_data_is_noted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TESSERA_DATA", str(tmp_path / "absent"))
    code, out, err = run_cli(["--version"], capsys)
    assert code == 0 and out.startswith("tessera ")
    assert err.strip() == (
        f"note: TESSERA_DATA={tmp_path / 'absent'} is not a folder; using the built-in "
        "defaults instead"
    )
