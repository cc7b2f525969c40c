"""`python -m tessera.shellguard gate|check ...`: the hooks' fast path (imports only shellguard).

gate  --shell S [--cwd DIR] -- CMD   exit 0: run it; 1: do not (asks on the terminal for RISKY)
check --shell S [--mode M] -- CMD    print the verdict as JSON
"""

from __future__ import annotations

import argparse
import json
import sys

from tessera.core.errors import InputError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tessera.shellguard")
    p.add_argument("action", choices=["gate", "check"])
    p.add_argument("--shell", default="bash")
    p.add_argument("--cwd", default=None)
    p.add_argument("--mode", default=None)
    p.add_argument(
        "--from-env", action="store_true", help="read the command from TESSERA_GUARD_LINE"
    )
    p.add_argument("command", nargs="*")
    args = list(sys.argv[1:] if argv is None else argv)
    tail: list[str] = []
    if "--" in args:
        k = args.index("--")
        args, tail = args[:k], args[k + 1 :]
    a = p.parse_args(args)
    words = list(a.command) + tail
    if a.from_env:
        import os

        words = (
            [os.environ.get("TESSERA_GUARD_LINE", "")]
            if os.environ.get("TESSERA_GUARD_LINE")
            else []
        )
    try:
        if not words:
            raise InputError("command", "missing", "the command line after --")
        command = " ".join(words) if len(words) > 1 else words[0]
        if a.action == "gate":
            import os

            from tessera.shellguard.gate import gate

            if a.mode:
                os.environ["TESSERA_GUARD_MODE"] = a.mode
            return gate(command, a.shell, a.cwd)
        from tessera.shellguard.guard import Guard

        v = Guard(a.mode or "auto").check(command, a.shell, cwd=a.cwd)
        sys.stdout.write(json.dumps(v.as_json()) + "\n")
        return 0
    except InputError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
