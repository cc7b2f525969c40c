"""The parser: what would execute, across wrappers, nesting, quoting and three shells."""

from __future__ import annotations

import base64

import pytest

from tessera.core.errors import InputError
from tessera.shellguard.parse import parse


def names(cmd: str, shell: str = "bash") -> list[str]:
    return [i.name for i in parse(cmd, shell).invocations]


def test_pipeline_chain_and_mentions() -> None:
    p = parse('sudo rm -rf / && echo "rm -rf /" | grep x # rm -rf /', "bash")
    assert [i.name for i in p.invocations] == ["rm", "echo", "grep"]
    rm = p.invocations[0]
    assert rm.privileged and rm.wrappers == ("sudo",) and rm.args == ["-rf", "/"]
    assert p.invocations[2].upstream == ("echo",)


@pytest.mark.parametrize(
    "cmd",
    [
        "env FOO=1 timeout 5 nice -n 3 /bin/rm -r -f /etc",
        "bash -c 'rm -r -f /etc'",
        "sh -c \"r''m -r -f /etc\"",
        "eval 'rm -r -f /etc'",
        "X=/etc; rm -r -f $X",
        "$(echo rm) -r -f /etc",
        "\\rm -r -f /etc",
        "CMD='rm -r -f /etc'; $CMD",
        "echo " + base64.b64encode(b"rm -r -f /etc").decode() + " | base64 -d | sh",
        'eval "$(echo ' + base64.b64encode(b"rm -r -f /etc").decode() + ' | base64 -d)"',
    ],
)
def test_wrappers_and_obfuscation_reach_the_real_command(cmd: str) -> None:
    invs = [i for i in parse(cmd, "bash").invocations if i.name == "rm"]
    assert invs, cmd
    assert invs[-1].args[-1] == "/etc"


def test_find_exec_ssh_and_cwd() -> None:
    p = parse("find /tmp -name '*.log' -exec rm -f {} \\;", "bash")
    rm = next(i for i in p.invocations if i.name == "rm")
    assert rm.args == ["-f", "/tmp/*.log"] and rm.filtered and rm.via == "find -exec"
    s = parse("ssh web1 'sudo systemctl restart nginx'", "bash")
    sc = next(i for i in s.invocations if i.name == "systemctl")
    assert sc.remote == "web1" and sc.privileged
    c = parse("cd /var/lib && rm -rf mysql", "bash")
    assert c.invocations[-1].cwd == "/var/lib"


def test_heredoc_is_data_unless_fed_to_a_shell() -> None:
    assert names("cat > notes.md <<'EOF'\nrm -rf /\nEOF") == ["cat"]
    assert "rm" in names("bash <<'EOF'\nrm -rf /\nEOF")


def test_fork_bomb_detected_not_mention() -> None:
    assert parse(":(){ :|:& };:", "bash").fork_bomb
    assert not parse("echo ':(){ :|:& };:'", "bash").fork_bomb


def test_powershell_aliases_prefixes_encoded_and_runas() -> None:
    p = parse("ri 'C:\\Windows' -Rec -Fo", "powershell")
    assert p.invocations[0].name == "remove-item"
    assert p.invocations[0].args == ["C:\\Windows", "-recurse", "-force"]
    enc = base64.b64encode("Remove-Item -Recurse C:\\".encode("utf-16-le")).decode()
    e = parse(f"powershell -NoProfile -enc {enc}", "powershell")
    assert e.invocations[0].name == "remove-item" and e.invocations[0].via == "encoded"
    s = parse(
        "Start-Process powershell -Verb RunAs -ArgumentList '-Command Set-MpPreference "
        "-DisableRealtimeMonitoring $true'",
        "powershell",
    )
    mp = next(i for i in s.invocations if i.name == "set-mppreference")
    assert mp.privileged
    assert names("Re`move-Item x -WhatIf", "powershell") == ["remove-item"]
    assert names("git push --force", "powershell") == ["git"]
    assert parse("git push --force", "powershell").invocations[0].args == ["push", "--force"]


def test_cmd_chains_nesting_and_for_loops() -> None:
    p = parse('cmd /c "rd /s /q C:\\" && echo done', "cmd")
    assert [i.name for i in p.invocations] == ["rd", "echo"]
    assert p.invocations[0].args == ["/s", "/q", "C:\\"]
    loop = parse('for /d /r . %d in (bin obj) do @if exist "%d" rd /s /q "%d"', "cmd")
    assert [i.args[-1] for i in loop.invocations] == ["bin", "obj"]
    assert parse("%0|%0", "cmd").fork_bomb


def test_bad_shell_is_input_error() -> None:
    with pytest.raises(InputError, match="shell"):
        parse("ls", "fish")


@pytest.mark.parametrize(
    "cmd,args",
    [
        ("Remove-Item a, b -Recurse", ["a", "b", "-recurse"]),
        ("Remove-Item a,b -Recurse", ["a", "b", "-recurse"]),
        ("Remove-Item 'a', 'b' -Recurse", ["a", "b", "-recurse"]),
        ("Remove-Item -Path .\\a,\n  .\\b -Recurse", ["-path", ".\\a", ".\\b", "-recurse"]),
        ("Remove-Item x, $HOME -Force", ["x", "~", "-force"]),
        ("Remove-Item $env:TEMP\\repro-1234 -Force", ["$env:TEMP\\repro-1234", "-force"]),
        ('Write-Output "a, b"', ["a, b"]),
    ],
)
def test_powershell_array_arguments_stay_with_their_command(cmd: str, args: list[str]) -> None:
    invs = parse(cmd, "powershell").invocations
    assert [(i.name, i.args) for i in invs] == [(invs[0].name, args)]


@pytest.mark.parametrize(
    "text,value",
    [
        ("0", 0),
        ("0x1f", 31),
        ("010", 8),  # leading zero: octal, as bash
        ("2#101", 5),
        ("36#z", 35),
        ("16#FF", 255),
        ("1+2*3", 7),
        ("(1+2)*3", 9),
        ("7/2", 3),
        ("-7/2+4", 1),  # division truncates toward zero: -3 + 4
        ("-7%3+3", 2),  # the remainder takes the dividend's sign, as in C: -1 + 3
        ("7%3", 1),
        ("1 + 1", 2),
        ("0xffffffffffffffff%13+1", 0),  # 64-bit: the literal is -1, -1 % 13 = -1
        ("9223372036854775807+1", None),  # wraps to the most negative: not an index
        ("-(1)", None),  # negative: counts from the end, not followed
        ("i", None),  # a variable: its value here may be stale
        ("$i", None),
        ("++i", None),
        ("i--", None),
        ("1--1", None),
        ("i=1", None),
        ("1/0", None),
        ("1%0", None),
        ("1+", None),
        ("(1", None),
        ("08", None),  # not an octal number
        ("65#1", None),
        ("2#102", None),  # a digit past the base
        ("2#0_0", None),  # int() would take these; bash refuses them
        ("16#0x0", None),
        ("\u0660", None),  # a non-ASCII digit
        ("9" * 80, None),
    ],
)
def test_array_subscript_arithmetic(text: str, value: int | None) -> None:
    from tessera.shellguard.parse import _arith

    assert _arith(text.encode().decode("unicode_escape")) == value


@pytest.mark.parametrize(
    ("head", "open_", "close", "per_level"),
    [
        ("echo ", "$(echo ", ")", 1),
        ("echo ", '"$(echo ', ')"', 1),
        ("echo ", "$(echo a | base64 -d ", ")", 2),
        ("source ", "<(echo $(echo ", "))", 4),
        ("echo ", "$(declare x=", ")", 1),  # a declaration's words were evaluated 2-4 times
        ("echo ", "$(declare ", ")", 1),
    ],
)
def test_nested_echo_substitutions_are_walked_once(
    head: str, open_: str, close: str, per_level: int
) -> None:
    # what `$(echo ...)` prints was read by evaluating its words a second time, which walked
    # every inner substitution again: 2^depth walks (a 166-character line took 36 s)
    depth = 12
    p = parse(head + open_ * depth + "x" + close * depth)
    assert len(p.invocations) <= per_level * depth + 2  # linear in depth, not 2^depth
    assert "echo" in {i.name for i in p.invocations}


@pytest.mark.parametrize(
    ("cmd", "name", "args"),
    [
        ('a=(); a+=(touch); a+=(/tmp/x y); "${a[@]}"', "touch", ["/tmp/x", "y"]),
        ('a=(ls); a[2]=z; a[0]=touch; "${a[@]}"', "touch", ["z"]),
        ('a=(touch /q); a[1]+=/r; "${a[@]}"', "touch", ["/q/r"]),
        ('a=(touch); a+=("$z"); "${a[@]}" /t', None, None),  # a dynamic element: unknown
    ],
)
def test_arrays_grown_in_place(cmd: str, name: str | None, args: list[str] | None) -> None:
    # appends and element assignments change a held array in place (a line of them rebuilt
    # it each time: quadratic); what "${a[@]}" gives is unchanged
    got = [(i.name, i.args) for i in parse(cmd).invocations]
    if name is None:
        assert all(n != "touch" for n, _ in got)
    else:
        assert (name, args) in got


def test_array_growth_stops_at_the_element_limit() -> None:
    from tessera.shellguard.parse import MAX_ELEMENTS

    grow = "; ".join("a+=(x)" for _ in range(MAX_ELEMENTS + 5))
    assert parse(f'a=(); {grow}; "${{a[@]}}"').invocations[-1].name == "x"
    one_by_one = "; ".join(f"a[{i}]=x" for i in range(MAX_ELEMENTS + 5))
    p = parse(f"a=(); {one_by_one}; ${{a[3]}} /z")
    assert "x" not in [i.name for i in p.invocations]  # a[1024]= left the array untracked
