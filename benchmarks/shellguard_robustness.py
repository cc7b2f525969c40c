"""Shellguard robustness: worst-case grading time on adversarial line shapes, crashes on random
token soups, and (with --base REV) which commands grade differently from another revision.

A guard sits in front of every command an operator types, so a line that takes seconds to
grade is a denial of service and a crash is a hole. Part 1 grades lines built to stress the
parser (nested `$(echo ...)`, process substitutions, arrays grown one element at a time,
heredocs, functions, nested compounds) at growing sizes up to the 16 KB line limit and
reports the slowest; part 2 grades seeded random token soups (benign words, shell operators,
quotes, substitutions, heredoc starts) and counts exceptions; part 3 (--base) grades the gold
set, the tldr and NL2Bash corpora (from TESSERA_DATA) and the soups with this tree and with
REV's `src/` (`git archive`, run in a subprocess) and counts the commands whose level went
down, went up or whose reasons changed. Nothing is executed: grading only reads the text.

    python benchmarks/shellguard_robustness.py [--soups N] [--base REV] [--out PATH]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "shellguard_robustness.json"
ROOT = Path(__file__).resolve().parent.parent

SHAPES: dict[str, Callable[[int], str]] = {
    "nested $(echo ...)": lambda d: "echo " + "$(echo " * d + "x" + ")" * d,
    'nested "$(echo ...)"': lambda d: "echo " + '"$(echo ' * d + "x" + ')"' * d,
    "nested $(echo | base64 -d)": lambda d: "echo " + "$(echo a | base64 -d " * d + ")" * d,
    "nested source <(echo $(...))": lambda d: "source " + "<(echo $(echo " * d + "x" + "))" * d,
    "nested ${x:-...}": lambda d: "echo " + "${x:-" * d + "$(echo y)" + "}" * d,
    "nested ( )": lambda d: "(" * d + "echo x" + ")" * d,
    "nested if": lambda d: "if true; then " * d + "echo x; " + "fi; " * d,
    "nested for": lambda d: "for a in 1 2; do " * d + "echo $a; " + "done; " * d,
    "array a+=(x)": lambda n: "a=(); " + "; ".join("a+=(x)" for _ in range(n)) + '; "${a[@]}"',
    "array a[i]=x": lambda n: "; ".join(f"a[{i}]=x" for i in range(n)) + '; "${a[@]}"',
    "array a[0]+=x": lambda n: "a=(y); " + "; ".join("a[0]+=x" for _ in range(n)),
    "declare -A a[k]=v": lambda n: (
        "declare -A a; " + "; ".join(f"a[k{i}]=v" for i in range(n)) + '; echo "${a[@]}"'
    ),
    "heredocs": lambda n: "\n".join(f"cat <<E{i}\nline $(echo {i})\nE{i}" for i in range(n)),
    "functions": lambda n: "; ".join(f"f{i}(){{ echo {i}; f{max(0, i - 1)}; }}" for i in range(n)),
    "pipeline": lambda n: " | ".join(f"grep x{i}" for i in range(n)),
    "nested $(declare x=...)": lambda d: "echo " + "$(declare x=" * d + "x" + ")" * d,
    "nested $(declare ...)": lambda d: "echo " + "$(declare " * d + "x" + ")" * d,
    'array "${b[@]}" read n times': lambda n: _B1024 + "x=" + "${b[@]}" * n,
    'declare "${b[@]}" n times': lambda n: _B1024 + 'declare "' + "${b[@]}" * n + '"',
    "eval of ${b[@]} n times": lambda n: _B1024 + "eval " + "${b[@]}" * n,
    "echo $x (doubled 15 times) n times": lambda n: (
        "x='x '; " + "x=$x$x; " * 15 + "echo " + "$x " * n
    ),
    "eval $x (doubled 15 times) n times": lambda n: (
        "x='x '; " + "x=$x$x; " * 15 + "eval " + "$x" * n
    ),
    "f() expanding a doubled $x, called n times": lambda n: (
        _XSP + "f() { : $1" + " $x" * 16 + "; }; " + "f a; " * n
    ),
    'eval "$y" of a doubled $x, n times': lambda n: (
        "y=': " + "$x " * 20 + "'; " + _XSP + 'eval "$y"; ' * n
    ),
    # shapes the 2026-11-30 reviews found slow (each exponential in a first version)
    "brace lists {a,b} in an argument": lambda n: "echo " + "{a,b}" * n,
    "brace lists at command position": lambda n: "{,,,,,}" * n + "'",
    "sed s/// with escaped groups": lambda n: "sed -n 's/" + "\\(\\S\\+\\)\\s\\+" * n + "/x/p' f",
    "nested > >(cat ...)": lambda d: "echo x " + "> >(cat " * d + ")" * d,
    "nested let 'a[$(...)]'": lambda d: "let 'a[$(" * d + "x" + ")]'" * d,
    "printf with n arguments | sh": lambda n: "printf '%s %s\\n' " + "a " * n + "| sh",
    # shapes of the twelfth batch and its review
    "sed \\X addresses, each its own delimiter": lambda n: (
        "sed -n '" + "".join(";\\" + chr(0x100 + i) + "x" for i in range(n)) + "' f"
    ),
    'echo ls | eval "$(cat)" n times': lambda n: "echo ls" + ' | eval "$(cat)"' * n,
    "${x:1} of a doubled $x, n times": lambda n: _XSP + "echo " + "${x:1} " * n,
    "while true; do ... & done nested": lambda d: "while true; do " * d + "x & " + "done; " * d,
    "> >(env --u --u ... x) wrapper options": lambda n: "echo hi > >(env" + " --u" * n + " x)",
    "node: n unclosed {": lambda n: "node -e '" + "{" * n + "'",
    "node: {rm, rm, ...} = require(fs)": lambda n: (
        "node -e 'const {" + "rm," * n + '} = require("fs"); rm("/tmp/x")\''
    ),
    "kubectl exec p -- nested n times": lambda n: "kubectl exec p -- " * n + "sh",
    'node: blanks before n `from "fs"`': lambda n: (
        "node -e '{}" + " " * 3380 + "x" + 'from "fs"' * n + "'"
    ),
    "python pathlib aliases and globs": lambda n: (
        "python3 -c '"
        + "".join(f'import Path as Q{i};Q{i}("a").glob("b");' for i in range(n))
        + ".unlink()'"
    ),
    # shapes of the thirteenth batch and its reviews
    "echo >x a, n mid-command redirects": lambda n: "echo" + " >x a" * n,
    "exec {fd}<<<x, n named descriptors": lambda n: (
        "; ".join(f"exec {{f{i}}}<<<x" for i in range(n)) + "; cat <&$f0"
    ),
    'nested PROMPT_COMMAND=("$(...)")': lambda d: 'PROMPT_COMMAND=("$(' * d + "ls" + ')")' * d,
    ": ${x:=ls}, n times, then $x": lambda n: (
        "; ".join(f": ${{x{i}:=ls}}" for i in range(n)) + "; $x0 -l"
    ),
    "ruby loop { nested n deep": lambda d: "ruby -e '" + "loop { x = 1; " * d + "}" * d + "'",
    "gdb -ex with n | stages": lambda n: "gdb -batch -ex '" + "| bt " * n + "' ./a",
    "parallel with n options": lambda n: "parallel " + "-j4 --halt now " * n + "echo ::: a",
}
SIZES = (4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
_B1024 = "b=(" + " ".join(["x"] * 1024) + "); "  # an array of 1,024 elements
_XSP = "x='" + "a " * 500 + "'; " + "x=$x$x; " * 6  # 64,000 characters, 32,000 words

_SOUP_WORDS = [
    "echo", "ls", "cat", "grep", "x", "-f", "--all", "/tmp/a", "~", "$x", "${y}", "$(", ")", "`",
    "|", "||", "&&", ";", "&", ">", ">>", "<", "2>&1", "<<EOF", "<<'E'", "EOF", "\n", "'", '"',
    "{", "}", "(", ")", "[[", "]]", "if", "then", "fi", "for", "in", "do", "done", "case", "esac",
    "a=(", "a+=(", "a[0]=", "declare", "-A", "eval", "bash", "-c", "sh", "sudo", "xargs", "#",
    "\\", "$((", "))", "<(", "*", "?", "!", "=", "function", "f()", "Get-ChildItem", "-Path",
    "cmd", "/c", "%x%", "^", "@",
]  # fmt: skip


def soups(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """`n` random token soups (benign words and shell syntax), each with a shell to read it as."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        toks = [rng.choice(_SOUP_WORDS) for _ in range(rng.randint(1, 40))]
        text = "".join(t + ("" if rng.random() < 0.2 else " ") for t in toks).strip()
        out.append((text or "x", rng.choice(("bash", "bash", "powershell", "cmd"))))
    return out


def _corpus(data: Path | None) -> list[tuple[str, str]]:
    """Gold rows, then tldr examples (placeholders replaced by their own text) and NL2Bash."""
    from tessera.shellguard.gold import load

    rows = [(r.command, r.shell) for r in load()]
    src = data.parent / "data-commands" if data is not None else None
    if src is None or not src.is_dir():
        return rows
    with gzip.open(src / "tldr_examples_en.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r.get("platform") in ("android", "cisco-ios"):
                continue
            cmd = re.sub(r"\{\{(.*?)\}\}", r"\1", str(r["command"]))
            shell = "powershell" if r.get("platform") == "windows" else "bash"
            rows.append((cmd, shell))
    with gzip.open(src / "nl2bash_pairs.jsonl.gz", "rt", encoding="utf-8") as f:
        rows.extend((str(json.loads(line)["command"]), "bash") for line in f)
    return rows


def _grade_all(rows: list[tuple[str, str]], src: Path | None) -> list[tuple[int, list[str]]]:
    """[level, reasons] per row, graded by this process's tessera or by `src` in a subprocess."""
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "in.json", Path(tmp) / "out.json"
        inp.write_text(json.dumps(rows))
        env = dict(os.environ)
        if src is not None:
            env["PYTHONPATH"] = str(src)
        code = (
            "import json,sys\n"
            "from tessera.shellguard.rules import assess\n"
            "res=[]\n"
            "for c,s in json.load(open(sys.argv[1])):\n"
            "    try:\n"
            "        v=assess(c,s); res.append([int(v.level),sorted(map(str,v.reasons))])\n"
            "    except Exception as e:\n"
            "        res.append([-1,[type(e).__name__]])\n"
            "json.dump(res,open(sys.argv[2],'w'))\n"
        )
        subprocess.run([sys.executable, "-c", code, str(inp), str(out)], env=env, check=True)
        return [(int(lvl), list(why)) for lvl, why in json.loads(out.read_text())]


def _base_src(rev: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=False
    )
    if archive.returncode != 0:
        print(f"--base: {rev!r} is not a revision of {ROOT} (git archive failed)", file=sys.stderr)
        raise SystemExit(2)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--soups", type=int, default=15_000, help="random token soups (default 15000)")
    ap.add_argument("--base", help="also grade everything with this git revision's src/")
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()
    if a.soups < 0:
        print(f"--soups: {a.soups} is negative; accepted: 0 or more", file=sys.stderr)
        raise SystemExit(2)
    from tessera.shellguard.parse import MAX_CHARS
    from tessera.shellguard.rules import assess

    res: dict[str, object] = {"max_chars": MAX_CHARS}
    shapes: dict[str, dict[str, float]] = {}
    for name, build in SHAPES.items():
        worst = {"ms": 0.0, "chars": 0, "size": 0}
        fits = [n for n in SIZES if len(build(n)) <= MAX_CHARS]
        lo, hi = fits[-1], 2 * fits[-1]  # and the largest size that still fits the limit
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if len(build(mid)) <= MAX_CHARS else (lo, mid)
        for size in [*fits, lo] if lo != fits[-1] else fits:
            line = build(size)
            t = time.perf_counter()
            assess(line, "bash")
            ms = (time.perf_counter() - t) * 1000
            if ms >= worst["ms"]:
                worst = {"ms": round(ms, 1), "chars": len(line), "size": size}
        shapes[name] = worst
        print(f"{name:32s} slowest {worst['ms']:8.1f} ms at {worst['chars']:6d} chars", flush=True)
    res["shapes"] = shapes
    res["slowest_shape_ms"] = max(s["ms"] for s in shapes.values())

    soup = soups(a.soups)
    times, crashes = [], []
    for text, shell in soup:
        t = time.perf_counter()
        try:
            assess(text, shell)
        except Exception as e:  # a crash is what this part looks for
            crashes.append(f"{shell}: {text[:120]!r}: {type(e).__name__}: {e}"[:300])
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    res["soups"] = {
        "n": len(soup),
        "crashes": len(crashes),
        "crash_examples": crashes[:10],
        "p99_ms": round(times[int(0.99 * (len(times) - 1))], 2) if times else None,
        "max_ms": round(times[-1], 2) if times else None,
    }
    print(f"token soups: {len(soup)} graded, {len(crashes)} crashes", flush=True)

    if a.base:
        data = os.environ.get("TESSERA_DATA") or str(ROOT.parent / "shared" / "data")
        rows = _corpus(Path(data) if Path(data).is_dir() else None) + soup
        with tempfile.TemporaryDirectory() as tmp:
            old = _grade_all(rows, _base_src(a.base, Path(tmp)))
        new = _grade_all(rows, None)
        lower = [r for r, o, n in zip(rows, old, new, strict=True) if n[0] < o[0]]
        higher = [r for r, o, n in zip(rows, old, new, strict=True) if n[0] > o[0]]
        reasons = sum(o != n for o, n in zip(old, new, strict=True))
        res["base"] = {
            "rev": a.base,
            "commands": len(rows),
            "lower": len(lower),
            "higher": len(higher),
            "changed": reasons,
            "lower_examples": [f"{s}: {c[:160]!r}" for c, s in lower[:20]],
            "higher_examples": [f"{s}: {c[:160]!r}" for c, s in higher[:20]],
        }
        print(
            f"vs {a.base}: {len(rows)} commands, {len(lower)} lower, {len(higher)} higher, "
            f"{reasons} with another level or reasons",
            flush=True,
        )
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = a.out.with_suffix(".tmp")
    tmp_out.write_text(json.dumps(res, indent=1) + "\n")
    tmp_out.replace(a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
