"""`tessera guard ...`: judge shell commands before they run (shellguard).

check CMD            one verdict (level, reasons, score); --json, --exit-code
check --jsonl        stdin lines {"command": ..., "shell": ...} -> stdout verdict lines, in order
explain CMD          what would execute, every rule that fired, the model's probabilities
hook bash|zsh|powershell   print the interception hook to source from your shell profile
audit RULES --commands FILE   rules that are missing or too broad for a set of commands
train                reproduce the shipped model (2 CPU cores, under an hour)
eval                 every system on the gold test split: the issue's metrics and latency
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from tessera.cli.console import console, err_console
from tessera.core.errors import InputError
from tessera.shellguard.levels import LEVELS, REASONS, Level, check_shell

app = typer.Typer(help="Shellguard: judge Bash/PowerShell/cmd commands before they run.")

ShellOpt = typer.Option(
    "bash", "--shell", "-s", help="bash, powershell or cmd (sh/zsh/pwsh accepted)."
)
ModeOpt = typer.Option(
    "auto", "--mode", help="auto (rules+model when the model loads), rules, model or both."
)
EXIT_CODES = {Level.SAFE: 0, Level.LOW: 0, Level.RISKY: 3, Level.BLOCKED: 4}


def _guard(mode: str):  # type: ignore[no-untyped-def]
    from tessera.shellguard.guard import MODES, Guard

    if mode not in MODES:  # named as the user typed it
        raise InputError("--mode", mode, ", ".join(MODES))
    return Guard(mode)


def _shell(shell: str) -> str:
    """`--shell` normalised, or an `InputError` naming the option as the user typed it (the
    library's check says `shell`, which could be a JSON line's key as well)."""
    try:
        return check_shell(shell)
    except InputError as e:
        raise InputError("--shell", e.value, e.accepted) from None


@app.command("check")
def check(
    command: str | None = typer.Argument(None, help="The command line (omit with --jsonl)."),
    shell: str = ShellOpt,
    mode: str = ModeOpt,
    jsonl: bool = typer.Option(
        False, "--jsonl", help="Read JSON lines from stdin, write one verdict per line."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict as one JSON object."),
    exit_code: bool = typer.Option(
        False, "--exit-code", help="Exit 0 for SAFE/LOW, 3 for RISKY, 4 for BLOCKED."
    ),
    cwd: str | None = typer.Option(None, "--cwd", help="Folder the command would run in."),
) -> None:
    """Judge one command (or a stream of them with --jsonl)."""
    g = _guard(mode)
    sh = _shell(shell)
    if jsonl:
        if command is not None:
            raise InputError(
                "command", command, "no argument with --jsonl (commands come from stdin)"
            )
        # Options apply to every line: a bad one is refused once, before stdin is read, not
        # repeated as an error on each line. Loading the model here does the same for
        # `--mode model|both` without an artifact (auto mode falls back to rules silently).
        g.model()
        _check_jsonl(g, sh)
        return
    if command is None:
        raise InputError(
            "command", "missing", "a command line argument, or --jsonl with commands on stdin"
        )
    v = g.check(command, sh, cwd=cwd)
    if as_json:
        sys.stdout.write(json.dumps(v.as_json()) + "\n")
    else:
        colour = {0: "green", 1: "cyan", 2: "yellow", 3: "bold red"}[int(v.level)]
        reasons = ", ".join(v.reasons) or "-"
        console.print(
            f"[{colour}]{v.level.name}[/] score {v.score:.2f} reasons: {reasons} ({v.source})",
            highlight=False,
        )
    if exit_code:
        raise typer.Exit(EXIT_CODES[v.level])


def _check_jsonl(g, default_shell: str, batch: int = 64) -> None:  # type: ignore[no-untyped-def]
    """Batches for throughput; output keeps input order; a bad line gets an error line, exit 2 at the end."""
    bad = 0
    pending: list[tuple[int, str, str]] = []
    out: dict[int, str] = {}
    ids: dict[int, object] = {}
    next_out = 0

    def flush() -> None:
        nonlocal next_out
        if pending:
            verdicts = g.check_many([(c, s) for _, c, s in pending])
            for (n, _, _), v in zip(pending, verdicts, strict=True):
                got = v.as_json()
                if n in ids:  # the caller's own id, echoed to match answers to questions
                    got = {"id": ids.pop(n), **got}
                out[n] = json.dumps(got)
            pending.clear()
        while next_out in out:
            sys.stdout.write(out.pop(next_out) + "\n")
            next_out += 1
        sys.stdout.flush()

    for n, line in enumerate(sys.stdin):
        line = line.strip()
        if not line:
            out[n] = json.dumps({"error": f"line {n + 1}: empty"})
            bad += 1
            continue
        try:
            d = json.loads(line)
            if not isinstance(d, dict) or not isinstance(d.get("command"), str):
                raise InputError(f"line {n + 1} command", d, 'an object with a string "command"')
            extra = sorted(set(d) - {"command", "shell", "id"})
            if extra:
                raise InputError(f"line {n + 1} key", extra[0], "command, shell, id")
            pending.append((n, d["command"], check_shell(str(d.get("shell", default_shell)))))
            if "id" in d:
                ids[n] = d["id"]
        except (json.JSONDecodeError, InputError, RecursionError) as e:
            if isinstance(e, InputError):
                msg = str(e)
            elif isinstance(e, json.JSONDecodeError):
                msg = f"line {n + 1}: not JSON ({e.msg})"
            else:
                msg = f"line {n + 1}: nested too deeply to read"
            out[n] = json.dumps({"error": msg})
            bad += 1
        if len(pending) >= batch:
            flush()
    flush()
    if bad:
        err_console.print(
            f"[bold red]error:[/] {bad} input line(s) were not valid (see their error lines)"
        )
        raise typer.Exit(2)


@app.command("gate", hidden=True)
def gate(
    command: str = typer.Argument(...),
    shell: str = ShellOpt,
    cwd: str | None = typer.Option(None, "--cwd"),
) -> None:
    """The hooks' decision (exit 0: run it; 1: do not). Asks on the terminal for RISKY."""
    from tessera.shellguard.gate import gate as run_gate

    raise typer.Exit(run_gate(command, _shell(shell), cwd))


@app.command("explain")
def explain(
    command: str = typer.Argument(...),
    shell: str = ShellOpt,
    mode: str = ModeOpt,
    cwd: str | None = typer.Option(None, "--cwd"),
) -> None:
    """Show what would execute, every rule that fired and the model's view."""
    from tessera.shellguard.parse import parse
    from tessera.shellguard.tokenize import model_text

    sh = _shell(shell)
    guard = _guard(mode)  # a bad --mode fails before anything is printed
    parsed = parse(command, sh, cwd)
    t = Table("#", "command", "arguments", "context", title="What would execute")
    for i, inv in enumerate(parsed.invocations, 1):
        ctx = []
        if inv.privileged:
            ctx.append("privileged")
        if inv.wrappers:
            ctx.append("via " + " ".join(inv.wrappers))
        if inv.via:
            ctx.append(inv.via)
        if inv.remote:
            ctx.append(f"on {inv.remote}")
        if inv.upstream:
            ctx.append("stdin from " + " | ".join(inv.upstream))
        if inv.redirects:
            ctx.append(" ".join(f"{op} {t}" for op, t in inv.redirects))
        t.add_row(str(i), Text(inv.name), Text(" ".join(inv.args)[:80]), Text("; ".join(ctx)))
    console.print(t)
    if parsed.fork_bomb:
        console.print("[bold red]fork bomb[/] detected")
    v = guard.check(command, sh, cwd=cwd)
    f = Table("level", "reason", "rule", "why", "segment", title="Rules that fired")
    for fd in sorted(v.findings, key=lambda x: -int(x.level)):
        f.add_row(fd.level.name, fd.tag, fd.rule, Text(fd.why), Text(fd.segment[:60]))
    console.print(f if v.findings else "no rule fired")
    if v.probs is not None:
        probs = ", ".join(f"{lv.name} {p:.2f}" for lv, p in zip(LEVELS, v.probs, strict=True))
        console.print(f"model input: {model_text(parsed)}", highlight=False, markup=False)
        console.print(f"model: {probs}")
    console.print(
        f"verdict: [bold]{v.level.name}[/] ({v.source}); reasons: "
        + (", ".join(f"{r} ({REASONS.get(r, '')})" for r in v.reasons) or "-"),
        highlight=False,
    )


@app.command("hook")
def hook(shell: str = typer.Argument(..., help="bash, zsh or powershell")) -> None:
    """Print the interception hook; add `eval "$(tessera guard hook bash)"` to your ~/.bashrc."""
    from tessera.shellguard.hooks import hook_script

    sys.stdout.write(hook_script(shell))


@app.command("audit")
def audit(
    rules: Path = typer.Argument(
        ..., help="Rule file: text (deny|ask|allow REGEX per line), JSON or YAML."
    ),
    commands: Path = typer.Option(..., "--commands", help="Commands, one per line or JSON lines."),
    shell: str = ShellOpt,
    mode: str = ModeOpt,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Report what a rule set misses (by reason) and which of its rules fire on harmless commands."""
    from tessera.shellguard.audit import audit as run_audit
    from tessera.shellguard.audit import load_commands, load_rules

    sh, guard = _shell(shell), _guard(mode)  # options first: they are cheap to check
    report = run_audit(load_rules(rules), load_commands(commands, sh), guard)
    if as_json:
        sys.stdout.write(json.dumps(report, indent=1) + "\n")
        return
    console.print(f"{report['commands']} commands, {report['rules']} rules")
    m = Table(
        "reason",
        "count",
        "example",
        title=f"Missing: {report['missing_total']} risky commands the rules allow",
    )
    for tag, d in report["missing"].items():
        m.add_row(tag, str(d["count"]), Text(d["examples"][0]["command"][:70]))
    console.print(m)
    b = Table("rule", "pattern", "fires", "on SAFE/LOW", "example", title="Too broad")
    for d in report["too_broad"]:
        b.add_row(
            Text(d["rule"]),
            Text(d["pattern"][:30]),
            str(d["fires"]),
            f"{d['on_safe_or_low']} ({d['share']:.0%})",
            Text(d["examples"][0][:50]),
        )
    console.print(b)
    for d in report["too_weak"]:
        console.print(
            f"too weak: {d['rule']} only asks about {d['blocked_commands']} BLOCKED command(s)",
            markup=False,
        )
    if report["unused_rules"]:
        console.print("never fired: " + ", ".join(report["unused_rules"]), markup=False)


@app.command("train")
def train(
    out: Path = typer.Option(
        None,
        "--out",
        help="Artifact folder, created if missing (default: the package's artifacts/).",
    ),
    steps: int = typer.Option(3000, "--steps", min=1),
    per_class: int = typer.Option(8000, "--per-class", min=10),
    tuned_layers: int = typer.Option(3, "--tuned-layers", min=1, max=6),
    budget_min: float = typer.Option(55.0, "--budget-min", min=1.0),
    threads: int = typer.Option(2, "--threads", min=1),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Rebuild the dataset and fine-tune MiniLM: the shipped model's recipe (2 CPU cores, under an hour).

    Training data: the weakly labelled corpora plus 75% of the gold *dev* split (with
    label-preserving variants); the other 25% of dev sets the raise thresholds. The gold
    *test* split is never read.
    """
    from tessera.report.html import check_out_dir
    from tessera.shellguard import gold
    from tessera.shellguard.model import ARTIFACT_DIR, ARTIFACT_NAME
    from tessera.shellguard.train import TrainConfig, calibration_split, gold_examples
    from tessera.shellguard.train import train as run_train

    # Checked, and created if missing (as `demo --out` and `experiment --out` folders are),
    # before the minutes of training: a bad --out fails at once, not after the work. The
    # artifact files are still written temp file + rename (`Classifier.save`).
    out_dir = out or ARTIFACT_DIR
    check_out_dir(out_dir, (f"{ARTIFACT_NAME}.safetensors", f"{ARTIFACT_NAME}.json"))
    cfg = TrainConfig(
        seed=seed,
        per_class=per_class,
        steps=steps,
        tuned_layers=tuned_layers,
        budget_s=budget_min * 60,
        threads=threads,
    )
    fit, calib = calibration_split(gold.load("dev"))
    info = run_train(
        cfg,
        out_dir,
        labelled=gold_examples(fit, seed=seed),
        dev=[(r.command, r.shell, r.level) for r in calib],
        log=lambda m: err_console.print(m, highlight=False),
    )
    console.print(json.dumps(info))


@app.command("eval")
def evaluate(
    split: str = typer.Option("test", "--split", help="test (reported) or dev (tuning)."),
    systems: str = typer.Option(
        "rules,tfidf-lr,minilm-frozen-lr,minilm-ft,rules+model", "--systems"
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Score every system on the same gold split (the issue's "Must show" metrics)."""
    from tessera.shellguard.report import run_eval

    res = run_eval(
        split,
        [s.strip() for s in systems.split(",") if s.strip()],
        log=lambda m: err_console.print(m, highlight=False),
    )
    if as_json:
        sys.stdout.write(json.dumps(res, indent=1) + "\n")
        return
    from tessera.shellguard.evaluate import METRIC_KEYS as keys

    t = Table("system", *keys, title=f"gold {split} split ({res['n']} commands)")
    for name, s in res["systems"].items():
        t.add_row(name, *[("-" if s.get(k) is None else f"{s[k]:.3f}") for k in keys])
    console.print(t)
    for name, lat in res.get("latency", {}).items():
        console.print(
            f"latency {name}: p50 {lat['p50_ms']:.2f} ms, p95 {lat['p95_ms']:.2f} ms (1 thread)"
        )
